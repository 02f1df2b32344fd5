"""Report tables: a generated report and its rendered files.

A report row keeps what the report is about and the SHA-256 of its document (the canonical JSON);
each file row keeps a format's SHA-256 and size, its bytes being a blob in the artifact store
(encrypted like model files, named by the SHA-256 of the plaintext). The audit event that
recorded the generation (``audit_seq``) names the same hashes, so the chain vouches for them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from charter.db.base import Base, utcnow

KINDS = ("model", "organisation")
FORMATS = ("json", "html", "pdf", "oscal")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReportRow(Base):
    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        Index("ix_reports_kind_id", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # A model report's model; None for organisation reports. Reports outlive nothing they describe:
    # deleting a model keeps its reports (the row keeps the name in ``title``), so no cascade.
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"), index=True)
    # The team an organisation report was limited to (None: the whole organisation); a model
    # report's model's team. Reading a report is scoped by it.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    version: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    frameworks: Mapped[list[str]] = mapped_column(JSON)
    generated_by: Mapped[str] = mapped_column(String(100))
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # SHA-256 of the canonical JSON of the document (the json file's digest).
    document_sha256: Mapped[str] = mapped_column(String(64), index=True)
    # The audit event that recorded the generation and every hash.
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)

    files: Mapped[list[ReportFileRow]] = relationship(
        back_populates="report", order_by="ReportFileRow.id", cascade="all, delete-orphan", lazy="selectin"
    )


class ReportFileRow(Base):
    __tablename__ = "report_files"
    __table_args__ = (
        UniqueConstraint("report_id", "format"),
        CheckConstraint(_in("format", FORMATS), name="format"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(10))
    # SHA-256 of the plaintext bytes, which is also the blob's name in the store.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    blob_digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"))

    report: Mapped[ReportRow] = relationship(back_populates="files")
