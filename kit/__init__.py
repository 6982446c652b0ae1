"""The ML Training Trends Kit: the helpers behind the course's notebooks.

Import what a lesson needs explicitly: `from kit import data, models, train, report`.
Every notebook starts with `kit.setup()`.
"""
import os
import random

__version__ = "0.1.0"
__all__ = ["setup", "__version__"]


def setup(seed: int = 0, quiet: bool = False):
    """Seed python, numpy and torch, use one thread per core, and print a one-line environment report.

    Returns the torch device lessons should train on.
    """
    import numpy as np
    import torch

    from kit import device, profile

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    threads = device.set_threads()
    dev = device.get()
    if not quiet:
        print(f"kit {__version__} | profile {profile.name()} | device {device.describe(dev)} | "
              f"torch {torch.__version__} | seed {seed} | {threads} threads")
    return dev
