"""Every route declares a permission; without credentials it answers 401, with a too-weak role 403.

The test walks the app's real route table, so a route added without a
permission (or with a mistaken one) fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx2 import Response
from starlette.routing import BaseRoute, Mount, Route

from charter.security.permissions import ROLE_PERMISSIONS, Permission, Role
from charter.server.deps import SESSION_COOKIE, declared_permission
from tests.conftest import Factory

# The only routes open to anonymous callers.
OPEN = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/token"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/api/v1/docs/oauth2-redirect"),
}
OPEN_MOUNTS = {"/static", "/static/vendor"}  # public files: the dashboard's CSS and JS, and the Plotly bundle


def permission_of(route: APIRoute) -> list[Permission]:
    found: list[Permission] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        permission = declared_permission(dep.call)
        if permission is not None:
            found.append(permission)
        stack.extend(dep.dependencies)
    return found


def flatten(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes with included routers opened up (FastAPI >= 0.160 nests them)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flatten(inner.routes)
        else:
            yield route


def guarded_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    for route in flatten(app.routes):
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                if (method, route.path) not in OPEN:
                    yield method, route


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_route_is_known_open_or_declares_exactly_one_permission(app: FastAPI) -> None:
    for route in flatten(app.routes):
        if isinstance(route, Mount):
            assert route.path in OPEN_MOUNTS, f"unexpected mount {route.path}"
        elif isinstance(route, APIRoute):
            declared = permission_of(route)
            for method in route.methods:
                if (method, route.path) in OPEN:
                    assert declared == [], f"open route {method} {route.path} should not declare a permission"
                else:
                    assert len(declared) == 1, f"{method} {route.path} declares {declared}"
        elif isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    assert (method, route.path) in OPEN, f"plain route {method} {route.path} has no permission"
        else:
            raise AssertionError(f"unknown kind of route {route!r}: extend this test to check it")


def test_guarded_routes_exist(app: FastAPI) -> None:
    # Guards against the walk below silently checking nothing.
    assert len(list(guarded_routes(app))) >= 25


def _call(
    client: TestClient,
    method: str,
    route: APIRoute,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
) -> Response:
    client.cookies.clear()
    for name, value in (cookies or {}).items():
        client.cookies.set(name, value)
    return client.request(method, concrete(route.path), headers=headers or {})


def is_page(route: APIRoute) -> bool:
    return not route.path.startswith("/api/") and route.path != "/metrics"


def test_without_credentials_every_guarded_route_answers_401(app: FastAPI, client: TestClient) -> None:
    for method, route in guarded_routes(app):
        assert _call(client, method, route).status_code == 401, f"{method} {route.path}"


def test_a_too_weak_role_gets_403_and_a_strong_one_gets_past_the_gate(
    app: FastAPI, client: TestClient, factory: Factory
) -> None:
    codec = app.state.charter.codec
    factory.user("nobody")  # signed in, no role at all
    for role in Role:
        factory.user(f"as-{role.value.replace('_', '-')}", role.value)

    def credentials(name: str, page: bool) -> dict[str, dict[str, str]]:
        token, _ = codec.issue(name, ttl=600, kind="session" if page else "access")
        return {"cookies": {SESSION_COOKIE: token}} if page else {"headers": {"Authorization": f"Bearer {token}"}}

    checked = 0
    for method, route in guarded_routes(app):
        (permission,) = permission_of(route)
        # Everyone signed in holds `self` (who am I, own password, sign out): no role is too weak for it.
        weak = (
            []
            if permission is Permission.SELF
            else ["nobody"] + [f"as-{r.value.replace('_', '-')}" for r in Role if permission not in ROLE_PERMISSIONS[r]]
        )
        for name in weak:
            status = _call(client, method, route, **credentials(name, is_page(route))).status_code
            assert status == 403, f"{name} on {method} {route.path} (needs {permission}) got {status}"
            checked += 1
        response = _call(client, method, route, **credentials("as-admin", is_page(route)))
        # Past the permission gate, a form without its CSRF value is refused by the CSRF check instead.
        past_gate = response.status_code not in (401, 403) or "csrf_failed" in response.text
        assert past_gate, f"admin on {method} {route.path} got {response.status_code}"
    assert checked > 50


@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer chk_short"])
def test_malformed_credentials_get_401(client: TestClient, header: str) -> None:
    response = client.get("/api/v1/auth/whoami", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"invalid_token", "invalid_credentials", "not_authenticated"}
