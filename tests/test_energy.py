"""Unit tests for kit/energy.py: timing, energy labels, the latency-budget choice, the Pareto plot."""
import time

import pytest
import torch

from kit import energy


def test_compare_latency_interleaves_and_takes_medians():
    calls = []
    times = energy.compare_latency({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                   repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4                          # warm-up round, then round-robin
    assert set(times) == {"a", "b"} and len(times["a"].wall_s) == 3
    assert times["a"].median_ms >= 0


def test_compare_latency_sees_the_slower_variant_and_restores_threads():
    before = torch.get_num_threads()
    times = energy.compare_latency({"fast": lambda: None, "slow": lambda: time.sleep(0.01)},
                                   repeats=3, warmup=0, threads=1)
    assert times["slow"].median_ms > times["fast"].median_ms + 5
    assert torch.get_num_threads() == before


def test_compare_latency_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        energy.compare_latency({})
    with pytest.raises(TypeError, match="must be a callable"):
        energy.compare_latency({"model": 3})
    with pytest.raises(ValueError, match="repeats >= 1"):
        energy.compare_latency({"a": lambda: None}, repeats=0)


def test_estimated_energy_is_cpu_time_times_stated_power(monkeypatch):
    timing = energy.Timing("x", wall_s=[0.1, 0.2, 0.3], cpu_s=[0.2, 0.4, 0.6])
    monkeypatch.setattr(energy, "WATTS_PER_CORE", 10.0)
    assert not timing.measured
    assert timing.joules_per_run() == pytest.approx(4.0)
    assert timing.joules_per_1000(items_per_run=100) == pytest.approx(40.0)
    measured = energy.Timing("y", wall_s=[1], cpu_s=[1], joules=[2.5])
    assert measured.measured and measured.joules_per_run() == 2.5
    with pytest.raises(ValueError, match="items_per_run"):
        timing.joules_per_1000(0)


def test_energy_method_reads_rapl_when_present(tmp_path):
    assert energy.energy_method(tmp_path / "missing").startswith("estimated")
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("12345\n")
    assert energy.rapl_files(tmp_path) == [zone / "energy_uj"]
    assert energy.energy_method(tmp_path) == "measured (RAPL)"
    (zone / "energy_uj").write_text("permission denied")
    assert energy.energy_method(tmp_path).startswith("estimated")


ROWS = [{"model": "big", "accuracy": 0.99, "latency_ms": 10.0},
        {"model": "mid", "accuracy": 0.97, "latency_ms": 3.0},
        {"model": "mid-slow", "accuracy": 0.97, "latency_ms": 4.0},
        {"model": "tiny", "accuracy": 0.90, "latency_ms": 1.0}]


def test_best_under_budget_picks_the_most_accurate_model_that_fits():
    assert energy.best_under_budget(ROWS, 100)["model"] == "big"
    assert energy.best_under_budget(ROWS, 5)["model"] == "mid"      # tie on accuracy: the faster one
    assert energy.best_under_budget(ROWS, 1)["model"] == "tiny"
    assert energy.best_under_budget(ROWS, 0.5) is None
    with pytest.raises(ValueError, match="must be positive"):
        energy.best_under_budget(ROWS, 0)
    with pytest.raises(KeyError, match="needs 'latency_ms' and 'accuracy'"):
        energy.best_under_budget([{"model": "x"}], 1)


def test_pareto_plot_has_one_panel_per_task():
    rows = [dict(r, task="a" if i < 2 else "b", size_mb=1.0 + i) for i, r in enumerate(ROWS)]
    fig = energy.pareto_plot(rows)
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == "log"


def test_memory_vs_compute_follows_horowitz():
    fp32 = energy.memory_vs_compute(1_000_000, 1_000_000, 32)
    int8 = energy.memory_vs_compute(1_000_000, 1_000_000, 8)
    assert fp32["memory_j"] == pytest.approx(1e6 * 640e-12)
    assert fp32["memory_j"] > 100 * fp32["compute_j"]                 # moving a weight costs more than using it
    assert int8["memory_j"] == pytest.approx(fp32["memory_j"] / 4)
    assert int8["total_j"] < fp32["total_j"] / 3.9
    with pytest.raises(ValueError, match="not 4 bits"):
        energy.memory_vs_compute(1, 1, 4)
