"""Risk fixtures: a credit-risk team with a model, and the people who govern it.

People: olivia (model owner, credit-risk), rita (reviewer, credit-risk), rosa (risk officer for the
whole organisation), rick (risk officer of people-analytics only), vera (viewer, credit-risk), aude
(auditor), ada (admin), otto (model owner of people-analytics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from charter.db.engine import Database
from tests.conftest import Factory

MODEL = "credit-scoring"
Headers = dict[str, str]


@dataclass
class Risk:
    client: TestClient
    db: Database
    owner: Headers
    reviewer: Headers
    risk: Headers
    team_risk: Headers
    viewer: Headers
    auditor: Headers
    admin: Headers
    outsider: Headers

    def ok(self, response: Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def get(self, path: str, headers: Headers | None = None, **params: Any) -> Response:
        return self.client.get(f"/api/v1{path}", params=params, headers=headers or self.risk)

    def post(self, path: str, body: dict[str, Any] | None = None, headers: Headers | None = None) -> Response:
        return self.client.post(f"/api/v1{path}", json=body or {}, headers=headers or self.risk)

    def version(self, version: str = "1.0.0", model: str = MODEL, **fields: Any) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/models/{model}/versions", json={"version": version, **fields}, headers=self.owner
        )
        return dict(self.ok(response, 201))

    def assess(self, version: str = "1.0.0", model: str = MODEL, headers: Headers | None = None) -> Response:
        return self.post(f"/risk/models/{model}/versions/{version}/assessments", headers=headers or self.owner)

    def history(self, version: str = "1.0.0", model: str = MODEL) -> list[dict[str, Any]]:
        return list(self.ok(self.get(f"/risk/models/{model}/versions/{version}/assessments")))

    def promote(self, version: str, stage: str, headers: Headers | None = None, model: str = MODEL) -> Response:
        return self.client.post(
            f"/api/v1/models/{model}/versions/{version}/promote", json={"stage": stage}, headers=headers or self.owner
        )

    def fairness(self, version: str, rates: tuple[int, int], model: str = MODEL) -> dict[str, Any]:
        """Fairness evidence whose selection rates are a/100 and b/100 for two groups of 100."""
        from charter.compute.fairness import compute_statistics

        a, b = rates
        y_pred = [1] * a + [0] * (100 - a) + [1] * b + [0] * (100 - b)
        stats = compute_statistics(
            y_true=[1, 0] * 100, y_pred=y_pred, sensitive_features={"group": ["a"] * 100 + ["b"] * 100}
        )
        response = self.client.post(
            f"/api/v1/models/{model}/versions/{version}/evidence/fairness",
            json={"statistics": stats.to_dict(), "n_resamples": 0},
            headers=self.owner,
        )
        return dict(self.ok(response, 201))

    def events(self, action: str) -> list[dict[str, Any]]:
        response = self.client.get(
            "/api/v1/audit/events", params={"action": action, "limit": 500}, headers=self.auditor
        )
        return list(reversed(self.ok(response)["items"]))


@pytest.fixture
def risk(client: TestClient, factory: Factory, db: Database, login: Callable[..., Headers]) -> Risk:
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("rita", "reviewer@credit-risk")
    factory.user("rosa", "risk_officer")
    factory.user("rick", "risk_officer@people-analytics")
    factory.user("vera", "viewer@credit-risk")
    factory.user("aude", "auditor")
    factory.user("ada", "admin")
    factory.user("otto", "model_owner@people-analytics")
    owner = login("olivia")
    model = {"name": MODEL, "team": "credit-risk", "domain": "credit", "purpose": "Score loan applications"}
    response = client.post("/api/v1/models", json=model, headers=owner)
    assert response.status_code == 201, response.text
    return Risk(
        client,
        db,
        owner=owner,
        reviewer=login("rita"),
        risk=login("rosa"),
        team_risk=login("rick"),
        viewer=login("vera"),
        auditor=login("aude"),
        admin=login("ada"),
        outsider=login("otto"),
    )
