"""The facts document for a fixed inventory, built with a fixed number of queries; waivers expiring in time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from charter.inventory.models import ModelVersionRow
from charter.policies import facts, gates, service
from charter.policies.schemas import PolicyDocument, WaiverCreate
from charter.security.principal import Principal
from tests.inventory.conftest import sklearn_model_bytes
from tests.policies.conftest import FAIRNESS, MODEL, Gov

ROSA = Principal.system("rosa")
RICK = Principal.system("rick")


def _version(session: Session, version: str, model: str = MODEL) -> ModelVersionRow:
    from charter.inventory.service import get_model_row, get_version_row

    return get_version_row(session, get_model_row(session, model), version)


@contextmanager
def counting(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = session.get_bind()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_facts_of_a_fixed_inventory(gov: Gov) -> None:
    c = gov.client
    datasets = [
        {"name": "applications", "team": "credit-risk", "classification": "personal", "legal_basis": "contract"},
        {"name": "holdout", "team": "credit-risk", "retention_days": 365},
    ]
    for body in datasets:
        gov.ok(c.post("/api/v1/datasets", json=body, headers=gov.owner), 201)
    links = [{"dataset": "applications", "role": "training"}, {"dataset": "holdout", "role": "evaluation"}]
    gov.ok(gov.version("1.0.0", metrics={"auc": 1}, datasets=links, framework="scikit-learn 1.5"), 201)
    gov.ok(gov.version("0.9.0"), 201)  # another version of the same model
    upload = c.post(
        f"/api/v1/models/{MODEL}/versions/1.0.0/artifacts",
        files={"file": ("model.pkl", sklearn_model_bytes())},
        headers=gov.owner,
    )
    assert upload.status_code == 201, upload.text
    card = {
        "fields": {"limitations": ["Not for under-21s", "Not for mortgages"], "human_oversight": "Analysts review."}
    }
    gov.ok(c.patch(f"/api/v1/models/{MODEL}/versions/1.0.0/card", json=card, headers=gov.owner))
    gov.ok(gov.promote("1.0.0", "review"))
    gov.ok(gov.promote("1.0.0", "approved", gov.reviewer))
    gov.fairness("1.0.0", (50, 20))
    incidents = [
        {"title": "Bias", "type": "bias_fairness", "severity": "SEV2", "models": [{"model": MODEL}]},
        {
            "title": "Old one",
            "type": "performance",
            "severity": "SEV1",
            "models": [{"model": MODEL, "version": "0.9.0"}],
        },
    ]
    for body in incidents:
        gov.ok(c.post("/api/v1/incidents", json=body, headers=gov.owner), 201)
    read = gov.ok(c.get(f"/api/v1/models/{MODEL}/versions/1.0.0/card", headers=gov.owner))

    now = datetime.now(UTC)
    with gov.db.session(write=False) as session:
        row = _version(session, "1.0.0")
        doc = facts.build(session, row, now, event=facts.Event("promote", "user:olivia", "approved", "production"))
    assert doc["now"] == now
    assert doc["event"] == {
        "kind": "promote",
        "actor": "user:olivia",
        "from_stage": "approved",
        "to_stage": "production",
    }
    assert doc["model"] == {
        "id": row.model_id,
        "name": MODEL,
        "team": "credit-risk",
        "domain": "credit",
        "risk_tier": "high",
        "purpose": "Score loan applications",
        "intended_use": None,
        "deployment_context": None,
        "out_of_scope_uses": [],
        "regulations": [],
        "tags": [],
    }
    version = doc["version"]
    assert (version["stage"], version["current_stage"], version["version"]) == ("production", "approved", "1.0.0")
    assert version["metrics"] == {"auc": 1.0} and isinstance(version["metrics"]["auc"], float)
    assert 0 <= version["age_days"] < 0.01 and version["created_by"] == "user:olivia"
    assert doc["datasets"] == [
        {
            "name": "applications",
            "role": "training",
            "classification": "personal",
            "legal_basis": "contract",
            "consent_required": False,
            "retention_days": None,
        },
        {
            "name": "holdout",
            "role": "evaluation",
            "classification": "internal",
            "legal_basis": None,
            "consent_required": False,
            "retention_days": 365,
        },
    ]
    assert doc["data"] == {"personal": True, "special_category": False, "missing_legal_basis": []}
    assert doc["artifacts"] == {
        "count": 1,
        "clean": True,
        "unsafe": 0,
        "not_verified": 0,
        "overridden": 0,
        "formats": [upload.json()["format"]],
    }
    assert doc["signature"]["signed"] is True and doc["signature"]["key_id"]
    assert doc["signature"]["verified"] is None  # only a gate or a dry run with the server's key checks it
    assert doc["approvals"]["count"] == 1 and doc["approvals"]["approvers"] == ["user:rita"]
    fairness = doc["evidence"]["fairness"]
    assert fairness["present"] is True and fairness["passed"] is False
    assert fairness["disparate_impact"] == pytest.approx(0.4)
    assert fairness["metrics"]["demographic_parity_ratio"] == pytest.approx(0.4)
    assert doc["evidence"]["evaluation"]["present"] is False and doc["evidence"]["evaluation"]["age_days"] is None
    # The SEV2 names the model (every version); the SEV1 names version 0.9.0 only.
    assert doc["incidents"] == {"open": 1, "by_severity": {"SEV1": 0, "SEV2": 1, "SEV3": 0, "SEV4": 0}, "worst": "SEV2"}
    # Card completeness is the card's own: the same sections are missing.
    assert doc["card"]["missing"] == read["missing_sections"]
    assert doc["card"]["complete"] is False
    assert doc["card"]["fields"]["limitations"] == "Not for under-21s\nNot for mortgages"
    assert doc["card"]["fields"]["caveats"] is None
    assert doc["owners_trained"] is None
    with gov.db.session(write=False) as session:
        other = facts.build(session, _version(session, "0.9.0"), now)
    assert other["incidents"]["by_severity"] == {"SEV1": 1, "SEV2": 1, "SEV3": 0, "SEV4": 0}
    assert other["version"]["stage"] == "draft" and other["event"]["kind"] == "dry_run"


def test_many_versions_take_the_same_few_queries_as_one(gov: Gov) -> None:
    for n in range(12):
        gov.ok(gov.version(f"{n}.0.0", metrics={"auc": 0.5 + n / 100}), 201)
    with gov.db.session(write=False) as session:
        ids = list(session.scalars(select(ModelVersionRow.id).order_by(ModelVersionRow.id)))
        now = datetime.now(UTC)
        with counting(session) as one:
            single = facts.build_many(session, ids[:1], now)
        with counting(session) as many:
            every = facts.build_many(session, ids, now)
        assert len(many) == len(one) <= 8
        assert every[ids[0]] == single[ids[0]]
        assert [every[i]["version"]["metrics"]["auc"] for i in ids] == pytest.approx([0.5 + n / 100 for n in range(12)])
        with counting(session) as few:
            part = facts.build_many(session, ids, now, sections=frozenset({"model", "version"}))
        assert len(few) == 1 and set(part[ids[0]]) == {"model", "version"}


def test_waivers_stop_applying_when_they_expire(gov: Gov) -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    gov.to_approved("1.0.0")
    gov.fairness("1.0.0", (50, 20))
    with gov.db.session() as session:
        service.create_policy(session, ROSA, PolicyDocument.model_validate(FAIRNESS), now=t0)
        service.change_state(session, ROSA, FAIRNESS["id"], "enforce", now=t0)
        service.approve(session, RICK, FAIRNESS["id"], now=t0)
        data = WaiverCreate(rule="disparate-impact", model=MODEL, days=30, reason="Retraining under way.")
        waiver = service.grant_waiver(session, ROSA, FAIRNESS["id"], data, now=t0)
    assert waiver.expires_at == t0 + timedelta(days=30)
    promote = facts.Event("promote", "user:olivia", "approved", "production")
    with gov.db.session(write=False) as session:
        row = _version(session, "1.0.0")
        # The fairness evidence is recorded now, after t0: judge its age from a moment after it.
        during = gates.decide(session, row, promote, now=t0 + timedelta(days=29))
        after = gates.decide(session, row, promote, now=t0 + timedelta(days=30, seconds=1))
        listed = service.list_waivers(session, ROSA, now=t0 + timedelta(days=31))
    assert during.refusals == [] and during.counts()["waived"] == 1
    assert after.refusals == [
        "high-risk-fairness/disparate-impact: Disparate impact must be at least 0.8. "
        "(its waiver expired 2026-04-01 09:00 UTC)"
    ]
    assert [w.status for w in listed] == ["expired"]


def test_review_falls_due_by_itself_and_blocks_until_re_approved(gov: Gov) -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    document = PolicyDocument.model_validate({**FAIRNESS, "review_days": 30})
    with gov.db.session() as session:
        service.create_policy(session, ROSA, document, now=t0)
        service.change_state(session, ROSA, document.id, "enforce", now=t0)
        enforced = service.approve(session, RICK, document.id, now=t0)
    assert enforced.review_due_at == t0 + timedelta(days=30)
    with gov.db.session(write=False) as session:
        before = service.read_policy(session, ROSA, document.id, now=t0 + timedelta(days=29))
        due = service.list_policies(session, ROSA, state="review", now=t0 + timedelta(days=30))
        live = service.live_policies(session, t0 + timedelta(days=31))
    assert before.effective_state == "enforce"
    assert [p.id for p in due] == [document.id] and due[0].state == "enforce"
    assert [(p.compiled.id, p.state) for p in live] == [(document.id, "review")]
    # The owner re-approves: back to enforce (four eyes again), with a new review date.
    later = t0 + timedelta(days=31)
    with gov.db.session() as session:
        service.change_state(session, ROSA, document.id, "enforce", now=later)
        again = service.approve(session, RICK, document.id, now=later)
    assert (again.effective_state, again.review_due_at) == ("enforce", later + timedelta(days=30))
