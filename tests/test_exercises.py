import json

import pytest

from kit import exercises
from kit.exercises import Hint, exercise
from kit.errors import UnknownNameError


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
