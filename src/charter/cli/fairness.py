"""``charter fairness``: a fairness assessment of a CSV or Parquet file of predictions. No server,
database or settings: it reads the file, prints the numbers and checks them against default bounds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, err, fail, handle_errors

# Files larger than this are read in chunks (with a progress bar on a terminal): constant memory.
CHUNK_BYTES = 256 << 20
CHUNK_ROWS = 1_000_000
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
    path: Path = typer.Argument(..., help="A CSV or Parquet file with one row per prediction."),
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
) -> None:
    """Fairness of a model's predictions by group: rates per group, disparities (demographic parity,
    equal opportunity, equalized odds, ...) with bootstrap intervals, and pass/fail against default
    bounds (four-fifths rule, differences <= 0.1). Exit 0; 2 for a missing file or column."""
    from charter.compute.fairness import DEFAULT_MIN_GROUP_SIZE, DEFAULT_THRESHOLDS, assess  # NumPy: only now
    from charter.compute.fairness.inputs import file_columns
    from charter.errors import InvalidInput

    features = [name.strip() for name in sensitive.split(",") if name.strip()]
    try:
        available = file_columns(path)
    except FileNotFoundError as exc:
        raise fail(str(exc), 2) from exc
    except InvalidInput as exc:
        raise fail(exc.message, 2) from exc
    for column in [label, pred, *features, score, weight]:
        if column is not None and column not in available:
            raise fail(f"column {column!r} not found in {path}; available columns: {', '.join(available)}", 2)
    chunked = engine == "numpy" and path.stat().st_size > CHUNK_BYTES
    with _progress(chunked and err.is_terminal) as progress:
        result = assess(
            str(path),
            y_true=label,
            y_pred=pred,
            sensitive_features=features,
            scores=score,
            sample_weight=weight,
            positive_label=positive_label,
            engine=engine,
            chunk_rows=CHUNK_ROWS if chunked else None,
            progress=progress,
            mode=mode or ("reference" if reference is not None else "all_groups"),
            reference_group=reference,
            min_group_size=DEFAULT_MIN_GROUP_SIZE if min_group_size is None else min_group_size,
            thresholds=DEFAULT_THRESHOLDS,
            n_resamples=resamples,
            seed=seed,
            fingerprint=None,
        )
    if output == "json":
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        print_result_dict(result.to_dict(), source=path.name)


class _progress:
    """A Rich progress bar on stderr while chunks are read (a no-op callback when not on a terminal)."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.show:
            return None
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("reading"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("read", total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


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
