"""Checks for exercises/01_fine_tuning_lora.ipynb: LoRA sizes by hand, a LoRA forward pass, strict scoring."""
import json

import torch

from kit import finetune, models
from kit.exercises import Hint, exercise


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


_CASES = [('{"drug": "Mirena", "sentiment": "positive"}', 1.0),
          ('{"sentiment": "positive", "drug": "Mirena"}', 1.0),
          ('{"drug": "mirena", "sentiment": "negative"}', 0.5),
          ('```json\n{"drug": "Mirena", "sentiment": "positive"}\n```', 0.0),
          ('Sure! {"drug": "Mirena", "sentiment": "positive"}', 0.0),
          ('{"drug": "Mirena", "sentiment": "positive", "note": "ok"}', 0.0),
          ('{"drug": "Mirena"}', 0.0), ('"positive"', 0.0), ("", 0.0)]


@exercise("01.4", title="score answers in the strict house format", section="1. The task",
          hint="json.loads the whole answer (catch JSONDecodeError), demand a dict with exactly the keys drug and "
               "sentiment, then give half a point per field that matches (case-insensitive)")
def check_house_score(house_score):
    example = {"drug": "Mirena", "review": "No problems at all.", "sentiment": "positive"}
    for answer, want in _CASES:
        assert finetune.score_answer(answer, example) == want  # the reference agrees with the table
        got = house_score(answer, example)
        if got != want:
            raise Hint(f"{answer!r} should score {want}, got {got}")
    return True
