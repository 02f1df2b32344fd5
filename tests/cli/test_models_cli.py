"""`charter model`, `charter dataset` and `charter keys`, run in-process against a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from charter.cli.main import app as cli
from charter.config import Settings
from charter.server.app import create_app
from tests.inventory.conftest import malicious_pickle_bytes, sklearn_model_bytes

runner = CliRunner()


def run(*args: str, code: int = 0, stdout: bool = False) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.stdout if stdout else result.output


@pytest.fixture
def env(home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CHARTER_AUDIT_CHECKPOINT_INTERVAL", "0")
    run("init", "--admin-password", "the admin password")
    run("team", "create", "credit-risk")
    return Settings()


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(sklearn_model_bytes())
    return path


def test_register_list_show_promote_diff_and_card(env: Settings, model_file: Path, tmp_path: Path) -> None:
    run(
        "dataset",
        "register",
        "applications",
        "--team",
        "credit-risk",
        "--classification",
        "personal",
        "--legal-basis",
        "contract",
        "--retention-days",
        "365",
    )
    assert [d["name"] for d in json.loads(run("dataset", "list", "--json"))] == ["applications"]
    out = run(
        "model",
        "register",
        "credit-scoring",
        "--team",
        "credit-risk",
        "--domain",
        "credit",
        "--purpose",
        "Score applications",
        "--version",
        "1.0.0",
        "--artifact",
        str(model_file),
        "--dataset",
        "applications:training",
        "--metric",
        "auc=0.81",
    )
    assert "model.pkl: clean" in out and "encrypted and signed" in out
    listed = json.loads(run("model", "list", "--json"))
    assert [(m["name"], m["latest_stage"]) for m in listed] == [("credit-scoring", "draft")]
    run("model", "promote", "credit-scoring", "1.0.0", "review", "-m", "ready")
    show = " ".join(run("model", "show", "credit-scoring").split())
    assert "draft → review" in show and "applications (training, personal)" in show
    # A second version with another file: the diff names the metric and the file.
    readme = tmp_path / "README.md"
    readme.write_text("# notes\n")
    run("model", "register", "credit-scoring", "--team", "credit-risk", code=1)  # exists already
    from charter.db.engine import Database
    from charter.inventory import service
    from charter.inventory.schemas import VersionCreate
    from tests.conftest import OPERATOR

    db = Database(env.effective_database_url)
    with db.session() as session:
        service.create_version(
            session, OPERATOR, "credit-scoring", VersionCreate(version="1.1.0", metrics={"auc": 0.84})
        )
    db.dispose()
    run("model", "upload", "credit-scoring", "1.1.0", str(model_file), str(readme))
    diff = json.loads(run("model", "diff", "credit-scoring", "1.0.0", "1.1.0", "--json"))
    assert diff["metrics"] == [{"field": "auc", "old": 0.81, "new": 0.84}]
    assert [c["field"] for c in diff["artifacts"]] == ["README.md"]
    card = tmp_path / "card.md"
    output = run("model", "card", "credit-scoring", "1.0.0", "--out", str(card))
    assert card.read_text().startswith("---\n") and "Required sections still empty" in output
    bom = json.loads(run("model", "card", "credit-scoring", "1.0.0", "--format", "cyclonedx", stdout=True))
    assert bom["bomFormat"] == "CycloneDX"


def test_verify_catches_a_tampered_stored_file_and_a_tampered_download(
    env: Settings, model_file: Path, tmp_path: Path
) -> None:
    run("model", "register", "credit-scoring", "--team", "credit-risk", "--version", "1", "--artifact", str(model_file))
    assert "OK" in run("model", "verify", "credit-scoring", "1")
    # A downloaded copy: the folder plus model.sig, checked with --path.
    folder = tmp_path / "copy"
    folder.mkdir()
    with TestClient(create_app(env)) as client:
        token = client.post("/api/v1/auth/token", data={"username": "admin", "password": "the admin password"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        base = "/api/v1/models/credit-scoring/versions/1"
        (folder / "model.pkl").write_bytes(client.get(f"{base}/artifacts/model.pkl", headers=headers).content)
        (folder / "model.sig").write_bytes(client.get(f"{base}/signature", headers=headers).content)
        client.app.state.charter.db.dispose()  # type: ignore[attr-defined]
    assert "OK" in run("model", "verify", "--path", str(folder))
    (folder / "model.pkl").rename(folder / "renamed.pkl")
    failed = run("model", "verify", "--path", str(folder), "--json", code=1)
    assert "renamed" in json.loads(failed)["problems"][0]
    # The stored copy: one flipped byte in the ciphertext is found, and the file is named.
    blob = next(p for p in (env.home / "artifacts").rglob("*") if p.is_file())
    data = bytearray(blob.read_bytes())
    data[40] ^= 0x01
    blob.write_bytes(bytes(data))
    failed = run("model", "verify", "credit-scoring", "1", code=1)
    assert "FAILED" in failed and "model.pkl" in failed


def test_a_flagged_upload_and_four_eyes_apply_to_the_operator_too(env: Settings, tmp_path: Path) -> None:
    evil = tmp_path / "model.pkl"
    evil.write_bytes(malicious_pickle_bytes())
    out = run("model", "register", "churn", "--team", "credit-risk", "--version", "1", "--artifact", str(evil))
    assert "unsafe" in out
    run("model", "promote", "churn", "1", "review")
    # The operator wrote the version, so the operator cannot approve it either; the refusal is kept.
    refused = run("model", "promote", "churn", "1", "approved", code=1)
    assert "Four eyes" in " ".join(refused.split())
    events = run("audit", "list", "--action", "version.promote", "--json", stdout=True)
    assert '"denied"' in events


def test_keys_rotate_rewraps_without_touching_artifacts_and_retire_needs_no_users(
    env: Settings, model_file: Path
) -> None:
    run("model", "register", "credit-scoring", "--team", "credit-risk", "--version", "1", "--artifact", str(model_file))
    blob = next(p for p in (env.home / "artifacts").rglob("*") if p.is_file())
    before = blob.read_bytes()
    listed = run("keys", "list")
    out = run("keys", "rotate")
    assert "1 data key(s) re-wrapped" in out
    assert blob.read_bytes() == before  # not re-encrypted
    assert "OK" in run("model", "verify", "credit-scoring", "1")  # still readable, under the new key
    from charter.security.masterkeys import MasterKeyRing

    ring = MasterKeyRing.load(env.keys_dir)
    old = [k for k in ring.key_ids if k != ring.active_key_id]
    assert len(old) == 1 and old[0] in listed
    refused = run("keys", "retire", ring.active_key_id, code=1)
    assert "active" in refused.lower() or "still wraps" in refused
    run("keys", "retire", old[0])
    assert "OK" in run("model", "verify", "credit-scoring", "1")
