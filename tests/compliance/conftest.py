"""Compliance fixtures: the policy tests' governed credit-scoring model (``gov``) and small framework documents.

People (see tests.policies.conftest): olivia (model owner, credit-risk), rita (reviewer, credit-risk),
rosa and rick (risk officers, organisation-wide: compliance:write), vera (viewer, credit-risk),
aude (auditor), ada (admin), otto (model owner of another team).
"""

from __future__ import annotations

from typing import Any

from tests.inventory.conftest import sklearn_model_bytes
from tests.policies.conftest import MODEL, Gov, gov

__all__ = ["MODEL", "Gov", "approved", "framework", "gov", "requirement", "requirement_of", "status"]


def requirement(req_id: str = "R1", **fields: Any) -> dict[str, Any]:
    return {"id": req_id, "title": f"Requirement {req_id}", "text": "A short paraphrase.", **fields}


def framework(framework_id: str = "house-rules", *requirements: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A user's framework; one attestation-only requirement unless others are given."""
    return {
        "id": framework_id,
        "title": "House rules",
        "version": "2026-1",
        "source": "Internal standard HR-1",
        "requirements": list(requirements) or [requirement()],
        **fields,
    }


def approved(gov: Gov, version: str = "1.0.0", *, personal: bool = True, files: bool = False) -> None:
    """A version trained on a linked dataset (personal data when ``personal``), with a clean signed file when
    ``files``, reviewed and approved by rita."""
    name = f"applicants-{version.replace('.', '-')}"
    dataset = {"name": name, "team": "credit-risk", "classification": "personal" if personal else "internal"}
    if personal:
        dataset |= {"legal_basis": "contract", "retention_days": 365}
    gov.ok(gov.client.post("/api/v1/datasets", json=dataset, headers=gov.owner), 201)
    gov.ok(gov.version(version, datasets=[{"dataset": name, "role": "training"}]), 201)
    if files:
        upload = gov.client.post(
            f"/api/v1/models/{MODEL}/versions/{version}/artifacts",
            files={"file": ("model.pkl", sklearn_model_bytes())},
            headers=gov.owner,
        )
        gov.ok(upload, 201)
    gov.ok(gov.promote(version, "review"))
    gov.ok(gov.promote(version, "approved", gov.reviewer))


def status(gov: Gov, framework: str | None = None, headers: dict[str, str] | None = None, **params: Any) -> Any:
    query = {"framework": framework, **params} if framework else params
    response = gov.client.get(
        f"/api/v1/compliance/models/{MODEL}/status", params=query, headers=headers or gov.risk
    )
    return gov.ok(response)


def requirement_of(result: dict[str, Any], framework: str, req_id: str) -> dict[str, Any]:
    found = next(f for f in result["frameworks"] if f["framework"] == framework)
    return next(r for r in found["requirements"] if r["id"] == req_id)
