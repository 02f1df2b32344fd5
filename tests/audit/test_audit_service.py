"""The audit service: an event lands with its change or not at all; secrets are redacted; search works."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from charter.audit import service as audit
from charter.audit.models import AuditEventRow
from charter.audit.schemas import AuditFilter
from charter.config import Settings
from charter.db.engine import Database
from charter.errors import Conflict
from charter.identity import service
from charter.identity.models import PrincipalRow
from charter.identity.schemas import UserCreate
from tests.conftest import OPERATOR, Factory


def count(db: Database, model: type) -> int:
    with db.session(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_change_and_its_event_land_together(db: Database, settings: Settings) -> None:
    with db.session() as session:
        service.create_user(
            session, OPERATOR, UserCreate(username="a", password=SecretStr("x" * 12)), settings=settings
        )
    assert (count(db, PrincipalRow), count(db, AuditEventRow)) == (1, 1)


def test_a_failed_change_leaves_neither_row_nor_event(db: Database, settings: Settings) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        service.create_user(
            session, OPERATOR, UserCreate(username="a", password=SecretStr("x" * 12)), settings=settings
        )
        raise RuntimeError("the request failed after the service ran")
    assert (count(db, PrincipalRow), count(db, AuditEventRow)) == (0, 0)


def test_a_refused_change_records_nothing(db: Database, settings: Settings, factory: Factory) -> None:
    factory.user("a")
    before = count(db, AuditEventRow)
    with pytest.raises(Conflict), db.session() as session:
        service.create_user(
            session, OPERATOR, UserCreate(username="a", password=SecretStr("x" * 12)), settings=settings
        )
    assert count(db, AuditEventRow) == before


def test_seq_continues_without_gaps_after_a_rollback(db: Database) -> None:
    with db.session() as session:
        audit.record(session, OPERATOR, "one", resource_type="t")
    with pytest.raises(RuntimeError), db.session() as session:
        audit.record(session, OPERATOR, "lost", resource_type="t")
        raise RuntimeError
    with db.session() as session:
        audit.record(session, OPERATOR, "two", resource_type="t")
    with db.session(write=False) as session:
        rows = session.execute(select(AuditEventRow.seq, AuditEventRow.body).order_by(AuditEventRow.seq)).all()
    assert [seq for seq, _ in rows] == [1, 2] and '"action":"two"' in rows[1][1]


def test_secrets_in_details_are_redacted(db: Database) -> None:
    with db.session() as session:
        audit.record(
            session,
            OPERATOR,
            "x",
            resource_type="t",
            details={
                "password": "hunter2",
                "nested": {"api_key": "chk_abc", "fine": 1},
                "list": [{"Token": "t"}],
                "X-Api-Key": "k",
                "new_password": "p",
                "privateKey": "pk",
                "count": 3,
            },
        )
    with db.session() as session:
        (event,) = audit.list_events(session, OPERATOR, AuditFilter(action="x")).items
    assert event.details == {
        "password": "[redacted]",
        "nested": {"api_key": "[redacted]", "fine": 1},
        "list": [{"Token": "[redacted]"}],
        "X-Api-Key": "[redacted]",
        "new_password": "[redacted]",
        "privateKey": "[redacted]",
        "count": 3,
    }


def test_recording_requires_a_writing_session_on_sqlite(tmp_path: Path, sqlite_template: Path) -> None:
    # The guard concerns SQLite's deferred transactions, which could not become writers safely.
    shutil.copyfile(sqlite_template, tmp_path / "c.db")
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    with pytest.raises(RuntimeError, match="writing session"), db.session(write=False) as session:
        audit.record(session, OPERATOR, "x", resource_type="t")
    db.dispose()


def test_filters_time_range_and_pages(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]], db: Database
) -> None:
    factory.user("aud", "auditor")
    with db.session() as session:
        for i in range(25):
            audit.record(
                session, "user:bob" if i % 2 else "user:carol", "thing.touch", resource_type="thing", resource_id=i % 5
            )
    headers = login("aud")
    bob = client.get("/api/v1/audit/events", headers=headers, params={"actor": "user:bob", "limit": 500}).json()
    assert len(bob["items"]) == 12 and {e["actor"] for e in bob["items"]} == {"user:bob"}
    rid = client.get("/api/v1/audit/events", headers=headers, params={"resource_id": "3"}).json()["items"]
    assert len(rid) == 5
    seen, cursor = [], None
    while True:
        params = {"action": "thing.touch", "limit": 10, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/audit/events", headers=headers, params=params).json()
        seen += [e["seq"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == 25 and seen == sorted(seen, reverse=True)
    first_ts = page["items"][-1]["ts"]
    later = client.get(
        "/api/v1/audit/events", headers=headers, params={"action": "thing.touch", "since": first_ts, "limit": 500}
    ).json()["items"]
    assert 1 <= len(later) <= 25
    assert (
        client.get("/api/v1/audit/events", headers=headers, params={"until": "2000-01-01T00:00:00Z"}).json()["items"]
        == []
    )
    bad = client.get("/api/v1/audit/events", headers=headers, params={"since": "yesterday"})
    assert bad.status_code == 422 and "ISO 8601" in bad.json()["error"]["message"]


def test_reading_the_trail_is_itself_audited(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]
) -> None:
    factory.user("aud", "auditor")
    headers = login("aud")
    client.get("/api/v1/audit/events", headers=headers)
    reads = client.get("/api/v1/audit/events?action=audit.read", headers=headers).json()["items"]
    assert reads and reads[-1]["actor"] == "user:aud"


def test_denials_are_audited(client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]) -> None:
    factory.user("vic", "viewer")
    factory.user("aud", "auditor")
    assert client.get("/api/v1/audit/events", headers=login("vic")).status_code == 403
    denials = client.get("/api/v1/audit/events?action=access.denied", headers=login("aud")).json()["items"]
    assert denials[0]["actor"] == "user:vic" and denials[0]["outcome"] == "denied"
    assert denials[0]["resource_id"] == "GET /api/v1/audit/events"
    assert denials[0]["details"]["code"] == "permission_denied"


def test_checkpoint_through_the_api(
    client: TestClient, factory: Factory, login: Callable[[str], dict[str, str]]
) -> None:
    factory.user("admin", "admin")
    factory.user("aud", "auditor")
    assert client.get("/api/v1/audit/checkpoints/latest", headers=login("aud")).status_code == 404
    assert client.post("/api/v1/audit/checkpoints", headers=login("aud")).status_code == 403
    made = client.post("/api/v1/audit/checkpoints", headers=login("admin")).json()
    latest = client.get("/api/v1/audit/checkpoints/latest", headers=login("aud")).json()
    assert latest == made
    report = client.post("/api/v1/audit/verify", headers=login("aud"), json={"checkpoints": [made]}).json()
    assert report["ok"] and report["checkpoints_checked"] == 2
