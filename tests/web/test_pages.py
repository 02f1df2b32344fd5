"""The dashboard through HTTP, without a browser: sign-in, sessions, CSRF, forms, errors, headers.

Every test runs against the real app (``client``) on SQLite and, when
configured, PostgreSQL. Pages are driven the way a browser would: GET the
form, copy its hidden values, POST it back.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from charter.audit.models import AuditEventRow
from charter.config import Settings
from charter.db.engine import Database
from charter.identity.models import PrincipalRow
from charter.server.deps import SESSION_COOKIE
from charter.web.render import LOGIN_CSRF_COOKIE
from tests.conftest import PASSWORD, Factory

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


# -- helpers ----------------------------------------------------------------------------------------


def hidden(html: str, name: str) -> str:
    """The value of the first hidden input called ``name``."""
    match = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden input {name!r} in the page"
    return match.group(1)


def set_cookies(response: Response) -> dict[str, str]:
    """``Set-Cookie`` headers by cookie name (the whole header line, for attribute checks)."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


def submit_login(client: TestClient, username: str, password: str, *, next_path: str | None = None) -> Response:
    form = client.get("/login", headers=HTML)
    assert form.status_code == 200
    data = {"username": username, "password": password, "login_csrf": hidden(form.text, "login_csrf")}
    data["next"] = next_path if next_path is not None else hidden(form.text, "next")
    return client.post("/login", data=data, headers=HTML, follow_redirects=False)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF value (as the pages carry it)."""
    response = submit_login(client, username, password)
    assert response.status_code == 303, response.text
    assert client.cookies.get(SESSION_COOKIE)
    return hidden(client.get("/", headers=HTML).text, "csrf")


def events(db: Database, action: str | None = None) -> list[dict[str, Any]]:
    with db.session(write=False) as session:
        bodies = session.scalars(select(AuditEventRow.body).order_by(AuditEventRow.seq)).all()
    found = [orjson.loads(body) for body in bodies]
    return [e for e in found if action is None or e["action"] == action]


def user_count(db: Database) -> int:
    with db.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(PrincipalRow)) or 0


def is_active(db: Database, name: str) -> bool:
    with db.session(write=False) as session:
        row = session.scalars(select(PrincipalRow).where(PrincipalRow.name == name)).one()
        return row.is_active


# -- anonymous requests and sign-in -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/audit", "/admin/users"])
def test_an_anonymous_page_request_gets_401_with_the_sign_in_form(client: TestClient, path: str) -> None:
    response = client.get(path, headers=HTML)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/login"' in response.text
    assert hidden(response.text, "next") == path  # after signing in, the user lands where they were going
    assert hidden(response.text, "login_csrf") == client.cookies.get(LOGIN_CSRF_COOKIE)
    assert "Users &amp; roles" not in response.text  # no navigation for strangers


def test_the_sign_in_form_remembers_the_query_string_of_the_page_asked_for(client: TestClient) -> None:
    response = client.get("/audit?action=auth.login&verify=false", headers=HTML)
    assert response.status_code == 401
    assert hidden(response.text, "next") == "/audit?action=auth.login&amp;verify=false"


def test_sign_in_lands_on_the_page_asked_for(client: TestClient, factory: Factory) -> None:
    factory.user("alice", "admin")
    response = submit_login(client, "alice", PASSWORD, next_path="/audit?verify=false")
    assert response.status_code == 303
    assert response.headers["location"] == "/audit?verify=false"
    page = client.get(response.headers["location"], headers=HTML)
    assert page.status_code == 200
    assert "<h1>Audit trail</h1>" in page.text


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "evil.example",
        "/login",
    ],
)
def test_the_next_redirect_stays_on_this_site(client: TestClient, factory: Factory, target: str) -> None:
    factory.user("alice", "viewer")
    shown = client.get("/login", params={"next": target}, headers=HTML)
    assert hidden(shown.text, "next") == "/"
    response = submit_login(client, "alice", PASSWORD, next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_sign_in_sets_an_httponly_samesite_lax_session_cookie(
    client: TestClient, factory: Factory, db: Database
) -> None:
    factory.user("alice", "viewer")
    response = submit_login(client, "alice", PASSWORD)
    assert response.status_code == 303
    cookie = set_cookies(response)[SESSION_COOKIE].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "max-age=28800" in cookie  # the session_ttl default
    login_cookie = set_cookies(response)[LOGIN_CSRF_COOKIE].lower()
    assert 'charter_login_csrf=""' in login_cookie or "max-age=0" in login_cookie  # the one-time value is dropped
    home = client.get("/", headers=HTML)
    assert home.status_code == 200
    assert "Welcome, alice" in home.text
    (login_event,) = events(db, "auth.login")
    assert (login_event["actor"], login_event["outcome"]) == ("user:alice", "allowed")


def test_the_session_cookie_is_secure_behind_https(settings: Settings, db: Database, factory: Factory) -> None:
    from charter.server.app import create_app

    factory.user("alice", "viewer")
    with TestClient(create_app(settings, db=db), base_url="https://testserver") as client:
        response = submit_login(client, "alice", PASSWORD)
    assert response.status_code == 303
    assert "secure" in set_cookies(response)[SESSION_COOKIE].lower()


@pytest.mark.parametrize("mismatch", ["missing_cookie", "wrong_value"])
def test_sign_in_with_a_login_csrf_mismatch_is_refused(
    client: TestClient, factory: Factory, db: Database, mismatch: str
) -> None:
    factory.user("alice", "viewer")
    form = client.get("/login", headers=HTML)
    token = hidden(form.text, "login_csrf")
    if mismatch == "missing_cookie":
        client.cookies.clear()
    else:
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    data = {"username": "alice", "password": PASSWORD, "login_csrf": token, "next": "/"}
    response = client.post("/login", data=data, headers=HTML, follow_redirects=False)
    assert response.status_code == 403
    assert "The sign-in form expired" in response.text
    assert SESSION_COOKIE not in set_cookies(response)
    assert 'value="alice"' in response.text  # the name typed is kept, the password is not
    assert PASSWORD not in response.text
    assert events(db, "auth.login") == []  # the password was not even checked


def test_a_wrong_password_shows_a_generic_message_and_is_audited(
    client: TestClient, factory: Factory, db: Database
) -> None:
    factory.user("alice", "viewer")
    for username in ("alice", "nobody-by-that-name"):
        response = submit_login(client, username, "not the password at all")
        assert response.status_code == 401
        assert "Incorrect username or password." in response.text
        assert SESSION_COOKIE not in set_cookies(response)
        assert "not the password at all" not in response.text
    failed = events(db, "auth.login")
    assert [(e["actor"], e["outcome"]) for e in failed] == [
        ("user:alice", "failed"),
        ("user:nobody-by-that-name", "failed"),
    ]


def test_repeated_failed_sign_ins_lock_the_account_with_a_clear_429(
    client: TestClient, factory: Factory, db: Database, settings: Settings
) -> None:
    factory.user("alice", "viewer")
    limit = settings.login_max_failures_per_account
    for _ in range(limit - 1):
        assert submit_login(client, "alice", "wrong password 123").status_code == 401
    locked = submit_login(client, "alice", "wrong password 123")
    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account" in locked.text
    assert "locked for 15 minutes" in locked.text
    assert locked.headers["retry-after"] == str(settings.login_lockout)
    # Now even the right password is refused, with the same clear message, and no session.
    still = submit_login(client, "alice", PASSWORD)
    assert still.status_code == 429
    assert "Too many failed sign-ins for this account; try again in 15 minutes." in still.text
    assert 0 < int(still.headers["retry-after"]) <= settings.login_lockout
    assert SESSION_COOKIE not in set_cookies(still)
    assert client.get("/", headers=HTML).status_code == 401
    assert [e["details"]["lock"] for e in events(db, "auth.lockout")] == ["account"]


# -- signed in: CSRF on every form ------------------------------------------------------------------


FORMS = [
    ("/admin/users", {"username": "mallory", "password": "a long enough password"}),
    ("/admin/users/bob/disable", {}),
    ("/admin/roles/grant", {"principal": "bob", "role": "admin", "team": ""}),
    ("/logout", {}),
]
CHANGES = {"user.create", "user.disable", "role.grant", "token.revoke"}


@pytest.mark.parametrize("csrf", ["wrong", "A" * 32, "", None], ids=["wrong", "guessed", "empty", "absent"])
@pytest.mark.parametrize(("path", "data"), FORMS, ids=[path for path, _ in FORMS])
def test_a_form_without_the_right_csrf_value_is_refused_changes_nothing_and_is_audited(
    client: TestClient, factory: Factory, db: Database, path: str, data: dict[str, str], csrf: str | None
) -> None:
    # A missing or empty value is refused like a wrong one.
    factory.user("admin1", "admin")
    factory.user("bob", "viewer")
    sign_in(client, "admin1")
    users_before = user_count(db)
    changes_before = [e for e in events(db) if e["action"] in CHANGES]
    form = data if csrf is None else {**data, "csrf": csrf}
    response = client.post(path, data=form, headers=HTML, follow_redirects=False)
    assert response.status_code == 403
    assert "did not come from this site" in response.text and "csrf_failed" in response.text
    assert user_count(db) == users_before
    assert is_active(db, "bob")
    assert [e for e in events(db) if e["action"] in CHANGES] == changes_before
    denied = events(db, "access.denied")[-1]
    assert denied["actor"] == "user:admin1"
    assert denied["outcome"] == "denied"
    assert denied["resource_id"] == f"POST {path}"
    assert denied["details"]["code"] == "csrf_failed"
    assert client.get("/", headers=HTML).status_code == 200  # a refused sign-out leaves the session alone


def test_the_csrf_value_of_another_session_is_refused(client: TestClient, factory: Factory, db: Database) -> None:
    factory.user("admin1", "admin")
    factory.user("admin2", "admin")
    theirs = sign_in(client, "admin2")
    client.cookies.clear()
    sign_in(client, "admin1")
    data = {"csrf": theirs, "username": "mallory", "password": "a long enough password"}
    response = client.post("/admin/users", data=data, headers=HTML)
    assert response.status_code == 403
    assert events(db, "user.create")[-1]["resource_id"] == "admin2"  # mallory never appears


# -- signed in: the Users page ----------------------------------------------------------------------


def test_an_admin_creates_a_user_through_the_users_page(client: TestClient, factory: Factory, db: Database) -> None:
    factory.user("admin1", "admin")
    factory.team("fraud")
    csrf = sign_in(client, "admin1")
    page = client.get("/admin/users", headers=HTML)
    assert 'id="create-user"' in page.text
    data = {
        "csrf": csrf,
        "username": "carol",
        "display_name": "Carol Risk",
        "password": "a long enough password",
        "role": "risk_officer",
        "team": "fraud",
    }
    response = client.post("/admin/users", data=data, headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    shown = client.get(response.headers["location"], headers=HTML)
    assert shown.status_code == 200
    assert 'data-name="carol"' in shown.text
    assert "Carol Risk" in shown.text
    assert "The user was created." in shown.text
    (created,) = [e for e in events(db, "user.create") if e["resource_id"] == "carol"]
    assert (created["actor"], created["outcome"]) == ("user:admin1", "allowed")
    assert created["request_id"]
    (grant,) = [e for e in events(db, "role.grant") if e["resource_id"] == "carol"]
    assert (grant["actor"], grant["details"]) == ("user:admin1", {"role": "risk_officer", "team": "fraud"})
    assert all("a long enough password" not in str(e) for e in events(db))
    assert 'risk_officer <span class="muted">@fraud</span>' in shown.text
    # The new user can sign in with the password set in the form.
    client.cookies.clear()
    assert submit_login(client, "carol", "a long enough password").status_code == 303
    assert client.cookies.get(SESSION_COOKIE)
    assert [e["outcome"] for e in events(db, "auth.login") if e["actor"] == "user:carol"] == ["allowed"]


def test_the_home_page_names_the_team_of_a_team_scoped_role(client: TestClient, factory: Factory) -> None:
    factory.user("carol", "risk_officer@fraud")
    sign_in(client, "carol")
    home = client.get("/", headers=HTML)
    assert home.status_code == 200
    assert 'risk_officer <span class="muted">in fraud</span>' in home.text


@pytest.mark.parametrize(
    ("username", "password", "status", "message"),
    [
        ("Bad Name!", "a long enough password", 422, "User name"),
        ("x" * 80, "a long enough password", 422, "User name"),
        ("dave", "short", 422, "at least 12 characters"),
        ("admin1", "a long enough password", 409, "already taken"),
    ],
    ids=["bad-name", "long-name", "short-password", "taken"],
)
def test_a_refused_user_form_re_renders_the_page_with_a_message(
    client: TestClient, factory: Factory, db: Database, username: str, password: str, status: int, message: str
) -> None:
    factory.user("admin1", "admin")
    csrf = sign_in(client, "admin1")
    users_before = user_count(db)
    data = {"csrf": csrf, "username": username, "password": password, "display_name": "Dave Example"}
    response = client.post("/admin/users", data=data, headers=HTML)
    assert response.status_code == status
    assert "<h1>Users &amp; roles</h1>" in response.text  # the same page, not an error page
    assert 'role="alert"' in response.text
    assert message in response.text
    assert 'value="Dave Example"' in response.text  # what was typed is kept, except the password
    assert password not in response.text
    assert user_count(db) == users_before
    assert response.headers["x-frame-options"] == "DENY"


def test_disable_and_enable_through_the_users_page(client: TestClient, factory: Factory, db: Database) -> None:
    factory.user("admin1", "admin")
    factory.user("bob", "viewer")
    csrf = sign_in(client, "admin1")
    response = client.post("/admin/users/bob/disable", data={"csrf": csrf}, headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert not is_active(db, "bob")
    assert "The account was disabled." in client.get(response.headers["location"], headers=HTML).text
    own = client.post("/admin/users/admin1/disable", data={"csrf": csrf}, headers=HTML)
    assert own.status_code == 422
    assert "cannot disable your own account" in own.text
    assert is_active(db, "admin1")
    client.post("/admin/users/bob/enable", data={"csrf": csrf}, headers=HTML)
    assert is_active(db, "bob")
    assert [e["action"] for e in events(db) if e["resource_id"] == "bob"][-2:] == ["user.disable", "user.enable"]


def test_a_read_only_role_sees_no_forms_and_cannot_post_them(
    client: TestClient, factory: Factory, db: Database
) -> None:
    factory.user("audra", "auditor")
    csrf = sign_in(client, "audra")
    page = client.get("/admin/users", headers=HTML)
    assert page.status_code == 200
    assert 'data-name="audra"' in page.text
    for form in (
        'method="post" action="/admin/users"',
        'action="/admin/roles/grant"',
        'action="/admin/roles/revoke"',
        "/disable",
    ):
        assert form not in page.text
    response = client.post(
        "/admin/users", data={"csrf": csrf, "username": "eve", "password": "a long enough password"}, headers=HTML
    )
    assert response.status_code == 403
    assert "Not allowed" in response.text
    assert events(db, "access.denied")[-1]["details"]["code"] == "permission_denied"


def test_sign_out_revokes_the_session(client: TestClient, factory: Factory, db: Database) -> None:
    factory.user("alice", "viewer")
    csrf = sign_in(client, "alice")
    old = client.cookies.get(SESSION_COOKIE)
    assert old
    response = client.post("/logout", data={"csrf": csrf}, headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.cookies.get(SESSION_COOKIE) is None
    client.cookies.set(SESSION_COOKIE, old)
    again = client.get("/", headers=HTML)
    assert again.status_code == 401
    assert "revoked" in again.text
    assert '<form method="post" action="/login"' in again.text
    assert events(db, "token.revoke")[-1]["actor"] == "user:alice"


# -- headers and error pages ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/audit", "/admin/users", "/login", "/no/such/page"])
def test_pages_carry_the_security_headers(client: TestClient, factory: Factory, path: str) -> None:
    factory.user("admin1", "admin")
    sign_in(client, "admin1")
    response = client.get(path, headers=HTML)
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "<script" not in response.text
    assert " style=" not in response.text  # the CSP forbids inline styles


def test_the_anonymous_login_page_carries_the_security_headers(client: TestClient) -> None:
    response = client.get("/", headers=HTML)
    assert response.status_code == 401
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_an_unknown_path_gets_an_html_404_page_for_a_browser(client: TestClient) -> None:
    response = client.get("/no/such/page", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    assert "There is nothing at /no/such/page." in response.text
    assert "not_found" in response.text
    api = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_the_404_page_escapes_the_path(client: TestClient) -> None:
    response = client.get("/%3Cscript%3Ealert(1)%3C/script%3E", headers=HTML)
    assert response.status_code == 404
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_the_static_files_are_served(client: TestClient) -> None:
    css = client.get("/static/charter.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert client.get("/static/favicon.svg").status_code == 200


def test_the_audit_page_verifies_the_chain_and_lists_the_sign_in(
    client: TestClient, factory: Factory, db: Database
) -> None:
    factory.user("audra", "auditor")
    sign_in(client, "audra")
    page = client.get("/audit", headers=HTML)
    assert page.status_code == 200
    assert re.search(r'id="verify-result"[^>]*>Chain verified: \d+ events intact', page.text)
    assert "<code>auth.login</code>" in page.text
    assert "user:audra" in page.text
    filtered = client.get("/audit", params={"action": "user.create", "verify": "false"}, headers=HTML)
    assert "<code>auth.login</code>" not in filtered.text
    assert "<code>user.create</code>" in filtered.text
    assert "Verify it now" in filtered.text
    assert events(db, "audit.verify")[-1]["details"]["ok"] is True


def test_grant_and_revoke_a_role_through_the_users_page(client: TestClient, factory: Factory, db: Database) -> None:
    factory.user("admin1", "admin")
    factory.user("bob")
    csrf = sign_in(client, "admin1")
    form = {"csrf": csrf, "principal": "bob", "role": "reviewer", "team": ""}
    granted = client.post("/admin/roles/grant", data=form, headers=HTML, follow_redirects=False)
    assert granted.status_code == 303
    page = client.get(granted.headers["location"], headers=HTML)
    assert "The role was granted." in page.text
    assert 'aria-label="Revoke reviewer from bob"' in page.text
    revoked = client.post("/admin/roles/revoke", data=form, headers=HTML, follow_redirects=False)
    assert revoked.status_code == 303
    page = client.get(revoked.headers["location"], headers=HTML)
    assert "The role was revoked." in page.text
    assert 'aria-label="Revoke reviewer from bob"' not in page.text
    assert [e["action"] for e in events(db) if e["resource_id"] == "bob"][-2:] == ["role.grant", "role.revoke"]


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"principal": "bob", "role": "emperor"}, 422, "Role: Input should be"),
        ({"principal": "nobody-here", "role": "viewer"}, 404, "nobody-here"),
        ({"principal": "bob", "role": "viewer", "team": "no-such-team"}, 404, "no-such-team"),
    ],
    ids=["unknown-role", "unknown-principal", "unknown-team"],
)
def test_a_refused_role_form_re_renders_the_page(
    client: TestClient, factory: Factory, db: Database, data: dict[str, str], status: int, message: str
) -> None:
    factory.user("admin1", "admin")
    factory.user("bob")
    csrf = sign_in(client, "admin1")
    response = client.post("/admin/roles/grant", data={"csrf": csrf, **data}, headers=HTML)
    assert response.status_code == status
    assert "<h1>Users &amp; roles</h1>" in response.text
    assert message in response.text
    assert [e for e in events(db, "role.grant") if e["resource_id"] == "bob"] == []


def test_the_done_message_is_one_of_a_fixed_set(client: TestClient, factory: Factory) -> None:
    factory.user("admin1", "admin")
    sign_in(client, "admin1")
    page = client.get("/admin/users", params={"done": "<b>hacked</b>"}, headers=HTML)
    assert page.status_code == 200
    assert "hacked" not in page.text
    assert 'role="status"' not in page.text


def test_the_export_link_on_the_audit_page_downloads_a_verifiable_trail(
    client: TestClient, factory: Factory, db: Database
) -> None:
    factory.user("audra", "auditor")
    sign_in(client, "audra")
    page = client.get("/audit", headers=HTML)
    assert 'href="/audit/export"' in page.text
    response = client.get("/audit/export", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    previous = "00" * 32
    for line in lines:  # anyone can re-check the chain from the file alone
        assert line["prev_hash"] == previous
        assert hashlib.sha256(bytes.fromhex(line["prev_hash"]) + line["body"].encode()).hexdigest() == line["hash"]
        previous = line["hash"]
    assert events(db, "audit.export")[-1]["actor"] == "user:audra"
    client.cookies.clear()
    assert client.get("/audit/export", headers=HTML).status_code == 401


def test_audit_details_are_shown_as_recorded(client: TestClient, factory: Factory) -> None:
    factory.user("audra", "auditor")
    sign_in(client, "audra")
    page = client.get("/audit", params={"action": "user.create", "verify": "false"}, headers=HTML)
    assert "email=null" in page.text
    assert "email=None" not in page.text
