"""Audit trail: append rate through Charter's service layer, and verification of a 1,000,000-event chain.

Run from the repository root:

    python benchmarks/bench_audit.py                      # SQLite (file, WAL)
    python benchmarks/bench_audit.py --postgres postgresql://postgres@127.0.0.1/charter_bench

What is measured, each side by side with a bare baseline in the same run:

* single-event transactions/s: one ``Database.session()`` transaction per
  event, ``audit.record`` inside it (Charter), against bare ``sqlite3`` (or
  ``psycopg``) + ``hashlib`` doing the same: ``BEGIN IMMEDIATE`` (or the
  advisory lock), read the head, hash, insert, commit;
* batched events/s: ``audit.record_many`` with 1,000 events per transaction,
  against ``executemany`` of the same rows;
* verification of 1,000,000 events: ``audit.verify`` (Charter) against a bare
  ``sqlite3`` + ``hashlib`` loop over the stored bytes, each in its own child
  process so that its peak RSS is its own.

Both sides write into tables made by the same DDL (Charter's migrations, with
the expression indexes over ``body``; ``--no-index-baseline`` adds a bare side
on the table alone), and both serialise with ``orjson``, so that the
comparison isolates Charter's own layers (SQLAlchemy session and statements,
service code). The clock is frozen to one instant on both sides
(``charter.audit.service.timestamp`` returns a constant) so that the chains
are byte for byte the same: the script asserts that every side ends with the
same head (size, hash), and that every verifier reports the same head.

Before verifying, it checks that the parallel verification of a long chain
reports exactly what a single walk reports, on tampered copies of a
30,000-event chain (``--no-fault-check`` skips this).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
from _common import RESULTS, command_line, machine, median, peak_rss_mb, table, verdict

GENESIS = bytes(32)
FIXED_TS = "2026-01-01T00:00:00.000000Z"
ACTOR = "user:bench"
PG_LOCK_KEY = 0x63686172746572
TARGET_SINGLE = 5_000  # tx/s through Charter on SQLite
TARGET_BATCHED = 100_000  # events/s through Charter on SQLite
TARGET_VERIFY_S = 2.0
TARGET_VERIFY_MB = 200.0
HEAD_SQL = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
INSERT_SQL = "INSERT INTO audit_events (seq, prev_hash, body, hash) VALUES (?, ?, ?, ?)"


def details(i: int) -> dict[str, Any]:
    return {"field": "stage", "from": "draft", "to": "review", "version": i}


def body_of(seq: int, i: int) -> bytes:
    """The event exactly as ``audit.record_many`` builds it (no request context, frozen clock)."""
    return orjson.dumps(
        {
            "seq": seq,
            "ts": FIXED_TS,
            "actor": ACTOR,
            "action": "model.update",
            "resource_type": "model",
            "resource_id": str(i),
            "outcome": "allowed",
            "details": details(i),
            "request_id": None,
            "source_ip": None,
        },
        option=orjson.OPT_SORT_KEYS,
    )


# -- the two sides ----------------------------------------------------------------------------------


class Side:
    name: str

    def single(self, start: int, n: int) -> None:
        raise NotImplementedError

    def batched(self, start: int, n: int, batch: int) -> None:
        raise NotImplementedError

    def head(self) -> tuple[int, str]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class CharterSide(Side):
    """Charter's own service layer: ``Database.session()`` + ``audit.record`` / ``record_many``."""

    def __init__(self, url: str, *, label: str) -> None:
        from charter.audit import service as audit
        from charter.db import migrate
        from charter.db.engine import Database

        self.name = label
        self.audit = audit
        self.db = Database(url)
        migrate.upgrade(self.db)

    def single(self, start: int, n: int) -> None:
        record, session = self.audit.record, self.db.session
        for i in range(start, start + n):
            with session() as s:
                record(s, ACTOR, "model.update", resource_type="model", resource_id=i, details=details(i))

    def batched(self, start: int, n: int, batch: int) -> None:
        EventIn, record_many, session = self.audit.EventIn, self.audit.record_many, self.db.session
        for first in range(start, start + n, batch):
            events = [
                EventIn("model.update", "model", i, "allowed", details(i))
                for i in range(first, min(first + batch, start + n))
            ]
            with session() as s:
                record_many(s, ACTOR, events)

    def head(self) -> tuple[int, str]:
        from sqlalchemy import text

        with self.db.session(write=False) as s:
            row = s.execute(text(HEAD_SQL)).first()
        return (0, GENESIS.hex()) if row is None else (int(row[0]), bytes(row[1]).hex())

    def close(self) -> None:
        self.db.dispose()


class SqliteBaseline(Side):
    """Bare ``sqlite3`` + ``hashlib``: the floor that Charter's layers add to."""

    def __init__(self, path: Path, ddl: list[str], *, name: str = "bare sqlite3 + hashlib") -> None:
        self.name = name
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000"):
            self.conn.execute(f"PRAGMA {pragma}")
        for statement in ddl:
            self.conn.execute(statement)

    def single(self, start: int, n: int) -> None:
        conn, sha256 = self.conn, hashlib.sha256
        for i in range(start, start + n):
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(HEAD_SQL).fetchone()
            seq, prev = (0, GENESIS) if row is None else (row[0], row[1])
            seq += 1
            body = body_of(seq, i)
            conn.execute(INSERT_SQL, (seq, prev, body.decode(), sha256(prev + body).digest()))
            conn.execute("COMMIT")

    def batched(self, start: int, n: int, batch: int) -> None:
        conn, sha256 = self.conn, hashlib.sha256
        for first in range(start, start + n, batch):
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(HEAD_SQL).fetchone()
            seq, prev = (0, GENESIS) if row is None else (row[0], row[1])
            rows = []
            for i in range(first, min(first + batch, start + n)):
                seq += 1
                body = body_of(seq, i)
                digest = sha256(prev + body).digest()
                rows.append((seq, prev, body.decode(), digest))
                prev = digest
            conn.executemany(INSERT_SQL, rows)
            conn.execute("COMMIT")

    def head(self) -> tuple[int, str]:
        row = self.conn.execute(HEAD_SQL).fetchone()
        return (0, GENESIS.hex()) if row is None else (int(row[0]), bytes(row[1]).hex())

    def close(self) -> None:
        self.conn.close()


class PostgresBaseline(Side):
    """Bare ``psycopg`` + ``hashlib`` in schema ``peer``: advisory lock, head, insert, commit."""

    name = "bare psycopg + hashlib"

    def __init__(self, url: str, ddl: list[str]) -> None:
        import psycopg

        self.conn = psycopg.connect(url)
        with self.conn.transaction():
            self.conn.execute("DROP SCHEMA IF EXISTS peer CASCADE")
            self.conn.execute("CREATE SCHEMA peer")
            for statement in ddl:
                self.conn.execute(statement)
        self.conn.execute("SET search_path TO peer")
        self.conn.commit()

    def _head(self, cur: Any) -> tuple[int, bytes]:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY + 1,))
        row = cur.execute(HEAD_SQL).fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), bytes(row[1]))

    def single(self, start: int, n: int) -> None:
        conn, sha256, insert = self.conn, hashlib.sha256, INSERT_SQL.replace("?", "%s")
        for i in range(start, start + n):
            with conn.cursor() as cur:
                seq, prev = self._head(cur)
                seq += 1
                body = body_of(seq, i)
                cur.execute(insert, (seq, prev, body.decode(), sha256(prev + body).digest()))
            conn.commit()

    def batched(self, start: int, n: int, batch: int) -> None:
        conn, sha256, insert = self.conn, hashlib.sha256, INSERT_SQL.replace("?", "%s")
        for first in range(start, start + n, batch):
            with conn.cursor() as cur:
                seq, prev = self._head(cur)
                rows = []
                for i in range(first, min(first + batch, start + n)):
                    seq += 1
                    body = body_of(seq, i)
                    digest = sha256(prev + body).digest()
                    rows.append((seq, prev, body.decode(), digest))
                    prev = digest
                cur.executemany(insert, rows)
            conn.commit()

    def head(self) -> tuple[int, str]:
        row = self.conn.execute(HEAD_SQL).fetchone()
        self.conn.commit()
        return (0, GENESIS.hex()) if row is None else (int(row[0]), bytes(row[1]).hex())

    def close(self) -> None:
        self.conn.close()


@contextmanager
def frozen_clock() -> Iterator[None]:
    from charter.audit import service

    with mock.patch.object(service, "timestamp", lambda moment=None: FIXED_TS):
        yield


# -- append benchmark -------------------------------------------------------------------------------


def sqlite_sides(workdir: Path, tag: str, *, no_indexes: bool) -> list[Side]:
    paths = [workdir / f"append-{tag}-{name}.sqlite" for name in ("charter", "bare", "bare-no-indexes")]
    for path in paths:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    charter = CharterSide(f"sqlite:///{paths[0]}", label="Charter (SQLite)")
    with sqlite3.connect(paths[0]) as conn:
        ddl = [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'audit_events' AND sql IS NOT NULL "
                "ORDER BY type DESC"  # the table before its indexes
            )
        ]
    conn.close()
    sides: list[Side] = [charter, SqliteBaseline(paths[1], ddl)]
    if no_indexes:
        sides.append(SqliteBaseline(paths[2], ddl[:1], name="bare sqlite3 + hashlib, no indexes"))
    return sides


def postgres_sides(url: str) -> list[Side]:
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    charter = CharterSide(url, label="Charter (PostgreSQL)")
    with psycopg.connect(plain, autocommit=True) as conn:
        ddl = ["CREATE TABLE peer.audit_events (LIKE public.audit_events INCLUDING ALL)"]
        count = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'audit_events'"
        ).fetchone()
        print(f"  PostgreSQL: audit_events has {count[0] if count else 0} indexes, copied to schema peer")
    return [charter, PostgresBaseline(plain, ddl)]


def run_append(sides: list[Side], *, single: int, batched: int, batch: int, repeat: int) -> list[dict[str, Any]]:
    """Run every side ``repeat`` times, in alternating order; each appends the same events to its own chain."""
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    next_i = {side.name: 1 for side in sides}

    def timed(side: Side, mode: str, fn: Callable[[int, int], None], n: int) -> None:
        started, cpu_started = time.perf_counter(), time.process_time()
        fn(next_i[side.name], n)
        rates.setdefault((side.name, mode), []).append(n / (time.perf_counter() - started))
        cpu.setdefault((side.name, mode), []).append((time.process_time() - cpu_started) / n * 1e6)
        next_i[side.name] += n

    with frozen_clock():
        for r in range(repeat):
            order = sides[::-1] if r % 2 == 0 else sides
            for side in order:
                timed(side, "single", side.single, single)
            for side in order:
                timed(side, "batched", lambda s, n, side=side: side.batched(s, n, batch), batched)
    heads = {side.name: side.head() for side in sides}
    assert len(set(heads.values())) == 1, f"the chains differ: {heads}"
    size, head = heads[sides[0].name]
    print(f"  the same chain on every side: size {size:,}, head {head[:16]}…")
    out = []
    for mode in ("single", "batched"):
        out.append(
            {
                "mode": mode,
                "rate": {side.name: median(rates[(side.name, mode)]) for side in sides},
                "cpu_us": {side.name: median(cpu[(side.name, mode)]) for side in sides},
                "runs": {side.name: rates[(side.name, mode)] for side in sides},
                "sides": [side.name for side in sides],
            }
        )
    for side in sides:
        side.close()
    return out


# -- verification benchmark -------------------------------------------------------------------------


def build_chain(path: Path, n: int, *, rebuild: bool) -> float:
    """A chain of ``n`` events written through ``record_many`` in batches of 10,000, reused when present."""
    if path.exists() and not rebuild:
        try:
            with sqlite3.connect(path) as conn:
                row = conn.execute("SELECT max(seq), count(*) FROM audit_events").fetchone()
            if row == (n, n):
                print(f"  reusing {path.relative_to(RESULTS.parent.parent)} ({n:,} events)")
                return 0.0
        except sqlite3.Error:
            pass
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    print(f"  building {n:,} events through audit.record_many ...", end="", flush=True)
    side = CharterSide(f"sqlite:///{path}", label="build")
    started = time.perf_counter()
    side.batched(1, n, 10_000)
    seconds = time.perf_counter() - started
    side.close()
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(f" {seconds:.1f} s ({n / seconds:,.0f} events/s)")
    return seconds


def verify_child(kind: str, path: str) -> None:
    """Runs in a child process; prints one JSON line. Nothing else is imported before measuring RSS."""
    import resource

    from _common import current_rss_mb

    if kind in ("charter", "charter-single"):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from charter.audit import service as audit
        from charter.db.engine import Database

        if kind == "charter-single":
            audit.VERIFY_PARALLEL_MIN = 10**18  # one walk in this process
        db = Database(f"sqlite:///{path}")
        key = Ed25519PrivateKey.generate().public_key()
        before = current_rss_mb()
        started = time.perf_counter()
        with db.session(write=False) as s:
            report = audit.verify(s, public_key=key)
        seconds = time.perf_counter() - started
        result = {"ok": report.ok, "size": report.size, "head": report.head_hash}
    else:
        conn = sqlite3.connect(path)
        before = current_rss_mb()
        started = time.perf_counter()
        cur = conn.execute("SELECT seq, prev_hash, body, hash FROM audit_events ORDER BY seq")
        sha256, prev, expected, ok = hashlib.sha256, GENESIS, 1, True
        while ok and (rows := cur.fetchmany(20_000)):
            for seq, prev_hash, body, digest in rows:
                if seq != expected or prev_hash != prev or sha256(prev + body.encode()).digest() != digest:
                    ok = False
                    break
                prev, expected = digest, expected + 1
        seconds = time.perf_counter() - started
        result = {"ok": ok, "size": expected - 1, "head": prev.hex()}
    # Forked workers (Charter's parallel walk) share the parent's pages; their peak RSS counts those
    # shared pages again, so main + workers is an upper bound of the memory used.
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                **result,
                "seconds": seconds,
                "rss_before_mb": before,
                "peak_rss_mb": peak_rss_mb(),
                "worker_peak_rss_mb": workers,
                "cpu_seconds": cpu.ru_utime + cpu.ru_stime,
            }
        )
    )


def run_verify(path: Path, repeat: int) -> list[dict[str, Any]]:
    kinds = ("bare", "charter-single", "charter")
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for r in range(repeat):
        for kind in kinds if r % 2 == 0 else reversed(kinds):
            out = subprocess.run(  # noqa: S603  (this script, with fixed arguments)
                [sys.executable, __file__, "--verify-child", kind, str(path)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[kind].append(json.loads(out.strip().splitlines()[-1]))
    heads = {(r["ok"], r["size"], r["head"]) for rs in runs.values() for r in rs}
    assert len(heads) == 1, f"the verifiers disagree: {heads}"
    ok, size, head = heads.pop()
    assert ok, "the benchmark chain does not verify"
    print(f"  all verifiers: ok, size {size:,}, head {head[:16]}…")
    return [
        {
            "side": kind,
            "seconds": median([r["seconds"] for r in rs]),
            "seconds_runs": [r["seconds"] for r in rs],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "worker_peak_rss_mb": max(r["worker_peak_rss_mb"] for r in rs),
            "rss_before_mb": max(r["rss_before_mb"] for r in rs),
        }
        for kind, rs in runs.items()
    ]


# -- the parallel walk finds what the single walk finds ----------------------------------------------


def _tamper_cases(n: int, bounds: list[int]) -> list[tuple[str, list[str]]]:
    """Attacks at and around the range boundaries (and the ends), as plain SQL on the file."""
    cases: list[tuple[str, list[str]]] = [("intact", [])]
    spots = sorted({1, 2, n // 3, n - 1, n} | {b + d for b in bounds[1:-1] for d in (-1, 0, 1, 2)})
    for seq in spots:
        cases += [
            (f"modified {seq}", [f"UPDATE audit_events SET body = replace(body, 'draft', 'DRAFT') WHERE seq = {seq}"]),
            (f"deleted {seq}", [f"DELETE FROM audit_events WHERE seq = {seq}"]),
            (f"broken link {seq}", [f"UPDATE audit_events SET prev_hash = zeroblob(32) WHERE seq = {seq}"]),
            (f"hash changed {seq}", [f"UPDATE audit_events SET hash = zeroblob(32) WHERE seq = {seq}"]),
            (f"deleted {seq - 2}..{seq}", [f"DELETE FROM audit_events WHERE seq BETWEEN {seq - 2} AND {seq}"]),
            (f"truncated after {seq - 1}", [f"DELETE FROM audit_events WHERE seq >= {seq}"]),
        ]
        if seq < n:  # two neighbours exchanged (seq is the primary key, so move through a free number)
            cases.append(
                (
                    f"swapped {seq}, {seq + 1}",
                    [
                        f"UPDATE audit_events SET seq = -1 WHERE seq = {seq}",
                        f"UPDATE audit_events SET seq = {seq} WHERE seq = {seq + 1}",
                        f"UPDATE audit_events SET seq = {seq + 1} WHERE seq = -1",
                    ],
                )
            )
    cases.append(
        (
            "event 0 inserted",
            [
                "INSERT INTO audit_events (seq, prev_hash, body, hash) "
                "SELECT 0, prev_hash, body, hash FROM audit_events WHERE seq = 1"
            ],
        )
    )
    cases.append(
        (
            f"event {n + 1} appended, unchained",
            [
                f"INSERT INTO audit_events (seq, prev_hash, body, hash) SELECT {n + 1}, zeroblob(32), body, hash "
                f"FROM audit_events WHERE seq = {n}"
            ],
        )
    )
    return cases


def check_parallel_walk(n: int = 30_000, parts: tuple[int, ...] = (2, 3, 4)) -> int:
    """Verify tampered copies of a chain with the parallel walk and with the single walk: same reports.

    The parallel walk normally starts at ``VERIFY_PARALLEL_MIN`` events; here the threshold is
    lowered so that a small chain, cut into 2, 3 and 4 ranges, exercises every boundary case.
    Trusted checkpoints at the boundaries check the hashes the ranges report at checkpoint sizes.
    """
    import shutil

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from charter.audit import service as audit
    from charter.db.engine import Database
    from charter.security.audit_chain import sign_checkpoint

    source = RESULTS / f"audit-faults-{n}.sqlite"
    build_chain(source, n, rebuild=False)
    key = Ed25519PrivateKey.generate()
    copy = RESULTS / "audit-faults-tampered.sqlite"
    checked = 0
    walk_parallel = audit._walk_parallel
    used: list[bool] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = walk_parallel(*args, **kwargs)
        used.append(result is not None)
        return result

    for k in parts:
        bounds = [n * i // k for i in range(k + 1)]
        with sqlite3.connect(source) as conn:
            hashes = dict(
                conn.execute(
                    f"SELECT seq, hash FROM audit_events WHERE seq IN ({','.join(str(b) for b in bounds[1:])})"
                ).fetchall()
            )
        conn.close()
        trusted = [
            sign_checkpoint(key, origin="bench", size=b, head_hash=bytes(hashes[b]), created_at=FIXED_TS)
            for b in bounds[1:]
        ]
        for name, statements in _tamper_cases(n, bounds):
            for suffix in ("-wal", "-shm"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(source, copy)
            with sqlite3.connect(copy) as conn:
                for statement in statements:
                    conn.execute(statement)
                size = conn.execute("SELECT max(seq) FROM audit_events").fetchone()[0] or 0
            conn.close()
            reports = {}
            for label, minimum in (("parallel", 1_000), ("single", 10**12)):
                db = Database(f"sqlite:///{copy}")
                with (
                    mock.patch.object(audit, "VERIFY_PARALLEL_MIN", minimum),
                    mock.patch.object(audit.os, "cpu_count", lambda k=k: k),
                    mock.patch.object(audit, "_walk_parallel", counting),
                    db.session(write=False) as session,
                ):
                    report = audit.verify(session, public_key=key.public_key(), trusted=trusted)
                db.dispose()
                reports[label] = report.model_dump(exclude={"seconds"})
                # The parallel run really ran in ranges (no silent fall-back); the single one did not.
                assert used.pop() is (label == "parallel" and size >= 1_000), f"{k} ranges, {name}: {label} walk?"
            assert reports["parallel"] == reports["single"], f"{k} ranges, {name}: {reports}"
            checked += 1
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return checked


# -- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=10_000, help="single-event transactions per run")
    parser.add_argument("--batched", type=int, default=200_000, help="events per batched run")
    parser.add_argument("--batch", type=int, default=1_000, help="events per transaction in batched runs")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (the median is reported)")
    parser.add_argument("--postgres", metavar="URL", help="also run the append benchmark on this PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite append benchmark")
    parser.add_argument(
        "--no-index-baseline",
        action="store_true",
        help="add a third side on SQLite: the bare baseline on the table without its five expression indexes",
    )
    parser.add_argument("--verify-events", type=int, default=1_000_000, help="chain size for verification (0: skip)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached verification chain")
    parser.add_argument("--no-fault-check", action="store_true", help="skip the parallel-walk equivalence check")
    parser.add_argument("--verify-child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verify_child:
        verify_child(*args.verify_child)
        return

    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"$ {command_line()}\nmachine: {machine()}")
    report: dict[str, Any] = {"command": command_line(), "machine": machine()}
    rows = []
    runs: list[tuple[str, Callable[[], list[Side]]]] = []
    if not args.no_sqlite:
        runs.append(("SQLite file, WAL", lambda: sqlite_sides(RESULTS, "sqlite", no_indexes=args.no_index_baseline)))
    if args.postgres:
        runs.append(("PostgreSQL", lambda: postgres_sides(args.postgres)))
    for label, make in runs:
        print(
            f"append on {label}: {args.single:,} single-event tx and {args.batched:,} events in batches of "
            f"{args.batch:,}, x{args.repeat} per side"
        )
        results = run_append(make(), single=args.single, batched=args.batched, batch=args.batch, repeat=args.repeat)
        for leftover in RESULTS.glob("append-*.sqlite*"):  # hundreds of MB, made anew by every run
            leftover.unlink()
        report.setdefault("append", {})[label] = results
        for res in results:
            unit = "tx/s" if res["mode"] == "single" else "events/s"
            what = "single-event transactions" if res["mode"] == "single" else f"batched ({args.batch:,}/tx)"
            target = TARGET_SINGLE if res["mode"] == "single" else TARGET_BATCHED
            charter, peer, *more = res["sides"]
            rate, cpu = res["rate"], res["cpu_us"]
            rows.append(
                [
                    f"{label}: {what}",
                    f"{rate[charter]:,.0f} {unit}",
                    f"{rate[peer]:,.0f} {unit}",
                    f"{rate[charter] / rate[peer]:.2f}",
                    f"{cpu[charter]:.1f} / {cpu[peer]:.1f}",
                    f"{rate[more[0]]:,.0f} {unit}" if more else "-",
                    f">= {target:,} {unit}: {verdict(rate[charter] >= target)}" if label.startswith("SQLite") else "-",
                ]
            )
    if rows:
        header = ["benchmark", "Charter", "bare baseline", "ratio", "CPU µs per tx/event (Charter / bare)"]
        print(table("Audit append (median of runs)", [*header, "bare, table without indexes", "target"], rows))
        print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")

    if not args.no_fault_check:
        print("parallel walk vs single walk on tampered copies of a 30,000-event chain (2, 3 and 4 ranges) ...")
        started = time.perf_counter()
        cases = check_parallel_walk()
        print(
            f"  {cases} cases, identical reports (ok, size, head, fault seq/kind/message) "
            f"in {time.perf_counter() - started:.0f} s"
        )
        report["fault_check_cases"] = cases

    if args.verify_events:
        path = RESULTS / f"audit-verify-{args.verify_events}.sqlite"
        print(f"verification of {args.verify_events:,} events (each verifier in its own process, x{args.repeat})")
        build = build_chain(path, args.verify_events, rebuild=args.rebuild)
        results = run_verify(path, args.repeat)
        report["verify"] = {"events": args.verify_events, "build_seconds": build, "runs": results}
        by = {r["side"]: r for r in results}
        b = by["bare"]
        vrows = []
        for side, label in (
            ("charter", "Charter audit.verify"),
            ("charter-single", "Charter audit.verify, one walk"),
            ("bare", "bare sqlite3 + hashlib loop"),
        ):
            r = by[side]
            memory = r["peak_rss_mb"] + r["worker_peak_rss_mb"]
            target = "-"
            if side == "charter":
                target = (
                    f"<= {TARGET_VERIFY_S} s: {verdict(r['seconds'] <= TARGET_VERIFY_S)}; "
                    f"< {TARGET_VERIFY_MB:.0f} MB: {verdict(memory < TARGET_VERIFY_MB)}"
                )
            vrows.append(
                [
                    label,
                    r["seconds"],
                    r["peak_rss_mb"],
                    r["worker_peak_rss_mb"] or "-",
                    r["rss_before_mb"],
                    r["seconds"] / b["seconds"],
                    target,
                ]
            )
        print(
            table(
                f"Verification of {args.verify_events:,} events (median seconds of {args.repeat} runs)",
                [
                    "verifier",
                    "seconds",
                    "peak RSS MB",
                    "worker peak RSS MB",
                    "RSS before MB",
                    "ratio to bare",
                    "target",
                ],
                vrows,
            )
        )
    out = RESULTS / "bench_audit.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nraw figures: {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
