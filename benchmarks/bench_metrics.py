"""Metric series: ingestion rate on SQLite, reads over a year, and the analytics on a million points.

    .venv/bin/python benchmarks/bench_metrics.py [--batches 30] [--year] [--points 1000000] [--skip-naive]

1. Ingestion (target >= 50,000 points/s): batches of 10,000 points (10 metrics x 1,000 minutes, two
   segment labels) stored by ``charter.metrics.service`` in one committed transaction each, on a
   migrated SQLite file; "validate" adds the pydantic validation the route does; the HTTP case
   goes through the real route in process with an API key.
2. Reads (``--year``): one series of a point a minute for a year (525,600 points), read at the
   automatic resolution, by day, by hour over a month, raw over a day, and reported on.
3. Analytics on ``--points`` points against naive pandas / scikit-learn / SciPy code computing the
   same thing, asserting equal results: rolling median/MAD z-scores (pandas ``rolling().apply``),
   EWMA (pandas ``ewm``), OLS trend (``scipy.stats.linregress``), per-window performance (a loop of
   scikit-learn calls per window).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import Clock, machine, table
from fastapi.testclient import TestClient

from charter.config import Settings
from charter.db.engine import Database
from charter.db.migrate import upgrade
from charter.identity import service as identity
from charter.identity.schemas import ApiKeyCreate, RoleGrant, ServiceAccountCreate, TeamCreate
from charter.inventory import service as inventory
from charter.inventory.schemas import ModelCreate, VersionCreate
from charter.metrics import service
from charter.metrics.schemas import MetricBatch
from charter.security.keyfiles import ensure_key_files
from charter.security.permissions import Role
from charter.security.principal import Principal

OPERATOR = Principal.system("bench")
START = datetime(2026, 1, 1, tzinfo=UTC)
METRICS = [f"metric_{i}" for i in range(10)]


def payload(batch: int, minutes: int = 1000) -> dict[str, Any]:
    """10 metrics x ``minutes`` consecutive minutes, as a client would send them."""
    points = []
    first = batch * minutes
    for m in range(first, first + minutes):
        at = (START + timedelta(minutes=m)).isoformat()
        for i, name in enumerate(METRICS):
            points.append({"name": name, "value": (m * 7 + i) % 1000 / 10, "time": at})
    return {"points": points, "version": "1.0.0", "segment": {"region": "eu", "channel": "web"}}


def rates(label: str, size: int, laps: list[tuple[float, float]]) -> list[object]:
    total = size * len(laps)
    wall, cpu = sum(w for w, _ in laps), sum(c for _, c in laps)
    median = sorted(w for w, _ in laps)[len(laps) // 2]
    return [label, total, total / wall, size / median, total / cpu]


def setup(folder: Path) -> tuple[Settings, Database, str]:
    url = f"sqlite:///{folder / 'charter.db'}"
    settings = Settings(home=folder / "home", database_url=url, env="development", audit_checkpoint_interval=0)
    ensure_key_files(settings)
    db = Database(url)
    upgrade(db)
    with db.session() as session:
        team = identity.create_team(session, OPERATOR, TeamCreate(name="ml"))
        for model in ("scoring", "yearly"):
            inventory.register_model(session, OPERATOR, ModelCreate(name=model, team=team.name))
            inventory.create_version(session, OPERATOR, model, VersionCreate(version="1.0.0"))
        grant = RoleGrant(role=Role.SERVICE, team=team.name)
        identity.create_service_account(session, OPERATOR, ServiceAccountCreate(name="monitor", roles=[grant]))
        key = identity.create_api_key(session, OPERATOR, ApiKeyCreate(service_account="monitor", name="b")).key
    return settings, db, key


def bench_ingest(db: Database, app: Any, key: str, batches: int) -> None:
    counter = iter(range(10**6))
    store: list[tuple[float, float]] = []
    both: list[tuple[float, float]] = []
    for _ in range(batches):
        body = payload(next(counter))
        clock = Clock()
        batch = MetricBatch.model_validate(body)
        validated = clock.lap()
        with db.session() as session:
            service.ingest(session, OPERATOR, "scoring", batch)
        stored = clock.lap()
        store.append(stored)
        both.append((validated[0] + stored[0], validated[1] + stored[1]))
    rows = [rates("service: store + commit", 10_000, store), rates("service: validate + store + commit", 10_000, both)]
    http: list[tuple[float, float]] = []
    with TestClient(app) as client:
        for _ in range(batches):
            body = payload(next(counter))
            clock = Clock()
            response = client.post("/api/v1/models/scoring/metrics", json=body, headers={"X-API-Key": key})
            http.append(clock.lap())
            assert response.status_code == 200 and response.json()["stored"] == 10_000, response.text
    rows.append(rates("HTTP route, in process (client encoding included)", 10_000, http))
    print(
        table(
            f"Ingestion, batches of 10,000 points ({batches} per case)",
            ["case", "points", "points/s (wall)", "median batch points/s", "points/s (CPU time)"],
            rows,
        )
    )


def bench_year(db: Database) -> None:
    minutes = 365 * 1440
    values = 50 + 10 * np.sin(2 * np.pi * np.arange(minutes) / 1440) + np.random.default_rng(0).normal(size=minutes)
    start_ms = service.to_millis(START)
    key = service.SeriesKey("1.0.0", "latency_ms")
    clock = Clock()
    for first in range(0, minutes, 10_000):
        part = slice(first, first + 10_000)
        t = start_ms + np.arange(minutes, dtype=np.int64)[part] * 60_000
        data = service.Columns([key], np.zeros(len(t), dtype=np.int64), t, values[part])
        with db.session() as session:
            service.ingest_columns(session, OPERATOR, "yearly", data)
    wall, _ = clock.lap()
    print(f"\nA year of per-minute points ({minutes:,}) stored in {wall:.1f} s ({minutes / wall:,.0f} points/s)")
    reads: list[tuple[str, service.SeriesQuery]] = [
        ("whole year, automatic resolution", service.SeriesQuery(name="latency_ms")),
        ("whole year, by day", service.SeriesQuery(name="latency_ms", resolution="1d")),
        (
            "a month by hour (unaligned ends)",
            service.SeriesQuery(
                name="latency_ms",
                since=START + timedelta(days=100, minutes=7),
                until=START + timedelta(days=130, minutes=3),
                resolution="1h",
            ),
        ),
        (
            "a day, raw",
            service.SeriesQuery(
                name="latency_ms", since=START + timedelta(days=200), until=START + timedelta(days=201)
            ),
        ),
    ]
    rows: list[list[object]] = []
    for label, query in reads:
        timings = []
        for _ in range(5):
            clock = Clock()
            with db.session(write=False) as session:
                found = service.read_series(session, OPERATOR, "yearly", query)
            timings.append(clock.lap()[0])
        rows.append([label, found.resolution, len(found.series[0].time), 1000 * sorted(timings)[2]])
    for label, query in (
        ("report, whole year", service.SeriesQuery(name="latency_ms")),
        ("report, last 7 days", service.SeriesQuery(name="latency_ms", since=START + timedelta(days=358))),
    ):
        timings = []
        for _ in range(3):
            clock = Clock()
            with db.session(write=False) as session:
                report = service.report(session, OPERATOR, "yearly", query)
            timings.append(clock.lap()[0])
        rows.append([label, report.series[0].resolution, report.series[0].points, 1000 * sorted(timings)[1]])
    print(table("Reads of one series over a year (median ms)", ["read", "resolution", "points returned", "ms"], rows))


def timed(run: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def bench_analytics(n: int, naive: bool) -> None:
    from scipy import stats  # type: ignore[import-untyped]
    from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

    from charter.compute.series import change_points, ewma, performance_windows, rolling_mad, trend
    from charter.compute.series._stats import MAD_TO_SIGMA

    rng = np.random.default_rng(1)
    y = rng.standard_t(4, size=n) + np.where(np.arange(n) > n // 2, 0.5, 0.0)
    rows: list[list[object]] = []
    window = 60

    ours, took = timed(lambda: rolling_mad(y, window=window, warmup=False).scores)
    if naive:
        past = pd.Series(y).shift(1).rolling(window)

        def pandas_mad() -> np.ndarray:
            median = past.median()
            mad = past.apply(lambda w: np.median(np.abs(w - np.median(w))), raw=True)
            return np.asarray((pd.Series(y) - median) / (mad * MAD_TO_SIGMA))

        theirs, peer = timed(pandas_mad)
        np.testing.assert_allclose(ours[window:], theirs[window:], rtol=1e-10, atol=1e-12)
        rows.append(["rolling median/MAD z-score (window 60)", took, "pandas rolling().median() + apply(MAD)", peer])
    else:
        rows.append(["rolling median/MAD z-score (window 60)", took, "(skipped)", float("nan")])

    chart, took = timed(lambda: ewma(y, alpha=0.1, target=0.0, sigma=1.0))
    theirs, peer = timed(lambda: pd.Series([0.0, *y]).ewm(alpha=0.1, adjust=False).mean().to_numpy()[1:])
    np.testing.assert_allclose(chart.statistic, theirs, rtol=1e-10, atol=1e-12)
    rows.append(["EWMA control chart", took, "pandas ewm(adjust=False).mean()", peer])

    t = START + pd.to_timedelta(np.arange(n) * 60_000, unit="ms")
    fitted, took = timed(lambda: trend(y, t))
    x = np.arange(n) / 1440.0
    want, peer = timed(lambda: stats.linregress(x, y))
    assert abs(fitted.slope - want.slope) < 1e-9 and abs(fitted.stderr - want.stderr) < 1e-9
    rows.append(["OLS trend with t interval", took, "scipy.stats.linregress", peer])

    shifts, took = timed(lambda: change_points(y))
    assert len(shifts.indices) == 1 and abs(shifts.indices[0] - n // 2) < n // 100, shifts.indices
    rows.append(["change points (binary segmentation)", took, "-", float("nan")])

    y_true = rng.integers(0, 2, size=n)
    scores = np.clip(np.round(0.3 * y_true + rng.uniform(0, 0.7, size=n), 3), 0, 1)
    y_pred = (scores >= 0.5).astype(int)
    windows, took = timed(lambda: performance_windows(y_true, y_pred, scores=scores, times=t, window="1d"))
    if naive:

        def per_window() -> list[tuple[float, float, float, float]]:
            out = []
            day = np.asarray(np.arange(n) // 1440)
            for d in np.unique(day):
                m = day == d
                out.append(
                    (
                        accuracy_score(y_true[m], y_pred[m]),
                        precision_score(y_true[m], y_pred[m]),
                        recall_score(y_true[m], y_pred[m]),
                        roc_auc_score(y_true[m], scores[m]),
                    )
                )
            return out

        theirs, peer = timed(per_window)
        assert windows.auc is not None
        np.testing.assert_allclose(windows.accuracy, [w[0] for w in theirs], rtol=1e-12)
        np.testing.assert_allclose(windows.precision, [w[1] for w in theirs], rtol=1e-12)
        np.testing.assert_allclose(windows.recall, [w[2] for w in theirs], rtol=1e-12)
        np.testing.assert_allclose(windows.auc, [w[3] for w in theirs], rtol=1e-12)
        rows.append([f"performance per day ({len(windows)} windows)", took, "scikit-learn per window", peer])
    print(
        table(
            f"Analytics on {n:,} points (seconds; equal results asserted)",
            ["computation", "Charter s", "peer", "peer s"],
            rows,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30, help="batches of 10,000 points per ingestion case")
    parser.add_argument("--year", action="store_true", help="also store a year of per-minute points and time reads")
    parser.add_argument("--points", type=int, default=1_000_000, help="points for the analytics")
    parser.add_argument(
        "--skip-naive", action="store_true", help="leave out the slow naive peers (pandas apply, loops)"
    )
    args = parser.parse_args()
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="charter-bench-metrics-"))
    settings, db, key = setup(folder)
    from charter.server.app import create_app

    app = create_app(settings, db=db)
    gc.collect()
    if args.batches:
        bench_ingest(db, app, key, args.batches)
    if args.year:
        bench_year(db)
    if args.points:
        bench_analytics(args.points, naive=not args.skip_naive)
    db.dispose()


if __name__ == "__main__":
    main()
