"""Monitors, alerts, incidents opened by alerts, notifications and the worker, against real parts.

Data goes in through the REST API (decisions, outcomes, metric points); the worker's rounds are
run by the test with a fixed ``now`` (the decisions are logged in January 2026); webhooks are
delivered over HTTP to a server in this process, e-mail to a local SMTP server (aiosmtpd).
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text

from charter.config import Settings
from charter.monitoring import worker
from charter.monitoring.models import DeliveryRow, MonitorRow, MonitorRunRow
from tests.conftest import Factory
from tests.decisions.conftest import MODEL, START, Log, decision

DAY = timedelta(days=1)
SECRET = "whsec-0123456789abcdef"


def race(n: int) -> str:
    return ("African-American", "Caucasian")[n % 2]


def unfair(first: int, count: int) -> list[dict[str, Any]]:
    """Decisions that approve every Caucasian applicant and one in four African-American ones."""
    return [
        decision(
            n,
            output="approve" if n % 2 or n % 8 == 0 else "deny",
            sensitive_attributes={"race": race(n)},
        )
        for n in range(first, first + count)
    ]


def add(log: Log, name: str, kind: str, config: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"name": name, "kind": kind, "config": config, "version": "1.0.0", **fields}
    response = log.client.post(f"/api/v1/models/{MODEL}/monitors", json=body, headers=log.owner)
    assert response.status_code == 201, response.text
    return dict(response.json())


def run(log: Log, settings: Settings, monitor_id: int, now: datetime) -> Any:
    return worker.run_monitor(log.db, settings, monitor_id, worker="test", now=now)


def alerts(log: Log, **params: Any) -> list[dict[str, Any]]:
    response = log.client.get("/api/v1/alerts", params=params, headers=log.auditor)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def incident(log: Log, incident_id: int) -> dict[str, Any]:
    response = log.client.get(f"/api/v1/incidents/{incident_id}", headers=log.risk)
    assert response.status_code == 200, response.text
    return dict(response.json())


FAIRNESS = {"sensitive_features": ["race"], "positive_output": "approve", "positive_outcome": 1, "window": 30 * 86400}


def test_fairness_breach_fires_one_alert_opens_an_incident_and_resolves(log: Log, settings: Settings) -> None:
    assert log.send(unfair(0, 200)).status_code == 200
    for n in range(200):
        log.outcome(f"d-{n}", {"outcome": 1})  # everyone would have repaid
    config = {**FAIRNESS, "window": 3 * 86400, "min_group_size": 10}
    monitor = add(log, "fair-approvals", "fairness", config, severity="SEV3")

    first = run(log, settings, monitor["id"], START + DAY)
    assert first.status == "breach", first.message
    assert "demographic_parity_ratio" in first.message
    (alert,) = alerts(log, status="firing")
    assert alert["monitor"] == "fair-approvals" and alert["severity"] == "SEV3" and alert["occurrences"] == 1
    opened = incident(log, alert["incident_id"])
    assert opened["type"] == "bias_fairness" and opened["source"] == "monitoring_alert"
    assert opened["severity"] == "SEV3" and opened["models"][0]["model"] == MODEL

    # The breach goes on: the same alert is counted again; no second alert, no second incident.
    again = run(log, settings, monitor["id"], START + 2 * DAY)
    assert again.status == "breach" and again.alert_id == alert["id"]
    (still,) = alerts(log)
    assert still["occurrences"] == 2
    listed = log.client.get("/api/v1/incidents", headers=log.risk).json()["items"]
    assert [i["id"] for i in listed] == [alert["incident_id"]]

    # Fair decisions later, when the window no longer holds the unfair ones: the alert resolves by itself.
    fair = [decision(n, output="approve", sensitive_attributes={"race": race(n)}) for n in range(5000, 5200)]
    assert log.send(fair).status_code == 200
    for n in range(5000, 5200):
        log.outcome(f"d-{n}", {"outcome": 1})
    ok = run(log, settings, monitor["id"], START + timedelta(minutes=5200) + DAY)
    assert ok.status == "ok", ok.message
    (resolved,) = alerts(log)
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert incident(log, alert["incident_id"])["status"] == "reported"  # the incident is people's to close
    assert [e["resource_id"] for e in log.events("alert.fire")] == [str(alert["id"])]
    assert [e["resource_id"] for e in log.events("alert.resolve")] == [str(alert["id"])]


def test_deleting_a_monitor_resolves_its_alerts(log: Log, settings: Settings) -> None:
    breach(log, settings, START + DAY)
    (alert,) = alerts(log, status="firing")
    assert log.client.delete(f"/api/v1/models/{MODEL}/monitors/fairness", headers=log.owner).status_code == 204
    (kept,) = alerts(log)
    assert kept["id"] == alert["id"] and kept["status"] == "resolved" and kept["monitor_id"] is None


def test_drift_monitor_compares_logged_inputs_with_a_reference_profile(log: Log, settings: Settings) -> None:
    from charter.client.monitoring import MonitoringAPI

    def applicant(n: int, income: float, region: str) -> dict[str, Any]:
        return decision(n, inputs={"income": income, "region": region})

    reference = {"income": [1000.0 + 10 * (n % 100) for n in range(2000)], "region": ["north", "south"] * 1000}
    profile = MonitoringAPI.drift_reference(reference)
    monitor = add(log, "input-drift", "drift", {"reference_profile": profile, "window": 86400, "min_rows": 50})
    assert "reference_profile" in monitor["config"]
    assert monitor["config"]["reference_profile"]["columns"] == ["income", "region"]  # summarised, not echoed

    same = [applicant(n, 1000.0 + 10 * (n % 100), "north" if n % 2 else "south") for n in range(300)]
    assert log.send(same, personal_fields=[]).status_code == 200
    calm = run(log, settings, monitor["id"], START + timedelta(minutes=300))
    assert calm.status == "ok", calm.message
    assert calm.details["report"]["drift_share"] == 0.0

    shifted = [applicant(n, 5000.0 + 10 * (n % 100), "west") for n in range(2000, 2300)]
    assert log.send(shifted, personal_fields=[]).status_code == 200
    drifted = run(log, settings, monitor["id"], START + timedelta(minutes=2300))
    assert drifted.status == "breach" and drifted.value == 1.0
    assert set(drifted.details["report"]["drifted_columns"]) == {"income", "region"}
    assert drifted.details["report"]["columns"]["region"]["new_categories"] == ["west"]
    (alert,) = alerts(log, status="firing")
    assert incident(log, alert["incident_id"])["type"] == "performance"


def test_data_quality_and_metric_thresholds(log: Log, settings: Settings) -> None:
    rows = [
        decision(n, inputs={"income": None if n % 4 == 0 else 100 * n, "age": "x" if n == 3 else 30}) for n in range(40)
    ]
    assert log.send(rows, personal_fields=[]).status_code == 200
    quality = add(
        log,
        "inputs",
        "data_quality",
        {"window": 86400, "max_null_rate": 0.1, "schema": {"income": "number", "age": "integer"}},
        open_incident=False,
    )
    checked = run(log, settings, quality["id"], START + DAY)
    assert checked.status == "breach"
    assert "income: 25.0% missing" in checked.message and "age: 1 value(s) not integer" in checked.message
    (alert,) = alerts(log)
    assert alert["incident_id"] is None  # this monitor alerts without opening an incident

    points = [{"name": "accuracy", "value": v, "time": (START + timedelta(minutes=i)).isoformat()} for i, v in
              enumerate([0.91, 0.90, 0.72, 0.70])]  # fmt: skip
    sent = log.client.post(f"/api/v1/models/{MODEL}/metrics", json={"points": points}, headers=log.owner)
    assert sent.status_code == 200, sent.text
    config = {"metric": "accuracy", "op": ">=", "value": 0.8, "window": 3600, "aggregate": "last"}
    accuracy = add(log, "accuracy", "metric_threshold", config)
    low = run(log, settings, accuracy["id"], START + timedelta(minutes=10))
    assert low.status == "breach" and low.value == pytest.approx(0.70)
    mean = add(log, "accuracy-mean", "metric_threshold", {**config, "aggregate": "mean", "value": 0.8})
    assert run(log, settings, mean["id"], START + timedelta(minutes=10)).value == pytest.approx(0.8075)
    gone = run(log, settings, accuracy["id"], START + timedelta(hours=5))
    assert gone.status == "error" and "No point" in gone.message


def test_monitor_definitions_are_checked_and_guarded(log: Log) -> None:
    path = f"/api/v1/models/{MODEL}/monitors"
    good = {"name": "q", "kind": "data_quality", "config": {"max_null_rate": 0.1}}
    assert log.client.post(path, json=good, headers=log.viewer).status_code == 403
    assert log.client.post(path, json=good, headers=log.outsider).status_code == 403
    assert log.client.get(path, headers=log.outsider).status_code == 403
    assert log.client.post(path, json=good, headers=log.owner).status_code == 201
    assert log.client.post(path, json=good, headers=log.owner).status_code == 409
    bad = [
        {**good, "name": "k", "kind": "no-such-kind"},
        {**good, "name": "c", "config": {"max_null_rate": 2}},
        {"name": "d", "kind": "drift", "config": {"reference_profile": {"columns": "nonsense"}}},
        {"name": "m", "kind": "metric_threshold", "config": {"metric": "acc", "op": "~", "value": 1}},
        {**good, "name": "bad name!"},
        {**good, "name": "v", "version": "9.9.9"},
    ]
    for body in bad:
        response = log.client.post(path, json=body, headers=log.owner)
        assert response.status_code in (404, 422), (body, response.text)
        assert "Traceback" not in response.text
    assert [m["name"] for m in log.client.get(path, headers=log.viewer).json()] == ["q"]


def test_a_run_without_a_production_version_is_an_error_not_a_crash(log: Log, settings: Settings) -> None:
    body = {"name": "prod-only", "kind": "data_quality", "config": {"max_null_rate": 0.1}, "interval": None}
    created = log.client.post(f"/api/v1/models/{MODEL}/monitors", json=body, headers=log.owner)
    assert created.status_code == 201 and created.json()["next_run_at"] is None
    response = log.client.post(f"/api/v1/models/{MODEL}/monitors/prod-only/run", headers=log.owner)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "error" and "production" in response.json()["message"]
    assert [e["details"]["status"] for e in log.events("monitor.run")] == ["error"]
    assert log.client.post(f"/api/v1/models/{MODEL}/monitors/prod-only/run", headers=log.viewer).status_code == 403


def test_ingestion_makes_on_ingest_monitors_due(log: Log) -> None:
    add(log, "on-arrival", "data_quality", {"max_null_rate": 0.5}, interval=None, on_ingest=True)
    add(log, "scheduled", "data_quality", {"max_null_rate": 0.5}, interval=None)
    with log.db.session(write=False) as session:
        assert session.scalars(select(MonitorRow.next_run_at)).all() == [None, None]
    log.send([decision(1)])
    with log.db.session(write=False) as session:
        due = {name: at for name, at in session.execute(select(MonitorRow.name, MonitorRow.next_run_at))}
    assert due["on-arrival"] is not None and due["scheduled"] is None


# -- notifications --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receiver:
    """A webhook receiver on localhost that answers with the given statuses, in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = outer.statuses.pop(0) if outer.statuses else 204
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([])
    yield made
    made.close()


@pytest.fixture
def admin(factory: Factory, login: Callable[..., dict[str, str]]) -> dict[str, str]:
    factory.user("ada", "admin")
    return login("ada")


def channel(log: Log, admin: dict[str, str], name: str, kind: str, target: str, **fields: Any) -> None:
    body = {"name": name, "kind": kind, "target": target, **fields}
    response = log.client.post("/api/v1/notification-channels", json=body, headers=admin)
    assert response.status_code == 201, response.text


def breach(log: Log, settings: Settings, now: datetime) -> None:
    log.send(unfair(0, 100))
    for n in range(100):
        log.outcome(f"d-{n}", {"outcome": 1})
    monitor = add(log, "fairness", "fairness", {**FAIRNESS, "min_group_size": 10}, severity="SEV2")
    assert run(log, settings, monitor["id"], now).status == "breach"


def test_webhooks_are_signed_and_slack_gets_its_payload(
    log: Log, settings: Settings, receiver: Receiver, admin: dict[str, str]
) -> None:
    channel(log, admin, "ops-hook", "webhook", receiver.url, secret=SECRET)
    channel(log, admin, "slack", "slack", receiver.url.replace("/hook", "/slack"))
    channel(log, admin, "sev1-only", "webhook", receiver.url, min_severity="SEV1")  # a SEV2 alert skips it
    breach(log, settings, START + DAY)
    sent, failed = worker.deliver_due(log.db, settings, now=START + DAY)
    assert (sent, failed) == (2, 0)
    by_path = {headers.get("x-charter-signature") is not None: (headers, body) for headers, body in receiver.received}
    headers, body = by_path[True]
    stamp, mac = headers["x-charter-signature"].split(",")
    expected = hmac.new(SECRET.encode(), stamp[2:].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert mac == f"v1={expected}"
    event = orjson.loads(body)
    assert event["event"] == "alert.firing" and event["alert"]["severity"] == "SEV2"
    slack = orjson.loads(by_path[False][1])
    assert slack["text"].startswith("[SEV2] ") and slack["blocks"][0]["type"] == "section"
    # Nothing is sent twice.
    assert worker.deliver_due(log.db, settings, now=START + 2 * DAY) == (0, 0)
    # The channel's secret is not stored in clear.
    listed = log.client.get("/api/v1/notification-channels", headers=log.auditor).json()
    assert {c["name"]: c["signed"] for c in listed}["ops-hook"] is True
    assert SECRET.encode() not in orjson.dumps(listed)
    with log.db.session(write=False) as session:
        stored = session.execute(text("SELECT secret FROM notification_channels WHERE name = 'ops-hook'")).scalar_one()
        slack_url = session.execute(text("SELECT target FROM notification_channels WHERE name = 'slack'")).scalar_one()
    assert stored and SECRET not in stored
    # A Slack URL is its own credential: sealed in the database and never shown back.
    assert "/slack" not in slack_url and {c["name"]: c["target"] for c in listed}["slack"] == "(sealed webhook URL)"


def test_an_outage_retries_then_dead_letters_and_loses_no_alert(
    log: Log, settings: Settings, receiver: Receiver, admin: dict[str, str]
) -> None:
    receiver.statuses = [503] * 20
    channel(log, admin, "flaky", "webhook", receiver.url)
    assert (
        log.client.post(
            "/api/v1/notification-channels",
            json={"name": "x", "kind": "webhook", "target": receiver.url},
            headers=log.owner,
        ).status_code
        == 403
    )  # channels are the organisation's: administrators add them
    breach(log, settings, START + DAY)
    moment = START + DAY
    for attempt in range(1, settings.notification_max_attempts + 1):
        assert worker.deliver_due(log.db, settings, now=moment) == (0, 1), attempt
        assert worker.deliver_due(log.db, settings, now=moment) == (0, 0)  # not due again before its backoff
        moment += timedelta(hours=1)
    (dead,) = log.client.get("/api/v1/notifications", params={"status": "dead"}, headers=log.auditor).json()
    assert dead["attempts"] == settings.notification_max_attempts and "503" in dead["last_error"]
    assert "/hook" not in dead["last_error"]  # the URL's path (a credential for some services) is left out
    assert len(receiver.received) == settings.notification_max_attempts
    assert [a["status"] for a in alerts(log)] == ["firing"]  # the alert itself is untouched
    assert log.events("notification.dead")[0]["details"]["attempts"] == settings.notification_max_attempts


def test_email_goes_through_smtp(log: Log, home: Any, db_url: str, admin: dict[str, str]) -> None:
    from aiosmtpd.controller import Controller

    from tests.conftest import make_settings

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(envelope.content)
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = make_settings(home, db_url, smtp_host="127.0.0.1", smtp_port=port, smtp_from="charter@example.org")
        channel(log, admin, "risk-mail", "email", "risk@example.org")
        breach(log, settings, START + DAY)
        assert worker.deliver_due(log.db, settings, now=START + DAY) == (1, 0)
    finally:
        controller.stop()
    (message,) = inbox.messages
    assert b"Subject: [Charter SEV2]" in message and b"To: risk@example.org" in message


# -- the worker -----------------------------------------------------------------------------------


def test_concurrent_workers_run_each_due_monitor_once(log: Log, settings: Settings) -> None:
    for n in range(12):
        add(log, f"m{n}", "data_quality", {"max_null_rate": 0.5})
    now = datetime.now(UTC) + timedelta(seconds=1)  # a new monitor is due at once
    done: list[int] = []
    barrier = threading.Barrier(3)

    def one(name: str) -> None:
        barrier.wait()
        done.append(worker.tick(log.db, settings, worker=name, now=now).runs)

    threads = [threading.Thread(target=one, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done) == 12
    with log.db.session(write=False) as session:
        per_monitor = session.execute(select(MonitorRunRow.monitor_id, func.count()).group_by(MonitorRunRow.monitor_id))
        assert sorted(n for _, n in per_monitor) == [1] * 12
        # Each is due again an interval later, and no lease is left behind.
        assert session.scalar(select(func.count()).where(MonitorRow.lease_owner.is_not(None))) == 0
    assert worker.tick(log.db, settings, worker="w0", now=now).runs == 0
    assert worker.tick(log.db, settings, worker="w0", now=now + timedelta(hours=1)).runs == 12


def test_overdue_incident_clocks_alert_and_resolve(log: Log, settings: Settings) -> None:
    body = {
        "title": "Leaked applications",
        "type": "privacy",
        "severity": "SEV2",
        "detected_at": START.isoformat(),
        "models": [{"model": MODEL}],
    }
    created = log.client.post("/api/v1/incidents", json=body, headers=log.owner)
    assert created.status_code == 201, created.text
    number = created.json()["id"]
    marked = log.client.post(
        f"/api/v1/incidents/{number}/reportable", json={"regime": "gdpr_breach"}, headers=log.owner
    )
    assert marked.status_code == 200, marked.text
    assert worker.watch_clocks(log.db, settings, START + timedelta(hours=71)) == (0, 0)
    assert worker.watch_clocks(log.db, settings, START + timedelta(hours=73)) == (1, 0)  # GDPR's 72 hours
    (late,) = alerts(log, status="firing")
    assert "report to the authority overdue (gdpr_breach)" in late["title"] and late["incident_id"] == number
    assert worker.watch_clocks(log.db, settings, START + timedelta(hours=74)) == (0, 0)  # still one alert each
    submitted = log.client.post(
        f"/api/v1/incidents/{number}/reportable/gdpr_breach/submitted", json={}, headers=log.owner
    )
    assert submitted.status_code == 200, submitted.text
    _, resolved = worker.watch_clocks(log.db, settings, START + timedelta(hours=75))
    assert resolved == 1
    assert [a["source"] for a in alerts(log, status="resolved")] == ["incident_clock"]


def test_prometheus_exports_monitor_values_and_firing_alerts(
    log: Log, settings: Settings, admin: dict[str, str]
) -> None:
    breach(log, settings, START + DAY)
    with log.db.session() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryRow)) == 0  # no channel, no delivery
    metrics = log.client.get("/metrics", headers=admin).text
    assert f'charter_monitor_breached{{model="{MODEL}",monitor="fairness"}} 1.0' in metrics
    assert f'charter_alerts_firing{{model="{MODEL}",severity="SEV2"}} 1.0' in metrics


def test_alerts_are_listed_by_team_incident_and_page(log: Log, settings: Settings) -> None:
    breach(log, settings, START + DAY)
    quality = add(log, "inputs", "data_quality", {"window": 86400, "max_null_rate": 0.0}, open_incident=False)
    log.send([decision(9000, inputs={"income": None})], personal_fields=[])
    assert run(log, settings, quality["id"], START + timedelta(minutes=9000) + timedelta(hours=1)).status == "breach"

    def listed(headers: dict[str, str], **params: Any) -> Any:
        response = log.client.get("/api/v1/alerts", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    mine = listed(log.owner)["items"]  # a team reader, without naming a model
    assert [a["monitor"] for a in mine] == ["inputs", "fairness"]
    assert listed(log.outsider)["items"] == []  # another team's reader sees none of them
    fairness = next(a for a in mine if a["monitor"] == "fairness")
    only = listed(log.owner, incident=fairness["incident_id"])["items"]
    assert [a["id"] for a in only] == [fairness["id"]]
    first = listed(log.auditor, limit=1)
    second = listed(log.auditor, limit=1, cursor=first["next_cursor"])
    assert [a["id"] for a in first["items"] + second["items"]] == [a["id"] for a in mine]
    assert second["next_cursor"] is None
