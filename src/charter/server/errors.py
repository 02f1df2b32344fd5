"""The one place errors become responses: JSON for the API, an HTML page for the dashboard.

Denials and rejected credentials are written to the audit trail here, in a
fresh transaction, because the request's own transaction is rolled back.
Nothing a user sends can produce a stack trace: unexpected exceptions are
logged with the request id and answered with a generic 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from charter.audit import service as audit
from charter.errors import (
    BadRequest,
    CharterError,
    Conflict,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
)
from charter.server.deps import app_state, open_session, request_id

log = logging.getLogger("charter.server")

API_PREFIXES = ("/api/", "/metrics", "/healthz", "/readyz")


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return True
    accept = request.headers.get("accept", "")
    return "text/html" not in accept and "application/json" in accept


def _audit_rejection(request: Request, error: CharterError) -> None:
    """Record denials, credentials that were presented but refused (possible attacks), and refusals a
    service asked to keep (``error.audit``: e.g. a promotion stopped by a gate)."""
    event: dict[str, Any]
    if error.audit is not None:
        event = error.audit
    elif isinstance(error, PermissionDenied):
        event = {"action": "access.denied", "outcome": "denied"}
    elif isinstance(error, InvalidToken | InvalidCredentials) and request.url.path != "/api/v1/auth/token":
        event = {"action": "auth.rejected", "outcome": "failed"}
    else:
        return
    action = event["action"]
    principal = getattr(request.state, "principal", None)
    actor = principal.actor if principal is not None else "anonymous"
    try:
        state = app_state(request)
        session = open_session(state, request, write=True)
        try:
            audit.record(
                session,
                actor,
                action,
                resource_type=event.get("resource_type", "route"),
                resource_id=event.get("resource_id", f"{request.method} {request.url.path}"),
                outcome=event["outcome"],
                details=event.get("details") or {"code": error.code, "reason": error.message[:500]},
            )
            session.commit()
        finally:
            session.close()
    except Exception:  # the answer to the client must not depend on the audit write succeeding
        log.exception("could not record %s in the audit trail", action)


def record_refusal(request: Request, error: CharterError) -> None:
    """For pages that show a refusal in place instead of an error page: audit it as the renderer would."""
    _audit_rejection(request, error)


def error_response(request: Request, error: CharterError) -> Response:
    _audit_rejection(request, error)
    headers: dict[str, str] = {}
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if wants_json(request):
        body = {"error": {**error.to_dict(), "request_id": request_id(request)}}
        return JSONResponse(body, status_code=error.status, headers=headers)
    from charter.web.render import render_error  # the dashboard is optional for API-only use

    return render_error(request, error, headers=headers)


async def _charter_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CharterError)
    return error_response(request, exc)


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    # FastAPI's errors echo the input; a password must never come back in a response or a log.
    return [{"location": [str(part) for part in e.get("loc", ())], "message": e.get("msg", "invalid")} for e in errors]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = _clean_validation_errors(exc.errors())
    summary = "; ".join(f"{'.'.join(p['location'][1:]) or p['location'][0]}: {p['message']}" for p in problems[:5])
    return error_response(request, InvalidInput(f"The request is not valid: {summary}", details={"errors": problems}))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: CharterError
    if exc.status_code == 404:
        error = NotFound(f"There is nothing at {request.url.path}.")
    elif exc.status_code == 405:
        error = BadRequest(f"{request.method} is not allowed on {request.url.path}.")
    else:
        error = BadRequest(str(exc.detail))
    response = error_response(request, error)
    if exc.status_code == 405:
        response.status_code = 405
    return response


async def _integrity_error(request: Request, exc: Exception) -> Response:
    log.info("integrity error on %s: %s", request.url.path, exc.__class__.__name__)
    return error_response(request, Conflict("The change conflicts with existing data (it may already exist)."))


async def _operational_error(request: Request, exc: Exception) -> Response:
    log.error("database error on %s", request.url.path, exc_info=exc)
    return error_response(request, ServiceUnavailable("The database is not available; try again shortly."))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s (request %s)", request.url.path, request_id(request), exc_info=exc)
    error = CharterError(f"Something went wrong on our side; quote request id {request_id(request)} when reporting it.")
    response = error_response(request, error)
    # This handler runs outside the request middleware, which would otherwise add the header.
    response.headers["X-Request-ID"] = request_id(request)
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CharterError, _charter_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _operational_error)
    app.add_exception_handler(Exception, _unexpected)
