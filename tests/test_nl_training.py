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


def test_heldout_instructions_are_valid_and_independent_of_the_development_set():
    heldout = nl_training.load_instructions("07_automl/heldout_instructions.jsonl")
    development = {c["instruction"] for c in nl_training.load_instructions()}
    assert len(heldout) >= 40 and sum(c["expected"] is None for c in heldout) >= 5
    assert not development & {c["instruction"] for c in heldout}
    for case in heldout:
        if case["expected"] is not None:
            lowcode.validate_config(case["expected"])


def test_rules_only_uses_schema_defaults_and_refuses_without_a_dataset():
    assert nl_training.rules_only("wine, five minutes") == {**nl_training.RULE_DEFAULTS, "dataset": "wine",
                                                            "budget": "5min"}
    assert nl_training.rules_only("order a pizza")["dataset"] == "none"


def test_score_three_ways_with_a_scripted_model_and_its_control():
    cases = [{"instruction": "wine, 1 minute", "expected": {"dataset": "wine", "family": "any", "goal": "fast",
                                                           "max_params": None, "budget_s": 60}},
             {"instruction": "a poem", "expected": None}]

    class Reader(_Scripted):
        def choose(self, instruction):
            goal = "fast" if "wine" in instruction else "accuracy"
            return {"dataset": "none", "family": "any", "goal": goal, "max_params": "none", "budget": "1min"}

    rows = nl_training.score_three_ways(Reader(None), cases, control_seed=0)
    assert [r["rules"] for r in rows] == [False, True]      # the rules cannot know the goal 'fast'
    assert [r["both"] for r in rows] == [True, True] and rows[0]["model"] is False   # the model alone names no dataset
    assert rows[0]["control"] is False                      # the poem's answers do not say 'fast'
