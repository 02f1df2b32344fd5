"""Fixed facts documents (the shape ``charter.policies.facts.build`` gives) for the pure scoring tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from charter.evidence.models import KINDS
from charter.incidents.lifecycle import SEVERITIES
from charter.inventory import cards

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _evidence(present: bool = False, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "present": present,
        "id": None,
        "title": None,
        "created_at": None,
        "created_by": None,
        "age_days": None,
        "passed": None,
        "summary": {},
        "metrics": {},
        "disparate_impact": None,
    }
    return {**base, **fields}


def clean() -> dict[str, Any]:
    """A well-governed version: nothing personal, fairness and evaluation passed, signed, documented."""
    return {
        "now": NOW,
        "event": {"kind": "dry_run", "actor": None, "from_stage": None, "to_stage": None},
        "model": {
            "id": 1,
            "name": "churn",
            "team": "growth",
            "domain": "other",
            "risk_tier": "minimal",
            "purpose": "Predict churn",
            "intended_use": "Marketing prioritisation",
            "deployment_context": "batch",
            "out_of_scope_uses": ["decisions about individuals"],
            "regulations": [],
            "tags": [],
        },
        "version": {
            "id": 7,
            "version": "1.0.0",
            "stage": "approved",
            "current_stage": "approved",
            "framework": "scikit-learn",
            "created_by": "user:olivia",
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "age_days": 151.5,
            "metrics": {"auc": 0.81},
        },
        "card": {"complete": True, "missing": [], "fields": {key: "written" for key in cards.EDITABLE}},
        "datasets": [],
        "data": {"personal": False, "special_category": False, "missing_legal_basis": []},
        "artifacts": {
            "count": 1,
            "clean": True,
            "unsafe": 0,
            "not_verified": 0,
            "overridden": 0,
            "formats": ["pickle"],
        },
        "signature": {"signed": True, "key_id": "abc", "signed_at": datetime(2026, 1, 2, tzinfo=UTC), "verified": None},
        "approvals": {"count": 1, "approvers": ["user:rita"], "last_at": datetime(2026, 1, 3, tzinfo=UTC)},
        "evidence": {
            **{kind: _evidence() for kind in KINDS},
            "fairness": _evidence(True, id=11, passed=True, age_days=10.0, disparate_impact=0.9),
            "evaluation": _evidence(True, id=12, passed=True, age_days=5.0),
        },
        "incidents": {"open": 0, "by_severity": dict.fromkeys(SEVERITIES, 0), "worst": None},
        "owners_trained": None,
    }


def risky() -> dict[str, Any]:
    """A credit model in production with special-category data, failed fairness, an unsafe file, incidents."""
    doc = copy.deepcopy(clean())
    doc["model"].update(domain="credit", risk_tier="high", intended_use=None, out_of_scope_uses=[])
    doc["version"].update(stage="production", current_stage="production")
    doc["card"].update(complete=False, missing=["Limitations"])
    doc["datasets"] = [
        {
            "name": "applicants",
            "role": "training",
            "classification": "special_category",
            "legal_basis": None,
            "consent_required": False,
            "retention_days": None,
        }
    ]
    doc["data"] = {"personal": True, "special_category": True, "missing_legal_basis": ["applicants"]}
    doc["artifacts"].update(unsafe=1, clean=False)
    doc["signature"].update(signed=False, key_id=None, signed_at=None)
    doc["approvals"] = {"count": 0, "approvers": [], "last_at": None}
    doc["evidence"]["fairness"] = _evidence(True, id=21, passed=False, age_days=400.0, disparate_impact=0.6)
    doc["evidence"]["evaluation"] = _evidence()
    doc["incidents"] = {
        "open": 2,
        "by_severity": {**dict.fromkeys(SEVERITIES, 0), "SEV1": 1, "SEV2": 1},
        "worst": "SEV1",
    }
    return doc
