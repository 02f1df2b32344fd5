"""Inventory tables. Rows stay here; services return the schemas in ``schemas.py``.

Lists that are only ever read and written whole (tags, regulations, metrics, card fields) are JSON
columns: they are facts about one row, never joined on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from charter.db.base import Base, utcnow

STAGES = ("draft", "review", "approved", "production", "deprecated", "retired")
DOMAINS = ("credit", "employment", "health", "biometrics", "education", "law_enforcement", "insurance", "other")
CLASSIFICATIONS = ("public", "internal", "personal", "special_category")
DATASET_ROLES = ("training", "evaluation", "reference")
VERDICTS = ("clean", "unsafe", "not_verified")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DatasetRow(Base):
    __tablename__ = "datasets"
    __table_args__ = (CheckConstraint(_in("classification", CLASSIFICATIONS), name="classification"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(1000))
    classification: Mapped[str] = mapped_column(String(20))
    legal_basis: Mapped[str | None] = mapped_column(String(40))
    retention_days: Mapped[int | None] = mapped_column(Integer)
    consent_required: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class ModelRow(Base):
    """An AI system in the inventory."""

    __tablename__ = "models"
    __table_args__ = (CheckConstraint(_in("domain", DOMAINS), name="domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(Text)
    intended_use: Mapped[str | None] = mapped_column(Text)
    out_of_scope_uses: Mapped[list[str]] = mapped_column(JSON, default=list)
    domain: Mapped[str] = mapped_column(String(20), default="other")
    deployment_context: Mapped[str | None] = mapped_column(Text)
    data_sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    regulations: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # EU AI Act tier (unacceptable / high / limited / minimal); set by risk assessment, filterable here.
    risk_tier: Mapped[str | None] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ModelVersionRow]] = relationship(
        back_populates="model", order_by="ModelVersionRow.id", lazy="raise_on_sql"
    )


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        CheckConstraint(_in("stage", STAGES), name="stage"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    description: Mapped[str | None] = mapped_column(Text)
    framework: Mapped[str | None] = mapped_column(String(100))
    input_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    output_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Model-card fields the owner edits (limitations, ethical considerations, ...); the rest is assembled.
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The OpenSSF model-signing bundle (model.sig) over every artifact's plaintext digest.
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    signature_key_id: Mapped[str | None] = mapped_column(String(32))
    signed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The author, as named in the audit trail: four eyes compare approvers against it.
    created_by: Mapped[str] = mapped_column(String(100))
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[ModelRow] = relationship(back_populates="versions", lazy="joined")
    datasets: Mapped[list[VersionDatasetRow]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="VersionDatasetRow.dataset_id"
    )
    artifacts: Mapped[list[ArtifactRow]] = relationship(
        back_populates="version", cascade="all, delete-orphan", lazy="selectin", order_by="ArtifactRow.path"
    )
    transitions: Mapped[list[StageTransitionRow]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="StageTransitionRow.id"
    )


class VersionDatasetRow(Base):
    """Lineage: a dataset a version was trained or evaluated on, or compares against."""

    __tablename__ = "version_datasets"
    __table_args__ = (CheckConstraint(_in("role", DATASET_ROLES), name="role"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    dataset: Mapped[DatasetRow] = relationship(lazy="joined")


class StageTransitionRow(Base):
    """One lifecycle step of a version: who moved it, when, why; approvals are transitions to `approved`."""

    __tablename__ = "stage_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobRow(Base):
    """A stored, encrypted file, named by the SHA-256 of its plaintext.

    The data key is kept wrapped by a master key (key id recorded); the master key never enters the
    database. Rotation rewrites ``key_id`` and ``wrapped_key`` only: the blob itself is untouched.
    """

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    stored_size: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArtifactRow(Base):
    """A file of a model version (the plaintext path in the model folder) and its scan verdict."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("version_id", "path"),
        CheckConstraint(_in("scan_verdict", VERDICTS), name="scan_verdict"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(40))
    scan_verdict: Mapped[str] = mapped_column(String(20))
    scan_findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    scanned_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An administrator's recorded decision to let a flagged artifact through the lifecycle.
    override_by: Mapped[str | None] = mapped_column(String(100))
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    version: Mapped[ModelVersionRow] = relationship(back_populates="artifacts")
    blob: Mapped[BlobRow] = relationship(lazy="joined")
