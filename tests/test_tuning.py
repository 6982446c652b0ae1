"""kit.tuning: chat batching and the LoRA training loop lessons 01 and 08 share (a tiny random Llama)."""
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from kit import models, tuning

CHAT = [{"role": "system", "content": "Reply with one word."}, {"role": "user", "content": "Colour of the sky?"}]


@pytest.fixture(scope="module")
def tok():
    return models.tokenizer("smollm2")


def tiny_lora(tok):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return get_peft_model(LlamaForCausalLM(config), LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))


def test_encode_puts_the_loss_on_the_answer_only(tok):
    batch = tuning.encode(tok, [(CHAT, "blue"), (CHAT, "a much longer answer than one word")])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    first = batch["labels"][0][batch["labels"][0] != -100]
    assert tok.decode(first) == "blue" + tok.eos_token
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()  # right-padded
    cut = tuning.encode(tok, [(CHAT, "blue")], max_len=5)
    assert cut["input_ids"].shape[1] == 5 and (cut["labels"] == -100).all()  # the prompt alone fills 5 tokens


def test_train_draws_batches_through_to_batch_and_restores_the_mode(tok):
    model, seen = tiny_lora(tok).eval(), []

    def to_batch(examples):
        seen.append(len(examples))
        return tuning.encode(tok, [(CHAT, answer) for answer in examples])

    stats = tuning.train(model, ["blue", "grey"], to_batch, steps=3, batch_size=8, lr=1e-2, progress=False)
    assert seen == [2, 2, 2]  # a batch larger than the data takes all of it
    assert len(stats["losses"]) == 3 and stats["seconds_per_step"] > 0 and stats["peak_mb"] > 0
    assert not model.training
    with pytest.raises(ValueError, match="no trainable parameters"):
        tuning.train(model.get_base_model().requires_grad_(False), ["blue"], to_batch, steps=1)
    with pytest.raises(ValueError, match="at least 1"):
        tuning.train(model, ["blue"], to_batch, steps=0)
