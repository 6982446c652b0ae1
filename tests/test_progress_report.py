"""kit.progress_report: the offline completion report, built from fixture progress, quiz and results files."""
import json
import re

import pytest

from kit import cli, exercises, progress_report, quiz

CLAIMS = [
    {"name": "SmolLM2 answers better after training", "effect": 0.425, "ci": [0.31, 0.54],
     "baseline": "the constant majority program", "negative_control": "shuffled labels",
     "control_rejected": True, "holds": True},
    {"name": "<script>alert('x')</script> & co", "effect": -0.02, "ci": [-0.08, 0.04],
     "baseline": "logistic regression <raw pixels>", "negative_control": None, "control_rejected": None,
     "holds": False},
]


@pytest.fixture
def learner(tmp_path, monkeypatch):
    """A learner who passed 00.1 and 00.3 (tried 00.2), answered three quiz questions, and ran lessons 00 and 01."""
    monkeypatch.setenv("KIT_PROGRESS", str(tmp_path / "progress.json"))
    (tmp_path / "progress.json").write_text(json.dumps({
        "00.1": {"passed": True, "attempts": 1, "last": "2026-12-03 10:00"},
        "00.2": {"passed": False, "attempts": 3, "last": "2026-12-03 10:05"},
        "00.3": {"passed": True, "attempts": 2, "last": "2026-12-03 10:09"}}))
    first, second = quiz.questions("00")[:2]
    (tmp_path / "quiz.json").write_text(json.dumps({
        first.id: {"correct": True, "attempts": 1, "last": "2026-12-03 10:10"},
        second.id: {"correct": False, "attempts": 1, "last": "2026-12-03 10:11"},
        quiz.questions("01")[0].id: {"correct": True, "attempts": 2, "last": "2026-12-03 11:00"}}))
    results = tmp_path / "results"
    results.mkdir()
    (results / "00_start_here.json").write_text(json.dumps({
        "notebook": "notebooks/00_start_here.ipynb", "profile": "cpu", "wall_s": 41.7, "peak_rss_mb": 812,
        "metrics": {"val_accuracy": 0.95}, "claims": CLAIMS, "ok": True}))
    (results / "01_fine_tuning_lora.json").write_text("{half a file")
    return tmp_path


def test_collect_reads_the_three_sources(learner):
    reports = {r.number: r for r in progress_report.collect(learner / "results")}
    assert reports["00"].exercises_passed == 2 and len(reports["00"].exercises) == len(exercises.registered("00"))
    assert (reports["00"].quiz_correct, reports["00"].quiz_answered) == (1, 2)
    assert reports["00"].quiz_total == len(quiz.questions("00"))
    assert (reports["01"].quiz_correct, reports["01"].exercises_passed) == (1, 0)
    assert [c["name"] for c in reports["00"].claims] == [c["name"] for c in CLAIMS]
    assert reports["01"].results is None and "01_fine_tuning_lora.json could not be read" in \
        reports["01"].results_problem
    assert reports["02"].results is None and not reports["02"].results_problem


def test_report_shows_the_learners_numbers_escaped_and_offline(learner):
    out = progress_report.write(learner / "out" / "report.html", learner / "results")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "2 / " in page and "exercises passed" in page                 # the summary
    assert "Exercises: <b>2 of " in page and "Quiz: <b>1 of " in page        # lesson 00
    assert "not yet</span></td><td>00.2</td>" in page and "✓</span></td><td>00.3</td>" in page
    assert "1 / 2</b>claims reproduced" in page
    assert "SmolLM2 answers better after training" in page and "+0.425" in page and "[+0.31, +0.54]" in page
    assert "the constant majority program" in page and "shuffled labels" in page
    assert "under the <b>cpu</b> profile in 42 s, peak memory 812 MB" in page
    assert "01_fine_tuning_lora.json could not be read" in page                 # damaged results: said, not fatal
    assert "python -m kit run 02" in page                                       # not run yet: says how
    # everything from a file is escaped; nothing is fetched or executed
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;raw pixels&gt;" in page
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", page) and "<link" not in page
    assert "@import" not in page and "url(" not in page
    assert not list(out.parent.glob(".*.tmp"))                                  # written atomically


def test_cli_progress_report_writes_the_file(learner, monkeypatch, capsys):
    monkeypatch.setattr(progress_report, "DEFAULT_PATH", learner / "default.html")
    assert cli.main(["progress", "--report"]) == 0
    assert "wrote " in capsys.readouterr().out and (learner / "default.html").exists()
    target = learner / "elsewhere" / "mine.html"
    assert cli.main(["progress", "--report", str(target)]) == 0
    assert "completion report" in target.read_text(encoding="utf-8")
    assert cli.main(["progress"]) == 0 and "wrote" not in capsys.readouterr().out.split("passed")[-1]


def test_cli_report_into_an_unwritable_place_says_what_to_do(learner, capsys):
    blocker = learner / "a-file"
    blocker.write_text("not a folder")
    assert cli.main(["progress", "--report", str(blocker / "report.html")]) == 2
    assert "Fix: name a file in a folder you can write" in capsys.readouterr().err
