"""Where things live: the course checkout, the kit's cache, build outputs, the learner's progress."""
import os
from pathlib import Path

__all__ = ["ROOT", "DATASETS", "BUILD", "cache_dir", "progress_file", "sha256"]

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"
BUILD = ROOT / "build"


def cache_dir() -> Path:
    """The kit's cache (converted model weights): `KIT_CACHE`, else the user's cache folder."""
    base = os.environ.get("KIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ml-trends-kit")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def progress_file() -> Path:
    """The learner's exercise progress: a small local JSON file, never sent anywhere."""
    return Path(os.environ.get("KIT_PROGRESS") or cache_dir() / "progress.json")


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large weight files do not fill memory."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
