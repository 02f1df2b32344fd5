"""Risk tables: scoring-rule versions, assessments, EU AI Act classifications and the risk register.

Rule versions, assessments and classifications are written once and never changed: a new
assessment or a new answer sheet is a new row, so each model keeps its history. Risks in the
register change; each change is in the audit trail.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from charter.db.base import Base, utcnow

RATINGS = ("low", "medium", "high", "critical")
TRIGGERS = ("manual", "evidence", "incident", "stage_change", "rules_change")
CATEGORIES = ("prohibited", "high_risk", "limited", "minimal")
RISK_CATEGORIES = ("privacy", "bias", "security", "compliance", "transparency", "robustness", "other")
TREATMENTS = ("mitigate", "accept", "transfer", "avoid")
STATUSES = ("open", "accepted", "closed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class RuleVersionRow(Base):
    """One version of the scoring rules (organisation-wide; the highest number is in force)."""

    __tablename__ = "risk_rule_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SHA-256 of the canonical JSON of the document (also in the audit event that saved it).
    sha256: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class AssessmentRow(Base):
    """A risk assessment of one model version under one version of the rules."""

    __tablename__ = "risk_assessments"
    __table_args__ = (
        CheckConstraint(_in("rating", RATINGS), name="rating"),
        CheckConstraint(_in("trigger", TRIGGERS), name="trigger"),
        # The history of a version, newest first, and its latest assessment, come from this index.
        Index("ix_risk_assessments_version_id_id", "version_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    rules_number: Mapped[int] = mapped_column(ForeignKey("risk_rule_versions.number"))
    score: Mapped[float] = mapped_column(Float)
    rating: Mapped[str] = mapped_column(String(10))
    # Every factor's score with its reasons, the weights and the overrides that fired.
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SHA-256 of the facts the rules read, clock-derived values left out: unchanged facts, no new assessment.
    facts_digest: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(20))
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class ClassificationRow(Base):
    """An EU AI Act classification of a model from one filled-in intake questionnaire."""

    __tablename__ = "risk_classifications"
    __table_args__ = (CheckConstraint(_in("category", CATEGORIES), name="category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    questionnaire_version: Mapped[str] = mapped_column(String(20))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    category: Mapped[str] = mapped_column(String(20))
    gpai: Mapped[bool] = mapped_column(Boolean)
    # The reasons, the obligations named and the GPAI details.
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    proposed_tier: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class RiskRow(Base):
    """A risk in the register: about one model, or organisation-wide (``model_id`` None)."""

    __tablename__ = "risks"
    __table_args__ = (
        CheckConstraint(_in("category", RISK_CATEGORIES), name="category"),
        CheckConstraint(_in("inherent_rating", RATINGS), name="inherent_rating"),
        CheckConstraint(_in("residual_rating", RATINGS), name="residual_rating"),
        CheckConstraint(f"treatment IS NULL OR {_in('treatment', TREATMENTS)}", name="treatment"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("likelihood BETWEEN 1 AND 5", name="likelihood"),
        CheckConstraint("impact BETWEEN 1 AND 5", name="impact"),
        CheckConstraint("residual_likelihood BETWEEN 1 AND 5", name="residual_likelihood"),
        CheckConstraint("residual_impact BETWEEN 1 AND 5", name="residual_impact"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    # The scope it is read and written in: the model's team, or a team named for an organisation-wide
    # risk; None: the whole organisation.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20))
    likelihood: Mapped[int] = mapped_column(Integer)
    impact: Mapped[int] = mapped_column(Integer)
    inherent_rating: Mapped[str] = mapped_column(String(10))
    controls: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Policy rules that control the risk, as "policy-id/rule-id".
    control_rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    residual_likelihood: Mapped[int] = mapped_column(Integer)
    residual_impact: Mapped[int] = mapped_column(Integer)
    residual_rating: Mapped[str] = mapped_column(String(10))
    owner: Mapped[str] = mapped_column(String(100))
    treatment: Mapped[str | None] = mapped_column(String(10))
    review_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    accepted_by: Mapped[str | None] = mapped_column(String(100))
    accepted_at: Mapped[datetime | None] = mapped_column()
    acceptance_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class RiskIncidentRow(Base):
    """An incident in which a registered risk materialised."""

    __tablename__ = "risk_incidents"

    risk_id: Mapped[int] = mapped_column(ForeignKey("risks.id", ondelete="CASCADE"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
