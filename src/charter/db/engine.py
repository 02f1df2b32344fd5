"""Engine and sessions.

The request (or CLI command) owns the transaction: ``Database.session()``
yields one session, commits once at the end, rolls back on any error.
Services flush, never commit.

SQLite is opened in WAL mode with foreign keys on. Writing transactions
start with ``BEGIN IMMEDIATE`` so that two writers never both read a stale
snapshot and then collide (SQLite would refuse the second upgrade with
SQLITE_BUSY). Read-only sessions start a plain deferred ``BEGIN`` and never
take the write lock, so dashboard and API reads do not queue behind writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

WRITE_OPTION = "charter_write"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # No limit on connections to a file: a SQLite connection is a file handle, not a server
        # resource, and a bounded pool deadlocks the server under load. A request's session is
        # opened in one worker thread and used in others (FastAPI's dependency, then the route);
        # once every thread waits for a pooled connection, the requests holding connections wait
        # for a free thread until the pool times out (30 s) and they fail (seen in
        # benchmarks/bench_api.py at 200 requests/s with the default 5 + 10 connections).
        kwargs = {"pool_size": 20, "max_overflow": -1, **kwargs}
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def committed(session: Session) -> Iterator[Session]:
    """``session`` committed when the block ends, rolled back if it raises, closed either way."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Database:
    """One engine and the sessions made from it."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        if is_sqlite(self.url):
            self.engine = _sqlite_engine(self.url, echo=echo)
        else:
            # As many connections as the server has request threads (anyio's default, 40): a request's
            # session is opened in one thread and finished in another, so with fewer connections every
            # thread could end up waiting for one while the requests holding them wait for a thread.
            self.engine = create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=30)
        self._write_bind = self.engine.execution_options(**{WRITE_OPTION: True})
        self._read_bind = self.engine.execution_options(**{WRITE_OPTION: False})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def new_session(self, *, write: bool = True) -> Session:
        """A session the caller must commit or roll back and close (prefer ``session()``)."""
        bind = self._write_bind if write else self._read_bind
        return Session(bind=bind, expire_on_commit=False, info={"write": write})

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: commit at the end, roll back on error."""
        with committed(self.new_session(write=write)) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
