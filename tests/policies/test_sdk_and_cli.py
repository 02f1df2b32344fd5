"""Policies through the SDK (against the real app, in process) and the CLI (against a real database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from charter.cli.main import app
from charter.client import Charter
from charter.config import Settings
from charter.errors import Conflict, InvalidInput, PermissionDenied
from tests.conftest import PASSWORD
from tests.policies.conftest import FAIRNESS, MODEL, Gov

URL = "http://testserver"
runner = CliRunner()


def test_the_sdk_writes_enforces_dry_runs_and_waives(gov: Gov, tmp_path: Path) -> None:
    rosa = Charter.login(URL, "rosa", PASSWORD, http=gov.client)
    rick = Charter.login(URL, "rick", PASSWORD, http=gov.client)
    owner = Charter.login(URL, "olivia", PASSWORD, http=gov.client)
    path = tmp_path / "fairness.yaml"
    path.write_text(yaml.safe_dump(FAIRNESS))
    created = rosa.add_policy_file(path)
    assert (created.id, created.state, created.version) == ("high-risk-fairness", "draft", 1)
    with pytest.raises(InvalidInput) as bad:
        rosa.create_policy({**FAIRNESS, "id": "other", "match": "facts.model.tier == 'high'"})
    assert bad.value.details["errors"][0]["column"] == 13
    with pytest.raises(PermissionDenied):
        owner.create_policy({**FAIRNESS, "id": "mine"})
    updated = rosa.update_policy("high-risk-fairness", {**FAIRNESS, "title": "Fair in production"})
    assert updated.version == 2 and [v.version for v in rosa.policy_versions("high-risk-fairness")] == [1, 2]
    assert rosa.set_policy_state("high-risk-fairness", "enforce").pending is not None
    with pytest.raises(PermissionDenied):
        rosa.approve_policy("high-risk-fairness")
    assert rick.approve_policy("high-risk-fairness").state == "enforce"
    assert [p.id for p in rosa.policies(state="enforce")] == ["high-risk-fairness"]
    gov.to_approved("1.0.0")
    dry = rosa.dry_run_policy("high-risk-fairness", stage="production")
    assert dry.applies == 1 and dry.items[0].rules[0].status == "failed"
    with pytest.raises(Conflict) as blocked:
        owner.promote(MODEL, "1.0.0", "production")
    assert "high-risk-fairness/fairness-assessed" in blocked.value.message
    waivers = [
        rosa.grant_waiver("high-risk-fairness", rule, model=MODEL, days=30, reason="Assessment scheduled next week.")
        for rule in ("fairness-assessed", "disparate-impact")
    ]
    assert owner.promote(MODEL, "1.0.0", "production").stage == "production"
    assert {w.id for w in rosa.waivers(model=MODEL, status="active")} == {w.id for w in waivers}
    assert rosa.revoke_waiver(waivers[0].id, reason="Assessed").status == "revoked"
    assert any(f["path"] == "facts.card.complete" for f in rosa.policy_facts())
    pack = rosa.install_policy_pack()
    assert pack["skipped"] == ["high-risk-fairness"] and len(pack["created"]) == 5


@pytest.fixture
def env(home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CHARTER_AUDIT_CHECKPOINT_INTERVAL", "0")
    return settings


def cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_the_cli_installs_the_pack_tests_moves_and_waives(gov: Gov, env: Settings, tmp_path: Path) -> None:
    assert "Installed high-risk-fairness (draft)" in cli("policy", "pack", "install")
    assert "Kept high-risk-fairness" in cli("policy", "pack", "install")
    listed = json.loads(cli("policy", "list", "--json"))
    assert len(listed) == 6 and {p["state"] for p in listed} == {"draft"}
    shown = cli("policy", "show", "high-risk-fairness")
    assert "disparate-impact" in shown and "EU AI Act Art. 10(2)(f)" in shown
    gov.to_approved("1.0.0")
    tested = json.loads(
        cli("policy", "test", "high-risk-fairness", "--model", MODEL, "--stage", "production", "--json")
    )
    assert tested["applies"] == 1 and tested["items"][0]["outcome"] == "error"
    table = cli("policy", "test", "high-risk-fairness", "--stage", "production")
    flat = " ".join(table.split())
    assert "applies to 1 of 1 versions; 0 pass, 0 fail, 1 cannot be evaluated" in flat and "error" in flat
    cli("policy", "state", "high-risk-fairness", "audit")
    proposed = cli("policy", "state", "high-risk-fairness", "enforce")
    assert "pending: enforce" in proposed
    # The operator proposed it; the same operator cannot approve it (four eyes).
    assert "Four eyes" in cli("policy", "approve", "high-risk-fairness", code=1)
    cli(
        "policy",
        "waive",
        "high-risk-fairness",
        "disparate-impact",
        "-m",
        MODEL,
        "--days",
        "30",
        "--reason",
        "Known, fix due.",
    )
    assert "active" in cli("policy", "waivers", "--model", MODEL)
    assert "days" in cli(
        "policy",
        "waive",
        "high-risk-fairness",
        "disparate-impact",
        "-m",
        MODEL,
        "--days",
        "0",
        "--reason",
        "x" * 12,
        code=1,
    )
    assert "no rule" in cli(
        "policy", "waive", "high-risk-fairness", "nope", "-m", MODEL, "--days", "3", "--reason", "x" * 12, code=1
    )
    policy_file = tmp_path / "bad.json"
    policy_file.write_text(
        json.dumps(
            {**FAIRNESS, "id": "bad", "rules": [{**FAIRNESS["rules"][0], "expr": "facts.evidence.fairnes.present"}]}
        )
    )
    refused = cli("policy", "add", str(policy_file), code=1)
    assert "unknown fact facts.evidence.fairnes" in refused and "line 1, column 16" in refused
    policy_file.write_text(json.dumps({**FAIRNESS, "id": "good"}))
    assert "Created policy good version 1" in cli("policy", "add", str(policy_file))
    assert "facts.evidence.fairness.disparate_impact" in cli("policy", "facts")
    assert "not a policy state" in cli("policy", "state", "good", "nope", code=1)
