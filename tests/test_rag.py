"""Unit tests for kit/rag.py. A tiny hashing embedder stands in for MiniLM so the tests stay fast."""
import numpy as np
import pytest

from kit import data, rag

HashEmbedder = rag.HashingEmbedder


DOCS = ["The cat sat on the warm mat. It purred all day.",
        "Stock markets fell sharply on Monday. Investors sold banks.",
        "The football final ended in a draw. Fans went home in the rain.",
        "A new library opened downtown. It lends books and tools."]


@pytest.fixture
def retriever():
    return rag.Retriever.from_texts(DOCS, embedder=HashEmbedder(), chunking="sentences", size=1)


def test_split_sentences_keeps_quotes_and_decimals():
    assert rag.split_sentences('It cost $5.50 today. "Yes," he said. Done!') == \
        ["It cost $5.50 today.", '"Yes," he said.', "Done!"]


def test_chunk_modes():
    text = ["A. B. C. D. E. F. G."]
    assert rag.chunk(text, "article") == (text, [0])
    assert rag.chunk(text, "sentences", size=3)[0] == ["A. B. C.", "D. E. F.", "G."]
    windows, owner = rag.chunk(text + ["H. I."], "window", size=3, overlap=1)
    assert windows == ["A. B. C.", "C. D. E.", "E. F. G.", "H. I."] and owner == [0, 0, 0, 1]


def test_chunk_bad_arguments():
    with pytest.raises(ValueError, match="Unknown chunking 'pages'"):
        rag.chunk(DOCS, "pages")
    with pytest.raises(ValueError, match="overlap < size"):
        rag.chunk(DOCS, "window", size=2, overlap=2)


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_make_index_finds_itself(kind):
    vectors = HashEmbedder().encode(DOCS * 5)
    index = rag.make_index(vectors, kind, nprobe=8)
    _, ids = index.search(vectors[:4], 1)
    assert [DOCS[i % 4] for i in ids[:, 0]] == DOCS
    assert rag.index_memory_mb(index) > 0


def test_ivf_gets_enough_points_per_cluster():
    vectors = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    assert rag.make_index(vectors, "ivf").nlist == 400 // 39       # sqrt(400) = 20 would warn: FAISS wants 39 each
    assert rag.make_index(vectors[:20], "ivf").nlist == 1


def test_make_index_unknown_kind():
    with pytest.raises(ValueError, match="Unknown index 'lsh'"):
        rag.make_index(np.ones((2, 4), np.float32), "lsh")


def test_search_ranks_documents(retriever):
    hits = retriever.search("which library lends tools?", k=2)
    assert hits[0][0] == 3 and len(hits) == 2
    assert hits[0][1] >= hits[1][1]
    assert len({d for d, _ in retriever.search("cat", k=4)}) == 4  # one entry per document, not per chunk


def test_k_larger_than_corpus_returns_every_document(retriever):
    assert sorted(d for d, _ in retriever.search("anything at all", k=50)) == [0, 1, 2, 3]


def test_bad_inputs_give_clear_errors(retriever):
    with pytest.raises(ValueError, match="corpus is empty"):
        rag.Retriever.from_texts([], embedder=HashEmbedder())
    with pytest.raises(TypeError, match="list of documents"):
        rag.Retriever.from_texts("just one string", embedder=HashEmbedder())
    with pytest.raises(ValueError, match="question is empty"):
        retriever.search("   ")
    with pytest.raises(ValueError, match="k must be at least 1"):
        retriever.search("cat", k=0)
    with pytest.raises(ValueError, match="corpus is empty"):
        rag.BM25Retriever([])


def test_add_and_remove_update_the_index_without_training(retriever):
    new = retriever.add(["Volcano erupts on a remote island. Ash covers villages."])
    assert new == [4] and len(retriever) == 5
    assert retriever.search("volcano ash island", k=1)[0][0] == 4
    retriever.remove([4])
    assert 4 not in [d for d, _ in retriever.search("volcano ash island", k=5)]
    with pytest.raises(IndexError, match="No document 9"):
        retriever.remove([9])


def test_passages_for_returns_chunks(retriever):
    doc, score, text = retriever.passages_for("markets fell", k=1)[0]
    assert doc == 1 and text == "Stock markets fell sharply on Monday."


def test_bm25_and_hybrid(retriever):
    bm25 = rag.BM25Retriever(DOCS)
    assert bm25.search("football draw", k=1)[0][0] == 2
    assert bm25.add(["Football transfer news."]) == [4]
    hybrid = rag.HybridRetriever(rag.Retriever.from_texts(DOCS, embedder=HashEmbedder()), rag.BM25Retriever(DOCS))
    assert hybrid.search("investors sold banks", k=1)[0][0] == 1
    assert [h[0][0] for h in hybrid.search_many(["cat mat", "library books"], k=1)] == [0, 3]


def test_reciprocal_rank_fusion():
    fused = rag.reciprocal_rank_fusion([[(1, 9.0), (2, 5.0)], [(2, 0.9), (3, 0.1)]], k_rrf=0)
    assert fused[0][0] == 2 and fused[0][1] == pytest.approx(1 / 2 + 1 / 1)
    assert [d for d, _ in fused] == [2, 1, 3]


def test_recall_and_mrr():
    ranked = [(5, 0.9), (3, 0.8), (7, 0.1)]
    assert rag.recall_at_k(ranked, [3], 1) == 0.0 and rag.recall_at_k(ranked, [3], 2) == 1.0
    assert rag.reciprocal_rank(ranked, [7, 3]) == 0.5
    assert rag.reciprocal_rank([5, 3], [9]) == 0.0


def test_evaluate(retriever):
    questions = [{"question": "cat on the mat", "gold": [0]}, {"question": "football fans", "gold": [2]}]
    metrics = rag.evaluate(retriever, questions)
    assert metrics["recall_at_1"] == 1.0 and metrics["mrr_at_10"] == 1.0 and metrics["query_ms_p50"] > 0


def test_keyword_hit():
    assert rag.keyword_hit("Tickets cost $5 each.", ["5"])
    assert rag.keyword_hit("In 2000, 1,570 people died.", ["1570"])
    assert rag.keyword_hit("The rate is 4.25 per cent", ["4.25"])
    assert not rag.keyword_hit("It cost 15 dollars", ["5"])
    assert not rag.keyword_hit("Dorado", ["dora"])


def test_prompts_number_the_sources():
    messages = rag.rag_messages("Who?", ["first passage", "second passage"])
    assert "[1] first passage\n\n[2] second passage" in messages[-1]["content"]
    assert "Who?" in rag.closed_book_messages("Who?")[-1]["content"]


def test_course_questions_are_answerable_from_their_gold_articles():
    docs = data.load("lee_news").X_train
    questions = rag.load_questions("lee")
    assert len(questions) >= 60
    for q in questions:
        assert any(rag.keyword_hit(docs[g], q["answer"]) for g in q["gold"]), q["id"]
    kb_ids = {d["id"] for d in rag.load_kb("2025") + rag.load_kb("2026")}
    kb_questions = rag.load_questions("kb")
    assert len(kb_questions) == 20 and all(q["doc"] in kb_ids for q in kb_questions)
    with pytest.raises(ValueError, match="Unknown question set"):
        rag.load_questions("trivia")


def test_subset_keeps_gold_documents_and_renumbers():
    docs = [f"doc {i}" for i in range(30)]
    questions = [{"question": f"q{i}", "gold": [i * 3]} for i in range(10)]
    small_docs, small_qs = rag.subset(docs, questions, n_questions=4, n_docs=8)
    assert len(small_docs) == 8 and len(small_qs) == 4
    for old, new in zip([q for q in questions if q["question"] in {s["question"] for s in small_qs}], small_qs):
        assert small_docs[new["gold"][0]] == docs[old["gold"][0]]
    assert rag.subset(docs, questions) == (docs, questions)


# --- kit/rag_eval.py: held-out questions, slices, controls, stricter grading -------------------------

def test_split_is_fixed_disjoint_and_complete():
    from kit import rag_eval

    questions = [{"id": i} for i in range(10)]
    dev, test = rag_eval.split(questions)
    assert len(dev) == len(test) == 5 and {q["id"] for q in dev} | {q["id"] for q in test} == set(range(10))
    assert rag_eval.split(questions) == (dev, test)
    with pytest.raises(ValueError, match="dev_share"):
        rag_eval.split(questions, dev_share=1.0)


def test_hits_and_shuffled_control(retriever):
    from kit import rag_eval

    questions = [{"question": "the cat purred on the mat", "gold": [0]},
                 {"question": "stock markets fell", "gold": [1]}]
    assert rag_eval.hits_at_k(retriever, questions, k=1).tolist() == [1.0, 1.0]
    broken = rag_eval.shuffled_retriever(retriever, seed=1)
    assert broken.passages == retriever.passages and broken.index.ntotal == retriever.index.ntotal
    assert not np.allclose(broken.index.reconstruct_n(0, 3), retriever.index.reconstruct_n(0, 3))


def test_rare_term_questions_name_a_term_only_their_gold_article_has():
    from kit import rag_eval

    docs = ["Rain fell on Wollongong today. Nothing else.", "The Hobart race. Bumblebee won it by 2,345 metres.",
            "Markets rose. The Hobart office closed."]
    questions = rag_eval.rare_term_questions(docs, n=5)
    assert questions and all(q["term"] in docs[q["gold"][0]] for q in questions)
    assert all(sum(q["term"] in d for d in docs) == 1 for q in questions)
    assert "Hobart" not in {q["term"] for q in questions}       # in two articles: not rare


def test_oracle_passage_is_from_the_gold_article(retriever):
    from kit import rag_eval

    assert rag_eval.oracle_passage(retriever, {"question": "books", "gold": [2]}) in DOCS[2]


@pytest.mark.parametrize("answer, golds, f1, em", [
    ("Swan Hill", ["swan hill"], 1.0, 1.0), ("The swan hill [1]", ["swan hill"], 1.0, 1.0),
    ("They finished at Swan Hill in Victoria", ["swan hill"], 4 / 9, 0.0), ("Mildura", ["swan hill"], 0.0, 0.0),
    ("1,570 people", ["1570"], 2 / 3, 0.0)])
def test_token_f1_and_exact_match(answer, golds, f1, em):
    from kit import rag_eval

    assert rag_eval.token_f1(answer, golds) == pytest.approx(f1)
    assert rag_eval.exact_match(answer, golds) == em


def test_support_and_faithful_citation():
    from kit import rag_eval

    passages = ["The race ended at Swan Hill.", "Mildura hosted the start."]
    assert rag_eval.cited_sources("Swan Hill [1], see [2]") == [1, 2]
    assert rag_eval.supported("Swan Hill [2]", passages, ["swan hill"])
    assert rag_eval.faithful_citation("Swan Hill [1]", passages, ["swan hill"])
    assert not rag_eval.faithful_citation("Swan Hill [2]", passages, ["swan hill"])      # cites the wrong source
    assert not rag_eval.supported("Echuca [1]", passages, ["echuca"])                    # right, but not grounded


def test_bm25_query_of_stop_words_or_unknown_words_scores_zero_instead_of_failing():
    bm25 = rag.BM25Retriever(["the cat sat", "a dog ran", "python code"])
    for query in ("the of", "zebra unicorn"):
        assert [score for _, score in bm25.search(query, 3)] == [0.0, 0.0, 0.0]
    bm25.add(["dog dog dog"])
    assert bm25.search("dog", 1)[0][0] == 3
