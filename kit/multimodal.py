"""Lesson 06 glue: a small CLIP (a CNN for images, frozen MiniLM + a projection for text) on MNIST,
zero-shot classification and retrieval, and a pixels -> class names -> sentence pipeline for photos.

    captions = multimodal.encode_captions(embedder, multimodal.load_captions())   # MiniLM, once
    clip = multimodal.TinyCLIP(dim=64)
    multimodal.train_clip(clip, X_train, y_train, captions, epochs=8)
    img = multimodal.embed_images(clip, X_test)
    acc = multimodal.zero_shot_accuracy(img, y_test, clip.encode_text(class_text_emb))
"""
import json
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kit import data as kit_data
from kit import plots
from kit.train import LivePlot

__all__ = ["load_captions", "fill_prompts", "Captions", "encode_captions", "ImageEncoder", "TinyCLIP",
           "clip_loss", "train_clip", "embed_images", "class_embeddings", "zero_shot_predict",
           "zero_shot_accuracy", "recall_at_k", "precision_at_k", "few_label_indices", "per_class_indices",
           "disjoint_split", "plot_joint_space", "show_images",
           "photo_tensor", "imagenet_names", "top_classes", "describe_prompt"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --- captions ------------------------------------------------------------------------------------

def load_captions() -> dict:
    """The course's caption templates: digit words plus 'train' and 'heldout' phrasings."""
    return json.loads(kit_data.course_file("06_multimodal/captions.json").read_text(encoding="utf-8"))


def fill_prompts(templates: list[str], words: list[str]) -> list[list[str]]:
    """One prompt per (template, class): `[[t.format(word=w, d=i) for i, w in ...] for t in templates]`."""
    if not templates:
        raise ValueError("the prompt list is empty: give at least one template such as 'a handwritten {word}'")
    if not words:
        raise ValueError("no class names given: zero-shot needs one word per class")
    return [[t.format(word=w, d=i) for i, w in enumerate(words)] for t in templates]


@dataclass
class Captions:
    """Every caption the lesson uses, with its digit, template and split, and its frozen MiniLM embedding."""
    texts: list
    digit: np.ndarray
    template: np.ndarray      # index into `templates`
    split: np.ndarray         # "train" or "heldout"
    templates: list
    emb: torch.Tensor         # (n, 384), unit length, computed once by the frozen text encoder

    def where(self, split: str) -> np.ndarray:
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        return np.flatnonzero(self.split == split)

    def template_ids(self, split: str, uses: str | None = None) -> list[int]:
        """Ids of the `split` templates, optionally only those that name the digit by `uses` ("word" for
        "seven", "d" for the numeral "7"): e.g. the numeral-only phrasings to train on."""
        if uses not in (None, "word", "d"):
            raise ValueError(f"uses must be None, 'word' or 'd', got {uses!r}")
        rows = self.where(split)
        ids = sorted(set(self.template[rows].tolist()))
        return [t for t in ids if uses is None or "{" + uses + "}" in self.templates[t]]


def encode_captions(embedder, captions: dict) -> Captions:
    """Fill every template for every digit and embed all captions once with the frozen text encoder."""
    texts, digit, template, split, templates = [], [], [], [], []
    for part in ("train", "heldout"):
        for phrasing, row in zip(captions[part], fill_prompts(captions[part], captions["words"])):
            templates.append(phrasing)
            t_id = len(templates) - 1
            texts += row
            digit += list(range(len(row)))
            template += [t_id] * len(row)
            split += [part] * len(row)
    emb = embedder.encode(texts, convert_to_tensor=True, normalize_embeddings=True).float().cpu().clone()
    return Captions(texts, np.array(digit), np.array(template), np.array(split), templates, emb)


# --- the model -----------------------------------------------------------------------------------

class ImageEncoder(nn.Module):
    """A small CNN for 28x28 greyscale images: two conv blocks, then an MLP to `dim` outputs."""

    def __init__(self, dim: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, dim))

    def forward(self, x):
        if x.ndim == 3:
            x = x[:, None]
        return self.net(x)


class TinyCLIP(nn.Module):
    """CLIP in miniature: a trainable image encoder, a trainable projection of frozen text features,
    both mapped to unit vectors in one `dim`-dimensional space, and a learnable temperature."""

    def __init__(self, dim: int = 64, text_dim: int = 384):
        super().__init__()
        self.image_encoder = ImageEncoder(dim)
        self.text_projection = nn.Linear(text_dim, dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, x):
        return F.normalize(self.image_encoder(x), dim=-1)

    def encode_text(self, text_features):
        return F.normalize(self.text_projection(torch.as_tensor(text_features).float()), dim=-1)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale=1 / 0.07) -> torch.Tensor:
    """Symmetric InfoNCE: row i of each batch is a pair; classify the right caption for every image
    (cross-entropy over rows) and the right image for every caption (over columns), then average."""
    if image_emb.ndim != 2 or text_emb.ndim != 2:
        raise ValueError(f"expected 2-D batches of embeddings, got shapes {tuple(image_emb.shape)} "
                         f"and {tuple(text_emb.shape)}")
    if len(image_emb) != len(text_emb):
        raise ValueError(f"image and text batches must pair up row by row: got {len(image_emb)} images "
                         f"and {len(text_emb)} captions")
    if image_emb.shape[1] != text_emb.shape[1]:
        raise ValueError(f"image and text embeddings live in different spaces: dims {image_emb.shape[1]} "
                         f"and {text_emb.shape[1]}")
    scale = logit_scale.exp() if isinstance(logit_scale, torch.Tensor) else logit_scale
    logits = scale * image_emb @ text_emb.T
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def train_clip(model: TinyCLIP, X, y, captions: Captions, *, epochs: int = 5, batch_size: int = 64,
               lr: float = 2e-3, val=None, seed: int = 0, progress: bool = True, templates=None,
               plot: bool = True) -> list:
    """Contrastive training on (image, caption) pairs: each image gets a random *train* phrasing of
    its digit every epoch (only the template ids in `templates`, if given: e.g. numerals only).
    `y` picks the caption of each image (shuffle it for a control). `val=(X_val, y_val)` adds a
    zero-shot accuracy per epoch. Returns one row per epoch."""
    X, y = torch.as_tensor(np.asarray(X)).float(), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels: they must match")
    train_rows = captions.where("train")
    if templates is not None:
        train_rows = train_rows[np.isin(captions.template[train_rows], list(templates))]
        if len(train_rows) == 0:
            raise ValueError(f"none of the templates {list(templates)} is a train phrasing: choose from "
                             f"{captions.template_ids('train')}")
    by_digit = {d: train_rows[captions.digit[train_rows] == d] for d in np.unique(y)}
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    chart, rows = LivePlot(title="TinyCLIP contrastive training", live=None if plot else False), []
    for epoch in tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False):
        model.train()
        pick = np.array([rng.choice(by_digit[d]) for d in y])
        order, total = torch.randperm(len(X), generator=gen), 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            loss = clip_loss(model.encode_image(X[idx]), model.encode_text(captions.emb[pick[idx.numpy()]]),
                             model.logit_scale)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            total += loss.item() * len(idx)
        row = {"epoch": epoch, "contrastive_loss": total / len(X)}
        if val is not None:
            classes = class_embeddings(model, captions, "train")
            row["val_zero_shot_acc"] = zero_shot_accuracy(embed_images(model, val[0]), val[1], classes)
        rows.append(row)
        chart.update(row)
    if plot:
        chart.finish()
    return rows


@torch.no_grad()
def embed_images(model: TinyCLIP, X, batch_size: int = 512) -> torch.Tensor:
    """Unit-length image embeddings (no gradients, eval mode)."""
    model.eval()
    X = torch.as_tensor(np.asarray(X)).float()
    return torch.cat([model.encode_image(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])


@torch.no_grad()
def class_embeddings(model: TinyCLIP, captions: Captions, split: str = "train", template=None):
    """One unit vector per digit: the projected caption(s) of `split` (one template id, a list of ids
    averaged, or all of the split's templates averaged: a prompt ensemble)."""
    model.eval()
    rows = captions.where(split)
    if template is not None:
        rows = rows[np.isin(captions.template[rows], np.atleast_1d(template))]
        if len(rows) == 0:
            raise ValueError(f"template {template} is not in the {split!r} split")
    emb = model.encode_text(captions.emb[rows])
    digits = captions.digit[rows]
    return F.normalize(torch.stack([emb[digits == d].mean(0) for d in np.unique(digits)]), dim=-1)


def zero_shot_predict(image_emb: torch.Tensor, class_emb: torch.Tensor) -> np.ndarray:
    """Each image's class: the one whose text embedding is most similar (no classifier trained)."""
    if len(class_emb) == 0:
        raise ValueError("the prompt list is empty: zero-shot needs one text embedding per class")
    return (torch.as_tensor(image_emb) @ torch.as_tensor(class_emb).T).argmax(1).cpu().numpy()


def zero_shot_accuracy(image_emb: torch.Tensor, labels, class_emb: torch.Tensor) -> float:
    """Accuracy of `zero_shot_predict` against `labels`."""
    predicted = zero_shot_predict(image_emb, class_emb)
    labels = np.asarray(labels)
    if len(image_emb) != len(labels):
        raise ValueError(f"{len(image_emb)} image embeddings but {len(labels)} labels: they must match")
    return float((predicted == labels).mean())


# --- retrieval -----------------------------------------------------------------------------------

def _top_hits(sim, query_labels, item_labels, k):
    sim = torch.as_tensor(sim)
    query_labels, item_labels = np.asarray(query_labels), np.asarray(item_labels)
    if sim.shape != (len(query_labels), len(item_labels)):
        raise ValueError(f"similarity matrix is {tuple(sim.shape)} but there are {len(query_labels)} queries "
                         f"and {len(item_labels)} items: expected ({len(query_labels)}, {len(item_labels)})")
    if not 1 <= k <= len(item_labels):
        raise ValueError(f"k must be between 1 and the number of items ({len(item_labels)}), got {k}")
    top = sim.topk(k, dim=1).indices.cpu().numpy()
    return item_labels[top] == query_labels[:, None]


def recall_at_k(sim, query_labels, item_labels, k: int) -> float:
    """Share of queries with at least one relevant item (same label) among their k most similar items."""
    return float(_top_hits(sim, query_labels, item_labels, k).any(1).mean())


def precision_at_k(sim, query_labels, item_labels, k: int) -> float:
    """Mean share of relevant items among each query's top k (stricter than recall@k here)."""
    return float(_top_hits(sim, query_labels, item_labels, k).mean())


def few_label_indices(y, fraction: float, seed: int = 0) -> np.ndarray:
    """A stratified sample of `fraction` of the examples, at least one per class (the '1% of labels')."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    y, rng = np.asarray(y), np.random.default_rng(seed)
    per_class = max(1, round(fraction * len(y) / len(np.unique(y))))
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                                   for c in np.unique(y)]))


def per_class_indices(y, per_class: int, seed: int = 0, classes=None) -> np.ndarray:
    """`per_class` random examples of each class in `classes` (default: every class in y), sorted:
    the few labelled images a probe may use."""
    y, rng = np.asarray(y), np.random.default_rng(seed)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    short = [int(c) for c in classes if (y == c).sum() < per_class]
    if per_class < 1 or short:
        raise ValueError(f"need {per_class} >= 1 examples of every class; too few of class(es) {short}")
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in classes]))


def disjoint_split(n: int, n_first: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split range(n) at random into two disjoint sorted index arrays of sizes n_first and n - n_first
    (e.g. images for caption training vs images whose labels a probe may use)."""
    if not 0 < n_first < n:
        raise ValueError(f"n_first must be between 1 and n - 1 = {n - 1}, got {n_first}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_first]), np.sort(order[n_first:])


# --- plots ---------------------------------------------------------------------------------------

def plot_joint_space(image_emb, image_labels, text_emb, text_labels, title="one space for images and captions"):
    """Images (dots) and captions (stars) after a PCA fitted on both, coloured by digit."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    both = torch.cat([torch.as_tensor(image_emb), torch.as_tensor(text_emb)]).cpu().numpy()
    xy = PCA(2, random_state=0).fit_transform(both)
    n = len(image_emb)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    cmap = plt.get_cmap("tab10")
    ax.scatter(xy[:n, 0], xy[:n, 1], c=[cmap(int(c)) for c in image_labels], s=6, alpha=0.5)
    ax.scatter(xy[n:, 0], xy[n:, 1], c=[cmap(int(c)) for c in text_labels], marker="*", s=180,
               edgecolors="black", linewidths=0.6)
    for (px, py), c in zip(xy[n:], text_labels):
        ax.annotate(str(c), (px, py), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set(title=title + "\n(dots: test images, stars: captions)", xlabel="PC 1", ylabel="PC 2")
    plt.close(fig)
    return fig


def show_images(images, titles=None, cols: int = 8, size: float = 1.2, suptitle: str = ""):
    """A grid of images (greyscale or RGB arrays) with optional titles: `kit.plots.image_grid`."""
    return plots.image_grid(images, titles, ncols=cols, size=size, title=suptitle)


# --- natural photos: pixels -> ImageNet classes -> a sentence --------------------------------------

def photo_tensor(image, size: int = 224) -> torch.Tensor:
    """A photo (H, W), (H, W, 3) or (H, W, 4) uint8 array -> a (1, 3, size, size) ImageNet-normalised
    tensor: resize the short side to size*8/7, crop the centre, subtract the mean, divide by the std."""
    x = torch.as_tensor(np.asarray(image)).float()
    if x.ndim == 2:
        x = x[..., None].expand(-1, -1, 3)
    if x.ndim != 3 or x.shape[-1] not in (3, 4):
        raise ValueError(f"expected a greyscale (H, W) or colour (H, W, 3|4) image, got shape {tuple(x.shape)}")
    x = x[..., :3].permute(2, 0, 1)[None] / (255.0 if x.max() > 1.5 else 1.0)
    h, w = x.shape[-2:]
    scale = round(size * 8 / 7) / min(h, w)
    x = F.interpolate(x, size=(max(size, round(h * scale)), max(size, round(w * scale))), mode="bilinear",
                      antialias=True, align_corners=False)
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    x = x[..., top:top + size, left:left + size]
    return (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]


def imagenet_names() -> list[str]:
    """The 1,000 ImageNet class names in index order (first WordNet lemma of each), from timm's list."""
    lines = kit_data.course_file("06_multimodal/imagenet_classes.tsv").read_text(encoding="utf-8").splitlines()
    names = [line.split("\t")[2].split(",")[0] for line in lines if line and line[0].isdigit()]
    if len(names) != 1000:
        raise ValueError(f"expected 1000 ImageNet classes, found {len(names)}")
    return names


def top_classes(logits: torch.Tensor, names: list[str], k: int = 3) -> list[list[tuple]]:
    """For each row of logits, the k most probable (class name, probability) pairs."""
    if logits.shape[-1] != len(names):
        raise ValueError(f"logits have {logits.shape[-1]} classes but {len(names)} names were given")
    probs, index = logits.softmax(-1).topk(k, dim=-1)
    return [[(names[j], round(p, 3)) for p, j in zip(pr.tolist(), ix.tolist())] for pr, ix in zip(probs, index)]


def describe_prompt(top: list[tuple]) -> list[dict]:
    """Chat messages asking an LLM for one sentence about a photo, given only the classifier's guesses."""
    guesses = "; ".join(f"{name} ({p:.0%})" for name, p in top)
    return [{"role": "system", "content": "You describe photos in one short sentence."},
            {"role": "user", "content": f"An image classifier looked at a photo and guessed: {guesses}. "
                                        "Describe the photo in one sentence."}]
