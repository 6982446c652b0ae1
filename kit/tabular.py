"""Synthetic tables and their privacy check (lesson 03): a Gaussian copula, the naive generator a
reader tries first, and the checks that tell them apart.

    copula = tabular.CopulaSynthesizer().fit(X_train, y_train)     # joint structure kept
    naive = tabular.IndependentSynthesizer().fit(X_train, y_train) # each column alone, per class
    X_syn, y_syn = copula.sample(500)
    tabular.fidelity(X_train, X_syn)                               # marginals and correlations
    passes, details = tabular.privacy_check(X_train, X_holdout, X_syn)   # too close to training rows?
    tabular.leaky_copy(X_syn, X_train, share=0.1)                  # the negative control: 10% copied rows
"""
import numpy as np
from scipy.stats import norm

__all__ = ["CopulaSynthesizer", "IndependentSynthesizer", "fidelity", "distance_to_closest_record", "dcr_ratio",
           "privacy_check", "leaky_copy", "plot_fidelity", "plot_dcr"]


def _name(label) -> str:
    """A class label as the learner wrote it (3, not np.int64(3)), for error messages."""
    return repr(label.item() if hasattr(label, "item") else label)


# --- tabular: a class-conditional Gaussian copula -------------------------------------------------

class CopulaSynthesizer:
    """A Gaussian copula per class: each column keeps its own real distribution (its sorted values),
    and the columns are tied together by the correlation of their normal scores.

    Sampling draws correlated normals, maps them to quantiles, and reads each column's value off
    its real distribution by interpolating *between* observed values, so rows are new, not copies.
    """

    def fit(self, X, y, classes=None):
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        if X.ndim != 2:
            raise ValueError(f"X must be a table (rows, columns), got shape {X.shape}")
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}: they must match")
        self.classes_ = np.unique(y) if classes is None else np.asarray(classes)
        self.columns_, self.corr_, self.priors_ = {}, {}, {}
        for c in self.classes_:
            rows = X[y == c]
            if len(rows) < 2:
                raise ValueError(f"class {_name(c)} has {len(rows)} examples: the copula needs at least 2 per class")
            ranks = rows.argsort(0).argsort(0)
            scores = norm.ppf((ranks + 0.5) / len(rows))
            corr = np.corrcoef(scores, rowvar=False) if X.shape[1] > 1 else np.ones((1, 1))
            values, vectors = np.linalg.eigh(np.nan_to_num(corr))     # constant columns give NaN
            self.corr_[c] = (vectors * np.clip(values, 1e-6, None)) @ vectors.T
            self.columns_[c] = np.sort(rows, axis=0)
            self.priors_[c] = len(rows) / len(X)
        return self

    def sample(self, n, seed=0):
        """`n` new rows with class labels in the training proportions: (X, y)."""
        if not hasattr(self, "corr_"):
            raise RuntimeError("call fit(X, y) before sample(n)")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n, [self.priors_[c] for c in self.classes_])
        parts, labels = [], []
        for c, k in zip(self.classes_, counts):
            cols = self.columns_[c]
            z = rng.multivariate_normal(np.zeros(len(self.corr_[c])), self.corr_[c], size=k)
            position = norm.cdf(z) * len(cols) - 0.5          # fractional rank in the sorted column
            parts.append(np.stack([np.interp(position[:, j], np.arange(len(cols)), cols[:, j])
                                   for j in range(cols.shape[1])], axis=1))
            labels.append(np.full(k, c))
        order = rng.permutation(n)
        return np.concatenate(parts)[order].astype(np.float32), np.concatenate(labels)[order]


def fidelity(real, synthetic) -> dict:
    """How alike two tables are: the mean Kolmogorov-Smirnov statistic over columns (0 = identical
    marginals) and the mean absolute difference of their correlation matrices (0 = same structure)."""
    from scipy.stats import ks_2samp

    real, synthetic = np.asarray(real, dtype=np.float64), np.asarray(synthetic, dtype=np.float64)
    if real.ndim != 2 or synthetic.ndim != 2 or real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"both tables need the same columns, got shapes {real.shape} and {synthetic.shape}")
    ks = np.array([ks_2samp(real[:, j], synthetic[:, j]).statistic for j in range(real.shape[1])])
    corr_diff = np.abs(np.corrcoef(real, rowvar=False) - np.corrcoef(synthetic, rowvar=False))
    return {"ks_mean": float(ks.mean()), "ks_per_column": ks, "corr_abs_diff": float(np.nanmean(corr_diff))}


def distance_to_closest_record(queries, reference) -> np.ndarray:
    """Euclidean distance from each query row to its nearest reference row, in units of the
    reference's standard deviation per column (so no column dominates)."""
    from sklearn.neighbors import NearestNeighbors

    queries, reference = np.asarray(queries, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if len(queries) == 0 or len(reference) == 0:
        raise ValueError("distance_to_closest_record needs at least one query row and one reference row")
    mean, std = reference.mean(0), reference.std(0) + 1e-12
    index = NearestNeighbors(n_neighbors=1).fit((reference - mean) / std)
    return index.kneighbors((queries - mean) / std)[0][:, 0]


def dcr_ratio(synthetic, train, holdout) -> float:
    """Median distance of synthetic rows to the training set, over that of real unseen (holdout) rows.
    About 1 or more: synthetic rows are no closer to the training records than new real data is;
    near 0: the generator copied (memorised) training records."""
    return float(np.median(distance_to_closest_record(synthetic, train))
                 / np.median(distance_to_closest_record(holdout, train)))


class IndependentSynthesizer(CopulaSynthesizer):
    """The naive generator: per class, every column is drawn from its own real distribution
    *independently* of the others (no correlations). What a reader tries first; the copula must beat it."""

    def fit(self, X, y, classes=None):
        super().fit(X, y, classes)
        self.corr_ = {c: np.eye(len(m)) for c, m in self.corr_.items()}    # forget the joint structure
        return self


def privacy_check(train, holdout, synthetic, quantile: float = 0.05, tolerance: float = 2.0,
                  duplicate_tol: float = 1e-3) -> tuple[bool, dict]:
    """Do synthetic rows sit closer to the training records than real unseen records do? A tail check.

    The threshold is the `quantile` (5th percentile) of the holdout rows' distances to the training set, so
    by construction 5% of fresh real records fall below it. A generator that copies (or barely perturbs)
    training rows puts far more of its rows there. The check passes when the upper end of the 95% interval
    of the synthetic share below the threshold stays under `tolerance` x `quantile` (10%: room for the
    threshold's own noise) and no synthetic row is a near duplicate of a training row (closer than
    `duplicate_tol` standard deviations). A median ratio cannot do this: a 10% leak moves the median ~2%.

    Returns (passes, details): details hold the threshold, the share and its interval, `effect` =
    tolerance x quantile - share with its `ci` (positive = private enough; pass it to `report.claim`), the
    near duplicates, the median DCR ratio and `close` (one 0/1 per synthetic row).
    """
    from kit import stats

    if not 0 < quantile < 0.5:
        raise ValueError(f"quantile must be in (0, 0.5), got {quantile}")
    if tolerance < 1:
        raise ValueError(f"tolerance must be at least 1 (the share fresh real rows have), got {tolerance}")
    holdout_dcr = distance_to_closest_record(holdout, train)
    synthetic_dcr = distance_to_closest_record(synthetic, train)
    threshold = float(np.quantile(holdout_dcr, quantile))
    close = (synthetic_dcr < threshold).astype(np.float64)
    share = stats.bootstrap_ci(close)
    bound = tolerance * quantile
    duplicates = int((synthetic_dcr < duplicate_tol).sum())
    details = {"threshold": threshold, "share_close": share["estimate"], "share_ci": share["ci"],
               "bound": bound, "effect": bound - share["estimate"],
               "ci": (bound - share["ci"][1], bound - share["ci"][0]), "near_duplicates": duplicates,
               "median_ratio": float(np.median(synthetic_dcr) / np.median(holdout_dcr)), "close": close}
    return bool(share["ci"][1] < bound and duplicates == 0), details


def leaky_copy(synthetic, train, share: float = 0.1, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """The negative control: the synthetic table with a `share` of its rows replaced by training rows
    (verbatim, or times 1 + `noise` * N(0, 1) per value), as a generator that memorises would emit."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    synthetic, train = np.array(synthetic, dtype=np.float64), np.asarray(train, dtype=np.float64)
    rng = np.random.default_rng(seed)
    k = max(1, round(share * len(synthetic)))
    if k > len(train):
        raise ValueError(f"cannot copy {k} rows from a training table of {len(train)}")
    rows = rng.choice(len(synthetic), k, replace=False)
    copied = train[rng.choice(len(train), k, replace=False)]
    synthetic[rows] = copied * rng.normal(1, noise, copied.shape) if noise else copied
    return synthetic.astype(np.float32)


def plot_fidelity(real, synthetic, feature_names, columns=(0, 1, 2)):
    """Real vs synthetic histograms of a few columns, and both correlation matrices side by side."""
    import matplotlib.pyplot as plt

    real, synthetic = np.asarray(real), np.asarray(synthetic)
    fig, axes = plt.subplots(1, len(columns) + 2, figsize=(3.2 * (len(columns) + 2), 3))
    for ax, j in zip(axes, columns):
        bins = np.histogram_bin_edges(np.concatenate([real[:, j], synthetic[:, j]]), 25)
        ax.hist(real[:, j], bins, alpha=0.6, label="real")
        ax.hist(synthetic[:, j], bins, alpha=0.6, label="synthetic")
        ax.set_title(feature_names[j], fontsize=9)
    axes[0].legend()
    for ax, table, name in zip(axes[-2:], (real, synthetic), ("real", "synthetic")):
        ax.imshow(np.corrcoef(table, rowvar=False), cmap="coolwarm", vmin=-1, vmax=1)
        ax.set_title(f"{name} correlations", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_dcr(train, holdout, tables: dict, quantile: float = 0.05):
    """Histograms of the distance to the closest training record: real holdout rows and each synthetic table
    in `tables` ({name: rows}), with the privacy check's threshold (the holdout's `quantile`) drawn."""
    import matplotlib.pyplot as plt

    holdout_dcr = distance_to_closest_record(holdout, train)
    threshold = np.quantile(holdout_dcr, quantile)
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    bins = np.linspace(0, np.quantile(holdout_dcr, 0.99) * 1.2, 40)
    ax.hist(holdout_dcr, bins, alpha=0.5, density=True, label="real holdout")
    for name, rows in tables.items():
        ax.hist(distance_to_closest_record(rows, train), bins, alpha=0.5, density=True, label=name)
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"holdout {quantile:.0%} quantile")
    ax.set(xlabel="distance to the closest training record (std units)", ylabel="density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig
