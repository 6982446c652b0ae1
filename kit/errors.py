"""Errors a learner can act on: each names what is wrong and how to fix it."""
import re
import sys
from pathlib import Path

__all__ = ["KitError", "UnknownNameError", "MissingResourceError", "ChecksumError", "NotWritableError", "unknown",
           "pinned", "pip_fix"]


class KitError(Exception):
    """Base class for the kit's own errors (caught by the CLI and printed without a traceback)."""


class UnknownNameError(KitError, ValueError):
    """A model, dataset, profile or lesson name the kit does not know."""


class MissingResourceError(KitError, FileNotFoundError):
    """A file the course needs is not on this machine; the message says which command fixes it."""


class ChecksumError(KitError):
    """A file is present but its content differs from the recorded checksum (corrupt or tampered)."""


class NotWritableError(KitError, PermissionError):
    """A folder the kit must write to (its cache, the progress file's folder) cannot be written."""


def unknown(kind: str, name, choices) -> UnknownNameError:
    """Build the standard 'Unknown dataset 'x'. Choose one of: a, b, c' error."""
    return UnknownNameError(f"Unknown {kind} {name!r}. Choose one of: {', '.join(sorted(choices))}")


_PIN_FILES = ("constraints.txt", "requirements-models.txt")


def pinned(dist: str) -> str:
    """`dist==VERSION` as pinned in the course's constraints.txt or requirements-models.txt (else `dist`)."""
    root = Path(__file__).resolve().parent.parent
    wanted = re.sub(r"[-_.]+", "-", dist).lower()
    for name in _PIN_FILES:
        try:
            lines = (root / name).read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
            if found and re.sub(r"[-_.]+", "-", found.group(1)).lower() == wanted:
                return f"{dist}=={found.group(2)}"
    return dist


def pip_fix(*dists: str, reinstall: bool = False) -> str:
    """The command that (re)installs exactly these packages at the course's pinned versions, and nothing else.

    `--no-deps` keeps pip from upgrading the other libraries the course pinned; `--force-reinstall`
    rewrites files that are present but damaged.
    """
    flags = "--no-deps --force-reinstall" if reinstall else "--no-deps"
    return f"{Path(sys.executable).as_posix()} -m pip install {flags} {' '.join(pinned(d) for d in dists)}"
