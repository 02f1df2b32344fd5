"""Decide each requirement of a framework for one model version. Pure: no database, no web.

A requirement that does not apply (its ``applies``, or its framework's, is false) is
``not_applicable``. Otherwise everything its ``satisfied_by`` lists is looked at, each giving a
:class:`~charter.compliance.schemas.Finding`:

- a policy rule: evaluated over the version's facts with the model's waivers, the policy's own
  match condition aside (where the requirement applies is the requirement's business); a failure
  excused by a waiver is ``waived``, which does **not** satisfy the requirement: it is an open gap
  naming the waiver and its expiry;
- evidence: the latest of the kind on the version; ``missing``, ``failed`` (``must_pass`` and it did
  not pass), ``stale`` (older than ``max_age_days``) or ``passed``;
- a check: a CEL condition over the facts, ``passed``, ``failed`` or ``error``;
- an attestation: for this model or the whole organisation, for this requirement or one mapped to
  it (``maps_to``, either way); ``current``, ``expired`` or ``missing``.

Then: any failure (failed, error, missing, not installed, waived) -> ``not_satisfied``; else any
lapse (stale evidence, expired attestation) -> ``expired``; else ``attested`` when an attestation is
all the requirement asks for, ``satisfied`` otherwise. An expression that cannot be evaluated
fails closed: an applicability condition in error counts as applying.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import cel as _cel

from charter.compliance.frameworks import CompiledFramework, CompiledRequirement, split_rule
from charter.compliance.schemas import (
    AttestationRequirement,
    EvidenceRequirement,
    Finding,
    FrameworkStatus,
    Gap,
    GapKind,
    RequirementStatus,
    RequirementStatusName,
)
from charter.policies import cel

__all__ = ["STATUSES", "AttestationFact", "RuleResult", "decide_framework"]

STATUSES: tuple[RequirementStatusName, ...] = ("satisfied", "attested", "not_satisfied", "expired", "not_applicable")
_FAILURES = frozenset({"failed", "error", "missing", "not_installed", "waived"})
_LAPSES = frozenset({"stale", "expired"})


@dataclass(frozen=True)
class RuleResult:
    """A policy rule evaluated on the version, waivers considered."""

    policy: str
    rule: str
    status: Literal["passed", "failed", "waived", "error"]
    message: str
    reason: str | None = None
    waiver: int | None = None
    waiver_expires_at: datetime | None = None
    expired_waiver: datetime | None = None


@dataclass(frozen=True)
class AttestationFact:
    id: int
    framework: str
    requirement: str
    created_at: datetime
    valid_until: datetime

    def expires(self, spec: AttestationRequirement) -> datetime:
        """When it stops counting for a requirement: its own date, or sooner by the requirement's max age."""
        if spec.max_age_days is None:
            return self.valid_until
        return min(self.valid_until, self.created_at + timedelta(days=spec.max_age_days))


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def _rule_findings(ref: str, rules: Mapping[str, Sequence[RuleResult]]) -> list[Finding]:
    policy, rule = split_rule(ref)
    results = rules.get(policy)
    if results is None:
        detail = f"policy {policy!r} is not installed (`charter policy pack install` for the starter pack)"
        return [Finding(kind="policy_rule", ref=ref, outcome="not_installed", detail=detail)]
    chosen = [r for r in results if rule is None or r.rule == rule]
    if not chosen:
        detail = f"policy {policy!r} has no rule {rule!r} any more"
        return [Finding(kind="policy_rule", ref=ref, outcome="not_installed", detail=detail)]
    out = []
    for result in chosen:
        name = f"{result.policy}/{result.rule}"
        if result.status == "passed":
            out.append(Finding(kind="policy_rule", ref=name, outcome="passed", detail="passes"))
        elif result.status == "waived":
            assert result.waiver_expires_at is not None
            detail = (
                f"fails ({result.message.strip()}); excused by waiver {result.waiver} until "
                f"{_when(result.waiver_expires_at)}: an open gap until it passes on its own"
            )
            out.append(
                Finding(
                    kind="policy_rule",
                    ref=name,
                    outcome="waived",
                    detail=detail,
                    waiver=result.waiver,
                    waiver_expires_at=result.waiver_expires_at,
                )
            )
        else:
            detail = result.message.strip()
            if result.reason:
                detail += f" (could not be evaluated: {result.reason})"
            if result.expired_waiver is not None:
                detail += f" (its waiver expired {_when(result.expired_waiver)})"
            out.append(Finding(kind="policy_rule", ref=name, outcome=result.status, detail=detail))
    return out


def _evidence_finding(spec: EvidenceRequirement, evidence: Mapping[str, Any]) -> Finding:
    kinds = spec.kinds
    ref = " or ".join(kinds)
    present = [evidence[k] | {"kind": k} for k in kinds if (evidence.get(k) or {}).get("present")]
    if not present:
        return Finding(kind="evidence", ref=ref, outcome="missing", detail=f"no {ref} evidence on this version")
    latest = max(present, key=lambda e: e["created_at"])
    base = {
        "kind": "evidence",
        "ref": latest["kind"],
        "evidence": latest["id"],
        "age_days": latest["age_days"],
        "passed": latest["passed"],
        "created_at": latest["created_at"],
    }
    what = f"{latest['kind']} evidence {latest['id']} ({_when(latest['created_at'])})"
    if spec.must_pass and latest["passed"] is not True:
        why = "did not pass" if latest["passed"] is False else "has no pass/fail judgement"
        return Finding(**base, outcome="failed", detail=f"{what} {why}; it must pass")
    if spec.max_age_days is not None and latest["age_days"] > spec.max_age_days:
        detail = f"{what} is {latest['age_days']:.0f} days old; at most {spec.max_age_days} are accepted"
        return Finding(**base, outcome="stale", detail=detail)
    return Finding(**base, outcome="passed", detail=f"{what}" + (" passed" if latest["passed"] else " recorded"))


def _attestation_finding(
    key: str,
    spec: AttestationRequirement,
    attestations: Mapping[str, Sequence[AttestationFact]],
    mapped: Mapping[str, set[str]],
    now: datetime,
) -> Finding | None:
    candidates: list[tuple[AttestationFact, str | None]] = [(a, None) for a in attestations.get(key, ())]
    for other in sorted(mapped.get(key, ())):
        candidates += [(a, other) for a in attestations.get(other, ())]
    if not candidates:
        if not spec.required:
            return None
        return Finding(kind="attestation", ref="attestation", outcome="missing", detail="no attestation")
    best, via = max(candidates, key=lambda c: c[0].expires(spec))
    until = best.expires(spec)
    source = f" (made for {via})" if via else ""
    if until > now:
        detail = f"attestation {best.id}{source} is valid until {_when(until)}"
        outcome: Literal["current", "expired"] = "current"
    elif not spec.required:
        return None
    else:
        detail = f"attestation {best.id}{source} expired {_when(until)}"
        outcome = "expired"
    return Finding(
        kind="attestation",
        ref="attestation",
        outcome=outcome,
        detail=detail,
        attestation=best.id,
        valid_until=until,
        created_at=best.created_at,
        via=via,
    )


def _requirement(
    framework: CompiledFramework,
    requirement: CompiledRequirement,
    ctx: _cel.Context,
    evidence: Mapping[str, Any],
    framework_applies: cel.Outcome,
    *,
    rules: Mapping[str, Sequence[RuleResult]],
    attestations: Mapping[str, Sequence[AttestationFact]],
    mapped: Mapping[str, set[str]],
    now: datetime,
) -> RequirementStatus:
    spec = requirement.spec
    key = f"{framework.id}:{spec.id}"
    why: list[Finding] = []
    applies = framework_applies if framework_applies is not True else cel.evaluate(requirement.applies, ctx)
    if applies is False:
        condition = framework.applies.source if framework_applies is False else requirement.applies.source
        why.append(
            Finding(kind="applicability", ref="applies", outcome="not_applicable", detail=f"not true: {condition}")
        )
    elif isinstance(applies, cel.EvalError):
        why.append(
            Finding(
                kind="applicability",
                ref="applies",
                outcome="error",
                detail=f"taken to apply: the condition could not be evaluated ({applies.reason})",
            )
        )
    if applies is not False:
        satisfied = spec.satisfied_by
        for ref in satisfied.policy_rules:
            why += _rule_findings(ref, rules)
        for needed in satisfied.evidence:
            why.append(_evidence_finding(needed, evidence))
        for check, compiled in requirement.checks:
            result = cel.evaluate(compiled, ctx)
            if result is True:
                why.append(Finding(kind="check", ref=check.id, outcome="passed", detail="holds"))
            elif result is False:
                why.append(Finding(kind="check", ref=check.id, outcome="failed", detail=check.message.strip()))
            else:
                detail = f"{check.message.strip()} (could not be evaluated: {result.reason})"
                why.append(Finding(kind="check", ref=check.id, outcome="error", detail=detail))
        wanted = satisfied.effective_attestation()
        if wanted is not None:
            found = _attestation_finding(key, wanted, attestations, mapped, now)
            if found is not None:
                why.append(found)
    counted = [f for f in why if f.kind != "applicability"]
    status: RequirementStatusName
    if applies is False:
        status = "not_applicable"
    elif any(f.outcome in _FAILURES for f in counted):
        status = "not_satisfied"
    elif any(f.outcome in _LAPSES for f in counted):
        status = "expired"
    elif not spec.satisfied_by.automated:
        status = "attested"
    else:
        status = "satisfied"
    return RequirementStatus(
        id=spec.id,
        title=spec.title,
        references=list(spec.references),
        status=status,
        waived=any(f.outcome == "waived" for f in counted),
        applies_from=spec.applies_from,
        in_force=spec.applies_from is None or spec.applies_from <= now.date(),
        why=why,
        maps_to=list(spec.maps_to),
    )


def _gaps(framework: str, requirement: RequirementStatus) -> list[Gap]:
    if requirement.status not in ("not_satisfied", "expired"):
        return []
    gaps = []
    for finding in requirement.why:
        if finding.kind == "applicability" or finding.outcome not in _FAILURES | _LAPSES:
            continue
        kind: GapKind = (
            "waived" if finding.outcome == "waived" else "expired" if finding.outcome in _LAPSES else "not_satisfied"
        )
        gaps.append(
            Gap(
                framework=framework,
                requirement=requirement.id,
                title=requirement.title,
                status=requirement.status,
                kind=kind,
                ref=finding.ref,
                detail=finding.detail,
                waiver=finding.waiver,
                waiver_expires_at=finding.waiver_expires_at,
            )
        )
    return gaps


def decide_framework(
    framework: CompiledFramework,
    document: Mapping[str, Any],
    ctx: _cel.Context,
    *,
    rules: Mapping[str, Sequence[RuleResult]],
    attestations: Mapping[str, Sequence[AttestationFact]],
    mapped: Mapping[str, set[str]],
    now: datetime,
    only: frozenset[str] | None = None,
) -> FrameworkStatus:
    """Every requirement's status (of those in ``only``, when given) for the version whose facts are ``document``.

    ``rules``: policy id -> its rules' results on the version (a policy absent is not installed);
    ``attestations``: "framework:requirement" -> attestations covering this model;
    ``mapped``: "framework:requirement" -> the requirements mapped to it (:func:`frameworks.links`).
    """
    applies = cel.evaluate(framework.applies, ctx)
    evidence = document.get("evidence", {})
    requirements = [
        _requirement(
            framework,
            r,
            ctx,
            evidence,
            applies,
            rules=rules,
            attestations=attestations,
            mapped=mapped,
            now=now,
        )
        for r in framework.requirements
        if only is None or r.spec.id in only
    ]
    counts = {s: 0 for s in STATUSES}
    for requirement in requirements:
        counts[requirement.status] += 1
    return FrameworkStatus(
        framework=framework.id,
        title=framework.document.title,
        version=framework.document.version,
        sha256=framework.sha256,
        applies=applies is not False,
        counts=counts,
        requirements=requirements,
        gaps=[gap for r in requirements for gap in _gaps(framework.id, r)],
    )
