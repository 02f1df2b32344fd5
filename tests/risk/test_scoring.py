"""Risk scores with their reasons on fixed facts documents (pure: no database), and rule validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from charter.errors import InvalidInput
from charter.risk import scoring
from charter.risk.schemas import FACTORS, ScoreResult
from tests.risk.documents import clean, risky


def default_rules() -> scoring.CompiledRules:
    return scoring.validate(scoring.default_document())


def by_factor(result: ScoreResult) -> dict[str, Any]:
    return {f.factor: f for f in result.factors}


def fired(result: ScoreResult) -> dict[str, list[str]]:
    return {f.factor: [r.rule for r in f.reasons] for f in result.factors}


def minimal_rules(**changes: Any) -> dict[str, Any]:
    """A one-rule-per-factor document for exercising the arithmetic."""
    document: dict[str, Any] = {
        "title": "Test rules",
        "factors": {f: {"title": f, "base": 0.0, "rules": []} for f in FACTORS},
        "weights": dict.fromkeys(FACTORS, 1.0),
        "thresholds": {"medium": 0.25, "high": 0.5, "critical": 0.75},
        "overrides": [],
    }
    document.update(changes)
    return document


def test_a_clean_version_scores_low_with_its_mitigations_as_reasons() -> None:
    result = scoring.score(default_rules(), clean())
    scores = {f.factor: f.score for f in result.factors}
    assert scores == {
        "data_privacy": 0.1,
        "model_bias": 0.05,
        "security": 0.1,
        "compliance": 0.1,
        "transparency": 0.1,
        "robustness": 0.1,
    }
    # 0.2 x (0.1 + 0.05 + 0.1 + 0.1) + 0.1 x (0.1 + 0.1)
    assert result.score == 0.09
    assert (result.banded_rating, result.rating, result.overrides) == ("low", "low", [])
    assert fired(result) == {
        "data_privacy": [],
        "model_bias": ["fairness-passed"],
        "security": [],
        "compliance": [],
        "transparency": ["card-complete"],
        "robustness": ["evaluation-passed"],
    }
    bias = by_factor(result)["model_bias"]
    (reason,) = bias.reasons
    assert (reason.add, reason.status, reason.applied) == (-0.15, "fired", True)
    assert reason.facts == {"facts.evidence.fairness.passed": True}
    assert [(e.kind, e.id) for e in reason.evidence] == [("fairness", 11)]
    assert (bias.base, bias.weight, bias.contribution) == (0.2, 0.2, 0.01)


def test_a_risky_version_scores_critical_with_every_rule_that_fired() -> None:
    result = scoring.score(default_rules(), risky())
    factors = by_factor(result)
    assert {f: s.score for f, s in factors.items()} == {
        "data_privacy": 1.0,  # 0.1 + 0.3 + 0.3 + 0.2 + 0.1, clamped
        "model_bias": 1.0,  # 0.2 + 0.2 + 0.3 + 0.2 + 0.1
        "security": 1.0,  # 0.1 + 0.6 + 0.15 + 0.2, clamped
        "compliance": 0.9,  # 0.1 + 0.2 + 0.2 + 0.2 + 0.2
        "transparency": 0.65,  # 0.2 + 0.3 + 0.1 + 0.05
        "robustness": 0.8,  # 0.2 + 0.2 + 0.2 + 0.2
    }
    assert result.score == 0.925  # 0.2 x 3.9 + 0.1 x 1.45
    assert (result.banded_rating, result.rating) == ("critical", "critical")
    assert [o.id for o in result.overrides] == ["factor-critical", "factor-high"]
    assert result.overrides[0].detail == "data_privacy 1, model_bias 1, security 1, compliance 0.9 >= 0.9"
    assert fired(result)["data_privacy"] == [
        "personal-data",
        "special-category",
        "no-legal-basis",
        "unlimited-retention",
    ]
    assert fired(result)["model_bias"] == [
        "decisions-about-people",
        "fairness-failed",
        "disparate-impact",
        "fairness-stale",
    ]
    assert fired(result)["compliance"] == [
        "high-risk",
        "no-impact-assessment",
        "no-legal-basis",
        "unapproved-in-production",
    ]
    disparate = next(r for r in factors["model_bias"].reasons if r.rule == "disparate-impact")
    assert disparate.facts == {"facts.evidence.fairness.disparate_impact": 0.6}
    assert disparate.reason == "Disparate impact below the four-fifths rule (0.8)."
    stale = next(r for r in factors["model_bias"].reasons if r.rule == "fairness-stale")
    assert stale.facts == {"facts.evidence.fairness.age_days": 400.0, "facts.evidence.fairness.present": True}
    production = next(r for r in factors["compliance"].reasons if r.rule == "unapproved-in-production")
    assert production.facts == {"facts.approvals.count": 0, "facts.version.current_stage": "production"}
    retention = next(r for r in factors["data_privacy"].reasons if r.rule == "unlimited-retention")
    assert retention.facts["facts.datasets"][0]["retention_days"] is None
    assert sum(f.contribution for f in result.factors) == pytest.approx(result.score, abs=1e-4)


def test_one_fact_moves_one_factor_by_the_rule_that_reads_it() -> None:
    doc = clean()
    doc["artifacts"]["unsafe"] = 1
    result = scoring.score(default_rules(), doc)
    security = by_factor(result)["security"]
    assert security.score == 0.7 and [r.rule for r in security.reasons] == ["unsafe-artifacts"]
    assert security.reasons[0].facts == {"facts.artifacts.unsafe": 1}
    # 0.09 + 0.2 x 0.6; one factor at 0.7 raises the rating to high whatever the mean.
    assert (result.score, result.banded_rating, result.rating) == (0.21, "low", "high")
    assert [o.id for o in result.overrides] == ["factor-high"]


def test_an_override_condition_over_the_facts_raises_the_rating() -> None:
    doc = clean()
    doc["model"]["risk_tier"] = "unacceptable"
    result = scoring.score(default_rules(), doc)
    assert by_factor(result)["compliance"].score == 0.8
    override = next(o for o in result.overrides if o.id == "prohibited-practice")
    assert override.facts == {"facts.model.risk_tier": "unacceptable"}
    assert result.rating == "critical" and result.banded_rating == "low"


def test_weights_and_thresholds_come_from_the_document() -> None:
    document = minimal_rules(
        weights={**dict.fromkeys(FACTORS, 0.0), "security": 3.0, "data_privacy": 1.0},
    )
    document["factors"]["security"]["rules"] = [
        {"id": "unsafe", "when": "facts.artifacts.unsafe > 0", "add": 0.8, "reason": "Unsafe file."}
    ]
    document["factors"]["data_privacy"]["base"] = 0.4
    rules = scoring.validate(scoring.parse_data(document))
    doc = clean()
    doc["artifacts"]["unsafe"] = 2
    result = scoring.score(rules, doc)
    # (3 x 0.8 + 1 x 0.4) / 4
    assert result.score == 0.7 and result.rating == "high"
    assert by_factor(result)["security"].contribution == 0.6
    assert by_factor(result)["model_bias"].contribution == 0.0


def test_an_undecidable_condition_never_lowers_a_score() -> None:
    document = minimal_rules()
    document["factors"]["model_bias"] = {
        "title": "Bias",
        "base": 0.5,
        "rules": [
            {"id": "low-ratio", "when": "facts.evidence.fairness.disparate_impact < 0.8", "add": 0.2, "reason": "Low."},
            {"id": "fair", "when": "facts.evidence.fairness.disparate_impact >= 0.8", "add": -0.3, "reason": "Fair."},
        ],
    }
    rules = scoring.validate(scoring.parse_data(document))
    doc = clean()
    doc["evidence"]["fairness"]["disparate_impact"] = None
    bias = by_factor(scoring.score(rules, doc))["model_bias"]
    assert bias.score == 0.7
    assert [(r.rule, r.status, r.applied) for r in bias.reasons] == [
        ("low-ratio", "unknown", True),
        ("fair", "unknown", False),
    ]
    assert bias.reasons[0].error is not None
    doc["evidence"]["fairness"]["disparate_impact"] = 0.95
    assert by_factor(scoring.score(rules, doc))["model_bias"].score == 0.2


@pytest.mark.parametrize(
    ("value", "rating"),
    [
        (0.0, "low"),
        (0.2999, "low"),
        (0.3, "medium"),
        (0.4999, "medium"),
        (0.5, "high"),
        (0.7, "critical"),
        (1.0, "critical"),
    ],
)
def test_bands(value: float, rating: str) -> None:
    assert scoring.band(value, {"medium": 0.3, "high": 0.5, "critical": 0.7}) == rating


def test_the_register_matrix_bands_every_cell() -> None:
    expected = {1: "low", 2: "low", 3: "low", 4: "low", 5: "medium", 6: "medium", 8: "medium", 9: "medium"}
    expected |= {10: "high", 12: "high", 15: "high", 16: "high", 20: "critical", 25: "critical"}
    for likelihood in range(1, 6):
        for impact in range(1, 6):
            assert scoring.matrix_rating(likelihood, impact) == expected[likelihood * impact]
    with pytest.raises(ValueError, match="1 to 5"):
        scoring.matrix_rating(0, 3)


# -- validation -------------------------------------------------------------------------------------


def errors_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(InvalidInput) as caught:
        scoring.validate(scoring.parse_data(document))
    return list(caught.value.details["errors"])


def test_a_misspelt_fact_is_refused_with_its_field_and_position() -> None:
    document = minimal_rules()
    document["factors"]["security"]["rules"] = [
        {"id": "ok", "when": "facts.artifacts.unsafe > 0", "add": 0.5, "reason": "Unsafe."},
        {"id": "typo", "when": "facts.artifacts.count > 0 &&\n  facts.signature.signd", "add": 0.1, "reason": "x"},
    ]
    document["overrides"] = [{"id": "bad", "when": "facts.model.tier == 'high'", "rating": "high", "reason": "x"}]
    errors = errors_of(document)
    assert errors[0]["field"] == "factors.security.rules[1] (typo).when"
    assert (errors[0]["line"], errors[0]["column"]) == (2, 19)
    assert "unknown fact facts.signature.signd" in errors[0]["message"]
    assert errors[1]["field"] == "overrides[0] (bad).when"
    assert (errors[1]["line"], errors[1]["column"]) == (1, 13)


@pytest.mark.parametrize(
    ("when", "message", "column"),
    [
        ("facts.artifacts.unsafe >", "", 25),
        ("facts.artifacts.unsafe", "must be true or false", 1),
        ("facts.model.name > 1", "`>` cannot order", 18),
    ],
)
def test_conditions_must_parse_and_be_bool(when: str, message: str, column: int) -> None:
    document = minimal_rules()
    document["factors"]["robustness"]["rules"] = [{"id": "r", "when": when, "add": 0.1, "reason": "x"}]
    (error,) = errors_of(document)
    assert error["column"] == column and message in error["message"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"factors": {}}, "every factor must be given; missing: data_privacy"),
        ({"weights": dict.fromkeys(FACTORS, 0.0)}, "at least one weight must be above 0"),
        ({"thresholds": {"medium": 0.5, "high": 0.4, "critical": 0.9}}, "medium < high < critical"),
        ({"overrides": [{"id": "o", "rating": "high", "reason": "x"}]}, "either `factor` and `at_least`, or `when`"),
        ({"overrides": [{"id": "o", "factor": "any", "rating": "high", "reason": "x"}]}, "needs both"),
        ({"title": ""}, "title"),
    ],
)
def test_malformed_documents_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match="not valid scoring rules") as caught:
        scoring.parse_data(minimal_rules(**change))
    assert message in caught.value.message


def test_yaml_errors_name_the_line() -> None:
    with pytest.raises(InvalidInput, match="not valid YAML or JSON at line 3, column 1"):
        scoring.parse_text("title: x\nfactors: [unclosed\n")


def test_the_shipped_default_parses_and_its_hash_is_stable() -> None:
    document = scoring.default_document()
    assert list(document.factors) == list(FACTORS)
    assert scoring.sha256(document) == scoring.sha256(scoring.parse_data(scoring.canonical(document)))
    changed = scoring.parse_data({**scoring.canonical(document), "title": "Other"})
    assert scoring.sha256(changed) != scoring.sha256(document)


# -- the facts digest -------------------------------------------------------------------------------


def test_the_digest_follows_the_facts_read_and_ignores_the_clock() -> None:
    rules = default_rules()
    base = scoring.facts_digest(rules, clean())
    later = clean()
    later["now"] = later["now"].replace(year=2027)
    later["version"]["age_days"] += 365
    later["evidence"]["fairness"]["age_days"] = 375.0  # only the clock moved: the rule reading it will see it
    later["evidence"]["risk_assessment"] = {**later["evidence"]["risk_assessment"], "present": True, "id": 99}
    later["version"]["framework"] = "xgboost"  # no rule reads it
    assert scoring.facts_digest(rules, later) == base
    changed = copy.deepcopy(clean())
    changed["evidence"]["fairness"]["passed"] = False
    assert scoring.facts_digest(rules, changed) != base
    promoted = clean()
    promoted["version"]["current_stage"] = "production"
    assert scoring.facts_digest(rules, promoted) != base
