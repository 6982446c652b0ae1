"""House rules for kit/ that a reviewer would otherwise check by eye."""
from kit.paths import ROOT


def test_unknown_names_go_through_errors_unknown():
    """One message format for a bad name ('Unknown x 'y'. Choose one of: ...'), built by kit.errors.unknown,
    so every such error is an UnknownNameError the CLI prints without a traceback."""
    hand_written = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "kit").rglob("*.py"))
                    if path.name != "errors.py"
                    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                    if "Choose one of" in line]
    assert not hand_written, f"raise kit.errors.unknown(kind, name, choices) instead, at: {hand_written}"
