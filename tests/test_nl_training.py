"""Unit tests for kit/nl_training.py: instruction -> validated search config, grounding, refusals."""
import pytest

from kit import lowcode, nl_training


class _Scripted(nl_training.InstructionParser):
    """The parser's validation with a scripted 'model', so the test needs no LLM."""

    def __init__(self, answers):
        self.answers = answers

    def choose(self, instruction):
        return self.answers


def test_parse_maps_surface_forms_and_refuses_clearly():
    good = {"dataset": "mnist", "family": "cnn", "goal": "small", "max_params": "10k", "budget": "2min"}
    assert _Scripted(good).parse("small cnn for mnist").as_dict() == {
        "dataset": "mnist5k", "family": "cnn", "goal": "small", "max_params": 10000, "budget_s": 120}
    with pytest.raises(nl_training.UnmappableInstruction, match="names none of the course's datasets"):
        _Scripted({**good, "dataset": "none"}).parse("Write me a poem")
    with pytest.raises(nl_training.UnmappableInstruction, match="not a valid search: empty search space"):
        _Scripted({**good, "dataset": "wine"}).parse("cnn for wine")
    with pytest.raises(nl_training.UnmappableInstruction, match="empty"):
        _Scripted(good).parse("   ")


def test_parse_accuracy_scores_refusals_and_keys():
    good = {"dataset": "wine", "family": "any", "goal": "accuracy", "max_params": "none", "budget": "1min"}
    cases = [{"instruction": "wine, one minute", "expected": {"dataset": "wine", "budget_s": 60}},
             {"instruction": "wine, 5 minutes", "expected": {"dataset": "wine", "budget_s": 300}},
             {"instruction": "a poem", "expected": None}]
    acc, rows = nl_training.parse_accuracy(_Scripted(good), cases)
    assert acc == pytest.approx(2 / 3)                   # '5 minutes' is grounded; the poem is not refused
    assert rows[1]["correct"] and not rows[1]["model_only_correct"] and not rows[2]["correct"]


def test_explicit_answers_reads_names_and_numbers():
    found = nl_training.explicit_answers("find a small model for the digits, under 10k parameters, in two minutes")
    assert found == {"dataset": "digits", "max_params": "10k", "budget": "2min", "goal": "small"}
    assert nl_training.explicit_answers("naive bayes on the polarity sentences, 30 seconds") == {
        "dataset": "polarity", "family": "nb", "budget": "30s"}
    assert nl_training.explicit_answers("Write me a poem about autumn leaves") == {}


def test_course_instructions_file():
    cases = nl_training.load_instructions()
    assert len(cases) >= 15 and any(c["expected"] is None for c in cases)
    for case in cases:
        if case["expected"] is not None:
            lowcode.validate_config(case["expected"])
