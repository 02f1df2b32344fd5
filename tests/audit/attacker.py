"""What an attacker with database access does: plain SQL behind Charter's back (portable SQL)."""

from __future__ import annotations

from sqlalchemy import text

from charter.db.engine import Database


def sql(db: Database, statement: str, **params: object) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def row(db: Database, seq: int) -> tuple[bytes, str, bytes]:
    """(prev_hash, body, hash) of one stored event."""
    with db.engine.connect() as conn:
        found = conn.execute(text("SELECT prev_hash, body, hash FROM audit_events WHERE seq = :s"), {"s": seq}).one()
    return bytes(found[0]), found[1], bytes(found[2])


def write_row(db: Database, seq: int, prev_hash: bytes, body: str, digest: bytes) -> None:
    sql(
        db,
        "UPDATE audit_events SET prev_hash = :p, body = :b, hash = :h WHERE seq = :s",
        p=prev_hash,
        b=body,
        h=digest,
        s=seq,
    )


def swap(db: Database, first: int, second: int) -> None:
    """Exchange two events' contents, keeping their seq numbers."""
    a, b = row(db, first), row(db, second)
    write_row(db, first, *b)
    write_row(db, second, *a)
