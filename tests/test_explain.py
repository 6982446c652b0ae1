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


def test_map_similarity_ignores_background_ties_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    images = np.zeros((3, 28, 28))
    images[:, 10:18, 10:18] = 1.0
    a = rng.normal(size=(3, 28, 28)) * images          # input-times-gradient style: zero on the background
    b = rng.normal(size=(3, 28, 28)) * images          # unrelated on the digit
    assert explain.rank_correlation(a, b) > 0.5         # whole-image ranks: the zero ties look alike
    assert abs(explain.map_similarity(a, b, images).mean()) < 0.3
    assert explain.map_similarity(a, a, images).min() == pytest.approx(1.0)
    assert explain.map_similarity(a, a, images, metric="ssim").min() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Unknown metric"):
        explain.map_similarity(a, b, images, metric="pearson")
    with pytest.raises(ValueError, match="shapes differ"):
        explain.map_similarity(a, b[:2], images)


def test_sanity_check_passes_gradients_and_fails_the_edge_detector():
    torch.manual_seed(0)
    x = torch.rand(12, 1, 28, 28) * (torch.rand(12, 1, 28, 28) > 0.5)
    model = _tiny_model()
    model[1].weight.data = torch.randn(10, 784)
    twin = explain.randomized_copy(model, seed=1)
    twin[1].weight.data = model[1].weight.data + 0.05 * torch.randn(10, 784)  # a near-copy: same explanations
    saliency = lambda m, X, t: explain.attribute(Saliency, m, X, t)  # noqa: E731
    result = explain.sanity_check(saliency, model, explain.randomized_copy(model), x, 3, reference_model=twin)
    assert result["ci"][0] > 0 and len(result["random"]) == 12
    edges = explain.sanity_check(explain.edge_detector, model, explain.randomized_copy(model), x, 3,
                                 reference_model=twin)
    assert edges["effect"] == 0 and edges["ci"][0] <= 0          # ignores the model: cannot pass
    assert explain.edge_detector(None, x).shape == x.shape


def test_deletion_curve_is_lower_for_a_faithful_map():
    w = np.linspace(-1, 1, 16)
    predict = lambda batch: batch.reshape(len(batch), -1) @ w  # noqa: E731
    x = np.ones(16, np.float32)
    faithful = explain.deletion_curve(predict, x, w * x, steps=8)
    shuffled = explain.deletion_curve(predict, x, w * x, steps=8, order="random")
    assert faithful[0] == pytest.approx(shuffled[0]) and len(faithful) == 9
    assert faithful.mean() < shuffled.mean()
    with pytest.raises(ValueError, match="does not match"):
        explain.deletion_curve(predict, x, w[:4])
    with pytest.raises(ValueError, match="Unknown order"):
        explain.deletion_curve(predict, x, w, order="least")


def test_counterfactual_search_respects_immutables_and_prefers_few_changes():
    def predict(rows):
        rows = np.asarray(rows)
        return (rows[:, 0] + rows[:, 1] + 3 * rows[:, 2] > 3).astype(int)

    x = np.array([1.0, 1.0, 0.0])
    candidates = {0: [0.0, 1.0, 2.0, 3.0], 1: [0.0, 1.0, 2.0]}      # feature 2 (the strongest) is immutable
    cf = explain.counterfactual_search(predict, x, candidates, scale=np.ones(3))
    assert predict(cf[None])[0] == 1 and cf[2] == 0 and np.sum(cf != x) == 1
    scores = explain.score_counterfactual(predict, x, cf, immutable=[2], plausible=lambda r: np.ones(len(r)))
    assert scores == {"valid": 1, "changed": 1, "immutable_kept": 1, "plausible": 1, "actionable": 1}
    bad = explain.score_counterfactual(predict, x, np.array([1.0, 1.0, 1.0]), [2], lambda r: np.ones(len(r)))
    assert bad["valid"] == 1 and bad["immutable_kept"] == 0 and bad["actionable"] == 0
    assert explain.counterfactual_search(predict, x, {1: [0.0]}, np.ones(3)) is None
    with pytest.raises(ValueError, match="at least 1"):
        explain.counterfactual_search(predict, x, candidates, np.ones(3), max_changes=0)


def test_reason_codes_name_the_biggest_negative_pushes_but_never_a_protected_attribute():
    reasons = explain.reason_codes([-0.5, 0.3, -1.2, -0.1], ["duration", "savings", "age", "amount"], k=2,
                                   exclude={"age"})
    assert reasons[0].startswith("duration") and reasons[1].startswith("amount") and len(reasons) == 2


def test_backdoor_adjustment_recovers_the_simulated_effect_and_the_naive_estimate_does_not():
    world = explain.simulate_confounded(5000, seed=1)
    naive = explain.backdoor_effect(world.X, world.y, 0)
    adjusted = explain.backdoor_effect(world.X, world.y, 0, adjust=world.z)
    assert naive > 0.5 and abs(adjusted) < 0.05
    assert abs(explain.backdoor_effect(world.X, world.y, 1, adjust=world.z)
               - explain.intervention_effect(50000, "x_causal")) < 0.05
    with pytest.raises(ValueError, match="outside"):
        explain.backdoor_effect(world.X, world.y, 5)
