import pytest
import torch

from kit import contamination, models


@pytest.fixture(scope="module")
def tok():
    return models.tokenizer("smollm2")


class _Echo(torch.nn.Module):
    """A stand-in language model whose most likely next token is the one that really comes next (an oracle),
    or always token 0 (`wrong=True`)."""

    def __init__(self, vocab, wrong=False):
        super().__init__()
        self.vocab, self.wrong, self.weight = vocab, wrong, torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None):
        nxt = torch.roll(input_ids, -1, dims=1)
        if self.wrong:
            nxt = torch.zeros_like(nxt)
        return type("Out", (), {"logits": torch.nn.functional.one_hot(nxt, self.vocab).float()})


def test_addition_items_are_a_generator_one_set_per_seed():
    a = contamination.addition_items(50, seed=0)
    assert a == contamination.addition_items(50, seed=0) and a != contamination.addition_items(50, seed=1)
    first = a[0]
    x, y = (int(v) for v in first["prompt"].removeprefix("Q: ").removesuffix(" =").split(" + "))
    assert first["answer"] == f" {x + y}" and all(10 <= v < 100 for v in (x, y))
    with pytest.raises(ValueError, match="at least one"):
        contamination.addition_items(0, seed=0)
    with pytest.raises(ValueError, match="low < high"):
        contamination.addition_items(3, seed=0, low=5, high=5)


def test_encode_puts_the_loss_on_the_answer_only(tok):
    items = contamination.addition_items(3, seed=0)
    batch = contamination.encode(tok, items)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    for row, item in zip(range(3), items):
        kept = batch["labels"][row][batch["labels"][row] != -100].tolist()
        assert tok.decode(kept[:-1]) == item["answer"] and kept[-1] == tok.eos_token_id
    with pytest.raises(ValueError, match="'prompt' and 'answer'"):
        contamination.encode(tok, [{"question": "1 + 1"}])


def test_exact_match_is_one_for_an_oracle_and_zero_for_a_wrong_model(tok):
    items = contamination.addition_items(5, seed=3)
    assert contamination.exact_match(_Echo(len(tok)), tok, items, batch_size=2).tolist() == [1.0] * 5
    assert contamination.exact_match(_Echo(len(tok), wrong=True), tok, items).tolist() == [0.0] * 5
    with pytest.raises(ValueError, match="at least one"):
        contamination.exact_match(_Echo(len(tok)), tok, [])


def test_per_item_gain_checks_shapes():
    assert contamination.per_item_gain([0, 1, 1], [1, 1, 0]).tolist() == [1, 0, -1]
    with pytest.raises(ValueError, match="same items"):
        contamination.per_item_gain([0, 1], [1])
