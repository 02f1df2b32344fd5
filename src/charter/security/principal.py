"""The authenticated principal and ``authorize()``: the one place access is decided.

Bindings are resolved into a lookup table when the principal is built, so a
decision is two dictionary lookups (see ``benchmarks/bench_authz.py``).
Deny by default: no binding, no access.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from charter.errors import PermissionDenied
from charter.security.permissions import ROLE_PERMISSIONS, Permission, Role

PrincipalKind = Literal["user", "service", "system"]
AuthMethod = Literal["password", "token", "api_key", "session", "oidc", "local"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a permission is exercised: the whole organisation (``team_id`` None) or one team."""

    team_id: int | None = None

    @classmethod
    def team(cls, team_id: int) -> Scope:
        return cls(team_id)

    def __str__(self) -> str:
        return "organisation" if self.team_id is None else f"team {self.team_id}"


ORG = Scope()


@dataclass(frozen=True, slots=True)
class Binding:
    role: Role
    team_id: int | None = None  # None: organisation-wide


def _grants(bindings: Iterable[Binding]) -> dict[Permission, frozenset[int | None]]:
    """permission -> the team ids it is held in; ``None`` in the set means organisation-wide."""
    table: dict[Permission, set[int | None]] = {Permission.SELF: {None}}  # every signed-in principal
    for b in bindings:
        for perm in ROLE_PERMISSIONS[b.role]:
            table.setdefault(perm, set()).add(b.team_id)
    return {perm: frozenset(teams) for perm, teams in table.items()}


@dataclass(frozen=True)
class Principal:
    """Who is acting, as proven by one authentication."""

    id: int | None
    kind: PrincipalKind
    name: str
    bindings: tuple[Binding, ...] = ()
    auth_method: AuthMethod = "token"
    token_id: str | None = None  # jti of the token or session that authenticated this request
    superuser: bool = False  # the local operator (CLI with database access); holds every permission
    _grants: dict[Permission, frozenset[int | None]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_grants", _grants(self.bindings))

    @classmethod
    def system(cls, name: str) -> Principal:
        """The local operator: someone who already holds the database and the key files."""
        return cls(id=None, kind="system", name=name, auth_method="local", superuser=True)

    @property
    def actor(self) -> str:
        """How this principal is named in the audit trail."""
        return f"{self.kind}:{self.name}"

    def can(self, permission: Permission, scope: Scope = ORG) -> bool:
        if self.superuser:
            return True
        teams = self._grants.get(permission)
        if not teams:
            return False
        # An organisation-wide grant covers every team; a team grant covers that team only.
        return None in teams or (scope.team_id is not None and scope.team_id in teams)

    def holds(self, permission: Permission) -> bool:
        """Whether ``permission`` is held in at least one scope (shows a menu entry; never authorizes an act)."""
        return self.superuser or bool(self._grants.get(permission))

    def team_ids_with(self, permission: Permission) -> frozenset[int] | None:
        """Teams where ``permission`` is held, or None when it is held organisation-wide (filters lists)."""
        if self.superuser:
            return None
        teams = self._grants.get(permission, frozenset())
        if None in teams:
            return None
        return frozenset(t for t in teams if t is not None)


def authorize(principal: Principal, permission: Permission, scope: Scope = ORG) -> None:
    """Raise ``PermissionDenied`` unless ``principal`` holds ``permission`` in ``scope``."""
    if not principal.can(permission, scope):
        raise PermissionDenied(
            f"{principal.actor} lacks the permission {permission.value!r} in the {scope}",
            details={"permission": permission.value, "scope": str(scope)},
        )
