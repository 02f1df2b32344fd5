"""First start: the administrator account."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.config import Settings
from charter.identity import service
from charter.identity.models import PrincipalRow
from charter.identity.schemas import RoleGrant, UserCreate
from charter.security.permissions import Role
from charter.security.principal import Principal


@dataclass(frozen=True)
class InitResult:
    created: bool
    username: str
    password: str | None  # set only when this call generated it (shown once)


def generate_password() -> str:
    return secrets.token_urlsafe(18)  # 144 bits, 24 characters


def is_initialised(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(PrincipalRow)) or 0) > 0


def initialise(
    session: Session, operator: Principal, settings: Settings, *, username: str, password: str | None
) -> InitResult:
    """Create the first administrator, unless any account exists already (then change nothing)."""
    if is_initialised(session):
        return InitResult(created=False, username=username, password=None)
    generated = password is None
    secret = password if password is not None else generate_password()
    service.create_user(
        session,
        operator,
        UserCreate(
            username=username,
            password=SecretStr(secret),
            display_name="Administrator",
            roles=[RoleGrant(role=Role.ADMIN)],
        ),
        settings=settings,
    )
    audit.record(session, operator, "system.init", resource_type="system", details={"admin": username})
    return InitResult(created=True, username=username, password=secret if generated else None)
