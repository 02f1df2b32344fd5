"""Bulk writes (``charter.db.bulk``): every row lands as given, on SQLite in multi-row statements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, event, select
from sqlalchemy.dialects import sqlite

from charter.db.bulk import BulkWrite, chunk_sizes, largest_chunk, repeat_values
from charter.db.engine import Database

SCRATCH = MetaData()
TABLE = Table(
    "bulk_scratch",
    SCRATCH,
    Column("id", Integer, primary_key=True),
    Column("name", String(50)),
    Column("score", Float),
    Column("note", String(50)),
)


@pytest.fixture
def scratch(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    SCRATCH.create_all(db.engine)
    try:
        yield db
    finally:
        SCRATCH.drop_all(db.engine)
        db.dispose()


def rows(count: int) -> list[tuple[Any, ...]]:
    return [(n, f"név-{n}", None if n % 7 == 0 else n / 3, "" if n % 2 else None) for n in range(count)]


def test_chunks_are_powers_of_two_that_add_up() -> None:
    assert chunk_sizes(5_000, 2_048) == [2_048, 2_048, 512, 256, 128, 8]
    assert chunk_sizes(0, 2_048) == []
    assert chunk_sizes(2_048, 2_048) == [2_048]
    for count in (1, 2_047, 2_049, 10_000, 12_345):
        sizes = chunk_sizes(count, 1_024)
        assert sum(sizes) == count
        assert all(s & (s - 1) == 0 and s <= 1_024 for s in sizes)
        assert len(set(sizes)) <= 11


def test_a_chunk_fits_the_variable_limit() -> None:
    assert largest_chunk(32_766, 14) == 2_048
    assert largest_chunk(999, 14) == 64  # SQLite before 3.32 allowed 999 variables
    assert largest_chunk(999, 14) * 14 <= 999
    assert largest_chunk(5, 14) == 1


def test_values_repeat_before_an_upserts_clause() -> None:
    insert = sqlite.insert(TABLE)
    upsert = insert.on_conflict_do_update(index_elements=["id"], set_={"score": insert.excluded.score})
    sql = upsert.compile(dialect=sqlite.dialect(), column_keys=["id", "score"]).string
    three = repeat_values(sql, 2, 3)
    assert "VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT" in three
    with pytest.raises(ValueError, match="one-row"):
        repeat_values("SELECT 1", 2, 3)


@pytest.mark.parametrize("count", [0, 1, 2_047, 2_049, 5_000])
def test_every_row_is_written_as_given(scratch: Database, count: int) -> None:
    write = BulkWrite(TABLE.insert(), ("id", "name", "score", "note"))
    expected = rows(count)
    with scratch.session() as session:
        write.write(session.connection(), expected)
    with scratch.session(write=False) as session:
        found = session.execute(select(TABLE).order_by(TABLE.c.id)).all()
    assert [tuple(r) for r in found] == expected


def test_columns_in_another_order_than_the_table(scratch: Database) -> None:
    write = BulkWrite(TABLE.insert(), ("note", "score", "name", "id"))
    with scratch.session() as session:
        write.write(session.connection(), [(r[3], r[2], r[1], r[0]) for r in rows(100)])
    with scratch.session(write=False) as session:
        assert [tuple(r) for r in session.execute(select(TABLE).order_by(TABLE.c.id))] == rows(100)


def test_sqlite_takes_one_statement_a_chunk_never_executemany(tmp_path: Any) -> None:
    # executemany takes the GIL back after every row; beside a busy thread each take waits up to
    # 5 ms (see charter.db.bulk), so the SQLite path must not use it.
    db = Database(f"sqlite:///{tmp_path / 'bulk.db'}")
    SCRATCH.create_all(db.engine)
    calls: list[tuple[bool, int]] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        if statement.startswith("INSERT"):
            calls.append((executemany, statement.count("(?, ?, ?, ?)")))

    with db.session() as session:
        BulkWrite(TABLE.insert(), ("id", "name", "score", "note")).write(session.connection(), rows(5_000))
    assert calls == [(False, size) for size in chunk_sizes(5_000, 2_048)]
    db.dispose()
