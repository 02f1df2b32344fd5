"""Metric tables: series, their points, hourly and daily rollups, and stored thresholds.

A series is one (model, version or none, metric name, segment labels). Its points are keyed by
(series, time), which is the whole of the points table: on SQLite a ``WITHOUT ROWID`` table is
clustered on that key, so a range of one series is one contiguous read and an insert touches one
B-tree, not a table and an index. Times are integer milliseconds since the epoch (UTC): compact,
exact to compare, and bucketed by integer division in SQL on both databases.

The rollups hold count, sum, min and max per series and UTC hour (or day), updated by every
ingestion batch in the same transaction (upserts), so long ranges are read from them and never
from the points. Rows are written with Core statements in batches (``service``); the ORM classes
define the schema and serve the queries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from charter.db.base import Base, utcnow

OPS = ("<", "<=", ">", ">=")


class MetricSeriesRow(Base):
    """What a series measures; its points, rollups and thresholds hang off it."""

    __tablename__ = "metric_series"
    __table_args__ = (UniqueConstraint("model_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No cascades: monitoring history outlives the inventory rows it names, like the decision log.
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    name: Mapped[str] = mapped_column(String(200))
    # Segment labels, e.g. {"region": "eu"} ({} for none).
    segment: Mapped[dict[str, str]] = mapped_column(JSON)
    # SHA-256 of (version id, name, labels) in canonical JSON: one unique, indexable identity
    # (a NULL version would never collide in a composite unique constraint).
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricPointRow(Base):
    __tablename__ = "metric_points"
    __table_args__ = {"sqlite_with_rowid": False}

    series_id: Mapped[int] = mapped_column(ForeignKey("metric_series.id"), primary_key=True)
    t: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # ms since the epoch, UTC
    value: Mapped[float] = mapped_column(Float)


class _Rollup:
    """count / sum / min / max of a series' points in one bucket (its start in ms since the epoch)."""

    series_id: Mapped[int] = mapped_column(ForeignKey("metric_series.id"), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)


class MetricHourlyRow(_Rollup, Base):
    __tablename__ = "metric_rollups_hourly"
    __table_args__ = {"sqlite_with_rowid": False}


class MetricDailyRow(_Rollup, Base):
    __tablename__ = "metric_rollups_daily"
    __table_args__ = {"sqlite_with_rowid": False}


class MetricThresholdRow(Base):
    """A bound a model's metric must keep (``name op bound``), judged in every report."""

    __tablename__ = "metric_thresholds"
    __table_args__ = (
        UniqueConstraint("model_id", "name", "op"),
        CheckConstraint("op IN ('<', '<=', '>', '>=')", name="op"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    name: Mapped[str] = mapped_column(String(200))
    op: Mapped[str] = mapped_column(String(2))
    bound: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
