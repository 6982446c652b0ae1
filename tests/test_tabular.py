"""Unit tests for kit.tabular (lesson 03): the copula, the naive generator and the tail privacy check."""
import numpy as np
import pytest

from kit import tabular


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    X0 = rng.normal([0, 0, 5], [1, 1, 2], size=(60, 3))
    X0[:, 1] += X0[:, 0]                                       # a correlated pair
    X1 = rng.normal([3, 1, 0], [1, 1, 1], size=(40, 3))
    return np.vstack([X0, X1]).astype(np.float32), np.array([0] * 60 + [1] * 40)


def test_copula_samples_new_rows_with_real_marginals_and_labels(table):
    X, y = table
    X_syn, y_syn = tabular.CopulaSynthesizer().fit(X, y).sample(500, seed=1)
    assert X_syn.shape == (500, 3) and set(y_syn) == {0, 1}
    assert abs((y_syn == 0).mean() - 0.6) < 0.08               # class proportions kept
    assert X_syn[y_syn == 0, 2].min() >= X[y == 0, 2].min()    # values stay inside the real range
    fid = tabular.fidelity(X, X_syn)
    assert fid["ks_mean"] < 0.2 and fid["corr_abs_diff"] < 0.15
    assert tabular.dcr_ratio(X_syn, X, X + 0.5) > 0          # not copies of the training rows
    assert not any((X == row).all(1).any() for row in X_syn[:50])


def test_copula_bad_inputs(table):
    X, y = table
    with pytest.raises(ValueError, match="class 2 has 0 examples"):
        tabular.CopulaSynthesizer().fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="must be a table"):
        tabular.CopulaSynthesizer().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="X has 100 rows but y has 3"):
        tabular.CopulaSynthesizer().fit(X, y[:3])
    with pytest.raises(RuntimeError, match="call fit"):
        tabular.CopulaSynthesizer().sample(5)
    with pytest.raises(ValueError, match="n must be at least 1"):
        tabular.CopulaSynthesizer().fit(X, y).sample(0)


def test_fidelity_and_dcr():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 4))
    assert tabular.fidelity(real, real)["ks_mean"] == 0
    assert tabular.fidelity(real, real + 3)["ks_mean"] > 0.8
    with pytest.raises(ValueError, match="same columns"):
        tabular.fidelity(real, real[:, :2])
    d = tabular.distance_to_closest_record(real[:5], real)
    assert np.allclose(d, 0)
    copies = tabular.dcr_ratio(real[:50] + 1e-3, real, rng.normal(size=(50, 4)))
    fresh = tabular.dcr_ratio(rng.normal(size=(50, 4)), real, rng.normal(size=(50, 4)))
    assert copies < 0.1 < 0.7 < fresh
    with pytest.raises(ValueError, match="at least one query row"):
        tabular.distance_to_closest_record(real[:0], real)


def test_independent_generator_keeps_marginals_but_drops_correlations(table):
    X, y = table
    X_cop, y_cop = tabular.CopulaSynthesizer().fit(X, y).sample(2000, seed=0)
    X_ind, y_ind = tabular.IndependentSynthesizer().fit(X, y).sample(2000, seed=0)
    real = np.corrcoef(X[y == 0][:, :2], rowvar=False)[0, 1]
    cop = np.corrcoef(X_cop[y_cop == 0][:, :2], rowvar=False)[0, 1]
    ind = np.corrcoef(X_ind[y_ind == 0][:, :2], rowvar=False)[0, 1]
    assert real > 0.5 and abs(cop - real) < 0.15 and abs(ind) < 0.1
    assert tabular.fidelity(X, X_ind)["ks_mean"] < 0.2


def _clean_and_leaky(seed=0):
    rng = np.random.default_rng(seed)
    train, holdout, fresh = rng.normal(size=(400, 5)), rng.normal(size=(200, 5)), rng.normal(size=(400, 5))
    return train, holdout, fresh


def test_privacy_check_passes_fresh_rows_and_fails_a_ten_percent_leak():
    train, holdout, fresh = _clean_and_leaky()
    passes, details = tabular.privacy_check(train, holdout, fresh)
    assert passes and details["near_duplicates"] == 0 and details["ci"][0] > 0
    for noise in (0.0, 0.01):
        leaky = tabular.leaky_copy(fresh, train, share=0.10, noise=noise, seed=1)
        passes, details = tabular.privacy_check(train, holdout, leaky)
        assert not passes and details["share_close"] > 0.12
        assert details["median_ratio"] > 0.9          # the median cannot see it: the reason for the tail check
    assert tabular.privacy_check(train, holdout, tabular.leaky_copy(fresh, train, 0.10))[1]["near_duplicates"] >= 35


def test_privacy_check_and_leaky_copy_bad_inputs():
    train, holdout, fresh = _clean_and_leaky()
    with pytest.raises(ValueError, match="quantile"):
        tabular.privacy_check(train, holdout, fresh, quantile=0.7)
    with pytest.raises(ValueError, match="tolerance"):
        tabular.privacy_check(train, holdout, fresh, tolerance=0.5)
    with pytest.raises(ValueError, match="share"):
        tabular.leaky_copy(fresh, train, share=0)
    with pytest.raises(ValueError, match="cannot copy"):
        tabular.leaky_copy(fresh, train[:10], share=0.5)
    leaky = tabular.leaky_copy(fresh, train, share=0.25, seed=0)
    assert leaky.shape == fresh.shape and np.isclose(fresh, 0).sum() == 0


def test_tabular_plots_return_figures(table):
    X, _ = table
    assert tabular.plot_fidelity(X, X, ["a", "b", "c"]).axes
    assert tabular.plot_dcr(X, X + 0.3, {"same": X + 0.1}).axes
