"""Unit tests for kit/compress.py: tiny modules, no pretrained weights except where noted."""
import copy

import pytest
import torch
from torch import nn

from kit import compress, train


def _tiny_linear(in_f=64, out_f=8, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(in_f, out_f)


def test_int4_linear_round_trip_error_is_within_half_a_step():
    layer = _tiny_linear()
    q = compress.Int4Linear(layer, group_size=16)
    assert q.packed.dtype == torch.uint8 and q.packed.shape == (8, 32)      # two codes per byte
    step = q.scale.float().repeat_interleave(16, dim=1).reshape(8, 64)
    error = (q.dequantized_weight() - layer.weight).abs()
    assert (error <= step / 2 + 1e-3).all()
    x = torch.randn(3, 64)
    assert (q(x) - layer(x)).abs().max() < 0.2          # 4-bit noise summed over 64 inputs


def test_int4_is_exact_on_weights_already_on_a_4bit_grid():
    codes = torch.randint(0, 16, (4, 32)).float()
    codes[:, 0], codes[:, 1] = 0, 15                        # every group spans the full range
    layer = nn.Linear(32, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(0.5 + 0.125 * codes)
    q = compress.Int4Linear(layer, group_size=32)
    assert torch.allclose(q.dequantized_weight(), layer.weight, atol=1e-3)


def test_int4_rejects_bad_group_size_and_unsupported_layers():
    with pytest.raises(ValueError, match="group_size must be even and divide in_features=64"):
        compress.Int4Linear(_tiny_linear(), group_size=48)
    with pytest.raises(TypeError, match="quantizes nn.Linear layers, not Conv2d"):
        compress.Int4Linear(nn.Conv2d(1, 2, 3))


def test_quantize_int4_replaces_every_linear_and_leaves_the_original_alone():
    model = nn.Sequential(_tiny_linear(256, 256), nn.ReLU(), _tiny_linear(256, 64))
    q = compress.quantize_int4(model, group_size=64)
    assert [type(m).__name__ for m in q] == ["Int4Linear", "ReLU", "Int4Linear"]
    assert isinstance(model[0], nn.Linear)
    assert compress.linear_bytes(model) / compress.linear_bytes(q) > 6     # 4.5 bits per weight
    with pytest.raises(ValueError, match="no nn.Linear layers"):
        compress.quantize_int4(nn.Sequential(nn.ReLU()))
    with pytest.raises(TypeError, match="torch nn.Module"):
        compress.quantize_int4("model")


def test_dynamic_int8_shrinks_linear_layers_about_four_times():
    model = nn.Sequential(_tiny_linear(256, 256), nn.ReLU(), _tiny_linear(256, 256))
    q8 = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    assert 3.5 < compress.linear_bytes(model) / compress.linear_bytes(q8) < 4.1
    assert compress.state_bytes(q8) < compress.state_bytes(model)
    with pytest.raises(ValueError, match="no Linear layers"):
        compress.linear_bytes(nn.Sequential(nn.Conv2d(1, 1, 1)))


def test_check_sparsity_accepts_fractions_and_rejects_the_rest():
    assert compress.check_sparsity(0) == 0.0 and compress.check_sparsity(0.9) == 0.9
    for bad in (1, 1.0, -0.1, 50, "0.5", True):
        with pytest.raises(ValueError, match=r"sparsity must be a fraction in \[0, 1\)"):
            compress.check_sparsity(bad)


def test_sparsity_counts_zeros_after_pruning():
    from torch.nn.utils import prune

    model = train.SmallCNN(channels=(4, 8), hidden=16)
    assert compress.sparsity(model) < 0.01
    prune.global_unstructured([(model.fc1, "weight")], pruning_method=prune.L1Unstructured, amount=0.5)
    total = sum(m.weight.numel() for m in (model.conv1, model.conv2, model.fc1, model.fc2))
    assert compress.sparsity(model) == pytest.approx(0.5 * model.fc1.weight.numel() / total, abs=1e-3)
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        compress.sparsity(nn.ReLU())


def test_shrink_channels_builds_a_smaller_network_that_keeps_the_strongest_channels():
    torch.manual_seed(0)
    model = train.SmallCNN(channels=(8, 16), hidden=16)
    small = compress.shrink_channels(model, 0.5)
    assert (small.conv1.out_channels, small.conv2.out_channels) == (4, 8)
    assert train.count_params(small) < train.count_params(model) / 2
    x = torch.rand(2, 28, 28)
    assert small(x).shape == (2, 10)
    # with nothing removed the network is the same function
    same = compress.shrink_channels(model, 0.0)
    assert torch.allclose(same(x), model(x), atol=1e-5)
    with pytest.raises(ValueError, match="sparsity must be a fraction"):
        compress.shrink_channels(model, 1.0)
    with pytest.raises(TypeError, match="works on a two-block SmallCNN.*not Sequential"):
        compress.shrink_channels(nn.Sequential(nn.Linear(2, 2)), 0.5)


def test_distill_loss_is_cross_entropy_at_alpha_zero_and_small_when_student_copies_teacher():
    torch.manual_seed(0)
    teacher = train.SmallCNN(channels=(2, 2), hidden=8)
    X, y = torch.rand(6, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5])
    targets = compress.distill_targets(teacher, X, y)
    assert targets.shape == (6, 11) and targets[:, -1].tolist() == y.float().tolist()
    logits = teacher(X).detach()
    ce = nn.functional.cross_entropy(logits, y)
    assert compress.DistillLoss(alpha=0.0)(logits, targets).item() == pytest.approx(ce.item(), rel=1e-5)
    assert compress.DistillLoss(alpha=1.0)(logits, targets).item() == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="temperature > 0"):
        compress.DistillLoss(temperature=0)


def test_transfer_set_images_are_taught_by_the_teacher_alone():
    torch.manual_seed(0)
    teacher = train.SmallCNN(channels=(2, 2), hidden=8)
    X, y = torch.rand(4, 28, 28), torch.tensor([0, 1, 2, 3])
    unlabelled = compress.distill_targets(teacher, X)
    assert unlabelled[:, -1].tolist() == [-1.0] * 4
    student = torch.randn(4, 10)
    loss = compress.DistillLoss(alpha=0.5)
    soft_only = compress.DistillLoss(alpha=1.0)(student, unlabelled)
    assert loss(student, unlabelled).item() == pytest.approx(0.5 * soft_only.item(), rel=1e-5)   # no NaN, no CE
    mixed = torch.cat([compress.distill_targets(teacher, X[:2], y[:2]), unlabelled[2:]])
    ce = nn.functional.cross_entropy(student[:2], y[:2])
    assert compress.DistillLoss(alpha=0.0)(student, mixed).item() == pytest.approx(ce.item(), rel=1e-5)
    with pytest.raises(ValueError, match="one label per image"):
        compress.distill_targets(teacher, X, y[:3])


def test_sentence_classifier_pools_only_real_tokens():
    class FakeEncoder(nn.Module):
        config = type("C", (), {"hidden_size": 3})()

        def forward(self, input_ids, attention_mask):
            return type("O", (), {"last_hidden_state": input_ids.float().unsqueeze(-1).repeat(1, 1, 3)})()

    clf = compress.SentenceClassifier(FakeEncoder(), n_classes=2)
    ids, mask = torch.tensor([[2, 4, 9]]), torch.tensor([[1, 1, 0]])
    assert clf.pool(ids, mask).tolist() == [[3.0, 3.0, 3.0]]
    batches = [{"input_ids": ids, "attention_mask": mask}]
    with pytest.raises(ValueError, match="1 predictions but 2 labels"):
        compress.classifier_accuracy(clf, batches, [0, 1])


def test_encode_batches_and_perplexity_reject_empty_input():
    with pytest.raises(ValueError, match="at least one text"):
        compress.encode_batches(None, [])

    class Tok:
        def __call__(self, text, return_tensors):
            return type("E", (), {"input_ids": torch.arange(10)[None]})()

    with pytest.raises(ValueError, match="fewer than one block of 256"):
        compress.perplexity(nn.Identity(), Tok(), ["short"], block=256)


def test_plot_pruning_returns_a_figure():
    rows = [{"sparsity": 0.5, "acc_pruned": 0.8, "acc_recovered": 0.9}]
    fig = compress.plot_pruning(rows, baseline=0.95)
    assert fig.axes[0].get_xlabel().startswith("fraction")


def test_deepcopy_of_int4_model_keeps_buffers():
    q = compress.quantize_int4(nn.Sequential(_tiny_linear(32, 4)), group_size=8)
    assert torch.equal(copy.deepcopy(q)[0].packed, q[0].packed)


def test_exercise_checks_accept_references_and_hint_on_mistakes(monkeypatch):
    from kit.exercises import Hint, ex09

    def quantize_int8(w):
        scale = w.abs().max().item() / 127
        return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale

    assert ex09.check_quantize_int8(quantize_int8)[0]
    with pytest.raises(Hint, match="torch.int8"):
        ex09.check_quantize_int8(lambda w: (w, 1.0))
    from kit.energy import best_under_budget

    assert ex09.check_choose_model(lambda rows, b: (best_under_budget(rows, b) or {}).get("model"))
    with pytest.raises(Hint, match="budget of 100 ms"):
        ex09.check_choose_model(lambda rows, b: "student")

    def kd(student, teacher, labels, T, alpha):
        packed = torch.cat([teacher, labels.float()[:, None]], 1)
        return compress.DistillLoss(T, alpha)(student, packed)

    assert ex09.check_distillation_loss(kd)
    with pytest.raises(Hint, match="T²"):
        ex09.check_distillation_loss(lambda s, t, y, T, a: kd(s, t, y, T, a) / (T * T if a == 1.0 else 1))


def test_gguf_path_finds_the_packaged_q4_file():
    path = compress.gguf_path()
    assert path.suffix == ".gguf" and "Q4_1" in path.name and path.stat().st_size > 50e6


def _recording_head(seen: list):
    """A train_head stub: remembers which rows (E holds each row's index) it was trained on."""
    def train_head(E, y):
        seen.append(set(E[:, 0].long().tolist()))
        head = nn.Linear(1, 2)
        with torch.no_grad():
            head.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            head.bias.zero_()
        return head
    return train_head


def test_cross_fit_holds_out_every_row_once_per_repeat_and_never_trains_on_it():
    E, y = torch.arange(20.0).unsqueeze(1), torch.arange(20) % 2
    seen = []
    runs = compress.cross_fit(E, y, _recording_head(seen), n_folds=4, repeats=2)
    assert len(runs) == 2 and all(len(folds) == 4 for folds in runs)
    for folds, trained in zip(runs, [seen[:4], seen[4:]]):
        held = [set(idx.tolist()) for idx, _ in folds]
        assert sorted(i for h in held for i in h) == list(range(20))          # each row exactly once
        assert all(not (h & t) and len(h | t) == 20 for h, t in zip(held, trained))
    assert [idx.tolist() for idx, _ in runs[0]] != [idx.tolist() for idx, _ in runs[1]]   # another shuffle
    preds = compress.out_of_fold_predict(runs, E)
    assert preds.shape == (2, 20) and (preds[:, 1:] == 1).all()               # the stub says "1" for E > 0


def test_cross_fit_and_out_of_fold_predict_reject_bad_input():
    E, y = torch.zeros(6, 1), torch.zeros(6)
    with pytest.raises(ValueError, match="6 embeddings but 5 labels"):
        compress.cross_fit(E, y[:5], _recording_head([]))
    with pytest.raises(ValueError, match="n_folds must be between 2"):
        compress.cross_fit(E, y, _recording_head([]), n_folds=7)
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        compress.cross_fit(E, y, _recording_head([]), repeats=0)
    runs = compress.cross_fit(E, y, _recording_head([]), n_folds=2)
    with pytest.raises(ValueError, match="do not cover every row"):
        compress.out_of_fold_predict(runs, torch.zeros(8, 1))


def test_activation_peaks_reports_each_feed_forward_input_and_removes_its_hooks():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=32))
    clf = compress.SentenceClassifier(encoder, n_classes=2)
    batch = {"input_ids": torch.tensor([[1, 7, 8, 2, 0]]), "attention_mask": torch.tensor([[1, 1, 1, 1, 0]])}
    peaks = compress.activation_peaks(clf, batch, special_ids=[1, 2])
    want = [(0, "ffn_in"), (0, "ffn_out"), (1, "ffn_in"), (1, "ffn_out")]
    assert [(p["layer"], p["input of"]) for p in peaks] == want
    assert all(p["special tokens max"] > 0 and p["words max"] >= p["words median"] > 0 for p in peaks)
    assert not any(m._forward_hooks for m in clf.modules())


def test_compile_or_eager_falls_back_to_eager_with_a_note(monkeypatch, capsys):
    model = nn.Linear(2, 2)

    def broken_compile(module):
        def call(**kwargs):
            raise RuntimeError("no C++ compiler")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    assert compress.compile_or_eager(model, {"input": torch.zeros(1, 2)}) is model
    assert "C++ compiler" in capsys.readouterr().out


def test_fake_quantize_rounds_to_the_grid_and_checks_its_arguments():
    torch.manual_seed(0)
    w = torch.randn(4, 64)
    q4, q8 = compress.fake_quantize(w, 4, 32), compress.fake_quantize(w, 8, 32)
    assert q4.shape == w.shape
    assert (q8 - w).abs().max() < (q4 - w).abs().max()                     # more bits, smaller error
    assert all(len(torch.unique(g)) <= 16 for g in q4.reshape(-1, 32))      # 4 bits: at most 16 values per group
    assert torch.allclose(compress.fake_quantize(q4, 4, 32), q4, atol=1e-5)   # already on the grid: unchanged
    with pytest.raises(ValueError, match="bits"):
        compress.fake_quantize(w, 1, 32)
    with pytest.raises(ValueError, match="divide"):
        compress.fake_quantize(w, 4, 48)


def test_quantize_embeddings_changes_a_copy_only():
    model = nn.Sequential(nn.Embedding(10, 32), nn.Linear(32, 2))
    before = model[0].weight.detach().clone()
    q = compress.quantize_embeddings(model, bits=4, group_size=32)
    assert torch.equal(model[0].weight, before) and not torch.equal(q[0].weight, before)
    assert torch.equal(q[1].weight, model[1].weight)
    with pytest.raises(ValueError, match="no nn.Embedding"):
        compress.quantize_embeddings(nn.Linear(2, 2), bits=4)


def test_exercise_09_4_checks_the_measured_group_size_ratio():
    from kit.exercises import Hint, ex09

    ratio = ex09._group_error_ratio()
    assert 1.0 < ratio < 4.0                     # bigger groups, larger error; far from the naive 4x
    passed, message = ex09.check_group_size((4.0, ratio))
    assert passed and "you predicted 4.00" in message
    with pytest.raises(Hint, match="not the reverse"):
        ex09.check_group_size((1.3, 1 / ratio))
    with pytest.raises(Hint, match="pass a pair"):
        ex09.check_group_size(ratio)
