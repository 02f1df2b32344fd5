"""The audit trail service: append events in the caller's transaction, read, verify, checkpoint.

Appending is linear across processes: on PostgreSQL a transaction-scoped
advisory lock serialises appenders until they commit or roll back, so
``seq`` has no gaps and each event links to the one committed before it;
on SQLite every writing transaction already holds the database's write lock
(``BEGIN IMMEDIATE``). Take the lock as late as possible: record events
after the change they describe, just before the transaction ends.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import re
import sys
import time
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection as MPConnection
from multiprocessing.process import BaseProcess
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, LargeBinary, Table, cast, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from charter.audit.models import AuditCheckpointRow, AuditEventRow, event_field
from charter.audit.schemas import (
    AuditEventRead,
    AuditFilter,
    CheckpointRead,
    FaultRead,
    Outcome,
    VerifyReport,
)
from charter.db.engine import Database
from charter.errors import InvalidInput
from charter.pagination import Page, clamp_limit, parse_int_cursor
from charter.security.audit_chain import (
    GENESIS,
    ChainVerifier,
    Checkpoint,
    Fault,
    canonical_json,
    chain_hash,
    check_checkpoints,
    sign_checkpoint,
)
from charter.security.permissions import Permission
from charter.security.principal import Principal, authorize

# Any constant works; this one spells "charter" so that it is recognisable in pg_locks.
_PG_LOCK_KEY = 0x63686172746572
_CONTEXT_KEY = "charter.request"
_REDACTED = "[redacted]"
# A key whose name contains one of these words holds a secret (matched case-insensitively).
_SECRET_KEY = re.compile(
    "password|secret|token|api[_-]?key|authorization|cookie|credential|private[_-]?key", re.IGNORECASE
)
VERIFY_BATCH = 20_000
# A chain at least this long is verified by several processes when that is safe (see ``_walk_parallel``):
# below it, starting a worker costs more than it saves.
VERIFY_PARALLEL_MIN = 200_000
VERIFY_MAX_WORKERS = 4


@dataclass(frozen=True)
class RequestContext:
    request_id: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True)
class EventIn:
    action: str
    resource_type: str
    resource_id: str | int | None = None
    outcome: Outcome = "allowed"
    details: Mapping[str, Any] = field(default_factory=dict)


def set_request_context(session: Session, context: RequestContext) -> None:
    """Attach the request id and source address that every event of this session carries."""
    session.info[_CONTEXT_KEY] = context


def timestamp(moment: datetime | None = None) -> str:
    """Fixed-width UTC ISO 8601 text, so that string order is time order on every database."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str, *, name: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"`{name}` must be an ISO 8601 time such as 2026-01-31T12:00:00Z.") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return timestamp(moment)


def redact(value: Any) -> Any:
    """Replace the value of any key that names a secret; secrets never enter the trail."""
    if isinstance(value, str | int | float | bool) or value is None:  # most values: nothing to walk
        return value
    if isinstance(value, Mapping):
        return {str(k): _REDACTED if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def actor_name(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.actor


# -- append -----------------------------------------------------------------------------------------


# Built once: Core statements on the table skip the ORM's per-call statement building and bulk-insert
# machinery (an audit append is on the path of every write, so this is most of its cost).
_EVENTS = typing.cast(Table, AuditEventRow.__table__)
_HEAD = select(_EVENTS.c.seq, _EVENTS.c.hash).order_by(_EVENTS.c.seq.desc()).limit(1)
_INSERT = _EVENTS.insert()
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_PG_LOCK_KEY)


def _lock_head(session: Session) -> tuple[int, bytes]:
    postgresql = session.get_bind().dialect.name == "postgresql"
    if not postgresql and not session.info.get("write", True):
        # A deferred SQLite transaction could fail to upgrade to a writer (SQLITE_BUSY_SNAPSHOT).
        raise RuntimeError("audit events must be recorded in a writing session")
    if session.autoflush:
        # Pending changes go to the database first, before the lock is taken (an ORM query would
        # autoflush them too; the Core statements below do not).
        session.flush()
    connection = session.connection()
    if postgresql:
        connection.execute(_PG_LOCK)
    row = connection.execute(_HEAD).first()
    return (0, GENESIS) if row is None else (int(row[0]), bytes(row[1]))


def record_many(session: Session, actor: Principal | str, events: Sequence[EventIn]) -> list[int]:
    """Append ``events`` to the chain in this session's transaction; returns their ``seq``."""
    if not events:
        return []
    context: RequestContext = session.info.get(_CONTEXT_KEY) or RequestContext()
    name = actor_name(actor)
    seq, prev = _lock_head(session)
    ts = timestamp()
    rows: list[dict[str, Any]] = []
    for event in events:
        seq += 1
        body = canonical_json(
            {
                "seq": seq,
                "ts": ts,
                "actor": name,
                "action": event.action,
                "resource_type": event.resource_type,
                "resource_id": None if event.resource_id is None else str(event.resource_id),
                "outcome": event.outcome,
                "details": redact(event.details),
                "request_id": context.request_id,
                "source_ip": context.source_ip,
            }
        )
        digest = chain_hash(prev, body)
        rows.append({"seq": seq, "prev_hash": prev, "body": body.decode(), "hash": digest})
        prev = digest
    session.connection().execute(_INSERT, rows)
    return [r["seq"] for r in rows]


def record(
    session: Session,
    actor: Principal | str,
    action: str,
    *,
    resource_type: str,
    resource_id: str | int | None = None,
    outcome: Outcome = "allowed",
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one event in this session's transaction; it lands if and only if the transaction commits."""
    event = EventIn(action, resource_type, resource_id, outcome, details or {})
    return record_many(session, actor, [event])[0]


# -- read -------------------------------------------------------------------------------------------


def _read(row: AuditEventRow) -> AuditEventRead:
    event = orjson.loads(row.body)
    return AuditEventRead(**event, prev_hash=bytes(row.prev_hash).hex(), hash=bytes(row.hash).hex())


def list_events(
    session: Session,
    principal: Principal,
    filters: AuditFilter,
    *,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[AuditEventRead]:
    """Newest first. Reading the trail is itself audited (it holds who did what)."""
    authorize(principal, Permission.AUDIT_READ)
    limit = clamp_limit(limit)
    body = AuditEventRow.__table__.c.body
    query = select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(limit + 1)
    for key in ("actor", "action", "resource_type", "resource_id"):
        value = getattr(filters, key)
        if value:
            query = query.where(event_field(body, key) == value)
    if filters.since:
        query = query.where(event_field(body, "ts") >= parse_time(filters.since, name="since"))
    if filters.until:
        query = query.where(event_field(body, "ts") < parse_time(filters.until, name="until"))
    before = parse_int_cursor(cursor)
    if before is not None:
        query = query.where(AuditEventRow.seq < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    items = [_read(r) for r in rows[:limit]]
    record(
        session,
        principal,
        "audit.read",
        resource_type="audit_trail",
        details={"filters": filters.model_dump(exclude_none=True), "count": len(items)},
    )
    return Page(items=items, next_cursor=str(items[-1].seq) if more and items else None)


def record_export(session: Session, principal: Principal, *, since_seq: int = 0) -> None:
    authorize(principal, Permission.AUDIT_READ)
    record(session, principal, "audit.export", resource_type="audit_trail", details={"since_seq": since_seq})


def stream_lines(session: Session, *, since_seq: int = 0) -> Iterator[str]:
    """Events after ``since_seq`` as JSON lines ``{"seq", "body", "prev_hash", "hash"}``.

    ``body`` is the stored event text verbatim (a JSON document in a
    string), so anyone can check ``SHA-256(bytes.fromhex(prev_hash) +
    body.encode()) == bytes.fromhex(hash)`` without Charter and without
    re-serialising anything. Callers authorize and record the export first.
    """
    query = (
        select(AuditEventRow.seq, AuditEventRow.prev_hash, AuditEventRow.body, AuditEventRow.hash)
        .where(AuditEventRow.seq > since_seq)
        .order_by(AuditEventRow.seq)
    )
    for seq, prev_hash, body, digest in session.execute(query.execution_options(yield_per=VERIFY_BATCH)):
        line = {"seq": seq, "body": body, "prev_hash": bytes(prev_hash).hex(), "hash": bytes(digest).hex()}
        yield orjson.dumps(line).decode() + "\n"


# -- verify -----------------------------------------------------------------------------------------


def stored_checkpoints(session: Session) -> list[Checkpoint]:
    rows = session.scalars(select(AuditCheckpointRow).order_by(AuditCheckpointRow.id))
    return [Checkpoint(r.origin, int(r.size), r.head_hash, r.created_at, r.key_id, r.signature) for r in rows]


def _walk(connection: Connection, verifier: ChainVerifier, *, after: int | None, limit: int | None) -> ChainVerifier:
    """Feed ``verifier`` the events after ``after`` (all of them when None), at most ``limit``, in ``seq`` order."""
    sqlite = connection.dialect.name == "sqlite"
    body: ColumnElement[Any] = _EVENTS.c.body
    if sqlite and connection.exec_driver_sql("PRAGMA encoding").scalar() == "UTF-8":
        body = cast(body, LargeBinary)  # the stored UTF-8 bytes as they are: no decoding and re-encoding per event
    query = select(_EVENTS.c.seq, _EVENTS.c.prev_hash, body, _EVENTS.c.hash).order_by(_EVENTS.c.seq)
    if after is not None:
        query = query.where(_EVENTS.c.seq > after)
    if limit is not None:
        query = query.limit(limit)
    if sqlite:
        # pysqlite steps through the result as it is fetched, so plain tuples can be read straight
        # from the DBAPI cursor: a SQLAlchemy Row per event would double the cost of a long walk.
        result = connection.execute(query)
        batches: Iterator[Sequence[Any]] = iter(functools.partial(result.cursor.fetchmany, VERIFY_BATCH), [])
    else:
        # A server-side cursor: memory stays flat however long the chain.
        result = connection.execute(query.execution_options(yield_per=VERIFY_BATCH))
        batches = result.partitions()
    try:
        for batch in batches:
            if verifier.feed(batch) is not None:
                break
    finally:
        result.close()
    return verifier


_Outcome = tuple[int, bytes, dict[int, bytes], Fault | None] | None


def _outcome(verifier: ChainVerifier) -> _Outcome:
    return verifier.size, verifier.head, verifier.seen, verifier.fault


def _walk_range(url: str, after: int, limit: int, watch: frozenset[int], send: MPConnection) -> None:
    """In a worker process: verify events ``after + 1 ..`` starting from the stored hash of event ``after``."""
    try:
        db = Database(url)
        with db.session(write=False) as session:
            connection = session.connection()
            head = connection.execute(select(_EVENTS.c.hash).where(_EVENTS.c.seq == after)).scalar()
            # No event ``after``: the range before this one stops at that gap, so this outcome is never used.
            outcome: _Outcome | str = None
            if head is not None:
                start = ChainVerifier(size=after, head=bytes(head), watch=watch)
                outcome = _outcome(_walk(connection, start, after=after, limit=limit))
        db.dispose()
    except BaseException as exc:  # reported, and the parent then walks the chain itself
        outcome = f"{type(exc).__name__}: {exc}"
    send.send(outcome)
    send.close()


def _parallel_file(session: Session) -> str | None:
    """The SQLite file to verify in parallel, or None when this process should walk the chain alone.

    Workers are forked, which is quick (nothing to import) but safe only in a
    process with a single thread (the CLI; not the server, whose requests run
    in threads). A worker never touches the connections it inherits: it opens
    its own, and the caller's transaction stays open until every worker has
    answered, so the rows the workers read cannot be checkpointed away
    beneath them.
    """
    url = session.get_bind().engine.url
    if (
        url.get_backend_name() != "sqlite"
        or url.database in (None, "", ":memory:")
        or url.query
        or not sys.platform.startswith("linux")
        or (os.cpu_count() or 1) < 2
        or len(os.listdir("/proc/self/task")) != 1  # threads of any kind, not only Python's
    ):
        return None
    return url.render_as_string(hide_password=False)


def _walk_parallel(session: Session, watch: frozenset[int]) -> ChainVerifier | None:
    """Verify a long chain in ``seq`` ranges, one per core, or return None to walk it in one pass.

    Each event is checked against the stored hash of the event before it, so
    a range can be verified on its own, starting from the stored hash of the
    event that precedes it. Every range but the last reads one event past its
    end, so a gap or broken link at a boundary is found by the range before
    it exactly as a single walk finds it. The first range with a fault decides
    the report; the ranges before it were intact, so the hash each range
    started from is the one a single walk would have reached, and the result
    (size, head, fault, hashes at checkpoint sizes) is the same as a single
    walk's.
    """
    url = _parallel_file(session)
    if url is None:
        return None
    size = session.execute(select(func.max(_EVENTS.c.seq))).scalar() or 0
    parts = min(os.cpu_count() or 1, VERIFY_MAX_WORKERS)
    if size < VERIFY_PARALLEL_MIN or parts < 2:
        return None
    bounds = [size * i // parts for i in range(parts + 1)]
    context = multiprocessing.get_context("fork")
    workers: list[tuple[BaseProcess, MPConnection]] = []
    try:
        for lo, hi in itertools.pairwise(bounds[1:]):
            receive, send = context.Pipe(duplex=False)
            # The last range ends at the chain's end; the others read one event more (see above).
            limit = hi - lo if hi == size else hi - lo + 1
            process: BaseProcess = context.Process(target=_walk_range, args=(url, lo, limit, watch, send), daemon=True)
            process.start()
            send.close()
            workers.append((process, receive))
        # The first range is walked here, in the caller's own transaction.
        first = _walk(session.connection(), ChainVerifier(watch=watch), after=None, limit=bounds[1] + 1)
        outcomes: list[_Outcome | str] = [_outcome(first)]
        for _process, receive in workers:
            try:
                outcomes.append(receive.recv())
            except EOFError:  # the worker died
                outcomes.append("no answer")
    finally:
        for process, receive in workers:
            receive.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
    seen: dict[int, bytes] = {}
    for outcome in outcomes:
        if outcome is None or isinstance(outcome, str):
            return None  # an unexpected answer: fall back to one walk, which is always right
        size, head, range_seen, fault = outcome
        seen.update(range_seen)
        if fault is not None:
            break
    return ChainVerifier(size=size, head=head, watch=watch, seen=seen, fault=fault)


def verify(
    session: Session,
    *,
    public_key: Ed25519PublicKey,
    trusted: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Walk the whole chain, then compare it with the stored and the ``trusted`` checkpoints.

    Memory stays flat: rows are streamed in batches and only the running
    head hash (plus the hash at each checkpoint's size) is kept. A long chain
    in a SQLite file is walked in ranges by several processes when the
    caller is single-threaded (see ``_walk_parallel``); the report is the same.
    """
    started = time.perf_counter()
    stored = stored_checkpoints(session)
    watch = frozenset(c.size for c in [*stored, *trusted])
    verifier = _walk_parallel(session, watch) or _walk(
        session.connection(), ChainVerifier(watch=watch), after=None, limit=None
    )
    fault = verifier.fault or check_checkpoints(
        chain_size=verifier.size,
        hashes=verifier.seen,
        trusted=list(trusted),
        stored=stored,
        public_key=public_key,
    )
    return VerifyReport(
        ok=fault is None,
        size=verifier.size,
        head_hash=verifier.head.hex(),
        checkpoints_checked=len(stored) + len(trusted),
        fault=FaultRead(seq=fault.seq, kind=fault.kind, message=fault.message) if fault else None,
        seconds=round(time.perf_counter() - started, 6),
    )


def verify_as(
    session: Session,
    principal: Principal,
    *,
    public_key: Ed25519PublicKey,
    trusted: Sequence[Checkpoint] = (),
) -> VerifyReport:
    authorize(principal, Permission.AUDIT_READ)
    report = verify(session, public_key=public_key, trusted=trusted)
    record(
        session,
        principal,
        "audit.verify",
        resource_type="audit_trail",
        outcome="allowed" if report.ok else "failed",
        details={
            "size": report.size,
            "ok": report.ok,
            "fault": report.fault.model_dump() if report.fault else None,
        },
    )
    return report


# -- checkpoints ------------------------------------------------------------------------------------


def checkpoint(
    session: Session, principal: Principal, *, key: Ed25519PrivateKey, origin: str, record_event: bool = True
) -> CheckpointRead:
    """Sign the current head and store the checkpoint; the caller may also keep it outside the database.

    A checkpoint someone asked for is an audited act. The server's scheduled ones pass
    ``record_event=False``: they are kept, signed, in their own table, and an event of their own
    would make the chain look grown again at every tick.
    """
    authorize(principal, Permission.AUDIT_CHECKPOINT)
    size, head = _lock_head(session)
    signed = sign_checkpoint(key, origin=origin, size=size, head_hash=head, created_at=timestamp())
    session.add(
        AuditCheckpointRow(
            size=signed.size,
            head_hash=signed.head_hash,
            origin=signed.origin,
            key_id=signed.key_id,
            signature=signed.signature,
            created_at=signed.created_at,
        )
    )
    session.flush()
    if record_event:
        record(
            session,
            principal,
            "audit.checkpoint",
            resource_type="audit_trail",
            details={"size": signed.size, "head_hash": signed.head_hash, "key_id": signed.key_id},
        )
    return CheckpointRead(**signed.__dict__)


def latest_checkpoint(session: Session) -> CheckpointRead | None:
    row = session.scalars(select(AuditCheckpointRow).order_by(AuditCheckpointRow.id.desc()).limit(1)).first()
    if row is None:
        return None
    return CheckpointRead(
        origin=row.origin,
        size=int(row.size),
        head_hash=row.head_hash,
        created_at=row.created_at,
        key_id=row.key_id,
        signature=row.signature,
    )
