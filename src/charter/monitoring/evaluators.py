"""What each kind of monitor checks. One function per kind: (session, monitor, version, now) -> Verdict.

Evaluators read (metric points, logged decisions, a stored reference profile) and compute; they
never write: the worker records the run, the alert and its notifications. A check that cannot
run (no data in the window, a bad configuration) is an ``error`` verdict with the reason, never an
exception that would stop the worker.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from charter.config import Settings
from charter.errors import CharterError, InvalidInput
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.monitoring.models import MonitorRow
from charter.monitoring.schemas import (
    DataQualityConfig,
    DriftConfig,
    FairnessConfig,
    MetricThresholdConfig,
    config_model,
)
from charter.security.principal import Principal

Status = Literal["ok", "breach", "error"]
MONITOR = Principal.system("monitor")
_OPS: Mapping[str, Callable[[float, float], bool]] = {
    "<": float.__lt__,
    "<=": float.__le__,
    ">": float.__gt__,
    ">=": float.__ge__,
}


@dataclass(frozen=True)
class Verdict:
    status: Status
    value: float | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    # What the alert is about, when it breaches: one alert per (monitor, subject).
    subject: str = ""


@dataclass(frozen=True)
class Context:
    session: Session
    settings: Settings
    monitor: MonitorRow
    model: ModelRow
    version: ModelVersionRow
    now: datetime


def evaluate(context: Context) -> Verdict:
    try:
        config = config_model(context.monitor.kind).model_validate(context.monitor.config)
        return _EVALUATORS[context.monitor.kind](context, config)
    except CharterError as exc:
        return Verdict("error", None, exc.message)
    except ValueError as exc:  # a stored configuration a newer version wrote, say
        return Verdict("error", None, f"The monitor's configuration is not valid: {exc}")


# -- metric threshold -----------------------------------------------------------------------------


def _metric_threshold(context: Context, config: Any) -> Verdict:
    from charter.metrics import service as metrics

    assert isinstance(config, MetricThresholdConfig)
    since = context.now - timedelta(seconds=config.window)
    query = metrics.SeriesQuery(
        name=config.metric,
        version=context.version.version if config.per_version else None,
        segment=config.segment,
        since=since,
        until=context.now,
        resolution="raw",
    )
    found = metrics.read_series(context.session, MONITOR, context.model.id, query)
    values = [v for series in found.series for v in series.value if math.isfinite(v)]
    if not values:
        return Verdict("error", None, f"No point of {config.metric!r} in the last {_span(config.window)}.")
    value = _aggregate(config.aggregate, values, [t for s in found.series for t in s.time])
    breached = not _OPS[config.op](value, config.value)
    message = (
        f"{config.aggregate} {config.metric} over the last {_span(config.window)} is {value:.4g}; "
        f"it must be {config.op} {config.value:g}."
    )
    return Verdict(
        "breach" if breached else "ok",
        value,
        message,
        {"points": len(values), "window_seconds": config.window, "aggregate": config.aggregate},
        subject=config.metric,
    )


def _aggregate(how: str, values: list[float], times: list[datetime]) -> float:
    if how == "last":
        return values[max(range(len(values)), key=lambda i: times[i])]
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    return sum(values) / len(values)


# -- drift ----------------------------------------------------------------------------------------


def _inputs(context: Context, window: int, limit: int) -> list[dict[str, Any]]:
    from charter.decisions.parquet import configured
    from charter.decisions.service import recent_inputs

    return recent_inputs(
        context.session,
        context.model.id,
        context.version.id,
        since=context.now - timedelta(seconds=window),
        until=context.now,
        limit=limit,
        parquet=configured(context.settings),
    )


def _drift(context: Context, config: Any) -> Verdict:
    import pyarrow as pa

    from charter.compute.drift import DatasetProfile, compare, profile

    assert isinstance(config, DriftConfig)
    rows = _inputs(context, config.window, config.max_rows)
    if len(rows) < config.min_rows:
        return Verdict(
            "error",
            None,
            f"{len(rows)} logged decisions in the last {_span(config.window)}; drift needs at least {config.min_rows}.",
        )
    reference = DatasetProfile.from_dict(config.reference_profile)
    columns = [c for c in (config.columns or reference.columns) if c in reference.columns]
    table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
    current = profile(table, columns=columns, reference=reference)
    report = compare(reference, current, drift_share=config.drift_share, thresholds=config.thresholds)
    share = report.drift_share
    details = {"current_rows": len(rows), "report": report.to_dict()}
    if share is None:
        return Verdict("error", None, "No column's drift could be decided.", details)
    drifted = ", ".join(report.drifted_columns) or "none"
    message = (
        f"{len(report.drifted_columns)} of {len(report.columns)} columns drifted ({share:.0%}; "
        f"the bound is {config.drift_share:.0%}) over {len(rows):,} decisions in the last {_span(config.window)}: "
        f"{drifted}."
    )
    return Verdict("breach" if report.dataset_drift else "ok", share, message, details, subject="dataset")


# -- fairness over logged decisions ---------------------------------------------------------------


def _fairness(context: Context, config: Any) -> Verdict:
    from charter.compute.fairness import fairness_metrics
    from charter.decisions.parquet import configured
    from charter.evidence.schemas import DecisionFairnessCreate
    from charter.evidence.service import decision_statistics

    assert isinstance(config, FairnessConfig)
    request = DecisionFairnessCreate(
        sensitive_features=config.sensitive_features,
        positive_output=config.positive_output,
        positive_outcome=config.positive_outcome,
        since=context.now - timedelta(seconds=config.window),
        until=context.now,
    )
    stats = decision_statistics(
        context.session, context.model.id, context.version.id, request, parquet=configured(context.settings)
    )
    if stats is None:
        return Verdict("error", None, f"No decision with a known outcome in the last {_span(config.window)}.")
    thresholds = config.thresholds or dict(context.settings.fairness_thresholds)
    result = fairness_metrics(
        stats,
        thresholds=thresholds,
        min_group_size=config.min_group_size or context.settings.fairness_min_group_size,
        n_resamples=0,
    )
    failed = [c for c in result.thresholds if c.passed is False]
    undecided = [c for c in result.thresholds if c.passed is None]
    checks = [
        {"metric": c.metric, "op": c.op, "bound": c.bound, "measured": c.measured, "passed": c.passed}
        for c in result.thresholds
    ]
    first = result.thresholds[0].measured if result.thresholds else None
    details = {"decisions": int(stats.rows.sum()), "checks": checks}
    if failed:
        named = "; ".join(f"{c.metric} {_g(c.measured)} (must be {c.op} {c.bound:g})" for c in failed)
        return Verdict("breach", failed[0].measured, f"Fairness over logged decisions: {named}.", details, "fairness")
    if undecided and not any(c.passed for c in result.thresholds):
        return Verdict(
            "error", None, "No fairness threshold could be checked (groups too small or undefined).", details
        )
    return Verdict("ok", first, "Every fairness threshold holds over the logged decisions.", details, "fairness")


# -- data quality ---------------------------------------------------------------------------------

_TYPES: Mapping[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
}


def _data_quality(context: Context, config: Any) -> Verdict:
    assert isinstance(config, DataQualityConfig)
    rows = _inputs(context, config.window, config.max_rows)
    if not rows:
        return Verdict("error", None, f"No logged decision in the last {_span(config.window)}.")
    seen = {c for r in rows for c in r}
    # Without a schema every column seen is checked for missing values; with one, the schema's.
    columns = sorted(set(config.null_rates) | (set(config.schema_) if config.schema_ else seen))
    problems: list[str] = []
    null_rates: dict[str, float] = {}
    for column in columns:
        values = [r.get(column) for r in rows]
        null_rates[column] = sum(v is None for v in values) / len(values)
        bound = config.null_rates.get(column, config.max_null_rate)
        if bound is not None and null_rates[column] > bound:
            problems.append(f"{column}: {null_rates[column]:.1%} missing (at most {bound:.1%})")
        expected = config.schema_.get(column)
        if expected is not None:
            wrong = sum(v is not None and not _is(v, expected) for v in values)
            if wrong:
                problems.append(f"{column}: {wrong} value(s) not {expected}")
    unexpected = sorted(seen - set(config.schema_)) if config.schema_ and config.strict else []
    if unexpected:
        problems.append("unexpected columns: " + ", ".join(unexpected[:10]))
    worst = max(null_rates.values(), default=0.0)
    details = {"rows": len(rows), "null_rates": null_rates, "problems": problems}
    if problems:
        return Verdict("breach", worst, "Data quality: " + "; ".join(problems[:10]) + ".", details, "data_quality")
    return Verdict("ok", worst, f"{len(rows):,} decisions checked; no data-quality problem.", details, "data_quality")


def _is(value: Any, expected: str) -> bool:
    # JSON's true is not a number here, though Python's bool is an int.
    return isinstance(value, _TYPES[expected]) and (expected == "boolean" or not isinstance(value, bool))


def _span(seconds: int) -> str:
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"


def _g(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3g}"


_EVALUATORS: Mapping[str, Callable[[Context, Any], Verdict]] = {
    "metric_threshold": _metric_threshold,
    "drift": _drift,
    "fairness": _fairness,
    "data_quality": _data_quality,
}


def check_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration validated for its kind, as stored (a 422 naming the problem otherwise)."""
    if kind == "drift":
        from charter.compute.drift import DatasetProfile

        validated = DriftConfig.model_validate(config)
        try:
            DatasetProfile.from_dict(validated.reference_profile)
        except (InvalidInput, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"reference_profile is not a drift profile (from charter.compute.drift.profile): {exc}"
            ) from exc
        return validated.model_dump(mode="json", by_alias=True)
    return config_model(kind).model_validate(config).model_dump(mode="json", by_alias=True)
