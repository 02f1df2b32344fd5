"""Assessments over the API: stored with their reasons, recorded as evidence, kept as history, and
re-assessed when the facts change (and only then). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from charter.incidents import service as incidents
from charter.inventory import service as inventory
from charter.policies import facts
from charter.risk import scoring
from charter.risk.models import RuleVersionRow
from charter.security.principal import Principal
from tests.risk.conftest import MODEL, Risk


def scores(assessment: dict[str, Any]) -> dict[str, float]:
    return {f["factor"]: f["score"] for f in assessment["result"]["factors"]}


def rules_fired(assessment: dict[str, Any], factor: str) -> list[str]:
    found = next(f for f in assessment["result"]["factors"] if f["factor"] == factor)
    return [r["rule"] for r in found["reasons"]]


def test_an_assessment_is_stored_with_its_reasons_as_evidence_and_kept_in_history(risk: Risk) -> None:
    risk.version("1.0.0")
    first = risk.ok(risk.assess(), 201)
    # A new credit model: no data, no files, no evidence, no tier, no card, no intended use.
    assert scores(first) == {
        "data_privacy": 0.1,
        "model_bias": 0.6,  # 0.2 + decisions about people 0.2 + no fairness evidence 0.2
        "security": 0.1,
        "compliance": 0.3,  # 0.1 + tier unset 0.2
        "transparency": 0.65,  # 0.2 + card incomplete 0.3 + no intended use 0.1 + no out-of-scope uses 0.05
        "robustness": 0.4,  # 0.2 + no evaluation 0.2
    }
    assert (first["score"], first["rating"], first["trigger"], first["rules_version"]) == (0.325, "medium", "manual", 1)
    assert rules_fired(first, "model_bias") == ["decisions-about-people", "no-fairness-evidence"]
    tier = next(f for f in first["result"]["factors"] if f["factor"] == "compliance")["reasons"][0]
    assert tier["facts"] == {"facts.model.risk_tier": None} and tier["add"] == 0.2

    # The stored result is the pure computation over the version's real facts.
    with risk.db.session() as session:
        version = inventory.get_version_row(session, inventory.get_model_row(session, MODEL), "1.0.0")
        document = facts.build(session, version, datetime.now(UTC))
    expected = scoring.score(scoring.validate(scoring.default_document()), document)
    assert first["result"] == expected.model_dump(mode="json")

    evidence = risk.ok(
        risk.client.get(f"/api/v1/models/{MODEL}/versions/1.0.0/evidence?kind=risk_assessment", headers=risk.owner)
    )
    assert [e["id"] for e in evidence] == [first["evidence_id"]]
    assert evidence[0]["summary"]["metrics"]["overall"] == 0.325 and evidence[0]["summary"]["rating"] == "medium"
    with risk.db.session() as session:
        version = inventory.get_version_row(session, inventory.get_model_row(session, MODEL), "1.0.0")
        seen = facts.build(session, version, datetime.now(UTC), sections=frozenset({"evidence"}))
    assert seen["evidence"]["risk_assessment"]["present"] is True
    assert seen["evidence"]["risk_assessment"]["metrics"]["model_bias"] == 0.6

    second = risk.ok(risk.assess(headers=risk.risk), 201)
    assert [a["id"] for a in risk.history()] == [second["id"], first["id"]]
    assert risk.ok(risk.get(f"/risk/models/{MODEL}/versions/1.0.0/assessments/latest"))["id"] == second["id"]
    assert risk.ok(risk.get(f"/risk/assessments/{first['id']}", headers=risk.viewer))["score"] == 0.325
    installs = risk.events("risk.rules.install")
    assert len(installs) == 1 and installs[0]["actor"] == "user:olivia"
    events = risk.events("risk.assess")
    assert [e["details"]["assessment"] for e in events] == [first["id"], second["id"]]
    assert events[0]["details"]["evidence_sha256"] == evidence[0]["sha256"]


def test_who_may_assess_and_read(risk: Risk) -> None:
    risk.version("1.0.0")
    assert risk.assess(headers=risk.viewer).status_code == 403  # no evidence:write
    assert risk.assess(headers=risk.outsider).status_code == 403  # another team
    assert risk.assess(headers=risk.team_risk).status_code == 403  # a risk officer of another team
    assert risk.assess(headers=risk.auditor).status_code == 403
    risk.ok(risk.assess(headers=risk.reviewer), 201)
    assert len(risk.history()) == 1
    assert risk.get(f"/risk/models/{MODEL}/versions/1.0.0/assessments", headers=risk.outsider).status_code == 403
    assert risk.get(f"/risk/models/{MODEL}/versions/1.0.0/assessments", headers=risk.viewer).status_code == 200
    assert risk.get(f"/risk/models/{MODEL}/versions/9.9/assessments").status_code == 404
    assert risk.get("/risk/assessments/999").status_code == 404


def test_reassessment_follows_evidence_incidents_and_promotions_only_when_facts_change(risk: Risk) -> None:
    risk.version("1.0.0")
    risk.version("2.0.0")
    risk.fairness("1.0.0", (50, 50))
    assert risk.history() == []  # never assessed: nothing to re-assess
    assert risk.get(f"/risk/models/{MODEL}/versions/1.0.0/assessments/latest").status_code == 404
    manual = risk.ok(risk.assess(), 201)
    assert "fairness-passed" in rules_fired(manual, "model_bias")

    risk.fairness("1.0.0", (80, 40))  # the four-fifths ratio drops to 0.5: the facts changed
    after_evidence = risk.history()[0]
    assert (after_evidence["trigger"], after_evidence["created_by"]) == ("evidence", "user:olivia")
    assert rules_fired(after_evidence, "model_bias") == [
        "decisions-about-people",
        "fairness-failed",
        "disparate-impact",
    ]
    risk.fairness("1.0.0", (80, 40))  # the same result again: the facts the rules read did not change
    assert len(risk.history()) == 2

    incident = risk.ok(
        risk.client.post(
            "/api/v1/incidents",
            json={"title": "Drift", "type": "performance", "severity": "SEV2", "models": [{"model": MODEL}]},
            headers=risk.owner,
        ),
        201,
    )
    after_incident = risk.history()[0]
    assert after_incident["trigger"] == "incident"
    assert rules_fired(after_incident, "robustness") == ["no-evaluation", "open-incidents", "severe-incident"]
    assert risk.history("2.0.0") == []  # the model's other version was never assessed
    path = f"/api/v1/incidents/{incident['id']}"
    risk.ok(risk.client.post(path + "/status", json={"status": "triaged"}, headers=risk.owner))
    assert len(risk.history()) == 3  # still open: same facts
    risk.ok(risk.client.patch(path, json={"severity": "SEV3"}, headers=risk.owner))
    downgraded = risk.history()[0]
    assert downgraded["trigger"] == "incident" and "severe-incident" not in rules_fired(downgraded, "robustness")

    # An alert attached to the open incident by monitoring raises its severity.
    with risk.db.session() as session:
        incidents.open_or_attach(
            session,
            Principal.system("monitor"),
            dedup_key="drift-1",
            type="performance",
            severity="SEV3",
            title="PSI above 0.2",
            models=[],
        )
    assert len(risk.history()) == 4  # a new incident that names no model: not this version's facts
    with risk.db.session() as session:
        from charter.incidents.schemas import AffectedModel

        incidents.open_or_attach(
            session,
            Principal.system("monitor"),
            dedup_key="drift-1",
            type="performance",
            severity="SEV1",
            title="PSI above 0.5",
            models=[AffectedModel(model=MODEL, version="1.0.0")],
        )
    escalated = risk.history()[0]
    assert (escalated["trigger"], escalated["created_by"]) == ("incident", "system:monitor")
    assert "security-incident" in rules_fired(escalated, "security")

    risk.ok(risk.promote("1.0.0", "review"))
    promoted = risk.history()[0]
    assert promoted["trigger"] == "stage_change" and len(risk.history()) == 6
    assert [e["details"]["trigger"] for e in risk.events("risk.assess")] == [
        "manual",
        "evidence",
        "incident",
        "incident",
        "incident",
        "stage_change",
    ]


def test_new_rules_reassess_every_assessed_version(risk: Risk) -> None:
    risk.version("1.0.0")
    risk.version("2.0.0")
    risk.version("3.0.0")
    risk.ok(risk.assess("1.0.0"), 201)
    risk.ok(risk.assess("2.0.0"), 201)
    document = scoring.canonical(scoring.default_document())
    document["factors"]["transparency"]["base"] = 0.0
    document["thresholds"] = {"medium": 0.2, "high": 0.3, "critical": 0.9}
    saved = risk.ok(risk.client.put("/api/v1/risk/rules", json={"document": document}, headers=risk.risk))
    assert (saved["number"], saved["reassessed"]) == (2, 2)
    latest = risk.history("1.0.0")[0]
    assert (latest["trigger"], latest["rules_version"]) == ("rules_change", 2)
    assert scores(latest)["transparency"] == 0.45 and latest["score"] == 0.305 and latest["rating"] == "high"
    assert risk.history("3.0.0") == []
    again = risk.ok(risk.client.put("/api/v1/risk/rules", json={"document": document}, headers=risk.risk))
    assert (again["number"], again["reassessed"]) == (2, 0)
    assert [r["number"] for r in risk.ok(risk.get("/risk/rules/versions"))] == [2, 1]
    assert risk.ok(risk.get("/risk/rules", number=1))["document"]["factors"]["transparency"]["base"] == 0.2
    installed = risk.ok(risk.post("/risk/rules/install"))
    assert (installed["number"], installed["reassessed"]) == (3, 2)
    events = risk.events("risk.rules.save")
    assert [e["details"]["number"] for e in events] == [2, 3]


def test_rules_are_refused_with_positions_and_guarded(risk: Risk) -> None:
    assert risk.ok(risk.get("/risk/rules", headers=risk.viewer))["number"] == 0  # the shipped default, not stored
    document = scoring.canonical(scoring.default_document())
    document["factors"]["security"]["rules"][0]["when"] = "facts.artifacts.unsafe > 0 && facts.artifact.count > 1"
    refused = risk.client.put("/api/v1/risk/rules", json={"document": document}, headers=risk.risk)
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["error"]["details"]["errors"]
    assert error["field"] == "factors.security.rules[0] (unsafe-artifacts).when"
    assert (error["line"], error["column"]) == (1, 37) and "unknown fact facts.artifact" in error["message"]
    text = risk.client.put("/api/v1/risk/rules/text", json={"text": "title: [oops"}, headers=risk.risk)
    assert text.status_code == 422 and "line 1" in text.json()["error"]["message"]
    good = scoring.canonical(scoring.default_document())
    for headers in (risk.owner, risk.team_risk, risk.viewer):  # org-wide rules: organisation-wide risk:write
        assert risk.client.put("/api/v1/risk/rules", json={"document": good}, headers=headers).status_code == 403
    assert risk.post("/risk/rules/install", headers=risk.team_risk).status_code == 403
    assert risk.get("/risk/rules", number=5).status_code == 404


def test_rules_that_no_longer_compile_do_not_block_evidence(risk: Risk) -> None:
    """Stored rules reading a fact an upgrade removed: triggers skip, a manual assessment says why."""
    risk.version("1.0.0")
    risk.ok(risk.assess(), 201)
    document = scoring.canonical(scoring.default_document())
    document["factors"]["security"]["rules"][0]["when"] = "facts.artifacts.removed_fact > 0"
    with risk.db.session() as session:
        session.add(
            RuleVersionRow(number=2, document=document, sha256="0" * 64, created_by="user:rosa", comment="stale")
        )
    risk.fairness("1.0.0", (80, 40))  # recorded although re-assessment cannot run
    assert len(risk.history()) == 1
    refused = risk.assess()
    assert refused.status_code == 422 and "unknown fact facts.artifacts.removed_fact" in refused.text
