"""Checks for exercises/06_multimodal.ipynb: the symmetric contrastive loss, recall@k, a prompt ensemble."""
import numpy as np
import torch
import torch.nn.functional as F

from kit.exercises import Hint, exercise

__all__ = []


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
