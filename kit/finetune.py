"""Fine-tuning foundation models: LoRA and QLoRA against the baselines a sceptic tries first (lesson 01).

The glue around `transformers` and `peft` that would otherwise fill notebook cells:

    task = finetune.load_task()                                     # drug reviews -> {"drug", "condition"} JSON
    stats = finetune.train_adapter(lora, tok, task.train, steps=40)  # a plain causal-LM loop (kit.tuning.train)
    result = finetune.evaluate(lora, tok, task.test)                 # per item: format valid? condition right?
    const = finetune.score_answers(finetune.constant_answers(task), task.test)   # the majority program

The task: given a drug name and the start of a real review (UCI Drug Review data), answer with exactly
`{"drug": "<name>", "condition": "<one of ten conditions>"}`. The score has two parts, so the format
(easy to learn, a constant program gets it) and the content (which condition the review is about) are
never mixed: **format validity** (the whole answer is that JSON object) and **field accuracy** (the
condition is right). Baselines: the constant program that copies the drug and answers the commonest
condition, few-shot prompting of the base model, and the same architecture trained from random weights.
"""
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kit import models
from kit.device import free_memory
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

__all__ = ["Task", "CONDITIONS", "LABELS", "SYSTEM", "FIELDS", "REVIEW_WORDS", "build_task", "write_task",
           "load_task", "messages", "target_text", "pick_shots", "encode", "train_adapter", "generate",
           "answer_loss", "score_answer", "score_answers", "evaluate", "majority_condition", "constant_answers",
           "lookup_answers", "shuffle_targets", "from_scratch", "measure_training", "trainable", "print_trainable",
           "linear_module_names", "check_lora_settings", "lora_param_count", "footprint_mb", "PeakMemory",
           "save_adapter", "load_adapter", "check_adapter_base", "base_fingerprint", "plot_comparison",
           "lora_size_widget"]

TASK_DIR = "01_fine_tuning"
# The data's condition names (some cut short in the source, e.g. "Disorde") -> ten clean labels.
CONDITIONS = {"Birth Control": "birth control", "Depression": "depression", "Major Depressive Disorde": "depression",
              "Pain": "pain", "Chronic Pain": "pain", "Acne": "acne", "Anxiety": "anxiety",
              "Anxiety and Stress": "anxiety", "Generalized Anxiety Disorde": "anxiety",
              "Bipolar Disorde": "bipolar disorder", "Obesity": "weight loss", "Weight Loss": "weight loss",
              "ADHD": "adhd", "Diabetes, Type 2": "type 2 diabetes", "Insomnia": "insomnia"}
LABELS = tuple(sorted(set(CONDITIONS.values())))
SYSTEM = ('Reply only with JSON: {"drug": "<drug name>", "condition": "<one of: ' + ", ".join(LABELS) + '>"}.')
FIELDS = ("drug", "condition")
REVIEW_WORDS = 40


# --- the task: real drug reviews, a strict output format -----------------------------------------

@dataclass
class Task:
    """Train and held-out examples: dicts with `drug`, `review` (its first words) and `condition`."""
    train: list
    test: list

    def __repr__(self):
        return f"Task({len(self.train)} train / {len(self.test)} test examples)"

    def subset(self, n_train=None, n_test=None) -> "Task":
        return Task(self.train[:n_train], self.test[:n_test])


def build_task(reviews, n_test: int = 160, seed: int = 0, review_words: int = REVIEW_WORDS) -> Task:
    """Examples from `data.load("drug_reviews")` whose condition is one of the ten `LABELS`: both of the
    source's splits pooled, shuffled once with `seed`, the first `n_test` held out."""
    rows = []
    for split, texts in (("train", reviews.X_train), ("test", reviews.X_test)):
        for text, condition, drug in zip(texts, reviews.extra["condition"][split], reviews.extra["drug"][split]):
            if condition in CONDITIONS:
                rows.append({"drug": str(drug).strip(), "review": " ".join(str(text).split()[:review_words]),
                             "condition": CONDITIONS[condition]})
    order = np.random.default_rng(seed).permutation(len(rows))
    rows = [rows[i] for i in order]
    if not 0 < n_test < len(rows):
        raise ValueError(f"n_test must be between 1 and {len(rows) - 1} (there are {len(rows)} examples)")
    return Task(rows[n_test:], rows[:n_test])


def write_task(task: Task, folder: Path) -> list[Path]:
    """Write train.jsonl and test.jsonl (one example per line) into `folder`, each file whole or not at all."""
    from kit.paths import write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in ("train", "test"):
        path = folder / f"{split}.jsonl"
        write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in getattr(task, split)))
        paths.append(path)
    return paths


def load_task() -> Task:
    """The course's task files from datasets/01_fine_tuning/ (checked against datasets/MANIFEST)."""
    from kit.data import course_file

    def read(split):
        text = course_file(f"{TASK_DIR}/{split}.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]
    return Task(read("train"), read("test"))


def _user(example: dict) -> dict:
    return {"role": "user", "content": f"Drug: {example['drug']}\nReview: {example['review']}"}


def messages(example: dict, shots=()) -> list[dict]:
    """The chat the model sees: the house format as system prompt, optional worked examples (few-shot
    prompting: each a user turn and the correct answer), then the drug and review to answer."""
    chat = [{"role": "system", "content": SYSTEM}]
    for shot in shots:
        chat += [_user(shot), {"role": "assistant", "content": target_text(shot)}]
    return chat + [_user(example)]


def target_text(example: dict) -> str:
    """The one correct answer, in the house format."""
    return json.dumps({"drug": example["drug"], "condition": example["condition"]}, ensure_ascii=False)


def pick_shots(train: list, n: int = 3) -> list[dict]:
    """`n` worked examples for few-shot prompting: the first training example of each of the `n` commonest
    conditions (the shots show the format and the commonest answers, and keep the prompt short)."""
    common = [label for label, _ in Counter(ex["condition"] for ex in train).most_common(n)]
    return [next(ex for ex in train if ex["condition"] == label) for label in common]


def encode(tok, examples: list, max_len: int | None = None) -> dict:
    """Token ids for prompt + answer, right-padded, with labels -100 everywhere but the answer."""
    return encode_chats(tok, [(messages(ex), target_text(ex)) for ex in examples], max_len)


# --- training, answering and scoring --------------------------------------------------------------

def train_adapter(model, tok, examples: list, steps: int = 40, lr: float = 2e-3, batch_size: int = 8,
                  seed: int = 0, progress: bool = True, desc: str = "train") -> dict:
    """Train whatever parameters of `model` require grad (LoRA, QLoRA or all) with AdamW on task examples.

    Returns {"losses": [...], "seconds_per_step": s, "peak_mb": peak RSS during training}.
    """
    return train_loop(model, examples, lambda batch: encode(tok, batch), steps, lr=lr, batch_size=batch_size,
                      seed=seed, progress=progress, desc=desc)


def generate(model, tok, examples: list, shots=(), max_new_tokens: int = 32, batch_size: int = 16) -> list[str]:
    """Greedy answers to each example's chat (house-format system prompt, optional shots, drug and review)."""
    model.eval()
    return models.chat(model, tok, [messages(ex, shots) for ex in examples], max_new_tokens=max_new_tokens,
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


def score_answer(answer: str, example: dict) -> tuple[int, int]:
    """(format valid, field right) for one answer: format valid = the whole answer is a JSON object with
    exactly the keys drug and condition; field right = it is valid and names the example's condition
    (case and surrounding spaces ignored)."""
    try:
        parsed = json.loads(answer)
    except (json.JSONDecodeError, TypeError):
        return 0, 0
    if not isinstance(parsed, dict) or set(parsed) != set(FIELDS):
        return 0, 0
    return 1, int(str(parsed["condition"]).strip().lower() == example["condition"])


def score_answers(answers: list, examples: list) -> dict:
    """Per-item scores of a list of answers: {"format": 0/1 array, "field": 0/1 array, "answers": answers}
    (per item, so two systems can be compared with `kit.stats.paired_bootstrap` on the same items)."""
    if len(answers) != len(examples):
        raise ValueError(f"{len(answers)} answers for {len(examples)} examples: score one answer per example")
    parts = np.array([score_answer(a, ex) for a, ex in zip(answers, examples)], dtype=float).reshape(-1, 2)
    return {"format": parts[:, 0], "field": parts[:, 1], "answers": list(answers)}


def evaluate(model, tok, examples: list, shots=(), **generate_kwargs) -> dict:
    """Generate greedy answers for the held-out examples and score them (see `score_answers`)."""
    return score_answers(generate(model, tok, examples, shots, **generate_kwargs), examples)


# --- baselines and the negative control -------------------------------------------------------------

def majority_condition(train: list) -> str:
    """The commonest condition in the training examples."""
    if not train:
        raise ValueError("no training examples: the majority of nothing is undefined")
    return Counter(ex["condition"] for ex in train).most_common(1)[0][0]


def constant_answers(task: Task, examples: list | None = None) -> list[str]:
    """The constant program: copy the drug, answer the training set's commonest condition, in the house
    format. Perfect format, and the field accuracy of always guessing the majority."""
    label = majority_condition(task.train)
    return [target_text({"drug": ex["drug"], "condition": label}) for ex in (task.test if examples is None
                                                                             else examples)]


def lookup_answers(task: Task, examples: list | None = None) -> list[str]:
    """The drug lookup table: answer the condition the drug was most often reviewed for in training (the
    commonest condition overall for a drug never seen). No model reads the review; it memorises drugs."""
    by_drug: dict = {}
    for ex in task.train:
        by_drug.setdefault(ex["drug"].lower(), Counter())[ex["condition"]] += 1
    fallback = majority_condition(task.train)
    return [target_text({"drug": ex["drug"], "condition": by_drug[ex["drug"].lower()].most_common(1)[0][0]
                         if ex["drug"].lower() in by_drug else fallback})
            for ex in (task.test if examples is None else examples)]


def shuffle_targets(examples: list, seed: int = 0) -> list[dict]:
    """The negative control's training data: the same reviews and drugs, the conditions permuted across
    examples (the format and the label frequencies stay; what links a review to its condition is gone)."""
    perm = np.random.default_rng(seed).permutation(len(examples))
    return [{**ex, "condition": examples[j]["condition"]} for ex, j in zip(examples, perm)]


def from_scratch(config, seed: int = 0):
    """The same architecture as the pretrained model (`config`), with random weights: what fine-tuning is
    compared with when it says "instead of training from scratch"."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def measure_training(variant: str, steps: int = 3, batch_size: int = 8, r: int = 8, timeout: float = 900) -> dict:
    """Train `variant` ("lora" on the fp32 base, or "qlora" on an NF4 base) for a few steps in a fresh
    Python process and return {"loaded_mb", "peak_mb", "seconds_per_step"}: the process holds nothing else,
    so its peak resident memory is what training that variant costs (a notebook's RSS includes everything
    it already holds)."""
    from kit.errors import unknown

    if variant not in ("lora", "qlora"):
        raise unknown("training variant", variant, ["lora", "qlora"])
    cmd = [sys.executable, "-m", "kit.finetune", variant, str(steps), str(batch_size), str(r)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {variant} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure_main(variant: str, steps: int, batch_size: int, r: int) -> dict:
    """The child process of `measure_training`: load the base, wrap it with LoRA, train, report."""
    import psutil
    from peft import LoraConfig, get_peft_model

    import kit

    kit.setup(quiet=True)
    task = load_task()
    tok = models.tokenizer("smollm2")
    if variant == "qlora":
        from peft import prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        nf4 = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=torch.float32)
        base = AutoModelForCausalLM.from_pretrained(models.path("smollm2"), quantization_config=nf4,
                                                    device_map="cpu")
        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    else:
        base = models.load("smollm2")
    model = get_peft_model(base, LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj"],
                                            task_type="CAUSAL_LM"))
    free_memory()       # loading and quantizing leave freed pages that glibc keeps: count what is held
    loaded = psutil.Process().memory_info().rss / 2**20
    stats = train_adapter(model, tok, task.train, steps=steps, batch_size=batch_size, progress=False)
    return {"loaded_mb": round(loaded), "peak_mb": round(stats["peak_mb"]),
            "seconds_per_step": round(stats["seconds_per_step"], 3)}


# --- plots and widgets ----------------------------------------------------------------------------

def plot_comparison(rows: list[dict]):
    """Bars of format validity, field accuracy and held-out answer loss for each variant."""
    import matplotlib.pyplot as plt

    names = [row["variant"] for row in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.4 * len(rows) + 1.6), sharey=True)
    for ax, key, label in zip(axes, ("format", "field", "test_loss"),
                              ("format validity", "field accuracy (condition)", "held-out answer loss")):
        ax.barh(names, [np.nan if row.get(key) is None else row[key] for row in rows], color="tab:blue")
        ax.set(title=label)
    axes[0].invert_yaxis()
    axes[0].set_xlim(0, 1)
    axes[1].set_xlim(0, 1)
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


if __name__ == "__main__":  # python -m kit.finetune lora|qlora STEPS BATCH R: the child of measure_training
    print(json.dumps(_measure_main(sys.argv[1], *(int(x) for x in sys.argv[2:5]))))
