"""Metrics through the SDK, in process: track_metrics (mapping and list), series, reports, thresholds, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from charter.client import Charter
from charter.errors import InvalidInput, NotFound, PermissionDenied
from tests.conftest import PASSWORD
from tests.metrics.conftest import MODEL, START, Metrics

URL = "http://testserver"


@pytest.fixture
def owner(metrics: Metrics) -> Charter:
    return Charter.login(URL, "olivia", PASSWORD, http=metrics.client)


@pytest.fixture
def viewer(metrics: Metrics) -> Charter:
    return Charter.login(URL, "vera", PASSWORD, http=metrics.client)


def test_track_a_mapping_now_and_a_list_in_batches(owner: Charter, viewer: Charter) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    result = owner.track_metrics(MODEL, {"accuracy": np.float32(0.93), "latency_ms": 41}, version="1.0.0")
    assert (result.received, result.stored, result.new_series) == (2, 2, 2)
    now = viewer.metric_series(MODEL, "accuracy", version="1.0.0")
    (series,) = now.series
    assert series.value == [pytest.approx(0.93)] and series.time[0] >= before
    points = [{"name": "auc", "value": 0.8 + i / 1e4, "time": START + timedelta(minutes=i)} for i in range(2500)]
    listed = owner.track_metrics(MODEL, points, segment={"region": "eu"}, batch_size=1000)
    assert (listed.received, listed.stored, listed.new_series) == (2500, 2500, 1)
    again = owner.track_metrics(MODEL, points, segment={"region": "eu"}, batch_size=1000)
    assert (again.stored, again.duplicates) == (0, 2500)
    hourly = viewer.metric_series(MODEL, "auc", segment={"region": "eu"}, resolution="1h", since=START)
    assert hourly.resolution == "1h" and sum(hourly.series[0].count or []) == 2500
    assert viewer.metric_series(MODEL, "auc", segment={}).series == []  # every auc point carries a label


def test_reports_and_thresholds(owner: Charter, viewer: Charter) -> None:
    values = [0.9] * 30 + [0.7] * 30
    owner.track_metrics(
        MODEL, [{"name": "accuracy", "value": v, "time": START + timedelta(hours=i)} for i, v in enumerate(values)]
    )
    owner.set_metric_thresholds(MODEL, [("accuracy", ">=", 0.8)])
    assert [(t.name, t.op, t.value) for t in viewer.metric_thresholds(MODEL)] == [("accuracy", ">=", 0.8)]
    report = viewer.metrics_report(MODEL, thresholds={"accuracy": (">", 0.95)})
    (series,) = report.series
    assert [b.threshold for b in series.breaches] == ["accuracy >= 0.8", "accuracy > 0.95"]
    assert series.breaches[0].points == 30 and series.breaches[1].points == 60
    assert [c.time for c in series.change_points] == [START + timedelta(hours=30)]
    with pytest.raises(PermissionDenied):
        viewer.set_metric_thresholds(MODEL, [])


def test_errors_are_the_servers_and_nan_is_refused_before_sending(owner: Charter, viewer: Charter) -> None:
    with pytest.raises(InvalidInput, match=r"Point 1 \('auc'\) has the value nan"):
        owner.track_metrics(MODEL, [{"name": "auc", "value": 0.5}, {"name": "auc", "value": float("nan")}])
    with pytest.raises(InvalidInput, match="not a number"):
        owner.track_metrics(MODEL, {"auc": "high"})  # type: ignore[dict-item]
    with pytest.raises(NotFound):
        owner.track_metrics("no-such-model", {"auc": 0.5})
    with pytest.raises(PermissionDenied):
        viewer.track_metrics(MODEL, {"auc": 0.5})
    with pytest.raises(ValueError, match="batch_size"):
        owner.track_metrics(MODEL, {"auc": 0.5}, batch_size=0)
    assert viewer.metric_series(MODEL).series == []
