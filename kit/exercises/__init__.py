"""Auto-checked exercises: `check(id, answer)` prints ✓, "not done yet", or a hint; never a traceback.

    def accuracy(y_true, y_pred):
        return (y_true == y_pred).mean()

    exercises.check("00.1", accuracy)      # ✓ 00.1 passed: ...

Each lesson's checks live in `kit/exercises/exNN.py`, registered with `@exercise(...)`. A check
receives the learner's answer (a value or a function), returns True/False or raises `Hint` with
advice. Passed exercises are stored in a small local JSON file (`python -m kit progress`; `KIT_PROGRESS`
moves it): written atomically, a damaged one is kept as a backup, and one that cannot be written costs
a one-line note, never the verdict.
With `KIT_EXERCISES_STRICT=1` (CI running the solutions) a check that does not pass raises.
"""
import importlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from kit.errors import MissingResourceError, unknown
from kit.paths import progress_file, write_text_atomic

__all__ = ["Hint", "exercise", "check", "progress", "registered", "read_table", "NOT_DONE"]

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
    """Import the checks of an exercise's lesson; a lesson without checks is fine, a missing library is not."""
    lesson = str(exercise_id).split(".")[0]
    module = f"kit.exercises.ex{lesson}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == module:
            return
        raise MissingResourceError(f"The checks of lesson {lesson} need the package {error.name!r}, which is not "
                                   "installed. Fix: make setup (it installs every package the course uses)") from None
    except ImportError as error:
        raise MissingResourceError(f"The checks of lesson {lesson} could not be imported ({error}): an installed "
                                   "package has another version than the course pins. Fix: make setup") from None


def _known_ids() -> list[str]:
    """Every exercise id that can be registered here (lessons whose checks cannot be imported are left out)."""
    from kit import lessons

    for entry in lessons.LESSONS:
        try:
            _load_lesson(entry.number)
        except MissingResourceError:
            pass
    return list(_REGISTRY)


def registered(lesson: str | None = None) -> dict:
    """All registered exercises (of one lesson, e.g. '00'), importing their check modules."""
    from kit import lessons

    for entry in lessons.LESSONS:
        if lesson in (None, entry.number):
            _load_lesson(entry.number)
    return {k: v for k, v in sorted(_REGISTRY.items()) if lesson is None or k.startswith(f"{lesson}.")}


def _is_placeholder(answer) -> bool:
    """An answer still to write: `...` (or None), also inside a tuple such as (PREDICTION, MEASURED) = (..., ...)."""
    if isinstance(answer, tuple) and any(part is ... for part in answer):
        return True
    return answer is ... or answer is None or answer is NotImplemented


def read_table(path, what: str = "progress file", rows: str = "exercises") -> dict:
    """A local JSON table {id: {...}} (the progress file, the quiz answers); {} when there is none.

    A damaged one (not JSON, or not a table of dicts) is moved aside as `NAME.bak-<time>` and the learner
    told, so the next save starts a new table without destroying the old answers. `what` and `rows` name
    the file in that note ("your progress file ... holds list data, not a table of exercises").
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        print(f"Note: your {what} {path} cannot be read ({error.strerror or error}); "
              "set KIT_PROGRESS to a file you can read and write.")
        return {}
    try:
        state = json.loads(text)
        problem = None if isinstance(state, dict) and all(isinstance(v, dict) for v in state.values()) else \
            f"it holds {type(state).__name__} data, not a table of {rows}"
    except ValueError:
        problem = "it is not valid JSON"
    if problem is None:
        return state
    backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while backup.exists():
        backup, n = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}-{n}"), n + 1
    try:
        os.replace(path, backup)
        print(f"Note: your {what} {path} was damaged ({problem}): kept it as {backup} and started a new one.")
    except OSError as error:
        print(f"Note: your {what} {path} was damaged ({problem}) and could not be moved aside "
              f"({error.strerror or error}): set KIT_PROGRESS to a file you can write.")
    return {}


def _save_progress(exercise_id: str, passed: bool) -> None:
    path = progress_file()
    state = read_table(path)
    previous = state.get(exercise_id, {})
    state[exercise_id] = {"passed": bool(passed or previous.get("passed", False)),
                          "attempts": int(previous.get("attempts", 0)) + 1, "last": time.strftime("%Y-%m-%d %H:%M")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(state, indent=1, sort_keys=True))
    except OSError as error:
        print(f"  (progress not saved: {path} could not be written: {error.strerror or error}. Fix: set KIT_PROGRESS "
              "to a file in a folder you can write, e.g. export KIT_PROGRESS=/tmp/kit-progress.json)")


def check(exercise_id: str, answer) -> bool:
    """Check a learner's answer; print ✓, 'not done yet' or a hint; return True when it passes."""
    _load_lesson(exercise_id)
    if exercise_id not in _REGISTRY:
        raise unknown("exercise", exercise_id, _known_ids())
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
    state = read_table(progress_file())
    return {k: bool(state.get(k, {}).get("passed")) for k in registered()}
