"""The capstone (lesson 12): a question-answering assistant over a knowledge base that changes.

    kb = capstone.KnowledgeBase(texts)                  # MiniLM passages in FAISS + BM25, fused by rank
    bot = capstone.Assistant(llm, tok, kb)              # SmolLM2 reads the top passage and cites it
    replies = bot.ask(questions)                        # batched: [Reply(answer, passages, docs), ...]
    capstone.graded(replies, questions)                 # 0/1 per question, for kit.stats.paired_bootstrap
    capstone.supporting_passage(reply)                  # which retrieved passage the answer came from
    small = capstone.quantize_int8(llm)                 # torchao int8 weight-only copy, for a laptop

The capstone is the one lesson allowed to import the others' public names (tests/test_lessons.py):
retrieval and prompts from lesson 02 (`kit.rag`), the licence table from lesson 08 (`kit.licences`).
"""
import copy
import time
from dataclasses import dataclass, field

import numpy as np

from kit import models
from kit.licences import may_i
from kit.rag import (
    BM25Retriever,
    HybridRetriever,
    Retriever,
    closed_book_messages,
    embed,
    kb_text,
    keyword_hit,
    load_kb,
    one_thread,
    rag_messages,
)
from kit.rag_eval import normalise

__all__ = ["KnowledgeBase", "Reply", "Assistant", "graded", "kb_version", "redated", "supporting_passage",
           "answer_depends_on_passage", "kb_texts", "quantize_int8", "model_mb", "time_per_answer", "licence_check",
           "non_inferiority", "PARTS"]


class KnowledgeBase:
    """Hybrid retrieval over a list of documents: BM25 and MiniLM+FAISS rank documents, reciprocal-rank
    fusion merges the two rankings, and the best-matching passage of each top document goes to the reader.

    `passages_for(question, k)` returns [(doc_index, score, passage_text)], the interface lesson 02's
    `rag.answer` expects. Rebuilding is cheap (a few dozen documents embed in a second), so an update is a
    new KnowledgeBase over the new documents: no model is trained.
    """

    def __init__(self, texts: list[str], embedder=None, chunking: str = "sentences", size: int = 3,
                 vectors: np.ndarray | None = None):
        self.texts = list(texts)   # `vectors`: the passages' embeddings if already computed (rag.chunk + rag.embed)
        self.dense = Retriever.from_texts(self.texts, embedder, chunking=chunking, size=size, vectors=vectors)
        self.bm25 = BM25Retriever(self.texts)
        self.hybrid = HybridRetriever(self.dense, self.bm25)
        self._vectors = self.dense.index.reconstruct_n(0, self.dense.index.ntotal)
        self._owner = np.asarray(self.dense.owner)

    def __len__(self) -> int:
        return len(self.texts)

    def passages_for(self, question: str, k: int = 1) -> list[tuple[int, float, str]]:
        """The k best documents by fused rank, each as its passage closest to the question (dense cosine)."""
        return self.passages_for_many([question], k)[0]

    def passages_for_many(self, questions: list[str], k: int = 1) -> list[list[tuple[int, float, str]]]:
        """`passages_for` for a batch of questions (one embedding call)."""
        ranked = self.hybrid.search_many(questions, k)
        query_vectors = embed(self.dense.embedder, questions)
        out = []
        for ranking, q in zip(ranked, query_vectors):
            hits = []
            for doc, score in ranking:
                rows = np.flatnonzero(self._owner == doc)
                best = rows[np.argmax(self._vectors[rows] @ q)]
                hits.append((int(doc), float(score), self.dense.passages[best]))
            out.append(hits)
        return out


@dataclass
class Reply:
    """One answer with what it was read from (empty for a closed-book answer)."""
    question: str
    answer: str
    passages: list = field(default_factory=list)
    docs: list = field(default_factory=list)


class Assistant:
    """SmolLM2 answering from the top `k` passages of a knowledge base, or closed book when `kb` is None."""

    def __init__(self, model, tok, kb=None, k: int = 1, max_new_tokens: int = 24, batch_size: int = 8):
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.model, self.tok, self.kb, self.k = model, tok, kb, k
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    def ask(self, questions) -> list[Reply]:
        """Answer a list of question strings (or dicts with a 'question'), batched for speed."""
        texts = [q["question"] if isinstance(q, dict) else q for q in questions]
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise ValueError("ask() takes a non-empty list of non-empty questions")
        if self.kb is None:
            hits = [[] for _ in texts]
            prompts = [closed_book_messages(t) for t in texts]
        else:
            hits = self.kb.passages_for_many(texts, self.k)
            prompts = [rag_messages(t, [h[2] for h in found]) for t, found in zip(texts, hits)]
        with one_thread(str(getattr(self.model, "device", "cpu")) == "cpu"):   # why: see rag_answers.one_thread
            answers = models.chat(self.model, self.tok, prompts, max_new_tokens=self.max_new_tokens,
                                  batch_size=self.batch_size)
        return [Reply(t, a, [h[2] for h in found], [h[0] for h in found]) for t, a, found in zip(texts, answers, hits)]


def graded(replies: list[Reply], questions: list[dict], key: str = "answer") -> np.ndarray:
    """1.0 per reply that contains one of the question's gold keywords (`key`: 'answer' or
    'answer_before_update'), else 0.0: per-item scores for a paired bootstrap."""
    if len(replies) != len(questions):
        raise ValueError(f"{len(replies)} replies for {len(questions)} questions: grade the same questions")
    return np.array([float(bool(q.get(key)) and keyword_hit(r.answer, q[key])) for r, q in zip(replies, questions)])


def kb_version(version: str) -> list[dict]:
    """The Brightwater library knowledge base as it stood: '2025', or '2026' (revised documents replace
    their 2025 versions by id, new documents are added)."""
    docs = {doc["id"]: doc for doc in load_kb("2025")}
    if version == "2026":
        docs.update({doc["id"]: doc for doc in load_kb("2026")})
    elif version != "2025":
        load_kb(version)  # raises the 'unknown version' error that lists the choices
    return list(docs.values())


def redated(docs: list[dict], date: str = "2026-03-01") -> list[dict]:
    """The same documents with a new date and unchanged text: the negative control for an update (a
    re-index that changes no fact must not change the answers' correctness)."""
    return [{**doc, "date": date} for doc in docs]


def kb_texts(docs: list[dict]) -> list[str]:
    """Knowledge-base documents as the strings the index holds."""
    return [kb_text(doc) for doc in docs]


def supporting_passage(reply: Reply) -> tuple[int | None, float]:
    """Which retrieved passage the answer came from: (index into reply.passages, share of the answer's words
    found in it). (None, 0.0) for a closed-book reply or an answer with no words."""
    words = set(normalise(reply.answer))
    if not reply.passages or not words:
        return None, 0.0
    overlap = [len(words & set(normalise(p))) / len(words) for p in reply.passages]
    best = int(np.argmax(overlap))
    return best, float(overlap[best])


def answer_depends_on_passage(with_passage: Reply, without: Reply, gold: list[str]) -> bool:
    """A leave-one-out explanation: the answer was right with the passage and is wrong without it."""
    return keyword_hit(with_passage.answer, gold) and not keyword_hit(without.answer, gold)


def quantize_int8(model):
    """A copy of `model` whose Linear weights are int8 (one scale per output channel, torchao's
    Int8WeightOnlyConfig); activations stay fp32, so it runs on any CPU without calibration data."""
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    small = copy.deepcopy(model)
    quantize_(small, Int8WeightOnlyConfig())
    return small


def model_mb(model) -> float:
    """Size of the model's weights on disk, in MB (torch.save of its state dict; tied weights once)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 1e6


def time_per_answer(assistant: Assistant, questions, repeats: int = 3) -> float:
    """Median seconds per answer over `repeats` batched runs of the same questions."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        assistant.ask(questions)
        runs.append((time.perf_counter() - start) / len(questions))
    return float(np.median(runs))


def non_inferiority(a, b, margin: float) -> dict:
    """'a is at most `margin` worse than b': the paired difference mean(a) - mean(b) + margin with its 95% CI.
    Positive lower end = non-inferior within the margin (the margin is fixed before measuring)."""
    from kit import stats

    if margin < 0:
        raise ValueError(f"the margin is how much worse is acceptable: give a number >= 0, got {margin}")
    result = stats.paired_bootstrap(a, b)
    return {"effect": result["effect"] + margin, "ci": (result["ci"][0] + margin, result["ci"][1] + margin),
            "difference": result["effect"], "difference_ci": result["ci"], "margin": margin}


# The assistant's parts: (what, licence key in kit.licences, where it comes from).
PARTS = [("SmolLM2-135M-Instruct (the reader)", "apache-2.0", models.info("smollm2").hub_id),
         ("all-MiniLM-L6-v2 (the dense retriever)", "apache-2.0", models.info("minilm").hub_id)]


def licence_check(parts=PARTS, uses=("commercial", "redistribute_finetune", "host_api")) -> list[dict]:
    """For each part and each intended use: lesson 08's verdict (yes / conditional / no / ask) and its clause."""
    return [{"part": what, "licence": licence, "source": source, "use": use,
             "verdict": may_i(licence, use).verdict, "clause": may_i(licence, use).clause}
            for what, licence, source in parts for use in uses]
