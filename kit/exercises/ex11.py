"""Checks for exercises/11_explainable_ai.ipynb: saliency by hand, a counterfactual, cause vs association."""
import numpy as np
import torch
from torch import nn

from kit import explain
from kit.exercises import Hint, exercise

__all__ = []


@exercise("11.1", title="saliency by hand", section="2. Attributions for an image model",
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


@exercise("11.2", title="the smallest change that flips a linear model", section="5. Counterfactuals",
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


@exercise("11.3", title="which feature is a cause?", section="6. Attributions are not causes",
          hint="intervene: explain.intervention_effect(20000, name) for each name in world.names")
def _cause(causal_feature):
    if causal_feature == "x_confounded":
        raise Hint("the model leans on x_confounded, but setting it by intervention changes nothing")
    return causal_feature == "x_causal"
