"""Checks for exercises/06_multimodal.ipynb: the symmetric contrastive loss, recall@k, a prompt ensemble, a
predict-run-explain on a held-out digit; and lesson 06's QUIZ."""
import numpy as np
import torch
import torch.nn.functional as F

from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


def _pairs(n=6, dim=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(n, dim, generator=gen), dim=-1)
    text = F.normalize(image + 0.5 * torch.randn(n, dim, generator=gen), dim=-1)
    return image, text


@exercise("06.1", title="the symmetric InfoNCE (CLIP) loss", section="3. A small CLIP and its loss",
          hint="logits = image_emb @ text_emb.T / temperature; targets = arange(n); "
               "average cross_entropy(logits, targets) and cross_entropy(logits.T, targets)")
def _contrastive(contrastive_loss):
    from kit.multimodal import clip_loss

    image, text = _pairs()
    got = float(contrastive_loss(image, text, 0.1))
    expected = float(clip_loss(image, text, 10.0))
    logits = image @ text.T / 0.1
    one_way = float(F.cross_entropy(logits, torch.arange(len(logits))))
    if np.isclose(got, one_way, atol=1e-5) and not np.isclose(got, expected, atol=1e-5):
        raise Hint("only one direction: add the caption->image loss (cross-entropy over the columns, logits.T)")
    if np.isclose(got, float(clip_loss(image, text, 1.0)), atol=1e-5):
        raise Hint("the temperature is missing: divide the similarities by it before the cross-entropy")
    other = float(contrastive_loss(text, image, 0.1))
    return bool(np.isclose(got, expected, atol=1e-5)) and bool(np.isclose(other, expected, atol=1e-5))


@exercise("06.2", title="recall@k for cross-modal retrieval", section="5. Cross-modal retrieval, both ways",
          hint="top = sim.topk(k, dim=1).indices; a query is a hit when any item_labels[top] equals its label; "
               "return the share of hits")
def _recall(recall_at_k):
    from kit.multimodal import precision_at_k
    from kit.multimodal import recall_at_k as reference

    gen = torch.Generator().manual_seed(1)
    sim = torch.randn(12, 20, generator=gen)
    queries, items = np.arange(12) % 4, np.arange(20) % 4
    for k in (1, 3, 5):
        got, want = float(recall_at_k(sim, queries, items, k)), reference(sim, queries, items, k)
        if not np.isclose(got, want):
            if np.isclose(got, precision_at_k(sim, queries, items, k)):
                raise Hint("that is precision@k (share of correct items); "
                           "recall@k asks whether ANY of the top k is right")
            raise Hint(f"for k={k} expected {want:.3f}, got {got:.3f}")
    return True


@exercise("06.3", title="a prompt ensemble", section="4. Zero-shot classification from text",
          hint="average over the templates (dim 0) to get one vector per class, then F.normalize(..., dim=-1)")
def _ensemble(ensemble_prompts):
    gen = torch.Generator().manual_seed(2)
    per_template = F.normalize(torch.randn(5, 10, 16, generator=gen), dim=-1)   # (templates, classes, dim)
    got = torch.as_tensor(ensemble_prompts(per_template))
    if got.shape != (10, 16):
        raise Hint(f"expected one vector per class, shape (10, 16); got {tuple(got.shape)} (average over dim 0)")
    if not torch.allclose(got.norm(dim=-1), torch.ones(10), atol=1e-4):
        raise Hint("the averaged vectors are shorter than 1: normalise them so dot products are cosines again")
    return bool(torch.allclose(got, F.normalize(per_template.mean(0), dim=-1), atol=1e-5))


@exercise("06.4", title="predict, run, explain: a digit no caption showed",
          section="8. What transfers, and what does not",
          hint="keep = y_pairs != digit; train a TinyCLIP on X_pairs[keep]; pred = multimodal.zero_shot_predict("
               "multimodal.embed_images(model, X_test), multimodal.class_embeddings(model, captions, 'train')); "
               "counts = np.bincount(pred[y_test == digit], minlength=10)")
def _held_out_digit(held_out_digit):
    result = held_out_digit() if callable(held_out_digit) else held_out_digit
    needed = {"digit", "my_prediction", "accuracy_on_digit", "accuracy_on_others", "counts"}
    if not isinstance(result, dict) or not needed <= set(result):
        raise Hint(f"return a dict with the keys {sorted(needed)}")
    digit, counts = int(result["digit"]), np.asarray(result["counts"])
    if digit == 7:
        raise Hint("the lesson already held out 7: pick another digit")
    if not 0 <= float(result["my_prediction"]) <= 1:
        raise Hint("my_prediction is the accuracy you expected on the held-out digit, written BEFORE running: "
                   "a number between 0 and 1")
    if counts.shape != (10,) or counts.sum() == 0:
        raise Hint("counts: how often the held-out digit's test images were called 0, 1, ..., 9 (10 numbers)")
    if not np.isclose(counts[digit] / counts.sum(), float(result["accuracy_on_digit"]), atol=1e-6):
        raise Hint("accuracy_on_digit should be counts[digit] / counts.sum(): the two disagree")
    if float(result["accuracy_on_others"]) < 0.7:
        raise Hint("the other digits should still be classified well (>= 0.7): did training run?")
    if float(result["accuracy_on_digit"]) > 0.2:
        raise Hint("the held-out digit is recognised far above chance: was it really removed from every caption "
                   "pair? (y_pairs != digit for both images and captions)")
    return True


QUIZ = [
    Question(
        "06.q1", "The captions are made from the digit labels. What makes the few-label probe of section 7 a fair "
        "test?",
        ("using only 5 labels per digit", "the probe's labelled images and the test images are disjoint from the "
         "images that carried captions, and a shuffled-pair control must fail the same check",
         "using logistic regression instead of a CNN"),
        "b", "If the probe used images whose captions (labels in disguise) trained the embedding, it would measure "
        "those labels again. Disjoint image sets and a control that cannot work make the check able to fail."),
    Question(
        "06.q2", "TinyCLIP trained on numeral captions only ('the numeral 7') classifies with 'a handwritten seven'. "
        "Where does that transfer come from?",
        ("the image encoder learned English", "the frozen text encoder (MiniLM) already maps '7' and 'seven' close "
         "together; the control with random caption vectors falls to chance", "the held-out phrasings"),
        "b", "Only the text side knows that the two forms mean the same; replace it by random vectors and the same "
        "check fails."),
    Question(
        "06.q3", "Every 7 is removed from the caption pairs. What does zero-shot classification do with test 7s?",
        ("names most of them correctly: MiniLM knows the word 'seven'", "calls them other digits (near 0% correct): "
         "the image side never learned where a 7 goes", "refuses to classify them"),
        "b", "Zero-shot transfers across wordings of concepts seen in training, not to a concept that no image-text "
        "pair showed: the image encoder maps 7s near the digits they resemble."),
    Question(
        "06.q4", "Why do retrieval systems embed with a dual encoder even when a fusion (single-stream) model is as "
        "accurate?",
        ("fusion models cannot be trained with a contrastive loss", "a fusion model needs one forward pass per "
         "(image, query) pair, N x M passes, where a dual encoder embeds N images and M queries once each",
         "dual encoders are always more accurate"),
        "b", "Cross-attention between modalities is expressive but cannot be precomputed; ALBEF-style systems "
        "retrieve with a dual encoder and re-rank a short list with the fusion model."),
    Question(
        "06.q5", "The audio encoder was trained only on (spoken digit, image) pairs, yet it picks the right caption "
        "for a new voice. Why?",
        ("MiniLM was fine-tuned on speech", "it was pulled onto the frozen image embeddings, and TinyCLIP had "
         "already put those next to the captions", "eSpeak's audio contains the text"),
        "b", "Binding to a shared, frozen image space transfers the image-text alignment to audio (ImageBind); the "
        "shuffled-pair control, trained the same way, falls to chance."),
]
