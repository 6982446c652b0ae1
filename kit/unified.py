"""Lesson 06's unified model: ONE small transformer that reads image patches and caption tokens in a
single sequence and says whether they match (a single-stream "fusion" encoder, as in ViLT), to set
beside the dual encoder (TinyCLIP: two encoders that meet only in a dot product) and a pipeline.

    tokens = unified.caption_tokens(embedder, captions.texts)        # frozen MiniLM token features
    model = unified.FusionTransformer(dim=64, depth=2)
    unified.train_matcher(model, X, y, captions, tokens, epochs=6)
    scores = unified.match_scores(model, X_test, tokens, rows, captions.digit[rows])   # (n, 10)

Zero-shot classification with it costs one forward pass per (image, caption) pair, where a dual
encoder embeds each image and each caption once: the price of letting the two modalities attend to
each other.
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kit.train import LivePlot

__all__ = ["CaptionTokens", "caption_tokens", "FusionTransformer", "train_matcher", "match_scores"]


@dataclass
class CaptionTokens:
    """Per-token features of every caption from a frozen text encoder, padded: `features` (n, T, d),
    `mask` (n, T) True where a real token is."""
    features: torch.Tensor
    mask: torch.Tensor

    def __getitem__(self, rows):
        return self.features[rows], self.mask[rows]


def caption_tokens(embedder, texts: list[str]) -> CaptionTokens:
    """MiniLM's contextual token vectors for each text (`encode(..., output_value="token_embeddings")`),
    unit length, padded to the longest caption: the text half of the fusion model's input sequence."""
    if not texts:
        raise ValueError("no captions given: caption_tokens needs at least one text")
    out = embedder.encode(list(texts), output_value="token_embeddings", convert_to_tensor=False)
    longest, dim = max(len(o) for o in out), out[0].shape[1]
    features, mask = torch.zeros(len(out), longest, dim), torch.zeros(len(out), longest, dtype=torch.bool)
    for i, o in enumerate(out):
        features[i, :len(o)] = F.normalize(torch.as_tensor(o).float().cpu(), dim=-1)
        mask[i, :len(o)] = True
    return CaptionTokens(features, mask)


class FusionTransformer(nn.Module):
    """[CLS] + 16 image patches (7x7 pixels, linearly embedded as in ViT) + caption tokens (projected)
    -> a transformer encoder in which every token attends to every other -> a match logit from [CLS]."""

    def __init__(self, dim: int = 64, depth: int = 2, heads: int = 4, patch: int = 7, text_dim: int = 384,
                 max_text: int = 32, image_size: int = 28):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"patch size {patch} must divide the image size {image_size}")
        self.patch, self.side, self.max_text = patch, image_size // patch, max_text
        self.patch_embed = nn.Linear(patch * patch, dim)
        self.text_embed = nn.Linear(text_dim, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.image_pos = nn.Parameter(0.02 * torch.randn(1, self.side ** 2, dim))
        self.text_pos = nn.Parameter(0.02 * torch.randn(1, max_text, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 1))

    def patches(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W) or (B, 1, H, W) -> (B, n_patches, patch*patch), row by row."""
        x = images.reshape(len(images), self.side, self.patch, self.side, self.patch)
        return x.permute(0, 1, 3, 2, 4).reshape(len(images), self.side ** 2, self.patch ** 2)

    def forward(self, images, text_features, text_mask):
        batch, length = text_features.shape[:2]
        if length > self.max_text:
            raise ValueError(f"captions of {length} tokens exceed max_text={self.max_text}")
        if len(images) != batch:
            raise ValueError(f"{len(images)} images but {batch} captions: one caption per image")
        image = self.patch_embed(self.patches(images)) + self.image_pos
        text = self.text_embed(text_features) + self.text_pos[:, :length]
        sequence = torch.cat([self.cls.expand(batch, -1, -1), image, text], dim=1)
        padding = torch.cat([torch.zeros(batch, 1 + image.shape[1], dtype=torch.bool), ~text_mask], dim=1)
        return self.head(self.encoder(sequence, src_key_padding_mask=padding)[:, 0]).squeeze(-1)


def train_matcher(model: FusionTransformer, X, y, captions, tokens: CaptionTokens, *, epochs: int = 6,
                  candidates: int = 4, batch_size: int = 64, lr: float = 1e-3, templates=None, seed: int = 0,
                  progress: bool = True, plot: bool = True) -> list:
    """Train the fusion model to pick its image's caption among `candidates` captions (the true digit's
    and other digits' of y, each in a random train phrasing): cross-entropy over the candidates' match logits,
    the single-stream analogue of the dual encoder's InfoNCE. Returns one row per epoch."""
    X, y = torch.as_tensor(np.asarray(X)).float(), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels: they must match")
    classes = np.unique(y)
    if not 2 <= candidates <= len(classes):
        raise ValueError(f"candidates must be between 2 and the number of classes in y ({len(classes)}): one true "
                         f"caption + distractors of other classes, got {candidates}")
    rows = captions.where("train")
    if templates is not None:
        rows = rows[np.isin(captions.template[rows], list(templates))]
    by_digit = {d: rows[captions.digit[rows] == d] for d in classes}
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    steps = epochs * -(-len(X) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=0.15)
    chart, history = LivePlot(title="fusion transformer: pick the right caption", live=None if plot else False), []
    for epoch in tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False):
        model.train()
        order, total, correct = rng.permutation(len(X)), 0.0, 0
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            digits = np.stack([np.concatenate([[d], rng.choice(classes[classes != d], candidates - 1, replace=False)])
                               for d in y[idx]])
            picked = np.array([rng.choice(by_digit[d]) for d in digits.ravel()])
            logits = model(X[idx].repeat_interleave(candidates, 0), *tokens[picked]).view(len(idx), candidates)
            loss = F.cross_entropy(logits, torch.zeros(len(idx), dtype=torch.long))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == 0).sum())
        row = {"epoch": epoch, "match_loss": total / len(X), f"train_pick_1_of_{candidates}_acc": correct / len(X)}
        history.append(row)
        chart.update(row)
    if plot:
        chart.finish()
    return history


@torch.no_grad()
def match_scores(model: FusionTransformer, X, tokens: CaptionTokens, rows, digits, batch_size: int = 2048):
    """(n_images, n_classes): each image's mean match logit over the captions `rows` of each class
    (`digits[i]` is the class of caption rows[i]): a prompt ensemble, one forward pass per pair."""
    rows, digits = np.asarray(rows), np.asarray(digits)
    if len(rows) != len(digits) or len(rows) == 0:
        raise ValueError(f"give one class per caption row: {len(rows)} rows and {len(digits)} classes")
    model.eval()
    X = torch.as_tensor(np.asarray(X)).float()
    classes = np.unique(digits)
    scores = torch.zeros(len(X), int(classes.max()) + 1)
    counts = np.bincount(digits, minlength=scores.shape[1])
    for row, digit in zip(rows, digits):
        feats, mask = tokens[[row]]
        for start in range(0, len(X), batch_size):
            part = X[start:start + batch_size]
            scores[start:start + len(part), digit] += model(part, feats.expand(len(part), -1, -1),
                                                            mask.expand(len(part), -1)) / counts[digit]
    scores[:, np.setdiff1d(np.arange(scores.shape[1]), classes)] = -torch.inf
    return scores
