"""Incident tables. Rows stay here; services return the schemas in ``schemas.py``.

An incident's deadlines are stored as times (``response_due_at``, a report's ``due_at``) when they
are set, so that "which incidents are overdue" is one indexed query; the service recomputes them
whenever the severity or the detection time changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from charter.db.base import Base, utcnow
from charter.incidents.lifecycle import REGIMES, SEVERITIES, SOURCES, STATUSES, TYPES

#: Timeline entries people write, and those the service writes as things happen.
WRITTEN_KINDS = ("immediate_action", "investigation_note", "mitigation", "communication")
EVENT_KINDS = ("reported", "alert", "status_change", "update", "assignment", "regulatory", "containment", "review")
ENTRY_KINDS = WRITTEN_KINDS + EVENT_KINDS
AUDIENCES = ("internal", "external")
CONTAINMENT_KINDS = ("deprecate_version", "suspend_logging")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class IncidentRow(Base):
    """Something went wrong with one or more AI systems, and what is being done about it."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(_in("type", TYPES), name="type"),
        CheckConstraint(_in("severity", SEVERITIES), name="severity"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("source", SOURCES), name="source"),
        Index("ix_incidents_status_response_due", "status", "response_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(20), default="reported")
    source: Mapped[str] = mapped_column(String(30))
    # Alerts with the same key land in the same open incident (see ``service.open_or_attach``).
    dedup_key: Mapped[str | None] = mapped_column(String(200), index=True)
    # The scope: the team of the first affected model; NULL is organisation-wide.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    reporter: Mapped[str] = mapped_column(String(100))
    commander: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64))
    # When the problem became known (regulatory clocks run from here); ``reported_at``: when it
    # was reported to Charter (the response clock runs from there).
    detected_at: Mapped[datetime] = mapped_column()
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    response_due_at: Mapped[datetime] = mapped_column()
    triaged_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What a regulator's report needs (EU AI Act Art. 73, GDPR Art. 33(3)).
    affected_people: Mapped[int | None] = mapped_column(Integer)
    affected_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    records_affected: Mapped[int | None] = mapped_column(Integer)
    consequences: Mapped[str | None] = mapped_column(Text)
    contact_point: Mapped[str | None] = mapped_column(String(500))
    member_states: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Whatever the source attached (an alert's rule and values); shown, never interpreted.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    models: Mapped[list[IncidentModelRow]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="IncidentModelRow.id"
    )
    reports: Mapped[list[RegulatoryReportRow]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="RegulatoryReportRow.id"
    )
    containments: Mapped[list[ContainmentRow]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ContainmentRow.id"
    )
    review: Mapped[ReviewRow | None] = relationship(cascade="all, delete-orphan", lazy="selectin")


class IncidentModelRow(Base):
    """An AI system the incident affects; the version when it is known."""

    __tablename__ = "incident_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    # No cascade from the inventory: an incident's record outlives the rows it names.
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))


class TimelineEntryRow(Base):
    """One attributed entry of the incident's timeline; entries are never edited."""

    __tablename__ = "incident_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint(_in("audience", AUDIENCES), name="audience"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(Text)
    # Communications only: internal or external, and to whom.
    audience: Mapped[str | None] = mapped_column(String(10))
    recipient: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # When it happened (an action taken before it was written down); ``created_at``: when written.
    at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class RegulatoryReportRow(Base):
    """The incident is reportable under a regime: the clock runs from detection until submission."""

    __tablename__ = "incident_reports"
    __table_args__ = (
        UniqueConstraint("incident_id", "regime"),
        CheckConstraint(_in("regime", REGIMES), name="regime"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    regime: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)
    marked_by: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(index=True)
    submitted_at: Mapped[datetime | None] = mapped_column()
    submitted_by: Mapped[str | None] = mapped_column(String(100))
    # The authority's case number, or how the report was sent.
    reference: Mapped[str | None] = mapped_column(String(200))


class ContainmentRow(Base):
    """An action that limits the harm a model version can do while the incident is handled."""

    __tablename__ = "incident_containments"
    __table_args__ = (
        CheckConstraint(_in("kind", CONTAINMENT_KINDS), name="kind"),
        Index("ix_incident_containments_version_active", "version_id", "active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str] = mapped_column(Text)
    # The stage the version left (deprecations), so that lifting can say what it restores.
    previous_stage: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    lifted_at: Mapped[datetime | None] = mapped_column()
    lifted_by: Mapped[str | None] = mapped_column(String(100))
    lift_reason: Mapped[str | None] = mapped_column(Text)


class ReviewRow(Base):
    """The post-incident review: why it happened and what will change. Rewritten whole, audited each time."""

    __tablename__ = "incident_reviews"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    root_cause: Mapped[str] = mapped_column(Text)
    contributing_factors: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"action", "owner", "due_date", "done"}]: read and written with the review, never joined on.
    follow_ups: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    lessons: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))
