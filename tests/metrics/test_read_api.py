"""Reading series: downsampling equals a pandas resample of the same points (partial buckets at the
ends included), rollups equal the raw aggregates whatever the order of batches, the automatic
resolution, and the filters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from charter.metrics.models import MetricDailyRow, MetricHourlyRow, MetricPointRow
from tests.metrics.conftest import START, Metrics, at, point


def frame(millis: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    index = pd.DatetimeIndex(START + pd.to_timedelta(millis, unit="ms"))
    return pd.DataFrame({"value": values}, index=index)


def at_ms(name: str, value: float, millis: int) -> dict[str, Any]:
    """A point at an exact millisecond (float minutes would round differently here and in pandas)."""
    return {"name": name, "value": value, "time": (START + timedelta(milliseconds=int(millis))).isoformat()}


def resampled(df: pd.DataFrame, rule: str) -> pd.DataFrame:
    out = df["value"].resample(rule).agg(["mean", "min", "max", "count"])
    return out[out["count"] > 0]


def send_in_batches(metrics: Metrics, points: list[dict[str, Any]], size: int) -> None:
    for i in range(0, len(points), size):
        metrics.stored(points[i : i + size])


@pytest.fixture
def three_days(metrics: Metrics) -> pd.DataFrame:
    """Three days of a per-minute metric with random gaps, sent in shuffled batches of 1,000."""
    rng = np.random.default_rng(7)
    millis = np.sort(rng.choice(3 * 1440, size=3000, replace=False)) * 60_000 + rng.integers(0, 60_000, 3000)
    values = np.round(rng.normal(50, 10, size=3000), 3)
    order = rng.permutation(3000)
    send_in_batches(metrics, [at_ms("latency_ms", float(values[i]), int(millis[i])) for i in order], 1000)
    return frame(millis, values)


@pytest.mark.parametrize(("resolution", "rule"), [("1m", "1min"), ("1h", "1h"), ("1d", "1D")])
def test_downsampling_equals_a_pandas_resample(
    metrics: Metrics, three_days: pd.DataFrame, resolution: str, rule: str
) -> None:
    # A range that starts and ends inside buckets: the partial buckets hold only the points in range.
    since, until = START + timedelta(hours=5, minutes=17, seconds=30), START + timedelta(days=2, hours=20, minutes=3)
    got = metrics.series(name="latency_ms", resolution=resolution, since=since.isoformat(), until=until.isoformat())
    assert got["resolution"] == resolution
    data = got["series"][0]
    want = resampled(three_days[(three_days.index >= since) & (three_days.index < until)], rule)
    assert [pd.Timestamp(t) for t in data["time"]] == list(want.index)
    np.testing.assert_allclose(data["value"], want["mean"], rtol=1e-12)
    assert data["min"] == want["min"].tolist() and data["max"] == want["max"].tolist()
    assert data["count"] == want["count"].tolist()


def test_raw_points_in_a_range(metrics: Metrics, three_days: pd.DataFrame) -> None:
    since, until = START + timedelta(hours=1), START + timedelta(hours=2)
    data = metrics.series(name="latency_ms", resolution="raw", since=since.isoformat(), until=until.isoformat())[
        "series"
    ][0]
    want = three_days[(three_days.index >= since) & (three_days.index < until)]
    assert data["value"] == want["value"].tolist() and data["min"] is None
    assert [pd.Timestamp(t) for t in data["time"]] == list(want.index)


def test_rollups_equal_the_raw_aggregates_after_any_order_of_batches(metrics: Metrics) -> None:
    rng = np.random.default_rng(3)
    millis = rng.choice(4 * 1440, size=4000, replace=False) * 60_000 + rng.integers(0, 60_000, 4000)
    values = rng.normal(size=4000).round(6)
    points = [at_ms("score", float(v), int(m)) for m, v in zip(millis, values, strict=True)]
    # Out of order, several batches into the same hours and days, and one point per batch at the end.
    send_in_batches(metrics, points[:3900], 700)
    for p in points[3900:]:
        metrics.stored([p])
    df = frame(millis, values)
    with metrics.db.session(write=False) as session:
        for table, rule in ((MetricHourlyRow, "1h"), (MetricDailyRow, "1D")):
            rows = session.execute(
                select(table.bucket, table.n, table.total, table.low, table.high).order_by(table.bucket)
            ).all()
            want = df["value"].resample(rule).agg(["sum", "count", "min", "max"])
            want = want[want["count"] > 0]
            assert [r.bucket for r in rows] == [t.value // 1_000_000 for t in want.index]
            assert [r.n for r in rows] == want["count"].tolist()
            np.testing.assert_allclose([r.total for r in rows], want["sum"], rtol=1e-9, atol=1e-9)
            assert [r.low for r in rows] == want["min"].tolist() and [r.high for r in rows] == want["max"].tolist()
            # ... and the database's own aggregate of the points agrees with the rollup it keeps.
            raw = session.execute(
                select(func.count(), func.min(MetricPointRow.value), func.max(MetricPointRow.value))
            ).one()
            assert sum(r.n for r in rows) == raw[0] == 4000
            assert min(r.low for r in rows) == raw[1] and max(r.high for r in rows) == raw[2]


def test_the_automatic_resolution_keeps_answers_small(metrics: Metrics) -> None:
    # 40 days of one point every 10 minutes: 5,760 points, over the 5,000-point budget.
    points = [point("accuracy", 0.9, m) for m in range(0, 40 * 1440, 10)]
    send_in_batches(metrics, points, 10_000)
    whole = metrics.series(name="accuracy")
    assert whole["resolution"] == "1h" and len(whole["series"][0]["time"]) == 40 * 24
    assert sum(whole["series"][0]["count"]) == len(points)
    week = metrics.series(name="accuracy", since=at(0), until=at(7 * 1440))
    assert week["resolution"] == "raw" and len(week["series"][0]["value"]) == 7 * 144
    for copy in range(5):  # six series of it: hours would be 5,760 points; days, 240
        send_in_batches(metrics, [p | {"segment": {"copy": str(copy)}} for p in points], 10_000)
    assert metrics.series(name="accuracy")["resolution"] == "1d"
    assert metrics.series(name="accuracy", segment="copy:1")["resolution"] == "1h"
    explicit = metrics.read(name="accuracy", resolution="raw")  # 34,560 points: within an explicit request's limit
    assert explicit.status_code == 200 and sum(len(s["value"]) for s in explicit.json()["series"]) == 6 * len(points)


def test_filters_by_name_version_and_segment(metrics: Metrics) -> None:
    metrics.stored(
        [
            point("accuracy", 0.9, 0, version="1.0.0", segment={"region": "eu"}),
            point("accuracy", 0.8, 0, version="1.0.0", segment={"region": "us"}),
            point("accuracy", 0.7, 0, version="2.0.0", segment={"region": "eu", "channel": "web"}),
            point("accuracy", 0.6, 0),
            point("latency_ms", 120, 0, version="1.0.0"),
        ]
    )

    def values(**params: Any) -> list[float]:
        return [s["value"][0] for s in metrics.series(**params)["series"]]

    assert values(name="accuracy", version="1.0.0") == [0.9, 0.8]
    assert sorted(values(name="accuracy", segment="region:eu")) == [0.7, 0.9]
    assert values(segment=["region:eu", "channel:web"]) == [0.7]
    assert values(name="accuracy", segment="") == [0.6]  # only the series without labels
    assert len(metrics.series()["series"]) == 5
    assert metrics.series(name="nothing")["series"] == []
    bad = metrics.read(segment="region")
    assert bad.status_code == 422 and "LABEL:VALUE" in bad.json()["error"]["message"]
    assert metrics.read(since=at(10), until=at(5)).status_code == 422
    assert metrics.read(resolution="5m").status_code == 422
