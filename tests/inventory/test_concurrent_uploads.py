"""Uploads of the same content at the same time, on both databases: the stored blob stays readable by
every artifact that names it (the digest lock in ``charter.inventory.artifacts._lock_digest``)."""

from __future__ import annotations

import threading
from pathlib import Path

from charter.config import Settings
from charter.db.engine import Database
from charter.inventory import artifacts, service
from charter.inventory.schemas import ModelCreate, VersionCreate
from tests.conftest import OPERATOR, Factory
from tests.inventory.conftest import sklearn_model_bytes


def test_the_same_content_uploaded_at_once_to_many_versions_stays_readable(
    db: Database, settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    factory.team("credit-risk")
    writers = 6
    with db.session() as session:
        service.register_model(session, OPERATOR, ModelCreate(name="m", team="credit-risk"))
        for i in range(writers):
            service.create_version(session, OPERATOR, "m", VersionCreate(version=str(i + 1)))
    content = tmp_path / "model.pkl"
    content.write_bytes(sklearn_model_bytes() * 50)  # big enough that the writes overlap
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def upload(version: str) -> None:
        try:
            barrier.wait()
            with db.session() as session:
                artifacts.upload(
                    session, OPERATOR, artifacts.Protection(settings), "m", version, path="model.pkl", plaintext=content
                )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(str(i + 1),)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    protection = artifacts.Protection(settings)
    with db.session(write=False) as session:
        for i in range(writers):
            row = service.get_version_row(session, service.get_model_row(session, "m"), str(i + 1))
            report = artifacts.verify_stored(protection, row)
            assert report.ok, report.problems
