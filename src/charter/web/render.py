"""Template rendering, and the dashboard's error pages (used by ``charter.server.errors``)."""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from charter import __version__
from charter.errors import CharterError, InvalidToken, NotAuthenticated
from charter.server.deps import SESSION_COOKIE
from charter.web.vendor import plotly_style_guards

LOGIN_CSRF_COOKIE = "charter_login_csrf"
templates = Jinja2Templates(directory=str(resources.files("charter.web") / "templates"))
templates.env.globals["version"] = __version__
templates.env.globals["plotly_style_guards"] = plotly_style_guards


def detail(value: Any) -> str:
    """An audit detail as it was recorded (JSON: ``null``, ``true``), not as Python prints it (``None``, ``True``)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


templates.env.filters["detail"] = detail


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    data = {
        "principal": getattr(request.state, "principal", None),
        "csrf": getattr(request.state, "csrf", None),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, data, status_code=status, headers=headers)
    # The dashboard is never framed, and never caches pages that show who did what.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    )
    return response


def safe_next(value: str | None) -> str:
    """Only same-site paths: ``//evil.example`` and absolute URLs would make the login an open redirect.

    The sign-in and sign-out paths are refused too: landing on them after signing in would look
    like the sign-in had failed.
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):  # a header must never carry control characters
        return "/"
    if value.split("?", 1)[0].rstrip("/") in ("/login", "/logout"):
        return "/"
    return value


def requested_path(request: Request) -> str:
    """The path and query string of a GET, so that signing in returns to the same filtered page."""
    if request.method != "GET":
        return "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def render_login(
    request: Request,
    *,
    error: str | None = None,
    status: int = 200,
    next_path: str | None = None,
    username: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "error": error,
            "next": safe_next(next_path or requested_path(request)),
            "login_csrf": token,
            "username": username,
        },
        status=status,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/login",
        secure=request.url.scheme == "https",
    )
    return response


def render_error(request: Request, error: CharterError, *, headers: dict[str, str] | None = None) -> HTMLResponse:
    if isinstance(error, NotAuthenticated):
        # 401 with the sign-in form in place: after signing in, the user lands where they were going.
        # Plain "no credentials" needs no message: the form says it. A refused token or key says why.
        message = None if type(error) is NotAuthenticated else error.message
        response = render_login(request, error=message, status=401, headers=headers)
        if isinstance(error, InvalidToken) and SESSION_COOKIE in request.cookies:
            response.delete_cookie(SESSION_COOKIE, path="/")  # expired or revoked: the browser need not keep it
        return response
    return render(request, "error.html", {"error": error}, status=error.status, headers=headers)
