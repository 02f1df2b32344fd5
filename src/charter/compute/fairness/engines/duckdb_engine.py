"""Fairness statistics with DuckDB: one streaming ``GROUP BY`` over Parquet, CSV, Arrow or pandas.

The data are never loaded: DuckDB scans the files (a path, a glob pattern or a folder of Parquet
files) or the registered table in parallel and keeps one row per combination of

    sensitive features..., y_true, y_pred[, score bin]

with ``COUNT(*)`` and, when weighted, ``SUM(weight)`` (plus the counts the checks need). Labels
are binary, so that result has at most four rows per group (times the bins): the rest is done in
Python on it, by :func:`assemble`, which the Spark engine shares, with the numpy engine's own
``Binariser`` deciding which label is positive. So every engine follows one set of rules, with the
same errors. Before the result leaves DuckDB the query checks that each label column holds at most
two values (a continuous ``y_true`` gives an error, not a result as large as the data).

Group labels come back as the Python values DuckDB returns for the column's type, which are the
values the numpy engine gets from the same data: text (VARCHAR, and pandas or Arrow categoricals of
text, which DuckDB reads as ENUM or VARCHAR) -> ``str``; integers, and categoricals of integers,
-> ``int``; floating point -> ``float``; booleans -> ``bool``; dates -> ``datetime.date``; NULL and
NaN -> ``None`` (the missing group). CSV files are typed as Arrow's CSV reader (the numpy engine's)
types them, not as DuckDB's sniffer would (see ``_typed_csv``).

Exactness. Counts are exact, so unweighted statistics equal the numpy engine's bit for bit. Weighted
cells are float64 sums added in an order that depends on the threads: they equal the numpy engine's
exactly when every partial sum is exact (integer weights, or multiples of a power of two small
enough), and to rounding (about 1e-16 relative) otherwise.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import numpy as np

from charter.compute.fairness.engines.encode import Codes, native
from charter.compute.fairness.engines.numpy_engine import Binariser, raise_on_missing
from charter.compute.fairness.inputs import Roles, check_columns, roles_of
from charter.compute.fairness.sql import (
    SqlQuery,
    duckdb_columns,
    duckdb_connection,
    is_query_error,
    query_error,
    subquery,
)
from charter.compute.fairness.stats import DEFAULT_BINS, GroupLabel, GroupStats
from charter.errors import InvalidInput

if TYPE_CHECKING:
    import pandas
    import pyarrow

__all__ = ["statistics_duckdb"]

Kind = Literal["string", "bool", "integer", "float", "decimal", "other"]
Missing = Literal["group", "error"]
I64 = np.ndarray[Any, np.dtype[np.int64]]
F64 = np.ndarray[Any, np.dtype[np.float64]]

NUMERIC: frozenset[Kind] = frozenset({"integer", "float", "decimal"})
SCORE_MISSING, SCORE_OUT_OF_RANGE = -1, -2  # bin codes of scores that are not numbers in [0, 1]
MAX_LABELS_SHOWN = 20

_PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
_CSV_SUFFIXES = tuple(f"{kind}{packed}" for kind in (".csv", ".tsv", ".txt") for packed in ("", ".gz", ".zst"))
# Arrow's CSV defaults (``pyarrow.csv.ConvertOptions()``), with which the numpy engine reads CSV files.
CSV_NULLS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "N/A", "NA",
             "NULL", "NaN", "n/a", "nan", "null")  # fmt: skip
CSV_BOOLEANS = frozenset({"1", "True", "TRUE", "true", "0", "False", "FALSE", "false"})
_CSV_SAMPLE_ROWS = 20480  # DuckDB's sniffer sample
# What bad input looks like to DuckDB: no such file, files that do not match, a value that is not of
# its column's type. Out of memory and internal errors are not the user's input: they propagate.
_READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException, duckdb.BinderException)
_MEMORY_LIMIT = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


# -- shared with the Spark engine: the grouped rows, checked and turned into GroupStats ----------------


@dataclass(frozen=True)
class Grouped:
    """What an engine's aggregation returns: one row per (group label, y_true, y_pred[, score bin]).

    ``y_true`` and ``y_pred`` are the raw label values (``None`` when missing); ``score_bin`` holds
    ``SCORE_MISSING`` / ``SCORE_OUT_OF_RANGE`` for scores that are not numbers in [0, 1]. Weighted
    rows also carry the sum of the weights, the number of missing (NULL or NaN) weights and the
    smallest and largest weight.
    """

    labels: list[GroupLabel]
    y_true: list[Any]
    y_pred: list[Any]
    score_bin: I64 | None
    rows: I64
    weight_sum: F64 | None = None
    weight_missing: I64 | None = None
    weight_min: F64 | None = None
    weight_max: F64 | None = None


def check_options(missing: str, bins: int) -> None:
    if missing not in ("group", "error"):
        raise InvalidInput(f"missing must be 'group' or 'error', not {missing!r}")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise InvalidInput(f"bins must be a positive integer, not {bins!r}")


def check_roles(
    available: Sequence[str],
    *,
    y_true: str,
    y_pred: str,
    sensitive_features: Sequence[str],
    scores: str | None,
    sample_weight: str | None,
) -> Roles:
    """The column names of each role, checked against the data's (the numpy engine's checks and messages)."""
    roles = roles_of(
        y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features, scores=scores, sample_weight=sample_weight
    )
    check_columns(available, roles)
    return roles


def check_kinds(roles: Roles, kinds: Mapping[str, Kind], types: Mapping[str, str]) -> None:
    """Scores and weights are numbers (a text column would otherwise fail late, inside the engine)."""
    names = roles.describe()
    for role, name in (("scores", roles.scores), ("sample_weight", roles.sample_weight)):
        if name is not None and kinds[name] not in NUMERIC:
            raise InvalidInput(f"{names[role]} must be numeric (its type is {types[name]})", details={"column": name})


def _codes(values: Sequence[Any]) -> Codes:
    """The distinct label values of a column (no missing value is left when this is called)."""
    labels: dict[tuple[str, Any], int] = {}
    codes = np.fromiter(
        (labels.setdefault((type(v).__name__, v), len(labels)) for v in values), dtype=np.int64, count=len(values)
    )
    return Codes(codes, [v for _, v in labels], exact=True, may_miss=False)


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def raise_not_binary(roles: Roles, positive_label: Any, distinct: Callable[[str], list[Any]]) -> None:
    """A label column holds more than two values: the numpy engine's error, from up to 20 of them each."""
    seen_true, seen_pred = distinct(roles.y_true)[:MAX_LABELS_SHOWN], distinct(roles.y_pred)[:MAX_LABELS_SHOWN]
    Binariser(positive_label)(_codes(seen_true), _codes(seen_pred), roles.describe())
    raise InvalidInput(f"labels must be binary: {roles.y_true!r} has {seen_true}, {roles.y_pred!r} has {seen_pred}")


def assemble(
    grouped: Grouped,
    *,
    roles: Roles,
    positive_label: Any,
    missing: Missing,
    bins: int,
    score_range: Callable[[], tuple[float, float]],
) -> GroupStats:
    """GroupStats from an engine's grouped rows, with the numpy engine's checks, rules and messages.

    ``score_range()`` is asked (one more query, on that error path only) for the smallest and
    largest score when some score lies outside [0, 1].
    """
    names = roles.describe()
    rows = grouped.rows
    for role, seen in (("y_true", grouped.y_true), ("y_pred", grouped.y_pred)):
        absent = np.fromiter((v is None for v in seen), dtype=bool, count=len(seen))
        n = int(rows[absent].sum())
        if n:
            raise InvalidInput(f"{names[role]} has {n} missing value{_plural(n)}")
    t_bits, p_bits = Binariser(positive_label)(_codes(grouped.y_true), _codes(grouped.y_pred), names)
    t, p = t_bits.astype(np.intp), p_bits.astype(np.intp)
    values = rows.astype(np.float64)
    if grouped.weight_sum is not None:
        assert grouped.weight_missing is not None and grouped.weight_min is not None and grouped.weight_max is not None
        role = names["sample_weight"]
        n = int(grouped.weight_missing.sum())
        if n:
            raise InvalidInput(f"{role} has {n} missing values")
        if len(rows):
            low, high = float(grouped.weight_min.min()), float(grouped.weight_max.max())
            if low < 0 or np.isinf(high):
                raise InvalidInput(f"{role} must be finite and non-negative (seen from {low} to {high})")
        values = grouped.weight_sum
    if grouped.score_bin is not None:
        n = int(rows[grouped.score_bin == SCORE_MISSING].sum())
        if n:
            raise InvalidInput(f"{names['scores']} has {n} missing values")
        if (grouped.score_bin == SCORE_OUT_OF_RANGE).any():
            low, high = score_range()
            raise InvalidInput(f"{names['scores']} must lie in [0, 1] (seen from {low} to {high}); pass probabilities")
    position: dict[GroupLabel, int] = {}
    index = np.fromiter(
        (position.setdefault(tuple(native(v) for v in label), len(position)) for label in grouped.labels),
        dtype=np.intp,
        count=len(grouped.labels),
    )
    n_groups = len(position)
    confusion = np.zeros((n_groups, 2, 2), dtype=np.float64)
    np.add.at(confusion, (index, t, p), values)
    group_rows = np.zeros(n_groups, dtype=np.int64)
    np.add.at(group_rows, index, rows)
    hist = None
    if grouped.score_bin is not None:
        hist = np.zeros((n_groups, 2, bins), dtype=np.float64)
        np.add.at(hist, (index, t, grouped.score_bin), values)
    stats = GroupStats.build(
        roles.sensitive, list(position), confusion, group_rows, hist, weighted=grouped.weight_sum is not None
    )
    if missing == "error":
        raise_on_missing(stats)
    return stats


# -- DuckDB ---------------------------------------------------------------------------------------------


def quote(identifier: str) -> str:
    """A DuckDB identifier, quoted (embedded quotes doubled): column names come from users."""
    return '"' + identifier.replace('"', '""') + '"'


def _type_id(type_name: str) -> str:
    """DuckDB's type id (``bigint``, ``enum``, ``decimal``, ...) from a type as DESCRIBE prints it."""
    if type_name.rstrip().endswith("]"):  # a list or an array of anything
        return "list"
    return re.split(r"[(\s]", type_name.strip(), maxsplit=1)[0].lower()


def _kind(type_name: str) -> Kind:
    type_id = _type_id(type_name)
    if type_id in ("varchar", "enum"):
        return "string"
    if type_id == "boolean":
        return "bool"
    if type_id in ("float", "double"):
        return "float"
    if type_id == "decimal":
        return "decimal"
    if type_id.endswith("int"):  # tinyint ... hugeint, utinyint ... uhugeint
        return "integer"
    return "other"


def _value(column: str, kind: Kind) -> str:
    """A label or group value: NaN is missing, as NULL is."""
    return f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END" if kind == "float" else column


def _score_bin(column: str, bins: int) -> str:
    """``min(floor(score * bins), bins - 1)`` in float64, as ``stats.score_bin`` (FLOAT widened first)."""
    score = f"CAST({column} AS DOUBLE)"
    return (
        f"CASE WHEN {score} IS NULL OR isnan({score}) THEN {SCORE_MISSING} "
        f"WHEN {score} < 0 OR {score} > 1 THEN {SCORE_OUT_OF_RANGE} "
        f"ELSE CAST(LEAST(FLOOR({score} * CAST({int(bins)} AS DOUBLE)), {int(bins) - 1}) AS INTEGER) END"
    )


def _file_source(path: str) -> str:
    lowered = path.lower()
    if lowered.endswith(_PARQUET_SUFFIXES):
        return "read_parquet($source)"
    if lowered.endswith(_CSV_SUFFIXES):
        return "read_csv($source, nullstr = $csv_nulls)"
    raise InvalidInput(
        f"cannot tell the format of {path!r}: give a .parquet or .csv file, a glob pattern ending in one "
        "of them, or a folder of Parquet files"
    )


def statistics_duckdb(
    source: str | Path | pyarrow.Table | pandas.DataFrame | SqlQuery,
    *,
    y_true: str,
    y_pred: str,
    sensitive_features: list[str],
    scores: str | None = None,
    sample_weight: str | None = None,
    positive_label: Any = None,
    missing: Missing = "group",
    bins: int = DEFAULT_BINS,
    connection: duckdb.DuckDBPyConnection | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> GroupStats:
    """Per-group fairness statistics of ``source``, computed by DuckDB without loading the data.

    ``source`` is a Parquet or CSV file, a glob pattern (``data/*.parquet``), a folder of Parquet
    files (read recursively, Hive partitions included), an Arrow table, a pandas DataFrame (any
    object DuckDB can scan) or a :class:`SqlQuery` without a ``url`` (aggregated as a subquery, so
    its result is never materialised). The result equals the numpy engine's on the same data (see
    the module docstring for the types of the labels and for weighted sums). ``threads`` and
    ``memory_limit`` (``"2GB"``) are set on the connection: a fresh in-memory one unless
    ``connection`` is given.

    Raises ``InvalidInput`` as the numpy engine does: an unknown column (naming the available ones),
    labels that are not binary or not 0/1 without ``positive_label`` (listing up to 20 of them),
    missing labels, weights or scores, scores outside [0, 1], negative weights, and missing
    sensitive values when ``missing="error"``; also for a file DuckDB cannot read.
    """
    check_options(missing, bins)
    if isinstance(source, SqlQuery) and source.url is not None:
        raise InvalidInput(
            "a query on a database URL is read by the numpy engine (engine='numpy'); "
            "the DuckDB engine runs queries in DuckDB itself (url=None)"
        )
    own = connection is None
    con = _connect(source) if connection is None else connection
    view: str | None = None
    try:
        _configure(con, threads, memory_limit)
        params: dict[str, Any] = {}
        if isinstance(source, SqlQuery):
            relation = subquery(source)
            params = source.arguments
        elif isinstance(source, str | os.PathLike):
            path = os.fspath(source)
            if os.path.isdir(path):
                path = os.path.join(path, "**", "*.parquet")
            relation = _file_source(path)
            params["source"] = path
            if relation.startswith("read_csv("):
                params["csv_nulls"] = list(CSV_NULLS)
        else:
            view = "charter_fairness_" + uuid.uuid4().hex
            features = [sensitive_features] if isinstance(sensitive_features, str) else list(sensitive_features)
            wanted = {y_true, y_pred, *features, scores, sample_weight}
            con.register(view, _scannable(source, wanted))
            relation = quote(view)
        described = _describe_relation(con, relation, params, source)
        roles = check_roles(
            list(described),
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sensitive_features,
            scores=scores,
            sample_weight=sample_weight,
        )
        if relation.startswith("read_csv("):
            relation = _typed_csv(con, params, roles, described)
        kinds = {name: _kind(type_name) for name, type_name in described.items()}
        check_kinds(roles, kinds, described)
        query = _query(roles, kinds, relation, int(bins))

        def read(sql: str, args: dict[str, Any]) -> Any:
            try:
                return con.sql(sql, params=args).to_arrow_table()
            except duckdb.Error as exc:
                if not _is_input_error(exc, source):
                    raise
                raise _input_error(source, exc) from exc

        result = read(query, params)
        guard = result.num_rows == 1 and result.column("n")[0].as_py() is None  # not binary, or no rows
        if guard and max(result.column("nt")[0].as_py(), result.column("np")[0].as_py()) > 2:

            def distinct(column: str) -> list[Any]:
                q = quote(column)
                sql = f"SELECT DISTINCT {q} FROM {relation} WHERE {q} IS NOT NULL LIMIT {MAX_LABELS_SHOWN + 1}"  # noqa: S608
                return [native(v) for v in read(sql, params).column(0).to_pylist()]

            raise_not_binary(roles, positive_label, distinct)
        if guard:  # no rows at all
            result = result.slice(0, 0)

        def score_range() -> tuple[float, float]:
            q = f"CAST({quote(str(roles.scores))} AS DOUBLE)"
            found = read(f"SELECT MIN({q}), MAX({q}) FROM {relation}", params)  # noqa: S608
            return float(found.column(0)[0].as_py()), float(found.column(1)[0].as_py())

        return assemble(
            _grouped(result, roles),
            roles=roles,
            positive_label=positive_label,
            missing=missing,
            bins=int(bins),
            score_range=score_range,
        )
    finally:
        if view is not None and not own:
            con.unregister(view)
        if own:
            con.close()


def _query(roles: Roles, kinds: Mapping[str, Kind], relation: str, bins: int) -> str:
    """The one aggregation, and the guard that lets its result out only when labels are binary.

    ``labels`` counts the distinct values of each label column in the (small) aggregate; when one
    has more than two, the answer is a single row of NULLs with those counts instead of the rows.
    """
    select = [f"{_value(quote(name), kinds[name])} AS s{i}" for i, name in enumerate(roles.sensitive)]
    select.append(f"{_value(quote(roles.y_true), kinds[roles.y_true])} AS t")
    select.append(f"{_value(quote(roles.y_pred), kinds[roles.y_pred])} AS p")
    if roles.scores is not None:
        select.append(f"{_score_bin(quote(roles.scores), bins)} AS b")
    aggregates = ["COUNT(*) AS n"]
    if roles.sample_weight is not None:
        w = quote(roles.sample_weight)
        missing = f"{w} IS NULL OR isnan({w})" if kinds[roles.sample_weight] == "float" else f"{w} IS NULL"
        aggregates += [
            f"SUM(CAST({w} AS DOUBLE)) AS sw",
            f"COUNT(*) FILTER (WHERE {missing}) AS nw",
            f"CAST(MIN({w}) AS DOUBLE) AS wmin",
            f"CAST(MAX({w}) AS DOUBLE) AS wmax",
        ]
    return (
        f"WITH agg AS MATERIALIZED (SELECT {', '.join(select + aggregates)} FROM {relation} GROUP BY ALL), "  # noqa: S608
        "labels AS (SELECT COUNT(DISTINCT t) AS nt, COUNT(DISTINCT p) AS np FROM agg) "
        "SELECT agg.*, labels.nt, labels.np FROM labels LEFT JOIN agg ON labels.nt <= 2 AND labels.np <= 2"
    )


def _grouped(result: Any, roles: Roles) -> Grouped:
    """The fetched Arrow table as :class:`Grouped` (labels as Python values, counts as arrays)."""
    label_columns = [result.column(f"s{i}").to_pylist() for i in range(len(roles.sensitive))]
    weighted = roles.sample_weight is not None

    def numbers(name: str, dtype: type[np.generic]) -> np.ndarray[Any, Any]:
        return np.asarray(result.column(name).to_numpy(zero_copy_only=False), dtype=dtype)

    return Grouped(
        labels=list(zip(*label_columns, strict=True)),
        y_true=[native(v) for v in result.column("t").to_pylist()],
        y_pred=[native(v) for v in result.column("p").to_pylist()],
        score_bin=None if roles.scores is None else numbers("b", np.int64),
        rows=numbers("n", np.int64),
        weight_sum=numbers("sw", np.float64) if weighted else None,
        weight_missing=numbers("nw", np.int64) if weighted else None,
        weight_min=numbers("wmin", np.float64) if weighted else None,
        weight_max=numbers("wmax", np.float64) if weighted else None,
    )


def _scannable(source: Any, wanted: set[str | None]) -> Any:
    """``source`` as DuckDB should scan it.

    DuckDB reads a pandas categorical with numeric categories and missing values as DOUBLE (it
    materialises the values with NaN); through Arrow it keeps the categories' own type. Such
    frames go through Arrow (their used columns only); everything else is scanned as it is.
    """
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(source, pd.DataFrame):
        return source
    used = [name for name in source.columns if name in wanted]
    for name in used:
        dtype = source[name].dtype
        if isinstance(dtype, pd.CategoricalDtype) and not pd.api.types.is_string_dtype(dtype.categories.dtype):
            import pyarrow as pa

            return pa.Table.from_pandas(source[used], preserve_index=False)
    return source


def _connect(source: object) -> duckdb.DuckDBPyConnection:
    if isinstance(source, SqlQuery):
        return duckdb_connection()
    con = duckdb.connect()
    # DuckDB draws its progress bar on stdout, even when it is not a terminal: into `--format json`.
    con.execute("SET enable_progress_bar = false")
    return con


def _is_input_error(exc: duckdb.Error, source: object) -> bool:
    """A query's every error but the machine's is the user's input; a file's, those of ``_READ_ERRORS``."""
    return is_query_error(exc) if isinstance(source, SqlQuery) else isinstance(exc, _READ_ERRORS)


def _input_error(source: object, exc: duckdb.Error) -> InvalidInput:
    if isinstance(source, SqlQuery):
        return query_error(source, exc)
    return InvalidInput(f"cannot read {_describe(source)}: {exc}")


def _describe_relation(
    con: duckdb.DuckDBPyConnection, relation: str, params: dict[str, Any], source: object
) -> dict[str, str]:
    """The columns of ``relation`` and their types (DuckDB reads only the schema, or a CSV sample)."""
    if isinstance(source, SqlQuery):
        return duckdb_columns(con, source)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {relation}", params).fetchall()  # noqa: S608
    except _READ_ERRORS as exc:
        raise InvalidInput(f"cannot read {_describe(source)}: {exc}") from exc
    return {str(row[0]): str(row[1]) for row in described}


def _typed_csv(con: duckdb.DuckDBPyConnection, params: dict[str, Any], roles: Roles, described: dict[str, str]) -> str:
    """``read_csv`` with the label and group columns typed as Arrow's CSV reader (the numpy engine's) types them.

    Both infer a column's type from its values, by different rules: DuckDB makes booleans of yes/no,
    y/n and t/f, Arrow only of 1/0 with true/false (True, TRUE), so ``positive_label="yes"`` must find
    text; Arrow never reads a text field as missing (an empty field is the label ``""``), DuckDB does.
    From the first 20,480 rows (DuckDB's sniffer sample): columns DuckDB typed BOOLEAN that Arrow
    would not become VARCHAR, text columns Arrow would read as booleans become BOOLEAN, and text
    columns keep their empty fields as text. ``described`` is updated with the new types.
    """
    used = list(dict.fromkeys([roles.y_true, roles.y_pred, *roles.sensitive]))
    candidates = [name for name in used if _type_id(described[name]) in ("boolean", "varchar")]
    types: dict[str, str] = {}
    if candidates:
        spelled = ", ".join(f"list(DISTINCT {quote(name)})" for name in candidates)
        sample = con.sql(
            f"SELECT {spelled} FROM (SELECT * FROM read_csv($source, all_varchar = true, nullstr = $csv_nulls) "  # noqa: S608
            f"LIMIT {_CSV_SAMPLE_ROWS})",
            params={"source": params["source"], "csv_nulls": params["csv_nulls"]},
        ).fetchall()
        for name, values in zip(candidates, sample[0] if sample else [None] * len(candidates), strict=True):
            spellings = {v for v in values or () if v is not None}
            arrow_boolean = bool(spellings) and spellings <= CSV_BOOLEANS and not spellings <= {"0", "1"}
            if arrow_boolean and _type_id(described[name]) == "varchar":
                types[name] = "BOOLEAN"
            elif not arrow_boolean and _type_id(described[name]) == "boolean":
                types[name] = "VARCHAR"
    described.update(types)
    text = [name for name in used if _type_id(described[name]) == "varchar"]
    options = ""
    if types:
        options += ", types = $csv_types"
        params["csv_types"] = types
    if text:
        options += ", force_not_null = $csv_text"
        params["csv_text"] = text
    return f"read_csv($source, nullstr = $csv_nulls{options})"


def _describe(source: object) -> str:
    return repr(os.fspath(source)) if isinstance(source, str | os.PathLike) else f"the {type(source).__name__}"


def _configure(con: duckdb.DuckDBPyConnection, threads: int | None, memory_limit: str | None) -> None:
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InvalidInput(f"threads must be a positive integer, not {threads!r}")
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        if not isinstance(memory_limit, str) or not _MEMORY_LIMIT.match(memory_limit):
            raise InvalidInput(f"memory_limit must look like '2GB' or '512MiB', not {memory_limit!r}")
        con.execute("SET memory_limit = '" + memory_limit.strip() + "'")
