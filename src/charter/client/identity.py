"""Sign-in, users, service accounts, teams, roles, API keys and tokens over ``/api/v1``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import SecretStr

from charter.client.base import ClientBase, paginate, query, segment
from charter.client.models import RoleInfo
from charter.errors import InvalidInput
from charter.identity.schemas import (
    ApiKeyCreated,
    ApiKeyRead,
    PrincipalRead,
    RoleGrant,
    TeamRead,
    TokenResponse,
    WhoAmI,
)
from charter.pagination import Page
from charter.security.permissions import Permission, Role

RoleSpec = RoleGrant | Role | str
"""A role binding: a ``RoleGrant``, or ``"role"`` / ``"role@team"`` as on the command line."""


def _secret(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _grants(roles: Iterable[RoleSpec]) -> list[dict[str, Any]]:
    # Sent as plain JSON on purpose: the server validates, so a bad role is the server's InvalidInput.
    grants: list[dict[str, Any]] = []
    for spec in roles:
        if isinstance(spec, RoleGrant):
            grants.append(spec.model_dump(mode="json"))
        else:
            role, _, team = str(spec).partition("@")
            grants.append({"role": role, "team": team or None})
    return grants


class IdentityAPI(ClientBase):
    # -- sign-in and the caller -----------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        """Who these credentials belong to, their role bindings and organisation-wide permissions."""
        return self._get(WhoAmI, "/api/v1/auth/whoami")

    def logout(self) -> None:
        """Revoke the access token this client holds; the client forgets it too.

        API keys cannot be logged out (the server answers ``InvalidInput``): revoke them instead.
        """
        self._transport.send("POST", "/api/v1/auth/logout")
        self._transport.token = None

    def generate_token(self, username: str, password: str | SecretStr) -> str:
        """Sign ``username`` in and return the access token (the framework's name for login).

        This client keeps its own credentials; pass the token to ``Charter(url, token=...)``
        or use ``Charter.login`` to get a client that uses it.
        """
        return self._sign_in(username, password).access_token

    def verify_access(self, permission: Permission | str) -> bool:
        """Whether these credentials hold ``permission`` organisation-wide (e.g. ``"audit:read"``).

        A permission held only inside one team is not counted. An unknown name is an
        error rather than ``False``, so a typo cannot pass for a refusal.
        """
        try:
            wanted = Permission(permission)
        except ValueError as exc:
            known = ", ".join(p.value for p in Permission)
            raise InvalidInput(f"{permission!r} is not a permission; permissions are: {known}") from exc
        return wanted.value in self.whoami().permissions

    def change_password(self, current_password: str | SecretStr, new_password: str | SecretStr) -> None:
        """Change the signed-in user's own password (the server applies its password policy)."""
        body = {"current_password": _secret(current_password), "new_password": _secret(new_password)}
        self._transport.send("POST", "/api/v1/auth/password", json=body)

    def create_token(self, principal: str, ttl: int = 3600) -> TokenResponse:
        """Issue an access token for a user or service account, valid ``ttl`` seconds (administrators)."""
        return self._post(TokenResponse, "/api/v1/tokens", {"principal": principal, "ttl": ttl})

    def _sign_in(self, username: str, password: str | SecretStr) -> TokenResponse:
        form = {"username": username, "password": _secret(password), "grant_type": "password"}
        return self._post_form(TokenResponse, "/api/v1/auth/token", form)

    # -- users and service accounts -------------------------------------------------------------

    def list_users(
        self,
        *,
        kind: Literal["user", "service"] | None = None,
        q: str | None = None,
        active: bool | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[PrincipalRead]:
        """One page of users and service accounts, oldest first; ``q`` matches part of the name."""
        params = query(kind=kind, q=q, active=active, cursor=cursor, limit=limit)
        return self._get(Page[PrincipalRead], "/api/v1/users", params)

    def iter_users(
        self,
        *,
        kind: Literal["user", "service"] | None = None,
        q: str | None = None,
        active: bool | None = None,
        page_size: int | None = None,
    ) -> Iterator[PrincipalRead]:
        """Every matching principal, fetching pages of ``page_size`` as the loop needs them."""
        return paginate(lambda cursor: self.list_users(kind=kind, q=q, active=active, cursor=cursor, limit=page_size))

    def create_user(
        self,
        username: str,
        password: str | SecretStr,
        *,
        display_name: str | None = None,
        email: str | None = None,
        roles: Iterable[RoleSpec] = (),
    ) -> PrincipalRead:
        body = {
            "username": username,
            "password": _secret(password),
            "display_name": display_name,
            "email": email,
            "roles": _grants(roles),
        }
        return self._post(PrincipalRead, "/api/v1/users", body)

    def get_user(self, name: str) -> PrincipalRead:
        """A user or service account by name."""
        return self._get(PrincipalRead, f"/api/v1/users/{segment(name)}")

    def disable_user(self, name: str) -> PrincipalRead:
        """Disable a user or service account: its tokens and API keys stop working at once."""
        return self._post(PrincipalRead, f"/api/v1/users/{segment(name)}/disable")

    def enable_user(self, name: str) -> PrincipalRead:
        return self._post(PrincipalRead, f"/api/v1/users/{segment(name)}/enable")

    def create_service_account(
        self,
        name: str,
        *,
        description: str | None = None,
        roles: Iterable[RoleSpec] = (),
    ) -> PrincipalRead:
        """A principal for automation; it authenticates with API keys (``create_api_key``)."""
        body = {"name": name, "description": description, "roles": _grants(roles)}
        return self._post(PrincipalRead, "/api/v1/service-accounts", body)

    # -- teams and roles ------------------------------------------------------------------------

    def list_teams(self) -> list[TeamRead]:
        return self._get(list[TeamRead], "/api/v1/teams")

    def create_team(
        self,
        name: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
    ) -> TeamRead:
        body = {"name": name, "display_name": display_name, "description": description}
        return self._post(TeamRead, "/api/v1/teams", body)

    def list_roles(self) -> list[RoleInfo]:
        """Every role and the permissions it grants."""
        return self._get(list[RoleInfo], "/api/v1/roles")

    def grant_role(self, principal: str, role: Role | str, *, team: str | None = None) -> PrincipalRead:
        """Bind ``role`` to ``principal`` across the organisation, or within ``team``."""
        body = {"principal": principal, "role": str(role), "team": team}
        return self._post(PrincipalRead, "/api/v1/roles/grant", body)

    def revoke_role(self, principal: str, role: Role | str, *, team: str | None = None) -> PrincipalRead:
        body = {"principal": principal, "role": str(role), "team": team}
        return self._post(PrincipalRead, "/api/v1/roles/revoke", body)

    # -- API keys -------------------------------------------------------------------------------

    def create_api_key(
        self,
        service_account: str,
        name: str,
        *,
        expires_in_days: int | None = None,
    ) -> ApiKeyCreated:
        """A new key for ``service_account``; ``.key`` is the secret, returned this once only."""
        body = {"service_account": service_account, "name": name, "expires_in_days": expires_in_days}
        return self._post(ApiKeyCreated, "/api/v1/api-keys", body)

    def list_api_keys(self, *, service_account: str | None = None) -> list[ApiKeyRead]:
        """Keys (never their secrets), for one service account or all."""
        return self._get(list[ApiKeyRead], "/api/v1/api-keys", query(service_account=service_account))

    def revoke_api_key(self, key_id: str) -> ApiKeyRead:
        return self._post(ApiKeyRead, f"/api/v1/api-keys/{segment(key_id)}/revoke")
