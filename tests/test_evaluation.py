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


def test_stream_without_reuse_never_repeats_an_example(digits):
    X, y = digits
    stream = evaluation.make_stream(X, y, steps=5, batch_size=60, drift_start=None, reuse=False)
    flat = np.concatenate([b.X.reshape(len(b.X), -1) for b in stream])
    assert len(np.unique(flat, axis=0)) == 300
    with pytest.raises(ValueError, match="without reuse need 310"):
        evaluation.make_stream(X, y, steps=31, batch_size=10, drift_start=None, reuse=False)


def _linear():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def test_replay_with_label_delay_retrains_only_on_labels_that_arrived(digits):
    X, y = digits
    stream = evaluation.make_stream(X, y, steps=6, batch_size=30, drift_start=1, ramp=1, reuse=False)
    evals = evaluation.make_stream(X, y, steps=6, batch_size=20, drift_start=1, ramp=1, seed=9)
    model = _linear()
    reference = evaluation.probabilities(model, X[:100]).max(1)
    seen_sizes, resets = [], []
    monitor = evaluation.DriftMonitor(reference, alpha=0.999, patience=1)    # fires at every step
    original_reset = monitor.reset
    monitor.reset = lambda scores: (resets.append(len(scores)), original_reset(scores))
    frame = evaluation.replay(model, stream, monitor, retrain=lambda m, Xr, yr: seen_sizes.append(len(Xr)),
                              memory=2, eval_stream=evals, label_delay=2)
    # step t retrains on batches t-3..t-2 (labels 2 steps late): none at steps 0-1, one at 2, then two
    assert seen_sizes == [30, 60, 60, 60] and frame["retrained"].tolist() == [False, False, True, True, True, True]
    assert resets == [60, 60, 60, 60]      # the reference: the 2 newest batches, which it was not retrained on
    assert frame["acc"].between(0, 1).all() and "acc_stream" in frame


def test_replay_periodic_baseline_and_bad_arguments(digits):
    X, y = digits
    stream = evaluation.make_stream(X, y, steps=6, batch_size=30, drift_start=None)
    sizes = []
    frame = evaluation.replay(_linear(), stream, None, retrain=lambda m, Xr, yr: sizes.append(len(Xr)),
                              memory=3, every=3)
    assert frame["retrained"].tolist() == [False, False, True, False, False, True] and sizes == [60, 90]
    assert not frame["alarm"].any()
    with pytest.raises(ValueError, match="needs a trigger"):
        evaluation.replay(_linear(), stream, None, retrain=lambda *a: None)
    with pytest.raises(ValueError, match="label_delay"):
        evaluation.replay(_linear(), stream, label_delay=-1)
    with pytest.raises(ValueError, match="one per step"):
        evaluation.replay(_linear(), stream, eval_stream=stream[:2])


def test_window_mean():
    frame = pd.DataFrame({"step": range(6), "acc": [1.0, 0.0] * 3})
    assert evaluation.window_mean(frame, window=2).iloc[-1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="window 10 is longer than the stream"):
        evaluation.window_mean(frame, window=10)


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


def test_gap_change_sees_a_wider_gap_and_not_an_unchanged_one():
    rng = np.random.default_rng(0)
    group = np.array(["m", "w"] * 2000)
    before = np.where(group == "m", rng.random(4000) < 0.3, rng.random(4000) < 0.1).astype(int)
    after = np.where(group == "m", rng.random(4000) < 0.5, rng.random(4000) < 0.1).astype(int)
    y_pred, g = np.concatenate([before, after]), np.concatenate([group, group])
    wider = evaluation.gap_change(y_pred, g, np.arange(4000), np.arange(4000, 8000), n=300)
    assert wider["ci"][0] > 0.1 and wider["effect"] == pytest.approx(0.2, abs=0.05)
    same = evaluation.gap_change(y_pred, g, np.arange(2000), np.arange(2000, 4000), n=300)
    assert same["ci"][0] < 0 < same["ci"][1]
    assert evaluation.parity_gap([1, 1, 0, 0], ["a", "a", "b", "b"]) == 1.0
    with pytest.raises(ValueError, match="both periods"):
        evaluation.gap_change(y_pred, g, [], [1, 2])


def test_gap_alarms_need_a_significant_widening_with_patience():
    frame = pd.DataFrame({"gap": [0.2, 0.2, 0.4, 0.2, 0.4, 0.4], "selection_m": [0.3, 0.3, 0.5, 0.3, 0.5, 0.5],
                          "selection_w": [0.1] * 6, "n_m": [300] * 6, "n_w": [300] * 6})
    alarms = evaluation.gap_alarms(frame, reference_gap=0.2, groups=("m", "w"), patience=2)
    assert alarms.tolist() == [False, False, False, False, False, True]
    assert evaluation.gap_alarms(frame, 0.2, ("m", "w"), patience=1).tolist() == [False, False, True, False, True, True]
    with pytest.raises(ValueError, match="groups=\\('m', 'w'\\)"):
        evaluation.gap_alarms(frame, 0.2, groups=("a", "b"))
