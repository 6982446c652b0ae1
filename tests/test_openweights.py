"""Unit tests for kit/openweights.py (tiny models built from configs; the real SmolLM2 only where cheap)."""
import json

import pytest
import torch

from kit import openweights, tuning
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
    openweights.publish(tiny, tok, folder, openweights.model_card("tiny", "base", "apache-2.0", {"a": 0.5}, "x"))
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


def test_model_card_round_trips_its_yaml():
    card = openweights.model_card("m", "HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0", {"dates": 0.9}, "hi")
    meta = openweights.read_card(card)
    assert meta["license"] == "apache-2.0" and meta["base_model"].startswith("HuggingFaceTB")
    assert meta["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.9
    with pytest.raises(ValueError, match="YAML block"):
        openweights.read_card("# no metadata")


def test_licence_allows():
    assert openweights.licence_allows("Apache-2.0", "commercial")
    assert not openweights.licence_allows("cc-by-nc-4.0", "commercial")
    with pytest.raises(ValueError, match="Unknown licence 'mit-ish'"):
        openweights.licence_allows("mit-ish", "commercial")
    with pytest.raises(ValueError, match="Unknown use"):
        openweights.licence_allows("gemma", "sell")


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
