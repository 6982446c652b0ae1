"""Benchmark contamination through training: a fixed test set that leaked into fine-tuning, against fresh sets.

    bench = contamination.addition_items(60, seed=0)        # the fixed benchmark ("Q: 37 + 48 =" -> " 85")
    fresh = contamination.addition_items(60, seed=1)        # a fresh set from the same generator
    ok = contamination.exact_match(model, tok, bench)       # per-item 0/1: greedy decoding gives the answer
    batch = contamination.encode(tok, bench[:8])            # prompt + answer ids, loss on the answer only

A dynamic benchmark draws a new set from a generator at every evaluation, so nothing it asks can have been
trained on. The lesson fine-tunes SmolLM2 with LoRA (`kit.tuning.train`) on the fixed set and measures the
per-item gain on it against the gain on fresh sets: memorised answers raise the first, not the second.
Prompts are raw text, not chat: SmolLM2-135M-Instruct restates "37 + 48 =" in chat form instead of answering.
"""
import numpy as np
import torch

__all__ = ["addition_items", "encode", "exact_match", "per_item_gain"]


def addition_items(n: int, seed: int, low: int = 10, high: int = 100) -> list[dict]:
    """`n` addition questions a + b with a, b drawn uniformly from [low, high) with `seed`: one benchmark per seed.

    Each item is {"prompt": "Q: a + b =", "answer": " a+b"} (the answer starts with a space, as the
    model writes it)."""
    if n < 1:
        raise ValueError(f"ask for at least one item, got n={n}")
    if not low < high:
        raise ValueError(f"need low < high, got low={low}, high={high}")
    pairs = np.random.default_rng(seed).integers(low, high, (n, 2))
    return [{"prompt": f"Q: {a} + {b} =", "answer": f" {a + b}"} for a, b in pairs.tolist()]


def _ids(tok, items):
    for item in items:
        if not {"prompt", "answer"} <= set(item):
            raise ValueError(f"an item needs 'prompt' and 'answer', got keys {sorted(item)}")
    return [(tok(item["prompt"], add_special_tokens=False)["input_ids"],
             tok(item["answer"], add_special_tokens=False)["input_ids"]) for item in items]


def encode(tok, items: list[dict]) -> dict:
    """A training batch: prompt, answer and the end token, right-padded; labels are -100 except on the
    answer and the end token (the loss a fine-tune on this benchmark would minimise)."""
    if not items:
        raise ValueError("encode needs at least one item")
    rows = [(p, a + [tok.eos_token_id]) for p, a in _ids(tok, items)]
    width = max(len(p) + len(a) for p, a in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.full((len(rows), width), pad)
    mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
    for i, (p, a) in enumerate(rows):
        ids[i, :len(p) + len(a)] = torch.tensor(p + a)
        mask[i, :len(p) + len(a)] = 1
        labels[i, len(p):len(p) + len(a)] = torch.tensor(a)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def exact_match(model, tok, items: list[dict], batch_size: int = 64) -> np.ndarray:
    """Per item 1.0 when greedy decoding would write exactly the answer (the answer's tokens are each the
    most likely next token, and the token after them does not continue the number), else 0.0.

    One forward pass per batch with the answer teacher-forced: the same verdict as `generate` with
    greedy decoding, at a fraction of the cost."""
    if not items:
        raise ValueError("exact_match needs at least one item")
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    digit = _digit_tokens(tok)
    out = []
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            rows = _ids(tok, items[start:start + batch_size])
            width = max(len(p) + len(a) + 1 for p, a in rows)
            ids = torch.full((len(rows), width), tok.eos_token_id)
            mask = torch.zeros_like(ids)
            for i, (p, a) in enumerate(rows):
                ids[i, :len(p) + len(a)] = torch.tensor(p + a)
                mask[i, :len(p) + len(a)] = 1
            best = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits.argmax(-1).cpu()
            for i, (p, a) in enumerate(rows):
                said = best[i, len(p) - 1:len(p) + len(a)].tolist()
                out.append(float(said[:-1] == a and said[-1] not in digit))
    model.train(was_training)
    return np.array(out)


_DIGITS: dict = {}


def _digit_tokens(tok) -> set:
    """Ids of the tokens that start with a digit (what would continue a number), cached per tokenizer."""
    key = (tok.name_or_path, len(tok))
    if key not in _DIGITS:
        _DIGITS[key] = {i for i in range(len(tok)) if tok.decode([i]).strip()[:1].isdigit()}
    return _DIGITS[key]


def per_item_gain(before, after) -> np.ndarray:
    """after - before per item (each in {-1, 0, 1} for exact match): what fine-tuning changed on each item."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    if before.shape != after.shape:
        raise ValueError(f"before and after must score the same items, got shapes {before.shape} and {after.shape}")
    return after - before
