"""``charter compliance``: frameworks, a model's status and history, attestations, impact assessments.

Every command is one service call in one transaction, as the local operator, audited like its REST twin.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work
from charter.compliance import frameworks, service
from charter.compliance.schemas import AttestationCreate, AttestationRead, DpiaForm, FriaForm

app = typer.Typer(
    help="Compliance: frameworks as data (EU AI Act, GDPR, NIST AI RMF, ISO/IEC 42001 and yours), each model's "
    "status with the evidence that decided it, attestations and impact assessments.",
    no_args_is_help=True,
)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
STATUS_COLOURS = {
    "satisfied": "green",
    "attested": "green",
    "not_satisfied": "red",
    "expired": "yellow",
    "not_applicable": "dim",
}


def _status(name: str) -> str:
    colour = STATUS_COLOURS.get(name, "white")
    return f"[{colour}]{name}[/{colour}]"


def _invalid(exc: ValidationError) -> typer.Exit:
    return fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)))


def _data(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise fail(f"{file} is not a file.")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise fail(f"{file} is not valid YAML or JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise fail(f"{file} must hold a mapping.")
    return data


@app.command("frameworks")
@handle_errors
def list_frameworks(as_json: bool = JSON_OPTION) -> None:
    """The frameworks: shipped with Charter, then added by users."""
    with unit_of_work(database(settings())) as session:
        reads = service.list_frameworks(session, operator())
    if as_json:
        typer.echo("[" + ",".join(r.model_dump_json() for r in reads) + "]")
        return
    table = Table("framework", "edition", "requirements", "origin", "title")
    for r in reads:
        origin = "shipped" if r.builtin else f"v{r.revision} by {r.created_by}"
        table.add_row(r.id, escape(r.version), str(r.requirements), escape(origin), escape(r.title))
    console.print(table)


@app.command("show")
@handle_errors
def show(framework: str = typer.Argument(..., help="Framework id."), as_json: bool = JSON_OPTION) -> None:
    """A framework's requirements, where each applies and what satisfies it."""
    with unit_of_work(database(settings())) as session:
        read = service.read_framework(session, operator(), framework)
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    console.print(f"[bold]{escape(read.title)}[/bold] ({escape(read.version)}), {escape(read.source)}")
    table = Table("requirement", "title", "applies", "satisfied by")
    for r in read.document.requirements:
        by = r.satisfied_by
        parts = [*by.policy_rules, *("evidence " + " or ".join(e.kinds) for e in by.evidence)]
        parts += [f"check {c.id}" for c in by.checks]
        if by.effective_attestation() is not None:
            parts.append("attestation")
        table.add_row(r.id, escape(r.title), escape(r.applies), escape(", ".join(parts)))
    console.print(table)


@app.command("add")
@handle_errors
def add(file: Path = typer.Argument(..., help="A framework document, YAML or JSON.")) -> None:
    """Add your own framework, or a new version of one you added (checked: expressions and references)."""
    if not file.is_file():
        raise fail(f"{file} is not a file.")
    document = frameworks.parse_text(file.read_text(encoding="utf-8"), name=str(file))
    with unit_of_work(database(settings())) as session:
        read, created = service.save_framework(session, operator(), document)
    verb = "Added" if created else "Saved"
    console.print(
        f"{verb} framework [bold]{escape(read.id)}[/bold] version {read.revision}: {read.requirements} requirements."
    )


@app.command("status")
@handle_errors
def status(
    model: str = typer.Argument(..., help="Model name or id."),
    version: str | None = typer.Option(None, help="The version (default: the newest in production)."),
    framework: str | None = typer.Option(None, "--framework", "-f", help="Only this framework."),
    show_all: bool = typer.Option(False, "--all", help="Also list requirements that do not apply."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Each requirement's status for a model, what decided it, and the open gaps (waived rules among them)."""
    from charter.inventory.artifacts import Protection  # NumPy stays out of other commands (see charter.cli.models)
    from charter.policies import gates

    config = settings()
    with unit_of_work(database(config)) as session:
        check = gates.signature_checker(session, Protection(config))
        result = service.status_for_model(session, operator(), model, version, framework, signature_check=check)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    console.print(
        f"[bold]{escape(result.model)}[/bold] {escape(result.version)} ({result.stage}, risk tier "
        f"{result.risk_tier or 'not assessed'}) at {result.evaluated_at:%Y-%m-%d %H:%M}Z"
    )
    for fw in result.frameworks:
        counts = ", ".join(f"{n} {s}" for s, n in fw.counts.items() if n)
        console.print(f"\n[bold]{escape(fw.title)}[/bold] ({fw.framework}): {counts}")
        table = Table("requirement", "status", "why")
        for r in fw.requirements:
            if r.status == "not_applicable" and not show_all:
                continue
            why = "; ".join(f"{f.ref}: {f.outcome}" for f in r.why if f.kind != "applicability") or "—"
            table.add_row(r.id, _status(r.status) + (" (waived)" if r.waived else ""), escape(why))
        console.print(table)
    if result.gaps:
        console.print(f"\n[bold]Open gaps ({len(result.gaps)})[/bold]")
        for gap in result.gaps:
            where = f"{gap.framework} {gap.requirement} ({gap.kind}) {gap.ref}"
            console.print(f"  {escape(where)}: {escape(gap.detail)}")


@app.command("history")
@handle_errors
def history(
    model: str = typer.Argument(..., help="Model name or id."),
    framework: str | None = typer.Option(None, "--framework", "-f", help="Only this framework."),
    limit: int = typer.Option(50, min=1, max=1000, help="At most this many entries."),
    as_json: bool = JSON_OPTION,
) -> None:
    """A model's compliance over time: one entry each time a status changed, newest first."""
    with unit_of_work(database(settings())) as session:
        reads = service.history(session, operator(), model, framework, limit=limit)
    if as_json:
        typer.echo("[" + ",".join(r.model_dump_json() for r in reads) + "]")
        return
    if not reads:
        console.print("No history yet: `charter compliance status MODEL` records it.")
    for r in reads:
        counts = ", ".join(f"{n} {s}" for s, n in r.counts.items() if n)
        console.print(f"{r.evaluated_at:%Y-%m-%d %H:%M}Z {r.framework} {r.version or '-'}: {counts}")
        for c in r.changes:
            console.print(f"  {escape(c.requirement)}: {c.before or '—'} → {c.after or '—'}")


def _print_attestation(read: AttestationRead) -> None:
    scope = read.model or "the organisation"
    document = f" · document {read.document.name} ({read.document.size:,} bytes)" if read.document else ""
    state = "current" if read.current else "expired"
    console.print(
        f"Attestation {read.id}: {read.framework} {escape(read.requirement)} for {escape(scope)} · {state} until "
        f"{read.valid_until:%Y-%m-%d}{escape(document)} · by {escape(read.created_by)}"
    )


@app.command("attest")
@handle_errors
def attest(
    framework: str = typer.Argument(..., help="Framework id."),
    requirement: str = typer.Argument(..., help="Requirement id, e.g. 'Art. 9' or A.2.2."),
    statement: str = typer.Option(..., help="What is attested and how it was checked."),
    model: str | None = typer.Option(None, "--model", "-m", help="The model (default: organisation-wide)."),
    valid_until: datetime | None = typer.Option(None, help="When it lapses (UTC); default from the requirement."),
    document: Path | None = typer.Option(None, help="A supporting document (stored encrypted)."),
) -> None:
    """Attest that a requirement is met, for a model or the whole organisation."""
    from charter.compliance import attestations
    from charter.inventory.artifacts import Protection

    try:
        data = AttestationCreate(
            framework=framework, requirement=requirement, statement=statement, model=model, valid_until=valid_until
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    if document is not None and not document.is_file():
        raise fail(f"{document} is not a file.")
    config = settings()
    with unit_of_work(database(config)) as session:
        read = attestations.attest(
            session,
            operator(),
            Protection(config),
            data,
            document=document,
            document_name=document.name if document else None,
        )
    _print_attestation(read)


@app.command("attestations")
@handle_errors
def list_attestations(
    model: str | None = typer.Option(None, "--model", "-m", help="This model's, and the organisation-wide ones."),
    framework: str | None = typer.Option(None, "--framework", "-f", help="Only this framework's."),
    current: bool = typer.Option(False, help="Only those not expired."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Attestations, newest first."""
    from charter.compliance import attestations

    with unit_of_work(database(settings())) as session:
        reads = attestations.list_attestations(
            session, operator(), model=model, framework=framework, current_only=current
        )
    if as_json:
        typer.echo("[" + ",".join(r.model_dump_json() for r in reads) + "]")
        return
    if not reads:
        console.print("No attestations.")
    for read in reads:
        _print_attestation(read)


def _assessment(kind: str, model: str, version: str, file: Path) -> None:
    from charter.compliance import assessments

    try:
        form = (DpiaForm if kind == "dpia" else FriaForm).model_validate(_data(file))
    except ValidationError as exc:
        raise _invalid(exc) from exc
    with unit_of_work(database(settings())) as session:
        if isinstance(form, DpiaForm):
            read = assessments.record_dpia(session, operator(), model, version, form)
        else:
            read = assessments.record_fria(session, operator(), model, version, form)
    verdict = "passed" if read.passed else "residual risk high"
    console.print(
        f"Recorded {kind} evidence {read.id} on {escape(model)} {escape(version)}: {escape(read.title)} ({verdict})."
    )


@app.command("dpia")
@handle_errors
def dpia(
    model: str = typer.Argument(..., help="Model name or id."),
    version: str = typer.Argument(..., help="Version."),
    file: Path = typer.Argument(..., help="The assessment (YAML or JSON) with the sections of GDPR Art. 35(7)."),
) -> None:
    """Record a data protection impact assessment (GDPR Art. 35) as `dpia` evidence on a version."""
    _assessment("dpia", model, version, file)


@app.command("fria")
@handle_errors
def fria(
    model: str = typer.Argument(..., help="Model name or id."),
    version: str = typer.Argument(..., help="Version."),
    file: Path = typer.Argument(..., help="The assessment (YAML or JSON) with the sections of EU AI Act Art. 27(1)."),
) -> None:
    """Record a fundamental rights impact assessment (EU AI Act Art. 27) as `fria` evidence on a version."""
    _assessment("fria", model, version, file)
