"""Checks for exercises/00_start_here.ipynb: accuracy, cross-entropy, a model that learns, pseudo-labels."""
import numpy as np
import torch

from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


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
        raise Hint(f"the model does not fit 8x8 images with 10 classes ({str(error).splitlines()[0]})") from None
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


QUIZ = [
    Question(
        "00.q1", "Your model scores 0.99 on its training images and 0.82 on the validation images. Which number "
        "tells you how it will do on new digits?",
        ("0.99: it is measured on more images", "0.82: the validation images were never used for training",
         "their average, 0.905"),
        "b", "Training accuracy rewards memorising; only data the optimiser never saw estimates performance on new "
        "inputs. The gap (0.17) is overfitting."),
    Question(
        "00.q2", "Which baseline should a CNN on MNIST beat before you call it a success?",
        ("chance (10%)", "logistic regression on the raw pixels", "a bigger CNN"),
        "b", "The strongest simple thing a sceptic would try first. Beating chance proves little: logistic regression "
        "on pixels already gets most MNIST digits right."),
    Question(
        "00.q3", "Model B minus model A, paired bootstrap over the same 1,000 test images: +0.015, 95% CI "
        "[-0.004, +0.034]. What do you report?",
        ("B is better by 1.5 points", "A is better", "the data do not show a difference at this sample size"),
        "c", "The interval includes 0: differences this size appear by chance on 1,000 items. Report the effect "
        "with its interval, and do not claim B wins."),
    Question(
        "00.q4", "Why does the lesson also train on RANDOM pseudo-labels (the negative control)?",
        ("to make the semi-supervised model more robust", "to show that the check can fail: it must reject a "
         "variant that cannot work", "to estimate the noise in the labelled set"),
        "b", "A check that a deliberately broken variant also passes is not a check. Random pseudo-labels must "
        "lower accuracy, and the same interval test must say so."),
    Question(
        "00.q5", "When do pseudo-labels help?",
        ("always: more training data is better", "when the model's confident predictions are mostly right and "
         "every class is represented", "only when more than half of the data is labelled"),
        "b", "Wrong confident pseudo-labels teach the model its own mistakes (confirmation bias); picking the most "
        "confident images per class keeps them accurate and balanced."),
]
