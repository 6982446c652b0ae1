"""What a federated server can read from a client's update: gradient inversion (DLG / iDLG) and its defences.

    grads = attacks.client_gradient(model, X[:4], y[:4])       # one FedSGD update of a 4-image batch
    images, labels = attacks.invert(model, grads, n_images=4)  # DLG: fit dummy images whose gradient matches
    attacks.match_scores(images, X[:4])                        # PSNR / SSIM of each original's best match

What the server sees under each defence, built from the same gradients (the attack code does not change):
`secagg_sum` (SecAgg+ reveals only the sum of the round's updates) and `local_dp` (Flower's `LocalDpMod`:
the client clips its update and adds Gaussian noise before it leaves). Zhu et al. 2019 (DLG) optimise
dummy data; Zhao et al. 2020 (iDLG) read the labels off the last layer's bias gradient first, as here.
"""
import math

import numpy as np
import torch
from torch import nn

__all__ = ["client_gradient", "infer_labels", "invert", "psnr", "ssim", "match_scores", "label_recovery",
           "secagg_sum", "clip", "local_dp", "noise_like", "attack", "plot_reconstructions"]


def _params(model: nn.Module) -> list:
    return [p for p in model.parameters() if p.requires_grad]


def client_gradient(model: nn.Module, X, y) -> list:
    """A FedSGD client update: the gradient of the mean cross-entropy on its batch (X, y), one tensor per parameter."""
    X = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"a client batch needs as many labels as images and at least one of each, got {len(X)} "
                         f"images and {len(y)} labels")
    loss = nn.functional.cross_entropy(model(X), y)
    return [g.detach() for g in torch.autograd.grad(loss, _params(model))]


def infer_labels(grads: list, n_images: int, n_classes: int = 10) -> np.ndarray:
    """iDLG's label read-out, extended to a batch: the last bias gradient is mean(softmax - one-hot).

    A class present in the batch gets a negative entry (its one-hot term outweighs its probability): with
    n = 1 the label is the most negative entry (Zhao et al. 2020). For n > 1 the counts are shared out in
    proportion to the negative entries (largest remainder), which needs no knowledge of the update's scale,
    so it survives clipping.
    """
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    g = np.asarray(grads[-1], dtype=np.float64).ravel()
    if g.size != n_classes:
        raise ValueError(f"the last gradient should be the output bias ({n_classes} values), got {g.size}")
    weight = np.clip(-g, 0, None)
    if weight.sum() <= 0:
        weight = np.ones(n_classes)
    share = weight / weight.sum() * n_images
    counts = np.floor(share).astype(int)
    for c in np.argsort(-(share - counts))[: n_images - counts.sum()]:
        counts[c] += 1
    return np.repeat(np.arange(n_classes), counts)


def invert(model: nn.Module, grads: list, n_images: int, steps: int = 200, lr: float = 0.1, seed: int = 0,
           labels=None, distance: str = "cosine", image_shape=(28, 28)):
    """Deep Leakage from Gradients: images whose gradient matches `grads` (Adam on the pixels).

    `distance="l2"` is DLG's squared distance; "cosine" (the default) compares directions only, so an
    update scaled down by clipping or summed over several clients is attacked as well as a plain one.

    Pixels are kept in [0, 1] through a sigmoid; labels come from `infer_labels` unless given.
    Returns (images as an (n, 28, 28) array, labels used).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if distance not in ("cosine", "l2"):
        from kit.errors import unknown

        raise unknown("distance", distance, ["cosine", "l2"])
    params = _params(model)
    if len(grads) != len(params):
        raise ValueError(f"got {len(grads)} gradient tensors for a model with {len(params)} parameters")
    labels = infer_labels(grads, n_images) if labels is None else np.asarray(labels)
    target = [torch.as_tensor(g, dtype=torch.float32) for g in grads]
    y = torch.as_tensor(labels, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    z = (0.1 * torch.randn(n_images, *image_shape, generator=generator)).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        dummy = torch.autograd.grad(nn.functional.cross_entropy(model(torch.sigmoid(z)), y), params,
                                    create_graph=True)
        if distance == "cosine":   # Geiping et al. 2020: the direction only, so clipping's scale does not matter
            dot = sum((a * b).sum() for a, b in zip(dummy, target))
            norms = torch.sqrt(sum((a ** 2).sum() for a in dummy) * sum((b ** 2).sum() for b in target))
            (1 - dot / (norms + 1e-12)).backward()
        else:
            sum(((a - b) ** 2).sum() for a, b in zip(dummy, target)).backward()
        optimizer.step()
    return torch.sigmoid(z).detach().numpy(), labels


def psnr(reconstruction, original) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1] (higher = closer; ~10 dB is unrelated digits)."""
    mse = float(np.mean((np.asarray(reconstruction, float) - np.asarray(original, float)) ** 2))
    return 100.0 if mse == 0 else 10 * math.log10(1.0 / mse)


def ssim(reconstruction, original) -> float:
    """Structural similarity (scikit-image) for images in [0, 1]: 1 = identical, about 0 = unrelated."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(reconstruction, float), np.asarray(original, float),
                                       data_range=1.0))


def match_scores(reconstructions, originals) -> dict:
    """Pair every original with its own reconstruction (Hungarian matching on MSE; order is not leaked).

    With more reconstructions than originals (an attack on a sum of several clients' updates) each
    original gets the reconstruction closest to it: the attacker's best case. Returns per-original
    arrays {"psnr", "ssim", "match"}.
    """
    from scipy.optimize import linear_sum_assignment

    rec, orig = np.asarray(reconstructions, float), np.asarray(originals, float)
    if len(rec) < len(orig):
        raise ValueError(f"{len(rec)} reconstructions cannot cover {len(orig)} originals")
    cost = ((orig[:, None] - rec[None]) ** 2).reshape(len(orig), len(rec), -1).mean(-1)
    rows, cols = linear_sum_assignment(cost)
    return {"psnr": np.array([psnr(rec[c], orig[r]) for r, c in zip(rows, cols)]),
            "ssim": np.array([ssim(rec[c], orig[r]) for r, c in zip(rows, cols)]), "match": cols[np.argsort(rows)]}


def label_recovery(recovered, true) -> float:
    """Share of the true labels (as a multiset) that the attacker recovered."""
    recovered, true = np.bincount(np.asarray(recovered), minlength=10), np.bincount(np.asarray(true), minlength=10)
    return float(np.minimum(recovered, true).sum() / true.sum())


# --- what the server sees under each defence ---------------------------------------------------

def secagg_sum(updates: list) -> list:
    """SecAgg+'s output: the element-wise sum of the clients' updates (the masks cancel, nothing else is revealed)."""
    if not updates:
        raise ValueError("SecAgg+ needs at least one update to sum")
    return [sum(torch.as_tensor(u[i]) for u in updates) for i in range(len(updates[0]))]


def clip(grads: list, max_norm: float) -> list:
    """Scale the whole update down to L2 norm `max_norm` (what Flower's `fixedclipping_mod` does)."""
    if max_norm <= 0:
        raise ValueError(f"the clipping norm must be positive, got {max_norm}")
    norm = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    scale = min(1.0, max_norm / (norm + 1e-12))
    return [g * scale for g in grads]


def local_dp(grads: list, clipping_norm: float, epsilon: float, delta: float = 1e-5, seed: int = 0) -> list:
    """Flower's `LocalDpMod` on one update: clip to `clipping_norm`, add N(0, s^2) with the Gaussian mechanism's
    s = clipping_norm * sqrt(2 ln(1.25/delta)) / epsilon (sensitivity = the clipping norm), per round."""
    if epsilon <= 0 or not 0 < delta < 1:
        raise ValueError(f"need epsilon > 0 and 0 < delta < 1, got epsilon={epsilon}, delta={delta}")
    std = clipping_norm * math.sqrt(2 * math.log(1.25 / delta)) / epsilon
    generator = torch.Generator().manual_seed(seed)
    return [g + std * torch.randn(g.shape, generator=generator) for g in clip(grads, clipping_norm)]


def noise_like(grads: list, seed: int = 0) -> list:
    """The negative control: an 'update' of pure noise with the same per-tensor scale as `grads`."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(g.shape, generator=generator) * float(g.std()) for g in grads]


def attack(model: nn.Module, views: dict, batches: list, steps: int = 200, seed: int = 0) -> dict:
    """Run DLG on every view of every client and score it against that client's own batch.

    `views[name]` is a function (client index) -> (gradients the server sees, number of images the attacker
    reconstructs); `batches[i]` = (X, y) of client i. Returns {name: {"psnr", "ssim", "labels" (one value
    per client, averaged over its batch), "images" (client 0's matched reconstructions)}}.
    """
    out = {}
    for name, view in views.items():
        rows = {"psnr": [], "ssim": [], "labels": [], "images": None}
        for i, (X, y) in enumerate(batches):
            grads, n_images = view(i)
            images, labels = invert(model, grads, n_images, steps=steps, seed=seed + i)
            scores = match_scores(images, X)
            rows["psnr"].append(float(scores["psnr"].mean()))
            rows["ssim"].append(float(scores["ssim"].mean()))
            rows["labels"].append(label_recovery(labels, y))
            if i == 0:
                rows["images"] = images[scores["match"]]
        out[name] = {k: (np.array(v) if k != "images" else v) for k, v in rows.items()}
    return out


def plot_reconstructions(originals, reconstructions: dict):
    """Originals in the top row, then one row per attacked view (its matched reconstructions)."""
    import matplotlib.pyplot as plt

    rows = {"original": np.asarray(originals), **reconstructions}
    n = len(originals)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n + 1.6, 1.3 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            axes[r, c].imshow(images[c], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set(xticks=[], yticks=[])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig
