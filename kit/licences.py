"""Open weights are not open source: what the main open-weight licences allow, clause by clause, and model cards.

    licences.may_i("llama-3", "train_other_model")     # NO: ... §1.b.v: you will not use ... outputs ... to improve
    licences.licence_table()                            # one row per licence, a verdict per use
    card = licences.model_card(name, base, "apache-2.0", {"dates": 0.8}, "what it is")   # huggingface_hub.ModelCard
    licences.read_card(folder / "README.md").license

The table is a teaching summary, not legal advice: every answer names the licence, its version and the clause
to read. Verdicts: "yes", "conditional" (yes, if the stated conditions are met), "no", "ask" (a separate licence
from the licensor is needed).
"""
from dataclasses import dataclass
from pathlib import Path

from kit.errors import unknown

__all__ = ["USES", "LICENCES", "Answer", "may_i", "licence_table", "licence_allows", "model_card", "read_card"]

USES = {  # what a user asks, in the words of the question
    "commercial": "use the model in a commercial product or service",
    "large_platform": "commercial use by a company with 800 million monthly users (above any threshold)",
    "train_other_model": "use the model's outputs to train or improve another model",
    "redistribute_finetune": "publish a fine-tuned version under a name of your choice",
    "host_api": "sell access to the model as a hosted API",
}

# A teaching summary, not legal advice: each clause cites the licence text to read. Verdicts: "yes", "conditional"
# (yes, if the stated conditions are met), "no", "ask" (needs a separate licence from the licensor).
LICENCES = {
    "apache-2.0": {
        "name": "Apache License, Version 2.0 (January 2004)", "osi_open": True,
        "families": "SmolLM2, Mistral 7B / Mixtral 8x7B / Mixtral 8x22B / Mistral Small 3, Falcon 7B and 40B (since "
                    "May 2023), most Qwen2.5 sizes (0.5B-32B except 3B), Qwen3, OLMo 2 (with its Dolma data and code), "
                    "all-MiniLM-L6-v2",
        "commercial": ("yes", "§2: a perpetual, worldwide, royalty-free copyright licence to reproduce, prepare "
                              "Derivative Works of, publicly display and perform, sublicense and distribute; §3 adds "
                              "a patent licence to make, use, sell and import"),
        "large_platform": ("yes", "no user threshold: the §2 and §3 grants have no size condition"),
        "train_other_model": ("yes", "no clause restricts outputs; the licence covers the weights (the 'Work')"),
        "redistribute_finetune": ("conditional", "§4: give recipients a copy of the licence, keep the NOTICE file and "
                                                 "copyright notices, mark the files you changed; §6: no right to use "
                                                 "the licensor's trademarks in the name"),
        "host_api": ("yes", "no clause conditions serving the model: the §4 conditions apply when you redistribute "
                            "the Work or Derivative Works"),
    },
    "llama-3": {
        "name": "Meta Llama 3 Community License Agreement (release date April 18, 2024)", "osi_open": False,
        "families": "Meta Llama 3 8B and 70B (base and instruct)",
        "commercial": ("conditional", "§1.a: royalty-free licence to use, reproduce, distribute, copy, modify; "
                                      "§1.b.iv: use must follow the Acceptable Use Policy (incorporated by reference)"),
        "large_platform": ("ask", "§2 Additional Commercial Terms: if, on the release date, the licensee's products "
                                  "had more than 700 million monthly active users in the preceding calendar month, it "
                                  "must request a licence from Meta, which Meta may grant in its sole discretion"),
        "train_other_model": ("no", "§1.b.v: you will not use the Llama Materials or any output or results of the "
                                    "Llama Materials to improve any other large language model (excluding Meta Llama 3 "
                                    "or derivative works thereof)"),
        "redistribute_finetune": ("conditional", "§1.b.i: ship a copy of the agreement, prominently display 'Built "
                                                 "with Meta Llama 3', and begin the model's name with 'Llama 3'; "
                                                 "§1.b.iii: keep the attribution notice in a 'Notice' text file"),
        "host_api": ("conditional", "allowed under §1.a within the Acceptable Use Policy (§1.b.iv); a service that "
                                    "uses the model displays 'Built with Meta Llama 3' (§1.b.i); for very large "
                                    "platforms, the 700M-user term of §2"),
    },
    "llama-3.1": {
        "name": "Llama 3.1 Community License Agreement (release date July 23, 2024)", "osi_open": False,
        "families": "Llama 3.1 8B / 70B / 405B (Llama 3.2 and 3.3 have their own, similar agreements)",
        "commercial": ("conditional", "§1.a grant; §1.b.iv: the Llama 3.1 Acceptable Use Policy applies"),
        "large_platform": ("ask", "§2 Additional Commercial Terms: more than 700 million monthly active users (in the "
                                  "month before the release date) requires a licence from Meta"),
        "train_other_model": ("conditional", "Llama 3's ban (§1.b.v) is gone; §1.b.i: a model created, trained, fine "
                                             "tuned or improved with the Llama Materials or their outputs, then "
                                             "distributed or made available, must begin its name with 'Llama'"),
        "redistribute_finetune": ("conditional", "§1.b.i: ship the agreement, display 'Built with Llama', and begin "
                                                 "the derivative model's name with 'Llama'; §1.b.iii: keep the "
                                                 "'Notice' attribution file"),
        "host_api": ("conditional", "§1.a within the Acceptable Use Policy (§1.b.iv); 'Built with Llama' on a service "
                                    "that makes the model available (§1.b.i); the §2 user threshold"),
    },
    "mistral-mrl-0.1": {
        "name": "Mistral AI Research License (MRL-0.1)", "osi_open": False,
        "families": "Mistral Large 2 (2407, 2411) and other research-licensed Mistral checkpoints",
        "commercial": ("ask", "§3.2: models, Derivatives and Outputs for Research Purposes only (§9: personal, "
                              "scientific or academic research, non-profit and non-commercial); any other purpose "
                              "needs a licence from Mistral AI, granted in its sole discretion (preamble)"),
        "large_platform": ("ask", "commercial use of any size is outside Research Purposes (§3.2): separate licence"),
        "train_other_model": ("conditional", "for Research Purposes only: §4.2 puts Outputs, and §4.3 Derivatives, "
                                             "under the §3.2 research-only limit"),
        "redistribute_finetune": ("conditional", "§2.3: your Derivatives may be shared with prominent notices that you "
                                                 "modified the model, under terms that do not conflict with the "
                                                 "licence; they stay research-only (§3.2, §4.3)"),
        "host_api": ("ask", "§9: Research Purposes exclude Distribution by a commercial entity through a hosted or "
                            "managed service (SaaS): a paid API needs a separate licence"),
    },
    "falcon-180b-tii-1.0": {
        "name": "Falcon 180B TII License Version 1.0 (September 2023)", "osi_open": False,
        "families": "Falcon 180B and Falcon 180B-chat (Falcon 7B and 40B are Apache-2.0)",
        "commercial": ("conditional", "§2-3: Apache-2.0-based grants, royalty-free unless you are a Hosting User "
                                      "(§2.2); §5.1: every use must comply with TII's Acceptable Use Policy, which "
                                      "may be updated from time to time (§5.3)"),
        "large_platform": ("conditional", "no user threshold; the Acceptable Use Policy (§5) and Hosting Use (§9) "
                                          "apply"),
        "train_other_model": ("conditional", "not forbidden by name; §5.2: no use of the Work or its output to create "
                                             "other works for a purpose that conflicts with the Acceptable Use Policy"),
        "redistribute_finetune": ("conditional", "§4.1: make the Acceptable Use Policy and hosting restrictions "
                                                 "enforceable in your licence, give recipients a copy of the licence, "
                                                 "mark changed files; §6.1: public statements say '[name] is built "
                                                 "using Falcon LLM technology from the Technology Innovation "
                                                 "Institute'"),
        "host_api": ("ask", "§9: 'Hosting Use', offering shared instances or managed services to third parties in an "
                            "inference or finetuning API form, is not licensed: apply to TII (§9.3); apps that use the "
                            "model in the background are not Hosting Use (§9.2)"),
    },
    "qwen": {
        "name": "Qwen LICENSE AGREEMENT (Qwen2.5-72B, September 19, 2024)", "osi_open": False,
        "families": "Qwen2.5-72B (Qwen2.5-3B: Qwen Research License, non-commercial; other Qwen2.5 sizes and Qwen3: "
                    "Apache-2.0)",
        "commercial": ("conditional", "royalty-free licence to use, reproduce, distribute and modify, within "
                                      "applicable law and the agreement's restrictions"),
        "large_platform": ("ask", "§4: commercial use by a product or service with more than 100 million monthly "
                                  "active users requires a licence from Alibaba Cloud (Llama's threshold: 700 "
                                  "million)"),
        "train_other_model": ("conditional", "allowed; §5: a model created, trained, fine-tuned or improved with the "
                                             "Materials or their outputs, then distributed or made available, must "
                                             "display 'Built with Qwen' or 'Improved using Qwen' in its documentation"),
        "redistribute_finetune": ("conditional", "§3: ship the agreement, mark modified files, keep the 'Qwen is "
                                                 "licensed under the Qwen LICENSE AGREEMENT' Notice file; §5: 'Built "
                                                 "with Qwen' or 'Improved using Qwen' in the documentation"),
        "host_api": ("conditional", "allowed below the §4 threshold of 100 million monthly active users"),
    },
    "gemma": {
        "name": "Gemma Terms of Use (last modified March 24, 2025) + Gemma Prohibited Use Policy (last modified "
                "February 21, 2024)", "osi_open": False,
        "families": "Gemma 2 and Gemma 3 (e.g. gemma-3-270m)",
        "commercial": ("conditional", "§3.2: no use for the Prohibited Use Policy's restricted uses or against the "
                                      "law; Google may restrict usage it reasonably believes violates the Terms"),
        "large_platform": ("conditional", "no user threshold; the same §3.2 use restrictions"),
        "train_other_model": ("conditional", "§1.1(e): a model trained on Gemma's outputs (distillation, synthetic "
                                             "data) to perform similarly to Gemma is a 'Model Derivative' and falls "
                                             "under the Terms; the Outputs themselves are not (§3.3)"),
        "redistribute_finetune": ("conditional", "§3.1: pass the §3.2 use restrictions on as an enforceable provision, "
                                                 "give recipients a copy of the Terms, mark modified files, and add "
                                                 "a 'Notice' file: 'Gemma is provided under and subject to the Gemma "
                                                 "Terms of Use...'"),
        "host_api": ("conditional", "§1.1(b): a Hosted Service (API, web access) is a Distribution, so §3.1 applies: "
                                    "your terms carry the §3.2 use restrictions and tell users of them (no Notice "
                                    "file needed)"),
    },
    "cc-by-nc-4.0": {
        "name": "Creative Commons Attribution-NonCommercial 4.0 International", "osi_open": False,
        "families": "many research checkpoints and datasets",
        "commercial": ("no", "§2.a.1: the licence is granted for NonCommercial purposes only"),
        "large_platform": ("no", "commercial use of any size is outside the licence"),
        "train_other_model": ("conditional", "NonCommercial purposes only (§2.a.1, §1.i), with attribution (§3.a)"),
        "redistribute_finetune": ("conditional", "§2.a.1.B: Adapted Material may be shared for NonCommercial purposes "
                                                 "only; §3.a.1: credit the creator, mark your changes, link the "
                                                 "licence; §3.a.4: your licence must not stop recipients complying"),
        "host_api": ("no", "a paid API is commercial use (§1.i: 'commercial advantage or monetary compensation')"),
    },
}


@dataclass(frozen=True)
class Answer:
    """The answer to "may I ...?": a verdict, the licence by name and version, and the clause that decides."""
    licence: str
    use: str
    verdict: str            # yes | conditional | no | ask
    clause: str

    @property
    def allowed(self) -> bool | None:
        """True (yes / conditional), False (no), None (ask the licensor for a separate licence)."""
        return {"yes": True, "conditional": True, "no": False, "ask": None}[self.verdict]

    def __str__(self):
        return f"{self.verdict.upper()}: {USES[self.use]} under the {self.licence} - {self.clause}"


def may_i(licence: str, use: str) -> Answer:
    """May I do `use` (a key of USES) with a model under `licence` (a key of LICENCES)? Answers with the clause."""
    key = licence.strip().lower()
    if key not in LICENCES:
        raise unknown("licence", licence, LICENCES)
    if use not in USES:
        raise unknown("use", use, USES)
    verdict, clause = LICENCES[key][use]
    return Answer(LICENCES[key]["name"], use, verdict, clause)


def licence_table() -> list[dict]:
    """One row per licence: name and version, the families under it, OSI-open or not, and each use's verdict."""
    return [{"licence": key, "name": row["name"], "families": row["families"], "osi_open": row["osi_open"],
             **{use: row[use][0] for use in USES}} for key, row in LICENCES.items()]


def licence_allows(licence: str, use: str) -> bool:
    """Whether a licence allows a use outright or under conditions (`may_i` gives the clause)."""
    return bool(may_i(licence, use).allowed)


def model_card(name: str, base: str, licence: str, scores: dict, description: str, metric: str = "exact_match"):
    """A `huggingface_hub.ModelCard`: YAML metadata from `ModelCardData` (licence, base model, tags, one
    evaluation result per task) and the prose below it."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    data = ModelCardData(license=licence, base_model=base, library_name="transformers", language=["en"],
                         tags=["merged", "lora", "ml-training-trends-kit"], model_name=name,
                         eval_results=[EvalResult(task_type="text-generation", dataset_type=task,
                                                  dataset_name=f"{task} (held-out items)", metric_type=metric,
                                                  metric_value=round(float(value), 4))
                                       for task, value in scores.items()])
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {name}\n\n{description}\n")


def read_card(path_or_text):
    """A model card's metadata (`card.data`: license, base_model, eval_results...) from a README path or text."""
    from huggingface_hub import ModelCard

    text = Path(path_or_text).read_text(encoding="utf-8") if isinstance(path_or_text, Path) else str(path_or_text)
    if not text.startswith("---"):
        raise ValueError("a model card starts with a YAML block between two '---' lines")
    return ModelCard(text).data
