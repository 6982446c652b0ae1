"""Where things live: the course checkout, the kit's cache, build outputs, the learner's progress."""
import os
import tempfile
from pathlib import Path

from kit.errors import MissingResourceError, NotWritableError

__all__ = ["ROOT", "DATASETS", "BUILD", "cache_dir", "progress_file", "ensure_writable", "write_text_atomic",
           "sha256", "package_dir"]

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"
BUILD = ROOT / "build"


def _cache_path() -> Path:
    return Path(os.environ.get("KIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ml-trends-kit"))


def cache_dir(create: bool = True) -> Path:
    """The kit's cache (converted model weights): `KIT_CACHE`, else the user's cache folder.

    With `create=False` the path is only computed (for reading, or for `kit doctor` to report on).
    """
    path = _cache_path()
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise NotWritableError(_not_writable(path, error, "KIT_CACHE")) from None
    return path


def progress_file() -> Path:
    """The learner's exercise progress: a small local JSON file, never sent anywhere (not created here)."""
    return Path(os.environ.get("KIT_PROGRESS") or _cache_path() / "progress.json")


def _not_writable(folder: Path, error: OSError, variable: str) -> str:
    example = "KIT_PROGRESS=/tmp/kit-progress.json" if variable == "KIT_PROGRESS" else "KIT_CACHE=/tmp/kit-cache"
    return (f"{folder} is not writable ({error.strerror or error}). Fix: set {variable} to a place you can write, "
            f"e.g. export {example} (in a notebook: os.environ['{variable}'] = ... before importing kit)")


def ensure_writable(folder: Path, variable: str = "KIT_CACHE") -> Path:
    """Create `folder` if needed and prove a file can be written in it; else a NotWritableError saying which
    environment variable to set. Cheap: call it before slow work whose result must be saved."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".kit-write-test-"):
            pass
    except OSError as error:
        raise NotWritableError(_not_writable(folder, error, variable)) from None
    return folder


def write_text_atomic(path: Path, text: str) -> None:
    """Write a UTF-8 text file so that readers see the old or the new content, never half of it."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large weight files do not fill memory."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_dir(module: str, missing: str) -> Path:
    """The folder of an installed package, found without importing it (importing some of the course's weight and
    data packages is slow, and some cannot be imported at all); raises MissingResourceError(`missing`), which
    should name the package and the command that installs it, when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(missing)
    return Path(list(spec.submodule_search_locations)[0])
