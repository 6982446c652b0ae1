"""How big must a gap be to mean something? Confidence intervals for the lessons' claims.

Test sets in this course hold 12 to 400 items, so a difference of two points can be noise.
Three tools, each returning a plain dict that a cell can pass straight to `report.claim`:

    stats.bootstrap_ci(correct)              # {"estimate": 0.91, "ci": (0.87, 0.94)}: one metric on one set
    stats.paired_bootstrap(lora, constant)   # {"effect": 0.12, "ci": (0.05, 0.19)}: two models, same items
    stats.over_seeds(train_and_score, [0, 1, 2])   # cheap trainings repeated with several seeds

The bootstrap is scipy's (`scipy.stats.bootstrap`, bias-corrected and accelerated, with a percentile
fallback where BCa is undefined); the seed interval is Student's t (`scipy.stats.t`).
"""
import numpy as np

__all__ = ["bootstrap_ci", "paired_bootstrap", "over_seeds", "positive"]


def _as_array(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise ValueError(f"{name} is empty: score at least one item before asking for an interval")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values: the measurement failed upstream")
    return array


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def _mean_difference(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _bootstrap(samples, statistic, paired: bool, n: int, level: float, seed: int) -> tuple[float, float]:
    """scipy's BCa bootstrap; percentile where BCa is undefined (e.g. every item scored the same)."""
    import warnings

    from scipy import stats as sps

    vectorized = statistic is _mean or statistic is _mean_difference  # numpy along an axis: 100x faster
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DegenerateDataWarning: handled by the fallback below
            result = sps.bootstrap(samples, statistic, n_resamples=n, confidence_level=level, method=method,
                                   paired=paired, vectorized=vectorized, random_state=np.random.default_rng(seed))
        low, high = result.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return float(low), float(high)
    # all resamples identical: the interval is the point itself
    value = float(statistic(*samples)) if not vectorized else float(statistic(*samples, axis=-1))
    return value, value


def bootstrap_ci(values_or_correct, stat=np.mean, n: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """A metric on one test set with its bootstrap confidence interval.

    `values_or_correct` holds one number per item (1/0 for right/wrong, or a loss, or a score);
    `stat` turns them into the metric (the mean gives accuracy). Returns {"estimate", "ci"}.
    """
    values = _as_array(values_or_correct, "values_or_correct")
    estimate = float(stat(values))
    if values.size == 1:
        return {"estimate": estimate, "ci": (estimate, estimate)}
    statistic = _mean if stat is np.mean else stat
    return {"estimate": estimate, "ci": _bootstrap((values,), statistic, False, n, level, seed)}


def paired_bootstrap(a, b, stat=np.mean, n: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """The difference stat(a) - stat(b) of two models scored on the SAME items, with its CI.

    Resampling items (not models) keeps each item's pair together, which is what makes a small
    test set informative: both models meet the same easy and hard items. Returns {"effect", "ci"}.
    """
    a, b = _as_array(a, "a"), _as_array(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap needs one score per item for both models: got {a.size} and {b.size} "
                         "items. Score both models on the same test items.")
    effect = float(stat(a) - stat(b))
    if a.size == 1:
        return {"effect": effect, "ci": (effect, effect)}
    statistic = _mean_difference if stat is np.mean else (lambda x, y: stat(x) - stat(y))
    ci = _bootstrap((a, b), statistic, True, n, level, seed)
    return {"effect": effect, "ci": ci}


def over_seeds(fn, seeds=(0, 1, 2), level: float = 0.95) -> dict:
    """Run `fn(seed)` for each seed (a cheap training that returns a number) and summarise.

    Returns {"estimate", "mean", "sd", "values", "ci"}: the CI is Student's t interval of the mean over
    seeds, so three seeds give a wide interval, as they should. To compare two methods, return their
    difference from `fn` (paired by seed).
    """
    from scipy import stats as sps

    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError("over_seeds needs at least 2 seeds (3 or more for a useful interval)")
    values = _as_array([float(fn(seed)) for seed in seeds], "the values fn returned")
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    if sd == 0:
        ci = (mean, mean)
    else:
        low, high = sps.t.interval(level, df=len(values) - 1, loc=mean, scale=sd / np.sqrt(len(values)))
        ci = (float(low), float(high))
    return {"estimate": mean, "mean": mean, "sd": sd, "values": values.tolist(), "ci": ci}


def positive(result: dict) -> bool:
    """True when a result's interval lies entirely above 0 (the effect is there with that confidence)."""
    return bool(result["ci"][0] > 0)
