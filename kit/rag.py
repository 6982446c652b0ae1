"""Retrieval-augmented generation: keep answers current by updating the data, not the model.

    retriever = rag.Retriever.from_texts(texts, chunking="sentences")   # MiniLM + FAISS
    retriever.search("who won?", k=5)       # [(doc_index, score), ...] best first
    retriever.add(["a new document"])       # no training: embed it and append it to the index

Also here: chunking, a BM25 retriever and reciprocal-rank fusion (hybrid search), retrieval
metrics (recall@k, MRR), prompts for SmolLM2 with numbered sources, and keyword grading.
"""
import json
import re
import time

import numpy as np

from kit.data import course_file
from kit.errors import unknown
from kit.rag_answers import (
    answer,
    closed_book_messages,
    compare_answers,
    generate,
    keyword_hit,
    one_thread,
    rag_messages,
)

__all__ = ["load_questions", "load_kb", "subset", "kb_text", "split_sentences", "chunk", "embed", "make_index",
           "index_memory_mb", "HashingEmbedder", "Retriever", "BM25Retriever", "HybridRetriever",
           "reciprocal_rank_fusion", "recall_at_k", "reciprocal_rank", "evaluate", "rag_messages",
           "closed_book_messages", "generate", "keyword_hit", "answer", "compare_answers", "plot_metrics"]

CHUNKINGS = ("article", "sentences", "window")
INDEXES = ("flat", "ivf", "hnsw")


# --- the course's data ----------------------------------------------------------------------------

def _jsonl(name: str) -> list[dict]:
    text = course_file(f"02_rag/{name}").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_questions(which: str = "lee") -> list[dict]:
    """Evaluation questions: 'lee' (question, gold article indices, answer keywords) or 'kb'."""
    files = {"lee": "lee_questions.jsonl", "kb": "kb_questions.jsonl"}
    if which not in files:
        raise unknown("question set", which, files)
    return _jsonl(files[which])


def load_kb(version: str = "2025") -> list[dict]:
    """The library knowledge base: '2025' (first version) or '2026' (the revised and new documents)."""
    files = {"2025": "kb_2025.jsonl", "2026": "kb_2026_updates.jsonl"}
    if version not in files:
        raise unknown("knowledge-base version", version, files)
    return _jsonl(files[version])


def subset(docs: list[str], questions: list[dict], n_questions: int | None = None, n_docs: int | None = None,
           seed: int = 0) -> tuple[list[str], list[dict]]:
    """A smaller corpus for quick runs: n_questions questions, their gold documents plus distractors.

    Gold indices are renumbered to the smaller corpus. None keeps everything.
    """
    if n_questions is None and n_docs is None:
        return list(docs), list(questions)
    rng = np.random.default_rng(seed)
    if n_questions is not None:
        questions = [questions[i] for i in sorted(rng.choice(len(questions), min(n_questions, len(questions)),
                                                             replace=False))]
    gold = sorted({g for q in questions for g in q["gold"]})
    others = [i for i in rng.permutation(len(docs)) if i not in set(gold)]
    keep = sorted(gold + others[:max(0, (n_docs or len(docs)) - len(gold))])
    new_index = {old: new for new, old in enumerate(keep)}
    return [docs[i] for i in keep], [{**q, "gold": [new_index[g] for g in q["gold"]]} for q in questions]


def kb_text(doc: dict) -> str:
    """One knowledge-base document as the text we index: title, date, body."""
    return f"{doc['text']} ({doc['title']}, updated {doc['date']}.)"


# --- chunking -------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r'(?:(?<=[.!?])|(?<=[.!?]["\']))\s+(?=["\'(]?[A-Z0-9])')


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at . ! ? followed by a capital (good enough for news prose)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def chunk(texts: list[str], how: str = "article", size: int = 3, overlap: int = 1) -> tuple[list[str], list[int]]:
    """Cut documents into passages; returns (passages, index of the document each came from).

    how='article': one passage per document; 'sentences': consecutive groups of `size` sentences;
    'window': groups of `size` sentences that start every `size - overlap` sentences (overlapping).
    """
    if how not in CHUNKINGS:
        raise unknown("chunking", how, CHUNKINGS)
    if size < 1 or (how == "window" and not 0 <= overlap < size):
        raise ValueError(f"Need size >= 1 and 0 <= overlap < size, got size={size}, overlap={overlap}")
    step = size if how == "sentences" else size - overlap
    passages, owner = [], []
    for doc, text in enumerate(texts):
        if how == "article":
            pieces = [text]
        else:
            sents = split_sentences(text) or [text]
            starts = range(0, max(len(sents) - size, 0) + 1, step) if how == "window" else range(0, len(sents), step)
            pieces = [" ".join(sents[i:i + size]) for i in starts]
            if how == "window" and starts[-1] + size < len(sents):
                pieces.append(" ".join(sents[-size:]))
        passages += pieces
        owner += [doc] * len(pieces)
    return passages, owner


# --- dense retrieval with FAISS -------------------------------------------------------------------

def embed(embedder, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Unit-length float32 embeddings, so that inner product = cosine similarity."""
    with one_thread(len(texts) <= 2):  # a single query is too small to share across cores
        vectors = embedder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=len(texts) > 200)
    return np.ascontiguousarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """A tiny stand-in for MiniLM (bag of words hashed into `dim` dims): for tests and exercise checks."""

    def __init__(self, dim: int = 64):
        self.dim = dim

    def encode(self, texts, normalize_embeddings=True, **_):
        import zlib

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def make_index(vectors: np.ndarray, kind: str = "flat", nlist: int | None = None, nprobe: int = 8, hnsw_m: int = 32):
    """A FAISS inner-product index over `vectors`: exact 'flat', clustered 'ivf', or graph 'hnsw'."""
    import faiss

    if kind not in INDEXES:
        raise unknown("index", kind, INDEXES)
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        nlist = nlist or max(1, min(int(np.sqrt(len(vectors))), len(vectors) // 39))   # k-means: 39 points a cluster
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, min(nlist, len(vectors)), faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = nprobe
    else:
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 64
    index.add(vectors)
    return index


def index_memory_mb(index) -> float:
    """How much memory a FAISS index needs (its serialized size), in MB."""
    import faiss

    return len(faiss.serialize_index(index)) / 1e6


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("Pass a list of documents, not a single string: e.g. [text]")
    texts = list(texts)
    if not texts:
        raise ValueError("The corpus is empty: give at least one document")
    if not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("Every document must be a non-empty string")
    return texts


def _check_query(query: str, k: int) -> None:
    if not isinstance(query, str) or not query.strip():
        raise ValueError("The question is empty: type a question to search for")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _best_per_doc(pairs, retired, k) -> list[tuple[int, float]]:
    """Keep each document's best-scoring passage, drop retired documents, return the top k."""
    best: dict = {}
    for doc, score in pairs:
        if doc not in retired and doc not in best:
            best[doc] = float(score)
    return list(best.items())[:k]


class Retriever:
    """Dense retrieval: passages embedded with MiniLM in a FAISS index; `search` ranks documents.

    Works on any list of strings. `k` larger than the corpus returns every document.
    """

    def __init__(self, embedder, index, passages: list[str], owner: list[int], n_docs: int,
                 chunking: str = "article", size: int = 3, overlap: int = 1):
        self.embedder, self.index = embedder, index
        self.passages, self.owner, self.n_docs = list(passages), list(owner), n_docs
        self.chunking, self.size, self.overlap = chunking, size, overlap
        self.retired: set = set()

    @classmethod
    def from_texts(cls, texts: list[str], embedder=None, index: str = "flat", chunking: str = "article",
                   size: int = 3, overlap: int = 1, vectors: np.ndarray | None = None) -> "Retriever":
        """Chunk, embed (unless `vectors` of the passages are given) and index a list of documents."""
        texts = _check_texts(texts)
        if embedder is None:
            from kit import models
            embedder = models.load("minilm")
        passages, owner = chunk(texts, chunking, size, overlap)
        vectors = embed(embedder, passages) if vectors is None else vectors
        if len(vectors) != len(passages):
            raise ValueError(f"Got {len(vectors)} vectors for {len(passages)} passages")
        return cls(embedder, make_index(vectors, index), passages, owner, len(texts), chunking, size, overlap)

    def __len__(self) -> int:
        return self.n_docs - len(self.retired)

    def passages_for(self, query: str, k: int = 3) -> list[tuple[int, float, str]]:
        """The k best passages (not documents): (doc_index, score, passage text), for a prompt."""
        _check_query(query, k)
        scores, ids = self.index.search(embed(self.embedder, [query]), min(self.index.ntotal, 4 * k + 8))
        hits = [(self.owner[i], float(s), self.passages[i]) for s, i in zip(scores[0], ids[0])
                if i >= 0 and self.owner[i] not in self.retired]
        return hits[:k]

    def search(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        """Ranked (doc_index, score) of the k most similar documents (best passage per document)."""
        _check_query(query, k)
        return self._search_vectors(embed(self.embedder, [query]), k)[0]

    def search_many(self, queries: list[str], k: int = 5) -> list[list[tuple[int, float]]]:
        """`search` for a batch of questions (one embedding call: faster for evaluation)."""
        for q in queries:
            _check_query(q, k)
        return self._search_vectors(embed(self.embedder, queries), k)

    def _search_vectors(self, vectors, k):
        k = min(k, len(self))
        fetch = min(self.index.ntotal, 8 * k + len(self.retired) + 8)
        while True:
            scores, ids = self.index.search(vectors, fetch)
            results = [_best_per_doc(((self.owner[i], s) for s, i in zip(row_s, row_i) if i >= 0), self.retired, k)
                       for row_s, row_i in zip(scores, ids)]
            if fetch >= self.index.ntotal or all(len(r) >= k for r in results):
                return results
            fetch = min(self.index.ntotal, fetch * 4)

    def add(self, texts: list[str]) -> list[int]:
        """Add documents without any training: chunk, embed, append. Returns their new indices."""
        texts = _check_texts(texts)
        passages, owner = chunk(texts, self.chunking, self.size, self.overlap)
        self.index.add(embed(self.embedder, passages))
        self.passages += passages
        self.owner += [self.n_docs + o for o in owner]
        new = list(range(self.n_docs, self.n_docs + len(texts)))
        self.n_docs += len(texts)
        return new

    def remove(self, docs: list[int]) -> None:
        """Retire documents (e.g. an outdated revision): they are never returned again."""
        bad = [d for d in docs if not 0 <= d < self.n_docs]
        if bad:
            raise IndexError(f"No document {bad[0]}: indices run from 0 to {self.n_docs - 1}")
        self.retired |= set(docs)


_WORD = re.compile(r"[a-z0-9]+")
_STOP = set("a an and are as at be by did do does for from had has have he her his how in is it its of on or "
            "s she that the their them they this to was were what when where which who whom whose why will "
            "with".split())


def _tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


class BM25Retriever:
    """Lexical retrieval with BM25 (`bm25s`, Lucene's variant: k1 = 1.5, b = 0.75): scores documents by shared,
    rare words. `bm25s` keeps the scores in a sparse matrix, so a query costs a few microseconds per document."""

    def __init__(self, texts: list[str]):
        self.texts = _check_texts(texts)
        self._fit()

    @classmethod
    def from_texts(cls, texts: list[str]) -> "BM25Retriever":
        return cls(texts)

    def _fit(self):
        import bm25s

        self.bm25 = bm25s.BM25()
        self.bm25.index([_tokens(t) or ["_"] for t in self.texts], show_progress=False)

    def __len__(self) -> int:
        return len(self.texts)

    def search(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        _check_query(query, k)
        words = _tokens(query)          # only stop words: no word can match, every score is 0
        scores = np.asarray(self.bm25.get_scores(words), dtype=float) if words else np.zeros(len(self.texts))
        top = np.argsort(-scores, kind="stable")[:min(k, len(self.texts))]
        return [(int(i), float(scores[i])) for i in top]

    def search_many(self, queries: list[str], k: int = 5):
        return [self.search(q, k) for q in queries]

    def add(self, texts: list[str]) -> list[int]:
        """BM25 statistics are cheap: refit on the grown corpus (still no model training)."""
        new = _check_texts(texts)
        start = len(self.texts)
        self.texts += new
        self._fit()
        return list(range(start, len(self.texts)))


def reciprocal_rank_fusion(rankings: list[list[tuple[int, float]]], k_rrf: int = 60) -> list[tuple[int, float]]:
    """Merge ranked lists: each document scores sum(1 / (k_rrf + rank)) over the lists."""
    fused: dict = {}
    for ranking in rankings:
        for rank, (doc, _) in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k_rrf + rank)
    return sorted(fused.items(), key=lambda item: -item[1])


class HybridRetriever:
    """Dense + lexical search fused by reciprocal rank (robust to paraphrase *and* rare names)."""

    def __init__(self, *retrievers, depth: int = 20, k_rrf: int = 60):
        self.retrievers, self.depth, self.k_rrf = retrievers, depth, k_rrf

    def __len__(self) -> int:
        return len(self.retrievers[0])

    def search(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        _check_query(query, k)
        depth = max(self.depth, k)
        return reciprocal_rank_fusion([r.search(query, depth) for r in self.retrievers], self.k_rrf)[:k]

    def search_many(self, queries: list[str], k: int = 5):
        depth = max(self.depth, k)
        per = [r.search_many(queries, depth) for r in self.retrievers]
        return [reciprocal_rank_fusion(list(lists), self.k_rrf)[:k] for lists in zip(*per)]

    def add(self, texts: list[str]) -> list[int]:
        return [r.add(texts) for r in self.retrievers][0]


# --- metrics --------------------------------------------------------------------------------------

def recall_at_k(ranked: list, gold, k: int) -> float:
    """1.0 if any gold document is among the first k results (docs or (doc, score) pairs), else 0.0."""
    docs = [r[0] if isinstance(r, tuple) else r for r in ranked[:k]]
    return float(any(d in set(gold) for d in docs))


def reciprocal_rank(ranked: list, gold, k: int = 10) -> float:
    """1 / rank of the first gold document within the top k (0 if none): averaged, this is MRR@k."""
    for rank, r in enumerate(ranked[:k], start=1):
        if (r[0] if isinstance(r, tuple) else r) in set(gold):
            return 1.0 / rank
    return 0.0


def evaluate(retriever, questions: list[dict], k: int = 10, timed: int = 20) -> dict:
    """recall@1, recall@5, MRR@10 over questions with 'gold'; p50 latency of `timed` single queries."""
    texts = [q["question"] for q in questions]
    ranked = retriever.search_many(texts, k)
    times = []
    for text in texts[:timed]:
        start = time.perf_counter()
        retriever.search(text, k)
        times.append(1000 * (time.perf_counter() - start))
    golds = [q["gold"] for q in questions]
    return {"recall_at_1": np.mean([recall_at_k(r, g, 1) for r, g in zip(ranked, golds)]),
            "recall_at_5": np.mean([recall_at_k(r, g, 5) for r, g in zip(ranked, golds)]),
            "mrr_at_10": np.mean([reciprocal_rank(r, g, 10) for r, g in zip(ranked, golds)]),
            "query_ms_p50": float(np.median(times))}


# --- plots ----------------------------------------------------------------------------------------

def plot_metrics(frame, columns: list[str], label: str = "variant", title: str = "", ax=None):
    """Grouped horizontal bars: one group per row of `frame`, one bar per metric column."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * len(frame) * len(columns) / 2 + 1.5))
    y = np.arange(len(frame))
    height = 0.8 / len(columns)
    for n, column in enumerate(columns):
        ax.barh(y + n * height, frame[column], height, label=column)
    ax.set_yticks(y + 0.4 - height / 2, frame[label])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax
