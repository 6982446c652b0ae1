"""Latency, energy and hardware-aware choice: the measuring half of lesson 09.

    times = energy.compare_latency({"fp32": lambda: model(**batch), "int8": lambda: q8(**batch)}, repeats=9)
    times["int8"].median_ms, times["int8"].joules_per_1000(batch_size)

Timings are medians over repeats, after warm-up, with torch's thread count fixed, and the variants
are *interleaved* (fp32, int8, fp32, int8, ...) so that a busy machine slows all of them alike
and their ratio stays fair. Energy is read from Intel/AMD RAPL counters under /sys/class/powercap
when they are readable; otherwise it is estimated as CPU time x a stated power per busy core, and
always labelled `measured` or `estimated`.
"""
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

__all__ = ["WATTS_PER_CORE", "HOROWITZ_PJ", "Timing", "rapl_files", "energy_method", "memory_vs_compute",
           "compare_latency", "best_under_budget", "pareto_plot"]

WATTS_PER_CORE = 10.0   # assumed draw of one busy server core (a 64-core EPYC draws ~280 W at full load);
                        # set energy.WATTS_PER_CORE to your own CPU's figure
RAPL = Path("/sys/class/powercap")

# Energy per operation at 45 nm, 0.9 V (Horowitz, "Computing's energy problem", ISSCC 2014), picojoules.
HOROWITZ_PJ = {"int8 add": 0.03, "int8 mult": 0.2, "int32 add": 0.1, "int32 mult": 3.1, "fp16 add": 0.4,
               "fp16 mult": 1.1, "fp32 add": 0.9, "fp32 mult": 3.7, "SRAM read 32 bit (8 KB)": 5.0,
               "DRAM read 32 bit": 640.0}


def memory_vs_compute(n_weights: int, macs: int, bits: int) -> dict:
    """Horowitz's 45 nm figures applied to one inference: joules to read every weight from DRAM once and
    to do `macs` multiply-accumulates, at 32 bits (fp32) or 8 bits (int8) per weight and operation.

    A model of where energy goes, not a measurement: it shows why smaller weights save energy (DRAM
    traffic costs ~100x an fp32 multiply-add per byte moved) when they are read from memory per inference.
    """
    if bits not in (8, 32):
        raise ValueError(f"Horowitz's table covers 8-bit integer and 32-bit float arithmetic, not {bits} bits")
    if n_weights < 0 or macs < 0:
        raise ValueError("n_weights and macs must be non-negative")
    memory = n_weights * bits / 32 * HOROWITZ_PJ["DRAM read 32 bit"]
    kind = "int8" if bits == 8 else "fp32"
    compute = macs * (HOROWITZ_PJ[f"{kind} mult"] + HOROWITZ_PJ[f"{kind} add"])
    return {"memory_j": memory * 1e-12, "compute_j": compute * 1e-12, "total_j": (memory + compute) * 1e-12}


def rapl_files(root: Path = RAPL) -> list[Path]:
    """The package-level RAPL energy counters we can read (empty in most VMs and containers)."""
    files = []
    for zone in sorted(root.glob("*rapl:[0-9]")) if root.exists() else []:
        counter = zone / "energy_uj"
        try:
            int(counter.read_text(encoding="utf-8"))
            files.append(counter)
        except (OSError, ValueError):
            continue
    return files


def energy_method(root: Path = RAPL) -> str:
    """'measured (RAPL)' when counters are readable, else 'estimated (CPU time x N W per busy core)'."""
    return "measured (RAPL)" if rapl_files(root) else f"estimated (CPU time x {WATTS_PER_CORE:g} W per busy core)"


def _read_uj(files) -> int:
    return sum(int(f.read_text(encoding="utf-8")) for f in files)


@dataclass
class Timing:
    """Repeated runs of one variant: wall seconds and CPU seconds (and RAPL joules) per run."""
    name: str
    wall_s: list = field(default_factory=list)
    cpu_s: list = field(default_factory=list)
    joules: list = field(default_factory=list)      # empty unless RAPL was readable

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.wall_s)

    @property
    def measured(self) -> bool:
        return bool(self.joules)

    def joules_per_run(self) -> float:
        """Median energy of one run: RAPL if measured, else CPU seconds x WATTS_PER_CORE."""
        if self.joules:
            return statistics.median(self.joules)
        return statistics.median(self.cpu_s) * WATTS_PER_CORE

    def joules_per_1000(self, items_per_run: int = 1) -> float:
        """Energy for 1,000 inferences when one run handles `items_per_run` inputs."""
        if items_per_run < 1:
            raise ValueError(f"items_per_run must be at least 1, got {items_per_run}")
        return 1000 * self.joules_per_run() / items_per_run


def compare_latency(variants: dict, repeats: int = 9, warmup: int = 2, threads: int | None = None) -> dict:
    """Time each callable in `variants` {name: fn}, interleaved round-robin; return {name: Timing}.

    `threads` fixes torch's thread count for the measurement (default: what kit.setup chose).
    """
    if not variants:
        raise ValueError("compare_latency needs at least one {name: callable}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for name, fn in variants.items():
        if not callable(fn):
            raise TypeError(f"variant {name!r} must be a callable (e.g. lambda: model(x)), got {type(fn).__name__}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    files = rapl_files()
    results = {name: Timing(name) for name in variants}
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                for fn in variants.values():
                    fn()
            for _ in range(repeats):
                for name, fn in variants.items():
                    start_uj = _read_uj(files) if files else 0
                    cpu, wall = time.process_time(), time.perf_counter()
                    fn()
                    results[name].wall_s.append(time.perf_counter() - wall)
                    results[name].cpu_s.append(time.process_time() - cpu)
                    if files:
                        used = _read_uj(files) - start_uj
                        if used >= 0:                   # a counter that wrapped is skipped
                            results[name].joules.append(used / 1e6)
    finally:
        torch.set_num_threads(before)
    return results


def best_under_budget(rows: list[dict], budget_ms: float, latency_key: str = "latency_ms",
                      score_key: str = "accuracy"):
    """Hardware-aware choice: the row with the best score among those within the latency budget
    (ties go to the faster one); None when nothing is fast enough."""
    if budget_ms <= 0:
        raise ValueError(f"the latency budget must be positive, got {budget_ms}")
    for row in rows:
        if latency_key not in row or score_key not in row:
            raise KeyError(f"every row needs {latency_key!r} and {score_key!r}; got keys {sorted(row)}")
    fitting = [r for r in rows if r[latency_key] <= budget_ms]
    return max(fitting, key=lambda r: (r[score_key], -r[latency_key])) if fitting else None


def pareto_plot(rows: list[dict], group_key: str = "task", x: str = "latency_ms", y: str = "accuracy",
                size: str = "size_mb", label: str = "model"):
    """Accuracy vs latency, one panel per task, marker area proportional to the model's size."""
    import matplotlib.pyplot as plt

    groups = sorted({r[group_key] for r in rows})
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4), squeeze=False)
    for ax, group in zip(axes[0], groups):
        mine = [r for r in rows if r[group_key] == group]
        biggest = max(r[size] for r in mine)
        for r in mine:
            ax.scatter(r[x], r[y], s=40 + 900 * r[size] / biggest, alpha=0.5)
            ax.annotate(f"{r[label]}\n{r[size]:.2f} MB", (r[x], r[y]), fontsize=8, ha="center", va="bottom")
        ax.set(xlabel=f"{x} (median)", ylabel=y, title=f"{group}: up and to the left is better")
        ax.set_xscale("log")
        ax.margins(0.25)
    fig.tight_layout()
    plt.close(fig)
    return fig
