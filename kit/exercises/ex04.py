"""Checks for exercises/04_self_supervised.ipynb: similarity matrix, NT-Xent, patch masking."""
import torch

from kit import selfsup
from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


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


@exercise("04.4", title="predict, run, explain: a log-mel spectrogram by hand",
          section="9. Audio: contrastive learning on real recordings",
          hint="spec = torch.stft(wave, 512, 160, window=torch.hann_window(512), return_complex=True); "
               "then torch.log(filters @ spec.abs() ** 2 + 1e-6) with filters = audio_ssl.mel_filterbank()")
def check_log_mel(log_mel):
    from kit import audio_ssl

    t = torch.arange(16000) / 16000
    wave = 0.5 * torch.sin(2 * torch.pi * 440 * t)                       # one second of A4 (440 Hz)
    got = torch.as_tensor(log_mel(wave))
    want = audio_ssl.log_mel(wave)
    if tuple(got.shape) != tuple(want.shape):
        raise Hint(f"expected {tuple(want.shape)} (64 mel bands x frames), got {tuple(got.shape)}")
    if torch.allclose(got, torch.log(torch.as_tensor(audio_ssl.mel_filterbank()) @
                                     torch.stft(wave, 512, 160, window=torch.hann_window(512),
                                                return_complex=True).abs() + 1e-6), atol=1e-3):
        raise Hint("that is the log of the magnitude; the mel filters weigh the power (magnitude squared)")
    if not torch.allclose(got, want, atol=1e-3):
        raise Hint("the values differ from audio_ssl.log_mel: check the window (Hann, 512), hop 160 and the 1e-6")
    loudest = int(got.mean(1).argmax())
    if not 10 <= loudest <= 25:
        raise Hint(f"the 440 Hz tone should light up a low mel band (about 11), got band {loudest}")
    return True


QUIZ = [
    Question(
        "04.q1", "With 40 labels, which baseline should a SimCLR probe on MNIST be compared with?",
        ("a CNN trained from scratch on the 40 images", "the strongest of pixel logistic regression, pixel 1-NN and "
         "the CNN trained with the same augmentations", "chance, 10%"),
        "b", "The CNN from scratch is the weakest of the three at 40 labels; pixels with logistic regression or 1-NN "
        "are what a sceptic tries first, and the augmentations must be given to the supervised model too."),
    Question(
        "04.q2", "Why does the lesson average each method over several random draws of the few labels?",
        ("to make training faster", "which 4 images per digit were drawn moves accuracy by several points; "
         "averaging per test item over draws and pairing on the same items separates method from luck",
         "because the bootstrap needs it"),
        "b", "With tiny label sets the draw is a large source of variance; the paired interval is about the method."),
    Question(
        "04.q3", "What is the negative control of the SimCLR and audio claims?",
        ("the same probe on a randomly initialised encoder of the same architecture", "a bigger encoder",
         "training with more labels"),
        "a", "If a random encoder passed the same check, the gain would come from the architecture (random features "
        "can be surprisingly good), not from self-supervised training."),
    Question(
        "04.q4", "Why is the audio test set kept out of the contrastive pre-training pool?",
        ("it is too large", "unlabelled test recordings in pre-training let the encoder adapt to the exact test "
         "sounds, an optimistic leak", "contrastive learning cannot use short recordings"),
        "b", "No label is used, but the encoder would still have seen the very recordings it is tested on."),
]
