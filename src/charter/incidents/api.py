"""REST routes for incidents: report, list, read, update, move through the lifecycle, the timeline,
assignment, regulatory reports, containment and the post-incident review.

Each route parses, calls one service function and shapes the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from charter.incidents import containment, service
from charter.incidents.lifecycle import IncidentType, Regime, Severity, Status
from charter.incidents.schemas import (
    Assignment,
    ContainmentCreate,
    ContainmentLift,
    ContainmentRead,
    EntryCreate,
    EntryRead,
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    RegulatorReport,
    ReportableMark,
    ReportSubmission,
    ReviewRead,
    ReviewWrite,
    StatusChange,
)
from charter.pagination import Page
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
P = Permission
One = "/{incident_id}"


def _slas(ctx: Context) -> dict[str, str]:
    return {str(severity): limit for severity, limit in ctx.state.settings.incident_response_slas.items()}


@router.post("", response_model=IncidentRead, status_code=status.HTTP_201_CREATED, summary="Report an incident")
def report_incident(data: IncidentCreate, ctx: Context = Needs(P.INCIDENT_WRITE)) -> IncidentRead:
    """Open an incident in `reported`; its response clock (the SLA of its severity) starts now.

    The first affected model's team owns it (no models: the organisation), and the reporter needs
    `incident:write` there.
    """
    return service.report_incident(ctx.session, ctx.principal, data, slas=_slas(ctx))


@router.get("", response_model=Page[IncidentRead], summary="List incidents, newest first")
def list_incidents(
    ctx: Context = Needs(P.INCIDENT_READ),
    status: Annotated[list[Status], Query(description="any of these statuses (repeatable)")] = [],  # noqa: B006
    severity: Annotated[list[Severity], Query(description="any of these severities (repeatable)")] = [],  # noqa: B006
    type: IncidentType | None = None,
    model: Annotated[str | None, Query(max_length=100, description="incidents affecting this model")] = None,
    overdue: Annotated[
        bool | None, Query(description="true: a response or regulatory deadline is running past due")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[IncidentRead]:
    return service.list_incidents(
        ctx.session,
        ctx.principal,
        status=status,
        severity=severity,
        type=type,
        model=model,
        overdue=overdue,
        cursor=cursor,
        limit=limit,
    )


@router.get(One, response_model=IncidentRead, summary="Read an incident with its timeline")
def read_incident(incident_id: int, ctx: Context = Needs(P.INCIDENT_READ)) -> IncidentRead:
    return service.read_incident(ctx.session, ctx.principal, incident_id)


@router.patch(One, response_model=IncidentRead, summary="Change an incident's fields")
def update_incident(incident_id: int, data: IncidentUpdate, ctx: Context = Needs(P.INCIDENT_WRITE)) -> IncidentRead:
    """Fields sent only. A new severity before triage moves the response deadline; a new
    `detected_at` moves the regulatory deadlines; `models` replaces the list."""
    return service.update_incident(ctx.session, ctx.principal, incident_id, data, slas=_slas(ctx))


@router.post(One + "/status", response_model=IncidentRead, summary="Move an incident through its lifecycle")
def change_status(incident_id: int, data: StatusChange, ctx: Context = Needs(P.INCIDENT_WRITE)) -> IncidentRead:
    """`reported → triaged → investigating → mitigating → resolved → closed`, one step at a time;
    a resolved or closed incident reopens to `investigating`. Any other move is a 409 naming the
    allowed next statuses. Closing a SEV1 or SEV2 needs its post-incident review, and closing any
    incident needs its regulatory reports submitted."""
    return service.change_status(ctx.session, ctx.principal, incident_id, data)


@router.post(
    One + "/timeline", response_model=EntryRead, status_code=status.HTTP_201_CREATED, summary="Add a timeline entry"
)
def add_entry(incident_id: int, data: EntryCreate, ctx: Context = Needs(P.INCIDENT_WRITE)) -> EntryRead:
    """An immediate action, an investigation note, a mitigation, or a communication (internal or
    external, with its recipient). Entries are attributed to the caller and never edited."""
    return service.add_entry(ctx.session, ctx.principal, incident_id, data)


@router.post(One + "/assignment", response_model=IncidentRead, summary="Set the commander and assignee")
def assign(incident_id: int, data: Assignment, ctx: Context = Needs(P.INCIDENT_WRITE)) -> IncidentRead:
    """Fields sent only; null unassigns. Names are users or service accounts."""
    return service.assign(ctx.session, ctx.principal, incident_id, data)


@router.post(One + "/reportable", response_model=IncidentRead, summary="Mark an incident reportable to an authority")
def mark_reportable(incident_id: int, data: ReportableMark, ctx: Context = Needs(P.INCIDENT_WRITE)) -> IncidentRead:
    """Starts the regime's clock from `detected_at`: EU AI Act Art. 73 serious incident 15 days,
    widespread infringement or critical infrastructure 2 days, death 10 days; GDPR Art. 33 breach 72 hours."""
    return service.mark_reportable(ctx.session, ctx.principal, incident_id, data)


@router.post(
    One + "/reportable/{regime}/submitted", response_model=IncidentRead, summary="Mark a regulator report submitted"
)
def mark_submitted(
    incident_id: int, regime: Regime, data: ReportSubmission, ctx: Context = Needs(P.INCIDENT_WRITE)
) -> IncidentRead:
    return service.mark_submitted(ctx.session, ctx.principal, incident_id, regime, data)


@router.get(One + "/report", response_model=RegulatorReport, summary="The content of a report to an authority")
def regulator_report(incident_id: int, regime: Regime, ctx: Context = Needs(P.INCIDENT_READ)) -> RegulatorReport:
    """Assembled from the incident for a regime it is marked reportable under; `missing` lists
    what the report needs that the incident does not hold yet."""
    return service.regulator_report(ctx.session, ctx.principal, incident_id, regime)


@router.post(
    One + "/containments",
    response_model=ContainmentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Contain: deprecate a version or suspend its decision logging",
)
def contain(incident_id: int, data: ContainmentCreate, ctx: Context = Needs(P.INCIDENT_WRITE)) -> ContainmentRead:
    """The model must be one the incident affects. `deprecate_version` moves a production version to
    `deprecated` through the model lifecycle (it needs `model:write` too, and appears in the model's
    history); `suspend_logging` makes the decision log refuse the version's decisions."""
    return containment.contain(ctx.session, ctx.principal, incident_id, data, protection=ctx.state.protection)


@router.post(One + "/containments/{containment_id}/lift", response_model=ContainmentRead, summary="Lift a containment")
def lift_containment(
    incident_id: int, containment_id: int, data: ContainmentLift, ctx: Context = Needs(P.INCIDENT_WRITE)
) -> ContainmentRead:
    """With `restore` (the default) a deprecated version goes back to production, if its gates allow."""
    return containment.lift_containment(
        ctx.session, ctx.principal, incident_id, containment_id, data, protection=ctx.state.protection
    )


@router.put(One + "/review", response_model=ReviewRead, summary="Write the post-incident review")
def write_review(incident_id: int, data: ReviewWrite, ctx: Context = Needs(P.INCIDENT_WRITE)) -> ReviewRead:
    """Root cause, contributing factors and follow-up actions (owner, due date), once the incident
    is resolved; writing it again replaces it (each version is audited)."""
    return service.write_review(ctx.session, ctx.principal, incident_id, data)
