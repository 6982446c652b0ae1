"""Check-your-understanding questions, answered in the notebook and checked offline.

Each lesson's questions live beside its exercises, in `kit/exercises/exNN.py` as `QUIZ = [Question(...)]`.
In a notebook::

    quiz.show("00")              # one set of buttons per question; the explanation appears after each answer
    quiz.answer("00.q1", "b")    # the same check as a function call (for a terminal, or to script it)

Answers are kept in a small local JSON file beside the exercise progress (`kit progress`), never sent anywhere.
"""
import importlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from kit.errors import KitError, unknown
from kit.exercises import read_table
from kit.paths import progress_file

__all__ = ["Question", "questions", "answer", "show", "results", "results_file"]

LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: `answer` is the letter of the right choice, `explain` says why."""
    id: str
    prompt: str
    choices: tuple
    answer: str
    explain: str

    def __post_init__(self):
        if self.answer not in LETTERS[:len(self.choices)]:
            raise ValueError(f"question {self.id}: answer {self.answer!r} is not one of its choices")


def questions(lesson: str) -> list[Question]:
    """The questions of one lesson ('00'), in order; an empty list where a lesson has none yet."""
    try:
        module = importlib.import_module(f"kit.exercises.ex{lesson}")
    except ModuleNotFoundError as error:
        if error.name == f"kit.exercises.ex{lesson}":
            from kit import lessons

            raise unknown("lesson", lesson, [entry.number for entry in lessons.LESSONS]) from None
        raise
    return list(getattr(module, "QUIZ", []))


def _find(question_id: str) -> Question:
    lesson = question_id.split(".")[0]
    found = {q.id: q for q in questions(lesson)}
    if question_id not in found:
        raise unknown("question", question_id, found or ["(this lesson has no questions)"])
    return found[question_id]


def results_file() -> Path:
    """Where quiz answers are kept: beside the exercise progress file."""
    return progress_file().with_name("quiz.json")


def results() -> dict:
    """{question id: {"correct": bool, "attempts": int, "last": time}} from the local file ({} if none).

    A damaged file is kept as `quiz.json.bak-<time>` (the same rule as the exercise progress), not overwritten.
    """
    return read_table(results_file(), what="quiz answers file", rows="answers")


def _save(question_id: str, correct: bool) -> None:
    state = results()
    previous = state.get(question_id, {}) if isinstance(state.get(question_id), dict) else {}
    state[question_id] = {"correct": bool(correct or previous.get("correct", False)),
                          "attempts": int(previous.get("attempts", 0)) + 1, "last": time.strftime("%Y-%m-%d %H:%M")}
    path = results_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        print(f"(your answer was checked but not saved: {error}. Set KIT_PROGRESS to a writable file.)")


def _verdict(question: Question, letter: str) -> tuple[bool, str]:
    right = letter == question.answer
    choice = question.choices[LETTERS.index(question.answer)]
    head = "✓ right" if right else f"✗ not quite: the answer is ({question.answer}) {choice}"
    return right, f"{head}. {question.explain}"


def answer(question_id: str, letter: str) -> bool:
    """Check one answer given as a letter ('a', 'b', ...); print the verdict and the explanation."""
    question = _find(question_id)
    letter = str(letter).strip().lower()[:1]
    if letter not in LETTERS[:len(question.choices)]:
        raise KitError(f"Answer {question_id} with one letter: {', '.join(LETTERS[:len(question.choices)])}")
    right, message = _verdict(question, letter)
    print(f"{question_id}: {message}")
    _save(question_id, right)
    return right


def show(lesson: str):
    """Show every question of a lesson as buttons; each answer reveals its explanation and is saved."""
    import ipywidgets as widgets
    from IPython.display import display

    items = questions(lesson)
    if not items:
        print(f"Lesson {lesson} has no questions yet.")
        return None
    boxes = []
    for number, question in enumerate(items, 1):
        options = [(f"({LETTERS[i]}) {text}", LETTERS[i]) for i, text in enumerate(question.choices)]
        radio = widgets.RadioButtons(options=options, value=None, layout=widgets.Layout(width="auto"))
        button = widgets.Button(description="Check", button_style="primary")
        feedback = widgets.HTML()

        def on_click(_button, question=question, radio=radio, feedback=feedback):
            if radio.value is None:
                feedback.value = "<i>Pick an answer first.</i>"
                return
            right, message = _verdict(question, radio.value)
            _save(question.id, right)
            colour = "#1a7f37" if right else "#b35900"
            feedback.value = f"<span style='color:{colour}'>{message}</span>"

        button.on_click(on_click)
        title = widgets.HTML(f"<b>Q{number}.</b> {question.prompt}")
        boxes.append(widgets.VBox([title, radio, button, feedback], layout=widgets.Layout(margin="0 0 12px 0")))
    panel = widgets.VBox(boxes)
    display(panel)
    return None
