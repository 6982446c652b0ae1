"""Checks for exercises/08_open_weights.ipynb: parameters from a config, a licence that forbids a use,
a merge's retention, three real licensing scenarios decided with their clauses; the lesson's quiz."""
import json

from kit import licences, models, openweights
from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["SCENARIOS", "QUIZ"]

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


@exercise("08.1", title="spot the licence that forbids commercial use", section="2. Licences",
          hint="look at the 'commercial' column of licences.licence_table(): which verdict is 'no'?")
def check_forbidden_licence(licence):
    key = str(licence).strip().lower()
    if key == "gemma":
        raise Hint("the Gemma terms restrict some uses but do allow commercial use")
    if key == "mistral-mrl-0.1":
        raise Hint("the Mistral research licence says 'ask' (a separate licence can be granted); find the plain 'no'")
    return key in [k for k, row in licences.LICENCES.items() if row["commercial"][0] == "no"]


@exercise("08.2", title="retention of a merged model",
          section="4. Community fine-tuning: two adapters, one merged model",
          hint="retention of a task = merged score on that task / its own adapter's score on it")
def check_retention(retention):
    merged, single = {"a": 0.6, "b": 0.9}, {"a": 0.8, "b": 0.9}
    got = retention(merged, single)
    if abs(got.get("a", 0) - 0.8 / 0.6) < 1e-9:
        raise Hint("you divided the wrong way round: the single adapter's score is the denominator")
    return all(abs(got[t] - merged[t] / single[t]) < 1e-9 for t in merged)


# Three real scenarios: (description, licence key, use key). The learner decides each verdict.
SCENARIOS = {
    "A": ("A startup with 2 million monthly users fine-tunes Llama 3 8B and publishes it as 'AcmeChat-8B'.",
          "llama-3", "redistribute_finetune"),
    "B": ("A company generates synthetic training data with Llama 3 70B to train its own Mistral-based model.",
          "llama-3", "train_other_model"),
    "C": ("A cloud provider wants to sell Falcon 180B as a paid, hosted API.", "falcon-180b-tii-1.0", "host_api"),
}


@exercise("08.4", title="decide three real licensing scenarios", section="2. Licences",
          hint="for each scenario call licences.may_i(licence, use) and read the clause; the verdict is one of "
               "yes / conditional / no / ask")
def check_scenarios(verdicts):
    if not isinstance(verdicts, dict) or set(verdicts) != set(SCENARIOS):
        raise Hint(f"give a dict with one verdict per scenario: {sorted(SCENARIOS)}")
    for key, (text, licence, use) in SCENARIOS.items():
        answer = licences.may_i(licence, use)
        got = str(verdicts[key]).strip().lower()
        if got not in ("yes", "conditional", "no", "ask"):
            raise Hint(f"scenario {key}: the verdict is one of yes / conditional / no / ask, got {verdicts[key]!r}")
        if got != answer.verdict:
            raise Hint(f"scenario {key} ({text}) is not '{got}': read licences.may_i({licence!r}, {use!r})")
    return True, ("A: conditional - the name must start with 'Llama 3' and 'Built with Meta Llama 3' be shown "
                  "(so 'AcmeChat-8B' breaks §1.b.i); B: no under Llama 3 (§1.b.v; Llama 3.1 would allow it with "
                  "attribution); C: ask TII (Falcon 180B's hosting clause)")


QUIZ = [
    Question("08.q1", "Which statement about 'open-weight' models is right?",
             ("open weights always come under an OSI-approved open-source licence",
              "the weights are downloadable, but the licence may restrict users, uses, names or hosting",
              "open weights may never be used commercially"),
             "b", "Apache-2.0 (SmolLM2, Mistral 7B, Falcon 7B/40B, OLMo 2) is open source; the Llama, Gemma, Falcon "
             "180B and Qwen2.5-72B licences add thresholds, use policies, naming rules or hosting clauses."),
    Question("08.q2", "Why score a merged model by exact match of generated answers rather than teacher-forced "
             "token accuracy?",
             ("exact match is faster to compute", "token accuracy rewards easy tokens (separators, the end token) "
              "even when the generated answer is wrong", "token accuracy cannot be computed for merged models"),
             "b", "With teacher forcing the model is handed the answer so far; predicting '-' after '2024' is easy. "
             "A user gets the generated answer, so score that, per item, with an interval."),
    Question("08.q3", "Merging adapter A with a random adapter (same shapes and scale) is a negative control. "
             "What should it show?",
             ("that it keeps task B as well as the real merge does", "that it does not keep task B, so the real "
              "merge's task-B score comes from adapter B", "that random adapters improve every task"),
             "b", "If a random adapter in B's place kept task B too, the check would not be measuring B's skill."),
    Question("08.q4", "Your server runs SmolLM2 at 20 tokens/s at batch 1 and 150 tokens/s at batch 16 on a machine "
             "that costs $0.10 per hour. Roughly what does a million tokens cost at batch 16?",
             ("about $0.19", "about $1.39", "about $0.02"),
             "a", "0.10 / (150 x 3600) x 1e6 = $0.185. At batch 1 it would be $1.39: batching divides the cost."),
]
