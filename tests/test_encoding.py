"""Every text file the kit reads or writes names its encoding: under a non-UTF-8 locale (LANG=C on an
old system, Windows' cp1252) Python's default would garble or reject the course's UTF-8 files."""
import ast
from pathlib import Path

import kit

KIT = Path(kit.__file__).parent


def _mode(call: ast.Call, position: int) -> str:
    for keyword in call.keywords:
        if keyword.arg == "mode" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    if len(call.args) > position and isinstance(call.args[position], ast.Constant):
        return str(call.args[position].value)
    return "r"


def _offenders(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("read_text", "write_text"):
            lines.append(node.lineno)
        elif isinstance(func, ast.Name) and func.id == "open" and "b" not in _mode(node, 1):
            lines.append(node.lineno)
        elif isinstance(func, ast.Attribute) and func.attr == "open" and not node.args and "b" not in _mode(node, 0):
            lines.append(node.lineno)          # Path(...).open() in text mode (zipfile's .open(name) is binary)
    return lines


def test_the_scan_finds_what_it_should():
    assert _offenders("p.read_text()\nopen(f)\nopen(f, 'w')\np.open()\n") == [1, 2, 3, 4]
    assert _offenders("p.read_text(encoding='utf-8')\nopen(f, 'rb')\nz.open('a.tsv')\n") == []


def test_every_text_read_and_write_in_kit_names_its_encoding():
    found = [f"{path.relative_to(KIT.parent)}:{line}" for path in sorted(KIT.rglob("*.py"))
             for line in _offenders(path.read_text(encoding="utf-8"))]
    assert not found, "add encoding=\"utf-8\" at " + ", ".join(found)
