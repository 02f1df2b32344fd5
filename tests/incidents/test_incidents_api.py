"""Incidents over REST: reporting, the enforced lifecycle, the timeline, assignment, scope and permissions."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from charter.incidents.lifecycle import STATUSES, TRANSITIONS
from tests.incidents.conftest import MODEL, OTHER_MODEL, Desk

# A path from `reported` to each status, through allowed moves only.
PATH_TO = {
    "reported": [],
    "triaged": ["triaged"],
    "investigating": ["triaged", "investigating"],
    "mitigating": ["triaged", "investigating", "mitigating"],
    "resolved": ["triaged", "investigating", "mitigating", "resolved"],
    "closed": ["triaged", "investigating", "mitigating", "resolved", "closed"],
}


def test_a_reported_incident_reads_back_with_its_scope_clock_and_timeline(desk: Desk) -> None:
    created = desk.report(
        description="Since the 1.0.0 rollout, applicants over 60 are approved half as often.",
        detected_at="2026-03-01T08:00:00",
        affected_people=1200,
        affected_groups=["loan applicants over 60"],
    )
    assert created["status"] == "reported" and created["severity"] == "SEV2"
    assert created["team"] == "credit-risk" and created["reporter"] == "user:olivia"
    assert created["source"] == "user_report"
    assert created["detected_at"].startswith("2026-03-01T08:00:00")  # no zone: taken as UTC
    assert created["models"] == [
        {
            "model_id": created["models"][0]["model_id"],
            "model": MODEL,
            "team": "credit-risk",
            "version_id": created["models"][0]["version_id"],
            "version": "1.0.0",
            "stage": "production",
        }
    ]
    assert created["allowed_next"] == ["triaged"]
    (clock,) = created["clocks"]
    assert clock["kind"] == "response" and clock["met_at"] is None and clock["overdue"] is False
    assert 3500 < clock["remaining_seconds"] <= 3600  # SEV2: one hour to triage
    assert created["timeline"] is None  # lists and writes leave it out; a single read has it
    read = desk.get(created["id"], desk.viewer)
    assert [e["kind"] for e in read["timeline"]] == ["reported"]
    (event,) = desk.events("incident.report")
    assert event["actor"] == "user:olivia" and event["resource_id"] == str(created["id"])
    assert event["details"]["models"] == [f"{MODEL}@1.0.0"] and event["details"]["severity"] == "SEV2"


def test_an_incident_without_models_belongs_to_the_organisation(desk: Desk) -> None:
    refused = desk.post_report(models=[], title="Phishing mail aimed at data scientists", type="security")
    assert refused.status_code == 403 and "organisation" in refused.json()["error"]["message"]
    created = desk.report(desk.admin, models=[], title="Phishing mail aimed at data scientists", type="security")
    assert created["team"] is None
    assert desk.client.get(f"/api/v1/incidents/{created['id']}", headers=desk.owner).status_code == 403
    assert desk.client.get(f"/api/v1/incidents/{created['id']}", headers=desk.auditor).status_code == 200


def test_every_move_is_allowed_or_refused_with_the_allowed_next_statuses(desk: Desk) -> None:
    checked = 0
    for source in STATUSES:
        for target in STATUSES:
            incident = desk.report(severity="SEV3")
            if PATH_TO[source]:
                desk.walk(incident["id"], *PATH_TO[source])
            response = desk.move(incident["id"], target)
            if target in TRANSITIONS[source]:
                assert response.status_code == 200, (source, target, response.text)
                assert response.json()["status"] == target
            else:
                assert response.status_code == 409, (source, target, response.text)
                error = response.json()["error"]
                assert error["details"]["allowed"] == list(TRANSITIONS[source])
                assert f"From {source!r} it may move to: {', '.join(TRANSITIONS[source])}." in error["message"]
                assert desk.get(incident["id"])["status"] == source
            checked += 1
    assert checked == 36


def test_the_whole_lifecycle_and_a_reopen_are_timed_and_audited(desk: Desk) -> None:
    incident = desk.report(severity="SEV4")
    triaged = desk.move(incident["id"], "triaged", note="Confirmed on the dashboard").json()
    assert triaged["triaged_at"] is not None and triaged["clocks"][0]["met_at"] == triaged["triaged_at"]
    resolved = desk.walk(incident["id"], "investigating", "mitigating", "resolved")
    assert resolved["resolved_at"] is not None and resolved["allowed_next"] == ["closed", "investigating"]
    closed = desk.walk(incident["id"], "closed")
    assert closed["closed_at"] is not None
    reopened = desk.move(incident["id"], "investigating", note="It came back").json()
    assert reopened["status"] == "investigating"
    assert reopened["resolved_at"] is None and reopened["closed_at"] is None
    assert reopened["triaged_at"] == triaged["triaged_at"]  # the response clock stays met
    timeline = desk.get(incident["id"])["timeline"]
    changes = [(e["data"]["from"], e["data"]["to"]) for e in timeline if e["kind"] == "status_change"]
    assert changes == [
        ("reported", "triaged"),
        ("triaged", "investigating"),
        ("investigating", "mitigating"),
        ("mitigating", "resolved"),
        ("resolved", "closed"),
        ("closed", "investigating"),
    ]
    assert "Confirmed on the dashboard" in timeline[1]["body"] and timeline[-1]["body"].startswith("Reopened")
    assert [e["details"]["to"] for e in desk.events("incident.status")] == [
        "triaged",
        "investigating",
        "mitigating",
        "resolved",
        "closed",
    ]
    (reopen,) = desk.events("incident.reopen")
    assert reopen["details"] == {"from": "closed", "to": "investigating", "note": "It came back"}


def test_timeline_entries_are_attributed_audited_and_the_chain_verifies(desk: Desk) -> None:
    incident = desk.report()
    mitigation = {"kind": "mitigation", "body": "Manual review for applicants over 60", "at": "2026-03-01T10:00:00Z"}
    communication = {"kind": "communication", "body": "Told the liaison", "audience": "external", "recipient": "BaFin"}
    entries: list[tuple[dict[str, Any], Any]] = [
        ({"kind": "immediate_action", "body": "Paused automatic approvals"}, desk.owner),
        ({"kind": "investigation_note", "body": "Age feature drifted after the bureau change"}, desk.risk),
        (mitigation, desk.owner),
        (communication, desk.risk),
    ]
    for body, headers in entries:
        response = desk.post(incident["id"], "timeline", body, headers)
        assert response.status_code == 201, response.text
    timeline = desk.get(incident["id"])["timeline"]
    written = [e for e in timeline if e["kind"] != "reported"]
    assert [(e["kind"], e["created_by"]) for e in written] == [
        ("immediate_action", "user:olivia"),
        ("investigation_note", "user:rosa"),
        ("mitigation", "user:olivia"),
        ("communication", "user:rosa"),
    ]
    assert written[2]["at"].startswith("2026-03-01T10:00:00")
    assert (written[3]["audience"], written[3]["recipient"]) == ("external", "BaFin")
    events = desk.events("incident.entry")
    assert [(e["actor"], e["details"]["kind"], e["details"]["entry"]) for e in events] == [
        (f"user:{who}", e["kind"], e["id"])
        for who, e in zip(["olivia", "rosa", "olivia", "rosa"], written, strict=True)
    ]

    assert events[0]["details"]["sha256"] == hashlib.sha256(b"Paused automatic approvals").hexdigest()
    report = desk.client.get("/api/v1/audit/verify", headers=desk.auditor).json()
    assert report["ok"] is True and report["size"] >= 6


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "communication", "body": "Told them"}, "needs `audience`"),
        ({"kind": "communication", "body": "Told them", "audience": "external"}, "needs `audience`"),
        ({"kind": "mitigation", "body": "x", "recipient": "BaFin"}, "belong to communications"),
        ({"kind": "status_change", "body": "x"}, "kind"),
        ({"kind": "mitigation", "body": ""}, "body"),
        ({"kind": "mitigation", "body": "x", "at": "2999-01-01T00:00:00Z"}, "in the future"),
    ],
)
def test_bad_timeline_entries_are_422_with_a_message(desk: Desk, body: dict[str, Any], message: str) -> None:
    incident = desk.report()
    response = desk.post(incident["id"], "timeline", body)
    assert response.status_code == 422, response.text
    assert message in response.text


def test_assignment_names_real_principals_and_can_be_undone(desk: Desk) -> None:
    incident = desk.report()
    assigned = desk.post(incident["id"], "assignment", {"commander": "rosa", "assignee": "olivia"}).json()
    assert (assigned["commander"], assigned["assignee"]) == ("rosa", "olivia")
    unknown = desk.post(incident["id"], "assignment", {"assignee": "nobody-here"})
    assert unknown.status_code == 422 and "nobody-here" in unknown.json()["error"]["message"]
    cleared = desk.post(incident["id"], "assignment", {"assignee": None}).json()
    assert (cleared["commander"], cleared["assignee"]) == ("rosa", None)
    same = desk.post(incident["id"], "assignment", {"commander": "rosa"})
    assert same.status_code == 200
    events = desk.events("incident.assign")
    assert [e["details"] for e in events] == [
        {"commander": {"old": None, "new": "rosa"}, "assignee": {"old": None, "new": "olivia"}},
        {"assignee": {"old": "olivia", "new": None}},
    ]  # the no-op changed nothing and recorded nothing
    assert [e["kind"] for e in desk.get(incident["id"])["timeline"]].count("assignment") == 2


def test_update_changes_fields_moves_the_deadline_and_refuses_removing_required_ones(desk: Desk) -> None:
    incident = desk.report(severity="SEV4")
    due_before = incident["clocks"][0]["due_at"]
    response = desk.client.patch(
        f"/api/v1/incidents/{incident['id']}",
        json={"severity": "SEV1", "consequences": "Credit wrongly refused", "member_states": ["DE", "FR"]},
        headers=desk.owner,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["severity"] == "SEV1" and updated["member_states"] == ["DE", "FR"]
    assert updated["clocks"][0]["due_at"] < due_before and updated["clocks"][0]["remaining_seconds"] <= 900
    (event,) = desk.events("incident.update")
    assert event["details"]["changes"]["severity"] == {"old": "SEV4", "new": "SEV1"}
    assert event["details"]["changes"]["consequences"] == "changed"
    removed = desk.client.patch(f"/api/v1/incidents/{incident['id']}", json={"title": None}, headers=desk.owner)
    assert removed.status_code == 422 and "cannot be removed" in removed.json()["error"]["message"]
    late = desk.client.patch(
        f"/api/v1/incidents/{incident['id']}", json={"detected_at": "2999-01-01T00:00:00Z"}, headers=desk.owner
    )
    assert late.status_code == 422 and "in the future" in late.json()["error"]["message"]
    extra = desk.client.patch(f"/api/v1/incidents/{incident['id']}", json={"status": "closed"}, headers=desk.owner)
    assert extra.status_code == 422


def test_moving_an_incident_to_another_teams_model_needs_write_there(desk: Desk) -> None:
    incident = desk.report()
    patch = {"models": [{"model": OTHER_MODEL}]}
    refused = desk.client.patch(f"/api/v1/incidents/{incident['id']}", json=patch, headers=desk.owner)
    assert refused.status_code == 403
    moved = desk.client.patch(f"/api/v1/incidents/{incident['id']}", json=patch, headers=desk.admin)
    assert moved.status_code == 200 and moved.json()["team"] == "people-analytics"
    assert desk.client.get(f"/api/v1/incidents/{incident['id']}", headers=desk.owner).status_code == 403


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"severity": "SEV5"}, 422, "severity"),
        ({"type": "weather"}, 422, "type"),
        ({"title": ""}, 422, "title"),
        ({"models": [{"model": "no-such-model"}]}, 404, "no-such-model"),
        ({"models": [{"model": MODEL, "version": "9.9.9"}]}, 404, "9.9.9"),
        ({"detected_at": "not a time"}, 422, "detected_at"),
        ({"commander": "ghost"}, 422, "ghost"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_reports_are_4xx_with_a_message(desk: Desk, fields: dict[str, Any], status: int, needle: str) -> None:
    response = desk.post_report(**fields)
    assert response.status_code == status, response.text
    assert needle in response.text


def test_permissions_viewers_read_outsiders_see_nothing(desk: Desk) -> None:
    incident = desk.report()
    assert desk.post_report(desk.viewer).status_code == 403
    assert desk.move(incident["id"], "triaged", desk.viewer).status_code == 403
    assert desk.post(incident["id"], "timeline", {"kind": "mitigation", "body": "x"}, desk.viewer).status_code == 403
    assert desk.get(incident["id"], desk.viewer)["id"] == incident["id"]
    assert desk.client.get(f"/api/v1/incidents/{incident['id']}", headers=desk.outsider).status_code == 403
    assert desk.move(incident["id"], "triaged", desk.outsider).status_code == 403
    assert desk.client.get("/api/v1/incidents", headers=desk.outsider).json()["items"] == []
    # A report naming a model the reporter cannot see is refused before anything is written.
    assert desk.post_report(desk.outsider).status_code == 403
    assert desk.post_report(desk.auditor).status_code == 403
    assert desk.client.get("/api/v1/incidents/999", headers=desk.owner).status_code == 404
    assert desk.get(incident["id"])["status"] == "reported"


def test_listing_filters_and_pages_newest_first(desk: Desk) -> None:
    ids = [
        desk.report(severity=s, type=t)["id"]
        for s, t in [("SEV1", "security"), ("SEV2", "privacy"), ("SEV3", "security"), ("SEV4", "availability")]
    ]
    other = desk.report(desk.outsider, models=[{"model": OTHER_MODEL}])["id"]
    desk.walk(ids[0], "triaged")

    def listed(headers: dict[str, str] | None = None, **params: Any) -> list[int]:
        response = desk.client.get("/api/v1/incidents", params=params, headers=headers or desk.owner)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert listed() == ids[::-1]
    assert listed(desk.admin) == [other, *ids[::-1]]
    assert listed(type="security") == [ids[2], ids[0]]
    assert listed(severity=["SEV1", "SEV4"]) == [ids[3], ids[0]]
    assert listed(status="triaged") == [ids[0]]
    assert listed(desk.admin, model=OTHER_MODEL) == [other]
    assert listed(overdue="true") == [] and listed(overdue="false") == ids[::-1]
    first = desk.client.get("/api/v1/incidents", params={"limit": 3}, headers=desk.owner).json()
    assert [i["id"] for i in first["items"]] == ids[:0:-1]
    rest = desk.client.get(
        "/api/v1/incidents", params={"limit": 3, "cursor": first["next_cursor"]}, headers=desk.owner
    ).json()
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert desk.client.get("/api/v1/incidents", params={"cursor": "x"}, headers=desk.owner).status_code == 422
    assert desk.client.get("/api/v1/incidents", params={"status": "open"}, headers=desk.owner).status_code == 422
