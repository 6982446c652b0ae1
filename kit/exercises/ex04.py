"""Checks for exercises/04_self_supervised.ipynb: similarity matrix, NT-Xent, patch masking."""
import torch

from kit import selfsup
from kit.exercises import Hint, exercise


def _embeddings(seed, n=6, d=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


@exercise("04.1", title="cosine similarity matrix", section="3. The NT-Xent loss",
          hint="normalise each row to length 1 (torch.nn.functional.normalize), then multiply z by its transpose")
def check_similarity(cosine_similarity_matrix):
    z, _ = _embeddings(0)
    z = z * torch.arange(1, 7).float().unsqueeze(1)          # rows of different lengths
    got = torch.as_tensor(cosine_similarity_matrix(z)).float()
    if got.shape != (6, 6):
        raise Hint(f"for 6 embeddings the matrix should be 6x6, got {tuple(got.shape)}")
    if not torch.allclose(torch.diagonal(got), torch.ones(6), atol=1e-4):
        raise Hint("every embedding should have similarity 1 with itself: did you normalise the rows?")
    normed = torch.nn.functional.normalize(z, dim=1)
    return torch.allclose(got, normed @ normed.T, atol=1e-4)


@exercise("04.2", title="NT-Xent loss", section="3. The NT-Xent loss",
          hint="stack both views (2n rows), divide the cosine similarities by the temperature, set the diagonal "
               "to -inf, and use cross-entropy where the target of row i is its partner (i + n, or i - n)")
def check_nt_xent(nt_xent_loss):
    for seed, temperature in ((1, 0.5), (2, 0.1)):
        z1, z2 = _embeddings(seed)
        got = float(nt_xent_loss(z1, z2, temperature))
        want = float(selfsup.nt_xent(z1, z2, temperature))
        if abs(got - want) > 1e-4:
            no_diag = float(torch.nn.functional.cross_entropy(
                torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
                @ torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1).T / temperature,
                torch.cat([torch.arange(6, 12), torch.arange(6)])))
            if abs(got - no_diag) < 1e-4:
                raise Hint("each view is still compared with itself: mask the diagonal with -inf")
            raise Hint(f"with temperature {temperature} the loss should be {want:.4f}, got {got:.4f}")
    return True


@exercise("04.3", title="mask random patches", section="5. Masked modelling on the same images",
          hint="draw one random score per patch, hide the patches with the lowest round(ratio * n_patches) "
               "scores, and expand the patch mask to pixels with repeat_interleave")
def check_masking(mask_random_patches):
    x = torch.rand(5, 1, 28, 28) + 0.1                       # no zero pixels, so hidden ones are visible
    for ratio, patch in ((0.5, 4), (0.75, 7)):
        masked, mask = mask_random_patches(x, ratio, patch)
        if tuple(mask.shape) != (5, 1, 28, 28) or tuple(masked.shape) != (5, 1, 28, 28):
            raise Hint("return (masked images, mask), both shaped like the input (n, 1, 28, 28)")
        n_patches = (28 // patch) ** 2
        want = round(ratio * n_patches) / n_patches
        if not torch.allclose(mask.float().mean((1, 2, 3)), torch.full((5,), want), atol=1e-4):
            raise Hint(f"with ratio {ratio} each image should hide exactly {want:.3f} of its pixels")
        blocks = mask.float().unfold(2, patch, patch).unfold(3, patch, patch)
        if not ((blocks.amin((-1, -2)) == blocks.amax((-1, -2))).all()):
            raise Hint(f"hide whole {patch}x{patch} patches, not single pixels")
        if not torch.equal(masked, x * (1 - mask.float())):
            raise Hint("hidden pixels should be 0 and visible ones unchanged")
    if torch.equal(mask_random_patches(x, 0.5, 4)[1], mask_random_patches(x, 0.5, 4)[1]):
        raise Hint("two calls hid the same patches: the mask should be random")
    try:
        mask_random_patches(x, 1.0, 4)
    except ValueError:
        return True
    raise Hint("a ratio of 1 (or 0) should raise ValueError: nothing would be left to see (or to predict)")
