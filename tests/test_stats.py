"""kit.stats on inputs whose answers are known, and report.claim's contract."""
import json

import numpy as np
import pytest
from scipy import stats as sps

from kit import report, stats


def test_bootstrap_ci_of_a_proportion_matches_the_normal_approximation():
    correct = np.r_[np.ones(300), np.zeros(100)]            # accuracy 0.75 on 400 items
    result = stats.bootstrap_ci(correct)
    half = 1.96 * np.sqrt(0.75 * 0.25 / 400)                 # Wald half-width 0.0424
    assert result["estimate"] == pytest.approx(0.75)
    assert result["ci"][0] == pytest.approx(0.75 - half, abs=0.01)
    assert result["ci"][1] == pytest.approx(0.75 + half, abs=0.01)


def test_bootstrap_ci_is_reproducible_and_narrows_with_more_items():
    rng = np.random.default_rng(1)
    small, large = rng.random(50) < 0.8, rng.random(2000) < 0.8
    assert stats.bootstrap_ci(small) == stats.bootstrap_ci(small)
    width = lambda r: r["ci"][1] - r["ci"][0]  # noqa: E731
    assert width(stats.bootstrap_ci(large)) < width(stats.bootstrap_ci(small)) / 3


def test_bootstrap_ci_of_constant_values_is_the_point():
    assert stats.bootstrap_ci(np.ones(30)) == {"estimate": 1.0, "ci": (1.0, 1.0)}


def test_bootstrap_ci_takes_any_statistic():
    values = np.arange(101, dtype=float)
    result = stats.bootstrap_ci(values, stat=np.median)
    assert result["estimate"] == 50.0 and result["ci"][0] < 50 < result["ci"][1]


def test_paired_bootstrap_sees_a_gap_that_unpaired_noise_would_hide():
    rng = np.random.default_rng(0)
    difficulty = rng.random(200)                     # both models meet the same easy and hard items
    a = difficulty + 0.05 + rng.normal(0, 0.01, 200)
    b = difficulty + rng.normal(0, 0.01, 200)
    result = stats.paired_bootstrap(a, b)
    assert result["effect"] == pytest.approx(0.05, abs=0.005)
    assert stats.positive(result) and result["ci"][1] < 0.06


def test_paired_bootstrap_finds_no_effect_between_identical_models():
    rng = np.random.default_rng(3)
    a = (rng.random(300) < 0.7).astype(float)
    result = stats.paired_bootstrap(a, a.copy())
    assert result == {"effect": 0.0, "ci": (0.0, 0.0)}
    noise = stats.paired_bootstrap(a, rng.permutation(a))  # same accuracy, unrelated errors
    assert noise["ci"][0] < 0 < noise["ci"][1]


def test_paired_bootstrap_rejects_unpaired_inputs():
    with pytest.raises(ValueError, match="same test items"):
        stats.paired_bootstrap([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        stats.bootstrap_ci([])


def test_over_seeds_gives_student_t_interval():
    values = {0: 0.80, 1: 0.84, 2: 0.82}
    result = stats.over_seeds(values.__getitem__, [0, 1, 2])
    low, high = sps.t.interval(0.95, 2, loc=0.82, scale=0.02 / np.sqrt(3))
    assert result["mean"] == pytest.approx(0.82) and result["sd"] == pytest.approx(0.02)
    assert result["ci"] == pytest.approx((low, high))
    assert result["values"] == pytest.approx([0.80, 0.84, 0.82])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        stats.over_seeds(values.__getitem__, [0])


def test_claim_holds_only_with_interval_above_zero_and_control_rejected(tmp_path, monkeypatch, capsys):
    target = tmp_path / "results.json"
    monkeypatch.setenv("KIT_RESULTS_FILE", str(target))
    good = report.claim("A beats B", {"effect": 0.12, "ci": (0.05, 0.19)}, baseline="constant program",
                        negative_control="shuffled labels", control_rejected=True)
    assert good.holds and good.ci == (0.05, 0.19)
    assert "✓ holds: A beats B: +0.120 [+0.050, +0.190] vs constant program" in capsys.readouterr().out
    assert not report.claim("straddles", 0.02, (-0.01, 0.05), baseline="b").holds
    assert not report.claim("control passed", 0.1, (0.05, 0.15), baseline="b",
                            negative_control="copies", control_rejected=False).holds
    assert report.claim("from bootstrap_ci", stats.bootstrap_ci(np.ones(10)), baseline="zero").holds
    saved = json.loads(target.read_text())
    first = saved["claims"][0]
    assert set(first) == {"name", "effect", "ci", "baseline", "negative_control", "control_rejected", "holds"}
    assert first["ci"] == [0.05, 0.19] and first["holds"] is True
    names = [c.name for c in report.claims()]
    assert names[:4] == ["A beats B", "straddles", "control passed", "from bootstrap_ci"]


def test_claim_rerecorded_replaces_and_bad_claims_are_refused():
    report.claim("rerun", 0.1, (0.0, 0.2), baseline="b")
    report.claim("rerun", 0.3, (0.2, 0.4), baseline="b")
    assert [c.effect for c in report.claims() if c.name == "rerun"] == [0.3]
    with pytest.raises(ValueError, match="baseline"):
        report.claim("x", 0.1, (0.0, 0.2), baseline="")
    with pytest.raises(ValueError, match="confidence interval"):
        report.claim("x", 0.1, baseline="b")
    with pytest.raises(ValueError, match="control_rejected"):
        report.claim("x", 0.1, (0.0, 0.2), baseline="b", negative_control="copies")
    with pytest.raises(ValueError, match="nan"):
        report.claim("x", float("nan"), (0.0, 0.2), baseline="b")
