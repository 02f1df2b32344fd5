"""Sign-in: tokens, failures, lockout per account and per address, and their audit events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from charter.audit.schemas import AuditFilter
from charter.audit.service import list_events
from charter.config import Settings
from charter.db.engine import Database
from charter.identity.models import LoginThrottleRow
from charter.server.app import create_app
from tests.conftest import OPERATOR, PASSWORD, Factory, make_settings


def events(db: Database, action: str) -> list[dict[str, object]]:
    with db.session() as session:
        page = list_events(session, OPERATOR, AuditFilter(action=action), limit=500)
    return [e.model_dump() for e in page.items]


def sign_in(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return response.status_code, response.json()


def test_token_response_shape(client: TestClient, factory: Factory, settings: Settings) -> None:
    factory.user("alice", "viewer")
    status, body = sign_in(client, "alice", PASSWORD)
    assert status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == settings.access_token_ttl
    me = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["name"] == "alice" and me.json()["bindings"] == [{"role": "viewer", "team": None}]


def test_username_is_case_insensitive_and_trimmed(client: TestClient, factory: Factory) -> None:
    factory.user("alice", "viewer")
    assert sign_in(client, "  Alice ", PASSWORD)[0] == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, factory: Factory, db: Database
) -> None:
    factory.user("alice", "viewer")
    wrong = sign_in(client, "alice", "not the password")
    unknown = sign_in(client, "nobody-here", "not the password")
    assert wrong[0] == unknown[0] == 401
    assert wrong[1]["error"]["message"] == unknown[1]["error"]["message"] == "Incorrect username or password."
    failures = events(db, "auth.login")
    assert {(e["actor"], e["outcome"]) for e in failures} == {("user:alice", "failed"), ("user:nobody-here", "failed")}
    assert all("not the password" not in str(e) for e in failures)  # passwords never reach the trail


def test_success_is_audited_with_source_address(client: TestClient, factory: Factory, db: Database) -> None:
    factory.user("alice", "viewer")
    sign_in(client, "alice", PASSWORD)
    (event,) = [e for e in events(db, "auth.login") if e["outcome"] == "allowed"]
    assert event["actor"] == "user:alice" and event["source_ip"] == "testclient" and event["request_id"]


def test_disabled_user_cannot_sign_in_and_its_tokens_stop_working(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]
) -> None:
    factory.user("admin", "admin")
    factory.user("alice", "viewer")
    alice = login("alice")
    assert client.post("/api/v1/users/alice/disable", headers=login("admin")).status_code == 200
    assert sign_in(client, "alice", PASSWORD)[0] == 401
    assert client.get("/api/v1/auth/whoami", headers=alice).status_code == 401


def test_account_lockout_after_repeated_failures(
    client: TestClient, factory: Factory, db: Database, settings: Settings
) -> None:
    factory.user("alice", "viewer")
    limit = settings.login_max_failures_per_account
    statuses = [sign_in(client, "alice", "wrong password!")[0] for _ in range(limit)]
    assert statuses == [401] * (limit - 1) + [429]
    status, body = sign_in(client, "alice", PASSWORD)  # even the right password is refused while locked
    assert status == 429 and body["error"]["code"] == "account_locked"
    assert "try again in 15 minutes" in body["error"]["message"]
    assert len(events(db, "auth.lockout")) == 1
    # When the lock expires, the right password works and clears the counter.
    with db.session() as session:
        session.execute(update(LoginThrottleRow).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert sign_in(client, "alice", PASSWORD)[0] == 200
    with db.session() as session:
        assert session.get(LoginThrottleRow, "account:alice") is None


def test_lockout_answers_with_retry_after(client: TestClient, factory: Factory, settings: Settings) -> None:
    factory.user("alice", "viewer")
    for _ in range(settings.login_max_failures_per_account):
        response = client.post("/api/v1/auth/token", data={"username": "alice", "password": "wrong password!"})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) == settings.login_lockout


def test_per_address_lockout_spans_accounts(home: object, db_url: str, factory: Factory) -> None:

    settings = make_settings(
        Path(str(home)), db_url, login_max_failures_per_address=3, login_max_failures_per_account=50
    )
    app: FastAPI = create_app(settings)
    factory.user("alice", "viewer")
    with TestClient(app) as client:
        for name in ("a1", "a2", "a3"):  # three different accounts, one address
            sign_in(client, name, "wrong password!")
        status, body = sign_in(client, "alice", PASSWORD)
        app.state.charter.db.dispose()
    assert status == 429 and "your address" in body["error"]["message"]


def test_failure_window_resets(client: TestClient, factory: Factory, db: Database, settings: Settings) -> None:
    factory.user("alice", "viewer")
    for _ in range(settings.login_max_failures_per_account - 1):
        sign_in(client, "alice", "wrong password!")
    with db.session() as session:
        session.execute(update(LoginThrottleRow).values(window_started_at=datetime.now(UTC) - timedelta(hours=1)))
    assert sign_in(client, "alice", "wrong password!")[0] == 401  # a new window: not locked
    with db.session() as session:
        row = session.scalars(select(LoginThrottleRow).where(LoginThrottleRow.key == "account:alice")).one()
        assert row.failures == 1


def test_logout_revokes_the_token(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]], db: Database
) -> None:
    factory.user("alice", "viewer")
    headers = login("alice")
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    response = client.get("/api/v1/auth/whoami", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]
    assert len(events(db, "token.revoke")) == 1
    rejected = events(db, "auth.rejected")
    assert rejected and rejected[0]["outcome"] == "failed"


def test_form_must_carry_username_and_password(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "alice"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"
    assert (
        client.post("/api/v1/auth/token", data={"username": "a", "password": "b", "grant_type": "x"}).status_code == 422
    )
