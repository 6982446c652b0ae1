"""Fine-tuning foundation models: full fine-tuning, LoRA and QLoRA (lesson 01, reused by lesson 08).

The glue around `transformers` and `peft` that would otherwise fill notebook cells:

    task = finetune.load_task()                                   # drug reviews -> strict JSON
    stats = finetune.train_adapter(lora, tok, task.train, steps=60)  # a plain causal-LM loop
    score, answers = finetune.evaluate(lora, tok, task.test)      # exact fields of held-out examples
    finetune.save_adapter(lora, folder); finetune.load_adapter(base, folder)  # checks the base

The task: given a drug name and the first words of a real review (UCI Drug Review data), answer
with exactly `{"drug": "<name>", "sentiment": "positive"|"negative"}`. The instruct model knows
what JSON is but rarely keeps to a strict house format; a few dozen LoRA steps teach it.
"""
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from kit import models

__all__ = ["Task", "SYSTEM", "build_task", "write_task", "load_task", "messages", "target_text",
           "encode", "train_adapter", "generate", "answer_loss", "score_answer", "evaluate", "trainable",
           "print_trainable", "linear_module_names", "check_lora_settings", "lora_param_count",
           "footprint_mb", "PeakMemory", "save_adapter", "load_adapter", "check_adapter_base",
           "base_fingerprint", "plot_comparison", "lora_size_widget", "MeanPoolClassifier", "token_ids"]

TASK_DIR = "01_fine_tuning"
SYSTEM = ('Reply only with JSON: {"drug": "<drug name>", "sentiment": "positive" or "negative"}.')
FIELDS = ("drug", "sentiment")
SNIPPET_WORDS = 20


# --- the task: real drug reviews, a strict output format -----------------------------------------

@dataclass
class Task:
    """Train and held-out examples: dicts with `drug`, `review` (a snippet) and `sentiment`."""
    train: list
    test: list

    def __repr__(self):
        return f"Task({len(self.train)} train / {len(self.test)} test examples)"

    def subset(self, n_train=None, n_test=None) -> "Task":
        return Task(self.train[:n_train], self.test[:n_test])


def build_task(reviews, n_train: int = 240, n_test: int = 80, seed: int = 0) -> Task:
    """Examples from `data.load("drug_reviews")`: the drug, the review's first words, its sentiment."""
    def rows(texts, labels, drugs, n):
        order = np.random.default_rng(seed).permutation(len(texts))[:n]
        return [{"drug": drugs[i].strip(), "review": " ".join(texts[i].split()[:SNIPPET_WORDS]),
                 "sentiment": reviews.classes[int(labels[i])]} for i in sorted(order)]
    return Task(rows(reviews.X_train, reviews.y_train, reviews.extra["drug"]["train"], n_train),
                rows(reviews.X_test, reviews.y_test, reviews.extra["drug"]["test"], n_test))


def write_task(task: Task, folder: Path) -> list[Path]:
    """Write train.jsonl and test.jsonl (one example per line) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in ("train", "test"):
        path = folder / f"{split}.jsonl"
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in getattr(task, split)), encoding="utf-8")
        paths.append(path)
    return paths


def load_task() -> Task:
    """The course's task files from datasets/01_fine_tuning/ (checked against datasets/MANIFEST)."""
    from kit.data import course_file

    def read(split):
        return [json.loads(line) for line in course_file(f"{TASK_DIR}/{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    return Task(read("train"), read("test"))


def messages(example: dict) -> list[dict]:
    """The chat the model sees: the house format as system prompt, then drug and review snippet."""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Drug: {example['drug']}\nReview: {example['review']}"}]


def target_text(example: dict) -> str:
    """The one correct answer, in the house format."""
    return json.dumps({"drug": example["drug"], "sentiment": example["sentiment"]}, ensure_ascii=False)


def _prompt_ids(tok, example):
    return tok.apply_chat_template(messages(example), add_generation_prompt=True, tokenize=True,
                                   return_dict=True)["input_ids"]


def encode(tok, examples: list, max_len: int = 128) -> dict:
    """Token ids for prompt + answer, right-padded, with labels -100 everywhere but the answer."""
    rows = []
    for ex in examples:
        prompt = list(_prompt_ids(tok, ex))
        answer = tok(target_text(ex) + tok.eos_token, add_special_tokens=False)["input_ids"]
        ids = (prompt + answer)[:max_len]
        rows.append((ids, ([-100] * len(prompt) + answer)[:max_len]))
    width = max(len(ids) for ids, _ in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return {"input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]),
            "labels": torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])}


# --- training and scoring -------------------------------------------------------------------------

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


def train_adapter(model, tok, examples: list, steps: int = 60, lr: float = 1e-3, batch_size: int = 4,
                  seed: int = 0, progress: bool = True, desc: str = "train") -> dict:
    """Train whatever parameters of `model` require grad (LoRA, QLoRA or all) with AdamW.

    Returns {"losses": [...], "seconds_per_step": s, "peak_mb": peak RSS during training}.
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
            batch = encode(tok, [examples[i] for i in rng.choice(len(examples), batch_size, replace=False)])
            loss = model(**{k: v.to(dev) for k, v in batch.items()}).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        seconds = (time.perf_counter() - start) / steps
    model.train(model_was_training)
    return {"losses": losses, "seconds_per_step": seconds, "peak_mb": memory.peak_mb}


def generate(model, tok, examples: list, max_new_tokens: int = 24, batch_size: int = 16) -> list[str]:
    """Greedy answers to each example's chat (house-format system prompt, then drug and review)."""
    model.eval()
    return models.chat(model, tok, [messages(ex) for ex in examples], max_new_tokens=max_new_tokens,
                       batch_size=batch_size, eos_token_id=tok.eos_token_id)


@torch.no_grad()
def answer_loss(model, tok, examples: list, batch_size: int = 16) -> float:
    """Mean cross-entropy of the correct answers' tokens given their prompts (lower = more likely)."""
    model.eval()
    dev, total, count = next(model.parameters()).device, 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = {k: v.to(dev) for k, v in encode(tok, examples[i:i + batch_size]).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        labels = batch["labels"][:, 1:]
        total += torch.nn.functional.cross_entropy(logits.transpose(1, 2).float(), labels, ignore_index=-100,
                                                   reduction="sum").item()
        count += int((labels != -100).sum())
    return total / count


def score_answer(answer: str, example: dict) -> float:
    """1 for exact house-format JSON with both fields right, 0.5 for one field, 0 for anything else."""
    try:
        parsed = json.loads(answer)
    except (json.JSONDecodeError, TypeError):
        return 0.0
    if not isinstance(parsed, dict) or set(parsed) != set(FIELDS):
        return 0.0
    return sum(str(parsed[f]).strip().lower() == str(example[f]).lower() for f in FIELDS) / len(FIELDS)


def evaluate(model, tok, examples: list, **generate_kwargs) -> tuple[float, list[str]]:
    """Mean `score_answer` over held-out examples, and the answers themselves."""
    answers = generate(model, tok, examples, **generate_kwargs)
    return float(np.mean([score_answer(a, ex) for a, ex in zip(answers, examples)])), answers


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
    (folder / FINGERPRINT).write_text(json.dumps(base_fingerprint(model), indent=1))
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def check_adapter_base(base, folder) -> None:
    """Raise a ValueError when the adapter in `folder` was trained on another base model."""
    folder = Path(folder)
    if not (folder / "adapter_config.json").exists():
        raise FileNotFoundError(f"{folder} holds no adapter (no adapter_config.json): save one with save_adapter")
    if not (folder / FINGERPRINT).exists():
        return  # an adapter saved elsewhere: peft's own shape checks still apply
    saved, here = json.loads((folder / FINGERPRINT).read_text()), base_fingerprint(base)
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


# --- plots and widgets ----------------------------------------------------------------------------

def plot_comparison(rows: list[dict]):
    """Bars of held-out score, trainable share and seconds per step for each variant."""
    import matplotlib.pyplot as plt

    names = [row["variant"] for row in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, key, label in zip(axes, ("score", "trainable_pct", "s_per_step"),
                              ("held-out score", "trainable parameters (%, log)", "seconds per step")):
        ax.barh(names, [row.get(key) or 0 for row in rows], color="tab:blue")
        ax.set(title=label)
        ax.invert_yaxis()
    axes[1].set_xscale("log")
    axes[0].set_xlim(0, 1)
    fig.tight_layout()
    plt.close(fig)
    return fig


def lora_size_widget(model):
    """A rank slider and a target-module picker showing LoRA's parameter count and adapter size."""
    import ipywidgets as widgets

    total = sum(p.numel() for p in model.parameters())
    names = tuple(linear_module_names(model))

    def show(r=8, targets=("q_proj", "v_proj")):
        if not targets:
            print("pick at least one module")
            return
        n = lora_param_count(model, r, targets)
        print(f"r={r} on {', '.join(targets)}: {n:,} parameters = {100 * n / total:.3f}% of the base; "
              f"adapter file ~{n * 4 / 2**20:.2f} MB in fp32 (the base: {total * 4 / 2**20:.0f} MB)")

    return widgets.interactive(show, r=widgets.IntSlider(8, 1, 64, description="rank r"),
                               targets=widgets.SelectMultiple(options=names, value=("q_proj", "v_proj"),
                                                              description="targets", rows=len(names)))


# --- classification: LoRA on a sentence encoder plus a linear head ----------------------------------

class MeanPoolClassifier(torch.nn.Module):
    """Encoder -> mean over real tokens -> L2 normalise -> Linear: the sentence-transformers embedding
    with a classification head. Takes padded token ids (pad id 0), so `kit.train.fit` can train it."""

    def __init__(self, encoder, n_classes: int, pad_id: int = 0):
        super().__init__()
        self.encoder, self.pad_id = encoder, pad_id
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_classes)

    def embed(self, input_ids):
        mask = (input_ids != self.pad_id).unsqueeze(-1).float()
        hidden = self.encoder(input_ids=input_ids, attention_mask=mask.squeeze(-1).long()).last_hidden_state
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1)

    def forward(self, input_ids):
        return self.head(self.embed(input_ids))

    def init_head_from_logistic(self, logistic) -> None:
        """Start the head from a fitted scikit-learn LogisticRegression (linear probe, then fine-tune)."""
        coef, bias = torch.tensor(logistic.coef_, dtype=torch.float32), torch.tensor(logistic.intercept_,
                                                                                      dtype=torch.float32)
        if coef.shape[0] == 1:  # binary: softmax over [-z/2, z/2] equals the sigmoid of z
            coef, bias = torch.cat([-coef / 2, coef / 2]), torch.cat([-bias / 2, bias / 2])
        with torch.no_grad():
            self.head.weight.copy_(coef)
            self.head.bias.copy_(bias)


def token_ids(tok, texts, max_len: int = 128) -> torch.Tensor:
    """Padded token ids (pad 0) for a list of texts, cut at `max_len` tokens."""
    if tok.pad_token_id != 0:
        raise ValueError(f"expected a BERT-style tokenizer with pad id 0, got {tok.pad_token_id}")
    return tok(list(texts), padding=True, truncation=True, max_length=max_len, return_tensors="pt")["input_ids"]
