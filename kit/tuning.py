"""LoRA plumbing shared by the lessons that adapt SmolLM2 (01 fine-tuning, 08 open weights).

    batch = tuning.encode(tok, [(chat, answer), ...])        # prompt + answer ids, loss on the answer only
    stats = tuning.train(model, examples, to_batch, steps=60)  # a plain AdamW loop over what requires grad
    tuning.save_adapter(model, folder); tuning.load_adapter(base, folder)  # refuses an adapter of another base

The lessons keep peft's `LoraConfig` / `get_peft_model` in their cells; this module holds what would
otherwise be copied between them: batching chats, the training loop, parameter counts, and adapter
files that remember which base they were trained on. Chat generation is `kit.models.chat`.
"""
import json
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["PeakMemory", "encode", "train", "trainable", "print_trainable", "linear_module_names",
           "check_lora_settings", "lora_param_count", "footprint_mb", "FINGERPRINT", "base_fingerprint",
           "save_adapter", "check_adapter_base", "load_adapter"]


# --- batching and training ------------------------------------------------------------------------

def encode(tok, pairs, max_len: int | None = None) -> dict:
    """Token ids for each (chat messages, answer text) pair: the chat with its generation prompt, then the
    answer and the end token, right-padded; labels are -100 everywhere but the answer, cut at `max_len`."""
    rows = []
    for chat, answer_text in pairs:
        prompt = list(tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True,
                                              return_dict=True)["input_ids"])
        answer = tok(answer_text + tok.eos_token, add_special_tokens=False)["input_ids"]
        rows.append(((prompt + answer)[:max_len], ([-100] * len(prompt) + answer)[:max_len]))
    width = max(len(ids) for ids, _ in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return {"input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]),
            "labels": torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])}


class PeakMemory:
    """Peak resident memory (MB) of this process while a block runs, sampled every 20 ms."""

    def __enter__(self):
        self.peak_mb, self._stop = _rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def train(model, examples: list, to_batch, steps: int, lr: float = 1e-3, batch_size: int = 4, seed: int = 0,
          progress: bool = True, desc: str = "train") -> dict:
    """Train whatever parameters of `model` require grad (LoRA, QLoRA or all) with AdamW: each step draws
    `batch_size` examples without replacement and `to_batch(examples)` turns them into model inputs with labels.

    Returns {"losses": [...], "seconds_per_step": s, "peak_mb": peak RSS during training}; the model is
    left in the train/eval mode it was in.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not examples:
        raise ValueError("no training examples: pass a non-empty list of task examples")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: wrap it with get_peft_model, or unfreeze it")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    dev = next(model.parameters()).device
    losses, model_was_training = [], model.training
    model.train()
    with PeakMemory() as memory:
        start = time.perf_counter()
        bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
        for _ in bar:
            picks = rng.choice(len(examples), min(batch_size, len(examples)), replace=False)
            batch = to_batch([examples[i] for i in picks])
            loss = model(**{k: v.to(dev) for k, v in batch.items()}).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        seconds = (time.perf_counter() - start) / steps
    model.train(model_was_training)
    return {"losses": losses, "seconds_per_step": seconds, "peak_mb": memory.peak_mb}


# --- parameters, LoRA settings and sizes ------------------------------------------------------------

def trainable(model) -> tuple[int, int, float]:
    """(trainable parameters, all parameters, trainable share in %); 4-bit weights count as stored."""
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() * (2 if p.dtype == torch.uint8 else 1) for p in model.parameters())
    return n_train, n_all, 100.0 * n_train / n_all


def print_trainable(model) -> float:
    """Print 'N of M parameters (x%)' and return the share in %."""
    n_train, n_all, pct = trainable(model)
    print(f"trainable: {n_train:,} of {n_all / 1e6:.1f}M parameters ({pct:.2f}%)")
    return pct


def linear_module_names(model) -> list[str]:
    """Names of the Linear layers LoRA can target (last name part, e.g. q_proj), lm_head excluded."""
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt")}
    return sorted(names - {"lm_head", "classifier"})


def check_lora_settings(model, r: int, target_modules) -> None:
    """Raise a ValueError a learner can act on for a rank <= 0 or a module the model does not have."""
    if not isinstance(r, int) or r <= 0:
        raise ValueError(f"LoRA rank r must be a positive integer, got {r!r} (try 1, 4, 8 or 16)")
    targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    available = linear_module_names(model)
    missing = [t for t in targets if t not in available]
    if not targets or missing:
        raise ValueError(f"Unknown target module(s) {missing or targets}. This model's Linear layers are: "
                         f"{', '.join(available)}")


def lora_param_count(model, r: int, target_modules) -> int:
    """Parameters LoRA adds: r * (in_features + out_features) for every targeted Linear layer."""
    check_lora_settings(model, r, target_modules)
    targets = {target_modules} if isinstance(target_modules, str) else set(target_modules)
    return sum(r * (m.in_features + m.out_features) for name, m in model.named_modules()
               if name.rsplit(".", 1)[-1] in targets and hasattr(m, "in_features"))


def footprint_mb(model) -> float:
    """Bytes the model's weights and buffers take in memory, in MiB."""
    return model.get_memory_footprint() / 2**20


# --- adapters: save, check, load ------------------------------------------------------------------

FINGERPRINT = "kit_base.json"


def base_fingerprint(model) -> dict:
    """What identifies a base model: architecture, sizes, and a checksum of its token embedding."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = base.config
    emb = base.get_input_embeddings().weight
    return {"architecture": (cfg.architectures or [type(base).__name__])[0], "model_type": cfg.model_type,
            "hidden_size": cfg.hidden_size, "num_hidden_layers": cfg.num_hidden_layers,
            "vocab_size": cfg.vocab_size, "embedding_sum": round(float(emb.detach().float().sum()), 2)}


def save_adapter(model, folder) -> float:
    """Save a peft model's adapter (plus the base's fingerprint) and return its size in MB."""
    folder = Path(folder)
    model.save_pretrained(folder)
    (folder / FINGERPRINT).write_text(json.dumps(base_fingerprint(model), indent=1), encoding="utf-8")
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def check_adapter_base(base, folder) -> None:
    """Raise a ValueError when the adapter in `folder` was trained on another base model."""
    folder = Path(folder)
    if not (folder / "adapter_config.json").exists():
        raise FileNotFoundError(f"{folder} holds no adapter (no adapter_config.json): save one with save_adapter")
    if not (folder / FINGERPRINT).exists():
        return  # an adapter saved elsewhere: peft's own shape checks still apply
    saved, here = json.loads((folder / FINGERPRINT).read_text(encoding="utf-8")), base_fingerprint(base)
    diff = {k: (saved[k], here.get(k)) for k in saved if saved[k] != here.get(k)}
    if diff:
        details = "; ".join(f"{k}: adapter {a!r} vs model {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"The adapter in {folder} was trained for another base model ({details}). "
                         "Load it onto the base it was trained on.")


def load_adapter(base, folder, **kwargs):
    """Check the adapter belongs to `base`, then wrap `base` with it (peft.PeftModel.from_pretrained)."""
    from peft import PeftModel

    check_adapter_base(base, folder)
    return PeftModel.from_pretrained(base, str(folder), **kwargs)
