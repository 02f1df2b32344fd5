"""Decision-log tables: one row per automated decision, and its sensitive attributes kept apart.

Rows are written with Core ``insert()`` in batches (see ``service.DatabaseSink``), never as ORM
objects; the ORM classes here define the schema and serve the queries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    TypeDecorator,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column

from charter.db.base import Base, utcnow

# SQLite only makes INTEGER PRIMARY KEY the (fast) rowid; a busy decision log outgrows 32 bits on PostgreSQL.
IdType = BigInteger().with_variant(Integer(), "sqlite")
_SORTED = orjson.OPT_SORT_KEYS


def dumps(value: Any) -> bytes:
    """The one JSON encoding of the log: compact, keys sorted (the output filter compares this text)."""
    return orjson.dumps(value, option=_SORTED)


class OrJSON(TypeDecorator[Any]):
    """A JSON column encoded and decoded with orjson (ingestion is most of the log's cost).

    Python ``None`` is SQL NULL. On SQLite a column declared JSON has numeric affinity, so a bare
    number comes back as a number, not as text: it is returned as it is. On PostgreSQL the value
    goes to psycopg's ``Json`` wrapper (the server keeps ``json`` text verbatim) and psycopg
    decodes results itself.
    """

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            from psycopg.types.json import Json

            def to_json(value: Any) -> Any:
                return None if value is None else Json(value, dumps=dumps)

            return to_json

        def to_text(value: Any) -> str | None:
            return None if value is None else dumps(value).decode()

        return to_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def from_text(value: Any) -> Any:
            return orjson.loads(value) if isinstance(value, str | bytes) else value

        return from_text


class DecisionRow(Base):
    """One automated decision: what the model saw (personal fields protected), decided and why."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("model_id", "decision_key"),
        Index("ix_decisions_model_time", "model_id", "decided_at"),
        # PostgreSQL only: no query on SQLite uses it (its planner goes through the time index; see
        # benchmarks/README.md, decisions), and each index costs every insert. Versions are never
        # deleted, so no foreign-key check needs it either.
        Index("ix_decisions_model_version", "model_id", "version_id").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    # No cascades: a transparency log outlives the inventory rows it names.
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    # The client's id for the decision, unique per model.
    decision_key: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column()
    # Pseudonym (ps:...) of the data subject; the reference as sent is never stored.
    subject_ref: Mapped[str | None] = mapped_column(String(67))
    inputs: Mapped[dict[str, Any]] = mapped_column(OrJSON)
    # The input fields that were pseudonymised or encrypted (null: none).
    personal_fields: Mapped[list[str] | None] = mapped_column(OrJSON)
    output: Mapped[Any] = mapped_column(OrJSON, nullable=True)
    score: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(OrJSON)
    # Ground truth, when it arrives; ``outcome_at`` says whether it has (the outcome itself may be null).
    outcome: Mapped[Any] = mapped_column(OrJSON, nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column()
    # HMAC of the decision as sent: an identical re-send is recognised and skipped.
    digest: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class DecisionAttributesRow(Base):
    """Sensitive attributes of a decision's subject (for fairness), readable only with ``fairness:read``."""

    __tablename__ = "decision_attributes"

    decision_id: Mapped[int] = mapped_column(IdType, ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(OrJSON)


# The subject index holds 12 hex digits (48 bits) of the pseudonym, not all 67 characters: its keys
# are random, so every batch writes to pages all over it, and a quarter of the size is a quarter of
# the pages a batch rewrites (benchmarks/README.md, decision ingestion). Searches compare the whole
# pseudonym too (``subject_match``); a shared prefix only costs reading one more row.
SUBJECT_KEY_START, SUBJECT_KEY_LENGTH = 4, 12  # after "ps:"; SQL's substr counts from 1


def subject_key(column: Any) -> ColumnElement[str]:
    # Literal numbers, not bound parameters: a query's expression must be the index's to use it.
    return func.substr(column, literal_column(str(SUBJECT_KEY_START)), literal_column(str(SUBJECT_KEY_LENGTH)))


def subject_match(ref: str) -> ColumnElement[bool]:
    """Decisions about the data subject whose stored reference (pseudonym) is ``ref``, through the index.

    The whole reference is compared as an expression (``|| ''``), not as the bare column: given
    ``subject_ref = 'ps:...'``, SQLite would substitute that constant into ``substr(subject_ref, ...)``
    (its constant propagation), and the index on that expression would no longer match the query.
    """
    start = SUBJECT_KEY_START - 1
    key = subject_key(DecisionRow.subject_ref) == ref[start : start + SUBJECT_KEY_LENGTH]
    return key & (DecisionRow.subject_ref.concat(literal_column("''")) == ref)


Index("ix_decisions_model_subject_key", DecisionRow.model_id, subject_key(DecisionRow.subject_ref))
