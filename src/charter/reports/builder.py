"""Build a report document from the platform: one model, or every model the reader may see.

The compliance status is the model's status when the report is built (its facts are current
facts: a past status cannot be recomputed), evaluated by :func:`charter.compliance.service.status_for_model`
and recorded in the compliance history like any other full evaluation (``record=True``: a report
is a reading worth keeping, and the history is compacted so an unchanged status adds nothing).
Everything dated is limited to the report's period: evidence recorded on the reported version,
incidents open at some time in it, lifecycle transitions, waivers in force at some time in it,
and audit events. Firing alerts are those firing when the report is built.

Every kind of row is read once for all the models of the report (incidents, waivers, evidence,
assessments, ...), so an organisation report costs one status evaluation per model plus a fixed
number of queries (see ``benchmarks/bench_reports.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from charter import __version__
from charter.audit import service as audit
from charter.audit.models import AuditEventRow, event_field
from charter.compliance import service as compliance
from charter.compliance.schemas import ComplianceStatus
from charter.errors import InvalidInput, NotFound
from charter.evidence.models import EvidenceRow
from charter.gcpause import paused
from charter.identity.models import TeamRow
from charter.incidents.lifecycle import DONE
from charter.incidents.models import IncidentModelRow, IncidentRow
from charter.inventory import service as inventory
from charter.inventory.models import ModelRow, ModelVersionRow, StageTransitionRow
from charter.monitoring.models import AlertRow
from charter.policies import facts
from charter.policies.models import WaiverRow
from charter.reports.schemas import (
    AuditIntegrity,
    EvidenceSummary,
    FactorSummary,
    FrameworkResult,
    IncidentSummary,
    ModelSection,
    Period,
    RegisterEntry,
    ReportDocument,
    RiskSummary,
    Totals,
    Transition,
    WaiverSummary,
)
from charter.risk.models import AssessmentRow, ClassificationRow, RiskRow
from charter.security.permissions import Permission
from charter.security.principal import ORG, Principal, Scope, authorize

__all__ = ["FAIRNESS_KINDS", "MONITORING_KINDS", "build_model_report", "build_organisation_report", "check_period"]

P = Permission
#: Evidence kinds shown as fairness evidence, and as monitoring evidence (evaluations: performance, drift).
FAIRNESS_KINDS = ("fairness",)
MONITORING_KINDS = ("evaluation",)
#: Statuses an organisation report's models are counted in, with "unassessed" for those never assessed.
UNASSESSED = "unassessed"
_CHUNK = 500  # ids per IN (...): well under SQLite's and PostgreSQL's parameter limits


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_period(start: datetime, end: datetime) -> Period:
    """The period, in UTC (a time without a zone is UTC); the end must come after the start."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise InvalidInput(
            f"The report period ends ({end:%Y-%m-%d %H:%M} UTC) before it starts ({start:%Y-%m-%d %H:%M} UTC)."
        )
    return Period(start=start, end=end)


def _chosen_frameworks(session: Session, wanted: Sequence[str] | None) -> list[str]:
    known = [f.id for f in compliance.known_frameworks(session)]
    if not wanted:
        return known
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise NotFound(f"No compliance framework {', '.join(map(repr, unknown))}; known: {', '.join(known)}.")
    return list(dict.fromkeys(wanted))


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])


@dataclass(frozen=True)
class _Target:
    model: ModelRow
    status: ComplianceStatus
    team: str | None


# -- batched reads, one per kind --------------------------------------------------------------------


def _latest_assessments(session: Session, version_ids: Sequence[int]) -> dict[int, AssessmentRow]:
    out: dict[int, AssessmentRow] = {}
    for chunk in _chunks(version_ids):
        newest = (
            select(func.max(AssessmentRow.id))
            .where(AssessmentRow.version_id.in_(chunk))
            .group_by(AssessmentRow.version_id)
        )
        for row in session.scalars(select(AssessmentRow).where(AssessmentRow.id.in_(newest.scalar_subquery()))):
            out[row.version_id] = row
    return out


def _latest_classifications(session: Session, model_ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in _chunks(model_ids):
        newest = (
            select(func.max(ClassificationRow.id))
            .where(ClassificationRow.model_id.in_(chunk))
            .group_by(ClassificationRow.model_id)
        )
        stmt = select(ClassificationRow.model_id, ClassificationRow.category).where(
            ClassificationRow.id.in_(newest.scalar_subquery())
        )
        for model_id, category in session.execute(stmt):
            out[model_id] = category
    return out


def _risk_summary(row: AssessmentRow, classification: str | None) -> RiskSummary:
    result = row.result or {}
    factors = [
        FactorSummary(
            factor=str(f.get("factor")),
            title=str(f.get("title", f.get("factor"))),
            score=float(f.get("score", 0.0)),
            weight=float(f.get("weight", 0.0)),
            reasons=[str(r.get("reason")) for r in f.get("reasons", []) if r.get("applied")],
        )
        for f in result.get("factors", [])
    ]
    return RiskSummary(
        assessment=row.id,
        rating=row.rating,
        score=row.score,
        rules_version=row.rules_number,
        assessed_at=row.created_at,
        factors=factors,
        eu_ai_act_class=classification,
    )


def _register(session: Session, model_ids: Sequence[int], now: datetime) -> dict[int, list[RegisterEntry]]:
    out: dict[int, list[RegisterEntry]] = defaultdict(list)
    today = now.date()
    for chunk in _chunks(model_ids):
        stmt = (
            select(RiskRow)
            .where(RiskRow.model_id.in_(chunk))
            .order_by((RiskRow.residual_likelihood * RiskRow.residual_impact).desc(), RiskRow.id)
        )
        for row in session.scalars(stmt):
            assert row.model_id is not None
            out[row.model_id].append(
                RegisterEntry(
                    id=row.id,
                    title=row.title,
                    category=row.category,
                    inherent_rating=row.inherent_rating,
                    residual_rating=row.residual_rating,
                    treatment=row.treatment,
                    status=row.status,
                    owner=row.owner,
                    review_date=row.review_date.isoformat() if row.review_date else None,
                    review_overdue=row.status != "closed" and row.review_date is not None and row.review_date < today,
                )
            )
    return out


def _highlights(kind: str, summary: dict[str, Any]) -> dict[str, Any]:
    """A few headline numbers: the numeric metrics, the four-fifths ratio, what failed."""
    out: dict[str, Any] = {}
    metrics = summary.get("metrics")
    if isinstance(metrics, dict):
        out.update({k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)})
    four_fifths = summary.get("four_fifths")
    if isinstance(four_fifths, dict) and four_fifths.get("ratio") is not None:
        out["four_fifths_ratio"] = four_fifths["ratio"]
    for key, value in summary.items():
        if key not in out and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
    if summary.get("failed"):
        out["failed"] = list(summary["failed"])
    return out


def _evidence(
    session: Session, version_ids: Sequence[int], period: Period
) -> dict[int, tuple[list[EvidenceSummary], list[EvidenceSummary]]]:
    """version id -> (fairness, monitoring) evidence recorded in the period, newest first."""
    out: dict[int, tuple[list[EvidenceSummary], list[EvidenceSummary]]] = defaultdict(lambda: ([], []))
    for chunk in _chunks(version_ids):
        stmt = (
            select(EvidenceRow)
            .options(defer(EvidenceRow.body))
            .where(
                EvidenceRow.version_id.in_(chunk),
                EvidenceRow.kind.in_(FAIRNESS_KINDS + MONITORING_KINDS),
                EvidenceRow.created_at >= period.start,
                EvidenceRow.created_at <= period.end,
            )
            .order_by(EvidenceRow.id.desc())
        )
        for row in session.scalars(stmt):
            summary = EvidenceSummary(
                id=row.id,
                kind=row.kind,
                title=row.title,
                passed=row.passed,
                created_at=row.created_at,
                created_by=row.created_by,
                sha256=row.sha256,
                highlights=_highlights(row.kind, dict(row.summary or {})),
            )
            fairness, monitoring = out[row.version_id]
            (fairness if row.kind in FAIRNESS_KINDS else monitoring).append(summary)
    return out


def _firing_alerts(session: Session, model_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in _chunks(model_ids):
        stmt = (
            select(AlertRow.model_id, func.count())
            .where(AlertRow.model_id.in_(chunk), AlertRow.status == "firing")
            .group_by(AlertRow.model_id)
        )
        for model_id, count in session.execute(stmt):
            if model_id is not None:
                out[model_id] = int(count)
    return out


def _incidents(session: Session, model_ids: Sequence[int], period: Period) -> dict[int, list[IncidentSummary]]:
    """Incidents affecting each model that were open at some time in the period (detected before its end,
    not closed before its start), newest first."""
    out: dict[int, list[IncidentSummary]] = defaultdict(list)
    for chunk in _chunks(model_ids):
        stmt = (
            select(IncidentModelRow.model_id, IncidentRow)
            .join(IncidentRow, IncidentRow.id == IncidentModelRow.incident_id)
            .where(
                IncidentModelRow.model_id.in_(chunk),
                IncidentRow.detected_at <= period.end,
                IncidentRow.closed_at.is_(None) | (IncidentRow.closed_at >= period.start),
            )
            .order_by(IncidentRow.id.desc())
        )
        seen: set[tuple[int, int]] = set()
        for model_id, row in session.execute(stmt):
            if (model_id, row.id) in seen:  # one incident naming two versions of the model
                continue
            seen.add((model_id, row.id))
            out[model_id].append(
                IncidentSummary(
                    id=row.id,
                    title=row.title,
                    type=row.type,
                    severity=row.severity,
                    status=row.status,
                    detected_at=row.detected_at,
                    resolved_at=row.resolved_at,
                    closed_at=row.closed_at,
                )
            )
    return out


def _transitions(session: Session, model_ids: Sequence[int], period: Period) -> dict[int, list[Transition]]:
    out: dict[int, list[Transition]] = defaultdict(list)
    for chunk in _chunks(model_ids):
        stmt = (
            select(ModelVersionRow.model_id, ModelVersionRow.version, StageTransitionRow)
            .join(ModelVersionRow, ModelVersionRow.id == StageTransitionRow.version_id)
            .where(
                ModelVersionRow.model_id.in_(chunk),
                StageTransitionRow.at >= period.start,
                StageTransitionRow.at <= period.end,
            )
            .order_by(StageTransitionRow.at, StageTransitionRow.id)
        )
        for model_id, label, row in session.execute(stmt):
            out[model_id].append(
                Transition(
                    version=label,
                    from_stage=row.from_stage,
                    to_stage=row.to_stage,
                    by=row.actor,
                    at=row.at,
                    reason=row.comment,
                )
            )
    return out


def _waiver_status(row: WaiverRow, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "active" if now < row.expires_at else "expired"


def _waivers(
    session: Session, model_ids: Sequence[int], period: Period, now: datetime
) -> dict[int, list[WaiverSummary]]:
    """Waivers in force at some time in the period (granted before its end, not ended before its start)."""
    out: dict[int, list[WaiverSummary]] = defaultdict(list)
    for chunk in _chunks(model_ids):
        stmt = (
            select(WaiverRow)
            .where(WaiverRow.model_id.in_(chunk), WaiverRow.granted_at <= period.end)
            .order_by(WaiverRow.id.desc())
        )
        for row in session.scalars(stmt):
            ended = min(row.expires_at, row.revoked_at) if row.revoked_at is not None else row.expires_at
            if ended < period.start:
                continue
            out[row.model_id].append(
                WaiverSummary(
                    id=row.id,
                    policy=row.policy_id,
                    rule=row.rule_id,
                    justification=row.justification,
                    approved_by=row.approved_by,
                    granted_at=row.granted_at,
                    expires_at=row.expires_at,
                    status=_waiver_status(row, now),
                )
            )
    return out


def _events_in_period(session: Session, period: Period, model_id: int | None) -> int:
    body = AuditEventRow.__table__.c.body
    stmt = select(func.count()).select_from(AuditEventRow.__table__)
    stmt = stmt.where(
        event_field(body, "ts") >= audit.timestamp(period.start),
        event_field(body, "ts") <= audit.timestamp(period.end),
    )
    if model_id is not None:
        stmt = stmt.where(
            event_field(body, "resource_type") == inventory.RESOURCE, event_field(body, "resource_id") == str(model_id)
        )
    return int(session.scalar(stmt) or 0)


def _integrity(
    session: Session, public_key: Ed25519PublicKey, period: Period, model_id: int | None, now: datetime
) -> AuditIntegrity:
    report = audit.verify(session, public_key=public_key)
    fault = None
    if report.fault is not None:
        fault = f"seq {report.fault.seq} ({report.fault.kind}): {report.fault.message}"
    return AuditIntegrity(
        ok=report.ok,
        events=report.size,
        head_hash=report.head_hash,
        checkpoints_checked=report.checkpoints_checked,
        fault=fault,
        verified_at=now,
        events_in_period=_events_in_period(session, period, model_id),
    )


# -- assembling -------------------------------------------------------------------------------------


def _sections(
    session: Session, targets: Sequence[_Target], chosen: Sequence[str], period: Period, now: datetime, *, detail: bool
) -> list[ModelSection]:
    model_ids = [t.model.id for t in targets]
    version_ids = [t.status.version_id for t in targets]
    assessments = _latest_assessments(session, version_ids)
    classes = _latest_classifications(session, model_ids)
    register = _register(session, model_ids, now)
    evidence = _evidence(session, version_ids, period)
    alerts = _firing_alerts(session, model_ids)
    incidents = _incidents(session, model_ids, period)
    transitions = _transitions(session, model_ids, period)
    waivers = _waivers(session, model_ids, period, now)
    wanted = set(chosen)
    sections = []
    for target in targets:
        status, model = target.status, target.model
        frameworks = [
            FrameworkResult(
                framework=f.framework,
                title=f.title,
                version=f.version,
                sha256=f.sha256,
                applies=f.applies,
                counts=dict(f.counts),
                requirements=list(f.requirements) if detail else [],
            )
            for f in status.frameworks
            if f.framework in wanted
        ]
        assessment = assessments.get(status.version_id)
        fairness, monitoring = evidence[status.version_id] if status.version_id in evidence else ([], [])
        sections.append(
            ModelSection(
                model=model.name,
                model_id=model.id,
                version=status.version,
                stage=status.stage,
                team=target.team,
                owner=model.created_by,
                risk_tier=model.risk_tier,
                frameworks=frameworks,
                gaps=[g for g in status.gaps if g.framework in wanted],
                risk=_risk_summary(assessment, classes.get(model.id)) if assessment is not None else None,
                register=register.get(model.id, []),
                fairness=fairness,
                monitoring=monitoring,
                firing_alerts=alerts.get(model.id, 0),
                incidents=incidents.get(model.id, []),
                transitions=transitions.get(model.id, []),
                waivers=waivers.get(model.id, []),
            )
        )
    return sections


def _totals(sections: Sequence[ModelSection], chosen: Sequence[str]) -> Totals:
    by_rating: Counter[str] = Counter(s.risk.rating if s.risk else UNASSESSED for s in sections)
    by_status: dict[str, dict[str, int]] = {f: {} for f in chosen}
    for section in sections:
        for result in section.frameworks:
            counts = by_status.setdefault(result.framework, {})
            for name, n in result.counts.items():
                counts[name] = counts.get(name, 0) + n
    open_incidents = {i.id for s in sections for i in s.incidents if i.status not in DONE}
    return Totals(
        models=len(sections),
        by_rating=dict(sorted(by_rating.items())),
        by_status=by_status,
        gaps=sum(len(s.gaps) for s in sections),
        waived_gaps=sum(1 for s in sections for g in s.gaps if g.kind == "waived"),
        open_incidents=len(open_incidents),
        firing_alerts=sum(s.firing_alerts for s in sections),
    )


def _team_names(session: Session, team_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(team_ids))
    if not ids:
        return {}
    return {tid: name for tid, name in session.execute(select(TeamRow.id, TeamRow.name).where(TeamRow.id.in_(ids)))}


def _document(
    *,
    kind: str,
    title: str,
    organisation: str,
    actor: Principal,
    now: datetime,
    period: Period,
    chosen: Sequence[str],
    sections: list[ModelSection],
    integrity: AuditIntegrity,
) -> ReportDocument:
    return ReportDocument.model_validate(
        {
            "kind": kind,
            "title": title,
            "organisation": organisation,
            "generated_at": now,
            "generated_by": actor.actor,
            "charter_version": __version__,
            "period": period,
            "frameworks": list(chosen),
            "totals": _totals(sections, chosen),
            "models": sections,
            "audit": integrity,
        }
    )


def build_model_report(
    session: Session,
    actor: Principal,
    model: str | int,
    version: str | None = None,
    *,
    start: datetime,
    end: datetime,
    public_key: Ed25519PublicKey,
    frameworks: Sequence[str] | None = None,
    now: datetime | None = None,
    organisation: str = "Charter",
    record: bool = True,
    signature_check: facts.SignatureCheck | None = None,
) -> ReportDocument:
    """One model's report: each framework's requirements with the findings that decided them.

    ``version``: the version reported on (default: the newest in production, else the newest not
    retired). ``public_key``: the audit key's public half, to verify the chain's checkpoints.
    Needs ``compliance:read`` in the model's team.
    """
    period = check_period(start, end)
    moment = _utc(now) if now else datetime.now(UTC)
    row = inventory.get_model_row(session, model)
    authorize(actor, P.COMPLIANCE_READ, inventory.scope_of(row))
    chosen = _chosen_frameworks(session, frameworks)
    single = chosen[0] if len(chosen) == 1 else None
    status = compliance.status_for_model(
        session, actor, row.id, version, single, moment, signature_check=signature_check, record=record
    )
    team = _team_names(session, [row.team_id]).get(row.team_id)
    sections = _sections(session, [_Target(row, status, team)], chosen, period, moment, detail=True)
    named = ", ".join(chosen) if len(chosen) <= 3 else f"{len(chosen)} frameworks"
    return _document(
        kind="model",
        title=f"Compliance report: {row.name} {status.version} ({named})",
        organisation=organisation,
        actor=actor,
        now=moment,
        period=period,
        chosen=chosen,
        sections=sections,
        integrity=_integrity(session, public_key, period, row.id, moment),
    )


Progress = Callable[[int, int], None]


def build_organisation_report(
    session: Session,
    actor: Principal,
    *,
    start: datetime,
    end: datetime,
    public_key: Ed25519PublicKey,
    frameworks: Sequence[str] | None = None,
    team: str | None = None,
    now: datetime | None = None,
    organisation: str = "Charter",
    record: bool = True,
    signature_check: facts.SignatureCheck | None = None,
    progress: Progress | None = None,
) -> ReportDocument:
    """Every model the actor may read (of ``team``, when given): per-framework counts and open gaps.

    Needs ``compliance:read`` in the whole organisation, or in ``team`` for a team's report. Models
    without a version yet have no status and are left out. ``progress(done, total)`` is called as
    models are evaluated.
    """
    period = check_period(start, end)
    moment = _utc(now) if now else datetime.now(UTC)
    scope: Scope = ORG
    team_row = None
    if team is not None:
        team_row = session.scalars(select(TeamRow).where(TeamRow.name == team)).first()
        if team_row is None:
            raise NotFound(f"No team {team!r}.")
        scope = Scope.team(team_row.id)
    authorize(actor, P.COMPLIANCE_READ, scope)
    chosen = _chosen_frameworks(session, frameworks)
    single = chosen[0] if len(chosen) == 1 else None
    with_versions = select(ModelVersionRow.model_id).distinct()
    stmt = select(ModelRow).where(ModelRow.id.in_(with_versions)).order_by(ModelRow.name)
    teams = actor.team_ids_with(P.COMPLIANCE_READ)
    if teams is not None:
        stmt = stmt.where(ModelRow.team_id.in_(teams))
    if team_row is not None:
        stmt = stmt.where(ModelRow.team_id == team_row.id)
    models = list(session.scalars(stmt))
    names = _team_names(session, (m.team_id for m in models))
    targets = []
    # Hundreds of evaluations allocate millions of short-lived objects; with the collector running
    # a third of the time went to collections walking what was built so far (charter.gcpause).
    with paused():
        for n, row in enumerate(models, 1):
            status = compliance.status_for_model(
                session, actor, row.id, None, single, moment, signature_check=signature_check, record=record
            )
            targets.append(_Target(row, status, names.get(row.team_id)))
            if progress is not None:
                progress(n, len(models))
        sections = _sections(session, targets, chosen, period, moment, detail=False)
    where = f"team {team}" if team else organisation
    return _document(
        kind="organisation",
        title=f"Compliance report: {where}, {len(sections)} models",
        organisation=organisation,
        actor=actor,
        now=moment,
        period=period,
        chosen=chosen,
        sections=sections,
        integrity=_integrity(session, public_key, period, None, moment),
    )
