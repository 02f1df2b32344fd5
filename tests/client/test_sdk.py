"""The SDK against the real app, in process, on SQLite and PostgreSQL.

Every call goes through the Starlette test client into the real routes,
services and database; nothing on the server side is replaced.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

import charter
from charter.audit.schemas import CheckpointRead, VerifyReport
from charter.client import Charter, RoleInfo, request_id_of
from charter.db.engine import Database
from charter.errors import (
    AccountLocked,
    CharterError,
    Conflict,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
)
from charter.identity.schemas import PrincipalRead, RoleGrant
from charter.pagination import Page
from charter.security.permissions import ROLE_PERMISSIONS, Role
from tests.conftest import PASSWORD, Factory

URL = "http://testserver"
NEW_PASSWORD = "a different long passphrase"

SdkFor = Callable[..., Charter]
E = TypeVar("E", bound=CharterError)


@pytest.fixture
def sdk(client: TestClient) -> SdkFor:
    """``sdk(token=...)`` or ``sdk(api_key=...)``: a Charter client sending through the in-process app."""

    def _make(*, token: str | None = None, api_key: str | None = None) -> Charter:
        return Charter(URL, token=token, api_key=api_key, http=client)

    return _make


@pytest.fixture
def admin(client: TestClient, factory: Factory) -> Charter:
    factory.user("root", "admin")
    return Charter.login(URL, "root", PASSWORD, http=client)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raised(cls: type[E], call: Callable[[], object]) -> E:
    """Run ``call``; it must raise exactly ``cls`` (not a parent), carrying the server's request id."""
    with pytest.raises(cls) as info:
        call()
    assert type(info.value) is cls
    assert request_id_of(info.value), "the server's request id travels with the error"
    return info.value


# -- sign-in ----------------------------------------------------------------------------------------


def test_login_whoami_then_logout_revokes_the_token(client: TestClient, factory: Factory, sdk: SdkFor) -> None:
    factory.user("alice", "auditor")
    alice = Charter.login(URL, "alice", PASSWORD, http=client)
    token = alice.token
    assert token

    me = alice.whoami()
    assert (me.name, me.kind, me.auth_method) == ("alice", "user", "token")
    assert [(b.role, b.team) for b in me.bindings] == [(Role.AUDITOR, None)]
    assert set(me.permissions) == {p.value for p in ROLE_PERMISSIONS[Role.AUDITOR]} | {"self"}

    alice.logout()
    assert alice.token is None
    error = raised(InvalidToken, sdk(token=token).whoami)
    assert "revoked" in error.message
    assert error.status == 401


def test_wrong_password_raises_invalid_credentials_with_the_audited_request_id(
    client: TestClient, factory: Factory, admin: Charter
) -> None:
    factory.user("bob", "viewer")
    error = raised(InvalidCredentials, lambda: Charter.login(URL, "bob", "not the password", http=client))

    failed = [e for e in admin.audit_events(action="auth.login", actor="user:bob").items if e.outcome == "failed"]
    assert [e.request_id for e in failed] == [request_id_of(error)]


def test_lockout_arrives_as_account_locked_with_its_wait(client: TestClient, factory: Factory) -> None:
    factory.user("lena", "viewer")
    for _ in range(4):
        raised(InvalidCredentials, lambda: Charter.login(URL, "lena", "not the password", http=client))
    locked = raised(AccountLocked, lambda: Charter.login(URL, "lena", "not the password", http=client))
    assert locked.retry_after == 900
    still = raised(AccountLocked, lambda: Charter.login(URL, "lena", PASSWORD, http=client))
    assert 0 < still.retry_after <= 900


def test_generate_token_returns_a_working_token_and_leaves_the_client_as_it_was(factory: Factory, sdk: SdkFor) -> None:
    factory.user("carol", "viewer")
    anonymous = sdk()
    token = anonymous.generate_token("carol", PASSWORD)

    assert sdk(token=token).whoami().name == "carol"
    assert anonymous.token is None
    raised(InvalidCredentials, lambda: anonymous.generate_token("carol", "wrong"))


def test_verify_access_reads_organisation_wide_permissions(client: TestClient, factory: Factory) -> None:
    factory.user("vera", "viewer")
    vera = Charter.login(URL, "vera", PASSWORD, http=client)

    assert vera.verify_access("team:read") is True
    assert vera.verify_access("user:write") is False
    with pytest.raises(InvalidInput, match="not a permission"):
        vera.verify_access("model:wrte")


def test_verify_access_ignores_permissions_held_in_one_team_only(client: TestClient, factory: Factory) -> None:
    factory.user("wes", "viewer", "model_owner@credit-risk")
    wes = Charter.login(URL, "wes", PASSWORD, http=client)

    assert [(b.role, b.team) for b in wes.whoami().bindings] == [
        (Role.VIEWER, None),
        (Role.MODEL_OWNER, "credit-risk"),
    ]
    assert wes.verify_access("model:read") is True
    assert wes.verify_access("model:write") is False


def test_change_password(client: TestClient, factory: Factory) -> None:
    factory.user("dave", "viewer")
    dave = Charter.login(URL, "dave", PASSWORD, http=client)

    raised(InvalidInput, lambda: dave.change_password("wrong current password", NEW_PASSWORD))
    dave.change_password(PASSWORD, NEW_PASSWORD)

    raised(InvalidCredentials, lambda: Charter.login(URL, "dave", PASSWORD, http=client))
    assert Charter.login(URL, "dave", NEW_PASSWORD, http=client).whoami().name == "dave"


# -- administration ---------------------------------------------------------------------------------


def test_admin_manages_teams_users_and_roles(client: TestClient, admin: Charter) -> None:
    team = admin.create_team("credit-risk", display_name="Credit risk")
    assert (team.name, team.display_name, team.created_by) == ("credit-risk", "Credit risk", "user:root")
    assert [t.name for t in admin.list_teams()] == ["credit-risk"]

    created = admin.create_user("erin", PASSWORD, email="erin@example.com", roles=["viewer", "model_owner@credit-risk"])
    assert isinstance(created, PrincipalRead)
    assert created.created_by == "user:root"
    assert admin.get_user("erin") == created

    granted = admin.grant_role("erin", Role.AUDITOR)
    assert {(b.role, b.team) for b in granted.bindings} == {
        (Role.VIEWER, None),
        (Role.MODEL_OWNER, "credit-risk"),
        (Role.AUDITOR, None),
    }
    revoked = admin.revoke_role("erin", "model_owner", team="credit-risk")
    assert {(b.role, b.team) for b in revoked.bindings} == {(Role.VIEWER, None), (Role.AUDITOR, None)}
    erin = Charter.login(URL, "erin", PASSWORD, http=client)
    assert erin.verify_access("audit:read")

    actions = [e.action for e in admin.audit_events(actor="user:root", resource_id="erin").items]
    assert actions == ["role.revoke", "role.grant", "role.grant", "role.grant", "user.create"]


def test_role_grant_objects_are_accepted(admin: Charter) -> None:
    admin.create_team("fraud")
    created = admin.create_user("finn", PASSWORD, roles=[RoleGrant(role=Role.REVIEWER, team="fraud")])
    assert [(b.role, b.team) for b in created.bindings] == [(Role.REVIEWER, "fraud")]


def test_list_roles_matches_the_server_role_table(admin: Charter) -> None:
    roles = admin.list_roles()
    assert all(isinstance(r, RoleInfo) for r in roles)
    assert {r.role: set(r.permissions) for r in roles} == {
        role: {p.value for p in perms} for role, perms in ROLE_PERMISSIONS.items()
    }


def test_disable_stops_existing_tokens_and_enable_restores_sign_in(
    client: TestClient, factory: Factory, admin: Charter
) -> None:
    factory.user("gina", "viewer")
    gina = Charter.login(URL, "gina", PASSWORD, http=client)

    assert admin.disable_user("gina").is_active is False
    raised(InvalidToken, gina.whoami)
    raised(InvalidCredentials, lambda: Charter.login(URL, "gina", PASSWORD, http=client))

    assert admin.enable_user("gina").is_active is True
    assert Charter.login(URL, "gina", PASSWORD, http=client).whoami().name == "gina"


def test_create_token_for_another_principal(admin: Charter, sdk: SdkFor) -> None:
    admin.create_service_account("ci-bot", roles=["service"])
    issued = admin.create_token("ci-bot", ttl=120)
    assert (issued.token_type, issued.expires_in) == ("bearer", 120)
    me = sdk(token=issued.access_token).whoami()
    assert (me.name, me.kind) == ("ci-bot", "service")

    error = raised(InvalidInput, lambda: admin.create_token("ci-bot", ttl=10))
    assert any(problem["location"][-1] == "ttl" for problem in error.details["errors"])


def test_api_key_lifecycle(admin: Charter, sdk: SdkFor) -> None:
    account = admin.create_service_account("scraper", description="Prometheus", roles=["service"])
    assert (account.kind, account.description) == ("service", "Prometheus")
    created = admin.create_api_key("scraper", "prometheus", expires_in_days=30)
    assert created.key and created.expires_at is not None

    scraper = sdk(api_key=created.key)
    me = scraper.whoami()
    assert (me.name, me.kind, me.auth_method) == ("scraper", "service", "api_key")
    assert "charter_http_requests_total" in scraper.metrics()
    raised(InvalidInput, scraper.logout)  # keys are revoked, not logged out

    listed = admin.list_api_keys(service_account="scraper")
    assert [k.key_id for k in listed] == [created.key_id]
    assert not hasattr(listed[0], "key"), "the secret is shown once, at creation"
    assert listed[0].last_used_at is not None

    assert admin.revoke_api_key(created.key_id).revoked_at is not None
    error = raised(InvalidCredentials, scraper.whoami)
    assert "revoked" in error.message


def test_pagination_walks_every_page_once(admin: Charter, factory: Factory) -> None:
    for i in range(6):
        factory.user(f"user-{i}", "viewer")
    factory.service_account("robot", "service")
    everyone = ["root", *(f"user-{i}" for i in range(6)), "robot"]

    first = admin.list_users(limit=3)
    assert isinstance(first, Page)
    assert [p.name for p in first.items] == everyone[:3]
    assert first.next_cursor
    second = admin.list_users(limit=3, cursor=first.next_cursor)
    assert [p.name for p in second.items] == everyone[3:6]
    last = admin.list_users(limit=3, cursor=second.next_cursor)
    assert [p.name for p in last.items] == everyone[6:]
    assert last.next_cursor is None

    assert [p.name for p in admin.iter_users(page_size=2)] == everyone
    assert [p.name for p in admin.iter_users(kind="service", page_size=1)] == ["robot"]
    assert [p.name for p in admin.iter_users(q="user-", page_size=4)] == everyone[1:7]

    admin.disable_user("user-2")
    assert [p.name for p in admin.iter_users(active=False)] == ["user-2"]


# -- errors -----------------------------------------------------------------------------------------


def test_server_errors_arrive_as_the_same_classes(client: TestClient, admin: Charter, factory: Factory) -> None:
    missing = raised(NotFound, lambda: admin.get_user("nobody"))
    assert "nobody" in missing.message
    assert missing.status == 404

    admin.create_team("ops")
    conflict = raised(Conflict, lambda: admin.create_team("ops"))
    assert "ops" in conflict.message

    bad = raised(InvalidInput, lambda: admin.create_user("Not A Name", PASSWORD))
    assert ["body", "username"] in [problem["location"] for problem in bad.details["errors"]]
    assert PASSWORD not in json.dumps(bad.details), "the password is never echoed back"
    raised(InvalidInput, lambda: admin.create_user("hana", PASSWORD, roles=["emperor"]))

    factory.user("ivan", "viewer")
    viewer = Charter.login(URL, "ivan", PASSWORD, http=client)
    denied = raised(PermissionDenied, lambda: viewer.create_user("jack", PASSWORD))
    assert denied.details["permission"] == "user:write"
    raised(PermissionDenied, viewer.metrics)
    raised(PermissionDenied, viewer.audit_events)


def test_missing_credentials(sdk: SdkFor) -> None:
    anonymous = sdk()
    with pytest.raises(CharterError) as info:
        anonymous.whoami()
    assert info.value.status == 401
    raised(InvalidToken, sdk(token="not-a-jwt").whoami)


def test_unreachable_server_raises_service_unavailable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with Charter(url, timeout=2) as offline, pytest.raises(ServiceUnavailable) as info:
        offline.health()
    assert url in info.value.message
    assert info.value.details["url"] == url

    with httpx2.Client() as fork, pytest.raises(ServiceUnavailable):
        Charter(url, http=fork).whoami()


def test_url_must_be_http() -> None:
    with pytest.raises(InvalidInput, match="http"):
        Charter("localhost:8000")


def test_closing(client: TestClient, sdk: SdkFor) -> None:
    with sdk() as borrowed:
        assert borrowed.health().status == "ok"
    with pytest.raises(ServiceUnavailable, match="closed"):
        borrowed.health()
    assert client.get("/healthz").status_code == 200, "a client passed in stays open for its owner"


# -- health -----------------------------------------------------------------------------------------


def test_health_and_readiness(sdk: SdkFor, db: Database) -> None:
    anonymous = sdk()
    health = anonymous.health()
    assert (health.status, health.version) == ("ok", charter.__version__)
    ready = anonymous.ready()
    assert ready.ready and ready.schema_revision

    with db.engine.begin() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("DELETE FROM alembic_version"))
    try:
        not_ready = anonymous.ready()
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision})
    assert not not_ready.ready
    assert not_ready.reason and "charter db upgrade" in not_ready.reason


# -- audit ------------------------------------------------------------------------------------------


def test_audit_events_filter_and_follow_cursors(admin: Charter) -> None:
    for i in range(4):
        admin.create_user(f"new-{i}", PASSWORD)

    page = admin.audit_events(action="user.create", limit=2)
    assert len(page.items) == 2 and page.next_cursor
    walked = list(admin.iter_audit_events(action="user.create", page_size=2))
    assert [e.resource_id for e in walked] == ["new-3", "new-2", "new-1", "new-0", "root"]
    assert [e.seq for e in walked] == sorted((e.seq for e in walked), reverse=True)
    assert {e.actor for e in walked[:4]} == {"user:root"}

    newest = walked[0]
    moment = datetime.fromisoformat(newest.ts.replace("Z", "+00:00"))
    since = admin.audit_events(action="user.create", since=moment).items
    assert [e.seq for e in since] == [newest.seq]
    naive = admin.audit_events(action="user.create", since=moment.replace(tzinfo=None)).items
    assert [e.seq for e in naive] == [newest.seq], "a naive time is UTC, as on the server"
    until = admin.audit_events(action="user.create", until=newest.ts).items
    assert newest.seq not in [e.seq for e in until] and len(until) == 4
    assert admin.audit_events(since=moment + timedelta(days=1)).items == []
    raised(InvalidInput, lambda: admin.audit_events(since="last tuesday"))


def test_verify_and_checkpoints(admin: Charter) -> None:
    raised(NotFound, admin.latest_checkpoint)

    report = admin.verify_audit()
    assert isinstance(report, VerifyReport)
    assert report.ok and report.size > 0 and report.fault is None

    checkpoint = admin.create_checkpoint()
    assert isinstance(checkpoint, CheckpointRead)
    assert checkpoint.size >= report.size
    assert admin.latest_checkpoint() == checkpoint

    kept = admin.verify_audit([checkpoint])
    assert kept.ok
    assert kept.checkpoints_checked == 2, "the stored checkpoint and the one we kept"

    forged = checkpoint.model_copy(update={"head_hash": "00" * 32})
    broken = admin.verify_audit([forged])
    assert not broken.ok and broken.fault is not None


def test_export_lines_form_a_verifiable_chain(client: TestClient, admin: Charter, factory: Factory) -> None:
    admin.create_team("exports")
    lines = list(admin.export_audit())
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    previous = "00" * 32
    for line in lines:
        assert line["prev_hash"] == previous
        digest = hashlib.sha256(bytes.fromhex(line["prev_hash"]) + line["body"].encode()).hexdigest()
        assert digest == line["hash"]
        previous = line["hash"]
    assert "team.create" in [json.loads(line["body"])["action"] for line in lines]

    report = admin.verify_audit()
    assert (report.size, report.head_hash) == (lines[-1]["seq"], lines[-1]["hash"])

    tail = list(admin.export_audit(since_seq=lines[-2]["seq"]))
    assert tail[0] == lines[-1]
    assert [line["seq"] for line in tail] == list(range(lines[-1]["seq"], lines[-1]["seq"] + len(tail)))

    factory.user("kim", "viewer")
    viewer = Charter.login(URL, "kim", PASSWORD, http=client)
    raised(PermissionDenied, lambda: list(viewer.export_audit()))


# -- packaging --------------------------------------------------------------------------------------


def test_the_sdk_does_not_import_the_server() -> None:
    """SDK users install one package but should not pay for the web framework and the ORM."""
    code = (
        "import sys, charter.client; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', 'sqlalchemy', 'alembic'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
