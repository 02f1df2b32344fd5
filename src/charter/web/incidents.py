"""Dashboard pages of incident response: the board, the report form, an incident's page and its actions.

Each page parses, calls one incident service and renders, as the API does. Every form that changes
something carries the session's CSRF value, checked before the service is called. A refused change
(a bad value, a move the lifecycle does not allow, an unknown name) comes back on the same page with
the service's own words, and nothing of it is kept: the transaction is rolled back. A denial is not
shown in place: it goes to the one error renderer, which audits it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import zip_longest
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from charter.errors import CharterError, InvalidInput, NotFound
from charter.incidents import lifecycle, service
from charter.incidents.schemas import (
    Assignment,
    EntryCreate,
    IncidentCreate,
    IncidentRead,
    ReportableMark,
    ReportSubmission,
    ReviewWrite,
    StatusChange,
)
from charter.inventory import service as inventory
from charter.monitoring import service as monitoring
from charter.monitoring.schemas import AlertRead
from charter.security.permissions import Permission
from charter.server.deps import Context, PageNeeds
from charter.web.forms import submit
from charter.web.pages import CsrfField, check_csrf
from charter.web.render import render, templates

router = APIRouter(include_in_schema=False)
P = Permission
T = TypeVar("T")
BOARD_COLUMN = 100  # cards per status column; beyond that the board asks for a narrower filter
MODEL_CHOICES = 500  # models offered in the pickers
ALERTS_READ = 500  # the newest alerts searched for those of one incident
FOLLOW_UP_ROWS = 3  # empty follow-up rows offered, at least, by the review form
# Form fields. The lengths only bound the input: the schemas say what is wrong, in the form's words.
LongField = Annotated[str, Form(max_length=20_000)]
ShortField = Annotated[str, Form(max_length=1000)]
ListField = Annotated[list[str] | None, Form(max_length=100)]  # a repeated field: at most 100 values

WRITTEN_KINDS = {
    "immediate_action": "Immediate action",
    "investigation_note": "Investigation note",
    "mitigation": "Mitigation",
    "communication": "Communication",
}
TYPE_LABELS = {t: t.replace("_", " / ") for t in lifecycle.TYPES}  # bias_fairness: "bias / fairness"
REGIME_LABELS = {
    "eu_ai_act_serious": "EU AI Act Art. 73(2): serious incident (15 days)",
    "eu_ai_act_widespread": "EU AI Act Art. 73(3): widespread infringement or critical infrastructure (2 days)",
    "eu_ai_act_death": "EU AI Act Art. 73(4): death of a person (10 days)",
    "gdpr_breach": "GDPR Art. 33: personal-data breach (72 hours)",
}
MOVE_LABELS = {
    "triaged": "Triage",
    "investigating": "Start investigation",
    "mitigating": "Start mitigation",
    "resolved": "Resolve",
    "closed": "Close",
}
# What the incident page says after a change (a fixed set, so the query string cannot put words on the page).
DONE_MESSAGES = {
    "reported": "The incident was reported; its response clock runs until it is triaged.",
    "status": "The status changed.",
    "entry": "The entry was added to the timeline.",
    "assigned": "The assignment changed.",
    "reportable": "The incident was marked reportable; the reporting clock runs from its detection.",
    "submitted": "The report was marked submitted.",
    "review": "The post-incident review was saved.",
}
FIELD_LABELS = {
    "title": "Title",
    "type": "Type",
    "severity": "Severity",
    "description": "Description",
    "models": "Affected model",
    "model": "model",
    "version": "version",
    "detected_at": "Detected at",
    "kind": "Kind",
    "body": "Text",
    "audience": "Audience",
    "recipient": "Recipient",
    "at": "When",
    "commander": "Commander",
    "assignee": "Assignee",
    "regime": "Regime",
    "reason": "Reason",
    "reference": "Reference",
    "submitted_at": "Submitted at",
    "note": "Note",
    "root_cause": "Root cause",
    "contributing_factors": "Contributing factors",
    "follow_ups": "Follow-up",
    "action": "action",
    "owner": "owner",
    "due_date": "due date",
    "lessons": "Lessons",
}


def duration(seconds: int | float | None) -> str:
    """A length of time in the largest two units that matter: ``2 d 3 h``, ``1 h 05 min``, ``40 s``."""
    if seconds is None:
        return ""
    total = abs(int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


templates.env.filters["duration"] = duration


def explain(exc: ValidationError) -> str:
    """Validation errors in the form's own words (``Follow-up 2, due date: ...``), never echoing the input."""
    problems = []
    for problem in exc.errors():
        parts: list[str] = []
        for part in problem["loc"]:
            if isinstance(part, int):
                parts[-1:] = [f"{parts[-1]} {part + 1}" if parts else str(part + 1)]
            else:
                parts.append(FIELD_LABELS.get(str(part), str(part).replace("_", " ")))
        text = str(problem["msg"]).removeprefix("Value error, ")
        problems.append(f"{', '.join(parts)}: {text}." if parts else f"{text[:1].upper()}{text[1:]}.")
    return " ".join(problems)


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _slas(ctx: Context) -> dict[str, str]:
    return {str(severity): limit for severity, limit in ctx.state.settings.incident_response_slas.items()}


def _model_names(ctx: Context) -> list[str]:
    if not ctx.principal.holds(P.MODEL_READ):
        return []
    return [m.name for m in inventory.list_models(ctx.session, ctx.principal, limit=MODEL_CHOICES).items]


def _redirect(incident_id: int, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/incidents/{incident_id}?done={done}{anchor}", status_code=303)


# -- the board --------------------------------------------------------------------------------------


@router.get("/incidents", response_class=HTMLResponse)
def board_page(
    ctx: Context = PageNeeds(P.INCIDENT_READ),
    severity: Annotated[str | None, Query(max_length=10)] = None,
    type: Annotated[str | None, Query(max_length=30)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    overdue: Annotated[str | None, Query(max_length=5)] = None,
) -> HTMLResponse:
    filters: dict[str, Any] = {
        "severity": _choice(severity, lifecycle.SEVERITIES) or "",
        "type": _choice(type, lifecycle.TYPES) or "",
        "model": model or "",
        "overdue": overdue in ("1", "true", "on"),
    }
    columns: list[dict[str, Any]] = []
    shown = 0
    error = None
    try:
        # One query per status, so that closed incidents never crowd the open ones off the board.
        for status in lifecycle.STATUSES:
            page = service.list_incidents(
                ctx.session,
                ctx.principal,
                status=[status],
                severity=[filters["severity"]] if filters["severity"] else [],
                type=filters["type"] or None,
                model=filters["model"] or None,
                overdue=True if filters["overdue"] else None,
                limit=BOARD_COLUMN,
            )
            # Worst first, then newest: what needs attention is at the top of each column.
            cards = sorted(page.items, key=lambda i: (lifecycle.rank(i.severity), -i.id))
            columns.append({"status": status, "cards": cards, "more": page.next_cursor is not None})
            shown += len(cards)
    except NotFound as exc:  # an unknown model: an empty board that says so
        error, shown = exc.message, 0
        columns = [{"status": s, "cards": [], "more": False} for s in lifecycle.STATUSES]
    return render(
        ctx.request,
        "incidents.html",
        {
            "columns": columns,
            "filters": filters,
            "error": error,
            "severities": lifecycle.SEVERITIES,
            "types": TYPE_LABELS,
            "models": _model_names(ctx),
            "can_report": ctx.principal.holds(P.INCIDENT_WRITE),
            "total": shown,
        },
        status=404 if error else 200,
    )


# -- reporting --------------------------------------------------------------------------------------


def _report_form(
    ctx: Context, *, form: dict[str, Any] | None = None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    return render(
        ctx.request,
        "incident_new.html",
        {
            "form": form or {},
            "error": error,
            "severities": lifecycle.SEVERITIES,
            "types": TYPE_LABELS,
            "models": _model_names(ctx),
        },
        status=status,
    )


@router.get("/incidents/new", response_class=HTMLResponse)
def report_form(
    ctx: Context = PageNeeds(P.INCIDENT_WRITE),
    model: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    return _report_form(ctx, form={"pairs": [(model or "", "")]})


# Fields other than csrf default to empty so that a wrong CSRF value is refused first (403, audited),
# and the schema, not the framework, says what is wrong, on the form itself.
@router.post("/incidents", response_class=HTMLResponse)
def report_submit(
    csrf: CsrfField = "",
    title: ShortField = "",
    type: ShortField = "",
    severity: ShortField = "",
    description: LongField = "",
    model: ListField = None,
    version: ListField = None,
    detected_at: ShortField = "",
    ctx: Context = PageNeeds(P.INCIDENT_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    pairs = [(m.strip(), (v or "").strip()) for m, v in zip_longest(model or [], version or [], fillvalue="")]
    typed = {
        "title": title,
        "type": type,
        "severity": severity,
        "description": description,
        "detected_at": detected_at,
        "pairs": pairs or [("", "")],
    }

    def refuse(error: CharterError) -> HTMLResponse:
        ctx.session.rollback()
        return _report_form(ctx, form=typed, error=error.message, status=error.status)

    def report(data: IncidentCreate) -> Response:
        created = service.report_incident(ctx.session, ctx.principal, data, slas=_slas(ctx))
        return _redirect(created.id, "reported")

    return submit(
        lambda: IncidentCreate.model_validate(
            {
                "title": title,
                "type": type,
                "severity": severity,
                "description": description.strip() or None,
                "models": [{"model": m, "version": v or None} for m, v in pairs if m],
                "detected_at": detected_at or None,
            }
        ),
        report,
        refuse=refuse,
        explain=explain,
    )


# -- one incident -----------------------------------------------------------------------------------


def _linked_alerts(ctx: Context, incident: IncidentRead) -> list[AlertRead] | None:
    """Alerts attached to the incident, for readers of monitoring (None: the reader may see none)."""
    if ctx.principal.team_ids_with(P.MONITOR_READ) == frozenset():
        return None
    # Team readers see the alerts of their teams' models; organisation-wide readers also those of
    # missed deadlines, which name no model.
    found = monitoring.list_alerts(ctx.session, ctx.principal, incident_id=incident.id, limit=ALERTS_READ).items
    return sorted(found, key=lambda a: (a.status != "firing", -a.id))


def _moves(incident: IncidentRead) -> list[tuple[str, str]]:
    return [
        (target, "Reopen" if lifecycle.is_reopen(incident.status, target) else MOVE_LABELS[target])
        for target in incident.allowed_next
    ]


def _review_form(incident: IncidentRead, typed: dict[str, Any] | None) -> dict[str, Any]:
    """The review form's values: what was just typed (after a refusal), else the review as written."""
    if typed is not None:
        return typed
    review = incident.review
    rows = [(f.action, f.owner, f.due_date.isoformat(), f.done) for f in review.follow_ups] if review else []
    return {
        "root_cause": review.root_cause if review else "",
        "factors": "\n".join(review.contributing_factors) if review else "",
        "lessons": (review.lessons or "") if review else "",
        "rows": rows + [("", "", "", False)] * max(FOLLOW_UP_ROWS - len(rows), 1),
    }


def _incident_page(
    ctx: Context,
    incident_id: int,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    incident = service.read_incident(ctx.session, ctx.principal, incident_id)
    scope = service.scope_of(service.get_incident_row(ctx.session, incident_id))
    typed = form or {}
    marked = {r.regime for r in incident.reports}
    return render(
        ctx.request,
        "incident.html",
        {
            "incident": incident,
            "alerts": _linked_alerts(ctx, incident),
            "can_write": ctx.principal.can(P.INCIDENT_WRITE, scope),
            "moves": _moves(incident),
            "kinds": WRITTEN_KINDS,
            "types": TYPE_LABELS,
            "regimes": {r: label for r, label in REGIME_LABELS.items() if r not in marked},
            "regime_labels": REGIME_LABELS,
            "review_form": _review_form(incident, typed.get("review")),
            "form": typed,
            "message": message,
            "error": error,
        },
        status=status,
    )


def _refused(ctx: Context, incident_id: int, error: CharterError, form: dict[str, Any] | None = None) -> HTMLResponse:
    """Show a refused form on the incident's page, and roll back whatever the service had begun."""
    ctx.session.rollback()
    return _incident_page(ctx, incident_id, error=error.message, status=error.status, form=form)


def _submit(
    ctx: Context,
    incident_id: int,
    typed: dict[str, Any],
    parse: Callable[[], T],
    act: Callable[[T], object],
    *,
    done: str,
    anchor: str = "",
) -> Response:
    """An action on the incident: back to its page with ``done``'s message, or with the refusal and ``typed``."""

    def finish(data: T) -> Response:
        act(data)
        return _redirect(incident_id, done, anchor)

    return submit(parse, finish, refuse=lambda error: _refused(ctx, incident_id, error, typed), explain=explain)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(
    incident_id: int,
    ctx: Context = PageNeeds(P.INCIDENT_READ),
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _incident_page(ctx, incident_id, message=DONE_MESSAGES.get(done or ""))


@router.post("/incidents/{incident_id}/status", response_class=HTMLResponse)
def status_submit(
    incident_id: int,
    csrf: CsrfField = "",
    status: ShortField = "",
    note: LongField = "",
    ctx: Context = PageNeeds(P.INCIDENT_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    return _submit(
        ctx,
        incident_id,
        {"note": note},
        lambda: StatusChange.model_validate({"status": status, "note": note.strip() or None}),
        lambda data: service.change_status(ctx.session, ctx.principal, incident_id, data),
        done="status",
    )


@router.post("/incidents/{incident_id}/timeline", response_class=HTMLResponse)
def entry_submit(
    incident_id: int,
    csrf: CsrfField = "",
    kind: ShortField = "",
    body: LongField = "",
    audience: ShortField = "",
    recipient: ShortField = "",
    at: ShortField = "",
    ctx: Context = PageNeeds(P.INCIDENT_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {"entry": {"kind": kind, "body": body, "audience": audience, "recipient": recipient, "at": at}}
    return _submit(
        ctx,
        incident_id,
        typed,
        lambda: EntryCreate.model_validate(
            {
                "kind": kind,
                "body": body,
                "audience": audience or None,
                "recipient": recipient.strip() or None,
                "at": at or None,
            }
        ),
        lambda data: service.add_entry(ctx.session, ctx.principal, incident_id, data),
        done="entry",
        anchor="#timeline",
    )


@router.post("/incidents/{incident_id}/assignment", response_class=HTMLResponse)
def assignment_submit(
    incident_id: int,
    csrf: CsrfField = "",
    commander: ShortField = "",
    assignee: ShortField = "",
    ctx: Context = PageNeeds(P.INCIDENT_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {"assignment": {"commander": commander, "assignee": assignee}}
    return _submit(
        ctx,
        incident_id,
        typed,
        # Both fields are always sent: an empty one unassigns.
        lambda: Assignment(commander=commander.strip() or None, assignee=assignee.strip() or None),
        lambda data: service.assign(ctx.session, ctx.principal, incident_id, data),
        done="assigned",
    )


@router.post("/incidents/{incident_id}/reportable", response_class=HTMLResponse)
def reportable_submit(
    incident_id: int,
    csrf: CsrfField = "",
    regime: ShortField = "",
    reason: LongField = "",
    ctx: Context = PageNeeds(P.INCIDENT_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {"reportable": {"regime": regime, "reason": reason}}
    return _submit(
        ctx,
        incident_id,
        typed,
        lambda: ReportableMark.model_validate({"regime": regime, "reason": reason.strip() or None}),
        lambda data: service.mark_reportable(ctx.session, ctx.principal, incident_id, data),
        done="reportable",
        anchor="#regulatory",
    )


@router.post("/incidents/{incident_id}/reportable/{regime}/submitted", response_class=HTMLResponse)
def submitted_submit(
    incident_id: int,
    regime: str,
    csrf: CsrfField = "",
    reference: ShortField = "",
    submitted_at: ShortField = "",
    note: LongField = "",
    ctx: Context = PageNeeds(P.INCIDENT_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {"submitted": {"regime": regime, "reference": reference, "submitted_at": submitted_at, "note": note}}
    return _submit(
        ctx,
        incident_id,
        typed,
        lambda: ReportSubmission.model_validate(
            {"reference": reference.strip() or None, "submitted_at": submitted_at or None, "note": note.strip() or None}
        ),
        lambda data: service.mark_submitted(ctx.session, ctx.principal, incident_id, regime, data),
        done="submitted",
        anchor="#regulatory",
    )


@router.post("/incidents/{incident_id}/review", response_class=HTMLResponse)
def review_submit(
    incident_id: int,
    csrf: CsrfField = "",
    root_cause: LongField = "",
    factors: LongField = "",
    lessons: LongField = "",
    follow_action: ListField = None,
    follow_owner: ListField = None,
    follow_due: ListField = None,
    follow_done: ListField = None,
    ctx: Context = PageNeeds(P.INCIDENT_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    done = set(follow_done or [])
    rows = [
        (action.strip(), owner.strip(), due.strip(), str(n) in done)
        for n, (action, owner, due) in enumerate(
            zip_longest(follow_action or [], follow_owner or [], follow_due or [], fillvalue="")
        )
    ]
    filled = [r for r in rows if r[0] or r[1] or r[2]]  # a row left blank is no follow-up
    typed = {
        "review": {
            "root_cause": root_cause,
            "factors": factors,
            "lessons": lessons,
            "rows": filled + [("", "", "", False)] * max(FOLLOW_UP_ROWS - len(filled), 1),
        }
    }
    return _submit(
        ctx,
        incident_id,
        typed,
        lambda: ReviewWrite.model_validate(
            {
                "root_cause": root_cause,
                "contributing_factors": [line.strip() for line in factors.splitlines() if line.strip()],
                "follow_ups": [{"action": a, "owner": o, "due_date": d, "done": x} for a, o, d, x in filled],
                "lessons": lessons.strip() or None,
            }
        ),
        lambda data: service.write_review(ctx.session, ctx.principal, incident_id, data),
        done="review",
        anchor="#review",
    )


@router.get("/incidents/{incident_id}/report.json")
def regulator_report_page(
    incident_id: int,
    regime: Annotated[str, Query(max_length=40)] = "",
    ctx: Context = PageNeeds(P.INCIDENT_READ),
) -> Response:
    """The regulator report link on the incident page: the API's JSON, authenticated by the session cookie."""
    if regime not in lifecycle.REGIMES:
        raise InvalidInput(f"`regime` is one of {', '.join(lifecycle.REGIMES)}.")
    report = service.regulator_report(ctx.session, ctx.principal, incident_id, regime)
    filename = f"incident-{incident_id}-{regime}.json"
    return Response(
        report.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Cache-Control": "no-store", "Content-Disposition": f'inline; filename="{filename}"'},
    )
