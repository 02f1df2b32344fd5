"""``charter monitor`` (define, list and run monitors; alerts; channels) and ``charter worker``.

Commands act as the local operator, one service call in one transaction, audited like their REST
twins. ``charter worker`` runs the monitoring rounds that ``charter serve`` otherwise runs in
process; start several against PostgreSQL and each monitor run still happens once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work

app = typer.Typer(help="Monitors: metric thresholds, drift, fairness and data quality; alerts.", no_args_is_help=True)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")


def _config(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    raw = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise fail(f"--config is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise fail("--config must be a JSON object.")
    return value


@app.command("add")
@handle_errors
def add(
    model: str = typer.Argument(..., help="Model name or id."),
    name: str = typer.Argument(..., help="The monitor's name (unique per model)."),
    kind: str = typer.Option(..., help="metric_threshold, drift, fairness or data_quality."),
    config: str | None = typer.Option(
        None, help='The kind\'s settings as JSON, or @FILE: e.g. \'{"metric": "accuracy", "op": ">=", "value": 0.8}\'.'
    ),
    reference: Path | None = typer.Option(
        None, exists=True, help="drift: the reference data (CSV or Parquet); its profile is computed here."
    ),
    columns: str | None = typer.Option(None, help="drift: the columns to compare, comma-separated (default: all)."),
    version: str | None = typer.Option(None, help="The version watched (default: the one in production)."),
    interval: int | None = typer.Option(3600, help="Seconds between runs (0: only on ingestion and on demand)."),
    on_ingest: bool = typer.Option(False, "--on-ingest", help="Also run when decisions or metric points arrive."),
    severity: str = typer.Option("SEV3", help="Severity of its alerts and incidents (SEV1 worst to SEV4)."),
    no_incident: bool = typer.Option(False, "--no-incident", help="Alert without opening an incident."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a monitor to MODEL. A breach fires an alert and (unless --no-incident) opens or joins an incident."""
    from charter.monitoring import service
    from charter.monitoring.schemas import MonitorCreate

    body = _config(config)
    picked = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if reference is not None:
        from charter.compute.drift import profile

        with console.status(f"Profiling {reference.name}"):
            body["reference_profile"] = profile(reference, columns=picked, max_exact_rows=10_000).to_dict()
    if picked and kind == "drift":
        body.setdefault("columns", picked)
    request = {
        "name": name,
        "kind": kind,
        "config": body,
        "version": version,
        "interval": interval or None,
        "on_ingest": on_ingest,
        "severity": severity,
        "open_incident": not no_incident,
    }
    try:
        data = TypeAdapter(MonitorCreate).validate_python(request)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'input'}: {e['msg']}" for e in exc.errors())
        raise fail(problems) from exc
    with unit_of_work(database(settings())) as session:
        read = service.create_monitor(session, operator(), model, data)
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    every = f"every {read.interval} s" if read.interval else "on demand"
    console.print(f"Monitor [bold]{escape(read.name)}[/bold] on {escape(read.model)} ({read.kind}, {every}).")


@app.command("list")
@handle_errors
def list_(model: str = typer.Argument(..., help="Model name or id."), as_json: bool = JSON_OPTION) -> None:
    """The monitors of MODEL and how their last run went."""
    from charter.monitoring import service

    with unit_of_work(database(settings())) as session:
        found = service.list_monitors(session, operator(), model)
    if as_json:
        typer.echo(json.dumps([m.model_dump(mode="json") for m in found], indent=2))
        return
    table = Table("name", "kind", "version", "every", "last run", "status", "value")
    for m in found:
        table.add_row(
            escape(m.name),
            m.kind,
            m.version or "production",
            f"{m.interval} s" if m.interval else "-",
            f"{m.last_run_at:%Y-%m-%d %H:%M}" if m.last_run_at else "-",
            m.last_status or "-",
            "-" if m.last_value is None else f"{m.last_value:.4g}",
        )
    console.print(table)


@app.command("run")
@handle_errors
def run(
    model: str = typer.Argument(..., help="Model name or id."),
    name: str | None = typer.Argument(None, help="The monitor (default: all of the model's)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run MODEL's monitors now (or only NAME); breaches fire alerts as scheduled runs do."""
    from charter.monitoring import service, worker
    from charter.security.permissions import Permission

    config = settings()
    db = database(config)
    with unit_of_work(db) as session:
        if name is not None:
            ids = [service.monitor_for(session, operator(), model, name, Permission.MONITOR_WRITE).id]
        else:
            ids = [m.id for m in service.list_monitors(session, operator(), model)]
    runs = worker.run_now(db, config, ids, actor=operator())
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
        return
    colours = {"ok": "green", "breach": "red", "error": "yellow"}
    for r in runs:
        console.print(f"[{colours[r.status]}]{r.status}[/] monitor {r.monitor_id}: {escape(r.message)}")


@app.command("alerts")
@handle_errors
def alerts(
    model: str | None = typer.Option(None, help="Only this model's."),
    status: str | None = typer.Option(None, help="firing or resolved."),
    limit: int = typer.Option(50, min=1, max=500),
    as_json: bool = JSON_OPTION,
) -> None:
    """Alerts, newest first."""
    from charter.monitoring import service

    with unit_of_work(database(settings())) as session:
        found = service.list_alerts(session, operator(), model_ref=model, status=status, limit=limit).items
    if as_json:
        typer.echo(json.dumps([a.model_dump(mode="json") for a in found], indent=2))
        return
    table = Table("id", "status", "severity", "title", "seen", "incident")
    for a in found:
        table.add_row(
            str(a.id),
            a.status,
            a.severity,
            escape(a.title),
            f"{a.occurrences}x, last {a.last_seen:%Y-%m-%d %H:%M}",
            str(a.incident_id or "-"),
        )
    console.print(table)


@app.command("channel")
@handle_errors
def channel(
    name: str = typer.Argument(...),
    kind: str = typer.Option(..., help="webhook, slack or email."),
    target: str = typer.Option(..., help="The URL, or the e-mail address."),
    secret: str | None = typer.Option(None, help="webhook: HMAC-SHA256 signing secret (at least 16 characters)."),
    min_severity: str = typer.Option("SEV4", help="Send alerts at least this severe."),
) -> None:
    """Add a notification channel: every alert at least MIN_SEVERITY is sent there, with retries."""
    from charter.monitoring import service
    from charter.monitoring.schemas import ChannelCreate

    try:
        data = ChannelCreate(name=name, kind=kind, target=target, secret=secret, min_severity=min_severity)
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
    config = settings()
    with unit_of_work(database(config)) as session:
        read = service.create_channel(session, operator(), config, data)
    console.print(f"Channel [bold]{escape(read.name)}[/bold] ({read.kind}{', signed' if read.signed else ''}).")


def worker_command(
    once: bool = typer.Option(False, "--once", help="One round, then exit."),
    interval: float = typer.Option(30.0, min=0.1, help="Seconds between rounds."),
) -> None:
    """Run monitoring rounds: due monitors, overdue incident deadlines, notifications (Ctrl-C stops).

    `charter serve` runs the same rounds in process every CHARTER_WORKER_INTERVAL seconds; run this
    instead (with CHARTER_WORKER_INTERVAL=0 on the servers) to scale them out. Several workers on
    PostgreSQL share the work: each monitor run and each notification happens once.
    """
    from charter.monitoring import worker

    @handle_errors
    def loop() -> None:
        config = settings()
        db = database(config)
        name = worker.worker_name()
        console.print(f"Worker {name} on {db.engine.url.render_as_string(hide_password=True)}")
        while True:
            done = worker.tick(db, config, worker=name)
            if done.runs or done.clock_alerts or done.delivered or done.failed:
                console.print(
                    f"{time.strftime('%H:%M:%S')} runs {done.runs} (breaches {done.breaches}), deadline alerts "
                    f"{done.clock_alerts}, notifications sent {done.delivered}, failed {done.failed}"
                )
            if once:
                return
            time.sleep(interval)

    try:
        loop()
    except KeyboardInterrupt:
        console.print("Stopped.")
