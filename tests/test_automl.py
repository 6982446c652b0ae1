"""Unit tests for kit/automl.py: the CNN, the objectives, the presets and the pipeline builder."""
import numpy as np
import optuna
import pytest
import torch

from kit import automl, train

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _images(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.random((n, 28, 28), dtype=np.float32) * 0.1
    X[y == 1, 10:18, 10:18] += 0.9          # class 1 has a bright square: learnable in one epoch
    return X, y


def test_small_cnn_shapes_and_params():
    model = automl.cnn(depth=2, width=4, kernel=3)
    assert model(torch.zeros(5, 28, 28)).shape == (5, 10)
    assert train.count_params(model) < train.count_params(automl.cnn(depth=2, width=16, kernel=3))
    with pytest.raises(ValueError, match="odd kernel"):
        automl.cnn(kernel=4)


def test_cnn_objective_reports_epochs_and_prunes():
    X, y = _images()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    study.optimize(automl.cnn_objective((X, y), (X, y), max_epochs=2), n_trials=3)
    assert all(1 <= t.user_attrs["epochs"] <= 2 for t in study.trials)
    assert 0.0 <= automl.epochs_saved(study, 2) < 1.0


def test_epochs_saved_needs_trials():
    with pytest.raises(ValueError, match="no trials"):
        automl.epochs_saved(optuna.create_study(), 3)


def test_architecture_objective_and_pareto_table():
    X, y = _images(32)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(automl.architecture_objective((X, y), (X, y), epochs=1, latency_batch=X[:8]), n_trials=3)
    front = automl.pareto_table(study)
    assert len(front) >= 1 and list(front["params"]) == sorted(front["params"])
    assert all("latency_ms" in t.user_attrs for t in study.trials)


def test_presets_domains_and_restrict():
    assert automl.domain_of("mnist5k") == "image" and automl.domain_of("polarity") == "text"
    assert automl.restrict(automl.PRESETS["tabular"], "forest")["model"] == ["forest"]
    with pytest.raises(ValueError, match="Unknown dataset for AutoML 'mnist'"):
        automl.domain_of("mnist")
    with pytest.raises(ValueError, match="empty search space: family 'cnn'"):
        automl.restrict(automl.PRESETS["tabular"], "cnn")


def test_empty_search_space_is_refused():
    with pytest.raises(ValueError, match="empty search space"):
        automl.check_space({})
    with pytest.raises(ValueError, match="'model' has no choices"):
        automl.pipeline_objective(np.zeros((4, 2)), np.zeros(4), {"model": []})


def test_build_pipeline_every_family_and_size():
    X, y, _, _ = automl.tabular("iris")
    for family, reduce in [("logistic", "pca"), ("forest", "none"), ("boosting", "pca"), ("mlp", "select")]:
        params = {"scaler": "standard", "reduce": reduce, "keep": 0.5, "model": family, "C": 1.0,
                  "n_estimators": 20, "max_depth": 3, "learning_rate": 0.1, "max_iter": 20,
                  "max_leaf_nodes": 8, "hidden": 8, "alpha": 1e-3}
        pipe = automl.build_pipeline(optuna.trial.FixedTrial(params), automl.PRESETS["tabular"])
        assert automl.model_size(pipe.fit(X, y)) > 0
    assert automl.model_size(pipe) == 4 // 2 * 8 + 8 + 8 * 3 + 3   # the MLP on 2 kept features


def test_pipeline_search_and_default_baseline():
    X, y, X_test, y_test = automl.tabular("wine")
    seeded = optuna.samplers.TPESampler(seed=0)      # unseeded, one trial in ~20 drew a C too small to learn
    study = optuna.create_study(direction="maximize", sampler=seeded)
    study.optimize(automl.pipeline_objective(X, y, automl.restrict(automl.PRESETS["tabular"], "logistic"),
                                             max_params=10), n_trials=2)
    assert all(t.constraints["max_params"] > 0 for t in study.trials)   # 13*3+3 weights > 10: infeasible
    with pytest.raises(ValueError, match="No feasible trials"):
        automl.best_pipeline(study, automl.PRESETS["tabular"])
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(automl.pipeline_objective(X, y, automl.restrict(automl.PRESETS["tabular"], "logistic")), n_trials=1)
    acc = automl.test_accuracy(automl.best_pipeline(study, automl.PRESETS["tabular"]), X, y, X_test, y_test)
    base = automl.default_baseline(X, y, X_test, y_test)
    assert acc > 0.6 and base["family"] in automl.default_models() and base["test_acc"] > 0.6


def test_plot_comparison():
    fig = automl.plot_comparison([{"dataset": "a", "automl_test_acc": 0.9, "default_test_acc": 0.8}])
    assert fig.axes[0].get_ylabel() == "test accuracy"


def test_epoch_budget_stops_the_study_and_prune_everything_saves_the_most():
    X, y = _images()
    studies = {}
    for name, pruner in [("none", optuna.pruners.NopPruner()), ("all", automl.PruneEverything())]:
        study = optuna.create_study(direction="maximize", pruner=pruner, sampler=optuna.samplers.TPESampler(seed=0))
        study.optimize(automl.cnn_objective((X, y), (X, y), max_epochs=2), callbacks=[automl.EpochBudget(4)],
                       n_trials=20)
        studies[name] = study
    assert len(studies["none"].trials) == 2 and len(studies["all"].trials) == 4    # 4 epochs either way
    assert automl.epochs_saved(studies["all"], 2) == 0.5 and automl.epochs_saved(studies["none"], 2) == 0.0
    assert all(t.state.name == "PRUNED" for t in studies["all"].trials)
    assert automl.best_so_far(studies["all"]).number in range(4)       # a pruned trial's last report counts
    with pytest.raises(ValueError, match="at least 1"):
        automl.EpochBudget(0)
    with pytest.raises(ValueError, match="no finished or reported trial"):
        automl.best_so_far(optuna.create_study())


def test_splits_are_stratified_repeats_of_the_whole_table():
    parts = list(automl.splits("wine", n_splits=2, test_size=0.3))
    assert len(parts) == 2 and len(parts[0][0]) + len(parts[0][2]) == 178
    assert not np.array_equal(parts[0][3], parts[1][3])
    assert abs(np.mean(parts[0][1] == 0) - np.mean(parts[0][3] == 0)) < 0.05


def test_default_grid_starts_with_the_defaults_and_matches_the_budget():
    grid = automl.default_grid(6)
    assert [name for name, _ in grid[:4]] == ["logistic (defaults)", "forest (defaults)", "boosting (defaults)",
                                              "mlp (defaults)"]
    assert len(grid) == 6 and len(automl.default_grid(30)) == 14      # every grid point once
    with pytest.raises(ValueError, match="at least one"):
        automl.default_grid(0)
