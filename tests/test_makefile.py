"""The Makefile's own contract: `make help` names every target a contributor can run."""
import re
import shutil
import subprocess

import pytest

from kit.paths import ROOT


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.MULTILINE))


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"^make ([a-z][a-z0-9-]*)", out, flags=re.MULTILINE))
    assert {"lab", "test", "lint", "help"} <= makefile_targets()
    assert listed == makefile_targets(), (f"make help misses {sorted(makefile_targets() - listed)} "
                                          f"and lists unknown {sorted(listed - makefile_targets())}")


def test_every_target_is_phony():
    phony = set(re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
                .group(1).split())
    assert makefile_targets() <= phony, f"add to .PHONY: {sorted(makefile_targets() - phony)}"
