"""``charter``: the command line. Run ``charter --help`` for the groups and commands."""

from __future__ import annotations

import typer

from charter import __version__
from charter.cli import (
    assess,
    audit,
    compliance,
    db,
    drift,
    fairness,
    incidents,
    metrics,
    models,
    monitoring,
    policies,
    reports,
    risk,
    scan,
    server,
    training,
    users,
)

app = typer.Typer(
    name="charter",
    help="Charter: security and governance for enterprise AI. Settings come from CHARTER_* variables "
    "(CHARTER_HOME, CHARTER_DATABASE_URL, CHARTER_SECRET_KEY, ...).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"charter {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Charter: security and governance for enterprise AI."""


server.register(app)
app.add_typer(db.app, name="db")
app.add_typer(users.user_app, name="user")
app.add_typer(users.role_app, name="role")
app.add_typer(users.team_app, name="team")
app.add_typer(users.apikey_app, name="apikey")
app.add_typer(users.token_app, name="token")
app.add_typer(audit.app, name="audit")
app.add_typer(models.model_app, name="model")
app.add_typer(models.dataset_app, name="dataset")
app.add_typer(models.keys_app, name="keys")
app.add_typer(assess.app, name="assess")
app.add_typer(incidents.app, name="incident")
app.add_typer(metrics.app, name="metrics")
app.add_typer(monitoring.app, name="monitor")
app.command("worker")(monitoring.worker_command)
app.add_typer(policies.app, name="policy")
app.add_typer(risk.app, name="risk")
app.add_typer(compliance.app, name="compliance")
app.add_typer(reports.app, name="report")
app.add_typer(training.app, name="training")
scan.register(app)
fairness.register(app)
drift.register(app)


def main() -> None:
    app()
