"""Checks for lesson 09's exercises: int8 by hand, a latency-budget choice, a distillation loss, and a
predict-run-explain exercise on what int4 group size buys."""
import torch

from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


@exercise("09.1", title="quantize a weight tensor to int8 by hand",
          section="2. A MiniLM sentence classifier, then int8 with torchao",
          hint="symmetric int8: scale = max|w| / 127, q = round(w / scale) clamped to [-127, 127], "
               "stored as torch.int8")
def check_quantize_int8(quantize_int8) -> bool:
    torch.manual_seed(9)
    w = torch.randn(64, 32) * 0.05
    q, scale = quantize_int8(w)
    if not isinstance(q, torch.Tensor) or q.dtype != torch.int8:
        raise Hint(f"q should be a torch.int8 tensor, got {getattr(q, 'dtype', type(q).__name__)}")
    if q.shape != w.shape:
        raise Hint(f"q should keep the weight's shape {tuple(w.shape)}, got {tuple(q.shape)}")
    scale = float(scale)
    expected = w.abs().max().item() / 127
    if abs(scale - expected) > 1e-6 * max(1.0, expected) + 1e-9:
        raise Hint(f"the scale should map the largest |w| to 127: expected {expected:.3g}, got {scale:.3g}")
    error = (q.float() * scale - w).abs().max().item()
    if error > scale / 2 + 1e-7:
        raise Hint(f"the round-trip error {error:.3g} exceeds half a step ({scale / 2:.3g}): round, do not truncate")
    return True, f"max round-trip error {error:.2g} = {error / scale:.2f} steps"


ROWS = [{"model": "teacher", "accuracy": 0.985, "latency_ms": 9.0},
        {"model": "structured 50%", "accuracy": 0.981, "latency_ms": 3.1},
        {"model": "int8 teacher", "accuracy": 0.981, "latency_ms": 2.6},
        {"model": "student", "accuracy": 0.962, "latency_ms": 0.8}]


@exercise("09.2", title="choose a model under a latency budget",
          section="7. Latency, energy and a hardware-aware choice",
          hint="keep the rows with latency_ms <= budget, then take the highest accuracy (ties: the faster one); "
               "None if no row fits")
def check_choose_model(choose_model) -> bool:
    from kit.energy import best_under_budget

    for budget in (100, 9.0, 3.1, 2.6, 1.0, 0.5):
        expected = best_under_budget(ROWS, budget)
        got = choose_model(ROWS, budget)
        want = None if expected is None else expected["model"]
        if got != want:
            raise Hint(f"with a budget of {budget} ms the answer is {want!r}, you returned {got!r}")
    return True


@exercise("09.3", title="write the distillation loss", section="1. Knowledge distillation with few labels",
          hint="alpha * T² * KL(softmax(teacher/T) || softmax(student/T)) "
               "+ (1 - alpha) * cross_entropy(student, labels); "
               "F.kl_div takes the student's log-probabilities first, and reduction='batchmean'")
def check_distillation_loss(distillation_loss) -> bool:
    from kit.compress import DistillLoss

    torch.manual_seed(3)
    student, teacher, labels = torch.randn(8, 10), torch.randn(8, 10) * 3, torch.randint(0, 10, (8,))
    packed = torch.cat([teacher, labels.float()[:, None]], 1)
    for T, alpha in ((1.0, 0.5), (4.0, 0.7), (2.0, 0.0), (3.0, 1.0)):
        want = DistillLoss(T, alpha)(student, packed).item()
        got = float(distillation_loss(student, teacher, labels, T, alpha))
        if abs(got - want) > 1e-4 * max(1.0, abs(want)):
            if alpha == 1.0 and abs(got * T * T - want) < 1e-4 * max(1.0, abs(want)):
                raise Hint("multiply the soft term by T²: it keeps its gradients comparable as T changes")
            raise Hint(f"with T={T}, alpha={alpha} the loss should be {want:.4f}, got {got:.4f}")
    return True


def _group_error_ratio() -> float:
    """Relative error of int4 RTN at group size 128 divided by the error at 32, on MiniLM's first query weight."""
    from transformers import AutoModel

    from kit import compress, models

    w = AutoModel.from_pretrained(models.path("minilm")).encoder.layer[0].attention.self.query.weight.detach()
    err = {g: ((compress.fake_quantize(w, bits=4, group_size=g) - w).norm() / w.norm()).item() for g in (32, 128)}
    return err[128] / err[32]


@exercise("09.4", title="predict, run, explain: what int4 group size buys",
          section="3. int4 on full-precision weights: what to keep at higher precision",
          hint="relative error = (fake_quantize(w, bits=4, group_size=g) - w).norm() / w.norm(); "
               "MEASURED = error at 128 / error at 32")
def check_group_size(answer):
    """`answer` = (prediction, measured): your guess of how many times larger int4's relative error is with one
    scale per 128 weights than per 32 on MiniLM's first query projection, and the ratio you measured."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Hint("pass a pair: exercises.check('09.4', (PREDICTION, MEASURED))")
    prediction, measured = answer
    for name, value in (("prediction", prediction), ("measured", measured)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise Hint(f"{name} is a ratio of two errors (a positive number), got {value!r}")
    reference = _group_error_ratio()
    if abs(measured - reference) > 0.01 * reference:
        raise Hint(f"measured {measured:.3f}: divide the error at group size 128 by the error at 32 (not the reverse), "
                   "both on encoder.layer[0].attention.self.query.weight")
    close = abs(prediction - measured) <= 0.25 * measured
    return True, (f"{'close' if close else 'you predicted ' + format(prediction, '.2f')}: the error grows "
                  f"{measured:.2f}x from groups of 32 to 128, because one large weight sets the scale of every "
                  "weight in its group; the price of small groups is storage, 32 bits of scale and minimum per "
                  "group: +1 bit per weight at 32, +0.25 at 128")


QUIZ = [
    Question(
        "09.q1", "Per-tensor int8 changes many MiniLM answers; torchao's per-token int8 changes few. Why?",
        ("torchao uses more bits", "a few special tokens carry huge activations: one scale per tensor must cover them "
         "and flattens every other token, one scale per token does not", "torchao skips the attention layers"),
        "b", "Massive activations (Sun et al. 2024) on [CLS]/[SEP] set a per-tensor scale; per-token scales give each "
        "token its own range."),
    Question(
        "09.q2", "When do soft targets from a teacher help a student most?",
        ("when the student has plenty of labels", "when labels are few: the teacher's probabilities say which wrong "
         "classes look like the right one", "only when the student is as big as the teacher"),
        "b", "With few labels the soft targets carry extra information per image; the shuffled-label teacher shows the "
        "gain comes from what the teacher learned, not from the loss itself."),
    Question(
        "09.q3", "On this machine the energy column is CPU time x 10 W. What can it tell you?",
        ("which model uses least energy, independently of latency",
         "nothing latency does not: it is proportional to it", "the GPU's energy"),
        "b", "Without RAPL or NVML it only rescales time. Why fewer bits save energy on real hardware comes from "
        "memory traffic costing far more than arithmetic (Horowitz 2014)."),
]
