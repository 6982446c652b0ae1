import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from kit import data, evaluation


@pytest.fixture(scope="module")
def digits():
    d = data.load("mnist5k")
    return d.X_test[:300], d.y_test[:300]


def test_drift_images_keeps_shape_and_range(digits):
    X, _ = digits
    out = evaluation.drift_images(X[:20], 1.0, seed=0)
    assert out.shape == (20, 28, 28) and out.min() >= 0 and out.max() <= 1
    assert np.array_equal(evaluation.drift_images(X[:5], 0.0), X[:5])
    assert np.abs(out - X[:20]).mean() > 0.05


def test_drift_images_rejects_bad_input(digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"\(n, height, width\)"):
        evaluation.drift_images(X[0], 0.5)
    with pytest.raises(ValueError, match="severity must be in"):
        evaluation.drift_images(X, 1.5)


def test_stream_ramps_up_after_drift_start(digits):
    X, y = digits
    stream = evaluation.make_stream(X, y, steps=8, batch_size=20, drift_start=3, ramp=2)
    assert [b.severity for b in stream] == [0, 0, 0, 0.5, 1, 1, 1, 1]
    assert all(len(b.X) == len(b.y) == 20 for b in stream)
    assert all(b.severity == 0 for b in evaluation.make_stream(X, y, 4, 10, drift_start=None))
    with pytest.raises(ValueError, match="larger than the 300 examples"):
        evaluation.make_stream(X, y, 2, 301, None)


def test_psi_and_monitor_see_a_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 2000)
    assert evaluation.psi(ref, rng.normal(0, 1, 2000)) < 0.05
    assert evaluation.psi(ref, rng.normal(1, 1, 2000)) > 0.2
    monitor = evaluation.DriftMonitor(ref, alpha=1e-3, patience=2)
    assert monitor.update(rng.normal(0, 1, 200))[0] is False
    assert monitor.update(rng.normal(1.5, 1, 200))[0] is False     # one rejection is not yet an alarm
    assert monitor.update(rng.normal(1.5, 1, 200))[0] is True
    with pytest.raises(ValueError, match="alpha"):
        evaluation.DriftMonitor(ref, alpha=0)


def test_replay_records_accuracy_alarms_and_retrains(digits):
    X, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    calls = []
    stream = evaluation.make_stream(X, y, steps=4, batch_size=30, drift_start=1, ramp=1)
    reference = evaluation.probabilities(model, X[:100]).max(1)
    frame = evaluation.replay(model, stream, evaluation.DriftMonitor(reference, alpha=0.5, patience=1),
                              retrain=lambda m, Xr, yr: calls.append(len(Xr)), memory=2)
    assert list(frame["step"]) == [0, 1, 2, 3] and frame["acc"].between(0, 1).all()
    assert "acc_class_0" in frame and frame["retrained"].sum() == len(calls)


def test_window_and_slice_alerts():
    frame = pd.DataFrame({"step": range(6), "acc": [0.9] * 6,
                          "acc_class_0": [0.9] * 6, "acc_class_1": [0.9, 0.9, 0.9, 0.3, 0.3, 0.3]})
    assert evaluation.window_mean(frame, window=2).iloc[-1] == pytest.approx(0.9)
    alerts = evaluation.slice_alerts(frame, window=2, gap=0.15)
    assert set(alerts["slice"]) == {"1"} and alerts["step"].min() == 3
    with pytest.raises(ValueError, match="window 10 is longer than the stream"):
        evaluation.window_mean(frame, window=10)


def test_fresh_questions_differ_per_seed_and_are_checkable():
    a, b = evaluation.fresh_questions(5, seed=1), evaluation.fresh_questions(5, seed=2)
    assert a == evaluation.fresh_questions(5, seed=1) and a != b
    q = a[0]
    assert evaluation.answer_is_correct(f"The answer is {q['answer']}.", q["answer"])
    assert not evaluation.answer_is_correct("I don't know", q["answer"])
    with pytest.raises(ValueError, match="at least one"):
        evaluation.fresh_questions(0, seed=1)


def test_answer_reads_equations():
    assert evaluation.answer_is_correct("12 + 7 = 19\n\nThis is", "19")
    assert not evaluation.answer_is_correct("12 + 7 = 8", "19")


def test_group_stream_drifts_one_groups_makeup_only_after_the_start():
    group = np.array([0] * 500 + [1] * 500)
    shifted = np.tile([True, False], 500)
    steps = evaluation.group_stream(1000, group, steps=8, batch_size=200, drift_start=4, shifted=shifted,
                                    strength=5, ramp=1, seed=0)
    share = [np.mean(shifted[i][group[i] == 0]) for i in steps]
    assert all(len(set(i)) == 200 for i in steps)                    # no row twice within a step
    assert max(share[:4]) > 0.35 and max(share[4:]) < 0.1
    calm = evaluation.group_stream(1000, group, 8, 200, None, shifted, seed=0)
    assert min(np.mean(shifted[i][group[i] == 0]) for i in calm) > 0.3
    with pytest.raises(ValueError, match="one value per row"):
        evaluation.group_stream(10, group, 2, 5, None, shifted)
    with pytest.raises(ValueError, match="larger than the table"):
        evaluation.group_stream(1000, group, 2, 2000, None, shifted)


def test_fairness_over_time_measures_the_gap_with_fairlearn():
    group = np.array([0, 0, 1, 1] * 25)
    y_pred = np.array([0, 0, 1, 1] * 25)                              # group 1 always selected, group 0 never
    y_true = y_pred.copy()
    frame = evaluation.fairness_over_time(y_true, y_pred, group, [np.arange(100), np.arange(50)])
    assert frame["gap"].tolist() == [1.0, 1.0] and frame["acc"].tolist() == [1.0, 1.0]
    assert frame["selection_0"].iloc[0] == 0 and frame["selection_1"].iloc[0] == 1
    fair = evaluation.fairness_over_time(y_true, np.ones(100, int), group, [np.arange(100)])
    assert fair["gap"].iloc[0] == 0
    odds = evaluation.fairness_over_time(y_true, y_pred, group, [np.arange(100)], metric="equalized_odds")
    assert "gap" in odds
    with pytest.raises(ValueError, match="Unknown metric"):
        evaluation.fairness_over_time(y_true, y_pred, group, [np.arange(10)], metric="parity")
