"""``charter assess fairness``: assess a model version's fairness on a data file and store it as evidence.

The data stays where it is: it is reduced here to sufficient statistics, and Charter's service
derives, judges and stores the metrics (as the API does for the SDK). NumPy, pandas and the engines
are imported inside the command (see ``charter.cli.models`` for why).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, cast

import typer

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work

Engine = Literal["numpy", "duckdb", "spark"]
app = typer.Typer(help="Assessments stored as evidence on a model version.", no_args_is_help=True)


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
    data: Path = typer.Option(..., "--data", help="CSV or Parquet file (or a folder of Parquet files)."),
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
) -> None:
    """Compute a fairness assessment on DATA and store it as immutable evidence on MODEL VERSION."""
    import json

    from charter.compute.fairness import compute_statistics
    from charter.evidence import service
    from charter.evidence.schemas import FairnessEvidenceCreate

    if engine not in ("numpy", "duckdb", "spark"):
        raise fail("--engine is numpy, duckdb or spark.", 2)
    if not data.exists():
        raise fail(f"{data} does not exist.", 2)
    config = settings()
    features = [c.strip() for c in sensitive.split(",") if c.strip()]
    positive = _parse_label(positive_label)
    with console.status(f"Reading {data.name} with the {engine} engine…"):
        stats = compute_statistics(
            str(data),
            y_true=label,
            y_pred=pred,
            sensitive_features=features,
            scores=score,
            sample_weight=weight,
            positive_label=positive,
            engine=cast(Engine, engine),
        )
        fingerprint = file_fingerprint(data)
    request = FairnessEvidenceCreate(
        statistics=stats.to_dict(),
        mode="reference" if reference else "all_groups",
        reference_group=[_parse_label(v) for v in reference.split(",")] if reference else None,
        min_group_size=min_group_size,
        data_fingerprint=fingerprint,
        data_description=f"{data.name}: label {label}, prediction {pred}, sensitive {', '.join(features)}",
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
    verdict = {True: "[green]PASSED[/green]", False: "[red]FAILED[/red]", None: "no thresholds"}[evidence.passed]
    console.print(f"Stored as evidence {evidence.id} on {evidence.model} {evidence.version}: {verdict}.")


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
