from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from charter import __version__
from tests.conftest import Factory


def test_healthz_and_readyz_are_open(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "version": __version__}
    assert client.get("/readyz").json()["status"] == "ready"


def test_openapi_document_and_docs_are_open(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/auth/token" in spec["paths"] and "/api/v1/audit/verify" in spec["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_metrics_need_permission_and_accept_an_api_key_as_bearer(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]
) -> None:
    factory.user("admin", "admin")
    factory.service_account("prometheus", "service")
    key = client.post(
        "/api/v1/api-keys", headers=login("admin"), json={"service_account": "prometheus", "name": "scrape"}
    ).json()["key"]
    client.get("/healthz")
    response = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    text = response.text
    assert 'charter_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "charter_http_request_seconds_bucket" in text
    events_line = next(line for line in text.splitlines() if line.startswith("charter_audit_events "))
    assert float(events_line.split()[1]) >= 4  # team, user, role grant, login, service account, key ...
    factory.user("viewer-v", "viewer")
    assert client.get("/metrics", headers=login("viewer-v")).status_code == 403


def test_request_id_header_and_security_headers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert len(response.headers["x-request-id"]) == 16
    assert response.headers["x-content-type-options"] == "nosniff"
