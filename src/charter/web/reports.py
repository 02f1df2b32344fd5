"""Dashboard page of compliance reports: the stored reports with a download link per format, and the
form that generates a model or organisation report for a period and frameworks.

The page calls the report services, as the API does. Generating is a form (with the session's CSRF
value): a refused one comes back on the page in the service's words and nothing of it is kept. A
download is the API's answer with the session cookie: the stored file, checked against its recorded
SHA-256 before a byte is sent.
"""

from __future__ import annotations

from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from charter.compliance import service as compliance
from charter.errors import CharterError
from charter.identity import service as identity
from charter.inventory import service as inventory
from charter.policies import gates
from charter.reports import service
from charter.reports.render import MEDIA_TYPES
from charter.reports.schemas import FORMATS, ReportCreate, ReportFormat, ReportKind
from charter.security.permissions import Permission
from charter.server.deps import Context, PageNeeds
from charter.web.forms import labelled, submit
from charter.web.pages import CsrfField, check_csrf
from charter.web.render import render

router = APIRouter(include_in_schema=False)
P = Permission
KINDS = ("model", "organisation")
MODEL_CHOICES = 500
ShortField = Annotated[str, Form(max_length=200)]
ListField = Annotated[list[str], Form(max_length=50)]
DONE_MESSAGES = {"generated": "The report was generated; its files are below."}
FIELD_LABELS = {
    "kind": "Kind",
    "model": "Model",
    "version": "Version",
    "team": "Team",
    "start": "From",
    "end": "To",
    "frameworks": "Frameworks",
    "formats": "Formats",
}


explain = labelled(FIELD_LABELS)


def _reports_page(
    ctx: Context,
    *,
    kind: str = "",
    cursor: str | None = None,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    chosen = cast("ReportKind | None", kind or None)  # one of KINDS, checked by the route
    page = service.list_reports(ctx.session, ctx.principal, kind=chosen, cursor=cursor, limit=50)
    models = [m.name for m in inventory.list_models(ctx.session, ctx.principal, limit=MODEL_CHOICES).items]
    teams = identity.list_teams(ctx.session, ctx.principal) if ctx.principal.can(P.TEAM_READ) else []
    next_link = None
    if page.next_cursor:
        next_link = "/reports?" + urlencode({**({"kind": kind} if kind else {}), "cursor": page.next_cursor})
    return render(
        ctx.request,
        "reports.html",
        {
            "page": page,
            "kinds": KINDS,
            "kind": kind,
            "models": models,
            "teams": teams,
            "frameworks": compliance.list_frameworks(ctx.session, ctx.principal),
            "formats": FORMATS,
            "next_link": next_link,
            "message": message,
            "error": error,
            "form": form or {},
        },
        status=status,
    )


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    ctx: Context = PageNeeds(P.COMPLIANCE_READ),
    kind: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    chosen = kind if kind in KINDS else ""
    return _reports_page(ctx, kind=chosen, cursor=cursor, message=DONE_MESSAGES.get(done or ""))


@router.post("/reports", response_class=HTMLResponse)
def generate_submit(
    csrf: CsrfField = "",
    kind: ShortField = "",
    model: ShortField = "",
    version: ShortField = "",
    team: ShortField = "",
    start: ShortField = "",
    end: ShortField = "",
    frameworks: ListField = [],  # noqa: B006 (FastAPI copies defaults; the list is never mutated)
    formats: ListField = [],  # noqa: B006
    ctx: Context = PageNeeds(P.COMPLIANCE_READ),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {
        "kind": kind,
        "model": model,
        "version": version,
        "team": team,
        "start": start,
        "end": end,
        "frameworks": frameworks,
        "formats": formats,
    }

    def parse() -> ReportCreate:
        organisation = kind == "organisation"
        return ReportCreate.model_validate(
            {
                "kind": kind,
                "model": None if organisation else (model.strip() or None),
                "version": None if organisation else (version.strip() or None),
                "team": (team.strip() or None) if organisation else None,
                "start": start or None,
                "end": end or None,
                "frameworks": frameworks or None,
                "formats": formats or None,
            }
        )

    def generate(data: ReportCreate) -> Response:
        protection = ctx.state.protection
        read = service.generate_requested(
            ctx.session,
            ctx.principal,
            protection,
            data,
            public_key=ctx.state.audit_key.public_key(),
            signature_check=gates.signature_checker(ctx.session, protection),
        )
        return RedirectResponse(f"/reports?done=generated#report-{read.id}", status_code=303)

    def refuse(error: CharterError) -> Response:
        ctx.session.rollback()
        return _reports_page(ctx, error=error.message, status=error.status, form=typed)

    return submit(parse, generate, refuse=refuse, explain=explain)


@router.get("/reports/{report_id}/files/{fmt}")
def download_page(report_id: int, fmt: ReportFormat, ctx: Context = PageNeeds(P.COMPLIANCE_READ)) -> Response:
    """The download link of the reports page: the API's answer, with the session cookie."""
    read, file_read, content = service.read_file(ctx.session, ctx.principal, ctx.state.protection, report_id, fmt)
    headers = {
        "X-Charter-SHA256": file_read.sha256,
        "Content-Disposition": f'attachment; filename="{service.file_name(read, fmt)}"',
        "Cache-Control": "no-store",
    }
    return Response(content, media_type=MEDIA_TYPES[fmt], headers=headers)
