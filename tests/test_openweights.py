"""Unit tests for kit/openweights.py (tiny models built from configs; the real SmolLM2 only where cheap)."""
import json

import pytest
import torch

from kit import licences, openweights, tuning
from kit.errors import ChecksumError, MissingResourceError


@pytest.fixture(scope="module")
def tiny():
    """A 2-layer Llama with SmolLM2's shape ideas (grouped-query attention, tied embeddings)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def tok():
    from kit import models

    return models.tokenizer("smollm2")


def test_params_from_config_matches_a_built_model(tiny):
    assert openweights.params_from_config(tiny.config) == tiny.num_parameters()
    untied = dict(tiny.config.to_dict(), tie_word_embeddings=False)
    assert openweights.params_from_config(untied) == tiny.num_parameters() + 64 * 32


def test_params_from_config_rejects_a_non_llama_config():
    with pytest.raises(ValueError, match="no 'intermediate_size'"):
        openweights.params_from_config({"hidden_size": 8, "num_hidden_layers": 1, "vocab_size": 10})


def test_params_by_module_counts_shared_weights_once(tiny):
    groups = openweights.params_by_module(tiny)
    assert sum(groups.values()) == tiny.num_parameters()
    assert "lm_head" not in groups and groups["embedding"] == 64 * 32   # tied: counted with the embedding


@pytest.fixture()
def checkpoint(tiny, tok, tmp_path):
    folder = tmp_path / "published"
    openweights.publish(tiny, tok, folder, licences.model_card("tiny", "base", "apache-2.0", {"a": 0.5}, "x"))
    return folder


def test_publish_writes_the_hub_layout_and_reloads(checkpoint, tiny, tok):
    from transformers import AutoModelForCausalLM

    kinds = {row["file"]: row["kind"] for row in openweights.anatomy(checkpoint)}
    assert kinds["config.json"] == "config" and kinds["model.safetensors"] == "weights"
    assert kinds["README.md"] == "model card" and kinds["tokenizer.json"] == "tokenizer"
    openweights.verify_checkpoint(checkpoint)
    again = AutoModelForCausalLM.from_pretrained(checkpoint, local_files_only=True).eval()
    texts = ["hello there", "open weights"]
    small = tok(texts, return_tensors="pt", padding=True)
    ids = small["input_ids"] % 64
    with torch.no_grad():
        assert float((tiny(input_ids=ids).logits - again(input_ids=ids).logits).abs().max()) <= 1e-6


def test_verify_checkpoint_reports_a_missing_weight_file(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(MissingResourceError, match="no weight file"):
        openweights.verify_checkpoint(checkpoint)


def test_verify_checkpoint_reports_a_tampered_file(checkpoint):
    with open(checkpoint / "model.safetensors", "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(ChecksumError, match="does not match its recorded sha256"):
        openweights.verify_checkpoint(checkpoint)


def test_verify_checkpoint_reports_missing_shards(checkpoint):
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model.safetensors"}}
    (checkpoint / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(MissingResourceError, match="model-00001-of-00002"):
        openweights.verify_checkpoint(checkpoint)


def test_verify_checkpoint_needs_a_config(tmp_path):
    with pytest.raises(MissingResourceError, match="no config.json"):
        openweights.verify_checkpoint(tmp_path)


def test_gguf_summary_reads_metadata_and_tensor_types():
    meta, types = openweights.gguf_summary(openweights.gguf_file())
    assert meta["general.architecture"] == "llama" and meta["general.license"] == "apache-2.0"
    assert "tokenizer.ggml.tokens" not in meta
    assert sum(t["tensors"] for t in types.values()) == meta["GGUF.tensor_count"]


def test_tasks_load_and_encode(tok):
    tasks = openweights.load_tasks(n_train=4, n_test=2)
    assert set(tasks) == set(openweights.TASKS) and len(tasks["dates"].train) == 4
    batch = openweights.encode(tok, tasks["dates"].test + tasks["sentiment"].test)
    assert batch["input_ids"].shape == batch["labels"].shape
    answer = batch["labels"][0][batch["labels"][0] != -100]
    assert tok.decode(answer).startswith(tasks["dates"].test[0]["answer"])


def test_train_lora_rejects_bad_inputs(tiny, tok):
    with pytest.raises(ValueError, match="no training examples"):
        openweights.train_lora(tiny, tok, [], steps=1)
    frozen = tiny.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        openweights.train_lora(frozen, tok, [{"task": "dates", "input": "x", "answer": "y"}], steps=1)


def test_merge_rejects_an_adapter_for_another_base(tiny, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    other = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))
    tuning.save_adapter(get_peft_model(other, LoraConfig(r=2, target_modules=["q_proj"])), tmp_path / "wrong")
    with pytest.raises(ValueError, match="trained for another base model"):
        openweights.merge_adapters(tiny, {"wrong": tmp_path / "wrong"}, [1.0])


def test_cost_table_adds_the_api_row():
    rows = openweights.cost_table({"fp32": 3600 / 300}, tokens_per_request=300, machine_per_hour=1.0,
                                  api_per_million=1.0)
    assert rows[0]["hours_per_1000"] == pytest.approx(1000 * 300 / 12 / 3600, abs=0.01)
    assert rows[-1]["usd_per_1000"] == pytest.approx(0.3)


def test_exact_match_scores_whole_generated_answers(tiny, tok, monkeypatch):
    from kit import models

    examples = [{"task": "dates", "input": "x", "answer": "2024-01-05"}, {"task": "sentiment", "input": "y",
                                                                         "answer": "positive"}]
    monkeypatch.setattr(models, "chat", lambda *a, **k: ["2024-01-05\nmore text", "Positive."])
    assert openweights.exact_match(tiny, tok, examples).tolist() == [1.0, 1.0]
    monkeypatch.setattr(models, "chat", lambda *a, **k: ["2024-01-06", "negative"])
    assert openweights.exact_match(tiny, tok, examples).tolist() == [0.0, 0.0]


def test_random_adapter_has_the_trained_shapes_and_scale(tiny, tmp_path):
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file

    lora = get_peft_model(tiny, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.5)
    tuning.save_adapter(lora, tmp_path / "trained")
    base = lora.unload()
    openweights.random_adapter(base, tmp_path / "trained", tmp_path / "random", seed=1)
    a, b = load_file(str(tmp_path / "trained" / "adapter_model.safetensors")), \
        load_file(str(tmp_path / "random" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    assert all(0.3 < b[k].std().item() < 0.7 and not torch.equal(a[k], b[k]) for k in a)
    assert not any(hasattr(m, "lora_A") for m in base.modules()), "the base is left without LoRA layers"


def test_throughput_and_quantized_copy(tok):
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=1)).eval()   # reads real token ids
    rows = openweights.throughput(tiny, tok, batch_sizes=(1, 2), new_tokens=3)
    assert [r["batch"] for r in rows] == [1, 2] and [r["new_tokens"] for r in rows] == [3, 6]
    assert all(r["tokens_per_s"] > 0 for r in rows)
    q8 = openweights.quantize_int8(tiny)
    assert any("quantized" in type(m).__module__ for m in q8.modules())
    assert not any("quantized" in type(m).__module__ for m in tiny.modules()), "the original stays fp32"
    assert openweights.weights_mb(q8) < openweights.weights_mb(tiny)
    with pytest.raises(ValueError, match="new_tokens >= 1"):
        openweights.throughput(tiny, tok, new_tokens=0)


def test_usd_per_million_tokens():
    assert openweights.usd_per_million_tokens(1e6 / 3600, 2.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive speed"):
        openweights.usd_per_million_tokens(0, 1.0)
