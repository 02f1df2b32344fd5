"""Incident fixtures: a credit-risk team whose scoring model has a version in production.

People: olivia (model owner, credit-risk), rosa (risk officer, credit-risk), vera (viewer,
credit-risk), rita (reviewer, credit-risk: approves versions), aude (auditor), ada (admin), and
otto (model owner of another team, people-analytics, with a model of his own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from charter.db.engine import Database
from tests.conftest import Factory

MODEL = "credit-scoring"
OTHER_MODEL = "cv-screening"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
Headers = dict[str, str]


@dataclass
class Desk:
    client: TestClient
    db: Database
    owner: Headers
    risk: Headers
    viewer: Headers
    auditor: Headers
    admin: Headers
    outsider: Headers

    def report(self, headers: Headers | None = None, **fields: Any) -> dict[str, Any]:
        response = self.post_report(headers, **fields)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def post_report(self, headers: Headers | None = None, **fields: Any) -> Response:
        body = {
            "title": "Approval rate collapsed for applicants over 60",
            "type": "bias_fairness",
            "severity": "SEV2",
            "models": [{"model": MODEL, "version": "1.0.0"}],
            **fields,
        }
        return self.client.post("/api/v1/incidents", json=body, headers=headers or self.owner)

    def get(self, incident_id: int, headers: Headers | None = None) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/incidents/{incident_id}", headers=headers or self.owner)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def post(self, incident_id: int, path: str, body: dict[str, Any], headers: Headers | None = None) -> Response:
        return self.client.post(f"/api/v1/incidents/{incident_id}/{path}", json=body, headers=headers or self.owner)

    def move(self, incident_id: int, status: str, headers: Headers | None = None, note: str | None = None) -> Response:
        return self.post(incident_id, "status", {"status": status, "note": note}, headers)

    def walk(self, incident_id: int, *statuses: str) -> dict[str, Any]:
        response = None
        for status in statuses:
            response = self.move(incident_id, status)
            assert response.status_code == 200, response.text
        assert response is not None
        return dict(response.json())

    def events(self, action: str | None = None, resource_type: str = "incident") -> list[dict[str, Any]]:
        params: dict[str, Any] = {"resource_type": resource_type, "limit": 500}
        if action:
            params["action"] = action
        response = self.client.get("/api/v1/audit/events", params=params, headers=self.auditor)
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["items"]))  # oldest first

    def version(self, model: str = MODEL, version: str = "1.0.0") -> dict[str, Any]:
        response = self.client.get(f"/api/v1/models/{model}/versions/{version}", headers=self.owner)
        assert response.status_code == 200, response.text
        return dict(response.json())


def _ok(response: Response, status: int = 200) -> Response:
    assert response.status_code == status, response.text
    return response


@pytest.fixture
def desk(client: TestClient, factory: Factory, db: Database, login: Callable[..., Headers]) -> Desk:
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("rosa", "risk_officer@credit-risk")
    factory.user("vera", "viewer@credit-risk")
    factory.user("rita", "reviewer@credit-risk")
    factory.user("aude", "auditor")
    factory.user("ada", "admin")
    factory.user("otto", "model_owner@people-analytics")
    owner, reviewer = login("olivia"), login("rita")
    model = {"name": MODEL, "team": "credit-risk", "domain": "credit", "purpose": "Score loan applications"}
    _ok(client.post("/api/v1/models", json=model, headers=owner), 201)
    for version in ("1.0.0", "2.0.0"):
        _ok(client.post(f"/api/v1/models/{MODEL}/versions", json={"version": version}, headers=owner), 201)
    for stage, headers in (("review", owner), ("approved", reviewer), ("production", owner)):
        _ok(client.post(f"/api/v1/models/{MODEL}/versions/1.0.0/promote", json={"stage": stage}, headers=headers))
    outsider = login("otto")
    other = {"name": OTHER_MODEL, "team": "people-analytics", "domain": "employment"}
    _ok(client.post("/api/v1/models", json=other, headers=outsider), 201)
    _ok(client.post(f"/api/v1/models/{OTHER_MODEL}/versions", json={"version": "1.0.0"}, headers=outsider), 201)
    return Desk(
        client,
        db,
        owner=owner,
        risk=login("rosa"),
        viewer=login("vera"),
        auditor=login("aude"),
        admin=login("ada"),
        outsider=outsider,
    )
