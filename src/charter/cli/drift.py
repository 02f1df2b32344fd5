"""``charter drift``: data drift between a reference and a current CSV or Parquet file. No server,
database or settings: it reads both files, prints each column's statistics and the verdict."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, fail, handle_errors

# Files larger than this are read in chunks by the numpy engine (with a progress bar on a terminal).
CHUNK_BYTES = 256 << 20
CHUNK_ROWS = 1_000_000
_SHOWN = (
    ("psi", "PSI"),
    ("ks_pvalue", "KS p"),
    ("wasserstein_distance_norm", "W norm"),
    ("jensenshannon_distance", "JS"),
    ("chi2_pvalue", "chi2 p"),
)


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def _thresholds(pairs: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise fail(f"--threshold takes NAME=NUMBER (e.g. psi=0.25), not {pair!r}", 2)
    return out


@handle_errors
def drift(
    reference: Path = typer.Argument(..., help="The reference data: a CSV or Parquet file (e.g. the training set)."),
    current: Path = typer.Argument(..., help="The current data: a CSV or Parquet file with the same columns."),
    columns: str | None = typer.Option(None, "--columns", help="Columns to compare, comma-separated (default: all)."),
    categorical: str | None = typer.Option(
        None, "--categorical", help="Columns to treat as categories although numeric, comma-separated."
    ),
    prediction: str | None = typer.Option(None, "--prediction", help="The model's prediction column (reported apart)."),
    target: str | None = typer.Option(None, "--target", help="The true label column (label drift, reported apart)."),
    engine: Literal["numpy", "duckdb", "spark"] = typer.Option("numpy", "--engine", help="Where to compute."),
    stattest: str = typer.Option(
        "auto",
        "--stattest",
        help="The statistic deciding drift: auto, psi, ks_pvalue, wasserstein_distance_norm, "
        "jensenshannon_distance or chi2_pvalue.",
    ),
    threshold: list[str] = typer.Option(
        [], "--threshold", help="Override a statistic's bound, NAME=NUMBER (repeatable), e.g. psi=0.25."
    ),
    drift_share: float = typer.Option(
        0.5, "--drift-share", help="The dataset drifts when at least this share of the columns drifted."
    ),
    output: Literal["table", "json"] = typer.Option("table", "--format", help="table (Rich) or json."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 when the dataset drifted."),
) -> None:
    """Data drift of CURRENT against REFERENCE, column by column: PSI, Kolmogorov-Smirnov, Wasserstein and
    Jensen-Shannon for numeric columns, PSI, chi-square and Jensen-Shannon for categorical ones, which
    columns drifted, and the dataset verdict (share of drifted columns). Exit 0 (1 with --fail-on-drift
    when the dataset drifted); 2 for a missing file or column."""
    from charter.compute.drift import drift as compute_drift  # NumPy: only now
    from charter.compute.tabular import column_names
    from charter.errors import InvalidInput

    wanted = _split(columns)
    bounds = _thresholds(threshold)
    for path in (reference, current):
        try:
            available = column_names(path)
        except FileNotFoundError as exc:
            raise fail(str(exc), 2) from exc
        except InvalidInput as exc:
            raise fail(exc.message, 2) from exc
        for name in [*(wanted or []), *(_split(categorical) or []), prediction, target]:
            if name is not None and name not in available:
                raise fail(f"column {name!r} not found in {path}; available columns: {', '.join(available)}", 2)
    chunked = engine == "numpy" and max(reference.stat().st_size, current.stat().st_size) > CHUNK_BYTES
    report = compute_drift(
        str(reference),
        str(current),
        columns=wanted,
        categorical=_split(categorical),
        prediction=prediction,
        target=target,
        engine=engine,
        chunk_rows=CHUNK_ROWS if chunked else None,
        stattest=stattest,
        thresholds=bounds,
        drift_share=drift_share,
    )
    body = report.to_dict()
    if output == "json":
        typer.echo(json.dumps(body, indent=2))
    else:
        print_report_dict(body, source=f"{current.name} vs {reference.name}")
    if fail_on_drift and report.dataset_drift:
        raise typer.Exit(1)


def _fmt(value: Any) -> str:
    if value is None:
        return "[dim]n/a[/dim]"
    if isinstance(value, float) and (value != 0 and abs(value) < 1e-3):
        return f"{value:.1e}"
    return f"{value:.3f}"


def _drifted(value: bool | None) -> str:
    return {True: "[red]drift[/red]", False: "[green]no drift[/green]", None: "[yellow]undecided[/yellow]"}[value]


def _row(name: str, column: Mapping[str, Any]) -> list[str]:
    ref, cur = column["reference"], column["current"]
    missing = f"{ref['missing_share'] or 0:.1%} -> {cur['missing_share'] or 0:.1%}"
    notes = []
    if column.get("new_categories"):
        notes.append("new: " + ", ".join(map(str, column["new_categories"][:5])))
    if column.get("missing_categories"):
        notes.append("gone: " + ", ".join(map(str, column["missing_categories"][:5])))
    if column.get("ks_method") == "binned":
        notes.append(f"binned KS +-{column['ks_error_bound']:.4f}")
    if column["drifted"] is None and column.get("reason"):
        notes.append(column["reason"])
    decided = f"{column['stattest']} {_fmt(column.get(column['stattest']))} vs {column['threshold']:g}"
    return [
        escape(name),
        column["kind"],
        _drifted(column["drifted"]),
        escape(decided),
        *(_fmt(column.get(key)) if key in column else "" for key, _ in _SHOWN),
        missing,
        escape("; ".join(notes)),
    ]


def print_report_dict(body: Mapping[str, Any], *, source: str | None = None) -> None:
    """Print a drift report from its JSON form (``DriftReport.to_dict()``)."""
    table = Table(title="Drift by column" + (f" ({escape(source)})" if source else ""), title_justify="left")
    table.add_column("column", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("decided by", overflow="fold")
    for _, heading in _SHOWN:
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_column("missing", no_wrap=True)
    table.add_column("notes", ratio=1, overflow="fold")
    for name, column in body["columns"].items():
        table.add_row(*_row(name, column))
    for role in ("prediction", "target"):
        column = body.get(role)
        if column is not None:
            table.add_row(*_row(f"{column['column']} ({role})", column))
    console.print(table)
    for name, why in body.get("skipped", {}).items():
        console.print(f"  [dim]skipped {escape(name)}: {escape(why)}[/dim]")
    share = body["drift_share"]
    verdict = {
        "drift": "[red]DRIFT[/red]",
        "no_drift": "[green]NO DRIFT[/green]",
        "undecided": "[yellow]UNDECIDED[/yellow]",
    }
    decided = body["number_of_columns"] - len(body["undecided_columns"])
    detail = "no column could be decided" if share is None else (
        f"{len(body['drifted_columns'])} of {decided} columns drifted (share {share:.2f}; "
        f"the dataset drifts at >= {body['share_threshold']:g})"
    )  # fmt: skip
    console.print(f"{verdict[body['verdict']]}: {detail}.")
    for role, label in (("prediction", "Prediction drift"), ("target", "Label drift")):
        column = body.get(role)
        if column is not None:
            console.print(f"{label} ({escape(column['column'])}): {_drifted(column['drifted'])}.")
