"""Synthetic data: for scarcity, privacy and class imbalance (lesson 03).

Three generators, each scored against real data (tables live in `kit.tabular`):

    cvae = synthetic.ConditionalVAE(); synthetic.train_cvae(cvae, X, y)   # images per class
    pairs = synthetic.generate_labelled(llm, tok, synthetic.review_prompts(4))   # LLM-written text
    X_sim, y_sim = synthetic.render_digits(2000)                         # a tiny digit simulator
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from kit import models, plots

__all__ = ["make_imbalanced", "oversample", "class_recall", "digit_classifier", "ConditionalVAE", "train_cvae",
           "review_prompts", "generate_labelled", "clean_sentence", "glyph_masks", "render_digits", "show_images",
           "fit_and_score", "class_weights", "plot_bars"]


def _name(label) -> str:
    """A class label as the learner wrote it (3, not np.int64(3)), for error messages."""
    return repr(label.item() if hasattr(label, "item") else label)


# --- images: class imbalance ------------------------------------------------------------------------

def make_imbalanced(X, y, minority, keep, seed=0):
    """Keep only `keep` random examples of each class in `minority` (and every other example)."""
    y = np.asarray(y)
    if keep < 1:
        raise ValueError(f"keep must be at least 1 example per minority class, got {keep}")
    rng = np.random.default_rng(seed)
    chosen = [np.flatnonzero(~np.isin(y, minority))]
    for c in minority:
        rows = np.flatnonzero(y == c)
        if len(rows) == 0:
            raise ValueError(f"class {_name(c)} has no examples, so it cannot be made a minority class")
        chosen.append(rng.choice(rows, min(keep, len(rows)), replace=False))
    index = np.sort(np.concatenate(chosen))
    return X[index], y[index]


def oversample(X, y, classes, target, seed=0):
    """Plain oversampling: repeat random real examples of each class in `classes` until it has `target`."""
    rng = np.random.default_rng(seed)
    extra = []
    for c in classes:
        rows = np.flatnonzero(np.asarray(y) == c)
        if len(rows) == 0:
            raise ValueError(f"class {_name(c)} has no examples to repeat")
        extra.append(rng.choice(rows, max(target - len(rows), 0), replace=True))
    index = np.concatenate([np.arange(len(y))] + extra)
    return X[index], np.asarray(y)[index]


def class_recall(y_true, y_pred, classes) -> dict:
    """{class: recall} - the share of each class's real examples the model finds."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {}
    for c in classes:
        mask = y_true == c
        if not mask.any():
            raise ValueError(f"class {_name(c)} has no examples in y_true, so its recall is undefined")
        out[c] = float((y_pred[mask] == c).mean())
    return out


def digit_classifier(n_classes=10) -> nn.Module:
    """A small CNN for 28x28 digits (the same model for every comparison in the lesson)."""
    return nn.Sequential(_AddChannel(), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, n_classes))


class _AddChannel(nn.Module):
    """(n, 28, 28) images -> (n, 1, 28, 28), so the CNN takes the dataset's arrays as they are."""

    def forward(self, x):
        return x.reshape(len(x), 1, 28, 28)


class ConditionalVAE(nn.Module):
    """A variational autoencoder whose encoder and decoder both see the class label, so that
    `sample(labels)` draws new images *of a chosen class* (Sohn et al., 2015)."""

    def __init__(self, n_classes=10, latent=16, hidden=256, pixels=28 * 28):
        super().__init__()
        self.n_classes, self.latent, self.pixels = n_classes, latent, pixels
        self.encoder = nn.Sequential(nn.Linear(pixels + n_classes, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent + n_classes, hidden), nn.ReLU(), nn.Linear(hidden, pixels))

    def _onehot(self, y):
        y = torch.as_tensor(y, dtype=torch.long)
        if y.numel() and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"labels must be in 0..{self.n_classes - 1}, got {y.min().item()}..{y.max().item()}")
        return F.one_hot(y, self.n_classes).float()

    def forward(self, x, y):
        c = self._onehot(y).to(x.device)
        mu, logvar = self.encoder(torch.cat([x.reshape(len(x), -1), c], 1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decoder(torch.cat([z, c], 1)), mu, logvar

    def loss(self, x, logits, mu, logvar):
        """Negative ELBO per image: reconstruction (binary cross-entropy) + KL to the prior."""
        recon = F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1), reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (recon + kl) / len(x)

    @torch.no_grad()
    def sample(self, labels, seed=0):
        """New images (n, 28, 28) in [0, 1], one per requested label."""
        c = self._onehot(labels)
        z = torch.randn(len(c), self.latent, generator=torch.Generator().manual_seed(seed))
        side = int(self.pixels ** 0.5)
        return torch.sigmoid(self.decoder(torch.cat([z, c], 1))).reshape(-1, side, side).numpy()


def train_cvae(model, X, y, epochs=10, batch_size=32, lr=2e-3, balance=True, seed=0, title="conditional VAE"):
    """Fit a ConditionalVAE; `balance` draws every class equally often, so rare classes are learned too.
    Returns the loss per epoch (also drawn live)."""
    from kit.train import LivePlot

    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    counts = torch.bincount(y, minlength=model.n_classes).float()
    weights = (1.0 / counts.clamp(min=1))[y] if balance else torch.ones(len(y))
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    plot, losses = LivePlot(title=title), []
    model.train()
    for epoch in tqdm(range(1, epochs + 1), desc="cVAE epochs", leave=False):
        order = torch.multinomial(weights, len(y), replacement=True, generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            logits, mu, logvar = model(X[rows], y[rows])
            loss = model.loss(X[rows], logits, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        losses.append(total / len(order))
        plot.update({"epoch": epoch, "train_loss": losses[-1]})
    plot.finish()
    model.eval()
    return losses


# --- text: an LLM writes labelled sentences -------------------------------------------------------

ASPECTS = ["the acting", "the plot", "the dialogue", "the soundtrack", "the ending", "the director",
           "the special effects", "the pacing", "the characters", "the humour", "the cinematography", "the script"]


def review_prompts(n_per_label, labels=("negative", "positive"), seed=0) -> list:
    """Chat prompts asking for one labelled movie-review sentence each, varied by aspect for diversity:
    a list of (messages, label index)."""
    if n_per_label < 1:
        raise ValueError(f"n_per_label must be at least 1, got {n_per_label}")
    rng = np.random.default_rng(seed)
    prompts = []
    for label_index, label in enumerate(labels):
        for aspect in rng.permutation(ASPECTS * (n_per_label // len(ASPECTS) + 1))[:n_per_label]:
            text = (f"Write one short, clearly {label} sentence from a movie review about {aspect}. "
                    "Reply with the sentence only.")
            prompts.append(([{"role": "user", "content": text}], label_index))
    return prompts


def clean_sentence(text: str) -> str:
    """The first line of a generation, without surrounding quotes or a chatty preface."""
    line = next((part for part in text.strip().splitlines() if part.strip()), "").strip()
    if ":" in line[:30]:
        line = line.split(":", 1)[1].strip()
    return line.strip('"\u201c\u201d\' ')


def generate_labelled(model, tok, prompts, batch_size=8, max_new_tokens=40, temperature=0.8, seed=0) -> list:
    """Run the prompts through a chat model in batches (sampled); returns [(sentence, label)], empty ones dropped."""
    torch.manual_seed(seed)
    pairs = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="generating", leave=False):
        batch = prompts[start:start + batch_size]
        texts = models.chat(model, tok, [messages for messages, _ in batch], max_new_tokens=max_new_tokens,
                            batch_size=batch_size, do_sample=True, temperature=temperature, top_p=0.95)
        pairs += [(clean_sentence(t), label) for t, (_, label) in zip(texts, batch) if clean_sentence(t)]
    return pairs


# --- simulation: a tiny digit renderer with controlled pose -------------------------------------

FONTS = ["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono", "STIXGeneral", "cmr10", "cmss10", "cmtt10"]
STYLES = (("normal", "normal"), ("bold", "normal"), ("normal", "italic"))


def glyph_masks(chars="0123456789", fonts=FONTS, size=56, box=40) -> np.ndarray:
    """Each character in each font (regular, bold, italic where the font has them) rasterised as a centred
    (size, size) mask: the simulator's 'assets'. Shape (n_variants, len(chars), size, size)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path
    from matplotlib.textpath import TextPath

    grid = (np.stack(np.meshgrid(np.arange(size), np.arange(size)), -1).reshape(-1, 2) + 0.5)
    masks = []
    for family in fonts:
        styles = (("normal", "normal"),) if family.startswith("cm") else STYLES   # TeX fonts: regular only
        for weight, style in styles:
            prop = FontProperties(family=family, weight=weight, style=style)
            row = []
            for ch in chars:
                path = TextPath((0, 0), ch, size=100, prop=prop)
                (x0, y0), (x1, y1) = path.vertices.min(0), path.vertices.max(0)
                scale = box / max(x1 - x0, y1 - y0)
                inside = np.zeros(len(grid), dtype=bool)
                for polygon in path.to_polygons():      # outlines and holes: even-odd fill by XOR
                    verts = (polygon - [(x0 + x1) / 2, (y0 + y1) / 2]) * scale * [1, -1] + size / 2
                    inside ^= Path(verts).contains_points(grid)
                row.append(inside.reshape(size, size).astype(np.float32))
            masks.append(row)
    return np.array(masks)


def render_digits(n, masks, angle=15.0, scale=(0.85, 1.1), shift=0.1, shear=0.2, thickness=(0, 1), seed=0):
    """Render `n` 28x28 digit images from glyph masks with a random pose (domain randomization).

    angle (degrees, +/-), scale (min, max), shift (fraction of the image, +/-), shear (+/-) and
    thickness (min, max extra strokes, in pixels of the 56-pixel canvas) set the spread; zero spread
    gives clean upright glyphs. Returns (images (n, 28, 28) float32, labels (n,), poses dict)."""
    if masks.ndim != 4:
        raise ValueError(f"masks must be (variants, digits, size, size) from glyph_masks(), got shape {masks.shape}")
    rng = np.random.default_rng(seed)
    variant, label = rng.integers(masks.shape[0], size=n), rng.integers(masks.shape[1], size=n)
    pose = {"angle": rng.uniform(-angle, angle, n), "scale": rng.uniform(*scale, n),
            "shift_x": rng.uniform(-shift, shift, n), "shift_y": rng.uniform(-shift, shift, n),
            "shear": rng.uniform(-shear, shear, n), "thickness": rng.integers(thickness[0], thickness[1] + 1, n)}
    theta = np.radians(pose["angle"])
    cos, sin, s = np.cos(theta), np.sin(theta), pose["scale"]
    # affine_grid maps output coordinates to input ones, so the inverse pose goes here
    affine = np.stack([np.stack([cos / s, (-sin + pose["shear"] * cos) / s, pose["shift_x"]], 1),
                       np.stack([sin / s, (cos + pose["shear"] * sin) / s, pose["shift_y"]], 1)], 1)
    source = torch.as_tensor(masks[variant, label][:, None])
    grid = F.affine_grid(torch.as_tensor(affine, dtype=torch.float32), list(source.shape), align_corners=False)
    images = F.grid_sample(source, grid, align_corners=False)
    for extra in range(1, int(pose["thickness"].max()) + 1):     # thicker strokes: dilate some images again
        grow = torch.as_tensor(pose["thickness"] >= extra)
        images[grow] = F.max_pool2d(images[grow], 3, stride=1, padding=1)
    images = F.avg_pool2d(images, 2)[:, 0].clamp(0, 1)
    return images.numpy(), label.astype(np.int64), pose


def show_images(images, labels=None, n=16, title="", cols=8):
    """The first `n` images (dark ink on white, pixels in [0, 1]) with their labels: `kit.plots.image_grid`."""
    n = min(n, len(images))
    return plots.image_grid(images[:n], None if labels is None else labels[:n], ncols=cols, size=1.1, title=title,
                            cmap="gray_r", vmin=0, vmax=1)


# --- scoring and plots shared by the lesson's comparisons ------------------------------------------

def class_weights(y, n_classes=10) -> torch.Tensor:
    """Inverse-frequency class weights (mean 1 over the classes present) for a class-weighted loss:
    `nn.CrossEntropyLoss(weight=class_weights(y))` counts each rare example as much as a whole common class."""
    counts = np.bincount(np.asarray(y), minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0)
    return torch.as_tensor(weights / weights[counts > 0].mean(), dtype=torch.float32)


def fit_and_score(X, y, X_test, y_test, classes=(), epochs=3, title="", seed=0, batch_size=32, lr=2e-3,
                  loss_fn=None, model=None) -> dict:
    """Train a fresh `digit_classifier` (or `model`) on (X, y) with kit.train.fit (`loss_fn`, e.g. a
    class-weighted cross-entropy); its test accuracy, `correct` (one 0/1 per test item, for paired
    intervals), and the recall of each class in `classes` (and their mean, `minority_recall`)."""
    from kit import train

    torch.manual_seed(seed)
    model = digit_classifier() if model is None else model
    train.fit(model, (np.asarray(X, dtype=np.float32), np.asarray(y)), epochs=epochs, title=title, seed=seed,
              batch_size=batch_size, lr=lr, loss_fn=loss_fn)
    predicted = train.predict(model, np.asarray(X_test, dtype=np.float32))
    correct = predicted == np.asarray(y_test)
    scores = {"accuracy": float(correct.mean()), "correct": correct.astype(np.float64)}
    if len(classes):
        recall = class_recall(y_test, predicted, classes)
        scores.update({f"recall_{c}": r for c, r in recall.items()})
        scores["minority_recall"] = float(np.mean(list(recall.values())))
    return scores


def plot_bars(rows, metric, label="variant", title=""):
    """A bar chart of one metric across comparison rows (a list of dicts, as for report.table)."""
    return plots.bars({row[label]: row[metric] for row in rows}, title=title, ylabel=metric)
