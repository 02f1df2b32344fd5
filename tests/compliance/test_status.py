"""Each requirement outcome, decided by the pure status module over hand-made facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from charter.compliance import frameworks, status
from charter.compliance.frameworks import Known
from charter.compliance.schemas import FrameworkStatus, RequirementStatus
from charter.compliance.status import AttestationFact, RuleResult
from charter.evidence.models import KINDS
from charter.policies import cel
from tests.compliance.conftest import framework, requirement

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KNOWN = Known(
    evidence_kinds=frozenset(KINDS),
    policy_rules={"fair": frozenset({"assessed", "ratio"})},
    requirements=frozenset({"other:X1"}),
)
HIGH = "facts.model.risk_tier == 'high'"


def evidence(kind: str, *, age: float, passed: bool | None, ident: int = 7) -> dict[str, Any]:
    created = NOW - timedelta(days=age)
    return {kind: {"present": True, "id": ident, "created_at": created, "age_days": age, "passed": passed}}


def facts(tier: str | None = "high", **evidence_kinds: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {k: {"present": False} for k in KINDS}
    for value in evidence_kinds.values():
        found.update(value)
    return {"model": {"risk_tier": tier, "tags": []}, "evidence": found, "owners_trained": None}


def decide(
    *requirements: dict[str, Any],
    document: dict[str, Any] | None = None,
    rules: Mapping[str, Sequence[RuleResult]] | None = None,
    attestations: Mapping[str, Sequence[AttestationFact]] | None = None,
    applies: str = "true",
    now: datetime = NOW,
) -> FrameworkStatus:
    compiled = frameworks.validate(frameworks.parse_data(framework("fw", *requirements, applies=applies)), KNOWN)
    doc = document if document is not None else facts()
    return status.decide_framework(
        compiled,
        doc,
        cel.context_for("facts", doc),
        rules=rules or {},
        attestations=attestations or {},
        mapped=frameworks.links([compiled]) | {"fw:R1": {"other:X1"}, "other:X1": {"fw:R1"}},
        now=now,
    )


def only(result: FrameworkStatus) -> RequirementStatus:
    assert len(result.requirements) == 1
    return result.requirements[0]


def passing(rule: str = "ratio") -> dict[str, list[RuleResult]]:
    return {"fair": [RuleResult("fair", rule, "passed", "must be fair")]}


def test_satisfied_by_a_passing_policy_rule() -> None:
    result = only(decide(requirement(satisfied_by={"policy_rules": ["fair/ratio"]}), rules=passing()))
    assert result.status == "satisfied" and not result.waived
    assert [(f.kind, f.ref, f.outcome) for f in result.why] == [("policy_rule", "fair/ratio", "passed")]


def test_a_failed_rule_an_error_and_an_uninstalled_policy_do_not_satisfy() -> None:
    rules = {"fair": [RuleResult("fair", "ratio", "failed", "Disparate impact must be at least 0.8.")]}
    failed = decide(requirement(satisfied_by={"policy_rules": ["fair/ratio"]}), rules=rules)
    assert only(failed).status == "not_satisfied"
    assert [(g.kind, g.ref, g.detail) for g in failed.gaps] == [
        ("not_satisfied", "fair/ratio", "Disparate impact must be at least 0.8.")
    ]
    error = {"fair": [RuleResult("fair", "ratio", "error", "m", reason="reads 'x', which is missing")]}
    assert only(decide(requirement(satisfied_by={"policy_rules": ["fair"]}), rules=error)).why[0].outcome == "error"
    missing = only(decide(requirement(satisfied_by={"policy_rules": ["fair/ratio"]}), rules={}))
    assert missing.status == "not_satisfied" and missing.why[0].outcome == "not_installed"
    assert "charter policy pack install" in missing.why[0].detail


def test_a_waived_rule_is_an_open_gap_naming_the_waiver_and_its_expiry() -> None:
    until = NOW + timedelta(days=30)
    rules = {
        "fair": [
            RuleResult("fair", "assessed", "passed", "assess it"),
            RuleResult("fair", "ratio", "waived", "Disparate impact >= 0.8.", waiver=4, waiver_expires_at=until),
        ]
    }
    result = decide(requirement(satisfied_by={"policy_rules": ["fair"]}), rules=rules)
    req = only(result)
    assert req.status == "not_satisfied" and req.waived
    assert [f.outcome for f in req.why] == ["passed", "waived"]
    (gap,) = result.gaps
    assert (gap.kind, gap.ref, gap.waiver, gap.waiver_expires_at) == ("waived", "fair/ratio", 4, until)
    assert "waiver 4 until 2026-12-26" in gap.detail


def test_evidence_fresh_and_passing_satisfies_stale_expires_failed_or_missing_does_not() -> None:
    spec = requirement(satisfied_by={"evidence": [{"kind": "fairness", "max_age_days": 90, "must_pass": True}]})
    fresh = only(decide(spec, document=facts(e=evidence("fairness", age=10, passed=True))))
    assert fresh.status == "satisfied"
    assert (fresh.why[0].evidence, fresh.why[0].age_days, fresh.why[0].passed) == (7, 10, True)
    stale = decide(spec, document=facts(e=evidence("fairness", age=91, passed=True)))
    assert only(stale).status == "expired" and stale.gaps[0].kind == "expired"
    assert "91 days old; at most 90" in stale.gaps[0].detail
    failed = only(decide(spec, document=facts(e=evidence("fairness", age=91, passed=False))))
    assert failed.status == "not_satisfied" and failed.why[0].outcome == "failed"  # a failure outweighs age
    unjudged = only(decide(spec, document=facts(e=evidence("fairness", age=1, passed=None))))
    assert unjudged.status == "not_satisfied" and "no pass/fail judgement" in unjudged.why[0].detail
    missing = only(decide(spec))
    assert missing.status == "not_satisfied" and missing.why[0].outcome == "missing"
    lenient = requirement(satisfied_by={"evidence": [{"kind": "fairness"}]})
    assert only(decide(lenient, document=facts(e=evidence("fairness", age=900, passed=False)))).status == "satisfied"


def test_any_of_several_evidence_kinds_the_latest_counts() -> None:
    spec = requirement(satisfied_by={"evidence": [{"kind": ["fria", "dpia"], "max_age_days": 30}]})
    document = facts(a=evidence("dpia", age=40, passed=True, ident=1), b=evidence("fria", age=5, passed=None, ident=2))
    result = only(decide(spec, document=document))
    assert result.status == "satisfied" and (result.why[0].ref, result.why[0].evidence) == ("fria", 2)


def test_not_applicable_by_its_condition_or_its_framework() -> None:
    spec = requirement(applies=HIGH, satisfied_by={"policy_rules": ["fair/ratio"]})
    minimal = only(decide(spec, document=facts("minimal")))
    assert minimal.status == "not_applicable" and minimal.why[0].kind == "applicability"
    assert only(decide(spec, rules=passing())).status == "satisfied"  # high risk: it applies
    whole = decide(requirement(), applies="facts.owners_trained == true")
    assert not whole.applies and only(whole).status == "not_applicable" and whole.gaps == []
    assert whole.counts == {"satisfied": 0, "attested": 0, "not_satisfied": 0, "expired": 0, "not_applicable": 1}


def test_a_condition_that_cannot_be_evaluated_applies() -> None:
    spec = requirement(applies="facts.model.risk_tier.startsWith('h')", satisfied_by={"policy_rules": ["fair/ratio"]})
    result = only(decide(spec, document=facts(None), rules=passing()))
    assert result.status == "satisfied"
    assert result.why[0].kind == "applicability" and result.why[0].outcome == "error"


def test_attested_and_expired_attestations() -> None:
    spec = requirement()  # nothing automated: an attestation is needed
    none = decide(spec)
    assert only(none).status == "not_satisfied" and none.gaps[0].ref == "attestation"
    current = {"fw:R1": [AttestationFact(3, "fw", "R1", NOW - timedelta(days=1), NOW + timedelta(days=10))]}
    attested = only(decide(spec, attestations=current))
    assert attested.status == "attested" and attested.why[0].attestation == 3
    later = decide(spec, attestations=current, now=NOW + timedelta(days=11))
    assert only(later).status == "expired" and later.gaps[0].kind == "expired"
    # A requirement's max age shortens an attestation's own validity.
    aged = requirement(satisfied_by={"attestation": {"max_age_days": 5}})
    short = only(decide(aged, attestations=current, now=NOW + timedelta(days=5)))
    assert short.status == "expired" and short.why[0].valid_until == NOW + timedelta(days=4)


def test_an_attestation_counts_for_the_requirements_mapped_to_it() -> None:
    elsewhere = {"other:X1": [AttestationFact(9, "other", "X1", NOW, NOW + timedelta(days=30))]}
    result = only(decide(requirement(), attestations=elsewhere))
    assert result.status == "attested" and (result.why[0].attestation, result.why[0].via) == (9, "other:X1")
    unrelated = {"other:X2": [AttestationFact(9, "other", "X2", NOW, NOW + timedelta(days=30))]}
    assert only(decide(requirement(), attestations=unrelated)).status == "not_satisfied"


def test_checks_and_required_attestations_together() -> None:
    spec = requirement(
        satisfied_by={
            "checks": [{"id": "tier", "expr": HIGH, "message": "Must be high."}],
            "attestation": {"required": True},
        }
    )
    current = {"fw:R1": [AttestationFact(3, "fw", "R1", NOW, NOW + timedelta(days=10))]}
    assert only(decide(spec, attestations=current)).status == "satisfied"  # automated and attested
    no_attestation = only(decide(spec))
    assert no_attestation.status == "not_satisfied" and [f.outcome for f in no_attestation.why] == ["passed", "missing"]
    failed = only(decide(spec, document=facts("minimal"), attestations=current))
    assert failed.status == "not_satisfied" and failed.why[0].detail == "Must be high."
    optional = requirement(
        satisfied_by={"checks": [{"id": "tier", "expr": HIGH, "message": "m"}], "attestation": {"required": False}}
    )
    assert [f.kind for f in only(decide(optional)).why] == ["check"]  # an optional one absent is not a gap


def test_in_force_follows_applies_from() -> None:
    before = only(decide(requirement(applies_from="2027-12-02"), attestations={}))
    after = only(decide(requirement(applies_from="2025-02-02")))
    assert (before.in_force, after.in_force) == (False, True)
    assert before.status == after.status == "not_satisfied"  # the date informs; it does not excuse
