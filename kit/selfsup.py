"""Self-supervised learning: learn features from unlabelled data, then need only a few labels.

    views = selfsup.augment(images)                      # random crop / rotate / noise / erase
    loss = selfsup.nt_xent(head(enc(v1)), head(enc(v2)))  # SimCLR's contrastive loss
    masked, mask = selfsup.mask_patches(images, ratio=0.5) # hide patches, a masked autoencoder fills them
    acc = selfsup.linear_probe(train_feats, y, test_feats, y_test)

Image augmentations are plain tensor operations (`F.affine_grid` + `F.grid_sample`), since
torchvision does not run beside this torch. The same small CNN (`Encoder`) serves SimCLR, the
masked autoencoder and the supervised baseline, so the comparison is only about how it was trained.
"""
import math
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kit import plots
from kit.train import LivePlot

__all__ = ["as_images", "augment", "nt_xent", "Encoder", "SimCLR", "train_simclr", "mask_patches",
           "MaskedAutoencoder", "train_mae", "embed", "label_subset", "linear_probe", "probe_correct",
           "supervised_baseline",
           "Vocab", "TinyLM", "train_tiny_lm", "token_accuracy", "plot_label_curve", "plot_projection",
           "plot_images"]


# --- images and augmentations --------------------------------------------------------------------

def as_images(x) -> torch.Tensor:
    """A float tensor of shape (n, 1, H, W) from (n, H, W) or (n, 1, H, W) arrays; clear error otherwise."""
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected greyscale images shaped (n, H, W) or (n, 1, H, W), got {tuple(x.shape)}")
    return x


def augment(x, scale=(0.7, 1.0), rotate=15.0, shift=0.15, noise=0.1, erase_p=0.5,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """One random 'view' of each image: resized crop + rotation + shift (one affine warp), noise, erasing.

    `scale` is the fraction of the side kept by the crop (then zoomed back to full size), `rotate`
    the largest rotation in degrees, `shift` the largest translation (fraction of the half-width),
    `noise` the std of added Gaussian noise, `erase_p` the chance of blanking a random rectangle.
    """
    x = as_images(x)
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    n, g = len(x), generator

    def uniform(low, high):
        return torch.rand(n, generator=g) * (high - low) + low

    s = uniform(*scale)
    angle = uniform(-rotate, rotate) * math.pi / 180
    tx, ty = uniform(-shift, shift), uniform(-shift, shift)
    theta = torch.stack([torch.stack([s * torch.cos(angle), -s * torch.sin(angle), tx], 1),
                         torch.stack([s * torch.sin(angle), s * torch.cos(angle), ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    if noise > 0:
        out = out + noise * torch.randn(out.shape, generator=g)
    if erase_p > 0:
        h, w = x.shape[-2:]
        eh, ew = (uniform(0.15, 0.4) * h).long(), (uniform(0.15, 0.4) * w).long()
        top, left = (torch.rand(n, generator=g) * (h - eh)).long(), (torch.rand(n, generator=g) * (w - ew)).long()
        rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
        box = ((rows >= top.view(-1, 1, 1)) & (rows < (top + eh).view(-1, 1, 1)) &
               (cols >= left.view(-1, 1, 1)) & (cols < (left + ew).view(-1, 1, 1)))
        keep = torch.rand(n, generator=g) >= erase_p
        out = out.masked_fill((box & ~keep.view(-1, 1, 1)).unsqueeze(1), 0.0)
    return out.clamp(0, 1)


# --- SimCLR ----------------------------------------------------------------------------------------

def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy: each view must pick its partner among 2n-1 others."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must be two (n, d) batches of the same shape, got {tuple(z1.shape)} "
                         f"and {tuple(z2.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, partner)


class Encoder(nn.Module):
    """A small CNN: 28x28 greyscale image -> a `dim`-dimensional feature vector (14x14, then 7x7 maps)."""

    def __init__(self, width: int = 16, dim: int = 128):
        super().__init__()
        self.dim = dim

        def block(c_in, c_out, stride):
            return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.net = nn.Sequential(*block(1, width, 2), *block(width, 2 * width, 2), *block(2 * width, 4 * width, 1),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, dim))

    def forward(self, x):
        return self.net(as_images(x) if x.ndim == 3 else x)


class SimCLR(nn.Module):
    """Encoder + projection head; the loss is computed on the head, the probe uses the encoder."""

    def __init__(self, encoder: Encoder, proj_dim: int = 64):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(encoder.dim, encoder.dim), nn.ReLU(),
                                  nn.Linear(encoder.dim, proj_dim))

    def forward(self, x):
        return self.head(self.encoder(x))


def _batches(n, batch_size, generator):
    order = torch.randperm(n, generator=generator)
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)] or [order]


def _loop(name, model, X, epochs, batch_size, lr, step, seed, progress):
    """The shared self-supervised loop over rows of `X`: `step(batch, generator)` returns a batch's loss."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * len(_batches(len(X), batch_size, g)))
    plot, rows = LivePlot(title=name), []
    bar = tqdm(range(1, epochs + 1), desc=name, disable=not progress, leave=False)
    for epoch in bar:
        start, losses = time.perf_counter(), []
        model.train()
        for idx in _batches(len(X), batch_size, g):
            loss = step(X[idx], g)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        rows.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "seconds": time.perf_counter() - start})
        plot.update(rows[-1])
        bar.set_postfix(loss=f"{rows[-1]['train_loss']:.3f}")
    plot.finish()
    model.eval()
    return rows


def train_simclr(model: SimCLR, X, epochs: int = 10, batch_size: int = 256, lr: float = 2e-3,
                 temperature: float = 0.5, seed: int = 0, progress: bool = True, **aug) -> list[dict]:
    """Contrastive pre-training without labels: two augmented views of each image must match."""
    def step(batch, g):
        return nt_xent(model(augment(batch, generator=g, **aug)), model(augment(batch, generator=g, **aug)),
                       temperature)
    return _loop("SimCLR", model, as_images(X), epochs, batch_size, lr, step, seed, progress)


# --- masked autoencoder ---------------------------------------------------------------------------

def mask_patches(x, ratio: float = 0.5, patch: int = 4, generator: torch.Generator | None = None):
    """Hide a random `ratio` of the `patch`x`patch` squares: returns (masked images, mask of hidden pixels)."""
    if not 0 < ratio < 1:
        raise ValueError(f"the mask ratio must be strictly between 0 and 1, got {ratio}")
    x = as_images(x)
    h, w = x.shape[-2:]
    if h % patch or w % patch:
        raise ValueError(f"patch size {patch} must divide the image size {h}x{w}")
    grid = (len(x), 1, h // patch, w // patch)
    scores = torch.rand(grid[0], grid[2] * grid[3], generator=generator)
    hidden = scores.argsort(1) < round(ratio * grid[2] * grid[3])
    mask = hidden.view(grid).float().repeat_interleave(patch, 2).repeat_interleave(patch, 3)
    return x * (1 - mask), mask


class MaskedAutoencoder(nn.Module):
    """The same `Encoder` reads a masked image; a small decoder redraws the full 28x28 image."""

    def __init__(self, encoder: Encoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = nn.Sequential(nn.Linear(encoder.dim, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
                                     nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
                                     nn.ConvTranspose2d(32, 1, 4, 2, 1))

    def forward(self, x):
        return torch.sigmoid(self.decoder(self.encoder(x)))


def train_mae(model: MaskedAutoencoder, X, epochs: int = 10, batch_size: int = 256, lr: float = 2e-3,
              ratio: float = 0.5, patch: int = 4, seed: int = 0, progress: bool = True) -> list[dict]:
    """Masked modelling: reconstruct the hidden patches (the loss counts only hidden pixels)."""
    def step(batch, g):
        masked, mask = mask_patches(batch, ratio, patch, generator=g)
        return ((model(masked) - batch) ** 2 * mask).sum() / mask.sum()
    return _loop("MAE", model, as_images(X), epochs, batch_size, lr, step, seed, progress)


# --- few labels -----------------------------------------------------------------------------------

@torch.no_grad()
def embed(encoder: nn.Module, X, batch_size: int = 512) -> np.ndarray:
    """Frozen features of every image (eval mode, no gradients), as a numpy array."""
    encoder.eval()
    X = as_images(X)
    return torch.cat([encoder(X[i:i + batch_size]) for i in range(0, len(X), batch_size)]).numpy()


def label_subset(y, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced `fraction` of the labels (at least one per class)."""
    y = np.asarray(y)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"need at least two classes with examples, got {len(classes)}")
    per_class = max(1, round(fraction * len(y) / len(classes)))
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(y == c), min(per_class, n), replace=False) for c, n in zip(classes, counts)]
    return np.sort(np.concatenate(picked))


def linear_probe(train_feats, y_train, test_feats, y_test, C: float = 1.0, max_iter: int = 300) -> float:
    """Test accuracy of a logistic regression on frozen features (standardised first)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(train_feats) != len(y_train):
        raise ValueError(f"{len(train_feats)} feature rows but {len(y_train)} labels: they must match")
    missing = sorted(set(y_test.tolist()) - set(y_train.tolist()))
    if missing:
        raise ValueError(f"class(es) {missing} have no labelled training example: the probe cannot predict them")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    with warnings.catch_warnings():  # a probe stopped at max_iter is still a fair, cheap probe
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(train_feats, y_train)
    return float((probe.predict(test_feats) == y_test).mean())


def probe_correct(train_feats, y_train, test_feats, y_test, kind: str = "logreg", C: float = 1.0) -> np.ndarray:
    """One 0/1 per test item (right or wrong) for a probe on frozen features: "logreg" (standardised logistic
    regression, `C` its inverse regularisation) or "1nn" (nearest labelled neighbour, Euclidean). Per-item
    scores let `stats.paired_bootstrap` compare two feature sets on the same test items."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    kinds = {"logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)),
             "1nn": lambda: KNeighborsClassifier(n_neighbors=1)}
    if kind not in kinds:
        from kit.errors import unknown
        raise unknown("probe", kind, kinds)
    train_feats, test_feats = np.asarray(train_feats).reshape(len(train_feats), -1), np.asarray(test_feats)
    if len(train_feats) != len(y_train):
        raise ValueError(f"{len(train_feats)} feature rows but {len(y_train)} labels: they must match")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = kinds[kind]().fit(train_feats, np.asarray(y_train))
    return (model.predict(test_feats.reshape(len(test_feats), -1)) == np.asarray(y_test)).astype(np.float64)


def supervised_baseline(X, y, X_test, y_test, steps: int = 300, width: int = 16, dim: int = 128,
                        seed: int = 0, augmentations: bool = True, lr: float = 3e-3, **aug) -> np.ndarray:
    """The same CNN trained from scratch on only the labelled images: `steps` AdamW steps on batches of up to
    64, each image replaced by a fresh `augment` view (the augmentations SimCLR uses) unless
    `augmentations=False`. Returns one 0/1 per test image (correct or not), for paired intervals."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    X, y = as_images(X), torch.as_tensor(np.asarray(y), dtype=torch.long)
    model = nn.Sequential(Encoder(width, dim), nn.ReLU(), nn.Linear(dim, int(np.max(y_test)) + 1))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(y), (min(64, len(y)),), generator=g)
        batch = augment(X[idx], generator=g, **aug) if augmentations else X[idx]
        loss = F.cross_entropy(model(batch), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        X_test = as_images(X_test)
        predicted = torch.cat([model(X_test[i:i + 512]).argmax(1) for i in range(0, len(X_test), 512)])
    return (predicted.numpy() == np.asarray(y_test)).astype(np.float64)


# --- text: masked and next-token prediction -------------------------------------------------------

class Vocab:
    """Word-level vocabulary: lower-cased words and punctuation; rare words become <unk>."""
    SPECIALS = ("<unk>", "<mask>")

    def __init__(self, texts, min_count: int = 2):
        from collections import Counter

        counts = Counter(t for text in texts for t in self.tokenize(text))
        self.itos = list(self.SPECIALS) + sorted(w for w, c in counts.items() if c >= min_count)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.unk, self.mask = 0, 1

    @staticmethod
    def tokenize(text: str) -> list[str]:
        import re

        return re.findall(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", text.lower())

    def __len__(self):
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(t, self.unk) for t in self.tokenize(text)]

    def decode(self, ids) -> str:
        return " ".join(self.itos[int(i)] for i in ids)

    def windows(self, texts, length: int = 32) -> torch.Tensor:
        """Cut the encoded texts into non-overlapping windows of `length` tokens (one row each)."""
        rows = []
        for text in texts:
            ids = self.encode(text)
            rows += [ids[i:i + length] for i in range(0, len(ids) - length + 1, length)]
        if not rows:
            raise ValueError(f"no text is {length} tokens long: use shorter windows")
        return torch.tensor(rows)


class TinyLM(nn.Module):
    """A 2-layer Transformer over words. `causal=True` reads left to right (GPT, SmolLM2: next-token
    prediction); `causal=False` sees both sides (BERT, MiniLM: masked-token prediction)."""

    def __init__(self, vocab_size: int, dim: int = 64, layers: int = 2, heads: int = 4, context: int = 32,
                 causal: bool = True):
        super().__init__()
        self.causal, self.context = causal, context
        self.tok, self.pos = nn.Embedding(vocab_size, dim), nn.Embedding(context, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm, self.out = nn.LayerNorm(dim), nn.Linear(dim, vocab_size)

    def forward(self, ids):
        n = ids.shape[1]
        if n > self.context:
            raise ValueError(f"the model reads at most {self.context} tokens, got {n}")
        mask = nn.Transformer.generate_square_subsequent_mask(n) if self.causal else None
        h = self.blocks(self.tok(ids) + self.pos(torch.arange(n)), mask=mask, is_causal=self.causal)
        return self.out(self.norm(h))


def _lm_inputs(model: TinyLM, ids, mask_ratio, generator):
    """(inputs, targets, positions scored) for the model's objective."""
    if model.causal:
        return ids[:, :-1], ids[:, 1:], torch.ones_like(ids[:, 1:], dtype=torch.bool)
    if not 0 < mask_ratio < 1:
        raise ValueError(f"the mask ratio must be strictly between 0 and 1, got {mask_ratio}")
    hidden = torch.rand(ids.shape, generator=generator) < mask_ratio
    return ids.masked_fill(hidden, Vocab.SPECIALS.index("<mask>")), ids, hidden


def train_tiny_lm(model: TinyLM, windows, epochs: int = 5, batch_size: int = 32, lr: float = 3e-3,
                  mask_ratio: float = 0.15, seed: int = 0, progress: bool = True) -> list[dict]:
    """Self-supervised text training: predict the next word (causal) or the hidden words (masked)."""
    def step(ids, g):
        inputs, targets, scored = _lm_inputs(model, ids, mask_ratio, g)
        return F.cross_entropy(model(inputs)[scored], targets[scored])
    name = "next-token LM" if model.causal else "masked LM"
    return _loop(name, model, torch.as_tensor(windows), epochs, batch_size, lr, step, seed, progress)


@torch.no_grad()
def token_accuracy(model: TinyLM, windows, mask_ratio: float = 0.15, seed: int = 0) -> dict:
    """Top-1 accuracy on held-out windows, beside always guessing the most frequent word."""
    model.eval()
    inputs, targets, scored = _lm_inputs(model, torch.as_tensor(windows), mask_ratio,
                                         torch.Generator().manual_seed(seed))
    wanted = targets[scored]
    hits = (model(inputs).argmax(-1)[scored] == wanted).float().mean().item()
    return {"accuracy": hits, "most_frequent_word": (wanted == wanted.mode().values).float().mean().item()}


# --- plots ------------------------------------------------------------------------------------------

def plot_images(rows: dict, n: int = 8):
    """A grid of greyscale images: one row per entry of {label: images}, the label above its first image."""
    images = [image[0].detach().numpy() for label in rows for image in as_images(rows[label])[:n]]
    labels = [label if c == 0 else "" for label in rows for c in range(min(n, len(rows[label])))]
    return plots.image_grid(images, labels, ncols=n, size=1.1, vmin=0, vmax=1)


def plot_label_curve(rows: list[dict]):
    """Test accuracy against the number of labels, one line per method (rows: method, labels, accuracy)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        points = sorted((r["labels"], r["accuracy"]) for r in rows if r["method"] == method)
        ax.plot(*zip(*points), marker="o", label=method)
    ax.set(xscale="log", xlabel="labelled training images (log scale)", ylabel="test accuracy",
           title="Few labels: frozen self-supervised features vs training from scratch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_projection(features: dict, y, method: str = "pca", seed: int = 0):
    """2-D maps of embeddings coloured by the (never used for training) class: one panel per entry."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    fig, axes = plt.subplots(1, len(features), figsize=(4.2 * len(features), 4), squeeze=False)
    for ax, (name, feats) in zip(axes[0], features.items()):
        feats = np.asarray(feats).reshape(len(feats), -1)
        feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
        reducer = PCA(2, random_state=seed) if method == "pca" else TSNE(2, init="pca", random_state=seed)
        xy = reducer.fit_transform(feats)
        points = ax.scatter(xy[:, 0], xy[:, 1], c=np.asarray(y), cmap="tab10", s=6)
        ax.set(title=name, xticks=[], yticks=[])
    fig.colorbar(points, ax=axes[0].tolist(), label="digit")
    plt.close(fig)
    return fig
