"""Incidents through the SDK (against the real app, in process) and the CLI (against a real database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.client import Charter
from charter.config import Settings
from charter.errors import Conflict, InvalidInput, PermissionDenied
from tests.conftest import PASSWORD
from tests.incidents.conftest import MODEL, Desk

URL = "http://testserver"


def test_the_sdk_reports_handles_contains_reviews_and_reports(desk: Desk) -> None:
    owner = Charter.login(URL, "olivia", PASSWORD, http=desk.client)
    viewer = Charter.login(URL, "vera", PASSWORD, http=desk.client)
    detected = datetime.now(UTC) - timedelta(hours=2)
    incident = owner.report_incident(
        "Applicants' e-mails in explanations",
        type="privacy",
        severity="SEV2",
        models=[f"{MODEL}@1.0.0"],
        detected_at=detected,
        contact_point="dpo@example.com",
    )
    assert incident.status == "reported" and incident.models[0].version == "1.0.0"
    assert abs(incident.detected_at - detected) < timedelta(milliseconds=1)
    with pytest.raises(PermissionDenied):
        viewer.report_incident("x", type="privacy", severity="SEV4", models=[MODEL])
    with pytest.raises(Conflict) as refused:
        owner.handle_incident(incident.id, "resolved")
    assert refused.value.details["allowed"] == ["triaged"]
    for status in ("triaged", "investigating"):
        owner.handle_incident(incident.id, status)
    entry = owner.add_incident_entry(
        incident.id, "communication", "Told the DPO", audience="internal", recipient="DPO", at=detected
    )
    assert entry.created_by == "user:olivia" and entry.at == detected.replace(microsecond=entry.at.microsecond)
    with pytest.raises(InvalidInput):
        owner.add_incident_entry(incident.id, "communication", "Told someone")
    assert owner.assign_incident(incident.id, commander="rosa").commander == "rosa"
    marked = owner.mark_reportable(incident.id, "gdpr_breach", reason="Personal data disclosed")
    assert marked.reports[0].due_at == marked.detected_at + timedelta(hours=72)
    containment = owner.contain(incident.id, "suspend_logging", MODEL, "1.0.0", reason="Stop the leak")
    assert containment.active
    lifted = owner.lift_containment(incident.id, containment.id, reason="Explanations fixed")
    assert not lifted.active and lifted.lifted_by == "user:olivia"
    for status in ("mitigating", "resolved"):
        owner.handle_incident(incident.id, status)
    review = owner.write_review(
        incident.id,
        root_cause="Explanations echoed raw inputs",
        follow_ups=[{"action": "Redact inputs", "owner": "olivia", "due_date": datetime(2026, 12, 1).date()}],
    )
    assert review.follow_ups[0].owner == "olivia"
    with pytest.raises(Conflict, match="not yet submitted"):
        owner.handle_incident(incident.id, "closed")
    owner.mark_report_submitted(incident.id, "gdpr_breach", reference="DPA-1")
    report = viewer.regulator_report(incident.id, "gdpr_breach")
    assert report.submission_reference == "DPA-1" and not report.late and report.contact_point == "dpo@example.com"
    assert owner.handle_incident(incident.id, "closed").status == "closed"
    updated = owner.update_incident(incident.id, models=[(MODEL, None)], affected_people=12)
    assert updated.affected_people == 12 and updated.models[0].version is None
    other = owner.report_incident("Latency spike", type="availability", severity="SEV4", models=[MODEL])
    assert [i.id for i in viewer.list_incidents(page_size=1)] == [other.id, incident.id]
    assert [i.id for i in viewer.list_incidents(status="closed")] == [incident.id]
    assert [i.id for i in viewer.list_incidents(severity=["SEV4"], overdue=False)] == [other.id]
    full = viewer.get_incident(incident.id)
    assert full.timeline is not None and full.timeline[-1].kind == "update"


runner = CliRunner()


def cli(*args: str, code: int = 0) -> str:
    from charter.cli.main import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def env(home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CHARTER_AUDIT_CHECKPOINT_INTERVAL", "0")
    monkeypatch.setenv("CHARTER_INCIDENT_RESPONSE_SLAS", '{"SEV3": "30m"}')
    cli("init", "--admin-password", "the admin password")
    cli("team", "create", "credit-risk")
    cli("model", "register", MODEL, "--team", "credit-risk", "--version", "1.0.0")
    return Settings()


def test_the_cli_works_an_incident_from_report_to_close(env: Settings) -> None:
    out = cli(
        "incident", "report", "Scores drifted", "--type", "performance", "--severity", "SEV3",
        "--model", f"{MODEL}@1.0.0", "--json",
    )  # fmt: skip
    created = json.loads(out)
    iid = str(created["id"])
    due = datetime.fromisoformat(created["clocks"][0]["due_at"])
    assert due - datetime.fromisoformat(created["reported_at"]) == timedelta(minutes=30)  # the configured SLA
    assert created["reporter"].startswith("system:cli@")
    refused = cli("incident", "status", iid, "resolved", code=1)
    assert "may move to: triaged" in refused
    for status in ("triaged", "investigating", "mitigating"):
        assert f"now {status}" in cli("incident", "status", iid, status, "-m", "moving on")
    cli("incident", "note", iid, "Rolled back the feature", "--kind", "mitigation")
    cli("incident", "note", iid, "Customers told", "--kind", "communication", "--audience", "external", "--to", "all")
    assert "needs `audience`" in cli("incident", "note", iid, "x", "--kind", "communication", code=1)
    cli("incident", "assign", iid, "--commander", "admin")
    assert "is reportable under eu_ai_act_serious" in cli("incident", "reportable", iid, "eu_ai_act_serious")
    cli("incident", "status", iid, "resolved")
    cli("incident", "review", iid, "--root-cause", "Upstream change", "--follow-up", "Add a check|admin|2026-12-31")
    assert "--follow-up takes" in cli("incident", "review", iid, "--root-cause", "x", "--follow-up", "nope", code=1)
    content = json.loads(cli("incident", "regulator-report", iid, "eu_ai_act_serious"))
    assert content["measures_taken"][0]["summary"] == "Rolled back the feature"
    assert "not yet submitted" in cli("incident", "close", iid, code=1)
    cli("incident", "submitted", iid, "eu_ai_act_serious", "--reference", "MSA-9")
    assert "now closed" in cli("incident", "close", iid)
    assert "now investigating" in cli("incident", "reopen", iid, "-m", "It came back")
    shown = cli("incident", "show", iid)
    assert "commander admin" in shown and "[external → all]" in shown and "Reopened" in shown
    listed = json.loads(cli("incident", "list", "--status", "investigating", "--json"))
    assert [i["id"] for i in listed] == [created["id"]]
    assert "No incidents." in cli("incident", "list", "--overdue")
    updated = json.loads(cli("incident", "update", iid, "--severity", "SEV1", "--json"))
    assert updated["severity"] == "SEV1"
    assert "Nothing to change" in cli("incident", "update", iid, code=2)
    assert "No incident 999" in cli("incident", "show", "999", code=1)


def test_the_cli_contains_a_production_version(
    desk: Desk, home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The desk's version 1.0.0 reached production through the API (the operator cannot approve
    # a version it wrote); the CLI then works on the same database.
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    incident = desk.report()
    iid = str(incident["id"])
    out = cli("incident", "contain", iid, MODEL, "1.0.0", "--reason", "bias found")
    assert "deprecate_version on credit-scoring 1.0.0" in out
    assert desk.version()["stage"] == "deprecated"
    assert "not among the models" in cli("incident", "contain", iid, "cv-screening", "1.0.0", "--reason", "x", code=1)
    containment = desk.get(incident["id"])["containments"][0]["id"]
    cli("incident", "lift", iid, str(containment), "--reason", "fixed")
    assert desk.version()["stage"] == "production"
    (event,) = desk.events("incident.lift")
    assert event["actor"].startswith("system:cli@") and event["details"]["restored"] == "production"
