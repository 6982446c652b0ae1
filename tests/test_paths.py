"""kit.paths: package folders found without importing, and writes that leave no half file."""
import pytest

from kit.errors import MissingResourceError
from kit.paths import package_dir, write_text_atomic


def test_package_dir_finds_an_installed_package_without_importing_it():
    folder = package_dir("kit", "never raised")
    assert (folder / "paths.py").is_file()


def test_package_dir_raises_the_message_it_was_given():
    with pytest.raises(MissingResourceError, match="Fix: pip install no-such-package"):
        package_dir("no_such_package_kit_test", "no_such_package is not installed. Fix: pip install no-such-package")


def test_write_text_atomic_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "notes.txt"
    write_text_atomic(target, "first")
    monkeypatch.setattr("os.replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_text_atomic(target, "second")
    assert target.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
