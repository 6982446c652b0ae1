"""Checks for lesson 03 (synthetic data): each compares the learner's answer with a reference."""
import numpy as np

from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


def _table(seed, rows=120, cols=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, cols)) * [1, 10, 100, 0.1] + [0, 5, -50, 2]


@exercise("03.1", title="mean Kolmogorov-Smirnov statistic over columns", section="1. Tabular data: a Gaussian copula",
          hint="for each column j, scipy.stats.ks_2samp(real[:, j], synthetic[:, j]).statistic; then the mean")
def _check_ks(mean_ks):
    from kit import tabular

    real, fake = _table(0), _table(1) + [0.3, 0, 0, 0]
    if abs(float(mean_ks(real, real))) > 1e-9:
        raise Hint("a table compared with itself must score 0")
    got, want = float(mean_ks(real, fake)), tabular.fidelity(real, fake)["ks_mean"]
    if not np.isclose(got, want, atol=1e-6):
        raise Hint(f"got {got:.4f}, expected {want:.4f}")
    return True


@exercise("03.2", title="distance to the closest training record", section="1. Tabular data: a Gaussian copula",
          hint="scale every column by the reference's mean and standard deviation, then take the minimum "
               "Euclidean distance from each query row to any reference row")
def _check_dcr(dcr):
    from kit import tabular

    reference, queries = _table(2), _table(3, rows=15)
    got = np.asarray(dcr(queries, reference), dtype=float)
    want = tabular.distance_to_closest_record(queries, reference)
    if got.shape != want.shape:
        raise Hint(f"return one distance per query row: expected shape {want.shape}, got {got.shape}")
    raw = np.sqrt(((queries[:, None] - reference[None]) ** 2).sum(-1)).min(1)
    if np.allclose(got, raw, rtol=1e-4):
        raise Hint("the columns are not standardised: the third column (scale 100) dominates the distance")
    if not np.allclose(got, want, rtol=1e-4):
        raise Hint("the distances differ from the reference")
    return True


@exercise("03.3", title="rotate an image counter-clockwise with affine_grid",
          section="4. Simulation: rendered digits with controlled pose",
          hint="theta = [[cos a, -sin a, 0], [sin a, cos a, 0]] for F.affine_grid, then F.grid_sample "
               "(both with align_corners=False), on a (1, 1, H, W) tensor")
def _check_rotate(rotate_image):
    image = np.zeros((28, 28), dtype=np.float32)
    image[5:10, 3:20], image[10:22, 15:18] = 1, 1      # an asymmetric 'seven'
    for degrees, k in ((0, 0), (90, 1), (180, 2)):
        got = np.asarray(rotate_image(image, degrees), dtype=np.float32)
        if got.shape != image.shape:
            raise Hint(f"return a (28, 28) image, got shape {got.shape}")
        if degrees == 90 and np.allclose(got, np.rot90(image, -1), atol=1e-3):
            raise Hint("that rotates clockwise: flip the sign of the sin terms")
        if not np.allclose(got, np.rot90(image, k), atol=1e-3):
            raise Hint(f"rotating by {degrees} degrees should match np.rot90(image, {k})")
    return True


@exercise("03.4", title="predict, run, explain: a tail privacy statistic that catches a 10% leak",
          section="1a. Privacy: does the generator hand out real patients?",
          hint="threshold = np.quantile(dcr(holdout, train), 0.05); "
               "return the mean of dcr(synthetic, train) < threshold")
def _check_tail_share(tail_share):
    from kit import data, tabular

    cancer = data.load("breast_cancer")
    clean, _ = tabular.CopulaSynthesizer().fit(cancer.X_train, cancer.y_train).sample(len(cancer.X_train), seed=3)
    tables = {"copula": clean, "leaky": tabular.leaky_copy(clean, cancer.X_train, share=0.10, noise=0.01, seed=3)}
    got = {name: float(tail_share(cancer.X_train, cancer.X_test, table)) for name, table in tables.items()}
    want = {name: tabular.privacy_check(cancer.X_train, cancer.X_test, table)[1]["share_close"]
            for name, table in tables.items()}
    for name in got:
        if not 0 <= got[name] <= 1:
            raise Hint(f"return a share between 0 and 1, got {got[name]} for the {name} table")
        if not np.isclose(got[name], want[name], atol=0.01):
            raise Hint(f"{name} table: got {got[name]:.3f}, expected {want[name]:.3f} (distances in the training "
                       "set's standard deviations, threshold at the holdout's 5th percentile)")
    if not got["leaky"] > 2 * 0.05 > got["copula"]:
        raise Hint("the leaky table should put more than 10% of its rows below the threshold, the copula fewer")
    return True


QUIZ = [
    Question(
        "03.q1", "A generator copies 10% of its rows from the training patients. Why does the median distance-to-"
        "closest-record ratio barely move?",
        ("90% of its rows still look like fresh data, and a median is set by the middle of the distribution",
         "copied rows are farther from the training set than new rows", "the ratio is computed on the holdout only"),
        "a", "A 10% tail of near-zero distances moves the median by about 2%. The share of rows below the holdout's "
        "5th percentile jumps from about 5% to about 14%: check the tail."),
    Question(
        "03.q2", "The naive independent generator reaches TSTR 0.92 and the copula 0.95 on the same 143 patients. "
        "What makes the 0.03 gap a claim?",
        ("it is above zero", "a paired bootstrap interval over the same patients whose lower end is above 0, and a "
         "shuffled-label copula that fails the same check", "TRTR is 0.96, so both are close enough"),
        "b", "Three points on 143 patients could be noise; pairing on the same patients and averaging over several "
        "synthetic draws gives an interval. The shuffled-label control shows the check can fail."),
    Question(
        "03.q3", "Which baseline must a generator for rare classes beat?",
        ("the imbalanced training set", "the better of oversampling and a class-weighted loss, on the rare "
         "classes' recall", "the overall test accuracy of any model"),
        "b", "Both cost one line and already recover much of the recall; a generator is worth it only if it adds "
        "variety beyond repeating or up-weighting the same few real examples."),
    Question(
        "03.q4", "Why fine-tune a simulation-trained model on a few real images instead of training on them alone?",
        ("the renders give shape and pose variety that 100 real images lack, and the real images close the "
         "sim-to-real gap", "fine-tuning is faster", "real images are not needed after domain randomization"),
        "a", "Renders give unlimited labelled variety; a few real images adapt the features to real ink and strokes. "
        "Section 4 measures both against the 100 real images alone."),
]
