"""Checks for exercises/11_explainable_ai.ipynb: saliency by hand, a counterfactual, a backdoor adjustment."""
import numpy as np
import torch
from torch import nn

from kit import explain
from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


@exercise("11.1", title="saliency by hand", section="1. Attributions for an image model",
          hint="x = x.clone().requires_grad_(True); model(x)[:, target].sum().backward(); return x.grad.abs()")
def _saliency(saliency):
    from captum.attr import Saliency

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
    x = torch.rand(2, 1, 4, 4)
    expected = Saliency(model).attribute(x.clone().requires_grad_(True), target=2)
    got = torch.as_tensor(saliency(model, x.clone(), 2)).detach()
    if got.shape != expected.shape:
        raise Hint(f"return one value per input element: expected shape {tuple(expected.shape)}, "
                   f"got {tuple(got.shape)}")
    if torch.allclose(got, -expected, atol=1e-5) or (got < 0).any():
        raise Hint("saliency is the ABSOLUTE value of the gradient")
    return bool(torch.allclose(got, expected, atol=1e-5))


@exercise("11.2", title="the smallest change that flips a linear model",
          section="6. Counterfactuals a person can act on",
          hint="score = coef @ x + b; step = (score + margin * sign(score)) / (coef @ coef); x_cf = x - step * coef")
def _counterfactual(counterfactual):
    coef, b = np.array([1.5, -2.0, 0.0]), 0.3
    for x in (np.array([2.0, 0.5, 1.0]), np.array([-1.0, 1.0, 4.0])):
        x_cf = np.asarray(counterfactual(x, coef, b), dtype=float)
        if np.sign(x_cf @ coef + b) == np.sign(x @ coef + b):
            raise Hint("the decision did not flip: move past the boundary, not onto it")
        reference, _ = explain.linear_counterfactual(x, coef, b)
        if np.linalg.norm(x_cf - x) > 1.5 * np.linalg.norm(reference - x) + 1e-6:
            raise Hint("it flips, but the change is larger than needed: move along coef, the shortest way")
    return True


@exercise("11.3", title="predict, run, explain: a causal effect from observational data",
          section="7. Attributions are not causes",
          hint="fit LogisticRegression on [X, z]; copy the design twice, set column 0 to +1 in one and -1 in the "
               "other; return the mean predicted P(y=1) of the first minus the second")
def _backdoor(adjusted_effect):
    world = explain.simulate_confounded(8000, seed=7)
    truth = explain.intervention_effect(200000, "x_confounded", seed=3)
    naive = explain.backdoor_effect(world.X, world.y, 0)
    got = float(adjusted_effect(world.X, world.y, world.z))
    if abs(got - naive) < 0.05:
        raise Hint(f"{got:+.2f} is the naive estimate: include the confounder z in the model you fit")
    if abs(got - truth) > 0.05:
        raise Hint(f"{got:+.2f} is far from the true effect: average P(y=1) over every row with x set to +1, "
                   "then to -1, keeping each row's own z")
    return True, f"adjusted {got:+.3f} vs true {truth:+.3f} (naive {naive:+.3f})"


QUIZ = [
    Question(
        "11.q1", "Integrated gradients (black baseline) scores 0.99 whole-image rank correlation between a trained "
        "and a randomised CNN. What does that show?",
        ("IG does not explain the model", "little: IG is 0 on every black pixel for any model, and those ties "
         "dominate the ranks", "the randomisation failed"),
        "b", "IG multiplies by (x - baseline), so background pixels are exactly 0 for every model. Score only the "
        "digit's pixels, or use SSIM, against a twin model: there IG passes and the edge detector fails."),
    Question(
        "11.q2", "Why is an edge detector the negative control for the model-randomisation check?",
        ("it is the fastest attribution method", "it ignores the model, so a check it passes cannot tell explanations "
         "of the model from pictures of the input", "edges are what CNNs learn"),
        "b", "A check must be able to fail. The edge map is identical for trained, twin and random models, so its "
        "effect is exactly 0 and it fails."),
    Question(
        "11.q3", "A counterfactual tells a refused applicant 'had you been 10 years older, you would have been "
        "approved'. What is wrong with it?",
        ("nothing: it is valid", "age is immutable: the explanation gives the person nothing they can act on",
         "it changes too many features"),
        "b", "Valid (the decision flips) is not enough: mark immutable features, keep values plausible, and prefer "
        "few changes (Ustun et al. 2019, actionable recourse)."),
    Question(
        "11.q4", "The naive estimate of x_confounded's effect is +0.75, the adjusted one ~0, the model weight large. "
        "Which number says what happens if we SET x_confounded?",
        ("the model weight", "the naive estimate", "the backdoor-adjusted estimate"),
        "c", "Adjusting for the confounder z blocks the backdoor path x <- z -> y; what remains is the effect of the "
        "intervention, which the simulator confirms is zero."),
]
