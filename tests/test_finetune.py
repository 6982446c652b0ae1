"""Unit tests for kit/finetune.py, on tiny randomly initialised Llama/BERT models (fast, offline)."""
import json

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from kit import finetune, models

EXAMPLES = [{"drug": "Nexplanon", "review": "I cried every day, no periods though.", "condition": "birth control"},
            {"drug": "Sertraline", "review": "Works great, I feel like myself again.", "condition": "depression"},
            {"drug": "Mirena", "review": "No problems at all after a year.", "condition": "birth control"}]


@pytest.fixture(scope="module")
def tok():
    return models.tokenizer("smollm2")


def tiny_llama(tok, seed=0, hidden=32):
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def test_build_write_and_load_task(tmp_path):
    from kit import data

    task = finetune.build_task(data.load("drug_reviews"), n_test=20)
    assert len(task.test) == 20 and len(task.train) > 300
    assert set(task.train[0]) == {"drug", "review", "condition"}
    assert all(ex["condition"] in finetune.LABELS for ex in task.train + task.test)
    assert len(task.train[0]["review"].split()) <= finetune.REVIEW_WORDS
    paths = finetune.write_task(task, tmp_path)
    assert [json.loads(line) for line in paths[0].read_text(encoding="utf-8").splitlines()] == task.train
    course = finetune.load_task()
    assert len(course.train) >= 300 and len(course.test) == 160
    assert len(course.subset(10, 4).train) == 10
    with pytest.raises(ValueError, match="n_test must be between"):
        finetune.build_task(data.load("drug_reviews"), n_test=0)


def test_messages_target_and_shots():
    chat = finetune.messages(EXAMPLES[0])
    assert chat[0]["role"] == "system" and "Nexplanon" in chat[1]["content"] and len(chat) == 2
    assert all(label in chat[0]["content"] for label in finetune.LABELS)
    assert json.loads(finetune.target_text(EXAMPLES[0])) == {"drug": "Nexplanon", "condition": "birth control"}
    shots = finetune.pick_shots(EXAMPLES, n=2)
    assert [s["condition"] for s in shots] == ["birth control", "depression"]
    few = finetune.messages(EXAMPLES[2], shots)
    assert [m["role"] for m in few] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert few[2]["content"] == finetune.target_text(shots[0]) and "Mirena" in few[-1]["content"]


@pytest.mark.parametrize("answer, expected", [
    ('{"drug": "Nexplanon", "condition": "birth control"}', (1, 1)),
    ('{"condition": " Birth Control ", "drug": "x"}', (1, 1)),
    ('{"drug": "Nexplanon", "condition": "acne"}', (1, 0)),
    ('```json\n{"drug": "Nexplanon", "condition": "birth control"}\n```', (0, 0)),
    ('{"drug": "Nexplanon", "condition": "birth control", "dose": 1}', (0, 0)),
    ('The condition is birth control.', (0, 0)), ('[1, 2]', (0, 0)), (None, (0, 0))])
def test_score_answer(answer, expected):
    assert finetune.score_answer(answer, EXAMPLES[0]) == expected


def test_score_answers_and_the_programs():
    task = finetune.Task(train=EXAMPLES, test=[{**EXAMPLES[1], "condition": "birth control"},
                                               {"drug": "Newdrug", "review": "", "condition": "acne"}])
    assert finetune.majority_condition(EXAMPLES) == "birth control"
    constant = finetune.score_answers(finetune.constant_answers(task), task.test)
    assert constant["format"].tolist() == [1, 1] and constant["field"].tolist() == [1, 0]
    lookup = finetune.constant_answers(task) != finetune.lookup_answers(task)
    assert lookup  # Sertraline was reviewed for depression in training: the lookup says so
    assert json.loads(finetune.lookup_answers(task)[0])["condition"] == "depression"
    assert json.loads(finetune.lookup_answers(task)[1])["condition"] == "birth control"  # unseen drug: majority
    with pytest.raises(ValueError, match="2 answers for 1 examples"):
        finetune.score_answers(["a", "b"], EXAMPLES[:1])
    with pytest.raises(ValueError, match="no training examples"):
        finetune.majority_condition([])


def test_shuffle_targets_keeps_reviews_and_label_counts():
    rows = [{"drug": f"d{i}", "review": f"r{i}", "condition": c} for i, c in enumerate("aabbbcdddd")]
    shuffled = finetune.shuffle_targets(rows, seed=0)
    assert [r["review"] for r in shuffled] == [r["review"] for r in rows]
    assert sorted(r["condition"] for r in shuffled) == sorted(r["condition"] for r in rows)
    assert [r["condition"] for r in shuffled] != [r["condition"] for r in rows]
    assert rows[0]["condition"] == "a"  # the input is not modified


def test_encode_masks_the_prompt(tok):
    batch = finetune.encode(tok, EXAMPLES[:2])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    answer = batch["labels"][0][batch["labels"][0] != -100]
    assert tok.decode(answer).startswith(finetune.target_text(EXAMPLES[0]))
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()


def test_lora_settings_and_counts(tok):
    model = tiny_llama(tok)
    assert {"q_proj", "v_proj", "down_proj"} <= set(finetune.linear_module_names(model))
    assert "lm_head" not in finetune.linear_module_names(model)
    with pytest.raises(ValueError, match="rank r must be a positive integer"):
        finetune.check_lora_settings(model, 0, ["q_proj"])
    with pytest.raises(ValueError, match="Unknown target module.*query.*Linear layers are: .*q_proj"):
        finetune.lora_param_count(model, 4, ["query"])
    expected = finetune.lora_param_count(model, 4, ["q_proj", "v_proj"])
    lora = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    n_train, n_all, pct = finetune.trainable(lora)
    assert n_train == expected == 2 * 4 * ((32 + 32) + (32 + 16))
    assert 0 < pct < 100 and finetune.print_trainable(lora) == pytest.approx(pct)
    assert finetune.footprint_mb(model) > 0


def test_train_generate_evaluate(tok):
    lora = get_peft_model(tiny_llama(tok), LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    stats = finetune.train_adapter(lora, tok, EXAMPLES, steps=2, batch_size=2, progress=False)
    assert len(stats["losses"]) == 2 and stats["seconds_per_step"] > 0 and stats["peak_mb"] > 0
    result = finetune.evaluate(lora, tok, EXAMPLES[:2], max_new_tokens=3)
    assert len(result["answers"]) == 2 and all(isinstance(a, str) for a in result["answers"])
    assert set(result["format"]) <= {0, 1} and set(result["field"]) <= {0, 1}
    batch = finetune.encode(tok, EXAMPLES)
    with torch.no_grad():
        want = lora(**batch).loss.item()  # transformers' own shifted loss over the answer tokens
    assert finetune.answer_loss(lora, tok, EXAMPLES, batch_size=2) == pytest.approx(want, rel=1e-4)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        finetune.train_adapter(lora, tok, EXAMPLES, steps=0)
    with pytest.raises(ValueError, match="no training examples"):
        finetune.train_adapter(lora, tok, [], steps=1)
    frozen = tiny_llama(tok).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        finetune.train_adapter(frozen, tok, EXAMPLES, steps=1)


def test_save_load_and_wrong_base(tok, tmp_path):
    lora = get_peft_model(tiny_llama(tok), LoraConfig(r=2, target_modules=["v_proj"], task_type="CAUSAL_LM"))
    torch.nn.init.normal_(lora.base_model.model.model.layers[0].self_attn.v_proj.lora_B["default"].weight)
    size = finetune.save_adapter(lora, tmp_path / "adapter")
    assert 0 < size < 1
    ids = torch.tensor([[1, 2, 3, 4]])
    reloaded = finetune.load_adapter(tiny_llama(tok), tmp_path / "adapter")
    torch.testing.assert_close(reloaded(input_ids=ids).logits, lora(input_ids=ids).logits)
    with pytest.raises(ValueError, match="trained for another base model.*hidden_size"):
        finetune.load_adapter(tiny_llama(tok, hidden=64), tmp_path / "adapter")
    with pytest.raises(ValueError, match="another base model.*embedding_sum"):
        finetune.check_adapter_base(tiny_llama(tok, seed=1), tmp_path / "adapter")
    with pytest.raises(FileNotFoundError, match="holds no adapter"):
        finetune.check_adapter_base(tiny_llama(tok), tmp_path)


def test_peak_memory_sees_an_allocation():
    with finetune.PeakMemory() as memory:
        block = np.ones(30 * 2**20 // 8)  # 30 MB
        block += 1
    assert memory.peak_mb > 30


def test_from_scratch_is_the_same_architecture_with_new_weights(tok):
    model = tiny_llama(tok)
    fresh = finetune.from_scratch(model.config, seed=1)
    assert type(fresh) is type(model)
    assert [p.shape for p in fresh.parameters()] == [p.shape for p in model.parameters()]
    assert not torch.equal(fresh.get_input_embeddings().weight, model.get_input_embeddings().weight)


def test_measure_training_rejects_an_unknown_variant():
    from kit.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="qlora"):
        finetune.measure_training("full")


def test_plot_and_widget(tok):
    rows = [{"variant": "constant", "format": 1.0, "field": 0.35, "test_loss": None},
            {"variant": "LoRA r=4", "format": 0.9, "field": 0.6, "test_loss": 0.4}]
    assert len(finetune.plot_comparison(rows).axes) == 3
    widget = finetune.lora_size_widget(tiny_llama(tok))
    assert widget.children[0].value == 8
