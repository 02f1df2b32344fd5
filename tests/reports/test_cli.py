"""``charter report``: model and organisation reports written to a folder, listed, downloaded and verified."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli.main import app
from charter.config import Settings
from tests.reports.conftest import MODEL, Governed

runner = CliRunner()


@pytest.fixture
def env(governed: Governed, home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Governed:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CHARTER_AUDIT_CHECKPOINT_INTERVAL", "0")
    return governed


def cli(*args: str, code: int = 0) -> str:
    """The command's output with its line wrapping undone (rich wraps at the terminal's width)."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def test_the_cli(env: Governed, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    made = json.loads(
        cli("report", "model", MODEL, "--framework", "eu-ai-act", "--from", "2020-01-01", "--out", str(out), "--json")
    )
    assert [f["format"] for f in made["files"]] == ["json", "html", "pdf", "oscal"]
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 4 and all(name.startswith(f"report-{made['id']}-{MODEL}-") for name in written)
    document = json.loads(next(out.glob("*[0-9].json")).read_text())
    waived = next(g for g in document["models"][0]["gaps"] if g["kind"] == "waived")
    assert waived["waiver"] == env.waiver["id"] and waived["ref"] == "high-risk-fairness/disparate-impact"
    pdf = next(out.glob("*.pdf"))
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == next(
        f["sha256"] for f in made["files"] if f["format"] == "pdf"
    )
    assert f"OK: This is the pdf file of report {made['id']}" in cli("report", "verify", str(pdf))
    pdf.write_bytes(pdf.read_bytes() + b"\n")
    assert "NOT VERIFIED" in cli("report", "verify", str(pdf), code=1)
    # The organisation's report, shown as a table of hashes.
    org = cli("report", "org", "--format", "json", "--from", "2020-01-01")
    assert "Compliance report: charter, 1 models" in org and "document SHA-256" in org
    assert "kind" in cli("report", "list")
    listed = json.loads(cli("report", "list", "--json"))["items"]
    assert [(r["id"], r["kind"]) for r in listed] == [(made["id"] + 1, "organisation"), (made["id"], "model")]
    assert json.loads(cli("report", "list", "--kind", "model", "--json"))["items"][0]["id"] == made["id"]
    again = tmp_path / "again"
    assert "Wrote" in cli("report", "download", str(made["id"]), "--format", "html", "--out", str(again))
    (html,) = again.iterdir()
    assert html.read_bytes() == next(out.glob("*.html")).read_bytes()
    # Bad input: a clear message and a non-zero exit, never a traceback.
    assert "ends" in cli("report", "model", MODEL, "--from", "2026-02-01", "--to", "2026-01-01", code=1)
    assert "No model 'ghost'" in cli("report", "model", "ghost", code=1)
    assert "unknown format docx" in cli("report", "model", MODEL, "--format", "docx", code=2)
    assert "ISO 8601" in cli("report", "model", MODEL, "--from", "yesterday", code=1)
    assert "has no oscal file" in cli("report", "download", "2", "--format", "oscal", code=1)
