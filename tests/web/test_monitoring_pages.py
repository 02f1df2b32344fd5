"""The monitoring pages through HTTP, without a browser: the model page's Monitoring section (monitors,
"run now", open incidents, metric charts), the metrics report page and the alerts list.

Metric points are sent through the REST API relative to the present (the model page charts the last
30 days); what the charts hold is compared with the metrics API's own series and report.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from charter.config import Settings
from charter.db.engine import Database
from charter.monitoring import worker
from charter.web.monitoring import metric_figure, series_label
from tests.conftest import Factory
from tests.web.test_pages import HTML, events, sign_in

MODEL = "credit-scoring"
OTHER_MODEL = "cv-screening"
HOURS = 240
SPIKE = 167  # the hour of the latency spike
DIP = 120  # the hour accuracy dipped
Headers = dict[str, str]


def accuracy(i: int) -> float:
    if i == DIP:
        return 0.5
    if i == HOURS - 1:
        return 0.7  # the latest point breaks the threshold (accuracy >= 0.8)
    return 0.9 + 0.005 * ((i * 7) % 5 - 2)


@dataclass
class Ops:
    client: TestClient
    db: Database
    settings: Settings
    owner: Headers
    auditor: Headers
    times: list[datetime]

    def sign_in(self, username: str) -> str:
        self.client.cookies.clear()
        return sign_in(self.client, username)

    def page(self, path: str) -> Response:
        return self.client.get(path, headers=HTML)

    def post(self, path: str, csrf: str | None) -> Response:
        data = {} if csrf is None else {"csrf": csrf}
        return self.client.post(path, data=data, headers=HTML, follow_redirects=False)

    def monitor(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        body = {"name": name, "kind": "metric_threshold", "config": config, "version": "1.0.0", "interval": None}
        response = self.client.post(f"/api/v1/models/{MODEL}/monitors", json=body, headers=self.owner)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def runs(self, name: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/v1/models/{MODEL}/monitors/{name}/runs", headers=self.auditor)
        assert response.status_code == 200, response.text
        return list(response.json())

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get("/api/v1/alerts", params=params, headers=self.auditor)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@pytest.fixture
def ops(client: TestClient, factory: Factory, db: Database, settings: Settings, login: Callable[..., Headers]) -> Ops:
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("vera", "viewer@credit-risk")
    factory.user("aude", "auditor")
    factory.user("otto", "model_owner@people-analytics")
    owner, outsider = login("olivia"), login("otto")
    model = {"name": MODEL, "team": "credit-risk", "domain": "credit"}
    assert client.post("/api/v1/models", json=model, headers=owner).status_code == 201
    assert client.post(f"/api/v1/models/{MODEL}/versions", json={"version": "1.0.0"}, headers=owner).status_code == 201
    other = {"name": OTHER_MODEL, "team": "people-analytics", "domain": "employment"}
    assert client.post("/api/v1/models", json=other, headers=outsider).status_code == 201
    # Hourly points over the last ten days, the latest ten minutes ago.
    latest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    times = [latest - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
    points = [{"name": "accuracy", "value": accuracy(i), "time": t.isoformat()} for i, t in enumerate(times)]
    sent = client.post(f"/api/v1/models/{MODEL}/metrics", json={"points": points, "version": "1.0.0"}, headers=owner)
    assert sent.status_code == 200, sent.text
    latency = [
        {"name": "latency_ms", "value": 500.0 if i == SPIKE else 120.0 + i % 3, "time": t.isoformat()}
        for i, t in enumerate(times)
    ]
    assert client.post(f"/api/v1/models/{MODEL}/metrics", json={"points": latency}, headers=owner).status_code == 200
    thresholds = {"thresholds": [{"name": "accuracy", "op": ">=", "value": 0.8}]}
    assert client.put(f"/api/v1/models/{MODEL}/metrics/thresholds", json=thresholds, headers=owner).status_code == 200
    return Ops(client, db, settings, owner=owner, auditor=login("aude"), times=times)


def chart_specs(page: str) -> dict[str, dict[str, Any]]:
    """The Plotly figures a page embeds, by the metric their figure shows."""
    found = {}
    figures = re.findall(r'<figure class="metric-chart" id="figure-([\w-]+)" data-metric="([^"]+)">', page)
    for element, metric in figures:
        body = re.search(rf'class="chart-data" data-target="{element}">(.*?)</script>', page)
        assert body, f"no data for {metric}"
        found[html.unescape(metric)] = orjson.loads(body.group(1))
    return found


def x(moment: datetime | str) -> str:
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def error_text(page: str) -> str:
    match = re.search(r'<p class="alert error" role="alert" id="error">(.*?)</p>', page, re.S)
    assert match, "no error shown on the page"
    return html.unescape(match.group(1))


# -- charts -----------------------------------------------------------------------------------------


def test_the_model_page_charts_the_metrics_the_api_reports(ops: Ops) -> None:
    ops.sign_in("vera")
    page = ops.page(f"/models/{MODEL}")
    assert page.status_code == 200
    assert '<section class="card" id="monitoring">' in page.text
    assert '<script src="/static/vendor/plotly.min.js" defer></script>' in page.text  # drawn by the local bundle
    assert "<script>" not in page.text  # and nothing inline (the CSP forbids it)
    specs = chart_specs(page.text)
    assert sorted(specs) == ["accuracy", "latency_ms"]

    since = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    series = ops.client.get(f"/api/v1/models/{MODEL}/metrics", params={"since": since}, headers=ops.auditor).json()
    assert series["resolution"] == "raw"  # 480 points: no need to downsample
    assert '<span id="resolution" data-resolution="raw">Every point is shown</span>' in page.text
    report = ops.client.get(
        f"/api/v1/models/{MODEL}/metrics/report",
        params={"since": since, "resolution": series["resolution"]},
        headers=ops.auditor,
    ).json()
    for name, spec in specs.items():
        (api_series,) = [s for s in series["series"] if s["name"] == name]
        line = spec["data"][0]
        assert line["name"] == series_label(api_series["version"], api_series["segment"])
        assert line["x"] == [x(t) for t in api_series["time"]]
        assert line["y"] == api_series["value"]
        (api_report,) = [r for r in report["series"] if r["name"] == name]
        marked = [t for t in spec["data"] if t["name"] == "anomaly"]
        expected = [(x(a["time"]), a["value"]) for a in api_report["anomalies"]]
        assert [(mx, my) for t in marked for mx, my in zip(t["x"], t["y"], strict=True)] == expected
    # The dip and the spike are among the anomalies, in red.
    accuracy_marks = next(t for t in specs["accuracy"]["data"] if t["name"] == "anomaly")
    assert x(ops.times[DIP]) in accuracy_marks["x"] and accuracy_marks["marker"]["color"] == "#d62728"
    latency_marks = next(t for t in specs["latency_ms"]["data"] if t["name"] == "anomaly")
    assert x(ops.times[SPIKE]) in latency_marks["x"]
    # The stored threshold is a dashed line across the charted range, on its metric's chart only.
    (threshold,) = [t for t in specs["accuracy"]["data"] if t["name"].startswith("threshold")]
    assert threshold["name"] == "threshold >= 0.8" and threshold["y"] == [0.8, 0.8]
    assert threshold["x"] == [x(ops.times[0]), x(ops.times[-1])] and threshold["line"]["dash"] == "dash"
    assert not [t for t in specs["latency_ms"]["data"] if t["name"].startswith("threshold")]


def test_a_long_series_is_charted_as_bucket_means_with_the_anomalies_of_the_same_buckets(ops: Ops) -> None:
    # Every five minutes for three weeks (6,048 points): too many to draw, so the page reads hourly means.
    latest = ops.times[-1]
    count = 3 * 7 * 24 * 12
    points = [
        {
            "name": "throughput",
            "value": 40.0 if n == count // 2 else 100.0 + n % 7,
            "time": (latest - timedelta(minutes=5 * (count - 1 - n))).isoformat(),
        }
        for n in range(count)
    ]
    sent = ops.client.post(f"/api/v1/models/{MODEL}/metrics", json={"points": points}, headers=ops.owner)
    assert sent.status_code == 200, sent.text
    ops.sign_in("vera")
    page = ops.page(f"/models/{MODEL}").text
    assert '<span id="resolution" data-resolution="1h">' in page
    spec = chart_specs(page)["throughput"]
    since = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    params = {"since": since, "resolution": "1h", "name": "throughput"}
    (series,) = ops.client.get(f"/api/v1/models/{MODEL}/metrics", params=params, headers=ops.auditor).json()["series"]
    assert spec["data"][0]["y"] == series["value"] and len(series["value"]) in (504, 505)
    (report,) = ops.client.get(f"/api/v1/models/{MODEL}/metrics/report", params=params, headers=ops.auditor).json()[
        "series"
    ]
    marked = next(t for t in spec["data"] if t["name"] == "anomaly")
    assert list(zip(marked["x"], marked["y"], strict=True)) == [(x(a["time"]), a["value"]) for a in report["anomalies"]]
    # The dip is one point of its hour: the hour's mean falls with it and is marked on the line.
    assert all(y in series["value"] for y in marked["y"])
    assert min(series["value"]) in marked["y"]


def test_a_figure_shows_client_labels_as_text() -> None:
    from charter.metrics.schemas import SeriesData

    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    series = SeriesData(name="acc", version=None, segment={"region": "<b>eu</b>"}, time=[at], value=[0.5])
    spec = metric_figure("acc<i>", [series], {}, [])
    assert spec["data"][0]["name"] == "any version · region=&lt;b&gt;eu&lt;/b&gt;"
    assert spec["layout"]["yaxis"]["title"]["text"] == "acc&lt;i&gt;"
    assert spec["data"][0]["x"] == ["2026-03-02 09:00:00.000"]


def test_the_metrics_report_page_covers_a_range_of_days(ops: Ops) -> None:
    ops.sign_in("vera")
    first = ops.times[0].date() + timedelta(days=1)
    last = ops.times[DIP].date()
    page = ops.page(f"/models/{MODEL}/metrics?since={first}&until={last}")
    assert page.status_code == 200
    specs = chart_specs(page.text)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    report = ops.client.get(
        f"/api/v1/models/{MODEL}/metrics/report",
        params={"since": since.isoformat(), "until": until.isoformat(), "resolution": "raw"},
        headers=ops.auditor,
    ).json()
    inside = [t for t in ops.times if since <= t < until]
    assert specs["accuracy"]["data"][0]["x"] == [x(t) for t in inside]
    for row in report["series"]:
        shown = re.search(rf"<td><strong>{row['name']}</strong></td>(.*?)</tr>", page.text, re.S)
        assert shown, row["name"]
        cells = re.findall(r"<td>(.*?)</td>", shown.group(1), re.S)
        assert cells[1].startswith(f"{row['points']} ")
        assert cells[2] == f"{row['summary']['mean']:.4g}"
        assert str(row["anomaly_count"]) in cells[7]
    accuracy_row = next(r for r in report["series"] if r["name"] == "accuracy")
    assert accuracy_row["breaches"][0]["breached"] is True  # the dip, inside the range
    assert "accuracy &gt;= 0.8</code>: 1 point in 1 episode" in page.text

    bad = ops.page(f"/models/{MODEL}/metrics?since=yesterday")
    assert bad.status_code == 422 and "From must be a date (YYYY-MM-DD)" in error_text(bad.text)
    backwards = ops.page(f"/models/{MODEL}/metrics?since={last}&until={first}")
    assert backwards.status_code == 422 and "must start on or before" in error_text(backwards.text)
    empty = ops.page(f"/models/{MODEL}/metrics?since=2020-01-01&until=2020-01-31")
    assert empty.status_code == 200 and "No metric point in this range." in empty.text
    ops.sign_in("otto")
    assert ops.page(f"/models/{MODEL}/metrics").status_code == 403


# -- monitors and "run now" -------------------------------------------------------------------------


def test_run_now_from_the_model_page(ops: Ops) -> None:
    ops.monitor("accuracy-last", {"metric": "accuracy", "op": ">=", "value": 0.8, "aggregate": "last"})
    path = f"/models/{MODEL}/monitors/accuracy-last/run"

    csrf = ops.sign_in("vera")  # a viewer sees the monitor, and no button
    page = ops.page(f"/models/{MODEL}").text
    assert 'data-monitor="accuracy-last"' in page and "never run" in page
    assert f'action="{path}"' not in page
    assert ops.post(path, csrf).status_code == 403
    csrf = ops.sign_in("olivia")
    assert f'action="{path}"' in ops.page(f"/models/{MODEL}").text
    for sent in (None, "wrong"):
        refused = ops.post(path, sent)
        assert refused.status_code == 403 and "The form has expired" in refused.text
    assert ops.runs("accuracy-last") == []

    ran = ops.post(path, csrf)
    assert ran.status_code == 303, ran.text
    assert ran.headers["location"] == f"/models/{MODEL}?done=ran#monitoring"
    (run,) = ops.runs("accuracy-last")
    assert (run["status"], run["trigger"], run["value"]) == ("breach", "manual", pytest.approx(0.7))
    (event,) = events(ops.db, "monitor.run")
    assert (event["actor"], event["details"]["status"]) == ("user:olivia", "breach")
    (alert,) = ops.alerts()
    assert alert["incident_id"] is not None

    page = ops.page(ran.headers["location"]).text
    assert "The monitor ran; its result is under Monitoring." in page
    row = re.search(r'<tr data-monitor="accuracy-last">(.*?)</tr>', page, re.S)
    assert row and '<span class="badge mon-breach">breach</span>' in row.group(1) and "<td>0.7</td>" in row.group(1)
    # The incident the alert opened is listed as open, linked; the incident's page lists the alert.
    incidents = re.search(r'<ul class="plain" id="model-incidents">(.*?)</ul>', page, re.S)
    assert incidents and f'href="/incidents/{alert["incident_id"]}"' in incidents.group(1)
    incident_page = ops.page(f"/incidents/{alert['incident_id']}").text
    linked = re.search(r'<ul class="plain" id="linked-alerts">(.*?)</ul>', incident_page, re.S)
    assert linked and alert["title"] in html.unescape(linked.group(1))
    assert '<span class="badge alert-firing">firing</span>' in linked.group(1)

    csrf = ops.sign_in("otto")  # another team's owner holds monitor:write, not for this model
    assert ops.post(path, csrf).status_code == 403
    assert len(ops.runs("accuracy-last")) == 1


# -- alerts -----------------------------------------------------------------------------------------


def alert_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="alert-(\d+)"', page)]


def test_the_alerts_list_shows_firing_first_and_filters(ops: Ops) -> None:
    last = ops.monitor("accuracy-last", {"metric": "accuracy", "op": ">=", "value": 0.8, "aggregate": "last"})
    spike = ops.monitor("latency", {"metric": "latency_ms", "op": "<=", "value": 200, "aggregate": "last"})
    first = worker.run_monitor(ops.db, ops.settings, last["id"], worker="test")
    assert first.status == "breach"
    # The latency monitor breaches just after the spike, and calms down by the latest point.
    after = timedelta(minutes=1)
    breach = worker.run_monitor(ops.db, ops.settings, spike["id"], worker="test", now=ops.times[SPIKE] + after)
    assert breach.status == "breach"
    calm = worker.run_monitor(ops.db, ops.settings, spike["id"], worker="test", now=ops.times[-1] + after)
    assert calm.status == "ok"
    firing, resolved = first.alert_id, breach.alert_id
    assert firing is not None and resolved is not None and resolved > firing

    ops.sign_in("aude")  # reads monitoring organisation-wide
    page = ops.page("/alerts")
    assert page.status_code == 200
    assert alert_ids(page.text) == [firing, resolved]  # firing first, though older
    assert "2 alerts, 1 firing" in page.text
    row = re.search(rf'<tr id="alert-{firing}" class="alert-row firing">(.*?)</tr>', page.text, re.S)
    incident_id = ops.alerts(status="firing")[0]["incident_id"]
    assert row and f'href="/incidents/{incident_id}"' in row.group(1)
    assert f'href="/models/{MODEL}#monitoring"' in row.group(1)
    assert alert_ids(ops.page("/alerts?status=resolved").text) == [resolved]
    assert alert_ids(ops.page("/alerts?status=firing").text) == [firing]
    assert alert_ids(ops.page(f"/alerts?model={OTHER_MODEL}").text) == []
    assert alert_ids(ops.page("/alerts?status=nonsense").text) == [firing, resolved]  # an unknown choice: ignored
    unknown = ops.page("/alerts?model=no-such-model")
    assert unknown.status_code == 404 and "no-such-model" in error_text(unknown.text)

    ops.sign_in("vera")  # a team's viewer: the alerts of her team's models
    assert alert_ids(ops.page("/alerts").text) == [firing, resolved]
    assert 'href="/alerts"' in ops.page("/").text  # linked from the navigation
    ops.sign_in("otto")  # another team's owner: none of them
    assert alert_ids(ops.page("/alerts").text) == []
    assert ops.page(f"/alerts?model={MODEL}").status_code == 403
