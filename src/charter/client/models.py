"""Answers whose schemas live beside their routes on the server, mirrored here.

Everything else the SDK returns is the server's own schema
(``charter.identity.schemas``, ``charter.audit.schemas``,
``charter.pagination``). These few are declared inside server modules that
pull in the web framework and the ORM, which an SDK user should not need;
their fields match the server's exactly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from charter.security.permissions import Role


class Health(BaseModel):
    """``GET /healthz``: the process is up."""

    status: str
    version: str


class Readiness(BaseModel):
    """``GET /readyz``: whether this server can take traffic, and if not, why."""

    model_config = ConfigDict(populate_by_name=True)

    status: Literal["ready", "unavailable"]
    schema_revision: str | None = Field(default=None, alias="schema", description="the database schema revision")
    reason: str | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class RoleInfo(BaseModel):
    """``GET /api/v1/roles``: a role and the permissions it bundles."""

    role: Role
    permissions: list[str]
