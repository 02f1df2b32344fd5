"""The SQL side of metrics: bulk writes of points and rollups, and the reads that downsample.

Writes are bulk writes (``charter.db.bulk``): Core statements compiled once per dialect, rows
straight to the driver, as multi-row statements on SQLite; SQLAlchemy's per-row parameter
processing would cost as much as the inserts. Rollups are upserts that add a batch's count and sum
to the bucket's and widen its min and max, so any order of batches, and several batches in one
bucket, give the aggregates of all the points (tested against the raw points).

Reads bucket on the server: raw points by integer division of their time, hours and days from the
rollup tables, with the partial buckets at either end of a range taken from the raw points so that
a bucket never includes a point outside the range asked for.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sqlalchemy import BigInteger, Connection, Select, Table, and_, any_, bindparam, case, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from charter.compute.series._arrays import F64, I64, MS_PER_DAY, MS_PER_HOUR
from charter.db.bulk import BulkWrite
from charter.metrics.models import MetricDailyRow, MetricHourlyRow, MetricPointRow

POINTS = typing.cast(Table, MetricPointRow.__table__)
HOURLY = typing.cast(Table, MetricHourlyRow.__table__)
DAILY = typing.cast(Table, MetricDailyRow.__table__)
ROLLUPS: dict[int, Table] = {MS_PER_HOUR: HOURLY, MS_PER_DAY: DAILY}
MS_PER_MINUTE = 60_000


# -- writing ----------------------------------------------------------------------------------------


_ROLLUP_COLUMNS = ("series_id", "bucket", "n", "total", "low", "high")


def _upsert(table: Table, dialect_name: str) -> Any:
    low: Any
    high: Any
    if dialect_name == "postgresql":
        statement: Any = postgresql.insert(table)
        low, high = func.least, func.greatest
    else:
        statement = sqlite.insert(table)
        low, high = func.min, func.max  # SQLite's two-argument min()/max() are scalar functions
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["series_id", "bucket"],
        set_={
            "n": table.c.n + excluded.n,
            "total": table.c.total + excluded.total,
            "low": low(table.c.low, excluded.low),
            "high": high(table.c.high, excluded.high),
        },
    )


class Writer:
    """The three bulk writes of a batch (``charter.db.bulk``): points, hourly and daily rollups."""

    def __init__(self) -> None:
        self._points = BulkWrite(POINTS.insert(), ("series_id", "t", "value"))
        # An upsert's form differs by dialect: built when a dialect first writes.
        self._rollups: dict[str, tuple[BulkWrite, BulkWrite]] = {}

    def _rollups_for(self, dialect_name: str) -> tuple[BulkWrite, BulkWrite]:
        found = self._rollups.get(dialect_name)
        if found is None:
            found = self._rollups[dialect_name] = (
                BulkWrite(_upsert(HOURLY, dialect_name), _ROLLUP_COLUMNS),
                BulkWrite(_upsert(DAILY, dialect_name), _ROLLUP_COLUMNS),
            )
        return found

    def write(self, session: Session, series: I64, t: I64, values: F64) -> None:
        """Insert points (sorted by series, then time) and fold them into the hourly and daily rollups."""
        connection = session.connection()
        self._points.write(connection, list(zip(series.tolist(), t.tolist(), values.tolist(), strict=True)))
        hourly, daily = self._rollups_for(connection.dialect.name)
        for statement, width in ((hourly, MS_PER_HOUR), (daily, MS_PER_DAY)):
            statement.write(connection, rollup_rows(series, t, values, width))


WRITER = Writer()


def rollup_rows(series: I64, t: I64, values: F64, width: int) -> list[tuple[Any, ...]]:
    """(series, bucket, count, sum, min, max) per bucket of ``width`` ms; input sorted by (series, time)."""
    bucket = t - t % width
    starts_mask = np.ones(len(t), dtype=bool)
    starts_mask[1:] = (series[1:] != series[:-1]) | (bucket[1:] != bucket[:-1])
    starts = np.flatnonzero(starts_mask)
    counts = np.diff(np.append(starts, len(t)))
    return list(
        zip(
            series[starts].tolist(),
            bucket[starts].tolist(),
            counts.tolist(),
            np.add.reduceat(values, starts).tolist(),
            np.minimum.reduceat(values, starts).tolist(),
            np.maximum.reduceat(values, starts).tolist(),
            strict=True,
        )
    )


# -- reading ----------------------------------------------------------------------------------------


@dataclass
class Buckets:
    """One series' data at one resolution: columns of equal length, in time order."""

    t: I64
    value: F64  # the point's value, or the bucket's mean
    low: F64 | None = None
    high: F64 | None = None
    count: I64 | None = None


def _range(column: Any, since: int | None, until: int | None) -> list[Any]:
    where = []
    if since is not None:
        where.append(column >= since)
    if until is not None:
        where.append(column < until)
    return where


def raw_points(session: Session, ids: Sequence[int], since: int | None, until: int | None) -> dict[int, Buckets]:
    c = POINTS.c
    stmt = (
        select(c.series_id, c.t, c.value)
        .where(c.series_id.in_(ids), *_range(c.t, since, until))
        .order_by(c.series_id, c.t)
    )
    out: dict[int, Buckets] = {}
    rows = session.connection().execute(stmt).all()
    if not rows:
        return out
    sid = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    t = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    v = np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows))
    for key, part in _split(sid):
        out[key] = Buckets(t=t[part], value=v[part])
    return out


def _split(sid: I64) -> list[tuple[int, slice]]:
    """(series id, slice) of each run of a sorted series-id column."""
    starts = np.flatnonzero(np.concatenate(([True], sid[1:] != sid[:-1])))
    ends = np.append(starts[1:], len(sid))
    return [(int(sid[s]), slice(int(s), int(e))) for s, e in zip(starts, ends, strict=True)]


def _grouped_raw(ids: Sequence[int], width: int, since: int | None, until: int | None) -> Select[Any]:
    c = POINTS.c
    # The width inline, not a bound parameter: PostgreSQL must see the same expression in GROUP BY.
    bucket = (c.t // literal_column(str(width), BigInteger)) * literal_column(str(width), BigInteger)
    return (
        select(
            c.series_id,
            bucket.label("bucket"),
            func.count().label("n"),
            func.sum(c.value).label("total"),
            func.min(c.value).label("low"),
            func.max(c.value).label("high"),
        )
        .where(c.series_id.in_(ids), *_range(c.t, since, until))
        .group_by(c.series_id, bucket)
    )


def _rollup(table: Table, ids: Sequence[int], since: int | None, until: int | None) -> Select[Any]:
    c = table.c
    return select(c.series_id, c.bucket, c.n, c.total, c.low, c.high).where(
        c.series_id.in_(ids), *_range(c.bucket, since, until)
    )


def _ceil(value: int, width: int) -> int:
    return -(-value // width) * width


def bucketed(
    session: Session, ids: Sequence[int], width: int, since: int | None, until: int | None
) -> dict[int, Buckets]:
    """Per series: count, mean, min, max per bucket of ``width`` ms within ``[since, until)``."""
    statements: list[Select[Any]] = []
    table = ROLLUPS.get(width)
    if table is None:  # minutes: from the points
        statements.append(_grouped_raw(ids, width, since, until))
    else:
        # Whole buckets from the rollups; the partial ones at either end from the points.
        first = None if since is None else _ceil(since, width)
        last = None if until is None else until // width * width
        if first is not None and last is not None and first >= last:
            statements.append(_grouped_raw(ids, width, since, until))  # the range sits inside one or two buckets
        else:
            statements.append(_rollup(table, ids, first, last))
            if since is not None and first is not None and since < first:
                statements.append(_grouped_raw(ids, width, since, first))
            if until is not None and last is not None and last < until:
                statements.append(_grouped_raw(ids, width, last, until))
    rows: list[Any] = []
    connection: Connection = session.connection()
    for stmt in statements:
        rows.extend(connection.execute(stmt).all())
    if not rows:
        return {}
    rows.sort(key=lambda r: (r[0], r[1]))
    columns = list(zip(*rows, strict=True))
    sid = np.asarray(columns[0], dtype=np.int64)
    t = np.asarray(columns[1], dtype=np.int64)
    n = np.asarray(columns[2], dtype=np.int64)
    total = np.asarray(columns[3], dtype=np.float64)
    low = np.asarray(columns[4], dtype=np.float64)
    high = np.asarray(columns[5], dtype=np.float64)
    return {
        key: Buckets(t=t[part], value=total[part] / n[part], low=low[part], high=high[part], count=n[part])
        for key, part in _split(sid)
    }


@dataclass(frozen=True)
class Sizes:
    """Upper bounds of how many points each resolution would return (from the daily rollups)."""

    raw: int
    minutes: int
    hours: int
    days: int


def sizes(session: Session, ids: Sequence[int], since: int | None, until: int | None) -> dict[int, Sizes]:
    """Per series, from the daily rollups only (a year is 365 rows per series): a day holding ``n``
    points has at most ``min(n, 1440)`` non-empty minutes and ``min(n, 24)`` non-empty hours."""
    c = DAILY.c
    first = None if since is None else since // MS_PER_DAY * MS_PER_DAY
    stmt = (
        select(
            c.series_id,
            func.sum(c.n),
            func.sum(_least(c.n, 1440)),
            func.sum(_least(c.n, 24)),
            func.count(),
        )
        .where(c.series_id.in_(ids), *_range(c.bucket, first, until))
        .group_by(c.series_id)
    )
    return {int(r[0]): Sizes(int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in session.connection().execute(stmt)}


def _least(column: Any, cap: int) -> Any:
    return case((column < cap, column), else_=cap)


def latest_times(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """The last stored time of each series (one index probe each)."""
    c = POINTS.c
    out: dict[int, int] = {}
    connection = session.connection()
    # One query per series, not a GROUP BY: SQLite answers max() on an index prefix with one probe,
    # but would scan every point of each group.
    for sid in ids:
        last = connection.execute(select(func.max(c.t)).where(c.series_id == sid)).scalar()
        if last is not None:
            out[sid] = int(last)
    return out


def stored_at(session: Session, sid: int, times: list[int]) -> dict[int, float]:
    """time -> value of the points of series ``sid`` stored at any of ``times``."""
    c = POINTS.c
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        listed = c.t == any_(bindparam("times", times, type_=ARRAY(BigInteger)))
    else:
        # One JSON parameter, not thousands of placeholders.
        values = func.json_each(orjson.dumps(times).decode()).table_valued("value")
        listed = c.t.in_(select(values.c.value))
    stmt = select(c.t, c.value).where(and_(c.series_id == sid, listed))
    return {int(t): float(v) for t, v in connection.execute(stmt)}
