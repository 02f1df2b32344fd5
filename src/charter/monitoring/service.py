"""Monitoring services: define monitors and channels, read alerts, runs and deliveries.

Every change is authorized in the model's team scope (``monitor:write``) and audited in the same
transaction (``resource_type="monitor"``, ``"alert"``, ``"notification_channel"``). Running a
monitor, firing and resolving alerts live in ``worker``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.config import Settings
from charter.db.base import utcnow
from charter.errors import Conflict, InvalidInput, NotFound
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.inventory.service import get_model_row, get_version_row, scope_of
from charter.monitoring.evaluators import check_config
from charter.monitoring.models import AlertRow, ChannelRow, DeliveryRow, MonitorRow, MonitorRunRow
from charter.monitoring.notify import seal_secret, seal_target, shown_target
from charter.monitoring.schemas import (
    AlertRead,
    ChannelCreate,
    ChannelRead,
    DeliveryRead,
    MonitorCreate,
    MonitorRead,
    MonitorUpdate,
    RunRead,
)
from charter.pagination import Page, clamp_limit, parse_int_cursor
from charter.security.permissions import Permission
from charter.security.principal import ORG, Principal, authorize

P = Permission


def monitor_read(row: MonitorRow, model: str, version: str | None) -> MonitorRead:
    return MonitorRead(
        id=row.id,
        model=model,
        version=version,
        name=row.name,
        kind=row.kind,
        config=_shown_config(row),
        interval=row.interval,
        on_ingest=row.on_ingest,
        severity=row.severity,
        open_incident=row.open_incident,
        enabled=row.enabled,
        next_run_at=row.next_run_at,
        last_run_at=row.last_run_at,
        last_status=row.last_status,
        last_value=row.last_value,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _shown_config(row: MonitorRow) -> dict[str, object]:
    """The configuration, with a drift reference profile summarised (it can be megabytes)."""
    if row.kind != "drift":
        return dict(row.config)
    profile = row.config.get("reference_profile") or {}
    columns = profile.get("columns") if isinstance(profile, dict) else None
    summary = {"columns": sorted(columns) if isinstance(columns, dict) else columns, "rows": profile.get("rows")}
    return {**row.config, "reference_profile": summary}


def _version_name(session: Session, version_id: int | None) -> str | None:
    if version_id is None:
        return None
    return session.scalar(select(ModelVersionRow.version).where(ModelVersionRow.id == version_id))


def get_monitor_row(session: Session, model: ModelRow, name: str) -> MonitorRow:
    row = session.scalars(select(MonitorRow).where(MonitorRow.model_id == model.id, MonitorRow.name == name)).first()
    if row is None:
        raise NotFound(f"Model {model.name!r} has no monitor {name!r}.")
    return row


def monitor_for(
    session: Session, actor: Principal, model_ref: str | int, name: str, permission: Permission
) -> MonitorRow:
    model = get_model_row(session, model_ref)
    authorize(actor, permission, scope_of(model))
    return get_monitor_row(session, model, name)


def create_monitor(session: Session, actor: Principal, model_ref: str | int, data: MonitorCreate) -> MonitorRead:
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_WRITE, scope_of(model))
    version = get_version_row(session, model, data.version) if data.version else None
    if session.scalar(select(MonitorRow.id).where(MonitorRow.model_id == model.id, MonitorRow.name == data.name)):
        raise Conflict(f"Model {model.name!r} already has a monitor {data.name!r}; choose another name.")
    config = check_config(data.kind, data.config.model_dump(mode="json", by_alias=True))
    now = utcnow()
    row = MonitorRow(
        model_id=model.id,
        version_id=version.id if version else None,
        name=data.name,
        kind=data.kind,
        config=config,
        interval=data.interval,
        on_ingest=data.on_ingest,
        severity=data.severity,
        open_incident=data.open_incident,
        enabled=data.enabled,
        # A scheduled monitor runs at once, then every interval.
        next_run_at=now if data.interval else None,
        created_at=now,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "monitor.create",
        resource_type="monitor",
        resource_id=row.id,
        details={"model": model.name, "name": row.name, "kind": row.kind, "severity": row.severity},
    )
    return monitor_read(row, model.name, version.version if version else None)


def update_monitor(
    session: Session, actor: Principal, model_ref: str | int, name: str, data: MonitorUpdate
) -> MonitorRead:
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_WRITE, scope_of(model))
    row = get_monitor_row(session, model, name)
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(row, field, value)
    if "interval" in changes or changes.get("enabled"):
        row.next_run_at = utcnow() if row.interval else None
    session.flush()
    audit.record(session, actor, "monitor.update", resource_type="monitor", resource_id=row.id, details=changes)
    return monitor_read(row, model.name, _version_name(session, row.version_id))


def delete_monitor(session: Session, actor: Principal, model_ref: str | int, name: str) -> None:
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_WRITE, scope_of(model))
    row = get_monitor_row(session, model, name)
    now = utcnow()
    firing = list(session.scalars(select(AlertRow).where(AlertRow.monitor_id == row.id, AlertRow.status == "firing")))
    for alert in firing:  # nothing would ever resolve them once their monitor is gone
        alert.status, alert.resolved_at, alert.last_seen = "resolved", now, now
    audit.record(
        session,
        actor,
        "monitor.delete",
        resource_type="monitor",
        resource_id=row.id,
        details={"name": name, "resolved_alerts": [a.id for a in firing]},
    )
    session.delete(row)
    session.flush()


def list_monitors(session: Session, actor: Principal, model_ref: str | int) -> list[MonitorRead]:
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_READ, scope_of(model))
    rows = session.scalars(select(MonitorRow).where(MonitorRow.model_id == model.id).order_by(MonitorRow.name))
    versions = dict(
        session.execute(
            select(ModelVersionRow.id, ModelVersionRow.version).where(ModelVersionRow.model_id == model.id)
        ).all()
    )
    return [monitor_read(r, model.name, versions.get(r.version_id) if r.version_id else None) for r in rows]


def read_monitor(session: Session, actor: Principal, model_ref: str | int, name: str) -> MonitorRead:
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_READ, scope_of(model))
    row = get_monitor_row(session, model, name)
    return monitor_read(row, model.name, _version_name(session, row.version_id))


def run_read(row: MonitorRunRow, alert_id: int | None = None) -> RunRead:
    return RunRead(
        id=row.id,
        monitor_id=row.monitor_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        trigger=row.trigger,
        worker=row.worker,
        status=row.status,
        value=row.value,
        message=row.message,
        details=row.details,
        alert_id=alert_id,
    )


def list_runs(
    session: Session, actor: Principal, model_ref: str | int, name: str, *, limit: int | None = None
) -> list[RunRead]:
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_READ, scope_of(model))
    row = get_monitor_row(session, model, name)
    stmt = (
        select(MonitorRunRow)
        .where(MonitorRunRow.monitor_id == row.id)
        .order_by(MonitorRunRow.id.desc())
        .limit(clamp_limit(limit))
    )
    return [run_read(r) for r in session.scalars(stmt)]


def mark_ingested(session: Session, model_id: int, now: datetime | None = None) -> int:
    """Data arrived for a model: its monitors that run on ingestion are due now (the worker runs them)."""
    result = session.execute(
        update(MonitorRow)
        .where(MonitorRow.model_id == model_id, MonitorRow.on_ingest.is_(True), MonitorRow.enabled.is_(True))
        .values(next_run_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- alerts ---------------------------------------------------------------------------------------


def alert_read(row: AlertRow, monitor: str | None, model: str | None) -> AlertRead:
    return AlertRead(
        id=row.id,
        source=row.source,
        monitor_id=row.monitor_id,
        monitor=monitor,
        model=model,
        status=row.status,
        severity=row.severity,
        title=row.title,
        message=row.message,
        value=row.value,
        occurrences=row.occurrences,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
        incident_id=row.incident_id,
    )


def list_alerts(
    session: Session,
    actor: Principal,
    *,
    model_ref: str | int | None = None,
    status: str | None = None,
    incident_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[AlertRead]:
    """Alerts the actor may read, newest first, a page at a time.

    Team readers (``monitor:read`` in some teams) see their teams' models' alerts; incident-deadline
    alerts, which name no model, are for organisation-wide readers.
    """
    limit = clamp_limit(limit)
    stmt = (
        select(AlertRow, MonitorRow.name, ModelRow.name)
        .outerjoin(MonitorRow, MonitorRow.id == AlertRow.monitor_id)
        .outerjoin(ModelRow, ModelRow.id == AlertRow.model_id)
        .order_by(AlertRow.id.desc())
        .limit(limit + 1)
    )
    if model_ref is not None:
        model = get_model_row(session, model_ref)
        authorize(actor, P.MONITOR_READ, scope_of(model))
        stmt = stmt.where(AlertRow.model_id == model.id)
    else:
        teams = actor.team_ids_with(P.MONITOR_READ)
        if teams is not None:
            if not teams:
                authorize(actor, P.MONITOR_READ, ORG)  # holds it nowhere: refused, and audited as such
            stmt = stmt.where(ModelRow.team_id.in_(teams))
    if status is not None:
        if status not in ("firing", "resolved"):
            raise InvalidInput("`status` is `firing` or `resolved`.")
        stmt = stmt.where(AlertRow.status == status)
    if incident_id is not None:
        stmt = stmt.where(AlertRow.incident_id == incident_id)
    before = parse_int_cursor(cursor)
    if before is not None:
        stmt = stmt.where(AlertRow.id < before)
    rows = list(session.execute(stmt))
    page = rows[:limit]
    items = [alert_read(a, monitor, model_name) for a, monitor, model_name in page]
    return Page(items=items, next_cursor=str(page[-1][0].id) if len(rows) > limit else None)


def firing_counts(session: Session) -> list[tuple[str | None, str, int]]:
    """(model, severity, firing alerts): what /metrics exports."""
    stmt = (
        select(ModelRow.name, AlertRow.severity, func.count())
        .select_from(AlertRow)
        .outerjoin(ModelRow, ModelRow.id == AlertRow.model_id)
        .where(AlertRow.status == "firing")
        .group_by(ModelRow.name, AlertRow.severity)
    )
    return [(model, severity, int(n)) for model, severity, n in session.execute(stmt)]


def monitor_states(session: Session) -> list[tuple[str, str, str | None, float | None]]:
    """(model, monitor, last status, last value) of every enabled monitor: what /metrics exports."""
    stmt = (
        select(ModelRow.name, MonitorRow.name, MonitorRow.last_status, MonitorRow.last_value)
        .join(ModelRow, ModelRow.id == MonitorRow.model_id)
        .where(MonitorRow.enabled.is_(True))
    )
    return [(m, n, s, v) for m, n, s, v in session.execute(stmt)]


# -- channels -------------------------------------------------------------------------------------


def _channel_read(row: ChannelRow) -> ChannelRead:
    return ChannelRead(
        id=row.id,
        name=row.name,
        kind=row.kind,
        target=shown_target(row.target),
        signed=row.secret is not None,
        min_severity=row.min_severity,
        enabled=row.enabled,
        created_at=row.created_at,
    )


def create_channel(session: Session, actor: Principal, settings: Settings, data: ChannelCreate) -> ChannelRead:
    """A place alerts are sent (organisation-wide: ``monitor:write`` in every team, i.e. administrators)."""
    authorize(actor, P.MONITOR_WRITE, ORG)
    if data.kind in ("webhook", "slack") and not data.target.startswith(("https://", "http://")):
        raise InvalidInput("A webhook's target is its http(s) URL.")
    if data.kind == "slack" and len(data.target) > 300:
        raise InvalidInput("A Slack incoming-webhook URL has at most 300 characters.")
    if data.kind == "email" and "@" not in data.target:
        raise InvalidInput("An e-mail channel's target is an e-mail address.")
    if session.scalar(select(ChannelRow.id).where(ChannelRow.name == data.name)):
        raise Conflict(f"A channel named {data.name!r} exists; choose another name.")
    row = ChannelRow(
        name=data.name,
        kind=data.kind,
        target=seal_target(settings, data.target) if data.kind == "slack" else data.target,
        secret=seal_secret(settings, data.secret) if data.secret else None,
        min_severity=data.min_severity,
        enabled=data.enabled,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "channel.create",
        resource_type="notification_channel",
        resource_id=row.id,
        # The secret itself never reaches the trail; that it exists does.
        details={"name": row.name, "kind": row.kind, "signed": row.secret is not None},
    )
    return _channel_read(row)


def list_channels(session: Session, actor: Principal) -> list[ChannelRead]:
    authorize(actor, P.MONITOR_READ, ORG)
    return [_channel_read(r) for r in session.scalars(select(ChannelRow).order_by(ChannelRow.name))]


def list_deliveries(
    session: Session, actor: Principal, *, status: str | None = None, limit: int | None = None
) -> list[DeliveryRead]:
    """The outbox, newest first; ``status="dead"`` lists the dead letters."""
    authorize(actor, P.MONITOR_READ, ORG)
    stmt = (
        select(DeliveryRow, ChannelRow.name)
        .join(ChannelRow, ChannelRow.id == DeliveryRow.channel_id)
        .order_by(DeliveryRow.id.desc())
        .limit(clamp_limit(limit))
    )
    if status is not None:
        stmt = stmt.where(DeliveryRow.status == status)
    return [
        DeliveryRead(
            id=d.id,
            alert_id=d.alert_id,
            channel=channel,
            event=d.event,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_error=d.last_error,
            sent_at=d.sent_at,
        )
        for d, channel in session.execute(stmt)
    ]


def production_version(session: Session, model_id: int) -> ModelVersionRow | None:
    stmt = (
        select(ModelVersionRow)
        .where(ModelVersionRow.model_id == model_id, ModelVersionRow.stage == "production")
        .order_by(ModelVersionRow.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()
