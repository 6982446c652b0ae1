"""Explainable AI: attributions that can be trusted, shortcuts they reveal, counterfactuals, causes, model cards.

The lesson calls Captum (`IntegratedGradients`, `Saliency`, `LayerIntegratedGradients`) in its cells; this
module holds what surrounds those calls:
- `attribute`: one entry point that refuses models Captum cannot differentiate, with a clear message;
- `randomized_copy` + `sanity_check`: the model-randomisation sanity check (Adebayo et al. 2018), scored on
  foreground pixels and by SSIM so that maps which merely copy the input cannot pass; `edge_detector` is the
  negative control (it ignores the model, so it must fail);
- `deletion_curve`: faithfulness, the model's confidence as the most-credited inputs are removed first;
- `add_marker` / `marker_share`: a dataset with a spurious feature and a measure of how much attribution
  lands on it;
- `linear_counterfactual`: the smallest change that flips a linear model's decision;
- `counterfactual_search` + `score_counterfactual`: counterfactuals with immutable features, plausible values
  and few changes, on a real credit table; `reason_codes`: adverse-action reasons from a linear model;
- `simulate_confounded` + `backdoor_effect`: a small causal graph where a feature predicts the label but does
  not cause it, and the adjustment that recovers the true effect from observational data;
- `MeanPooledClassifier` + `token_attributions`: MiniLM token attributions for a sentiment classifier;
- `model_card`: a Markdown explanation report (intended use, data, metrics per slice, limits).
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kit.errors import unknown

__all__ = ["attribute", "randomized_copy", "rank_correlation", "map_similarity", "sanity_check", "edge_detector",
           "deletion_curve", "add_marker", "marker_share", "linear_counterfactual", "counterfactual_search",
           "score_counterfactual", "reason_codes", "simulate_confounded", "intervention_effect", "backdoor_effect",
           "MeanPooledClassifier", "token_attributions", "model_card", "show_attributions"]


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


def map_similarity(a, b, images, metric: str = "foreground", threshold: float = 0.1) -> np.ndarray:
    """Per-image similarity of two attribution maps (absolute values), in [-1, 1].

    "foreground": Spearman rank correlation over the pixels where the image is brighter than `threshold`
    (on the black background every input-times-gradient map is 0, and those ties inflate a whole-image
    correlation to ~0.99 whatever the model); "ssim": structural similarity of the max-normalised maps,
    as in Adebayo et al. 2018.
    """
    from scipy.stats import spearmanr

    a, b = np.abs(np.asarray(a, dtype=float)), np.abs(np.asarray(b, dtype=float))
    images = np.asarray(images, dtype=float)
    if a.shape != b.shape or a.shape[0] != images.shape[0]:
        raise ValueError(f"attribution shapes differ: {a.shape} vs {b.shape} (images {images.shape})")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if metric == "foreground":
        masks = images.reshape(len(images), -1) > threshold
        scores = [spearmanr(x[m], y[m]).statistic if m.sum() > 2 else np.nan for x, y, m in zip(a, b, masks)]
        return np.nan_to_num(np.asarray(scores, dtype=float), nan=1.0)   # constant maps: identical, not different
    if metric == "ssim":
        from skimage.metrics import structural_similarity

        side = int(round(np.sqrt(a.shape[1])))
        norm = lambda m: (m / (m.max() or 1.0)).reshape(side, side)   # noqa: E731
        return np.array([structural_similarity(norm(x), norm(y), data_range=1.0) for x, y in zip(a, b)])
    raise unknown("metric", metric, ("foreground", "ssim"))


def sanity_check(method, model, randomised_model, X, target, reference_model=None, metric: str = "foreground"):
    """The model-randomisation test for one attribution method (Adebayo et al. 2018).

    `method(model, X, target)` returns attributions. The method explains the *model* when its map for the
    trained model resembles the map for an independently trained twin (`reference_model`) more than the map for
    `randomised_model`. Returns {"random": per-image similarity trained vs randomised, "reference": trained vs
    twin (if given), "effect", "ci": paired bootstrap of reference - random (> 0 passes)}.
    """
    from kit import stats

    trained = np.asarray(method(model, X, target))
    images = np.asarray(X).reshape(len(X), -1)
    out = {"random": map_similarity(trained, np.asarray(method(randomised_model, X, target)), images, metric)}
    if reference_model is not None:
        out["reference"] = map_similarity(trained, np.asarray(method(reference_model, X, target)), images, metric)
        out.update(stats.paired_bootstrap(out["reference"], out["random"]))
    return out


def edge_detector(model, X, target=None) -> torch.Tensor:
    """A Sobel edge map of the input that never looks at `model`: the sanity check's negative control."""
    from scipy import ndimage

    x = torch.as_tensor(X).detach().float().numpy()
    flat = x.reshape(-1, *x.shape[-2:])
    edges = np.hypot(ndimage.sobel(flat, axis=1), ndimage.sobel(flat, axis=2))
    return torch.as_tensor(edges.reshape(x.shape))


def deletion_curve(predict, x, attribution, baseline=0.0, steps: int = 20, order: str = "most") -> np.ndarray:
    """Faithfulness: the model's score as inputs are replaced by `baseline`, most-credited first.

    `predict(batch)` returns the score of the class being explained (one number per row); `attribution` has
    x's shape. order="most" deletes the largest positive attributions first; "random" in a random order (the
    baseline a faithful map must beat). Returns `steps + 1` scores, from the intact input to all deleted; a
    lower area under the curve means a more faithful map (Samek et al. 2017; Petsiuk et al. 2018).
    """
    x = np.asarray(x, dtype=np.float32)
    flat, credit = x.ravel(), np.asarray(attribution, dtype=float).ravel()
    if credit.shape != flat.shape:
        raise ValueError(f"attribution shape {np.shape(attribution)} does not match the input {x.shape}")
    if order == "most":
        ranking = np.argsort(-credit, kind="stable")
    elif order == "random":
        ranking = np.random.default_rng(0).permutation(flat.size)
    else:
        raise unknown("order", order, ("most", "random"))
    fill = np.broadcast_to(np.asarray(baseline, dtype=np.float32), x.shape).ravel()
    batch = np.repeat(flat[None], steps + 1, axis=0)
    for k in range(1, steps + 1):
        gone = ranking[:int(round(k / steps * flat.size))]
        batch[k, gone] = fill[gone]
    return np.asarray(predict(batch.reshape(steps + 1, *x.shape)), dtype=float)


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


def counterfactual_search(predict, x, candidates: dict, scale, max_changes: int = 2, wanted: int = 1):
    """The cheapest change to `x` that makes `predict` return `wanted`, touching at most `max_changes` features.

    `candidates` maps each feature index a person can act on to the values it may take (immutable features are
    simply absent; plausible ranges are the values listed). Cost = sum of |change| / `scale` (per-feature spread),
    so fewer and smaller changes win. Exhaustive over 1, then 2, ... features. Returns the counterfactual, or
    None when no change within the limits flips the decision.
    """
    import itertools

    x, scale = np.asarray(x, dtype=float), np.asarray(scale, dtype=float)
    if max_changes < 1:
        raise ValueError("max_changes must be at least 1")
    options = {j: [v for v in values if v != x[j]] for j, values in candidates.items()}
    for k in range(1, max_changes + 1):
        rows = []
        for combo in itertools.combinations(sorted(options), k):
            for values in itertools.product(*(options[j] for j in combo)):
                z = x.copy()
                z[list(combo)] = values
                rows.append(z)
        if not rows:
            continue
        rows = np.array(rows)
        ok = np.asarray(predict(rows)) == wanted
        if ok.any():
            cost = np.where(ok, (np.abs(rows - x) / scale).sum(1), np.inf)
            return rows[int(np.argmin(cost))]
    return None


def score_counterfactual(predict, x, x_cf, immutable, plausible, wanted: int = 1) -> dict:
    """Validity (the decision flips), sparsity (features changed), immutables kept, plausibility.

    `immutable`: indices that must not change (age, sex, ...); `plausible(rows)` -> True where a row looks like
    real data (e.g. a LocalOutlierFactor fitted on the training table, `lof.predict(rows) == 1`).
    """
    if x_cf is None:
        return {"valid": 0, "changed": 0, "immutable_kept": 1, "plausible": 0, "actionable": 0}
    x, x_cf = np.asarray(x, dtype=float), np.asarray(x_cf, dtype=float)
    changed = np.flatnonzero(~np.isclose(x, x_cf))
    valid = int(np.asarray(predict(x_cf[None]))[0] == wanted)
    kept = int(not set(changed.tolist()) & set(immutable))
    real = int(bool(np.asarray(plausible(x_cf[None]))[0]))
    return {"valid": valid, "changed": int(len(changed)), "immutable_kept": kept, "plausible": real,
            "actionable": int(valid and kept and real)}


def reason_codes(contributions, feature_names, k: int = 4, exclude=()) -> list[str]:
    """Adverse-action reasons: the `k` features that pushed this applicant's score down the most.

    `contributions[j]` is feature j's push on the score relative to an average applicant (for a linear model,
    coef_j * (x_j - mean_j) summed over its encoded columns). Features in `exclude` (protected attributes)
    are never given as a reason.
    """
    contributions = np.asarray(contributions, dtype=float)
    order = [j for j in np.argsort(contributions) if contributions[j] < 0 and feature_names[j] not in exclude]
    return [f"{feature_names[j]} (lowered the score by {-contributions[j]:.2f})" for j in order[:k]]


@dataclass
class ConfoundedData:
    X: np.ndarray       # columns: x_confounded, x_causal
    y: np.ndarray
    z: np.ndarray       # the confounder, recorded (in real data: a measured common cause, e.g. age)
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
    return ConfoundedData(np.column_stack([x_conf, x_causal]), y, z)


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


def backdoor_effect(X, y, feature: int, adjust=None, low: float = -1.0, high: float = 1.0) -> float:
    """P(y=1 | do(X[:, feature]=high)) - P(y=1 | do(...=low)) estimated from observational data.

    Backdoor adjustment by standardisation (the g-formula): fit P(y | X, adjust) with a logistic model that
    includes the confounders in `adjust`, set the feature to `high` and to `low` for every row, and average
    the predicted probabilities. Without `adjust` this is the naive estimate that confounding biases.
    """
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, dtype=float)
    design = X if adjust is None else np.column_stack([X, np.asarray(adjust, dtype=float)])
    if not 0 <= feature < X.shape[1]:
        raise ValueError(f"feature index {feature} is outside the {X.shape[1]} columns of X")
    outcome = LogisticRegression(C=1e4, max_iter=2000).fit(design, y)
    up, down = design.copy(), design.copy()
    up[:, feature], down[:, feature] = high, low
    return float(outcome.predict_proba(up)[:, 1].mean() - outcome.predict_proba(down)[:, 1].mean())


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
