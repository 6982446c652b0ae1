"""kit.train.SmallCNN and count_params: the one small image model lessons 07 and 09 build on."""
import pytest
import torch

from kit.train import SmallCNN, count_params


@pytest.mark.parametrize("kwargs, params", [
    ({"channels": (32, 64), "hidden": 128}, 421642),                    # lesson 09's teacher: 7x7 map, MLP head
    ({"channels": (4, 8, 8), "hidden": None, "grid": 3, "kernel": 5}, 3250),  # a searched shape: 3x3 map, linear
])
def test_shapes_and_parameter_counts(kwargs, params):
    model = SmallCNN(**kwargs)
    assert model(torch.zeros(3, 28, 28)).shape == (3, 10)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert count_params(model) == params == sum(p.numel() for p in model.parameters())
    assert [name for name, _ in model.named_children() if name.startswith("conv")] == [
        f"conv{i}" for i in range(1, len(kwargs["channels"]) + 1)]


def test_count_params_counts_frozen_parameters_too():
    model = SmallCNN((2, 2), hidden=4)
    total = count_params(model)
    model.conv1.requires_grad_(False)
    assert count_params(model) == total


@pytest.mark.parametrize("kwargs", [{"channels": ()}, {"channels": (4, 0)}, {"kernel": 4}])
def test_bad_shapes_are_refused(kwargs):
    with pytest.raises(ValueError, match="odd kernel"):
        SmallCNN(**kwargs)
