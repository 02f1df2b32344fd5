"""The app's background work and logs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from charter.audit import service as audit
from charter.db.engine import Database
from charter.identity.models import RevokedTokenRow
from charter.server.app import checkpoint_if_grown, housekeeping
from charter.server.logs import JsonFormatter
from tests.conftest import Factory


def test_scheduled_checkpoint_signs_only_when_the_chain_grew(app: FastAPI, factory: Factory, db: Database) -> None:
    state = app.state.charter
    assert checkpoint_if_grown(state) is False  # an empty chain: nothing to sign
    factory.team("t1")
    assert checkpoint_if_grown(state) is True
    assert checkpoint_if_grown(state) is False  # nothing new since
    factory.team("t2")
    assert checkpoint_if_grown(state) is True
    with db.session() as session:
        stored = audit.stored_checkpoints(session)
        report = audit.verify(session, public_key=state.audit_key.public_key())
    assert [c.size for c in stored] == [1, 2] and report.ok and report.checkpoints_checked == 2


def test_access_log_is_one_json_object_per_request(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="charter.access"):
        response = client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    (record,) = [r for r in caplog.records if r.name == "charter.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-12345678" == response.headers["x-request-id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert line["ts"].endswith("Z") and line["level"] == "info"


def test_housekeeping_forgets_expired_revocations_only(app: FastAPI, db: Database) -> None:
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(RevokedTokenRow(jti="old", expires_at=now - timedelta(minutes=1)))
        session.add(RevokedTokenRow(jti="live", expires_at=now + timedelta(minutes=10)))
    housekeeping(app.state.charter)
    with db.session(write=False) as session:
        assert session.scalars(select(RevokedTokenRow.jti)).all() == ["live"]
