"""Fine-tuning foundation models: full fine-tuning, LoRA and QLoRA (lesson 01).

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kit import models
from kit.tuning import (
    PeakMemory,
    base_fingerprint,
    check_adapter_base,
    check_lora_settings,
    footprint_mb,
    linear_module_names,
    load_adapter,
    lora_param_count,
    print_trainable,
    save_adapter,
    trainable,
)
from kit.tuning import encode as encode_chats
from kit.tuning import train as train_loop

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
        lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in getattr(task, split))
        path.write_text("".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def load_task() -> Task:
    """The course's task files from datasets/01_fine_tuning/ (checked against datasets/MANIFEST)."""
    from kit.data import course_file

    def read(split):
        text = course_file(f"{TASK_DIR}/{split}.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]
    return Task(read("train"), read("test"))


def messages(example: dict) -> list[dict]:
    """The chat the model sees: the house format as system prompt, then drug and review snippet."""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Drug: {example['drug']}\nReview: {example['review']}"}]


def target_text(example: dict) -> str:
    """The one correct answer, in the house format."""
    return json.dumps({"drug": example["drug"], "sentiment": example["sentiment"]}, ensure_ascii=False)


def encode(tok, examples: list, max_len: int = 128) -> dict:
    """Token ids for prompt + answer, right-padded, with labels -100 everywhere but the answer."""
    return encode_chats(tok, [(messages(ex), target_text(ex)) for ex in examples], max_len)


# --- training and scoring -------------------------------------------------------------------------

def train_adapter(model, tok, examples: list, steps: int = 60, lr: float = 1e-3, batch_size: int = 4,
                  seed: int = 0, progress: bool = True, desc: str = "train") -> dict:
    """Train whatever parameters of `model` require grad (LoRA, QLoRA or all) with AdamW on task examples.

    Returns {"losses": [...], "seconds_per_step": s, "peak_mb": peak RSS during training}.
    """
    return train_loop(model, examples, lambda batch: encode(tok, batch), steps, lr=lr, batch_size=batch_size,
                      seed=seed, progress=progress, desc=desc)


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
