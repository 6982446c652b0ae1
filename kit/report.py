"""The results contract: each lesson records its headline metrics and its claims.

- `record(name, value)`: one headline metric (a number or a string).
- `claim(name, effect, ci, baseline, negative_control, control_rejected)`: one claim of the lesson,
  an effect against a named baseline with its confidence interval (from `kit.stats`) and the
  deliberately broken variant that the same check rejected. Define each effect so that positive means
  the claim is true; a claim holds when its whole interval is above 0 and its control was rejected.

`python -m kit run` sets `KIT_RESULTS_FILE` for the notebook's kernel; every call rewrites that JSON
file as {"metrics": {...}, "claims": [...]}, so the runner and `make bench` read both afterwards.
Outside the runner the values are kept in memory (`recorded()`, `claims()`) and printed.
"""
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Claim", "record", "recorded", "claim", "claims", "check_contract", "table"]

_metrics: dict = {}
_claims: dict = {}


def _plain(value):
    """Turn numpy / torch scalars into plain Python numbers so JSON can hold them."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    raise TypeError(f"record() takes a number or a string, not {type(value).__name__}")


def _write() -> None:
    """Rewrite the runner's results file atomically (a reader never sees half a file)."""
    target = os.environ.get("KIT_RESULTS_FILE")
    if not target:
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"metrics": _metrics, "claims": [asdict(c) for c in _claims.values()]},
                                  indent=1), encoding="utf-8")
    os.replace(partial, path)


def record(name: str, value):
    """Record one headline metric of this lesson and return it (so cells can assert on it)."""
    if not name or not isinstance(name, str):
        raise ValueError("record() needs a metric name, e.g. record('val_accuracy', 0.93)")
    value = _plain(value)
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"metric {name!r} is NaN: the measurement failed, check the cell above")
    _metrics[name] = value
    _write()
    shown = f"{value:.4g}" if isinstance(value, float) else value
    print(f"recorded {name} = {shown}")
    return value


def recorded() -> dict:
    """All metrics recorded in this session so far."""
    return dict(_metrics)


@dataclass(frozen=True)
class Claim:
    """One claim of a lesson: an effect against a baseline, its CI, and its negative control."""
    name: str
    effect: float
    ci: tuple
    baseline: str
    negative_control: str | None
    control_rejected: bool | None
    holds: bool

    def __str__(self) -> str:
        mark = "✓ holds" if self.holds else "✗ does not hold"
        text = (f"claim {mark}: {self.name}: {self.effect:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}] "
                f"vs {self.baseline}")
        if self.negative_control:
            verdict = {True: "rejected", False: "NOT rejected", None: "not checked"}[self.control_rejected]
            text += f"; negative control ({self.negative_control}) {verdict}"
        return text


def _number(value, what: str) -> float:
    value = float(_plain(value))
    if not math.isfinite(value):
        raise ValueError(f"claim {what} is {value}: the measurement failed, check the cells above")
    return value


def claim(name: str, effect, ci=None, baseline: str = "", negative_control: str | None = None,
          control_rejected: bool | None = None, holds: bool | None = None) -> Claim:
    """Record one claim and return it, so the closing cell can `assert claim.holds, claim`.

    `effect` is a number with `ci=(low, high)`, or straight from `kit.stats`: a dict with "effect" (or
    "estimate") and "ci". `baseline` names what the effect is measured against (the strongest simple
    thing a reader would try). `negative_control` names the deliberately broken variant and
    `control_rejected` says whether the same check rejected it. `holds` defaults to: the interval's
    lower end is above 0, and the control (if any) was rejected.
    """
    if not name or not isinstance(name, str):
        raise ValueError("claim() needs a name, e.g. claim('LoRA beats the constant program', ...)")
    if isinstance(effect, dict):
        if ci is None:
            ci = effect.get("ci")
        effect = effect["effect"] if "effect" in effect else effect.get("estimate")
    if ci is None or len(ci) != 2:
        raise ValueError(f"claim {name!r} needs its confidence interval: ci=(low, high), e.g. from "
                         "kit.stats.paired_bootstrap(...)")
    if not baseline or not isinstance(baseline, str):
        raise ValueError(f"claim {name!r} needs a baseline: the strongest simple thing a reader would try first")
    if negative_control and control_rejected is None:
        raise ValueError(f"claim {name!r} names a negative control: say whether it was rejected "
                         "(control_rejected=True/False)")
    low, high = _number(ci[0], "ci low"), _number(ci[1], "ci high")
    if low > high:
        raise ValueError(f"claim {name!r}: ci low {low} is above ci high {high}")
    effect = _number(effect, "effect")
    control = None if control_rejected is None else bool(control_rejected)
    if holds is None:
        holds = low > 0 and control is not False
    result = Claim(name, effect, (low, high), baseline, negative_control or None, control, bool(holds))
    _claims[name] = result
    _write()
    print(result)
    return result


def claims() -> list[Claim]:
    """Every claim recorded in this session, in the order first recorded."""
    return list(_claims.values())


def check_contract() -> list[Claim]:
    """Assert the structure every lesson keeps: at least one claim with a named baseline, and a headline
    claim (the first recorded) with a negative control that was checked. Returns the claims."""
    recorded_claims = claims()
    assert recorded_claims, "this lesson recorded no claim: report.claim(name, effect, ci, baseline, ...)"
    headline = recorded_claims[0]
    assert headline.negative_control and headline.control_rejected is not None, \
        f"the headline claim ({headline.name}) needs a negative control that was checked"
    return recorded_claims


def table(rows: list[dict], columns: list[str] | None = None):
    """A pandas DataFrame of comparison rows (one dict per variant), for display in a notebook."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame[columns] if columns else frame
