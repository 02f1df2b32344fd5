"""``charter fairness``: a fairness assessment of a CSV or Parquet file of predictions, or of a SQL
query's result. No server, database or settings: it reads the data, prints the numbers and checks
them against default bounds.

``sql_source``, ``read_plan`` and ``ReadProgress`` decide where a command's data comes from, how
it is read (in chunks? with a progress bar?) and draw the bar; ``charter assess fairness`` uses
them too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, err, fail, handle_errors

if TYPE_CHECKING:
    from charter.compute.fairness import SqlQuery
    from charter.errors import InvalidInput

# Files larger than this are read in chunks (with a progress bar on a terminal): constant memory.
CHUNK_BYTES = 256 << 20
CHUNK_ROWS = 1_000_000
SQL_HELP = (
    "A query whose result columns are the data, instead of a file. Run by DuckDB in process (it reads files: "
    "read_parquet('dir/**/*.parquet', hive_partitioning=true)), or with --db by that database."
)
DB_HELP = (
    "With --sql: the SQLAlchemy URL of the SQLite file or PostgreSQL database to run it on (sqlite:///path.db, "
    "postgresql://user@host/db); its rows stream in batches over a read-only connection (numpy engine)."
)
# Per-group columns of the table, in order (the JSON has every rate).
_GROUP_COLUMNS = (
    ("selection_rate", "select"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
    ("false_negative_rate", "FNR"),
    ("precision", "PPV"),
    ("impact_ratio", "impact"),
)
_AGGREGATE_ROWS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "average_odds_difference",
    "average_absolute_odds_difference",
    "false_positive_rate_difference",
    "predictive_parity_difference",
    "false_discovery_rate_difference",
    "false_omission_rate_difference",
    "auc_difference",
)


def register(app: typer.Typer) -> None:
    app.command("fairness")(fairness)


@handle_errors
def fairness(
    path: Path | None = typer.Argument(None, help="A CSV or Parquet file with one row per prediction (or --sql)."),
    label: str = typer.Option(..., "--label", help="Column of true labels."),
    pred: str = typer.Option(..., "--pred", help="Column of predicted labels (same labels as --label, or 0/1)."),
    sensitive: str = typer.Option(..., "--sensitive", help="Sensitive feature column(s), comma-separated."),
    score: str | None = typer.Option(None, "--score", help="Column of scores in [0, 1] (AUC, calibration)."),
    weight: str | None = typer.Option(None, "--weight", help="Column of sample weights."),
    positive_label: str | None = typer.Option(
        None, "--positive-label", help="The favourable label (needed unless the labels are 0/1 or true/false)."
    ),
    reference: str | None = typer.Option(
        None, "--reference", help="Compare every group with this one (values comma-separated for several features)."
    ),
    mode: Literal["all_groups", "reference"] | None = typer.Option(
        None, "--mode", help="all_groups (max - min; default) or reference (default with --reference)."
    ),
    engine: Literal["numpy", "duckdb", "spark"] = typer.Option("numpy", "--engine", help="Where to compute."),
    min_group_size: int | None = typer.Option(
        None, "--min-group-size", min=0, help="Groups with fewer rows are left out of the aggregates (default 30)."
    ),
    resamples: int = typer.Option(1000, "--resamples", min=0, help="Bootstrap resamples for the intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    output: Literal["table", "json"] = typer.Option("table", "--format", help="table (Rich) or json."),
    sql: str | None = typer.Option(None, "--sql", help=SQL_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Fairness of a model's predictions by group: rates per group, disparities (demographic parity,
    equal opportunity, equalized odds, ...) with bootstrap intervals, and pass/fail against default
    bounds (four-fifths rule, differences <= 0.1). The data is PATH or the result of --sql. Exit 0;
    2 for a missing file or column, or a query that cannot run."""
    from charter.compute.fairness import DEFAULT_MIN_GROUP_SIZE, DEFAULT_THRESHOLDS, assess  # NumPy: only now
    from charter.compute.fairness.inputs import file_columns
    from charter.errors import InvalidInput

    query = sql_source(path, sql, db, path_name="PATH")
    features = [name.strip() for name in sensitive.split(",") if name.strip()]
    if path is not None:
        try:
            available = file_columns(path)
        except FileNotFoundError as exc:
            raise fail(str(exc), 2) from exc
        except InvalidInput as exc:
            raise fail(exc.message, 2) from exc
        for column in [label, pred, *features, score, weight]:
            if column is not None and column not in available:
                raise fail(f"column {column!r} not found in {path}; available columns: {', '.join(available)}", 2)
    plan = read_plan(path, engine)
    try:
        with ReadProgress(plan.bar) as progress:
            result = assess(
                query if query is not None else str(path),
                y_true=label,
                y_pred=pred,
                sensitive_features=features,
                scores=score,
                sample_weight=weight,
                positive_label=positive_label,
                engine=engine,
                chunk_rows=plan.chunk_rows,
                progress=progress,
                mode=mode or ("reference" if reference is not None else "all_groups"),
                reference_group=reference,
                min_group_size=DEFAULT_MIN_GROUP_SIZE if min_group_size is None else min_group_size,
                thresholds=DEFAULT_THRESHOLDS,
                n_resamples=resamples,
                seed=seed,
                fingerprint=None,
            )
    except InvalidInput as exc:
        if query is not None and is_source_error(exc):  # as for a missing file or column
            raise fail(exc.message, 2) from exc
        raise
    if output == "json":
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        print_result_dict(result.to_dict(), source=query.describe() if query is not None else Path(str(path)).name)


def sql_source(path: Path | None, sql: str | None, db: str | None, *, path_name: str) -> SqlQuery | None:
    """The query of ``--sql`` (on ``--db``), or None when the data is a file: exactly one of them (else exit 2)."""
    if (path is None) == (sql is None):
        raise fail(f"Give either {path_name} or --sql (exactly one of them).", 2)
    if db is not None and sql is None:
        raise fail("--db names the database a --sql query runs on: give --sql too.", 2)
    if sql is None:
        return None
    from charter.compute.fairness import SqlQuery
    from charter.errors import InvalidInput

    try:
        return SqlQuery(sql, url=db)
    except InvalidInput as exc:
        raise fail(exc.message, 2) from exc


def is_source_error(exc: InvalidInput) -> bool:
    """The query could not run or lacks a column (rather than: its data break a rule, say labels that
    are not binary)."""
    from charter.compute.fairness.sql import SOURCE_ERROR

    return exc.details.get("source") == SOURCE_ERROR["source"] or "available" in exc.details


@dataclass(frozen=True)
class ReadPlan:
    """How a command reads its data: ``chunk_rows`` (None: whole, or a query in its own batches), and
    whether it draws a progress bar."""

    chunk_rows: int | None
    bar: bool


def read_plan(path: Path | None, engine: str) -> ReadPlan:
    """Chunks for a file over ``CHUNK_BYTES`` read by the numpy engine, with a bar on a terminal.

    A query (``path`` None) is always read in batches by the numpy engine and its size is unknown
    until it has been read, so it gets the bar on a terminal (counting rows). The DuckDB and Spark
    engines read out of core by themselves and report no progress.
    """
    if engine != "numpy":
        return ReadPlan(None, False)
    if path is None:
        return ReadPlan(None, err.is_terminal)
    large = path.is_file() and path.stat().st_size > CHUNK_BYTES
    return ReadPlan(CHUNK_ROWS if large else None, large and err.is_terminal)


class ReadProgress:
    """A Rich progress bar on stderr while chunks are read: entering gives the engines' ``progress``
    callback (``None`` without a bar). Without a bar, ``status`` (when given) shows as a spinner."""

    def __init__(self, show: bool, *, status: str | None = None) -> None:
        self.show = show
        self.status = status
        self.live: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.show:
            if self.status is not None:
                self.live = err.status(self.status)
                self.live.__enter__()
            return None
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self.live = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self.live.__enter__()
        self.task = self.live.add_task("reading", total=None)
        return self.update

    def update(self, done: int, total: int | None) -> None:
        """``done`` of ``total`` rows or bytes; ``total`` None when unknown (a query: the rows so far)."""
        description = "reading" if total is not None else f"reading: {done:,} rows"
        self.live.update(self.task, completed=done, total=total, description=description)

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "[dim]n/a[/dim]" if value is None else f"{value:.{digits}f}"


def _text(group: Mapping[str, Any] | None) -> str:
    """A group of the JSON body for people (as ``report.group_text``)."""
    if group is None:
        return ""
    return escape(", ".join("(missing)" if v is None else str(v) for v in group.values()))


def print_result_dict(body: Mapping[str, Any], *, source: str | None = None) -> None:
    """Print a fairness result from its JSON form (``FairnessResult.to_dict()``, as stored in evidence)."""
    features = ", ".join(body["features"])
    weighted = bool(body["statistics"].get("weighted"))
    has_scores = body["statistics"].get("score_hist") is not None
    title = f"Groups ({escape(features)})" + (f" in {escape(source)}" if source else "")
    groups = Table(title=title, title_justify="left")
    groups.add_column("group", ratio=1, overflow="fold")
    groups.add_column("rows", justify="right", no_wrap=True)
    if weighted:
        groups.add_column("weight", justify="right", no_wrap=True)
    shown = [key for key, _ in _GROUP_COLUMNS] + (["auc"] if has_scores else [])
    for heading in [heading for _, heading in _GROUP_COLUMNS] + (["AUC"] if has_scores else []):
        groups.add_column(heading, justify="right", no_wrap=True)
    notes: list[str] = []
    for g in body["by_group"]:
        name = escape(g["label"]) + (" [yellow](too small)[/yellow]" if g["too_small"] else "")
        if body.get("reference_group") == g["group"]:
            name += " [cyan](reference)[/cyan]"
        row = [name, f"{g['count']:,}"] + ([f"{g['weight']:,.1f}"] if weighted else [])
        groups.add_row(*row, *(_fmt(g.get(key)) for key in shown))
        notes += [
            f"{escape(g['label'])}: {key} undefined: {escape(why)}"
            for key, why in g["undefined"].items()
            if key in shown
        ]
    console.print(groups)
    for note in notes:
        console.print(f"  [dim]{note}[/dim]")

    confidence = body.get("bootstrap", {}).get("confidence", 0.95)
    table = Table(title=f"Disparities ({body['mode'].replace('_', ' ')})", title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column(f"{confidence:.0%} CI", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("between / why undefined", ratio=1, min_width=16, overflow="fold")
    for name in _AGGREGATE_ROWS:
        agg = body["aggregates"][name]
        if name == "auc_difference" and not has_scores:
            continue
        interval = agg.get("interval") or {}
        ci = "" if interval.get("low") is None else f"{interval['low']:.3f} to {interval['high']:.3f}"
        compared = agg.get("compared")
        note = f"{_text(compared[0])} vs {_text(compared[1])}" if compared else ""
        if agg["value"] is None:
            note = f"[dim]{escape(agg['reason'] or '')}[/dim]"
        threshold = agg.get("threshold")
        check = ""
        if threshold is not None:
            check = f"{_VERDICT[threshold['passed']]} ({threshold['op']} {threshold['bound']:g})"
            measured = threshold.get("measured")
            if measured is not None and measured != agg["value"]:  # |difference| or min(ratio, 1/ratio)
                check += f" as {measured:.3f}"
        table.add_row(name, _fmt(agg["value"]), ci, check, note)
    console.print(table)
    four = body["four_fifths"]
    if four["ratio"] is None:
        console.print(f"Four-fifths rule: [yellow]undefined[/yellow] ({escape(four['reason'] or '')})")
    else:
        below = "; ".join(_text(g) for g in four["below"])
        console.print(
            f"Four-fifths rule: {_VERDICT[four['passed']]}: the lowest selection rate is {four['ratio']:.3f} x the "
            f"most favoured group's ({_text(four['most_favoured'])})" + (f"; below 0.8: {below}" if below else "")
        )
    if body["too_small"]:
        console.print(
            f"[yellow]Too small (< {body['min_group_size']} rows), left out of the aggregates:[/yellow] "
            + "; ".join(f"{_text(t['group'])} ({t['count']})" for t in body["too_small"])
        )
    checks = body["thresholds"]["checks"]
    if checks:
        passed = sum(1 for c in checks if c["passed"])
        verdict = _OVERALL[body["thresholds"]["passed"]]
        console.print(f"{verdict}: {passed} of {len(checks)} checks pass.")


_VERDICT = {True: "[green]pass[/green]", False: "[red]fail[/red]", None: "[yellow]undefined[/yellow]"}
_OVERALL = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: "[yellow]UNDECIDED[/yellow]"}
