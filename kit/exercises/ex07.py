"""Checks for lesson 07 (AutoML 2.0): pruning savings, a pipeline search space, a Pareto front."""
import numpy as np

from kit.exercises import Hint, exercise


def _reference_saved(epochs_run, max_epochs):
    return 1 - sum(epochs_run) / (len(epochs_run) * max_epochs)


@exercise("07.1", title="the epochs pruning saved", section="1. Hyperparameter search with pruning",
          hint="a search without pruning runs every trial for max_epochs; compare with what really ran")
def check_saved(answer):
    for epochs_run, max_epochs in [([8, 2, 2, 8, 1], 8), ([3, 3, 3], 3), ([1, 1, 1, 1], 4), ([5, 2], 10)]:
        got = answer(list(epochs_run), max_epochs)
        expected = _reference_saved(epochs_run, max_epochs)
        if abs(got - (1 - expected)) < 1e-9 and expected != 0.5:
            raise Hint("you returned the share of epochs that ran; the question is the share that was skipped")
        if abs(got - expected) > 1e-9:
            raise Hint(f"for epochs_run={epochs_run}, max_epochs={max_epochs} expected {expected:.3f}, got {got}")
    return True


@exercise("07.2", title="a search space that beats 0.95 on wine", section="2. Whole-pipeline search on real tables",
          hint="a dict like automl.PRESETS['tabular'] with fewer choices; scaling matters for linear models")
def check_space(space):
    import optuna

    from kit import automl

    allowed = automl.PRESETS["tabular"]
    if not isinstance(space, dict):
        raise Hint("the space is a dict such as {'scaler': [...], 'model': [...]}")
    automl.check_space(space)
    for key, choices in space.items():
        if key not in allowed:
            raise Hint(f"{key!r} is not a key of the tabular preset ({', '.join(allowed)})")
        unknown = [c for c in choices if c not in allowed[key]]
        if unknown:
            raise Hint(f"{unknown} are not choices for {key!r} (allowed: {allowed[key]})")
    if "model" not in space:
        raise Hint("the space needs a 'model' key")
    X, y, _, _ = automl.tabular("wine")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(automl.pipeline_objective(X, y, space), n_trials=6, timeout=20)
    if study.best_value < 0.95:
        raise Hint(f"best cross-validated accuracy in 6 trials was {study.best_value:.3f}, below 0.95")
    return True, f"best cv accuracy {study.best_value:.3f}"


@exercise("07.3", title="the Pareto front", section="3. Architecture search with two objectives",
          hint="keep a point unless another one is at least as accurate and at least as small, and better in one")
def check_pareto(answer):
    rng = np.random.default_rng(7)
    points = [(round(float(a), 3), int(p)) for a, p in zip(rng.uniform(0.5, 1, 25), rng.integers(1000, 90000, 25))]
    points += [points[3]]  # a duplicate must not knock itself out
    expected = sorted({p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)},
                      key=lambda p: p[1])
    got = sorted(set(map(tuple, answer(points))), key=lambda p: p[1])
    if got == sorted(points, key=lambda p: p[1]) or len(got) > len(expected):
        raise Hint("some points you kept are dominated (another is more accurate AND smaller)")
    if got != expected:
        raise Hint(f"expected {len(expected)} points on the front, got {len(got)}")
    return True
