"""Authentication: password sign-in with throttling, tokens, API keys, external (OIDC) identities.

A sign-in attempt is an operation whose failure is a result, not an abort:
the failed attempt, its counter and its audit event must be committed even
though the caller is then told no. ``login`` therefore returns a
``LoginResult`` for the edge to commit and then raise.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import Select, bindparam, delete, exists, select
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.config import Settings
from charter.errors import AccountLocked, CharterError, InvalidCredentials, InvalidToken, NotAuthenticated
from charter.identity.models import ApiKeyRow, LoginThrottleRow, PrincipalRow, RevokedTokenRow, RoleBindingRow, TeamRow
from charter.identity.service import bindings_of, find_principal
from charter.security import apikeys
from charter.security.oidc import ExternalIdentity
from charter.security.passwords import hash_password, needs_rehash, verify_password
from charter.security.permissions import KNOWN_ROLES, Permission, Role
from charter.security.principal import AuthMethod, Binding, Principal, authorize
from charter.security.tokens import TokenClaims, TokenCodec, TokenKind

API_KEY_TOUCH_INTERVAL = timedelta(minutes=5)
GENERIC_LOGIN_FAILURE = "Incorrect username or password."


def to_principal(
    row: PrincipalRow,
    *,
    auth_method: AuthMethod,
    token_id: str | None = None,
    extra: tuple[Binding, ...] = (),
) -> Principal:
    return Principal(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]
        name=row.name,
        bindings=bindings_of(row) + extra,
        auth_method=auth_method,
        token_id=token_id,
    )


# -- password sign-in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    principal: Principal | None
    error: CharterError | None


def _locked_for(row: LoginThrottleRow | None, now: datetime) -> int:
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return max(1, int((row.locked_until - now).total_seconds()))


def _count_failure(session: Session, key: str, limit: int, settings: Settings, now: datetime) -> bool:
    """Count one failure for ``key``; True when it crosses the limit and locks the key."""
    row = session.get(LoginThrottleRow, key, with_for_update=True)
    window = timedelta(seconds=settings.login_failure_window)
    if row is None:
        row = LoginThrottleRow(key=key, failures=0, window_started_at=now)
        session.add(row)
    elif row.window_started_at + window <= now and not _locked_for(row, now):
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    locked = row.failures >= limit and not _locked_for(row, now)
    if locked:
        row.locked_until = now + timedelta(seconds=settings.login_lockout)
    session.flush()
    return locked


def login(session: Session, settings: Settings, *, username: str, password: str, source_ip: str | None) -> LoginResult:
    """Check a username and password, with lockout per account and per source address."""
    now = datetime.now(UTC)
    username = username.strip().lower()
    keys = [(f"account:{username}", settings.login_max_failures_per_account)]
    if source_ip:
        keys.append((f"address:{source_ip}", settings.login_max_failures_per_address))
    actor = f"user:{username}" if username else "anonymous"

    for key, _limit in keys:
        wait = _locked_for(session.get(LoginThrottleRow, key), now)
        if wait:
            what = "this account" if key.startswith("account:") else "your address"
            audit.record(
                session,
                actor,
                "auth.login",
                resource_type="session",
                outcome="denied",
                details={"reason": "locked", "lock": key.split(":", 1)[0]},
            )
            return LoginResult(
                None,
                AccountLocked(f"Too many failed sign-ins for {what}; try again in {_minutes(wait)}.", retry_after=wait),
            )

    row = find_principal(session, username) if username else None
    valid = verify_password(row.password_hash if row is not None and row.kind == "user" else None, password)
    if row is not None and valid and row.is_active:
        session.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key == keys[0][0]))
        row.last_login_at = now
        if row.password_hash and needs_rehash(row.password_hash):
            row.password_hash = hash_password(password)
        session.flush()
        audit.record(session, actor, "auth.login", resource_type="session", details={"method": "password"})
        return LoginResult(to_principal(row, auth_method="password"), None)

    reason = "disabled" if row is not None and valid else "bad_credentials"
    audit.record(session, actor, "auth.login", resource_type="session", outcome="failed", details={"reason": reason})
    for key, limit in keys:
        if _count_failure(session, key, limit, settings, now):
            audit.record(
                session,
                actor,
                "auth.lockout",
                resource_type="session",
                outcome="denied",
                details={"lock": key.split(":", 1)[0], "failures": limit, "seconds": settings.login_lockout},
            )
            what = "this account" if key.startswith("account:") else "your address"
            return LoginResult(
                None,
                AccountLocked(
                    f"Too many failed sign-ins for {what}; it is locked for {_minutes(settings.login_lockout)}.",
                    retry_after=settings.login_lockout,
                ),
            )
    return LoginResult(None, InvalidCredentials(GENERIC_LOGIN_FAILURE))


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


# -- tokens -----------------------------------------------------------------------------------------


def issue_token(
    session: Session,
    codec: TokenCodec,
    principal: Principal,
    *,
    ttl: int,
    kind: TokenKind = "access",
    subject: str | None = None,
) -> tuple[str, TokenClaims]:
    """Issue a token for ``principal`` (or, for the local operator, for ``subject``) and audit it."""
    name = subject or principal.name
    token, claims = codec.issue(name, ttl=ttl, kind=kind)
    audit.record(
        session,
        principal,
        "token.issue",
        resource_type="token",
        resource_id=claims.jti,
        details={"subject": name, "kind": kind, "expires_at": claims.expires_at.isoformat()},
    )
    return token, claims


def issue_token_for(session: Session, codec: TokenCodec, actor: Principal, name: str, *, ttl: int) -> str:
    """An access token for another principal (scripts, CI): only the local operator or an admin may."""
    authorize(actor, Permission.USER_WRITE)
    row = find_principal(session, name)
    if row is None or not row.is_active:
        raise InvalidCredentials(f"No active user or service account named {name!r}.")
    token, _ = issue_token(session, codec, actor, ttl=ttl, subject=row.name)
    return token


def revoke_token(session: Session, principal: Principal, claims_jti: str, expires_at: datetime) -> None:
    if session.get(RevokedTokenRow, claims_jti) is None:
        session.add(RevokedTokenRow(jti=claims_jti, principal_id=principal.id, expires_at=expires_at))
        session.flush()
    audit.record(session, principal, "token.revoke", resource_type="token", resource_id=claims_jti)


def purge_revoked(session: Session) -> int:
    """Forget revocations of tokens that have expired anyway."""
    result = session.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at < datetime.now(UTC)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def principal_for_claims(session: Session, claims: TokenClaims) -> Principal:
    """The principal a verified token names, unless the token was revoked or the account disabled."""
    loaded = _load_principal(
        session,
        _BY_NAME,
        {"name": claims.subject, "jti": claims.jti},
        auth_method="token" if claims.kind == "access" else "session",
        token_id=claims.jti,
    )
    if loaded is not None and loaded.revoked:
        raise InvalidToken("The token has been revoked; sign in again.")
    if loaded is None or not loaded.active:
        raise InvalidToken("The token's account does not exist or is disabled.")
    return loaded.principal


# Every authenticated request loads its principal, so this is one prebuilt Core statement (the
# principal, its bindings and, for tokens, whether the token was revoked) instead of three ORM queries.
_PRINCIPALS = PrincipalRow.__table__
_BINDINGS = RoleBindingRow.__table__
_PRINCIPAL_COLUMNS = select(
    _PRINCIPALS.c.id,
    _PRINCIPALS.c.kind,
    _PRINCIPALS.c.name,
    _PRINCIPALS.c.is_active,
    _BINDINGS.c.role,
    _BINDINGS.c.team_id,
    exists().where(RevokedTokenRow.__table__.c.jti == bindparam("jti")).label("revoked"),
).select_from(_PRINCIPALS.outerjoin(_BINDINGS, _BINDINGS.c.principal_id == _PRINCIPALS.c.id))
_BY_NAME = _PRINCIPAL_COLUMNS.where(_PRINCIPALS.c.name == bindparam("name")).order_by(_BINDINGS.c.id)
_BY_ID = _PRINCIPAL_COLUMNS.where(_PRINCIPALS.c.id == bindparam("id")).order_by(_BINDINGS.c.id)


@dataclass(frozen=True)
class _Loaded:
    principal: Principal
    active: bool
    revoked: bool


def _load_principal(
    session: Session,
    statement: Select[Any],
    params: dict[str, object],
    *,
    auth_method: AuthMethod,
    token_id: str | None,
) -> _Loaded | None:
    rows = session.connection().execute(statement, {"jti": None, **params}).all()
    if not rows:
        return None
    first = rows[0]
    bindings = tuple(Binding(Role(r.role), r.team_id) for r in rows if r.role in KNOWN_ROLES)
    principal = Principal(
        id=first.id, kind=first.kind, name=first.name, bindings=bindings, auth_method=auth_method, token_id=token_id
    )
    return _Loaded(principal, bool(first.is_active), bool(first.revoked))


# -- API keys ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKeyAuth:
    principal: Principal
    key_id: str
    needs_touch: bool  # last_used_at is stale; the edge updates it in a writing session


def authenticate_api_key(session: Session, key: str) -> ApiKeyAuth:
    key_id, secret = apikeys.parse(key)
    row = session.connection().execute(_API_KEY, {"key_id": key_id}).first()
    if row is None or not apikeys.secret_matches(secret, row.secret_hash):
        raise InvalidCredentials("The API key is not valid.")
    now = datetime.now(UTC)
    if row.revoked_at is not None:
        raise InvalidCredentials("The API key has been revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise InvalidCredentials("The API key has expired; create a new one.")
    loaded = _load_principal(session, _BY_ID, {"id": row.principal_id}, auth_method="api_key", token_id=key_id)
    if loaded is None or not loaded.active:
        raise InvalidCredentials("The API key's service account is disabled.")
    stale = row.last_used_at is None or row.last_used_at + API_KEY_TOUCH_INTERVAL < now
    return ApiKeyAuth(loaded.principal, key_id, stale)


_KEYS = ApiKeyRow.__table__
_API_KEY = select(
    _KEYS.c.principal_id, _KEYS.c.secret_hash, _KEYS.c.revoked_at, _KEYS.c.expires_at, _KEYS.c.last_used_at
).where(_KEYS.c.key_id == bindparam("key_id"))


def touch_api_key(session: Session, key_id: str) -> None:
    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).first()
    if row is not None:
        row.last_used_at = datetime.now(UTC)


# -- external identities ----------------------------------------------------------------------------


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim before verification: used only to route the token to the right verifier."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError:
        return None
    return issuer if isinstance(issuer, str) else None


def external_subject(identity: ExternalIdentity) -> str:
    return f"{identity.issuer}|{identity.subject}"


def find_external(session: Session, identity: ExternalIdentity) -> PrincipalRow | None:
    return session.scalars(
        select(PrincipalRow).where(PrincipalRow.external_subject == external_subject(identity))
    ).first()


def provision_external(session: Session, identity: ExternalIdentity) -> PrincipalRow:
    """Create the local record of an external user on first sign-in.

    Never merged with a local account of the same name (that would let the
    provider take the local account over): a clash gets a suffixed name.
    """
    # A valid local name (it appears in URLs, CLI arguments and the audit trail): the provider's
    # username folded to the local alphabet, e.g. "Corp/Jane Doe" -> "corp-jane-doe".
    base = re.sub(r"[^a-z0-9._-]+", "-", identity.username.lower()).strip("._-")[:63] or "user"
    digest = hashlib.sha256(external_subject(identity).encode()).hexdigest()[:8]
    candidates = [base, f"{base[:54]}-{digest}"]
    # The hashed fallback can be computed, and claimed first, by anyone who picks their own
    # username at the provider: a random one, chosen now, cannot.
    candidates += [f"{base[:46]}-{secrets.token_hex(8)}" for _ in range(3)]
    name = next((c for c in candidates if find_principal(session, c) is None), candidates[-1])
    row = PrincipalRow(
        kind="user",
        name=name,
        email=identity.email,
        external_subject=external_subject(identity),
        is_active=True,
        created_by="system:oidc",
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "system:oidc",
        "user.provision",
        resource_type="user",
        resource_id=row.name,
        details={"issuer": identity.issuer, "groups": list(identity.groups)},
    )
    return row


def principal_from_external(session: Session, row: PrincipalRow, identity: ExternalIdentity) -> Principal:
    if not row.is_active:
        raise InvalidToken("The account is disabled in Charter.")
    team_ids = {t.name: t.id for t in session.scalars(select(TeamRow))}
    extra = tuple(
        Binding(g.role, team_ids[g.team]) if g.team else Binding(g.role)
        for g in identity.grants
        if g.team is None or g.team in team_ids
    )
    return to_principal(row, auth_method="oidc", extra=extra)


def missing_credentials() -> NotAuthenticated:
    return NotAuthenticated(
        "Authentication required: send `Authorization: Bearer <token>` (from POST /api/v1/auth/token) "
        "or `X-API-Key: <key>`."
    )
