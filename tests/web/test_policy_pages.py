"""The policy pages through HTTP, without a browser: the list, the editor, a policy's page with its
lifecycle, dry run and waivers, and the waivers list, against the real app on SQLite and, when
configured, PostgreSQL.

Forms are driven as a browser drives them (GET the page, copy its CSRF value, POST the form); what
the pages say is checked against the REST API's answer, and what the editor says about a refused
text against the text itself (the line and column where the misspelt word really is).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from charter.db.engine import Database
from charter.errors import InvalidInput
from charter.policies import documents, facts
from charter.policies.models import PolicyRow, WaiverRow
from charter.web.policy_source import check, locate, to_yaml
from tests.conftest import Factory
from tests.policies import conftest as policy_fixtures
from tests.policies.conftest import FAIRNESS, MODEL, Gov, policy
from tests.web.test_pages import HTML, events, sign_in

gov = policy_fixtures.gov  # the governance desk of tests/policies, bound here so that pytest finds it

Headers = dict[str, str]

# A policy as a person writes it, with a misspelt fact in the second rule (`facts.card.complet`).
TEXT = """\
id: card-complete
title: High-risk models have a complete model card
owner: risk-office
rationale:
  text: Deployers must be able to understand the system.
  references: [EU AI Act Art. 13]
match: facts.model.risk_tier == 'high'
rules:
  - id: summary-written
    expr: facts.card.fields.summary != null
    message: Write the card's summary.
  - id: card-complete
    severity: critical
    expr: facts.version.stage != 'production' || facts.card.complet
    message: Complete the model card before production.
"""


@dataclass
class Pages:
    """The dashboard as each person sees it (sign in, read a page, post a form), beside ``gov``'s API."""

    gov: Gov

    @property
    def client(self) -> TestClient:
        return self.gov.client

    @property
    def db(self) -> Database:
        return self.gov.db

    def sign_in(self, username: str) -> str:
        self.client.cookies.clear()
        return sign_in(self.client, username)

    def page(self, path: str) -> Response:
        return self.client.get(path, headers=HTML)

    def post(self, path: str, csrf: str | None, **fields: Any) -> Response:
        data = {**fields} if csrf is None else {"csrf": csrf, **fields}
        return self.client.post(path, data=data, headers=HTML, follow_redirects=False)

    def api(self, policy_id: str) -> dict[str, Any]:
        return self.gov.ok(self.client.get(f"/api/v1/policies/{policy_id}", headers=self.gov.auditor))

    def policies(self) -> list[dict[str, Any]]:
        return list(self.gov.ok(self.client.get("/api/v1/policies", headers=self.gov.auditor)))

    def waivers(self) -> list[dict[str, Any]]:
        return list(self.gov.ok(self.client.get("/api/v1/waivers", headers=self.gov.auditor)))


@pytest.fixture
def pages(gov: Gov) -> Pages:
    return Pages(gov)


def error_text(page: str) -> str:
    match = re.search(r'<p class="alert error" role="alert" id="error">(.*?)</p>', page, re.S)
    assert match, "no error shown on the page"
    return html.unescape(match.group(1))


def message_text(page: str) -> str:
    match = re.search(r'<p class="alert ok" role="status" id="message">(.*?)</p>', page, re.S)
    assert match, "no message shown on the page"
    return html.unescape(match.group(1))


def problems(page: str) -> list[tuple[int | None, int | None, str, str | None]]:
    """(line, column, message, the source line shown) of each problem the editor lists."""
    found = []
    pattern = (
        r'<li class="problem" data-line="(\d*)" data-column="(\d*)">.*?<span class="message">(.*?)</span>'
        r'(?:</div>\s*<pre class="source"><span class="lineno">\d+ \|</span> ([^\n]*)\n)?'
    )
    for line, column, message, source in re.findall(pattern, page, re.S):
        found.append(
            (
                int(line) if line else None,
                int(column) if column else None,
                html.unescape(message),
                html.unescape(source) if source else None,
            )
        )
    return found


def textarea(page: str) -> str:
    match = re.search(r'<textarea name="text" id="policy-text"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no editor on the page"
    return html.unescape(match.group(1))


def position_of(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """The 1-based line and column of ``needle`` (plus ``offset`` characters) in ``text``."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def found(pattern: str, text: str) -> str:
    """The first group of ``pattern``'s first match in ``text`` (which must match)."""
    match = re.search(pattern, text, re.S)
    assert match, f"{pattern!r} not found"
    return match.group(1)


def table_rows(page: str, table: str) -> list[str]:
    match = re.search(rf'<table class="grid[^"]*" id="{table}">(.*?)</table>', page, re.S)
    assert match, f"no table {table!r} on the page"
    return re.findall(r"<tr\b[^>]*>.*?</tr>", match.group(1).split("<tbody>", 1)[1], re.S)


def dry_run_table(page: str) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    """(model, version) -> (outcome, rule -> status) as the dry-run table shows them."""
    shown = {}
    for row in table_rows(page, "dry-run-table"):
        head = re.search(r'data-model="([^"]+)" data-version="([^"]+)" data-outcome="([^"]+)"', row)
        if head is None:
            continue
        rules = dict(re.findall(r'<td class="rule-cell" data-rule="([^"]+)" data-status="([^"]*)"', row))
        shown[(head.group(1), head.group(2))] = (head.group(3), rules)
    return shown


def policy_events(db: Database, action: str) -> list[dict[str, Any]]:
    return [e for e in events(db, action) if e["resource_type"] == "policy"]


def set_review_due(db: Database, policy_id: str, when: datetime) -> None:
    """Move an enforced policy's review date (as time passing would)."""
    with db.session() as session:
        session.execute(update(PolicyRow).where(PolicyRow.id == policy_id).values(review_due_at=when))


def expire_waiver(db: Database, waiver_id: int) -> None:
    with db.session() as session:
        past = datetime.now(UTC) - timedelta(days=1)
        session.execute(update(WaiverRow).where(WaiverRow.id == waiver_id).values(expires_at=past))


# -- the editor's text, without the web -------------------------------------------------------------


@pytest.mark.parametrize("document", [*documents.pack_documents(), documents.parse_data(FAIRNESS)], ids=str)
def test_a_stored_document_shown_as_yaml_parses_back_to_the_same_version(document: Any) -> None:
    text = to_yaml(document)
    assert documents.sha256(documents.parse_text(text)) == documents.sha256(document)
    assert text.startswith(f"id: {document.id}\ntitle: ")  # in the order people write it


@pytest.mark.parametrize(
    ("style", "value", "needle"),
    [
        ("plain", "facts.card.complete && facts.card.complet", "complet\n"),
        ("single quotes", "'facts.model.name == ''x'' && facts.card.complet'", "complet'"),
        ("double quotes", '"facts.model.name == \\"x\\" && facts.card.complet"', 'complet"'),
        ("folded", ">\n      facts.card.complete &&\n      facts.card.complet\n", "complet\n"),
        ("literal", "|\n      facts.card.complete &&\n        facts.card.complet\n", "complet\n"),
        ("plain, two lines", "facts.card.complete &&\n      facts.card.complet\n", "complet\n"),
    ],
)
def test_an_expression_error_is_placed_on_the_texts_own_line_and_column(style: str, value: str, needle: str) -> None:
    text = TEXT.replace("facts.version.stage != 'production' || facts.card.complet\n", value.rstrip("\n") + "\n")
    checked = check(text)
    assert not checked.valid and checked.document is not None
    ((line, column, message, source),) = [(p.line, p.column, p.message, p.source) for p in checked.problems]
    # The checker points at the unknown field: the `complet` after `facts.card.`.
    expected = position_of(text, needle)
    assert (line, column) == expected, style
    assert "unknown fact facts.card.complet" in message
    assert source == text.split("\n")[expected[0] - 1]


def test_yaml_and_schema_errors_are_placed_where_they_are() -> None:
    (yaml_error,) = check(TEXT.replace("references: [EU AI Act Art. 13]", "references: [EU AI Act Art. 13")).problems
    assert yaml_error.field == "document" and "not valid YAML" in yaml_error.message
    assert yaml_error.line is not None and yaml_error.line > 6  # the parser notices where the list never closes
    text = TEXT.replace("id: card-complete\n", "id: Card Complete\n", 1) + "extra: 1\n"
    bad_id, extra = check(text).problems
    assert (bad_id.field, bad_id.line, bad_id.column, bad_id.source) == ("id", 1, 1, "id: Card Complete")
    assert "should match pattern" in bad_id.message
    assert (extra.field, extra.line, extra.column) == ("extra", *position_of(text, "extra: 1"))
    assert extra.message == "Extra inputs are not permitted"
    (rule,) = check(TEXT.replace("    severity: critical\n", "    severity: urgent\n")).problems
    assert (rule.field, rule.line) == ("rules.1.severity", position_of(TEXT, "    severity: critical")[0])
    (listed,) = check("- just\n- a list\n").problems
    assert listed.line is None and "must be a mapping" in listed.message
    # A refusal that names no place (a service's own words) is kept, with no line.
    (plain,) = locate(TEXT, InvalidInput("Something else is wrong."))
    assert (plain.field, plain.message, plain.line) == ("document", "Something else is wrong.", None)


def test_a_syntax_error_at_the_end_of_an_expression_points_just_after_it() -> None:
    text = TEXT.replace("expr: facts.card.fields.summary != null", "expr: facts.card.fields.summary !=")
    cut, misspelt = check(text).problems  # every problem at once, in the order of the text
    line, column = position_of(text, "expr: facts.card.fields.summary !=", len("expr: facts.card.fields.summary !="))
    assert (cut.field, cut.line, cut.column) == ("rules[0] (summary-written)", line, column)
    assert "Syntax error" in cut.message
    assert (misspelt.field, misspelt.line, misspelt.column) == (
        "rules[1] (card-complete)",
        *position_of(text, "complet\n"),
    )


# -- navigation and the list ------------------------------------------------------------------------


def test_the_navigation_links_the_policies_for_those_who_may_read_them(pages: Pages, factory: Factory) -> None:
    pages.sign_in("vera")
    assert 'href="/policies"' in pages.page("/").text
    factory.user("nobody")  # signed in, no role
    pages.sign_in("nobody")
    assert 'href="/policies"' not in pages.page("/").text
    assert pages.page("/policies").status_code == 403
    assert pages.page("/waivers").status_code == 403


def test_the_list_shows_states_owners_changes_and_pending_proposals(pages: Pages) -> None:
    g = pages.gov
    g.create(policy("card-written"))
    g.create(FAIRNESS)
    g.create(policy("retired-one", owner="legal"))
    g.ok(g.state("retired-one", "retired"))
    g.enforce("high-risk-fairness")  # rosa proposes, rick approves
    set_review_due(pages.db, "high-risk-fairness", datetime.now(UTC) - timedelta(days=2))
    g.ok(g.state("card-written", "enforce"))  # proposed by rosa, awaiting approval

    pages.sign_in("vera")
    page = pages.page("/policies").text
    rows = table_rows(page, "policies")
    ids = [found(r'data-id="([^"]+)"', r) for r in rows]
    assert ids == ["card-written", "high-risk-fairness", "retired-one"]  # waiting for someone: first
    by_id = dict(zip(ids, rows, strict=True))
    assert 'class="policy-row pending"' in by_id["card-written"]
    assert "enforce proposed" in by_id["card-written"] and "by user:rosa" in by_id["card-written"]
    # The review date passed: the enforced policy is in review, and says since when.
    api = pages.api("high-risk-fairness")
    assert api["effective_state"] == "review"
    assert re.search(r'class="badge state-review"[^>]*>review</span>', by_id["high-risk-fairness"])
    assert f"review was due {api['review_due_at'][:10]}" in by_id["high-risk-fairness"]
    assert re.search(r'class="badge state-retired"[^>]*>retired</span>', by_id["retired-one"])
    assert "<td>legal</td>" in by_id["retired-one"]
    assert datetime.fromisoformat(api["updated_at"]).strftime("%Y-%m-%d %H:%M") in by_id["high-risk-fairness"]
    # A viewer approves nothing, writes nothing.
    for form in ("approve-form", 'id="pack-form"', 'href="/policies/new"'):
        assert form not in page
    # The state filter is the effective state: review finds the one due.
    review = table_rows(pages.page("/policies?state=review").text, "policies")
    assert len(review) == 1 and 'data-id="high-risk-fairness"' in review[0]
    assert len(table_rows(pages.page("/policies?state=bogus").text, "policies")) == 3  # an unknown choice is ignored


def test_the_proposer_sees_no_approve_button_and_another_approver_does(pages: Pages) -> None:
    g = pages.gov
    g.create(policy("card-written"))
    g.ok(g.state("card-written", "enforce"))
    pages.sign_in("rosa")
    (row,) = table_rows(pages.page("/policies").text, "policies")
    assert "approve-form" not in row
    assert "proposed enforcing this policy and cannot also approve it" in html.unescape(row)
    assert 'id="approve-form"' not in pages.page("/policies/card-written").text

    csrf = pages.sign_in("rick")
    (row,) = table_rows(pages.page("/policies").text, "policies")
    assert 'action="/policies/card-written/approve"' in row and ">Approve</button>" in row
    approved = pages.post("/policies/card-written/approve", csrf)
    assert approved.status_code == 303
    assert approved.headers["location"] == "/policies/card-written?done=approved"
    assert pages.api("card-written")["state"] == "enforce"
    assert "the policy is enforced" in message_text(pages.page(approved.headers["location"]).text)


def test_the_starter_pack_installs_through_the_list(pages: Pages) -> None:
    csrf = pages.sign_in("rosa")
    assert 'id="pack-form"' in pages.page("/policies").text
    first = pages.post("/policies/pack", csrf)
    assert first.status_code == 303 and first.headers["location"] == "/policies?done=pack&created=6&skipped=0"
    listed = pages.policies()
    assert len(listed) == 6 and {p["state"] for p in listed} == {"draft"}
    assert message_text(pages.page(first.headers["location"]).text).endswith("6 new, 0 already present.")
    again = pages.post("/policies/pack", csrf)
    assert again.headers["location"] == "/policies?done=pack&created=0&skipped=6"
    assert len(policy_events(pages.db, "policy.create")) == 6


# -- the editor -------------------------------------------------------------------------------------


def test_the_editor_offers_a_valid_template_and_every_fact(pages: Pages) -> None:
    csrf = pages.sign_in("rosa")
    page = pages.page("/policies/new")
    assert page.status_code == 200
    template = textarea(page.text)
    assert check(template).valid
    listed = re.findall(r'<button type="button" class="link fact-path" data-path="([^"]+)">', page.text)
    assert listed == [path for path, _type, _meaning in facts.reference()]
    assert '<script src="/static/policies.js" defer></script>' in page.text
    validated = pages.post("/policies/new", csrf, text=template, action="validate")
    assert validated.status_code == 200
    assert "The policy is valid: 1 rule, reading facts.card.complete, facts.model.risk_tier" in html.unescape(
        validated.text
    )
    assert "Nothing was saved." in validated.text
    assert pages.policies() == []


def test_validate_shows_the_misspelt_fact_with_its_line_and_column_and_saves_nothing(pages: Pages) -> None:
    csrf = pages.sign_in("rosa")
    for action in ("validate", "save"):
        response = pages.post("/policies/new", csrf, text=TEXT.replace("\n", "\r\n"), action=action)
        assert response.status_code == 422
        ((line, column, message, source),) = problems(response.text)
        assert (line, column) == position_of(TEXT, "complet\n")
        assert message.startswith("unknown fact facts.card.complet: facts.card has complete, fields, missing")
        assert source == "    expr: facts.version.stage != 'production' || facts.card.complet"
        caret = re.search(r'\|</span> ( *)<span class="caret">\^</span>', response.text)
        assert caret and len(caret.group(1)) == column - 1
        assert textarea(response.text) == TEXT  # what was typed, with its line breaks as LF
        heading = re.search(r'id="problems-heading">(.*?)</strong>', response.text)
        assert heading and heading.group(1).startswith("Not saved" if action == "save" else "The policy is not")
    assert pages.policies() == []
    assert policy_events(pages.db, "policy.create") == []


RATIONALE = "rationale:\n  text: Deployers must be able to understand the system.\n  references: [EU AI Act Art. 13]\n"


@pytest.mark.parametrize(
    ("original", "broken", "field", "needle", "message"),
    [
        ("[EU AI Act Art. 13]", "[EU AI Act Art. 13", "document", None, "is not valid YAML or JSON at line"),
        ("title: High-risk", 'title: "High-risk', "document", None, "is not valid YAML or JSON at line 16, column 1"),
        (RATIONALE, "", "rationale", "id: card-complete", "Field required"),
        (
            "summary != null",
            "summary > 3",
            "rules[0] (summary-written)",
            "> 3",
            "`>` cannot order a string? and an int",
        ),
        ("== 'high'\n", "== 'high' &&\n", "match", "\nrules:", "Syntax error"),
    ],
)
def test_a_refused_text_is_shown_with_its_place_and_nothing_is_stored(
    pages: Pages, original: str, broken: str, field: str, needle: str | None, message: str
) -> None:
    text = TEXT.replace("facts.card.complet\n", "facts.card.complete\n").replace(original, broken, 1)
    assert broken in text and original not in text
    csrf = pages.sign_in("rosa")
    response = pages.post("/policies/new", csrf, text=text, action="save")
    assert response.status_code == 422
    ((line, column, said, source),) = problems(response.text)
    assert message in said
    if needle is not None:  # where the problem really is in the text
        assert (line, column) == position_of(text, needle)
    assert line is not None and (source or "") == text.split("\n")[line - 1]
    if field != "document":
        assert f"<code>{field}</code>" in response.text
    assert textarea(response.text) == text
    assert pages.policies() == []


def test_save_creates_the_draft_and_audits_it(pages: Pages) -> None:
    csrf = pages.sign_in("rosa")
    fixed = TEXT.replace("facts.card.complet\n", "facts.card.complete\n")
    response = pages.post("/policies/new", csrf, text=fixed, comment="First cut", action="save")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/policies/card-complete?done=created"
    stored = pages.api("card-complete")
    assert (stored["state"], stored["version"], stored["version_created_by"]) == ("draft", 1, "user:rosa")
    assert stored["sha256"] == documents.sha256(documents.parse_text(fixed))
    assert stored["history"][0]["comment"] == "First cut"
    (event,) = policy_events(pages.db, "policy.create")
    assert (event["actor"], event["resource_id"]) == ("user:rosa", "card-complete")
    again = pages.post("/policies/new", csrf, text=fixed, action="save")
    assert again.status_code == 409 and "already exists" in error_text(again.text)
    assert textarea(again.text) == fixed


def test_editing_adds_versions_in_draft_only(pages: Pages) -> None:
    g = pages.gov
    g.create(FAIRNESS)
    csrf = pages.sign_in("rick")
    page = pages.page("/policies/high-risk-fairness/edit")
    assert page.status_code == 200 and "Saving adds version 2" in page.text
    text = textarea(page.text)
    assert documents.sha256(documents.parse_text(text)) == pages.api("high-risk-fairness")["sha256"]

    same = pages.post("/policies/high-risk-fairness/edit", csrf, text=text, action="save")
    assert same.headers["location"] == "/policies/high-risk-fairness?done=unchanged"
    changed = text.replace("0.8", "0.85")
    saved = pages.post("/policies/high-risk-fairness/edit", csrf, text=changed, comment="Stricter", action="save")
    assert saved.headers["location"] == "/policies/high-risk-fairness?done=saved"
    stored = pages.api("high-risk-fairness")
    assert stored["version"] == 2 and stored["version_created_by"] == "user:rick"
    assert ">= 0.85" in stored["document"]["rules"][1]["expr"]
    assert [e["details"]["comment"] for e in policy_events(pages.db, "policy.update")] == ["Stricter"]

    # Another id in the text: refused at the id's line, in the service's words; nothing stored.
    other = pages.post(
        "/policies/high-risk-fairness/edit", csrf, text=changed.replace("id: high-risk", "id: low-risk", 1)
    )
    assert other.status_code == 422
    ((line, _column, said, _source),) = problems(other.text)
    assert line == 1 and said == "The document's id 'low-risk-fairness' is not the policy's id 'high-risk-fairness'."

    # Out of draft the page says so, and the service refuses a save.
    g.ok(g.state("high-risk-fairness", "audit"))
    page = pages.page("/policies/high-risk-fairness/edit")
    assert "its content changes only in draft" in page.text
    assert re.search(r'<button type="submit" name="action" value="save"[^>]*\bdisabled\b', page.text)
    refused = pages.post("/policies/high-risk-fairness/edit", csrf, text=text, action="save")
    assert refused.status_code == 409 and "changes only in draft" in error_text(refused.text)
    assert pages.api("high-risk-fairness")["version"] == 2
    assert len(policy_events(pages.db, "policy.update")) == 1
    # Validating is still allowed there (it stores nothing).
    assert pages.post("/policies/high-risk-fairness/edit", csrf, text=text, action="validate").status_code == 200


# -- one policy -------------------------------------------------------------------------------------


def test_the_policy_page_renders_the_document_versions_and_history(pages: Pages) -> None:
    g = pages.gov
    g.create(FAIRNESS)
    changed = {**FAIRNESS, "review_days": 90}
    g.ok(g.client.put("/api/v1/policies/high-risk-fairness", json=changed, headers=g.risk2))
    g.ok(g.post("/policies/high-risk-fairness/state", {"state": "audit", "comment": "Watch it first"}))
    pages.sign_in("vera")
    page = pages.page("/policies/high-risk-fairness")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "<h1>High-risk models in production are fair" in text
    assert '<p class="prewrap" id="rationale">Bias must be examined.</p>' in text
    assert '<li class="chip">EU AI Act Art. 10</li>' in text
    assert f'<code class="expr" id="match">{FAIRNESS["match"]}</code>' in text
    rules = table_rows(page.text, "rules")
    assert [found(r'data-rule="([^"]+)"', r) for r in rules] == [
        "fairness-assessed",
        "disparate-impact",
    ]
    assert '<span class="badge severity-critical">critical</span>' in rules[1]
    assert "Disparate impact must be at least 0.8." in rules[1]
    assert "90 days after enforcement" in text
    versions = table_rows(page.text, "versions")
    assert len(versions) == 2 and 'v2</a> <span class="small muted">current' in versions[0]
    assert "user:rick" in versions[0] and "user:rosa" in versions[1]
    history = table_rows(page.text, "history")
    assert [found(r'data-kind="(\w+)"', r) for r in history] == ["state", "update", "create"]
    assert "draft → audit" in html.unescape(history[0]) and "Watch it first" in history[0]
    assert "user:rosa" in history[0]
    # An older version's document, on request.
    old = pages.page("/policies/high-risk-fairness?version=1").text
    assert "the current version is v2" in old and "365 days after enforcement" in old
    # A viewer sees no form that changes something; the dry run is only a read.
    for form in ("state-form", "approve-form", "waiver-form", "revoke-form", "edit-link"):
        assert form not in page.text
    assert 'id="dry-run-form"' in page.text
    assert pages.page("/policies/ghost").status_code == 404


def test_state_buttons_follow_the_lifecycle_and_a_wrong_move_is_refused_in_place(pages: Pages) -> None:
    pages.gov.create(policy("card-written"))
    csrf = pages.sign_in("rosa")
    page = pages.page("/policies/card-written").text
    assert re.findall(r'name="state" value="(\w+)"', page) == ["audit", "warn", "enforce", "retired"]
    assert ">Propose enforce</button>" in page
    wrong = pages.post("/policies/card-written/state", csrf, state="review", comment="too soon")
    assert wrong.status_code == 422
    assert "cannot move from 'draft' to 'review'" in error_text(wrong.text)
    assert 'value="too soon"' in wrong.text  # the comment typed is kept
    moved = pages.post("/policies/card-written/state", csrf, state="warn", comment="Tell them first")
    assert moved.headers["location"] == "/policies/card-written?done=state"
    assert pages.api("card-written")["state"] == "warn"
    (event,) = policy_events(pages.db, "policy.state")
    assert event["details"] == {"from": "draft", "to": "warn", "version": 1, "comment": "Tell them first"}
    page = pages.page("/policies/card-written").text
    assert re.findall(r'name="state" value="(\w+)"', page) == ["audit", "enforce", "draft", "retired"]


def test_four_eyes_the_proposer_is_refused_with_the_reason_and_a_second_person_approves(pages: Pages) -> None:
    pages.gov.create(policy("card-written"))
    csrf = pages.sign_in("rosa")
    proposed = pages.post("/policies/card-written/state", csrf, state="enforce", comment="Ready")
    assert proposed.headers["location"] == "/policies/card-written?done=proposed"
    page = pages.page(proposed.headers["location"]).text
    assert "another person holding policy:approve must approve it" in message_text(page)
    assert 'id="proposal"' in page and "Proposed by <strong>user:rosa</strong>" in page
    assert 'id="approve-form"' not in page
    assert "user:rosa proposed enforcing this policy and cannot also approve it" in html.unescape(page)
    assert "enforce" not in re.findall(r'name="state" value="(\w+)"', page)  # already proposed

    refused = pages.post("/policies/card-written/approve", csrf, comment="me again")
    assert refused.status_code == 403
    assert error_text(refused.text) == (
        "Four eyes: user:rosa proposed enforcing this policy and cannot also approve it; another person must."
    )
    assert pages.api("card-written")["state"] == "draft"
    (denied,) = policy_events(pages.db, "policy.approve")
    assert (denied["actor"], denied["outcome"]) == ("user:rosa", "denied")

    csrf = pages.sign_in("rick")
    page = pages.page("/policies/card-written").text
    assert 'id="approve-form"' in page
    approved = pages.post("/policies/card-written/approve", csrf, comment="Checked the dry run")
    assert approved.status_code == 303
    stored = pages.api("card-written")
    assert (stored["state"], stored["pending"], stored["state_changed_by"]) == ("enforce", None, "user:rick")
    outcomes = [(e["actor"], e["outcome"]) for e in policy_events(pages.db, "policy.approve")]
    assert outcomes == [("user:rosa", "denied"), ("user:rick", "allowed")]
    history = table_rows(pages.page("/policies/card-written").text, "history")
    assert "approve: draft → enforce" in html.unescape(history[0]) and "Checked the dry run" in history[0]


def test_a_new_version_withdraws_the_pending_proposal(pages: Pages) -> None:
    g = pages.gov
    g.create(policy("card-written"))
    g.ok(g.state("card-written", "enforce"))  # proposed by rosa, while the policy is still a draft
    assert pages.api("card-written")["pending"] is not None
    g.ok(g.client.put("/api/v1/policies/card-written", json=policy(expr="true"), headers=g.risk2))
    stored = pages.api("card-written")
    assert (stored["state"], stored["pending"]) == ("draft", None)  # approval must follow a new proposal
    csrf = pages.sign_in("ada")
    page = html.unescape(pages.page("/policies/card-written").text)
    assert 'id="approve-form"' not in page and "Propose enforce" in page
    refused = pages.post("/policies/card-written/approve", csrf)
    assert refused.status_code == 409 and "no pending proposal" in error_text(refused.text)
    (update,) = policy_events(pages.db, "policy.update")
    assert update["details"]["withdrawn_proposal"] == "enforce"


# -- dry runs ---------------------------------------------------------------------------------------


def _small_inventory(g: Gov) -> None:
    """credit-scoring 1.0.0 (no assessment) and 2.0.0 (fair), fraud-detector 1.0.0 (unfair); all high risk."""
    other = {"name": "fraud-detector", "team": "credit-risk", "domain": "other"}
    g.ok(g.client.post("/api/v1/models", json=other, headers=g.owner), 201)
    g.ok(g.client.put("/api/v1/models/fraud-detector/risk-tier", json={"risk_tier": "high"}, headers=g.risk))
    g.ok(g.version("1.0.0"), 201)
    g.ok(g.version("2.0.0"), 201)
    g.ok(g.version("1.0.0", model="fraud-detector"), 201)
    g.fairness("2.0.0", (50, 45))  # disparate impact 0.9: passes
    g.fairness("1.0.0", (50, 20), model="fraud-detector")  # 0.4: fails
    g.create(FAIRNESS)


def test_the_dry_run_shows_each_versions_outcome_as_the_api_decides_it(pages: Pages) -> None:
    g = pages.gov
    _small_inventory(g)
    csrf = pages.sign_in("vera")
    before = len(events(pages.db))
    response = pages.post("/policies/high-risk-fairness/dry-run", csrf, stage="production", version="1")
    assert response.status_code == 200
    shown = dry_run_table(response.text)
    assert shown == {
        (MODEL, "1.0.0"): ("error", {"fairness-assessed": "failed", "disparate-impact": "error"}),
        (MODEL, "2.0.0"): ("passed", {"fairness-assessed": "passed", "disparate-impact": "passed"}),
        ("fraud-detector", "1.0.0"): ("failed", {"fairness-assessed": "passed", "disparate-impact": "failed"}),
    }
    # The same as the API's answer, item for item.
    api = g.ok(g.post("/policies/high-risk-fairness/dry-run", {"stage": "production"}, g.viewer))
    assert shown == {
        (i["model"], i["version"]): (i["outcome"], {r["rule"]: r["status"] for r in i["rules"]}) for i in api["items"]
    }
    summary = re.sub(r"<[^>]+>", "", html.unescape(found(r'id="dry-run-summary">(.*?)</p>', response.text)))
    assert "3 model versions looked at, it applies to 3: 1 passed, 1 failed, 1 in error." in summary
    assert "Rules: 3 passed, 2 failed, 0 waived, 1 in error." in summary
    assert "Disparate impact must be at least 0.8." in response.text  # the failure's message, beside it
    assert "(could not be evaluated:" in response.text
    assert len(events(pages.db)) == before  # a dry run records nothing

    # As they are now, none is in production: with "also those it does not apply to", all three say so.
    now = pages.post("/policies/high-risk-fairness/dry-run", csrf, include_not_applicable="1")
    assert {outcome for outcome, _rules in dry_run_table(now.text).values()} == {"not_applicable"}
    assert len(dry_run_table(now.text)) == 3
    empty = pages.post("/policies/high-risk-fairness/dry-run", csrf)
    assert dry_run_table(empty.text) == {} and "The policy applies to none of them." in empty.text
    only = pages.post("/policies/high-risk-fairness/dry-run", csrf, stage="production", model="fraud-detector")
    assert list(dry_run_table(only.text)) == [("fraud-detector", "1.0.0")]
    ghost = pages.post("/policies/high-risk-fairness/dry-run", csrf, stage="production", model="ghost")
    assert ghost.status_code == 404 and "ghost" in error_text(ghost.text)
    bad = pages.post("/policies/high-risk-fairness/dry-run", csrf, stage="launched")
    assert bad.status_code == 422 and error_text(bad.text).startswith("As if promoted to: Input should be 'draft'")


def test_a_waiver_granted_through_the_form_shows_in_the_dry_run_and_can_be_revoked(pages: Pages) -> None:
    g = pages.gov
    _small_inventory(g)
    csrf = pages.sign_in("rosa")
    page = pages.page("/policies/high-risk-fairness").text
    assert 'id="waiver-form"' in page
    fields = {"rule": "disparate-impact", "model": "fraud-detector", "days": "30", "reason": "Retraining is underway."}
    short = pages.post("/policies/high-risk-fairness/waivers", csrf, **{**fields, "reason": "soon"})
    assert short.status_code == 422
    assert error_text(short.text) == "Reason: String should have at least 10 characters."
    assert "soon</textarea>" in short.text  # what was typed comes back
    unknown = pages.post("/policies/high-risk-fairness/waivers", csrf, **{**fields, "rule": "nope"})
    assert unknown.status_code == 422 and "has no rule 'nope'" in error_text(unknown.text)
    assert pages.waivers() == []

    granted = pages.post("/policies/high-risk-fairness/waivers", csrf, **fields)
    assert granted.status_code == 303
    assert granted.headers["location"] == "/policies/high-risk-fairness?done=granted#waivers"
    (waiver,) = pages.waivers()
    assert (waiver["rule"], waiver["model"], waiver["status"], waiver["approved_by"]) == (
        "disparate-impact",
        "fraud-detector",
        "active",
        "user:rosa",
    )
    (event,) = [e for e in events(pages.db, "waiver.grant")]
    assert event["details"]["days"] == 30 and event["details"]["reason"] == "Retraining is underway."
    page = pages.page("/policies/high-risk-fairness").text
    (row,) = table_rows(page, "waiver-table")
    assert 'data-status="active"' in row and "Retraining is underway." in row and "revoke-form" in row

    dry = pages.post("/policies/high-risk-fairness/dry-run", csrf, stage="production", model="fraud-detector")
    ((outcome, rules),) = dry_run_table(dry.text).values()
    assert (outcome, rules["disparate-impact"]) == ("passed", "waived")
    assert f"waiver #{waiver['id']}" in dry.text

    short = pages.post(f"/waivers/{waiver['id']}/revoke", csrf, reason="x", back="high-risk-fairness")
    assert short.status_code == 422 and error_text(short.text).startswith("Reason: String should have at least 3")
    revoked = pages.post(f"/waivers/{waiver['id']}/revoke", csrf, reason="Fixed early.", back="high-risk-fairness")
    assert revoked.headers["location"] == "/policies/high-risk-fairness?done=revoked#waivers"
    assert pages.waivers()[0]["status"] == "revoked"
    twice = pages.post(f"/waivers/{waiver['id']}/revoke", csrf, reason="Again.", back="high-risk-fairness")
    assert twice.status_code == 409 and "already revoked" in error_text(twice.text)
    assert [e["action"] for e in events(pages.db) if e["action"].startswith("waiver.")] == [
        "waiver.grant",
        "waiver.revoke",
    ]
    dry = pages.post("/policies/high-risk-fairness/dry-run", csrf, stage="production", model="fraud-detector")
    assert next(iter(dry_run_table(dry.text).values()))[0] == "failed"


def test_the_waivers_page_lists_and_filters_every_waiver(pages: Pages) -> None:
    g = pages.gov
    g.create(FAIRNESS)
    g.create(policy("card-written"))
    body = {"rule": "disparate-impact", "model": MODEL, "days": 10, "reason": "Known issue, fix in flight."}
    first = g.ok(g.post("/policies/high-risk-fairness/waivers", body), 201)
    second = g.ok(g.post("/policies/card-written/waivers", {**body, "rule": "rule-one"}), 201)
    third = g.ok(g.post("/policies/high-risk-fairness/waivers", body), 201)
    expire_waiver(pages.db, first["id"])
    g.ok(g.post(f"/waivers/{third['id']}/revoke", {"reason": "Not needed."}))

    def shown(path: str) -> list[tuple[int, str]]:
        rows = table_rows(pages.page(path).text, "waiver-table")
        return [(int(i), s) for r in rows for i, s in re.findall(r'data-id="(\d+)" data-status="(\w+)"', r)]

    csrf = pages.sign_in("rosa")
    assert shown("/waivers") == [(third["id"], "revoked"), (second["id"], "active"), (first["id"], "expired")]
    assert shown("/waivers?status=active") == [(second["id"], "active")]
    assert shown("/waivers?status=expired") == [(first["id"], "expired")]
    assert shown("/waivers?status=active&policy=high-risk-fairness") == []
    assert shown("/waivers?policy=card-written") == [(second["id"], "active")]
    assert len(shown("/waivers?status=bogus")) == 3  # an unknown choice is ignored
    page = pages.page("/waivers").text
    assert page.count("revoke-form") == 1  # only the active one can be revoked
    revoked = pages.post(f"/waivers/{second['id']}/revoke", csrf, reason="Fixed.", back="waivers")
    assert revoked.headers["location"] == "/waivers?done=revoked"
    assert message_text(pages.page(revoked.headers["location"]).text) == "The waiver was revoked."
    refused = pages.post(f"/waivers/{second['id']}/revoke", csrf, reason="Again.", back="waivers")
    assert refused.status_code == 409 and 'id="waiver-table"' in refused.text

    pages.sign_in("vera")  # a viewer of credit-risk reads them and revokes none
    assert len(shown("/waivers")) == 3 and "revoke-form" not in pages.page("/waivers").text
    pages.sign_in("otto")  # another team's owner: none of his models are waived
    assert shown("/waivers") == []


# -- permissions and CSRF ---------------------------------------------------------------------------


def _actions(pages: Pages) -> list[tuple[str, dict[str, Any]]]:
    """Every form that acts, with fields that would succeed (a waiver and a pending proposal exist)."""
    g = pages.gov
    g.create(FAIRNESS)
    g.ok(g.state("high-risk-fairness", "enforce"))  # proposed by rosa: rick may approve
    body = {"rule": "disparate-impact", "model": MODEL, "days": 10, "reason": "Known issue, fix in flight."}
    waiver = g.ok(g.post("/policies/high-risk-fairness/waivers", body), 201)
    fixed = TEXT.replace("facts.card.complet\n", "facts.card.complete\n")
    return [
        ("/policies/pack", {}),
        ("/policies/new", {"text": fixed, "action": "save"}),
        ("/policies/new", {"text": fixed, "action": "validate"}),
        ("/policies/high-risk-fairness/edit", {"text": to_yaml(documents.parse_data(FAIRNESS)), "action": "save"}),
        ("/policies/high-risk-fairness/state", {"state": "draft"}),
        ("/policies/high-risk-fairness/approve", {"comment": "ok"}),
        ("/policies/high-risk-fairness/dry-run", {"stage": "production"}),
        ("/policies/high-risk-fairness/waivers", {**body, "days": "5"}),
        (f"/waivers/{waiver['id']}/revoke", {"reason": "Fixed early.", "back": "waivers"}),
    ]


def test_every_action_needs_the_sessions_csrf_value_and_changes_nothing_without_it(pages: Pages) -> None:
    actions = _actions(pages)
    before = (pages.policies(), pages.waivers())
    csrf = pages.sign_in("rick")  # holds every permission these forms need
    for path, fields in actions:
        for sent in (None, "", csrf[:-2] + ("xx" if not csrf.endswith("xx") else "yy")):
            refused = pages.post(path, sent, **fields)
            assert refused.status_code == 403, (path, sent)
            assert "The form has expired" in refused.text
    assert (pages.policies(), pages.waivers()) == before
    denied = [e for e in events(pages.db, "access.denied") if e["actor"] == "user:rick"]
    assert len(denied) == 3 * len(actions)
    assert {e["details"]["code"] for e in denied} == {"csrf_failed"}


def test_those_without_the_permission_see_no_forms_and_are_refused_and_audited(pages: Pages) -> None:
    actions = _actions(pages)
    before = (pages.policies(), pages.waivers())
    csrf = pages.sign_in("olivia")  # a model owner reads policies; writes and approves none
    page = pages.page("/policies/high-risk-fairness").text
    for form in ("state-form", "approve-form", "waiver-form", "revoke-form", "edit-link"):
        assert form not in page
    assert 'id="pack-form"' not in pages.page("/policies").text
    assert pages.page("/policies/new").status_code == 403
    assert pages.page("/policies/high-risk-fairness/edit").status_code == 403
    refused = 0
    for path, fields in actions:
        response = pages.post(path, csrf, **fields)
        if path.endswith("/dry-run"):
            assert response.status_code == 200  # reading is all a dry run needs
            continue
        assert response.status_code == 403, path
        refused += 1
    assert (pages.policies(), pages.waivers()) == before
    denied = [e for e in events(pages.db, "access.denied") if e["actor"] == "user:olivia"]
    assert len(denied) == refused + 2  # and the two editor pages
    lacking = {found(r"lacks the permission '([a-z:]+)'", e["details"]["reason"]) for e in denied}
    assert lacking == {"policy:write", "policy:approve"}


def test_the_done_message_is_one_of_a_fixed_set(pages: Pages) -> None:
    pages.gov.create(policy("card-written"))
    pages.sign_in("vera")
    page = pages.page("/policies/card-written?done=<script>alert(1)</script>").text
    assert 'id="message"' not in page and "<script>alert" not in page
    listing = pages.page("/policies?done=pack&created=x&skipped=1")
    assert listing.status_code == 422  # counts are numbers or nothing
