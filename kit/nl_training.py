"""Natural-language training: SmolLM2 reads an instruction and fills the search configuration.

    parser = nl_training.InstructionParser()     # SmolLM2 reads "a small model for the digits, 2 min"
    config = parser.parse("find a small, fast model for the digits, under 10k parameters, in two minutes")
    result = lowcode.run_search(config)          # the same engine as the no-code panel

A 135M-parameter model cannot be trusted to write free-form JSON, so the parser never lets it:
for every key it reads a few solved examples and one short question, and only *scores* the
allowed answers (constrained decoding by log-likelihood). Values the instruction names literally
(a dataset, a model family, "two minutes", "10k parameters") override the model's answer for that
key (grounding); the result goes through the same schema check as a hand-written config
(`lowcode.validate_config`), and an instruction it cannot map raises `UnmappableInstruction` with a message.
"""
import re
import time

from kit import automl, lowcode

__all__ = ["CHOICES", "QUESTIONS", "FEW_SHOT", "CUES", "explicit_answers", "UnmappableInstruction",
           "InstructionParser", "to_config", "load_instructions", "parse_accuracy", "RULE_DEFAULTS", "rules_only",
           "score_three_ways"]


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
    """SmolLM2 + constrained decoding: instruction -> validated `lowcode.SearchConfig`.

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

    def parse(self, instruction: str, grounded: bool = True) -> lowcode.SearchConfig:
        """Map an instruction to a validated search configuration, or raise `UnmappableInstruction`.

        With `grounded`, a value the instruction names literally (a dataset, a family, a number with a
        unit) overrides the model's answer for that key; the model decides the rest (goal, refusal).
        """
        if not instruction or not instruction.strip():
            raise UnmappableInstruction("The instruction is empty. Say which dataset to train on, e.g. "
                                        "'a small model for the digits in two minutes'.")
        answers, explicit = self.read(instruction)
        return to_config(instruction, {**answers, **explicit} if grounded else answers)


def to_config(instruction: str, answers: dict) -> lowcode.SearchConfig:
    """Surface-form answers -> a validated `SearchConfig`, or `UnmappableInstruction` saying what is missing."""
    values = {_FIELD_OF.get(k, k): CHOICES[k][v] for k, v in answers.items()}
    if values["dataset"] is None:
        raise UnmappableInstruction(
            f"Could not map {instruction!r} to a training task: it names none of the course's datasets "
            f"({', '.join(automl.DATASETS)}). Say what to train on, and optionally a model family, "
            "a goal (accurate / small / fast), a parameter limit and a time budget.")
    try:
        return lowcode.validate_config(values)
    except ValueError as error:
        raise UnmappableInstruction(f"{instruction!r} was read as {answers}, which is not a valid search: "
                                    f"{error}") from error


def load_instructions(name: str = "07_automl/instructions.jsonl") -> list[dict]:
    """Instructions with their expected configurations (None = should be refused).

    `07_automl/instructions.jsonl` (18) was written with the rules and tunes them (a development set);
    `07_automl/heldout_instructions.jsonl` (48) was written afterwards, independently of the rules and
    never used to change them: paraphrases, typos, numbers in words, datasets the course lacks.
    """
    import json

    from kit import data

    lines = data.course_file(name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# What the rules assume for a key the instruction does not name (the schema's defaults; no dataset = refuse).
RULE_DEFAULTS = {"dataset": "none", "family": "any", "goal": "accuracy", "max_params": "none", "budget": "1min"}


def rules_only(instruction: str) -> dict:
    """The answers of the keyword rules alone: the literal values, the schema defaults for the rest."""
    return {**RULE_DEFAULTS, **explicit_answers(instruction)}


def score_three_ways(parser, cases: list[dict], control_seed: int | None = None) -> list[dict]:
    """Per instruction: is the whole config right with the rules alone, the model alone, and both?

    With `control_seed`, a fourth score: the rules plus the model's answers for ANOTHER instruction
    (a shuffled pairing) - the negative control of "the model adds something": if that scored as well,
    the model's reading of the instruction would not be what helps.
    """
    import numpy as np

    other = None
    if control_seed is not None:
        order = np.random.default_rng(control_seed).permutation(len(cases))
        other = [int(j) if j != i else (i + 1) % len(cases) for i, j in enumerate(order)]
    model_answers = [parser.choose(case["instruction"]) for case in cases]
    rows = []
    for i, case in enumerate(cases):
        text, expected = case["instruction"], case["expected"]
        rules, model = rules_only(text), model_answers[i]
        row = {"instruction": text, "rules": _judge(text, rules, expected)["correct"],
               "model": _judge(text, {**RULE_DEFAULTS, **model}, expected)["correct"],
               "both": _judge(text, {**rules, **model, **explicit_answers(text)}, expected)["correct"]}
        if other is not None:
            row["control"] = _judge(text, {**rules, **model_answers[other[i]], **explicit_answers(text)},
                                    expected)["correct"]
        rows.append(row)
    return rows


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
