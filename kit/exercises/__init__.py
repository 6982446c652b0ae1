"""Auto-checked exercises: `check(id, answer)` prints ✓, "not done yet", or a hint; never a traceback.

    def accuracy(y_true, y_pred):
        return (y_true == y_pred).mean()

    exercises.check("00.1", accuracy)      # ✓ 00.1 passed: ...

Each lesson's checks live in `kit/exercises/exNN.py`, registered with `@exercise(...)`. A check
receives the learner's answer (a value or a function), returns True/False or raises `Hint` with
advice. Passed exercises are stored in a small local JSON file (`python -m kit progress`).
With `KIT_EXERCISES_STRICT=1` (CI running the solutions) a check that does not pass raises.
"""
import importlib
import json
import os
import time
from dataclasses import dataclass

from kit.errors import unknown
from kit.paths import progress_file

__all__ = ["Hint", "exercise", "check", "progress", "registered", "NOT_DONE"]

NOT_DONE = "not done yet"


class Hint(Exception):
    """Raised by a check to tell the learner what is wrong (shown as a hint, not a traceback)."""


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    section: str
    hint: str
    check: object


_REGISTRY: dict = {}


def exercise(exercise_id: str, title: str, section: str, hint: str):
    """Register a check function for an exercise (used inside kit/exercises/exNN.py)."""
    def register(func):
        _REGISTRY[exercise_id] = Exercise(exercise_id, title, section, hint, func)
        return func
    return register


def _load_lesson(exercise_id: str):
    lesson = exercise_id.split(".")[0]
    try:
        importlib.import_module(f"kit.exercises.ex{lesson}")
    except ModuleNotFoundError:
        pass


def registered(lesson: str | None = None) -> dict:
    """All registered exercises (of one lesson, e.g. '00'), importing their check modules."""
    from kit import lessons

    for entry in lessons.LESSONS:
        if lesson in (None, entry.number):
            _load_lesson(entry.number)
    return {k: v for k, v in sorted(_REGISTRY.items()) if lesson is None or k.startswith(f"{lesson}.")}


def _is_placeholder(answer) -> bool:
    return answer is ... or answer is None or answer is NotImplemented


def _save_progress(exercise_id: str, passed: bool) -> None:
    path = progress_file()
    try:
        state = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        state = {}  # a damaged progress file is rebuilt rather than blocking the learner
    previous = state.get(exercise_id, {})
    state[exercise_id] = {"passed": passed or previous.get("passed", False),
                          "attempts": previous.get("attempts", 0) + 1, "last": time.strftime("%Y-%m-%d %H:%M")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=1, sort_keys=True))


def check(exercise_id: str, answer) -> bool:
    """Check a learner's answer; print ✓, 'not done yet' or a hint; return True when it passes."""
    _load_lesson(exercise_id)
    if exercise_id not in _REGISTRY:
        raise unknown("exercise", exercise_id, _REGISTRY or ["(none registered)"])
    ex = _REGISTRY[exercise_id]
    where = f"(see '{ex.section}')" if ex.section else ""
    if _is_placeholder(answer):
        return _verdict(ex, None, f"… {ex.id} {NOT_DONE}: replace the `...` with your answer {where}")
    try:
        result = ex.check(answer)
        passed, message = (result if isinstance(result, tuple) else (bool(result), ""))
    except NotImplementedError:
        return _verdict(ex, None, f"… {ex.id} {NOT_DONE}: fill in the function marked TODO {where}")
    except Hint as hint:
        passed, message = False, str(hint)
    except Exception as error:  # the learner's code failed: say so plainly, no traceback from the kit
        passed, message = False, f"your code raised {type(error).__name__}: {error}"
    if passed:
        return _verdict(ex, True, f"✓ {ex.id} passed: {ex.title}" + (f" ({message})" if message else ""))
    detail = f"{message}. " if message else ""
    return _verdict(ex, False, f"✗ {ex.id} not yet: {detail}Hint: {ex.hint} {where}")


def _verdict(ex: Exercise, passed: bool | None, message: str) -> bool:
    print(message)
    _save_progress(ex.id, bool(passed))
    if not passed and os.environ.get("KIT_EXERCISES_STRICT") == "1":
        raise AssertionError(message)
    return bool(passed)


def progress() -> dict:
    """{exercise id: passed?} for every registered exercise, from the local progress file."""
    path = progress_file()
    try:
        state = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        state = {}
    return {k: bool(state.get(k, {}).get("passed")) for k in registered()}
