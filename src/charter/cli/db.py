"""``charter db``: schema migrations."""

from __future__ import annotations

import typer

from charter.cli.context import console, database, handle_errors, settings
from charter.db import migrate

app = typer.Typer(help="Database schema: upgrade, show the revision.", no_args_is_help=True)


@app.command()
@handle_errors
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database schema to the latest (or the given) revision."""
    db = database(settings(), check=False)
    before = migrate.current_revision(db)
    migrate.upgrade(db, revision)
    after = migrate.current_revision(db)
    if before == after:
        console.print(f"The schema is already at {after}; nothing to do.")
    else:
        console.print(f"Schema upgraded from {before or 'empty'} to {after}.")


@app.command()
@handle_errors
def current() -> None:
    """Show the database's schema revision and the one this version needs."""
    db = database(settings(), check=False)
    now, head = migrate.schema_status(db)
    console.print(f"database: {now or 'empty'}\nrequired: {head}")
    if now != head:
        console.print("[yellow]Out of date: run `charter db upgrade`.[/yellow]")
        raise typer.Exit(1)
