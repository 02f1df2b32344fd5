"""Evidence rows. A row is written once and never changed: corrections are new evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from charter.db.base import Base, utcnow

# dpia and fria: the structured impact assessments of GDPR Art. 35 and EU AI Act Art. 27 (charter.compliance).
KINDS = ("fairness", "evaluation", "impact_assessment", "attestation", "policy", "dpia", "fria", "risk_assessment")


class EvidenceRow(Base):
    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_version_kind", "version_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    # The headline numbers (what a card or a policy reads); ``body`` holds the whole result.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Pass/fail against the thresholds the evidence was judged by; None when it has none.
    passed: Mapped[bool | None] = mapped_column(Boolean)
    data_fingerprint: Mapped[str | None] = mapped_column(String(100))
    engine: Mapped[str | None] = mapped_column(String(40))
    library_version: Mapped[str] = mapped_column(String(40))
    # SHA-256 of the canonical JSON of the body, also written to the audit trail: a changed row is detectable.
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
