"""The monitoring worker: run due monitors, fire and resolve alerts, deliver notifications, watch deadlines.

``tick`` does one round and is what both ``charter worker`` (a loop) and ``charter serve`` (a
background task, for the single-machine default) call. With several workers on PostgreSQL each
monitor run and each delivery happens once: a worker *leases* due rows (``SELECT ... FOR UPDATE
SKIP LOCKED``, then a lease time written in the same short transaction), so another worker skips
them, and a worker that dies loses its lease when it expires. SQLite has one writer at a time, which
serialises the claims by itself.

A run evaluates in a read-only session and writes its outcome in a short writing one, so a slow
drift computation never holds SQLite's write lock.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.config import Settings
from charter.db.base import utcnow
from charter.db.engine import Database
from charter.errors import CharterError, NotFound
from charter.incidents.lifecycle import rank
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.monitoring import notify
from charter.monitoring.evaluators import MONITOR, Context, Verdict, evaluate
from charter.monitoring.models import AlertRow, ChannelRow, DeliveryRow, MonitorRow, MonitorRunRow
from charter.monitoring.schemas import RunRead
from charter.monitoring.service import alert_read, production_version, run_read
from charter.security.principal import Principal

log = logging.getLogger("charter.worker")
LEASE = timedelta(minutes=10)
CLAIM_BATCH = 50
INCIDENT_TYPES = {
    "metric_threshold": "performance",
    "drift": "performance",
    "fairness": "bias_fairness",
    "data_quality": "performance",
}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Round:
    """What one ``tick`` did."""

    runs: int
    breaches: int  # runs that found a breach (a new alert, or one that goes on firing)
    clock_alerts: int  # incident deadlines newly overdue
    clock_resolved: int
    delivered: int
    failed: int


def _claim(session: Session, stmt: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def claim_monitors(db: Database, owner: str, now: datetime, limit: int = CLAIM_BATCH) -> list[int]:
    """Lease the monitors that are due (and not leased by a live worker) to ``owner``."""
    with db.session() as session:
        stmt = (
            select(MonitorRow.id)
            .where(
                MonitorRow.enabled.is_(True),
                MonitorRow.next_run_at <= now,
                or_(MonitorRow.lease_until.is_(None), MonitorRow.lease_until < now),
            )
            .order_by(MonitorRow.next_run_at)
            .limit(limit)
        )
        ids = list(session.scalars(_claim(session, stmt)))
        if ids:
            session.execute(
                update(MonitorRow).where(MonitorRow.id.in_(ids)).values(lease_owner=owner, lease_until=now + LEASE)
            )
    return ids


def run_monitor(
    db: Database,
    settings: Settings,
    monitor_id: int,
    *,
    worker: str,
    trigger: str = "schedule",
    now: datetime | None = None,
    actor: Principal | None = None,
) -> RunRead:
    """Evaluate one monitor and record the run, its alert and the alert's notifications.

    ``actor``: who asked for a run on demand (audited as ``monitor.run``); scheduled runs are the
    worker's own and leave only their run record (their alerts are audited).
    """
    started = now or utcnow()
    with db.session(write=False) as session:
        monitor = session.get(MonitorRow, monitor_id)
        if monitor is None:
            raise NotFound(f"There is no monitor {monitor_id}.")
        model = session.get(ModelRow, monitor.model_id)
        assert model is not None
        version = (
            session.get(ModelVersionRow, monitor.version_id)
            if monitor.version_id
            else production_version(session, monitor.model_id)
        )
        if version is None:
            verdict = Verdict("error", None, f"Model {model.name!r} has no version in production to watch.")
        else:
            try:
                verdict = evaluate(Context(session, settings, monitor, model, version, started))
            except Exception as exc:  # an evaluator's bug must not stop the worker; the run says what happened
                log.exception("monitor %s failed", monitor_id)
                verdict = Verdict("error", None, f"The check failed unexpectedly ({type(exc).__name__}).")
        version_id = None if version is None else version.id
    finished = utcnow() if now is None else now
    with db.session() as session:
        monitor = session.get(MonitorRow, monitor_id)
        if monitor is None:  # deleted while it ran
            raise NotFound(f"There is no monitor {monitor_id}.")
        run = MonitorRunRow(
            monitor_id=monitor.id,
            started_at=started,
            finished_at=finished,
            trigger=trigger,
            worker=worker,
            status=verdict.status,
            value=verdict.value,
            message=verdict.message,
            details=verdict.details,
        )
        session.add(run)
        alert_id = apply_verdict(session, settings, monitor, version_id, verdict, finished)
        monitor.last_run_at = finished
        monitor.last_status = verdict.status
        monitor.last_value = verdict.value
        monitor.lease_owner = monitor.lease_until = None
        monitor.next_run_at = finished + timedelta(seconds=monitor.interval) if monitor.interval else None
        session.flush()
        if actor is not None:
            audit.record(
                session,
                actor,
                "monitor.run",
                resource_type="monitor",
                resource_id=monitor.id,
                details={"run": run.id, "status": run.status, "alert": alert_id},
            )
        return run_read(run, alert_id)


def apply_verdict(
    session: Session,
    settings: Settings,
    monitor: MonitorRow,
    version_id: int | None,
    verdict: Verdict,
    now: datetime,
) -> int | None:
    """Fire (or keep firing) an alert on a breach, resolve the monitor's alerts on a pass; errors change nothing."""
    if verdict.status == "error":
        return None
    key = f"monitor:{monitor.id}:{verdict.subject}"
    firing = session.scalars(
        select(AlertRow).where(AlertRow.dedup_key == key, AlertRow.status == "firing").limit(1)
    ).first()
    if verdict.status == "ok":
        for alert in session.scalars(
            select(AlertRow).where(AlertRow.monitor_id == monitor.id, AlertRow.status == "firing")
        ):
            _resolve(session, alert, now, verdict.message)
        return None
    if firing is not None:  # the breach goes on: one alert, counted, not a new one
        firing.occurrences += 1
        firing.last_seen = now
        firing.value = verdict.value
        firing.message = verdict.message
        return firing.id
    model = session.get(ModelRow, monitor.model_id)
    assert model is not None
    alert = AlertRow(
        source="monitor",
        monitor_id=monitor.id,
        model_id=monitor.model_id,
        dedup_key=key,
        status="firing",
        severity=monitor.severity,
        title=f"{model.name}: monitor {monitor.name} ({monitor.kind.replace('_', ' ')}) breached",
        message=verdict.message,
        value=verdict.value,
        occurrences=1,
        first_seen=now,
        last_seen=now,
    )
    session.add(alert)
    session.flush()
    if monitor.open_incident:
        alert.incident_id = _open_incident(session, settings, monitor, model, version_id, alert)
    audit.record(
        session,
        MONITOR,
        "alert.fire",
        resource_type="alert",
        resource_id=alert.id,
        details={
            "monitor": monitor.name,
            "model": model.name,
            "severity": alert.severity,
            "incident": alert.incident_id,
        },
    )
    _enqueue(session, alert, "firing", now, model.name, monitor.name)
    return alert.id


def _open_incident(
    session: Session, settings: Settings, monitor: MonitorRow, model: ModelRow, version_id: int | None, alert: AlertRow
) -> int | None:
    from charter.incidents.schemas import AffectedModel
    from charter.incidents.service import open_or_attach

    version = session.get(ModelVersionRow, version_id) if version_id else None
    outcome = open_or_attach(
        session,
        MONITOR,
        dedup_key=f"monitor:{monitor.id}",
        type=INCIDENT_TYPES[monitor.kind],
        severity=monitor.severity,
        title=alert.title,
        source="monitoring_alert",
        models=[AffectedModel(model=model.name, version=version.version if version else None)],
        details={"alert_id": alert.id, "monitor": monitor.name, "message": alert.message, "value": alert.value},
        slas={str(k): v for k, v in settings.incident_response_slas.items()},
        now=alert.first_seen,
    )
    return outcome.incident.id


def _resolve(session: Session, alert: AlertRow, now: datetime, why: str) -> None:
    alert.status = "resolved"
    alert.resolved_at = now
    alert.last_seen = now
    audit.record(
        session, MONITOR, "alert.resolve", resource_type="alert", resource_id=alert.id, details={"reason": why[:300]}
    )
    model = session.get(ModelRow, alert.model_id) if alert.model_id else None
    monitor = session.get(MonitorRow, alert.monitor_id) if alert.monitor_id else None
    _enqueue(session, alert, "resolved", now, model.name if model else None, monitor.name if monitor else None)


def _enqueue(
    session: Session, alert: AlertRow, event: str, now: datetime, model: str | None, monitor: str | None
) -> int:
    """One outbox row per enabled channel that takes the alert's severity, in the alert's transaction."""
    session.flush()
    body = notify.payload(event, alert_read(alert, monitor, model).model_dump(mode="json"))
    count = 0
    for channel in session.scalars(select(ChannelRow).where(ChannelRow.enabled.is_(True))):
        if rank(alert.severity) > rank(channel.min_severity):
            continue
        session.add(
            DeliveryRow(alert_id=alert.id, channel_id=channel.id, event=event, payload=body, next_attempt_at=now)
        )
        count += 1
    return count


# -- deliveries -----------------------------------------------------------------------------------


def deliver_due(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    sender: notify.Sender | None = None,
    limit: int = CLAIM_BATCH,
) -> tuple[int, int]:
    """Send the deliveries that are due: (sent, failed). A failure is retried later, then dead-lettered."""
    moment = now or utcnow()
    send = sender or notify.send(settings)
    with db.session() as session:
        stmt = (
            select(DeliveryRow.id)
            .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= moment)
            .order_by(DeliveryRow.next_attempt_at)
            .limit(limit)
        )
        ids = list(session.scalars(_claim(session, stmt)))
        if ids:  # leased: pushed into the future while this worker sends them
            session.execute(update(DeliveryRow).where(DeliveryRow.id.in_(ids)).values(next_attempt_at=moment + LEASE))
    sent = failed = 0
    for delivery_id in ids:
        with db.session(write=False) as session:
            delivery = session.get(DeliveryRow, delivery_id)
            channel = session.get(ChannelRow, delivery.channel_id) if delivery else None
            if delivery is None or channel is None:
                continue
            secret = notify.open_secret(settings, channel.secret) if channel.secret else None
            target = notify.Target(channel.kind, notify.open_target(settings, channel.target), secret)
            body = dict(delivery.payload)
        error: str | None = None
        try:
            send(target, body)
        except Exception as exc:  # any failure of the far side is recorded and retried, never raised
            error = notify.failure_text(exc, target.address)
        with db.session() as session:
            delivery = session.get(DeliveryRow, delivery_id)
            if delivery is None:
                continue
            delivery.attempts += 1
            if error is None:
                delivery.status, delivery.sent_at, delivery.last_error = "sent", utcnow(), None
                sent += 1
                continue
            failed += 1
            delivery.last_error = error
            if delivery.attempts >= settings.notification_max_attempts:
                delivery.status = "dead"
                audit.record(
                    session,
                    MONITOR,
                    "notification.dead",
                    resource_type="notification_channel",
                    resource_id=delivery.channel_id,
                    details={"delivery": delivery.id, "alert": delivery.alert_id, "attempts": delivery.attempts,
                             "error": error},
                )  # fmt: skip
            else:
                delivery.next_attempt_at = moment + notify.backoff(delivery.attempts)
    return sent, failed


# -- incident deadlines ---------------------------------------------------------------------------


def watch_clocks(db: Database, settings: Settings, now: datetime | None = None) -> tuple[int, int]:
    """Fire an alert for each overdue incident clock; resolve it once the clock is met. (fired, resolved)"""
    from charter.incidents.service import overdue

    moment = now or utcnow()
    fired = resolved = 0
    with db.session() as session:
        late = overdue(session, moment)
        keys = {}
        for clock in late:
            key = f"incident:{clock.incident_id}:{clock.kind}:{clock.regime or 'response'}"
            keys[key] = clock
        firing = {
            a.dedup_key: a
            for a in session.scalars(
                select(AlertRow).where(AlertRow.source == "incident_clock", AlertRow.status == "firing")
            )
        }
        for key, clock in keys.items():
            if key in firing:
                firing[key].last_seen = moment
                continue
            what = "report to the authority" if clock.kind == "regulatory" else "triage"
            alert = AlertRow(
                source="incident_clock",
                monitor_id=None,
                model_id=None,
                dedup_key=key,
                status="firing",
                severity=clock.severity,
                title=f"Incident #{clock.incident_id}: {what} overdue ({clock.regime or clock.kind})",
                message=f"{clock.title}: the {what} was due {clock.due_at.isoformat()}.",
                value=None,
                occurrences=1,
                first_seen=moment,
                last_seen=moment,
                incident_id=clock.incident_id,
            )
            session.add(alert)
            session.flush()
            audit.record(
                session,
                MONITOR,
                "alert.fire",
                resource_type="alert",
                resource_id=alert.id,
                details={"incident": clock.incident_id, "clock": clock.kind, "regime": clock.regime},
            )
            _enqueue(session, alert, "firing", moment, None, None)
            fired += 1
        for key, alert in firing.items():
            if key not in keys:
                _resolve(session, alert, moment, "the deadline was met or no longer applies")
                resolved += 1
    return fired, resolved


def tick(db: Database, settings: Settings, *, worker: str | None = None, now: datetime | None = None) -> Round:
    """One round of work: due monitors, incident deadlines, then notifications."""
    owner = worker or worker_name()
    moment = now or utcnow()
    runs = breaches = 0
    for monitor_id in claim_monitors(db, owner, moment):
        try:
            run = run_monitor(db, settings, monitor_id, worker=owner, now=now)
        except CharterError as exc:
            log.warning("monitor %s not run: %s", monitor_id, exc.message)
            continue
        runs += 1
        breaches += run.status == "breach"
    clock_fired, clock_resolved = watch_clocks(db, settings, now)
    sent, failed = deliver_due(db, settings, now=now)
    return Round(runs, breaches, clock_fired, clock_resolved, sent, failed)


def run_now(db: Database, settings: Settings, monitor_ids: Sequence[int], *, actor: Principal) -> list[RunRead]:
    """Run the given monitors at once (``charter monitor run``, ``POST .../run``), whatever their schedule."""
    owner = worker_name()
    return [run_monitor(db, settings, i, worker=owner, trigger="manual", actor=actor) for i in monitor_ids]
