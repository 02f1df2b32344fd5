"""Training tables: courses, and completions per person (rows are appended; a renewal is a new row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from charter.db.base import Base, utcnow

#: What a course is about (EU AI Act Art. 4 AI literacy is ``responsible_ai``).
COURSE_KINDS = ("security_awareness", "responsible_ai", "compliance", "incident_response")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CourseRow(Base):
    __tablename__ = "training_courses"
    __table_args__ = (CheckConstraint(_in("kind", COURSE_KINDS), name="kind"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    # How long a completion stays current; None: it never expires.
    validity_days: Mapped[int | None] = mapped_column(Integer)
    # Required of every owner and approver of a model (the ``owners_trained`` fact checks it).
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class CompletionRow(Base):
    """One person's completion of one course; current from ``completed_at`` until ``expires_at``."""

    __tablename__ = "training_completions"
    __table_args__ = (Index("ix_training_completions_principal_course", "principal_id", "course_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[str] = mapped_column(ForeignKey("training_courses.id", ondelete="CASCADE"), index=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="CASCADE"))
    completed_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    # What proves it: a certificate number, the provider, a score.
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(100))
