"""The pure parts: the lifecycle's rules and deciding one policy over one facts document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from charter.errors import InvalidInput
from charter.policies import engine, lifecycle
from charter.policies.documents import pack_documents
from charter.policies.schemas import PolicyDocument

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def document(match: str = "true", *rules: tuple[str, str]) -> PolicyDocument:
    return PolicyDocument.model_validate(
        {
            "id": "p",
            "title": "P",
            "owner": "o",
            "rationale": {"text": "why"},
            "match": match,
            "rules": [{"id": rid, "expr": expr, "message": f"{rid} failed"} for rid, expr in rules],
        }
    )


def decide(
    doc: PolicyDocument,
    facts: dict[str, Any],
    waivers: dict[str, list[engine.Waiver]] | None = None,
    now: datetime = T0,
    state: lifecycle.State = "enforce",
) -> Any:
    policy = engine.validate(doc, 1)
    ctx = engine.context(facts, policy.paths)
    return engine.decide(policy, ctx, state=state, waivers=waivers or {}, now=now)


FACTS = {"model": {"risk_tier": "high"}, "approvals": {"count": 1}, "version": {"metrics": {}}}


def test_a_policy_that_does_not_match_is_not_applicable() -> None:
    outcome = decide(document("facts.model.risk_tier == 'low'", ("r", "false")), FACTS)
    assert (outcome.applies, outcome.outcome, outcome.rules) == (False, "not_applicable", [])


def test_rules_pass_fail_and_error_and_an_error_fails_closed() -> None:
    doc = document(
        "true",
        ("passes", "facts.approvals.count >= 1"),
        ("fails", "facts.approvals.count >= 2"),
        ("breaks", "facts.version.metrics.auc > 0.5"),
    )
    outcome = decide(doc, FACTS)
    assert [(r.rule, r.status) for r in outcome.rules] == [
        ("passes", "passed"),
        ("fails", "failed"),
        ("breaks", "error"),
    ]
    assert outcome.outcome == "error"
    assert outcome.rules[2].reason == "reads 'auc', which is missing"


def test_a_match_condition_that_cannot_be_evaluated_applies_the_policy_with_every_rule_in_error() -> None:
    outcome = decide(document("10 / (facts.approvals.count - 1) > 0", ("r", "true")), FACTS)
    assert outcome.applies and outcome.outcome == "error"
    assert outcome.reason == "the match condition could not be evaluated: divides by zero"
    assert outcome.rules[0].status == "error"


def test_waivers_excuse_failures_until_they_expire_or_are_revoked() -> None:
    doc = document("true", ("two", "facts.approvals.count >= 2"), ("one", "facts.approvals.count >= 1"))
    waiver = engine.Waiver(7, "p", "two", expires_at=T0 + timedelta(days=30))
    during = decide(doc, FACTS, {"two": [waiver]}, now=T0 + timedelta(days=29))
    assert [(r.status, r.waiver) for r in during.rules] == [("waived", 7), ("passed", None)]
    assert during.outcome == "passed"
    after = decide(doc, FACTS, {"two": [waiver]}, now=T0 + timedelta(days=30))
    assert after.rules[0].status == "failed" and after.rules[0].expired_waiver == waiver.expires_at
    revoked = engine.Waiver(8, "p", "two", expires_at=T0 + timedelta(days=30), revoked=True)
    assert decide(doc, FACTS, {"two": [revoked]}).rules[0].status == "failed"
    # A waiver for one rule never excuses another.
    assert decide(doc, FACTS, {"one": [waiver]}).rules[0].status == "failed"


def test_validation_lists_every_bad_expression_with_its_place() -> None:
    doc = document("facts.model.risk_tir == 'high'", ("ok", "true"), ("bad", "facts.approvals.count + 0.5 > 1.0"))
    with pytest.raises(InvalidInput) as caught:
        engine.validate(doc)
    errors = caught.value.details["errors"]
    assert [(e["field"], e["line"], e["column"]) for e in errors] == [("match", 1, 13), ("rules[1] (bad)", 1, 23)]


def test_the_starter_pack_loads_and_every_policy_validates() -> None:
    docs = pack_documents()
    assert len(docs) == 6
    ids = [d.id for d in docs]
    assert len(set(ids)) == len(ids)
    for doc in docs:
        compiled = engine.validate(doc)
        assert doc.rationale.references, doc.id
        assert compiled.rules
    fairness = next(d for d in docs if d.id == "high-risk-fairness")
    assert {r.id for r in fairness.rules} == {"fairness-assessed-recently", "disparate-impact"}


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("draft", "enforce", True),
        ("draft", "review", False),
        ("audit", "warn", True),
        ("enforce", "review", True),
        ("review", "enforce", True),
        ("retired", "enforce", False),
        ("retired", "draft", True),
    ],
)
def test_the_lifecycle_allows_the_cycle_and_its_ways_back(source: str, target: str, allowed: bool) -> None:
    assert lifecycle.can_move(source, target) is allowed


def test_an_enforced_policy_is_in_review_once_its_review_is_due() -> None:
    due = T0 + timedelta(days=365)
    assert lifecycle.effective_state("enforce", due, due - timedelta(seconds=1)) == "enforce"
    assert lifecycle.effective_state("enforce", due, due) == "review"
    assert lifecycle.effective_state("warn", due, due + timedelta(days=1)) == "warn"
    assert lifecycle.BLOCKING == {"enforce", "review"}


def test_four_eyes_refuses_the_proposer_and_the_author() -> None:
    assert "proposed" in (lifecycle.four_eyes_refusal("user:a", proposed_by="user:a", author="user:b") or "")
    assert "wrote" in (lifecycle.four_eyes_refusal("user:b", proposed_by="user:a", author="user:b") or "")
    assert lifecycle.four_eyes_refusal("user:c", proposed_by="user:a", author="user:b") is None
