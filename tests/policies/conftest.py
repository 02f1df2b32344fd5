"""Policy fixtures: a credit-risk team with a high-risk model, and the people who govern it.

People: olivia (model owner, credit-risk), rita (reviewer, credit-risk), rosa and rick (risk
officers for the whole organisation: they write and approve policies), vera (viewer), aude
(auditor), ada (admin), otto (model owner of another team).
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
from tests.inventory.conftest import sklearn_model_bytes

MODEL = "credit-scoring"
Headers = dict[str, str]

FAIRNESS = {
    "id": "high-risk-fairness",
    "title": "High-risk models in production are fair",
    "owner": "risk-office",
    "rationale": {"text": "Bias must be examined.", "references": ["EU AI Act Art. 10"]},
    "match": "facts.model.risk_tier == 'high' && facts.version.stage == 'production'",
    "rules": [
        {
            "id": "fairness-assessed",
            "expr": "facts.evidence.fairness.present && facts.evidence.fairness.age_days < 90.0",
            "message": "Record a fairness assessment younger than 90 days.",
        },
        {
            "id": "disparate-impact",
            "expr": "facts.evidence.fairness.disparate_impact >= 0.8",
            "message": "Disparate impact must be at least 0.8.",
            "severity": "critical",
        },
    ],
}


def policy(
    policy_id: str = "card-written", expr: str = "facts.card.fields.limitations != null", **fields: Any
) -> dict[str, Any]:
    """A one-rule policy that applies to every version moving to (or in) review."""
    return {
        "id": policy_id,
        "title": f"Policy {policy_id}",
        "owner": "risk-office",
        "rationale": {"text": "Because.", "references": ["ISO/IEC 42001 A.6"]},
        "match": "facts.version.stage == 'review'",
        "rules": [{"id": "rule-one", "expr": expr, "message": f"{policy_id} says no."}],
        **fields,
    }


@dataclass
class Gov:
    client: TestClient
    db: Database
    owner: Headers
    reviewer: Headers
    risk: Headers
    risk2: Headers
    viewer: Headers
    auditor: Headers
    admin: Headers
    outsider: Headers

    def post(self, path: str, body: dict[str, Any] | None = None, headers: Headers | None = None) -> Response:
        return self.client.post(f"/api/v1{path}", json=body or {}, headers=headers or self.risk)

    def ok(self, response: Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    def create(self, document: dict[str, Any], headers: Headers | None = None) -> dict[str, Any]:
        return self.ok(self.post("/policies", document, headers), 201)

    def state(self, policy_id: str, state: str, headers: Headers | None = None) -> Response:
        return self.post(f"/policies/{policy_id}/state", {"state": state}, headers)

    def enforce(self, policy_id: str) -> dict[str, Any]:
        """Propose (rosa) and approve (rick): the four-eyes way into enforce."""
        self.ok(self.state(policy_id, "enforce"))
        return self.ok(self.post(f"/policies/{policy_id}/approve", {}, self.risk2))

    def version(self, version: str, model: str = MODEL, **fields: Any) -> Response:
        return self.client.post(
            f"/api/v1/models/{model}/versions", json={"version": version, **fields}, headers=self.owner
        )

    def promote(self, version: str, stage: str, headers: Headers | None = None, model: str = MODEL) -> Response:
        return self.client.post(
            f"/api/v1/models/{model}/versions/{version}/promote", json={"stage": stage}, headers=headers or self.owner
        )

    def to_approved(self, version: str, model: str = MODEL) -> None:
        """A version with a clean, signed file, reviewed and approved (ready to go to production)."""
        self.ok(self.version(version, model), 201)
        upload = self.client.post(
            f"/api/v1/models/{model}/versions/{version}/artifacts",
            files={"file": ("model.pkl", sklearn_model_bytes())},
            headers=self.owner,
        )
        assert upload.status_code == 201, upload.text
        self.ok(self.promote(version, "review", model=model))
        self.ok(self.promote(version, "approved", self.reviewer, model=model))

    def fairness(self, version: str, ratio_groups: tuple[int, int], model: str = MODEL) -> dict[str, Any]:
        """Record fairness evidence whose selection rates are a/100 and b/100 for two groups of 100."""
        from charter.compute.fairness import compute_statistics

        a, b = ratio_groups
        y_pred = [1] * a + [0] * (100 - a) + [1] * b + [0] * (100 - b)
        y_true = [1, 0] * 100
        stats = compute_statistics(
            y_true=y_true, y_pred=y_pred, sensitive_features={"group": ["a"] * 100 + ["b"] * 100}
        )
        response = self.client.post(
            f"/api/v1/models/{model}/versions/{version}/evidence/fairness",
            json={"statistics": stats.to_dict(), "n_resamples": 0},
            headers=self.owner,
        )
        return self.ok(response, 201)

    def events(self, resource_type: str, action: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"resource_type": resource_type, "limit": 500}
        if action:
            params["action"] = action
        response = self.client.get("/api/v1/audit/events", params=params, headers=self.auditor)
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["items"]))


@pytest.fixture
def gov(client: TestClient, factory: Factory, db: Database, login: Callable[..., Headers]) -> Gov:
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("rita", "reviewer@credit-risk")
    factory.user("rosa", "risk_officer")
    factory.user("rick", "risk_officer")
    factory.user("vera", "viewer@credit-risk")
    factory.user("aude", "auditor")
    factory.user("ada", "admin")
    factory.user("otto", "model_owner@people-analytics")
    owner = login("olivia")
    model = {"name": MODEL, "team": "credit-risk", "domain": "credit", "purpose": "Score loan applications"}
    response = client.post("/api/v1/models", json=model, headers=owner)
    assert response.status_code == 201, response.text
    risk = login("rosa")
    tier = client.put(f"/api/v1/models/{MODEL}/risk-tier", json={"risk_tier": "high"}, headers=risk)
    assert tier.status_code == 200, tier.text
    return Gov(
        client,
        db,
        owner=owner,
        reviewer=login("rita"),
        risk=risk,
        risk2=login("rick"),
        viewer=login("vera"),
        auditor=login("aude"),
        admin=login("ada"),
        outsider=login("otto"),
    )
