"""``charter init``, ``charter serve`` and ``charter demo``."""

from __future__ import annotations

import typer
import uvicorn
from rich.table import Table

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work
from charter.config import Settings
from charter.db import migrate
from charter.demo.seed import USERS, is_demo, seed
from charter.identity import bootstrap, service
from charter.security.keyfiles import ensure_key_files
from charter.server.logs import configure_logging


def _init(config: Settings, *, admin_username: str, admin_password: str | None) -> bootstrap.InitResult:
    for item in ensure_key_files(config):
        console.print(f"Created the {item}.")
    db = database(config, check=False)
    before = migrate.current_revision(db)
    migrate.upgrade(db)
    if before != migrate.current_revision(db):
        console.print(f"Database schema created/upgraded at {config.effective_database_url.split('@')[-1]}.")
    with unit_of_work(db) as session:
        return bootstrap.initialise(session, operator(), config, username=admin_username, password=admin_password)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(serve)
    app.command()(demo)


@handle_errors
def init(
    admin_username: str = typer.Option("admin", help="User name of the first administrator."),
    admin_password: str | None = typer.Option(
        None, help="Password of the first administrator (or CHARTER_ADMIN_PASSWORD); generated when absent."
    ),
) -> None:
    """Create CHARTER_HOME, the key files and the database, and the first administrator.

    Running it again on an initialised database changes nothing and says so.
    """
    config = settings()
    password = admin_password or (config.admin_password.get_secret_value() if config.admin_password else None)
    result = _init(config, admin_username=admin_username, admin_password=password)
    if not result.created:
        console.print("Charter is already initialised: accounts exist, nothing was changed.")
        return
    console.print(f"Created the administrator [bold]{result.username}[/bold].")
    if result.password:
        console.print(f"Its password, shown once: [bold]{result.password}[/bold]")


@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, help="Server processes (on SQLite their writes take turns; PostgreSQL scales further)."
    ),
) -> None:
    """Run the API and dashboard server (refuses an out-of-date schema)."""
    config = settings()
    migrate.check_schema(database(config, check=False))
    from charter.server.app import create_app

    # Only now: the JSON log handler replaces the process's logging set-up.
    configure_logging(config.log_level)

    if workers > 1:
        uvicorn.run(
            "charter.server.asgi:app",
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            log_config=None,
            access_log=False,
        )
    else:
        uvicorn.run(create_app(config), host=host, port=port, proxy_headers=True, log_config=None, access_log=False)


@handle_errors
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Start the server after seeding."),
) -> None:
    """Initialise, seed a demo organisation, print the sign-in details, and serve."""
    config = settings()
    result = _init(config, admin_username="admin", admin_password=None)
    db = database(config)
    with unit_of_work(db) as session:
        password = result.password
        if password is None:
            if not is_demo(session):
                # The demo changes the administrator's password: never on someone's real database.
                raise fail(
                    f"The database of {config.home} was not made by `charter demo`, which would change its "
                    "administrator's password. Run `charter serve` for it, or set CHARTER_HOME elsewhere."
                )
            # The demo's own database: fresh one-time credentials for the administrator on every start.
            password = bootstrap.generate_password()
            service.set_password(session, operator(), "admin", password, settings=config)
        seeded = seed(session, operator(), config)
    if seeded.seeded:
        table = Table(title="Demo accounts (passwords shown once)")
        for column in ("user", "role", "password"):
            table.add_column(column)
        for username, _name, role, team in USERS:
            table.add_row(username, f"{role.value}{'@' + team if team else ''}", seeded.passwords[username])
        console.print(table)
        console.print(f"Service account ci-pipeline, API key (shown once): [bold]{seeded.api_key}[/bold]")
        if seeded.models:
            console.print("Trained and registered: " + ", ".join(seeded.models) + " (see /models).")
            # One monitoring round now, so the demo opens with its alerts and incidents in place.
            from charter.monitoring import worker

            done = worker.tick(db, config)
            console.print(
                f"Monitoring: {done.runs} monitor runs, {done.breaches} breaches, "
                f"{done.clock_alerts} overdue deadlines (see /alerts and /incidents)."
            )
        if seeded.data_missing:
            console.print(
                "[yellow]The reference data (adult.csv, compas_two_years.csv) was not found: no demo models. "
                "Set CHARTER_DEMO_DATA to its folder.[/yellow]"
            )
    url = f"http://{host}:{port}/"
    console.rule("Charter demo")
    console.print(f"Open [bold]{url}[/bold]")
    console.print(f"Sign in as [bold]admin[/bold] with the one-time password [bold]{password}[/bold]")
    if serve_after:
        serve(host=host, port=port, workers=1)
