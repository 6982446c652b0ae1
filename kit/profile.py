"""Profiles size every lesson to the machine: `smoke` (CI), `cpu` (a laptop), `gpu` (a GPU box).

`KIT_PROFILE` picks one; unset, the kit takes `gpu` when CUDA is available and `cpu` otherwise.
A lesson sizes its work with a single call::

    n_train = profile.pick(smoke=300, cpu=5000, gpu=60000)
"""
import os

from kit.errors import unknown

__all__ = ["PROFILES", "name", "pick", "is_smoke"]

PROFILES = ("smoke", "cpu", "gpu")


def name() -> str:
    """The active profile: `KIT_PROFILE` if set (validated), else `gpu` with CUDA, else `cpu`."""
    chosen = os.environ.get("KIT_PROFILE", "").strip().lower()
    if chosen:
        if chosen not in PROFILES:
            raise unknown("profile (KIT_PROFILE)", chosen, PROFILES)
        return chosen
    from kit import device

    return "gpu" if device.has_cuda() else "cpu"


def pick(smoke, cpu, gpu=None):
    """Return the value for the active profile; `gpu` defaults to the `cpu` value."""
    values = {"smoke": smoke, "cpu": cpu, "gpu": cpu if gpu is None else gpu}
    return values[name()]


def is_smoke() -> bool:
    """True under the CI profile, where lessons only check that everything runs."""
    return name() == "smoke"
