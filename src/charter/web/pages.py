"""Dashboard pages. Like the API, each page parses, calls services, and renders.

Sessions are Charter session tokens in an HttpOnly, SameSite=Lax cookie;
every form that changes something carries the session's CSRF value, which
is compared in constant time before the service is called.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from charter.audit import service as audit
from charter.audit.models import AuditEventRow
from charter.audit.schemas import AuditFilter
from charter.errors import CharterError, Conflict, CsrfFailed, InvalidInput, NotFound
from charter.identity import auth, service
from charter.identity.models import PrincipalRow, TeamRow
from charter.identity.schemas import NAME_HELP, RoleBindingChange, UserCreate
from charter.security.permissions import Permission, Role
from charter.server.deps import SESSION_COOKIE, Context, PageNeeds, Public, PublicContext, source_ip
from charter.server.state import AppState
from charter.web.render import LOGIN_CSRF_COOKIE, render, render_login, safe_next

router = APIRouter(include_in_schema=False)
P = Permission
AUTO_VERIFY_LIMIT = 200_000
# Every form that changes something echoes the session's CSRF value (compared in check_csrf).
# A missing value defaults to "" so that it is refused like a wrong one: 403, audited.
CsrfField = Annotated[str, Form(max_length=200)]
# Refusals shown on the form itself; anything else (a denial above all) goes to the one error renderer.
FORM_ERRORS = (InvalidInput, Conflict, NotFound)
# What the Users page says after a change (a fixed set, so the query string cannot put words on the page).
DONE_MESSAGES = {
    "created": "The user was created.",
    "disabled": "The account was disabled.",
    "enabled": "The account was enabled.",
    "granted": "The role was granted.",
    "revoked": "The role was revoked.",
}
FIELD_LABELS = {"username": "User name", "password": "Initial password", "display_name": "Display name"}


def check_csrf(ctx: Context, submitted: str) -> None:
    expected = getattr(ctx.request.state, "csrf", None)
    if not expected or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfFailed("The form has expired or did not come from this site; reload the page and try again.")


def _flash_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# -- sign-in ----------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str | None, Query(alias="next")] = None) -> HTMLResponse:
    return render_login(request, next_path=safe_next(next))


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=2000)],
    login_csrf: CsrfField,
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "/",
    ctx: PublicContext = Public(),
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), login_csrf.encode()):
        return render_login(
            request,
            error="The sign-in form expired; please try again.",
            status=403,
            next_path=next_path,
            username=username,
        )
    settings = ctx.state.settings
    result = auth.login(ctx.session, settings, username=username, password=password, source_ip=source_ip(request))
    if result.principal is None:
        assert result.error is not None
        ctx.session.commit()  # the failed attempt and its audit event are kept
        headers = (
            {"Retry-After": str(result.error.details["retry_after"])} if "retry_after" in result.error.details else None
        )
        return render_login(
            request,
            error=result.error.message,
            status=result.error.status,
            next_path=next_path,
            username=username,
            headers=headers,
        )
    token, _claims = auth.issue_token(
        ctx.session, ctx.state.codec, result.principal, ttl=settings.session_ttl, kind="session"
    )
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure or request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(csrf: CsrfField = "", ctx: Context = PageNeeds(P.SELF)) -> Response:
    check_csrf(ctx, csrf)
    claims = ctx.request.state.session_claims
    auth.revoke_token(ctx.session, ctx.principal, claims.jti, claims.expires_at)
    response = _flash_redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- home -------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(ctx: Context = PageNeeds(P.SELF)) -> HTMLResponse:
    session = ctx.session
    names = service.team_names(session, {b.team_id for b in ctx.principal.bindings if b.team_id is not None})
    counts = {
        "users": session.scalar(select(func.count()).select_from(PrincipalRow).where(PrincipalRow.kind == "user")),
        "services": session.scalar(
            select(func.count()).select_from(PrincipalRow).where(PrincipalRow.kind == "service")
        ),
        "teams": session.scalar(select(func.count()).select_from(TeamRow)),
        "events": session.scalar(select(func.coalesce(func.max(AuditEventRow.seq), 0))),
    }
    bindings = [(b.role.value, names.get(b.team_id) if b.team_id else None) for b in ctx.principal.bindings]
    return render(
        ctx.request,
        "home.html",
        {
            "counts": counts,
            "bindings": bindings,
            "checkpoint": audit.latest_checkpoint(session) if ctx.principal.can(P.AUDIT_READ) else None,
            "can": {p.name.lower(): ctx.principal.can(p) for p in Permission},
        },
    )


# -- users and roles --------------------------------------------------------------------------------


def _users_page(
    ctx: Context,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    q: str | None = None,
    cursor: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    page = service.list_principals(ctx.session, ctx.principal, query=q, cursor=cursor, limit=100)
    teams = service.list_teams(ctx.session, ctx.principal) if ctx.principal.can(P.TEAM_READ) else []
    return render(
        ctx.request,
        "users.html",
        {
            "page": page,
            "teams": teams,
            "roles": [r.value for r in Role],
            "q": q or "",
            "message": message,
            "error": error,
            "form": form or {},
            "can_write": ctx.principal.can(P.USER_WRITE),
            "can_grant": ctx.principal.can(P.ROLE_GRANT),
        },
        status=status,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    ctx: Context = PageNeeds(P.USER_READ),
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _users_page(ctx, q=q, cursor=cursor, message=DONE_MESSAGES.get(done or ""))


def _form_failure(ctx: Context, error: CharterError, *, form: dict[str, str] | None = None) -> HTMLResponse:
    """Show a refused form on the same page, and roll back whatever the service had begun."""
    ctx.session.rollback()
    return _users_page(ctx, error=error.message, status=error.status, form=form)


def _explain(exc: ValidationError) -> str:
    """Validation errors in the form's own words (never echoing what was typed)."""
    problems = []
    for problem in exc.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        label = "Role" if field == "roles" else FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
        if field == "username" and problem["type"] == "string_pattern_mismatch":
            text = f"use {NAME_HELP}"
        else:
            text = str(problem["msg"])
        problems.append(f"{label}: {text}.")
    return " ".join(problems)


# Fields other than csrf default to "" so that a wrong CSRF value is refused first (403, audited) and the
# schema, not the framework, says what is wrong, on the page itself. The lengths only bound the input.
@router.post("/admin/users", response_class=HTMLResponse)
def users_create(
    csrf: CsrfField = "",
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    team: Annotated[str, Form(max_length=64)] = "",
    ctx: Context = PageNeeds(P.USER_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {"username": username, "display_name": display_name, "role": role, "team": team}  # never the password
    try:
        data = UserCreate(
            username=username,
            password=SecretStr(password),
            display_name=display_name or None,
            roles=[{"role": role, "team": team or None}] if role else [],
        )
    except ValidationError as exc:
        return _form_failure(ctx, InvalidInput(_explain(exc)), form=typed)
    try:
        service.create_user(ctx.session, ctx.principal, data, settings=ctx.state.settings)
    except FORM_ERRORS as exc:
        return _form_failure(ctx, exc, form=typed)
    return _flash_redirect(f"/admin/users?{urlencode({'q': data.username, 'done': 'created'})}")


@router.post("/admin/users/{name}/{action}")
def users_toggle(name: str, action: str, csrf: CsrfField = "", ctx: Context = PageNeeds(P.USER_WRITE)) -> Response:
    check_csrf(ctx, csrf)
    if action not in ("disable", "enable"):
        raise InvalidInput("The action must be disable or enable.")
    try:
        service.set_active(ctx.session, ctx.principal, name, active=action == "enable")
    except FORM_ERRORS as exc:
        return _form_failure(ctx, exc)
    return _flash_redirect(f"/admin/users?done={action}d")


@router.post("/admin/roles/{action}")
def roles_change(
    action: str,
    csrf: CsrfField = "",
    principal: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    team: Annotated[str, Form(max_length=64)] = "",
    ctx: Context = PageNeeds(P.ROLE_GRANT),
) -> Response:
    check_csrf(ctx, csrf)
    if action not in ("grant", "revoke"):
        raise InvalidInput("The action must be grant or revoke.")
    try:
        change = RoleBindingChange(principal=principal, role=role, team=team or None)
    except ValidationError as exc:
        return _form_failure(ctx, InvalidInput(_explain(exc)))
    try:
        (service.grant_role if action == "grant" else service.revoke_role)(ctx.session, ctx.principal, change)
    except FORM_ERRORS as exc:
        return _form_failure(ctx, exc)
    return _flash_redirect(f"/admin/users?done={'granted' if action == 'grant' else 'revoked'}")


# -- audit trail ------------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    ctx: Context = PageNeeds(P.AUDIT_READ, write=True),
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    resource_type: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    verify: bool | None = None,
) -> HTMLResponse:
    filters = AuditFilter(actor=actor or None, action=action or None, resource_type=resource_type or None)
    size = ctx.session.scalar(select(func.coalesce(func.max(AuditEventRow.seq), 0))) or 0
    # Verification reads the whole chain: automatic while that takes well under a second, on request beyond.
    if verify is None:
        verify = size <= AUTO_VERIFY_LIMIT
    report = (
        audit.verify_as(ctx.session, ctx.principal, public_key=ctx.state.audit_key.public_key()) if verify else None
    )
    page = audit.list_events(ctx.session, ctx.principal, filters, cursor=cursor, limit=50)
    return render(
        ctx.request,
        "audit.html",
        {
            "page": page,
            "report": report,
            "size": size,
            "filters": filters,
            "checkpoint": audit.latest_checkpoint(ctx.session),
        },
    )


def _stream_export(state: AppState, since_seq: int) -> Iterator[str]:
    # The request's transaction has ended by the time the body streams: read in a session of its own.
    with state.db.session(write=False) as session:
        yield from audit.stream_lines(session, since_seq=since_seq)


@router.get("/audit/export")
def audit_export(
    ctx: Context = PageNeeds(P.AUDIT_READ, write=True),
    since_seq: Annotated[int, Query(ge=0)] = 0,
) -> StreamingResponse:
    """The export link on the audit page: the same JSON lines as ``/api/v1/audit/export``, with the session cookie."""
    audit.record_export(ctx.session, ctx.principal, since_seq=since_seq)
    return StreamingResponse(
        _stream_export(ctx.state, since_seq),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": 'attachment; filename="charter-audit.jsonl"',
            "Cache-Control": "no-store",
        },
    )
