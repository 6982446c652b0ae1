import json

import numpy as np
import pytest
import torch
from torch import nn

from kit import data, lessons, report, train


def _digits():
    d = data.load("digits")
    return (torch.as_tensor(d.X_train).flatten(1), d.y_train), (torch.as_tensor(d.X_test).flatten(1), d.y_test)


def test_fit_learns_real_digits():
    torch.manual_seed(0)
    (X, y), (X_val, y_val) = _digits()
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    before = train.evaluate(model, (X_val, y_val))["acc"]
    history = train.fit(model, (X, y), (X_val, y_val), epochs=5, lr=5e-3, progress=False)
    assert len(history.rows) == 5 and history["epoch"] == [1, 2, 3, 4, 5]
    assert history.last("val_acc") > max(0.8, before + 0.5)
    assert history.rows[-1]["train_loss"] < history.rows[0]["train_loss"]
    assert (train.predict(model, X_val) == y_val).mean() == pytest.approx(history.last("val_acc"))
    assert history.plot().axes  # a static figure with two panels


def test_fit_without_plot_draws_nothing(monkeypatch):
    drawn = []
    monkeypatch.setattr(train.LivePlot, "draw", lambda self, rows: drawn.append(len(rows)))
    monkeypatch.setattr(train, "_in_ipython", lambda: True)          # where finish() would display
    history = train.fit(nn.Linear(4, 2), (torch.zeros(8, 4), torch.zeros(8, dtype=torch.long)), epochs=2,
                        progress=False, plot=False, live=True)
    assert len(history.rows) == 2 and drawn == []


def test_fit_rejects_bad_input():
    model = nn.Linear(4, 2)
    X, y = torch.zeros(8, 4), torch.zeros(8, dtype=torch.long)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        train.fit(model, (X, y), epochs=0)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        train.fit(model, (X, y), lr=0)
    with pytest.raises(ValueError, match="X has 8 rows but y has 3"):
        train.fit(model, (X, y[:3]), progress=False)
    with pytest.raises(ValueError, match="empty dataset"):
        train.fit(model, (X[:0], y[:0]), progress=False)


def test_live_plot_collects_rows_headless():
    plot = train.LivePlot(live=False)
    plot.update({"epoch": 1, "train_loss": 1.0, "val_acc": 0.5})
    plot.update({"epoch": 2, "train_loss": 0.5, "val_acc": 0.7})
    fig = plot.draw(plot.rows)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]


def test_record_writes_the_results_file(tmp_path, monkeypatch, capsys):
    target = tmp_path / "metrics.json"
    monkeypatch.setenv("KIT_RESULTS_FILE", str(target))
    assert report.record("val_accuracy", np.float32(0.9)) == pytest.approx(0.9)
    report.record("flag", True)
    assert json.loads(target.read_text())["metrics"]["val_accuracy"] == pytest.approx(0.9)
    assert report.recorded()["flag"] == 1
    assert "recorded val_accuracy = 0.9" in capsys.readouterr().out


def test_record_rejects_nan_and_non_numbers():
    with pytest.raises(ValueError, match="NaN"):
        report.record("x", float("nan"))
    with pytest.raises(TypeError, match="number or a string"):
        report.record("x", [1, 2])
    with pytest.raises(ValueError, match="needs a metric name"):
        report.record("", 1)


def test_targets_are_evaluated_safely():
    assert lessons.check_target("a - b >= 0.25", {"a": 0.9, "b": 0.5}) is True
    assert lessons.check_target("a <= b / 3", {"a": 200, "b": 500}) is False
    assert lessons.check_target("a >= 1", {}) is None
    with pytest.raises(ValueError, match="Call"):
        lessons.check_target("__import__('os') == 1", {})


def test_lesson_lookup():
    assert lessons.get("00").stem == "00_start_here"
    assert lessons.get("notebooks/02_rag.ipynb").number == "02"
    with pytest.raises(ValueError, match="Unknown lesson '99'"):
        lessons.get("99")
