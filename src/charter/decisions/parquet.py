"""The Parquet decision log: files partitioned by model and date, for volumes a database should not hold.

Chosen with ``CHARTER_DECISION_STORE=parquet``; the folder is ``CHARTER_DECISION_LOG_DIR``. It takes
the batches ``service.log_decisions`` prepares (personal data already pseudonymised or encrypted,
one audit event per batch, as with the database) and keeps them as Hive-partitioned Parquet that
DuckDB, Spark or any Arrow reader queries directly::

    decisions/model_id=<id>/date=<YYYY-MM-DD>/<batch>.parquet    one file per batch and day
    attributes/model_id=<id>/date=<YYYY-MM-DD>/<batch>.parquet   sensitive attributes, kept apart
    outcomes/model_id=<id>/<uuid>.parquet                        ground truth, appended; the latest wins

What differs from the database, and why:

- **Duplicate ids are detected within a day.** A batch is checked against the files of the days
  its decisions fall on (a retried batch carries the same decision times, so a retry is always
  recognised), not against the whole history, which would make every batch cost as much as the log
  is long. A different decision under an id used on another day is not refused.
- **Writers of one model take turns.** The check-then-write runs under the database's write lock
  (SQLite) or a per-model advisory lock (PostgreSQL) held to the end of the transaction.
- **A batch becomes visible when its file is renamed into place**, just before the transaction
  that audits it commits; if that transaction rolls back the files are removed again.
- **Group labels of sensitive attributes are text** when assessed from Parquet (DuckDB's
  ``json_extract_string``): an attribute logged as ``30`` forms the group ``"30"``.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from charter.config import Settings
from charter.errors import InvalidInput

DECISIONS = "decisions"
ATTRIBUTES = "attributes"
OUTCOMES = "outcomes"

DECISION_SCHEMA = pa.schema(
    [
        ("decision_key", pa.string()),
        ("version_id", pa.int64()),
        ("decided_at", pa.timestamp("us")),
        ("subject_ref", pa.string()),
        ("inputs", pa.string()),
        ("personal_fields", pa.string()),
        ("output", pa.string()),
        ("score", pa.float64()),
        ("explanation", pa.string()),
        ("digest", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("created_by", pa.string()),
    ]
)
ATTRIBUTE_SCHEMA = pa.schema([("decision_key", pa.string()), ("attributes", pa.string())])
OUTCOME_SCHEMA = pa.schema(
    [
        ("decision_key", pa.string()),
        ("outcome", pa.string()),  # JSON text; null for a JSON null (``outcome_at`` says it arrived)
        ("outcome_at", pa.timestamp("us")),
        ("recorded_at", pa.timestamp("us")),
    ]
)
_PENDING = "charter.parquet_log.pending"
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('charter.decision_log'), :model)")
_CURSOR = re.compile(r"^(-?\d{1,20})\.([A-Za-z0-9_-]{0,400})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StoredRow(NamedTuple):
    """A decision read back from Parquet, shaped as ``service._select`` rows are (``service._read`` takes both)."""

    decision_key: str
    version: str
    decided_at: datetime
    subject_ref: str | None
    inputs: dict[str, Any]
    personal_fields: list[str] | None
    output: Any
    score: float | None
    explanation: dict[str, Any] | None
    outcome: Any
    outcome_at: datetime | None
    created_at: datetime
    created_by: str
    attributes: dict[str, Any] | None


@dataclass(frozen=True)
class Filter:
    """A search resolved to stored values (version ids, pseudonyms, JSON text)."""

    since: datetime | None = None
    until: datetime | None = None
    version_id: int | None = None
    subject_ref: str | None = None
    has_outcome: bool | None = None
    output: str | None = None  # the output's JSON text; "null" matches no output
    decision_key: str | None = None
    created_upto: datetime | None = None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _files_sql(files: Sequence[Path]) -> str:
    return "[" + ", ".join(_quote(str(f)) for f in files) + "]"


def _naive(moment: datetime) -> datetime:
    offset = moment.utcoffset()
    moment = moment.replace(tzinfo=None)
    return moment - offset if offset else moment


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


class ParquetLog:
    """One folder of Parquet decision logs (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- layout ------------------------------------------------------------------------------------

    def _model_dir(self, kind: str, model_id: int) -> Path:
        return self.root / kind / f"model_id={model_id}"

    def _days(self, kind: str, model_id: int, since: datetime | None, until: datetime | None) -> list[Path]:
        """The model's files of ``kind`` on the days that can hold decisions in [since, until)."""
        folder = self._model_dir(kind, model_id)
        if not folder.is_dir():
            return []
        first = None if since is None else _naive(since).date()
        last = None if until is None else (_naive(until) - timedelta(microseconds=1)).date()
        files: list[Path] = []
        for day in sorted(folder.iterdir()):
            if not day.name.startswith("date="):
                continue
            try:
                on = date.fromisoformat(day.name[5:])
            except ValueError:
                continue
            if (first is None or on >= first) and (last is None or on <= last):
                files.extend(sorted(day.glob("*.parquet")))
        return files

    def _on_days(self, kind: str, model_id: int, days: Iterable[str]) -> list[Path]:
        folder = self._model_dir(kind, model_id)
        return [f for d in sorted(set(days)) for f in sorted((folder / f"date={d}").glob("*.parquet"))]

    def _outcome_files(self, model_id: int) -> list[Path]:
        folder = self._model_dir(OUTCOMES, model_id)
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    # -- writing -----------------------------------------------------------------------------------

    def _lock(self, session: Session, model_id: int) -> None:
        """Writers of one model take turns until their transaction ends (SQLite: its write lock does it)."""
        if session.get_bind().dialect.name == "postgresql":
            # Two-key form: the first key names this use, apart from the audit trail's lock.
            session.execute(_LOCK, {"model": model_id})

    def _publish(self, session: Session, table: pa.Table, path: Path) -> None:
        """Write ``table`` beside ``path`` and rename it into place; removed again if the transaction rolls back."""
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp")
        try:
            pq.write_table(table, staging, compression="zstd")
            with staging.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(staging, path)
        finally:
            staging.unlink(missing_ok=True)
        _pending(session).append(path)

    def stored_digests(self, session: Session, model_id: int, keys: list[str], days: Iterable[str]) -> dict[str, str]:
        """decision id -> digest, for those of ``keys`` logged on ``days`` (takes the model's write turn)."""
        self._lock(session, model_id)
        files = self._on_days(DECISIONS, model_id, days)
        if not files:
            return {}
        wanted = pa.table({"decision_key": pa.array(keys, pa.string())})
        with _duckdb() as con:
            con.register("wanted", wanted)
            # The range lets DuckDB skip, by their min/max statistics, the files whose ids cannot
            # match: with time-ordered ids (the SDK's) that is every file but the newest few.
            found = con.execute(
                f"SELECT decision_key, digest FROM read_parquet({_files_sql(files)}) "  # noqa: S608 (paths quoted)
                "SEMI JOIN wanted USING (decision_key) WHERE decision_key BETWEEN $low AND $high",
                {"low": min(keys), "high": max(keys)},
            ).fetchall()
        return dict(found)

    def write(self, session: Session, rows: list[tuple[Any, ...]], attributes: list[str | None]) -> None:
        """A prepared batch (``service.COLUMNS`` order; one model) as one file per day it covers."""
        columns = list(zip(*rows, strict=True))
        model_id = columns[0][0]
        decided = pa.array(columns[3], pa.string())
        table = pa.table(
            [
                pa.array(columns[2], pa.string()),
                pa.array(columns[1], pa.int64()),
                decided.cast(pa.timestamp("us")),
                pa.array(columns[4], pa.string()),
                pa.array(columns[5], pa.string()),
                pa.array(columns[6], pa.string()),
                pa.array(columns[7], pa.string()),
                pa.array(columns[8], pa.float64()),
                pa.array(columns[9], pa.string()),
                pa.array(columns[10], pa.string()),
                pa.array(columns[11], pa.string()).cast(pa.timestamp("us")),
                pa.array(columns[12], pa.string()),
            ],
            schema=DECISION_SCHEMA,
        )
        sensitive = pa.table([table.column(0), pa.array(attributes, pa.string())], schema=ATTRIBUTE_SCHEMA)
        days = pc.utf8_slice_codeunits(decided, 0, 10)
        batch = uuid.uuid4().hex
        for day in pc.unique(days).to_pylist():
            on_day = pc.equal(days, day)
            name = f"date={day}/{batch}.parquet"
            self._publish(session, table.filter(on_day), self._model_dir(DECISIONS, model_id) / name)
            attached = sensitive.filter(pc.and_(on_day, pc.is_valid(sensitive.column(1))))
            if attached.num_rows:
                self._publish(session, attached, self._model_dir(ATTRIBUTES, model_id) / name)

    # -- outcomes ----------------------------------------------------------------------------------

    def outcome_of(self, session: Session, model_id: int, key: str) -> tuple[bool, Any, datetime | None]:
        """(whether the decision is logged, its latest outcome, when it was observed). Takes the write turn."""
        self._lock(session, model_id)
        files = self._days(DECISIONS, model_id, None, None)
        if not files:
            return False, None, None
        with _duckdb() as con:
            found = con.execute(
                f"SELECT 1 FROM read_parquet({_files_sql(files)}) WHERE decision_key = $key LIMIT 1",  # noqa: S608
                {"key": key},
            ).fetchone()
            if found is None:
                return False, None, None
            outcomes = self._outcome_files(model_id)
            if not outcomes:
                return True, None, None
            latest = con.execute(
                f"SELECT outcome, outcome_at FROM read_parquet({_files_sql(outcomes)}) "  # noqa: S608
                "WHERE decision_key = $key ORDER BY recorded_at DESC LIMIT 1",
                {"key": key},
            ).fetchone()
        if latest is None:
            return True, None, None
        return True, _json(latest[0]), _aware(latest[1])

    def append_outcome(
        self, session: Session, model_id: int, key: str, outcome_json: str | None, observed: datetime, now: datetime
    ) -> None:
        table = pa.table(
            [
                pa.array([key], pa.string()),
                pa.array([outcome_json], pa.string()),
                pa.array([_naive(observed)], pa.timestamp("us")),
                pa.array([_naive(now)], pa.timestamp("us")),
            ],
            schema=OUTCOME_SCHEMA,
        )
        self._publish(session, table, self._model_dir(OUTCOMES, model_id) / f"{uuid.uuid4().hex}.parquet")

    # -- reading -----------------------------------------------------------------------------------

    def _relation(self, model_id: int, where: Filter, *, attributes: bool) -> tuple[str, dict[str, Any]] | None:
        """The SQL of the model's decisions matching ``where`` (None: no files), with its parameters."""
        files = self._days(DECISIONS, model_id, where.since, where.until)
        if not files:
            return None
        outcomes = self._outcome_files(model_id)
        if outcomes:
            latest = (
                f"(SELECT decision_key, outcome, outcome_at FROM read_parquet({_files_sql(outcomes)}) "  # noqa: S608
                "QUALIFY row_number() OVER (PARTITION BY decision_key ORDER BY recorded_at DESC) = 1)"
            )
        else:
            latest = "(SELECT NULL::VARCHAR AS decision_key, NULL::VARCHAR AS outcome, NULL::TIMESTAMP AS outcome_at)"
        sql = (
            "SELECT d.decision_key, d.version_id, d.decided_at, d.subject_ref, d.inputs, d.personal_fields, "
            "d.output, d.score, d.explanation, o.outcome, o.outcome_at, d.created_at, d.created_by"
        )
        joins = f" FROM read_parquet({_files_sql(files)}) d LEFT JOIN {latest} o USING (decision_key)"
        if attributes:
            attached = self._days(ATTRIBUTES, model_id, where.since, where.until)
            if attached:
                sql += ", a.attributes"
                joins += f" LEFT JOIN read_parquet({_files_sql(attached)}) a USING (decision_key)"
            else:
                sql += ", NULL::VARCHAR AS attributes"
        clauses, params = _where(where)
        return sql + joins + (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def search(
        self,
        model_id: int,
        versions: dict[int, str],
        where: Filter,
        *,
        attributes: bool,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> tuple[list[StoredRow], str | None]:
        """A page, newest first; and the cursor of the next page (None: the last page)."""
        relation = self._relation(model_id, where, attributes=attributes)
        if relation is None:
            return [], None
        sql, params = relation
        if after is not None:
            sql = f"SELECT * FROM ({sql}) WHERE (decided_at, decision_key) < ($after_time, $after_key)"  # noqa: S608
            params = {**params, "after_time": _naive(after[0]), "after_key": after[1]}
        sql += " ORDER BY decided_at DESC, decision_key DESC LIMIT $limit"
        with _duckdb() as con:
            found = con.execute(sql, {**params, "limit": limit + 1}).fetchall()
        rows = [_row(r, versions, attributes) for r in found[:limit]]
        cursor = None
        if len(found) > limit:
            last = rows[-1]
            micros = (last.decided_at - _EPOCH) // timedelta(microseconds=1)
            cursor = f"{micros}.{base64.urlsafe_b64encode(last.decision_key.encode()).decode().rstrip('=')}"
        return rows, cursor

    def count(self, model_id: int, where: Filter) -> int:
        relation = self._relation(model_id, where, attributes=False)
        if relation is None:
            return 0
        sql, params = relation
        with _duckdb() as con:
            found = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()  # noqa: S608
        return int(found[0]) if found else 0

    def stream(
        self, model_id: int, versions: dict[int, str], where: Filter, *, attributes: bool, batch: int = 2_000
    ) -> Iterator[StoredRow]:
        """Every matching decision, oldest first, ``batch`` rows in memory at a time."""
        relation = self._relation(model_id, where, attributes=attributes)
        if relation is None:
            return
        sql, params = relation
        with _duckdb() as con:
            result = con.execute(sql + " ORDER BY decided_at, decision_key", params)
            while chunk := result.fetchmany(batch):
                for r in chunk:
                    yield _row(r, versions, attributes)

    def recent_inputs(
        self, model_id: int, version_id: int, *, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """The inputs of a version's decisions in [since, until), newest first (see ``service.recent_inputs``)."""
        files = self._days(DECISIONS, model_id, since, until)
        if not files:
            return []
        clauses, params = _where(Filter(since=since, until=until, version_id=version_id))
        with _duckdb() as con:
            found = con.execute(
                f"SELECT d.inputs FROM read_parquet({_files_sql(files)}) d WHERE {' AND '.join(clauses)} "  # noqa: S608
                "ORDER BY d.decided_at DESC LIMIT $limit",
                {**params, "limit": limit},
            ).fetchall()
        return [orjson.loads(text) for (text,) in found]

    def outcomes_of(
        self, model_id: int, version_id: int, *, since: datetime | None, until: datetime | None
    ) -> list[tuple[datetime, Any, Any, float | None]]:
        """(decided at, output, outcome, score) of a version's decisions with a known outcome, oldest first."""
        relation = self._relation(
            model_id, Filter(since=since, until=until, version_id=version_id, has_outcome=True), attributes=False
        )
        if relation is None:
            return []
        sql, params = relation
        with _duckdb() as con:
            found = con.execute(
                f"SELECT decided_at, output, outcome, score FROM ({sql}) ORDER BY decided_at",  # noqa: S608
                params,
            ).fetchall()
        return [(t.replace(tzinfo=UTC), _json(out), _json(outcome), score) for t, out, outcome, score in found]

    def fairness_query(
        self,
        model_id: int,
        version_id: int,
        *,
        features: Sequence[str],
        positive_output: str,
        positive_outcome: str,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[str, dict[str, Any]] | None:
        """DuckDB SQL giving ``y_true``, ``y_pred`` and one column per sensitive feature for the
        version's decisions with a known outcome (outputs and outcomes compared as JSON text)."""
        where = Filter(since=since, until=until, version_id=version_id, has_outcome=True)
        relation = self._relation(model_id, where, attributes=True)
        if relation is None:
            return None
        sql, params = relation
        picks = ", ".join(
            f"json_extract_string(attributes, {_quote('$.' + _json_path(f))}) AS {_identifier(f)}" for f in features
        )
        return (
            f"SELECT (outcome = $positive_outcome) AS y_true, (output = $positive_output) AS y_pred, {picks} "  # noqa: S608
            f"FROM ({sql})",
            {**params, "positive_outcome": positive_outcome, "positive_output": positive_output},
        )


def parse_cursor(cursor: str) -> tuple[datetime, str]:
    match = _CURSOR.match(cursor)
    if match is None:
        raise InvalidInput("The cursor is not valid; use the `next_cursor` of a previous page.")
    try:
        moment = _EPOCH + timedelta(microseconds=int(match[1]))
        key = base64.urlsafe_b64decode(match[2] + "=" * (-len(match[2]) % 4)).decode()
    except (OverflowError, ValueError) as exc:
        raise InvalidInput("The cursor is not valid; use the `next_cursor` of a previous page.") from exc
    return moment, key


def _where(where: Filter) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions with DuckDB's named parameters (``$name``)."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for name, clause, value in (
        ("since", "d.decided_at >= $since", where.since),
        ("until", "d.decided_at < $until", where.until),
        ("version_id", "d.version_id = $version_id", where.version_id),
        ("subject_ref", "d.subject_ref = $subject_ref", where.subject_ref),
        ("decision_key", "d.decision_key = $decision_key", where.decision_key),
        ("created_upto", "d.created_at <= $created_upto", where.created_upto),
    ):
        if value is not None:
            clauses.append(clause)
            params[name] = _naive(value) if isinstance(value, datetime) else value
    if where.has_outcome is not None:
        clauses.append("o.outcome_at IS NOT NULL" if where.has_outcome else "o.outcome_at IS NULL")
    if where.output is not None:
        if where.output == "null":
            clauses.append("d.output IS NULL")
        else:
            clauses.append("d.output = $output")
            params["output"] = where.output
    return clauses, params


def _aware(moment: datetime | None) -> datetime | None:
    """Files hold naive UTC (as the database does); reads give UTC-aware times, as the database's do."""
    return None if moment is None else moment.replace(tzinfo=UTC)


def _row(r: tuple[Any, ...], versions: dict[int, str], attributes: bool) -> StoredRow:
    return StoredRow(
        decision_key=r[0],
        version=versions.get(r[1], str(r[1])),
        decided_at=r[2].replace(tzinfo=UTC),
        subject_ref=r[3],
        inputs=orjson.loads(r[4]),
        personal_fields=_json(r[5]),
        output=_json(r[6]),
        score=r[7],
        explanation=_json(r[8]),
        outcome=_json(r[9]),
        outcome_at=_aware(r[10]),
        created_at=r[11].replace(tzinfo=UTC),
        created_by=r[12],
        attributes=_json(r[13]) if attributes else None,
    )


def _json_path(feature: str) -> str:
    # A JSON path member in double quotes, so that any attribute name is read literally.
    return '"' + feature.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _duckdb:
    """A short-lived in-memory DuckDB connection (each reader its own: connections are not thread-safe)."""

    def __enter__(self) -> Any:
        import duckdb

        self.con = duckdb.connect(":memory:", config={"threads": 2})
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


# -- files of a transaction that rolls back are removed ---------------------------------------------


def _pending(session: Session) -> list[Path]:
    """The files this session's transaction published; listeners drop them on rollback, forget them on commit."""
    pending: list[Path] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _forget)
        event.listen(session, "after_rollback", _remove)
    return pending


def _forget(session: Session) -> None:
    session.info.get(_PENDING, []).clear()


def _remove(session: Session) -> None:
    pending: list[Path] = session.info.get(_PENDING, [])
    for path in pending:
        path.unlink(missing_ok=True)
    pending.clear()


def configured(settings: Settings) -> ParquetLog | None:
    """The Parquet log the settings choose, or None when decisions are kept in the database."""
    if settings.decision_store != "parquet":
        return None
    return ParquetLog(settings.effective_decision_log_dir)
