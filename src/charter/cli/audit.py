"""``charter audit``: verify, checkpoint, export and read the audit trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from charter.audit import service
from charter.audit.schemas import AuditFilter
from charter.cli.context import console, database, err, fail, handle_errors, operator, settings, unit_of_work
from charter.config import write_private_file
from charter.security.audit_chain import Checkpoint
from charter.security.keys import load_audit_key, load_public_key, public_key_pem

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


def _read_checkpoint(path: Path) -> Checkpoint:
    try:
        return Checkpoint.from_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read the checkpoint {path}: {exc}", 2) from exc


@app.command()
@handle_errors
def verify(
    checkpoint: list[Path] = typer.Option([], "--checkpoint", "-c", help="A checkpoint file you kept (repeatable)."),
    public_key: Path | None = typer.Option(
        None,
        help="PEM public key to check signatures with (default: the server's audit key in CHARTER_HOME).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Verify the whole chain and its checkpoints. Exit 0 when intact; 1 names the first bad event."""
    config = settings()
    key = load_public_key(public_key) if public_key else load_audit_key(config.audit_key_file).public_key()
    trusted = [_read_checkpoint(p) for p in checkpoint]
    with unit_of_work(database(config)) as session:
        report = service.verify_as(session, operator(), public_key=key, trusted=trusted)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    elif report.ok:
        console.print(
            f"[green]OK[/green]: {report.size} events intact, {report.checkpoints_checked} checkpoints "
            f"consistent (head {report.head_hash[:16]}…, {report.seconds:.2f} s)."
        )
    else:
        assert report.fault is not None
        err.print(f"[red]FAULT[/red] at seq {report.fault.seq} ({report.fault.kind}): {report.fault.message}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
@handle_errors
def make_checkpoint(
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Also write the checkpoint to this file "
        "(keep it outside the server: it is what detects truncation and rollback).",
    ),
) -> None:
    """Sign the current head of the chain with the audit key."""
    config = settings()
    key = load_audit_key(config.audit_key_file)
    with unit_of_work(database(config)) as session:
        made = service.checkpoint(session, operator(), key=key, origin=f"{config.jwt_issuer}/audit")
    text = Checkpoint(**made.model_dump()).to_json()
    if out:
        write_private_file(out, text.encode())
        console.print(f"Checkpoint of {made.size} events written to {out}.")
    else:
        typer.echo(text, nl=False)


@app.command()
@handle_errors
def export(
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default: standard output)."),
    since_seq: int = typer.Option(0, min=0, help="Only events after this seq."),
) -> None:
    """Export events as JSON lines {seq, body, prev_hash, hash}: verifiable without Charter."""
    db = database(settings())
    with unit_of_work(db) as session:
        service.record_export(session, operator(), since_seq=since_seq)
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    count = 0
    try:
        with db.session(write=False) as session:
            for line in service.stream_lines(session, since_seq=since_seq):
                stream.write(line)
                count += 1
    finally:
        if out:
            stream.close()
    if out:
        console.print(f"{count} events written to {out}.")


@app.command("public-key")
@handle_errors
def public_key() -> None:
    """Print the audit key's public half (PEM), for verifiers who must not hold the private key."""
    typer.echo(public_key_pem(load_audit_key(settings().audit_key_file).public_key()), nl=False)


@app.command("list")
@handle_errors
def list_events(
    actor: str | None = typer.Option(None, help="e.g. user:alice"),
    action: str | None = typer.Option(None, help="e.g. role.grant"),
    resource_type: str | None = typer.Option(None),
    since: str | None = typer.Option(None, help="ISO 8601 time"),
    limit: int = typer.Option(30, min=1, max=500),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """Show the newest events."""
    filters = AuditFilter(actor=actor, action=action, resource_type=resource_type, since=since)
    with unit_of_work(database(settings())) as session:
        page = service.list_events(session, operator(), filters, limit=limit)
    if as_json:
        for event in page.items:
            typer.echo(json.dumps(event.model_dump(), sort_keys=True))
        return
    table = Table("seq", "time (UTC)", "actor", "action", "resource", "outcome")
    for e in page.items:
        table.add_row(
            str(e.seq),
            e.ts[:19].replace("T", " "),
            e.actor,
            e.action,
            f"{e.resource_type} {e.resource_id or ''}".strip(),
            e.outcome,
        )
    console.print(table)
