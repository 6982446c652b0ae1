"""Measuring a RAG system the way a sceptic would (lesson 02): held-out questions, per-question hits
for paired intervals, a rare-term slice, a negative control, an oracle passage and stricter grading.

    dev, test = rag_eval.split(questions)                  # choose the configuration on dev, report on test
    hits = rag_eval.hits_at_k(retriever, test, k=5)        # 0/1 per question, for kit.stats.paired_bootstrap
    rare = rag_eval.rare_term_questions(docs, n=40)        # exact names and numbers: where BM25 shines
    broken = rag_eval.shuffled_retriever(retriever)        # the same index with its vectors permuted
    rag_eval.token_f1("Swan Hill, Victoria", ["swan hill"]), rag_eval.supported(answer, passages, gold)
"""
import re
from collections import Counter

import numpy as np

from kit.rag import Retriever, make_index, recall_at_k, split_sentences
from kit.rag_answers import keyword_hit

__all__ = ["split", "hits_at_k", "rare_term_questions", "shuffled_retriever", "RelabelledRetriever", "oracle_passage",
           "normalise",
           "token_f1", "exact_match", "cited_sources", "supported", "faithful_citation"]


def split(questions: list[dict], dev_share: float = 0.5, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A fixed dev/test split of the questions: choose on dev, report on test (never the other way)."""
    if not 0 < dev_share < 1 or len(questions) < 2:
        raise ValueError(f"need at least 2 questions and 0 < dev_share < 1, got {len(questions)} and {dev_share}")
    order = np.random.default_rng(seed).permutation(len(questions))
    n_dev = max(1, min(len(questions) - 1, round(dev_share * len(questions))))
    return [questions[i] for i in sorted(order[:n_dev])], [questions[i] for i in sorted(order[n_dev:])]


def hits_at_k(retriever, questions: list[dict], k: int = 5) -> np.ndarray:
    """1.0 per question whose gold document is in the top k, else 0.0 (per item, for paired bootstraps)."""
    ranked = retriever.search_many([q["question"] for q in questions], k)
    return np.array([recall_at_k(r, q["gold"], k) for r, q in zip(ranked, questions)])


_RARE = re.compile(r"\b(?:[A-Z][a-z]{3,}|\d{3,}(?:,\d{3})*)\b")


def rare_term_questions(docs: list[str], n: int = 40, seed: int = 0) -> list[dict]:
    """Retrieval questions about exact rare terms: for `n` articles, a capitalised name or a number of 3+
    digits that occurs in that article and in no other, asked as "What does the archive report about X?".

    Generated from the corpus (no answers to grade, only the gold article), so the slice tests exactly what
    lexical search is good at and a sentence embedding is weak at: a name or number it has rarely seen.
    """
    found = [set(_RARE.findall(text)) for text in docs]
    df = Counter(term for terms in found for term in terms)
    lower_df = Counter(w for text in docs for w in set(re.findall(r"[a-z0-9,]+", text.lower())))
    rng = np.random.default_rng(seed)
    questions = []
    for doc in rng.permutation(len(docs)):
        first_words = {s.split()[0] for s in split_sentences(docs[doc]) if s.split()}
        rare = sorted(t for t in found[doc] if df[t] == 1 and lower_df[t.lower()] == 1 and t not in first_words)
        if rare:
            term = rare[int(rng.integers(len(rare)))]
            questions.append({"id": f"rare{doc}", "question": f"What does the archive report about {term}?",
                              "gold": [int(doc)], "answer": [term.lower()], "term": term})
        if len(questions) == n:
            break
    return questions


def shuffled_retriever(retriever: Retriever, seed: int = 0) -> Retriever:
    """The negative control: the same passages and index type, each passage's vector swapped with another's.
    Any recall it keeps comes from chance, not from the embedding."""
    vectors = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    perm = np.random.default_rng(seed).permutation(len(vectors))
    return Retriever(retriever.embedder, make_index(np.ascontiguousarray(vectors[perm]), "flat"), retriever.passages,
                     retriever.owner, retriever.n_docs, retriever.chunking, retriever.size, retriever.overlap)


def oracle_passage(retriever: Retriever, question: dict) -> str:
    """The gold article's passage that best matches the question: the prompt an ideal retriever would build,
    so answer errors with it are reading errors, not retrieval errors."""
    gold = set(question["gold"])
    for doc, _, passage in retriever.passages_for(question["question"], k=len(retriever.passages)):
        if doc in gold:
            return passage
    raise ValueError(f"no passage of the gold article {sorted(gold)} is in the index")


def normalise(text: str) -> list[str]:
    """Lower-case word tokens without punctuation, articles or citation marks ([1]), as in SQuAD's answer
    normalisation."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", re.sub(r"\[\d+\]", " ", text.lower()))
    return [w for w in re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text) if w not in ("a", "an", "the")]


def token_f1(answer: str, golds: list[str]) -> float:
    """Best token F1 between the answer and any gold answer (SQuAD's metric): 1.0 only for the exact span,
    lower for every extra or missing word, so a long answer that merely contains the keyword scores low."""
    best, words = 0.0, normalise(answer)
    for gold in golds:
        target = normalise(gold)
        common = sum((Counter(words) & Counter(target)).values())
        if common:
            precision, recall = common / len(words), common / len(target)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def exact_match(answer: str, golds: list[str]) -> float:
    """1.0 when the normalised answer (before any citation) equals a normalised gold answer."""
    return float(any(normalise(re.sub(r"\[\d+\].*", "", answer, flags=re.S)) == normalise(g) for g in golds))


def cited_sources(answer: str) -> list[int]:
    """The source numbers an answer cites, e.g. 'Swan Hill [1]' -> [1]."""
    return [int(n) for n in re.findall(r"\[(\d+)\]", answer)]


def supported(answer: str, passages: list[str], golds: list[str]) -> bool:
    """Is a correct answer's gold span in some passage the model was given? (False for a right answer that
    no passage supports: memorised or guessed, not grounded.)"""
    hit = [g for g in golds if keyword_hit(answer, [g])]
    return bool(hit) and any(keyword_hit(p, [g]) for p in passages for g in hit)


def faithful_citation(answer: str, passages: list[str], golds: list[str]) -> bool:
    """Does the passage the answer cites contain the gold span the answer gives? Precision of the citation."""
    hit = [g for g in golds if keyword_hit(answer, [g])]
    cited = [passages[n - 1] for n in cited_sources(answer) if 1 <= n <= len(passages)]
    return bool(hit) and any(keyword_hit(p, [g]) for p in cited for g in hit)


class RelabelledRetriever:
    """A retriever whose document ids are permuted: its scores are real, but they point at the wrong
    documents. Fused into a hybrid, it is the control for "the lexical side is what helps"."""

    def __init__(self, retriever, n_docs: int, seed: int = 0):
        self.retriever, self.perm = retriever, np.random.default_rng(seed).permutation(n_docs)

    def __len__(self) -> int:
        return len(self.retriever)

    def search(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        return [(int(self.perm[d]), s) for d, s in self.retriever.search(query, k)]

    def search_many(self, queries: list[str], k: int = 5) -> list[list[tuple[int, float]]]:
        return [[(int(self.perm[d]), s) for d, s in ranked] for ranked in self.retriever.search_many(queries, k)]
