"""Unit tests for kit.synthetic (lesson 03): tiny inputs, no model downloads, a few seconds."""
import numpy as np
import pytest
import torch

from kit import synthetic


def test_make_imbalanced_oversample_and_recall():
    X, y = np.arange(40, dtype=np.float32).reshape(20, 2), np.repeat([0, 1, 2, 3], 5)
    X_imb, y_imb = synthetic.make_imbalanced(X, y, [1, 3], keep=2)
    assert np.bincount(y_imb).tolist() == [5, 2, 5, 2]
    X_over, y_over = synthetic.oversample(X_imb, y_imb, [1, 3], target=5)
    assert np.bincount(y_over).tolist() == [5, 5, 5, 5] and len(X_over) == 20
    with pytest.raises(ValueError, match="class 7 has no examples"):
        synthetic.make_imbalanced(X, y, [7], keep=2)
    with pytest.raises(ValueError, match="keep must be at least 1"):
        synthetic.make_imbalanced(X, y, [1], keep=0)
    with pytest.raises(ValueError, match="class 9 has no examples to repeat"):
        synthetic.oversample(X, y, [9], target=5)
    assert synthetic.class_recall([0, 0, 1, 1], [0, 1, 1, 1], [0, 1]) == {0: 0.5, 1: 1.0}
    with pytest.raises(ValueError, match="class 5 has no examples in y_true"):
        synthetic.class_recall([0, 1], [0, 1], [5])


def test_conditional_vae_trains_and_samples_by_class():
    torch.manual_seed(0)  # the result must not depend on what earlier tests drew from torch's generator
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(64, 28, 28)).astype(np.float32) * 0.2
    y = np.repeat([0, 1], 32)
    X[y == 1, :, 10:18] = 1.0                                  # class 1 has a bright band
    model = synthetic.ConditionalVAE(n_classes=2, latent=4, hidden=32)
    losses = synthetic.train_cvae(model, X, y, epochs=25, batch_size=16, lr=1e-2)  # 8 left the gap at 0.16-0.35
    assert losses[-1] < losses[0]
    ones, zeros = model.sample([1] * 8), model.sample([0] * 8)
    assert ones.shape == (8, 28, 28) and 0 <= ones.min() and ones.max() <= 1
    assert ones[:, :, 10:18].mean() > zeros[:, :, 10:18].mean() + 0.2
    with pytest.raises(ValueError, match=r"labels must be in 0..1"):
        model.sample([2])


def test_digit_classifier_shape():
    assert synthetic.digit_classifier()(torch.zeros(3, 28, 28)).shape == (3, 10)


def test_fit_and_score_reports_accuracy_and_recall():
    X, y, _ = synthetic.render_digits(60, synthetic.glyph_masks(fonts=["DejaVu Sans"]), seed=0)
    scores = synthetic.fit_and_score(X, y, X[:20], y[:20], classes=[0, 1], epochs=1)
    assert set(scores) == {"accuracy", "correct", "recall_0", "recall_1", "minority_recall"}
    assert np.isclose(scores["correct"].mean(), scores["accuracy"])
    assert 0 <= scores["accuracy"] <= 1


def test_review_prompts_and_clean_sentence():
    prompts = synthetic.review_prompts(3)
    assert len(prompts) == 6 and [label for _, label in prompts] == [0, 0, 0, 1, 1, 1]
    assert "negative" in prompts[0][0][0]["content"] and prompts[0][0][0]["role"] == "user"
    with pytest.raises(ValueError, match="n_per_label must be at least 1"):
        synthetic.review_prompts(0)
    assert synthetic.clean_sentence('"A dull film."\nMore text') == "A dull film."
    assert synthetic.clean_sentence("Sure! Here it is: Great acting.") == "Great acting."
    assert synthetic.clean_sentence("\n\n") == ""


def test_glyphs_and_renderer_control_pose():
    masks = synthetic.glyph_masks(chars="08", fonts=["DejaVu Sans"], size=56)
    assert masks.shape == (3, 2, 56, 56)
    assert masks[0, 0, 28, 28] == 0 and masks[0, 0].mean() > 0.05   # the 0 has a hole in the middle
    still, labels, pose = synthetic.render_digits(4, masks, angle=0, scale=(1, 1), shift=0, shear=0, thickness=(0, 0))
    assert still.shape == (4, 28, 28) and still.dtype == np.float32 and set(labels) <= {0, 1}
    assert np.all(pose["angle"] == 0)
    thick, _, _ = synthetic.render_digits(4, masks, angle=0, scale=(1, 1), shift=0, shear=0, thickness=(2, 2))
    assert thick.mean() > still.mean()
    with pytest.raises(ValueError, match="masks must be"):
        synthetic.render_digits(2, masks[0])


def test_class_weights_count_rare_classes_like_common_ones():
    y = np.array([0] * 90 + [1] * 10)
    w = synthetic.class_weights(y, n_classes=3)
    assert w[2] == 0 and np.isclose(w[:2].mean(), 1) and np.isclose(w[1] / w[0], 9)
    labels = np.arange(40) % 10
    scores = synthetic.fit_and_score(np.random.default_rng(0).random((40, 28, 28)), labels, np.zeros((5, 28, 28)),
                                     np.arange(5), epochs=1,
                                     loss_fn=torch.nn.CrossEntropyLoss(weight=synthetic.class_weights(labels)))
    assert scores["correct"].shape == (5,) and set(np.unique(scores["correct"])) <= {0.0, 1.0}


def test_plots_return_figures():
    assert synthetic.plot_bars([{"variant": "a", "acc": 0.5}], "acc").axes
    assert synthetic.show_images(np.zeros((3, 28, 28)), [0, 1, 2]).axes
