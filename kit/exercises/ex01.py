"""Checks for exercises/01_fine_tuning_lora.ipynb: LoRA sizes by hand, a LoRA forward pass, two-part scoring, a
baseline on drugs it never saw (predict, run, explain); and the lesson's quiz."""
import json

import torch

from kit import finetune, models
from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


@exercise("01.1", title="parameters of one LoRA layer", section="3. How big is a LoRA adapter?",
          hint="A is r x in_features and B is out_features x r: add their sizes")
def check_lora_params(lora_params):
    for n_in, n_out, r in ((576, 576, 8), (576, 192, 4), (1536, 576, 1), (10, 3, 16)):
        got = lora_params(n_in, n_out, r)
        if got == r * n_in * n_out or got == n_in * n_out:
            raise Hint("that is the size of a full weight matrix; LoRA stores two thin ones instead")
        if got in (r * n_in, r * n_out):
            raise Hint("you counted only one of the two matrices A and B")
        if got != r * (n_in + n_out):
            return False
    return True


def _smollm2_config() -> dict:
    return json.loads((models.path("smollm2") / "config.json").read_text(encoding="utf-8"))


@exercise("01.2", title="LoRA r=8 on q,v of SmolLM2, counted from its config", section="3. How big is a LoRA adapter?",
          hint="q_proj maps hidden_size -> hidden_size; v_proj maps hidden_size -> num_key_value_heads * head_dim "
               "(head_dim = hidden_size / num_attention_heads); there is one of each per layer")
def check_smollm2_count(smollm2_qv_r8):
    cfg = _smollm2_config()
    hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    kv = cfg["num_key_value_heads"] * hidden // cfg["num_attention_heads"]
    want = layers * 8 * ((hidden + hidden) + (hidden + kv))
    got = int(smollm2_qv_r8)
    if got == layers * 8 * 4 * hidden:
        raise Hint("v_proj is smaller than q_proj: SmolLM2 uses grouped-query attention (3 key/value heads)")
    if got == want // layers:
        raise Hint("that is one layer: multiply by num_hidden_layers")
    return got == want, f"{want:,} parameters"


@exercise("01.3", title="a LoRA layer's forward pass", section="3. How big is a LoRA adapter?",
          hint="y = x @ W.T + (alpha / r) * (x @ A.T) @ B.T, plus the bias")
def check_lora_forward(lora_forward):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(6, 4))
    lora = get_peft_model(layer, LoraConfig(r=2, lora_alpha=8, target_modules=["0"]))
    inner = lora.base_model.model[0]
    torch.nn.init.normal_(inner.lora_B["default"].weight)
    x = torch.randn(3, 6)
    with torch.no_grad():
        want = lora(x)
        got = torch.as_tensor(lora_forward(x, inner.base_layer.weight, inner.base_layer.bias,
                                           inner.lora_A["default"].weight, inner.lora_B["default"].weight,
                                           alpha=8, r=2))
        plain = torch.nn.functional.linear(x, inner.base_layer.weight, inner.base_layer.bias)
    if got.shape != want.shape:
        raise Hint(f"the output should be {tuple(want.shape)}, got {tuple(got.shape)}")
    if torch.allclose(got, plain, atol=1e-5):
        raise Hint("that is the frozen layer alone: add the low-rank update")
    if torch.allclose(got - plain, (want - plain) * 4, atol=1e-4) or torch.allclose(got - plain, (want - plain) / 4,
                                                                                     atol=1e-4):
        raise Hint("the update's scale is alpha / r (here 8 / 2 = 4)")
    return torch.allclose(got, want, atol=1e-5)


_CASES = [('{"drug": "Mirena", "condition": "birth control"}', (1, 1)),
          ('{"condition": "Birth Control", "drug": "Mirena"}', (1, 1)),
          ('{"drug": "Mirena", "condition": "acne"}', (1, 0)),
          ('```json\n{"drug": "Mirena", "condition": "birth control"}\n```', (0, 0)),
          ('Sure! {"drug": "Mirena", "condition": "birth control"}', (0, 0)),
          ('{"drug": "Mirena", "condition": "birth control", "note": "ok"}', (0, 0)),
          ('{"drug": "Mirena"}', (0, 0)), ('"birth control"', (0, 0)), ("", (0, 0))]


@exercise("01.4", title="score answers in two parts: format and field", section="1. The task",
          hint="json.loads the whole answer (catch JSONDecodeError); format is 1 only for a dict with exactly the "
               "keys drug and condition; field is 1 only when the format is valid and the condition matches "
               "(case-insensitive)")
def check_house_score(house_score):
    example = {"drug": "Mirena", "review": "No periods at all.", "condition": "birth control"}
    for answer, want in _CASES:
        assert finetune.score_answer(answer, example) == want  # the reference agrees with the table
        got = tuple(int(x) for x in house_score(answer, example))
        if got != want:
            raise Hint(f"{answer!r} should score (format, field) = {want}, got {got}")
    return True


def _lookup_on_unseen_drugs() -> float:
    """The drug-lookup program's field accuracy on held-out reviews whose drug never occurs in training."""
    task = finetune.load_task()
    seen = {ex["drug"].lower() for ex in task.train}
    unseen = [ex for ex in task.test if ex["drug"].lower() not in seen]
    majority = finetune.majority_condition(task.train)
    return sum(ex["condition"] == majority for ex in unseen) / len(unseen)


@exercise("01.5", title="predict, run, explain: a drug lookup table on drugs it never saw",
          section="2. Baseline 1: the constant program",
          hint="keep the held-out reviews whose drug (lower-cased) is not in any training example; the lookup "
               "falls back to the commonest training condition there, so count how often that is right")
def check_lookup_unseen(measured):
    want = _lookup_on_unseen_drugs()
    if abs(float(measured) - want) > 1e-9:
        if abs(float(measured) - 0.68125) < 1e-3:
            raise Hint("that is the lookup on all held-out reviews; keep only those whose drug is unseen")
        return False
    return True, (f"{want:.3f}. Ours: on unseen drugs the lookup can only fall back to the majority (birth control), "
                  "and birth-control drugs are the ones that recur in training, so unseen-drug reviews are mostly "
                  "about other conditions; a model that reads the review has its clearest edge exactly there")


QUIZ = [
    Question(
        "01.q1", "A constant program that copies the drug and always answers 'birth control' gets perfect format "
        "validity. Why does the lesson still score field accuracy separately?",
        ("because JSON validity is hard to compute", "because a score that mostly rewards the format lets a "
         "program that learned nothing tie with a trained model", "because LoRA cannot produce JSON"),
        "b", "The previous version of this lesson averaged format and content: the constant program scored 0.84 and "
        "every fine-tuned model tied with it. Separate parts show what was learned."),
    Question(
        "01.q2", "LoRA with r=8 on q_proj and v_proj of SmolLM2-135M trains how much of the model?",
        ("about 0.3%", "about 8%", "all of it, but in low rank"),
        "a", "r·(in+out) per targeted layer: 30 layers x 8 x ((576+576) + (576+192)) = 460,800 parameters, about "
        "0.34% of 134.5M. The base stays frozen."),
    Question(
        "01.q3", "The LoRA trained on shuffled conditions reaches near-perfect format validity. What does that "
        "tell you?",
        ("the shuffle failed", "the format is learned from the answers' shape alone; only the field accuracy "
         "shows whether the review-to-condition link was learned", "LoRA memorised the test set"),
        "b", "Shuffling keeps the format and the label frequencies and removes the link from text to label. A check "
        "that the shuffled model also passes would not be measuring learning."),
    Question(
        "01.q4", "QLoRA's frozen base takes about a third of the fp32 memory. Why does that not make a training step "
        "any faster?",
        ("4-bit weights are dequantized to fp32 in every forward and backward pass before the same matrix "
         "multiply", "the adapters are larger in QLoRA", "bitsandbytes trains in 4 bits, which needs more steps"),
        "a", "NF4 saves storage, not arithmetic: the compute dtype is still fp32, and the dequantization is extra "
        "work (GPU kernels fuse part of it)."),
]
