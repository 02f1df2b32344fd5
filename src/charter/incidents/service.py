"""Incident services: report, triage and work incidents; clocks, containment, review, regulator reports.

Each function authorizes the acting principal in the incident's scope (the team of its first
affected model, or the organisation when it names none), changes rows, adds the timeline entry,
and records one audit event (``resource_type="incident"``) in the same transaction. Services flush;
the caller commits. ``now`` is injectable everywhere for tests; it defaults to the current UTC time.

Functions for other parts of Charter: :func:`open_or_attach` (monitoring opens incidents from
alerts), :func:`overdue` (the worker alerts on missed deadlines) and :func:`suspended_versions`
(the decision log refuses versions whose logging an incident suspended). Containment actions
are in ``containment.py``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, literal, not_, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from charter.audit import service as audit
from charter.errors import Conflict, InvalidInput, NotFound
from charter.identity.service import find_principal
from charter.incidents import lifecycle, regulator
from charter.incidents.models import (
    ContainmentRow,
    IncidentModelRow,
    IncidentRow,
    RegulatoryReportRow,
    ReviewRow,
    TimelineEntryRow,
)
from charter.incidents.reads import Names, entry_read, incident_read, review_read
from charter.incidents.schemas import (
    AffectedModel,
    AlertOutcome,
    Assignment,
    EntryCreate,
    EntryRead,
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    OverdueClock,
    RegulatorReport,
    ReportableMark,
    ReportSubmission,
    ReportSystem,
    ReviewRead,
    ReviewWrite,
    StatusChange,
)
from charter.inventory import service as inventory
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.pagination import Page, clamp_limit, parse_int_cursor
from charter.security.permissions import Permission
from charter.security.principal import ORG, Principal, Scope, authorize

P = Permission
RESOURCE = "incident"
# A time given as "now" by a client whose clock runs a little ahead is still accepted.
CLOCK_SKEW = timedelta(minutes=5)
# Any constant works; on PostgreSQL it keys the advisory lock that makes open_or_attach atomic.
_DEDUP_LOCK_NAMESPACE = 0x696E63  # "inc"


def current_time(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else lifecycle.utc(now)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def scope_of(row: IncidentRow) -> Scope:
    return ORG if row.team_id is None else Scope.team(row.team_id)


def get_incident_row(session: Session, incident_id: int) -> IncidentRow:
    row = session.get(IncidentRow, incident_id)
    if row is None:
        raise NotFound(f"No incident {incident_id}.")
    return row


def incident_for(session: Session, actor: Principal, incident_id: int, permission: Permission) -> IncidentRow:
    row = get_incident_row(session, incident_id)
    authorize(actor, permission, scope_of(row))
    return row


def _past(moment: datetime | None, now: datetime, name: str) -> datetime:
    """A time the caller says something happened: not in the future (UTC when it has no zone)."""
    if moment is None:
        return now
    moment = lifecycle.utc(moment)
    if moment > now + CLOCK_SKEW:
        raise InvalidInput(f"`{name}` ({moment.isoformat()}) is in the future; times are UTC when they have no zone.")
    return min(moment, now)


def _principal_name(session: Session, name: str | None, field: str) -> str | None:
    if name is None:
        return None
    if find_principal(session, name) is None:
        raise InvalidInput(f"`{field}`: there is no user or service account named {name!r}.")
    return name


# -- reads ------------------------------------------------------------------------------------------


def read_incident(session: Session, actor: Principal, incident_id: int, *, now: datetime | None = None) -> IncidentRead:
    """One incident with its whole timeline, oldest entry first."""
    row = incident_for(session, actor, incident_id, P.INCIDENT_READ)
    return incident_read(session, row, current_time(now), timeline=True)


def _overdue_clause(now: datetime) -> ColumnElement[bool]:
    late_report = exists().where(
        RegulatoryReportRow.incident_id == IncidentRow.id,
        RegulatoryReportRow.submitted_at.is_(None),
        RegulatoryReportRow.due_at < now,
    )
    return or_(and_(IncidentRow.status == "reported", IncidentRow.response_due_at < now), late_report)


def list_incidents(
    session: Session,
    actor: Principal,
    *,
    status: Sequence[str] = (),
    severity: Sequence[str] = (),
    type: str | None = None,
    model: str | None = None,
    overdue: bool | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    now: datetime | None = None,
) -> Page[IncidentRead]:
    """Incidents the actor may read, newest first; filters combine with AND (a list filter: any of)."""
    moment = current_time(now)
    limit = clamp_limit(limit)
    stmt = select(IncidentRow).order_by(IncidentRow.id.desc()).limit(limit + 1)
    teams = actor.team_ids_with(P.INCIDENT_READ)
    if teams is not None:  # organisation-wide incidents are for those who read incidents organisation-wide
        stmt = stmt.where(IncidentRow.team_id.in_(teams))
    if status:
        stmt = stmt.where(IncidentRow.status.in_(status))
    if severity:
        stmt = stmt.where(IncidentRow.severity.in_(severity))
    if type:
        stmt = stmt.where(IncidentRow.type == type)
    if model:
        model_id = inventory.get_model_row(session, model).id
        stmt = stmt.where(
            exists().where(IncidentModelRow.incident_id == IncidentRow.id, IncidentModelRow.model_id == model_id)
        )
    if overdue is not None:
        clause = _overdue_clause(moment)
        stmt = stmt.where(clause if overdue else not_(clause))
    before = parse_int_cursor(cursor)
    if before is not None:
        stmt = stmt.where(IncidentRow.id < before)
    rows = list(session.scalars(stmt))
    page = rows[:limit]
    names = Names(session, page)
    items = [incident_read(session, r, moment, names=names) for r in page]
    return Page(items=items, next_cursor=str(page[-1].id) if len(rows) > limit else None)


def overdue(session: Session, now: datetime) -> list[OverdueClock]:
    """Every deadline running past due at ``now``, most overdue first: incidents not triaged within
    their response SLA, and regulatory reports not submitted in time. No actor: the worker calls it."""
    moment = lifecycle.utc(now)
    # Columns, not ORM rows: an incident's models, reports and containments are not needed here.
    columns = (IncidentRow.id, IncidentRow.title, IncidentRow.severity, IncidentRow.status, IncidentRow.team_id)
    late_response = select(*columns, literal(None).label("regime"), IncidentRow.response_due_at).where(
        IncidentRow.status == "reported", IncidentRow.response_due_at < moment
    )
    late_reports = (
        select(*columns, RegulatoryReportRow.regime, RegulatoryReportRow.due_at)
        .join(RegulatoryReportRow, RegulatoryReportRow.incident_id == IncidentRow.id)
        .where(RegulatoryReportRow.submitted_at.is_(None), RegulatoryReportRow.due_at < moment)
    )
    found = [
        OverdueClock(
            incident_id=incident_id,
            title=title,
            severity=severity,
            status=status,
            team_id=team_id,
            kind="response" if regime is None else "regulatory",
            regime=regime,
            due_at=due_at,
            overdue_seconds=int((moment - due_at).total_seconds()),
        )
        for stmt in (late_response, late_reports)
        for incident_id, title, severity, status, team_id, regime, due_at in session.execute(stmt)
    ]
    return sorted(found, key=lambda c: (c.due_at, c.incident_id))


# -- reporting --------------------------------------------------------------------------------------


def _affected(
    session: Session, actor: Principal, refs: Sequence[AffectedModel]
) -> list[tuple[ModelRow, ModelVersionRow | None]]:
    """The models named, each readable by the actor; repeats are dropped, order kept (the first owns)."""
    found: list[tuple[ModelRow, ModelVersionRow | None]] = []
    seen: set[tuple[int, int | None]] = set()
    for ref in refs:
        model = inventory.get_model_row(session, ref.model)
        authorize(actor, P.MODEL_READ, inventory.scope_of(model))
        version = inventory.get_version_row(session, model, ref.version) if ref.version else None
        key = (model.id, version.id if version else None)
        if key not in seen:
            seen.add(key)
            found.append((model, version))
    return found


def add_timeline_entry(
    session: Session,
    row: IncidentRow,
    actor: Principal,
    kind: str,
    body: str,
    at: datetime,
    *,
    data: Mapping[str, Any] | None = None,
    audience: str | None = None,
    recipient: str | None = None,
) -> TimelineEntryRow:
    entry = TimelineEntryRow(
        incident_id=row.id,
        kind=kind,
        body=body,
        audience=audience,
        recipient=recipient,
        data=dict(data or {}),
        at=at,
        created_at=at,
        created_by=actor.actor,
    )
    session.add(entry)
    return entry


def record_event(session: Session, actor: Principal, action: str, row: IncidentRow, **details: Any) -> None:
    audit.record(session, actor, action, resource_type=RESOURCE, resource_id=row.id, details=details)


def _models_detail(linked: Sequence[tuple[ModelRow, ModelVersionRow | None]]) -> list[str]:
    return [m.name + (f"@{v.version}" if v is not None else "") for m, v in linked]


def report_incident(
    session: Session,
    actor: Principal,
    data: IncidentCreate,
    *,
    slas: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> IncidentRead:
    """Open an incident (``status="reported"``); its response clock starts now.

    ``slas``: the response SLAs (``settings.incident_response_slas``); a severity left out has
    its default. The actor needs ``incident:write`` in the scope of the first affected model.
    """
    moment = current_time(now)
    linked = _affected(session, actor, data.models)
    team_id = linked[0][0].team_id if linked else None
    row = IncidentRow(
        title=data.title,
        description=data.description,
        type=data.type,
        severity=data.severity,
        status="reported",
        source=data.source,
        dedup_key=data.dedup_key,
        team_id=team_id,
        reporter=actor.actor,
        detected_at=_past(data.detected_at, moment, "detected_at"),
        reported_at=moment,
        response_due_at=lifecycle.response_due(moment, data.severity, slas),
        updated_at=moment,
        affected_people=data.affected_people,
        affected_groups=data.affected_groups,
        data_categories=data.data_categories,
        records_affected=data.records_affected,
        consequences=data.consequences,
        contact_point=data.contact_point,
        member_states=data.member_states,
        details=data.details,
    )
    authorize(actor, P.INCIDENT_WRITE, scope_of(row))
    row.commander = _principal_name(session, data.commander, "commander")
    row.assignee = _principal_name(session, data.assignee, "assignee")
    row.models = [IncidentModelRow(model_id=m.id, version_id=v.id if v else None) for m, v in linked]
    session.add(row)
    session.flush()
    add_timeline_entry(
        session,
        row,
        actor,
        "reported",
        f"Reported as {data.severity} {data.type.replace('_', '/')} incident from a {data.source.replace('_', ' ')}.",
        moment,
        data={"source": data.source, "severity": data.severity},
    )
    session.flush()
    record_event(
        session,
        actor,
        "incident.report",
        row,
        title=row.title,
        type=row.type,
        severity=row.severity,
        source=row.source,
        models=_models_detail(linked),
        dedup_key=row.dedup_key,
        detected_at=row.detected_at.isoformat(),
    )
    from charter.risk.service import reassess_incident  # late: risk builds on incidents

    reassess_incident(session, row.id, actor, now=moment)
    return incident_read(session, row, moment)


def _lock_dedup_key(session: Session, dedup_key: str) -> None:
    """Serialise open_or_attach per key until commit, so two alerts never open two incidents.

    SQLite needs nothing: a writing transaction already holds the database's write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        # The two-key lock takes two int4: CRC-32 is unsigned, so fold it into int4's range.
        key = zlib.crc32(dedup_key.encode())
        key = key - (1 << 32) if key >= 1 << 31 else key
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _DEDUP_LOCK_NAMESPACE, "key": key})


def open_or_attach(
    session: Session,
    actor: Principal,
    *,
    dedup_key: str,
    type: str,
    severity: str,
    title: str,
    source: str = "monitoring_alert",
    models: Sequence[AffectedModel] = (),
    details: Mapping[str, Any] | None = None,
    description: str | None = None,
    slas: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> AlertOutcome:
    """Add an alert to the open incident with ``dedup_key``, or open one (for monitoring).

    An incident is open until it is resolved: an alert after that opens a new incident. An
    alert more severe than the open incident raises its severity (and, before triage, shortens
    its response deadline). Models the incident does not list yet are added to it.
    """
    moment = current_time(now)
    if not dedup_key.strip():
        raise InvalidInput("`dedup_key` must not be empty: it is what groups alerts into one incident.")
    _lock_dedup_key(session, dedup_key)
    stmt = (
        select(IncidentRow)
        .where(IncidentRow.dedup_key == dedup_key, IncidentRow.status.in_(lifecycle.OPEN))
        .order_by(IncidentRow.id.desc())
        .limit(1)
    )
    row = session.scalars(stmt).first()
    if row is None:
        try:
            data = IncidentCreate(
                title=title,
                type=type,
                severity=severity,
                source=source,
                description=description,
                models=list(models),
                dedup_key=dedup_key,
                details=dict(details or {}),
            )
        except ValueError as exc:  # pydantic's ValidationError
            raise InvalidInput(f"The alert cannot open an incident: {exc}") from exc
        return AlertOutcome(incident=report_incident(session, actor, data, slas=slas, now=moment), created=True)
    authorize(actor, P.INCIDENT_WRITE, scope_of(row))
    if severity not in lifecycle.SEVERITIES:
        raise InvalidInput(f"`severity` must be one of {', '.join(lifecycle.SEVERITIES)}; got {severity!r}.")
    if source not in lifecycle.SOURCES:
        raise InvalidInput(f"`source` must be one of {', '.join(lifecycle.SOURCES)}; got {source!r}.")
    escalated_from = None
    if lifecycle.rank(severity) < lifecycle.rank(row.severity):
        escalated_from, row.severity = row.severity, severity
        if row.triaged_at is None:
            row.response_due_at = lifecycle.response_due(row.reported_at, severity, slas)
    known = {(m.model_id, m.version_id) for m in row.models}
    added = [(m, v) for m, v in _affected(session, actor, models) if (m.id, v.id if v else None) not in known]
    row.models.extend(IncidentModelRow(model_id=m.id, version_id=v.id if v else None) for m, v in added)
    row.updated_at = moment
    body = title + (f" (severity raised from {escalated_from} to {severity})" if escalated_from else "")
    add_timeline_entry(
        session,
        row,
        actor,
        "alert",
        body,
        moment,
        data={"severity": severity, "source": source, "details": dict(details or {})},
    )
    session.flush()
    record_event(
        session,
        actor,
        "incident.alert",
        row,
        dedup_key=dedup_key,
        severity=severity,
        escalated_from=escalated_from,
        models_added=_models_detail(added),
    )
    from charter.risk.service import reassess_incident  # late: risk builds on incidents

    reassess_incident(session, row.id, actor, now=moment)
    return AlertOutcome(incident=incident_read(session, row, moment), created=False)


# -- changes ----------------------------------------------------------------------------------------

_REQUIRED = ("title", "type", "severity", "detected_at")
_IMPACT = (
    "affected_people",
    "affected_groups",
    "data_categories",
    "records_affected",
    "consequences",
    "contact_point",
    "member_states",
)


def update_incident(
    session: Session,
    actor: Principal,
    incident_id: int,
    data: IncidentUpdate,
    *,
    slas: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> IncidentRead:
    """Change the fields sent. A new severity before triage moves the response deadline; a new
    detection time moves every regulatory deadline; new models may move the incident to another
    team (the actor needs ``incident:write`` in both)."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    sent = data.model_fields_set
    for name in _REQUIRED:
        if name in sent and getattr(data, name) is None:
            raise InvalidInput(f"`{name}` cannot be removed; send a new value.")
    changes: dict[str, Any] = {}

    def change(name: str, new: Any, shown: Any = None) -> None:
        old = getattr(row, name)
        if old != new:
            setattr(row, name, new)
            changes[name] = shown if shown is not None else {"old": old, "new": new}

    for name in ("title", "type", "severity", "description", "details", *_IMPACT):
        if name in sent:
            # Free text and contact details are named in the trail, not copied into it.
            long_text = name in ("description", "consequences", "details", "contact_point")
            change(name, getattr(data, name), shown="changed" if long_text else None)
    if "detected_at" in sent and data.detected_at is not None:
        detected = _past(data.detected_at, moment, "detected_at")
        if detected > row.reported_at:
            raise InvalidInput(
                f"`detected_at` ({detected.isoformat()}) cannot be after the incident was reported "
                f"({row.reported_at.isoformat()})."
            )
        if detected != row.detected_at:
            changes["detected_at"] = {"old": row.detected_at.isoformat(), "new": detected.isoformat()}
            row.detected_at = detected
            for report in row.reports:
                report.due_at = lifecycle.regulatory_due(detected, report.regime)
    if "severity" in changes and row.triaged_at is None:
        row.response_due_at = lifecycle.response_due(row.reported_at, row.severity, slas)
    if data.models is not None:
        linked = _affected(session, actor, data.models)
        now_linked = [(m.model_id, m.version_id) for m in row.models]
        wanted = [(m.id, v.id if v else None) for m, v in linked]
        if now_linked != wanted:
            row.models = [IncidentModelRow(model_id=m, version_id=v) for m, v in wanted]
            team_id = linked[0][0].team_id if linked else None
            if team_id != row.team_id:
                row.team_id = team_id
                authorize(actor, P.INCIDENT_WRITE, scope_of(row))
                changes["team"] = "changed"
            changes["models"] = _models_detail(linked)
    if not changes:
        return incident_read(session, row, moment)
    row.updated_at = moment
    summary = ", ".join(
        f"{k} {v['old']} → {v['new']}" if isinstance(v, dict) and k in ("severity", "type", "detected_at") else k
        for k, v in changes.items()
    )
    add_timeline_entry(session, row, actor, "update", f"Updated: {summary}.", moment, data={"fields": sorted(changes)})
    session.flush()
    record_event(session, actor, "incident.update", row, changes=changes)
    from charter.risk.service import reassess_incident  # late: risk builds on incidents

    reassess_incident(session, row.id, actor, now=moment)
    return incident_read(session, row, moment)


def change_status(
    session: Session, actor: Principal, incident_id: int, data: StatusChange, *, now: datetime | None = None
) -> IncidentRead:
    """Move the incident one step along its lifecycle, or reopen it (resolved or closed → investigating).

    A move the lifecycle does not allow is a 409 naming the allowed next statuses. Closing needs a
    post-incident review for SEV1 and SEV2, and every regulatory report submitted.
    """
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    source, target = row.status, data.status
    if not lifecycle.can_move(source, target):
        allowed = lifecycle.allowed_next(source)
        raise Conflict(
            f"Incident {row.id} cannot move from {source!r} to {target!r}. "
            f"From {source!r} it may move to: {', '.join(allowed)}.",
            details={"status": source, "allowed": list(allowed)},
        )
    if target == "closed":
        if row.severity in lifecycle.REVIEW_REQUIRED and row.review is None:
            raise Conflict(
                f"Incident {row.id} is {row.severity}: write its post-incident review "
                "(root cause, contributing factors, follow-up actions) before closing it.",
                details={"missing": "review"},
            )
        pending = [r.regime for r in row.reports if r.submitted_at is None]
        if pending:
            raise Conflict(
                f"Incident {row.id} has regulatory reports not yet submitted ({', '.join(pending)}); "
                "mark them submitted before closing it.",
                details={"pending_reports": pending},
            )
    reopen = lifecycle.is_reopen(source, target)
    row.status = target
    row.updated_at = moment
    if row.triaged_at is None and source == "reported":
        row.triaged_at = moment
    if target == "resolved":
        row.resolved_at = moment
    elif target == "closed":
        row.closed_at = moment
    elif reopen:
        row.resolved_at = row.closed_at = None
    body = f"{'Reopened' if reopen else 'Status'}: {source} → {target}" + (f". {data.note}" if data.note else ".")
    add_timeline_entry(session, row, actor, "status_change", body, moment, data={"from": source, "to": target})
    session.flush()
    record_event(
        session,
        actor,
        "incident.reopen" if reopen else "incident.status",
        row,
        **{"from": source, "to": target, "note": data.note},
    )
    from charter.risk.service import reassess_incident  # late: risk builds on incidents

    reassess_incident(session, row.id, actor, now=moment)
    return incident_read(session, row, moment)


def add_entry(
    session: Session, actor: Principal, incident_id: int, data: EntryCreate, *, now: datetime | None = None
) -> EntryRead:
    """Add an action, an investigation note, a mitigation or a communication to the timeline."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    at = _past(data.at, moment, "at")
    entry = add_timeline_entry(
        session, row, actor, data.kind, data.body, at, audience=data.audience, recipient=data.recipient
    )
    entry.created_at = moment
    row.updated_at = moment
    session.flush()
    # The text stays in the incident; the trail holds its digest, so an edited entry is detectable.
    record_event(
        session,
        actor,
        "incident.entry",
        row,
        entry=entry.id,
        kind=data.kind,
        audience=data.audience,
        recipient=data.recipient,
        sha256=_sha256(data.body),
    )
    return entry_read(entry)


def assign(
    session: Session, actor: Principal, incident_id: int, data: Assignment, *, now: datetime | None = None
) -> IncidentRead:
    """Set the incident commander and/or the assignee (fields sent only; null unassigns)."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    changes: dict[str, dict[str, str | None]] = {}
    for role in ("commander", "assignee"):
        if role in data.model_fields_set:
            new = _principal_name(session, getattr(data, role), role)
            old = getattr(row, role)
            if new != old:
                setattr(row, role, new)
                changes[role] = {"old": old, "new": new}
    if not changes:
        return incident_read(session, row, moment)
    row.updated_at = moment
    body = "; ".join(f"{role}: {c['new'] or 'nobody'}" for role, c in changes.items())
    add_timeline_entry(session, row, actor, "assignment", body[:1].upper() + body[1:] + ".", moment, data=changes)
    session.flush()
    record_event(session, actor, "incident.assign", row, **changes)
    return incident_read(session, row, moment)


# -- regulatory reports -----------------------------------------------------------------------------


def _report_under(row: IncidentRow, regime: str, *, then: str = "") -> RegulatoryReportRow:
    """The incident's report under ``regime``; Conflict (naming the regimes it is marked under) if none."""
    report = next((r for r in row.reports if r.regime == regime), None)
    if report is None:
        marked = ", ".join(r.regime for r in row.reports) or "none"
        raise Conflict(f"Incident {row.id} is not marked reportable under {regime!r} (marked: {marked}){then}.")
    return report


def mark_reportable(
    session: Session, actor: Principal, incident_id: int, data: ReportableMark, *, now: datetime | None = None
) -> IncidentRead:
    """Start the regime's reporting clock, counted from ``detected_at`` (it may be overdue at once)."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    if any(r.regime == data.regime for r in row.reports):
        raise Conflict(f"Incident {row.id} is already marked reportable under {data.regime}.")
    due = lifecycle.regulatory_due(row.detected_at, data.regime)
    row.reports.append(
        RegulatoryReportRow(regime=data.regime, reason=data.reason, marked_at=moment, marked_by=actor.actor, due_at=due)
    )
    row.updated_at = moment
    body = f"Reportable under {data.regime}: report due {due.isoformat()}" + (
        f". {data.reason}" if data.reason else "."
    )
    add_timeline_entry(
        session, row, actor, "regulatory", body, moment, data={"regime": data.regime, "due_at": due.isoformat()}
    )
    session.flush()
    record_event(session, actor, "incident.reportable", row, regime=data.regime, due_at=due.isoformat())
    return incident_read(session, row, moment)


def mark_submitted(
    session: Session,
    actor: Principal,
    incident_id: int,
    regime: str,
    data: ReportSubmission,
    *,
    now: datetime | None = None,
) -> IncidentRead:
    """The report to the authority was sent: the regime's clock is met (late if after its deadline)."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    report = _report_under(row, regime, then="; mark it first")
    if report.submitted_at is not None:
        raise Conflict(f"The {regime} report of incident {row.id} was already submitted at {report.submitted_at}.")
    submitted = _past(data.submitted_at, moment, "submitted_at")
    if submitted < row.detected_at:
        raise InvalidInput("`submitted_at` cannot be before the incident was detected.")
    report.submitted_at, report.submitted_by, report.reference = submitted, actor.actor, data.reference
    row.updated_at = moment
    late = submitted > report.due_at
    body = f"{regime} report submitted" + (f" (reference {data.reference})" if data.reference else "")
    body += (", after its deadline" if late else "") + (f". {data.note}" if data.note else ".")
    entry = add_timeline_entry(
        session, row, actor, "regulatory", body, submitted, data={"regime": regime, "late": late}
    )
    entry.created_at = moment
    session.flush()
    record_event(
        session,
        actor,
        "incident.report_submitted",
        row,
        regime=regime,
        reference=data.reference,
        submitted_at=submitted.isoformat(),
        late=late,
    )
    return incident_read(session, row, moment)


def regulator_report(
    session: Session, actor: Principal, incident_id: int, regime: str, *, now: datetime | None = None
) -> RegulatorReport:
    """What the authority's report needs, assembled from the incident (see ``incidents.regulator``)."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_READ)
    _report_under(row, regime)
    incident = incident_read(session, row, moment, timeline=True)
    systems = []
    for link in incident.models:
        model = session.get(ModelRow, link.model_id)
        assert model is not None
        systems.append(
            ReportSystem(
                model=model.name,
                version=link.version,
                team=link.team,
                purpose=model.purpose,
                intended_use=model.intended_use,
                domain=model.domain,
                risk_tier=model.risk_tier,
                stage=link.stage,
            )
        )
    return regulator.build_report(incident, regime, systems, now=moment)


# -- containment (actions in ``containment.py``) ---------------------------------------------------


def suspended_versions(session: Session, version_ids: Collection[int]) -> dict[int, int]:
    """Version id -> the incident suspending its decision logging, for those of ``version_ids`` that are
    suspended (the oldest incident, when several are). The decision log refuses these versions."""
    if not version_ids:
        return {}
    stmt = (
        select(ContainmentRow.version_id, func.min(ContainmentRow.incident_id))
        .where(
            ContainmentRow.kind == "suspend_logging",
            ContainmentRow.active.is_(True),
            ContainmentRow.version_id.in_(set(version_ids)),
        )
        .group_by(ContainmentRow.version_id)
    )
    return {version_id: incident_id for version_id, incident_id in session.execute(stmt)}


# -- post-incident review ---------------------------------------------------------------------------


def write_review(
    session: Session, actor: Principal, incident_id: int, data: ReviewWrite, *, now: datetime | None = None
) -> ReviewRead:
    """Write (or rewrite) the post-incident review, once the incident is resolved."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    if row.status not in lifecycle.DONE:
        raise Conflict(f"Incident {row.id} is {row.status!r}: the post-incident review is written once it is resolved.")
    follow_ups = [f.model_dump(mode="json") for f in data.follow_ups]
    created = row.review is None
    if row.review is None:
        row.review = ReviewRow(created_at=moment, created_by=actor.actor, root_cause=data.root_cause)
    review = row.review
    review.root_cause = data.root_cause
    review.contributing_factors = data.contributing_factors
    review.follow_ups = follow_ups
    review.lessons = data.lessons
    review.updated_at, review.updated_by = moment, actor.actor
    row.updated_at = moment
    body = f"Post-incident review {'written' if created else 'revised'}: {len(follow_ups)} follow-up action(s)."
    add_timeline_entry(session, row, actor, "review", body, moment, data={"follow_ups": len(follow_ups)})
    session.flush()
    record_event(
        session,
        actor,
        "incident.review",
        row,
        created=created,
        contributing_factors=len(data.contributing_factors),
        follow_ups=len(follow_ups),
        sha256=_sha256(data.model_dump_json()),
    )
    return review_read(review)
