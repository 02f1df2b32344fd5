"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against a real uvicorn server.

Each test gets its own server (uvicorn in a thread, on a socket bound to a
free 127.0.0.1 port) over its own migrated SQLite database and
``CHARTER_HOME``; the browser is started once per module and each test
gets a fresh context (no shared cookies).

Without ``/usr/bin/chromium`` or the ``playwright`` package these tests
skip, unless ``CHARTER_REQUIRE_BROWSER=1`` (CI), which makes that a
failure. Never run ``playwright install``: the system Chromium is used.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from charter.db.engine import Database
from charter.identity.bootstrap import initialise
from charter.server.app import create_app
from charter.server.deps import SESSION_COOKIE
from tests.conftest import OPERATOR, PASSWORD, Factory, make_settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 10_000
ADMIN = "admin"  # made by charter.identity.bootstrap.initialise, as `charter init` does
RETRY_USER = "bob"
AUDITOR = "audra"
OWNER = "olivia"
REVIEWER = "rita"
RISK_OFFICER = "rosa"


def require_browser() -> None:
    """Skip (or, with ``CHARTER_REQUIRE_BROWSER=1``, fail) when the browser or Playwright is missing."""
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright Python package")
    if not missing:
        return
    reason = "browser tests need " + " and ".join(missing)
    if os.environ.get("CHARTER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CHARTER_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# -- the server -------------------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str


def _serve_in_thread(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    # Binding (and listening) here means the port is known and connections queue until uvicorn accepts them.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,  # leave the test process's logging alone
        log_level="warning",
        access_log=False,
        lifespan="on",
        http="h11",
        ws="none",
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="charter-uvicorn", daemon=True)
    thread.start()
    return server, thread, port


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[LiveServer]:
    """One server for the module; each test signs in as its own user, so no test sees another's sign-in."""
    require_browser()  # no server to start when the browser is missing
    folder = tmp_path_factory.mktemp("browser")
    path = folder / "charter.db"
    shutil.copyfile(sqlite_template, path)  # migrated by charter.db.migrate.upgrade
    with pytest.MonkeyPatch.context() as env:
        # The function-scoped isolation fixture has not run yet: keep the developer's CHARTER_* out here too.
        for name in list(os.environ):
            if name.startswith("CHARTER_") and not name.startswith(("CHARTER_TEST_", "CHARTER_REQUIRE_")):
                env.delenv(name)
        settings = make_settings(folder / "home", f"sqlite:///{path}")
        db = Database(settings.effective_database_url)
        app = create_app(settings, db=db)
    with db.session() as session:
        result = initialise(session, OPERATOR, settings, username=ADMIN, password=PASSWORD)
    assert result.created
    factory = Factory(db, settings)
    factory.user(RETRY_USER, "viewer")
    factory.user(AUDITOR, "auditor")
    factory.user(OWNER, "model_owner@credit-risk")
    factory.user(REVIEWER, "reviewer@credit-risk")
    factory.user(RISK_OFFICER, "risk_officer")
    server, thread, port = _serve_in_thread(app)
    url = f"http://127.0.0.1:{port}"
    try:
        # An explicit wait for readiness: this blocks until uvicorn has started and answers.
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        yield LiveServer(url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()
    assert not thread.is_alive(), "uvicorn did not stop"


# -- pages ------------------------------------------------------------------------------------------


@dataclass
class Console:
    """Browser-side problems: CSP violations, script errors, a stylesheet or icon that did not load."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("response", self._on_response)

    def _on_console(self, message: Any) -> None:
        # Pages answered with 401 on purpose are also logged as failed loads; static files are checked below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"{message.text} at {message.location}")

    def _on_response(self, response: Any) -> None:
        if "/static/" in response.url and response.status != 200:
            self.problems.append(f"{response.url} answered {response.status}")


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=True)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    console = Console()
    console.attach(tab)
    try:
        yield tab
    finally:
        context.close()
    assert console.problems == [], console.problems


def sign_in(page: Page, username: str, password: str) -> None:
    from playwright.sync_api import expect

    form = page.locator("form[action='/login']")
    expect(form).to_be_visible()
    form.get_by_label("User name").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def session_cookie(page: Page) -> dict[str, Any] | None:
    found = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    return dict(found[0]) if found else None


# -- the skip rule ----------------------------------------------------------------------------------


def test_a_missing_browser_skips_the_browser_tests(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CHARTER_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium"):
        require_browser()


def test_a_missing_browser_fails_when_the_browser_is_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CHARTER_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="CHARTER_REQUIRE_BROWSER=1"):
        require_browser()


# -- tests ------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_an_admin_signs_in_and_sees_the_verified_audit_trail(page: Page, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    response = page.goto("/")
    assert response is not None and response.status == 401  # the sign-in form, in place of the home page
    expect(page).to_have_title("Sign in · Charter")
    sign_in(page, ADMIN, PASSWORD)

    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {ADMIN}")
    expect(page.locator(".chip").first).to_contain_text("admin")
    cookie = session_cookie(page)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit trail").click()
    page.wait_for_url(f"{live_server.url}/audit")
    expect(page.locator("#verify-result")).to_contain_text("Chain verified")
    expect(page.locator("#verify-result")).to_have_class("alert ok")
    sign_in_row = (
        page.locator("#events tbody tr")
        .filter(has=page.locator("code", has_text="auth.login"))
        .filter(has_text=f"user:{ADMIN}")
    )
    expect(sign_in_row).to_have_count(1)
    expect(sign_in_row.locator(".badge")).to_have_text("allowed")

    # The filter form narrows the table, and the page still says the chain is verified on request.
    page.get_by_label("Action").fill("user.create")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit?*action=user.create*")
    expect(page.locator("#events tbody code").first).to_have_text("user.create")
    expect(page.locator("#events tbody code", has_text="auth.login")).to_have_count(0)


@pytest.mark.browser
def test_a_wrong_password_shows_the_error_on_the_sign_in_form(page: Page, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    response = page.goto("/login")
    assert response is not None and response.status == 200
    sign_in(page, RETRY_USER, "not the right password")

    alert = page.locator("form[action='/login']").locator("xpath=..").get_by_role("alert")
    expect(alert).to_have_text("Incorrect username or password.")
    expect(page.get_by_label("User name")).to_have_value(RETRY_USER)  # kept, so only the password needs retyping
    expect(page.get_by_label("Password")).to_have_value("")
    assert session_cookie(page) is None
    assert page.url == f"{live_server.url}/login"

    # The form works again straight away with the right password.
    sign_in(page, RETRY_USER, PASSWORD)
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {RETRY_USER}")


@pytest.mark.browser
def test_an_auditor_reads_but_cannot_change_and_signing_out_ends_the_session(
    page: Page, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    response = page.goto("/audit")
    assert response is not None and response.status == 401
    sign_in(page, AUDITOR, PASSWORD)
    page.wait_for_url(f"{live_server.url}/audit")  # back where they were going
    expect(page.locator("#verify-result")).to_contain_text("Chain verified")
    expect(page.locator("#events tbody tr").filter(has_text=f"user:{AUDITOR}").first).to_be_visible()

    # The export link downloads the trail with the session cookie (not an API route that wants a token).
    with page.expect_download() as download:
        page.get_by_role("link", name="Export (JSON lines)").click()
    assert download.value.suggested_filename == "charter-audit.jsonl"
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines and all(json.loads(line)["seq"] == n for n, line in enumerate(lines, start=1))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users & roles").click()
    page.wait_for_url(f"{live_server.url}/admin/users")
    expect(page.locator(f"#principals tr[data-name='{AUDITOR}']")).to_be_visible()
    expect(page.locator(f"#principals tr[data-name='{ADMIN}']")).to_be_visible()
    expect(page.locator("#create-user")).to_have_count(0)
    expect(page.locator("form[action='/admin/roles/grant']")).to_have_count(0)
    expect(page.locator("form[action^='/admin/roles/revoke']")).to_have_count(0)
    expect(page.get_by_role("button", name="Disable")).to_have_count(0)
    expect(page.get_by_role("heading", name="Add a user")).to_have_count(0)

    old = session_cookie(page)
    assert old is not None
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/login")
    expect(page.locator("form[action='/login']")).to_be_visible()
    assert session_cookie(page) is None
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)

    # The old session cookie, replayed, no longer opens anything.
    page.context.add_cookies([old])  # type: ignore[list-item]
    response = page.goto("/audit")
    assert response is not None and response.status == 401
    expect(page.get_by_role("alert")).to_contain_text("revoked")
    expect(page.locator("form[action='/login']")).to_be_visible()
    expect(page.locator("#events")).to_have_count(0)
    assert session_cookie(page) is None  # the server told the browser to drop it


# -- the inventory ----------------------------------------------------------------------------------


def _api_as(live_server: LiveServer, username: str) -> httpx.Client:
    token = httpx.post(
        f"{live_server.url}/api/v1/auth/token", data={"username": username, "password": PASSWORD}, timeout=10
    ).json()["access_token"]
    return httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _model_in_review(live_server: LiveServer, name: str, artifact: bytes) -> None:
    """The owner registers a model with a dataset and one file, and sends the version to review."""
    with _api_as(live_server, OWNER) as api:
        dataset = {"name": f"{name}-data", "team": "credit-risk", "classification": "personal"}
        dataset["legal_basis"] = "contract"
        assert api.post("/api/v1/datasets", json=dataset).status_code == 201
        model = {"name": name, "team": "credit-risk", "domain": "credit", "purpose": "Score loan applications"}
        assert api.post("/api/v1/models", json=model).status_code == 201
        version = {"version": "1.0.0", "metrics": {"auc": 0.81}, "datasets": [{"dataset": f"{name}-data"}]}
        assert api.post(f"/api/v1/models/{name}/versions", json=version).status_code == 201
        upload = api.post(f"/api/v1/models/{name}/versions/1.0.0/artifacts", files={"file": ("model.pkl", artifact)})
        assert upload.status_code == 201, upload.text
        assert api.post(f"/api/v1/models/{name}/versions/1.0.0/promote", json={"stage": "review"}).status_code == 200


@pytest.mark.browser
def test_a_reviewer_finds_a_model_in_review_and_approves_it(page: Page, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    from tests.inventory.conftest import sklearn_model_bytes

    _model_in_review(live_server, "credit-scoring", sklearn_model_bytes())
    page.goto("/models")
    sign_in(page, REVIEWER, PASSWORD)
    page.wait_for_url(f"{live_server.url}/models")
    page.get_by_label("Stage").select_option("review")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/models?*stage=review*")
    row = page.locator("#models tbody tr", has_text="credit-scoring")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("review")
    row.get_by_role("link", name="credit-scoring").click()

    page.wait_for_url(f"{live_server.url}/models/credit-scoring")
    expect(page.locator("#artifacts tbody tr").first).to_contain_text("model.pkl")
    expect(page.locator("#artifacts .badge").first).to_have_text("clean")
    expect(page.locator("#lineage")).to_contain_text("credit-scoring-data")
    expect(page.locator("#card-missing")).to_contain_text("Approvals")
    # The file downloads with the session cookie (the API would want a token), decrypted.
    with page.expect_download() as download:
        page.locator("#artifacts").get_by_role("link", name="model.pkl").click()
    assert Path(download.value.path()).read_bytes() == sklearn_model_bytes()
    card = page.request.get(page.locator("#card-markdown").get_attribute("href") or "")
    assert card.status == 200 and card.text().startswith("---\n")
    page.get_by_label("Comment").fill("Evaluation and lineage checked")
    page.get_by_role("button", name="Approve").click()

    page.wait_for_url("**/models/credit-scoring?*done=approved*")
    expect(page.locator("#message")).to_have_text("The version was approved.")
    expect(page.locator("#stage")).to_have_text("approved")
    expect(page.locator("#transitions")).to_contain_text("Evaluation and lineage checked")
    expect(page.locator("#history tbody tr").first).to_contain_text("version.approve")

    # The lineage links to the dataset's page, which says how it may be used and by whom.
    page.locator("#lineage").get_by_role("link", name="credit-scoring-data").click()
    page.wait_for_url(f"{live_server.url}/datasets/credit-scoring-data")
    expect(page.locator("#dataset-facts")).to_contain_text("contract")
    expect(page.locator("#used-by")).to_contain_text("credit-scoring 1.0.0")


@pytest.mark.browser
def test_a_flagged_artifact_blocks_approval_in_the_dashboard(page: Page, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    from tests.inventory.conftest import malicious_pickle_bytes

    _model_in_review(live_server, "churn-predictor", malicious_pickle_bytes())
    page.goto("/models/churn-predictor")
    sign_in(page, REVIEWER, PASSWORD)
    page.wait_for_url(f"{live_server.url}/models/churn-predictor")
    expect(page.locator("#artifacts .badge").first).to_have_text("unsafe")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#error")).to_contain_text("model.pkl scanned unsafe")
    expect(page.locator("#stage")).to_have_text("review")
    expect(page.locator("#history tbody tr").first).to_contain_text("failed")


@pytest.mark.browser
def test_a_risk_officer_sees_fairness_evidence_with_charts_and_the_four_fifths_gap(
    page: Page, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    from charter.compute.fairness import compute_statistics
    from tests.evidence.test_fairness_evidence import compas

    data = compas()
    stats = compute_statistics(
        y_true=data["two_year_recid"], y_pred=data["high_risk"], sensitive_features={"race": data["race"]}
    )
    with _api_as(live_server, OWNER) as api:
        assert api.post("/api/v1/models", json={"name": "recidivism", "team": "credit-risk"}).status_code == 201
        assert api.post("/api/v1/models/recidivism/versions", json={"version": "1"}).status_code == 201
        evidence = {"statistics": stats.to_dict(), "title": "COMPAS decisions by race", "n_resamples": 50}
        assert api.post("/api/v1/models/recidivism/versions/1/evidence/fairness", json=evidence).status_code == 201
        logged = [
            {
                "decision_id": f"d{i}",
                "version": "1",
                "output": "high risk",
                "score": 0.7,
                "subject": f"person-{i}",
                "explanation": {"text": "Four prior offences."},
                "sensitive_attributes": {"race": "African-American"},
            }
            for i in range(3)
        ]
        assert api.post("/api/v1/models/recidivism/decisions", json={"decisions": logged}).status_code in (200, 201)
    page.goto("/models/recidivism")
    sign_in(page, RISK_OFFICER, PASSWORD)
    page.wait_for_url(f"{live_server.url}/models/recidivism")
    section = page.locator("#fairness")
    expect(section.locator("h3").first).to_contain_text("COMPAS decisions by race")
    expect(section.locator(".badge.bad").first).to_have_text("failed")
    expect(section.locator(".four-fifths")).to_contain_text("0.35")
    gap = section.locator(".thresholds tr", has_text="demographic parity ratio")
    expect(gap).to_contain_text("fail")
    # The chart is drawn by the Plotly bundle Charter serves itself (no CDN), within the page's CSP.
    chart = section.locator(".chart").first
    expect(chart).to_have_attribute("data-drawn", "true")
    expect(chart.locator("svg.main-svg").first).to_be_visible()
    expect(section.locator(".by-group")).to_contain_text("African-American")
    # ... and the decisions behind it, with the sensitive attribute a risk officer may read.
    decisions = page.locator("#decisions tbody tr")
    expect(decisions).to_have_count(3)
    expect(decisions.first).to_contain_text("Four prior offences.")
    expect(decisions.first).to_contain_text("race=African-American")
