"""Errors a learner can act on: each names what is wrong and how to fix it."""

__all__ = ["KitError", "UnknownNameError", "MissingResourceError", "ChecksumError", "unknown"]


class KitError(Exception):
    """Base class for the kit's own errors (caught by the CLI and printed without a traceback)."""


class UnknownNameError(KitError, ValueError):
    """A model, dataset, profile or lesson name the kit does not know."""


class MissingResourceError(KitError, FileNotFoundError):
    """A file the course needs is not on this machine; the message says which command fixes it."""


class ChecksumError(KitError):
    """A file is present but its content differs from the recorded checksum (corrupt or tampered)."""


def unknown(kind: str, name, choices) -> UnknownNameError:
    """Build the standard 'Unknown dataset 'x'. Choose one of: a, b, c' error."""
    return UnknownNameError(f"Unknown {kind} {name!r}. Choose one of: {', '.join(sorted(choices))}")
