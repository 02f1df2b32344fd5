"""``charter incident``: report and work incidents as the local operator.

Every command is one service call in one transaction, audited like its REST twin.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work
from charter.config import Settings
from charter.incidents import containment, service
from charter.incidents.schemas import (
    AffectedModel,
    Assignment,
    ContainmentCreate,
    ContainmentLift,
    EntryCreate,
    FollowUp,
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    ReportableMark,
    ReportSubmission,
    ReviewWrite,
    StatusChange,
)

app = typer.Typer(
    help="Incidents: report, triage, timeline, containment, review, regulator reports.", no_args_is_help=True
)

M = TypeVar("M", bound=BaseModel)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
SEVERITY_HELP = "SEV1 (worst) to SEV4."
TYPE_HELP = "performance, bias_fairness, security, privacy, safety, compliance or availability."
MODEL_HELP = "An affected model: NAME or NAME@VERSION (repeatable; the first one's team owns the incident)."


def _parse(schema: type[M], **values: Any) -> M:
    try:
        return schema(**values)
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors())) from exc


def _models(values: list[str]) -> list[AffectedModel]:
    refs = []
    for value in values:
        name, _, version = value.partition("@")
        refs.append(_parse(AffectedModel, model=name, version=version or None))
    return refs


def _slas(config: Settings) -> dict[str, str]:
    return {str(severity): limit for severity, limit in config.incident_response_slas.items()}


def _print(read: IncidentRead, as_json: bool) -> None:
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    # What people typed is printed as text: square brackets in it are not Rich markup.
    owner = read.team or "organisation"
    console.print(
        f"[bold]Incident {read.id}[/bold]: {escape(read.title)} · {read.severity} · {read.type} · "
        f"[bold]{read.status}[/bold] · {escape(owner)}"
    )
    console.print(
        escape(
            f"  reported by {read.reporter} at {read.reported_at:%Y-%m-%d %H:%M}Z, "
            f"detected {read.detected_at:%Y-%m-%d %H:%M}Z"
            + (f" · commander {read.commander}" if read.commander else "")
            + (f" · assignee {read.assignee}" if read.assignee else "")
        )
    )
    for m in read.models:
        console.print(escape(f"  model {m.model}" + (f" {m.version} ({m.stage})" if m.version else "")))
    for c in read.clocks:
        label = c.kind if c.regime is None else f"{c.kind} {c.regime}"
        if c.met_at is not None:
            state = f"met {c.met_at:%Y-%m-%d %H:%M}Z" + (" (late)" if c.breached else "")
        else:
            state = "[red]OVERDUE[/red]" if c.overdue else f"{(c.remaining_seconds or 0) // 60} min left"
        console.print(f"  clock {label}: due {c.due_at:%Y-%m-%d %H:%M}Z, {state}")
    for k in read.containments:
        console.print(
            escape(f"  containment {k.id}: {k.kind} {k.model} {k.version} ({'active' if k.active else 'lifted'})")
        )
    if read.allowed_next:
        console.print(f"  next: {', '.join(read.allowed_next)}")
    for e in read.timeline or []:
        to = f" [{e.audience} → {e.recipient}]" if e.audience else ""
        console.print(escape(f"  {e.at:%Y-%m-%d %H:%M}Z {e.kind}{to} by {e.created_by}: {e.body}"))


@app.command("report")
@handle_errors
def report(
    title: str = typer.Argument(..., help="What happened, in a line."),
    type: str = typer.Option(..., "--type", help=TYPE_HELP),
    severity: str = typer.Option(..., help=SEVERITY_HELP),
    model: list[str] = typer.Option([], "--model", help=MODEL_HELP),
    description: str | None = typer.Option(None, help="Details."),
    source: str = typer.Option("user_report", help="user_report, monitoring_alert, automated_detection or system_log."),
    detected_at: datetime | None = typer.Option(None, help="When it became known (UTC); default now."),
    commander: str | None = typer.Option(None, help="Incident commander (a user name)."),
    assignee: str | None = typer.Option(None, help="Who works on it (a user name)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Report an incident (``report_incident``); its response clock starts now."""
    data = _parse(
        IncidentCreate,
        title=title,
        type=type,
        severity=severity,
        models=_models(model),
        description=description,
        source=source,
        detected_at=detected_at,
        commander=commander,
        assignee=assignee,
    )
    config = settings()
    with unit_of_work(database(config)) as session:
        read = service.report_incident(session, operator(), data, slas=_slas(config))
    _print(read, as_json)


@app.command("list")
@handle_errors
def list_incidents(
    status: list[str] = typer.Option([], "--status", help="Any of these statuses (repeatable)."),
    severity: list[str] = typer.Option([], "--severity", help="Any of these severities (repeatable)."),
    type: str | None = typer.Option(None, "--type", help=TYPE_HELP),
    model: str | None = typer.Option(None, help="Incidents affecting this model."),
    overdue: bool | None = typer.Option(None, "--overdue/--not-overdue", help="A deadline is running past due."),
    as_json: bool = JSON_OPTION,
    limit: int = typer.Option(100, min=1, max=500),
) -> None:
    """List incidents, newest first."""
    config = settings()
    with unit_of_work(database(config)) as session:
        page = service.list_incidents(
            session,
            operator(),
            status=status,
            severity=severity,
            type=type,
            model=model,
            overdue=overdue,
            limit=limit,
        )
    if as_json:
        typer.echo(json.dumps([i.model_dump(mode="json") for i in page.items], indent=2))
        return
    table = Table("id", "severity", "status", "type", "title", "team", "models", "overdue")
    for i in page.items:
        table.add_row(
            str(i.id),
            i.severity,
            i.status,
            i.type,
            escape(i.title),
            escape(i.team or "organisation"),
            ", ".join(m.model for m in i.models) or "-",
            "yes" if i.overdue else "",
        )
    console.print(table if table.row_count else "No incidents.")


@app.command("show")
@handle_errors
def show(incident: int = typer.Argument(..., help="Incident id."), as_json: bool = JSON_OPTION) -> None:
    """Show an incident with its clocks, containments and timeline."""
    with unit_of_work(database(settings())) as session:
        read = service.read_incident(session, operator(), incident)
    _print(read, as_json)


@app.command("update")
@handle_errors
def update(
    incident: int = typer.Argument(..., help="Incident id."),
    title: str | None = typer.Option(None),
    type: str | None = typer.Option(None, "--type", help=TYPE_HELP),
    severity: str | None = typer.Option(None, help=SEVERITY_HELP),
    description: str | None = typer.Option(None),
    model: list[str] = typer.Option([], "--model", help=MODEL_HELP + " Replaces the list."),
    detected_at: datetime | None = typer.Option(None, help="When it became known (UTC)."),
    affected_people: int | None = typer.Option(None, help="Approximate number of people affected."),
    consequences: str | None = typer.Option(None, help="Likely consequences."),
    contact_point: str | None = typer.Option(None, help="Who the authority can contact."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change an incident's fields (options given only)."""
    values: dict[str, Any] = {
        "title": title,
        "type": type,
        "severity": severity,
        "description": description,
        "detected_at": detected_at,
        "affected_people": affected_people,
        "consequences": consequences,
        "contact_point": contact_point,
    }
    changes = {k: v for k, v in values.items() if v is not None}
    if model:
        changes["models"] = _models(model)
    if not changes:
        raise fail("Nothing to change: give at least one option.", 2)
    data = _parse(IncidentUpdate, **changes)
    config = settings()
    with unit_of_work(database(config)) as session:
        read = service.update_incident(session, operator(), incident, data, slas=_slas(config))
    _print(read, as_json)


def _move(incident: int, status: str, note: str | None, as_json: bool) -> None:
    data = _parse(StatusChange, status=status, note=note)
    with unit_of_work(database(settings())) as session:
        read = service.change_status(session, operator(), incident, data)
    if as_json:
        _print(read, True)
    else:
        console.print(f"Incident {read.id} is now [bold]{read.status}[/bold].")


NOTE_OPTION = typer.Option(None, "--note", "-m", help="Why (kept in the timeline).")


@app.command("status")
@handle_errors
def status(
    incident: int = typer.Argument(..., help="Incident id."),
    to: str = typer.Argument(
        ..., help="triaged, investigating, mitigating, resolved, closed (or investigating to reopen)."
    ),
    note: str | None = NOTE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Move an incident one step along reported → triaged → investigating → mitigating → resolved → closed."""
    _move(incident, to, note, as_json)


@app.command("close")
@handle_errors
def close(
    incident: int = typer.Argument(..., help="Incident id."),
    note: str | None = NOTE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Close a resolved incident (SEV1/SEV2 need their review; regulatory reports must be submitted)."""
    _move(incident, "closed", note, as_json)


@app.command("reopen")
@handle_errors
def reopen(
    incident: int = typer.Argument(..., help="Incident id."),
    note: str | None = NOTE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Reopen a resolved or closed incident: it goes back to investigating."""
    _move(incident, "investigating", note, as_json)


@app.command("note")
@handle_errors
def note(
    incident: int = typer.Argument(..., help="Incident id."),
    body: str = typer.Argument(..., help="The text of the entry."),
    kind: str = typer.Option(
        "investigation_note", help="immediate_action, investigation_note, mitigation or communication."
    ),
    audience: str | None = typer.Option(None, help="Communications: internal or external."),
    to: str | None = typer.Option(None, "--to", help="Communications: to whom."),
    at: datetime | None = typer.Option(None, help="When it happened (UTC); default now."),
) -> None:
    """Add an entry to the incident's timeline."""
    data = _parse(EntryCreate, kind=kind, body=body, audience=audience, recipient=to, at=at)
    with unit_of_work(database(settings())) as session:
        entry = service.add_entry(session, operator(), incident, data)
    console.print(f"Added {entry.kind} {entry.id} to incident {incident}.")


@app.command("assign")
@handle_errors
def assign(
    incident: int = typer.Argument(..., help="Incident id."),
    commander: str | None = typer.Option(None, help="Incident commander (a user name; '-' to unassign)."),
    assignee: str | None = typer.Option(None, help="Who works on it (a user name; '-' to unassign)."),
) -> None:
    """Set the incident commander and/or assignee."""
    values = {k: (None if v == "-" else v) for k, v in (("commander", commander), ("assignee", assignee)) if v}
    if not values:
        raise fail("Give --commander and/or --assignee.", 2)
    data = _parse(Assignment, **values)
    with unit_of_work(database(settings())) as session:
        read = service.assign(session, operator(), incident, data)
    console.print(f"Incident {read.id}: commander {read.commander or '-'}, assignee {read.assignee or '-'}.")


@app.command("reportable")
@handle_errors
def reportable(
    incident: int = typer.Argument(..., help="Incident id."),
    regime: str = typer.Argument(
        ..., help="eu_ai_act_serious (15 d), eu_ai_act_widespread (2 d), eu_ai_act_death (10 d), gdpr_breach (72 h)."
    ),
    reason: str | None = typer.Option(None, help="Why it is reportable."),
) -> None:
    """Mark an incident reportable: the regime's clock runs from detection."""
    data = _parse(ReportableMark, regime=regime, reason=reason)
    with unit_of_work(database(settings())) as session:
        read = service.mark_reportable(session, operator(), incident, data)
    due = next(r.due_at for r in read.reports if r.regime == regime)
    console.print(f"Incident {read.id} is reportable under {regime}: report due {due:%Y-%m-%d %H:%M}Z.")


@app.command("submitted")
@handle_errors
def submitted(
    incident: int = typer.Argument(..., help="Incident id."),
    regime: str = typer.Argument(..., help="The regime the report was sent under."),
    reference: str | None = typer.Option(None, help="The authority's case number."),
    at: datetime | None = typer.Option(None, help="When it was sent (UTC); default now."),
) -> None:
    """Mark the report to the authority submitted (the regime's clock is met)."""
    data = _parse(ReportSubmission, reference=reference, submitted_at=at)
    with unit_of_work(database(settings())) as session:
        service.mark_submitted(session, operator(), incident, regime, data)
    console.print(f"The {regime} report of incident {incident} is marked submitted.")


@app.command("regulator-report")
@handle_errors
def regulator_report(
    incident: int = typer.Argument(..., help="Incident id."),
    regime: str = typer.Argument(..., help="A regime the incident is marked reportable under."),
) -> None:
    """Print the content of the report to the authority as JSON (a draft to send)."""
    with unit_of_work(database(settings())) as session:
        content = service.regulator_report(session, operator(), incident, regime)
    typer.echo(content.model_dump_json(indent=2))


@app.command("contain")
@handle_errors
def contain(
    incident: int = typer.Argument(..., help="Incident id."),
    model: str = typer.Argument(..., help="An affected model."),
    version: str = typer.Argument(..., help="Its version."),
    kind: str = typer.Option(
        "deprecate_version", help="deprecate_version (out of production) or suspend_logging (refuse its decisions)."
    ),
    reason: str = typer.Option(..., help="Why."),
) -> None:
    """Take a containment action on a version."""
    from charter.inventory import artifacts  # NumPy stays out of the other commands (see cli.models)

    data = _parse(ContainmentCreate, kind=kind, model=model, version=version, reason=reason)
    config = settings()
    with unit_of_work(database(config)) as session:
        read = containment.contain(session, operator(), incident, data, protection=artifacts.Protection(config))
    console.print(f"Containment {read.id}: {read.kind} on {read.model} {read.version}.")


@app.command("lift")
@handle_errors
def lift(
    incident: int = typer.Argument(..., help="Incident id."),
    containment_id: int = typer.Argument(..., help="Containment id."),
    reason: str = typer.Option(..., help="Why."),
    restore: bool = typer.Option(True, "--restore/--no-restore", help="Move a deprecated version back to production."),
) -> None:
    """Lift a containment."""
    from charter.inventory import artifacts

    data = _parse(ContainmentLift, reason=reason, restore=restore)
    config = settings()
    with unit_of_work(database(config)) as session:
        read = containment.lift_containment(
            session, operator(), incident, containment_id, data, protection=artifacts.Protection(config)
        )
    console.print(f"Containment {read.id} lifted.")


def _follow_up(value: str) -> FollowUp:
    parts = [p.strip() for p in value.split("|")]
    if len(parts) != 3:
        raise fail(f"--follow-up takes 'ACTION|OWNER|YYYY-MM-DD'; got {value!r}")
    try:
        due = date.fromisoformat(parts[2])
    except ValueError as exc:
        raise fail(f"--follow-up due date {parts[2]!r} is not YYYY-MM-DD") from exc
    return _parse(FollowUp, action=parts[0], owner=parts[1], due_date=due)


@app.command("review")
@handle_errors
def review(
    incident: int = typer.Argument(..., help="Incident id."),
    root_cause: str = typer.Option(..., help="Why it happened."),
    factor: list[str] = typer.Option([], "--factor", help="A contributing factor (repeatable)."),
    follow_up: list[str] = typer.Option([], "--follow-up", help="'ACTION|OWNER|YYYY-MM-DD' (repeatable)."),
    lessons: str | None = typer.Option(None, help="Lessons learned."),
) -> None:
    """Write the post-incident review of a resolved incident (replaces an earlier one)."""
    data = _parse(
        ReviewWrite,
        root_cause=root_cause,
        contributing_factors=factor,
        follow_ups=[_follow_up(f) for f in follow_up],
        lessons=lessons,
    )
    with unit_of_work(database(settings())) as session:
        read = service.write_review(session, operator(), incident, data)
    console.print(f"Review of incident {incident} written: {len(read.follow_ups)} follow-up action(s).")
