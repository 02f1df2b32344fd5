"""Bulk writes that skip SQLAlchemy's per-row work: a Core statement compiled once per dialect, rows
handed straight to the driver.

PostgreSQL takes the rows through psycopg's ``executemany`` (pipelined). SQLite takes them as
multi-row statements, ``INSERT ... VALUES (...), (...), ...``, of up to 2,048 rows each, never
through ``executemany``: CPython's ``sqlite3`` releases the GIL while SQLite steps a statement and
takes it back afterwards, which ``executemany`` does once per row. Beside any other thread running
Python code (another request of the same server), each take waits for that thread to yield, up to
the switch interval (5 ms): 10,000 rows took about 57 s instead of 0.12 s, while the transaction
held the database's write lock (benchmarks/README.md, decision ingestion). A multi-row statement
waits once per chunk, and costs no more than ``executemany`` when nothing else runs.

Chunks are powers of two (2,048, then the remainder's binary digits), so a statement has at most
twelve texts, each prepared once and then found in the driver's statement cache.
"""

from __future__ import annotations

import sqlite3
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy import Connection

Row = tuple[Any, ...]
# The largest chunk: beyond it the statement's text grows without making the insert any cheaper.
MAX_ROWS = 2_048


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[int, ...] | None  # a positional paramstyle: the row index of each placeholder


@dataclass
class BulkWrite:
    """``statement`` (a Core insert or upsert of one row's ``names``) written for many rows at once."""

    statement: Any
    names: tuple[str, ...]
    _compiled: dict[str, _Compiled] = field(default_factory=dict, repr=False)
    _chunks: dict[int, str] = field(default_factory=dict, repr=False)

    def _for(self, dialect: Any) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(self.names))
            positions = None
            if compiled.positional:
                positions = tuple(self.names.index(n) for n in compiled.positiontup or ())
            found = self._compiled[dialect.name] = _Compiled(compiled.string, positions)
        return found

    def _ordered(self, compiled: _Compiled, rows: Sequence[Row]) -> Sequence[Any]:
        """Each row's values in the placeholders' order (a dict per row for a named paramstyle)."""
        if compiled.positions is None:
            return [dict(zip(self.names, row, strict=True)) for row in rows]
        if compiled.positions == tuple(range(len(self.names))):
            return rows
        return [tuple(row[i] for i in compiled.positions) for row in rows]

    def write(self, connection: Connection, rows: Sequence[Row]) -> None:
        """Write ``rows`` (tuples in ``names`` order) in the connection's transaction."""
        if not rows:
            return
        compiled = self._for(connection.dialect)
        ordered = self._ordered(compiled, rows)
        if connection.dialect.name != "sqlite":
            connection.exec_driver_sql(compiled.sql, list(ordered))
            return
        driver = typing.cast(sqlite3.Connection, connection.connection.driver_connection)
        limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        start = 0
        for size in chunk_sizes(len(rows), largest_chunk(limit, len(compiled.positions or ()))):
            chunk = ordered[start : start + size]
            start += size
            # chain: a third of the cost of a generator over the rows (0.13 against 0.38 us a row).
            connection.exec_driver_sql(self._sqlite(compiled, size), tuple(chain.from_iterable(chunk)))

    def _sqlite(self, compiled: _Compiled, size: int) -> str:
        sql = self._chunks.get(size)
        if sql is None:
            sql = self._chunks[size] = repeat_values(compiled.sql, len(compiled.positions or ()), size)
        return sql


def largest_chunk(variable_limit: int, columns: int) -> int:
    """The most rows one statement may carry: a power of two, at most ``MAX_ROWS``."""
    fits = max(1, variable_limit // max(1, columns))
    size = MAX_ROWS
    while size > fits:
        size //= 2
    return size


def chunk_sizes(count: int, largest: int) -> list[int]:
    """``count`` rows as chunks of ``largest`` and then the remainder's powers of two, largest first."""
    sizes = [largest] * (count // largest)
    rest = count % largest
    bit = largest
    while rest:
        bit //= 2
        if rest >= bit:
            sizes.append(bit)
            rest -= bit
    return sizes


def repeat_values(sql: str, columns: int, rows: int) -> str:
    """A one-row ``VALUES (?, ...)`` statement made to carry ``rows`` rows (an upsert's clause kept after them)."""
    one = "(" + ", ".join(["?"] * columns) + ")"
    head, found, tail = sql.partition(f"VALUES {one}")
    if not found or one in tail:
        raise ValueError(f"Not a one-row positional VALUES statement: {sql!r}")
    return f"{head}VALUES {', '.join([one] * rows)}{tail}"
