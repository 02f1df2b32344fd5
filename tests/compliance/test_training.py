"""Training records: courses, completions with expiry, and the facts that let policies require current training."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from charter.inventory.models import ModelVersionRow
from charter.policies import facts
from tests.compliance.conftest import MODEL, Gov, approved, requirement_of, status
from tests.policies.conftest import policy

COURSE = {"id": "ai-literacy", "title": "AI literacy", "kind": "responsible_ai", "validity_days": 365, "required": True}


def course(gov: Gov, **fields: Any) -> dict[str, Any]:
    return gov.ok(gov.post("/training/courses", COURSE | fields), 201)


def record(gov: Gov, person: str, days_ago: float = 0, **fields: Any) -> dict[str, Any]:
    completed = datetime.now(UTC) - timedelta(days=days_ago)
    body = {"person": person, "course": "ai-literacy", "completed_at": completed.isoformat(), **fields}
    return gov.ok(gov.post("/training/completions", body), 201)


def training_facts(gov: Gov, version: str = "1.0.0", at: datetime | None = None) -> dict[str, Any]:
    with gov.db.session() as session:
        row = session.scalars(select(ModelVersionRow).where(ModelVersionRow.version == version)).one()
        doc = facts.build(session, row, at or datetime.now(UTC), sections=frozenset({"owners_trained", "training"}))
    return doc


def test_courses_and_completions(gov: Gov) -> None:
    created = course(gov)
    assert (created["required"], created["validity_days"], created["created_by"]) == (True, 365, "user:rosa")
    assert gov.post("/training/courses", COURSE).status_code == 409
    assert gov.post("/training/courses", COURSE | {"id": "x", "kind": "juggling"}).status_code == 422
    assert gov.post("/training/courses", COURSE | {"id": "mine"}, gov.owner).status_code == 403
    assert [c["id"] for c in gov.ok(gov.client.get("/api/v1/training/courses", headers=gov.viewer))] == ["ai-literacy"]
    old = record(gov, "olivia", days_ago=400, note="Certificate 1234")
    completed = datetime.fromisoformat(old["completed_at"])
    assert datetime.fromisoformat(old["expires_at"]) == completed + timedelta(days=365) and not old["current"]
    fresh = record(gov, "olivia", days_ago=1)
    assert fresh["current"] and fresh["recorded_by"] == "user:rosa"
    forever = record(gov, "rita", expires_at=None)
    assert forever["expires_at"] is not None  # the course's validity applies when none is given
    assert record(gov, "vera", expires_at=(datetime.now(UTC) + timedelta(days=3)).isoformat())["current"]
    refused = {
        "unknown user": ({"person": "nobody", "course": "ai-literacy"}, 404),
        "unknown course": ({"person": "olivia", "course": "juggling"}, 404),
        "in the future": ({"person": "olivia", "course": "ai-literacy", "completed_at": "2099-01-01T00:00:00Z"}, 422),
        "expiring first": (
            {"person": "olivia", "course": "ai-literacy", "completed_at": "2026-01-02T00:00:00Z",
             "expires_at": "2026-01-01T00:00:00Z"},
            422,
        ),
    }
    for what, (body, code) in refused.items():
        assert gov.post("/training/completions", body).status_code == code, what
    own = {"person": "olivia", "course": "ai-literacy"}
    assert gov.post("/training/completions", own, gov.owner).status_code == 403
    # Completions are personal data: everyone's need user:read; everyone reads their own.
    everyone = gov.ok(gov.client.get("/api/v1/training/completions", headers=gov.risk))
    assert [c["person"] for c in everyone][:1] == ["vera"] and len(everyone) == 4
    params = {"person": "olivia", "current": True}
    current = gov.client.get("/api/v1/training/completions", params=params, headers=gov.auditor)
    assert [c["id"] for c in gov.ok(current)] == [fresh["id"]]
    assert gov.client.get("/api/v1/training/completions", headers=gov.viewer).status_code == 403
    mine = gov.ok(gov.client.get("/api/v1/training/me", headers=gov.owner))
    assert [c["id"] for c in mine["completions"]] == [fresh["id"], old["id"]] and mine["missing_required"] == []
    theirs = gov.ok(gov.client.get("/api/v1/training/me", headers=gov.outsider))
    assert theirs == {"person": "otto", "completions": [], "missing_required": ["ai-literacy"]}
    events = gov.events("user", "training.record")
    assert len(events) == 4 and events[0]["details"]["course"] == "ai-literacy" and "note" not in events[0]["details"]


def test_owners_trained_covers_owners_and_approvers_with_expiry(gov: Gov) -> None:
    approved(gov)  # owner olivia (model_owner in credit-risk), approved by rita
    nothing = training_facts(gov)
    assert nothing["owners_trained"] is None  # no course required: unknown
    assert nothing["training"] == {"required": [], "people": [], "missing": []}
    course(gov)
    course(gov, id="security-basics", kind="security_awareness", required=False)
    lacking = training_facts(gov)
    assert lacking["owners_trained"] is False
    assert lacking["training"]["missing"] == [
        {"person": "user:olivia", "course": "ai-literacy", "role": "owner"},
        {"person": "user:rita", "course": "ai-literacy", "role": "approver"},
    ]
    record(gov, "olivia", days_ago=10)
    record(gov, "rita")  # trained only now, after approving: the approval was not trained
    after = training_facts(gov)
    assert after["training"]["missing"] == [{"person": "user:rita", "course": "ai-literacy", "role": "approver"}]
    record(gov, "rita", days_ago=30)  # trained before approving
    assert training_facts(gov)["owners_trained"] is True
    # A year on, olivia's completion has expired (rita's earlier one too, but it was current when she approved).
    later = training_facts(gov, at=datetime.now(UTC) + timedelta(days=360))
    assert later["owners_trained"] is False
    assert later["training"]["missing"] == [{"person": "user:olivia", "course": "ai-literacy", "role": "owner"}]


def test_a_policy_reads_owners_trained_and_eu_ai_act_art_4_follows(gov: Gov) -> None:
    approved(gov)
    course(gov)
    gov.create(policy("trained", expr="facts.owners_trained == true", match="facts.model.risk_tier == 'high'"))

    def dry_run() -> str:
        result = gov.ok(gov.post("/policies/trained/dry-run", {"model": MODEL}))
        return str(result["items"][0]["outcome"])

    assert dry_run() == "failed"
    assert requirement_of(status(gov, "eu-ai-act"), "eu-ai-act", "Art. 4")["status"] == "not_satisfied"
    record(gov, "olivia", days_ago=5)
    record(gov, "rita", days_ago=5)
    assert dry_run() == "passed"
    assert requirement_of(status(gov, "eu-ai-act"), "eu-ai-act", "Art. 4")["status"] == "satisfied"
    assert requirement_of(status(gov, "iso-42001"), "iso-42001", "A.4.6")["status"] == "satisfied"


def test_an_enforced_policy_refuses_an_approval_by_someone_untrained(gov: Gov) -> None:
    course(gov)
    rule = "!facts.training.missing.exists(m, m.role == 'approver')"
    gov.create(policy("trained-approvers", expr=rule, match="facts.version.stage == 'approved'"))
    gov.enforce("trained-approvers")
    gov.ok(gov.version("1.0.0"), 201)
    gov.ok(gov.promote("1.0.0", "review"))
    refused = gov.promote("1.0.0", "approved", gov.reviewer)
    assert refused.status_code == 409 and "trained-approvers/rule-one" in refused.json()["error"]["message"]
    record(gov, "rita", days_ago=1)  # the owner's own training is not what this rule asks about
    assert gov.ok(gov.promote("1.0.0", "approved", gov.reviewer))["stage"] == "approved"
