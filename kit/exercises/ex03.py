"""Checks for lesson 03 (synthetic data): each compares the learner's answer with a reference."""
import numpy as np

from kit.exercises import Hint, exercise


def _table(seed, rows=120, cols=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, cols)) * [1, 10, 100, 0.1] + [0, 5, -50, 2]


@exercise("03.1", title="mean Kolmogorov-Smirnov statistic over columns", section="1. Tabular data: a Gaussian copula",
          hint="for each column j, scipy.stats.ks_2samp(real[:, j], synthetic[:, j]).statistic; then the mean")
def _check_ks(mean_ks):
    from kit import synthetic

    real, fake = _table(0), _table(1) + [0.3, 0, 0, 0]
    if abs(float(mean_ks(real, real))) > 1e-9:
        raise Hint("a table compared with itself must score 0")
    got, want = float(mean_ks(real, fake)), synthetic.fidelity(real, fake)["ks_mean"]
    if not np.isclose(got, want, atol=1e-6):
        raise Hint(f"got {got:.4f}, expected {want:.4f}")
    return True


@exercise("03.2", title="distance to the closest training record", section="1. Tabular data: a Gaussian copula",
          hint="scale every column by the reference's mean and standard deviation, then take the minimum "
               "Euclidean distance from each query row to any reference row")
def _check_dcr(dcr):
    from kit import synthetic

    reference, queries = _table(2), _table(3, rows=15)
    got = np.asarray(dcr(queries, reference), dtype=float)
    want = synthetic.distance_to_closest_record(queries, reference)
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
