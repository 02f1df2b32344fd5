"""The incident pages through HTTP, without a browser: the board, the report form, an incident's page
and every action form on it, against the real app on SQLite and, when configured, PostgreSQL.

Forms are driven as a browser would drive them (GET the page, copy its CSRF value, POST the form);
what the pages say is checked against the REST API's answer for the same incident.
"""

from __future__ import annotations

import hashlib
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

from charter.db.engine import Database
from charter.web.incidents import duration, explain
from tests.conftest import Factory
from tests.web.test_pages import HTML, events, sign_in

MODEL = "credit-scoring"
OTHER_MODEL = "cv-screening"
Headers = dict[str, str]


@dataclass
class Desk:
    """The credit-risk team's incident desk: a model in production and people with different roles.

    olivia: model owner (credit-risk); vera: viewer (credit-risk); aude: auditor (reads everything);
    otto: model owner of another team (people-analytics), with a model of his own; ada: administrator.
    """

    client: TestClient
    db: Database
    owner: Headers
    auditor: Headers
    outsider: Headers
    admin: Headers

    def sign_in(self, username: str) -> str:
        self.client.cookies.clear()
        return sign_in(self.client, username)

    def report(self, headers: Headers | None = None, **fields: Any) -> dict[str, Any]:
        body = {
            "title": "Approval rate collapsed for applicants over 60",
            "type": "bias_fairness",
            "severity": "SEV2",
            "models": [{"model": MODEL, "version": "1.0.0"}],
            **fields,
        }
        response = self.client.post("/api/v1/incidents", json=body, headers=headers or self.owner)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def api(self, incident_id: int) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/incidents/{incident_id}", headers=self.auditor)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def incidents(self) -> list[dict[str, Any]]:
        response = self.client.get("/api/v1/incidents", params={"limit": 500}, headers=self.auditor)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def page(self, path: str) -> Response:
        return self.client.get(path, headers=HTML)

    def post(self, path: str, csrf: str | None, **fields: Any) -> Response:
        data = {**fields} if csrf is None else {"csrf": csrf, **fields}
        return self.client.post(path, data=data, headers=HTML, follow_redirects=False)


@pytest.fixture
def desk(client: TestClient, factory: Factory, db: Database, login: Callable[..., Headers]) -> Desk:
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("vera", "viewer@credit-risk")
    factory.user("aude", "auditor")
    factory.user("otto", "model_owner@people-analytics")
    factory.user("rita", "reviewer@credit-risk")
    factory.user("ada", "admin")
    owner, reviewer, outsider = login("olivia"), login("rita"), login("otto")
    model = {"name": MODEL, "team": "credit-risk", "domain": "credit", "purpose": "Score loan applications"}
    assert client.post("/api/v1/models", json=model, headers=owner).status_code == 201
    assert client.post(f"/api/v1/models/{MODEL}/versions", json={"version": "1.0.0"}, headers=owner).status_code == 201
    for stage, headers in (("review", owner), ("approved", reviewer), ("production", owner)):
        moved = client.post(f"/api/v1/models/{MODEL}/versions/1.0.0/promote", json={"stage": stage}, headers=headers)
        assert moved.status_code == 200, moved.text
    other = {"name": OTHER_MODEL, "team": "people-analytics", "domain": "employment"}
    assert client.post("/api/v1/models", json=other, headers=outsider).status_code == 201
    return Desk(client, db, owner=owner, auditor=login("aude"), outsider=outsider, admin=login("ada"))


def board_columns(page: str) -> dict[str, list[int]]:
    """Incident ids per column of the board, in the order shown."""
    found: dict[str, list[int]] = {}
    for status, body in re.findall(r'<section class="board-column" id="column-(\w+)".*?>(.*?)</section>', page, re.S):
        found[status] = [int(i) for i in re.findall(r'data-id="(\d+)"', body)]
    return found


def error_text(page: str) -> str:
    match = re.search(r'<p class="alert error" role="alert" id="error">(.*?)</p>', page, re.S)
    assert match, "no error shown on the page"
    return html.unescape(match.group(1))


def incident_events(db: Database, action: str) -> list[dict[str, Any]]:
    return [e for e in events(db, action) if e["resource_type"] == "incident"]


# -- small pure pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (59, "59 s"), (-59, "59 s"), (60, "1 min"), (3725, "1 h 02 min"), (-90_000, "1 d 1 h"), (None, "")],
)
def test_durations_are_shown_in_their_two_largest_units(seconds: int | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_validation_errors_are_explained_in_the_forms_words() -> None:
    from pydantic import ValidationError

    from charter.incidents.schemas import ReviewWrite

    with pytest.raises(ValidationError) as caught:
        ReviewWrite.model_validate(
            {"root_cause": "x", "follow_ups": [{"action": "a", "owner": "o", "due_date": "2026-01-01"}, {"action": ""}]}
        )
    text = explain(caught.value)
    assert "Follow-up 2, action: String should have at least 1 character." in text
    assert "Follow-up 2, due date: Field required." in text
    assert "Follow-up 1" not in text


# -- the board --------------------------------------------------------------------------------------


def test_the_board_puts_each_incident_in_its_status_column_worst_first(desk: Desk) -> None:
    sev3 = desk.report(severity="SEV3", title="Latency doubled", type="performance")
    sev1 = desk.report(severity="SEV1", title="Model leaks applicant data", type="privacy")
    sev2 = desk.report(severity="SEV2")
    moved = desk.report(
        desk.admin, severity="SEV4", title="Typo in the adverse-action notice", type="compliance", models=[]
    )
    for status in ("triaged", "investigating"):
        response = desk.client.post(
            f"/api/v1/incidents/{moved['id']}/status", json={"status": status}, headers=desk.admin
        )
        assert response.status_code == 200, response.text
    desk.sign_in("olivia")
    page = desk.page("/incidents")
    assert page.status_code == 200
    columns = board_columns(page.text)
    assert list(columns) == ["reported", "triaged", "investigating", "mitigating", "resolved", "closed"]
    # Worst severity first within a column: what needs attention is on top.
    assert columns["reported"] == [sev1["id"], sev2["id"], sev3["id"]]
    assert columns["investigating"] == []  # an organisation-wide incident: not for a team's owner
    card = re.search(rf'<article class="incident-card ([^"]*)" data-id="{sev1["id"]}"', page.text)
    assert card and "sev-SEV1" in card.group(1)
    assert 'href="/incidents/new"' in page.text  # she may report
    assert 'href="/incidents"' in page.text  # the navigation links the board

    desk.sign_in("aude")  # reads incidents organisation-wide
    columns = board_columns(desk.page("/incidents").text)
    assert columns["investigating"] == [moved["id"]]
    assert 'href="/incidents/new"' not in desk.page("/incidents").text  # an auditor reports nothing


def test_the_board_filters_as_the_api_does(desk: Desk) -> None:
    desk.report(severity="SEV3", title="Latency doubled", type="performance")
    desk.report(severity="SEV1", title="Model leaks applicant data", type="privacy")
    desk.report(desk.admin, severity="SEV1", title="Applicants scored twice", type="performance", models=[])
    desk.sign_in("aude")
    cases: list[tuple[dict[str, str], dict[str, Any]]] = [
        ({"severity": "SEV1"}, {"severity": "SEV1"}),
        ({"type": "performance"}, {"type": "performance"}),
        ({"model": MODEL, "type": "performance"}, {"model": MODEL, "type": "performance"}),
        ({"severity": "SEV1", "model": MODEL}, {"severity": "SEV1", "model": MODEL}),
    ]
    for filters, params in cases:
        shown = board_columns(desk.page("/incidents?" + "&".join(f"{k}={v}" for k, v in filters.items())).text)
        expected = desk.client.get("/api/v1/incidents", params=params, headers=desk.auditor).json()["items"]
        assert sorted(shown["reported"]) == sorted(i["id"] for i in expected), filters
        assert expected, "the case must select something"
    # An unknown choice is ignored, as on the models page; an unknown model says so.
    assert len(board_columns(desk.page("/incidents?severity=SEV9").text)["reported"]) == 3
    unknown = desk.page("/incidents?model=no-such-model")
    assert unknown.status_code == 404
    assert "no-such-model" in error_text(unknown.text)


def test_overdue_deadlines_are_red_on_the_board_and_the_filter_keeps_only_them(desk: Desk) -> None:
    # Detected ten days ago and reportable under GDPR (72 hours from detection): overdue at once.
    late = desk.report(detected_at=(datetime.now(UTC) - timedelta(days=10)).isoformat())
    marked = desk.client.post(
        f"/api/v1/incidents/{late['id']}/reportable", json={"regime": "gdpr_breach"}, headers=desk.owner
    )
    assert marked.status_code == 200 and marked.json()["overdue"] is True
    fresh = desk.report(title="A fresh one")
    desk.sign_in("olivia")
    board = desk.page("/incidents").text
    late_card = re.search(rf'data-id="{late["id"]}">(.*?)</article>', board, re.S)
    fresh_card = re.search(rf'data-id="{fresh["id"]}">(.*?)</article>', board, re.S)
    assert late_card and fresh_card
    assert re.search(r'class="clock overdue small">Report \(gdpr_breach\) overdue by 7 d', late_card.group(1))
    assert "overdue" not in fresh_card.group(1) and "Triage due in" in fresh_card.group(1)
    assert board_columns(desk.page("/incidents?overdue=1").text)["reported"] == [late["id"]]


# -- reporting through the form ---------------------------------------------------------------------


def test_reporting_through_the_form_opens_the_incident_and_audits_it(desk: Desk) -> None:
    csrf = desk.sign_in("olivia")
    form = desk.page(f"/incidents/new?model={MODEL}")
    assert form.status_code == 200
    assert f'<option value="{MODEL}" selected>' in form.text
    assert f'<option value="{OTHER_MODEL}"' not in form.text  # only models she may read are offered
    response = desk.post(
        "/incidents",
        csrf,
        title="Denials spike in the north region",
        type="bias_fairness",
        severity="SEV2",
        description="Seen in the weekly review.\nAround 40 applicants.",
        model=[MODEL, ""],
        version=["1.0.0", ""],
        detected_at="2026-01-05T08:30",
    )
    assert response.status_code == 303, response.text
    incident_id = int(response.headers["location"].split("/")[2].split("?")[0])
    assert response.headers["location"] == f"/incidents/{incident_id}?done=reported"
    stored = desk.api(incident_id)
    assert stored["title"] == "Denials spike in the north region"
    assert (stored["type"], stored["severity"], stored["status"]) == ("bias_fairness", "SEV2", "reported")
    assert stored["description"] == "Seen in the weekly review.\nAround 40 applicants."
    assert [(m["model"], m["version"]) for m in stored["models"]] == [(MODEL, "1.0.0")]
    assert stored["detected_at"].startswith("2026-01-05T08:30:00")  # a time without a zone is UTC
    assert stored["reporter"] == "user:olivia" and stored["team"] == "credit-risk"
    (event,) = incident_events(desk.db, "incident.report")
    assert (event["actor"], event["resource_id"]) == ("user:olivia", str(incident_id))
    assert event["details"]["models"] == [f"{MODEL}@1.0.0"]

    page = desk.page(response.headers["location"])
    assert "The incident was reported" in page.text
    assert "Denials spike in the north region" in page.text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"title": ""}, 422, "Title: String should have at least 1 character."),
        ({"severity": "SEV9"}, 422, "Severity: Input should be 'SEV1', 'SEV2', 'SEV3' or 'SEV4'."),
        ({"type": ""}, 422, "Type: Input should be 'performance'"),
        ({"detected_at": "not a time"}, 422, "Detected at: Input should be a valid datetime"),
        ({"detected_at": "2999-01-01T00:00"}, 422, "`detected_at` (2999-01-01T00:00:00+00:00) is in the future"),
        ({"version": ["9.9.9"]}, 404, "has no version '9.9.9'"),
        ({"model": ["no-such-model"]}, 404, "no-such-model"),
    ],
)
def test_a_refused_report_comes_back_on_the_form_and_stores_nothing(
    desk: Desk, fields: dict[str, Any], status: int, message: str
) -> None:
    csrf = desk.sign_in("olivia")
    typed = {"title": "Scores drift", "type": "performance", "severity": "SEV3", "model": [MODEL], "version": [""]}
    response = desk.post("/incidents", csrf, **{**typed, **fields})
    assert response.status_code == status
    assert message in error_text(response.text)
    assert 'id="report-form"' in response.text  # the form, with what was typed
    if fields.get("title") != "":
        assert 'value="Scores drift"' in response.text
    assert desk.incidents() == []
    assert incident_events(desk.db, "incident.report") == []


def test_reporting_needs_the_csrf_value_and_incident_write(desk: Desk) -> None:
    csrf = desk.sign_in("olivia")
    typed = {"title": "Scores drift", "type": "performance", "severity": "SEV3"}
    for sent in (None, "", csrf[:-2] + "xx"):
        refused = desk.post("/incidents", sent, **typed)
        assert refused.status_code == 403
        assert "The form has expired" in refused.text
    assert desk.incidents() == []

    csrf = desk.sign_in("vera")  # a viewer reads incidents but reports none
    assert desk.page("/incidents").status_code == 200
    assert 'href="/incidents/new"' not in desk.page("/incidents").text
    assert desk.page("/incidents/new").status_code == 403
    assert desk.post("/incidents", csrf, **typed).status_code == 403
    assert desk.incidents() == []
    denied = [e for e in events(desk.db, "access.denied") if e["actor"] == "user:vera"]
    assert len(denied) == 2


# -- the incident page ------------------------------------------------------------------------------


def test_the_incident_page_shows_what_the_api_holds(desk: Desk) -> None:
    incident = desk.report(description="Seen in the weekly review.")
    desk.sign_in("vera")
    page = desk.page(f"/incidents/{incident['id']}")
    assert page.status_code == 200
    text = page.text
    assert f"#{incident['id']} Approval rate collapsed for applicants over 60" in text
    assert '<span class="badge status-reported" id="status">reported</span>' in text
    assert '<span class="badge sev-SEV2" id="severity">SEV2</span>' in text
    assert 'id="description">Seen in the weekly review.</p>' in text
    # The response clock: due one hour after the report (SEV2's default), still running.
    (clock,) = incident["clocks"]
    due = datetime.fromisoformat(clock["due_at"]).strftime("%Y-%m-%d %H:%M")
    row = re.search(r'<tr class="clock-row running" data-kind="response">(.*?)</tr>', text, re.S)
    assert row and due in row.group(1) and re.search(r"(59|60) min left|1 h 00 min left", row.group(1))
    # The timeline, oldest first, with who wrote each entry.
    assert re.search(r"badge kind\">reported</span> <strong>user:olivia</strong>", text)
    assert f'href="/models/{MODEL}?version=1.0.0"' in text
    # A viewer sees no action forms.
    for form in ("status-form", "entry-form", "assignment-form", "reportable-form", "review-form"):
        assert f'id="{form}"' not in text


def test_another_teams_owner_cannot_open_the_incident(desk: Desk) -> None:
    incident = desk.report()
    csrf = desk.sign_in("otto")
    assert desk.page(f"/incidents/{incident['id']}").status_code == 403
    # He holds incident:write, but not in credit-risk: the service refuses, audited as a denial.
    refused = desk.post(f"/incidents/{incident['id']}/status", csrf, status="triaged")
    assert refused.status_code == 403
    assert desk.api(incident["id"])["status"] == "reported"
    assert desk.page("/incidents/999999").status_code == 404


def test_status_buttons_walk_the_lifecycle_and_a_wrong_move_is_refused_in_place(desk: Desk) -> None:
    incident = desk.report(severity="SEV3")
    path = f"/incidents/{incident['id']}"
    csrf = desk.sign_in("olivia")
    page = desk.page(path).text
    assert re.findall(r'name="status" value="(\w+)"', page) == ["triaged"]
    wrong = desk.post(f"{path}/status", csrf, status="closed")
    assert wrong.status_code == 409
    assert "cannot move from 'reported' to 'closed'" in error_text(wrong.text)
    assert desk.api(incident["id"])["status"] == "reported"
    bad = desk.post(f"{path}/status", csrf, status="finished")
    assert bad.status_code == 422 and "Input should be 'reported'" in error_text(bad.text)

    for status, note in (("triaged", "Paged the team"), ("investigating", ""), ("mitigating", ""), ("resolved", "")):
        response = desk.post(f"{path}/status", csrf, status=status, note=note)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{path}?done=status"
        assert desk.api(incident["id"])["status"] == status
    page = desk.page(path).text
    assert re.findall(r'name="status" value="(\w+)"', page) == ["closed", "investigating"]
    assert ">Reopen</button>" in page
    assert 'id="review-form"' in page  # resolved: the review is written now
    moves = [(e["details"]["from"], e["details"]["to"]) for e in incident_events(desk.db, "incident.status")]
    assert moves == [
        ("reported", "triaged"),
        ("triaged", "investigating"),
        ("investigating", "mitigating"),
        ("mitigating", "resolved"),
    ]
    timeline = desk.api(incident["id"])["timeline"]
    assert timeline[1]["body"] == "Status: reported → triaged. Paged the team"
    # Triage met the response clock: shown in green.
    assert '<tr class="clock-row met" data-kind="response">' in page


def test_a_sev2_incident_closes_only_after_its_review_written_through_the_form(desk: Desk) -> None:
    incident = desk.report(severity="SEV2")
    path = f"/incidents/{incident['id']}"
    csrf = desk.sign_in("olivia")
    assert 'id="review-form"' not in desk.page(path).text  # not before it is resolved
    early = desk.post(f"{path}/review", csrf, root_cause="Too early")
    assert early.status_code == 409 and "the post-incident review is written once it is resolved" in early.text
    for status in ("triaged", "investigating", "mitigating", "resolved"):
        assert desk.post(f"{path}/status", csrf, status=status).status_code == 303
    refused = desk.post(f"{path}/status", csrf, status="closed")
    assert refused.status_code == 409 and "write its post-incident review" in error_text(refused.text)

    review = {
        "root_cause": "A feature pipeline dropped the age bucket for applicants over 60.",
        "factors": "No schema check on the feature store\n\n  Alert threshold too loose  ",
        "lessons": "Check feature schemas on deploy.",
        "follow_action": ["Add a schema check", "", "Tighten the alert"],
        "follow_owner": ["olivia", "", "rosa"],
        "follow_due": ["2026-12-01", "", "2026-12-15"],
        "follow_done": ["2"],
    }
    bad = desk.post(f"{path}/review", csrf, **{**review, "follow_due": ["2026-12-01", "", "next week"]})
    assert bad.status_code == 422
    assert "Follow-up 2, due date: Input should be a valid date" in error_text(bad.text)
    assert 'value="Tighten the alert"' in bad.text  # what was typed is kept
    assert desk.api(incident["id"])["review"] is None

    saved = desk.post(f"{path}/review", csrf, **review)
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?done=review#review"
    stored = desk.api(incident["id"])["review"]
    assert stored["root_cause"] == review["root_cause"]
    assert stored["contributing_factors"] == ["No schema check on the feature store", "Alert threshold too loose"]
    assert [(f["action"], f["owner"], f["due_date"], f["done"]) for f in stored["follow_ups"]] == [
        ("Add a schema check", "olivia", "2026-12-01", False),
        ("Tighten the alert", "rosa", "2026-12-15", True),
    ]
    assert stored["lessons"] == "Check feature schemas on deploy."
    (event,) = incident_events(desk.db, "incident.review")
    assert event["details"]["follow_ups"] == 2 and event["details"]["contributing_factors"] == 2
    # The form shows the review as written, ready to be revised.
    page = desk.page(path).text
    assert 'value="Tighten the alert"' in page and ">Revise the review</button>" in page

    assert desk.post(f"{path}/status", csrf, status="closed").status_code == 303
    assert desk.api(incident["id"])["status"] == "closed"
    desk.sign_in("vera")  # a viewer reads the review, without the form
    page = desk.page(path).text
    assert "A feature pipeline dropped the age bucket" in page and 'id="review-form"' not in page


def test_timeline_entries_through_the_form(desk: Desk) -> None:
    incident = desk.report()
    path = f"/incidents/{incident['id']}"
    csrf = desk.sign_in("olivia")
    before = len(desk.api(incident["id"])["timeline"])
    missing = desk.post(f"{path}/timeline", csrf, kind="communication", body="Customers told", audience="external")
    assert missing.status_code == 422
    assert "A communication needs `audience`" in error_text(missing.text)
    assert "Customers told" in missing.text  # the text typed comes back in the form
    stray = desk.post(f"{path}/timeline", csrf, kind="mitigation", body="Rolled back", recipient="press")
    assert stray.status_code == 422 and "`audience` and `recipient` belong to communications" in error_text(stray.text)
    assert len(desk.api(incident["id"])["timeline"]) == before

    body = "Affected applicants were e-mailed a re-review offer."
    sent = desk.post(
        f"{path}/timeline", csrf, kind="communication", body=body, audience="external", recipient="applicants"
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"{path}?done=entry#timeline"
    entry = desk.api(incident["id"])["timeline"][-1]
    assert (entry["kind"], entry["body"], entry["audience"], entry["recipient"], entry["created_by"]) == (
        "communication",
        body,
        "external",
        "applicants",
        "user:olivia",
    )
    (event,) = incident_events(desk.db, "incident.entry")
    assert event["details"]["sha256"] == hashlib.sha256(body.encode()).hexdigest()
    page = desk.page(path).text
    assert '<span class="muted">to applicants (external)</span>' in page


def test_assignment_through_the_form(desk: Desk) -> None:
    incident = desk.report()
    path = f"/incidents/{incident['id']}"
    csrf = desk.sign_in("olivia")
    unknown = desk.post(f"{path}/assignment", csrf, commander="nobody-here", assignee="")
    assert unknown.status_code == 422
    assert "no user or service account named 'nobody-here'" in error_text(unknown.text)
    assert desk.api(incident["id"])["commander"] is None
    done = desk.post(f"{path}/assignment", csrf, commander="olivia", assignee="vera")
    assert done.status_code == 303
    stored = desk.api(incident["id"])
    assert (stored["commander"], stored["assignee"]) == ("olivia", "vera")
    (event,) = incident_events(desk.db, "incident.assign")
    assert event["details"]["commander"] == {"old": None, "new": "olivia"}
    page = desk.page(path).text
    assert '<dd id="commander">olivia</dd>' in page and '<dd id="assignee">vera</dd>' in page
    # An empty field unassigns.
    assert desk.post(f"{path}/assignment", csrf, commander="olivia", assignee="").status_code == 303
    assert desk.api(incident["id"])["assignee"] is None


def test_reportable_submitted_and_the_regulator_report_json(desk: Desk) -> None:
    incident = desk.report(detected_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    path = f"/incidents/{incident['id']}"
    csrf = desk.sign_in("olivia")
    wrong = desk.post(f"{path}/reportable", csrf, regime="gdpr", reason="")
    assert wrong.status_code == 422 and "Regime: Input should be" in error_text(wrong.text)
    marked = desk.post(f"{path}/reportable", csrf, regime="gdpr_breach", reason="Personal data of applicants")
    assert marked.status_code == 303
    again = desk.post(f"{path}/reportable", csrf, regime="gdpr_breach", reason="")
    assert again.status_code == 409 and "already marked reportable" in error_text(again.text)
    page = desk.page(path).text
    row = re.search(r'<tr class="clock-row running" data-kind="regulatory">(.*?)</tr>', page, re.S)
    assert row and "GDPR Art. 33" in row.group(1) and re.search(r"2 d 2[23] h left", row.group(1))
    assert 'value="gdpr_breach"' not in page.split('id="reportable-form"')[1]  # not offered twice

    # The report link gives the API's JSON, with the session cookie.
    link = re.search(r'href="(/incidents/\d+/report\.json\?regime=gdpr_breach)"', page)
    assert link
    shown = desk.client.get(html.unescape(link.group(1)))
    assert shown.status_code == 200 and shown.headers["content-type"] == "application/json"
    api = desk.client.get(
        f"/api/v1/incidents/{incident['id']}/report", params={"regime": "gdpr_breach"}, headers=desk.auditor
    ).json()
    from_page = orjson.loads(shown.content)
    for body in (from_page, api):
        body.pop("generated_at")
    assert from_page == api
    assert "contact_point" in from_page["missing"]
    assert desk.client.get(f"{path}/report.json?regime=nonsense", headers=HTML).status_code == 422
    assert desk.client.get(f"{path}/report.json?regime=eu_ai_act_death", headers=HTML).status_code == 409

    submitted = desk.post(f"{path}/reportable/gdpr_breach/submitted", csrf, reference="DPA-2026-0042")
    assert submitted.status_code == 303
    report = desk.api(incident["id"])["reports"][0]
    assert report["reference"] == "DPA-2026-0042" and report["submitted_by"] == "user:olivia"
    page = desk.page(path).text
    assert '<tr class="clock-row met" data-kind="regulatory">' in page  # met: green
    assert "(reference DPA-2026-0042)" in page
    twice = desk.post(f"{path}/reportable/gdpr_breach/submitted", csrf, reference="again")
    assert twice.status_code == 409 and "already submitted" in error_text(twice.text)
    assert [e["details"]["regime"] for e in incident_events(desk.db, "incident.reportable")] == ["gdpr_breach"]
    (event,) = incident_events(desk.db, "incident.report_submitted")
    assert event["details"]["late"] is False


ACTIONS = {
    "status": {"status": "triaged"},
    "timeline": {"kind": "investigation_note", "body": "Looked at the logs"},
    "assignment": {"commander": "olivia", "assignee": ""},
    "reportable": {"regime": "gdpr_breach"},
    "review": {"root_cause": "x"},
    "reportable/gdpr_breach/submitted": {"reference": "r"},
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_needs_the_csrf_value_and_incident_write(desk: Desk, action: str) -> None:
    incident = desk.report()
    path = f"/incidents/{incident['id']}/{action}"
    before = desk.api(incident["id"])
    csrf = desk.sign_in("olivia")
    for sent in (None, "wrong"):
        refused = desk.post(path, sent, **ACTIONS[action])
        assert refused.status_code == 403, refused.text
        assert "The form has expired" in refused.text
    csrf = desk.sign_in("vera")
    assert desk.post(path, csrf, **ACTIONS[action]).status_code == 403
    after = desk.api(incident["id"])
    assert after == {**before, "clocks": after["clocks"]}  # nothing changed but the time left
    assert [e["action"] for e in incident_events(desk.db, "incident.report")] == ["incident.report"]
    assert len([e for e in events(desk.db) if e["resource_type"] == "incident"]) == 1
