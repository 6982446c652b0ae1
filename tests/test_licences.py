"""kit/licences.py: the licence table answers with the clause, and model cards go through huggingface_hub."""
import pytest

from kit import licences


def test_may_i_answers_with_licence_version_and_clause():
    answer = licences.may_i("llama-3", "train_other_model")
    assert answer.verdict == "no" and answer.allowed is False and "§1.b.v" in answer.clause
    assert "April 18, 2024" in answer.licence and "NO:" in str(answer)
    assert licences.may_i("llama-3.1", "train_other_model").verdict == "conditional"
    assert "700 million" in licences.may_i("llama-3", "large_platform").clause
    assert licences.may_i("falcon-180b-tii-1.0", "host_api").allowed is None
    assert licences.may_i("apache-2.0", "host_api").verdict == "yes"
    assert licences.may_i("mistral-mrl-0.1", "commercial").verdict == "ask"


def test_every_licence_answers_every_use_with_a_known_verdict():
    for key, row in licences.LICENCES.items():
        assert row["name"] and row["families"], key
        for use in licences.USES:
            verdict, clause = row[use]
            assert verdict in ("yes", "conditional", "no", "ask") and len(clause) > 20, (key, use)
    table = licences.licence_table()
    assert len(table) == len(licences.LICENCES) and set(licences.USES) <= set(table[0])


def test_bad_names_list_the_choices():
    with pytest.raises(ValueError, match="Unknown licence 'mit-ish'"):
        licences.may_i("mit-ish", "commercial")
    with pytest.raises(ValueError, match="Unknown use 'sell'"):
        licences.licence_allows("gemma", "sell")
    assert licences.licence_allows("Apache-2.0", "commercial")
    assert not licences.licence_allows("cc-by-nc-4.0", "commercial")


def test_model_card_round_trips_through_huggingface_hub(tmp_path):
    card = licences.model_card("m", "HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0", {"dates": 0.9}, "hi")
    (tmp_path / "README.md").write_text(card.content, encoding="utf-8")
    meta = licences.read_card(tmp_path / "README.md")
    assert meta.license == "apache-2.0" and meta.base_model.startswith("HuggingFaceTB")
    assert meta.eval_results[0].metric_type == "exact_match" and meta.eval_results[0].metric_value == 0.9
    with pytest.raises(ValueError, match="YAML block"):
        licences.read_card("# no metadata")
