"""Explainable AI: attributions that can be trusted, shortcuts they reveal, counterfactuals, causes, model cards.

The lesson calls Captum (`IntegratedGradients`, `Saliency`, `LayerIntegratedGradients`) in its cells; this
module holds what surrounds those calls:
- `attribute`: one entry point that refuses models Captum cannot differentiate, with a clear message;
- `randomized_copy` + `rank_correlation`: the model-randomisation sanity check (Adebayo et al. 2018);
- `add_marker` / `marker_share`: a dataset with a spurious feature and a measure of how much attribution
  lands on it;
- `linear_counterfactual`: the smallest change that flips a linear model's decision;
- `simulate_confounded`: a small causal graph where a feature predicts the label but does not cause it;
- `MeanPooledClassifier` + `token_attributions`: MiniLM token attributions for a sentiment classifier;
- `model_card`: a Markdown explanation report (intended use, data, metrics per slice, limits).
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kit.errors import unknown

__all__ = ["attribute", "randomized_copy", "rank_correlation", "add_marker", "marker_share",
           "linear_counterfactual", "simulate_confounded", "intervention_effect", "MeanPooledClassifier",
           "token_attributions", "model_card", "show_attributions"]


def attribute(method_cls, model, inputs, target, **kwargs) -> torch.Tensor:
    """Run a Captum attribution method (e.g. `IntegratedGradients`) on a torch model.

    A scikit-learn estimator, a plain function, or a model without trainable tensors cannot be
    differentiated, so gradient attributions are meaningless: that is an error, with a way out.
    """
    if not isinstance(model, nn.Module) or not any(p.requires_grad for p in model.parameters()):
        raise TypeError(f"{type(model).__name__} is not a differentiable torch model, so gradient-based "
                        "attributions do not apply. Use a model-agnostic method instead (captum.attr."
                        "FeaturePermutation or KernelShap), or read an interpretable model's coefficients.")
    model.eval()
    inputs = torch.as_tensor(inputs).float().detach().clone().requires_grad_(True)
    return method_cls(model).attribute(inputs, target=target, **kwargs).detach()


def randomized_copy(model: nn.Module, seed: int = 12345) -> nn.Module:
    """The same architecture with every weight re-drawn: explanations of it should look different."""
    import copy

    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in clone.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return clone


def rank_correlation(a, b) -> float:
    """Mean Spearman rank correlation of absolute attributions, example by example."""
    from scipy.stats import spearmanr

    a, b = np.abs(np.asarray(a)).reshape(len(a), -1), np.abs(np.asarray(b)).reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"attribution shapes differ: {a.shape} vs {b.shape}")
    return float(np.nanmean([spearmanr(x, y).statistic for x, y in zip(a, b)]))


def add_marker(images, mask, size: int = 4, value: float = 1.0) -> np.ndarray:
    """Copy of `images` (n, h, w) with a bright square in the top-left corner wherever `mask` is True."""
    images = np.array(images, dtype=np.float32, copy=True)
    if images.ndim != 3:
        raise ValueError(f"add_marker expects (n, height, width) images, got {images.shape}")
    images[np.asarray(mask, dtype=bool), :size, :size] = value
    return images


def marker_share(attributions, size: int = 4) -> float:
    """Share of total absolute attribution that falls on the marker square (its area share is tiny)."""
    a = np.abs(np.asarray(attributions)).reshape(len(attributions), *np.asarray(attributions).shape[-2:])
    return float(a[:, :size, :size].sum() / max(a.sum(), 1e-12))


def linear_counterfactual(x, coef, intercept, margin: float = 0.05):
    """The closest point (in L2) to `x` on the other side of a linear decision boundary.

    For a score s = coef·x + intercept, move x along coef by just past the boundary (s -> -margin·sign(s)).
    Returns (x_counterfactual, change).
    """
    x, coef = np.asarray(x, dtype=float), np.asarray(coef, dtype=float).ravel()
    if not np.any(coef):
        raise ValueError("all coefficients are zero: no change of the inputs can flip this model")
    score = float(x @ coef + intercept)
    step = (score + margin * np.sign(score or 1.0)) / (coef @ coef)
    change = -step * coef
    return x + change, change


@dataclass
class ConfoundedData:
    X: np.ndarray       # columns: x_confounded, x_causal
    y: np.ndarray
    names: tuple = ("x_confounded", "x_causal")


def simulate_confounded(n: int, seed: int = 0, do_confounded=None) -> ConfoundedData:
    """A causal graph Z -> x_confounded, Z -> y, x_causal -> y; `do_confounded` sets x_confounded by intervention."""
    if n < 1:
        raise ValueError("simulate at least one sample")
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    x_conf = z + 0.3 * rng.normal(size=n) if do_confounded is None else np.full(n, float(do_confounded))
    x_causal = rng.normal(size=n)
    y = (1.5 * z + 1.0 * x_causal + 0.5 * rng.normal(size=n) > 0).astype(int)
    return ConfoundedData(np.column_stack([x_conf, x_causal]), y)


def intervention_effect(n: int, feature: str, low: float = -1.0, high: float = 1.0, seed: int = 0) -> float:
    """P(y=1 | do(feature=high)) - P(y=1 | do(feature=low)) in the simulated world: the causal effect."""
    if feature == "x_confounded":
        return float(simulate_confounded(n, seed, do_confounded=high).y.mean()
                     - simulate_confounded(n, seed, do_confounded=low).y.mean())
    if feature != "x_causal":
        raise unknown("feature", feature, ("x_causal", "x_confounded"))
    rng = np.random.default_rng(seed)
    z, noise = rng.normal(size=n), 0.5 * rng.normal(size=n)
    return float(((1.5 * z + high + noise) > 0).mean() - ((1.5 * z + low + noise) > 0).mean())


class MeanPooledClassifier(nn.Module):
    """A sentence classifier: a transformer encoder, mean pooling over tokens, and a linear head.

    Built from a sentence-transformers checkpoint (MiniLM) so its first layer (`embeddings`) can be
    handed to Captum's `LayerIntegratedGradients`.
    """

    def __init__(self, encoder, head: nn.Linear):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).float()
        return self.head((hidden * mask).sum(1) / mask.sum(1))


def token_attributions(classifier: MeanPooledClassifier, tok, text: str, target: int, n_steps: int = 20):
    """Integrated-gradients attribution of each token of `text` to class `target` (baseline: [PAD] tokens)."""
    from captum.attr import LayerIntegratedGradients

    enc = tok(text, return_tensors="pt", truncation=True, max_length=64)
    baseline = torch.full_like(enc["input_ids"], tok.pad_token_id)
    baseline[0, 0], baseline[0, -1] = enc["input_ids"][0, 0], enc["input_ids"][0, -1]   # keep [CLS] / [SEP]
    lig = LayerIntegratedGradients(classifier, classifier.encoder.embeddings)
    scores = lig.attribute(enc["input_ids"], baselines=baseline, target=target,
                           additional_forward_args=(enc["attention_mask"],), n_steps=n_steps)
    per_token = scores.sum(-1).squeeze(0).detach().numpy()
    tokens = tok.convert_ids_to_tokens(enc["input_ids"][0])
    return [(t, float(s)) for t, s in zip(tokens, per_token) if t not in ("[CLS]", "[SEP]")]


def show_attributions(images, attributions, titles=None, title: str = ""):
    """Images beside their attribution heat maps (red: pushes towards the class, blue: away)."""
    import matplotlib.pyplot as plt

    images, attributions = np.asarray(images), np.asarray(attributions)
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.4), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(images[i].reshape(28, 28), cmap="gray")
        limit = np.abs(attributions[i]).max() or 1
        axes[1, i].imshow(attributions[i].reshape(28, 28), cmap="bwr", vmin=-limit, vmax=limit)
        axes[0, i].set_title(titles[i] if titles is not None else "", fontsize=8)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def model_card(name: str, intended_use: str, data: str, metrics: dict, slices: dict, limits: list,
               explanation: str = "") -> str:
    """A Markdown model card / explanation report, as regulators and users ask for (EU AI Act Art. 13 style)."""
    if not metrics:
        raise ValueError("a model card needs at least one measured metric")
    lines = [f"# Model card: {name}", "", "## Intended use", intended_use, "", "## Data", data, "",
             "## Metrics", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
    if slices:
        lines += ["", "## Metrics per slice", "| slice | n | accuracy |", "|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {v['accuracy']:.3f} |" for k, v in slices.items()]
    if explanation:
        lines += ["", "## How it decides", explanation]
    lines += ["", "## Limits"] + [f"- {item}" for item in limits]
    return "\n".join(lines) + "\n"
