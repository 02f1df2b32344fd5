"""Verification of access tokens from an external OpenID Connect provider, through its JWKS.

Only asymmetric algorithms are accepted, and each key is used with the
algorithm of its own type, never the one the token's header asks for
(RS/HS confusion). The provider's groups become role bindings through
``CHARTER_OIDC_ROLE_MAP``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import jwt
from jwt import PyJWKClient

from charter.errors import ConfigurationError, InvalidToken
from charter.security.permissions import Role

ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


@dataclass(frozen=True)
class GroupGrant:
    role: Role
    team: str | None  # team name, None for organisation-wide


@dataclass(frozen=True)
class ExternalIdentity:
    issuer: str
    subject: str
    username: str
    email: str | None
    groups: tuple[str, ...]
    grants: tuple[GroupGrant, ...]


def parse_role_map(raw: dict[str, str]) -> dict[str, GroupGrant]:
    """``{"group": "role" | "role@team"}`` -> grants; unknown roles are a configuration error."""
    parsed: dict[str, GroupGrant] = {}
    for group, spec in raw.items():
        role_name, _, team = spec.partition("@")
        try:
            role = Role(role_name.strip())
        except ValueError as exc:
            known = ", ".join(r.value for r in Role)
            raise ConfigurationError(
                f"CHARTER_OIDC_ROLE_MAP maps {group!r} to unknown role {role_name!r}; roles are: {known}"
            ) from exc
        parsed[group] = GroupGrant(role, team.strip() or None)
    return parsed


class OidcVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        role_map: dict[str, str],
        jwks_url: str | None = None,
        groups_claim: str = "groups",
        username_claim: str = "preferred_username",
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.groups_claim = groups_claim
        self.username_claim = username_claim
        self.role_map = parse_role_map(role_map)
        self._jwks_url = jwks_url
        self._client: PyJWKClient | None = None

    def _jwks_client(self) -> PyJWKClient:
        if self._client is None:
            url = self._jwks_url or self._discover_jwks_url()
            self._client = PyJWKClient(url, cache_keys=True, lifespan=300, timeout=10)
        return self._client

    def _discover_jwks_url(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=10)
            response.raise_for_status()
            jwks_uri = response.json()["jwks_uri"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise InvalidToken(f"The identity provider's configuration at {url} could not be read.") from exc
        if not isinstance(jwks_uri, str):
            raise InvalidToken(f"The identity provider's configuration at {url} has no jwks_uri.")
        return jwks_uri

    def verify(self, token: str) -> ExternalIdentity:
        try:
            signing_key = self._jwks_client().get_signing_key_from_jwt(token)
            algorithm = signing_key.algorithm_name
            if algorithm not in ASYMMETRIC_ALGORITHMS:
                raise InvalidToken("The identity provider's key uses an algorithm Charter does not accept.")
            payload = jwt.decode(
                token,
                signing_key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=10,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The identity provider's token has expired.") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise InvalidToken("The identity provider's token is invalid.") from exc
        groups_value = payload.get(self.groups_claim) or []
        groups = tuple(g for g in groups_value if isinstance(g, str)) if isinstance(groups_value, list) else ()
        subject = str(payload["sub"])
        username = payload.get(self.username_claim) or payload.get("email") or subject
        email = payload.get("email")
        return ExternalIdentity(
            issuer=self.issuer,
            subject=subject,
            username=str(username),
            email=email if isinstance(email, str) else None,
            groups=groups,
            grants=tuple(self.role_map[g] for g in groups if g in self.role_map),
        )
