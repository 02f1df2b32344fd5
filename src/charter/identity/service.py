"""Identity administration: users, service accounts, teams, role bindings, API keys.

Each function authorizes the acting principal, changes rows, and records
the audit event in the same transaction. Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.config import Settings
from charter.errors import Conflict, InvalidInput, NotFound
from charter.identity.models import ApiKeyRow, PrincipalRow, RoleBindingRow, TeamRow
from charter.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    BindingRead,
    PrincipalRead,
    RoleBindingChange,
    RoleGrant,
    ServiceAccountCreate,
    TeamCreate,
    TeamRead,
    UserCreate,
)
from charter.pagination import Page, clamp_limit, parse_int_cursor
from charter.security import apikeys
from charter.security.passwords import check_password_policy, hash_password
from charter.security.permissions import KNOWN_ROLES, Permission, Role
from charter.security.principal import ORG, Binding, Principal, Scope, authorize

PrincipalKind = Literal["user", "service"]


# -- reading ----------------------------------------------------------------------------------------


def binding_reads(row: PrincipalRow) -> list[BindingRead]:
    return [
        BindingRead(role=Role(b.role), team=b.team.name if b.team else None)
        for b in row.bindings
        if b.role in KNOWN_ROLES
    ]


def resource_type(row: PrincipalRow) -> str:
    """How a principal is named as an audit resource."""
    return "user" if row.kind == "user" else "service_account"


def principal_read(row: PrincipalRow) -> PrincipalRead:
    return PrincipalRead(
        id=row.id,
        kind=row.kind,
        name=row.name,
        display_name=row.display_name,
        email=row.email,
        description=row.description,
        is_active=row.is_active,
        external=row.external_subject is not None,
        created_at=row.created_at,
        created_by=row.created_by,
        last_login_at=row.last_login_at,
        bindings=binding_reads(row),
    )


def bindings_of(row: PrincipalRow) -> tuple[Binding, ...]:
    """Role bindings as the security kernel sees them (see ``KNOWN_ROLES``)."""
    return tuple(Binding(Role(b.role), b.team_id) for b in row.bindings if b.role in KNOWN_ROLES)


def team_read(row: TeamRow) -> TeamRead:
    return TeamRead.model_validate(row, from_attributes=True)


def find_principal(session: Session, name: str) -> PrincipalRow | None:
    return session.scalars(select(PrincipalRow).where(PrincipalRow.name == name)).first()


def get_principal(session: Session, name: str, *, kind: PrincipalKind | None = None) -> PrincipalRow:
    row = find_principal(session, name)
    if row is None or (kind is not None and row.kind != kind):
        what = {"user": "user", "service": "service account", None: "user or service account"}[kind]
        raise NotFound(f"No {what} named {name!r}.")
    return row


def get_team(session: Session, name: str) -> TeamRow:
    row = session.scalars(select(TeamRow).where(TeamRow.name == name)).first()
    if row is None:
        raise NotFound(f"No team named {name!r}.")
    return row


def team_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    teams = TeamRow.__table__
    rows = session.connection().execute(select(teams.c.id, teams.c.name).where(teams.c.id.in_(ids)))
    return {team_id: name for team_id, name in rows}


def list_principals(
    session: Session,
    actor: Principal,
    *,
    kind: PrincipalKind | None = None,
    query: str | None = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[PrincipalRead]:
    authorize(actor, Permission.USER_READ)
    limit = clamp_limit(limit)
    stmt = select(PrincipalRow).order_by(PrincipalRow.id).limit(limit + 1)
    if kind:
        stmt = stmt.where(PrincipalRow.kind == kind)
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(PrincipalRow.name.like(pattern) | PrincipalRow.display_name.ilike(pattern))
    if active is not None:
        stmt = stmt.where(PrincipalRow.is_active.is_(active))
    after = parse_int_cursor(cursor)
    if after is not None:
        stmt = stmt.where(PrincipalRow.id > after)
    rows = list(session.scalars(stmt))
    items = [principal_read(r) for r in rows[:limit]]
    return Page(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


def read_principal(session: Session, actor: Principal, name: str) -> PrincipalRead:
    if actor.name != name:
        authorize(actor, Permission.USER_READ)
    return principal_read(get_principal(session, name))


def list_teams(session: Session, actor: Principal) -> list[TeamRead]:
    authorize(actor, Permission.TEAM_READ)
    return [team_read(t) for t in session.scalars(select(TeamRow).order_by(TeamRow.name))]


# -- principals -------------------------------------------------------------------------------------


def _ensure_free(session: Session, name: str) -> None:
    if find_principal(session, name) is not None:
        raise Conflict(f"The name {name!r} is already taken by a user or service account.")


def create_user(session: Session, actor: Principal, data: UserCreate, *, settings: Settings) -> PrincipalRead:
    authorize(actor, Permission.USER_WRITE)
    _ensure_free(session, data.username)
    password = data.password.get_secret_value()
    check_password_policy(password, min_length=settings.password_min_length)
    row = PrincipalRow(
        kind="user",
        name=data.username,
        display_name=data.display_name,
        email=str(data.email) if data.email else None,
        password_hash=hash_password(password),
        is_active=True,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        resource_type="user",
        resource_id=row.name,
        details={"display_name": row.display_name, "email": row.email},
    )
    _grant_all(session, actor, row, data.roles)
    session.refresh(row)
    return principal_read(row)


def create_service_account(session: Session, actor: Principal, data: ServiceAccountCreate) -> PrincipalRead:
    authorize(actor, Permission.USER_WRITE)
    _ensure_free(session, data.name)
    row = PrincipalRow(kind="service", name=data.name, description=data.description, created_by=actor.actor)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "service_account.create",
        resource_type="service_account",
        resource_id=row.name,
        details={"description": row.description},
    )
    _grant_all(session, actor, row, data.roles)
    session.refresh(row)
    return principal_read(row)


def set_active(session: Session, actor: Principal, name: str, *, active: bool) -> PrincipalRead:
    """Disable (or re-enable) a principal. Its tokens and API keys stop working at once."""
    authorize(actor, Permission.USER_WRITE)
    row = get_principal(session, name)
    if not active and actor.id == row.id:
        raise InvalidInput("You cannot disable your own account; ask another administrator.")
    if row.is_active != active:
        row.is_active = active
        session.flush()
        audit.record(
            session,
            actor,
            "user.enable" if active else "user.disable",
            resource_type=resource_type(row),
            resource_id=row.name,
        )
    return principal_read(row)


def set_password(session: Session, actor: Principal, name: str, password: str, *, settings: Settings) -> None:
    if actor.name != name:
        authorize(actor, Permission.USER_WRITE)
    row = get_principal(session, name, kind="user")
    check_password_policy(password, min_length=settings.password_min_length)
    row.password_hash = hash_password(password)
    session.flush()
    audit.record(session, actor, "user.password_change", resource_type="user", resource_id=row.name)


# -- teams ------------------------------------------------------------------------------------------


def create_team(session: Session, actor: Principal, data: TeamCreate) -> TeamRead:
    authorize(actor, Permission.TEAM_WRITE)
    if session.scalars(select(TeamRow.id).where(TeamRow.name == data.name)).first() is not None:
        raise Conflict(f"A team named {data.name!r} already exists.")
    row = TeamRow(name=data.name, display_name=data.display_name, description=data.description, created_by=actor.actor)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "team.create",
        resource_type="team",
        resource_id=row.name,
        details={"display_name": row.display_name},
    )
    return team_read(row)


# -- role bindings ----------------------------------------------------------------------------------


def _scope_of(session: Session, team: str | None) -> tuple[TeamRow | None, Scope]:
    if team is None:
        return None, ORG
    row = get_team(session, team)
    return row, Scope.team(row.id)


def _grant(session: Session, actor: Principal, principal: PrincipalRow, grant: RoleGrant) -> bool:
    team, scope = _scope_of(session, grant.team)
    # Granting is allowed where the actor may grant; nobody hands out what the scope does not let them grant.
    authorize(actor, Permission.ROLE_GRANT, scope)
    team_id = team.id if team else None
    exists = session.scalars(
        select(RoleBindingRow.id).where(
            RoleBindingRow.principal_id == principal.id,
            RoleBindingRow.role == grant.role.value,
            RoleBindingRow.team_id.is_(None) if team_id is None else RoleBindingRow.team_id == team_id,
        )
    ).first()
    if exists is not None:
        return False
    session.add(
        RoleBindingRow(principal_id=principal.id, role=grant.role.value, team_id=team_id, created_by=actor.actor)
    )
    session.flush()
    audit.record(
        session,
        actor,
        "role.grant",
        resource_type=resource_type(principal),
        resource_id=principal.name,
        details={"role": grant.role.value, "team": grant.team},
    )
    return True


def _grant_all(session: Session, actor: Principal, principal: PrincipalRow, grants: Iterable[RoleGrant]) -> None:
    for grant in grants:
        _grant(session, actor, principal, grant)


def grant_role(session: Session, actor: Principal, change: RoleBindingChange) -> PrincipalRead:
    """Bind a role; granting one already held changes nothing (and records nothing)."""
    row = get_principal(session, change.principal)
    _grant(session, actor, row, RoleGrant(role=change.role, team=change.team))
    session.refresh(row)
    return principal_read(row)


def revoke_role(session: Session, actor: Principal, change: RoleBindingChange) -> PrincipalRead:
    row = get_principal(session, change.principal)
    team, scope = _scope_of(session, change.team)
    authorize(actor, Permission.ROLE_GRANT, scope)
    team_id = team.id if team else None
    binding = next((b for b in row.bindings if b.role == change.role.value and b.team_id == team_id), None)
    if binding is None:
        where = f"team {change.team!r}" if change.team else "the organisation"
        raise NotFound(f"{row.name!r} does not hold the role {change.role.value!r} in {where}.")
    if actor.id == row.id and change.role is Role.ADMIN and team_id is None:
        raise InvalidInput("You cannot remove your own organisation-wide admin role; ask another administrator.")
    row.bindings.remove(binding)
    session.flush()
    audit.record(
        session,
        actor,
        "role.revoke",
        resource_type=resource_type(row),
        resource_id=row.name,
        details={"role": change.role.value, "team": change.team},
    )
    session.refresh(row)
    return principal_read(row)


# -- API keys ---------------------------------------------------------------------------------------


def _api_key_read(row: ApiKeyRow) -> ApiKeyRead:
    return ApiKeyRead(
        key_id=row.key_id,
        name=row.name,
        service_account=row.principal.name,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def create_api_key(session: Session, actor: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
    authorize(actor, Permission.APIKEY_WRITE)
    owner = get_principal(session, data.service_account, kind="service")
    if not owner.is_active:
        raise InvalidInput(f"The service account {owner.name!r} is disabled; enable it first.")
    new = apikeys.generate()
    expires = datetime.now(UTC) + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    row = ApiKeyRow(
        key_id=new.key_id,
        principal_id=owner.id,
        name=data.name,
        secret_hash=new.secret_hash,
        created_by=actor.actor,
        expires_at=expires,
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    audit.record(
        session,
        actor,
        "apikey.create",
        resource_type="api_key",
        resource_id=row.key_id,
        details={
            "service_account": owner.name,
            "name": row.name,
            "expires_at": expires.isoformat() if expires else None,
        },
    )
    return ApiKeyCreated(**_api_key_read(row).model_dump(), key=new.key)


def list_api_keys(session: Session, actor: Principal, *, service_account: str | None = None) -> list[ApiKeyRead]:
    authorize(actor, Permission.USER_READ)
    stmt = select(ApiKeyRow).order_by(ApiKeyRow.id)
    if service_account:
        stmt = stmt.where(ApiKeyRow.principal_id == get_principal(session, service_account, kind="service").id)
    return [_api_key_read(r) for r in session.scalars(stmt)]


def revoke_api_key(session: Session, actor: Principal, key_id: str) -> ApiKeyRead:
    authorize(actor, Permission.APIKEY_WRITE)
    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).first()
    if row is None:
        raise NotFound(f"No API key with id {key_id!r}.")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
        audit.record(
            session,
            actor,
            "apikey.revoke",
            resource_type="api_key",
            resource_id=row.key_id,
            details={"service_account": row.principal.name},
        )
    return _api_key_read(row)
