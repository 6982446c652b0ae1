"""Dynamic evaluation: a model deployed on a drifting stream, watched, and retrained when it drifts.

The pieces a lesson needs and would otherwise repeat in cells:
- `drift_images` / `make_stream`: real MNIST digits arriving in batches, rotating and getting noisier
  after a chosen step (a new "writing style" the model never saw);
- `DriftMonitor`: a two-sample Kolmogorov-Smirnov test (`scipy.stats.ks_2samp`) of the model's
  confidence on the current window against a reference window, with a patience rule against
  false alarms; `psi` (population stability index) as a second, binned view;
- `replay`: plays a stream through a model, optionally retraining it on recent labelled feedback when
  the monitor fires, and returns one row per step (accuracy, windowed accuracy, per-class accuracy);
- `fresh_questions`: arithmetic questions generated from templates and a seed, so an LLM test set can
  be new at every evaluation and cannot be memorised;
- `group_stream` + `fairness_over_time`: a stream of real people (UCI Adult) whose make-up drifts, and a
  group-fairness gap (fairlearn's demographic-parity or equalised-odds difference) per step.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

__all__ = ["Batch", "drift_images", "make_stream", "DriftMonitor", "psi", "probabilities", "replay", "window_mean",
           "slice_alerts", "fresh_questions", "answer_is_correct", "plot_stream", "group_stream", "fairness_over_time"]


@dataclass
class Batch:
    step: int
    X: np.ndarray
    y: np.ndarray
    severity: float   # 0 = like the training data, 1 = fully drifted


def drift_images(images: np.ndarray, severity: float, seed: int = 0, max_angle: float = 40,
                 noise: float = 0.15) -> np.ndarray:
    """Rotate digits by up to `max_angle` degrees, thicken their strokes and add noise, scaled by `severity`."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"drift_images expects (n, height, width) images, got shape {images.shape}")
    if not 0 <= severity <= 1:
        raise ValueError(f"severity must be in [0, 1], got {severity}")
    if severity == 0:
        return images
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(images).unsqueeze(1)
    angle = torch.from_numpy(np.deg2rad(max_angle * severity * rng.choice([-1, 1], len(images)))).float()
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False)
    x = torch.maximum(x, 0.6 * severity * F.max_pool2d(x, 3, stride=1, padding=1))   # bolder pen
    x = x + torch.from_numpy(rng.normal(0, noise * severity, x.shape).astype(np.float32))
    return x.clamp(0, 1).squeeze(1).numpy()


def make_stream(X, y, steps: int, batch_size: int, drift_start: int | None, ramp: int = 5,
                seed: int = 0) -> list[Batch]:
    """`steps` batches drawn from (X, y); from `drift_start` the drift ramps up over `ramp` steps.

    `drift_start=None` gives a stream with no drift (for measuring false alarms).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("a stream needs at least one step of at least one example")
    if batch_size > len(X):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(X)} examples to draw from")
    rng = np.random.default_rng(seed)
    batches = []
    for step in range(steps):
        index = rng.choice(len(X), batch_size, replace=False)
        severity = 0.0 if drift_start is None or step < drift_start else min(1.0, (step - drift_start + 1) / ramp)
        batches.append(Batch(step, drift_images(X[index], severity, seed + step), np.asarray(y)[index], severity))
    return batches


def psi(reference, current, bins: int = 10) -> float:
    """Population stability index of a score between two samples (> 0.2 is usually called drift)."""
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    ref = np.histogram(reference, edges)[0] / len(reference) + 1e-6
    cur = np.histogram(current, edges)[0] / len(current) + 1e-6
    return float(np.sum((cur - ref) * np.log(cur / ref)))


class DriftMonitor:
    """Raises an alarm when the KS test rejects "same distribution" for `patience` windows in a row.

    The monitored score is the model's confidence (max softmax probability): it needs no labels,
    so drift can be seen before any feedback arrives.
    """

    def __init__(self, reference_scores, alpha: float = 1e-3, patience: int = 2):
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.reference = np.asarray(reference_scores)
        self.alpha, self.patience, self._run = alpha, patience, 0

    def update(self, scores) -> tuple[bool, float]:
        """Test one window of scores; return (alarm, p-value)."""
        p_value = stats.ks_2samp(self.reference, np.asarray(scores)).pvalue
        self._run = self._run + 1 if p_value < self.alpha else 0
        return self._run >= self.patience, float(p_value)

    def reset(self, reference_scores):
        """Start again from a new reference (after retraining the model)."""
        self.reference, self._run = np.asarray(reference_scores), 0


def probabilities(model, X) -> np.ndarray:
    """Class probabilities of an image classifier for (n, 28, 28) images (no gradients)."""
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(X).unsqueeze(1)), dim=1).numpy()


def replay(model, stream: list[Batch], monitor: DriftMonitor | None = None, retrain=None,
           memory: int = 8) -> pd.DataFrame:
    """Play a stream through `model`; with `retrain`, refit on recent feedback when the monitor fires.

    `retrain(model, X, y)` receives the last `memory` labelled batches (labels arrive as feedback
    after each prediction). Returns one row per step with accuracy, p-value, alarm, per-class accuracy.
    """
    rows, seen = [], []
    for batch in stream:
        probs = probabilities(model, batch.X)
        predicted = probs.argmax(1)
        row = {"step": batch.step, "severity": batch.severity, "acc": float((predicted == batch.y).mean())}
        for label in np.unique(batch.y):
            row[f"acc_class_{label}"] = float((predicted[batch.y == label] == label).mean())
        if monitor is not None:
            row["alarm"], row["p_value"] = monitor.update(probs.max(1))
        seen = (seen + [batch])[-memory:]
        row["retrained"] = False
        if retrain is not None and row.get("alarm"):
            X_recent = np.concatenate([b.X for b in seen])
            y_recent = np.concatenate([b.y for b in seen])
            retrain(model, X_recent, y_recent)
            monitor.reset(probabilities(model, X_recent).max(1))
            row["retrained"] = True
        rows.append(row)
    return pd.DataFrame(rows)


def window_mean(frame: pd.DataFrame, column: str = "acc", window: int = 5) -> pd.Series:
    """Sliding-window mean of a per-step metric (what a live dashboard shows)."""
    if window > len(frame):
        raise ValueError(f"window {window} is longer than the stream ({len(frame)} steps)")
    return frame[column].rolling(window, min_periods=1).mean()


def slice_alerts(frame: pd.DataFrame, window: int = 5, gap: float = 0.15) -> pd.DataFrame:
    """Steps where a class's windowed accuracy falls `gap` or more below the overall windowed accuracy."""
    overall = window_mean(frame, "acc", window)
    alerts = []
    for column in [c for c in frame.columns if c.startswith("acc_class_")]:
        behind = overall - frame[column].rolling(window, min_periods=1).mean()
        for step in frame["step"][behind >= gap]:
            alerts.append({"step": int(step), "slice": column.removeprefix("acc_class_"),
                           "behind_by": float(behind[frame["step"] == step].iloc[0])})
    return pd.DataFrame(alerts, columns=["step", "slice", "behind_by"])


def group_stream(n_rows: int, group, steps: int, batch_size: int, drift_start: int | None, shifted,
                 strength: float = 3.0, ramp: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Row indices for each step of a stream drawn from a table of people, without replacement per step.

    Before `drift_start` rows are drawn uniformly. After it, rows where `group` is 0 and `shifted` is True
    become exp(-strength * r) times as likely, r ramping from 0 to 1 over `ramp` steps: the population of
    one group changes (e.g. fewer women in full-time work reach the model), as after a policy or a market
    change. `drift_start=None` gives a stream with no drift (the control).
    """
    group, shifted = np.asarray(group), np.asarray(shifted, dtype=bool)
    if len(group) != n_rows or len(shifted) != n_rows:
        raise ValueError(f"group and shifted need one value per row ({n_rows}), got {len(group)} and {len(shifted)}")
    if batch_size > n_rows:
        raise ValueError(f"batch_size {batch_size} is larger than the table ({n_rows} rows)")
    rng = np.random.default_rng(seed)
    out = []
    for step in range(steps):
        r = 0.0 if drift_start is None or step < drift_start else min(1.0, (step - drift_start + 1) / ramp)
        weight = np.where((group == 0) & shifted, np.exp(-strength * r), 1.0)
        out.append(rng.choice(n_rows, batch_size, replace=False, p=weight / weight.sum()))
    return out


def fairness_over_time(y_true, y_pred, group, steps, metric: str = "demographic_parity") -> pd.DataFrame:
    """One row per step: accuracy, the group-fairness gap (fairlearn), and each group's selection rate.

    `steps` is a list of row-index arrays (from `group_stream`); `metric` is "demographic_parity" (difference
    in the rate of positive predictions between groups) or "equalized_odds" (the larger of the differences
    in true- and false-positive rates).
    """
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    gaps = {"demographic_parity": demographic_parity_difference, "equalized_odds": equalized_odds_difference}
    if metric not in gaps:
        from kit.errors import unknown

        raise unknown("metric", metric, gaps)
    y_true, y_pred, group = np.asarray(y_true), np.asarray(y_pred), np.asarray(group)
    rows = []
    for step, index in enumerate(steps):
        t, p, g = y_true[index], y_pred[index], group[index]
        row = {"step": step, "acc": float((t == p).mean()), "gap": float(gaps[metric](t, p, sensitive_features=g))}
        row.update({f"selection_{value}": float(p[g == value].mean()) for value in np.unique(group)})
        rows.append(row)
    return pd.DataFrame(rows)


_TEMPLATES = [
    ("What is {a} plus {b}? Answer with the number only.", lambda a, b: a + b),
    ("What is {a} minus {b}? Answer with the number only.", lambda a, b: a - b),
    ("If you have {a} apples and get {b} more, how many apples do you have? Answer with the number only.",
     lambda a, b: a + b),
]


def fresh_questions(n: int, seed: int, low: int = 2, high: int = 20) -> list[dict]:
    """`n` arithmetic questions drawn from templates with numbers from `seed`: a new test set per seed."""
    if n < 1:
        raise ValueError("ask for at least one question")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        template, solve = _TEMPLATES[rng.integers(len(_TEMPLATES))]
        a, b = sorted(rng.integers(low, high, 2).tolist(), reverse=True)
        out.append({"question": template.format(a=a, b=b), "answer": str(solve(a, b))})
    return out


def answer_is_correct(reply: str, answer: str) -> bool:
    """True when the model's answer is the expected number: the number after '=' if it wrote an
    equation ("12 + 7 = 19"), else the first number in its reply."""
    import re

    after_equals = re.findall(r"=\s*(-?\d+)", reply)
    found = after_equals or re.findall(r"-?\d+", reply)
    return bool(found) and found[0] == answer


def plot_stream(frames: dict, drift_start: int, static_acc: float, window: int = 5, title: str = ""):
    """Windowed accuracy of each run against the static test accuracy, drift onset and retrains marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.axhline(static_acc, color="gray", ls="--", label=f"static test set ({static_acc:.2f})")
    ax.axvline(drift_start, color="red", ls=":", label="drift begins")
    for name, frame in frames.items():
        ax.plot(frame["step"], window_mean(frame, "acc", window), label=f"{name} (window of {window})")
        if "retrained" in frame and frame["retrained"].any():
            ax.scatter(frame["step"][frame["retrained"]], window_mean(frame, "acc", window)[frame["retrained"]],
                       marker="v", s=60, zorder=3, label=f"{name}: retrained")
    ax.set(xlabel="step of the stream", ylabel="accuracy", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    plt.close(fig)
    return fig
