"""``charter metrics``: import metric points from CSV or Parquet files, and report on a model's series.

Files are read through Arrow in record batches (constant memory, a progress bar on a terminal) and
stored through the same service as the API, 10,000 points per transaction and audit event; running
an import again after a failure is safe (points stored exactly as in the file are skipped).
NumPy, Arrow and the series computations are imported inside the commands (see
``charter.cli.models`` for why).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, database, err, fail, handle_errors, operator, settings, unit_of_work

if TYPE_CHECKING:
    import pyarrow as pa

    from charter.metrics.schemas import MetricsReport
    from charter.metrics.service import Columns

app = typer.Typer(help="Metric series of models: import points, report trends, shifts and anomalies.")
READ_ROWS = 65_536


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise fail(
            f"{option} takes an ISO 8601 time such as 2026-03-01 or 2026-03-01T12:00:00Z, not {text!r}.", 2
        ) from exc


class _Counting:
    """A binary file that remembers how far Arrow has read it (the progress of a CSV, in bytes)."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def tell(self) -> int:
        return self.file.tell()

    @property
    def closed(self) -> bool:
        return self.file.closed

    def close(self) -> None:
        self.file.close()


def _batches(path: Path) -> tuple[Iterator[pa.RecordBatch], int, Any]:
    """(record batches, total for the progress bar, how far read so far) of a CSV or Parquet file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.suffix.lower() in (".parquet", ".pq"):
        parquet = pq.ParquetFile(path)
        done = [0]

        def rows() -> Iterator[pa.RecordBatch]:
            for batch in parquet.iter_batches(batch_size=READ_ROWS):
                done[0] += batch.num_rows
                yield batch

        return rows(), parquet.metadata.num_rows, lambda: done[0]
    raw = _Counting(path)
    reader = pacsv.open_csv(raw, read_options=pacsv.ReadOptions(block_size=1 << 20))

    def blocks() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            raw.close()

    return blocks(), path.stat().st_size, raw.tell


def _millis(column: pa.Array, name: str) -> Any:
    """A time column as int64 milliseconds since the epoch (text: ISO 8601; numbers: seconds; no zone: UTC)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from charter.errors import InvalidInput

    kind = column.type
    try:
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            column = pc.cast(column, pa.timestamp("ms"))  # ISO 8601, with or without a zone
            kind = column.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            column = pc.cast(pc.cast(column, pa.timestamp("ms", tz=getattr(kind, "tz", None))), pa.int64())
            return column.to_numpy(zero_copy_only=False)
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            return np.floor(column.to_numpy(zero_copy_only=False).astype(np.float64) * 1000).astype(np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(f"The time column {name!r} holds a value that is not a time: {exc}") from exc
    raise InvalidInput(f"The time column {name!r} is {kind}: give times as ISO 8601 text or seconds since the epoch.")


def _codes(columns: list[pa.Array], n: int) -> tuple[Any, list[tuple[str, ...]]]:
    """Per row, the index of its combination of values of ``columns``; and the combinations, as text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not columns:
        return np.zeros(n, dtype=np.int64), [()]
    indices = []
    dictionaries = []
    for column in columns:
        encoded = pc.dictionary_encode(pc.cast(column, pa.string()).fill_null(""))
        indices.append(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64))
        dictionaries.append(encoded.dictionary.to_pylist())
    combined, index = np.unique(np.stack(indices, axis=1), axis=0, return_inverse=True)
    values = [tuple(dictionaries[j][int(k)] for j, k in enumerate(row)) for row in combined]
    return index.reshape(-1).astype(np.int64), values


def _columns(
    batch: pa.RecordBatch,
    *,
    time_col: str,
    name_col: str | None,
    value_col: str | None,
    segment_cols: list[str],
    version: str | None,
) -> tuple[Columns, int]:
    """A record batch as service columns (points in series order), and how many empty cells were skipped."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from charter.metrics.service import Columns, SeriesKey

    t = _millis(batch.column(time_col), time_col)
    segment_codes, segments = _codes([batch.column(c) for c in segment_cols], batch.num_rows)
    metric_columns: list[tuple[Any, int | None]]
    if name_col is not None and value_col is not None:
        name_codes, names = _codes([batch.column(name_col)], batch.num_rows)
        metric_columns = [(name_codes, None)]
        labels = [n[0] for n in names]
        values_of = [pc.cast(batch.column(value_col), pa.float64())]
    else:
        skip = {time_col, *segment_cols}
        numeric = [
            f.name
            for f in batch.schema
            if f.name not in skip and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
        ]
        labels = numeric
        metric_columns = [(None, i) for i in range(len(numeric))]
        values_of = [pc.cast(batch.column(c), pa.float64()) for c in numeric]
    codes_parts, t_parts, v_parts = [], [], []
    skipped = 0
    for (name_codes, fixed), column in zip(metric_columns, values_of, strict=True):
        values = column.to_numpy(zero_copy_only=False)
        present = ~np.isnan(values)  # a null cell arrives as NaN; a NaN in the file is a missing value too
        skipped += int((~present).sum())
        metric = name_codes if name_codes is not None else np.full(len(values), fixed, dtype=np.int64)
        codes_parts.append((metric * len(segments) + segment_codes)[present])
        t_parts.append(t[present])
        v_parts.append(values[present])
    combined = np.concatenate(codes_parts) if codes_parts else np.empty(0, dtype=np.int64)
    used, codes = np.unique(combined, return_inverse=True)
    keys = [
        SeriesKey(
            version,
            str(labels[int(u) // len(segments)]),
            tuple(sorted(zip(segment_cols, segments[int(u) % len(segments)], strict=True))),
        )
        for u in used
    ]
    data = Columns(
        keys,
        codes.reshape(-1).astype(np.int64),
        np.concatenate(t_parts) if t_parts else np.empty(0, dtype=np.int64),
        np.concatenate(v_parts) if v_parts else np.empty(0),
    )
    return data, skipped


def _slices(data: Columns, size: int) -> Iterator[Columns]:
    from charter.metrics.service import Columns

    for start in range(0, len(data.t), size):
        part = slice(start, start + size)
        yield Columns(data.keys, data.codes[part], data.t[part], data.values[part])


@app.command("import")
@handle_errors
def import_points(
    path: Path = typer.Argument(..., help="A CSV or Parquet file (.parquet, .pq), one row per time."),
    model: str = typer.Option(..., "--model", "-m", help="Model name or id."),
    version: str | None = typer.Option(None, "--version", "-v", help="The version every point measures."),
    time_col: str = typer.Option("time", "--time-col", help="Column of times (ISO 8601, or seconds since the epoch)."),
    name_col: str | None = typer.Option(None, "--name-col", help="Long format: column of metric names."),
    value_col: str | None = typer.Option(None, "--value-col", help="Long format: column of values."),
    segment_col: list[str] = typer.Option(
        [], "--segment-col", help="A column whose value labels the series, e.g. region (repeatable)."
    ),
) -> None:
    """Import metric points. Long format: --name-col and --value-col; wide format (without them):
    every other numeric column is a metric named after it. Empty cells are skipped. Exit 2 for a
    missing file or column."""
    from charter.metrics.schemas import MAX_BATCH
    from charter.metrics.service import ingest_columns

    if (name_col is None) != (value_col is None):
        raise fail("--name-col and --value-col go together (long format); give neither for the wide format.", 2)
    if not path.is_file():
        raise fail(f"{path} is not a file.", 2)
    batches, total, done = _batches(path)
    config = settings()
    db = database(config)
    received = stored = duplicates = skipped = 0
    series: set[tuple[Any, ...]] = set()
    started = time.perf_counter()
    with _progress(err.is_terminal, total) as update:
        for batch in batches:
            wanted = [time_col, *segment_col, *(c for c in (name_col, value_col) if c is not None)]
            missing = [c for c in wanted if c not in batch.schema.names]
            if missing:
                raise fail(f"column {missing[0]!r} not found in {path}; columns: {', '.join(batch.schema.names)}", 2)
            data, empty = _columns(
                batch,
                time_col=time_col,
                name_col=name_col,
                value_col=value_col,
                segment_cols=segment_col,
                version=version,
            )
            skipped += empty
            for part in _slices(data, MAX_BATCH):
                with unit_of_work(db) as session:
                    result = ingest_columns(session, operator(), model, part)
                received += result.received
                stored += result.stored
                duplicates += result.duplicates
            series.update((k.version, k.name, k.segment) for k in data.keys)
            update(done())
    seconds = time.perf_counter() - started
    console.print(
        f"Imported {stored:,} points into {len(series)} series of [bold]{escape(model)}[/bold]"
        f" ({duplicates:,} already stored, {skipped:,} empty cells skipped) in {seconds:.1f} s"
        + (f" ({received / seconds:,.0f} points/s)." if seconds > 0 and received else ".")
    )


class _progress:
    """A Rich progress bar on stderr (a no-op when not on a terminal)."""

    def __init__(self, show: bool, total: int) -> None:
        self.show = show
        self.total = total
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if self.show:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("importing"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(), console=err
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("import", total=self.total)
        return self.update

    def update(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@app.command("report")
@handle_errors
def report(
    model: str = typer.Option(..., "--model", "-m", help="Model name or id."),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO 8601; default: the first point)."),
    until: str | None = typer.Option(None, "--until", help="Before this time (ISO 8601; default: after the last)."),
    name: str | None = typer.Option(None, "--name", help="One metric (default: all)."),
    version: str | None = typer.Option(None, "--version", "-v", help="One version (default: all)."),
    threshold: list[str] = typer.Option(
        [], "--threshold", help="NAME:OP:VALUE the metric must satisfy, e.g. accuracy:>=:0.9 (repeatable)."
    ),
    method: str = typer.Option("mad", "--method", help="Anomalies: mad (rolling robust z-score) or ewma."),
    output: Literal["table", "json"] = typer.Option("table", "--format", help="table (Rich) or json."),
) -> None:
    """Per series: trend per day with its 95% interval, daily or weekly cycle, mean shifts, anomalies
    and breaches of the model's stored thresholds and of --threshold."""
    from charter.metrics import service

    query = service.SeriesQuery(
        name=name, version=version, since=_moment(since, "--since"), until=_moment(until, "--until")
    )
    judged = [service.parse_threshold(t) for t in threshold]
    with unit_of_work(database(settings())) as session:
        result = service.report(session, operator(), model, query, thresholds=judged, method=method)
    if output == "json":
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        print_report(result)


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def print_report(result: MetricsReport) -> None:
    table = Table(title=f"Metrics of {escape(result.model)}", title_justify="left")
    for heading, justify in (
        ("series", "left"),
        ("points", "right"),
        ("last", "right"),
        ("trend / day", "right"),
        ("cycle", "left"),
        ("shifts", "right"),
        ("anomalies", "right"),
        ("breaches", "left"),
    ):
        table.add_column(heading, justify=justify)  # type: ignore[arg-type]
    notes: list[str] = []
    for s in result.series:
        label = s.name + (f" @{s.version}" if s.version else "")
        if s.segment:
            label += " [" + ", ".join(f"{k}={v}" for k, v in s.segment.items()) + "]"
        trend = s.trend
        slope = "" if trend.slope_per_day is None else f"{trend.slope_per_day:+.4g}"
        if trend.direction in ("increasing", "decreasing"):
            slope += f" ({trend.direction})"
        breached = [b for b in s.breaches if b.breached]
        table.add_row(
            escape(label),
            f"{s.points:,}" + ("" if s.resolution == "raw" else f" ({s.resolution})"),
            "" if s.summary is None else f"{s.summary.last:.4g}",
            slope,
            "" if s.season is None else f"{s.season.period} ({s.season.strength:.2f})",
            str(len(s.change_points)),
            str(s.anomaly_count),
            "[green]none[/green]"
            if s.breaches and not breached
            else ", ".join(f"[red]{escape(b.threshold)}[/red] ({b.points})" for b in breached),
        )
        for c in s.change_points:
            notes.append(f"{escape(label)}: mean {c.before_mean:.4g} -> {c.after_mean:.4g} at {_when(c.time)}")
        for b in breached:
            last = b.episodes[-1]
            notes.append(
                f"{escape(label)}: breaches {escape(b.threshold)} at {b.points} points, the latest "
                f"{_when(last.start)} to {_when(last.end)} (worst {last.worst:.4g})"
            )
        for a in s.anomalies[:5]:
            notes.append(f"{escape(label)}: {_when(a.time)}: {escape(a.reason)}")
    console.print(table)
    for note in notes:
        console.print(f"  {note}")
