"""Unit tests for kit/finetune.py, on tiny randomly initialised Llama/BERT models (fast, offline)."""
import json

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

from kit import finetune, models

EXAMPLES = [{"drug": "Nexplanon", "review": "I cried every day, severe anxiety.", "sentiment": "negative"},
            {"drug": "Sertraline", "review": "Works great, I feel like myself again.", "sentiment": "positive"},
            {"drug": "Mirena", "review": "No problems at all after a year.", "sentiment": "positive"}]


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

    task = finetune.build_task(data.load("drug_reviews"), n_train=5, n_test=3)
    assert len(task.train) == 5 and len(task.test) == 3
    assert set(task.train[0]) == {"drug", "review", "sentiment"}
    assert len(task.train[0]["review"].split()) <= finetune.SNIPPET_WORDS
    paths = finetune.write_task(task, tmp_path)
    assert [json.loads(line) for line in paths[0].read_text().splitlines()] == task.train
    course = finetune.load_task()
    assert len(course.train) >= 200 and len(course.test) >= 60
    assert len(course.subset(10, 4).train) == 10


def test_messages_and_target():
    chat = finetune.messages(EXAMPLES[0])
    assert chat[0]["role"] == "system" and "Nexplanon" in chat[1]["content"]
    assert json.loads(finetune.target_text(EXAMPLES[0])) == {"drug": "Nexplanon", "sentiment": "negative"}


@pytest.mark.parametrize("answer, expected", [
    ('{"drug": "Nexplanon", "sentiment": "negative"}', 1.0),
    ('{"drug": "nexplanon", "sentiment": "positive"}', 0.5),
    ('```json\n{"drug": "Nexplanon", "sentiment": "negative"}\n```', 0.0),
    ('{"drug": "Nexplanon", "sentiment": "negative", "dose": 1}', 0.0),
    ('The sentiment is negative.', 0.0), ('[1, 2]', 0.0)])
def test_score_answer(answer, expected):
    assert finetune.score_answer(answer, EXAMPLES[0]) == expected


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
    score, answers = finetune.evaluate(lora, tok, EXAMPLES[:2], max_new_tokens=3)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers) and 0 <= score <= 1
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


def test_mean_pool_classifier_matches_logistic_probe():
    from sklearn.linear_model import LogisticRegression

    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32))
    model = finetune.MeanPoolClassifier(encoder.eval(), n_classes=2)
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0], [10, 11, 12, 13], [14, 15, 0, 0]])
    with torch.no_grad():
        emb = model.embed(ids).numpy()
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    logistic = LogisticRegression().fit(emb, [0, 1, 0, 1])
    model.init_head_from_logistic(logistic)
    with torch.no_grad():
        probs = model(ids).softmax(-1).numpy()
    assert np.allclose(probs, logistic.predict_proba(emb), atol=1e-5)


def test_token_ids(tok):
    from transformers import AutoTokenizer

    bert = AutoTokenizer.from_pretrained(models.path("minilm"))
    ids = finetune.token_ids(bert, ["a short review", "a much longer review of a drug that worked"], max_len=6)
    assert ids.shape == (2, 6) and ids[0, -1] == 0
    with pytest.raises(ValueError, match="pad id 0"):
        finetune.token_ids(tok, ["text"])


def test_plot_and_widget(tok):
    rows = [{"variant": "base", "score": 0.1, "trainable_pct": None, "s_per_step": None},
            {"variant": "LoRA r=4", "score": 0.8, "trainable_pct": 0.2, "s_per_step": 1.0}]
    assert len(finetune.plot_comparison(rows).axes) == 3
    widget = finetune.lora_size_widget(tiny_llama(tok))
    assert widget.children[0].value == 8
