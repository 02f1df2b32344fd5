"""``charter report``: generate, list, download and verify compliance reports.

Each command is one service call in one transaction, as the local operator, audited like its REST twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from charter.cli.context import console, database, err, fail, handle_errors, operator, settings, unit_of_work
from charter.reports.schemas import FORMATS, ReportFormat, ReportRead

app = typer.Typer(
    help="Compliance reports (per model or for the organisation, over a period) as HTML, PDF, JSON and OSCAL: "
    "stored, hashed and recorded in the audit trail, so a reader can check a report was not altered.",
    no_args_is_help=True,
)

FROM_OPTION = typer.Option(None, "--from", help="Start of the period, ISO 8601 (default: 90 days before --to).")
TO_OPTION = typer.Option(None, "--to", help="End of the period, ISO 8601 (default: now).")
FRAMEWORK_OPTION = typer.Option(None, "--framework", "-f", help="A framework to report on (repeatable; default: all).")
FORMAT_OPTION = typer.Option(
    None, "--format", help="html, pdf, json or oscal (repeatable; default: all; JSON is always stored)."
)
OUT_OPTION = typer.Option(None, "--out", "-o", help="Also write the files to this folder.")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise fail(f"{name} must be an ISO 8601 date or time such as 2026-01-31 or 2026-01-31T12:00:00Z.") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _formats(values: list[str] | None) -> list[ReportFormat] | None:
    if not values:
        return None
    unknown = [v for v in values if v not in FORMATS]
    if unknown:
        raise fail(f"unknown format {', '.join(unknown)}; expected {', '.join(FORMATS)}.", 2)
    return [v for v in FORMATS if v in values]


def _show(read: ReportRead) -> None:
    period = f"{read.period.start:%Y-%m-%d} to {read.period.end:%Y-%m-%d}"
    console.print(f"Report [bold]{read.id}[/bold]: {escape(read.title)} ({period}), audit event {read.audit_seq}")
    console.print(f"document SHA-256 {read.document_sha256}")
    table = Table("format", "bytes", "sha256")
    for f in read.files:
        table.add_row(f.format, f"{f.size:,}", f.sha256)
    console.print(table)


def _save(read: ReportRead, out: Path, formats: Sequence[str], *, quiet: bool = False) -> None:
    """Download the stored files (their hashes re-checked on the way) into ``out``."""
    from charter.inventory.artifacts import Protection
    from charter.reports import service

    out.mkdir(parents=True, exist_ok=True)
    config = settings()
    with unit_of_work(database(config)) as session:
        for fmt in formats:
            full, _file, content = service.read_file(session, operator(), Protection(config), read.id, fmt)
            target = out / service.file_name(full, fmt)  # type: ignore[arg-type]
            target.write_bytes(content)
            if not quiet:  # with --json, stdout holds the JSON alone
                console.print(f"Wrote {target}")


def _generate(out: Path | None, as_json: bool, **kwargs: Any) -> None:
    from charter.inventory.artifacts import Protection  # NumPy stays out of other commands (see charter.cli.models)
    from charter.policies import gates
    from charter.reports import service
    from charter.security.keys import load_audit_key

    config = settings()
    protection = Protection(config)
    key = load_audit_key(config.audit_key_file).public_key()
    with unit_of_work(database(config)) as session:
        check = gates.signature_checker(session, protection)
        if kwargs["kind"] == "organisation" and not as_json:
            columns = (TextColumn("evaluating models"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=err, transient=True) as bar:
                task = bar.add_task("models", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                read = service.generate(
                    session, operator(), protection, public_key=key, signature_check=check, progress=progress, **kwargs
                )
        else:
            read = service.generate(session, operator(), protection, public_key=key, signature_check=check, **kwargs)
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
    else:
        _show(read)
    if out is not None:
        _save(read, out, [f.format for f in read.files], quiet=as_json)


@app.command("model")
@handle_errors
def model_report(
    model: str = typer.Argument(..., help="Model name or id."),
    version: str | None = typer.Option(None, help="The version (default: the newest in production)."),
    start: str | None = FROM_OPTION,
    end: str | None = TO_OPTION,
    framework: list[str] | None = FRAMEWORK_OPTION,
    fmt: list[str] | None = FORMAT_OPTION,
    out: Path | None = OUT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A model's report: each requirement with what decided it, gaps (waivers among them), risk, evidence,
    incidents, approvals, waivers and the audit chain's integrity."""
    _generate(
        out,
        as_json,
        kind="model",
        model=model,
        version=version,
        start=_moment(start, "--from"),
        end=_moment(end, "--to"),
        frameworks=framework or None,
        formats=_formats(fmt),
    )


@app.command("org")
@handle_errors
def organisation_report(
    team: str | None = typer.Option(None, help="Only this team's models."),
    start: str | None = FROM_OPTION,
    end: str | None = TO_OPTION,
    framework: list[str] | None = FRAMEWORK_OPTION,
    fmt: list[str] | None = FORMAT_OPTION,
    out: Path | None = OUT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The organisation's report: every model's counts per framework and open gaps, with totals."""
    _generate(
        out,
        as_json,
        kind="organisation",
        team=team,
        start=_moment(start, "--from"),
        end=_moment(end, "--to"),
        frameworks=framework or None,
        formats=_formats(fmt),
    )


@app.command("list")
@handle_errors
def list_reports(
    model: str | None = typer.Option(None, help="Only this model's reports."),
    kind: str | None = typer.Option(None, help="model or organisation."),
    limit: int = typer.Option(50, min=1, max=500, help="How many, newest first."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Stored reports, newest first."""
    from charter.reports import service

    if kind is not None and kind not in ("model", "organisation"):
        raise fail("--kind is model or organisation.", 2)
    with unit_of_work(database(settings())) as session:
        page = service.list_reports(session, operator(), model=model, kind=kind, limit=limit)  # type: ignore[arg-type]
    if as_json:
        typer.echo(page.model_dump_json(indent=2))
        return
    table = Table("id", "generated", "kind", "subject", "period", "formats", "title")
    for r in page.items:
        subject = r.model or r.team or "organisation"
        period = f"{r.period.start:%Y-%m-%d}..{r.period.end:%Y-%m-%d}"
        formats = ",".join(f.format for f in r.files)
        table.add_row(
            str(r.id), f"{r.generated_at:%Y-%m-%d %H:%M}", r.kind, escape(subject), period, formats, escape(r.title)
        )
    console.print(table)


@app.command("download")
@handle_errors
def download(
    report: int = typer.Argument(..., help="Report id."),
    fmt: str = typer.Option("pdf", "--format", help="html, pdf, json or oscal."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Folder to write the file to."),
) -> None:
    """Write a stored report file (its SHA-256 re-checked first: an altered file is refused)."""
    from charter.reports import service

    chosen = _formats([fmt])
    assert chosen is not None
    with unit_of_work(database(settings())) as session:
        read = service.read_report(session, operator(), report)
    _save(read, out, chosen)


@app.command("verify")
@handle_errors
def verify(
    file: Path = typer.Argument(..., help="A report file (HTML, PDF, JSON or OSCAL) as downloaded."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Say which stored report a file is, unaltered, and whether its audit event vouches for it. Exit 1 when it
    matches none (or its audit event was altered)."""
    from charter.reports import service

    if not file.is_file():
        raise fail(f"{file} is not a file.")
    with unit_of_work(database(settings())) as session:
        found = service.verify_file(session, operator(), file.read_bytes())
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
    elif found.matched and found.audit_intact:
        console.print(f"[green]OK[/green]: {escape(found.message)}")
    else:
        err.print(f"[red]NOT VERIFIED[/red]: {escape(found.message)} (SHA-256 {found.sha256})")
    if not (found.matched and found.audit_intact):
        raise typer.Exit(1)
