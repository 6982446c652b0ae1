"""The course catalogue: every lesson with what it teaches, its time per profile and its claims.

`targets` are the claims each notebook asserts, written as expressions over its recorded metrics;
`make bench` evaluates them against the measured values and marks each pass or fail.
`minutes` are the budgets from each lesson's issue (`make bench` measures the real times).
`modules` are the kit modules a lesson owns (its exercises, `kit/exercises/exNN.py`, are its own too): a
lesson's code imports only `CORE_MODULES` and its own modules, never another lesson's
(tests/test_lessons.py holds every kit module to that).
"""
import ast
from dataclasses import dataclass, field
from pathlib import Path

from kit.errors import unknown
from kit.paths import ROOT

__all__ = ["Lesson", "LESSONS", "CORE_MODULES", "get", "notebook_paths", "check_target"]

# Shared plumbing every lesson may import; everything else in kit/ belongs to exactly one lesson.
CORE_MODULES = ("__init__", "__main__", "cli", "data", "datafiles", "device", "errors", "exercises", "lessons",
                "models", "paths", "plots", "profile", "progress_report", "quiz", "report", "runner", "stats",
                "student", "train", "tuning")


@dataclass(frozen=True)
class Lesson:
    number: str
    stem: str
    title: str
    teaches: str
    minutes: dict = field(default_factory=dict)  # budget per profile: smoke / cpu / gpu
    targets: tuple = ()
    modules: tuple = ()  # the kit modules this lesson owns, e.g. ("rag", "rag_answers")

    @property
    def notebook(self) -> Path:
        return ROOT / "notebooks" / f"{self.stem}.ipynb"


LESSONS = [
    Lesson("00", "00_start_here", "Start here: what training is",
           "inputs, loss, optimiser, validation; supervised, unsupervised, semi-supervised",
           {"smoke": 2, "cpu": 3, "gpu": 3}, ("val_accuracy >= 0.90",)),
    Lesson("01", "01_fine_tuning_lora", "Fine-tuning foundation models",
           "LoRA and QLoRA on SmolLM2 against a constant program, a lookup table, few-shot prompting and "
           "training from scratch; adapters saved, reloaded and merged",
           {"smoke": 3, "cpu": 10, "gpu": 5}, ("lora_trainable_pct < 1",), modules=("finetune",)),
    Lesson("02", "02_rag", "Retrieval-augmented generation",
           "chunking, embeddings, FAISS, hybrid search, grounded answers; update the data, not the model",
           {"smoke": 2, "cpu": 10, "gpu": 5},
           ("update_s < 30",), modules=("rag", "rag_answers", "rag_eval")),
    Lesson("03", "03_synthetic_data", "Synthetic data",
           "tabular synthesizers, class-conditional images for imbalance, LLM-written text, simulation",
           {"smoke": 2, "cpu": 10, "gpu": 5}, modules=("synthetic", "tabular")),
    Lesson("04", "04_self_supervised", "Self-supervised learning",
           "SimCLR and masked modelling on unlabelled images, contrastive audio on real recordings; few-label probes",
           {"smoke": 2, "cpu": 10, "gpu": 5}, modules=("selfsup", "audio_ssl")),
    Lesson("05", "05_privacy", "Privacy-aware training",
           "federated learning with Flower, gradient inversion, SecAgg+, client-side DP, membership inference, "
           "a TLS-authenticated deployment",
           {"smoke": 3, "cpu": 12, "gpu": 8},
           (), modules=("privacy", "federated", "deploy", "flower_app", "attacks")),
    Lesson("06", "06_multimodal", "Multimodality",
           "a small CLIP: contrastive image-text training, zero-shot, few labels on images the embedding never saw, "
           "what transfers (numerals to words) and what does not (an unseen digit), a unified fusion transformer",
           {"smoke": 2, "cpu": 10, "gpu": 5},
           (), modules=("multimodal", "unified", "audio_video", "video")),
    Lesson("07", "07_automl", "AutoML 2.0 and low-code training",
           "Optuna objectives and pipeline search vs compute-matched defaults, pruning at a fixed budget, deployment "
           "over HTTP, natural-language training on held-out instructions, a domain preset",
           {"smoke": 3, "cpu": 10, "gpu": 5}, (),
           modules=("automl", "lowcode", "nl_training", "serving")),
    Lesson("08", "08_open_weights", "Open-weight models",
           "checkpoint anatomy, the open-weight licences clause by clause, measured throughput and cost, adapter "
           "merging by exact match, model cards, publishing",
           {"smoke": 3, "cpu": 10, "gpu": 5}, (), modules=("openweights", "licences")),
    Lesson("09", "09_compression", "Compression and energy-efficient AI",
           "int8 / int4 quantization, pruning, distillation, energy per inference, hardware-aware choice",
           {"smoke": 2, "cpu": 10, "gpu": 5},
           (), modules=("compress", "energy")),
    Lesson("10", "10_dynamic_evaluation", "Dynamic evaluation",
           "benchmark contamination vs fresh sets, drift detection, feedback loops with late labels, "
           "fairness over time",
           {"smoke": 2, "cpu": 10, "gpu": 5},
           (), modules=("evaluation", "contamination")),
    Lesson("11", "11_explainable_ai", "Explainable AI",
           "interpretable models, Captum attributions, shortcut detection, counterfactuals, model cards",
           {"smoke": 2, "cpu": 10, "gpu": 5},
           (), modules=("explain",)),
    Lesson("12", "12_capstone", "Capstone: an assistant built from the course",
           "a question-answering assistant over a knowledge base that changes: hybrid retrieval, SmolLM2, a drift "
           "check on fresh questions, int8 for a laptop, explanations, a model card and a licence check",
           {"smoke": 2, "cpu": 15, "gpu": 5}, (), modules=("capstone",)),
]


def get(key: str) -> Lesson:
    """A lesson by number ('01'), stem ('01_fine_tuning_lora') or notebook path."""
    key = Path(str(key)).stem
    for lesson in LESSONS:
        if key in (lesson.number, lesson.stem):
            return lesson
    raise unknown("lesson", key, [lesson.stem for lesson in LESSONS])


def notebook_paths(existing_only: bool = True) -> list[Path]:
    """The lesson notebooks in course order (only those present, by default)."""
    paths = [lesson.notebook for lesson in LESSONS]
    return [p for p in paths if p.exists()] if existing_only else paths


_ALLOWED = (ast.Expression, ast.Compare, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load,
            ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


def check_target(expression: str, metrics: dict):
    """Evaluate a target such as 'lora_score - base_score >= 0.25'; None when a metric is missing."""
    tree = ast.parse(expression, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"target {expression!r} uses {type(node).__name__}, which targets may not")
        if isinstance(node, ast.Name) and node.id not in metrics:
            return None
    return bool(eval(compile(tree, "<target>", "eval"), {"__builtins__": {}}, dict(metrics)))
