"""kit.quiz: questions load per lesson, answers are checked, explained and saved locally."""
import json

import pytest

from kit import quiz
from kit.errors import KitError


def test_lesson_00_questions_are_well_formed():
    questions = quiz.questions("00")
    assert 3 <= len(questions) <= 5
    for question in questions:
        assert question.id.startswith("00.q") and len(question.choices) >= 2 and question.explain


def test_answer_checks_explains_and_saves(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KIT_PROGRESS", str(tmp_path / "progress.json"))
    question = quiz.questions("00")[0]
    wrong = next(letter for letter in "abc" if letter != question.answer)
    assert quiz.answer(question.id, wrong) is False
    assert "not quite" in capsys.readouterr().out
    assert quiz.answer(question.id, question.answer.upper()) is True
    assert question.explain in capsys.readouterr().out
    saved = json.loads((tmp_path / "quiz.json").read_text())
    assert saved[question.id]["correct"] is True and saved[question.id]["attempts"] == 2
    assert quiz.results()[question.id]["correct"] is True


def test_bad_input_gets_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_PROGRESS", str(tmp_path / "progress.json"))
    with pytest.raises(KitError, match="one letter: a, b, c"):
        quiz.answer("00.q1", "z")
    with pytest.raises(ValueError, match="Choose one of: 00.q1"):
        quiz.answer("00.q99", "a")
    with pytest.raises(ValueError, match="Unknown lesson '42'"):
        quiz.questions("42")
    with pytest.raises(ValueError, match="not one of its choices"):
        quiz.Question("x.q1", "?", ("yes", "no"), "c", "")


@pytest.mark.parametrize("content", ["[1, 2, 3]", "{not json", '{"00.q1": 3}'])
def test_a_damaged_results_file_is_backed_up_not_overwritten(content, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KIT_PROGRESS", str(tmp_path / "progress.json"))
    (tmp_path / "quiz.json").write_text(content)
    assert quiz.answer("00.q1", quiz.questions("00")[0].answer) is True   # no traceback, the answer is saved
    out = capsys.readouterr().out
    backups = list(tmp_path.glob("quiz.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == content          # the learner's old file is kept
    assert "quiz answers file" in out and str(backups[0]) in out
    assert quiz.results()["00.q1"]["correct"] is True


def test_show_builds_one_widget_group_per_question(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    quiz.show("00")
    assert len(shown) == 1 and len(shown[0].children) == len(quiz.questions("00"))
