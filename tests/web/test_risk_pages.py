"""The risk pages through HTTP, without a browser: the heat map, the register (filters, paging, a new
risk, acceptance), and a model's risk page (factors with their reasons, history, classification,
reassessment), against the real app on SQLite and, when configured, PostgreSQL.

What the pages show is checked against the REST API's answers for the same data; forms are driven as
a browser drives them (GET the page, copy its CSRF value, POST the form).
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from charter.risk.classification import QUESTIONS
from tests.conftest import Factory
from tests.risk import conftest as risk_fixtures
from tests.risk.conftest import MODEL, Risk
from tests.web.test_pages import HTML, events, sign_in

risk = risk_fixtures.risk  # the risk desk of tests/risk, bound here so that pytest finds it

OTHER = "staff-attrition"  # a people-analytics model


def page(client: TestClient, path: str) -> Response:
    return client.get(path, headers=HTML)


def post(client: TestClient, path: str, csrf: str, **fields: Any) -> Response:
    return client.post(path, data={"csrf": csrf, **fields}, headers=HTML, follow_redirects=False)


def error_text(text: str) -> str:
    match = re.search(r'<p class="alert error" role="alert" id="error">(.*?)</p>', text, re.S)
    assert match, "no error shown on the page"
    return html.unescape(match.group(1))


def cells(text: str, basis: str) -> list[list[int]]:
    """``counts[likelihood - 1][impact - 1]`` as the page's heat map shows them."""
    table = re.search(rf'<table class="heat" id="heat-{basis}">(.*?)</table>', text, re.S)
    assert table, f"no {basis} heat map"
    grid = [[-1] * 5 for _ in range(5)]
    for likelihood, impact, count in re.findall(
        r'data-likelihood="(\d)" data-impact="(\d)" data-count="(\d+)"', table.group(1)
    ):
        grid[int(likelihood) - 1][int(impact) - 1] = int(count)
    return grid


def listed(text: str) -> list[int]:
    """The risk ids the register page lists, in order."""
    return [int(i) for i in re.findall(r'<tr class="risk-row[^"]*" data-id="(\d+)"', text)]


def new_risk(r: Risk, title: str, likelihood: int, impact: int, **fields: Any) -> dict[str, Any]:
    body = {"model": MODEL, "title": title, "category": "bias", "likelihood": likelihood, "impact": impact}
    body |= {"owner": "olivia", **fields}
    return dict(r.ok(r.post("/risk/register", body), 201))


def api_risks(r: Risk, **params: Any) -> list[dict[str, Any]]:
    return list(r.ok(r.get("/risk/register", r.auditor, **params)))


def second_model(r: Risk) -> None:
    model = {"name": OTHER, "team": "people-analytics", "domain": "employment", "purpose": "Predict attrition"}
    r.ok(r.client.post("/api/v1/models", json=model, headers=r.outsider), 201)


@pytest.fixture
def seeded(risk: Risk) -> Risk:
    """Five credit-scoring risks (one closed, one overdue) and one people-analytics risk."""
    new_risk(risk, "Proxy discrimination", 4, 5, residual_likelihood=2, residual_impact=5)
    new_risk(risk, "Stale training data", 3, 3, owner="rita")
    overdue = date.today() - timedelta(days=3)
    new_risk(risk, "Unreviewed drift", 2, 2, review_date=overdue.isoformat())
    new_risk(risk, "Another proxy", 4, 5, residual_likelihood=2, residual_impact=5)
    closed = new_risk(risk, "Retired feature", 5, 5)
    risk.ok(risk.client.patch(f"/api/v1/risk/register/{closed['id']}", json={"status": "closed"}, headers=risk.risk))
    second_model(risk)
    body = {"model": OTHER, "title": "Attrition bias", "category": "bias", "likelihood": 1, "impact": 2}
    risk.ok(risk.post("/risk/register", {**body, "owner": "otto"}), 201)
    return risk


# -- the heat map -----------------------------------------------------------------------------------


def test_the_heat_map_shows_the_registers_counts_as_the_api_computes_them(seeded: Risk) -> None:
    r = seeded
    sign_in(r.client, "rosa")
    text = page(r.client, "/risk").text
    heat = r.ok(r.get("/risk/register/heat-map"))
    assert cells(text, "inherent") == heat["inherent"]
    assert cells(text, "residual") == heat["residual"]
    assert heat["inherent"][3][4] == 2 and heat["inherent"][4][4] == 0  # the closed risk is left out
    for rating, count in heat["by_residual_rating"].items():
        assert f'<strong data-rating="{rating}">{count}</strong>' in text
    assert re.search(r'id="overdue-count" class="overdue">1<', text)
    assert f'id="risk-total">{heat["risks"]}<' in text and heat["risks"] == 5


def test_the_heat_map_counts_only_the_risks_the_viewer_may_read(seeded: Risk) -> None:
    sign_in(seeded.client, "vera")  # a viewer in credit-risk: the people-analytics risk is not hers
    text = page(seeded.client, "/risk").text
    assert sum(map(sum, cells(text, "inherent"))) == 4
    assert cells(text, "inherent")[0][1] == 0


def test_a_heat_map_cell_links_to_exactly_its_risks(seeded: Risk) -> None:
    r = seeded
    sign_in(r.client, "rosa")
    text = page(r.client, "/risk").text
    link = re.search(r'href="(/risk/register\?basis=residual&amp;likelihood=2&amp;impact=5)"', text)
    assert link, "the residual (2, 5) cell has no link"
    listing = page(r.client, html.unescape(link.group(1))).text
    expected = [
        x["id"]
        for x in api_risks(r)
        if (x["residual_likelihood"], x["residual_impact"]) == (2, 5) and x["status"] != "closed"
    ]
    assert sorted(listed(listing)) == sorted(expected) and len(expected) == 2
    inherent = page(r.client, "/risk/register?basis=inherent&likelihood=4&impact=5").text
    assert sorted(listed(inherent)) == sorted(expected)


def test_the_models_latest_ratings_are_those_of_their_latest_assessments(risk: Risk) -> None:
    risk.version("1.0.0")
    risk.ok(risk.assess("1.0.0"), 201)
    risk.fairness("1.0.0", (50, 20))  # re-assessed: a new latest
    latest = risk.history("1.0.0")[0]
    sign_in(risk.client, "vera")
    text = page(risk.client, "/risk").text
    row = re.search(rf'<tr data-model="{MODEL}" data-rating="([a-z]+)">(.*?)</tr>', text, re.S)
    assert row and row.group(1) == latest["rating"]
    assert f"{latest['score']:.2f}" in row.group(2)


# -- the register -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "params", "keep"),
    [
        ("status=closed", {"status": "closed"}, None),
        ("rating=high", {}, lambda x: x["residual_rating"] == "high"),
        ("owner=rita", {}, lambda x: x["owner"] == "rita"),
        (f"model={OTHER}", {"model": OTHER}, None),
        ("overdue=1", {"overdue": True}, None),
        ("category=bias&status=open", {"category": "bias", "status": "open"}, None),
    ],
)
def test_the_register_filters_as_the_api_does(seeded: Risk, query: str, params: dict[str, Any], keep: Any) -> None:
    sign_in(seeded.client, "rosa")
    expected = [x["id"] for x in api_risks(seeded, **params) if keep is None or keep(x)]
    assert expected, "the filter should find something"
    assert listed(page(seeded.client, f"/risk/register?{query}").text) == expected
    assert len(expected) < len(api_risks(seeded))


def test_the_register_pages_fifty_at_a_time(risk: Risk) -> None:
    for n in range(53):
        new_risk(risk, f"Risk {n}", 1 + n % 5, 1 + n // 11)
    sign_in(risk.client, "rosa")
    first = page(risk.client, "/risk/register").text
    expected = [x["id"] for x in api_risks(risk)]
    assert listed(first) == expected[:50]
    assert "page 1 of 2" in first
    second = page(risk.client, "/risk/register?page=2").text
    assert listed(second) == expected[50:] and len(expected) == 53
    assert page(risk.client, "/risk/register?page=0").status_code == 422


def test_a_risk_is_added_through_the_form_and_audited(risk: Risk) -> None:
    csrf = sign_in(risk.client, "rosa")
    response = post(
        risk.client,
        "/risk/register",
        csrf,
        model=MODEL,
        title="Proxy discrimination",
        category="bias",
        likelihood="4",
        impact="5",
        residual_likelihood="2",
        residual_impact="",
        owner="olivia",
        treatment="mitigate",
        review_date="2030-01-31",
        description="Postcode correlates with ethnicity.",
        controls="Quarterly fairness review\n\n  Postcode dropped  \n",
    )
    assert response.status_code == 303
    (stored,) = api_risks(risk)
    assert response.headers["location"] == f"/risk/register/{stored['id']}?done=created"
    assert (stored["likelihood"], stored["impact"], stored["residual_likelihood"], stored["residual_impact"]) == (
        4,
        5,
        2,
        5,
    )
    assert stored["controls"] == ["Quarterly fairness review", "Postcode dropped"]
    assert stored["review_date"] == "2030-01-31" and stored["model"] == MODEL
    detail = page(risk.client, response.headers["location"]).text
    assert "The risk was added to the register." in detail
    assert 'id="residual-rating">high<' in detail
    (event,) = events(risk.db, "risk.create")
    assert event["actor"] == "user:rosa" and event["resource_id"] == str(stored["id"])


@pytest.mark.parametrize(
    ("fields", "says", "status"),
    [
        ({"likelihood": "7"}, "Likelihood: Input should be less than or equal to 5.", 422),
        ({"title": ""}, "Title: String should have at least 1 character.", 422),
        ({"category": "luck"}, "Category: Input should be", 422),
        ({"residual_impact": "5", "impact": "3"}, "cannot exceed the inherent ones", 422),
        ({"owner": "nobody"}, "there is no user or service account named 'nobody'", 422),
        ({"model": "no-such-model"}, "no-such-model", 404),
        ({"review_date": "31/01/2030"}, "Review date:", 422),
    ],
)
def test_a_refused_risk_is_shown_on_the_form_and_nothing_is_stored(
    risk: Risk, fields: dict[str, str], says: str, status: int
) -> None:
    csrf = sign_in(risk.client, "rosa")
    typed = {"model": MODEL, "title": "Proxy", "category": "bias", "likelihood": "4", "impact": "4"}
    typed |= {"owner": "olivia", **fields}
    response = post(risk.client, "/risk/register", csrf, **typed)
    assert response.status_code == status
    assert says in error_text(response.text)
    assert 'id="risk-form"' in response.text and f'value="{html.escape(typed["title"])}"' in response.text
    assert api_risks(risk) == [] and events(risk.db, "risk.create") == []


def test_accepting_a_risk_needs_a_reason_and_is_kept_with_it(risk: Risk) -> None:
    created = new_risk(risk, "Proxy discrimination", 4, 5)
    csrf = sign_in(risk.client, "rosa")
    path = f"/risk/register/{created['id']}"
    assert 'id="accept-form"' in page(risk.client, path).text
    short = post(risk.client, f"{path}/accept", csrf, note="ok", review_date="")
    assert short.status_code == 422
    assert error_text(short.text).startswith("Note: String should have at least 10 characters")
    assert risk.ok(risk.get(f"/risk/register/{created['id']}"))["status"] == "open"
    note = "Human review of every decline; see RISK-12."
    done = post(risk.client, f"{path}/accept", csrf, note=note, review_date="2031-06-30")
    assert done.status_code == 303 and done.headers["location"] == f"{path}?done=accepted"
    stored = risk.ok(risk.get(f"/risk/register/{created['id']}"))
    assert (stored["status"], stored["accepted_by"], stored["acceptance_note"]) == ("accepted", "user:rosa", note)
    assert stored["review_date"] == "2031-06-30"
    shown = page(risk.client, done.headers["location"]).text
    assert 'id="risk-status">accepted<' in shown and "Accepted by <strong>user:rosa</strong>" in shown
    (event,) = events(risk.db, "risk.accept")
    assert event["details"]["permission"] == "risk:accept"


def test_accepting_a_closed_risk_is_refused_in_place(risk: Risk) -> None:
    created = new_risk(risk, "Retired feature", 2, 2)
    risk.ok(risk.client.patch(f"/api/v1/risk/register/{created['id']}", json={"status": "closed"}, headers=risk.risk))
    csrf = sign_in(risk.client, "rosa")
    response = post(risk.client, f"/risk/register/{created['id']}/accept", csrf, note="It is fine, really.")
    assert response.status_code == 409
    assert "is closed; reopen it" in error_text(response.text)
    assert risk.ok(risk.get(f"/risk/register/{created['id']}"))["status"] == "closed"


def test_accepting_another_teams_risk_is_refused_and_audited_once(risk: Risk) -> None:
    created = new_risk(risk, "Proxy discrimination", 4, 5)
    csrf = sign_in(risk.client, "rick")  # a risk officer of people-analytics only
    response = post(risk.client, f"/risk/register/{created['id']}/accept", csrf, note="Not my team, but fine.")
    assert response.status_code == 403
    assert "lacks the permission 'risk:write'" in html.unescape(response.text)
    assert risk.ok(risk.get(f"/risk/register/{created['id']}"))["status"] == "open"
    denied = [e for e in events(risk.db, "access.denied") if e["actor"] == "user:rick"]
    assert len(denied) == 1


def test_those_who_may_not_write_see_no_forms_and_are_refused(risk: Risk, factory: Factory) -> None:
    created = new_risk(risk, "Proxy discrimination", 4, 5)
    risk.version("1.0.0")
    csrf = sign_in(risk.client, "vera")  # a viewer reads risk, writes none
    assert 'id="risk-form"' not in page(risk.client, "/risk/register").text
    assert 'id="accept-form"' not in page(risk.client, f"/risk/register/{created['id']}").text
    assert "assess-form" not in page(risk.client, f"/risk/models/{MODEL}").text
    typed = {"model": MODEL, "title": "x", "category": "bias", "likelihood": "1", "impact": "1", "owner": "vera"}
    assert post(risk.client, "/risk/register", csrf, **typed).status_code == 403
    assert post(risk.client, f"/risk/register/{created['id']}/accept", csrf, note="Fine by me, ok.").status_code == 403
    assert post(risk.client, f"/risk/models/{MODEL}/versions/1.0.0/assess", csrf).status_code == 403
    assert len(api_risks(risk)) == 1 and risk.history("1.0.0") == []
    factory.user("nobody")  # no role: no risk:read anywhere
    sign_in(risk.client, "nobody")
    for path in ("/risk", "/risk/register", f"/risk/register/{created['id']}", f"/risk/models/{MODEL}"):
        refused = page(risk.client, path)
        assert refused.status_code == 403, path
        assert "risk:read" in refused.text
    assert 'href="/risk"' not in page(risk.client, "/").text


def test_forms_without_the_sessions_csrf_value_are_refused_and_change_nothing(risk: Risk) -> None:
    created = new_risk(risk, "Proxy discrimination", 4, 5)
    risk.version("1.0.0")
    sign_in(risk.client, "rosa")
    typed = {"model": MODEL, "title": "x", "category": "bias", "likelihood": "1", "impact": "1", "owner": "rosa"}
    for path, fields in (
        ("/risk/register", typed),
        (f"/risk/register/{created['id']}/accept", {"note": "A good enough reason."}),
        (f"/risk/models/{MODEL}/versions/1.0.0/assess", {}),
    ):
        refused = post(risk.client, path, "not-the-value", **fields)
        assert refused.status_code == 403 and "The form has expired" in refused.text
    assert len(api_risks(risk)) == 1 and risk.history("1.0.0") == []
    assert risk.ok(risk.get(f"/risk/register/{created['id']}"))["status"] == "open"


# -- a model's risk ---------------------------------------------------------------------------------


def test_the_model_page_shows_each_factor_with_its_score_weight_and_reasons(risk: Risk) -> None:
    risk.version("1.0.0")
    risk.ok(risk.assess("1.0.0"), 201)
    risk.fairness("1.0.0", (50, 20))  # disparate impact 0.4: the bias factor rises
    risk.version("2.0.0")
    latest = risk.history("1.0.0")[0]
    sign_in(risk.client, "vera")
    text = page(risk.client, f"/risk/models/{MODEL}").text
    section = re.search(r'<section class="card version-risk" id="version-1.0.0".*?</section>', text, re.S)
    assert section, "no section for version 1.0.0"
    shown = section.group(0)
    assert f'data-rating="{latest["rating"]}"' in shown
    for factor in latest["result"]["factors"]:
        row = re.search(
            rf'<tr class="factor" data-factor="{factor["factor"]}" data-score="([^"]+)">(.*?)</tr>', shown, re.S
        )
        assert row, factor["factor"]
        assert float(row.group(1)) == factor["score"]
        assert f"<td>{factor['weight']}</td>" in row.group(2)
        rules = re.findall(r'<li class="reason" data-rule="([^"]+)"', row.group(2))
        assert rules == [reason["rule"] for reason in factor["reasons"]]
        for reason in factor["reasons"]:
            for path in reason["facts"]:
                assert f"<dt>{path}</dt>" in row.group(2)
            for ref in reason["evidence"]:
                assert f'#evidence-{ref["id"]}">{ref["kind"]} #{ref["id"]}</a>' in row.group(2)
    assert any(r["evidence"] for f in latest["result"]["factors"] for r in f["reasons"]), "a reason reads evidence"
    history = re.findall(r'<tr data-assessment="(\d+)">', shown)
    assert [int(a) for a in history] == [a["id"] for a in risk.history("1.0.0")] and len(history) == 2
    assert 'id="version-2.0.0"' in text and "Not assessed yet." in text


def test_the_classification_is_shown_with_its_reasons_and_obligations(risk: Risk) -> None:
    answers = {q.id: False for q in QUESTIONS if q.required} | {"hr_essential_services": True}
    classified = risk.ok(
        risk.client.put(f"/api/v1/risk/models/{MODEL}/classification", json={"answers": answers}, headers=risk.risk)
    )
    sign_in(risk.client, "vera")
    text = page(risk.client, f"/risk/models/{MODEL}").text
    assert f'id="category">{classified["result"]["category"].replace("_", " ")}<' in text
    reasons = re.search(r'<ul id="classification-reasons">(.*?)</ul>', text, re.S)
    assert reasons
    for reason in classified["result"]["reasons"]:
        assert html.escape(reason["reference"]) in reasons.group(1)
    for obligation in classified["result"]["obligations"]:
        assert html.escape(obligation["reference"]) in text


def test_reassess_through_the_form_adds_an_assessment_and_audits_it(risk: Risk) -> None:
    risk.version("1.0.0")
    risk.ok(risk.assess("1.0.0"), 201)
    csrf = sign_in(risk.client, "olivia")
    assert "Reassess now" in page(risk.client, f"/risk/models/{MODEL}").text
    before = len(events(risk.db, "risk.assess"))
    done = post(risk.client, f"/risk/models/{MODEL}/versions/1.0.0/assess", csrf)
    assert done.status_code == 303 and done.headers["location"].startswith(f"/risk/models/{MODEL}?done=assessed")
    history = risk.history("1.0.0")
    assert len(history) == 2 and history[0]["trigger"] == "manual" and history[0]["created_by"] == "user:olivia"
    assert len(events(risk.db, "risk.assess")) == before + 1
    missing = post(risk.client, f"/risk/models/{MODEL}/versions/9.9.9/assess", csrf)
    assert missing.status_code == 404 and "9.9.9" in error_text(missing.text)
    assert len(risk.history("1.0.0")) == 2


def test_the_navigation_links_risk_for_readers_and_an_unknown_risk_is_a_404(risk: Risk) -> None:
    created = new_risk(risk, "Proxy discrimination", 4, 5)
    sign_in(risk.client, "vera")
    assert 'href="/risk"' in page(risk.client, "/").text
    shown = page(risk.client, f"/risk/register/{created['id']}?done=<script>alert(1)</script>").text
    assert 'id="message"' not in shown and "<script>alert" not in shown
    missing = page(risk.client, "/risk/register/999999")
    assert missing.status_code == 404 and "There is no risk 999999" in missing.text


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"rating": "high"}, lambda x: x["residual_rating"] == "high"),
        ({"owner": "rita"}, lambda x: x["owner"] == "rita"),
        (
            {"likelihood": 2, "impact": 5},
            lambda x: (x["residual_likelihood"], x["residual_impact"]) == (2, 5) and x["status"] != "closed",
        ),
        (
            {"likelihood": 4, "impact": 5, "basis": "inherent"},
            lambda x: (x["likelihood"], x["impact"]) == (4, 5) and x["status"] != "closed",
        ),
        (
            {"likelihood": 5, "impact": 5, "basis": "inherent", "status": "closed"},
            lambda x: (x["likelihood"], x["impact"]) == (5, 5) and x["status"] == "closed",
        ),
    ],
)
def test_the_api_filters_by_rating_owner_and_cell(seeded: Risk, params: dict[str, Any], keep: Any) -> None:
    everything = api_risks(seeded)
    expected = [x["id"] for x in everything if keep(x)]
    assert expected and len(expected) < len(everything)
    assert [x["id"] for x in api_risks(seeded, **params)] == expected


def test_the_api_pages_the_register(seeded: Risk) -> None:
    everything = [x["id"] for x in api_risks(seeded)]
    pages = [[x["id"] for x in api_risks(seeded, offset=offset, limit=2)] for offset in range(0, 8, 2)]
    assert [i for part in pages for i in part] == everything and len(everything) == 6
    half = seeded.get("/risk/register", seeded.auditor, likelihood=2)
    assert half.status_code == 422 and "heat-map cell" in half.json()["error"]["message"]
