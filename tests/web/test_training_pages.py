"""The training page through HTTP, without a browser: one's own training, the courses, everyone's
completions for those the training service lets read them, expired and expiring records
highlighted, and the managers' forms (a course, a completion), against the real app on SQLite and,
when configured, PostgreSQL. What the page shows is checked against the REST API's answers.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.compliance import conftest as compliance_fixtures
from tests.compliance.conftest import Gov
from tests.conftest import Factory
from tests.web.test_pages import HTML, events, sign_in

gov = compliance_fixtures.gov  # people: olivia, rita, rosa, rick, vera, aude, ada, otto (tests/policies)

LITERACY = {"id": "ai-literacy", "title": "AI literacy", "kind": "responsible_ai", "validity_days": 365}
SECURITY = {"id": "secure-ml", "title": "Secure ML", "kind": "security_awareness", "validity_days": 365}


def page(client: TestClient, path: str) -> Response:
    return client.get(path, headers=HTML)


def post(client: TestClient, path: str, csrf: str, **fields: Any) -> Response:
    return client.post(path, data={"csrf": csrf, **fields}, headers=HTML, follow_redirects=False)


def error_text(text: str) -> str:
    match = re.search(r'<p class="alert error" role="alert" id="error">(.*?)</p>', text, re.S)
    assert match, "no error shown on the page"
    return html.unescape(match.group(1))


def rows(text: str, table: str) -> list[tuple[str, str, str]]:
    """(person or '', course, standing) of each completion row of ``table``."""
    match = re.search(rf'<table class="grid" id="{table}">(.*?)</table>', text, re.S)
    if match is None:
        return []
    found = []
    for attributes in re.findall(r'<tr class="completion is-[a-z]+" ([^>]*)>', match.group(1)):
        person = re.search(r'data-person="([^"]*)"', attributes)
        course = re.search(r'data-course="([^"]*)"', attributes)
        standing = re.search(r'data-standing="([^"]*)"', attributes)
        assert course and standing
        found.append((person.group(1) if person else "", course.group(1), standing.group(1)))
    return found


def record(g: Gov, person: str, course: str, days_ago: float) -> dict[str, Any]:
    completed = datetime.now(UTC) - timedelta(days=days_ago)
    body = {"person": person, "course": course, "completed_at": completed.isoformat()}
    return g.ok(g.post("/training/completions", body), 201)


def completions(g: Gov, **params: Any) -> list[dict[str, Any]]:
    return list(g.ok(g.client.get("/api/v1/training/completions", params=params, headers=g.auditor)))


@pytest.fixture
def trained(gov: Gov) -> Gov:
    """Two courses (literacy required); olivia's literacy expired, her security expiring, vera's current."""
    gov.ok(gov.post("/training/courses", LITERACY | {"required": True}), 201)
    gov.ok(gov.post("/training/courses", SECURITY), 201)
    record(gov, "olivia", "ai-literacy", 400)
    record(gov, "olivia", "secure-ml", 355)
    record(gov, "vera", "ai-literacy", 10)
    return gov


def test_a_person_without_user_read_sees_their_own_training_only(trained: Gov) -> None:
    sign_in(trained.client, "olivia")  # a model owner: may read only her own completions
    text = page(trained.client, "/training").text
    assert sorted(rows(text, "my-completions")) == [("", "ai-literacy", "expired"), ("", "secure-ml", "expiring")]
    assert 'id="completions"' not in text, "nobody else's completions"
    assert "vera" not in text
    missing = re.search(r'<p class="overdue" id="missing-required">(.*?)</p>', text, re.S)
    assert missing and "<code>ai-literacy</code>" in missing.group(1)
    assert 'id="completion-form"' not in text and 'id="course-form"' not in text
    courses = re.findall(r'<tr class="course" data-course="([^"]+)"', text)
    assert courses == ["ai-literacy", "secure-ml"]


def test_a_reader_of_users_sees_everyones_completions_as_the_api_lists_them(trained: Gov) -> None:
    sign_in(trained.client, "aude")  # an auditor holds user:read
    text = page(trained.client, "/training").text
    expected = completions(trained)
    assert [(p, c) for p, c, _s in rows(text, "completion-table")] == [(x["person"], x["course"]) for x in expected]
    standing = {(p, c): s for p, c, s in rows(text, "completion-table")}
    assert standing == {
        ("olivia", "ai-literacy"): "expired",
        ("olivia", "secure-ml"): "expiring",
        ("vera", "ai-literacy"): "current",
    }
    assert 'class="completion is-expired"' in text and 'class="completion is-expiring"' in text
    assert 'id="completion-form"' not in text, "reading everyone's is not managing"


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("person=olivia", {"person": "olivia"}),
        ("course=ai-literacy", {"course": "ai-literacy"}),
        ("current=1", {"current": True}),
        ("person=olivia&current=1", {"person": "olivia", "current": True}),
    ],
)
def test_the_completions_filter_as_the_api_does(trained: Gov, query: str, params: dict[str, Any]) -> None:
    sign_in(trained.client, "rosa")
    shown = [(p, c) for p, c, _s in rows(page(trained.client, f"/training?{query}").text, "completion-table")]
    expected = [(x["person"], x["course"]) for x in completions(trained, **params)]
    assert shown == expected and len(expected) < 3


def test_a_manager_records_a_completion_through_the_form(trained: Gov) -> None:
    csrf = sign_in(trained.client, "rosa")
    assert 'id="completion-form"' in page(trained.client, "/training").text
    done = post(
        trained.client,
        "/training/completions",
        csrf,
        person="olivia",
        course="ai-literacy",
        completed_at=(datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d"),
        expires_at="",
        note="Certificate 5678",
    )
    assert done.status_code == 303 and done.headers["location"] == "/training?person=olivia&done=recorded"
    newest = completions(trained, person="olivia")[0]
    assert (newest["course"], newest["current"], newest["note"], newest["recorded_by"]) == (
        "ai-literacy",
        True,
        "Certificate 5678",
        "user:rosa",
    )
    completed = datetime.fromisoformat(newest["completed_at"])
    assert datetime.fromisoformat(newest["expires_at"]) == completed + timedelta(days=365)
    assert "The completion was recorded." in page(trained.client, done.headers["location"]).text
    assert events(trained.db, "training.record")[-1]["details"]["completion"] == newest["id"]
    sign_in(trained.client, "olivia")
    assert 'id="all-required"' in page(trained.client, "/training").text


@pytest.mark.parametrize(
    ("fields", "says", "status"),
    [
        ({"person": "nobody"}, "No user named 'nobody'", 404),
        ({"course": "juggling"}, "No training course 'juggling'", 404),
        ({"completed_at": "2099-01-01"}, "is in the future", 422),
        ({"completed_at": "2026-01-02", "expires_at": "2026-01-01"}, "expires_at must come after completed_at", 422),
        ({"completed_at": "yesterday"}, "Completed on:", 422),
        ({"person": ""}, "Person: String should have at least 1 character", 422),
    ],
)
def test_a_refused_completion_is_shown_on_the_form_and_nothing_is_recorded(
    trained: Gov, fields: dict[str, str], says: str, status: int
) -> None:
    before = completions(trained)
    csrf = sign_in(trained.client, "rosa")
    typed = {"person": "olivia", "course": "ai-literacy", "completed_at": "", "expires_at": "", "note": "x"} | fields
    refused = post(trained.client, "/training/completions", csrf, **typed)
    assert refused.status_code == status
    assert says in error_text(refused.text)
    assert 'id="completion-form"' in refused.text
    assert completions(trained) == before


def test_a_manager_adds_a_course_and_a_repeated_id_is_refused(trained: Gov) -> None:
    csrf = sign_in(trained.client, "rosa")
    fields = {"id": "incident-drill", "title": "Incident drill", "kind": "incident_response", "validity_days": ""}
    done = post(trained.client, "/training/courses", csrf, **fields, required="1", description="Yearly drill.")
    assert done.status_code == 303
    courses = trained.ok(trained.client.get("/api/v1/training/courses", headers=trained.viewer))
    drill = next(c for c in courses if c["id"] == "incident-drill")
    assert (drill["validity_days"], drill["required"], drill["created_by"]) == (None, True, "user:rosa")
    again = post(trained.client, "/training/courses", csrf, **fields)
    assert again.status_code == 409 and "already exists" in error_text(again.text)
    bad = post(trained.client, "/training/courses", csrf, **(fields | {"id": "Bad Id", "kind": "juggling"}))
    assert bad.status_code == 422
    assert "Course id: String should match pattern" in error_text(bad.text) and "Kind:" in error_text(bad.text)
    assert len(trained.ok(trained.client.get("/api/v1/training/courses", headers=trained.viewer))) == 3


def test_those_who_may_not_manage_are_refused_and_nothing_changes(trained: Gov, factory: Factory) -> None:
    before = completions(trained)
    for name in ("vera", "aude"):
        csrf = sign_in(trained.client, name)
        refused = post(trained.client, "/training/completions", csrf, person=name, course="ai-literacy")
        assert refused.status_code == 403 and "compliance:write" in html.unescape(refused.text)
        course = post(trained.client, "/training/courses", csrf, id="mine", title="Mine", kind="compliance")
        assert course.status_code == 403
    csrf = sign_in(trained.client, "rosa")
    forged = post(trained.client, "/training/completions", "forged", person="vera", course="ai-literacy")
    assert forged.status_code == 403 and "The form has expired" in forged.text
    assert completions(trained) == before
    factory.user("nobody")  # no role at all: still sees the page, with nothing but their own (empty) record
    sign_in(trained.client, "nobody")
    text = page(trained.client, "/training").text
    assert "No completion recorded for you." in text and 'id="courses"' not in text
    assert 'id="missing-required"' in text
