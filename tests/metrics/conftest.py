"""Metric fixtures: a credit-risk team whose model has two versions; an owner and a service account
write, a viewer reads, an auditor reads the trail, and an owner of another team is an outsider."""

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
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
Headers = dict[str, str]


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def point(name: str, value: float, minutes: float, **fields: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "time": at(minutes), **fields}


@dataclass
class Metrics:
    client: TestClient
    db: Database
    owner: Headers
    service: Headers
    viewer: Headers
    auditor: Headers
    outsider: Headers

    def send(
        self, points: list[dict[str, Any]], headers: Headers | None = None, model: str = MODEL, **batch: Any
    ) -> Response:
        body = {"points": points, **batch}
        return self.client.post(f"/api/v1/models/{model}/metrics", json=body, headers=headers or self.owner)

    def stored(self, points: list[dict[str, Any]], **batch: Any) -> dict[str, Any]:
        response = self.send(points, **batch)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def read(self, headers: Headers | None = None, **params: Any) -> Response:
        return self.client.get(f"/api/v1/models/{MODEL}/metrics", params=params, headers=headers or self.viewer)

    def series(self, **params: Any) -> dict[str, Any]:
        response = self.read(**params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def report(self, headers: Headers | None = None, **params: Any) -> Response:
        return self.client.get(f"/api/v1/models/{MODEL}/metrics/report", params=params, headers=headers or self.viewer)

    def events(self, action: str) -> list[dict[str, Any]]:
        response = self.client.get(
            "/api/v1/audit/events", params={"action": action, "limit": 500}, headers=self.auditor
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@pytest.fixture
def metrics(client: TestClient, factory: Factory, db: Database, login: Callable[..., Headers]) -> Metrics:
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("vera", "viewer@credit-risk")
    factory.user("aude", "auditor")
    factory.user("otto", "model_owner@people-analytics")
    factory.service_account("monitor", "service@credit-risk")
    with db.session() as session:
        key = identity.create_api_key(session, OPERATOR, ApiKeyCreate(service_account="monitor", name="metrics")).key
    owner = login("olivia")
    model = {"name": MODEL, "team": "credit-risk", "domain": "credit", "purpose": "Score loan applications"}
    assert client.post("/api/v1/models", json=model, headers=owner).status_code == 201
    for version in ("1.0.0", "2.0.0"):
        created = client.post(f"/api/v1/models/{MODEL}/versions", json={"version": version}, headers=owner)
        assert created.status_code == 201, created.text
    return Metrics(
        client,
        db,
        owner=owner,
        service={"X-API-Key": key},
        viewer=login("vera"),
        auditor=login("aude"),
        outsider=login("otto"),
    )
