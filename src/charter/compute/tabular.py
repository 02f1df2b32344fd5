"""Tables of named columns, from wherever the caller keeps them: the role-free half of reading data.

``charter.compute.fairness.inputs`` reads columns by role (``y_true``, ``y_pred``, sensitive
features); drift and later computations read a list of named columns. This module gives them the
same sources, read by the same rules (it builds on the fairness reader's own functions, so a CSV
file is typed the same way by both):

* a pandas or polars DataFrame, an Arrow ``Table`` / ``RecordBatch``, a mapping ``name ->
  array-like`` (read in memory; polars is never imported: its frames are handed over as Arrow);
* an Arrow ``RecordBatchReader`` (read batch by batch, once);
* the path of a Parquet or CSV file (``.parquet``/``.pq``, ``.csv``/``.tsv``, optionally
  compressed): only the wanted columns are read, text columns of Parquet files as Arrow
  dictionaries (so that counting their values costs one ``np.bincount`` of the indices).

A :data:`Table` is a pair ``(names, get)``: the column names and a function from a name to the
raw column (a NumPy array, pandas Series, Arrow array...), nothing converted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from charter.compute.fairness.inputs import (
    Column,
    Progress,
    csv_block_size,
    file_columns,
    file_format,
    is_path,
    is_polars,
    open_csv,
    read_csv,
    table_getter,
)
from charter.errors import InvalidInput

__all__ = [
    "Column",
    "Progress",
    "Table",
    "check_names",
    "column_names",
    "is_path",
    "is_polars",
    "iter_tables",
    "read_table",
    "table_rows",
]

Table = tuple[list[str], Callable[[str], Column]]


def column_names(data: Any) -> list[str]:
    """The column names of any supported source (a file's are read from its schema or header)."""
    if is_path(data):
        return file_columns(data)
    if isinstance(data, pa.RecordBatchReader):
        return list(data.schema.names)
    return table_getter(data)[0]


def check_names(available: Sequence[str], wanted: Sequence[str], *, where: str = "the data") -> None:
    """An :class:`InvalidInput` naming the first unknown column and every available one."""
    known = set(available)
    for name in wanted:
        if name not in known:
            raise InvalidInput(
                f"column {name!r} not found in {where}; available columns: {', '.join(map(str, available))}",
                details={"column": name, "available": [str(a) for a in available]},
            )


def read_table(data: Any, columns: Sequence[str]) -> Table:
    """The wanted columns of ``data``, in memory (a file or reader is read whole, those columns only)."""
    if is_path(data):
        check_names(file_columns(data), columns, where=os.fspath(data))
        return table_getter(_read_file(data, list(columns)))
    if isinstance(data, pa.RecordBatchReader):
        check_names(list(data.schema.names), columns)
        return table_getter(data.read_all().select(list(columns)))
    table = table_getter(data)
    check_names(table[0], columns)
    return table


def table_rows(table: Table) -> int:
    """The number of rows (the length of the first column; 0 for a table without columns)."""
    names, get = table
    return len(get(names[0])) if names else 0


def iter_tables(
    data: Any, columns: Sequence[str], *, chunk_rows: int, progress: Progress | None = None
) -> Iterator[Table]:
    """``data`` in chunks of about ``chunk_rows`` rows: never a whole file in memory.

    Parquet files are read record batch by record batch, CSV files block by block (Arrow infers
    the column types from the first block: a later value that does not fit them is an error),
    readers batch by batch, in-memory tables sliced. ``progress(done, total)`` follows in rows
    (bytes for CSV).
    """
    wanted = list(columns)
    if is_path(data):
        yield from _file_chunks(data, wanted, chunk_rows, progress)
        return
    if isinstance(data, pa.RecordBatchReader):
        check_names(list(data.schema.names), wanted)
        for batch in data:
            yield table_getter(batch.select(wanted))
        return
    _, get = read_table(data, wanted)
    rows = table_rows((wanted, get)) if wanted else 0
    for start in range(0, max(rows, 1), chunk_rows):
        stop = start + chunk_rows
        yield wanted, _sliced(get, start, stop)
        if progress is not None:
            progress(min(stop, rows), rows)


def _sliced(get: Callable[[str], Column], start: int, stop: int) -> Callable[[str], Column]:
    def column(name: str) -> Column:
        values = get(name)
        if isinstance(values, pa.Array | pa.ChunkedArray):
            return values.slice(start, max(0, stop - start))
        if hasattr(values, "iloc"):
            return values.iloc[start:stop]
        return values[start:stop]

    return column


def _string_columns(schema: pa.Schema, columns: Sequence[str]) -> list[str]:
    wanted = set(columns)
    return [
        f.name for f in schema if f.name in wanted and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
    ]


def _read_file(path: str | os.PathLike[str], columns: list[str]) -> pa.Table:
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(os.fspath(path))
        return pq.read_table(os.fspath(path), columns=columns, read_dictionary=_string_columns(schema, columns))
    return read_csv(path, columns)


def _file_chunks(
    path: str | os.PathLike[str], columns: list[str], chunk_rows: int, progress: Progress | None
) -> Iterator[Table]:
    check_names(file_columns(path), columns, where=os.fspath(path))
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(os.fspath(path))
        parquet = pq.ParquetFile(os.fspath(path), read_dictionary=_string_columns(schema, columns))
        total, done = parquet.metadata.num_rows, 0
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
            yield table_getter(batch)
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
        return
    size = os.path.getsize(path)
    with open_csv(path, columns=columns, block_size=csv_block_size(path, chunk_rows)) as (reader, raw):
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:  # a later block does not fit the types of the first
                raise InvalidInput(f"{os.fspath(path)}: cannot read as CSV in chunks: {exc}") from exc
            yield table_getter(batch)
            if progress is not None:
                progress(min(raw.tell(), size), size)
