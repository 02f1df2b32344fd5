"""Risk through the SDK (against the real app, in process) and the CLI (against a real database)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from charter.cli.main import app
from charter.client import Charter
from charter.config import Settings
from charter.errors import InvalidInput, NotFound, PermissionDenied
from charter.risk import scoring
from charter.risk.schemas import RiskCreate
from tests.conftest import PASSWORD
from tests.risk.conftest import MODEL, Risk

URL = "http://testserver"
runner = CliRunner()


def no_answers() -> dict[str, bool]:
    from charter.risk.classification import QUESTIONS

    return {q.id: False for q in QUESTIONS if q.required}


def test_the_sdk_assesses_classifies_and_keeps_the_register(risk: Risk, tmp_path: Path) -> None:
    owner = Charter.login(URL, "olivia", PASSWORD, http=risk.client)
    rosa = Charter.login(URL, "rosa", PASSWORD, http=risk.client)
    risk.version("1.0.0")
    assessment = owner.assess_risk(MODEL, "1.0.0")
    assert (assessment.rating, assessment.score, assessment.rules_version) == ("medium", 0.325, 1)
    assert [f.factor for f in assessment.result.factors][:4] == ["data_privacy", "model_bias", "security", "compliance"]
    assert rosa.latest_risk_assessment(MODEL, "1.0.0").id == assessment.id
    assert [a.id for a in rosa.risk_assessments(MODEL, "1.0.0")] == [assessment.id]
    assert rosa.get_risk_assessment(assessment.id).facts_digest == assessment.facts_digest
    with pytest.raises(NotFound):
        owner.latest_risk_assessment(MODEL, "9.9.9")

    assert rosa.risk_rules().number == 1
    document = scoring.canonical(scoring.default_document())
    document["weights"]["transparency"] = 0.0
    saved = rosa.save_risk_rules(document, comment="Transparency is covered by the card policy.")
    assert (saved.number, saved.reassessed, saved.comment) == (2, 1, "Transparency is covered by the card policy.")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**document, "thresholds": {"medium": 0.9, "high": 0.5, "critical": 1.0}}))
    with pytest.raises(InvalidInput, match="medium < high < critical"):
        rosa.save_risk_rules_file(bad)
    with pytest.raises(PermissionDenied):
        owner.install_risk_rules()
    assert rosa.install_risk_rules().number == 3
    assert [r.number for r in rosa.risk_rule_versions()] == [3, 2, 1]

    assert len(owner.risk_questionnaire().questions) >= 25
    answers = {**no_answers(), "hr_essential_services": True, "gpai": False}
    classified = rosa.classify_model(MODEL, answers, apply_tier=True)
    assert (classified.result.category, classified.result.proposed_tier, classified.tier_applied) == (
        "high_risk",
        "high",
        True,
    )
    assert owner.get_model(MODEL).risk_tier == "high"
    with pytest.raises(PermissionDenied):
        owner.classify_model(MODEL, answers)
    with pytest.raises(InvalidInput, match="unanswered"):
        rosa.classify_model(MODEL, {"gpai": True})
    assert [c.id for c in owner.model_classifications(MODEL)] == [classified.id]

    created = rosa.add_risk(
        RiskCreate(
            model=MODEL,
            title="Thin-file applicants scored unfairly",
            category="bias",
            likelihood=4,
            impact=5,
            residual_likelihood=2,
            owner="rosa",
            review_date=date(2030, 1, 1),
        )
    )
    assert (created.inherent_rating, created.residual_rating) == ("critical", "high")
    updated = rosa.update_risk(created.id, {"controls": ["Manual review of thin files"], "treatment": "mitigate"})
    assert updated.controls == ["Manual review of thin files"] and updated.treatment == "mitigate"
    accepted = rosa.accept_risk(created.id, "Accepted by the credit committee.", review_date=date(2029, 6, 1))
    assert (accepted.status, accepted.review_date) == ("accepted", date(2029, 6, 1))
    with pytest.raises(PermissionDenied):
        owner.add_risk({"title": "x", "category": "other", "likelihood": 1, "impact": 1, "owner": "olivia"})
    assert [r.id for r in owner.risks(model=MODEL, status="accepted")] == [created.id]
    assert owner.get_risk(created.id).acceptance_note == "Accepted by the credit committee."
    heat = owner.risk_heat_map()
    assert heat.residual[1][4] == 1 and heat.inherent[3][4] == 1 and heat.models[0].model == MODEL


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


def test_the_cli(risk: Risk, env: Settings, tmp_path: Path) -> None:
    risk.version("1.0.0")
    assert "shipped default, not installed yet" in cli("risk", "rules", "show")
    assert "version 1" in cli("risk", "rules", "install")
    assessed = json.loads(cli("risk", "assess", "-m", MODEL, "-v", "1.0.0", "--json"))
    assert (assessed["rating"], assessed["score"]) == ("medium", 0.325)
    shown = " ".join(cli("risk", "show", "-m", MODEL, "-v", "1.0.0").split())
    assert "medium (0.325)" in shown and "no-fairness-evidence (+0.2)" in shown
    cli("risk", "assess", "-m", MODEL, "-v", "1.0.0")
    history = json.loads(cli("risk", "show", "-m", MODEL, "-v", "1.0.0", "--history", "--json"))
    assert len(history) == 2 and history[0]["id"] > history[1]["id"]
    risk.version("2.0")
    assert "has not been assessed" in " ".join(cli("risk", "show", "-m", MODEL, "-v", "2.0", code=1).split())

    rules = tmp_path / "rules.yaml"
    document = scoring.canonical(scoring.default_document())
    document["factors"]["model_bias"]["rules"][0]["when"] = "facts.model.domian == 'credit'"
    rules.write_text(yaml.safe_dump(document))
    refused = cli("risk", "rules", "set", str(rules), code=1)
    assert "unknown fact facts.model.domian" in refused and "line 1, column 13" in refused
    document["factors"]["model_bias"]["rules"][0]["when"] = "facts.model.domain == 'credit'"
    rules.write_text(yaml.safe_dump(document))
    assert "Re-assessed 1 model versions" in cli("risk", "rules", "set", str(rules), "--comment", "one domain")

    template = cli("risk", "questionnaire", "--template")
    sheet = yaml.safe_load(template)
    assert sheet["p_manipulation"] is False and sheet["gpai_training_flops"] is None
    sheet["t_interacts"] = True
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(sheet))
    classified = " ".join(cli("risk", "classify", "-m", MODEL, "--answers", str(answers), "--apply-tier").split())
    assert "limited (proposed tier limited, applied)" in classified and "Art. 50(1)" in classified
    answers.write_text("nope: true\n")
    assert "'nope' is not a question" in cli("risk", "classify", "-m", MODEL, "--answers", str(answers), code=1)

    added = json.loads(
        cli(
            "risk", "register", "add", "--title", "Scores leak", "--category", "privacy", "--likelihood", "3",
            "--impact", "5", "--owner", "olivia", "-m", MODEL, "--control", "Access logs", "--residual-likelihood",
            "1", "--review-date", "2020-01-01", "--json",
        )
    )  # fmt: skip
    assert (added["inherent_rating"], added["residual_rating"], added["review_overdue"]) == ("high", "medium", True)
    assert (added["residual_score"], added["controls"]) == (5, ["Access logs"])
    assert "likelihood" in cli(
        "risk", "register", "add", "--title", "x", "--category", "other", "--likelihood", "9", "--impact", "1",
        "--owner", "olivia", code=1,
    )  # fmt: skip
    updated = json.loads(cli("risk", "register", "update", str(added["id"]), "--impact", "4", "--json"))
    assert (updated["inherent_score"], updated["residual_score"], updated["residual_rating"]) == (12, 4, "low")
    accepted = json.loads(
        cli("risk", "register", "accept", str(added["id"]), "--note", "Logs are reviewed weekly.", "--json")
    )
    assert accepted["status"] == "accepted"
    listed = " ".join(cli("risk", "register", "list", "--overdue").split())
    assert "Scores leak" in listed and "overdue" in listed
    heat = " ".join(cli("risk", "heat-map").split())
    assert "1 risks; 1 reviews overdue." in heat and MODEL in heat
