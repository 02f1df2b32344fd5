"""Audit tables.

``body`` is the event itself (canonical JSON, the bytes that were hashed).
There are no separate actor/action/... columns that could be edited apart
from it: filters use expression indexes over ``body`` instead, so what is
searched is always what was signed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from charter.db.base import Base

# SQLite only makes INTEGER PRIMARY KEY the (fast) rowid; PostgreSQL needs BIGINT for a long-lived chain.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

INDEXED_FIELDS = ("actor", "action", "resource_type", "resource_id", "ts")


class event_field(FunctionElement[str]):
    """``body ->> key`` on either database; ``key`` is one of a fixed set of names, never user input."""

    inherit_cache = True
    type = String()
    # ``key`` changes the SQL, so it must be part of the statement cache key: without this, a query
    # filtering on one field would reuse the compiled SQL of another.
    _traverse_internals = [*FunctionElement._traverse_internals, ("key", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        if key not in INDEXED_FIELDS:
            raise ValueError(f"{key!r} is not an indexed audit field")
        self.key = key
        super().__init__(column)


@compiles(event_field, "sqlite")
def _event_field_sqlite(element: event_field, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.{element.key}')"


@compiles(event_field, "postgresql")
def _event_field_postgresql(element: event_field, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS JSON) ->> '{element.key}')"


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    body: Mapped[str] = mapped_column(Text)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


for _key in INDEXED_FIELDS:
    Index(f"ix_audit_events_{_key}", event_field(AuditEventRow.__table__.c.body, _key))


class AuditCheckpointRow(Base):
    """A signed checkpoint, as issued. The same JSON is what ``charter audit checkpoint --out`` writes."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(200))
    # Kept as the exact ISO text that was signed: a timestamp column could lose precision.
    created_at: Mapped[str] = mapped_column(String(40))
