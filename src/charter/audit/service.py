"""The audit trail service: append events in the caller's transaction, read, verify, checkpoint.

Appending is linear across processes: on PostgreSQL a transaction-scoped
advisory lock serialises appenders until they commit or roll back, so
``seq`` has no gaps and each event links to the one committed before it;
on SQLite every writing transaction already holds the database's write lock
(``BEGIN IMMEDIATE``). Take the lock as late as possible: record events
after the change they describe, just before the transaction ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from charter.audit.models import AuditCheckpointRow, AuditEventRow, event_field
from charter.audit.schemas import (
    AuditEventRead,
    AuditFilter,
    CheckpointRead,
    FaultRead,
    Outcome,
    VerifyReport,
)
from charter.errors import InvalidInput
from charter.pagination import Page, clamp_limit, parse_int_cursor
from charter.security.audit_chain import (
    GENESIS,
    ChainVerifier,
    Checkpoint,
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
_SECRET_WORDS = (
    "password",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "private_key",
)
VERIFY_BATCH = 20_000


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
    if isinstance(value, Mapping):
        return {
            str(k): _REDACTED if any(w in str(k).lower() for w in _SECRET_WORDS) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def actor_name(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.actor


# -- append -----------------------------------------------------------------------------------------


# Built once: Core statements on the table skip the ORM's per-call statement building and bulk-insert
# machinery (an audit append is on the path of every write, so this is most of its cost).
_EVENTS = AuditEventRow.__table__
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
    rows = []
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


def verify(
    session: Session,
    *,
    public_key: Ed25519PublicKey,
    trusted: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Walk the whole chain, then compare it with the stored and the ``trusted`` checkpoints.

    Memory stays flat: rows are streamed in batches and only the running
    head hash (plus the hash at each checkpoint's size) is kept.
    """
    started = time.perf_counter()
    stored = stored_checkpoints(session)
    verifier = ChainVerifier(watch=frozenset(c.size for c in [*stored, *trusted]))
    query = select(AuditEventRow.seq, AuditEventRow.prev_hash, AuditEventRow.body, AuditEventRow.hash).order_by(
        AuditEventRow.seq
    )
    result = session.execute(query.execution_options(yield_per=VERIFY_BATCH))
    for batch in result.partitions():
        if verifier.feed(batch) is not None:  # type: ignore[arg-type]
            break
    result.close()
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
