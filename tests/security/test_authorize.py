"""The authorization matrix: which role may do what, where. Deny by default."""

from __future__ import annotations

import pytest

from charter.errors import PermissionDenied
from charter.security.permissions import ROLE_PERMISSIONS, Permission, Role
from charter.security.principal import ORG, Binding, Principal, Scope, authorize

P = Permission
TEAM_A, TEAM_B = Scope.team(1), Scope.team(2)


def principal(*bindings: Binding) -> Principal:
    return Principal(id=1, kind="user", name="u", bindings=bindings)


def test_no_binding_no_access() -> None:
    nobody = principal()
    for permission in Permission:
        if permission is P.SELF:
            continue
        assert not nobody.can(permission)
        assert not nobody.can(permission, TEAM_A)
        with pytest.raises(PermissionDenied):
            authorize(nobody, permission)


def test_every_signed_in_principal_may_act_on_itself() -> None:
    # Seeing who you are, changing your password and signing out need no role.
    assert principal().can(P.SELF) and principal().can(P.SELF, TEAM_A)
    assert principal().team_ids_with(P.SELF) is None


@pytest.mark.parametrize("role", list(Role))
def test_org_binding_grants_exactly_the_roles_permissions_everywhere(role: Role) -> None:
    p = principal(Binding(role))
    for permission in Permission:
        expected = permission in ROLE_PERMISSIONS[role] or permission is P.SELF
        assert p.can(permission) is expected
        assert p.can(permission, TEAM_A) is expected


def test_team_binding_is_limited_to_its_team() -> None:
    owner = principal(Binding(Role.MODEL_OWNER, 1))
    assert owner.can(P.MODEL_WRITE, TEAM_A)
    assert not owner.can(P.MODEL_WRITE, TEAM_B)
    assert not owner.can(P.MODEL_WRITE, ORG)  # a team grant never reaches organisation-wide acts
    assert owner.team_ids_with(P.MODEL_WRITE) == frozenset({1})


def test_bindings_add_up() -> None:
    p = principal(Binding(Role.VIEWER), Binding(Role.REVIEWER, 2))
    assert p.can(P.MODEL_READ, TEAM_A)
    assert p.can(P.VERSION_APPROVE, TEAM_B)
    assert not p.can(P.VERSION_APPROVE, TEAM_A)
    assert p.team_ids_with(P.MODEL_READ) is None  # held organisation-wide


def test_auditor_reads_everything_and_changes_nothing() -> None:
    auditor = principal(Binding(Role.AUDITOR))
    assert auditor.can(P.AUDIT_READ)
    writes = [p for p in Permission if p.value.endswith((":write", ":approve", ":accept", ":grant", ":checkpoint"))]
    assert writes
    for permission in writes:
        assert not auditor.can(permission), permission
    for permission in Permission:
        if permission.value.endswith(":read"):
            assert auditor.can(permission), permission


def test_only_admin_administers() -> None:
    for role in Role:
        administers = {P.USER_WRITE, P.ROLE_GRANT, P.APIKEY_WRITE, P.TEAM_WRITE} <= ROLE_PERMISSIONS[role]
        assert administers is (role is Role.ADMIN)


def test_viewer_cannot_read_the_audit_trail() -> None:
    assert not principal(Binding(Role.VIEWER)).can(P.AUDIT_READ)


def test_service_role_cannot_administer_or_read_audit() -> None:
    svc = principal(Binding(Role.SERVICE))
    assert svc.can(P.MODEL_WRITE) and svc.can(P.METRICS_READ)
    assert not svc.can(P.USER_WRITE) and not svc.can(P.AUDIT_READ)


def test_local_operator_holds_everything() -> None:
    operator = Principal.system("cli")
    assert all(operator.can(p, TEAM_B) for p in Permission)
    assert operator.actor == "system:cli"


def test_denial_names_the_permission_and_scope() -> None:
    with pytest.raises(PermissionDenied) as info:
        authorize(principal(Binding(Role.VIEWER)), P.MODEL_WRITE, TEAM_A)
    assert info.value.details == {"permission": "model:write", "scope": "team 1"}
