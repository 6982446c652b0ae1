"""The results contract: each lesson records its headline metrics with `record(name, value)`.

`python -m kit run` sets `KIT_RESULTS_FILE` for the notebook's kernel; every `record` call
rewrites that JSON file, so the runner (and `make bench`) can read the metrics afterwards.
Outside the runner the values are kept in memory (`recorded()`) and printed.
"""
import json
import math
import os
from pathlib import Path

__all__ = ["record", "recorded", "table"]

_metrics: dict = {}


def _plain(value):
    """Turn numpy / torch scalars into plain Python numbers so JSON can hold them."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    raise TypeError(f"record() takes a number or a string, not {type(value).__name__}")


def record(name: str, value):
    """Record one headline metric of this lesson and return it (so cells can assert on it)."""
    if not name or not isinstance(name, str):
        raise ValueError("record() needs a metric name, e.g. record('val_accuracy', 0.93)")
    value = _plain(value)
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"metric {name!r} is NaN: the measurement failed, check the cell above")
    _metrics[name] = value
    target = os.environ.get("KIT_RESULTS_FILE")
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_metrics, indent=1))
    shown = f"{value:.4g}" if isinstance(value, float) else value
    print(f"recorded {name} = {shown}")
    return value


def recorded() -> dict:
    """All metrics recorded in this session so far."""
    return dict(_metrics)


def table(rows: list[dict], columns: list[str] | None = None):
    """A pandas DataFrame of comparison rows (one dict per variant), for display in a notebook."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame[columns] if columns else frame
