"""Identity inputs and outputs (``XCreate`` / ``XRead``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr

from charter.security.permissions import Role

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
NAME_HELP = "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BindingRead(BaseModel):
    role: Role
    team: str | None = Field(description="team name; absent for an organisation-wide binding")


class RoleGrant(_Input):
    role: Role
    team: str | None = Field(default=None, description="team name; omit for the whole organisation")


class UserCreate(_Input):
    username: str = Field(pattern=NAME_PATTERN, description=NAME_HELP)
    password: SecretStr
    display_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = None
    roles: list[RoleGrant] = Field(default_factory=list)


class ServiceAccountCreate(_Input):
    name: str = Field(pattern=NAME_PATTERN, description=NAME_HELP)
    description: str | None = Field(default=None, max_length=2000)
    roles: list[RoleGrant] = Field(default_factory=list)


class PrincipalRead(BaseModel):
    id: int
    kind: Literal["user", "service"]
    name: str
    display_name: str | None
    email: str | None
    description: str | None
    is_active: bool
    external: bool = Field(description="signs in through the external identity provider")
    created_at: datetime
    created_by: str
    last_login_at: datetime | None
    bindings: list[BindingRead]


class PasswordChange(_Input):
    current_password: SecretStr
    new_password: SecretStr


class TeamCreate(_Input):
    name: str = Field(pattern=NAME_PATTERN, description=NAME_HELP)
    display_name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class TeamRead(BaseModel):
    id: int
    name: str
    display_name: str | None
    description: str | None
    created_at: datetime
    created_by: str


class RoleBindingChange(_Input):
    principal: str = Field(description="user or service account name")
    role: Role
    team: str | None = Field(default=None, description="team name; omit for the whole organisation")


class ApiKeyCreate(_Input):
    service_account: str
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiKeyRead(BaseModel):
    key_id: str
    name: str
    service_account: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="the full key; shown once and never stored")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int


class WhoAmI(BaseModel):
    name: str
    kind: str
    auth_method: str
    bindings: list[BindingRead]
    permissions: list[str] = Field(description="permissions held organisation-wide")
