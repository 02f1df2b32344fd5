"""EU AI Act classification from the intake questionnaire (pure)."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from charter.errors import InvalidInput
from charter.inventory.schemas import RiskTier
from charter.risk import classification
from charter.risk.classification import QUESTIONS

PROHIBITED = [q for q in QUESTIONS if q.section == "prohibited"]
ANNEX_III = [q for q in QUESTIONS if q.reference.startswith("Annex III")]
TRANSPARENCY = [q for q in QUESTIONS if q.section == "transparency"]


def answers(**yes: Any) -> dict[str, Any]:
    """Every required question answered false, then the ones given."""
    return {**{q.id: False for q in QUESTIONS if q.required}, **yes}


def references(result: Any) -> list[str]:
    return [r.reference for r in result.reasons]


def test_the_questionnaire_covers_the_act() -> None:
    read = classification.questionnaire()
    assert [q.reference for q in read.questions if q.section == "prohibited"] == [
        f"Art. 5(1)({letter})" for letter in "abcdefgh"
    ]
    assert [q.reference for q in ANNEX_III] == [f"Annex III, point {n}" for n in range(1, 9)]
    assert [q.reference for q in TRANSPARENCY][:4] == ["Art. 50(1)", "Art. 50(2)", "Art. 50(3)", "Art. 50(4)"]
    assert len({q.id for q in read.questions}) == len(read.questions)
    assert all(q.text.endswith(("?", ".")) for q in read.questions)


@pytest.mark.parametrize("question", PROHIBITED, ids=lambda q: q.id)
def test_each_prohibited_practice_is_prohibited_with_its_article(question: classification.Question) -> None:
    # Even with a high-risk use and a chatbot answered yes: a prohibited practice decides.
    result = classification.classify(answers(**{question.id: True, "hr_employment": True, "t_interacts": True}))
    assert result.category == "prohibited" and result.proposed_tier == "unacceptable"
    assert result.reasons[0].question == question.id and result.reasons[0].reference == question.reference
    assert result.reasons[0].text.startswith("Prohibited practice: ")
    assert any(o.reference == "Art. 5" for o in result.obligations)
    assert not any(o.reference == "Art. 9" for o in result.obligations)


@pytest.mark.parametrize("question", ANNEX_III, ids=lambda q: q.id)
def test_each_annex_iii_area_is_high_risk(question: classification.Question) -> None:
    result = classification.classify(answers(**{question.id: True}))
    assert result.category == "high_risk" and result.proposed_tier == "high"
    assert references(result) == [question.reference]
    assert "Art. 6(2) and Annex III" in result.reasons[0].text
    assert {"Art. 9", "Art. 10", "Art. 14", "Art. 15", "Art. 49"} <= {o.reference for o in result.obligations}


def test_a_safety_component_under_annex_i_is_high_risk() -> None:
    result = classification.classify(answers(hr_product_safety=True))
    assert result.category == "high_risk" and references(result) == ["Art. 6(1), Annex I"]


def test_the_article_6_3_derogation_lifts_high_risk_unless_the_system_profiles_people() -> None:
    lifted = classification.classify(answers(hr_education=True, hr_derogation=True, hr_profiling=False))
    assert lifted.category == "minimal"
    assert "Art. 6(3) derogation" in lifted.reasons[0].text and "Art. 6(4)" in lifted.reasons[0].text
    profiling = classification.classify(answers(hr_education=True, hr_derogation=True, hr_profiling=True))
    assert profiling.category == "high_risk"
    assert references(profiling) == ["Annex III, point 3", "Art. 6(3), last subparagraph"]
    # The derogation is for Annex III only: an Annex I safety component stays high-risk.
    product = classification.classify(answers(hr_product_safety=True, hr_derogation=True, hr_profiling=False))
    assert product.category == "high_risk"
    with pytest.raises(InvalidInput, match="unanswered: hr_profiling"):
        classification.classify(answers(hr_education=True, hr_derogation=True))


@pytest.mark.parametrize(
    ("question", "reference", "duty"),
    [
        ("t_interacts", "Art. 50(1)", "interacting with an AI system"),
        ("t_synthetic_content", "Art. 50(2)", "machine-readable"),
        ("t_emotion_biometric", "Art. 50(3)", "Inform the people exposed"),
        ("t_deepfake", "Art. 50(4)", "artificially generated or manipulated"),
        ("t_public_text", "Art. 50(4), second subparagraph", "text has been artificially generated"),
    ],
)
def test_chatbots_generators_and_deepfakes_are_limited_risk(question: str, reference: str, duty: str) -> None:
    result = classification.classify(answers(**{question: True}))
    assert result.category == "limited" and result.proposed_tier == "limited"
    assert references(result) == [reference]
    assert any(o.reference == reference and duty in o.text for o in result.obligations)


def test_transparency_duties_also_apply_to_a_high_risk_system() -> None:
    result = classification.classify(answers(hr_employment=True, t_interacts=True))
    assert result.category == "high_risk"
    assert {"Art. 9", "Art. 50(1)"} <= {o.reference for o in result.obligations}


def test_otherwise_minimal() -> None:
    result = classification.classify(answers())
    assert result.category == "minimal" and result.proposed_tier == "minimal" and not result.gpai
    assert [o.reference for o in result.obligations] == ["Art. 4"]
    assert "minimal risk" in result.reasons[0].text


def test_the_gpai_flag_and_systemic_risk() -> None:
    plain = classification.classify(answers(gpai=True))
    assert plain.gpai and not plain.gpai_systemic_risk and plain.category == "minimal"
    assert {"Art. 53(1)(a), Annex XI", "Art. 53(1)(d)", "Art. 54"} <= {o.reference for o in plain.obligations}
    big = classification.classify(answers(gpai=True, gpai_training_flops=3e25))
    assert big.gpai_systemic_risk and {"Art. 52", "Art. 55"} <= {o.reference for o in big.obligations}
    assert any("3e+25 FLOPs" in r.text and r.reference == "Art. 51(2)" for r in big.reasons)
    at_threshold = classification.classify(answers(gpai=True, gpai_training_flops=1e25))
    assert not at_threshold.gpai_systemic_risk  # "greater than" 10^25 (Art. 51(2))
    designated = classification.classify(answers(gpai=True, gpai_designated=True))
    assert designated.gpai_systemic_risk
    open_source = classification.classify(answers(gpai=True, gpai_open_source=True))
    assert {o.reference for o in open_source.obligations} == {"Art. 4", "Art. 53(1)(c)", "Art. 53(1)(d)"}
    open_big = classification.classify(answers(gpai=True, gpai_open_source=True, gpai_training_flops=2e25))
    assert "Art. 53(1)(a), Annex XI" in {o.reference for o in open_big.obligations}  # no exemption with systemic risk
    not_gpai = classification.classify(answers(gpai=False, gpai_training_flops=5e25))
    assert not not_gpai.gpai and not not_gpai.gpai_systemic_risk


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"nope": True}, "'nope' is not a question"),
        ({"p_manipulation": "yes"}, "p_manipulation: answer true or false"),
        ({"p_manipulation": 1}, "p_manipulation: answer true or false"),
        ({"gpai_training_flops": -1}, "answer a number of at least 0"),
        ({"gpai_training_flops": True}, "answer a number of at least 0"),
        ({"gpai_training_flops": float("inf")}, "answer a number of at least 0"),
        ({"t_deepfake": None}, "unanswered: t_deepfake"),
    ],
)
def test_bad_answers_are_refused(given: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        classification.classify(answers(**given))
    assert message in caught.value.message


def test_missing_answers_are_listed() -> None:
    with pytest.raises(InvalidInput) as caught:
        classification.classify({"p_manipulation": False})
    missing = caught.value.details["missing"]
    assert missing[0] == "p_vulnerabilities" and "gpai" in missing and "gpai_training_flops" not in missing


def test_the_proposed_tiers_are_the_inventory_tiers() -> None:
    assert set(classification.TIERS.values()) == set(get_args(RiskTier))
