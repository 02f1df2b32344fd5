"""Request dependencies: who is calling, may they, and the transaction they work in.

Every route declares the permission it needs with ``Needs(Permission.X)``
(API) or ``PageNeeds(Permission.X)`` (dashboard). The dependency
authenticates, checks that the principal holds the permission in at least
one scope (services then check the exact scope), opens the request's one
transaction, and commits it after the handler returns, before the response
is sent, so a failed commit is an error response, never a silent loss.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from charter.audit.service import RequestContext, set_request_context
from charter.db.engine import committed
from charter.errors import CharterError, InvalidToken, NotAuthenticated, PermissionDenied
from charter.identity import auth
from charter.security import apikeys
from charter.security.permissions import Permission
from charter.security.principal import Principal
from charter.server.state import AppState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "charter_session"
REQUEST_ID_HEADER = "X-Request-ID"


@dataclass
class Context:
    """What a handler gets: the caller, the transaction, and the server's state."""

    principal: Principal
    session: Session
    state: AppState
    request: Request

    @property
    def request_id(self) -> str:
        return request_id(self.request)

    def end_reading(self) -> None:
        """End the request's reading transaction (``Needs(..., write=False)``) before long work that
        needs no database: an open SQLite snapshot keeps the WAL from being checkpointed back to its
        start. Objects read in it are expired: keep plain values. The session reads again if used."""
        self.session.rollback()

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A writing transaction of its own, committed when the block ends, for a route whose own
        transaction only reads (``Needs(..., write=False)``): it reads there and does its long work
        before this (after :meth:`end_reading` if that work needs no database), without the write
        lock SQLite gives a writing transaction from its start, and writes here. The reading
        transaction is ended first, so it holds no snapshot meanwhile."""
        self.end_reading()
        with committed(open_session(self.state, self.request, write=True)) as session:
            yield session


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.charter
    return state


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if not rid:
        rid = secrets.token_hex(8)
        request.state.request_id = rid
    return str(rid)


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def open_session(state: AppState, request: Request, *, write: bool) -> Session:
    session = state.db.new_session(write=write)
    set_request_context(session, RequestContext(request_id(request), source_ip(request)))
    return session


# -- authentication ---------------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken("The Authorization header must be `Bearer <token>`.")
    return value.strip()


def _touch_api_key(state: AppState, request: Request, key_id: str) -> None:
    # last_used_at is bookkeeping, not part of the request's own change: its own small transaction.
    with state.db.session(write=True) as session:
        auth.touch_api_key(session, key_id)


def _authenticate_oidc(state: AppState, request: Request, session: Session, token: str) -> Principal:
    assert state.oidc is not None
    identity = state.oidc.verify(token)
    row = auth.find_external(session, identity)
    if row is None:
        # First sign-in: the user is provisioned in a transaction of its own, committed even if the
        # request then fails. End the request's transaction first (authentication is the first thing
        # it does, so nothing is lost): on SQLite it holds the write lock, which the provisioning
        # transaction would wait for in vain, or a read snapshot that would not see the new row.
        session.rollback()
        for attempt in (1, 2):
            try:
                with state.db.session(write=True) as provisioning:
                    set_request_context(provisioning, RequestContext(request_id(request), source_ip(request)))
                    if auth.find_external(provisioning, identity) is None:
                        auth.provision_external(provisioning, identity)
                break
            except IntegrityError:
                # A concurrent first sign-in provisioned this identity, or took the name it wanted;
                # the second attempt sees that commit and finds the row or picks another name.
                if attempt == 2:
                    raise
        row = auth.find_external(session, identity)
        assert row is not None
    return auth.principal_from_external(session, row, identity)


def authenticate_api(state: AppState, request: Request, session: Session) -> Principal:
    """The principal behind ``X-API-Key`` or ``Authorization: Bearer`` (a JWT, or an API key for scrapers)."""
    api_key = request.headers.get("x-api-key")
    token = _bearer(request)
    if api_key is None and token is not None and apikeys.looks_like_api_key(token):
        api_key, token = token, None
    if api_key is not None:
        result = auth.authenticate_api_key(session, api_key.strip())
        if result.needs_touch:
            # As for a first OIDC sign-in: end the request's (still empty) transaction first, or on
            # SQLite the touch would wait for the write lock this very request holds.
            session.rollback()
            _touch_api_key(state, request, result.key_id)
        return result.principal
    if token is None:
        raise auth.missing_credentials()
    if state.oidc is not None and auth.unverified_issuer(token) == state.oidc.issuer:
        return _authenticate_oidc(state, request, session, token)
    claims = state.codec.decode(token, kind="access")
    request.state.token_claims = claims
    return auth.principal_for_claims(session, claims)


def authenticate_page(state: AppState, request: Request, session: Session) -> Principal:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("Sign in to continue.")
    claims = state.codec.decode(cookie, kind="session")
    principal = auth.principal_for_claims(session, claims)
    request.state.session_claims = claims
    request.state.csrf = claims.csrf
    return principal


# -- the permission gate ----------------------------------------------------------------------------


class Requires:
    """Dependency: authenticate, check ``permission``, yield a ``Context`` in one transaction."""

    def __init__(self, permission: Permission, *, write: bool | None = None, page: bool = False) -> None:
        self.permission = permission
        self.write = write
        self.page = page

    def __call__(self, request: Request) -> Iterator[Context]:
        state = app_state(request)
        write = self.write if self.write is not None else request.method not in SAFE_METHODS
        with committed(open_session(state, request, write=write)) as session:
            authenticate = authenticate_page if self.page else authenticate_api
            principal = authenticate(state, request, session)
            request.state.principal = principal
            if not principal.superuser and principal.team_ids_with(self.permission) == frozenset():
                raise PermissionDenied(
                    f"{principal.actor} lacks the permission {self.permission.value!r}",
                    details={"permission": self.permission.value},
                )
            yield Context(principal, session, state, request)


def Needs(permission: Permission, *, write: bool | None = None) -> Any:
    """``ctx: Context = Needs(Permission.X)``: the route's permission, declared where it is used."""
    return Depends(Requires(permission, write=write), scope="function")


def PageNeeds(permission: Permission, *, write: bool | None = None) -> Any:
    return Depends(Requires(permission, write=write, page=True), scope="function")


def declared_permission(dependency: object) -> Permission | None:
    """The permission a route's dependency declares (used by the route-enumeration test and docs)."""
    return dependency.permission if isinstance(dependency, Requires) else None


@dataclass
class PublicContext:
    """For the few open routes that write (sign-in)."""

    session: Session
    state: AppState
    request: Request

    def commit_then_raise(self, error: CharterError) -> None:
        """A failed sign-in is still recorded: keep its counter and audit event, then answer with the error."""
        self.session.commit()
        raise error


def _public(request: Request) -> Iterator[PublicContext]:
    state = app_state(request)
    with committed(open_session(state, request, write=True)) as session:
        yield PublicContext(session, state, request)


def Public() -> Any:
    return Depends(_public, scope="function")
