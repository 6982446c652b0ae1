"""Which device to train on (cuda > mps > cpu), and a one-line description of it."""
import ctypes
import gc
import os
import sys

import torch

from kit.errors import KitError, unknown

__all__ = ["DEVICE_TYPES", "get", "has_cuda", "describe", "set_threads", "available_cores", "free_memory"]

DEVICE_TYPES = ("cpu", "cuda", "mps")


def has_cuda() -> bool:
    """True where torch can use an NVIDIA GPU (a CUDA build of torch and a driver)."""
    return torch.cuda.is_available()


def _has_mps() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def _forced(value: str) -> torch.device:
    """The device `KIT_DEVICE` names, if this machine has it; else an error that says what to set."""
    try:
        dev = torch.device(value.strip().lower())
    except RuntimeError:
        raise unknown("device (KIT_DEVICE)", value, DEVICE_TYPES) from None
    if dev.type not in DEVICE_TYPES:
        raise unknown("device (KIT_DEVICE)", value, DEVICE_TYPES)
    present = {"cpu": True, "cuda": has_cuda(), "mps": _has_mps()}[dev.type]
    if not present:
        raise KitError(f"KIT_DEVICE={value} but this machine has no {dev.type} device (torch {torch.__version__}, "
                       f"best available: {_best().type}). Unset KIT_DEVICE to use that, or set KIT_DEVICE=cpu.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise KitError(f"KIT_DEVICE={value} but this machine has {torch.cuda.device_count()} CUDA device(s), "
                       f"numbered from 0. Set KIT_DEVICE=cuda:0 or unset it.")
    return dev


def _best() -> torch.device:
    if has_cuda():
        return torch.device("cuda")
    if _has_mps():
        return torch.device("mps")
    return torch.device("cpu")


def get() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU (`KIT_DEVICE` overrides).

    A `KIT_DEVICE` this machine does not have (`cuda` on a laptop) is a `KitError` saying what to set,
    not the AssertionError torch raises much later, at the first tensor moved there.
    """
    forced = os.environ.get("KIT_DEVICE", "").strip()
    if forced:
        return _forced(forced)
    return _best()


def available_cores() -> int:
    """How many cores this process may run on, on every platform.

    Linux honours CPU affinity (a container or `taskset` may allow fewer cores than the machine has);
    `os.sched_getaffinity` exists on Linux only, so macOS and Windows use `os.process_cpu_count()`
    (Python 3.13+, which also honours affinity where it can) or `os.cpu_count()`.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return max(1, count or 1)


def set_threads(n: int | None = None) -> int:
    """Use one torch thread per core (or `n`); oversubscribing 2 cores makes everything slower."""
    n = n or int(os.environ.get("KIT_THREADS", 0)) or available_cores()
    torch.set_num_threads(n)
    return n


def free_memory() -> bool:
    """Give memory the notebook no longer uses back to the operating system, after `del`-ing a big model.

    Collects garbage, empties the GPU caches, and on Linux asks glibc to return freed heap pages
    (`malloc_trim`): glibc otherwise keeps them, so after a full fine-tune is deleted the process still shows
    its 2 GB, and a child process started next (lesson 01's clean measurement) pushes the machine over its
    memory. Returns True if the libc trim ran; macOS, Windows and non-glibc Linux skip that step safely.
    """
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if _has_mps():
        torch.mps.empty_cache()
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):       # musl (Alpine) and other libcs have no malloc_trim
        return False
    return True


def describe(dev: torch.device | None = None) -> str:
    """Human-readable device line, e.g. 'cuda (NVIDIA T4, 15.8 GB)' or 'cpu (2 threads)'."""
    dev = dev or get()
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        return f"cuda ({props.name}, {props.total_memory / 1e9:.1f} GB)"
    if dev.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"
