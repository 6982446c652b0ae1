"""Unit tests for kit/privacy.py: client shards, local training, FedAvg's average, DP noise, the MIA."""
import math

import numpy as np
import pytest

from kit import privacy
from kit.data import Data


@pytest.fixture(scope="module")
def tiny():
    """A small learnable problem shaped like MNIST: each class lights up its own block of pixels."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n)
        X = rng.normal(0, 0.3, (n, 28, 28)).astype(np.float32)
        for i, label in enumerate(y):
            X[i, label * 2:label * 2 + 3, :] += 1.0
        return X, y
    return Data("tiny", *make(300), *make(100), classes=[str(i) for i in range(10)])


def test_partition_iid_covers_every_sample_once():
    y = np.repeat(np.arange(10), 20)
    parts = privacy.partition(y, 4)
    assert sorted(np.concatenate(parts).tolist()) == list(range(200))
    assert [len(p) for p in parts] == [50, 50, 50, 50]


def test_partition_dirichlet_is_skewed_and_complete():
    y = np.repeat(np.arange(10), 50)
    skewed = privacy.label_mix(y, privacy.partition(y, 5, alpha=0.1, seed=1))
    even = privacy.label_mix(y, privacy.partition(y, 5, alpha=100.0, seed=1))
    assert skewed.sum() == even.sum() == 500
    assert (skewed == 0).sum() > (even == 0).sum()  # small alpha: clients miss whole classes


def test_partition_skewed_sizes_and_no_empty_client():
    y = np.zeros(40, dtype=int)
    sizes = [len(p) for p in privacy.partition(y, 8, sizes="skewed")]
    assert sum(sizes) == 40 and min(sizes) >= 1 and max(sizes) > min(sizes)
    assert all(len(p) >= 1 for p in privacy.partition(np.arange(10) % 2, 10, alpha=0.01))


def test_partition_bad_inputs():
    with pytest.raises(ValueError, match="more clients"):
        privacy.partition(np.arange(3), 5)
    with pytest.raises(ValueError, match="alpha must be positive"):
        privacy.partition(np.arange(10), 2, alpha=0)
    with pytest.raises(ValueError, match="at least 1"):
        privacy.partition(np.arange(10), 0)


def test_local_train_learns_and_fedprox_stays_close(tiny):
    model = privacy.make_model()
    before = privacy.accuracy(model, tiny.X_test, tiny.y_test)
    privacy.local_train(model, tiny.X_train, tiny.y_train, epochs=3, lr=0.1)
    assert privacy.accuracy(model, tiny.X_test, tiny.y_test) > max(0.6, before + 0.3)
    start = privacy.make_model(seed=1)
    free, prox = privacy.make_model(seed=1), privacy.make_model(seed=1)
    privacy.local_train(free, tiny.X_train, tiny.y_train, epochs=2, lr=0.1)
    privacy.local_train(prox, tiny.X_train, tiny.y_train, epochs=2, lr=0.1, proximal_mu=5.0)
    drift = [sum((p - q).norm() ** 2 for p, q in zip(m.parameters(), start.parameters())) for m in (free, prox)]
    assert drift[1] < drift[0]


def test_local_train_rejects_empty_client():
    with pytest.raises(ValueError, match="no data"):
        privacy.local_train(privacy.make_model(), np.zeros((0, 28, 28)), np.zeros(0))


def test_train_local_only_scores_each_client(tiny):
    scores = privacy.train_local_only(tiny, privacy.partition(tiny.y_train, 2), epochs=1)
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)


def test_weighted_average_matches_hand_computation():
    a, b = [np.array([0.0, 2.0])], [np.array([4.0, 2.0])]
    np.testing.assert_allclose(privacy.weighted_average([a, b], [1, 3])[0], [3.0, 2.0])
    with pytest.raises(ValueError, match="one weight per client"):
        privacy.weighted_average([a, b], [1])
    with pytest.raises(ValueError, match="no client updates"):
        privacy.weighted_average([], [])
    with pytest.raises(ValueError, match="more than zero"):
        privacy.weighted_average([a], [0])


def test_noise_for_epsilon_more_privacy_needs_more_noise():
    strict = privacy.noise_for_epsilon(1.0, n_samples=4000, batch_size=128, epochs=5)
    loose = privacy.noise_for_epsilon(8.0, n_samples=4000, batch_size=128, epochs=5)
    assert strict > loose > 0
    with pytest.raises(ValueError, match="epsilon must be positive"):
        privacy.noise_for_epsilon(0, 4000, 128, 5)
    with pytest.raises(ValueError, match="larger than the dataset"):
        privacy.noise_for_epsilon(3, 10, 128, 5)


def test_train_dp_spends_its_budget(tiny):
    model, acc, spent = privacy.train_dp(tiny, 8.0, epochs=1, batch_size=50)
    assert spent <= 8.0 + 0.1 and 0 <= acc <= 1
    assert not hasattr(model, "_module")  # the plain module comes back, not Opacus's wrapper
    _, _, none_spent = privacy.train_dp(tiny, None, epochs=1, batch_size=50)
    assert math.isinf(none_spent)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        privacy.train_dp(tiny, -1.0)


def test_mia_advantage_separates_memorised_members(tiny):
    model = privacy.make_model()
    privacy.local_train(model, tiny.X_train[:20], tiny.y_train[:20], epochs=60, lr=0.2)
    adv = privacy.mia_advantage(model, (tiny.X_train[:20], tiny.y_train[:20]), (tiny.X_test[:20], tiny.y_test[:20]))
    assert 0.3 < adv <= 1.0
    assert privacy.sample_losses(model, tiny.X_test[:5], tiny.y_test[:5]).shape == (5,)


def test_plots_return_figures():
    mix = np.array([[3, 1], [0, 4]])
    assert privacy.plot_label_mix(mix).axes
    assert privacy.plot_rounds({"a": [0.1, 0.5]}, {"central": 0.9}).axes
    rows = [{"epsilon": 1.0, "accuracy": 0.7}, {"epsilon": math.inf, "accuracy": 0.9}]
    assert privacy.plot_dp_curve(rows, {"paper": [(2, 0.95)]}).axes
    assert privacy.plot_server_view(np.ones((64, 784)), np.arange(64 * 784)).axes


def test_mia_roc_reads_the_curve_at_low_fpr(tiny):
    model = privacy.make_model()
    privacy.local_train(model, tiny.X_train[:20], tiny.y_train[:20], epochs=60, lr=0.2)
    roc = privacy.mia_roc(model, (tiny.X_train[:20], tiny.y_train[:20]), (tiny.X_test[:20], tiny.y_test[:20]))
    assert roc["advantage"] == pytest.approx(
        privacy.mia_advantage(model, (tiny.X_train[:20], tiny.y_train[:20]), (tiny.X_test[:20], tiny.y_test[:20])))
    assert 0.5 < roc["auc"] <= 1 and set(roc["tpr_at"]) == {0.01, 0.001}
    assert all(0 <= v <= 1 for v in roc["tpr_at"].values())


def test_the_tight_dp_bound_and_the_noise_level_of_the_advantage():
    assert privacy.dp_advantage_bound(0.0, 0.0) == 0.0
    assert privacy.dp_advantage_bound(1.0, 0.0) == pytest.approx((math.e - 1) / (math.e + 1))
    assert privacy.dp_advantage_bound(8.0) < 1.0 < math.exp(8.0) - 1     # the loose bound says nothing there
    with pytest.raises(ValueError):
        privacy.dp_advantage_bound(-1.0)
    small, large = privacy.null_advantage(100, 100), privacy.null_advantage(2000, 2000)
    assert 0.1 < small < 0.3 and 0.02 < large < 0.06 and large < small   # ~1.36 * sqrt(2 / n), the KS quantile
