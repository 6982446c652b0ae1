"""Checks for exercises/00_start_here.ipynb: accuracy, cross-entropy, a model that learns, pseudo-labels."""
import numpy as np
import torch

from kit.exercises import Hint, exercise

__all__ = []


@exercise("00.1", title="accuracy by hand", section="1. The data / 2. Supervised learning",
          hint="compare the two arrays element by element and take the mean of the matches")
def _accuracy(accuracy):
    y_true, y_pred = np.array([3, 1, 4, 1, 5]), np.array([3, 1, 4, 0, 0])
    got = accuracy(y_true, y_pred)
    if got == 3:
        raise Hint("you returned the number of matches; accuracy is their share (divide by the count)")
    return bool(np.isclose(got, 0.6)) and bool(np.isclose(accuracy(y_true, y_true), 1.0))


@exercise("00.2", title="cross-entropy of one prediction", section="2. Supervised learning",
          hint="loss = -log(softmax(logits)[label]); subtract max(logits) before exp() to stay stable")
def _cross_entropy(cross_entropy):
    logits, label = np.array([2.0, 1.0, 0.1]), 0
    expected = torch.nn.functional.cross_entropy(torch.tensor([logits]), torch.tensor([label])).item()
    got = float(cross_entropy(logits, label))
    if np.isclose(got, -expected):
        raise Hint("the sign is flipped: the loss is the NEGATIVE log-probability of the right class")
    big = np.array([1000.0, 0.0, -1000.0])
    if not np.isfinite(float(cross_entropy(big, 0))):
        raise Hint("large logits overflow exp(); subtract logits.max() first")
    return bool(np.isclose(got, expected, atol=1e-5))


@exercise("00.3", title="a model that learns the 8x8 digits", section="2. Supervised learning",
          hint="flatten the 8x8 image (nn.Flatten), then nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)")
def _model(make_model):
    from kit import data, train

    torch.manual_seed(0)
    digits = data.load("digits")
    model = make_model()
    if not isinstance(model, torch.nn.Module):
        raise Hint(f"make_model() should return a torch.nn.Module, not {type(model).__name__}")
    try:
        history = train.fit(model, (digits.X_train, digits.y_train), (digits.X_test, digits.y_test),
                            epochs=5, lr=3e-3, live=False, progress=False)
    except RuntimeError as error:
        raise Hint(f"the model does not fit 8x8 images with 10 classes ({str(error).splitlines()[0]})")
    acc = history.last("val_acc")
    if acc < 0.9:
        raise Hint(f"validation accuracy {acc:.2f} after 5 epochs; aim for >= 0.90 (more hidden units?)")
    return True, f"validation accuracy {acc:.2f}"


@exercise("00.4", title="pseudo-labels above a confidence threshold", section="5. Semi-supervised learning",
          hint="confidence = probs.max(axis=1), label = probs.argmax(axis=1); keep rows whose confidence > threshold")
def _pseudo(pseudo_label):
    probs = np.array([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    index, labels = pseudo_label(probs, 0.8)
    index, labels = np.asarray(index), np.asarray(labels)
    if len(index) == 4:
        raise Hint("you kept every row: filter by the threshold")
    return index.tolist() == [0, 2] and labels.tolist() == [0, 1]
