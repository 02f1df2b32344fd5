"""The reports page through HTTP, without a browser: generate a model or organisation report with the
form, see it listed with a download link per format, download a file (checked against its recorded
SHA-256), and a refused form that stores nothing; against the real app on SQLite and, when
configured, PostgreSQL.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import Factory
from tests.policies import conftest as policy_fixtures
from tests.policies.conftest import MODEL, Gov
from tests.web.test_pages import HTML, events, sign_in

gov = policy_fixtures.gov  # people: olivia, rita, rosa, rick, vera, aude, ada, otto (tests/policies)


def page(client: TestClient, path: str) -> Response:
    return client.get(path, headers=HTML)


def post(client: TestClient, path: str, csrf: str, **fields: Any) -> Response:
    return client.post(path, data={"csrf": csrf, **fields}, headers=HTML, follow_redirects=False)


def error_text(text: str) -> str:
    match = re.search(r'<p class="alert error" role="alert" id="error">(.*?)</p>', text, re.S)
    assert match, "no error shown on the page"
    return html.unescape(match.group(1))


def reports(g: Gov) -> list[dict[str, Any]]:
    return list(g.ok(g.client.get("/api/v1/reports", headers=g.auditor))["items"])


@pytest.fixture
def governed(gov: Gov) -> Gov:
    """The starter pack, and an approved credit-scoring version with an unfair assessment."""
    gov.ok(gov.post("/policies/pack"), 201)
    gov.to_approved("1.0.0")
    gov.fairness("1.0.0", (50, 20))
    return gov


def test_a_model_report_is_generated_listed_and_downloaded(governed: Gov) -> None:
    g = governed
    csrf = sign_in(g.client, "vera")  # a viewer holds compliance:read in credit-risk: enough to report
    form = page(g.client, "/reports").text
    assert 'id="report-form"' in form and 'value="eu-ai-act"' in form
    done = post(
        g.client,
        "/reports",
        csrf,
        kind="model",
        model=MODEL,
        start="2026-01-01",
        end="",
        frameworks=["eu-ai-act", "gdpr"],
        formats=["html"],
    )
    assert done.status_code == 303, done.text
    (stored,) = reports(g)
    assert done.headers["location"] == f"/reports?done=generated#report-{stored['id']}"
    assert (stored["kind"], stored["model"], stored["frameworks"]) == ("model", MODEL, ["eu-ai-act", "gdpr"])
    assert stored["period"]["start"].startswith("2026-01-01") and stored["generated_by"] == "user:vera"
    assert [f["format"] for f in stored["files"]] == ["json", "html"]
    listing = page(g.client, done.headers["location"]).text
    assert "The report was generated" in listing
    row = re.search(rf'<tr class="report-row" id="report-{stored["id"]}".*?</tr>', listing, re.S)
    assert row
    links = re.findall(r'<a href="(/reports/\d+/files/[a-z]+)" class="download" data-format="([a-z]+)"', row.group(0))
    assert [fmt for _link, fmt in links] == ["json", "html"]
    for link, fmt in links:
        file = g.client.get(link)
        assert file.status_code == 200
        sha = next(f["sha256"] for f in stored["files"] if f["format"] == fmt)
        assert hashlib.sha256(file.content).hexdigest() == sha == file.headers["X-Charter-SHA256"]
        assert "attachment" in file.headers["content-disposition"]
    assert events(g.db, "report.generate")[-1]["actor"] == "user:vera"


def test_an_organisation_report_for_a_team(governed: Gov) -> None:
    csrf = sign_in(governed.client, "rosa")
    done = post(
        governed.client, "/reports", csrf, kind="organisation", model=MODEL, team="credit-risk", formats=["json"]
    )
    assert done.status_code == 303, done.text
    (stored,) = reports(governed)
    assert (stored["kind"], stored["team"], stored["model"]) == ("organisation", "credit-risk", None)
    kinds = re.findall(r'data-kind="([a-z]+)"', page(governed.client, "/reports?kind=organisation").text)
    assert kinds == ["organisation"]
    assert re.findall(r'class="report-row"', page(governed.client, "/reports?kind=model").text) == []


@pytest.mark.parametrize(
    ("fields", "says", "status"),
    [
        ({"kind": "model", "model": ""}, "A model report needs a model", 422),
        ({"kind": "quarterly"}, "Kind: Input should be 'model' or 'organisation'", 422),
        ({"kind": "model", "model": MODEL, "frameworks": ["sox"]}, "No compliance framework 'sox'", 404),
        ({"kind": "model", "model": MODEL, "start": "2026-02-01", "end": "2026-01-01"}, "before it starts", 422),
        ({"kind": "model", "model": MODEL, "formats": ["docx"]}, "Formats:", 422),
        ({"kind": "model", "model": MODEL, "start": "soon"}, "From:", 422),
        ({"kind": "model", "model": "no-such-model"}, "no-such-model", 404),
    ],
)
def test_a_refused_report_is_shown_on_the_form_and_nothing_is_stored(
    governed: Gov, fields: dict[str, Any], says: str, status: int
) -> None:
    csrf = sign_in(governed.client, "rosa")
    before = len(events(governed.db, "report.generate"))
    refused = post(governed.client, "/reports", csrf, **fields)
    assert refused.status_code == status, refused.text
    assert says in error_text(refused.text)
    assert 'id="report-form"' in refused.text
    assert reports(governed) == [] and len(events(governed.db, "report.generate")) == before


def test_those_without_compliance_read_are_refused(governed: Gov, factory: Factory) -> None:
    factory.user("nobody")
    csrf = sign_in(governed.client, "nobody")
    assert page(governed.client, "/reports").status_code == 403
    assert post(governed.client, "/reports", csrf, kind="model", model=MODEL).status_code == 403
    assert 'href="/reports"' not in page(governed.client, "/").text
    sign_in(governed.client, "rosa")
    forged = post(governed.client, "/reports", "forged", kind="model", model=MODEL)
    assert forged.status_code == 403 and "The form has expired" in forged.text
    assert reports(governed) == []
    assert page(governed.client, "/reports/999/files/json").status_code == 404
