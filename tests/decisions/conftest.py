"""Decision-log fixtures: a credit-risk team that logs decisions, reads them, and checks their fairness.

Version 1.0.0 was trained on personal data (its personal inputs are pseudonymised); version 2.0.0
also on special-category health data (its personal inputs are encrypted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from charter.db.engine import Database
from charter.identity import service as identity
from charter.identity.schemas import ApiKeyCreate
from tests.conftest import OPERATOR, Factory

MODEL = "credit-scoring"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Headers = dict[str, str]


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def decision(n: int, *, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    """Decision ``n``: an applicant with a name and an e-mail (personal) and an income (not personal)."""
    item: dict[str, Any] = {
        "decision_id": f"d-{n}",
        "version": version,
        "decided_at": at(n),
        "inputs": {"name": f"Applicant {n}", "email": f"applicant{n}@example.com", "income": 1000 * n},
        "output": "approve" if n % 2 else "deny",
        "score": round(n / 100, 2),
        "explanation": {"text": "Income above the threshold", "attributions": {"income": 0.7, "name": 0.0}},
        "subject": f"customer-{n}",
    }
    item.update(fields)
    return item


@dataclass
class Log:
    client: TestClient
    db: Database
    owner: Headers
    service: Headers
    viewer: Headers
    risk: Headers
    auditor: Headers
    outsider: Headers

    def send(
        self,
        items: list[dict[str, Any]],
        headers: Headers | None = None,
        personal_fields: list[str] | None = None,
        model: str = MODEL,
    ) -> Response:
        body = {
            "decisions": items,
            "personal_fields": ["name", "email"] if personal_fields is None else personal_fields,
        }
        return self.client.post(f"/api/v1/models/{model}/decisions", json=body, headers=headers or self.owner)

    def search(self, headers: Headers | None = None, **params: Any) -> Response:
        return self.client.get(f"/api/v1/models/{MODEL}/decisions", params=params, headers=headers or self.owner)

    def items(self, headers: Headers | None = None, **params: Any) -> list[dict[str, Any]]:
        response = self.search(headers, **params)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def outcome(self, decision_id: str, body: dict[str, Any], headers: Headers | None = None) -> Response:
        return self.client.post(
            f"/api/v1/models/{MODEL}/decisions/{decision_id}/outcome", json=body, headers=headers or self.owner
        )

    def events(self, action: str) -> list[dict[str, Any]]:
        response = self.client.get(
            "/api/v1/audit/events", params={"action": action, "limit": 500}, headers=self.auditor
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@pytest.fixture
def log(client: TestClient, factory: Factory, db: Database, login: Callable[..., Headers]) -> Log:
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("vera", "viewer@credit-risk")
    factory.user("rosa", "risk_officer@credit-risk")
    factory.user("aude", "auditor")
    factory.user("otto", "model_owner@people-analytics")
    factory.service_account("scorer", "service@credit-risk")
    with db.session() as session:
        key = identity.create_api_key(session, OPERATOR, ApiKeyCreate(service_account="scorer", name="scoring")).key
    owner = login("olivia")
    datasets = [
        {"name": "applications", "classification": "personal", "legal_basis": "contract"},
        {"name": "health-records", "classification": "special_category", "legal_basis": "consent"},
    ]
    for dataset in datasets:
        created = client.post("/api/v1/datasets", json={**dataset, "team": "credit-risk"}, headers=owner)
        assert created.status_code == 201, created.text
    model = {"name": MODEL, "team": "credit-risk", "domain": "credit", "purpose": "Score loan applications"}
    assert client.post("/api/v1/models", json=model, headers=owner).status_code == 201
    versions = {
        "1.0.0": [{"dataset": "applications"}],
        "2.0.0": [{"dataset": "applications"}, {"dataset": "health-records"}],
    }
    for version, links in versions.items():
        body = {"version": version, "datasets": links}
        assert client.post(f"/api/v1/models/{MODEL}/versions", json=body, headers=owner).status_code == 201
    return Log(
        client,
        db,
        owner=owner,
        service={"X-API-Key": key},
        viewer=login("vera"),
        risk=login("rosa"),
        auditor=login("aude"),
        outsider=login("otto"),
    )
