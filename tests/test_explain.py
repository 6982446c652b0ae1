import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, Saliency
from torch import nn

from kit import explain


def _tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def test_attribute_runs_captum_and_refuses_non_differentiable_models():
    x = torch.rand(2, 1, 28, 28)
    a = explain.attribute(IntegratedGradients, _tiny_model(), x, target=3, n_steps=4)
    assert a.shape == x.shape
    from sklearn.tree import DecisionTreeClassifier

    with pytest.raises(TypeError, match="not a differentiable torch model.*FeaturePermutation"):
        explain.attribute(Saliency, DecisionTreeClassifier(), x, target=0)
    frozen = _tiny_model().requires_grad_(False)
    with pytest.raises(TypeError, match="not a differentiable"):
        explain.attribute(Saliency, frozen, x, target=0)


def test_randomized_copy_changes_weights_only():
    model = _tiny_model()
    clone = explain.randomized_copy(model)
    assert not torch.equal(model[1].weight, clone[1].weight)
    assert type(clone[1]) is type(model[1])


def test_rank_correlation():
    a = np.random.default_rng(0).normal(size=(3, 50))
    assert explain.rank_correlation(a, a) == pytest.approx(1.0)
    assert abs(explain.rank_correlation(a, np.random.default_rng(1).normal(size=(3, 50)))) < 0.3
    with pytest.raises(ValueError, match="shapes differ"):
        explain.rank_correlation(a, a[:, :10])


def test_marker_and_its_share():
    images = np.zeros((4, 28, 28), np.float32)
    marked = explain.add_marker(images, [True, False, True, False])
    assert marked[0, :4, :4].min() == 1 and marked[1].max() == 0 and images.max() == 0
    attr = np.zeros((2, 28, 28))
    attr[:, :4, :4] = 1
    attr[:, 10, 10] = 1
    assert explain.marker_share(attr) == pytest.approx(16 / 17)
    with pytest.raises(ValueError, match=r"\(n, height, width\)"):
        explain.add_marker(images[0], [True])


def test_linear_counterfactual_flips_the_decision():
    coef, intercept = np.array([2.0, 0.0, -1.0]), 0.5
    for x in ([1.0, 5.0, 0.0], [-3.0, 1.0, 2.0]):
        x = np.array(x)
        x_cf, change = explain.linear_counterfactual(x, coef, intercept)
        assert np.sign(x_cf @ coef + intercept) != np.sign(x @ coef + intercept)
        assert change[1] == 0  # an unused feature never changes
    with pytest.raises(ValueError, match="all coefficients are zero"):
        explain.linear_counterfactual([1.0], [0.0], 0.0)


def test_confounded_world_separates_association_from_cause():
    world = explain.simulate_confounded(5000)
    assert np.corrcoef(world.X[:, 0], world.y)[0, 1] > 0.4
    assert abs(explain.intervention_effect(20000, "x_confounded")) < 0.02
    assert explain.intervention_effect(20000, "x_causal") > 0.2
    with pytest.raises(ValueError, match="Unknown feature"):
        explain.intervention_effect(10, "x3")


def test_model_card_has_the_sections_a_reviewer_needs():
    card = explain.model_card("m", "triage", "UCI", {"accuracy": 0.95}, {"small": {"n": 10, "accuracy": 0.9}},
                              ["one hospital"], explanation="uses 5 features")
    for heading in ("## Intended use", "## Data", "## Metrics", "## Metrics per slice", "## How it decides",
                    "## Limits"):
        assert heading in card
    with pytest.raises(ValueError, match="at least one measured metric"):
        explain.model_card("m", "u", "d", {}, {}, [])
