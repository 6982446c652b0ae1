"""The generation half of lesson 02: prompts with numbered sources, SmolLM2 answers, keyword grading.

Re-exported by `kit.rag`, so notebooks call `rag.answer(...)`. Retrievers are duck-typed: anything with
`passages_for(question, k) -> [(doc_index, score, passage_text)]` works.
"""
import re
from contextlib import contextmanager

from kit import models

__all__ = ["one_thread", "rag_messages", "closed_book_messages", "generate", "keyword_hit", "answer", "compare_answers"]


@contextmanager
def one_thread(active: bool = True):
    """Run torch on one CPU thread inside the block.

    One query embedding or one decoding step is a tiny matrix product: splitting it over cores buys
    little, and on a busy shared CPU the threads wait for each other (measured here: 2 threads were
    5-10x slower than 1 while other jobs ran).
    """
    import torch

    threads = torch.get_num_threads()
    if active:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


RAG_INSTRUCTION = ("Answer the question with a short phrase copied from the sources above, "
                   "then cite the source number like [1].")


def rag_messages(question: str, passages: list[str]) -> list[dict]:
    """A chat prompt with numbered sources first, then the instruction and the question.

    (A 135M model follows this order, in a single user turn, far better than a system prompt.)
    """
    sources = "\n\n".join(f"[{n}] {p}" for n, p in enumerate(passages, start=1))
    return [{"role": "user", "content": f"{sources}\n\n{RAG_INSTRUCTION}\nQuestion: {question}"}]


def closed_book_messages(question: str) -> list[dict]:
    """The same question with no sources: the model can only use what it memorised."""
    return [{"role": "user", "content": f"Answer the question with a short phrase.\nQuestion: {question}"}]


def generate(model, tok, messages: list[dict], max_new_tokens: int = 32) -> str:
    """Greedy reply to one conversation (on a CPU in one thread: faster for a single short prompt)."""
    with one_thread(model.device.type == "cpu"):
        return models.chat(model, tok, [messages], max_new_tokens=max_new_tokens)[0]


def _normalise(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())
    return " " + " ".join(re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text)) + " "


def keyword_hit(text: str, keywords: list[str]) -> bool:
    """Does the answer contain any gold keyword as whole words? ('$5' matches '5', '1,570' matches '1570')."""
    body = _normalise(text)
    return any(_normalise(k) != "  " and _normalise(k) in body for k in keywords)


def answer(question: str, retriever, model, tok, k: int = 1, max_new_tokens: int = 32) -> dict:
    """Retrieve k passages, generate a grounded answer, and attach the cited sources."""
    hits = retriever.passages_for(question, k)
    text = generate(model, tok, rag_messages(question, [h[2] for h in hits]), max_new_tokens)
    sources = [f"[{n}] doc {doc} (score {score:.2f})" for n, (doc, score, _) in enumerate(hits, start=1)]
    return {"answer": text, "sources": sources, "docs": [h[0] for h in hits], "passages": [h[2] for h in hits]}


def compare_answers(questions: list[dict], retriever, model, tok, k: int = 1, max_new_tokens: int = 32) -> list[dict]:
    """Closed-book vs retrieval-augmented answers to the same questions, graded by answer keywords."""
    from tqdm.auto import tqdm

    rows = []
    for q in tqdm(questions, desc="answering"):
        closed = generate(model, tok, closed_book_messages(q["question"]), max_new_tokens)
        grounded = answer(q["question"], retriever, model, tok, k, max_new_tokens)
        rows.append({"question": q["question"], "closed_book": closed, "rag": grounded["answer"],
                     "closed_ok": keyword_hit(closed, q["answer"]),
                     "rag_ok": keyword_hit(grounded["answer"], q["answer"]),
                     "cites": bool(re.search(r"\[\d\]", grounded["answer"])),
                     "gold_retrieved": bool(set(q.get("gold", [])) & set(grounded["docs"]))})
    return rows
