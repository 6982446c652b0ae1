"""Unit tests for kit/unified.py (lesson 06's fusion transformer): tiny inputs, no pretrained model."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kit import multimodal, unified


class FakeEmbedder:
    """Stands in for MiniLM: one fixed random vector per word, as token embeddings."""

    def __init__(self, dim=384):
        self.dim, self.table = dim, {}

    def _vec(self, word):
        return self.table.setdefault(word, F.normalize(torch.randn(self.dim), dim=0))

    def encode(self, texts, output_value=None, convert_to_tensor=True, normalize_embeddings=True):
        if output_value == "token_embeddings":
            return [torch.stack([self._vec(w) for w in t.split()]) for t in texts]
        return torch.stack([F.normalize(sum(self._vec(w) for w in t.split()), dim=0) for t in texts])


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    embedder = FakeEmbedder()
    captions = multimodal.encode_captions(embedder, multimodal.load_captions())
    return captions, unified.caption_tokens(embedder, captions.texts)


def test_caption_tokens_are_padded_with_a_mask(setup):
    captions, tokens = setup
    lengths = [len(t.split()) for t in captions.texts]
    assert tokens.features.shape == (len(captions.texts), max(lengths), 384)
    assert tokens.mask.sum(1).tolist() == lengths
    assert torch.allclose(tokens.features[0, :lengths[0]].norm(dim=-1), torch.ones(lengths[0]))
    with pytest.raises(ValueError, match="no captions"):
        unified.caption_tokens(FakeEmbedder(), [])


def test_fusion_transformer_shapes_and_bad_inputs(setup):
    _, tokens = setup
    model = unified.FusionTransformer(dim=16, depth=1, heads=2)
    feats, mask = tokens[[0, 1, 2]]
    assert model(torch.rand(3, 28, 28), feats, mask).shape == (3,)
    patches = model.patches(torch.arange(28 * 28.0).view(1, 28, 28))
    assert patches.shape == (1, 16, 49) and patches[0, 1, 0] == 7          # second patch starts at column 7
    with pytest.raises(ValueError, match="one caption per image"):
        model(torch.rand(2, 28, 28), feats, mask)
    with pytest.raises(ValueError, match="must divide"):
        unified.FusionTransformer(patch=5)


def test_padding_tokens_do_not_change_the_logit(setup):
    _, tokens = setup
    model = unified.FusionTransformer(dim=16, depth=1, heads=2).eval()
    feats, mask = tokens[[0]]
    n = int(mask.sum())
    x = torch.rand(1, 28, 28)
    with torch.no_grad():
        full = model(x, feats, mask)
        trimmed = model(x, feats[:, :n], mask[:, :n])
        noisy = feats.clone()
        noisy[:, n:] = 5.0
        assert torch.allclose(full, trimmed, atol=1e-5) and torch.allclose(full, model(x, noisy, mask), atol=1e-5)


def test_train_matcher_learns_two_visible_digits_and_scores_classes(setup):
    captions, tokens = setup
    torch.manual_seed(0)
    X, y = torch.zeros(64, 28, 28), np.arange(64) % 2
    X[y == 1, 7:21, 7:21] = 1.0
    model = unified.FusionTransformer(dim=32, depth=1, heads=2)
    rows = unified.train_matcher(model, X, y, captions, tokens, epochs=15, candidates=2, batch_size=32, lr=3e-3,
                                 progress=False, plot=False)
    assert rows[-1]["match_loss"] < rows[0]["match_loss"]
    heldout = captions.where("heldout")
    two = heldout[captions.digit[heldout] < 2]
    scores = unified.match_scores(model, X, tokens, two, captions.digit[two])
    assert scores.shape == (64, 2) and (scores.argmax(1).numpy() == y).mean() >= 0.9
    with pytest.raises(ValueError, match="candidates must be between 2 and the number of classes"):
        unified.train_matcher(model, X, y, captions, tokens, epochs=1, candidates=3, progress=False)
    with pytest.raises(ValueError, match="one class per caption row"):
        unified.match_scores(model, X, tokens, two, captions.digit[two][:1])
