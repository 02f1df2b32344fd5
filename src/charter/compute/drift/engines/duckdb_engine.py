"""Drift profiles with DuckDB: Parquet, CSV, Arrow, pandas or a DuckDB relation, out of core.

The plan:

1. one SQL scan counting every categorical column (``histogram(value)``: a map value -> count);
2. the numeric columns streamed out of DuckDB's scan (cast to DOUBLE, as Arrow record batches of
   ``batch_rows`` rows, in the source's order) and profiled batch by batch in NumPy on their edges
   (``batches.binned_profiles``: the numpy engine's own code per batch, the batch profiles merged);
3. a reference's edges, before step 2, from one more streamed pass: a Bernoulli sample of about
   ``edge_sample_rows`` rows (1,000,000) and each column's exact minimum and maximum
   (``batches.sample_edges``; see there why the binned statistics' bounds stay rigorous). With
   ``edge_sample_rows=None`` the edges are the exact order statistics instead, as in the numpy
   engine: each column sorted by DuckDB (``row_number() OVER (ORDER BY x)``, out of core, about 110
   ns a value against about 8 for the sample and the binning together).

When the data have at most ``max(max_exact_rows, edge_sample_rows)`` rows, steps 2 and 3 are
replaced by fetching the numeric columns (as float64, one scan) and sorting them in NumPy: the exact
statistics need the sorted values anyway, the sample would be all the rows, and the profile is then
built by the numpy engine's own code (exact edges).

Missing values are NULL and NaN; infinite values are counted apart; values are cast to DOUBLE (so
integers beyond 2**53 round, as they do in the numpy engine). CSV files are read with Arrow's null
markers and with text columns never NULL, as the numpy engine reads them. Counts, cells, minima and
maxima equal the numpy engine's exactly on the same edges, and so do the edges themselves unless
they were sampled; mean and variance are summed in another order (to rounding).
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from charter.compute.drift.columns import Detected, Request, skipped_reason
from charter.compute.drift.engines.batches import BATCH_ROWS, EDGE_SAMPLE_ROWS, binned_profiles, sample_edges
from charter.compute.drift.engines.numpy_engine import finite_sorted
from charter.compute.drift.profile import (
    F64,
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    Kind,
    NumericProfile,
    edge_ranks,
    edges_from_sorted,
    unique_edges,
)
from charter.compute.fairness.engines.duckdb_engine import CSV_NULLS, _configure, quote
from charter.errors import InvalidInput

__all__ = ["profile_duckdb"]

_READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException, duckdb.BinderException)
_PARQUET = (".parquet", ".parq", ".pq")
_CSV = tuple(f"{kind}{packed}" for kind in (".csv", ".tsv", ".txt") for packed in ("", ".gz", ".zst"))
_VIEW = "charter_drift_source"

Query = Callable[[str], duckdb.DuckDBPyRelation]
Run = Callable[[str], Any]  # SQL -> Arrow table
Stream = Callable[[str], Iterator[Any]]  # SQL -> Arrow record batches


def profile_duckdb(
    source: Any,
    request: Request,
    *,
    connection: duckdb.DuckDBPyConnection | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    edge_sample_rows: int | None = EDGE_SAMPLE_ROWS,
    batch_rows: int = BATCH_ROWS,
) -> DatasetProfile:
    """The profile of ``source`` computed by DuckDB (see the module docstring).

    ``source``: a Parquet or CSV file, a glob pattern, a folder of Parquet files, an Arrow table, a
    pandas or polars DataFrame, or a ``DuckDBPyRelation`` (any SQL: ``con.sql("SELECT ...")``).
    ``threads`` and ``memory_limit`` (``"2GB"``) are set on the connection (a fresh in-memory one
    unless ``connection`` is given; a relation runs on its own connection). A reference with more
    rows than ``edge_sample_rows`` and ``request.max_exact_rows`` takes its edges from a sample of
    about ``edge_sample_rows`` rows (None: exact edges at any size, from a sort of each column);
    numeric columns are streamed in batches of ``batch_rows`` rows.
    """
    for option, value in (("edge_sample_rows", edge_sample_rows), ("batch_rows", batch_rows)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidInput(f"{option} must be a positive integer, not {value!r}")
    own = connection is None and not isinstance(source, duckdb.DuckDBPyRelation)
    con = duckdb.connect() if own else connection
    view: str | None = None
    try:
        if con is not None:
            _configure(con, threads, memory_limit)
        if own and con is not None and isinstance(source, str | os.PathLike) and "://" not in os.fspath(source):
            _no_prefetch(con)
        relation, query, view = _relation(source, con)
        run, stream = _guarded(query, source), _streamed(query, source, batch_rows)
        described = _describe(run, relation, source)
        names = request.names(list(described), where=_where(source))
        if relation.startswith("read_csv("):
            relation = _csv_relation(source, described, names)
        kinds: dict[str, Kind] = {}
        skipped: dict[str, str] = {}
        for name in names:
            kind = request.kind(name, _kind(described[name]), described[name])
            if kind is None:
                skipped[name] = skipped_reason(described[name])
            else:
                kinds[name] = kind
        return _profile(run, stream, relation, kinds, skipped, request, described, edge_sample_rows)
    finally:
        if view is not None and con is not None and not own:
            con.unregister(view)
        if own and con is not None:
            con.close()


# --- the source ---------------------------------------------------------------------------------------


def _no_prefetch(con: duckdb.DuckDBPyConnection) -> None:
    """Local Parquet files are read without DuckDB's prefetching: measured on 1e9 values with two
    threads, the scan took 3.3 s and 445 MB instead of 3.8 s and 824 MB (prefetching pays for remote files)."""
    try:
        con.execute("SET disable_parquet_prefetching = true")
    except duckdb.Error:  # a DuckDB without the setting: its default, then
        pass


def _relation(source: Any, con: duckdb.DuckDBPyConnection | None) -> tuple[str, Query, str | None]:
    """The SQL to select from, a function making a query on it, and the view registered (if any)."""
    if isinstance(source, duckdb.DuckDBPyRelation):
        relation = source

        def query_relation(sql: str) -> duckdb.DuckDBPyRelation:
            result = relation.query(_VIEW, sql)
            assert result is not None  # every query here is a SELECT or DESCRIBE
            return result

        return _VIEW, query_relation, None
    assert con is not None
    connection = con

    def query(sql: str) -> duckdb.DuckDBPyRelation:
        result = connection.sql(sql)
        assert result is not None  # every query here is a SELECT or DESCRIBE
        return result

    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, "**", "*.parquet")
        lowered = path.lower()
        if lowered.endswith(_PARQUET):
            return f"read_parquet({_text(path)})", query, None
        if lowered.endswith(_CSV):
            return f"read_csv({_text(path)}, nullstr = {_texts(CSV_NULLS)})", query, None
        raise InvalidInput(
            f"cannot tell the format of {path!r}: give a .parquet or .csv file, a glob pattern ending in one "
            "of them, or a folder of Parquet files"
        )
    if type(source).__module__.split(".", 1)[0] == "polars" and hasattr(source, "to_arrow"):
        source = source.to_arrow()
    view = "charter_drift_" + uuid.uuid4().hex
    con.register(view, _scannable(source))
    return quote(view), query, view


def _scannable(source: Any) -> Any:
    """pandas categoricals of numbers go through Arrow (DuckDB would read them as DOUBLE with NaN)."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(source, pd.DataFrame):
        return source
    for name in source.columns:
        dtype = source[name].dtype
        if isinstance(dtype, pd.CategoricalDtype) and not pd.api.types.is_string_dtype(dtype.categories.dtype):
            import pyarrow as pa

            return pa.Table.from_pandas(source, preserve_index=False)
    return source


def _guarded(query: Query, source: Any) -> Run:
    def guarded(sql: str) -> Any:
        try:
            return query(sql).to_arrow_table()
        except _READ_ERRORS as exc:
            raise InvalidInput(f"cannot read {_where(source)}: {exc}") from exc

    return guarded


def _streamed(query: Query, source: Any, batch_rows: int) -> Stream:
    """The result as record batches, fetched one by one (DuckDB scans ahead on its own threads)."""

    def stream(sql: str) -> Iterator[Any]:
        try:
            yield from query(sql).to_arrow_reader(batch_rows)
        # A file that goes bad half-way through: DuckDB's error reaches Arrow's reader as an OSError.
        except (*_READ_ERRORS, pa.ArrowException, OSError) as exc:
            raise InvalidInput(f"cannot read {_where(source)}: {exc}") from exc

    return stream


def _where(source: Any) -> str:
    return repr(os.fspath(source)) if isinstance(source, str | os.PathLike) else f"the {type(source).__name__}"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _texts(values: Any) -> str:
    return "[" + ", ".join(_text(v) for v in values) + "]"


def _describe(run: Run, relation: str, source: Any) -> dict[str, str]:
    table = run(f"DESCRIBE SELECT * FROM {relation}")  # noqa: S608
    return dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def _csv_relation(source: Any, described: Mapping[str, str], names: list[str]) -> str:
    """``read_csv`` with text columns never NULL: Arrow's CSV reader (the numpy engine's) keeps "" as text."""
    path = os.fspath(source)
    text = [name for name in names if _type_id(described[name]) == "varchar"]
    extra = f", force_not_null = {_texts(text)}" if text else ""
    return f"read_csv({_text(path)}, nullstr = {_texts(CSV_NULLS)}{extra})"


def _type_id(type_name: str) -> str:
    if type_name.rstrip().endswith("]"):
        return "list"
    return re.split(r"[(\s]", type_name.strip(), maxsplit=1)[0].lower()


def _kind(type_name: str) -> Detected:
    type_id = _type_id(type_name)
    if type_id in ("varchar", "enum", "boolean"):
        return "categorical"
    if type_id in ("float", "double", "decimal") or type_id.endswith("int"):
        return "numeric"
    return None


# --- the queries ----------------------------------------------------------------------------------------


def _profile(
    run: Run,
    stream: Stream,
    relation: str,
    kinds: dict[str, Kind],
    skipped: dict[str, str],
    request: Request,
    described: Mapping[str, str],
    edge_sample_rows: int | None,
) -> DatasetProfile:
    rows = int(run(f"SELECT COUNT(*) FROM {relation}").column(0)[0].as_py())  # noqa: S608
    if rows == 0:
        raise InvalidInput(f"{relation if relation.startswith('read_') else 'the data'} has no rows")
    columns: dict[str, ColumnProfile] = {}
    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    if categorical:
        counted = run(_categorical_query(relation, categorical, described)).to_pylist()[0]
        for i, name in enumerate(categorical):
            pairs = _pairs(counted[f"h{i}"])
            missing = int(counted[f"m{i}"])
            columns[name] = CategoricalProfile.build([k for k, _ in pairs], [n for _, n in pairs], missing)
    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    if numeric and rows <= max(request.max_exact_rows, edge_sample_rows or 0):
        columns.update(_fetched(run, relation, numeric, request))
    elif numeric:
        given = {name: request.edges_of(name) for name in numeric}
        edges = {name: e for name, e in given.items() if e is not None}
        wanted = [name for name in numeric if name not in edges]
        if wanted and edge_sample_rows is not None:
            batches = stream(_numeric_query(relation, wanted))
            edges.update(sample_edges(batches, wanted, rows=rows, bins=request.bins, sample_rows=edge_sample_rows))
        elif wanted:
            edges.update(_sorted_edges(run, relation, wanted, request.bins))
        columns.update(binned_profiles(stream(_numeric_query(relation, numeric)), numeric, edges))
    return DatasetProfile(
        rows=rows,
        columns={name: columns[name] for name in kinds},
        bins=request.bins,
        max_exact_rows=request.max_exact_rows,
        skipped=skipped,
        engine="duckdb",
    )


def _numeric_query(relation: str, names: list[str]) -> str:
    """The numeric columns as DOUBLE, ``v0``, ``v1``, ... in the order of ``names``."""
    cast = ", ".join(f"CAST({quote(name)} AS DOUBLE) AS v{i}" for i, name in enumerate(names))
    return f"SELECT {cast} FROM {relation}"  # noqa: S608


def _fetched(run: Run, relation: str, numeric: list[str], request: Request) -> dict[str, NumericProfile]:
    """Small data: the values fetched in one scan and profiled by NumPy (sorted values kept while they fit)."""
    fetched = run(_numeric_query(relation, numeric))
    out: dict[str, NumericProfile] = {}
    for i, name in enumerate(numeric):
        values, missing, infinite = finite_sorted(fetched.column(f"v{i}"), name)
        given = request.edges_of(name)
        out[name] = NumericProfile.of_sorted(
            values,
            edges=given if given is not None else edges_from_sorted(values, request.bins),
            missing=missing,
            infinite=infinite,
            keep_values=len(values) <= request.max_exact_rows,
        )
    return out


def _categorical_query(relation: str, names: list[str], described: Mapping[str, str]) -> str:
    """One scan counting the values of every categorical column, and its missing values."""
    inner, parts = [], []
    for i, name in enumerate(names):
        value = quote(name)
        if _type_id(described[name]) in ("float", "double"):  # NaN is missing, as NULL is
            value = f"CASE WHEN isnan({value}) THEN NULL ELSE {value} END"
        inner.append(f"{value} AS v{i}")
        parts += [f"histogram(v{i}) AS h{i}", f"COUNT(*) - COUNT(v{i}) AS m{i}"]
    return f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(inner)} FROM {relation})"  # noqa: S608


def _sorted_edges(run: Run, relation: str, names: list[str], bins: int) -> dict[str, F64]:
    """Exact edges: each column's order statistics at ``edge_ranks(count, bins)``, from a sort by DuckDB.

    The column is sorted (``row_number() OVER (ORDER BY x)``, out of core) and the values at those
    ranks kept. (``quantile_disc`` with a list of fractions gives the same values but takes time in
    proportion to their number: ten times longer for 1001.)
    """
    finite = ", ".join(f"COUNT(*) FILTER (isfinite(CAST({quote(n)} AS DOUBLE))) AS c{i}" for i, n in enumerate(names))
    counts = run(f"SELECT {finite} FROM {relation}").to_pylist()[0]  # noqa: S608
    edges: dict[str, F64] = {}
    for i, name in enumerate(names):
        count = int(counts[f"c{i}"])
        if count == 0:
            edges[name] = np.zeros(0, dtype=np.float64)
            continue
        ranks = ", ".join(str(int(r)) for r in edge_ranks(count, bins))
        x = f"CAST({quote(name)} AS DOUBLE)"
        table = run(
            f"SELECT v FROM (SELECT v, row_number() OVER (ORDER BY v) - 1 AS r "  # noqa: S608
            f"FROM (SELECT {x} AS v FROM {relation}) WHERE isfinite(v)) WHERE r IN ({ranks}) ORDER BY v"
        )
        edges[name] = unique_edges(np.asarray(table.column("v").to_numpy(zero_copy_only=False), dtype=np.float64))
    return edges


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    """A MAP as Arrow hands it over: a list of (key, value) pairs (None for an empty aggregate)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    return [(k, v) for k, v in value]
