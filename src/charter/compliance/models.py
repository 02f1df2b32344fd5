"""Compliance tables: users' frameworks and their versions, attestations, and status snapshots.

The frameworks shipped with Charter are package data, never rows: a new Charter release updates
them. Attestations and snapshots name a framework by id, shipped or stored alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from charter.db.base import Base, utcnow


class FrameworkRow(Base):
    """A framework a user added; its content lives in immutable versions."""

    __tablename__ = "compliance_frameworks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # The current version: the one statuses evaluate.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FrameworkVersionRow(Base):
    __tablename__ = "compliance_framework_versions"
    __table_args__ = (UniqueConstraint("framework_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    framework_id: Mapped[str] = mapped_column(ForeignKey("compliance_frameworks.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SHA-256 of the canonical JSON of the document (also in the audit event that stored it).
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class AttestationRow(Base):
    """A person's statement that a requirement is met, for one model or the whole organisation, until a date.

    The supporting document is a blob in the artifact store (encrypted like model files, its data
    key wrapped by the master key); only its name, size and SHA-256 are kept here.
    """

    __tablename__ = "compliance_attestations"
    __table_args__ = (Index("ix_compliance_attestations_requirement", "framework_id", "requirement_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    framework_id: Mapped[str] = mapped_column(String(64))
    requirement_id: Mapped[str] = mapped_column(String(64))
    # None: organisation-wide (it covers every model).
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    statement: Mapped[str] = mapped_column(Text)
    document_digest: Mapped[str | None] = mapped_column(ForeignKey("blobs.digest"))
    document_name: Mapped[str | None] = mapped_column(String(200))
    document_size: Mapped[int | None] = mapped_column(BigInteger)
    valid_until: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class SnapshotRow(Base):
    """One evaluation of a model against a framework, kept only when its outcome changed (compacted history)."""

    __tablename__ = "compliance_snapshots"
    __table_args__ = (Index("ix_compliance_snapshots_model_framework", "model_id", "framework_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    framework_id: Mapped[str] = mapped_column(String(64))
    framework_sha256: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    # requirement id -> status; and the open gaps as the status reported them.
    statuses: Mapped[dict[str, str]] = mapped_column(JSON)
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
