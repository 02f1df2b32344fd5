"""``charter policy``: policies as code (write, dry-run, move through the lifecycle, waive), as the local operator.

Every command is one service call in one transaction, audited like its REST twin.
"""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work
from charter.policies import documents, facts, service
from charter.policies.schemas import DryRunRequest, PolicyRead, WaiverCreate, WaiverRead

app = typer.Typer(
    help="Policies as code: CEL rules over each model version's facts that gate its lifecycle.", no_args_is_help=True
)
pack_app = typer.Typer(help="The starter policy pack shipped with Charter.", no_args_is_help=True)
app.add_typer(pack_app, name="pack")

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
STATE_COLOURS = {"draft": "dim", "audit": "cyan", "warn": "yellow", "enforce": "red", "review": "magenta"}
STATUS_COLOURS = {"passed": "green", "failed": "red", "error": "red", "waived": "yellow", "not_applicable": "dim"}


def _state(state: str) -> str:
    colour = STATE_COLOURS.get(state, "white")
    return f"[{colour}]{state}[/{colour}]"


def _print_policy(read: PolicyRead) -> None:
    shown = read.effective_state if read.effective_state == read.state else f"{read.effective_state} (due)"
    console.print(f"[bold]{escape(read.id)}[/bold] v{read.version} · {_state(shown)} · {escape(read.title)}")
    if read.pending is not None:
        console.print(
            f"  pending: {read.pending.state} proposed by {read.pending.proposed_by}; needs approval by "
            "another person with policy:approve (`charter policy approve`)"
        )
    if read.review_due_at is not None:
        console.print(f"  review due {read.review_due_at:%Y-%m-%d}")


@app.command("add")
@handle_errors
def add(file: Path = typer.Argument(..., help="A policy document, YAML or JSON.")) -> None:
    """Create a policy from a file (as a draft), or add a new version to a draft policy with the same id."""
    if not file.is_file():
        raise fail(f"{file} is not a file.")
    document = documents.parse_text(file.read_text(encoding="utf-8"), name=str(file))
    with unit_of_work(database(settings())) as session:
        read, created = service.save_policy(session, operator(), document)
    console.print(
        ("Created" if created else "Saved") + f" policy [bold]{escape(read.id)}[/bold] version {read.version}."
    )
    _print_policy(read)


@app.command("list")
@handle_errors
def list_command(
    state: str | None = typer.Option(None, help="Only policies in this (effective) state."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every policy with its state and version."""
    with unit_of_work(database(settings())) as session:
        reads = service.list_policies(session, operator(), state=state)
    if as_json:
        typer.echo("[" + ",".join(r.model_dump_json() for r in reads) + "]")
        return
    table = Table("policy", "version", "state", "rules", "owner", "title")
    for r in reads:
        state_text = r.effective_state + (" (due)" if r.effective_state != r.state else "")
        if r.pending is not None:
            state_text += f" → {r.pending.state}?"
        table.add_row(r.id, str(r.version), _state(state_text), str(len(r.document.rules)), r.owner, escape(r.title))
    console.print(table)


@app.command("show")
@handle_errors
def show(policy: str = typer.Argument(..., help="Policy id."), as_json: bool = JSON_OPTION) -> None:
    """A policy's current document (as YAML), state, pending proposal and history."""
    with unit_of_work(database(settings())) as session:
        read = service.read_policy(session, operator(), policy)
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    _print_policy(read)
    typer.echo(yaml.safe_dump(documents.canonical(read.document), sort_keys=False, allow_unicode=True))
    for t in read.history or []:
        move = f"{t.from_state or '—'} → {t.to_state}" if t.kind in ("state", "propose", "approve") else ""
        console.print(f"  {t.at:%Y-%m-%d %H:%M}Z {t.kind} v{t.version} {move} by {escape(t.actor)}")


@app.command("test")
@handle_errors
def test(
    policy: str = typer.Argument(..., help="Policy id."),
    model: str | None = typer.Option(None, "--model", "-m", help="Only this model's versions."),
    stage: str | None = typer.Option(None, help="Decide as if each version were being promoted to this stage."),
    version: int | None = typer.Option(None, help="The policy version (default: the current one)."),
    show_all: bool = typer.Option(False, "--all", help="Also list versions the policy does not apply to."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Dry run: what the policy would decide for every model version (nothing is recorded)."""
    from charter.inventory.artifacts import Protection  # NumPy stays out of other commands (see charter.cli.models)
    from charter.policies import gates

    try:
        request = DryRunRequest(model=model, stage=stage, version=version, include_not_applicable=show_all)
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
    config = settings()
    with unit_of_work(database(config)) as session:
        check = gates.signature_checker(session, Protection(config))
        result = service.dry_run(session, operator(), policy, request, signature_check=check)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    console.print(
        f"Policy [bold]{escape(result.policy)}[/bold] v{result.version} ({result.state}): applies to "
        f"{result.applies} of {result.evaluated} versions; {result.passed} pass, {result.failed} fail, "
        f"{result.errors} cannot be evaluated."
    )
    table = Table("model", "version", "stage", "outcome", "rules not passed")
    for item in result.items:
        colour = STATUS_COLOURS.get(item.outcome, "white")
        problems = [
            f"{r.rule} ({r.status}{': ' + r.reason if r.reason else ''})" for r in item.rules if r.status != "passed"
        ]
        table.add_row(
            item.model,
            item.version,
            item.stage,
            f"[{colour}]{item.outcome}[/{colour}]",
            escape("; ".join(problems)) or "—",
        )
    console.print(table)


@app.command("state")
@handle_errors
def state(
    policy: str = typer.Argument(..., help="Policy id."),
    target: str = typer.Argument(..., metavar="STATE", help="draft, audit, warn, enforce, review or retired."),
    comment: str | None = typer.Option(None, help="Why."),
) -> None:
    """Move a policy through its lifecycle; `enforce` is a proposal that another person approves."""
    with unit_of_work(database(settings())) as session:
        read = service.change_state(session, operator(), policy, target, comment=comment)
    _print_policy(read)


@app.command("approve")
@handle_errors
def approve(policy: str = typer.Argument(..., help="Policy id."), comment: str | None = typer.Option(None)) -> None:
    """Approve the pending proposal to enforce (four eyes: not its proposer, not the version's author)."""
    with unit_of_work(database(settings())) as session:
        read = service.approve(session, operator(), policy, comment=comment)
    _print_policy(read)


def _print_waiver(w: WaiverRead) -> None:
    colour = {"active": "green", "expired": "yellow", "revoked": "dim"}[w.status]
    console.print(
        f"Waiver {w.id}: {escape(w.policy)}/{escape(w.rule)} for {escape(w.model)} · [{colour}]{w.status}[/{colour}] "
        f"until {w.expires_at:%Y-%m-%d %H:%M}Z · approved by {escape(w.approved_by)}"
    )


@app.command("waive")
@handle_errors
def waive(
    policy: str = typer.Argument(..., help="Policy id."),
    rule: str = typer.Argument(..., help="Rule id within the policy."),
    model: str = typer.Option(..., "--model", "-m", help="The model the exception is for."),
    days: int = typer.Option(..., help="How long it lasts (1 to 365 days)."),
    reason: str = typer.Option(..., help="The justification (at least 10 characters)."),
) -> None:
    """Grant a time-boxed exception to one rule for one model."""
    try:
        data = WaiverCreate(rule=rule, model=model, days=days, reason=reason)
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
    with unit_of_work(database(settings())) as session:
        read = service.grant_waiver(session, operator(), policy, data)
    _print_waiver(read)


@app.command("waivers")
@handle_errors
def waivers(
    policy: str | None = typer.Option(None, help="Only this policy's waivers."),
    model: str | None = typer.Option(None, "--model", "-m", help="Only this model's waivers."),
    status: str | None = typer.Option(None, help="active, expired or revoked."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Waivers, newest first; expired ones stop applying by themselves and are listed as expired."""
    if status is not None and status not in ("active", "expired", "revoked"):
        raise fail("--status takes active, expired or revoked.")
    with unit_of_work(database(settings())) as session:
        reads = service.list_waivers(session, operator(), policy=policy, model=model, status=status)
    if as_json:
        typer.echo("[" + ",".join(r.model_dump_json() for r in reads) + "]")
        return
    if not reads:
        console.print("No waivers.")
    for read in reads:
        _print_waiver(read)


@app.command("revoke")
@handle_errors
def revoke(waiver: int = typer.Argument(..., help="Waiver id."), reason: str = typer.Option(..., help="Why.")) -> None:
    """End a waiver before it expires."""
    if len(reason.strip()) < 3:
        raise fail("--reason needs at least 3 characters.")
    with unit_of_work(database(settings())) as session:
        read = service.revoke_waiver(session, operator(), waiver, reason.strip())
    _print_waiver(read)


@app.command("facts")
def list_facts() -> None:
    """Every fact a policy may read, with its type and meaning (one per line: easy to grep)."""
    for path, type_, doc in facts.reference():
        typer.echo(f"{path}  {type_}  {doc}")


@pack_app.command("install")
@handle_errors
def pack_install() -> None:
    """Load the starter policies as drafts (those that exist already are left alone)."""
    with unit_of_work(database(settings())) as session:
        created, skipped = service.install_pack(session, operator())
    for read in created:
        console.print(f"Installed [bold]{escape(read.id)}[/bold] (draft): {escape(read.title)}")
    for policy_id in skipped:
        console.print(f"Kept [bold]{escape(policy_id)}[/bold]: it exists already.")
    console.print("Dry-run them with `charter policy test ID`, then move them on with `charter policy state ID audit`.")
