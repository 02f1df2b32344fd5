"""Monitoring tables: monitors and their runs, alerts, notification channels and the outbox.

A monitor is due when ``next_run_at`` has passed; a worker leases it (``lease_owner``,
``lease_until``) before evaluating it, so that with several workers each run happens once.
Alerts and the notifications about them are written in the same transaction: a notification
that cannot be delivered stays in the outbox (retried, then ``dead``), and the alert is never lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from charter.db.base import Base, utcnow

KINDS = ("metric_threshold", "drift", "fairness", "data_quality")
RUN_STATUSES = ("ok", "breach", "error")
ALERT_STATUSES = ("firing", "resolved")
ALERT_SOURCES = ("monitor", "incident_clock")
CHANNEL_KINDS = ("webhook", "slack", "email")
DELIVERY_STATUSES = ("pending", "sent", "dead")


class MonitorRow(Base):
    __tablename__ = "monitors"
    __table_args__ = (
        UniqueConstraint("model_id", "name"),
        Index("ix_monitors_due", "enabled", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    # The version watched; None: whichever version is in production when the monitor runs.
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Seconds between runs; None: only on ingestion (and on demand).
    interval: Mapped[int | None] = mapped_column(Integer)
    on_ingest: Mapped[bool] = mapped_column(Boolean, default=False)
    severity: Mapped[str] = mapped_column(String(4))  # of its alerts and the incidents they open
    open_incident: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_run_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[str | None] = mapped_column(String(10))
    last_value: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class MonitorRunRow(Base):
    __tablename__ = "monitor_runs"
    __table_args__ = (Index("ix_monitor_runs_monitor", "monitor_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column()
    trigger: Mapped[str] = mapped_column(String(20))  # schedule, ingest, manual
    worker: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status", "status", "model_id"),
        Index("ix_alerts_monitor", "monitor_id"),
        Index("ix_alerts_key", "dedup_key", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What raised it: a monitor, or an incident's deadline (``incident_clock``).
    source: Mapped[str] = mapped_column(String(20))
    # Alerts outlive the monitor that raised them (deleting it resolves them).
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id", ondelete="SET NULL"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    # One firing alert per key: a breach that goes on updates it (``occurrences``), never duplicates it.
    dedup_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    severity: Mapped[str] = mapped_column(String(4))
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))


class ChannelRow(Base):
    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    # A webhook URL or an e-mail address.
    target: Mapped[str] = mapped_column(String(500))
    # The webhook's HMAC secret, sealed with a key derived from the server secret (never in clear).
    secret: Mapped[str | None] = mapped_column(String(200))
    min_severity: Mapped[str] = mapped_column(String(4))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class DeliveryRow(Base):
    """The outbox: one row per (alert event, channel), written with the alert, delivered by the worker."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(10))  # firing, resolved
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
