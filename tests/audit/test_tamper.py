"""Tampering with a real database is detected by `charter audit verify` and `GET /api/v1/audit/verify`.

Each test writes real events through the services, then edits the database
behind Charter's back with plain SQL, as an attacker with database access
would, and checks that verification fails naming the first bad seq and the
kind of fault. The SQL is portable, so the same attacks run on the SQLite
file and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from charter.audit import service as audit
from charter.cli.main import app as cli
from charter.config import Settings
from charter.db.engine import Database
from charter.security.audit_chain import canonical_json, chain_hash
from tests.audit.attacker import row, sql, swap, write_row
from tests.conftest import OPERATOR, Factory

runner = CliRunner()
N_EVENTS = 12


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHARTER_HOME", str(settings.home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", settings.effective_database_url)
    return settings


@pytest.fixture
def chain(db: Database, factory: Factory, env: Settings) -> int:
    """A chain of exactly ``N_EVENTS`` events made by real services."""
    factory.team("credit-risk")  # 1 event
    factory.user("alice", "model_owner@credit-risk")  # 2 events
    with db.session() as session:
        for i in range(N_EVENTS - 3):
            audit.record(session, OPERATOR, "test.event", resource_type="thing", resource_id=i, details={"i": i})
    return N_EVENTS


def verify(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["audit", "verify", *args])
    return result.exit_code, result.output


def fault_of(db: Database, checkpoints: list[Path] | None = None) -> tuple[int, str] | None:
    """The fault `charter audit verify --json` reports, cross-checked with the exit code."""
    args = ["--json"]
    for path in checkpoints or []:
        args += ["--checkpoint", str(path)]
    code, output = verify(*args)
    report = json.loads(output[output.index("{") :])
    assert (code == 0) is report["ok"], output
    return None if report["ok"] else (report["fault"]["seq"], report["fault"]["kind"])


def save_checkpoint(tmp_path: Path, name: str = "cp.json") -> Path:
    path = tmp_path / name
    result = runner.invoke(cli, ["audit", "checkpoint", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_intact_chain_verifies(db: Database, chain: int) -> None:
    code, output = verify()
    assert code == 0 and f"{chain} events intact" in output


def test_changed_field(db: Database, chain: int) -> None:
    _, body, _ = row(db, 5)
    assert '"actor":"system:tests"' in body
    sql(
        db,
        "UPDATE audit_events SET body = :b WHERE seq = 5",
        b=body.replace('"actor":"system:tests"', '"actor":"user:mallory"'),
    )
    assert fault_of(db) == (5, "modified")
    code, output = verify()
    assert code == 1 and "seq 5" in output and "modified" in output


def test_changed_stored_hash(db: Database, chain: int) -> None:
    sql(db, "UPDATE audit_events SET hash = :h WHERE seq = 8", h=b"\x00" * 32)
    assert fault_of(db) == (8, "modified")


def test_deleted_event(db: Database, chain: int) -> None:
    sql(db, "DELETE FROM audit_events WHERE seq = 6")
    assert fault_of(db) == (6, "missing")


def test_deleted_event_with_renumbering(db: Database, chain: int) -> None:
    sql(db, "DELETE FROM audit_events WHERE seq = 6")
    sql(db, "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 6")
    sql(db, "UPDATE audit_events SET seq = seq - 1001 WHERE seq > 1000")
    assert fault_of(db) == (6, "broken_link")


def test_inserted_event_with_a_correct_hash(db: Database, chain: int) -> None:
    # The attacker shifts events 6.. up and inserts a well-formed, correctly hashed event at 6.
    prev_of_6, _, _ = row(db, 6)
    sql(db, "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 6")
    sql(db, "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000")
    body = canonical_json({"seq": 6, "actor": "user:mallory", "action": "role.grant"})
    sql(
        db,
        "INSERT INTO audit_events (seq, prev_hash, body, hash) VALUES (6, :p, :b, :h)",
        p=prev_of_6,
        b=body.decode(),
        h=chain_hash(prev_of_6, body),
    )
    assert fault_of(db) == (7, "broken_link")


def test_swapped_events(db: Database, chain: int) -> None:
    swap(db, 4, 5)
    assert fault_of(db) == (4, "broken_link")


def test_truncated_tail_is_detected_against_a_saved_checkpoint(db: Database, chain: int, tmp_path: Path) -> None:
    saved = save_checkpoint(tmp_path)  # covers `chain` events; the checkpoint itself adds one more
    sql(db, "DELETE FROM audit_events WHERE seq > :n", n=chain - 3)
    sql(db, "DELETE FROM audit_checkpoints")  # the attacker removes the database's own copy too
    assert fault_of(db, [saved]) == (chain - 2, "truncated")  # against the saved checkpoint: caught
    assert fault_of(db) is None  # without it, a truncated chain looks intact (and verifying appends an event)


def test_rolled_back_checkpoint_table(db: Database, chain: int, tmp_path: Path) -> None:
    first = save_checkpoint(tmp_path, "first.json")
    with db.session() as session:
        audit.record(session, OPERATOR, "test.later", resource_type="thing")
    second = save_checkpoint(tmp_path, "second.json")
    assert fault_of(db, [first, second]) is None
    sql(db, "DELETE FROM audit_checkpoints WHERE size = :n", n=json.loads(second.read_text())["size"])
    assert fault_of(db, [second]) == (json.loads(second.read_text())["size"], "checkpoint_rolled_back")


def _rewrite_history_from(db: Database, start: int) -> None:
    """The strongest attacker: change event ``start`` and recompute every later hash."""
    prev, _, _ = row(db, start)
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, body FROM audit_events WHERE seq >= :s ORDER BY seq"), {"s": start}).all()
    for seq, body in rows:
        if seq == start:
            body = body.replace('"actor":"system:tests"', '"actor":"user:mallory"')
        digest = chain_hash(prev, body.encode())
        write_row(db, seq, prev, body, digest)
        prev = digest


def test_rewritten_history_is_caught_by_checkpoints(db: Database, chain: int, tmp_path: Path) -> None:
    saved = save_checkpoint(tmp_path)
    _rewrite_history_from(db, 3)
    size = json.loads(saved.read_text())["size"]
    assert fault_of(db) == (size, "checkpoint_mismatch")  # the stored checkpoint catches it
    sql(db, "DELETE FROM audit_checkpoints")
    assert fault_of(db) is None  # a hash chain alone cannot: that is what checkpoints are for
    assert fault_of(db, [saved]) == (size, "checkpoint_mismatch")


def test_forged_checkpoint_file(db: Database, chain: int, tmp_path: Path) -> None:
    saved = save_checkpoint(tmp_path)
    data = json.loads(saved.read_text())
    data["size"] = 2
    saved.write_text(json.dumps(data))
    assert fault_of(db, [saved]) == (2, "bad_signature")


def test_unreadable_checkpoint_file_is_a_usage_error(db: Database, chain: int, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    code, output = verify("--checkpoint", str(bad))
    assert code == 2 and "cannot read the checkpoint" in output


def test_verify_through_the_api(
    db: Database, chain: int, client: TestClient, login: Callable[[str], dict[str, str]], factory: Factory
) -> None:
    factory.user("auditor-a", "auditor")
    headers = login("auditor-a")
    assert client.get("/api/v1/audit/verify", headers=headers).json()["ok"] is True
    _, body, _ = row(db, 2)
    sql(db, "UPDATE audit_events SET body = :b WHERE seq = 2", b=body.replace("alice", "mallory"))
    report = client.get("/api/v1/audit/verify", headers=headers).json()
    assert report["ok"] is False and report["fault"]["seq"] == 2 and report["fault"]["kind"] == "modified"
