"""The `charter` command, run in-process against a real database."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from trestle.oscal.assessment_results import AssessmentResults
from typer.testing import CliRunner

from charter.cli.main import app as cli
from charter.config import Settings
from charter.db.engine import Database
from charter.server.app import create_app

runner = CliRunner()


def run(*args: str, ok: bool = True) -> str:
    result = runner.invoke(cli, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def env(home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CHARTER_AUDIT_CHECKPOINT_INTERVAL", "0")
    return Settings()


def sign_in(settings: Settings, username: str, password: str) -> int:
    with TestClient(create_app(settings)) as client:
        status = client.post("/api/v1/auth/token", data={"username": username, "password": password}).status_code
        client.app.state.charter.db.dispose()  # type: ignore[attr-defined]
    return status


def test_init_creates_keys_and_admin_once(env: Settings) -> None:
    first = run("init")
    assert "Created the administrator admin" in first
    password = first.split("shown once: ")[1].split()[0]
    assert env.secret_key_file.exists() and env.audit_key_file.exists()
    assert sign_in(env, "admin", password) == 200
    key_before = env.audit_key_file.read_bytes()
    second = run("init")
    assert "already initialised" in second and "nothing was changed" in second
    assert env.audit_key_file.read_bytes() == key_before
    assert sign_in(env, "admin", password) == 200


def test_init_takes_the_password_from_the_environment(env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_ADMIN_PASSWORD", "from-the-environment-123")
    output = run("init", "--admin-username", "root-admin")
    assert "shown once" not in output  # a password the operator chose is never printed
    assert sign_in(Settings(), "root-admin", "from-the-environment-123") == 200


def test_init_refuses_a_short_password(env: Settings) -> None:
    result = runner.invoke(cli, ["init", "--admin-password", "short"])
    assert result.exit_code == 1 and "at least 12" in result.output


def test_user_role_team_and_key_commands(env: Settings) -> None:
    run("init", "--admin-password", "the admin password")
    run("team", "create", "credit-risk", "--display-name", "Credit Risk")
    assert "credit-risk" in run("team", "list")
    out = run("user", "create", "alice", "--role", "model_owner@credit-risk", "--password", "alice's password")
    assert "Created the user alice" in out
    listing = run("user", "list")
    assert "alice" in listing and "model_owner@credit-risk" in listing
    run("role", "grant", "alice", "reviewer", "--team", "credit-risk")
    assert "reviewer@credit-risk" in run("user", "list", "--query", "ali")
    run("role", "revoke", "alice", "reviewer", "--team", "credit-risk")
    assert "reviewer" not in run("user", "list", "--query", "ali")
    missing = runner.invoke(cli, ["role", "revoke", "alice", "reviewer"])
    assert missing.exit_code == 1 and "does not hold" in missing.output
    bad_role = runner.invoke(cli, ["role", "grant", "alice", "emperor"])
    assert bad_role.exit_code == 1 and "not a role" in bad_role.output
    run("user", "disable", "alice")
    assert sign_in(env, "alice", "alice's password") == 401
    run("user", "enable", "alice")
    assert sign_in(env, "alice", "alice's password") == 200

    run("user", "create", "ci", "--service", "--role", "service@credit-risk")
    key_output = run("apikey", "create", "ci", "--name", "pipeline")
    key = key_output.strip().splitlines()[-1]
    assert key.startswith("chk_")
    key_id = key.split("_")[1]
    with TestClient(create_app(env)) as client:
        assert client.get("/api/v1/auth/whoami", headers={"X-API-Key": key}).json()["name"] == "ci"
        assert key_id in run("apikey", "list")
        run("apikey", "revoke", key_id)
        assert client.get("/api/v1/auth/whoami", headers={"X-API-Key": key}).status_code == 401
        client.app.state.charter.db.dispose()  # type: ignore[attr-defined]
    assert "revoked" in run("apikey", "list", "ci")
    duplicate = runner.invoke(cli, ["user", "create", "alice", "--password", "another password"])
    assert duplicate.exit_code == 1 and "already taken" in duplicate.output


def test_token_create_prints_a_working_token(env: Settings) -> None:
    run("init", "--admin-password", "the admin password")
    token = run("token", "create", "admin", "--ttl", "300").strip()
    with TestClient(create_app(env)) as client:
        me = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        client.app.state.charter.db.dispose()  # type: ignore[attr-defined]
    assert me.json()["name"] == "admin"
    assert runner.invoke(cli, ["token", "create", "nobody"]).exit_code == 1


def test_audit_commands(env: Settings, tmp_path: Path) -> None:
    run("init", "--admin-password", "the admin password")
    checkpoint = tmp_path / "cp.json"
    run("audit", "checkpoint", "--out", str(checkpoint))
    assert json.loads(checkpoint.read_text())["size"] >= 2
    assert checkpoint.stat().st_mode & 0o777 == 0o600
    assert "OK" in run("audit", "verify", "--checkpoint", str(checkpoint))
    public = tmp_path / "audit.pub"
    public.write_text(run("audit", "public-key"))
    assert "PRIVATE" not in public.read_text()
    assert "OK" in run("audit", "verify", "--public-key", str(public), "--checkpoint", str(checkpoint))
    export = tmp_path / "trail.jsonl"
    run("audit", "export", "--out", str(export))
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    prev = bytes(32)
    for line in lines:  # verifiable with nothing but hashlib
        assert line["prev_hash"] == prev.hex()
        prev = hashlib.sha256(prev + line["body"].encode()).digest()
        assert line["hash"] == prev.hex()
    assert "audit.export" in run("audit", "list", "--action", "audit.export")
    events = [
        json.loads(x)
        for x in run(
            "audit",
            "list",
            "--json",
            "--actor",
            "system:cli@" + lines[0]["body"].split('"actor":"system:cli@')[1].split('"')[0],
        ).splitlines()
    ]
    assert events and all(e["actor"].startswith("system:cli@") for e in events)


def test_db_commands(env: Settings, db: Database) -> None:
    assert "required" in run("db", "current")
    assert "already at" in run("db", "upgrade")


def test_commands_refuse_an_uninitialised_database(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = runner.invoke(cli, ["user", "list"])
    assert result.exit_code == 1 and "charter init" in result.output


def test_help_lists_every_group() -> None:
    output = run("--help")
    for group in (
        "init",
        "serve",
        "demo",
        "db",
        "user",
        "role",
        "team",
        "apikey",
        "token",
        "audit",
        "model",
        "dataset",
        "keys",
        "scan",
    ):
        assert group in output


def test_demo_seeds_an_organisation_whose_printed_credentials_work(env: Settings) -> None:
    from charter.demo.seed import USERS

    output = run("demo", "--no-serve")
    admin_password = output.split("one-time password ")[1].split()[0]
    passwords = {name: output.split(f"│ {name} ")[1].split("│")[2].strip() for name, *_ in USERS}
    key = output.split("API key (shown once): ")[1].split()[0]
    with TestClient(create_app(env)) as client:
        for name, password in [("admin", admin_password), *passwords.items()]:
            assert (
                client.post("/api/v1/auth/token", data={"username": name, "password": password}).status_code == 200
            ), name
        me = client.get("/api/v1/auth/whoami", headers={"X-API-Key": key}).json()
        assert me["name"] == "ci-pipeline" and me["bindings"] == [{"role": "service", "team": "credit-risk"}]
        # Real models trained on the reference data, sent through the lifecycle.
        token = client.post("/api/v1/auth/token", data={"username": "admin", "password": admin_password})
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        models = {m["name"]: m for m in client.get("/api/v1/models", headers=admin).json()["items"]}
        assert models["credit-eligibility"]["latest_stage"] == "production"
        assert models["credit-eligibility"]["risk_tier"] == "high"
        credit = client.get("/api/v1/models/credit-eligibility/versions/1.0.0", headers=admin).json()
        assert credit["metrics"]["auc"] > 0.8  # a real model on the Adult data, not a stub
        verified = client.post("/api/v1/models/credit-eligibility/versions/1.0.0/verify", headers=admin).json()
        assert verified["ok"] is True
        vendor = client.get("/api/v1/models/reoffence-risk/versions/0.2.0", headers=admin).json()
        assert vendor["stage"] == "review" and vendor["artifacts"][0]["scan_verdict"] == "unsafe"
        # Fairness evidence computed at start-up shows COMPAS's false-positive-rate gap ...
        token = client.post("/api/v1/auth/token", data={"username": "rosa", "password": passwords["rosa"]})
        rosa = {"Authorization": f"Bearer {token.json()['access_token']}"}
        evidence = client.get("/api/v1/models/reoffence-risk/versions/0.1.0/evidence", headers=rosa).json()
        tool = next(e for e in evidence if e["title"].startswith("COMPAS tool decisions"))
        assert tool["passed"] is False and tool["summary"]["four_fifths"]["passed"] is False
        body = client.get(f"/api/v1/models/reoffence-risk/versions/0.1.0/evidence/{tool['id']}", headers=rosa).json()
        fpr = {g["label"]: g["false_positive_rate"] for g in body["body"]["by_group"]}
        assert fpr["African-American"] > 1.8 * fpr["Caucasian"]
        # ... and the decisions behind the replica are in the log, race readable by the risk officer.
        logged = client.get("/api/v1/models/reoffence-risk/decisions?limit=5", headers=rosa).json()["items"]
        assert len(logged) == 5 and all(d["sensitive_attributes"]["race"] for d in logged)
        # Monitoring: the drifting feed raised a drift alert, which opened a SEV3 incident ...
        assert "Monitoring: " in output
        firing = client.get("/api/v1/alerts", params={"status": "firing"}, headers=rosa).json()["items"]
        drift = next(a for a in firing if a["monitor"] == "input-drift")
        assert drift["severity"] == "SEV3" and drift["value"] >= 0.25  # the share of drifted inputs
        incident = client.get(f"/api/v1/incidents/{drift['incident_id']}", headers=rosa).json()
        assert incident["severity"] == "SEV3" and incident["source"] == "monitoring_alert"
        assert incident["models"][0]["model"] == "credit-eligibility"
        # ... the accuracy dip breaches its floor, and the unsent GDPR report's 72 hours have run out.
        assert any(a["monitor"] == "accuracy-floor" for a in firing)
        late = [a for a in firing if a["source"] == "incident_clock" and "gdpr_breach" in a["title"]]
        assert len(late) == 1
        breach = client.get(f"/api/v1/incidents/{late[0]['incident_id']}", headers=rosa).json()
        assert any(c["regime"] == "gdpr_breach" and c["overdue"] for c in breach["clocks"])
        # Risk: both models classified high-risk from their intake answers, every version assessed with
        # reasons, and a register whose heat map has the COMPAS bias risk in its top corner.
        heat = client.get("/api/v1/risk/register/heat-map", headers=rosa).json()
        assert heat["risks"] == 4 and heat["inherent"][4][4] == 1 and heat["overdue_reviews"] == 1
        assert {m["model"] for m in heat["models"]} == {"credit-eligibility", "reoffence-risk"}
        assessed = client.get("/api/v1/risk/models/reoffence-risk/versions/0.1.0/assessments", headers=rosa).json()
        bias = next(f for f in assessed[0]["result"]["factors"] if f["factor"] == "model_bias")
        assert {"fairness-failed", "disparate-impact"} <= {r["rule"] for r in bias["reasons"]}
        assert assessed[0]["rating"] in ("high", "critical")
        classified = client.get("/api/v1/risk/models/reoffence-risk/classifications", headers=rosa).json()
        assert classified[0]["result"]["proposed_tier"] == "high"
        # Governance: the enforced fairness policy refuses the replica's move to production, naming the
        # failed rule; a 30-day waiver from the risk officer lets it through; both are in the trail.
        token = client.post("/api/v1/auth/token", data={"username": "mateo", "password": passwords["mateo"]})
        mateo = {"Authorization": f"Bearer {token.json()['access_token']}"}
        promote = "/api/v1/models/reoffence-risk/versions/0.1.0/promote"
        refused = client.post(promote, json={"stage": "production"}, headers=mateo)
        assert refused.status_code == 409, refused.text
        assert "high-risk-fairness/disparate-impact" in refused.json()["error"]["message"]
        waiver = {"rule": "disparate-impact", "model": "reoffence-risk", "days": 30, "reason": "Research replica only"}
        granted = client.post("/api/v1/policies/high-risk-fairness/waivers", json=waiver, headers=rosa)
        assert granted.status_code == 201, granted.text
        moved = client.post(promote, json={"stage": "production"}, headers=mateo)
        assert moved.status_code == 200, moved.text
        assert moved.json()["stage"] == "production"
        token = client.post("/api/v1/auth/token", data={"username": "aditi", "password": passwords["aditi"]})
        aditi = {"Authorization": f"Bearer {token.json()['access_token']}"}
        trail = client.get("/api/v1/audit/events", params={"limit": 500}, headers=aditi).json()["items"]
        actions = [e["action"] for e in trail]
        assert "waiver.grant" in actions and "version.promote" in actions
        # The EU AI Act report made at seeding names the failed rule; the one made now lists the waiver as an
        # open gap. Each is stored in every format, its hashes in the audit trail.
        reports = client.get("/api/v1/reports", params={"model": "reoffence-risk"}, headers=rosa).json()["items"]
        assert len(reports) == 1 and [f["format"] for f in reports[0]["files"]] == ["json", "html", "pdf", "oscal"]
        seeded = client.get(f"/api/v1/reports/{reports[0]['id']}/files/json", headers=rosa).json()
        assert seeded["models"][0]["version"] == "0.1.0"
        assert any(g["ref"] == "high-risk-fairness/disparate-impact" for g in seeded["models"][0]["gaps"])
        body = {"model": "reoffence-risk", "frameworks": ["eu-ai-act"]}
        made = client.post("/api/v1/reports", json=body, headers=rosa)
        assert made.status_code == 201, made.text
        document = client.get(f"/api/v1/reports/{made.json()['id']}/files/json", headers=rosa).json()
        waived = [g for g in document["models"][0]["gaps"] if g["kind"] == "waived"]
        assert [(g["framework"], g["ref"], g["waiver"]) for g in waived] == [
            ("eu-ai-act", "high-risk-fairness/disparate-impact", granted.json()["id"])
        ]
        assert document["models"][0]["stage"] == "production" and document["audit"]["ok"] is True
        # The same report as a PDF names the model and the waived rule; as OSCAL it validates.
        pdf = client.get(f"/api/v1/reports/{made.json()['id']}/files/pdf", headers=rosa)
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages).replace("\n", " ")
        assert "reoffence-risk" in text and "disparate-impact" in text and "aiver" in text
        oscal = client.get(f"/api/v1/reports/{made.json()['id']}/files/oscal", headers=rosa).json()
        AssessmentResults.model_validate(oscal["assessment-results"])
        findings = oscal["assessment-results"]["results"][0]["findings"]
        waived_findings = [f for f in findings if "disparate-impact" in f.get("remarks", "")]
        assert waived_findings and all(f["target"]["status"]["state"] == "not-satisfied" for f in waived_findings)
        client.app.state.charter.db.dispose()  # type: ignore[attr-defined]
    again = run("demo", "--no-serve")
    assert "Demo accounts" not in again  # seeded once
    new_password = again.split("one-time password ")[1].split()[0]
    assert new_password != admin_password
    assert sign_in(env, "admin", new_password) == 200 and sign_in(env, "admin", admin_password) == 401


def test_serve_refuses_an_uninitialised_database(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = runner.invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 1 and "charter init" in result.output


def test_demo_refuses_a_database_it_did_not_make(env: Settings) -> None:
    run("init", "--admin-password", "the admin password")
    result = runner.invoke(cli, ["demo", "--no-serve"])
    assert result.exit_code == 1 and "was not made by `charter demo`" in " ".join(result.output.split())
    assert sign_in(env, "admin", "the admin password") == 200  # the administrator's password is untouched
    assert "credit-risk" not in run("team", "list")  # and nothing was seeded
