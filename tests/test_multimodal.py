"""Unit tests for kit/multimodal.py (lesson 06): tiny inputs, no pretrained model loaded."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kit import multimodal


class FakeEmbedder:
    """Stands in for MiniLM: a fixed random unit vector per distinct text (same API as encode)."""

    def __init__(self, dim=384):
        self.dim, self.table = dim, {}

    def encode(self, texts, convert_to_tensor=True, normalize_embeddings=True):
        rows = [self.table.setdefault(t, F.normalize(torch.randn(self.dim), dim=0)) for t in texts]
        return torch.stack(rows)


@pytest.fixture(scope="module")
def captions():
    torch.manual_seed(0)
    return multimodal.encode_captions(FakeEmbedder(), multimodal.load_captions())


def test_caption_file_has_disjoint_train_and_heldout_phrasings():
    spec = multimodal.load_captions()
    assert len(spec["words"]) == 10 and spec["words"][7] == "seven"
    assert spec["train"] and spec["heldout"] and not set(spec["train"]) & set(spec["heldout"])


def test_fill_prompts_formats_words_and_numerals():
    prompts = multimodal.fill_prompts(["a handwritten {word}", "the numeral {d}"], ["zero", "one"])
    assert prompts == [["a handwritten zero", "a handwritten one"], ["the numeral 0", "the numeral 1"]]


def test_fill_prompts_rejects_an_empty_prompt_list():
    with pytest.raises(ValueError, match="prompt list is empty"):
        multimodal.fill_prompts([], ["zero"])
    with pytest.raises(ValueError, match="no class names"):
        multimodal.fill_prompts(["a {word}"], [])


def test_encode_captions_covers_every_template_and_digit(captions):
    spec = multimodal.load_captions()
    n_templates = len(spec["train"]) + len(spec["heldout"])
    assert len(captions.texts) == 10 * n_templates and captions.emb.shape == (10 * n_templates, 384)
    assert len(captions.where("train")) == 10 * len(spec["train"])
    heldout = captions.where("heldout")
    assert captions.templates[captions.template[heldout[0]]] == spec["heldout"][0]
    assert captions.texts[heldout[3]] == spec["heldout"][0].format(word="three", d=3)
    with pytest.raises(ValueError, match="'train' or 'heldout'"):
        captions.where("test")


def test_clip_loss_is_low_for_matched_pairs_and_symmetric():
    torch.manual_seed(0)
    emb = F.normalize(torch.randn(8, 16), dim=-1)
    matched = multimodal.clip_loss(emb, emb, 20.0)
    shuffled = multimodal.clip_loss(emb, emb[torch.randperm(8)], 20.0)
    assert matched < 0.5 < shuffled
    other = F.normalize(torch.randn(8, 16), dim=-1)
    assert torch.isclose(multimodal.clip_loss(emb, other), multimodal.clip_loss(other, emb))
    logits = 10.0 * emb @ other.T
    manual = (F.cross_entropy(logits, torch.arange(8)) + F.cross_entropy(logits.T, torch.arange(8))) / 2
    assert torch.isclose(multimodal.clip_loss(emb, other, 10.0), manual)


def test_clip_loss_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="must pair up row by row: got 4 images and 3 captions"):
        multimodal.clip_loss(torch.randn(4, 8), torch.randn(3, 8))
    with pytest.raises(ValueError, match="different spaces"):
        multimodal.clip_loss(torch.randn(4, 8), torch.randn(4, 6))
    with pytest.raises(ValueError, match="2-D batches"):
        multimodal.clip_loss(torch.randn(4), torch.randn(4))


def test_tiny_clip_encoders_return_unit_vectors():
    clip = multimodal.TinyCLIP(dim=32)
    img = clip.encode_image(torch.rand(5, 28, 28))
    txt = clip.encode_text(torch.randn(3, 384))
    assert img.shape == (5, 32) and txt.shape == (3, 32)
    assert torch.allclose(img.norm(dim=1), torch.ones(5), atol=1e-5)
    assert multimodal.ImageEncoder(dim=10)(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_train_clip_learns_on_a_tiny_batch(captions):
    torch.manual_seed(0)
    X = torch.zeros(40, 28, 28)
    y = np.arange(40) % 2
    X[y == 1, 10:18, 10:18] = 1.0          # two visibly different "digits"
    clip = multimodal.TinyCLIP(dim=16)
    rows = multimodal.train_clip(clip, X, y, captions, epochs=4, batch_size=20, lr=5e-3, val=(X, y), progress=False)
    assert len(rows) == 4 and rows[-1]["contrastive_loss"] < rows[0]["contrastive_loss"]
    classes = multimodal.class_embeddings(clip, captions, "train")[:2]
    assert multimodal.zero_shot_accuracy(multimodal.embed_images(clip, X), y, classes) >= 0.9
    with pytest.raises(ValueError, match="40 images but y has 39"):
        multimodal.train_clip(clip, X, y[:39], captions, epochs=1, progress=False)


def test_class_embeddings_one_template_or_the_average(captions):
    clip = multimodal.TinyCLIP(dim=16)
    one = multimodal.class_embeddings(clip, captions, "heldout", template=len(multimodal.load_captions()["train"]))
    avg = multimodal.class_embeddings(clip, captions, "train")
    assert one.shape == avg.shape == (10, 16)
    with pytest.raises(ValueError, match="not in the 'train' split"):
        multimodal.class_embeddings(clip, captions, "train", template=999)


def test_zero_shot_accuracy_and_its_bad_inputs():
    classes = torch.eye(3)
    images = torch.tensor([[1.0, 0, 0], [0, 0.9, 0.1], [0, 1.0, 0]])
    assert multimodal.zero_shot_accuracy(images, [0, 1, 2], classes) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="prompt list is empty"):
        multimodal.zero_shot_accuracy(images, [0, 1, 2], torch.empty(0, 3))
    with pytest.raises(ValueError, match="3 image embeddings but 2 labels"):
        multimodal.zero_shot_accuracy(images, [0, 1], classes)


def test_recall_and_precision_at_k():
    sim = torch.tensor([[0.9, 0.8, 0.1], [0.9, 0.2, 0.3]])
    queries, items = [1, 0], [0, 1, 1]
    assert multimodal.recall_at_k(sim, queries, items, 1) == 0.5      # query 0 misses, query 1 hits
    assert multimodal.recall_at_k(sim, queries, items, 2) == 1.0
    assert multimodal.precision_at_k(sim, queries, items, 2) == 0.5
    with pytest.raises(ValueError, match="expected \\(2, 3\\)"):
        multimodal.recall_at_k(sim.T, queries, items, 1)
    with pytest.raises(ValueError, match="k must be between 1 and"):
        multimodal.recall_at_k(sim, queries, items, 4)


def test_few_label_indices_are_stratified():
    y = np.repeat(np.arange(10), 100)
    few = multimodal.few_label_indices(y, 0.01)
    assert len(few) == 10 and sorted(y[few].tolist()) == list(range(10))
    assert len(multimodal.few_label_indices(y[:50], 0.01)) == 1   # at least one per class
    with pytest.raises(ValueError, match="fraction must be in"):
        multimodal.few_label_indices(y, 0)


def test_photo_tensor_resizes_crops_and_normalises():
    grey = np.full((300, 400), 255, dtype=np.uint8)
    x = multimodal.photo_tensor(grey)
    assert x.shape == (1, 3, 224, 224)
    expected = (1 - torch.tensor(multimodal.IMAGENET_MEAN)) / torch.tensor(multimodal.IMAGENET_STD)
    assert torch.allclose(x[0, :, 100, 100], expected, atol=1e-4)
    assert multimodal.photo_tensor(np.zeros((50, 60, 4), dtype=np.uint8)).shape == (1, 3, 224, 224)
    with pytest.raises(ValueError, match="greyscale \\(H, W\\) or colour"):
        multimodal.photo_tensor(np.zeros((10, 10, 2)))


def test_imagenet_names_and_top_classes():
    names = multimodal.imagenet_names()
    assert len(names) == 1000 and names[0] == "tench" and names[281] == "tabby"
    logits = torch.zeros(1, 1000)
    logits[0, 281], logits[0, 285] = 5.0, 4.0
    top = multimodal.top_classes(logits, names, k=2)
    assert [n for n, _ in top[0]] == ["tabby", "Egyptian cat"] and top[0][0][1] > top[0][1][1]
    with pytest.raises(ValueError, match="1000 classes but 3 names"):
        multimodal.top_classes(logits, ["a", "b", "c"])


def test_describe_prompt_passes_only_the_guesses():
    messages = multimodal.describe_prompt([("tabby", 0.6), ("tiger cat", 0.2)])
    assert messages[-1]["role"] == "user" and "tabby (60%)" in messages[-1]["content"]


def test_plots_return_figures_and_reject_empty_input():
    fig = multimodal.plot_joint_space(torch.randn(20, 8), np.arange(20) % 10, torch.randn(10, 8), range(10))
    assert fig.axes
    assert multimodal.show_images(np.zeros((3, 28, 28)), titles=["a", "b", "c"]).axes
    with pytest.raises(ValueError, match="no images"):
        multimodal.show_images([])


def test_template_ids_pick_numeral_or_word_phrasings(captions):
    spec = multimodal.load_captions()
    numerals = captions.template_ids("train", uses="d")
    words = captions.template_ids("train", uses="word")
    assert sorted(numerals + words) == captions.template_ids("train") == list(range(len(spec["train"])))
    assert all("{d}" in captions.templates[t] for t in numerals) and numerals and words
    assert min(captions.template_ids("heldout")) == len(spec["train"])
    with pytest.raises(ValueError, match="uses must be"):
        captions.template_ids("train", uses="digit")


def test_train_clip_on_chosen_templates_only(captions):
    X, y = torch.rand(20, 28, 28), np.arange(20) % 2
    numerals = captions.template_ids("train", uses="d")
    rows = multimodal.train_clip(multimodal.TinyCLIP(dim=8), X, y, captions, epochs=1, templates=numerals,
                                 progress=False, plot=False)
    assert len(rows) == 1
    with pytest.raises(ValueError, match="none of the templates"):
        multimodal.train_clip(multimodal.TinyCLIP(dim=8), X, y, captions, epochs=1, templates=[999], progress=False)


def test_class_embeddings_average_a_list_of_templates(captions):
    clip = multimodal.TinyCLIP(dim=16)
    one = multimodal.class_embeddings(clip, captions, "train", template=0)
    both = multimodal.class_embeddings(clip, captions, "train", template=[0, 1])
    again = multimodal.class_embeddings(clip, captions, "train", template=[0])
    assert torch.allclose(one, again) and not torch.allclose(one, both)


def test_zero_shot_predict_is_the_nearest_class():
    classes = torch.eye(3)
    images = torch.tensor([[0.1, 0.9, 0.0], [0.0, 0.2, 0.8]])
    assert multimodal.zero_shot_predict(images, classes).tolist() == [1, 2]


def test_per_class_indices_and_disjoint_split():
    y = np.repeat(np.arange(10), 20)
    few = multimodal.per_class_indices(y, 3, seed=1)
    assert len(few) == 30 and np.bincount(y[few]).tolist() == [3] * 10
    some = multimodal.per_class_indices(y, 2, classes=[5, 6])
    assert sorted(set(y[some])) == [5, 6] and len(some) == 4
    with pytest.raises(ValueError, match="too few of class"):
        multimodal.per_class_indices(y, 21)
    a, b = multimodal.disjoint_split(100, 70, seed=0)
    assert len(a) == 70 and len(b) == 30 and not set(a) & set(b) and set(a) | set(b) == set(range(100))
    with pytest.raises(ValueError, match="n_first must be between"):
        multimodal.disjoint_split(10, 10)
