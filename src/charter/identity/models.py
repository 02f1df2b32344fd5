"""Identity tables. Rows stay here; services return the schemas in ``schemas.py``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from charter.db.base import Base, utcnow


class PrincipalRow(Base):
    """Anyone who can act: a user (``kind='user'``) or a service account (``kind='service'``)."""

    __tablename__ = "principals"
    __table_args__ = (CheckConstraint("kind IN ('user', 'service')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    description: Mapped[str | None] = mapped_column(Text)
    # argon2id PHC string; NULL for service accounts and for users who sign in through OIDC.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # "issuer|subject" of an external (OIDC) identity, provisioned on first sign-in.
    external_subject: Mapped[str | None] = mapped_column(String(500), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    last_login_at: Mapped[datetime | None] = mapped_column()

    bindings: Mapped[list[RoleBindingRow]] = relationship(
        back_populates="principal", cascade="all, delete-orphan", lazy="selectin"
    )


class TeamRow(Base):
    """A scope: role bindings can be limited to one team."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class RoleBindingRow(Base):
    """(principal, role, scope): scope is the organisation (``team_id`` NULL) or one team."""

    __tablename__ = "role_bindings"
    __table_args__ = (
        UniqueConstraint("principal_id", "role", "team_id"),
        # NULLs are distinct in unique constraints, so organisation-wide bindings need their own index.
        Index(
            "uq_role_bindings_org",
            "principal_id",
            "role",
            unique=True,
            sqlite_where="team_id IS NULL",
            postgresql_where="team_id IS NULL",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    principal: Mapped[PrincipalRow] = relationship(back_populates="bindings")
    team: Mapped[TeamRow | None] = relationship(lazy="joined")


class ApiKeyRow(Base):
    """An API key of a service account. Only the SHA-256 of the secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()

    principal: Mapped[PrincipalRow] = relationship(lazy="joined")


class RevokedTokenRow(Base):
    """A JWT revoked before its expiry (logout). Rows can be purged once ``expires_at`` passed."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginThrottleRow(Base):
    """Failed-login counter for one key: ``account:<name>`` or ``address:<ip>``.

    Kept in the database (not in memory) so that every server process sees
    the same counts and a restart does not reset a lockout.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column()
