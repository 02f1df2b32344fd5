"""``charter training``: courses and who completed them (the ``owners_trained`` fact reads them)."""

from __future__ import annotations

from datetime import datetime

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work
from charter.training import service
from charter.training.schemas import CompletionCreate, CompletionRead, CourseCreate

app = typer.Typer(
    help="Training records: courses, completions per person with expiry (EU AI Act Art. 4 AI literacy).",
    no_args_is_help=True,
)
course_app = typer.Typer(help="Training courses.", no_args_is_help=True)
app.add_typer(course_app, name="course")

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")


def _invalid(exc: ValidationError) -> typer.Exit:
    return fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)))


@course_app.command("add")
@handle_errors
def add_course(
    course_id: str = typer.Argument(..., metavar="ID", help="Course id (lower-case letters, digits, '-')."),
    title: str = typer.Option(..., help="Title."),
    kind: str = typer.Option(..., help="security_awareness, responsible_ai, compliance or incident_response."),
    validity_days: int | None = typer.Option(365, help="How long a completion stays current (0: never expires)."),
    required: bool = typer.Option(False, help="Every owner and approver of a model must hold it."),
    description: str | None = typer.Option(None, help="Free text."),
) -> None:
    """Add a course."""
    try:
        data = CourseCreate.model_validate(
            {
                "id": course_id,
                "title": title,
                "kind": kind,
                "validity_days": validity_days or None,
                "required": required,
                "description": description,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    with unit_of_work(database(settings())) as session:
        read = service.create_course(session, operator(), data)
    validity = f"{read.validity_days} days" if read.validity_days else "never expires"
    console.print(
        f"Added course [bold]{escape(read.id)}[/bold] ({read.kind}, {validity}{', required' if read.required else ''})."
    )


@course_app.command("list")
@handle_errors
def list_courses(as_json: bool = JSON_OPTION) -> None:
    """Every course."""
    with unit_of_work(database(settings())) as session:
        reads = service.list_courses(session, operator())
    if as_json:
        typer.echo("[" + ",".join(r.model_dump_json() for r in reads) + "]")
        return
    table = Table("course", "kind", "validity", "required", "title")
    for r in reads:
        table.add_row(
            r.id, r.kind, f"{r.validity_days} days" if r.validity_days else "—", "yes" if r.required else "", r.title
        )
    console.print(table)


def _print(read: CompletionRead) -> None:
    until = f"until {read.expires_at:%Y-%m-%d}" if read.expires_at else "no expiry"
    state = "current" if read.current else "expired"
    console.print(
        f"{escape(read.person)} completed {escape(read.course)} on {read.completed_at:%Y-%m-%d}: {state}, {until}."
    )


@app.command("record")
@handle_errors
def record(
    person: str = typer.Argument(..., help="The user's name."),
    course: str = typer.Argument(..., help="Course id."),
    completed_at: datetime | None = typer.Option(None, help="When (UTC); default now."),
    expires_at: datetime | None = typer.Option(None, help="When it lapses (UTC); default from the course."),
    note: str | None = typer.Option(None, help="What proves it: certificate, provider."),
) -> None:
    """Record that a user completed a course."""
    try:
        data = CompletionCreate(
            person=person, course=course, completed_at=completed_at, expires_at=expires_at, note=note
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    with unit_of_work(database(settings())) as session:
        read = service.record_completion(session, operator(), data)
    _print(read)


@app.command("list")
@handle_errors
def list_completions(
    person: str | None = typer.Option(None, help="Only this user's."),
    course: str | None = typer.Option(None, help="Only this course's."),
    current: bool = typer.Option(False, help="Only completions not expired."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Completions, newest first."""
    with unit_of_work(database(settings())) as session:
        reads = service.list_completions(session, operator(), person=person, course=course, current_only=current)
    if as_json:
        typer.echo("[" + ",".join(r.model_dump_json() for r in reads) + "]")
        return
    if not reads:
        console.print("No completions.")
    for read in reads:
        _print(read)
