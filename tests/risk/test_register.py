"""The risk register over the API: ratings, controls, acceptance and who may do it, review dates,
the heat map. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from charter.errors import PermissionDenied
from charter.risk import register
from charter.risk.schemas import RiskAccept, RiskCreate
from charter.security.permissions import Permission, Role
from charter.security.principal import Binding, Principal
from tests.risk.conftest import MODEL, Risk

POLICY = {
    "id": "fairness-gate",
    "title": "Fair models",
    "owner": "risk-office",
    "rationale": {"text": "Bias must be examined.", "references": ["EU AI Act Art. 10"]},
    "rules": [
        {"id": "assessed", "expr": "facts.evidence.fairness.present", "message": "Assess fairness."},
    ],
}


def entry(**fields: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "title": "Credit decisions disadvantage older applicants",
        "category": "bias",
        "likelihood": 4,
        "impact": 4,
        "owner": "rosa",
        **fields,
    }


def add(risk: Risk, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return dict(risk.ok(risk.post("/risk/register", entry(**fields), headers), 201))


def test_ratings_controls_and_links(risk: Risk) -> None:
    risk.ok(risk.post("/policies", POLICY), 201)
    incident = risk.ok(
        risk.client.post(
            "/api/v1/incidents",
            json={"title": "Complaint", "type": "bias_fairness", "severity": "SEV3", "models": [{"model": MODEL}]},
            headers=risk.owner,
        ),
        201,
    )
    created = add(
        risk,
        controls=["Quarterly fairness review", "Human review of declines"],
        control_rules=["fairness-gate/assessed"],
        residual_likelihood=2,
        residual_impact=4,
        treatment="mitigate",
        incidents=[incident["id"], incident["id"]],
        review_date="2030-01-01",
    )
    assert (created["inherent_score"], created["inherent_rating"]) == (16, "high")
    assert (created["residual_score"], created["residual_rating"]) == (8, "medium")
    assert created["incidents"] == [incident["id"]] and created["status"] == "open" and not created["review_overdue"]
    assert (created["model"], created["team"]) == (MODEL, "credit-risk")
    defaulted = add(risk, likelihood=5, impact=4, category="security", title="Model theft")
    assert (defaulted["residual_likelihood"], defaulted["residual_impact"], defaulted["residual_rating"]) == (
        5,
        4,
        "critical",
    )
    low = add(risk, likelihood=1, impact=3)
    assert (low["inherent_rating"], low["residual_rating"]) == ("low", "low")

    for fields, message in [
        ({"residual_likelihood": 5}, "cannot exceed the inherent"),
        ({"owner": "nobody"}, "no user or service account named 'nobody'"),
        ({"control_rules": ["fairness-gate/nope"]}, "policy 'fairness-gate' has no rule 'nope'"),
        ({"control_rules": ["missing/rule"]}, "there is no policy 'missing'"),
        ({"control_rules": ["not a rule"]}, "is not 'policy-id/rule-id'"),
        ({"incidents": [999]}, "there is no incident 999"),
        ({"likelihood": 6}, "less than or equal to 5"),
        ({"category": "weather"}, "category"),
        ({"team": "credit-risk"}, "not both"),
    ]:
        refused = risk.post("/risk/register", entry(**fields))
        assert refused.status_code == 422, fields
        assert message in refused.text, (fields, refused.text)

    listed = risk.ok(risk.get("/risk/register"))
    assert [r["id"] for r in listed] == [defaulted["id"], created["id"], low["id"]]  # highest residual first
    assert [r["id"] for r in risk.ok(risk.get("/risk/register", category="security"))] == [defaulted["id"]]
    assert risk.ok(risk.get(f"/risk/register/{created['id']}", headers=risk.viewer))["title"] == created["title"]
    event = risk.events("risk.create")[0]
    assert event["details"]["inherent"] == {"likelihood": 4, "impact": 4, "rating": "high"}


def test_updates_rerate_and_reopen_an_accepted_risk(risk: Risk) -> None:
    created = add(risk, likelihood=3, impact=3)
    path = f"/api/v1/risk/register/{created['id']}"
    accepted = risk.ok(risk.post(f"/risk/register/{created['id']}/accept", {"note": "Within appetite for now."}))
    assert (accepted["status"], accepted["treatment"], accepted["accepted_by"]) == ("accepted", "accept", "user:rosa")
    changed = risk.ok(risk.client.patch(path, json={"impact": 5, "owner": "olivia"}, headers=risk.risk))
    assert (changed["inherent_rating"], changed["residual_rating"]) == ("high", "medium")
    assert changed["status"] == "open" and changed["owner"] == "olivia"  # what was accepted was the earlier rating
    event = risk.events("risk.update")[-1]
    assert event["details"]["impact"] == {"old": 3, "new": 5} and event["details"]["status"]["new"] == "open"
    same = risk.ok(risk.client.patch(path, json={"impact": 5}, headers=risk.risk))
    assert same["updated_at"] == changed["updated_at"] and len(risk.events("risk.update")) == 1
    refused = risk.client.patch(path, json={"residual_impact": 5, "impact": 2}, headers=risk.risk)
    assert refused.status_code == 422 and "cannot exceed" in refused.text
    assert risk.client.patch(path, json={"likelihood": None}, headers=risk.risk).status_code == 422
    closed = risk.ok(risk.client.patch(path, json={"status": "closed"}, headers=risk.risk))
    assert closed["status"] == "closed"
    refused_accept = risk.post(f"/risk/register/{created['id']}/accept", {"note": "Closed already, though."})
    assert refused_accept.status_code == 409


def test_who_may_write_and_accept(risk: Risk) -> None:
    for headers in (risk.owner, risk.reviewer, risk.viewer, risk.auditor, risk.outsider):
        assert risk.post("/risk/register", entry(), headers).status_code == 403
    # rick is a risk officer of people-analytics: not of credit-risk's model, nor organisation-wide.
    assert risk.post("/risk/register", entry(), risk.team_risk).status_code == 403
    assert risk.post("/risk/register", entry(model=None), risk.team_risk).status_code == 403
    theirs = add(risk, risk.team_risk, model=None, team="people-analytics", title="Attrition model misuse")
    assert theirs["team"] == "people-analytics"
    high = add(risk, risk.admin, likelihood=4, impact=4)
    assert (
        risk.post(f"/risk/register/{high['id']}/accept", {"note": "Not my team's risk."}, risk.team_risk).status_code
        == 403
    )
    assert risk.post(f"/risk/register/{high['id']}/accept", {"note": "Owner wants it."}, risk.owner).status_code == 403
    accepted = risk.ok(risk.post(f"/risk/register/{high['id']}/accept", {"note": "Board accepted it on 1 May."}))
    assert accepted["residual_rating"] == "high" and accepted["status"] == "accepted"
    assert risk.events("risk.accept")[0]["details"]["permission"] == "risk:accept"
    assert risk.post(f"/risk/register/{high['id']}/accept", {"note": "short"}).status_code == 422
    # Readers see only their scopes: rick sees his team's risk, not credit-risk's nor the organisation's.
    assert [r["id"] for r in risk.ok(risk.get("/risk/register", headers=risk.team_risk))] == [theirs["id"]]
    assert risk.get(f"/risk/register/{high['id']}", headers=risk.team_risk).status_code == 403
    assert {r["id"] for r in risk.ok(risk.get("/risk/register", headers=risk.viewer))} == {high["id"]}
    assert risk.get("/risk/register/999").status_code == 404


def test_accepting_a_high_residual_risk_needs_risk_accept(risk: Risk) -> None:
    """No shipped role holds risk:write without risk:accept; a principal that does is built here to show
    the service asks for risk:accept exactly when the residual rating is high or critical."""
    high = add(risk, likelihood=4, impact=4, residual_likelihood=3)  # residual 12: high
    medium = add(risk, likelihood=4, impact=4, residual_likelihood=2)  # residual 8: medium
    writer = Principal(id=None, kind="user", name="writer", bindings=(Binding(Role.RISK_OFFICER),))
    grants = dict(writer._grants)
    del grants[Permission.RISK_ACCEPT]
    object.__setattr__(writer, "_grants", grants)
    assert writer.can(Permission.RISK_WRITE) and not writer.can(Permission.RISK_ACCEPT)
    with risk.db.session() as session:
        with pytest.raises(PermissionDenied, match="risk:accept"):
            register.accept_risk(session, writer, high["id"], RiskAccept(note="I would like to accept."))
        done = register.accept_risk(session, writer, medium["id"], RiskAccept(note="Medium is within appetite."))
        assert done.status == "accepted" and done.accepted_by == "user:writer"
        critical = register.create_risk(session, writer, RiskCreate.model_validate(entry(likelihood=5, impact=5)))
        with pytest.raises(PermissionDenied):
            register.accept_risk(session, writer, critical.id, RiskAccept(note="Critical, accepted anyway."))


def test_review_dates_and_the_heat_map(risk: Risk) -> None:
    today = datetime.now(UTC).date()
    overdue = add(risk, likelihood=4, impact=4, residual_likelihood=2, review_date=str(today - timedelta(days=1)))
    due_today = add(risk, likelihood=2, impact=2, review_date=str(today))
    add(risk, likelihood=4, impact=4, residual_likelihood=2, residual_impact=3)
    org = add(risk, model=None, likelihood=5, impact=5, category="compliance", title="AI Act readiness")
    closed = add(risk, likelihood=1, impact=1)
    risk.ok(risk.client.patch(f"/api/v1/risk/register/{closed['id']}", json={"status": "closed"}, headers=risk.risk))
    assert overdue["review_overdue"] and not due_today["review_overdue"]
    assert [r["id"] for r in risk.ok(risk.get("/risk/register", overdue="true"))] == [overdue["id"]]

    risk.version("1.0.0")
    risk.version("2.0.0")
    risk.ok(risk.assess("1.0.0"), 201)
    latest = risk.ok(risk.assess("2.0.0"), 201)
    heat = risk.ok(risk.get("/risk/register/heat-map"))
    inherent: list[list[int]] = [[0] * 5 for _ in range(5)]
    residual: list[list[int]] = [[0] * 5 for _ in range(5)]
    for likelihood, impact, r_likelihood, r_impact in [(4, 4, 2, 4), (2, 2, 2, 2), (4, 4, 2, 3), (5, 5, 5, 5)]:
        inherent[likelihood - 1][impact - 1] += 1
        residual[r_likelihood - 1][r_impact - 1] += 1
    assert (heat["inherent"], heat["residual"]) == (inherent, residual)
    assert heat["risks"] == 4 and heat["overdue_reviews"] == 1  # the closed risk is left out
    assert heat["by_residual_rating"] == {"low": 1, "medium": 2, "high": 0, "critical": 1}
    assert [(m["model"], m["version"], m["assessment"]) for m in heat["models"]] == [(MODEL, "2.0.0", latest["id"])]
    # A reader of one team sees that team's cells and models only.
    mine = risk.ok(risk.get("/risk/register/heat-map", headers=risk.viewer))
    assert mine["risks"] == 3 and mine["models"] and mine["residual"][4][4] == 0
    theirs = risk.ok(risk.get("/risk/register/heat-map", headers=risk.outsider))
    assert theirs["risks"] == 0 and theirs["models"] == [] and org["id"]
    assert date.fromisoformat(overdue["review_date"]) < today
