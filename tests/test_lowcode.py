"""Unit tests for kit/lowcode.py: config schema, one-call search, the panel, and the instruction parser."""
import optuna
import pytest

from kit import automl, lowcode

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_validate_config_accepts_and_refuses():
    config = lowcode.validate_config({"dataset": "digits", "goal": "small", "max_params": 10000, "budget_s": 120})
    assert config.family == "any" and config.as_dict()["budget_s"] == 120
    with pytest.raises(ValueError, match="time budget must be positive"):
        lowcode.validate_config({"dataset": "wine", "budget_s": 0})
    with pytest.raises(ValueError, match="needs a dataset"):
        lowcode.validate_config({"dataset": None})
    with pytest.raises(ValueError, match="unknown config keys"):
        lowcode.validate_config({"dataset": "wine", "epochs": 3})
    with pytest.raises(ValueError, match="empty search space"):
        lowcode.validate_config({"dataset": "wine", "family": "cnn"})
    with pytest.raises(ValueError, match="Unknown goal"):
        lowcode.validate_config({"dataset": "wine", "goal": "cheap"})
    with pytest.raises(ValueError, match="max_params must be a positive"):
        lowcode.validate_config({"dataset": "wine", "max_params": -5})


def test_run_search_tabular_and_zero_budget():
    result = lowcode.run_search(lowcode.SearchConfig("iris", family="logistic", budget_s=0.5))
    assert result["test_acc"] > 0.6 and list(result["leaderboard"]["model"]) == ["logistic"] * len(result["leaderboard"])
    with pytest.raises(ValueError, match="time budget must be positive"):
        lowcode.run_search(lowcode.SearchConfig("iris", budget_s=0))


def test_run_search_image_respects_max_params():
    result = lowcode.run_search(lowcode.SearchConfig("mnist5k", budget_s=0.5, max_params=10**6), n_train=120)
    assert result["leaderboard"]["feasible"].all() and 0 <= result["test_acc"] <= 1
    with pytest.raises(RuntimeError, match="relax max_params"):
        lowcode.run_search(lowcode.SearchConfig("mnist5k", budget_s=0.5, max_params=10), n_train=120)


def test_panel_driven_programmatically():
    panel = automl.Panel(n_train=100)
    assert panel.leaderboard is None
    panel.dataset.value = "wine"
    panel.budget.value = 1
    panel.train_button.click()
    board = panel.leaderboard
    assert len(board) >= 1 and board["val_acc"].iloc[0] == board["val_acc"].max()
    assert panel.progress.value == 1.0 and "test accuracy" in panel.status.value
    assert "<table" in panel.board.value and not panel.train_button.disabled


class _Scripted(lowcode.InstructionParser):
    """The parser's validation with a scripted 'model', so the test needs no LLM."""

    def __init__(self, answers):
        self.answers = answers

    def choose(self, instruction):
        return self.answers


def test_parse_maps_surface_forms_and_refuses_clearly():
    good = {"dataset": "mnist", "family": "cnn", "goal": "small", "max_params": "10k", "budget": "2min"}
    assert _Scripted(good).parse("small cnn for mnist").as_dict() == {
        "dataset": "mnist5k", "family": "cnn", "goal": "small", "max_params": 10000, "budget_s": 120}
    with pytest.raises(lowcode.UnmappableInstruction, match="names none of the course's datasets"):
        _Scripted({**good, "dataset": "none"}).parse("Write me a poem")
    with pytest.raises(lowcode.UnmappableInstruction, match="not a valid search: empty search space"):
        _Scripted({**good, "dataset": "wine"}).parse("cnn for wine")
    with pytest.raises(lowcode.UnmappableInstruction, match="empty"):
        _Scripted(good).parse("   ")


def test_parse_accuracy_scores_refusals_and_keys():
    good = {"dataset": "wine", "family": "any", "goal": "accuracy", "max_params": "none", "budget": "1min"}
    cases = [{"instruction": "wine, one minute", "expected": {"dataset": "wine", "budget_s": 60}},
             {"instruction": "wine, 5 minutes", "expected": {"dataset": "wine", "budget_s": 300}},
             {"instruction": "a poem", "expected": None}]
    acc, rows = lowcode.parse_accuracy(_Scripted(good), cases)
    assert acc == pytest.approx(2 / 3)                   # '5 minutes' is grounded; the poem is not refused
    assert rows[1]["correct"] and not rows[1]["model_only_correct"] and not rows[2]["correct"]


def test_explicit_answers_reads_names_and_numbers():
    found = lowcode.explicit_answers("find a small model for the digits, under 10k parameters, in two minutes")
    assert found == {"dataset": "digits", "max_params": "10k", "budget": "2min", "goal": "small"}
    assert lowcode.explicit_answers("naive bayes on the polarity sentences, 30 seconds") == {
        "dataset": "polarity", "family": "nb", "budget": "30s"}
    assert lowcode.explicit_answers("Write me a poem about autumn leaves") == {}


def test_course_instructions_file():
    cases = lowcode.load_instructions()
    assert len(cases) >= 15 and any(c["expected"] is None for c in cases)
    for case in cases:
        if case["expected"] is not None:
            lowcode.validate_config(case["expected"])
