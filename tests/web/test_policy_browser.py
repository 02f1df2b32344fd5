"""The policy editor in a real browser (Debian's Chromium driven by Playwright, against a real uvicorn
server): a policy typed with a misspelt fact, validated, fixed, saved, proposed for enforcement,
approved by a second person, and dry-run over the inventory.

The server, the browser and the console watch (CSP violations, script errors, static files that did
not load: any of them fails the test) are those of ``test_browser``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from charter.policies import facts
from tests.conftest import PASSWORD
from tests.web import test_browser as shared
from tests.web.test_browser import ADMIN, OWNER, RISK_OFFICER, LiveServer, _api_as, sign_in

# The shared fixtures, bound here so that pytest finds them for this module (a server of its own).
browser = shared.browser
live_server = shared.live_server
page = shared.page

if TYPE_CHECKING:
    from playwright.sync_api import Page

MODEL = "credit-limit"
POLICY = "card-before-production"
TEXT = f"""\
id: {POLICY}
title: Credit models have a complete model card
owner: risk-office
rationale:
  text: Deployers must be able to understand the system.
  references: [EU AI Act Art. 13]
match: facts.model.team == 'credit-risk'
rules:
  - id: card-complete
    expr: facts.card.complet
    message: Complete the model card before production.
"""
FIXED = TEXT.replace("facts.card.complet\n", "facts.card.complete\n")
SEARCH = "card complete"


def _model(live_server: LiveServer) -> None:
    """The owner registers a model with one version, whose card is not written: the policy fails it."""
    with _api_as(live_server, OWNER) as api:
        model = {"name": MODEL, "team": "credit-risk", "domain": "credit", "purpose": "Set credit limits"}
        assert api.post("/api/v1/models", json=model).status_code == 201
        assert api.post(f"/api/v1/models/{MODEL}/versions", json={"version": "1.0.0"}).status_code == 201


@pytest.mark.browser
def test_a_policy_is_written_validated_saved_approved_by_another_and_dry_run(
    page: Page, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    _model(live_server)
    response = page.goto("/policies/new")
    assert response is not None and response.status == 401
    sign_in(page, RISK_OFFICER, PASSWORD)
    page.wait_for_url(f"{live_server.url}/policies/new")

    # The facts panel filters as one types (every word in the path, the type or the meaning).
    rows = page.locator("#facts tr.fact")
    expect(rows).to_have_count(len(facts.reference()))
    page.locator("#fact-search").fill(SEARCH)
    matching = [p for p, t, m in facts.reference() if all(w in (p + t + m).lower() for w in SEARCH.split())]
    assert "facts.card.complete" in matching and len(matching) < len(facts.reference())
    expect(page.locator("#facts tr.fact:visible")).to_have_count(len(matching))
    expect(page.locator("#fact-count")).to_have_text(f"{len(matching)} of {len(facts.reference())} facts")
    expect(page.locator("#facts tr.fact", has_text="facts.now")).to_be_hidden()

    # Typed with a misspelt fact: Validate names it, with its line and column in the text.
    page.locator("#policy-text").fill(TEXT)
    page.get_by_role("button", name="Validate").click()
    problem = page.locator("#problems .problem")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("line 10, column 22")
    expect(problem).to_contain_text("unknown fact facts.card.complet")
    expect(problem.locator("pre.source")).to_contain_text("10 | " + "    expr: facts.card.complet")
    expect(page.locator("#policy-text")).to_have_value(TEXT)
    problem.get_by_role("button", name="Show in the editor").click()
    selected = page.locator("#policy-text").evaluate("(area) => [area.selectionStart, area.selectionEnd]")
    start = TEXT.index("complet\n")
    assert selected == [start, start + len("complet")]
    assert page.evaluate("() => document.activeElement.id") == "policy-text"

    # Fixed, it validates; saved, it is a draft.
    page.locator("#policy-text").fill(FIXED)
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#valid")).to_contain_text("The policy is valid: 1 rule, reading facts.card.complete")
    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_url(f"**/policies/{POLICY}?done=created")
    expect(page.locator("#message")).to_have_text("The policy was created, in draft.")
    expect(page.locator("#state")).to_have_text("draft")

    # Proposing enforcement: the proposer is told someone else must approve.
    state_form = page.locator("#state-form")
    state_form.get_by_label("Comment (kept in the history)").fill("Cards first")
    state_form.get_by_role("button", name="Propose enforce").click()
    page.wait_for_url(f"**/policies/{POLICY}?done=proposed")
    expect(page.locator("#proposal")).to_contain_text(f"Proposed by user:{RISK_OFFICER}")
    expect(page.locator("#four-eyes")).to_contain_text("cannot also approve it")
    expect(page.locator("#approve-form")).to_have_count(0)

    # A second person approves it from the list, where it waits first.
    page.locator(".who").get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/login")
    sign_in(page, ADMIN, PASSWORD)
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    page.wait_for_url(f"{live_server.url}/policies")
    row = page.locator(f"#policies tr[data-id='{POLICY}']")
    expect(row).to_have_class("policy-row pending")
    row.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"**/policies/{POLICY}?done=approved")
    expect(page.locator("#state")).to_have_text("enforce")
    expect(page.locator("#history tr").nth(1)).to_contain_text("approve: draft → enforce")

    # The dry run: the one version it applies to fails the rule, with its message.
    page.get_by_role("button", name="Run the dry run").click()
    result = page.locator(f"#dry-run-table tr[data-model='{MODEL}']")
    expect(result).to_have_attribute("data-outcome", "failed")
    expect(result.locator("td.rule-cell[data-rule='card-complete']")).to_have_attribute("data-status", "failed")
    expect(result).to_contain_text("Complete the model card before production.")
    expect(page.locator("#dry-run-summary")).to_contain_text("it applies to 1: 0 passed, 1 failed, 0 in error")
