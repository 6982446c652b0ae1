"""Checks for exercises/10_dynamic_evaluation.ipynb: windowed accuracy, PSI, a patient drift alarm, and a
predict-run-explain exercise on a fairness gap that accuracy does not see; the lesson's QUIZ."""
import numpy as np

from kit import evaluation
from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


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


def _census_stream():
    """The lesson's census stream: a logistic regression's predictions on UCI Adult rows, before and after the men
    without a high-school-plus education (education <= 9 years) stop arriving."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from kit import data

    adult = data.load("adult")
    names, categories = adult.feature_names, adult.extra["categories"]
    coded = [names.index(c) for c in categories]
    numeric = [i for i in range(len(names)) if i not in coded]
    model = make_pipeline(ColumnTransformer([("codes", OneHotEncoder(handle_unknown="ignore"), coded),
                                             ("numbers", StandardScaler(), numeric)]),
                          LogisticRegression(max_iter=1000)).fit(adult.X_train, adult.y_train)
    sex = np.array(categories["sex"])[adult.X_test[:, names.index("sex")].astype(int)]
    fewer = adult.X_test[:, names.index("education_num")] <= 9
    steps = evaluation.group_stream(len(sex), np.where(sex == "Male", 0, 1), 30, 400, 10, fewer, strength=3.0, seed=5)
    return adult.y_test, model.predict(adult.X_test), sex, np.concatenate(steps[:10]), np.concatenate(steps[15:])


@exercise("10.4", title="predict, run, explain: a fairness gap that accuracy does not see",
          section="5. Fairness over time",
          hint="accuracy = mean(y_pred[rows] == y_true[rows]); the gap = the largest minus the smallest share of "
               "positive predictions among the groups present in rows")
def _fairness_gap(accuracy_and_gap):
    y_true, y_pred, sex, before, after = _census_stream()
    got = [tuple(float(v) for v in accuracy_and_gap(y_true, y_pred, sex, rows)) for rows in (before, after)]
    want = [(float(np.mean(y_pred[r] == y_true[r])), evaluation.parity_gap(y_pred[r], sex[r])) for r in (before, after)]
    if any(g[1] < 0 for g in got):
        raise Hint("a gap is never negative here: largest selection rate minus smallest")
    if not np.allclose(got, want, atol=1e-6):
        raise Hint(f"expected (accuracy, gap) {want[0][0]:.3f}, {want[0][1]:.3f} before the drift; got "
                   f"{got[0][0]:.3f}, {got[0][1]:.3f}")
    (acc0, gap0), (acc1, gap1) = want
    return True, (f"accuracy {acc0:.3f} -> {acc1:.3f} ({acc1 - acc0:+.3f}); parity gap {gap0:.3f} -> {gap1:.3f} "
                  f"({gap1 - gap0:+.3f})")


QUIZ = [
    Question(
        "10.q1", "After a LoRA fine-tune, a fixed benchmark's score rose from 0.35 to 0.95 and fresh sets from the "
        "same generator rose from 0.35 to 0.40. What does the model know about the task?",
        ("it solves 95% of such items", "about what the fresh sets say (~40%): the rest of the fixed set's gain is "
         "memorised answers", "nothing can be concluded without a larger model"),
        "b", "Fresh items from the same generator cannot have been trained on; the extra gain on the fixed set is "
        "contamination. The control (fine-tuning on another set) shows no such gap."),
    Question(
        "10.q2", "A drift loop retrains on the last 8 labelled batches and then scores accuracy on the same stream's "
        "recent batches. Why is that accuracy too optimistic?",
        ("it is not: the batches are real data", "the images scored were in the retraining set, so the model is "
         "partly tested on its training data", "because the KS test has a patience rule"),
        "b", "Score on a pool nobody trains on (an evaluation stream), and set the detector's reference on data the "
        "model was not fitted to."),
    Question(
        "10.q3", "Labels arrive 2 steps after each prediction. What can a retrain triggered at step t use?",
        ("the batches up to step t", "only batches up to step t - 2, whose labels have arrived",
         "any batch, labels can be estimated from confidence"),
        "b", "Late labels delay every feedback loop: the model retrains on the past, and the newest batches serve as "
        "a held-out reference for the detector."),
    Question(
        "10.q4", "On a census stream the share of less-educated men falls. Accuracy stays within a point, the "
        "demographic-parity gap widens. Which monitor catches it, and does it need labels?",
        ("an accuracy monitor, with labels", "a parity-gap test on predictions and the group attribute, without "
         "labels", "none: if accuracy is flat nothing changed"),
        "b", "Demographic parity compares selection rates between groups: predictions and group are known at once. "
        "Equalised odds would need labels."),
]
