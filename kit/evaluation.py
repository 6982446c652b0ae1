"""Dynamic evaluation: a model deployed on a drifting stream, watched, and retrained when it drifts.

The pieces a lesson needs and would otherwise repeat in cells:
- `drift_images` / `make_stream`: real MNIST digits arriving in batches, rotating and getting noisier
  after a chosen step (a new "writing style" the model never saw);
- `DriftMonitor`: a two-sample Kolmogorov-Smirnov test (`scipy.stats.ks_2samp`) of the model's
  confidence on the current window against a reference window, with a patience rule against
  false alarms; `psi` (population stability index) as a second, binned view;
- `replay`: plays a stream through a model with labels that arrive `label_delay` steps late, scoring it on a
  disjoint evaluation stream, and retrains it on arrived feedback when the monitor fires (or every k steps:
  the periodic baseline); the monitor's new reference is held out from the retraining set;
- `group_stream` + `fairness_over_time`: a stream of real people (UCI Adult) whose make-up drifts, and a
  group-fairness gap (fairlearn's demographic-parity or equalised-odds difference) per step; `gap_change`
  (bootstrap CI of the gap's change) and `gap_alarms` (a label-free monitor of the gap).
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

__all__ = ["Batch", "drift_images", "make_stream", "DriftMonitor", "psi", "probabilities", "replay", "window_mean",
           "plot_stream", "group_stream", "fairness_over_time", "parity_gap", "gap_change", "gap_alarms"]


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
                seed: int = 0, reuse: bool = True) -> list[Batch]:
    """`steps` batches drawn from (X, y); from `drift_start` the drift ramps up over `ramp` steps.

    `drift_start=None` gives a stream with no drift (for measuring false alarms). With `reuse=False` no
    example appears twice in the stream (the feedback stream a model is retrained on); with `reuse=True`
    examples may recur in later steps (an evaluation stream nobody trains on).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("a stream needs at least one step of at least one example")
    if batch_size > len(X):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(X)} examples to draw from")
    if not reuse and steps * batch_size > len(X):
        raise ValueError(f"{steps} steps of {batch_size} without reuse need {steps * batch_size} examples, "
                         f"only {len(X)} given: pass reuse=True or fewer steps")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    batches = []
    for step in range(steps):
        index = order[step * batch_size:(step + 1) * batch_size] if not reuse else \
            rng.choice(len(X), batch_size, replace=False)
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


def replay(model, stream: list[Batch], monitor: DriftMonitor | None = None, retrain=None, memory: int = 8,
           eval_stream: list[Batch] | None = None, label_delay: int = 0, every: int | None = None) -> pd.DataFrame:
    """Play a stream through `model`, retraining it on labelled feedback when the monitor fires (or, with
    `every=k`, every k steps without a monitor: the periodic baseline).

    - Labels of the batch seen at step t arrive at step t + `label_delay`; `retrain(model, X, y)` gets the
      last `memory` batches whose labels have arrived, never the newest batch (held out, see below).
    - After a retrain the monitor's new reference is the model's confidence on the batches it was *not*
      retrained on (the newest, still unlabelled or held-out ones), never on its training images.
    - Accuracy ("acc") is measured on `eval_stream[t]` when given: a disjoint pool nobody trains on, drifted
      like the stream. Without it, on the stream's batch before its label arrives ("acc_stream", always kept).
    Returns one row per step: acc, acc_stream, severity, p_value, alarm, retrained.
    """
    if label_delay < 0:
        raise ValueError(f"label_delay must be >= 0 steps, got {label_delay}")
    if every is not None and every < 1:
        raise ValueError(f"every must be a positive number of steps, got {every}")
    if eval_stream is not None and len(eval_stream) < len(stream):
        raise ValueError(f"eval_stream has {len(eval_stream)} steps, the stream {len(stream)}: give one per step")
    if retrain is not None and every is None and monitor is None:
        raise ValueError("retraining needs a trigger: a DriftMonitor, or every=k steps for periodic retraining")
    rows, seen = [], []
    for t, batch in enumerate(stream):
        probs = probabilities(model, batch.X)
        row = {"step": batch.step, "severity": batch.severity, "acc_stream": float((probs.argmax(1) == batch.y).mean())}
        if eval_stream is not None:
            e = eval_stream[t]
            row["acc"] = float((probabilities(model, e.X).argmax(1) == e.y).mean())
        else:
            row["acc"] = row["acc_stream"]
        row["alarm"], row["p_value"] = monitor.update(probs.max(1)) if monitor is not None else (False, np.nan)
        seen.append(batch)
        trigger = row["alarm"] if every is None else (t + 1) % every == 0
        row["retrained"] = False
        if retrain is not None and trigger:
            newest_labelled = min(t - label_delay, t - 1)          # hold out at least the newest batch
            train_on = [b for b in seen if newest_labelled - memory < b.step <= newest_labelled]
            if train_on:
                retrain(model, np.concatenate([b.X for b in train_on]), np.concatenate([b.y for b in train_on]))
                held_out = [b for b in seen if b.step > newest_labelled]
                if monitor is not None:
                    monitor.reset(probabilities(model, np.concatenate([b.X for b in held_out])).max(1))
                row["retrained"] = True
        seen = seen[-(memory + label_delay + 1):]
        rows.append(row)
    return pd.DataFrame(rows)


def window_mean(frame: pd.DataFrame, column: str = "acc", window: int = 5) -> pd.Series:
    """Sliding-window mean of a per-step metric (what a live dashboard shows)."""
    if window > len(frame):
        raise ValueError(f"window {window} is longer than the stream ({len(frame)} steps)")
    return frame[column].rolling(window, min_periods=1).mean()


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
        row.update({f"n_{value}": int((g == value).sum()) for value in np.unique(group)})
        rows.append(row)
    return pd.DataFrame(rows)


def parity_gap(y_pred, group) -> float:
    """Demographic-parity gap: the largest minus the smallest rate of positive predictions across groups."""
    y_pred, group = np.asarray(y_pred, float), np.asarray(group)
    rates = [y_pred[group == value].mean() for value in np.unique(group)]
    return float(max(rates) - min(rates))


def gap_change(y_pred, group, before, after, n: int = 2000, seed: int = 0) -> dict:
    """{"effect", "ci"}: the demographic-parity gap on rows `after` minus the gap on rows `before`, with a 95%
    bootstrap interval (rows resampled within each period). Positive = the gap widened."""
    y_pred, group = np.asarray(y_pred, float), np.asarray(group)
    before, after = np.asarray(before), np.asarray(after)
    if len(before) == 0 or len(after) == 0:
        raise ValueError("gap_change needs rows in both periods")
    rng = np.random.default_rng(seed)
    effect = parity_gap(y_pred[after], group[after]) - parity_gap(y_pred[before], group[before])
    draws = []
    for _ in range(n):
        b, a = rng.choice(before, len(before)), rng.choice(after, len(after))
        draws.append(parity_gap(y_pred[a], group[a]) - parity_gap(y_pred[b], group[b]))
    return {"effect": float(effect), "ci": tuple(float(q) for q in np.quantile(draws, [0.025, 0.975]))}


def gap_alarms(frame: pd.DataFrame, reference_gap: float, groups=("a", "b"), alpha: float = 1e-3,
               patience: int = 2) -> np.ndarray:
    """Per step of `fairness_over_time`'s frame: alarm when the parity gap is above `reference_gap` by more
    than a one-sided z-test at `alpha` allows (standard error from the two groups' selection rates and
    counts), `patience` steps in a row. No labels needed: only predictions and the group attribute."""
    from scipy.stats import norm

    a, b = groups
    for column in (f"selection_{a}", f"selection_{b}", f"n_{a}", f"n_{b}"):
        if column not in frame:
            seen = tuple(c.removeprefix("selection_") for c in frame if c.startswith("selection_"))
            raise ValueError(f"frame has no column {column!r}: pass the groups fairness_over_time saw, "
                             f"e.g. groups={seen}")
    pa, pb, na, nb = (frame[f"selection_{a}"], frame[f"selection_{b}"], frame[f"n_{a}"], frame[f"n_{b}"])
    se = np.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb).clip(lower=1e-9)
    above = ((frame["gap"] - reference_gap) / se > norm.ppf(1 - alpha)).to_numpy()
    run, alarms = 0, np.zeros(len(frame), bool)
    for i, flag in enumerate(above):
        run = run + 1 if flag else 0
        alarms[i] = run >= patience
    return alarms


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
