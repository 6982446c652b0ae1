"""Which device to train on (cuda > mps > cpu), and a one-line description of it."""
import os

import torch

__all__ = ["get", "has_cuda", "describe", "set_threads", "available_cores"]


def has_cuda() -> bool:
    return torch.cuda.is_available()


def get() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU (`KIT_DEVICE` overrides)."""
    forced = os.environ.get("KIT_DEVICE")
    if forced:
        return torch.device(forced)
    if has_cuda():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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


def describe(dev: torch.device | None = None) -> str:
    """Human-readable device line, e.g. 'cuda (NVIDIA T4, 15.8 GB)' or 'cpu (2 threads)'."""
    dev = dev or get()
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        return f"cuda ({props.name}, {props.total_memory / 1e9:.1f} GB)"
    if dev.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"
