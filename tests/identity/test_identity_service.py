"""Identity administration through the API: scopes, four-eyes on self, API keys, audit of every change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from charter.db.engine import Database
from charter.identity.models import ApiKeyRow, RoleBindingRow
from tests.conftest import Factory

Login = Callable[[str], dict[str, str]]


def test_team_scoped_admin_grants_only_in_its_team(client: TestClient, factory: Factory, login: Login) -> None:
    factory.team("credit-risk")
    factory.team("hr")
    factory.user("lead", "admin@credit-risk")
    factory.user("bob")
    headers = login("lead")
    ok = client.post(
        "/api/v1/roles/grant", headers=headers, json={"principal": "bob", "role": "model_owner", "team": "credit-risk"}
    )
    assert ok.status_code == 200 and ok.json()["bindings"] == [{"role": "model_owner", "team": "credit-risk"}]
    for team in ("hr", None):
        denied = client.post(
            "/api/v1/roles/grant", headers=headers, json={"principal": "bob", "role": "model_owner", "team": team}
        )
        assert denied.status_code == 403


def test_granting_twice_changes_nothing(client: TestClient, factory: Factory, login: Login, db: Database) -> None:
    factory.user("admin", "admin")
    factory.user("bob")
    headers = login("admin")
    for _ in range(2):
        assert (
            client.post("/api/v1/roles/grant", headers=headers, json={"principal": "bob", "role": "viewer"}).status_code
            == 200
        )
    with db.session() as session:
        assert len(session.scalars(select(RoleBindingRow).where(RoleBindingRow.role == "viewer")).all()) == 1
    grants = client.get("/api/v1/audit/events?action=role.grant&resource_id=bob", headers=headers).json()["items"]
    assert len(grants) == 1


def test_admin_cannot_lock_themselves_out(client: TestClient, factory: Factory, login: Login) -> None:
    factory.user("admin", "admin")
    headers = login("admin")
    assert client.post("/api/v1/users/admin/disable", headers=headers).status_code == 422
    revoke = client.post("/api/v1/roles/revoke", headers=headers, json={"principal": "admin", "role": "admin"})
    assert revoke.status_code == 422 and "another administrator" in revoke.json()["error"]["message"]


def test_unknown_names_are_404(client: TestClient, factory: Factory, login: Login) -> None:
    factory.user("admin", "admin")
    headers = login("admin")
    assert client.get("/api/v1/users/ghost", headers=headers).status_code == 404
    assert (
        client.post(
            "/api/v1/roles/grant", headers=headers, json={"principal": "admin", "role": "viewer", "team": "ghost-team"}
        ).status_code
        == 404
    )
    assert client.post("/api/v1/api-keys/nope/revoke", headers=headers).status_code == 404


def test_unknown_role_is_422(client: TestClient, factory: Factory, login: Login) -> None:
    factory.user("admin", "admin")
    response = client.post("/api/v1/roles/grant", headers=login("admin"), json={"principal": "admin", "role": "god"})
    assert response.status_code == 422


def test_api_key_lifecycle(client: TestClient, factory: Factory, login: Login, db: Database) -> None:
    factory.user("admin", "admin")
    factory.service_account("ci", "service@credit-risk")
    headers = login("admin")
    created = client.post(
        "/api/v1/api-keys", headers=headers, json={"service_account": "ci", "name": "pipeline", "expires_in_days": 30}
    ).json()
    key = created["key"]
    with db.session() as session:
        row = session.scalars(select(ApiKeyRow)).one()
        assert key not in str(row.secret_hash) and row.key_id == created["key_id"]
        assert row.last_used_at is None
    me = client.get("/api/v1/auth/whoami", headers={"X-API-Key": key}).json()
    assert me["name"] == "ci" and me["auth_method"] == "api_key"
    with db.session() as session:
        assert session.scalars(select(ApiKeyRow)).one().last_used_at is not None
    listed = client.get("/api/v1/api-keys", headers=headers).json()
    assert [k["key_id"] for k in listed] == [created["key_id"]] and "key" not in listed[0]
    audit_text = client.get("/api/v1/audit/events?resource_type=api_key", headers=headers).text
    assert key not in audit_text  # the key itself never reaches the trail
    # Expiry
    with db.session() as session:
        session.execute(update(ApiKeyRow).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    expired = client.get("/api/v1/auth/whoami", headers={"X-API-Key": key})
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    with db.session() as session:
        session.execute(update(ApiKeyRow).values(expires_at=None))
    # Disabling the service account stops the key; revoking stops it for good.
    client.post("/api/v1/users/ci/disable", headers=headers)
    assert client.get("/api/v1/auth/whoami", headers={"X-API-Key": key}).status_code == 401
    client.post("/api/v1/users/ci/enable", headers=headers)
    assert client.post(f"/api/v1/api-keys/{created['key_id']}/revoke", headers=headers).status_code == 200
    revoked = client.get("/api/v1/auth/whoami", headers={"X-API-Key": key})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_api_keys_belong_to_service_accounts_only(client: TestClient, factory: Factory, login: Login) -> None:
    factory.user("admin", "admin")
    response = client.post(
        "/api/v1/api-keys", headers=login("admin"), json={"service_account": "admin", "name": "mine"}
    )
    assert response.status_code == 404 and "service account" in response.json()["error"]["message"]


def test_user_listing_filters_and_pages(client: TestClient, factory: Factory, login: Login) -> None:
    factory.user("admin", "admin")
    for i in range(7):
        factory.user(f"user-{i}", "viewer")
    factory.service_account("svc")
    headers = login("admin")
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get(
            "/api/v1/users",
            headers=headers,
            params={"limit": 3, "kind": "user", **({"cursor": cursor} if cursor else {})},
        ).json()
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["admin"] + [f"user-{i}" for i in range(7)]
    assert [p["name"] for p in client.get("/api/v1/users?q=user-3", headers=headers).json()["items"]] == ["user-3"]
    assert [p["name"] for p in client.get("/api/v1/users?kind=service", headers=headers).json()["items"]] == ["svc"]


def test_change_own_password(client: TestClient, factory: Factory, login: Login) -> None:
    factory.user("alice", "viewer")
    headers = login("alice")
    wrong = client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": "nope nope nope", "new_password": "a brand new password"},
    )
    assert wrong.status_code == 422
    ok = client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": "correct horse battery staple", "new_password": "a brand new password"},
    )
    assert ok.status_code == 200
    token = client.post("/api/v1/auth/token", data={"username": "alice", "password": "a brand new password"})
    assert token.status_code == 200


def test_tokens_for_scripts(client: TestClient, factory: Factory, login: Login) -> None:
    factory.user("admin", "admin")
    factory.service_account("ci", "service")
    response = client.post("/api/v1/tokens", headers=login("admin"), json={"principal": "ci", "ttl": 600})
    token = response.json()["access_token"]
    assert response.json()["expires_in"] == 600
    me = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["name"] == "ci" and "model:write" in me["permissions"]


def test_first_use_of_an_api_key_on_a_write_route(
    client: TestClient, factory: Factory, login: Login, db: Database
) -> None:
    # Recording last_used_at must not wait on the write lock the request itself holds (SQLite).
    factory.user("admin", "admin")
    factory.service_account("ops", "admin")
    key = client.post("/api/v1/api-keys", headers=login("admin"), json={"service_account": "ops", "name": "k"}).json()[
        "key"
    ]
    response = client.post("/api/v1/teams", headers={"X-API-Key": key}, json={"name": "made-by-key"})
    assert response.status_code == 201
    with db.session() as session:
        assert session.scalars(select(ApiKeyRow)).one().last_used_at is not None
