"""Checks for exercises/02_rag.ipynb: recall@k, reciprocal-rank fusion, updating a document in an index, BM25 on
rare names (predict, run, explain); and the lesson's quiz."""
import numpy as np

from kit import rag
from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ"]


@exercise("02.1", title="recall@k", section="4. Three FAISS indexes",
          hint="look only at the first k ranked documents; return 1.0 if any of them is in gold, else 0.0")
def _recall(recall_at_k):
    ranked = [7, 3, 9, 1, 4]
    cases = [([3], 1), ([3], 2), ([4, 8], 5), ([8], 5), ([1], 3), ([7], 10)]
    for gold, k in cases:
        got, expected = float(recall_at_k(ranked, gold, k)), rag.recall_at_k(ranked, gold, k)
        if got != expected:
            if got == 1.0 and expected == 0.0 and any(g in ranked for g in gold):
                raise Hint(f"recall_at_k(ranked, {gold}, k={k}) should be 0: the gold document is ranked "
                           "below k, so it does not count")
            raise Hint(f"recall_at_k({ranked}, {gold}, k={k}) returned {got}, expected {expected}")
    return True


@exercise("02.2", title="reciprocal-rank fusion", section="5. Lexical and hybrid search",
          hint="for each ranking, add 1 / (k_rrf + rank) to each document's score (rank starts at 1); "
               "return the documents sorted by total score, best first")
def _rrf(fuse):
    rng = np.random.default_rng(2)
    for _ in range(5):
        rankings = [[int(d) for d in rng.permutation(12)[:rng.integers(3, 9)]] for _ in range(3)]
        expected = [d for d, _ in rag.reciprocal_rank_fusion([[(d, 0.0) for d in r] for r in rankings], 60)]
        got = [int(d) for d in fuse(rankings, 60)]
        if got == expected:
            continue
        if sorted(got) != sorted(expected):
            raise Hint("every document that appears in any ranking must appear once in the result")
        zero_based = [d for d, _ in sorted(
            {d: sum(1 / (60 + r.index(d)) for r in rankings if d in r) for d in set(sum(rankings, []))}.items(),
            key=lambda item: -item[1])]
        if got == zero_based and got != expected:
            raise Hint("ranks start at 1, not 0: the top document adds 1 / (k_rrf + 1)")
        raise Hint(f"for rankings {rankings} expected order {expected}, got {got}")
    return True


@exercise("02.3", title="revise a document without retraining", section="7. Update the data, not the model",
          hint="retriever.remove([ids.index(doc_id)]) retires the old version; retriever.add([new_text]) "
               "indexes the new one; append doc_id to ids so positions keep matching the retriever's indices")
def _revise(revise):
    texts = ["Loans last 21 days.", "Printing costs 15 cents a page.", "Story time is on Wednesday."]
    retriever = rag.Retriever.from_texts(texts, embedder=rag.HashingEmbedder())
    ids = ["loans", "printing", "story"]
    result = revise(retriever, ids, "printing", "Printing now costs 10 cents a page at the kiosk.")
    ids = result if result is not None else ids
    if len(ids) != 4 or ids[-1] != "printing":
        raise Hint(f"after the revision ids should end with the new version's id: got {ids}")
    top = retriever.search("How much does printing cost?", k=1)[0][0]
    if top == 1:
        raise Hint("the old 15-cent version is still returned: retire it with retriever.remove([...])")
    if top != 3 or len(retriever) != 3:
        raise Hint(f"the new version should be document 3 and the top hit; got document {top}")
    return True, "the answer changes with no training step"


def _bm25_rare_recall() -> float:
    from kit import data, rag_eval

    docs = data.load("lee_news").X_train
    rare = rag_eval.rare_term_questions(docs, n=40)
    return float(rag_eval.hits_at_k(rag.BM25Retriever(docs), rare, k=5).mean())


@exercise("02.4", title="predict, run, explain: BM25 on questions about rare names and numbers",
          section="5. Lexical and hybrid search",
          hint="docs = data.load('lee_news').X_train; rare = rag_eval.rare_term_questions(docs, n=40); "
               "rag_eval.hits_at_k(rag.BM25Retriever(docs), rare, k=5).mean()")
def _bm25_rare(measured):
    want = _bm25_rare_recall()
    if abs(float(measured) - want) > 1e-9:
        return False
    return True, (f"{want:.3f}. Ours: each term occurs in exactly one article, so its inverse document frequency is "
                  "the highest possible and BM25 ranks that article first almost always; a sentence embedding "
                  "has rarely seen the name and spreads it over similar-sounding words")


QUIZ = [
    Question(
        "02.q1", "You try nine retriever configurations and report the best recall@5 on the same 80 questions. "
        "What is wrong with that number?",
        ("nothing, it is the best configuration", "it is optimistic: the choice was fitted to those questions; "
         "choose on dev questions and report on held-out test questions", "recall@5 should be recall@1"),
        "b", "A maximum over configurations is a fitted statistic. The lesson chooses on the dev half and reports "
        "the test half once."),
    Question(
        "02.q2", "On which questions should hybrid (dense + BM25) search beat dense search alone?",
        ("paraphrased questions with no word in common with the article", "questions naming exact rare names "
         "or numbers", "none: fusion always averages the two"),
        "b", "BM25 rewards rare shared words exactly; MiniLM maps a name it rarely saw to a vague vector. The "
        "rare-term slice shows the gap with a paired interval."),
    Question(
        "02.q3", "Why does the lesson give the model the gold passage (the oracle) as well as the retrieved one?",
        ("to train the model", "to separate retrieval errors from reading errors: if the model fails even with "
         "the gold passage, better retrieval cannot fix that question", "to make the RAG score higher"),
        "b", "The oracle is an upper bound for this reader: the gap between RAG and oracle is what retrieval costs, "
        "the gap between oracle and perfect is what the 135M reader costs."),
    Question(
        "02.q4", "A retriever built over shuffled embeddings is scored with the same recall check. What should "
        "happen, and why run it?",
        ("it should pass too", "it should fail (recall near chance): a check it passed would not be measuring "
         "the embedding", "it should crash"),
        "b", "The negative control: the same passages and index with each vector moved to another passage. Recall "
        "that survives it comes from chance or leakage, not from meaning."),
]
