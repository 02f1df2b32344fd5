"""Ingestion over HTTP: batches, defaults, one audit event per batch, duplicates and conflicts, validation,
and who may write."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import func, select

from charter.metrics.models import MetricDailyRow, MetricHourlyRow, MetricPointRow, MetricSeriesRow
from tests.metrics.conftest import MODEL, Metrics, at, point


def count(metrics: Metrics, table: type) -> int:
    with metrics.db.session(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_a_batch_is_stored_with_one_audit_event(metrics: Metrics) -> None:
    points = [point("accuracy", 0.9 + i / 1000, i, version="1.0.0") for i in range(120)]
    points += [point("latency_ms", 100.0 + i, i, segment={"region": "eu"}) for i in range(30)]
    result = metrics.stored(points, headers=metrics.service)
    assert result == {
        "model": MODEL,
        "received": 150,
        "stored": 150,
        "duplicates": 0,
        "series": 2,
        "new_series": 2,
    }
    assert count(metrics, MetricPointRow) == 150 and count(metrics, MetricSeriesRow) == 2
    assert count(metrics, MetricHourlyRow) == 3 and count(metrics, MetricDailyRow) == 2  # accuracy spans 2 hours
    events = metrics.events("metrics.ingest")
    assert len(events) == 1
    event = events[0]
    assert event["actor"] == "service:monitor" and event["resource_type"] == "model_metrics"
    assert event["details"]["received"] == 150 and event["details"]["names"] == ["accuracy", "latency_ms"]
    assert event["details"]["versions"] == ["1.0.0"] and event["details"]["first"].startswith("2026-03-02T00:00")


def test_batch_defaults_apply_and_point_labels_add_to_the_batch_labels(metrics: Metrics) -> None:
    metrics.stored(
        [{"name": "auc", "value": 0.8}, {"name": "auc", "value": 0.7, "segment": {"channel": "web"}}],
        time=at(0),
        version="2.0.0",
        segment={"region": "eu"},
    )
    found = metrics.series(name="auc")["series"]
    assert [(s["version"], s["segment"], s["value"]) for s in found] == [
        ("2.0.0", {"region": "eu"}, [0.8]),
        ("2.0.0", {"channel": "web", "region": "eu"}, [0.7]),
    ]
    assert found[0]["time"] == ["2026-03-02T00:00:00Z"]
    # Without a time anywhere, a point is stamped when it arrives.
    metrics.stored([{"name": "heartbeat", "value": 1}])
    assert len(metrics.series(name="heartbeat")["series"][0]["time"]) == 1


def test_resending_is_safe_and_a_changed_value_is_refused(metrics: Metrics) -> None:
    points = [point("accuracy", 0.9, i) for i in range(50)]
    metrics.stored(points)
    again = metrics.stored([*points[40:], point("accuracy", 0.8, 50)])
    assert (again["stored"], again["duplicates"]) == (1, 10)
    changed = metrics.send([point("accuracy", 0.91, 10), point("accuracy", 0.5, 60)])
    assert changed.status_code == 409
    error = changed.json()["error"]
    assert "accuracy at 2026-03-02T00:10:00+00:00" in error["message"] and error["details"]["conflicts"] == 1
    assert count(metrics, MetricPointRow) == 51  # nothing of the refused batch
    repeated = metrics.send([point("accuracy", 0.5, 70), point("accuracy", 0.5, 70)])
    assert repeated.status_code == 422 and "once per batch" in repeated.json()["error"]["message"]
    # The same time in another series is another point.
    assert metrics.stored([point("accuracy", 0.5, 10, version="1.0.0")])["stored"] == 1
    with metrics.db.session(write=False) as session:
        hourly = session.execute(select(MetricHourlyRow.n).order_by(MetricHourlyRow.series_id)).scalars().all()
    assert hourly == [51, 1]  # duplicates were not counted twice


def test_validation_refusals_name_the_point(metrics: Metrics) -> None:
    too_many = [point("x", 1.0, i / 100) for i in range(10_001)]
    response = metrics.send(too_many)
    assert response.status_code == 422 and "10000" in response.text
    # NaN and infinities are not JSON, but Python's encoder writes them: refused with the point's index.
    body = json.dumps({"points": [point("x", 1.0, 0), point("x", float("nan"), 1), point("x", float("inf"), 2)]})
    response = metrics.client.post(
        f"/api/v1/models/{MODEL}/metrics",
        content=body,
        headers={**metrics.owner, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "points.1.value" in message and "points.2.value" in message and "finite" in message
    for bad, where in (
        ({"name": "bad name", "value": 1}, "points.0.name"),
        ({"name": "x", "value": 1, "segment": {"9lives": "a"}}, "points.0.segment"),
        ({"name": "x", "value": "high"}, "points.0.value"),
        ({"name": "x", "value": 1, "extra": True}, "points.0.extra"),
    ):
        response = metrics.send([bad])
        assert response.status_code == 422 and where in response.json()["error"]["message"], response.text
    early = metrics.send([{"name": "x", "value": 1, "time": "1969-12-31T23:59:59Z"}])
    assert early.status_code == 422 and "Point 0" in early.json()["error"]["message"]
    assert metrics.send([]).status_code == 422
    assert count(metrics, MetricPointRow) == 0


def test_unknown_model_and_version_are_404(metrics: Metrics) -> None:
    assert metrics.send([point("x", 1.0, 0)], model="no-such-model").status_code == 404
    response = metrics.send([point("x", 1.0, 0, version="9.9.9")])
    assert response.status_code == 404 and "9.9.9" in response.json()["error"]["message"]
    assert metrics.read(name="x", version="9.9.9").status_code == 404
    assert metrics.client.get("/api/v1/models/nope/metrics", headers=metrics.viewer).status_code == 404


def test_who_may_write_and_read(metrics: Metrics) -> None:
    metrics.stored([point("x", 1.0, 0)])
    assert metrics.send([point("x", 2.0, 1)], headers=metrics.viewer).status_code == 403  # monitor:read only
    assert metrics.send([point("x", 2.0, 1)], headers=metrics.outsider).status_code == 403  # another team
    assert metrics.read(headers=metrics.outsider).status_code == 403
    assert metrics.report(headers=metrics.outsider).status_code == 403
    assert metrics.read(headers=metrics.auditor).status_code == 200
    assert metrics.client.get(f"/api/v1/models/{MODEL}/metrics").status_code == 401
    denied = metrics.events("access.denied")
    assert any(e["actor"] == "user:otto" for e in denied)


def test_a_large_batch_out_of_order_lands_sorted(metrics: Metrics) -> None:
    rng = np.random.default_rng(0)
    minutes = rng.permutation(10_000)
    points = [point("throughput", float(m), float(m)) for m in minutes]
    assert metrics.stored(points)["stored"] == 10_000
    found = metrics.series(name="throughput", resolution="raw")["series"][0]
    assert found["value"] == [float(m) for m in range(10_000)] and found["count"] is None
