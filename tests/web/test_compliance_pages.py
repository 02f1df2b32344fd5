"""The compliance pages through HTTP, without a browser: the framework x model matrix (cells, filters,
paging), the gap list, and a model's page (requirements, findings, waived gaps, history), against the
real app on SQLite and, when configured, PostgreSQL.

What the pages show is checked against the REST API's status for the same model, computed from real
data: the starter policy pack, an approved version trained on personal data, an unfair fairness
assessment, and a waiver excusing it.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from charter.compliance.models import SnapshotRow
from charter.db.engine import Database
from tests.compliance import conftest as compliance_fixtures
from tests.compliance.conftest import MODEL, Gov, approved
from tests.conftest import Factory
from tests.web.test_pages import HTML, events, sign_in

gov = compliance_fixtures.gov  # the governance desk of tests/policies, bound here so that pytest finds it

OTHER = "staff-attrition"  # a people-analytics model without a version


def page(client: TestClient, path: str) -> Response:
    return client.get(path, headers=HTML)


def snapshots(db: Database) -> int:
    with db.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(SnapshotRow)) or 0


def api_status(g: Gov, model: str = MODEL) -> dict[str, Any]:
    """The API's status (rosa's), and the snapshot it records taken back out, so that tests count page views."""
    response = g.client.get(f"/api/v1/compliance/models/{model}/status", headers=g.risk)
    return g.ok(response)


def matrix_rows(text: str) -> list[str]:
    return re.findall(r'<tr class="matrix-row" data-model="([^"]+)">', text)


def matrix_cells(text: str, model: str) -> dict[str, tuple[str, int, int, int]]:
    """framework -> (state, met, not satisfied, expired) as the matrix's row for ``model`` shows it."""
    row = re.search(rf'<tr class="matrix-row" data-model="{re.escape(model)}">(.*?)</tr>', text, re.S)
    assert row, f"no row for {model}"
    found = re.findall(
        r'data-framework="([^"]+)" data-state="([a-z]+)" data-good="(\d+)" data-bad="(\d+)" data-lapsed="(\d+)"',
        row.group(1),
    )
    return {f: (state, int(good), int(bad), int(lapsed)) for f, state, good, bad, lapsed in found}


def gap_rows(text: str) -> list[tuple[str, str, str, str]]:
    """(model, framework, kind, requirement) of each gap the gap list shows."""
    pattern = (
        r'<tr class="gap-row" data-model="([^"]+)" data-framework="([^"]+)" data-kind="([^"]+)"'
        r' data-requirement="([^"]+)"'
    )
    return [(m, f, k, html.unescape(r)) for m, f, k, r in re.findall(pattern, text)]


def waive(g: Gov) -> dict[str, Any]:
    """The credit-scoring model fails the fairness rule, excused by a 30-day waiver."""
    g.fairness("1.0.0", (50, 20))  # disparate impact 0.4
    body = {"rule": "disparate-impact", "model": MODEL, "days": 30, "reason": "Retraining under way; see RISK-12."}
    return g.ok(g.post("/policies/high-risk-fairness/waivers", body), 201)


@pytest.fixture
def seeded(gov: Gov) -> Gov:
    assert len(gov.ok(gov.post("/policies/pack"), 201)["created"]) == 6
    approved(gov)
    waive(gov)
    model = {"name": OTHER, "team": "people-analytics", "domain": "employment", "purpose": "Predict attrition"}
    gov.ok(gov.client.post("/api/v1/models", json=model, headers=gov.outsider), 201)
    return gov


# -- the matrix -------------------------------------------------------------------------------------


def test_the_matrix_shows_each_frameworks_counts_as_the_api_computes_them(seeded: Gov) -> None:
    g = seeded
    sign_in(g.client, "rosa")
    before = snapshots(g.db)
    text = page(g.client, "/compliance").text
    assert snapshots(g.db) == before, "viewing the matrix records nothing"
    assert matrix_rows(text) == [MODEL, OTHER]
    status = api_status(g)
    shown = matrix_cells(text, MODEL)
    assert set(shown) == {f["framework"] for f in status["frameworks"]} and len(shown) >= 4
    for framework in status["frameworks"]:
        counts = framework["counts"]
        met = counts.get("satisfied", 0) + counts.get("attested", 0)
        expected = (met, counts.get("not_satisfied", 0), counts.get("expired", 0))
        assert shown[framework["framework"]][1:] == expected, framework["framework"]
        if framework["applies"] and counts.get("not_satisfied", 0):
            assert shown[framework["framework"]][0] == "gaps"
    assert shown["eu-ai-act"][0] == "gaps" and "1 waived" in text
    assert f'href="/compliance/models/{MODEL}#fw-eu-ai-act"' in text
    other = re.search(rf'data-model="{OTHER}">(.*?)</tr>', text, re.S)
    assert other and "no version yet" in other.group(1)


def test_the_matrix_lists_only_the_models_the_viewer_may_read(seeded: Gov) -> None:
    sign_in(seeded.client, "vera")  # a viewer in credit-risk
    assert matrix_rows(page(seeded.client, "/compliance").text) == [MODEL]
    sign_in(seeded.client, "otto")  # a model owner in people-analytics
    assert matrix_rows(page(seeded.client, "/compliance").text) == [OTHER]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("risk=high", [MODEL]),
        ("team=people-analytics", [OTHER]),
        ("team=credit-risk&stage=approved", [MODEL]),
        ("stage=production", []),
        ("risk=not-a-tier", [MODEL, OTHER]),  # an unknown choice is no filter
    ],
)
def test_the_matrix_filters_by_team_stage_and_risk_tier(seeded: Gov, query: str, expected: list[str]) -> None:
    sign_in(seeded.client, "rosa")
    text = page(seeded.client, f"/compliance?{query}").text
    assert matrix_rows(text) == expected
    if not expected:
        assert "No model matches." in text


def test_the_matrix_pages_through_the_models(gov: Gov) -> None:
    for n in range(27):
        model = {"name": f"model-{n:02d}", "team": "credit-risk", "domain": "credit", "purpose": "Testing"}
        gov.ok(gov.client.post("/api/v1/models", json=model, headers=gov.owner), 201)
    sign_in(gov.client, "rosa")
    first = page(gov.client, "/compliance").text
    names = [MODEL] + [f"model-{n:02d}" for n in range(27)]
    assert matrix_rows(first) == names[:25]
    link = re.search(r'<a href="([^"]+)" id="next-page">', first)
    assert link
    second = page(gov.client, html.unescape(link.group(1))).text
    assert matrix_rows(second) == names[25:] and 'id="next-page"' not in second
    assert matrix_rows(page(gov.client, "/compliance?size=50").text) == names
    assert matrix_rows(page(gov.client, "/compliance?size=7").text) == names[:25]  # 25 or 50 only
    refused = page(gov.client, "/compliance?cursor=abc")
    assert refused.status_code == 422 and "The cursor is not valid" in refused.text
    assert page(gov.client, "/compliance?size=500").status_code == 422


# -- the gap list -----------------------------------------------------------------------------------


def test_the_gap_list_shows_every_open_gap_as_the_api_does(seeded: Gov) -> None:
    g = seeded
    sign_in(g.client, "rosa")
    before = snapshots(g.db)
    text = page(g.client, "/compliance/gaps").text
    assert snapshots(g.db) == before
    status = api_status(g)
    expected = sorted((MODEL, x["framework"], x["kind"], x["requirement"]) for x in status["gaps"])
    assert sorted(gap_rows(text)) == expected and len(expected) > 1
    assert f"{OTHER} (no version yet)" in html.unescape(text)


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("kind=waived", lambda gap: gap["kind"] == "waived"),
        ("kind=not_satisfied", lambda gap: gap["kind"] == "not_satisfied"),
        ("framework=gdpr", lambda gap: gap["framework"] == "gdpr"),
        ("framework=eu-ai-act&kind=waived", lambda gap: gap["framework"] == "eu-ai-act" and gap["kind"] == "waived"),
        ("kind=bogus", lambda gap: True),
    ],
)
def test_the_gap_list_filters_by_framework_and_kind(seeded: Gov, query: str, keep: Any) -> None:
    sign_in(seeded.client, "rosa")
    shown = gap_rows(page(seeded.client, f"/compliance/gaps?{query}").text)
    expected = [x for x in api_status(seeded)["gaps"] if keep(x)]
    assert sorted(shown) == sorted((MODEL, x["framework"], x["kind"], x["requirement"]) for x in expected)
    if query == "kind=waived":
        assert shown == [(MODEL, "eu-ai-act", "waived", "Art. 10")]


# -- a model's page ---------------------------------------------------------------------------------


def test_the_model_page_shows_each_requirement_with_what_decided_it(seeded: Gov) -> None:
    g = seeded
    sign_in(g.client, "vera")
    text = page(g.client, f"/compliance/models/{MODEL}").text
    status = api_status(g)
    for framework in status["frameworks"]:
        section = re.search(
            rf'<section class="card framework" id="fw-{framework["framework"]}".*?</section>', text, re.S
        )
        assert section, framework["framework"]
        shown = dict(
            re.findall(r'<tr class="requirement" data-requirement="([^"]+)" data-status="([a-z_]+)"', section.group(0))
        )
        assert {html.unescape(k): v for k, v in shown.items()} == {
            r["id"]: r["status"] for r in framework["requirements"]
        }
    art10 = next(
        r
        for f in status["frameworks"]
        if f["framework"] == "eu-ai-act"
        for r in f["requirements"]
        if r["id"] == "Art. 10"
    )
    row = re.search(r'<tr class="requirement" data-requirement="Art. 10".*?</tr>', text, re.S)
    assert row
    findings = re.findall(r'<li class="finding" data-kind="([a-z_]+)" data-outcome="([a-z_]+)"', row.group(0))
    assert findings == [(w["kind"], w["outcome"]) for w in art10["why"]]
    assert '<a href="/policies/high-risk-fairness"><code>high-risk-fairness/disparate-impact</code></a>' in row.group(0)
    (gap,) = [x for x in status["gaps"] if x["kind"] == "waived"]
    waived = re.search(r'<section class="card" id="waived-gaps">(.*?)</section>', text, re.S)
    assert waived and f"waiver #{gap['waiver']}" in waived.group(1) and "Art. 10" in waived.group(1)


def test_the_model_page_links_the_evidence_that_decided_a_requirement(seeded: Gov) -> None:
    sign_in(seeded.client, "vera")
    text = page(seeded.client, f"/compliance/models/{MODEL}").text
    evidence = [
        w
        for f in api_status(seeded)["frameworks"]
        for r in f["requirements"]
        for w in r["why"]
        if w["kind"] == "evidence" and w["evidence"]
    ]
    assert evidence, "some requirement reads the fairness evidence"
    for finding in evidence:
        assert f'/models/{MODEL}?version=1.0.0#evidence-{finding["evidence"]}"' in text


def test_viewing_the_model_page_keeps_a_changed_status_in_the_history_once(seeded: Gov) -> None:
    g = seeded
    sign_in(g.client, "rosa")
    before = snapshots(g.db)
    text = page(g.client, f"/compliance/models/{MODEL}").text
    frameworks = len(matrix_cells(page(g.client, "/compliance").text, MODEL))
    assert snapshots(g.db) == before + frameworks
    page(g.client, f"/compliance/models/{MODEL}")
    assert snapshots(g.db) == before + frameworks, "nothing changed: nothing new is kept"
    history = g.ok(g.client.get(f"/api/v1/compliance/models/{MODEL}/history", headers=g.risk))
    text = page(g.client, f"/compliance/models/{MODEL}").text
    shown = re.findall(r'<tr class="snapshot" data-framework="([^"]+)">', text)
    assert shown == [h["framework"] for h in history]
    # Fixed for real: the next view records Art. 10's change, and the history names it.
    g.fairness("1.0.0", (50, 45))
    text = page(g.client, f"/compliance/models/{MODEL}").text
    assert "Art. 10: not satisfied → satisfied" in html.unescape(text)
    assert 'id="waived-gaps"' not in text


def test_the_model_page_shows_another_version_without_recording_it(seeded: Gov) -> None:
    g = seeded
    g.ok(g.version("2.0.0"), 201)
    sign_in(g.client, "rosa")
    before = snapshots(g.db)
    text = page(g.client, f"/compliance/models/{MODEL}?version=2.0.0").text
    assert 'id="version">2.0.0<' in text and snapshots(g.db) == before
    missing = page(g.client, f"/compliance/models/{MODEL}?version=9.9.9")
    assert missing.status_code == 404 and "9.9.9" in html.unescape(missing.text)
    empty = page(g.client, f"/compliance/models/{OTHER}")
    assert empty.status_code == 200 and "has no version yet" in html.unescape(empty.text)


def test_those_without_compliance_read_are_refused_and_audited(seeded: Gov, factory: Factory) -> None:
    factory.user("nobody")
    sign_in(seeded.client, "nobody")
    for path in ("/compliance", "/compliance/gaps", f"/compliance/models/{MODEL}"):
        refused = page(seeded.client, path)
        assert refused.status_code == 403, path
        assert "compliance:read" in html.unescape(refused.text)
    assert 'href="/compliance"' not in page(seeded.client, "/").text
    denied = [e for e in events(seeded.db, "access.denied") if e["actor"] == "user:nobody"]
    assert len(denied) == 3
    sign_in(seeded.client, "otto")  # reads compliance in people-analytics only
    assert page(seeded.client, f"/compliance/models/{MODEL}").status_code == 403
    assert 'href="/compliance"' in page(seeded.client, "/").text
