"""The compliance matrix in a real browser (Debian's Chromium driven by Playwright, against a real
uvicorn server): the matrix's coloured cells, a filter, and a click through to a model's compliance
page, where a failing fairness rule excused by a waiver shows as an open (waived) gap.

The server, the browser and the console watch (CSP violations, script errors, static files that did
not load: any of them fails the test) are those of ``test_browser``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import PASSWORD
from tests.web import test_browser as shared
from tests.web.test_browser import OWNER, RISK_OFFICER, LiveServer, _api_as, sign_in

# The shared fixtures, bound here so that pytest finds them for this module (a server of its own).
browser = shared.browser
live_server = shared.live_server
page = shared.page

if TYPE_CHECKING:
    from playwright.sync_api import Page

HIGH = "credit-limit"  # high-risk, unfair, its fairness rule waived
LIMITED = "chat-assistant"  # limited risk: the EU AI Act's Art. 10 does not apply


def _seed(live_server: LiveServer) -> int:
    """The starter policy pack, two models with a version each, an unfair assessment and a waiver; the waiver's id."""
    from charter.compute.fairness import compute_statistics

    with _api_as(live_server, RISK_OFFICER) as risk, _api_as(live_server, OWNER) as owner:
        assert risk.post("/api/v1/policies/pack").status_code == 201
        for name, tier in ((HIGH, "high"), (LIMITED, "limited")):
            model = {"name": name, "team": "credit-risk", "domain": "credit", "purpose": "Credit decisions"}
            assert owner.post("/api/v1/models", json=model).status_code == 201
            assert owner.post(f"/api/v1/models/{name}/versions", json={"version": "1.0.0"}).status_code == 201
            assert risk.put(f"/api/v1/models/{name}/risk-tier", json={"risk_tier": tier}).status_code == 200
        y_pred = [1] * 50 + [0] * 50 + [1] * 20 + [0] * 80  # selection rates 0.5 and 0.2: disparate impact 0.4
        stats = compute_statistics(
            y_true=[1, 0] * 100, y_pred=y_pred, sensitive_features={"group": ["a"] * 100 + ["b"] * 100}
        )
        body = {"statistics": stats.to_dict(), "n_resamples": 0}
        assert owner.post(f"/api/v1/models/{HIGH}/versions/1.0.0/evidence/fairness", json=body).status_code == 201
        waiver = {"rule": "disparate-impact", "model": HIGH, "days": 30, "reason": "Retraining under way; RISK-12."}
        granted = risk.post("/api/v1/policies/high-risk-fairness/waivers", json=waiver)
        assert granted.status_code == 201, granted.text
        return int(granted.json()["id"])


@pytest.mark.browser
def test_the_matrix_links_to_a_models_waived_gap_and_filters(page: Page, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    waiver = _seed(live_server)
    response = page.goto("/compliance")
    assert response is not None and response.status == 401
    sign_in(page, RISK_OFFICER, PASSWORD)
    page.wait_for_url(f"{live_server.url}/compliance")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Compliance")).to_have_class("active")

    # Both models, each with a cell per framework; the high-risk one has open gaps, one of them waived.
    rows = page.locator("#matrix tr.matrix-row")
    expect(rows).to_have_count(2)
    frameworks = page.locator("#matrix thead th[data-framework]")
    expect(frameworks).to_have_count(4)
    high = page.locator(f"#matrix tr[data-model='{HIGH}']")
    expect(high.locator("td.cell")).to_have_count(4)
    cell = high.locator("td.cell[data-framework='eu-ai-act']")
    expect(cell).to_have_attribute("data-state", "gaps")
    expect(cell).to_contain_text("1 waived")
    assert int(cell.get_attribute("data-bad") or "0") >= 1
    # The colours come from the stylesheet Charter serves (no inline style: the CSP forbids it).
    gaps_colour = cell.evaluate("(td) => getComputedStyle(td).backgroundColor")
    good = page.locator("td.cell[data-state='good']").first
    if good.count():
        assert good.evaluate("(td) => getComputedStyle(td).backgroundColor") != gaps_colour
    assert gaps_colour not in ("rgba(0, 0, 0, 0)", "transparent")

    # A filter: only the high-risk model is left.
    filters = page.locator("#matrix-filters")
    filters.get_by_label("Risk tier").select_option("high")
    filters.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/compliance?*risk=high*")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-model", HIGH)
    expect(filters.get_by_label("Risk tier")).to_have_value("high")

    # Through the cell to the model's page: the waived gap, and Art. 10 not satisfied because of it.
    page.locator(f"#matrix tr[data-model='{HIGH}'] td.cell[data-framework='eu-ai-act'] a").click()
    page.wait_for_url(f"**/compliance/models/{HIGH}#fw-eu-ai-act")
    waived = page.locator("#waived-gaps li.waived-gap")
    expect(waived).to_have_count(1)
    expect(waived).to_contain_text("Art. 10")
    expect(waived).to_contain_text("high-risk-fairness/disparate-impact")
    expect(waived.get_by_role("link", name=f"waiver #{waiver}")).to_be_visible()
    art10 = page.locator("#fw-eu-ai-act tr.requirement[data-requirement='Art. 10']")
    expect(art10).to_have_attribute("data-status", "not_satisfied")
    expect(art10.locator("li.finding[data-outcome='waived']")).to_contain_text("excused by waiver")
    expect(page.locator("#history-table tr.snapshot")).to_have_count(4)

    # The gap list, filtered to waived gaps, names the same one.
    page.goto("/compliance/gaps")
    page.locator("#gap-filters").get_by_label("Kind").select_option("waived")
    page.locator("#gap-filters").get_by_role("button", name="Filter").click()
    page.wait_for_url("**/compliance/gaps?*kind=waived*")
    gap = page.locator("#gaps tr.gap-row")
    expect(gap).to_have_count(1)
    expect(gap).to_have_attribute("data-model", HIGH)
    expect(gap).to_have_attribute("data-requirement", "Art. 10")
