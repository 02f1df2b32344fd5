"""A SQL query as the data of a fairness assessment: run by DuckDB in process, or by a database.

    query = SqlQuery(
        "SELECT d.outcome, d.output, a.race FROM read_parquet('log/**/*.parquet', hive_partitioning=true) AS d "
        "JOIN read_parquet('attributes.parquet') AS a USING (decision_id) WHERE d.day >= $since",
        params={"since": "2026-01-01"},
    )
    stats = compute_statistics(query, y_true="outcome", y_pred="output", sensitive_features="race")

The roles name the query's result columns. Where the query runs, and how its rows arrive:

* ``url=None``: DuckDB, in memory, in this process (so the query can read Parquet and CSV files).
  ``engine="duckdb"`` runs the aggregation in DuckDB over the query as a subquery: nothing but the
  few grouped rows comes back to Python. ``engine="numpy"`` streams the result as Arrow record
  batches (``chunk_rows`` rows each, default 1,000,000) into the numpy engine, merging batch by
  batch. Both give the same :class:`GroupStats`. Parameters are DuckDB's named ``$name``. DuckDB
  downloads no extension for a query (``autoinstall_known_extensions`` is off): its ``sqlite_scan``
  or ``postgres_scan`` need the internet the first time, so pass ``url`` instead.
* ``url`` a SQLAlchemy URL of a SQLite file or a PostgreSQL database: the query runs there and the
  rows stream through a server-side cursor (PostgreSQL) or SQLite's own row-at-a-time cursor, in
  batches of ``chunk_rows`` rows (default 100,000) into the numpy engine, so memory stays flat
  whatever the result's size. Parameters are SQLAlchemy's ``:name`` (write a literal colon
  before a word as ``\\:``). The connection is read-only (``PRAGMA query_only``; a read-only
  PostgreSQL transaction) and is rolled back: a query cannot change the database. Only the numpy
  engine reads from a URL.
* ``engine="spark"`` (no ``url``): ``spark.sql(sql, args=params)`` in the active Spark session, or
  a local one started for the call; parameters are Spark's named ``:name``.

Every failure of the query (bad SQL, an unknown table or column, an unreachable database, a value
that does not convert) is an ``InvalidInput`` carrying the engine's message; a password in the URL
never appears in a message, a ``repr`` or a fingerprint. SQLAlchemy (Core, no ORM) and DuckDB are
imported only when a query runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from charter.compute.fairness.inputs import (
    Column,
    Columns,
    Progress,
    Roles,
    check_columns,
    reader_batches,
    role_columns,
)
from charter.errors import InvalidInput

if TYPE_CHECKING:
    import duckdb

__all__ = ["SqlQuery"]

ARROW_CHUNK_ROWS = 1_000_000  # rows per Arrow batch from DuckDB: columnar, a few bytes a value
DATABASE_CHUNK_ROWS = 100_000  # rows per batch from a database: Python tuples, about 100 bytes a value
SUBQUERY_ALIAS = "charter_query"
# An error of one of the query's sources (bad SQL, unknown table or column, unreadable database).
# The CLI tells these apart from the data's own errors (labels that are not binary) by this mark.
SOURCE_ERROR = {"source": "query"}
_SUPPORTED = ("sqlite", "postgresql")
_MESSAGE_LIMIT = 2000


@dataclass(frozen=True, repr=False)
class SqlQuery:
    """A query whose result columns are the data: run by DuckDB (``url=None``) or by the database at ``url``.

    ``sql`` is one SELECT (or WITH ... SELECT) statement; ``params`` its named parameters: ``$name``
    in DuckDB, ``:name`` with a ``url`` and in Spark. ``url`` is a SQLAlchemy URL of a SQLite file
    (``sqlite:///path/to.db``) or a PostgreSQL database (``postgresql://user:password@host/db``).
    See the module docstring for where each engine runs it.
    """

    sql: str
    url: str | None = None
    params: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.sql, str) or not self.statement:
            raise InvalidInput("SqlQuery needs the text of a query (sql='SELECT ...')")
        if self.url is not None and (not isinstance(self.url, str) or not self.url.strip()):
            raise InvalidInput("SqlQuery's url must be a SQLAlchemy database URL or None")
        if self.params is not None and (
            not isinstance(self.params, Mapping) or not all(isinstance(k, str) for k in self.params)
        ):
            raise InvalidInput("SqlQuery's params must map parameter names (text) to values")

    @property
    def statement(self) -> str:
        """The SQL without trailing semicolons, so that it can be wrapped in a subquery."""
        return self.sql.strip().rstrip(";").rstrip() if isinstance(self.sql, str) else ""

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(self.params or {})

    def safe_url(self) -> str | None:
        """The URL with its password shown as ``***`` (for messages), or None without a URL."""
        return None if self.url is None else _render(self.url, hide=True)

    def describe(self) -> str:
        """How messages name the query: "the SQL query" (in DuckDB) or "the SQL query on <url>"."""
        url = self.safe_url()
        return "the SQL query" if url is None else f"the SQL query on {url}"

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the SQL text, a NUL byte and the URL without its password (empty
        without a URL): the same query on the same database gives the same fingerprint whatever
        the password. Parameters are not part of it."""
        url = "" if self.url is None else _render(self.url, hide=False, drop_password=True)
        return "sha256:" + hashlib.sha256(self.sql.encode() + b"\0" + url.encode()).hexdigest()

    def __repr__(self) -> str:  # never the password (reprs end up in logs and tracebacks)
        params = None if self.params is None else sorted(self.params)
        return f"SqlQuery(sql={self.sql!r}, url={self.safe_url()!r}, params={params!r})"


def _render(url: str, *, hide: bool, drop_password: bool = False) -> str:
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "<not a database URL>"  # it may hold a password in a shape we cannot find: not shown
    if drop_password:  # (URL.set(password=None) would leave the password as it is)
        parsed = URL.create(
            parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
        )
    return parsed.render_as_string(hide_password=hide)


def subquery(query: SqlQuery) -> str:
    """The query as a derived table; the newlines keep a trailing ``-- comment`` from eating the ``)``."""
    return f"(\n{query.statement}\n) AS {SUBQUERY_ALIAS}"


def _first_lines(message: str) -> str:
    """An engine's message without the plan or traceback some engines append after a blank line."""
    text = message.strip().split("\n\n", 1)[0].strip()
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def query_error(query: SqlQuery, exc: BaseException) -> InvalidInput:
    """The engine's message, as an ``InvalidInput`` marked as the query's (``SOURCE_ERROR``)."""
    message = f"cannot run {query.describe()}: {_first_lines(str(exc))}"
    if query.url is None and "extension" in message.lower():
        message += (
            " (Charter installs no DuckDB extension while it assesses; to query a SQLite or PostgreSQL "
            "database, give its URL instead)"
        )
    return InvalidInput(message, details=dict(SOURCE_ERROR))


# -- DuckDB in process --------------------------------------------------------------------------------


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB for one query."""
    import duckdb

    con = duckdb.connect()
    # DuckDB draws its progress bar on stdout, even when it is not a terminal: into `--format json`.
    con.execute("SET enable_progress_bar = false")
    # A query may name an extension that is not installed (sqlite_scan, httpfs): fail at once instead
    # of downloading code from the internet in the middle of an assessment.
    con.execute("SET autoinstall_known_extensions = false")
    return con


def is_query_error(exc: BaseException) -> bool:
    """Whether DuckDB's error is the query's (bad SQL, no such file, a failed cast) and not the machine's."""
    import duckdb

    fatal = (duckdb.OutOfMemoryException, duckdb.InternalException, duckdb.FatalException, duckdb.InterruptException)
    return isinstance(exc, duckdb.Error) and not isinstance(exc, fatal)


def duckdb_columns(con: duckdb.DuckDBPyConnection, query: SqlQuery) -> dict[str, str]:
    """The query's result columns and their DuckDB types (the query is planned, not run)."""
    import duckdb

    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {subquery(query)}", query.arguments).fetchall()  # noqa: S608
    except duckdb.Error as exc:
        if not is_query_error(exc):
            raise
        raise query_error(query, exc) from exc
    return {str(row[0]): str(row[1]) for row in described}


def duckdb_batches(
    query: SqlQuery, roles: Roles, *, chunk_rows: int | None, progress: Progress | None
) -> Generator[Columns, None, None]:
    """The query's needed columns from DuckDB, as Arrow record batches of ``chunk_rows`` rows.

    DuckDB streams the result (its ``to_arrow_reader`` pulls one batch at a time), so only a batch
    is in Python's memory at once; the query's own joins and sorts spill to disk as DuckDB decides.
    """
    import duckdb

    from charter.compute.fairness.engines.duckdb_engine import quote

    con = duckdb_connection()
    try:
        check_columns(list(duckdb_columns(con, query)), roles)
        select = ", ".join(quote(name) for name in roles.columns)
        try:
            relation = con.sql(f"SELECT {select} FROM {subquery(query)}", params=query.arguments)  # noqa: S608
            reader = relation.to_arrow_reader(chunk_rows or ARROW_CHUNK_ROWS)
            yield from _guarded(reader_batches(reader, roles, progress=progress), query)
        except duckdb.Error as exc:
            if not is_query_error(exc):
                raise
            raise query_error(query, exc) from exc
    finally:
        con.close()


def _guarded(batches: Iterator[Columns], query: SqlQuery) -> Iterator[Columns]:
    """DuckDB's errors while streaming (a value that does not convert, far into the result) reach
    Python through Arrow's reader, as Arrow errors carrying DuckDB's message."""
    try:
        yield from batches
    except (pa.ArrowException, OSError) as exc:  # Arrow raises a plain OSError for a failed C stream
        raise query_error(query, exc) from exc


# -- a database by URL --------------------------------------------------------------------------------


def _engine_url(query: SqlQuery) -> Any:
    """The parsed URL, checked: SQLite (an existing file) or PostgreSQL (through psycopg 3)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    assert query.url is not None
    try:
        url = make_url(query.url)
    except (ArgumentError, ValueError) as exc:
        raise InvalidInput(
            "not a database URL: give a SQLAlchemy URL such as sqlite:///path/to.db or "
            "postgresql://user:password@host/database",
            details=dict(SOURCE_ERROR),
        ) from exc
    backend = url.get_backend_name()
    if backend not in _SUPPORTED:
        raise InvalidInput(
            f"a query reads a SQLite file or a PostgreSQL database, not {backend!r} ({query.safe_url()})",
            details=dict(SOURCE_ERROR),
        )
    if backend == "sqlite":
        database = url.database or ""
        # SQLite would create a missing file (and then report no such table): say what is wrong.
        if database in ("", ":memory:") or database.startswith("file:"):
            raise InvalidInput(f"{query.safe_url()}: name a SQLite database file", details=dict(SOURCE_ERROR))
        if not Path(database).is_file():
            raise InvalidInput(f"{query.safe_url()}: no such SQLite database file", details=dict(SOURCE_ERROR))
    elif url.get_driver_name() != "psycopg":
        url = url.set(drivername="postgresql+psycopg")  # the driver Charter ships (psycopg 3)
    return url


def database_batches(
    query: SqlQuery, roles: Roles, *, chunk_rows: int | None, progress: Progress | None
) -> Generator[Columns, None, None]:
    """The query's rows from the database at ``query.url``, ``chunk_rows`` at a time (memory stays flat)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    url = _engine_url(query)
    size = chunk_rows or DATABASE_CHUNK_ROWS
    sqlite = url.get_backend_name() == "sqlite"
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            options: dict[str, Any] = {"stream_results": True, "max_row_buffer": size}
            if sqlite:
                connection.exec_driver_sql("PRAGMA query_only = ON")
            else:
                options["postgresql_readonly"] = True
            result = connection.execution_options(**options).execute(text(query.statement), query.arguments)
            if not result.returns_rows:
                raise InvalidInput(f"{query.describe()} returns no rows: give a SELECT", details=dict(SOURCE_ERROR))
            names = [str(name) for name in result.keys()]
            check_columns(names, roles)
            position = {name: names.index(name) for name in roles.columns}
            done = 0
            for part in result.partitions(size):
                yield _batch_columns(part, roles, position)
                done += len(part)
                if progress is not None:
                    progress(done, None)
    except SQLAlchemyError as exc:
        origin = getattr(exc, "orig", None) or exc  # the driver's own message, without SQLAlchemy's trailer
        raise query_error(query, origin) from exc
    finally:
        engine.dispose()


def _batch_columns(rows: Sequence[Any], roles: Roles, position: Mapping[str, int]) -> Columns:
    def column(name: str) -> Column:
        at = position[name]
        return _python_column([row[at] for row in rows])

    return role_columns(column, roles)


def _python_column(values: list[Any]) -> Column:
    """Python values from a driver as an Arrow array (typed by Arrow's inference: int, float, str, bool,
    decimal, date), or as Python objects when one column mixes types (SQLite allows it)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return np.asarray(values, dtype=object)


# -- Spark ----------------------------------------------------------------------------------------------


@contextmanager
def spark_frame(query: SqlQuery) -> Iterator[Any]:
    """The query's result as a Spark DataFrame of the active (or a local) session; Spark's errors as InvalidInput."""
    from charter.compute.fairness.engines.spark_local import local_session

    with local_session() as spark:
        from pyspark.errors import PySparkException

        try:
            yield spark.sql(query.statement, args=query.arguments or None)
        except PySparkException as exc:
            raise query_error(query, exc) from exc
