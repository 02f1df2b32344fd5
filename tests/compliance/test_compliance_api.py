"""Compliance through the REST API on SQLite and PostgreSQL: status with waivers, evidence and attestations,
user frameworks, history, impact assessments, permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from charter.compliance import service
from charter.inventory.models import BlobRow
from tests.compliance.conftest import MODEL, Gov, approved, framework, requirement, requirement_of, status
from tests.conftest import OPERATOR

HIGH = "facts.model.risk_tier == 'high'"


def install_pack(gov: Gov) -> None:
    assert len(gov.ok(gov.post("/policies/pack"), 201)["created"]) == 6


def test_a_waived_rule_is_an_open_gap_in_the_eu_ai_act_status(gov: Gov) -> None:
    """The done-when of the issue: the EU AI Act status lists the waiver as an open gap."""
    install_pack(gov)
    approved(gov)
    gov.fairness("1.0.0", (50, 20))  # disparate impact 0.4
    art10 = requirement_of(status(gov, "eu-ai-act"), "eu-ai-act", "Art. 10")
    assert art10["status"] == "not_satisfied" and not art10["waived"]
    outcomes = {f["ref"]: f["outcome"] for f in art10["why"]}
    assert outcomes == {
        "high-risk-fairness/fairness-assessed-recently": "passed",
        "high-risk-fairness/disparate-impact": "failed",
        "training-data-recorded": "passed",
    }
    body = {"rule": "disparate-impact", "model": MODEL, "days": 30, "reason": "Retraining under way; see RISK-12."}
    waiver = gov.ok(gov.post("/policies/high-risk-fairness/waivers", body), 201)
    result = status(gov, "eu-ai-act")
    art10 = requirement_of(result, "eu-ai-act", "Art. 10")
    assert art10["status"] == "not_satisfied" and art10["waived"]
    (gap,) = [g for g in result["gaps"] if g["requirement"] == "Art. 10"]
    assert (gap["kind"], gap["ref"], gap["waiver"]) == ("waived", "high-risk-fairness/disparate-impact", waiver["id"])
    assert gap["waiver_expires_at"] == waiver["expires_at"]
    assert f"waiver {waiver['id']} until" in gap["detail"]
    # Fixed for real: a fair assessment passes without the waiver's help.
    gov.fairness("1.0.0", (50, 45))
    art10 = requirement_of(status(gov, "eu-ai-act"), "eu-ai-act", "Art. 10")
    assert art10["status"] == "satisfied" and not art10["waived"]


def test_applicability_follows_the_facts(gov: Gov) -> None:
    approved(gov, personal=False)
    result = status(gov)
    assert [f["framework"] for f in result["frameworks"]] == ["eu-ai-act", "gdpr", "nist-ai-rmf", "iso-42001"]
    assert result["version"] == "1.0.0" and result["stage"] == "approved" and result["risk_tier"] == "high"
    gdpr = next(f for f in result["frameworks"] if f["framework"] == "gdpr")
    assert not gdpr["applies"] and gdpr["counts"]["not_applicable"] == 15  # no personal data
    assert requirement_of(result, "eu-ai-act", "Art. 9")["status"] == "not_satisfied"  # high risk: applies
    assert requirement_of(result, "eu-ai-act", "Art. 27")["status"] == "not_satisfied"  # credit: FRIA due
    assert requirement_of(result, "eu-ai-act", "Art. 50(2)")["status"] == "not_applicable"  # not generative
    gov.ok(gov.client.put(f"/api/v1/models/{MODEL}/risk-tier", json={"risk_tier": "minimal"}, headers=gov.risk))
    minimal = status(gov, "eu-ai-act")
    assert requirement_of(minimal, "eu-ai-act", "Art. 9")["status"] == "not_applicable"
    assert requirement_of(minimal, "eu-ai-act", "Art. 5")["status"] == "satisfied"  # the tier is assessed


def _house(gov: Gov) -> dict[str, Any]:
    document = framework(
        "house-rules",
        requirement("FAIR", applies=HIGH, satisfied_by={"policy_rules": ["high-risk-fairness/disparate-impact"]}),
        requirement("FRESH", satisfied_by={"evidence": [{"kind": "fairness", "max_age_days": 30, "must_pass": True}]}),
        requirement("SIGNED", satisfied_by={"attestation": {"max_age_days": 90}}),
        requirement("MINIMAL-ONLY", applies="facts.model.risk_tier == 'minimal'"),
    )
    return gov.ok(gov.post("/compliance/frameworks", document), 201)


def _at(gov: Gov, moment: datetime) -> dict[str, str]:
    """The house framework's statuses as they would be at ``moment`` (the service, as the local operator)."""
    with gov.db.session() as session:
        result = service.status_for_model(session, OPERATOR, MODEL, framework="house-rules", now=moment, record=False)
    return {r.id: r.status for r in result.frameworks[0].requirements}


def test_each_outcome_on_a_users_framework(gov: Gov) -> None:
    install_pack(gov)
    approved(gov)
    created = _house(gov)
    assert (created["builtin"], created["revision"], created["requirements"]) == (False, 1, 4)
    statuses = {r["id"]: r["status"] for r in status(gov, "house-rules")["frameworks"][0]["requirements"]}
    assert statuses == {
        "FAIR": "not_satisfied",  # no assessment: the rule cannot pass
        "FRESH": "not_satisfied",  # missing
        "SIGNED": "not_satisfied",  # no attestation
        "MINIMAL-ONLY": "not_applicable",
    }
    gov.fairness("1.0.0", (50, 45))
    attestation = gov.client.post(
        "/api/v1/compliance/attestations",
        data={"framework": "house-rules", "requirement": "SIGNED", "model": MODEL, "statement": "Board sign-off."},
        headers=gov.risk,
    )
    gov.ok(attestation, 201)
    now = datetime.now(UTC)
    assert _at(gov, now) == {
        "FAIR": "satisfied",
        "FRESH": "satisfied",
        "SIGNED": "attested",
        "MINIMAL-ONLY": "not_applicable",
    }
    # Forty days on the assessment is stale; a hundred days on the attestation has passed its 90-day age too.
    assert _at(gov, now + timedelta(days=40))["FRESH"] == "expired"
    later = _at(gov, now + timedelta(days=100))
    assert (later["SIGNED"], later["FAIR"]) == ("expired", "satisfied")


def test_users_frameworks_are_validated_versioned_and_audited(gov: Gov) -> None:
    bad = framework("house-rules", requirement(applies="facts.model.risk_tier == 'high' && facts.model.tier"))
    response = gov.post("/compliance/frameworks", bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["errors"][0] | {"message": ""} == {
        "field": "requirements[0] (R1).applies",
        "line": 1,
        "column": 48,
        "message": "",
    }
    assert "unknown fact facts.model.tier" in error["message"]
    unknown = framework("house-rules", requirement(satisfied_by={"policy_rules": ["nothing-like-it/rule"]}))
    assert "unknown policy 'nothing-like-it'" in gov.post("/compliance/frameworks", unknown).json()["error"]["message"]
    shipped = gov.post("/compliance/frameworks", framework("eu-ai-act"))
    assert shipped.status_code == 409 and "shipped with Charter" in shipped.json()["error"]["message"]
    assert gov.post("/compliance/frameworks", framework(), gov.owner).status_code == 403
    assert gov.post("/compliance/frameworks", framework(), gov.viewer).status_code == 403
    # Mapped to a shipped requirement: one attestation there counts here.
    mapped = framework("house-rules", requirement(maps_to=["iso-42001:A.2.2"]))
    first = gov.ok(gov.post("/compliance/frameworks", mapped), 201)
    again = gov.ok(gov.post("/compliance/frameworks", mapped), 201)
    assert (first["revision"], again["revision"], again["sha256"]) == (1, 1, first["sha256"])
    text = "id: house-rules\ntitle: House rules v2\nversion: '2'\nsource: HR-1\nrequirements: [{id: R1, title: One}]\n"
    second = gov.ok(gov.post("/compliance/frameworks/parse", {"text": text}), 201)
    assert (second["revision"], second["title"]) == (2, "House rules v2")
    listed = gov.ok(gov.client.get("/api/v1/compliance/frameworks", headers=gov.viewer))
    assert [(f["id"], f["builtin"]) for f in listed][-1] == ("house-rules", False) and len(listed) == 5
    read = gov.ok(gov.client.get("/api/v1/compliance/frameworks/eu-ai-act", headers=gov.viewer))
    assert read["document"]["requirements"][0]["id"] == "Art. 4"
    assert gov.client.get("/api/v1/compliance/frameworks/nope", headers=gov.viewer).status_code == 404
    actions = [e["action"] for e in gov.events("compliance_framework")]
    assert actions == ["compliance.framework.create", "compliance.framework.update"]


def test_attestations_with_documents_organisation_wide_and_through_mappings(gov: Gov) -> None:
    approved(gov)
    document = b"%PDF-1.7 board minutes: logging reviewed " + bytes(range(256))
    response = gov.client.post(
        "/api/v1/compliance/attestations",
        data={"framework": "iso-42001", "requirement": "A.6.2.8", "statement": "Event logs are kept for 6 months."},
        files={"document": ("../../etc/minutes.pdf", document, "application/pdf")},
        headers=gov.risk,
    )
    made = gov.ok(response, 201)
    assert made["model"] is None and made["current"] and made["document"]["size"] == len(document)
    assert made["document"]["name"] == "minutes.pdf"
    # Organisation-wide, for ISO A.6.2.8: it covers this model, and EU AI Act Art. 12 through their mapping.
    result = status(gov)
    assert requirement_of(result, "iso-42001", "A.6.2.8")["status"] == "attested"
    art12 = requirement_of(result, "eu-ai-act", "Art. 12")
    assert art12["status"] == "attested"
    assert (art12["why"][0]["attestation"], art12["why"][0]["via"]) == (made["id"], "iso-42001:A.6.2.8")
    # The document comes back whole, and is stored encrypted (its bytes never in clear at rest).
    back = gov.client.get(f"/api/v1/compliance/attestations/{made['id']}/document", headers=gov.viewer)
    assert back.status_code == 200 and back.content == document
    protection = gov.client.app.state.charter.protection  # type: ignore[attr-defined]
    with gov.db.session() as session:
        blob = session.get(BlobRow, made["document"]["sha256"])
        assert blob is not None and blob.wrapped_key is not None
    with protection.store.open(made["document"]["sha256"]) as stored:
        assert b"board minutes" not in stored.read()
    listed = gov.ok(gov.client.get("/api/v1/compliance/attestations", params={"model": MODEL}, headers=gov.viewer))
    assert [a["id"] for a in listed] == [made["id"]]
    event = gov.events("compliance_framework", "compliance.attest")[-1]
    assert event["details"]["document"]["sha256"] == made["document"]["sha256"]


def test_attestations_are_checked(gov: Gov) -> None:
    approved(gov)
    body = {"framework": "eu-ai-act", "requirement": "Art. 9", "model": MODEL, "statement": "Risk process in place."}
    post = gov.client.post
    assert post("/api/v1/compliance/attestations", data=body, headers=gov.owner).status_code == 403
    assert post("/api/v1/compliance/attestations", data=body, headers=gov.viewer).status_code == 403
    past = post("/api/v1/compliance/attestations", data=body | {"valid_until": "2020-01-01T00:00Z"}, headers=gov.risk)
    assert past.status_code == 422 and "has passed" in past.json()["error"]["message"]
    unknown = post("/api/v1/compliance/attestations", data=body | {"requirement": "Art. 999"}, headers=gov.risk)
    assert unknown.status_code == 404
    short = post("/api/v1/compliance/attestations", data=body | {"statement": "ok"}, headers=gov.risk)
    assert short.status_code == 422 and "statement" in short.json()["error"]["message"]
    made = gov.ok(post("/api/v1/compliance/attestations", data=body, headers=gov.risk), 201)
    # Art. 9 asks for attestations no older than a year: that is the default validity.
    expected = datetime.fromisoformat(made["created_at"]) + timedelta(days=365)
    assert datetime.fromisoformat(made["valid_until"]) == expected
    assert requirement_of(status(gov, "eu-ai-act"), "eu-ai-act", "Art. 9")["status"] == "attested"
    assert gov.client.get(f"/api/v1/compliance/attestations/{made['id']}/document", headers=gov.risk).status_code == 404


def test_history_keeps_only_changes(gov: Gov) -> None:
    install_pack(gov)
    approved(gov)
    status(gov, "eu-ai-act")
    status(gov, "eu-ai-act")  # nothing changed: nothing stored
    history = gov.ok(gov.client.get(f"/api/v1/compliance/models/{MODEL}/history", headers=gov.viewer))
    assert len(history) == 1 and history[0]["framework"] == "eu-ai-act" and history[0]["version"] == "1.0.0"
    assert {c["before"] for c in history[0]["changes"]} == {None}  # the first one: everything is new
    gov.fairness("1.0.0", (50, 45))
    status(gov, "eu-ai-act")
    status(gov, "eu-ai-act", requirement=["Art. 9"])  # a partial answer is not history
    latest, first = gov.ok(gov.client.get(f"/api/v1/compliance/models/{MODEL}/history", headers=gov.viewer))
    assert first["id"] == history[0]["id"]
    assert [(c["requirement"], c["before"], c["after"]) for c in latest["changes"]] == [
        ("Art. 10", "not_satisfied", "satisfied")
    ]
    assert latest["statuses"]["Art. 10"] == "satisfied" and latest["counts"]["satisfied"] > first["counts"]["satisfied"]
    status(gov)  # every framework: one snapshot each for the other three
    everything = gov.ok(gov.client.get(f"/api/v1/compliance/models/{MODEL}/history", headers=gov.viewer))
    assert sorted(h["framework"] for h in everything) == ["eu-ai-act", "eu-ai-act", "gdpr", "iso-42001", "nist-ai-rmf"]
    only = gov.client.get(f"/api/v1/compliance/models/{MODEL}/history", params={"framework": "gdpr"}, headers=gov.risk)
    assert [h["framework"] for h in gov.ok(only)] == ["gdpr"]


def test_status_of_one_requirement_and_permissions(gov: Gov) -> None:
    approved(gov)
    one = status(gov, requirement=["eu-ai-act:Art. 9", "A.2.2"])
    assert [(f["framework"], [r["id"] for r in f["requirements"]]) for f in one["frameworks"]] == [
        ("eu-ai-act", ["Art. 9"]),
        ("iso-42001", ["A.2.2"]),
    ]
    assert status(gov, headers=gov.viewer)["model"] == MODEL  # a viewer of the team reads it
    url = f"/api/v1/compliance/models/{MODEL}/status"
    assert gov.client.get(url, headers=gov.outsider).status_code == 403  # another team's model owner
    assert gov.client.get(f"/api/v1/compliance/models/{MODEL}/history", headers=gov.outsider).status_code == 403
    assert gov.client.get(url, params={"framework": "nope"}, headers=gov.risk).status_code == 404
    assert gov.client.get(url, params={"version": "9.9.9"}, headers=gov.risk).status_code == 404
    assert gov.client.get("/api/v1/compliance/models/nothing/status", headers=gov.risk).status_code == 404


def test_a_model_without_versions_has_no_status(gov: Gov) -> None:
    response = gov.client.get(f"/api/v1/compliance/models/{MODEL}/status", headers=gov.risk)
    assert response.status_code == 409 and "has no version yet" in response.json()["error"]["message"]


def test_the_default_version_is_the_newest_in_production(gov: Gov) -> None:
    approved(gov, "1.0.0")
    gov.ok(gov.promote("1.0.0", "production"))
    approved(gov, "2.0.0")
    assert status(gov, "gdpr")["version"] == "1.0.0"
    assert status(gov, "gdpr", version="2.0.0")["version"] == "2.0.0"


DPIA = {
    "processing_description": "Scoring loan applications from application data and bureau records.",
    "purposes": "Decide on credit applications.",
    "data_categories": ["income", "credit history"],
    "data_subjects": ["applicants"],
    "necessity_and_proportionality": "Only the features needed for the decision are used.",
    "risks": [{"description": "Indirect discrimination by age", "likelihood": "medium", "severity": "high"}],
    "measures": ["Quarterly fairness assessment", "Human review of declines"],
    "residual_risk": "medium",
}
FRIA = {
    "deployer_processes": "Loan officers use the score to prioritise manual review.",
    "period_and_frequency": "Continuously, about 2,000 applications a week.",
    "affected_persons": ["applicants", "co-signers"],
    "risks_of_harm": [{"description": "Unjustified refusal of credit", "likelihood": "low", "severity": "high"}],
    "human_oversight": "Every decline is reviewed by a loan officer who can overturn it.",
    "mitigation_measures": "Suspend the model and review affected decisions; complaints desk answers within 10 days.",
    "residual_risk": "low",
}


def test_dpia_and_fria_are_evidence_that_satisfy_their_requirements(gov: Gov) -> None:
    approved(gov)
    url = f"/api/v1/compliance/models/{MODEL}/versions/1.0.0"
    before = status(gov)
    assert requirement_of(before, "gdpr", "Art. 35")["status"] == "not_satisfied"
    assert requirement_of(before, "eu-ai-act", "Art. 27")["status"] == "not_satisfied"
    assert gov.client.post(f"{url}/dpia", json=DPIA, headers=gov.viewer).status_code == 403
    incomplete = {k: v for k, v in DPIA.items() if k != "necessity_and_proportionality"}
    assert gov.client.post(f"{url}/dpia", json=incomplete, headers=gov.owner).status_code == 422
    dpia = gov.ok(gov.client.post(f"{url}/dpia", json=DPIA, headers=gov.owner), 201)
    assert (dpia["kind"], dpia["passed"]) == ("dpia", True)
    assert dpia["summary"] | {"measures": 0} == {
        "residual_risk": "medium",
        "risks": 1,
        "high_risks": 1,
        "unmitigated": 1,
        "measures": 0,
        "consultation_required": False,
        "dpo_consulted": False,
    }
    fria = gov.ok(gov.client.post(f"{url}/fria", json=FRIA, headers=gov.risk), 201)
    assert fria["kind"] == "fria" and fria["body"]["affected_persons"] == ["applicants", "co-signers"]
    listed = gov.ok(gov.client.get(f"/api/v1/models/{MODEL}/versions/1.0.0/evidence", headers=gov.viewer))
    assert {e["kind"] for e in listed} >= {"dpia", "fria"}
    after = status(gov)
    art35 = requirement_of(after, "gdpr", "Art. 35")
    assert art35["status"] == "satisfied" and art35["why"][0]["evidence"] == dpia["id"]
    assert requirement_of(after, "eu-ai-act", "Art. 27")["status"] == "satisfied"
    assert requirement_of(after, "nist-ai-rmf", "MAP 5")["status"] == "satisfied"
    # A DPIA whose residual risk stays high needs prior consultation first: Art. 35 is not met.
    gov.ok(gov.client.post(f"{url}/dpia", json=DPIA | {"residual_risk": "high"}, headers=gov.owner), 201)
    art35 = requirement_of(status(gov, "gdpr"), "gdpr", "Art. 35")
    assert art35["status"] == "not_satisfied" and "did not pass" in art35["why"][0]["detail"]
