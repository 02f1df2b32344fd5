"""Policy tables. A policy's versions are immutable rows; its state and pending proposal live on the policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from charter.db.base import Base, utcnow
from charter.policies.lifecycle import STATES

TRANSITION_KINDS = ("create", "update", "state", "propose", "approve")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class PolicyRow(Base):
    __tablename__ = "policies"
    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state"),
        CheckConstraint(f"proposed_state IS NULL OR {_in('proposed_state', STATES)}", name="proposed_state"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(10), default="draft", index=True)
    # The current version: the one gates and dry runs evaluate.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    state_changed_by: Mapped[str] = mapped_column(String(100))
    # Set when the policy is enforced; once passed, the policy is in review (it keeps blocking).
    review_due_at: Mapped[datetime | None] = mapped_column()
    # A proposal to enforce, waiting for a second person (four eyes).
    proposed_state: Mapped[str | None] = mapped_column(String(10))
    proposed_version: Mapped[int | None] = mapped_column(Integer)
    proposed_by: Mapped[str | None] = mapped_column(String(100))
    proposed_at: Mapped[datetime | None] = mapped_column()
    proposal_comment: Mapped[str | None] = mapped_column(Text)


class PolicyVersionRow(Base):
    """One version of a policy's content, never changed once written."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("policy_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SHA-256 of the canonical JSON of the document (also in the audit event that created it).
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class PolicyTransitionRow(Base):
    """A policy's history: created, changed, moved, proposed for enforcement, approved."""

    __tablename__ = "policy_transitions"
    __table_args__ = (CheckConstraint(_in("kind", TRANSITION_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(10))
    to_state: Mapped[str | None] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class WaiverRow(Base):
    """A time-boxed exception to one rule of one policy for one model."""

    __tablename__ = "policy_waivers"
    __table_args__ = (Index("ix_policy_waivers_model_policy", "model_id", "policy_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    justification: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
