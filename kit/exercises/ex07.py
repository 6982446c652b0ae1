"""Checks for lesson 07 (AutoML 2.0): pruning savings, a pipeline search space, a Pareto front, and a
predict-run-explain exercise on what "epochs saved" measures; the lesson's quiz."""
import numpy as np

from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


def _reference_saved(epochs_run, max_epochs):
    return 1 - sum(epochs_run) / (len(epochs_run) * max_epochs)


@exercise("07.1", title="the epochs pruning saved", section="1. Hyperparameter search with pruning",
          hint="a search without pruning runs every trial for max_epochs; compare with what really ran")
def check_saved(answer):
    for epochs_run, max_epochs in [([8, 2, 2, 8, 1], 8), ([3, 3, 3], 3), ([1, 1, 1, 1], 4), ([5, 2], 10)]:
        got = answer(list(epochs_run), max_epochs)
        expected = _reference_saved(epochs_run, max_epochs)
        if abs(got - (1 - expected)) < 1e-9 and expected != 0.5:
            raise Hint("you returned the share of epochs that ran; the question is the share that was skipped")
        if abs(got - expected) > 1e-9:
            raise Hint(f"for epochs_run={epochs_run}, max_epochs={max_epochs} expected {expected:.3f}, got {got}")
    return True


@exercise("07.2", title="a search space that beats 0.95 on wine", section="2. Whole-pipeline search on real tables",
          hint="a dict like automl.PRESETS['tabular'] with fewer choices; scaling matters for linear models")
def check_space(space):
    import optuna

    from kit import automl

    allowed = automl.PRESETS["tabular"]
    if not isinstance(space, dict):
        raise Hint("the space is a dict such as {'scaler': [...], 'model': [...]}")
    automl.check_space(space)
    for key, choices in space.items():
        if key not in allowed:
            raise Hint(f"{key!r} is not a key of the tabular preset ({', '.join(allowed)})")
        unknown = [c for c in choices if c not in allowed[key]]
        if unknown:
            raise Hint(f"{unknown} are not choices for {key!r} (allowed: {allowed[key]})")
    if "model" not in space:
        raise Hint("the space needs a 'model' key")
    X, y, _, _ = automl.tabular("wine")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(automl.pipeline_objective(X, y, space), n_trials=6, timeout=20)
    if study.best_value < 0.95:
        raise Hint(f"best cross-validated accuracy in 6 trials was {study.best_value:.3f}, below 0.95")
    return True, f"best cv accuracy {study.best_value:.3f}"


@exercise("07.3", title="the Pareto front", section="3. Architecture search with two objectives",
          hint="keep a point unless another one is at least as accurate and at least as small, and better in one")
def check_pareto(answer):
    rng = np.random.default_rng(7)
    points = [(round(float(a), 3), int(p)) for a, p in zip(rng.uniform(0.5, 1, 25), rng.integers(1000, 90000, 25))]
    points += [points[3]]  # a duplicate must not knock itself out
    expected = sorted({p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)},
                      key=lambda p: p[1])
    got = sorted(set(map(tuple, answer(points))), key=lambda p: p[1])
    if got == sorted(points, key=lambda p: p[1]) or len(got) > len(expected):
        raise Hint("some points you kept are dominated (another is more accurate AND smaller)")
    if got != expected:
        raise Hint(f"expected {len(expected)} points on the front, got {len(got)}")
    return True


@exercise("07.4", title="predict, run, explain: the pruner that prunes everything",
          section="3. Pruning, judged at the same budget",
          hint="a trial pruned after epoch 1 of 5 ran 1 epoch and skipped 4; every trial does the same")
def check_prune_everything(answer):
    """`answer` = (prediction, measured): your guess, before running, of the share of epochs PruneEverything
    saves with max_epochs=5, and what automl.epochs_saved returned for such a study."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Hint("pass a pair: exercises.check('07.4', (PREDICTION, MEASURED))")
    prediction, measured = answer
    for name, value in (("prediction", prediction), ("measured", measured)):
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise Hint(f"{name} is a share between 0 and 1, got {value!r}")
    if abs(measured - 0.8) > 1e-9:
        raise Hint(f"measured {measured}: run the study with pruner=automl.PruneEverything() and max_epochs=5, "
                   "then automl.epochs_saved(study, 5)")
    if abs(prediction - measured) > 0.05:
        return True, (f"you predicted {prediction:.2f}, it saved {measured:.2f}: every trial stops after 1 of 5 "
                      "epochs, the largest saving possible, and the worst models; savings alone are no claim")
    return True, "right: 4 of every 5 epochs skipped, the most any pruner can save, and the worst models found"


QUIZ = [
    Question("07.q1", "A pipeline search with 40 trials beats scikit-learn's defaults (one fit) by 1 point "
             "on one split. What is the first fix to the comparison?",
             ("run more trials", "give the defaults the same number of fits (a small grid) and repeat over splits",
              "report the search's inner cross-validation score"),
             "b", "Unequal cost and one split make any search look good. Match the fits, then put an interval on the "
             "gap over several outer splits; the inner CV score is optimistic by selection."),
    Question("07.q2", "A pruner saved 80% of the epochs. What else must be shown before calling it useful?",
             ("nothing: fewer epochs is the goal", "that the best model it found, at the same budget, is as good as "
              "the unpruned search's", "that it pruned at least half of the trials"),
             "b", "A pruner that prunes everything saves the most epochs and finds the worst models: savings only "
             "count when the quality found at the same budget holds up."),
    Question("07.q3", "Why export the winning pipeline with skops (or ONNX) rather than pickle?",
             ("skops files are smaller", "loading a pickle can run arbitrary code from the file; skops builds only "
              "trusted types and lists the others first", "pickle cannot store scikit-learn pipelines"),
             "b", "pickle.load executes whatever the file tells it to. skops.io.get_untrusted_types shows anything "
             "unusual before loading, and load refuses it unless you trust it."),
    Question("07.q4", "The natural-language parser scored 0.89 on 18 instructions written together with its keyword "
             "rules. What does that number estimate?",
             ("its accuracy on new users' instructions", "its fit to the instructions its rules were written from "
              "(an in-sample score)", "the language model's accuracy"),
             "b", "Rules tuned on those 18 cases will match them. Only instructions written independently, never used "
             "to change the rules, estimate what a new user gets; score rules alone, model alone and both on them."),
]
