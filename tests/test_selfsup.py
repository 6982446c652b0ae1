"""Unit tests for kit/selfsup.py: augmentations, NT-Xent, masking, probes, the tiny language models."""
import numpy as np
import pytest
import torch

from kit import selfsup


def images(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 28, 28, generator=g)


def test_as_images_shapes_and_wrong_shape():
    assert selfsup.as_images(np.zeros((3, 28, 28))).shape == (3, 1, 28, 28)
    assert selfsup.as_images(torch.zeros(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="greyscale images shaped"):
        selfsup.as_images(torch.zeros(3, 3, 28, 28))
    with pytest.raises(ValueError, match="greyscale images shaped"):
        selfsup.augment(torch.zeros(28, 28 * 28))


def test_augment_is_random_in_range_and_reproducible():
    x = images()
    a = selfsup.augment(x, generator=torch.Generator().manual_seed(1))
    b = selfsup.augment(x, generator=torch.Generator().manual_seed(1))
    c = selfsup.augment(x, generator=torch.Generator().manual_seed(2))
    assert a.shape == (6, 1, 28, 28) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_augment_identity_when_everything_is_off():
    x = images(2)
    out = selfsup.augment(x, scale=(1.0, 1.0), rotate=0, shift=0, noise=0, erase_p=0)
    assert torch.allclose(out, x.unsqueeze(1), atol=1e-5)
    with pytest.raises(ValueError, match="scale"):
        selfsup.augment(x, scale=(0.0, 1.0))


def test_augment_erasing_blanks_a_rectangle():
    out = selfsup.augment(torch.ones(4, 28, 28), scale=(1, 1), rotate=0, shift=0, noise=0, erase_p=1.0)
    zeros = (out == 0).flatten(1).sum(1)
    assert (zeros >= 16).all() and (zeros < 28 * 28).all()


def test_nt_xent_prefers_matching_pairs():
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    matched = selfsup.nt_xent(z, z + 0.01)
    shuffled = selfsup.nt_xent(z, z[torch.randperm(8, generator=torch.Generator().manual_seed(1))])
    assert matched < shuffled
    assert matched > 0


def test_nt_xent_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        selfsup.nt_xent(torch.zeros(4, 8), torch.zeros(5, 8))
    with pytest.raises(ValueError, match="temperature"):
        selfsup.nt_xent(torch.zeros(4, 8), torch.zeros(4, 8), temperature=0)


def test_encoder_simclr_and_mae_shapes():
    enc = selfsup.Encoder(width=4, dim=8)
    assert enc(images(3)).shape == (3, 8)
    assert selfsup.SimCLR(enc, proj_dim=5)(images(3).unsqueeze(1)).shape == (3, 5)
    assert selfsup.MaskedAutoencoder(enc)(images(3).unsqueeze(1)).shape == (3, 1, 28, 28)


def test_mask_patches_ratio_and_bad_ratio():
    masked, mask = selfsup.mask_patches(images(4), ratio=0.5, patch=4, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (4, 1, 28, 28)
    assert torch.allclose(mask.mean((1, 2, 3)), torch.full((4,), 24 / 49))  # round(0.5 * 49) patches
    assert (masked[mask.bool()] == 0).all()
    for ratio in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            selfsup.mask_patches(images(2), ratio=ratio)
    with pytest.raises(ValueError, match="must divide"):
        selfsup.mask_patches(images(2), ratio=0.5, patch=5)


def test_short_training_runs_and_lowers_loss():
    torch.manual_seed(0)
    x = images(16)
    rows = selfsup.train_simclr(selfsup.SimCLR(selfsup.Encoder(4, 8)), x, epochs=2, batch_size=8, progress=False)
    assert len(rows) == 2 and all(np.isfinite(r["train_loss"]) for r in rows)
    rows = selfsup.train_mae(selfsup.MaskedAutoencoder(selfsup.Encoder(4, 8)), x, epochs=3, batch_size=8,
                             lr=1e-2, progress=False)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    with pytest.raises(ValueError, match="epochs"):
        selfsup.train_mae(selfsup.MaskedAutoencoder(selfsup.Encoder(4, 8)), x, epochs=0)


def test_embed_returns_numpy_features():
    feats = selfsup.embed(selfsup.Encoder(4, 8), images(5))
    assert isinstance(feats, np.ndarray) and feats.shape == (5, 8)


def test_label_subset_is_balanced_and_keeps_every_class():
    y = np.repeat(np.arange(10), 40)
    idx = selfsup.label_subset(y, 0.01)
    assert len(idx) == 10 and sorted(y[idx].tolist()) == list(range(10))
    assert np.bincount(y[selfsup.label_subset(y, 0.1)]).tolist() == [4] * 10
    with pytest.raises(ValueError, match="fraction"):
        selfsup.label_subset(y, 0)
    with pytest.raises(ValueError, match="two classes"):
        selfsup.label_subset(np.zeros(10), 0.5)


def test_linear_probe_separable_and_class_without_examples():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = np.eye(3)[y] * 5 + rng.normal(size=(60, 3))
    assert selfsup.linear_probe(X, y, X, y) > 0.9
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] have no labelled"):
        selfsup.linear_probe(X[y < 2], y[y < 2], X, y)
    with pytest.raises(ValueError, match="must match"):
        selfsup.linear_probe(X[:5], y[:4], X, y)


def test_supervised_baseline_returns_one_score_per_test_image():
    x, y = images(20), np.tile([0, 1], 10)
    for augmentations in (True, False):
        correct = selfsup.supervised_baseline(x, y, x[:7], y[:7], steps=2, width=4, dim=8, augmentations=augmentations)
        assert correct.shape == (7,) and set(np.unique(correct)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="steps must be at least 1"):
        selfsup.supervised_baseline(x, y, x, y, steps=0)


def test_probe_correct_scores_each_item_and_rejects_unknown_probes():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = np.eye(3)[y] * 5 + rng.normal(size=(60, 3))
    for kind in ("logreg", "1nn"):
        correct = selfsup.probe_correct(X, y, X, y, kind=kind)
        assert correct.shape == (60,) and correct.mean() > 0.9
    shuffled = selfsup.probe_correct(X[:30], rng.permutation(y[:30]), X[30:], y[30:])
    assert shuffled.mean() < 0.8
    with pytest.raises(Exception, match="knn"):
        selfsup.probe_correct(X, y, X, y, kind="knn")
    with pytest.raises(ValueError, match="must match"):
        selfsup.probe_correct(X[:5], y[:4], X, y)


TEXTS = ["The fire burned near the town. The fire crews worked all night.",
         "The town council met today, and the fire crews were thanked."] * 4


def test_vocab_encodes_decodes_and_windows():
    vocab = selfsup.Vocab(TEXTS, min_count=2)
    assert vocab.tokenize("Hello, world's end!") == ["hello", ",", "world's", "end", "!"]
    ids = vocab.encode("the fire zebra")
    assert vocab.decode(ids) == "the fire <unk>"
    windows = vocab.windows(TEXTS, length=8)
    assert windows.shape[1] == 8 and windows.dtype == torch.int64
    with pytest.raises(ValueError, match="shorter windows"):
        vocab.windows(["too short"], length=8)


@pytest.mark.parametrize("causal", [True, False])
def test_tiny_lm_learns_both_objectives(causal):
    torch.manual_seed(0)
    vocab = selfsup.Vocab(TEXTS, min_count=1)
    windows = vocab.windows(TEXTS, length=8)
    model = selfsup.TinyLM(len(vocab), dim=16, layers=1, heads=2, context=8, causal=causal)
    rows = selfsup.train_tiny_lm(model, windows, epochs=15, batch_size=4, lr=1e-2, mask_ratio=0.3, progress=False)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    scores = selfsup.token_accuracy(model, windows, mask_ratio=0.3)
    assert scores["accuracy"] > scores["most_frequent_word"]


def test_tiny_lm_bad_inputs():
    model = selfsup.TinyLM(10, dim=8, layers=1, heads=2, context=4, causal=False)
    with pytest.raises(ValueError, match="at most 4 tokens"):
        model(torch.zeros(1, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        selfsup.token_accuracy(model, torch.zeros(2, 4, dtype=torch.long), mask_ratio=1.0)


def test_plots_draw_what_they_are_given():
    x = images(8)
    grid = selfsup.plot_images({"a": x, "b": x}, n=4)
    drawn = [ax for ax in grid.axes if ax.images]
    assert len(drawn) == 8 and [ax.get_title() for ax in drawn[::4]] == ["a", "b"]
    assert np.allclose(drawn[5].images[0].get_array(), x[1].numpy())
    rows = [{"method": m, "labels": n, "accuracy": a} for m in ("x", "y") for n, a in ((10, 0.5), (100, 0.8))]
    lines = selfsup.plot_label_curve(rows).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["x", "y"]
    assert list(lines[0].get_xdata()) == [10, 100] and list(lines[0].get_ydata()) == [0.5, 0.8]
    feats = np.random.default_rng(0).normal(size=(30, 5))
    maps = selfsup.plot_projection({"f": feats, "g": feats[:, ::-1]}, np.arange(30) % 3)
    panels = [ax for ax in maps.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["f", "g"]
    assert all(ax.collections[0].get_offsets().shape == (30, 2) for ax in panels)
    assert list(panels[0].collections[0].get_array()) == list(np.arange(30) % 3)
    with pytest.raises(ValueError, match="pca"):
        selfsup.plot_projection({"f": feats}, np.arange(30) % 3, method="umap")
