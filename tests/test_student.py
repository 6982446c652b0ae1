import re

import nbformat
import pytest
from nbclient import NotebookClient

from kit import student

SOLVED = '''import numpy as np

def accuracy(y_true, y_pred):
    """Share of predictions that are right."""
    return float((np.asarray(y_true) == np.asarray(y_pred)).mean())

best_lr = 0.01
low, high = 1, 2
print("helper output that the student copy drops")
'''


def test_stub_keeps_signatures_and_docstrings():
    stub = student.stub_source(SOLVED)
    assert "def accuracy(y_true, y_pred):" in stub and "Share of predictions" in stub
    assert "raise NotImplementedError" in stub and "# TODO" in stub
    assert "best_lr = ...  # TODO" in stub and "low, high = ..., ..." in stub
    assert "import numpy as np" in stub
    assert ".mean()" not in stub and "print(" not in stub
    compile(stub, "<stub>", "exec")


def test_committed_exercises_match_their_solutions():
    """exercises/NN_*.ipynb are generated (python -m kit student --sync), never edited by hand."""
    for solved in sorted(student.SOLUTIONS.glob("*.ipynb")):
        committed = student.SOLUTIONS.parent / solved.name
        assert committed.exists(), f"{committed} is missing: run python -m kit student --sync"
        expected = student.student_notebook(nbformat.read(solved, as_version=4))
        actual = nbformat.read(committed, as_version=4)
        assert [c.source for c in actual.cells] == [c.source for c in expected.cells], (
            f"{committed.name} is out of date with its solution: run python -m kit student --sync")


@pytest.mark.parametrize("solved", sorted(student.SOLUTIONS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_student_copy_reports_not_done_yet(solved, tmp_path, monkeypatch):
    """Every stubbed exercise runs without a traceback and the checker says 'not done yet'."""
    monkeypatch.setenv("KIT_EXERCISES_STRICT", "0")
    monkeypatch.setenv("KIT_PROGRESS", str(tmp_path / "progress.json"))
    nb = student.student_notebook(nbformat.read(solved, as_version=4))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(solved.parent.parent)}}).execute()
    checks = [c for c in nb.cells if c.cell_type == "code" and re.search(r"exercises\.check\(", c.source)]
    assert checks, f"{solved.name} has no exercises.check(...) cells"
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "not done yet" in text, f"{solved.name}: {cell.source!r} printed {text!r}"


def test_build_keeps_a_learners_edited_copies_unless_forced(tmp_path, capsys):
    first = student.build(tmp_path)
    assert first and all(p.exists() for p in first)
    edited = first[0]
    nb = nbformat.read(edited, as_version=4)
    cell = next(c for c in nb.cells if "exercise" in c.metadata.get("tags", []))
    cell.source = "my_answer = 42  # the learner's work"
    nbformat.write(nb, edited)
    mine = edited.read_text(encoding="utf-8")

    again = student.build(tmp_path)                     # untouched copies are rewritten, the edited one kept
    assert edited not in again and len(again) == len(first) - 1
    assert edited.read_text(encoding="utf-8") == mine
    assert f"kept {edited}" in capsys.readouterr().out

    forced = student.build(tmp_path, force=True)        # --force overwrites, keeping a backup
    assert edited in forced and "my_answer" not in edited.read_text(encoding="utf-8")
    backups = list(tmp_path.glob(f"{edited.name}.bak-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == mine


def test_cli_student_has_force(tmp_path, monkeypatch, capsys):
    from kit import cli

    calls = []
    monkeypatch.setattr(student, "build", lambda force=False: calls.append(force) or [])
    assert cli.main(["student", "--force"]) == 0 and calls == [True]
