"""Where the data comes from: columns out of DataFrames, Arrow tables, files or plain arrays.

``resolve`` turns what the caller passed into a :class:`Columns` (one raw column per role, plus
the sensitive features by name) or, for files read in chunks, an iterator of them. Nothing is
encoded here: the engine decides how to encode each column (a pandas categorical keeps its codes,
an Arrow dictionary its indices), which is what makes the engine fast.

Accepted sources:

* ``data=None``: ``y_true``, ``y_pred``, ``scores``, ``sample_weight`` are array-likes (list,
  NumPy array, pandas Series, polars Series, Arrow array); ``sensitive_features`` is one
  array-like, a dict ``name -> array-like``, a 2-D NumPy array, or a pandas / polars DataFrame
  or an Arrow table (one feature per column).
* ``data`` a pandas or polars DataFrame, an Arrow ``Table`` / ``RecordBatch``, a mapping
  ``name -> array-like``, a ``RecordBatchReader`` (read batch by batch) or the path of a Parquet
  or CSV file (``.parquet``/``.pq``, ``.csv``/``.tsv``, optionally compressed ``.gz``/``.bz2``/
  ``.zst``/``.lz4``): the roles are column names, ``sensitive_features`` a name or a list of names.

polars is never imported: its objects are recognised by their module and handed over as Arrow.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from charter.errors import InvalidInput

Column = Any  # np.ndarray | pd.Series | pd.Categorical | pa.Array | pa.ChunkedArray
# (done, total) in rows (Parquet, Arrow, queries) or bytes (CSV); total is None when unknown (a query, a reader)
Progress = Callable[[int, int | None], None]

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".txt")
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}


@dataclass(frozen=True)
class Columns:
    """One raw column per role, all of the same length; ``names`` label them in error messages."""

    y_true: Column
    y_pred: Column
    sensitive: tuple[tuple[str, Column], ...]
    scores: Column | None
    sample_weight: Column | None
    rows: int
    names: Mapping[str, str]

    def slice(self, start: int, stop: int) -> Columns:
        return replace(
            self,
            y_true=_slice(self.y_true, start, stop),
            y_pred=_slice(self.y_pred, start, stop),
            sensitive=tuple((name, _slice(col, start, stop)) for name, col in self.sensitive),
            scores=None if self.scores is None else _slice(self.scores, start, stop),
            sample_weight=None if self.sample_weight is None else _slice(self.sample_weight, start, stop),
            rows=max(0, min(stop, self.rows) - start),
        )


@dataclass(frozen=True)
class Roles:
    """The column names of each role (when ``data`` is given)."""

    y_true: str
    y_pred: str
    sensitive: tuple[str, ...]
    scores: str | None
    sample_weight: str | None

    @property
    def columns(self) -> list[str]:
        names = [self.y_true, self.y_pred, *self.sensitive, self.scores, self.sample_weight]
        return list(dict.fromkeys(name for name in names if name is not None))

    def describe(self) -> dict[str, str]:
        out = {"y_true": f"y_true ({self.y_true!r})", "y_pred": f"y_pred ({self.y_pred!r})"}
        if self.scores is not None:
            out["scores"] = f"scores ({self.scores!r})"
        if self.sample_weight is not None:
            out["sample_weight"] = f"sample_weight ({self.sample_weight!r})"
        return out


def is_polars(obj: object) -> bool:
    return type(obj).__module__.split(".", 1)[0] == "polars"


def is_path(obj: object) -> bool:
    return isinstance(obj, str | os.PathLike)


def file_format(path: str | os.PathLike[str]) -> str:
    """``"parquet"`` or ``"csv"`` from the file name; anything else is the caller's error."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _PARQUET:
        return "parquet"
    if suffixes and suffixes[-1] in _CSV:
        return "csv"
    raise InvalidInput(f"{os.fspath(path)}: not a Parquet or CSV file name (.parquet, .pq, .csv, .tsv)")


def file_columns(path: str | os.PathLike[str]) -> list[str]:
    """The column names of a Parquet or CSV file (read from its schema or header, not its rows)."""
    kind = file_format(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{os.fspath(path)}: no such file")
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(os.fspath(path)).names)

    with open_csv(path, columns=None, block_size=1 << 16) as (reader, _):
        return list(reader.schema.names)


def resolve(
    data: Any,
    *,
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    scores: Any,
    sample_weight: Any,
) -> tuple[Columns | None, Roles | None]:
    """The columns of an in-memory source, or ``(None, roles)`` for sources read later (files, readers)."""
    if data is None:
        return _from_arrays(y_true, y_pred, sensitive_features, scores, sample_weight), None
    roles = roles_of(
        y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features, scores=scores, sample_weight=sample_weight
    )
    if is_path(data) or isinstance(data, pa.RecordBatchReader):
        return None, roles
    table = table_getter(data)
    return _columns(table, roles), roles


def roles_of(*, y_true: Any, y_pred: Any, sensitive_features: Any, scores: Any, sample_weight: Any) -> Roles:
    """The column names, checked to be names (with ``data``, every role names a column)."""
    if isinstance(sensitive_features, str):
        sensitive: tuple[str, ...] = (sensitive_features,)
    elif isinstance(sensitive_features, Sequence) and all(isinstance(s, str) for s in sensitive_features):
        sensitive = tuple(sensitive_features)
    else:
        raise InvalidInput("with data, sensitive_features must be a column name or a list of column names")
    if not sensitive:
        raise InvalidInput("at least one sensitive feature is needed")
    if len(set(sensitive)) != len(sensitive):
        raise InvalidInput(f"sensitive features repeat a column: {list(sensitive)}")
    for role, value in (("y_true", y_true), ("y_pred", y_pred)):
        if not isinstance(value, str):
            raise InvalidInput(f"with data, {role} must be a column name")
    for role, value in (("scores", scores), ("sample_weight", sample_weight)):
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"with data, {role} must be a column name or None")
    return Roles(y_true, y_pred, sensitive, scores, sample_weight)


def check_columns(available: Sequence[str], roles: Roles) -> None:
    """An :class:`InvalidInput` naming the first unknown column and every available one."""
    known = set(available)
    for name in roles.columns:
        if name not in known:
            raise InvalidInput(
                f"column {name!r} not found; available columns: {', '.join(map(str, available))}",
                details={"column": name, "available": [str(a) for a in available]},
            )


# --- in-memory sources ---------------------------------------------------------------------------


def table_getter(data: Any) -> tuple[list[str], Callable[[str], Column]]:
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns], lambda name: data[name]
    if isinstance(data, pa.Table | pa.RecordBatch):
        return list(data.schema.names), lambda name: data.column(name)
    if is_polars(data) and hasattr(data, "get_column"):
        return list(data.columns), lambda name: data.get_column(name).to_arrow()
    if isinstance(data, Mapping):
        return [str(k) for k in data], lambda name: data[name]
    raise InvalidInput(
        f"unsupported data of type {type(data).__name__}: pass a pandas or polars DataFrame, an Arrow table, "
        "a mapping of columns, or the path of a Parquet or CSV file"
    )


def _columns(table: tuple[list[str], Callable[[str], Column]], roles: Roles) -> Columns:
    available, get = table
    check_columns(available, roles)
    return role_columns(get, roles)


def role_columns(get: Callable[[str], Column], roles: Roles) -> Columns:
    """The column of each role, fetched by name with ``get`` (the names already checked)."""
    return _assemble(
        get(roles.y_true),
        get(roles.y_pred),
        [(name, get(name)) for name in roles.sensitive],
        None if roles.scores is None else get(roles.scores),
        None if roles.sample_weight is None else get(roles.sample_weight),
        names=roles.describe(),
    )


def _from_arrays(y_true: Any, y_pred: Any, sensitive_features: Any, scores: Any, sample_weight: Any) -> Columns:
    for role, value in (("y_true", y_true), ("y_pred", y_pred)):
        if isinstance(value, str):
            raise InvalidInput(f"{role} is a column name ({value!r}) but no data was given")
    return _assemble(
        _array_like(y_true),
        _array_like(y_pred),
        _sensitive_arrays(sensitive_features),
        None if scores is None else _array_like(scores),
        None if sample_weight is None else _array_like(sample_weight),
        names={},
    )


def _sensitive_arrays(features: Any) -> list[tuple[str, Column]]:
    if isinstance(features, str) or features is None:
        raise InvalidInput("sensitive_features names a column but no data was given; pass the values instead")
    if isinstance(features, pd.DataFrame):
        return [(str(c), features[c]) for c in features.columns]
    if isinstance(features, pa.Table | pa.RecordBatch):
        return [(name, features.column(name)) for name in features.schema.names]
    if is_polars(features) and hasattr(features, "get_column"):
        return [(name, features.get_column(name).to_arrow()) for name in features.columns]
    if isinstance(features, Mapping):
        return [(str(name), _array_like(values)) for name, values in features.items()]
    if isinstance(features, np.ndarray) and features.ndim == 2:
        return [(f"sensitive_feature_{i}", features[:, i]) for i in range(features.shape[1])]
    name = getattr(features, "name", None)
    return [(name if isinstance(name, str) and name else "sensitive_feature_0", _array_like(features))]


def _array_like(values: Any) -> Column:
    if isinstance(values, np.ndarray | pd.Series | pd.Index | pd.Categorical | pa.Array | pa.ChunkedArray):
        return values
    if isinstance(values, pd.api.extensions.ExtensionArray):
        return pd.Series(values)
    if is_polars(values) and hasattr(values, "to_arrow"):
        return values.to_arrow()
    array = np.asarray(values)
    if array.dtype.kind in "US":  # keep the caller's Python values: ["a", 1] must not become ["a", "1"]
        array = np.asarray(values, dtype=object)
    return array


def _assemble(
    y_true: Column,
    y_pred: Column,
    sensitive: Sequence[tuple[str, Column]],
    scores: Column | None,
    sample_weight: Column | None,
    *,
    names: Mapping[str, str],
) -> Columns:
    if not sensitive:
        raise InvalidInput("at least one sensitive feature is needed")
    lengths = {"y_true": _length(y_true), "y_pred": _length(y_pred)}
    lengths.update({f"sensitive feature {name!r}": _length(col) for name, col in sensitive})
    if scores is not None:
        lengths["scores"] = _length(scores)
    if sample_weight is not None:
        lengths["sample_weight"] = _length(sample_weight)
    if len(set(lengths.values())) > 1:
        raise InvalidInput(f"columns differ in length: {', '.join(f'{k}={v}' for k, v in lengths.items())}")
    return Columns(y_true, y_pred, tuple(sensitive), scores, sample_weight, lengths["y_true"], names)


def _length(column: Column) -> int:
    if isinstance(column, np.ndarray) and column.ndim != 1:
        raise InvalidInput(f"expected a one-dimensional column, got shape {column.shape}")
    return len(column)


def _slice(column: Column, start: int, stop: int) -> Column:
    if isinstance(column, pa.Array | pa.ChunkedArray):
        return column.slice(start, max(0, stop - start))
    if isinstance(column, pd.Series):
        return column.iloc[start:stop]
    return column[start:stop]


def in_memory_batches(columns: Columns, chunk_rows: int, progress: Progress | None) -> Iterator[Columns]:
    for start in range(0, max(columns.rows, 1), chunk_rows):
        yield columns.slice(start, start + chunk_rows)
        if progress is not None:
            progress(min(start + chunk_rows, columns.rows), columns.rows)


# --- files and readers ---------------------------------------------------------------------------


def read_file(path: str | os.PathLike[str], roles: Roles) -> Columns:
    """The whole of a Parquet or CSV file's needed columns, as one Arrow table."""
    check_columns(file_columns(path), roles)
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(os.fspath(path), columns=roles.columns, read_dictionary=_string_columns(path, roles))
    else:
        table = read_csv(path, roles.columns)
    return _columns(table_getter(table), roles)


def file_batches(
    path: str | os.PathLike[str], roles: Roles, *, chunk_rows: int, progress: Progress | None
) -> Iterator[Columns]:
    """A Parquet or CSV file in chunks of about ``chunk_rows`` rows (never the whole file in memory).

    CSV column types are inferred from the first chunk (Arrow's streaming reader): a column whose
    later values do not fit that type is an error, which reading the file whole would not raise.
    """
    check_columns(file_columns(path), roles)
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(os.fspath(path), read_dictionary=_string_columns(path, roles))
        total, done = parquet.metadata.num_rows, 0
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=roles.columns):
            yield _columns(table_getter(batch), roles)
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
        return
    size = Path(path).stat().st_size
    with open_csv(path, columns=roles.columns, block_size=csv_block_size(path, chunk_rows)) as (reader, raw):
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:  # a later block does not fit the types of the first
                raise InvalidInput(f"{os.fspath(path)}: cannot read as CSV in chunks: {exc}") from exc
            yield _columns(table_getter(batch), roles)
            if progress is not None:
                progress(min(raw.tell(), size), size)
        if progress is not None:
            progress(size, size)


def reader_batches(
    reader: pa.RecordBatchReader, roles: Roles, *, progress: Progress | None = None
) -> Iterator[Columns]:
    """A record-batch reader batch by batch; ``progress(rows so far, None)`` after each (its length is unknown)."""
    check_columns(list(reader.schema.names), roles)
    done = 0
    for batch in reader:
        yield _columns(table_getter(batch), roles)
        done += batch.num_rows
        if progress is not None:
            progress(done, None)


def _string_columns(path: str | os.PathLike[str], roles: Roles) -> list[str]:
    """Columns read as Arrow dictionaries, so that encoding them costs nothing."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(os.fspath(path))
    wanted = set(roles.sensitive) | {roles.y_true, roles.y_pred}
    return [
        field.name
        for field in schema
        if field.name in wanted and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type))
    ]


def csv_block_size(path: str | os.PathLike[str], chunk_rows: int) -> int:
    """Arrow's CSV reader counts bytes, not rows: estimate the bytes per row from the file's start."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    per_row = max(1, len(head) // max(1, head.count(b"\n")))
    return int(min(max(per_row * chunk_rows, 1 << 16), 1 << 30))


def _csv_options(path: str | os.PathLike[str], columns: list[str] | None, block_size: int | None) -> dict[str, Any]:
    import pyarrow.csv as pacsv

    tsv = ".tsv" in [s.lower() for s in Path(path).suffixes]
    return {
        "read_options": pacsv.ReadOptions(block_size=block_size) if block_size else pacsv.ReadOptions(),
        "parse_options": pacsv.ParseOptions(delimiter="\t" if tsv else ","),
        # Arrow's rules, which the DuckDB engine follows too: an empty field or NA marker is missing in a
        # numeric column, but an empty text field is the label "" (pandas.read_csv would make it NaN).
        "convert_options": pacsv.ConvertOptions(include_columns=columns, auto_dict_encode=True),
    }


def read_csv(path: str | os.PathLike[str], columns: list[str]) -> pa.Table:
    """A whole CSV file (types inferred over all of it; compression from the file name)."""
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(os.fspath(path), **_csv_options(path, columns, None))
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{os.fspath(path)}: cannot read as CSV: {exc}") from exc


class _CsvContext:
    """A streaming CSV reader and the raw file under it (whose position tells the progress)."""

    def __init__(self, path: str | os.PathLike[str], columns: list[str] | None, block_size: int | None) -> None:
        self.path, self.columns, self.block_size = path, columns, block_size
        self.raw: Any = None

    def __enter__(self) -> tuple[Any, Any]:
        import pyarrow.csv as pacsv

        suffixes = [s.lower() for s in Path(self.path).suffixes]
        codec = _COMPRESSED.get(suffixes[-1]) if suffixes else None
        self.raw = pa.OSFile(os.fspath(self.path), "rb")
        stream = pa.CompressedInputStream(self.raw, codec) if codec else self.raw
        try:
            reader = pacsv.open_csv(stream, **_csv_options(self.path, self.columns, self.block_size))
        except pa.ArrowInvalid as exc:
            self.raw.close()
            raise InvalidInput(f"{os.fspath(self.path)}: cannot read as CSV: {exc}") from exc
        return reader, self.raw

    def __exit__(self, *exc: object) -> None:
        self.raw.close()


def open_csv(path: str | os.PathLike[str], *, columns: list[str] | None, block_size: int | None) -> _CsvContext:
    return _CsvContext(path, columns, block_size)
