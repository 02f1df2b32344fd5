"""Containment linked to the registry, the post-incident review rule for closing, and regulator report content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx2 import Response

from charter.incidents import service
from tests.incidents.conftest import MODEL, OTHER_MODEL, Desk


def contain(
    desk: Desk, incident_id: int, kind: str, version: str = "1.0.0", headers: dict[str, str] | None = None
) -> Response:
    body = {"kind": kind, "model": MODEL, "version": version, "reason": "Stop harm while we investigate"}
    return desk.post(incident_id, "containments", body, headers)


def test_deprecation_moves_the_version_out_of_production_and_lifting_restores_it(desk: Desk) -> None:
    incident = desk.report()
    response = contain(desk, incident["id"], "deprecate_version")
    assert response.status_code == 201, response.text
    containment = response.json()
    assert (containment["kind"], containment["active"], containment["previous_stage"]) == (
        "deprecate_version",
        True,
        "production",
    )
    assert desk.version()["stage"] == "deprecated"
    # The version's own lifecycle recorded the move, naming the incident; the incident recorded the action.
    history = desk.client.get(f"/api/v1/models/{MODEL}/history", headers=desk.owner).json()["items"]
    promote = next(h for h in history if h["action"] == "version.promote")
    assert promote["details"]["to"] == "deprecated" and f"incident {incident['id']}" in promote["details"]["comment"]
    (event,) = desk.events("incident.contain")
    assert event["resource_id"] == str(incident["id"]) and event["details"]["previous_stage"] == "production"
    assert event["details"]["model"] == MODEL and event["details"]["version"] == "1.0.0"
    read = desk.get(incident["id"])
    assert read["containments"][0]["active"] is True and read["models"][0]["stage"] == "deprecated"
    assert read["timeline"][-1]["kind"] == "containment"

    again = contain(desk, incident["id"], "deprecate_version")
    assert again.status_code == 409 and "not in production" in again.json()["error"]["message"]
    lift = desk.post(incident["id"], f"containments/{containment['id']}/lift", {"reason": "Fixed in the scorer"})
    assert lift.status_code == 200, lift.text
    assert lift.json()["active"] is False and lift.json()["lifted_by"] == "user:olivia"
    assert desk.version()["stage"] == "production"
    (lifted,) = desk.events("incident.lift")
    assert lifted["details"]["restored"] == "production"
    twice = desk.post(incident["id"], f"containments/{containment['id']}/lift", {"reason": "again"})
    assert twice.status_code == 409 and "already lifted" in twice.json()["error"]["message"]
    assert desk.client.get("/api/v1/audit/verify", headers=desk.auditor).json()["ok"] is True


def test_a_deprecation_needs_model_write_as_well(desk: Desk) -> None:
    incident = desk.report(desk.risk)
    refused = contain(desk, incident["id"], "deprecate_version", headers=desk.risk)
    assert refused.status_code == 403 and "model:write" in refused.json()["error"]["message"]
    assert desk.version()["stage"] == "production"
    assert desk.get(incident["id"])["containments"] == []


def test_decision_logging_suspension_is_reported_until_lifted(desk: Desk) -> None:
    incident = desk.report()
    version_ids = {desk.version()["id"], desk.version(version="2.0.0")["id"]}
    first = contain(desk, incident["id"], "suspend_logging")
    assert first.status_code == 201, first.text
    assert desk.version()["stage"] == "production"  # suspension leaves the lifecycle alone
    duplicate = contain(desk, incident["id"], "suspend_logging")
    assert duplicate.status_code == 409 and "already suspends" in duplicate.json()["error"]["message"]
    second_incident = desk.report(title="Second look")
    contain(desk, second_incident["id"], "suspend_logging")
    with desk.db.session() as session:
        suspended = service.suspended_versions(session, version_ids)
        assert service.suspended_versions(session, []) == {}
    assert suspended == {desk.version()["id"]: incident["id"]}  # the oldest incident names the suspension
    lift = desk.post(incident["id"], f"containments/{first.json()['id']}/lift", {"reason": "ok", "restore": False})
    assert lift.status_code == 200
    with desk.db.session() as session:
        assert service.suspended_versions(session, version_ids) == {desk.version()["id"]: second_incident["id"]}
    (event,) = [e for e in desk.events("incident.contain") if e["resource_id"] == str(incident["id"])]
    assert event["details"]["kind"] == "suspend_logging"


def test_containment_refusals(desk: Desk) -> None:
    incident = desk.report()
    unrelated = desk.post(
        incident["id"],
        "containments",
        {"kind": "suspend_logging", "model": OTHER_MODEL, "version": "1.0.0", "reason": "x"},
        desk.admin,
    )
    assert unrelated.status_code == 422 and "not among the models" in unrelated.json()["error"]["message"]
    draft = contain(desk, incident["id"], "deprecate_version", version="2.0.0")
    assert draft.status_code == 409 and "'draft'" in draft.json()["error"]["message"]
    assert contain(desk, incident["id"], "quarantine").status_code == 422
    viewer = desk.post(
        incident["id"],
        "containments",
        {"kind": "suspend_logging", "model": MODEL, "version": "1.0.0", "reason": "x"},
        desk.viewer,
    )
    assert viewer.status_code == 403
    missing = desk.post(incident["id"], "containments/999/lift", {"reason": "x"})
    assert missing.status_code == 404
    desk.walk(incident["id"], "triaged", "investigating", "mitigating", "resolved")
    closed = contain(desk, incident["id"], "suspend_logging")
    assert closed.status_code == 409 and "reopen it" in closed.json()["error"]["message"]


REVIEW = {
    "root_cause": "The bureau changed how age is encoded; the feature pipeline did not validate it.",
    "contributing_factors": ["No schema check on bureau data", "Fairness monitor ran weekly"],
    "follow_ups": [
        {"action": "Validate bureau schema on ingest", "owner": "olivia", "due_date": "2026-04-01"},
        {"action": "Daily fairness monitor", "owner": "rosa", "due_date": "2026-04-15", "done": True},
    ],
    "lessons": "Validate every external input.",
}


def test_sev1_and_sev2_cannot_close_without_a_review(desk: Desk) -> None:
    for severity, needs_review in (("SEV1", True), ("SEV2", True), ("SEV3", False), ("SEV4", False)):
        incident = desk.report(severity=severity)
        desk.walk(incident["id"], "triaged", "investigating", "mitigating", "resolved")
        response = desk.move(incident["id"], "closed")
        if not needs_review:
            assert response.status_code == 200, (severity, response.text)
            continue
        assert response.status_code == 409, (severity, response.text)
        assert "post-incident review" in response.json()["error"]["message"]
        review = desk.client.put(f"/api/v1/incidents/{incident['id']}/review", json=REVIEW, headers=desk.owner)
        assert review.status_code == 200, review.text
        assert desk.move(incident["id"], "closed").status_code == 200


def test_the_review_is_written_once_resolved_and_can_be_revised(desk: Desk) -> None:
    incident = desk.report()
    early = desk.client.put(f"/api/v1/incidents/{incident['id']}/review", json=REVIEW, headers=desk.owner)
    assert early.status_code == 409 and "once it is resolved" in early.json()["error"]["message"]
    desk.walk(incident["id"], "triaged", "investigating", "mitigating", "resolved")
    written = desk.client.put(f"/api/v1/incidents/{incident['id']}/review", json=REVIEW, headers=desk.owner).json()
    assert written["created_by"] == "user:olivia" and written["follow_ups"][0]["due_date"] == "2026-04-01"
    revised = desk.client.put(
        f"/api/v1/incidents/{incident['id']}/review", json={**REVIEW, "lessons": "Check inputs."}, headers=desk.risk
    ).json()
    assert (revised["created_by"], revised["updated_by"], revised["lessons"]) == (
        "user:olivia",
        "user:rosa",
        "Check inputs.",
    )
    assert [e["details"]["created"] for e in desk.events("incident.review")] == [True, False]
    bad = {**REVIEW, "follow_ups": [{"action": "x", "owner": "y", "due_date": "soon"}]}
    response = desk.client.put(f"/api/v1/incidents/{incident['id']}/review", json=bad, headers=desk.owner)
    assert response.status_code == 422 and "due_date" in response.text
    assert desk.get(incident["id"])["review"]["lessons"] == "Check inputs."


def test_a_reportable_incident_cannot_close_before_its_report_is_submitted(desk: Desk) -> None:
    incident = desk.report(severity="SEV3")
    assert desk.post(incident["id"], "reportable", {"regime": "gdpr_breach"}).status_code == 200
    desk.walk(incident["id"], "triaged", "investigating", "mitigating", "resolved")
    refused = desk.move(incident["id"], "closed")
    assert refused.status_code == 409 and refused.json()["error"]["details"]["pending_reports"] == ["gdpr_breach"]
    submitted = desk.post(incident["id"], "reportable/gdpr_breach/submitted", {"reference": "DPA-2026-17"})
    assert submitted.status_code == 200, submitted.text
    assert desk.move(incident["id"], "closed").status_code == 200
    assert [e["details"]["regime"] for e in desk.events("incident.report_submitted")] == ["gdpr_breach"]


def test_gdpr_report_content_is_assembled_from_the_incident(desk: Desk) -> None:
    detected = datetime.now(UTC).replace(microsecond=0) - timedelta(days=4)
    incident = desk.report(
        type="privacy",
        severity="SEV1",
        description="Decision explanations exposed applicants' e-mail addresses to other applicants.",
        detected_at=detected.isoformat(),
        affected_people=340,
        affected_groups=["loan applicants"],
        data_categories=["e-mail address", "income band"],
        records_affected=410,
        consequences="Phishing risk; disclosure of financial situation.",
        contact_point="dpo@example.com, +49 30 1234567",
    )
    iid = incident["id"]
    not_marked = desk.client.get(
        f"/api/v1/incidents/{iid}/report", params={"regime": "gdpr_breach"}, headers=desk.owner
    )
    assert not_marked.status_code == 409 and "not marked reportable" in not_marked.json()["error"]["message"]
    desk.post(iid, "reportable", {"regime": "gdpr_breach", "reason": "Personal data disclosed"})
    desk.post(iid, "timeline", {"kind": "immediate_action", "body": "Explanations endpoint switched off"})
    desk.post(
        iid,
        "timeline",
        {"kind": "communication", "body": "Notified affected applicants", "audience": "external", "recipient": "them"},
    )
    desk.walk(iid, "triaged", "investigating", "mitigating", "resolved")
    desk.client.put(f"/api/v1/incidents/{iid}/review", json=REVIEW, headers=desk.owner)
    response = desk.client.get(f"/api/v1/incidents/{iid}/report", params={"regime": "gdpr_breach"}, headers=desk.viewer)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["regulation"].startswith("GDPR Art. 33") and "supervisory authority" in report["authority"]
    assert datetime.fromisoformat(report["detected_at"]) == detected
    assert datetime.fromisoformat(report["due_at"]) == detected + timedelta(hours=72)
    assert report["nature"].startswith("Decision explanations exposed")
    assert report["affected"] == {
        "people": 340,
        "groups": ["loan applicants"],
        "data_categories": ["e-mail address", "income band"],
        "records": 410,
    }
    assert report["contact_point"] == "dpo@example.com, +49 30 1234567"
    assert report["consequences"].startswith("Phishing risk")
    assert [m["summary"] for m in report["measures_taken"]] == ["Explanations endpoint switched off"]
    assert report["measures_proposed"] == ["Validate bureau schema on ingest (owner olivia, due 2026-04-01)"]
    assert report["root_cause"] == REVIEW["root_cause"]
    assert [(c["audience"], c["recipient"]) for c in report["communications"]] == [("external", "them")]
    assert report["ai_systems"][0]["model"] == MODEL and report["ai_systems"][0]["purpose"] == "Score loan applications"
    assert report["missing"] == []
    assert report["late"] is True and report["overdue"] is True  # four days after awareness, not submitted
    assert any("reasons for the delay" in n for n in report["notes"])
    assert len(report["timeline"]) == len(desk.get(iid)["timeline"])


def test_ai_act_report_lists_what_is_still_missing(desk: Desk) -> None:
    incident = desk.report(severity="SEV1", type="safety", title="Wrong dosage suggested")
    desk.post(incident["id"], "reportable", {"regime": "eu_ai_act_death"})
    response = desk.client.get(
        f"/api/v1/incidents/{incident['id']}/report", params={"regime": "eu_ai_act_death"}, headers=desk.owner
    )
    report = response.json()
    assert report["regulation"].startswith("EU AI Act Art. 73(4)")
    assert "market surveillance authority" in report["authority"]
    assert report["nature"] == "Wrong dosage suggested" and report["root_cause"] is None
    assert report["missing"] == [
        "description",
        "contact_point",
        "consequences",
        "affected_people",
        "affected_groups",
        "measures_taken",
        "member_states",
    ]
    assert any("Art. 73(6)" in n for n in report["notes"])
    bad = desk.client.get(f"/api/v1/incidents/{incident['id']}/report", params={"regime": "ccpa"}, headers=desk.owner)
    assert bad.status_code == 422
