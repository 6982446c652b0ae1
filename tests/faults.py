"""Helpers for fault-injection tests: folders that cannot be written, fake packages with damaged files."""
import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

__all__ = ["unwritable_folder", "fake_package", "flip_bytes", "dead_pid"]


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder path nobody can write in: a read-only folder, or (as root, who ignores permissions) a
    path below a regular file, which no one can create."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    probe = folder / "probe"
    try:
        probe.write_text("x", encoding="utf-8")
    except OSError:
        return folder
    probe.unlink()
    folder.chmod(0o700)
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    return blocker / "cache"


def fake_package(monkeypatch, module: str, folder: Path) -> Path:
    """Make importlib.util.find_spec(module) point at `folder` (a copy of a package's data files)."""
    real = importlib.util.find_spec
    spec = importlib.machinery.ModuleSpec(module, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: spec if name == module else real(name, *a))
    return folder


def mirror(source: Path, target: Path, copy: set = frozenset()) -> Path:
    """`target` mirrors `source` with symlinks, except the relative paths in `copy`, which are real copies."""
    for path in source.rglob("*"):
        rel = path.relative_to(source)
        dest = target / rel
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if rel.as_posix() in copy:
                dest.write_bytes(path.read_bytes())
            else:
                dest.symlink_to(path)
    return target


def flip_bytes(path: Path, per_mb: int = 64) -> None:
    """Flip `per_mb` bytes in every MB of a file (the damage a bad disk or download does)."""
    raw = bytearray(path.read_bytes())
    step = max(1, (1 << 20) // per_mb)
    for i in range(4096, len(raw), step):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
