"""kit.capstone: hybrid passages, batched answers, grading, the knowledge-base versions, explanations,
int8 weights, non-inferiority and the licence check (no language model needed: `models.chat` is stubbed)."""
import numpy as np
import pytest
import torch
from torch import nn

from kit import capstone, rag

DOCS = ["The library lends books for 21 days. Renewals are allowed twice.",
        "Parking behind the library is free for members on weekdays.",
        "The Zanzibar reading club meets every second Tuesday at 6pm."]


@pytest.fixture
def kb():
    return capstone.KnowledgeBase(DOCS, rag.HashingEmbedder(512), chunking="sentences", size=1)


def test_knowledge_base_returns_the_best_passage_of_the_best_document(kb):
    hits = kb.passages_for("When does the Zanzibar reading club meet?", k=2)
    assert len(hits) == 2 and hits[0][0] == 2 and "Zanzibar" in hits[0][2]
    (doc, _, passage), = kb.passages_for("For how many days does the library lend books?", k=1)
    assert doc == 0 and passage == "The library lends books for 21 days."   # the passage, not the whole document
    assert [h[0] for h in kb.passages_for_many(["Is parking free for members?", "Zanzibar"], 1)[0]] == [1]


def test_assistant_prompts_with_the_retrieved_passage_or_none(kb, monkeypatch):
    seen = []

    def fake_chat(model, tok, prompts, **kwargs):
        seen.extend(prompts)
        return [f"answer {n}" for n in range(len(prompts))]

    monkeypatch.setattr(capstone.models, "chat", fake_chat)
    replies = capstone.Assistant(None, None, kb).ask(["When does the Zanzibar club meet?", {"question": "Parking?"}])
    assert [r.answer for r in replies] == ["answer 0", "answer 1"] and replies[0].docs == [2]
    assert "[1] The Zanzibar" in seen[0][0]["content"]
    closed = capstone.Assistant(None, None, None).ask(["When does the Zanzibar club meet?"])
    assert closed[0].passages == [] and "Zanzibar reading club meets" not in seen[-1][0]["content"]
    with pytest.raises(ValueError, match="non-empty"):
        capstone.Assistant(None, None, kb).ask([""])
    with pytest.raises(ValueError, match="k must be"):
        capstone.Assistant(None, None, kb, k=0)


def test_graded_scores_each_reply_against_the_chosen_answers():
    questions = [{"answer": ["28"], "answer_before_update": ["21"]}, {"answer": ["three"], "answer_before_update": []}]
    replies = [capstone.Reply("q", "It is 21 days [1]"), capstone.Reply("q", "Three times")]
    assert graded_list(replies, questions) == [0.0, 1.0]
    assert graded_list(replies, questions, "answer_before_update") == [1.0, 0.0]   # no old answer: never right
    with pytest.raises(ValueError, match="same questions"):
        capstone.graded(replies[:1], questions)


def graded_list(replies, questions, key="answer"):
    return capstone.graded(replies, questions, key).tolist()


def test_kb_versions_replace_revised_documents_and_add_new_ones():
    old, new = capstone.kb_version("2025"), capstone.kb_version("2026")
    updates = rag.load_kb("2026")
    assert len(new) == len(old) + len({d["id"] for d in updates} - {d["id"] for d in old})
    loans = {d["id"]: d for d in new}["loans"]
    assert "28 days" in loans["text"] and loans["date"].startswith("2026")
    control = capstone.redated(old)
    assert [d["text"] for d in control] == [d["text"] for d in old] and {d["date"] for d in control} == {"2026-03-01"}
    assert all(t.startswith(d["text"]) for t, d in zip(capstone.kb_texts(old), old))
    with pytest.raises(ValueError, match="2025"):
        capstone.kb_version("2024")


def test_supporting_passage_and_leave_one_out():
    reply = capstone.Reply("q", "21 days [1]", ["Parking is free.", "Books are lent for 21 days."], [1, 0])
    assert capstone.supporting_passage(reply) == (1, 1.0)
    assert capstone.supporting_passage(capstone.Reply("q", "21 days")) == (None, 0.0)
    without = capstone.Reply("q", "Two weeks")
    assert capstone.answer_depends_on_passage(reply, without, ["21"])
    assert not capstone.answer_depends_on_passage(reply, reply, ["21"])      # same answer without it: not dependent


def test_non_inferiority_shifts_the_interval_by_the_margin():
    a, b = np.ones(50), np.ones(50)
    a[:2] = 0                                        # 4 points worse
    result = capstone.non_inferiority(a, b, margin=0.10)
    assert result["difference"] == pytest.approx(-0.04) and result["effect"] == pytest.approx(0.06)
    assert result["ci"][0] == pytest.approx(result["difference_ci"][0] + 0.10)
    assert not capstone.non_inferiority(np.zeros(50), b, margin=0.10)["ci"][0] > 0   # much worse: rejected
    with pytest.raises(ValueError, match="margin"):
        capstone.non_inferiority(a, b, margin=-0.1)


def test_quantize_int8_shrinks_linear_weights_and_keeps_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 8))
    small = capstone.quantize_int8(model)
    x = torch.randn(4, 256)
    assert torch.allclose(small(x), model(x), atol=0.05)
    assert capstone.model_mb(small) < 0.5 * capstone.model_mb(model)
    assert isinstance(model[0].weight, nn.Parameter) and model[0].weight.dtype == torch.float32   # original intact


def test_licence_check_gives_a_verdict_and_clause_per_part_and_use():
    rows = capstone.licence_check()
    assert len(rows) == len(capstone.PARTS) * 3 and all(r["verdict"] in ("yes", "conditional") for r in rows)
    bad = capstone.licence_check([("a research checkpoint", "cc-by-nc-4.0", "somewhere")], uses=("commercial",))
    assert bad[0]["verdict"] == "no" and "NonCommercial" in bad[0]["clause"]
    with pytest.raises(ValueError, match="apache-2.0"):
        capstone.licence_check([("x", "wtfpl", "")])
