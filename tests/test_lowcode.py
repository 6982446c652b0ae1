"""Unit tests for kit/lowcode.py: the config schema, the one-call search and the panel."""
import optuna
import pytest

from kit import lowcode

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
    assert result["test_acc"] > 0.6
    assert set(result["leaderboard"]["model"]) == {"logistic"}
    with pytest.raises(ValueError, match="time budget must be positive"):
        lowcode.run_search(lowcode.SearchConfig("iris", budget_s=0))


def test_run_search_image_respects_max_params():
    result = lowcode.run_search(lowcode.SearchConfig("mnist5k", budget_s=0.5, max_params=10**6), n_train=120)
    assert result["leaderboard"]["feasible"].all() and 0 <= result["test_acc"] <= 1
    with pytest.raises(RuntimeError, match="relax max_params"):
        lowcode.run_search(lowcode.SearchConfig("mnist5k", budget_s=0.5, max_params=10), n_train=120)


def test_panel_driven_programmatically():
    panel = lowcode.Panel(n_train=100)
    assert panel.leaderboard is None
    panel.dataset.value = "wine"
    panel.budget.value = 1
    panel.train_button.click()
    board = panel.leaderboard
    assert len(board) >= 1 and board["val_acc"].iloc[0] == board["val_acc"].max()
    assert panel.progress.value == 1.0 and "test accuracy" in panel.status.value
    assert "<table" in panel.board.value and not panel.train_button.disabled
