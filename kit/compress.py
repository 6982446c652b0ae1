"""Compression: the glue behind lesson 09 (quantization, pruning, distillation).

    clf = compress.SentenceClassifier(AutoModel.from_pretrained(models.path("minilm")), n_classes=2)
    q8 = torch.ao.quantization.quantize_dynamic(clf, {nn.Linear}, dtype=torch.qint8)   # per-tensor
    torchao.quantization.quantize_(clf8 := copy.deepcopy(clf), Int8DynamicActivationInt8WeightConfig())
    compress.linear_bytes(clf), compress.linear_bytes(q8)      # the quantized layers' weights
    folds = compress.cross_fit(E, y, fit_head, n_folds=5, repeats=3)   # every sentence is test data
    lm4 = compress.quantize_int4(lm, group_size=128)            # weight-only, group-wise int4

torchao's int4 paths need kernels this CPU lacks (CUDA, bf16), so `Int4Linear` is a plain,
readable implementation: 4-bit codes packed two per byte, one fp16 scale and minimum per group of
weights, dequantized on the fly. It saves memory and disk, not time. Timing and energy live in
`kit.energy`.
"""
import copy
import io

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kit.train import SmallCNN

__all__ = ["SentenceClassifier", "encode_batches", "embed", "classifier_accuracy", "cross_fit",
           "out_of_fold_predict", "activation_peaks", "compile_or_eager", "state_bytes",
           "linear_bytes", "Int4Linear", "quantize_int4", "fake_quantize", "quantize_embeddings", "perplexity",
           "check_sparsity", "sparsity",
           "shrink_channels", "distill_targets", "DistillLoss", "gguf_path", "plot_pruning"]


# --- a MiniLM sentence classifier --------------------------------------------------------------

class SentenceClassifier(nn.Module):
    """A BERT-style encoder, mean pooling over real tokens, and a linear head."""

    def __init__(self, encoder: nn.Module, n_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def pool(self, input_ids, attention_mask, **_):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)

    def forward(self, input_ids, attention_mask, **_):
        return self.head(self.pool(input_ids, attention_mask))


def encode_batches(tokenizer, texts, batch_size: int = 32, max_length: int = 128) -> list:
    """Tokenize `texts` once into padded batches (reused for embedding, evaluation and timing)."""
    if len(texts) == 0:
        raise ValueError("encode_batches needs at least one text")
    return [tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt") for i in range(0, len(texts), batch_size)]


@torch.inference_mode()
def embed(model: SentenceClassifier, batches, desc: str = "embedding") -> torch.Tensor:
    """Pooled sentence embeddings for pre-tokenized batches (the head's input)."""
    model.eval()
    return torch.cat([model.pool(**b) for b in tqdm(batches, desc=desc, leave=False)])


@torch.inference_mode()
def classifier_accuracy(model: nn.Module, batches, labels, desc: str = "evaluating") -> float:
    """Accuracy of a (possibly quantized) SentenceClassifier on pre-tokenized batches."""
    model.eval()
    preds = torch.cat([model(**b).argmax(-1) for b in tqdm(batches, desc=desc, leave=False)])
    labels = torch.as_tensor(np.asarray(labels))
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions but {len(labels)} labels: batches and labels must match")
    return (preds == labels).float().mean().item()


def cross_fit(E, y, train_head, n_folds: int = 5, repeats: int = 1, seed: int = 0) -> list:
    """Repeated k-fold cross-fitting: heads that each never saw the rows they will predict.

    For each of `repeats` shuffles, the rows are cut into `n_folds` parts and `train_head(E_rest, y_rest)`
    is trained on all but one. Returns, per repeat, [(held_out_indices, head), ...]. With a small data
    set this makes every row test data (200 sentences instead of a 50-sentence test split)."""
    y = torch.as_tensor(np.asarray(y))
    if len(E) != len(y):
        raise ValueError(f"{len(E)} embeddings but {len(y)} labels: they must match")
    if not 2 <= n_folds <= len(y):
        raise ValueError(f"n_folds must be between 2 and the number of rows ({len(y)}), got {n_folds}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    runs = []
    for r in range(repeats):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + r))
        folds = []
        for held_out in order.tensor_split(n_folds):
            keep = torch.ones(len(y), dtype=torch.bool)
            keep[held_out] = False
            folds.append((held_out.sort().values, train_head(E[keep], y[keep])))
        runs.append(folds)
    return runs


@torch.inference_mode()
def out_of_fold_predict(runs, E) -> torch.Tensor:
    """The predicted class of every row of `E` in every repeat, each by the head that held it out.

    `E` may come from another encoder (e.g. a quantized one): the heads stay as trained. Shape (repeats, rows)."""
    preds = torch.full((len(runs), len(E)), -1, dtype=torch.long)
    for r, folds in enumerate(runs):
        for held_out, head in folds:
            preds[r, held_out] = head.eval()(E[held_out]).argmax(-1)
    if (preds < 0).any():
        raise ValueError("the folds do not cover every row of E: were they made for these rows?")
    return preds


@torch.inference_mode()
def activation_peaks(model: SentenceClassifier, batch, special_ids) -> list[dict]:
    """Per encoder layer, the largest |input| of the feed-forward layers for special tokens ([CLS], [SEP])
    and for ordinary words (max and median over words): why one int8 scale per tensor fails."""
    peaks, hooks = {}, []
    for i, layer in enumerate(model.encoder.encoder.layer):
        for name, linear in (("ffn_in", layer.intermediate.dense), ("ffn_out", layer.output.dense)):
            hooks.append(linear.register_forward_hook(
                lambda m, inputs, out, key=(i, name): peaks.__setitem__(key, inputs[0].abs().amax(-1))))
    try:
        model.eval()(**batch)
    finally:
        for hook in hooks:
            hook.remove()
    real = batch["attention_mask"].bool()
    special = real & torch.isin(batch["input_ids"], torch.as_tensor(list(special_ids)))
    words = real & ~special
    return [{"layer": i, "input of": name, "special tokens max": round(p[special].max().item(), 1),
             "words max": round(p[words].max().item(), 1), "words median": round(p[words].median().item(), 1)}
            for (i, name), p in peaks.items()]


def compile_or_eager(model: nn.Module, example: dict) -> nn.Module:
    """`torch.compile(model)`, compiled now by one call on `example`; the eager model if compiling fails
    (typically no C++ compiler on the machine), with a note saying so."""
    compiled = torch.compile(model)
    try:
        with torch.inference_mode():
            compiled(**example)
        return compiled
    except Exception as error:                      # inductor raises many kinds; all mean "no compiled path"
        print(f"torch.compile failed here ({type(error).__name__}); using the eager model. "
              "Install a C++ compiler (gcc / Xcode command-line tools / MSVC) for the compiled timings.")
        return model


# --- sizes ---------------------------------------------------------------------------------------

def state_bytes(module: nn.Module) -> int:
    """Bytes of `torch.save(module.state_dict())`: the model's size on disk (shared tensors once)."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getbuffer().nbytes


_LINEAR_KINDS = (nn.Linear, torch.ao.nn.quantized.dynamic.Linear)   # torchao keeps nn.Linear, int8 weights inside


def linear_bytes(model: nn.Module) -> int:
    """Bytes on disk of the Linear layers only (fp32, dynamic int8 or Int4Linear): what quantization shrinks."""
    layers = [m for m in model.modules() if isinstance(m, _LINEAR_KINDS + (Int4Linear,))]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear layers to measure")
    return sum(state_bytes(m) for m in layers)


# --- weight-only int4, group-wise ----------------------------------------------------------------

class Int4Linear(nn.Module):
    """A Linear layer whose weights are stored as 4-bit codes, group-wise asymmetric.

    Each run of `group_size` weights along a row gets its own fp16 `scale` and `minimum`:
    w ≈ minimum + scale * q with q in 0..15. Two codes share one uint8 byte.
    """

    def __init__(self, linear: nn.Linear, group_size: int = 128):
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Int4Linear quantizes nn.Linear layers, not {type(linear).__name__}")
        out_f, in_f = linear.weight.shape
        if group_size < 2 or group_size % 2 or in_f % group_size:
            raise ValueError(f"group_size must be even and divide in_features={in_f}, got {group_size}")
        self.in_features, self.out_features, self.group_size = in_f, out_f, group_size
        groups = linear.weight.detach().float().reshape(out_f, in_f // group_size, group_size)
        low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
        scale = ((high - low) / 15).clamp(min=1e-8)
        codes = torch.round((groups - low) / scale).clamp(0, 15).to(torch.uint8).reshape(out_f, in_f)
        self.register_buffer("packed", codes[:, 0::2] | (codes[:, 1::2] << 4))   # (out, in/2) bytes
        self.register_buffer("scale", scale.half())
        self.register_buffer("minimum", low.half())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)

    def dequantized_weight(self) -> torch.Tensor:
        codes = torch.stack([self.packed & 15, self.packed >> 4], dim=-1).reshape(self.out_features, -1)
        groups = codes.reshape(self.out_features, -1, self.group_size).float()
        return (self.minimum.float() + self.scale.float() * groups).reshape(self.out_features, self.in_features)

    def forward(self, x):
        return F.linear(x, self.dequantized_weight(), self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"


def quantize_int4(model: nn.Module, group_size: int = 128, skip=()) -> nn.Module:
    """A copy of `model` with every nn.Linear (except names in `skip`) replaced by an Int4Linear."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize_int4 takes a torch nn.Module, not {type(model).__name__}")
    model = copy.deepcopy(model)
    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear) and name not in skip]
    if not targets:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layers to quantize")
    if hasattr(model, "config") and getattr(model.config, "tie_word_embeddings", False):
        model.config.tie_word_embeddings = False    # the int4 head no longer shares the embedding's tensor
    for name, layer in targets:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, Int4Linear(layer, group_size))
    return model


def fake_quantize(weight: torch.Tensor, bits: int = 4, group_size: int = 32) -> torch.Tensor:
    """Round-to-nearest (RTN) quantize-then-dequantize, group-wise asymmetric along the last dimension.

    Returns the fp32 values that `bits`-bit codes with a scale and minimum per `group_size` weights decode to:
    the exact accuracy effect of storing the tensor that way (the memory saving needs packed storage, as in
    Int4Linear). Used for tensors Int4Linear does not cover, such as an embedding table.
    """
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be between 2 and 8, got {bits}")
    rows, cols = weight.shape
    if group_size < 1 or cols % group_size:
        raise ValueError(f"group_size must divide the last dimension ({cols}), got {group_size}")
    groups = weight.detach().float().reshape(rows, cols // group_size, group_size)
    low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
    scale = ((high - low) / (2 ** bits - 1)).clamp(min=1e-8)
    return (low + scale * torch.round((groups - low) / scale)).reshape(rows, cols)


def quantize_embeddings(model: nn.Module, bits: int, group_size: int = 32) -> nn.Module:
    """A copy of `model` whose nn.Embedding tables hold `fake_quantize`d values (`bits` per weight)."""
    model = copy.deepcopy(model)
    tables = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    if not tables:
        raise ValueError(f"{type(model).__name__} has no nn.Embedding to quantize")
    with torch.no_grad():
        for table in tables:
            table.weight.copy_(fake_quantize(table.weight, bits, group_size))
    return model


def gguf_path():
    """The packaged SmolLM2 GGUF file (llama.cpp's Q4_1 format): the registry's weight file, checked against its
    sha256."""
    from kit import models

    return models.weights_file("smollm2")


# --- language-model quality -------------------------------------------------------------------------

@torch.inference_mode()
def perplexity(model: nn.Module, tokenizer, texts, block: int = 256, max_blocks: int | None = None) -> float:
    """Perplexity of a causal LM on `texts`, joined and cut into non-overlapping blocks of tokens."""
    ids = tokenizer("\n\n".join(texts), return_tensors="pt").input_ids[0]
    n_blocks = len(ids) // block if max_blocks is None else min(max_blocks, len(ids) // block)
    if n_blocks < 1:
        raise ValueError(f"the texts hold {len(ids)} tokens, fewer than one block of {block}")
    model.eval()
    nll = [model(input_ids=chunk[None], labels=chunk[None]).loss.item()
           for chunk in tqdm(ids[:n_blocks * block].reshape(n_blocks, block), desc="perplexity", leave=False)]
    return float(np.exp(np.mean(nll)))


# --- pruning ---------------------------------------------------------------------------------------

def check_sparsity(amount) -> float:
    """Validate a pruning fraction: in [0, 1) (pruning everything leaves no model)."""
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or not 0 <= amount < 1:
        raise ValueError(f"sparsity must be a fraction in [0, 1), e.g. 0.5 for half the weights; got {amount!r}")
    return float(amount)


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero weights over the Conv2d and Linear layers (after pruning masks apply)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layers")
    zeros = sum((m.weight == 0).sum().item() for m in layers)
    return zeros / sum(m.weight.numel() for m in layers)


def _top_channels(weight: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices of the `keep` output channels with the largest L1 norm, in their original order."""
    return weight.abs().flatten(1).sum(1).topk(keep).indices.sort().values


@torch.no_grad()
def shrink_channels(model: SmallCNN, amount: float) -> SmallCNN:
    """Structured pruning that really speeds inference: a *smaller* SmallCNN keeping the strongest
    (L1 norm) conv channels and the fc1 inputs that read them. Zeroing (prune.ln_structured) would not."""
    amount = check_sparsity(amount)
    if not isinstance(model, SmallCNN) or model.n_blocks != 2 or model.fc1 is None or model.grid:
        raise TypeError(f"shrink_channels works on a two-block SmallCNN with an fc1 layer (kit.train.SmallCNN("
                        f"channels=(c1, c2), hidden=h)), not {type(model).__name__}")
    c1, c2 = model.conv1.out_channels, model.conv2.out_channels
    keep1, keep2 = max(1, round(c1 * (1 - amount))), max(1, round(c2 * (1 - amount)))
    small = SmallCNN((keep1, keep2), model.fc1.out_features, model.fc2.out_features)
    i1, i2 = _top_channels(model.conv1.weight, keep1), _top_channels(model.conv2.weight, keep2)
    small.conv1.weight.copy_(model.conv1.weight[i1])
    small.conv1.bias.copy_(model.conv1.bias[i1])
    small.conv2.weight.copy_(model.conv2.weight[i2][:, i1])
    small.conv2.bias.copy_(model.conv2.bias[i2])
    fc_in = model.fc1.weight.reshape(model.fc1.out_features, c2, -1)[:, i2].reshape(model.fc1.out_features, -1)
    small.fc1.weight.copy_(fc_in)
    small.fc1.bias.copy_(model.fc1.bias)
    small.fc2.load_state_dict(model.fc2.state_dict())
    return small


# --- knowledge distillation ------------------------------------------------------------------------

@torch.no_grad()
def distill_targets(teacher: nn.Module, X, y=None, batch_size: int = 256) -> torch.Tensor:
    """Pack the frozen teacher's logits and the true labels into one float tensor (n, classes + 1),
    so a plain training loop (`kit.train.fit`) can feed both to `DistillLoss`. With `y=None` the images are
    a *transfer set* without labels: the label column holds -1 and only the teacher's targets teach there."""
    X = torch.as_tensor(np.asarray(X))
    teacher.eval()
    with torch.no_grad():
        logits = torch.cat([teacher(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
    labels = torch.full((len(X),), -1.0) if y is None else torch.as_tensor(np.asarray(y)).float()
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} images: pass one label per image, or y=None")
    return torch.cat([logits, labels[:, None]], dim=1)


class DistillLoss(nn.Module):
    """Hinton et al. (2015): alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(labels).

    `targets` come from `distill_targets` (teacher logits, then the label in the last column; -1 marks an
    unlabelled transfer-set image, which gets the soft term only).
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.7):
        super().__init__()
        if temperature <= 0 or not 0 <= alpha <= 1:
            raise ValueError(f"need temperature > 0 and alpha in [0, 1], got {temperature}, {alpha}")
        self.temperature, self.alpha = temperature, alpha

    def forward(self, student_logits, targets):
        teacher_logits, labels = targets[:, :-1], targets[:, -1].long()
        T = self.temperature
        soft = F.kl_div(F.log_softmax(student_logits / T, -1), F.log_softmax(teacher_logits / T, -1),
                        reduction="batchmean", log_target=True) * T * T
        labelled = labels >= 0                      # -1: a transfer-set image, taught by the teacher alone
        hard = (F.cross_entropy(student_logits[labelled], labels[labelled]) if labelled.any()
                else student_logits.sum() * 0.0)
        return self.alpha * soft + (1 - self.alpha) * hard


def plot_pruning(rows: list[dict], baseline: float):
    """Accuracy vs sparsity, before and after the recovery fine-tune, against the dense model."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    x = [r["sparsity"] for r in rows]
    ax.plot(x, [r["acc_pruned"] for r in rows], "o--", label="pruned, no fine-tune")
    ax.plot(x, [r["acc_recovered"] for r in rows], "o-", label="pruned + recovery fine-tune")
    ax.axhline(baseline, color="grey", ls=":", label="dense teacher")
    ax.set(xlabel="fraction of weights set to zero", ylabel="test accuracy", title="magnitude pruning")
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig
