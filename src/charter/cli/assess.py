"""``charter assess``: assessments stored as evidence on a model version.

``charter assess fairness`` reduces a data file or a SQL query's result, here, to sufficient
statistics, and Charter's service derives, judges and stores the metrics (as the API does for the
SDK). ``charter assess decisions`` assesses the decisions a version logged, in the local database.
NumPy, pandas and the engines are imported inside the commands (see ``charter.cli.models`` for why).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import typer

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work

if TYPE_CHECKING:
    from pydantic import BaseModel

    from charter.evidence.schemas import EvidenceRead

Engine = Literal["numpy", "duckdb", "spark"]
M = TypeVar("M", bound="BaseModel")
app = typer.Typer(help="Assessments stored as evidence on a model version.", no_args_is_help=True)
_DESCRIPTION_LIMIT = 1000  # FairnessEvidenceCreate.data_description's max_length


def file_fingerprint(path: Path) -> str:
    """``sha256:<hex>`` of a file, or of a folder's files in name order (a partitioned Parquet dataset)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file != path:
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


@app.command("fairness")
@handle_errors
def fairness(
    model: str = typer.Option(..., "--model", "-m", help="Model name or id."),
    version: str = typer.Option(..., "--version", "-v", help="The version assessed."),
    data: Path | None = typer.Option(
        None, "--data", help="CSV or Parquet file (or a folder of Parquet files); or give --sql."
    ),
    label: str = typer.Option(..., help="Column of the true outcome."),
    pred: str = typer.Option(..., help="Column of the model's decision."),
    sensitive: str = typer.Option(..., help="Sensitive column(s), comma-separated for intersectional groups."),
    score: str | None = typer.Option(None, help="Column of scores in [0, 1] (calibration and AUC by group)."),
    weight: str | None = typer.Option(None, help="Column of sample weights."),
    positive_label: str | None = typer.Option(None, help="The favourable outcome's value (default 1/True)."),
    reference: str | None = typer.Option(
        None, help="Compare each group with this one (comma-separated for several features); default: all groups."
    ),
    engine: str = typer.Option("numpy", help="numpy, duckdb or spark."),
    min_group_size: int | None = typer.Option(None, min=1, help="Smaller groups are reported, not used."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored evidence as JSON."),
    sql: str | None = typer.Option(
        None,
        "--sql",
        help="A query whose result columns are the data, instead of --data: run by DuckDB in process (it reads "
        "files), or with --db by that database. The evidence's data fingerprint is then the sha256 of the SQL "
        "text and the URL with any password removed.",
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        help="With --sql: the SQLAlchemy URL of the SQLite file or PostgreSQL database to run it on (numpy engine).",
    ),
) -> None:
    """Compute a fairness assessment on DATA (or a --sql query's result) and store it as immutable
    evidence on MODEL VERSION."""
    import json

    from charter.cli.fairness import ReadProgress, read_plan, sql_source
    from charter.compute.fairness import compute_statistics
    from charter.evidence import service
    from charter.evidence.schemas import FairnessEvidenceCreate

    if engine not in ("numpy", "duckdb", "spark"):
        raise fail("--engine is numpy, duckdb or spark.", 2)
    query = sql_source(data, sql, db, path_name="--data")
    if data is not None and not data.exists():
        raise fail(f"{data} does not exist.", 2)
    config = settings()
    features = [c.strip() for c in sensitive.split(",") if c.strip()]
    positive = _parse_label(positive_label)
    plan = read_plan(data, engine)
    source = query.describe() if query is not None else Path(str(data)).name
    with ReadProgress(plan.bar, status=f"Reading {source} with the {engine} engine…") as progress:
        stats = compute_statistics(
            query if query is not None else str(data),
            y_true=label,
            y_pred=pred,
            sensitive_features=features,
            scores=score,
            sample_weight=weight,
            positive_label=positive,
            engine=cast(Engine, engine),
            chunk_rows=plan.chunk_rows,
            progress=progress,
        )
        fingerprint = query.fingerprint() if query is not None else file_fingerprint(Path(str(data)))
    what = f"{source} ({query.sql.strip()})" if query is not None else source
    description = f"{what}: label {label}, prediction {pred}, sensitive {', '.join(features)}"
    if len(description) > _DESCRIPTION_LIMIT:
        description = description[: _DESCRIPTION_LIMIT - 1] + "…"
    request = _request(
        FairnessEvidenceCreate,
        statistics=stats.to_dict(),
        mode="reference" if reference else "all_groups",
        reference_group=[_parse_label(v) for v in reference.split(",")] if reference else None,
        min_group_size=min_group_size,
        data_fingerprint=fingerprint,
        data_description=description,
        engine=engine,
    )
    with unit_of_work(database(config)) as session:
        evidence = service.record_fairness(
            session,
            operator(),
            model,
            version,
            request,
            default_thresholds=dict(config.fairness_thresholds),
            default_min_group_size=config.fairness_min_group_size,
        )
    if as_json:
        typer.echo(json.dumps(evidence.model_dump(mode="json"), indent=2))
        return
    from charter.cli.fairness import print_result_dict

    assert evidence.body is not None
    print_result_dict(evidence.body)
    _print_stored(evidence)


@app.command("decisions")
@handle_errors
def decisions(
    model: str = typer.Option(..., "--model", "-m", help="Model name or id."),
    version: str = typer.Option(..., "--version", "-v", help="The version whose logged decisions are assessed."),
    sensitive: str = typer.Option(
        ..., help="Sensitive attribute(s) as logged, comma-separated for intersectional groups."
    ),
    positive_output: str = typer.Option(
        ...,
        help='The decision value that is the favourable (or flagged) one. Read as JSON when it is JSON (1, true, "1"), '
        "as text otherwise (approve).",
    ),
    positive_outcome: str | None = typer.Option(
        None, help="The outcome value counted as positive (default: the same as --positive-output; read alike)."
    ),
    since: str | None = typer.Option(None, help="Decided at or after this time (ISO 8601; UTC without a zone)."),
    until: str | None = typer.Option(None, help="Decided before this time (ISO 8601; UTC without a zone)."),
    reference: str | None = typer.Option(
        None, help="Compare each group with this one (comma-separated for several features); default: all groups."
    ),
    min_group_size: int | None = typer.Option(None, min=1, help="Smaller groups are reported, not used."),
    resamples: int = typer.Option(1000, min=0, max=20_000, help="Bootstrap resamples for the intervals (0: none)."),
    title: str | None = typer.Option(None, help="Title of the evidence (default: by the sensitive attributes)."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored evidence as JSON."),
) -> None:
    """Assess the fairness of the decisions MODEL VERSION logged that have an outcome (in a time
    window) and store it as evidence. Reads sensitive attributes: acts as the local operator."""
    import json

    from charter.cli.fairness import print_result_dict
    from charter.evidence import service
    from charter.evidence.schemas import DecisionFairnessCreate

    features = [c.strip() for c in sensitive.split(",") if c.strip()]
    output_value = _parse_value(positive_output)
    request = _request(
        DecisionFairnessCreate,
        sensitive_features=features,
        positive_output=output_value,
        positive_outcome=None if positive_outcome is None else _parse_value(positive_outcome),
        since=_parse_time(since, "--since"),
        until=_parse_time(until, "--until"),
        title=title,
        mode="reference" if reference else "all_groups",
        reference_group=[_parse_label(v) for v in reference.split(",")] if reference else None,
        min_group_size=min_group_size,
        n_resamples=resamples,
    )
    config = settings()
    with unit_of_work(database(config)) as session:
        evidence = service.fairness_from_decisions(
            session,
            operator(),
            model,
            version,
            request,
            default_thresholds=dict(config.fairness_thresholds),
            default_min_group_size=config.fairness_min_group_size,
        )
    if as_json:
        typer.echo(json.dumps(evidence.model_dump(mode="json"), indent=2))
        return
    assert evidence.body is not None
    print_result_dict(evidence.body)
    if not _any_positive(evidence.body):
        console.print(
            f"[yellow]No decision in the window had the output {output_value!r} "
            f"({type(output_value).__name__}).[/yellow] If the outputs were logged as text, quote the value: "
            f"--positive-output '\"{positive_output}\"'."
        )
    _print_stored(evidence)


def _request(schema: type[M], **fields: Any) -> M:
    """The service's request built from the options; a value it refuses is a usage error (exit 2)."""
    from pydantic import ValidationError

    try:
        return schema(**fields)
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2) from exc


def _print_stored(evidence: EvidenceRead) -> None:
    verdict = {True: "[green]PASSED[/green]", False: "[red]FAILED[/red]", None: "no thresholds"}[evidence.passed]
    console.print(f"Stored as evidence {evidence.id} on {evidence.model} {evidence.version}: {verdict}.")


def _any_positive(body: dict[str, Any]) -> bool:
    """Whether any decision assessed had the favourable output (a mistyped value would make none)."""
    confusion = body["statistics"]["confusion"]  # [group][y_true][y_pred]
    return any(cells[0][1] + cells[1][1] > 0 for cells in confusion)


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(
            f"{option} must be an ISO 8601 time (2026-01-31 or 2026-01-31T12:00:00Z), not {value!r}.", 2
        ) from exc


def _parse_value(value: str) -> object:
    """A logged value as typed: JSON when it parses (``1``, ``true``, ``"1"``, ``null``), text otherwise."""
    import json

    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_label(value: str | None) -> object:
    """Command-line labels are text; integers and booleans are meant as such (1, 0, true, false)."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(value)
    except ValueError:
        return value
