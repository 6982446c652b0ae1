"""Gradient inversion (kit.attacks): DLG recovers a digit from its plain gradient, not from noise or a noised update."""
import numpy as np
import pytest
import torch

from kit import attacks, privacy
from kit.errors import UnknownNameError


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    X = np.zeros((2, 28, 28), dtype=np.float32)
    X[0, 6:22, 12:16] = 1.0                                  # a "1"
    X[1, 8:20, 8:20] = rng.random((12, 12)) > 0.5             # a blob
    return X, np.array([1, 7])


def test_infer_labels_reads_the_batch_labels_off_the_bias_gradient(batch):
    model = privacy.make_model()
    grads = attacks.client_gradient(model, *batch)
    assert sorted(attacks.infer_labels(grads, 2)) == [1, 7]
    assert list(attacks.infer_labels(attacks.clip(grads, 0.01), 2)) == [1, 7]   # clipping keeps the labels
    assert attacks.label_recovery([1, 3], [1, 7]) == 0.5
    with pytest.raises(ValueError, match="at least 1"):
        attacks.infer_labels(grads, 0)


def test_dlg_recovers_a_plain_update_and_not_noise(batch):
    model = privacy.make_model()
    grads = attacks.client_gradient(model, *batch)
    images, labels = attacks.invert(model, grads, 2, steps=100)
    plain = attacks.match_scores(images, batch[0])
    noise_images, _ = attacks.invert(model, attacks.noise_like(grads), 2, steps=100)
    noise = attacks.match_scores(noise_images, batch[0])
    assert plain["psnr"].mean() > 20 and plain["ssim"].mean() > 0.5, plain
    assert noise["psnr"].mean() < plain["psnr"].mean() - 8, (noise, plain)
    assert sorted(labels) == [1, 7]


def test_local_dp_noise_defeats_the_attack_and_clipping_alone_does_not(batch):
    model = privacy.make_model()
    grads = attacks.client_gradient(model, *batch)
    clipped, _ = attacks.invert(model, attacks.clip(grads, 0.5), 2, steps=100)
    noisy, _ = attacks.invert(model, attacks.local_dp(grads, 0.5, epsilon=10.0), 2, steps=100)
    clipped_psnr = attacks.match_scores(clipped, batch[0])["psnr"].mean()
    assert clipped_psnr > attacks.match_scores(noisy, batch[0])["psnr"].mean() + 8
    norm = sum(float((g ** 2).sum()) for g in attacks.clip(grads, 0.5)) ** 0.5
    assert norm == pytest.approx(0.5, rel=1e-4)


def test_secagg_sum_and_matching_give_the_attacker_its_best_case():
    a = [torch.ones(2, 2), torch.ones(3)]
    b = [2 * torch.ones(2, 2), torch.zeros(3)]
    total = attacks.secagg_sum([a, b])
    assert torch.equal(total[0], 3 * torch.ones(2, 2)) and torch.equal(total[1], torch.ones(3))
    originals = np.stack([np.zeros((8, 8)), np.ones((8, 8))])
    recon = np.stack([np.full((8, 8), 0.5), np.ones((8, 8)), np.zeros((8, 8))])
    scores = attacks.match_scores(recon, originals)
    assert list(scores["match"]) == [2, 1] and np.all(scores["psnr"] == 100.0)
    assert attacks.psnr(np.zeros(4), np.full(4, 0.1)) == pytest.approx(20.0)


def test_bad_inputs_are_explained(batch):
    model = privacy.make_model()
    with pytest.raises(ValueError, match="as many labels"):
        attacks.client_gradient(model, batch[0], batch[1][:1])
    grads = attacks.client_gradient(model, *batch)
    with pytest.raises(UnknownNameError, match="cosine"):
        attacks.invert(model, grads, 2, distance="manhattan")
    with pytest.raises(ValueError, match="gradient tensors"):
        attacks.invert(model, grads[:2], 2)
    with pytest.raises(ValueError, match="cannot cover"):
        attacks.match_scores(np.zeros((1, 4, 4)), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="epsilon"):
        attacks.local_dp(grads, 1.0, epsilon=0)
    with pytest.raises(ValueError, match="positive"):
        attacks.clip(grads, 0)
    with pytest.raises(ValueError, match="at least one"):
        attacks.secagg_sum([])
