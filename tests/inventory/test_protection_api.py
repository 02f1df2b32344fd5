"""Model protection through the API: scanning gates, encryption at rest, signatures, tampering, overrides."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from sqlalchemy import select, update

from charter.config import Settings
from charter.db.engine import Database
from charter.inventory.models import ArtifactRow, BlobRow
from tests.inventory.conftest import Team, malicious_pickle_bytes, sklearn_model_bytes


def _blob_file(settings: Settings, digest: str) -> Path:
    matches = [p for p in (settings.home / "artifacts").rglob(digest) if p.is_file()]
    assert len(matches) == 1, matches
    return matches[0]


def test_upload_is_scanned_encrypted_and_signed(team: Team, settings: Settings, db: Database) -> None:
    team.model()
    team.version("credit-scoring")
    content = sklearn_model_bytes()
    response = team.upload("credit-scoring", "1.0.0", "model.pkl", content)
    assert response.status_code == 201, response.text
    artifact = response.json()
    assert artifact["scan_verdict"] == "clean", artifact["scan_findings"]
    assert artifact["digest"] == hashlib.sha256(content).hexdigest()
    assert artifact["encrypted"] is True and artifact["key_id"]
    # At rest the file is ciphertext: the plaintext appears nowhere in it.
    stored = _blob_file(settings, artifact["digest"]).read_bytes()
    assert content[:64] not in stored and len(stored) > len(content)
    # The wrapped data key is in the database; no master key is.
    with db.session(write=False) as session:
        blob = session.get(BlobRow, artifact["digest"])
        assert blob is not None and blob.wrapped_key is not None and len(blob.wrapped_key) < 100
    version = team.client.get("/api/v1/models/credit-scoring/versions/1.0.0", headers=team.owner).json()
    assert version["signed"] is True
    # Download gives the plaintext back, with its digest.
    download = team.client.get(
        "/api/v1/models/credit-scoring/versions/1.0.0/artifacts/model.pkl", headers=team.reviewer
    )
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["x-charter-sha256"] == artifact["digest"]
    verified = team.client.post("/api/v1/models/credit-scoring/versions/1.0.0/verify", headers=team.reviewer).json()
    assert verified["ok"] is True and verified["problems"] == []


def test_a_malicious_pickle_is_flagged_and_never_promotable_without_an_admin_override(team: Team) -> None:
    team.model()
    team.version("credit-scoring")
    response = team.upload("credit-scoring", "1.0.0", "model.pkl", malicious_pickle_bytes())
    assert response.status_code == 201
    artifact = response.json()
    assert artifact["scan_verdict"] == "unsafe"
    assert any(f["severity"] == "critical" for f in artifact["scan_findings"])
    # It may go to review (so that someone looks at it), but not further.
    assert team.promote("credit-scoring", "1.0.0", "review", team.owner).status_code == 200
    refused = team.promote("credit-scoring", "1.0.0", "approved", team.reviewer)
    assert refused.status_code == 409
    assert "model.pkl scanned unsafe" in refused.json()["error"]["message"]
    # Only an administrator may override, and must say why.
    url = "/api/v1/models/credit-scoring/versions/1.0.0/artifacts/model.pkl/override"
    reason = {"reason": "Quarantined research build; reviewed by the security team, ticket SEC-42."}
    assert team.client.post(url, json=reason, headers=team.owner).status_code == 403
    assert team.client.post(url, json={"reason": "ok"}, headers=team.admin).status_code == 422
    overridden = team.client.post(url, json=reason, headers=team.admin)
    assert overridden.status_code == 200
    assert overridden.json()["override_by"] == "user:ada"
    assert team.promote("credit-scoring", "1.0.0", "approved", team.reviewer).status_code == 200
    history = team.client.get("/api/v1/models/credit-scoring/history", headers=team.owner).json()["items"]
    actions = [(e["action"], e["outcome"]) for e in history]
    assert ("artifact.override", "allowed") in actions and ("version.promote", "failed") in actions


def test_archive_path_traversal_is_refused_and_leaves_nothing(team: Team, db: Database) -> None:
    team.model()
    team.version("credit-scoring")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/cron.d/evil", b"* * * * * root rm -rf /\n")
    refused = team.upload("credit-scoring", "1.0.0", "weights.zip", buffer.getvalue())
    assert refused.status_code == 422
    assert "refused" in refused.json()["error"]["message"]
    with db.session(write=False) as session:
        assert session.scalars(select(ArtifactRow)).all() == []
        assert session.scalars(select(BlobRow)).all() == []


def test_bad_artifact_paths_are_refused(team: Team) -> None:
    team.model()
    team.version("credit-scoring")
    for name in ("../escape.pkl", "/abs.pkl", "model.sig", ".git/config", "a/../../b"):
        response = team.client.post(
            "/api/v1/models/credit-scoring/versions/1.0.0/artifacts",
            files={"file": ("x.bin", b"data")},
            data={"path": name},
            headers=team.owner,
        )
        assert response.status_code == 422, name


def test_a_tampered_stored_file_is_named_by_verify_and_blocks_promotion(team: Team, settings: Settings) -> None:
    team.model()
    team.version("credit-scoring")
    digest = team.upload("credit-scoring", "1.0.0", "model.pkl", sklearn_model_bytes()).json()["digest"]
    team.upload("credit-scoring", "1.0.0", "README.md", b"# Credit scoring\n")
    path = _blob_file(settings, digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = team.client.post("/api/v1/models/credit-scoring/versions/1.0.0/verify", headers=team.owner).json()
    assert report["ok"] is False
    assert [f["path"] for f in report["files"] if not f["ok"]] == ["model.pkl"]
    assert any("model.pkl" in p for p in report["problems"])
    team.promote("credit-scoring", "1.0.0", "review", team.owner)
    refused = team.promote("credit-scoring", "1.0.0", "approved", team.reviewer)
    assert refused.status_code == 409
    assert "model.pkl" in refused.json()["error"]["message"]


def test_a_digest_changed_in_the_database_makes_downloads_refuse(team: Team, db: Database) -> None:
    team.model()
    team.version("credit-scoring")
    team.upload("credit-scoring", "1.0.0", "model.pkl", sklearn_model_bytes())
    other = team.upload("credit-scoring", "1.0.0", "other.pkl", sklearn_model_bytes() + b"\n").json()["digest"]
    with db.session() as session:  # an attacker with database access points model.pkl at another blob
        session.execute(update(ArtifactRow).where(ArtifactRow.path == "model.pkl").values(digest=other))
    refused = team.client.get("/api/v1/models/credit-scoring/versions/1.0.0/artifacts/model.pkl", headers=team.owner)
    assert refused.status_code == 409
    assert "model.pkl" in refused.json()["error"]["message"]


def test_signature_and_public_key_verify_a_downloaded_copy(team: Team, tmp_path: Path) -> None:
    from charter.compute.crypto import signing

    team.model()
    team.version("credit-scoring")
    content = sklearn_model_bytes()
    team.upload("credit-scoring", "1.0.0", "model.pkl", content)
    bundle = team.client.get("/api/v1/models/credit-scoring/versions/1.0.0/signature", headers=team.owner).content
    key = team.client.get("/api/v1/keys/signing", headers=team.owner).text
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(content)
    assert signing.verify_folder(folder, bundle, key).ok
    (folder / "model.pkl").write_bytes(content + b"x")
    result = signing.verify_folder(folder, bundle, key)
    assert not result.ok and [p.path for p in result.problems] == ["model.pkl"]


def test_upload_limits_refuse_big_files_and_zip_bombs_with_clear_errors(home: Path, db_url: str) -> None:
    from fastapi.testclient import TestClient

    from charter.db.engine import Database
    from charter.server.app import create_app
    from tests.conftest import PASSWORD, Factory, make_settings

    settings = make_settings(home, db_url, max_upload_bytes=200_000, max_decompression_ratio=20)
    db = Database(settings.effective_database_url)
    try:
        Factory(db, settings).user("olivia", "model_owner@credit-risk")
        with TestClient(create_app(settings, db=db)) as client:
            token = client.post("/api/v1/auth/token", data={"username": "olivia", "password": PASSWORD})
            owner = {"Authorization": f"Bearer {token.json()['access_token']}"}
            client.post("/api/v1/models", json={"name": "m", "team": "credit-risk"}, headers=owner)
            client.post("/api/v1/models/m/versions", json={"version": "1"}, headers=owner)
            url = "/api/v1/models/m/versions/1/artifacts"
            big = client.post(url, files={"file": ("big.bin", b"\0" * 200_001)}, headers=owner)
            assert big.status_code == 422 and "CHARTER_MAX_UPLOAD_BYTES" in big.json()["error"]["message"]
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("weights.bin", b"\0" * (3 << 20))  # 3 MiB that deflate to about 3 KiB
            bomb = client.post(url, files={"file": ("weights.zip", buffer.getvalue())}, headers=owner)
            assert bomb.status_code == 422, bomb.text
            assert "refused" in bomb.json()["error"]["message"]
            assert client.get("/api/v1/models/m/versions/1", headers=owner).json()["artifacts"] == []
    finally:
        db.dispose()
