"""Long chains are verified in parallel ranges: the report must equal a single walk's, fault for fault.

The parallel path forks, so it only runs in a single-threaded process (the
CLI); these tests run `charter audit verify` in a subprocess with the
threshold lowered, and compare with the single walk done in-process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from charter.audit import service as audit
from charter.config import Settings
from charter.db.engine import Database
from charter.security.audit_chain import Checkpoint
from charter.security.keys import load_audit_key
from tests.audit.attacker import row, sql, swap
from tests.conftest import OPERATOR, make_settings

N = 60  # events; with 2 workers the ranges meet at 30
SCRIPT = """
import sys
import charter.audit.service as s
s.VERIFY_PARALLEL_MIN = 10
walk = s._walk_parallel
def traced(*args, **kwargs):
    result = walk(*args, **kwargs)
    sys.stderr.write("PARALLEL=%s\\n" % (result is not None))
    return result
s._walk_parallel = traced
from charter.cli.main import main
sys.argv = ["charter", "audit", "verify", "--json"] + sys.argv[1:]
main()
"""


def modify(db: Database, seq: int) -> None:
    _, body, _ = row(db, seq)
    sql(db, "UPDATE audit_events SET body = :b WHERE seq = :s", b=body.replace('"x"', '"y"'), s=seq)


TAMPERINGS: dict[str, Callable[[Database], None]] = {
    "intact": lambda db: None,
    "modified-in-first-range": lambda db: modify(db, 10),
    "modified-at-the-boundary": lambda db: modify(db, 30),
    "modified-after-the-boundary": lambda db: modify(db, 31),
    "modified-in-second-range": lambda db: modify(db, 50),
    "deleted-at-the-boundary": lambda db: sql(db, "DELETE FROM audit_events WHERE seq = 30"),
    "deleted-after-the-boundary": lambda db: sql(db, "DELETE FROM audit_events WHERE seq = 31"),
    "swapped-across-the-boundary": lambda db: swap(db, 30, 31),
    "two-faults-first-wins": lambda db: (modify(db, 45), modify(db, 12)),
    "truncated": lambda db: sql(db, "DELETE FROM audit_events WHERE seq > 40"),
}


@pytest.fixture
def sqlite_settings(home: Path, tmp_path: Path, sqlite_template: Path) -> Iterator[Settings]:
    """A SQLite file (parallel verification reads a file; PostgreSQL always walks once)."""
    path = tmp_path / "chain.db"
    shutil.copyfile(sqlite_template, path)
    settings = make_settings(home, f"sqlite:///{path}")
    db = Database(settings.effective_database_url)
    with db.session() as session:
        for i in range(N):
            audit.record(session, OPERATOR, "x", resource_type="t", resource_id=i)
    db.dispose()
    yield settings


@pytest.fixture
def sqlite_db(sqlite_settings: Settings) -> Iterator[Database]:
    db = Database(sqlite_settings.effective_database_url)
    yield db
    db.dispose()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
    reason="parallel verification runs on Linux with two cores or more",
)
@pytest.mark.parametrize("tamper", list(TAMPERINGS))
def test_parallel_report_equals_the_single_walk(
    sqlite_settings: Settings, sqlite_db: Database, tmp_path: Path, tamper: str
) -> None:
    db = sqlite_db
    signing_key = load_audit_key(sqlite_settings.audit_key_file)
    env = {
        **os.environ,
        "CHARTER_HOME": str(sqlite_settings.home),
        "CHARTER_DATABASE_URL": sqlite_settings.effective_database_url,
    }
    checkpoint = tmp_path / "cp.json"
    with db.session() as session:
        made = audit.checkpoint(session, OPERATOR, key=signing_key, origin="charter/audit")
    checkpoint.write_text(Checkpoint(**made.model_dump()).to_json())
    TAMPERINGS[tamper](db)
    with db.session() as session:  # the single walk, in this (threaded) process
        single = audit.verify(
            session,
            public_key=signing_key.public_key(),
            trusted=[Checkpoint.from_json(checkpoint.read_text())],
        )
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--checkpoint", str(checkpoint)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "PARALLEL=True" in run.stderr, run.stderr
    parallel = json.loads(run.stdout)
    assert run.returncode == (0 if parallel["ok"] else 1)
    for field in ("ok", "size", "head_hash", "fault"):
        assert parallel[field] == single.model_dump()[field], field
    assert (parallel["fault"] is None) is (tamper == "intact")
