"""Checks for exercises/10_dynamic_evaluation.ipynb: windowed accuracy, PSI, a patient drift alarm."""
import numpy as np

from kit import evaluation
from kit.exercises import Hint, exercise

__all__ = []


@exercise("10.1", title="sliding-window accuracy", section="4. Close the loop (the plot)",
          hint="for step t, average correct[max(0, t - window + 1) : t + 1]")
def _window(windowed_accuracy):
    correct = [1, 1, 0, 0, 1, 0]
    got = np.asarray(windowed_accuracy(correct, 3), dtype=float)
    expected = np.array([1, 1, 2 / 3, 1 / 3, 1 / 3, 1 / 3])
    if len(got) == len(correct) - 2:
        raise Hint("return one value per step: the first steps average over the shorter window available")
    return got.shape == expected.shape and bool(np.allclose(got, expected))


@exercise("10.2", title="population stability index", section="3. Detect drift without labels",
          hint="bin edges = quantiles of the reference; shares per bin (+1e-6); "
               "PSI = sum((cur - ref) * log(cur / ref))")
def _psi(psi):
    rng = np.random.default_rng(0)
    ref, same, moved = rng.normal(0, 1, 3000), rng.normal(0, 1, 3000), rng.normal(0.8, 1, 3000)
    got_same, got_moved = float(psi(ref, same)), float(psi(ref, moved))
    if got_moved < 0:
        raise Hint("PSI is never negative: check the sign of (current - reference) and of the log ratio")
    expected = evaluation.psi(ref, moved)
    return bool(got_same < 0.05 and abs(got_moved - expected) < 0.05 * expected + 0.01)


@exercise("10.3", title="an alarm with patience", section="3. Detect drift without labels",
          hint="count consecutive p-values below alpha; reset the count to 0 on any p >= alpha; "
               "return the index where the count first reaches `patience`, or None")
def _alarm(first_alarm):
    p = [0.5, 1e-4, 0.3, 1e-4, 1e-5, 1e-6]
    if first_alarm(p, 1e-3, 1) == 3:
        raise Hint("with patience 1 the first single rejection (index 1) is already an alarm")
    return first_alarm(p, 1e-3, 2) == 4 and first_alarm(p, 1e-3, 1) == 1 and first_alarm([0.5, 0.4], 1e-3, 2) is None
