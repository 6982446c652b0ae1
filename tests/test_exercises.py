import json

import pytest

from kit import exercises
from kit.errors import UnknownNameError
from kit.exercises import Hint, exercise


@exercise("99.1", title="add two numbers", section="Section 1", hint="use +")
def _check_add(answer):
    if answer(2, 2) == 22:
        raise Hint("you joined the digits as strings")
    return answer(2, 3) == 5


@exercise("99.2", title="the answer", section="Section 2", hint="it is 42")
def _check_value(answer):
    return answer == 42


@pytest.fixture(autouse=True)
def lenient(monkeypatch, tmp_path):
    monkeypatch.setenv("KIT_EXERCISES_STRICT", "0")
    monkeypatch.setenv("KIT_PROGRESS", str(tmp_path / "progress.json"))


def test_pass_fail_and_hints(capsys):
    assert exercises.check("99.1", lambda a, b: a + b) is True
    assert "✓ 99.1 passed" in capsys.readouterr().out
    assert exercises.check("99.1", lambda a, b: a - b) is False
    out = capsys.readouterr().out
    assert "✗ 99.1 not yet" in out and "use +" in out and "Section 1" in out
    assert exercises.check("99.1", lambda a, b: int(f"{a}{b}")) is False
    assert "joined the digits" in capsys.readouterr().out


def test_not_done_yet_and_learner_errors_never_traceback(capsys):
    def stub(a, b):
        raise NotImplementedError

    assert exercises.check("99.1", stub) is False
    assert exercises.NOT_DONE in capsys.readouterr().out
    assert exercises.check("99.2", ...) is False
    assert exercises.NOT_DONE in capsys.readouterr().out
    assert exercises.check("99.1", lambda a, b: a / 0) is False
    assert "your code raised ZeroDivisionError" in capsys.readouterr().out


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("KIT_EXERCISES_STRICT", "1")
    with pytest.raises(AssertionError, match="99.2"):
        exercises.check("99.2", 41)


def test_progress_is_stored_locally(tmp_path):
    exercises.check("99.2", 41)
    exercises.check("99.2", 42)
    exercises.check("99.2", 41)  # a later wrong try does not undo a pass
    state = json.loads((tmp_path / "progress.json").read_text())
    assert state["99.2"]["passed"] is True and state["99.2"]["attempts"] == 3
    (tmp_path / "progress.json").write_text("{broken")
    assert exercises.check("99.2", 42) is True  # a damaged file is rebuilt, not fatal


def test_unknown_exercise():
    with pytest.raises(UnknownNameError, match="Unknown exercise '98.1'"):
        exercises.check("98.1", 1)


# --- faults a learner will hit (issue 24) --------------------------------------------------------

import importlib  # noqa: E402

from faults import unwritable_folder  # noqa: E402

from kit.errors import MissingResourceError  # noqa: E402


def test_unknown_exercise_lists_the_registered_ids():
    with pytest.raises(UnknownNameError, match=r"Choose one of: 00\.1, .*99\.2"):
        exercises.check("98.1", 1)


def test_a_missing_dependency_is_named_not_called_unknown(monkeypatch):
    real = importlib.import_module

    def import_module(name, *args):
        if name == "kit.exercises.ex97":
            raise ModuleNotFoundError("No module named 'opacus'", name="opacus")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", import_module)
    with pytest.raises(MissingResourceError, match="opacus.*Fix: make setup"):
        exercises.check("97.1", 1)


@pytest.mark.parametrize("content", ["[1, 2, 3]", "null", "{broken", '{"99.2": 5}'])
def test_a_damaged_progress_file_is_backed_up_and_the_check_goes_on(content, tmp_path, capsys):
    progress = tmp_path / "progress.json"
    progress.write_text(content, encoding="utf-8")
    assert exercises.check("99.2", 42) is True
    out = capsys.readouterr().out
    backups = list(tmp_path.glob("progress.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == content
    assert "✓ 99.2 passed" in out and backups[0].name in out
    assert json.loads(progress.read_text(encoding="utf-8"))["99.2"]["passed"] is True
    assert exercises.progress()["99.2"] is True


def test_progress_writes_are_atomic(tmp_path, monkeypatch, capsys):
    progress = tmp_path / "progress.json"
    exercises.check("99.2", 42)
    before = progress.read_text(encoding="utf-8")
    import kit.paths

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kit.paths.os, "replace", crash)
    assert exercises.check("99.1", lambda a, b: a + b) is True     # the verdict stands
    assert progress.read_text(encoding="utf-8") == before          # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]
    assert "KIT_PROGRESS" in capsys.readouterr().out


def test_an_unwritable_progress_folder_is_a_note_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KIT_PROGRESS", str(unwritable_folder(tmp_path) / "progress.json"))
    assert exercises.check("99.2", 42) is True
    out = capsys.readouterr().out
    assert "✓ 99.2 passed" in out and "not saved" in out and "KIT_PROGRESS" in out
    assert exercises.progress()["99.2"] is False
