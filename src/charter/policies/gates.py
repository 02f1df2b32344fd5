"""Policy gates: every live policy decides each registry event that matters.

The events: registering a version, each stage transition (a gate in the inventory's
``lifecycle.gates``, registered when this module is imported), and downloading an artifact of a
version in production. For each, every policy in ``audit``, ``warn``, ``enforce`` or ``review``
whose match condition holds is decided over the version's facts (:mod:`charter.policies.facts`):

- failures of ``enforce`` policies, and of ``review`` ones, block the event with an error naming
  each failed rule and its message; a rule that cannot be evaluated fails (closed) and says why;
- failures of ``warn`` policies come back to the caller as warnings (``VersionRead.warnings``);
- failures of ``audit`` policies are only recorded;
- a failure excused by an active waiver is ``waived``: recorded, never blocking.

Results are stored as evidence of kind ``policy`` on the version when at least one policy applied
(for downloads, only when a rule did not pass: a download that passes is in the audit trail
already). A blocked event's transaction rolls back, evidence included; its refusal is audited with
the failed rules in its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from charter.errors import CharterError, Conflict
from charter.evidence import service as evidence
from charter.inventory import lifecycle as inventory_lifecycle
from charter.inventory.models import ModelVersionRow
from charter.policies import engine, facts, lifecycle, service
from charter.policies.schemas import PolicyOutcome
from charter.security.principal import Principal

if TYPE_CHECKING:
    from charter.inventory.artifacts import Protection

GATE_NAME = "policy"


@dataclass
class GateDecision:
    """What the live policies decided about one event on one version."""

    event: facts.Event
    outcomes: list[PolicyOutcome] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def applied(self) -> list[PolicyOutcome]:
        return [o for o in self.outcomes if o.applies]

    def counts(self) -> dict[str, int]:
        statuses = [r.status for o in self.applied for r in o.rules]
        return {s: statuses.count(s) for s in ("passed", "failed", "waived", "error")}

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "event": self.event.kind,
            "from_stage": self.event.from_stage,
            "to_stage": self.event.to_stage,
            "policies_evaluated": len(self.outcomes),
            "policies_applied": len(self.applied),
            "rules_passed": counts["passed"],
            "rules_failed": counts["failed"],
            "rules_waived": counts["waived"],
            "rules_errored": counts["error"],
            "blocked": bool(self.refusals),
            "refusals": self.refusals,
            "warnings": self.warnings,
        }


def _line(outcome: PolicyOutcome, rule: Any) -> str:
    text = f"{outcome.policy}/{rule.rule}: {rule.message}"
    if rule.status == "error":
        text += f" (could not be evaluated: {rule.reason})"
    if rule.expired_waiver is not None:
        text += f" (its waiver expired {rule.expired_waiver:%Y-%m-%d %H:%M} UTC)"
    return text


def decide(
    session: Session,
    row: ModelVersionRow,
    event: facts.Event,
    *,
    now: datetime | None = None,
    signature_check: facts.SignatureCheck | None = None,
) -> GateDecision:
    """Decide ``event`` on version ``row`` with every live policy. Never raises for a policy's sake."""
    moment = now or datetime.now(UTC)
    decision = GateDecision(event)
    live = service.live_policies(session, moment)
    if not live:
        return decision
    compiled = [p.compiled for p in live]
    paths = engine.paths_of(compiled)
    doc = facts.build(session, row, moment, event=event, sections=engine.sections_of(compiled))
    ctx = engine.context(doc, paths)
    matched = {p.compiled.id: engine.applies(p.compiled, ctx) for p in live}
    verified_read = any(matched[p.compiled.id] is not False and service.reads_verified(p.compiled.paths) for p in live)
    if verified_read and signature_check is not None and "signature" in doc:
        doc["signature"]["verified"] = signature_check(row.id)
        ctx = engine.context(doc, paths)
    waivers = service.waivers_for(session, row.model_id, [p.compiled.id for p in live])
    for policy in live:
        outcome = engine.decide(
            policy.compiled,
            ctx,
            state=policy.state,
            waivers=waivers.get(policy.compiled.id, {}),
            now=moment,
            matched=matched[policy.compiled.id],
        )
        decision.outcomes.append(outcome)
        for rule in outcome.rules:
            if rule.status in ("failed", "error"):
                if policy.state in lifecycle.BLOCKING:
                    decision.refusals.append(_line(outcome, rule))
                elif policy.state in lifecycle.WARNING:
                    decision.warnings.append(_line(outcome, rule))
    return decision


def record(session: Session, actor: Principal, row: ModelVersionRow, decision: GateDecision) -> None:
    """Store the decision as ``policy`` evidence on the version (the caller checked that it should)."""
    summary = decision.summary()
    body = {**summary, "outcomes": [o.model_dump(mode="json") for o in decision.outcomes]}
    passed = summary["rules_failed"] == 0 and summary["rules_errored"] == 0
    title = f"Policy gate: {decision.event.kind}" + (
        f" to {decision.event.to_stage}" if decision.event.to_stage else ""
    )
    evidence.record(
        session,
        actor,
        row,
        kind="policy",
        title=title,
        summary=summary,
        body=body,
        passed=passed,
        data_fingerprint=None,
        engine="cel",
    )


def signature_checker(session: Session, protection: Protection) -> facts.SignatureCheck:
    """``signature.verified`` for a version: its signature verifies over its recorded files (no file is read)."""

    def check(version_id: int) -> bool | None:
        from charter.inventory import artifacts

        row = session.get(ModelVersionRow, version_id)
        if row is None or not row.artifacts:
            return None
        try:
            artifacts.check_manifest(protection, row)
        except CharterError as exc:
            return False if exc.code == "signature_invalid" else None
        return True

    return check


def _stage_gate(request: inventory_lifecycle.GateInput) -> list[str]:
    session = request.session
    row = session.get(ModelVersionRow, request.version_id)
    assert row is not None
    event = facts.Event("promote", request.actor.actor, request.from_stage, request.to_stage)
    check = None if request.protection is None else signature_checker(session, request.protection)
    decision = decide(session, row, event, signature_check=check)
    request.warnings.extend(decision.warnings)
    if decision.applied and not decision.refusals:
        record(session, request.actor, row, decision)
    return decision.refusals


def check_registration(session: Session, actor: Principal, row: ModelVersionRow) -> list[str]:
    """Decide a new version's registration: refuse it (``Conflict``) or return the warnings."""
    decision = decide(session, row, facts.Event("register", actor.actor, None, row.stage))
    if decision.refusals:
        error = Conflict(
            f"Version {row.version} of {row.model.name} cannot be registered: " + "; ".join(decision.refusals),
            details={"gates": decision.refusals},
        )
        raise error.recorded_as(
            "version.create",
            resource_type="model",
            resource_id=row.model_id,
            outcome="failed",
            details={"version": row.version, "policies": decision.refusals[:20]},
        )
    if decision.applied:
        record(session, actor, row, decision)
    return decision.warnings


def check_download(session: Session, actor: Principal, protection: Protection, row: ModelVersionRow, path: str) -> None:
    """Decide a download of a production version's file: refuse it (``Conflict``) when an enforced rule fails."""
    if row.stage != "production":
        return
    event = facts.Event("download", actor.actor, row.stage, None)
    decision = decide(session, row, event, signature_check=signature_checker(session, protection))
    if decision.refusals:
        error = Conflict(
            f"{path} of {row.model.name} {row.version} cannot be downloaded: " + "; ".join(decision.refusals),
            details={"gates": decision.refusals},
        )
        raise error.recorded_as(
            "artifact.download",
            resource_type="model",
            resource_id=row.model_id,
            outcome="failed",
            details={"version": row.version, "path": path, "policies": decision.refusals[:20]},
        )
    counts = decision.counts()
    if counts["failed"] or counts["error"] or counts["waived"]:
        record(session, actor, row, decision)


inventory_lifecycle.gates.register(GATE_NAME, _stage_gate)
