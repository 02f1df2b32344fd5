"""What every command needs: settings, the database, the local operator, and clean failure."""

from __future__ import annotations

import functools
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from charter.audit.service import RequestContext, set_request_context
from charter.config import Settings, get_settings
from charter.db.engine import Database
from charter.db.migrate import check_schema
from charter.errors import CharterError
from charter.security.principal import Principal

console = Console()
err = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        err.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


def operator() -> Principal:
    """The person at the terminal. Holding the database and key files already gives every power,
    so the CLI acts as the local operator, named in the audit trail by their OS account."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal.system(f"cli@{user}")


# Databases opened by the running command; ``handle_errors`` closes them when it ends (this matters
# when commands run in-process, as in tests: an engine left to the garbage collector leaks connections).
_opened: list[Database] = []


def database(config: Settings, *, check: bool = True) -> Database:
    db = Database(config.effective_database_url)
    _opened.append(db)
    if check:
        check_schema(db)
    return db


@contextmanager
def unit_of_work(db: Database) -> Iterator[Session]:
    """One transaction for one command, its audit events carrying a CLI request context."""
    with db.session(write=True) as session:
        set_request_context(session, RequestContext(request_id=None, source_ip="local"))
        yield session


def _record_refusal(db: Database, event: dict[str, object]) -> None:
    """A refusal the service asked to keep (``CharterError.audit``), in a transaction of its own."""
    from charter.audit import service as audit

    with unit_of_work(db) as session:
        audit.record(
            session,
            operator(),
            str(event["action"]),
            resource_type=str(event["resource_type"]),
            resource_id=str(event["resource_id"]),
            outcome=event["outcome"],  # type: ignore[arg-type]
            details=event["details"],  # type: ignore[arg-type]
        )


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command: Charter's errors become a red line and exit code 1 (never a traceback), and the
    databases it opened are closed when it ends."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        depth = len(_opened)
        try:
            return func(*args, **kwargs)
        except CharterError as exc:
            if exc.audit is not None and len(_opened) > depth:
                _record_refusal(_opened[-1], exc.audit)
            err.print(f"[red]Error ({exc.code}):[/red] {exc.message}")
            raise typer.Exit(1) from exc
        finally:
            while len(_opened) > depth:
                _opened.pop().dispose()

    return wrapper


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]Error:[/red] {message}")
    return typer.Exit(code)


def is_interactive() -> bool:
    return sys.stdin.isatty()
