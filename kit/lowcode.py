"""Low-code and natural-language training: a clickable panel and an instruction parser.

    panel = automl.Panel()                       # dataset, time budget, Train, progress, leaderboard
    parser = lowcode.InstructionParser()         # SmolLM2 reads "a small model for the digits, 2 min"
    config = parser.parse("find a small, fast model for the digits, under 10k parameters, in two minutes")

A 135M-parameter model cannot be trusted to write free-form JSON, so the parser never lets it:
for every key it reads a few solved examples and one short question, and only *scores* the
allowed answers (constrained decoding by log-likelihood). Values the instruction names literally
(a dataset, a model family, "two minutes", "10k parameters") override the model's answer for that
key (grounding); the result goes through the same schema check as a hand-written config
(`SearchConfig`), and an instruction it cannot map raises `UnmappableInstruction` with a message.
"""
import re
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from kit import automl
from kit import train as kit_train
from kit.errors import unknown

__all__ = ["GOALS", "SearchConfig", "validate_config", "run_search", "pick_best", "leaderboard", "CHOICES",
           "QUESTIONS", "FEW_SHOT", "CUES", "explicit_answers", "UnmappableInstruction", "InstructionParser",
           "to_config", "load_instructions",
           "parse_accuracy", "Panel"]



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
        raise ValueError(f"unknown config keys {sorted(extra)}; allowed: {', '.join(SearchConfig.__dataclass_fields__)}")
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
        model = automl.SmallCNN(*(trial.suggest_categorical(k, space[k]) for k in ("depth", "width", "kernel")))
        model = automl.train_cnn(model, train, trial.suggest_float("lr", 3e-3, 3e-2, log=True), epochs, trial.number)
        models[trial.number] = model
        trial.set_user_attr("params", automl.count_params(model))
        trial.set_user_attr("predict_ms", automl.latency_ms(model, val[0][:200], repeats=1))
        if max_params is not None:
            trial.set_constraint("max_params", automl.count_params(model) - max_params)
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



class UnmappableInstruction(ValueError):
    """The instruction does not describe a training task the course can run."""


# The surface forms the model chooses between, close to how people write them, and their values.
CHOICES = {
    "dataset": {"digits": "digits", "mnist": "mnist5k", "breast_cancer": "breast_cancer", "wine": "wine",
                "iris": "iris", "polarity": "polarity", "none": None},
    "family": {"any": "any", "logistic": "logistic", "forest": "forest", "boosting": "boosting", "mlp": "mlp",
               "cnn": "cnn", "nb": "nb"},
    "goal": {"accuracy": "accuracy", "small": "small", "fast": "fast"},
    "max_params": {"none": None, "1k": 1000, "5k": 5000, "10k": 10000, "50k": 50000, "100k": 100000},
    "budget": {"30s": 30, "1min": 60, "2min": 120, "5min": 300, "10min": 600},
}
_FIELD_OF = {"budget": "budget_s"}

# One short question per key: a 135M model answers one simple question far better than it fills a form.
QUESTIONS = {
    "dataset": "Which dataset should the model be trained on? (digits, mnist, breast_cancer, wine, iris, "
               "polarity; none if the request is not about training a model)",
    "family": "Which model family does the request name? (logistic regression, random forest, gradient boosting, "
              "mlp neural network, cnn convolutional network, nb naive bayes; any if it names none)",
    "goal": "What should the model be? (small if it must be small/tiny/compact or has a parameter limit, "
            "fast if it must predict fast, otherwise accuracy)",
    "max_params": "What is the parameter limit? (1k, 5k, 10k, 50k, 100k; none if no limit is given)",
    "budget": "How long may the search take? (30s, 1min, 2min, 5min, 10min)",
}

# Solved examples shown to the model (none of them is in the course's test instructions).
FEW_SHOT = [
    ("Get the most accurate model you can for the digits in five minutes", "digits any accuracy none 5min"),
    ("train a random forest on the iris data, 1 minute", "iris forest accuracy none 1min"),
    ("Small CNN for mnist, no more than 100k parameters, ten minutes", "mnist cnn small 100k 10min"),
    ("breast cancer with logistic regression, must predict fast, 30 seconds",
     "breast_cancer logistic fast none 30s"),
    ("Book me a flight to Paris", "none any accuracy none 1min"),
    ("sentiment of the polarity movie sentences, two minutes", "polarity any accuracy none 2min"),
    ("a compact wine classifier with at most 5k parameters using boosting, 2 min", "wine boosting small 5k 2min"),
    ("How tall is Mount Everest?", "none any accuracy none 1min"),
    ("MLP on the handwritten digits, under 50k parameters, ten minutes", "digits mlp small 50k 10min"),
    ("naive bayes on the movie reviews, one minute", "polarity nb accuracy none 1min"),
    ("best model for the tumour data (breast cancer), half a minute", "breast_cancer any accuracy none 30s"),
    ("a quick-to-predict model for iris, 10k parameters at most, five minutes", "iris any small 10k 5min"),
]


# What the instruction states literally. The model's answer for a key is checked against these cues;
# when the text names exactly one allowed value, that value wins (a 135M model misreads names and numbers).
CUES = {
    "dataset": {"digits": ["digit"], "mnist": ["mnist"], "breast_cancer": ["breast cancer", "tumour", "tumor"],
                "wine": ["wine"], "iris": ["iris"], "polarity": ["polarity", "movie review", "sentiment"]},
    "family": {"logistic": ["logistic"], "forest": ["forest"], "boosting": ["boosting"],
               "mlp": ["mlp", "neural network"], "cnn": ["cnn", "convolutional"], "nb": ["naive bayes"]},
}
_NUMBERS = {"one": 1, "two": 2, "three": 3, "five": 5, "ten": 10, "thirty": 30, "half a": 0.5, "a": 1}
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + ")"


def _number(text):
    return float(text) if text[0].isdigit() else _NUMBERS[text]


def explicit_answers(instruction: str) -> dict:
    """Values the instruction names literally: {'dataset': 'wine', 'budget': '2min', 'max_params': '10k'}."""
    text = instruction.lower()
    found = {}
    for key, options in CUES.items():
        named = [option for option, phrases in options.items() if any(p in text for p in phrases)]
        if len(named) == 1:
            found[key] = named[0]
    budget = re.search(_NUM + r"[\s-]*(minute|min\b|second|sec\b|s\b)", text)
    if budget:
        seconds = _number(budget.group(1)) * (60 if budget.group(2).startswith("min") else 1)
        by_value = {v: k for k, v in CHOICES["budget"].items()}
        found["budget"] = by_value.get(int(seconds)) or found.get("budget")
    limit = re.search(r"(\d+)\s*(k\b|000\b)?\s*(?:parameters|params)", text) or re.search(r"(\d+)\s*k\b", text)
    if limit:
        count = int(limit.group(1)) * (1000 if limit.group(2) or "k" in limit.group(0) else 1)
        by_value = {v: k for k, v in CHOICES["max_params"].items() if v}
        found["max_params"] = by_value.get(count) or found.get("max_params")
        found["goal"] = "small"     # the schema's consistency rule: a parameter limit makes size the goal
    return {k: v for k, v in found.items() if v}


def _field_prompt(key: str) -> str:
    position = list(CHOICES).index(key)
    shots = "".join(f"Request: {text}\nAnswer: {answers.split()[position]}\n\n" for text, answers in FEW_SHOT)
    return f"{QUESTIONS[key]}\n\n{shots}"


class InstructionParser:
    """SmolLM2 + constrained decoding: instruction -> validated `SearchConfig`.

    For each key, the model reads a few solved examples and the instruction, then scores every
    allowed answer (sum of its tokens' log-probabilities, all answers in one batched forward pass
    on top of a cached prompt); the most likely answer wins. It can never write an invalid value.
    """

    def __init__(self, model=None, tokenizer=None):
        import torch

        from kit import models

        self.model = model if model is not None else models.load("smollm2", device="cpu")
        self.tok = tokenizer if tokenizer is not None else models.tokenizer("smollm2")
        self._torch = torch
        self._caches = {}           # key -> (key/value cache of that key's few-shot prompt, its length)

    def _ids(self, text: str) -> list:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def _forward(self, ids, cache):
        with self._torch.no_grad():
            out = self.model(input_ids=self._torch.tensor(ids), past_key_values=cache, use_cache=True)
        return self._torch.log_softmax(out.logits.float(), -1)

    def _prefix(self, key: str):
        if key not in self._caches:
            from transformers import DynamicCache

            cache, ids = DynamicCache(), self._ids(_field_prompt(key))
            self._forward([ids], cache)
            self._caches[key] = (cache, len(ids))
        return self._caches[key]

    def scores(self, instruction: str, key: str) -> dict:
        """Log-likelihood of each allowed answer for `key`, given the instruction."""
        import copy

        cache, length = self._prefix(key)
        try:
            last = self._forward([self._ids(f"Request: {instruction.strip()}\nAnswer:")], cache)[0, -1]
            options = list(CHOICES[key])
            ids = [self._ids(" " + option + "\n") for option in options]
            width = max(map(len, ids))
            batch = copy.deepcopy(cache)
            batch.batch_repeat_interleave(len(ids))
            logp = self._forward([row + [row[-1]] * (width - len(row)) for row in ids], batch)  # right padding
            return {option: last[row[0]].item() + sum(logp[b, i, row[i + 1]].item() for i in range(len(row) - 1))
                    for b, (option, row) in enumerate(zip(options, ids))}
        finally:
            cache.crop(length - cache.get_seq_length())   # transformers 5 crops by a negative count

    def choose(self, instruction: str) -> dict:
        """The most likely surface form for each key, e.g. {'dataset': 'digits', 'budget': '2min', ...}."""
        chosen = {}
        for key in CHOICES:
            scores = self.scores(instruction, key)
            chosen[key] = max(scores, key=scores.get)
        return chosen

    def read(self, instruction: str) -> tuple[dict, dict]:
        """(the model's answers, the values the text names literally) for one instruction."""
        return self.choose(instruction), explicit_answers(instruction)

    def parse(self, instruction: str, grounded: bool = True) -> SearchConfig:
        """Map an instruction to a validated search configuration, or raise `UnmappableInstruction`.

        With `grounded`, a value the instruction names literally (a dataset, a family, a number with a
        unit) overrides the model's answer for that key; the model decides the rest (goal, refusal).
        """
        if not instruction or not instruction.strip():
            raise UnmappableInstruction("The instruction is empty. Say which dataset to train on, e.g. "
                                        "'a small model for the digits in two minutes'.")
        answers, explicit = self.read(instruction)
        return to_config(instruction, {**answers, **explicit} if grounded else answers)


def to_config(instruction: str, answers: dict) -> SearchConfig:
    """Surface-form answers -> a validated `SearchConfig`, or `UnmappableInstruction` saying what is missing."""
    values = {_FIELD_OF.get(k, k): CHOICES[k][v] for k, v in answers.items()}
    if values["dataset"] is None:
        raise UnmappableInstruction(
            f"Could not map {instruction!r} to a training task: it names none of the course's datasets "
            f"({', '.join(automl.DATASETS)}). Say what to train on, and optionally a model family, "
            "a goal (accurate / small / fast), a parameter limit and a time budget.")
    try:
        return validate_config(values)
    except ValueError as error:
        raise UnmappableInstruction(f"{instruction!r} was read as {answers}, which is not a valid search: "
                                    f"{error}") from error


def load_instructions(name: str = "07_automl/instructions.jsonl") -> list[dict]:
    """The course's test instructions with their expected configurations (None = should be refused)."""
    import json

    from kit import data

    lines = data.course_file(name).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _judge(instruction, answers, expected) -> dict:
    try:
        got, note = to_config(instruction, answers).as_dict(), ""
    except UnmappableInstruction as error:
        got, note = None, str(error).split(":")[0]
    if expected is None or got is None:
        return {"correct": got == expected, "got": got, "wrong_keys": [], "note": note}
    wrong = [k for k, v in expected.items() if got.get(k) != v]
    return {"correct": not wrong, "got": got, "wrong_keys": wrong, "note": note}


def parse_accuracy(parser, cases: list[dict]) -> tuple[float, list[dict]]:
    """Share of instructions parsed exactly right (a refusal is right when `expected` is None).

    Each row also says whether the model's own answers, without the literal-value grounding, were right.
    """
    rows = []
    for case in cases:
        start = time.perf_counter()
        if not case["instruction"].strip():
            raise ValueError("a test instruction is empty")
        answers, explicit = parser.read(case["instruction"])
        row = _judge(case["instruction"], {**answers, **explicit}, case["expected"])
        row["model_only_correct"] = _judge(case["instruction"], answers, case["expected"])["correct"]
        rows.append({"instruction": case["instruction"], **row, "seconds": round(time.perf_counter() - start, 2)})
    return sum(r["correct"] for r in rows) / max(len(rows), 1), rows


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
