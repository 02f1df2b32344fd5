"""An incident's whole life in a real browser (Debian's Chromium driven by Playwright, against a real
uvicorn server): reported through the form, worked through every status, reviewed and closed.

The server, the browser and the console watch (CSP violations, script errors, static files that did
not load: any of them fails the test) are those of ``test_browser``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.conftest import PASSWORD
from tests.web import test_browser as shared
from tests.web.test_browser import OWNER, LiveServer, _api_as, sign_in

# The shared fixtures, bound here so that pytest finds them for this module (a server of its own).
browser = shared.browser
live_server = shared.live_server
page = shared.page

if TYPE_CHECKING:
    from playwright.sync_api import Page

MODEL = "loan-approval"


def _model_with_metrics(live_server: LiveServer) -> None:
    """The owner registers a model and sends a week of hourly accuracy, with one dip, so it has a chart."""
    latest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    points = [
        {"name": "accuracy", "value": 0.5 if i == 100 else 0.9 + 0.002 * (i % 5), "time": t.isoformat()}
        for i in range(168)
        for t in [latest - timedelta(hours=167 - i)]
    ]
    with _api_as(live_server, OWNER) as api:
        model = {"name": MODEL, "team": "credit-risk", "domain": "credit", "purpose": "Approve consumer loans"}
        assert api.post("/api/v1/models", json=model).status_code == 201
        assert api.post(f"/api/v1/models/{MODEL}/versions", json={"version": "1.0.0"}).status_code == 201
        sent = api.post(f"/api/v1/models/{MODEL}/metrics", json={"points": points, "version": "1.0.0"})
        assert sent.status_code == 200, sent.text


@pytest.mark.browser
def test_an_incident_is_reported_worked_reviewed_and_closed_in_the_dashboard(
    page: Page, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    _model_with_metrics(live_server)
    response = page.goto("/incidents")
    assert response is not None and response.status == 401
    sign_in(page, OWNER, PASSWORD)
    page.wait_for_url(f"{live_server.url}/incidents")
    page.get_by_role("link", name="Report an incident").click()

    # Report it through the form.
    page.wait_for_url(f"{live_server.url}/incidents/new")
    form = page.locator("#report-form")
    form.get_by_label("Title").fill("Older applicants denied far more often since Monday")
    form.get_by_label("Type").select_option("bias_fairness")
    form.get_by_label("Severity").select_option("SEV2")
    form.get_by_label("Description").fill("Found in the weekly fairness review.")
    form.get_by_label("Model 1").select_option(MODEL)
    form.get_by_label("Version").first.fill("1.0.0")
    form.get_by_role("button", name="Report the incident").click()

    page.wait_for_url("**/incidents/*?done=reported")
    incident_url = page.url.split("?")[0]
    expect(page.locator("#message")).to_contain_text("The incident was reported")
    expect(page.locator("#status")).to_have_text("reported")
    expect(page.locator("#severity")).to_have_text("SEV2")
    expect(page.locator("#clocks tr[data-kind='response']")).to_have_class("clock-row running")

    # The model page lists it among the model's open incidents, beside the model's metric chart.
    page.locator("#linked-models").get_by_role("link", name=MODEL).click()
    page.wait_for_url(f"{live_server.url}/models/{MODEL}?version=1.0.0")
    monitoring = page.locator("#monitoring")
    chart = monitoring.locator(".chart").first
    expect(chart).to_have_attribute("data-drawn", "true")
    expect(chart.locator("svg.main-svg").first).to_be_visible()
    monitoring.locator("#model-incidents").get_by_role("link", name="Older applicants denied").click()
    page.wait_for_url(incident_url)

    # A communication in the timeline.
    entry = page.locator("#entry-form")
    entry.get_by_label("Kind").select_option("communication")
    entry.get_by_label("Text", exact=True).fill("Told the credit committee; a re-review of denials is planned.")
    entry.get_by_label("Audience (communications)").select_option("internal")
    entry.get_by_label("Recipient (communications)").fill("credit committee")
    entry.get_by_role("button", name="Add entry").click()
    page.wait_for_url("**?done=entry*")
    communication = page.locator("#timeline li[data-kind='communication']")
    expect(communication).to_contain_text("to credit committee (internal)")
    expect(communication).to_contain_text(f"user:{OWNER}")

    # Through every status, one button at a time.
    page.locator("#status-form").get_by_label("Note (kept in the timeline)").fill("Confirmed from the decision log")
    for button, status in (
        ("Triage", "triaged"),
        ("Start investigation", "investigating"),
        ("Start mitigation", "mitigating"),
        ("Resolve", "resolved"),
    ):
        page.locator("#status-form").get_by_role("button", name=button).click()
        expect(page.locator("#status")).to_have_text(status)
        expect(page.locator("#message")).to_have_text("The status changed.")
    expect(page.locator("#clocks tr[data-kind='response']")).to_have_class("clock-row met")
    expect(page.locator("#timeline")).to_contain_text("Status: reported → triaged. Confirmed from the decision log")

    # Resolved: the post-incident review, then closing (a SEV2 needs the review first).
    review = page.locator("#review-form")
    review.get_by_label("Root cause").fill("An age feature was re-binned without re-validating the model.")
    review.get_by_label("Contributing factors (one per line)").fill("No fairness gate on feature changes")
    review.get_by_label("Follow-up 1 action").fill("Add a fairness monitor on age groups")
    review.get_by_label("Follow-up 1 owner").fill(OWNER)
    review.get_by_label("Follow-up 1 due date").fill("2027-01-15")
    review.get_by_role("button", name="Save the review").click()
    page.wait_for_url("**?done=review*")
    expect(page.locator("#message")).to_have_text("The post-incident review was saved.")
    expect(page.locator("#review-form").get_by_label("Follow-up 1 action")).to_have_value(
        "Add a fairness monitor on age groups"
    )
    page.locator("#status-form").get_by_role("button", name="Close").click()
    expect(page.locator("#status")).to_have_text("closed")

    # On the board it sits in the closed column.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
    page.wait_for_url(f"{live_server.url}/incidents")
    expect(page.locator("#column-closed .incident-card")).to_contain_text(
        "Older applicants denied far more often since Monday"
    )
    expect(page.locator("#column-reported .incident-card")).to_have_count(0)
