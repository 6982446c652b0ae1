"""Checks for exercises/12_capstone.ipynb (the open-ended project's automatic part) and the lesson's quiz."""
import numpy as np

from kit import capstone, rag
from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ", "TARGET"]

TARGET = 0.6   # share of the 20 fresh library questions the learner's assistant must answer right (2026 facts)


def _answers(assistant, questions) -> list[str]:
    replies = assistant.ask([q["question"] for q in questions])
    if len(replies) != len(questions):
        raise Hint(f"ask() returned {len(replies)} replies for {len(questions)} questions: one reply per question")
    return [r.answer if isinstance(r, capstone.Reply) else str(r) for r in replies]


@exercise("12.1", title="an assistant that answers from its knowledge base", section="Your project",
          hint="build_assistant(texts) should index `texts` (capstone.KnowledgeBase) and return an object whose "
               "ask(questions) reads the retrieved passage (capstone.Assistant): not answers from memory")
def _assistant(build_assistant):
    questions = rag.load_questions("kb")
    changed = [q for q in questions if q["answer_before_update"]]
    current = build_assistant(capstone.kb_texts(capstone.kb_version("2026")))
    right = np.mean([rag.keyword_hit(a, q["answer"]) for a, q in zip(_answers(current, questions), questions)])
    if right < TARGET:
        raise Hint(f"your assistant answers {right:.0%} of the fresh library questions right; the target is "
                   f"{TARGET:.0%}. Is the right passage in the prompt? Is the reply short enough to be graded?")
    stale = build_assistant(capstone.kb_texts(capstone.kb_version("2025")))
    stale_right = np.mean([rag.keyword_hit(a, q["answer"]) for a, q in zip(_answers(stale, changed), changed)])
    if stale_right > 0.5:
        raise Hint(f"built on the 2025 documents, your assistant still gives the 2026 answer to {stale_right:.0%} of "
                   "the questions whose answer changed: it is not answering from the documents it was given")
    return True, f"{right:.0%} right on the 2026 documents; {stale_right:.0%} of the changed facts from the 2025 ones"


QUIZ = [
    Question(
        "12.q1", "The assistant beats closed book by 20 points. Why also ask the same questions with retrieval from "
        "an unrelated knowledge base?",
        ("to measure latency", "a passage in the prompt can change answers by itself (length, format); the control "
         "shows the gain comes from the right passage", "to train the retriever"),
        "b", "A check must be able to fail. If any passage helped, the unrelated knowledge base would gain too and "
        "the claim would say nothing about retrieval."),
    Question(
        "12.q2", "The library changes its loan period. What makes the assistant give the new answer?",
        ("fine-tuning SmolLM2 on the new policy", "re-indexing the new documents, then re-asking a fresh set of "
         "questions to check", "raising the temperature"),
        "b", "The facts live in the index, not the weights: rebuild it (seconds, no training), and a fresh question "
        "set tells you whether the answers followed."),
    Question(
        "12.q3", "int8 minus fp32 accuracy is -0.01 with 95% CI [-0.04, +0.02], margin 0.05. What may you claim?",
        ("int8 is exactly as accurate", "int8 is non-inferior within 5 points: the whole interval lies above -0.05",
         "int8 is worse"),
        "b", "Non-inferiority asks whether the interval's lower end clears -margin. It does not show equality, and a "
        "margin chosen after seeing the interval would make the claim meaningless."),
    Question(
        "12.q4", "An answer is right and cites passage [1]. Leaving [1] out, the model still answers right. What "
        "does that say about the explanation 'it came from [1]'?",
        ("nothing: citations are always faithful", "the passage did not cause this answer: the model knew or "
         "guessed it, so the citation is decoration", "the retriever failed"),
        "b", "A leave-one-out test turns an explanation into a checkable claim, as lesson 11's deletion curves do."),
]
