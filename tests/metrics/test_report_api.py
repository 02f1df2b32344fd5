"""Reports: a series with a planted shift, spike and breach says so; thresholds stored and given in the
query; a long range is analysed from the rollups."""

from __future__ import annotations

import numpy as np
import pytest

from tests.metrics.conftest import Metrics, at, point


@pytest.fixture
def planted(metrics: Metrics) -> Metrics:
    """Three days of hourly accuracy: 0.92 with noise, dropping to 0.85 at hour 40, a spike at hour 20."""
    rng = np.random.default_rng(12)
    values = np.where(np.arange(72) < 40, 0.92, 0.85) + rng.normal(scale=0.004, size=72)
    values[20] = 0.70
    metrics.stored([point("accuracy", float(v), 60 * h, version="1.0.0") for h, v in enumerate(values)])
    metrics.stored([point("latency_ms", 100 + (h % 5), 60 * h, version="1.0.0") for h in range(72)])
    return metrics


def test_the_report_finds_the_shift_the_spike_and_the_breaches(planted: Metrics) -> None:
    response = planted.report(threshold="accuracy:>=:0.88", name="accuracy")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["thresholds"] == [{"name": "accuracy", "op": ">=", "value": 0.88, "source": "query"}]
    (series,) = body["series"]
    assert (series["name"], series["version"], series["resolution"], series["points"]) == (
        "accuracy",
        "1.0.0",
        "raw",
        72,
    )
    assert [c["time"] for c in series["change_points"]] == [at(40 * 60)]
    shift = series["change_points"][0]
    assert shift["before_mean"] == pytest.approx(0.915, abs=0.01) and shift["after_mean"] == pytest.approx(
        0.85, abs=0.005
    )
    assert at(20 * 60) in [a["time"] for a in series["anomalies"]]
    spike = next(a for a in series["anomalies"] if a["time"] == at(20 * 60))
    assert spike["value"] == 0.70 and spike["method"] == "mad" and spike["expected_low"] > 0.88
    assert "below the median" in spike["reason"]
    (judged,) = series["breaches"]
    assert judged["threshold"] == "accuracy >= 0.88" and judged["breached"] and judged["points"] == 33
    assert [(e["start"], e["end"], e["points"]) for e in judged["episodes"]] == [
        (at(20 * 60), at(20 * 60), 1),
        (at(40 * 60), at(71 * 60), 32),
    ]
    assert judged["episodes"][0]["worst"] == 0.70
    assert series["trend"]["direction"] == "decreasing" and series["trend"]["slope_per_day"] < 0
    assert series["summary"]["last"] == pytest.approx(0.85, abs=0.02) and series["summary"]["min"] == 0.70


def test_stored_thresholds_are_judged_and_changes_are_audited(planted: Metrics) -> None:
    path = "/api/v1/models/credit-scoring/metrics/thresholds"
    body = {
        "thresholds": [{"name": "latency_ms", "op": "<=", "value": 103}, {"name": "accuracy", "op": ">", "value": 0.5}]
    }
    assert planted.client.put(path, json=body, headers=planted.viewer).status_code == 403
    saved = planted.client.put(path, json=body, headers=planted.owner)
    assert saved.status_code == 200
    assert [(t["name"], t["op"], t["source"]) for t in saved.json()] == [
        ("accuracy", ">", "stored"),
        ("latency_ms", "<=", "stored"),
    ]
    assert planted.client.get(path, headers=planted.viewer).json() == saved.json()
    report = planted.report().json()
    latency = next(s for s in report["series"] if s["name"] == "latency_ms")
    (judged,) = latency["breaches"]
    assert judged["threshold"] == "latency_ms <= 103" and judged["points"] == sum(h % 5 == 4 for h in range(72))
    accuracy = next(s for s in report["series"] if s["name"] == "accuracy")
    assert accuracy["breaches"][0]["breached"] is False and accuracy["breaches"][0]["episodes"] == []
    (event,) = planted.events("metrics.thresholds")
    assert event["details"] == {"before": [], "after": ["latency_ms <= 103", "accuracy > 0.5"]}
    twice = planted.client.put(path, json={"thresholds": [body["thresholds"][0]] * 2}, headers=planted.owner)
    assert twice.status_code == 422
    assert planted.client.put(path, json={"thresholds": []}, headers=planted.owner).json() == []


def test_bad_report_parameters_are_refused(planted: Metrics) -> None:
    for bad in ("accuracy>=0.9", "accuracy:=>:0.9", "accuracy:>=:high", "acc uracy:>=:1", "accuracy:>=:nan"):
        response = planted.report(threshold=bad)
        assert response.status_code == 422 and "NAME:OP:VALUE" in response.json()["error"]["message"], bad
    assert planted.report(method="zscore").status_code == 422


def test_a_long_range_is_analysed_from_the_rollups_and_ewma_can_be_asked_for(metrics: Metrics) -> None:
    # 30 days of a point a minute (43,200 points): the report reads hourly buckets (720 of them).
    minutes = np.arange(30 * 1440)
    values = 10 + np.sin(2 * np.pi * minutes / 1440)
    for start in range(0, len(minutes), 10_000):
        chunk = slice(start, start + 10_000)
        metrics.stored([point("load", float(v), float(m)) for m, v in zip(minutes[chunk], values[chunk], strict=True)])
    series = metrics.report(name="load").json()["series"][0]
    assert series["resolution"] == "1h" and series["points"] == 720
    assert series["season"]["period"] == "daily" and series["season"]["strength"] > 0.9
    assert series["change_points"] == [] and series["anomaly_count"] == 0
    ewma = metrics.report(name="load", method="ewma", resolution="1d").json()
    assert ewma["method"] == "ewma" and ewma["series"][0]["points"] == 30


def test_an_empty_model_reports_nothing(metrics: Metrics) -> None:
    body = metrics.report().json()
    assert body["series"] == [] and body["model"] == "credit-scoring"
