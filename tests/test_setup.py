"""The set-up's promises, kept in one place each: supported Python, complete constraints, torch's CPU build."""
import re
import sys
import tomllib

from kit import cli
from kit.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_supported_python_is_said_the_same_everywhere(capsys, monkeypatch):
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Python 3.11 or newer" in readme and "3.10" not in readme
    monkeypatch.setattr(sys, "version_info", (3, 10, 14))
    code = cli.main(["doctor"])
    monkeypatch.undo()
    out = capsys.readouterr().out
    assert re.search(r"^python .*✗ .*3\.11", out, re.M) and code == 1, out
