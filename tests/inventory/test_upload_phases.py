"""An upload is checked in a reading transaction, scanned and hashed with none open, then stored and
signed in a writing one that checks the version again; the route scans without the write lock."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from charter.config import Settings
from charter.db.engine import Database
from charter.errors import Conflict
from charter.inventory import artifacts
from charter.inventory.models import ArtifactRow, BlobRow
from tests.conftest import OPERATOR, SqliteProbe, probe_sqlite
from tests.inventory.conftest import Team, malicious_pickle_bytes, sklearn_model_bytes


def scanned(db: Database, settings: Settings, version: str, path: str, file: Path) -> artifacts.ScannedUpload:
    """As the route does: the target found in a reading transaction, the file scanned after it."""
    protection = artifacts.Protection(settings)
    with db.session(write=False) as session:
        target = artifacts.upload_target(
            session, OPERATOR, protection, "credit-scoring", version, path=path, plaintext=file
        )
    return artifacts.scan_upload(protection, target, file)


def draft_with_file(team: Team, tmp_path: Path, content: bytes) -> Path:
    """The team's model with a draft version 1.0.0, and a file to upload to it."""
    team.model()
    team.version("credit-scoring")
    file = tmp_path / "model.pkl"
    file.write_bytes(content)
    return file


def upload(db: Database, settings: Settings, version: str, path: str, file: Path, done: Any) -> dict[str, Any]:
    with db.session() as session:
        read = artifacts.upload(
            session,
            OPERATOR,
            artifacts.Protection(settings),
            "credit-scoring",
            version,
            path=path,
            plaintext=file,
            scanned=done,
        )
    return read.model_dump()


def test_a_scanned_upload_is_stored_as_scanned(team: Team, db: Database, settings: Settings, tmp_path: Path) -> None:
    file = draft_with_file(team, tmp_path, malicious_pickle_bytes())
    done = scanned(db, settings, "1.0.0", "model.pkl", file)
    assert done.digest == hashlib.sha256(file.read_bytes()).hexdigest()
    read = upload(db, settings, "1.0.0", "model.pkl", file, done)
    assert (read["digest"], read["scan_verdict"]) == (done.digest, "unsafe")
    assert {f["file"] for f in read["scan_findings"]} == {"model.pkl"}


def test_a_scan_made_for_another_path_is_not_used(team: Team, db: Database, settings: Settings, tmp_path: Path) -> None:
    file = draft_with_file(team, tmp_path, malicious_pickle_bytes())
    done = scanned(db, settings, "1.0.0", "first.pkl", file)
    read = upload(db, settings, "1.0.0", "second.pkl", file, done)
    # Scanned again under its own name: the findings name the file as stored.
    assert read["path"] == "second.pkl"
    assert {f["file"] for f in read["scan_findings"]} == {"second.pkl"}


def test_a_version_frozen_after_the_scan_takes_no_file(
    team: Team, db: Database, settings: Settings, tmp_path: Path
) -> None:
    file = draft_with_file(team, tmp_path, sklearn_model_bytes())
    done = scanned(db, settings, "1.0.0", "model.pkl", file)
    # Meanwhile the version goes to review, where its files are frozen.
    with db.session() as session:
        session.execute(text("UPDATE model_versions SET stage = 'review'"))
    with pytest.raises(Conflict, match="frozen"):
        upload(db, settings, "1.0.0", "model.pkl", file, done)
    with db.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(ArtifactRow)) == 0
        assert session.scalar(select(func.count()).select_from(BlobRow)) == 0


def test_the_route_scans_without_the_write_lock_or_a_snapshot(
    team: Team, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite's write lock and WAL snapshots: PostgreSQL has neither")
    path = db.engine.url.database
    assert path is not None
    team.model()
    team.version("credit-scoring")
    probes: list[SqliteProbe] = []
    scan = artifacts.scan_file

    def scan_then_probe(*args: Any, **kwargs: Any) -> Any:
        report = scan(*args, **kwargs)
        probes.append(probe_sqlite(path))
        return report

    monkeypatch.setattr(artifacts, "scan_file", scan_then_probe)
    response = team.upload("credit-scoring", "1.0.0", "model.pkl", sklearn_model_bytes())
    assert response.status_code == 201, response.text
    assert response.json()["scan_verdict"] == "clean"
    # Scanned once, with no lock or snapshot held, and not again in the writing transaction.
    assert probes == [SqliteProbe(write_lock_free=True, wal_checkpointed=True)]
