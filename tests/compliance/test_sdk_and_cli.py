"""Compliance and training through the SDK (against the real app, in process) and the CLI (against a real database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from charter.cli.main import app
from charter.client import Charter
from charter.compliance.schemas import DpiaForm
from charter.config import Settings
from charter.errors import InvalidInput, NotFound, PermissionDenied
from tests.compliance.conftest import MODEL, Gov, approved, framework, requirement
from tests.compliance.test_compliance_api import DPIA
from tests.conftest import PASSWORD

URL = "http://testserver"
runner = CliRunner()


def test_the_sdk(gov: Gov, tmp_path: Path) -> None:
    rosa = Charter.login(URL, "rosa", PASSWORD, http=gov.client)
    olivia = Charter.login(URL, "olivia", PASSWORD, http=gov.client)
    assert [f.id for f in rosa.compliance_frameworks()] == ["eu-ai-act", "gdpr", "nist-ai-rmf", "iso-42001"]
    assert len(rosa.get_framework("iso-42001").document.requirements) == 38
    path = tmp_path / "house.yaml"
    path.write_text(yaml.safe_dump(framework("house-rules", requirement("R1", maps_to=["eu-ai-act:Art. 9"]))))
    assert rosa.add_framework(path).revision == 1
    with pytest.raises(InvalidInput) as bad:
        rosa.add_framework(framework("other", requirement(applies="facts.model.teir == 'x'")))
    assert (bad.value.details["errors"][0]["line"], bad.value.details["errors"][0]["column"]) == (1, 13)
    with pytest.raises(PermissionDenied):
        olivia.add_framework(framework("mine"))
    approved(gov)
    checked = rosa.check_compliance(MODEL, ["eu-ai-act:Art. 9"])
    assert [(f.framework, [r.status for r in f.requirements]) for f in checked.frameworks] == [
        ("eu-ai-act", ["not_satisfied"])
    ]
    document = tmp_path / "risk-process.pdf"
    document.write_bytes(b"%PDF risk management procedure v3")
    made = rosa.attest("house-rules", "R1", statement="Risk process RM-3 approved by the board.", model=MODEL,
                       valid_until="2027-06-30T00:00:00Z", document=document)
    assert made.document is not None and made.document.name == "risk-process.pdf"
    assert rosa.attestation_document(made.id) == document.read_bytes()
    with pytest.raises(PermissionDenied):
        olivia.attest("house-rules", "R1", statement="I say so, really.", model=MODEL)
    # The house requirement maps to Art. 9: its attestation counts there too.
    art9 = rosa.compliance_status(MODEL, framework="eu-ai-act", requirements=["Art. 9"]).frameworks[0].requirements[0]
    assert art9.status == "attested" and art9.why[0].via == "house-rules:R1"
    assert [a.id for a in rosa.attestations(model=MODEL, current=True)] == [made.id]
    rosa.compliance_status(MODEL)
    assert {h.framework for h in rosa.compliance_history(MODEL)} == {
        "eu-ai-act", "gdpr", "nist-ai-rmf", "iso-42001", "house-rules"
    }
    evidence = olivia.record_dpia(MODEL, "1.0.0", DpiaForm.model_validate(DPIA))
    assert evidence.kind == "dpia" and evidence.passed is True
    with pytest.raises(NotFound):
        rosa.compliance_status("no-such-model")
    # Training.
    rosa.add_training_course("ai-literacy", title="AI literacy", kind="responsible_ai", required=True)
    done = rosa.record_training("olivia", "ai-literacy", note="LMS 42")
    assert done.current and [c.id for c in rosa.training_courses()] == ["ai-literacy"]
    assert [c.id for c in rosa.training_completions(person="olivia", current=True)] == [done.id]
    assert olivia.my_training().missing_required == []
    with pytest.raises(PermissionDenied):
        olivia.training_completions()


@pytest.fixture
def env(home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CHARTER_AUDIT_CHECKPOINT_INTERVAL", "0")
    return settings


def cli(*args: str, code: int = 0) -> str:
    """The command's output with its line wrapping undone (rich wraps at the terminal's width)."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def test_the_cli(gov: Gov, env: Settings, tmp_path: Path) -> None:
    approved(gov)
    listed = json.loads(cli("compliance", "frameworks", "--json"))
    assert [f["id"] for f in listed] == ["eu-ai-act", "gdpr", "nist-ai-rmf", "iso-42001"]
    shown = cli("compliance", "show", "gdpr")
    assert "Art. 35" in shown and "evidence dpia" in shown
    doc = tmp_path / "house.yaml"
    doc.write_text(yaml.safe_dump(framework("house-rules", requirement(applies="facts.model.risk_tier == 'hgh' &&"))))
    refused = cli("compliance", "add", str(doc), code=1)
    assert "requirements[0] (R1).applies: line 1, column 34" in refused
    doc.write_text(yaml.safe_dump(framework("house-rules")))
    assert "Added framework house-rules version 1: 1 requirements" in cli("compliance", "add", str(doc))
    evidence = tmp_path / "minutes.txt"
    evidence.write_text("Board minutes, item 4: risk process approved.")
    attested = cli(
        "compliance", "attest", "eu-ai-act", "Art. 9", "-m", MODEL, "--statement", "Risk process approved.",
        "--document", str(evidence),
    )
    assert "for credit-scoring · current until" in attested and "minutes.txt" in attested
    assert "Art. 999" in cli("compliance", "attest", "eu-ai-act", "Art. 999", "--statement", "Nothing at all.", code=1)
    table = cli("compliance", "status", MODEL, "-f", "eu-ai-act")
    assert "Art. 9 │ attested" in table and "Open gaps" in table
    result = json.loads(cli("compliance", "status", MODEL, "--json"))
    assert [f["framework"] for f in result["frameworks"]][-2:] == ["iso-42001", "house-rules"]
    assert "eu-ai-act 1.0.0" in cli("compliance", "history", MODEL)
    assert len(json.loads(cli("compliance", "attestations", "--json"))) == 1
    form = tmp_path / "dpia.yaml"
    form.write_text(yaml.safe_dump(DPIA))
    assert "Recorded dpia evidence" in cli("compliance", "dpia", MODEL, "1.0.0", str(form))
    form.write_text(yaml.safe_dump({"residual_risk": "low"}))
    assert "deployer_processes" in cli("compliance", "fria", MODEL, "1.0.0", str(form), code=1)
    # Training.
    added = cli("training", "course", "add", "ai-literacy", "--title", "AI literacy", "--kind", "responsible_ai",
                "--required")
    assert "365 days, required" in added
    assert "kind" in cli("training", "course", "add", "x", "--title", "X", "--kind", "juggling", code=1)
    assert "ai-literacy" in cli("training", "course", "list")
    assert "olivia completed ai-literacy" in cli("training", "record", "olivia", "ai-literacy", "--note", "LMS 42")
    assert "No user named 'nobody'" in cli("training", "record", "nobody", "ai-literacy", code=1)
    completions = json.loads(cli("training", "list", "--person", "olivia", "--json"))
    assert [c["course"] for c in completions] == ["ai-literacy"] and completions[0]["current"]
