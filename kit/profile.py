"""Profiles size every lesson to the machine: `smoke` (CI), `cpu` (a laptop), `gpu` (a GPU box).

`KIT_PROFILE` picks one; unset, the kit takes `gpu` when CUDA is available and `cpu` otherwise.
A lesson sizes its work with a single call::

    n_train = profile.pick(smoke=300, cpu=5000, gpu=60000)
"""
import os

from kit.errors import unknown

__all__ = ["PROFILES", "name", "default", "resolve", "pick", "is_smoke"]

PROFILES = ("smoke", "cpu", "gpu")


def default() -> str:
    """The profile when none is chosen: `gpu` with CUDA, else `cpu`. The one place that decides it:
    a notebook opened in JupyterLab, `kit run` and `kit doctor` all ask here."""
    from kit import device

    return "gpu" if device.has_cuda() else "cpu"


def resolve(chosen: str | None = None) -> str:
    """`chosen` (e.g. `kit run --profile`) if given, else `KIT_PROFILE`, else `default()`; validated."""
    chosen = (chosen or os.environ.get("KIT_PROFILE", "")).strip().lower()
    if not chosen:
        return default()
    if chosen not in PROFILES:
        raise unknown("profile (KIT_PROFILE)", chosen, PROFILES)
    return chosen


def name() -> str:
    """The active profile: `KIT_PROFILE` if set (validated), else `gpu` with CUDA, else `cpu`."""
    return resolve()


def pick(smoke, cpu, gpu=None):
    """Return the value for the active profile; `gpu` defaults to the `cpu` value."""
    values = {"smoke": smoke, "cpu": cpu, "gpu": cpu if gpu is None else gpu}
    return values[name()]


def is_smoke() -> bool:
    """True under the CI profile, where lessons only check that everything runs."""
    return name() == "smoke"
