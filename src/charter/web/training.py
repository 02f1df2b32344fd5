"""Dashboard page of training: the signed-in person's own training, the courses, the completions
(everyone's for those the training service lets read them, one's own otherwise), and for managers
the forms that add a course and record a completion.

Which completions a person sees is the service's rule, not the page's: the page asks for everyone's
and, refused, shows the person their own. Forms carry the session's CSRF value; a refused form comes
back on the page in the service's words and nothing of it is kept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from charter.errors import CharterError, PermissionDenied
from charter.security.permissions import Permission
from charter.security.principal import ORG
from charter.server.deps import Context, PageNeeds
from charter.training import service
from charter.training.schemas import CompletionCreate, CompletionRead, CourseCreate, CourseKind
from charter.web.forms import labelled, submit
from charter.web.pages import CsrfField, check_csrf
from charter.web.render import render

router = APIRouter(include_in_schema=False)
P = Permission
PER_PAGE = 100
EXPIRING_DAYS = 30  # a completion expiring within this many days is highlighted
KINDS: tuple[str, ...] = CourseKind.__args__  # type: ignore[attr-defined]
ShortField = Annotated[str, Form(max_length=200)]
LongField = Annotated[str, Form(max_length=5000)]
DONE_MESSAGES = {
    "recorded": "The completion was recorded.",
    "course": "The course was added.",
}
FIELD_LABELS = {
    "person": "Person",
    "course": "Course",
    "completed_at": "Completed on",
    "expires_at": "Expires on",
    "note": "Note",
    "id": "Course id",
    "title": "Title",
    "kind": "Kind",
    "validity_days": "Valid for (days)",
    "required": "Required",
    "description": "Description",
}


explain = labelled(FIELD_LABELS)


def _standing(item: CompletionRead, now: datetime) -> str:
    """current, expiring (within EXPIRING_DAYS), or expired: how the page colours a completion."""
    if not item.current:
        return "expired"
    if item.expires_at is not None and item.expires_at - now < timedelta(days=EXPIRING_DAYS):
        return "expiring"
    return "current"


def _may_manage(ctx: Context) -> bool:
    return ctx.principal.can(P.USER_WRITE, ORG) or ctx.principal.can(P.COMPLIANCE_WRITE, ORG)


def _training_page(
    ctx: Context,
    *,
    person: str = "",
    course: str = "",
    current: bool = False,
    page: int = 1,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    now = datetime.now(UTC)
    mine = service.my_training(ctx.session, ctx.principal, now=now)
    courses = service.list_courses(ctx.session, ctx.principal) if ctx.principal.holds(P.COMPLIANCE_READ) else []
    try:
        completions = service.list_completions(
            ctx.session, ctx.principal, person=person or None, course=course or None, current_only=current, now=now
        )
        everyone = True
    except PermissionDenied:
        # The service lets everyone read their own completions only: those are under "My training".
        completions, everyone = [], False
    pages = max(1, -(-len(completions) // PER_PAGE))
    page = min(max(page, 1), pages)
    filters = {"person": person, "course": course, "current": "1" if current else ""}

    def link(number: int) -> str:
        return "/training?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": number})

    return render(
        ctx.request,
        "training.html",
        {
            "mine": mine,
            "courses": courses,
            "completions": completions[(page - 1) * PER_PAGE : page * PER_PAGE],
            "total": len(completions),
            "everyone": everyone,
            "standing": lambda item: _standing(item, now),
            "filters": filters,
            "page": page,
            "pages": pages,
            "previous_link": link(page - 1) if page > 1 else None,
            "next_link": link(page + 1) if page < pages else None,
            "can_manage": _may_manage(ctx),
            "kinds": KINDS,
            "expiring_days": EXPIRING_DAYS,
            "message": message,
            "error": error,
            "form": form or {},
        },
        status=status,
    )


@router.get("/training", response_class=HTMLResponse)
def training_page(
    ctx: Context = PageNeeds(P.SELF),
    person: Annotated[str | None, Query(max_length=64)] = None,
    course: Annotated[str | None, Query(max_length=64)] = None,
    current: Annotated[str | None, Query(max_length=5)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _training_page(
        ctx,
        person=(person or "").strip(),
        course=(course or "").strip(),
        current=current in ("1", "true", "on"),
        page=page,
        message=DONE_MESSAGES.get(done or ""),
    )


def _refuser(ctx: Context, typed: dict[str, Any]) -> Any:
    def refuse(error: CharterError) -> Response:
        ctx.session.rollback()
        return _training_page(ctx, error=error.message, status=error.status, form=typed)

    return refuse


@router.post("/training/completions", response_class=HTMLResponse)
def completion_submit(
    csrf: CsrfField = "",
    person: ShortField = "",
    course: ShortField = "",
    completed_at: ShortField = "",
    expires_at: ShortField = "",
    note: LongField = "",
    ctx: Context = PageNeeds(P.COMPLIANCE_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {
        "completion": {
            "person": person,
            "course": course,
            "completed_at": completed_at,
            "expires_at": expires_at,
            "note": note,
        }
    }

    def record(data: CompletionCreate) -> Response:
        service.record_completion(ctx.session, ctx.principal, data)
        return RedirectResponse(f"/training?{urlencode({'person': data.person, 'done': 'recorded'})}", status_code=303)

    return submit(
        lambda: CompletionCreate.model_validate(
            {
                "person": person,
                "course": course,
                "completed_at": completed_at or None,
                "expires_at": expires_at or None,
                "note": note.strip() or None,
            }
        ),
        record,
        refuse=_refuser(ctx, typed),
        explain=explain,
    )


@router.post("/training/courses", response_class=HTMLResponse)
def course_submit(
    csrf: CsrfField = "",
    id: ShortField = "",
    title: ShortField = "",
    kind: ShortField = "",
    validity_days: ShortField = "",
    required: ShortField = "",
    description: LongField = "",
    ctx: Context = PageNeeds(P.COMPLIANCE_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {
        "course": {
            "id": id,
            "title": title,
            "kind": kind,
            "validity_days": validity_days,
            "required": bool(required),
            "description": description,
        }
    }

    def create(data: CourseCreate) -> Response:
        service.create_course(ctx.session, ctx.principal, data)
        return RedirectResponse("/training?done=course#courses", status_code=303)

    return submit(
        lambda: CourseCreate.model_validate(
            {
                "id": id,
                "title": title,
                "kind": kind,
                "validity_days": validity_days or None,
                "required": bool(required),
                "description": description.strip() or None,
            }
        ),
        create,
        refuse=_refuser(ctx, typed),
        explain=explain,
    )
