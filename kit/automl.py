"""AutoML 2.0 with Optuna: pruned hyperparameter search, whole-pipeline search, architecture search.

    objective = automl.cnn_objective(train, val, max_epochs=6)       # reports every epoch
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
    study.optimize(objective, timeout=60)
    automl.epochs_saved(study, max_epochs=6)                          # share of epochs pruning skipped

The notebook keeps Optuna's API in view (`create_study`, samplers, pruners, `optimize`); this
module holds the glue: the CNN, the scikit-learn pipelines built from a trial, the domain presets
(search spaces for image, tabular and text data). On them, `kit.lowcode` builds the one-call search behind
the low-code panel, and `kit.nl_training` the natural-language front end to that search.
"""
import time

import numpy as np
import optuna
import torch
from torch import nn

from kit import train as kit_train
from kit.errors import unknown
from kit.train import SmallCNN, count_params

__all__ = ["cnn", "train_cnn", "latency_ms", "cnn_objective", "epochs_saved", "EpochBudget", "PruneEverything",
           "best_so_far", "architecture_objective", "pareto_table", "splits", "default_grid",
           "PRESETS", "DATASETS", "domain_of", "restrict", "check_space", "as_table", "build_pipeline",
           "pipeline_objective", "model_size", "default_models", "tabular", "test_accuracy", "best_pipeline",
           "default_baseline", "plot_comparison"]


# --- a CNN whose shape is a hyperparameter ------------------------------------------------------

def cnn(depth=2, width=16, kernel=3, n_classes=10, dropout=0.0) -> SmallCNN:
    """The searched CNN: `depth` blocks of conv(kernel) -> ReLU -> max-pool (`width` channels, then twice
    that), averaged to a 3x3 map, then a linear classifier. Input (n, H, W)."""
    if depth < 1 or width < 1 or kernel % 2 == 0:
        raise ValueError(f"need depth >= 1, width >= 1 and an odd kernel, got {depth}, {width}, {kernel}")
    return SmallCNN(tuple(width * 2 ** min(i, 1) for i in range(depth)), hidden=None, n_classes=n_classes,
                    kernel=kernel, grid=3, dropout=dropout)


def _epoch(model, loader, optimizer):
    """One pass of the classic loop (forward, loss, backward, step) over `loader`."""
    model.train()
    for X, y in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()


def train_cnn(model, train, lr, epochs, seed, batch_size=32):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = kit_train.as_loader(train, batch_size, shuffle=True, seed=seed)
    for _ in range(epochs):
        _epoch(model, loader, optimizer)
    return model


def cnn_objective(train, val, max_epochs=6, arch=None, batch_size=32):
    """An Optuna objective: suggest lr / width / dropout, train, report val accuracy after each epoch.

    `train` and `val` are (X, y) pairs of images. The trial is pruned as soon as the pruner says so;
    the epochs it really ran are kept in `trial.user_attrs['epochs']`.
    """
    import optuna

    def objective(trial):
        lr = trial.suggest_float("lr", 3e-4, 5e-2, log=True)
        width = arch or trial.suggest_categorical("width", [8, 16, 32])
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        torch.manual_seed(trial.number)
        model = cnn(depth=2, width=width, dropout=dropout)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        loader = kit_train.as_loader(train, batch_size, shuffle=True, seed=trial.number)
        for epoch in range(1, max_epochs + 1):
            _epoch(model, loader, optimizer)
            acc = kit_train.evaluate(model, val)["acc"]
            trial.set_user_attr("epochs", epoch)
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return acc
    return objective


def epochs_saved(study, max_epochs: int) -> float:
    """Share of the epochs a no-pruning search would have run that pruning skipped."""
    trials = [t for t in study.trials if "epochs" in t.user_attrs]
    if not trials:
        raise ValueError("the study has no trials that reported epochs: run study.optimize first")
    return 1 - sum(t.user_attrs["epochs"] for t in trials) / (len(trials) * max_epochs)


class EpochBudget:
    """An Optuna callback that stops the study once its trials have trained `epochs` epochs in all.

    Budgets in epochs (not seconds) make two searches comparable on a busy machine: a pruned search
    spends what it saves on more trials, an unpruned one runs fewer, longer trials. Each trial must
    keep the epochs it ran in `trial.user_attrs["epochs"]`.
    """

    def __init__(self, epochs: int):
        if epochs < 1:
            raise ValueError(f"an epoch budget must be at least 1, got {epochs}")
        self.epochs = epochs

    def used(self, study) -> int:
        return sum(t.user_attrs.get("epochs", 0) for t in study.trials)

    def __call__(self, study, trial):
        if self.used(study) >= self.epochs:
            study.stop()


class PruneEverything(optuna.pruners.BasePruner):
    """A pruner that stops every trial at its first report: the negative control of a pruning claim.

    It "saves" the most epochs of all and finds the worst models: a claim that counted only the epochs
    saved would call it the best pruner.
    """

    def prune(self, study, trial) -> bool:
        return True


def best_so_far(study):
    """The trial with the best validation accuracy, counting a pruned trial's last report.

    With a pruner that stops every trial, no trial completes; its best model is still the one a
    user would deploy, so the comparison must include it.
    """
    scored = [(t.value if t.value is not None else list(t.intermediate_values.values())[-1], t)
              for t in study.trials if t.value is not None or t.intermediate_values]
    if not scored:
        raise ValueError("the study has no finished or reported trial: run study.optimize first")
    return max(scored, key=lambda pair: pair[0])[1]


def architecture_objective(train, val, epochs=2, lr=1e-2, latency_batch=None):
    """A two-objective Optuna objective: (validation accuracy up, parameter count down) over depth/width/kernel."""
    def objective(trial):
        depth = trial.suggest_int("depth", 1, 3)
        width = trial.suggest_int("width", 4, 32, log=True)
        kernel = trial.suggest_categorical("kernel", [3, 5])
        torch.manual_seed(trial.number)
        model = train_cnn(cnn(depth, width, kernel), train, lr, epochs, trial.number)
        if latency_batch is not None:
            trial.set_user_attr("latency_ms", latency_ms(model, latency_batch))
        return kit_train.evaluate(model, val)["acc"], count_params(model)
    return objective


def latency_ms(model, X, repeats=3) -> float:
    X = torch.as_tensor(X)
    model.eval()
    with torch.no_grad():
        model(X)
        start = time.perf_counter()
        for _ in range(repeats):
            model(X)
    return 1000 * (time.perf_counter() - start) / repeats


def pareto_table(study):
    """The Pareto-optimal trials of a (accuracy, parameters) study as a DataFrame, smallest first."""
    import pandas as pd

    rows = [{"trial": t.number, "val_acc": t.values[0], "params": int(t.values[1]), **t.params}
            for t in study.best_trials]
    return pd.DataFrame(rows).sort_values("params").reset_index(drop=True)


# --- domain presets: which search space suits which kind of data -----------------------------------

PRESETS = {
    "tabular": {"scaler": ["none", "standard", "minmax"], "reduce": ["none", "pca", "select"],
                "model": ["logistic", "forest", "boosting", "mlp"]},
    "text": {"vectorizer": ["words", "words+bigrams", "chars"], "model": ["logistic", "nb"]},
    "image": {"model": ["cnn"], "depth": [1, 2, 3], "width": [8, 16, 32], "kernel": [3, 5]},
}
DATASETS = {"digits": "tabular", "breast_cancer": "tabular", "wine": "tabular", "iris": "tabular",
            "polarity": "text", "mnist5k": "image"}


def domain_of(dataset: str) -> str:
    if dataset not in DATASETS:
        raise unknown("dataset for AutoML", dataset, DATASETS)
    return DATASETS[dataset]


def check_space(space: dict) -> dict:
    """Refuse a search space with no choices (Optuna would fail later with a less helpful message)."""
    if not space:
        raise ValueError("empty search space: give at least a 'model' key with one or more choices")
    for key, choices in space.items():
        if len(choices) == 0:
            raise ValueError(f"empty search space: {key!r} has no choices")
    return space


def restrict(space: dict, family: str = "any") -> dict:
    """The space with its model families narrowed to `family` ('any' keeps them all)."""
    if family == "any":
        return check_space(dict(space))
    if family not in space.get("model", []):
        raise ValueError(f"empty search space: family {family!r} is not in this preset's models "
                         f"({', '.join(space.get('model', []))})")
    return check_space({**space, "model": [family]})


def as_table(X) -> np.ndarray:
    """Images (n, H, W) -> rows (n, H*W); tables pass through."""
    X = np.asarray(X)
    return X.reshape(len(X), -1)


def build_pipeline(trial, space: dict, seed: int = 0):
    """A scikit-learn Pipeline whose steps and hyperparameters the Optuna `trial` picks from `space`."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.feature_selection import SelectPercentile, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

    check_space(space)
    steps, text = [], "vectorizer" in space
    if "vectorizer" in space:
        kind = trial.suggest_categorical("vectorizer", space["vectorizer"])
        if kind == "counts":     # what a generic tool does with a text column: plain word counts
            steps.append(("vectorizer", CountVectorizer(max_features=2000)))
        else:
            options = {"words": dict(ngram_range=(1, 1)), "words+bigrams": dict(ngram_range=(1, 2)),
                       "chars": dict(analyzer="char_wb", ngram_range=(2, 4))}[kind]
            steps.append(("vectorizer", TfidfVectorizer(sublinear_tf=True, **options)))
    if "scaler" in space:
        scaler = trial.suggest_categorical("scaler", space["scaler"])
        if scaler != "none":
            steps.append(("scaler", StandardScaler(with_mean=not text) if scaler == "standard" else MaxAbsScaler()
                          if text else MinMaxScaler()))
    if "reduce" in space:
        reduce = trial.suggest_categorical("reduce", space["reduce"])
        keep = trial.suggest_float("keep", 0.2, 1.0) if reduce != "none" else None
        if reduce == "pca":      # keep that share of the variance (plain scikit-learn: skops can export it)
            steps.append(("reduce", PCA(n_components=min(keep, 0.99), svd_solver="full", random_state=seed)))
        elif reduce == "select":
            steps.append(("reduce", SelectPercentile(f_classif, percentile=100 * keep)))
    family = trial.suggest_categorical("model", space["model"])
    if family == "logistic":
        model = LogisticRegression(C=trial.suggest_float("C", 1e-3, 1e2, log=True), max_iter=2000)
    elif family == "forest":
        model = RandomForestClassifier(n_estimators=trial.suggest_int("n_estimators", 20, 200, log=True),
                                       max_depth=trial.suggest_int("max_depth", 2, 16), random_state=seed)
    elif family == "boosting":
        model = HistGradientBoostingClassifier(learning_rate=trial.suggest_float("learning_rate", 0.02, 0.5, log=True),
                                               max_iter=trial.suggest_int("max_iter", 20, 150, log=True),
                                               max_leaf_nodes=trial.suggest_int("max_leaf_nodes", 4, 31),
                                               random_state=seed)
    elif family == "mlp":
        model = MLPClassifier(hidden_layer_sizes=(trial.suggest_int("hidden", 8, 128, log=True),),
                              alpha=trial.suggest_float("alpha", 1e-5, 1e-1, log=True), max_iter=400,
                              random_state=seed)
    elif family == "nb":
        model = MultinomialNB(alpha=trial.suggest_float("nb_alpha", 1e-2, 2.0, log=True))
    else:
        raise ValueError(f"build_pipeline handles scikit-learn families, not {family!r}")
    return Pipeline(steps + [("model", model)])


def pipeline_objective(X, y, space: dict, cv: int = 3, max_params=None):
    """An Optuna objective: build a pipeline from `space`, return its mean cross-validated accuracy.

    The model's size (`model_size`) and prediction time are stored as user attributes; with
    `max_params`, a trial above the limit is marked infeasible with `trial.set_constraint`.
    """
    from sklearn.model_selection import cross_val_score

    check_space(space)

    def objective(trial):
        pipe = build_pipeline(trial, space)
        score = cross_val_score(pipe, X, y, cv=cv, scoring="accuracy").mean()
        pipe.fit(X, y)
        size = model_size(pipe)
        start = time.perf_counter()
        pipe.predict(X[:200])
        trial.set_user_attr("params", size)
        trial.set_user_attr("predict_ms", 1000 * (time.perf_counter() - start))
        if max_params is not None:
            trial.set_constraint("max_params", size - max_params)
        return score
    return objective


def model_size(pipe) -> int:
    """Learned numbers in the final model: weights for linear/MLP/NB, node thresholds for trees."""
    model = pipe[-1] if hasattr(pipe, "steps") else pipe
    if hasattr(model, "coefs_"):
        return int(sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_))
    if hasattr(model, "coef_"):
        return int(model.coef_.size + np.size(getattr(model, "intercept_", 0)))
    if hasattr(model, "feature_log_prob_"):
        return int(model.feature_log_prob_.size)
    if hasattr(model, "estimators_"):
        return int(sum(t.tree_.node_count for t in model.estimators_))
    if hasattr(model, "_predictors"):
        return int(sum(p.nodes.size for it in model._predictors for p in it))
    raise ValueError(f"cannot measure the size of {type(model).__name__}")


def splits(name: str, n_splits: int = 3, test_size: float = 0.3, n_rows=None):
    """Repeated stratified train/test splits of a whole table (its fixed split pooled first): the outer loop
    of nested evaluation. Yields (X_train, y_train, X_test, y_test) with a different seed each time."""
    from sklearn.model_selection import train_test_split

    X, y, X_test, y_test = tabular(name)
    X, y = np.concatenate([X, X_test]), np.concatenate([y, y_test])
    if n_rows is not None and n_rows < len(y):
        X, _, y, _ = train_test_split(X, y, train_size=n_rows, stratify=y, random_state=0)
    for seed in range(n_splits):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
        yield X_tr, y_tr, X_te, y_te


def default_grid(n: int, seed: int = 0) -> list:
    """The compute-matched baseline: `n` configurations a practitioner would try without AutoML.

    First each family with scikit-learn's defaults (inputs standardised for the linear model and the MLP),
    then, round-robin, each family's main knob on a small grid (C; max_features; learning_rate; alpha).
    Returns [(name, unfitted estimator)], to be chosen by the same cross-validation as the search.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if n < 1:
        raise ValueError(f"the baseline needs at least one configuration, got n={n}")
    scaled = lambda model: make_pipeline(StandardScaler(), model)  # noqa: E731
    configs = [("logistic (defaults)", scaled(LogisticRegression(max_iter=2000))),
               ("forest (defaults)", RandomForestClassifier(random_state=seed)),
               ("boosting (defaults)", HistGradientBoostingClassifier(random_state=seed)),
               ("mlp (defaults)", scaled(MLPClassifier(max_iter=400, random_state=seed)))]
    grids = [[(f"logistic C={c}", scaled(LogisticRegression(C=c, max_iter=2000))) for c in (0.1, 10, 0.01, 100)],
             [(f"forest max_features={m}", RandomForestClassifier(max_features=m, random_state=seed))
              for m in (0.5, None)],
             [(f"boosting learning_rate={r}", HistGradientBoostingClassifier(learning_rate=r, random_state=seed))
              for r in (0.03, 0.3)],
             [(f"mlp alpha={a}", scaled(MLPClassifier(alpha=a, max_iter=400, random_state=seed))) for a in (0.01, 1.0)]]
    while len(configs) < n and any(grids):
        for grid in grids:
            if grid and len(configs) < n:
                configs.append(grid.pop(0))
    return configs[:n]


def default_models(seed: int = 0) -> dict:
    """Each tabular family with scikit-learn's default settings: the baseline AutoML must beat."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    return {"logistic": LogisticRegression(max_iter=2000), "forest": RandomForestClassifier(random_state=seed),
            "boosting": HistGradientBoostingClassifier(random_state=seed), "mlp": MLPClassifier(random_state=seed)}


def tabular(name: str, n_train=None):
    """(X_train, y_train, X_test, y_test) of a dataset as a plain table (images flattened)."""
    from kit import data as kit_data

    d = kit_data.load(name) if n_train is None else kit_data.load(name).subset(n_train, None)
    return as_table(d.X_train), d.y_train, as_table(d.X_test), d.y_test


def test_accuracy(pipe, X, y, X_test, y_test) -> float:
    """Fit on the whole training set, score once on the untouched test set."""
    return float((pipe.fit(X, y).predict(X_test) == y_test).mean())


def best_pipeline(study, space: dict):
    """The study's best trial rebuilt as an (unfitted) pipeline."""
    import optuna

    return build_pipeline(optuna.trial.FixedTrial(study.best_params), space)


def default_baseline(X, y, X_test, y_test, cv: int = 3) -> dict:
    """Each family with its defaults, the best picked by the same cross-validation the search uses."""
    from sklearn.model_selection import cross_val_score

    cv_acc = {family: cross_val_score(model, X, y, cv=cv).mean() for family, model in default_models().items()}
    chosen = max(cv_acc, key=cv_acc.get)
    return {"family": chosen, "cv_acc": cv_acc[chosen],
            "test_acc": test_accuracy(default_models()[chosen], X, y, X_test, y_test)}


def plot_comparison(rows, a="automl_test_acc", b="default_test_acc", title="test accuracy per dataset"):
    """Grouped bars: the searched pipeline vs the defaults, one group per dataset."""
    import matplotlib.pyplot as plt

    names = [r["dataset"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(x - 0.2, [r[b] for r in rows], 0.4, label="best default family")
    ax.bar(x + 0.2, [r[a] for r in rows], 0.4, label="pipeline search")
    ax.set(xticks=x, xticklabels=names, ylim=(min(min(r[a], r[b]) for r in rows) - 0.05, 1.0),
           ylabel="test accuracy", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig
