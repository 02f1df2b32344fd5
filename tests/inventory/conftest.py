"""Inventory fixtures: a credit-risk team with an owner, two reviewers, an administrator and an outsider."""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Factory


class Payload:
    """Unpickling this would run a shell command; it is only ever pickled (and scanned) here."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def sklearn_model_bytes() -> bytes:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    buffer = io.BytesIO()
    pickle.dump(LogisticRegression().fit(x, y), buffer)
    return buffer.getvalue()


def malicious_pickle_bytes() -> bytes:
    return pickle.dumps(Payload(), protocol=4)


@dataclass
class Team:
    client: TestClient
    owner: dict[str, str]
    reviewer: dict[str, str]
    second_reviewer: dict[str, str]
    admin: dict[str, str]
    outsider: dict[str, str]

    def model(self, name: str = "credit-scoring", **fields: object) -> dict[str, object]:
        body = {"name": name, "team": "credit-risk", "domain": "credit", "purpose": "Score loan applications", **fields}
        response = self.client.post("/api/v1/models", json=body, headers=self.owner)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def version(self, model: str, version: str = "1.0.0", **fields: object) -> dict[str, object]:
        response = self.client.post(
            f"/api/v1/models/{model}/versions", json={"version": version, **fields}, headers=self.owner
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def upload(self, model: str, version: str, name: str, content: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.client.post(
            f"/api/v1/models/{model}/versions/{version}/artifacts",
            files={"file": (name, content)},
            headers=headers or self.owner,
        )

    def promote(self, model: str, version: str, stage: str, headers: dict[str, str], comment: str | None = None):  # type: ignore[no-untyped-def]
        return self.client.post(
            f"/api/v1/models/{model}/versions/{version}/promote",
            json={"stage": stage, "comment": comment},
            headers=headers,
        )


@pytest.fixture
def team(client: TestClient, factory: Factory, login: Callable[..., dict[str, str]]) -> Team:
    factory.user("olivia", "model_owner@credit-risk", "reviewer@credit-risk")
    factory.user("rita", "reviewer@credit-risk")
    factory.user("ravi", "reviewer@credit-risk")
    factory.user("ada", "admin")
    factory.user("otto", "model_owner@people-analytics")
    return Team(client, login("olivia"), login("rita"), login("ravi"), login("ada"), login("otto"))
