"""Low-code training: one validated search configuration, one call, and a clickable panel.

    config = lowcode.validate_config({"dataset": "digits", "goal": "small", "budget_s": 60})
    result = lowcode.run_search(config)          # Optuna over the dataset's preset; the best, refit and tested
    panel = lowcode.Panel()                      # dataset, goal, time budget, Train, progress, leaderboard

`SearchConfig` is the schema every entry point goes through: a person writing a dict, the panel's
widgets, and the language model of `kit.nl_training`, so a bad value gets the same clear message.
"""
import time
from dataclasses import asdict, dataclass

import numpy as np

from kit import automl
from kit import train as kit_train
from kit.errors import unknown

__all__ = ["GOALS", "SearchConfig", "validate_config", "run_search", "pick_best", "leaderboard", "Panel"]


# --- one-call search: the engine behind the panel and natural-language training -----------------

GOALS = ("accuracy", "small", "fast")


@dataclass(frozen=True)
class SearchConfig:
    """What to search: a dataset, a model family ('any' = the whole preset), a goal, limits, a budget."""
    dataset: str
    family: str = "any"
    goal: str = "accuracy"
    max_params: int | None = None
    budget_s: float = 60

    def as_dict(self) -> dict:
        return asdict(self)


def validate_config(values: dict) -> SearchConfig:
    """Check a config (from a person, a widget or a language model) against the schema, or say what is wrong."""
    values = dict(values)
    extra = set(values) - set(SearchConfig.__dataclass_fields__)
    if extra:
        allowed = ", ".join(SearchConfig.__dataclass_fields__)
        raise ValueError(f"unknown config keys {sorted(extra)}; allowed: {allowed}")
    if "dataset" not in values or values["dataset"] is None:
        raise ValueError(f"the config needs a dataset: one of {', '.join(automl.DATASETS)}")
    config = SearchConfig(**values)
    automl.restrict(automl.PRESETS[automl.domain_of(config.dataset)], config.family)
    if config.goal not in GOALS:
        raise unknown("goal", config.goal, GOALS)
    if config.max_params is not None and (not isinstance(config.max_params, int) or config.max_params <= 0):
        raise ValueError(f"max_params must be a positive whole number or None, got {config.max_params!r}")
    if not isinstance(config.budget_s, (int, float)) or config.budget_s <= 0:
        raise ValueError(f"the time budget must be positive (seconds), got {config.budget_s!r}")
    return config


def _image_objective(train, val, space, epochs, max_params, models: dict):
    """Architecture + learning-rate search for images; trained models are kept in `models` by trial number."""
    def objective(trial):
        model = automl.cnn(*(trial.suggest_categorical(k, space[k]) for k in ("depth", "width", "kernel")))
        model = automl.train_cnn(model, train, trial.suggest_float("lr", 3e-3, 3e-2, log=True), epochs, trial.number)
        models[trial.number] = model
        trial.set_user_attr("params", kit_train.count_params(model))
        trial.set_user_attr("predict_ms", automl.latency_ms(model, val[0][:200], repeats=1))
        if max_params is not None:
            trial.set_constraint("max_params", kit_train.count_params(model) - max_params)
        return kit_train.evaluate(model, val)["acc"]
    return objective


def _feasible(trial) -> bool:
    """Within every limit set with `trial.set_constraint` (Optuna: a value <= 0 means satisfied)."""
    return all(v <= 0 for v in (trial.constraints or {}).values())


def pick_best(study, goal: str = "accuracy", tolerance: float = 0.01):
    """The trial to keep: the most accurate feasible one, or (goal small / fast) the smallest / quickest
    within `tolerance` of that accuracy."""
    done = [t for t in study.trials if t.value is not None and _feasible(t)]
    if not done:
        raise RuntimeError("no trial finished within the budget and limits: give it more time or relax max_params")
    top = max(t.value for t in done)
    close = [t for t in done if t.value >= top - tolerance]
    key = {"accuracy": lambda t: -t.value, "small": lambda t: t.user_attrs["params"],
           "fast": lambda t: t.user_attrs["predict_ms"]}[goal]
    return min(close, key=key)


def run_search(config: SearchConfig, data=None, on_trial=None, n_train=None, epochs=1, seed=0) -> dict:
    """Search `config.dataset` with its domain preset for `config.budget_s` seconds; refit the best on the
    training set and score it on the untouched test set.

    `on_trial(study, trial)` is called after every trial (the panel's progress bar and leaderboard).
    Returns {'study', 'leaderboard' (DataFrame), 'best' (params), 'test_acc', 'model'}.
    """
    import optuna

    from kit import data as kit_data

    config = validate_config(config.as_dict() if isinstance(config, SearchConfig) else config)
    domain = automl.domain_of(config.dataset)
    space = automl.restrict(automl.PRESETS[domain], config.family)
    d = data or kit_data.load(config.dataset)
    if n_train:
        d = d.subset(n_train, None, seed=seed)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    models = {}
    if domain == "image":
        n_val = len(d.X_train) // 5
        train, val = (d.X_train[n_val:], d.y_train[n_val:]), (d.X_train[:n_val], d.y_train[:n_val])
        objective = _image_objective(train, val, space, epochs, config.max_params, models)
    else:
        prep = (lambda X: np.asarray(X, dtype=object)) if domain == "text" else automl.as_table
        X, X_test = prep(d.X_train), prep(d.X_test)
        objective = automl.pipeline_objective(X, d.y_train, space, max_params=config.max_params)
    study.optimize(objective, timeout=config.budget_s, callbacks=[on_trial] if on_trial else None)
    best = pick_best(study, config.goal)
    if domain == "image":
        model = models[best.number]
        test_acc = kit_train.evaluate(model, (d.X_test, d.y_test))["acc"]
    else:
        model = automl.build_pipeline(optuna.trial.FixedTrial(best.params), space).fit(X, d.y_train)
        test_acc = float((model.predict(X_test) == d.y_test).mean())
    return {"study": study, "leaderboard": leaderboard(study), "best": best.params, "test_acc": test_acc,
            "model": model, "config": config}


def leaderboard(study, top: int = 10):
    """The finished trials, best first: trial, model, validation accuracy, size, prediction time."""
    import pandas as pd

    rows = [{"trial": t.number, "model": t.params.get("model", "cnn"), "val_acc": round(t.value, 4),
             "params": t.user_attrs.get("params"), "predict_ms": round(t.user_attrs.get("predict_ms", 0), 2),
             "feasible": _feasible(t)}
            for t in study.trials if t.value is not None]
    frame = pd.DataFrame(rows, columns=["trial", "model", "val_acc", "params", "predict_ms", "feasible"])
    return frame.sort_values("val_acc", ascending=False).head(top).reset_index(drop=True)


class Panel:
    """A no-code AutoML panel: pick a dataset and a time budget, press Train, watch the leaderboard.

    Everything is an ipywidgets attribute, so a test (or a curious learner) can drive it from code:
    `panel.dataset.value = "wine"; panel.budget.value = 5; panel.train_button.click()`.
    """

    def __init__(self, datasets=None, budget_s: int = 20, max_budget_s: int = 600, n_train=None):
        import ipywidgets as w

        self.n_train = n_train
        self.dataset = w.Dropdown(options=list(datasets or automl.DATASETS), description="dataset")
        self.budget = w.IntSlider(value=budget_s, min=1, max=max_budget_s, description="budget (s)")
        self.goal = w.Dropdown(options=list(GOALS), description="goal")
        self.train_button = w.Button(description="Train", button_style="primary", icon="play")
        self.progress = w.FloatProgress(value=0, min=0, max=1, description="progress")
        self.status = w.HTML("Pick a dataset and a budget, then press Train.")
        self.board = w.HTML()
        self.result = None
        self.train_button.on_click(lambda _: self.train())
        self.widget = w.VBox([w.HBox([self.dataset, self.goal]), w.HBox([self.budget, self.train_button]),
                              self.progress, self.status, self.board])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    @property
    def leaderboard(self):
        return None if self.result is None else self.result["leaderboard"]

    def train(self):
        """Run the search the widgets describe; update the progress bar and leaderboard after each trial."""
        config = SearchConfig(self.dataset.value, goal=self.goal.value, budget_s=self.budget.value)
        start = time.perf_counter()
        self.train_button.disabled = True
        self.status.value = f"Searching {config.dataset} for {config.budget_s} s..."

        def on_trial(study, trial):
            self.progress.value = min(1.0, (time.perf_counter() - start) / config.budget_s)
            self.board.value = leaderboard(study, top=5).to_html(index=False)
        try:
            self.result = run_search(config, on_trial=on_trial, n_train=self.n_train)
        except (ValueError, RuntimeError) as error:
            self.status.value = f"<b>Could not train:</b> {error}"
            return None
        finally:
            self.train_button.disabled = False
        self.progress.value = 1.0
        self.board.value = self.result["leaderboard"].to_html(index=False)
        self.status.value = (f"Best: {self.result['best']} | test accuracy <b>{self.result['test_acc']:.3f}</b> "
                             f"({len(self.result['study'].trials)} trials in {time.perf_counter() - start:.0f} s)")
        return self.result
