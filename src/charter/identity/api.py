"""REST routes for sign-in, users, service accounts, teams, roles and API keys.

Each route parses, calls one service function and shapes the answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Response, status
from pydantic import BaseModel, Field

from charter.errors import InvalidInput
from charter.identity import auth, service
from charter.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    BindingRead,
    PasswordChange,
    PrincipalRead,
    RoleBindingChange,
    ServiceAccountCreate,
    TeamCreate,
    TeamRead,
    TokenResponse,
    UserCreate,
    WhoAmI,
)
from charter.pagination import Page
from charter.security.passwords import verify_password
from charter.security.permissions import ROLE_PERMISSIONS, Permission, Role
from charter.server.deps import Context, Needs, Public, PublicContext, source_ip

router = APIRouter(prefix="/api/v1")
P = Permission


# -- sign-in ----------------------------------------------------------------------------------------


@router.post("/auth/token", response_model=TokenResponse, tags=["auth"], summary="Sign in (OAuth2 password flow)")
def token(
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=2000)],
    ctx: PublicContext = Public(),
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenResponse:
    result = auth.login(
        ctx.session,
        ctx.state.settings,
        username=username,
        password=password,
        source_ip=source_ip(ctx.request),
    )
    if result.principal is None:
        assert result.error is not None
        ctx.commit_then_raise(result.error)
    assert result.principal is not None
    ttl = ctx.state.settings.access_token_ttl
    access_token, _ = auth.issue_token(ctx.session, ctx.state.codec, result.principal, ttl=ttl)
    return TokenResponse(access_token=access_token, expires_in=ttl)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    summary="Revoke the token this request carries",
)
def logout(ctx: Context = Needs(P.SELF)) -> Response:
    claims = getattr(ctx.request.state, "token_claims", None)
    if ctx.principal.auth_method != "token" or claims is None:
        raise InvalidInput("Only Charter access tokens can be revoked by logout; revoke API keys instead.")
    auth.revoke_token(ctx.session, ctx.principal, claims.jti, claims.expires_at)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/whoami", response_model=WhoAmI, tags=["auth"])
def whoami(ctx: Context = Needs(P.SELF)) -> WhoAmI:
    p = ctx.principal
    names = service.team_names(ctx.session, {b.team_id for b in p.bindings if b.team_id is not None})
    return WhoAmI(
        name=p.name,
        kind=p.kind,
        auth_method=p.auth_method,
        bindings=[BindingRead(role=b.role, team=names.get(b.team_id) if b.team_id else None) for b in p.bindings],
        permissions=sorted(perm.value for perm in Permission if p.can(perm)),
    )


class PasswordChanged(BaseModel):
    changed: Literal[True] = True


@router.post("/auth/password", response_model=PasswordChanged, tags=["auth"], summary="Change your own password")
def change_password(data: PasswordChange, ctx: Context = Needs(P.SELF)) -> PasswordChanged:
    row = service.get_principal(ctx.session, ctx.principal.name, kind="user")
    if not verify_password(row.password_hash, data.current_password.get_secret_value()):
        raise InvalidInput("The current password is not correct.")
    service.set_password(
        ctx.session,
        ctx.principal,
        ctx.principal.name,
        data.new_password.get_secret_value(),
        settings=ctx.state.settings,
    )
    return PasswordChanged()


class TokenRequest(BaseModel):
    principal: str
    ttl: int = Field(default=3600, ge=60, le=30 * 86_400, description="seconds")


@router.post(
    "/tokens",
    response_model=TokenResponse,
    tags=["auth"],
    summary="Issue an access token for a user or service account (administrators, for scripts)",
)
def create_token(data: TokenRequest, ctx: Context = Needs(P.USER_WRITE)) -> TokenResponse:
    issued = auth.issue_token_for(ctx.session, ctx.state.codec, ctx.principal, data.principal, ttl=data.ttl)
    return TokenResponse(access_token=issued, expires_in=data.ttl)


# -- users and service accounts ---------------------------------------------------------------------


@router.get("/users", response_model=Page[PrincipalRead], tags=["users"], summary="List users and service accounts")
def list_users(
    ctx: Context = Needs(P.USER_READ),
    kind: Literal["user", "service"] | None = None,
    q: Annotated[str | None, Query(max_length=100, description="part of the name")] = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[PrincipalRead]:
    return service.list_principals(
        ctx.session, ctx.principal, kind=kind, query=q, active=active, cursor=cursor, limit=limit
    )


@router.post("/users", response_model=PrincipalRead, status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(data: UserCreate, ctx: Context = Needs(P.USER_WRITE)) -> PrincipalRead:
    return service.create_user(ctx.session, ctx.principal, data, settings=ctx.state.settings)


@router.get("/users/{name}", response_model=PrincipalRead, tags=["users"])
def read_user(name: str, ctx: Context = Needs(P.USER_READ)) -> PrincipalRead:
    return service.read_principal(ctx.session, ctx.principal, name)


@router.post(
    "/users/{name}/disable",
    response_model=PrincipalRead,
    tags=["users"],
    summary="Disable a user or service account; its tokens and keys stop working at once",
)
def disable_user(name: str, ctx: Context = Needs(P.USER_WRITE)) -> PrincipalRead:
    return service.set_active(ctx.session, ctx.principal, name, active=False)


@router.post("/users/{name}/enable", response_model=PrincipalRead, tags=["users"])
def enable_user(name: str, ctx: Context = Needs(P.USER_WRITE)) -> PrincipalRead:
    return service.set_active(ctx.session, ctx.principal, name, active=True)


@router.post("/service-accounts", response_model=PrincipalRead, status_code=status.HTTP_201_CREATED, tags=["users"])
def create_service_account(data: ServiceAccountCreate, ctx: Context = Needs(P.USER_WRITE)) -> PrincipalRead:
    return service.create_service_account(ctx.session, ctx.principal, data)


# -- teams and roles --------------------------------------------------------------------------------


@router.get("/teams", response_model=list[TeamRead], tags=["teams"])
def list_teams(ctx: Context = Needs(P.TEAM_READ)) -> list[TeamRead]:
    return service.list_teams(ctx.session, ctx.principal)


@router.post("/teams", response_model=TeamRead, status_code=status.HTTP_201_CREATED, tags=["teams"])
def create_team(data: TeamCreate, ctx: Context = Needs(P.TEAM_WRITE)) -> TeamRead:
    return service.create_team(ctx.session, ctx.principal, data)


class RoleInfo(BaseModel):
    role: Role
    permissions: list[str]


@router.get("/roles", response_model=list[RoleInfo], tags=["roles"], summary="The roles and what each permits")
def list_roles(ctx: Context = Needs(P.SELF)) -> list[RoleInfo]:
    return [RoleInfo(role=r, permissions=sorted(p.value for p in ROLE_PERMISSIONS[r])) for r in Role]


@router.post("/roles/grant", response_model=PrincipalRead, tags=["roles"])
def grant_role(data: RoleBindingChange, ctx: Context = Needs(P.ROLE_GRANT)) -> PrincipalRead:
    return service.grant_role(ctx.session, ctx.principal, data)


@router.post("/roles/revoke", response_model=PrincipalRead, tags=["roles"])
def revoke_role(data: RoleBindingChange, ctx: Context = Needs(P.ROLE_GRANT)) -> PrincipalRead:
    return service.revoke_role(ctx.session, ctx.principal, data)


# -- API keys ---------------------------------------------------------------------------------------


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    tags=["api keys"],
    summary="Create an API key for a service account (the key is shown once)",
)
def create_api_key(data: ApiKeyCreate, ctx: Context = Needs(P.APIKEY_WRITE)) -> ApiKeyCreated:
    return service.create_api_key(ctx.session, ctx.principal, data)


@router.get("/api-keys", response_model=list[ApiKeyRead], tags=["api keys"])
def list_api_keys(ctx: Context = Needs(P.USER_READ), service_account: str | None = None) -> list[ApiKeyRead]:
    return service.list_api_keys(ctx.session, ctx.principal, service_account=service_account)


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyRead, tags=["api keys"])
def revoke_api_key(key_id: str, ctx: Context = Needs(P.APIKEY_WRITE)) -> ApiKeyRead:
    return service.revoke_api_key(ctx.session, ctx.principal, key_id)
