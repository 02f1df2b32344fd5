"""Bad input gets a 4xx with a message; nothing reaches a 500 or a stack trace; secrets are not echoed."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import Factory


def test_validation_error_is_422_with_a_message_and_never_echoes_the_password(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]
) -> None:
    factory.user("admin", "admin")
    secret = "a-secret-password-value"
    response = client.post("/api/v1/users", headers=login("admin"), json={"username": "Not Valid!", "password": secret})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "username" in error["message"]
    assert secret not in response.text


def test_short_password_is_refused_and_nothing_is_created(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]
) -> None:
    factory.user("admin", "admin")
    headers = login("admin")
    response = client.post("/api/v1/users", headers=headers, json={"username": "bob", "password": "short"})
    assert response.status_code == 422 and "at least 12" in response.json()["error"]["message"]
    assert client.get("/api/v1/users/bob", headers=headers).status_code == 404
    # Nor did the refused change leave an audit event behind.
    events = client.get("/api/v1/audit/events?action=user.create&resource_id=bob", headers=headers).json()
    assert events["items"] == []


def test_duplicate_is_409(client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]) -> None:
    factory.user("admin", "admin")
    headers = login("admin")
    body = {"username": "bob", "password": "a long enough password"}
    assert client.post("/api/v1/users", headers=headers, json=body).status_code == 201
    response = client.post("/api/v1/users", headers=headers, json=body)
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"


def test_unknown_path_is_a_json_404_under_the_api(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405 and "not allowed" in response.json()["error"]["message"]


def test_malformed_json_body_is_422(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]
) -> None:
    factory.user("admin", "admin")
    response = client.post(
        "/api/v1/teams", headers={**login("admin"), "Content-Type": "application/json"}, content=b"{not json"
    )
    assert response.status_code == 422


def test_bad_cursor_is_422(client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]) -> None:
    factory.user("admin", "admin")
    response = client.get("/api/v1/users?cursor=abc", headers=login("admin"))
    assert response.status_code == 422 and "cursor" in response.json()["error"]["message"]


def test_unexpected_errors_are_a_generic_500_with_a_request_id(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]
) -> None:
    from charter.identity import service

    factory.user("admin", "admin")
    headers = login("admin")
    original = service.list_teams

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("internal detail that must not leak")

    service.list_teams = broken  # type: ignore[assignment]
    try:
        with TestClient(client.app, raise_server_exceptions=False) as raw:
            response = raw.get("/api/v1/teams", headers=headers)
    finally:
        service.list_teams = original
    assert response.status_code == 500
    assert "internal detail" not in response.text and "Traceback" not in response.text
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


def test_request_id_is_echoed_when_safe(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123-def"}).headers["x-request-id"] == "abc-123-def"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad\nid"}).headers["x-request-id"]
    assert unsafe != "bad\nid" and len(unsafe) == 16
