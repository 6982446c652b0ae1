"""Checks for exercises/08_open_weights.ipynb: parameters from a config, a licence that forbids a use,
and a merge's retention."""
import json

from kit import models, openweights
from kit.exercises import Hint, exercise

SECTION_PARAMS = "Parameters: counted per module and from the config alone"


def _configs() -> list[dict]:
    smol = json.loads((models.path("smollm2") / "config.json").read_text(encoding="utf-8"))
    return [smol, dict(smol, tie_word_embeddings=False), dict(smol, num_key_value_heads=9, num_hidden_layers=4)]


@exercise("08.3", title="a Llama model's parameters from its config alone", section=SECTION_PARAMS,
          hint="per layer: q and o are hidden x hidden, k and v are hidden x (kv_heads * head_dim), the MLP has "
               "three hidden x intermediate matrices, two norms of size hidden; add embeddings and a final norm")
def check_params_from_config(llama_params):
    for cfg in _configs():
        want, got = openweights.params_from_config(cfg), int(llama_params(cfg))
        h, v = cfg["hidden_size"], cfg["vocab_size"]
        if not cfg.get("tie_word_embeddings", True) and got == want - v * h:
            raise Hint("with tie_word_embeddings=False the output layer (lm_head) has its own vocab x hidden matrix")
        if cfg.get("tie_word_embeddings", True) and got == want + v * h:
            raise Hint("tied embeddings: lm_head reuses the input embedding, count it once")
        if got != want:
            return False
    return True, f"SmolLM2: {openweights.params_from_config(_configs()[0]):,} parameters"


@exercise("08.1", title="spot the licence that forbids commercial use", section="2. Licences and model cards",
          hint="look at the 'commercial' column of openweights.LICENCES")
def check_forbidden_licence(licence):
    if str(licence).lower() == "gemma":
        raise Hint("the Gemma terms restrict some uses but do allow commercial use")
    return str(licence).lower() == next(k for k, v in openweights.LICENCES.items() if not v["commercial"])


@exercise("08.2", title="retention of a merged model",
          section="4. Community fine-tuning: two adapters, one merged model",
          hint="retention of a task = merged score on that task / its own adapter's score on it")
def check_retention(retention):
    merged, single = {"a": 0.6, "b": 0.9}, {"a": 0.8, "b": 0.9}
    got = retention(merged, single)
    if abs(got.get("a", 0) - 0.8 / 0.6) < 1e-9:
        raise Hint("you divided the wrong way round: the single adapter's score is the denominator")
    return all(abs(got[t] - merged[t] / single[t]) < 1e-9 for t in merged)
