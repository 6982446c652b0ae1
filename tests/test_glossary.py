"""docs/glossary.md and docs/reading.md: every link from a lesson to a glossary term lands on an entry, the entries
stay alphabetical, and the reading list covers every lesson."""
import json
import re

from kit import lessons
from kit.paths import ROOT

GLOSSARY = ROOT / "docs" / "glossary.md"


def _entries():
    """(anchor, term) per glossary entry, in file order."""
    text = GLOSSARY.read_text(encoding="utf-8")
    return re.findall(r'^- <a id="([a-z0-9-]+)"></a>\*\*(.+?)\*\*', text, re.M)


def _sort_key(term: str) -> str:
    key = re.sub(r"[^a-z0-9 ]", "", term.lower())
    return "nearest neighbour" if key.startswith("1nearest") else key


def test_glossary_entries_are_unique_and_alphabetical():
    entries = _entries()
    anchors = [a for a, _ in entries]
    assert len(entries) > 100 and len(set(anchors)) == len(anchors)
    keys = [_sort_key(term) for _, term in entries]
    assert keys == sorted(keys), "keep docs/glossary.md alphabetical"


def test_every_glossary_link_from_a_notebook_lands_on_an_entry():
    anchors = {a for a, _ in _entries()}
    broken = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        missing = sorted(set(re.findall(r"glossary\.md#([\w-]+)", text)) - anchors)
        if missing:
            broken[path.name] = missing
    assert not broken, f"links to glossary anchors that do not exist: {broken}"


def test_reading_list_has_a_section_per_lesson():
    text = (ROOT / "docs" / "reading.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (\d\d) ·", text, re.M)
    want = [lesson.number for lesson in lessons.LESSONS if lesson.notebook.exists()]
    assert sections[:len(want)] == want
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        papers = re.findall(r"^- ", block, re.M)
        assert 3 <= len(papers) <= 5, f"3-5 primary papers per lesson: {block.splitlines()[0]}"
