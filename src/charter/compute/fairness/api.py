"""The three calls: ``compute_statistics`` (data -> GroupStats), ``fairness_metrics`` (GroupStats ->
FairnessResult) and ``assess`` (both). See the package docstring for the definitions."""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from contextlib import closing
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from charter import __version__
from charter.compute.fairness import bootstrap, metrics
from charter.compute.fairness.engines.numpy_engine import raise_on_missing, statistics_batches, statistics_numpy
from charter.compute.fairness.inputs import Progress, Roles, is_path, roles_of
from charter.compute.fairness.metrics import AGGREGATE_NAMES, AGGREGATES, F64, RATE_NAMES, Mode
from charter.compute.fairness.report import (
    Aggregate,
    CalibrationBin,
    Comparison,
    FairnessResult,
    FourFifths,
    GroupMetrics,
    Interval,
    ThresholdCheck,
    group_text,
)
from charter.compute.fairness.sql import SqlQuery, database_batches, duckdb_batches, spark_frame
from charter.compute.fairness.stats import DEFAULT_BINS, GroupLabel, GroupStats
from charter.errors import InvalidInput

Engine = Literal["numpy", "duckdb", "spark"]
Missing = Literal["group", "error"]
Threshold = tuple[str, float]

DEFAULT_MIN_GROUP_SIZE = 30
DEFAULT_RESAMPLES = 1000
DEFAULT_CALIBRATION_BINS = 10
# What the command line checks when the caller names no thresholds. Differences are compared by
# magnitude and ratios folded to min(r, 1/r), so the same bounds hold in both modes.
# (The same as the server's default setting ``fairness_thresholds``.)
DEFAULT_THRESHOLDS: Mapping[str, Threshold] = {
    "demographic_parity_ratio": (">=", 0.8),  # the four-fifths rule
    "equalized_odds_difference": ("<=", 0.1),
    "equal_opportunity_difference": ("<=", 0.1),
}
_OPS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}


def compute_statistics(
    data: Any = None,
    *,
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    scores: Any = None,
    sample_weight: Any = None,
    positive_label: Any = None,
    missing: Missing = "group",
    bins: int = DEFAULT_BINS,
    engine: Engine = "numpy",
    chunk_rows: int | None = None,
    progress: Progress | None = None,
) -> GroupStats:
    """Reduce the data once to per-group sufficient statistics.

    ``data`` is None (then every role is an array-like), a pandas or polars DataFrame, an Arrow
    table, a mapping of columns, an Arrow ``RecordBatchReader``, the path of a Parquet or CSV
    file, or a :class:`SqlQuery` (then every role is a column name; ``sensitive_features`` a name
    or a list of names).
    ``missing="group"`` (the default) reports rows with a missing sensitive value as their own
    group (label ``None``, shown "(missing)"); ``missing="error"`` refuses them, naming the column
    and the count. ``chunk_rows`` reads a file (or slices in-memory data) in chunks of that many
    rows and merges their statistics, so a file larger than memory works; ``progress(done,
    total)`` is called after each chunk (``total`` None when unknown: a query, a reader).
    ``engine="duckdb"`` / ``"spark"`` hand the work to those engines (column names only; ``data`` a
    path, DataFrame, relation or query / a Spark DataFrame or query). A query is read in chunks
    whatever ``chunk_rows`` says (see ``charter.compute.fairness.sql`` for where each engine runs it).
    """
    if missing not in ("group", "error"):
        raise InvalidInput(f"missing must be 'group' or 'error', not {missing!r}")
    if not isinstance(bins, int) or bins < 1:
        raise InvalidInput(f"bins must be a positive integer, not {bins!r}")
    if chunk_rows is not None and (not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise InvalidInput(f"chunk_rows must be a positive integer, not {chunk_rows!r}")
    if isinstance(data, SqlQuery):
        if engine not in ("numpy", "duckdb", "spark"):
            raise InvalidInput(f"engine must be 'numpy', 'duckdb' or 'spark', not {engine!r}")
        if data.url is not None and engine != "numpy":
            raise InvalidInput(
                f"a query on a database URL is read by the numpy engine (engine='numpy'), not {engine!r}; "
                "the DuckDB and Spark engines run queries themselves (url=None)"
            )
    if engine == "numpy" and isinstance(data, SqlQuery):
        roles = roles_of(
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sensitive_features,
            scores=scores,
            sample_weight=sample_weight,
        )
        read = duckdb_batches if data.url is None else database_batches
        # Closed here, also when a batch is refused half-way: left to the garbage collector, the
        # reader's connection could be finalised before the generator that still holds it open.
        with closing(read(data, roles, chunk_rows=chunk_rows, progress=progress)) as batches:
            return statistics_batches(
                batches,
                features=roles.sensitive,
                scores=roles.scores is not None,
                positive_label=positive_label,
                missing=missing,
                bins=bins,
            )
    if engine == "numpy":
        return statistics_numpy(
            data,
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sensitive_features,
            scores=scores,
            sample_weight=sample_weight,
            positive_label=positive_label,
            missing=missing,
            bins=bins,
            chunk_rows=chunk_rows,
            progress=progress,
        )
    if engine not in ("duckdb", "spark"):
        raise InvalidInput(f"engine must be 'numpy', 'duckdb' or 'spark', not {engine!r}")
    if data is None:
        raise InvalidInput(f"engine {engine!r} reads a table: pass data and column names")
    roles = roles_of(
        y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features, scores=scores, sample_weight=sample_weight
    )
    module, function = {
        "duckdb": ("charter.compute.fairness.engines.duckdb_engine", "statistics_duckdb"),
        "spark": ("charter.compute.fairness.engines.spark_engine", "statistics_spark"),
    }[engine]
    try:
        run = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"engine {engine!r} is not available: {exc}") from exc
    if engine == "spark" and is_path(data):  # a file on this machine: Spark in local mode reads it
        from charter.compute.fairness.engines.spark_local import local_dataframe

        with local_dataframe(data) as frame:
            stats = _run_engine(run, frame, roles, positive_label, missing, bins)
    elif engine == "spark" and isinstance(data, SqlQuery):  # spark.sql in the active or a local session
        with spark_frame(data) as frame:
            stats = _run_engine(run, frame, roles, positive_label, missing, bins)
    else:
        stats = _run_engine(run, data, roles, positive_label, missing, bins)
    if missing == "error":
        raise_on_missing(stats)
    return stats


def _run_engine(run: Any, data: Any, roles: Roles, positive_label: Any, missing: Missing, bins: int) -> GroupStats:
    stats: GroupStats = run(
        data,
        y_true=roles.y_true,
        y_pred=roles.y_pred,
        sensitive_features=list(roles.sensitive),
        scores=roles.scores,
        sample_weight=roles.sample_weight,
        positive_label=positive_label,
        missing=missing,
        bins=bins,
    )
    return stats


def fairness_metrics(
    stats: GroupStats,
    *,
    mode: Mode = "all_groups",
    reference_group: Any = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    thresholds: Mapping[str, Threshold] | None = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = 0,
    calibration_bins: int = DEFAULT_CALIBRATION_BINS,
    engine: str | None = None,
    fingerprint: str | None = None,
) -> FairnessResult:
    """Every metric, per group and aggregated, from the statistics (see the package docstring).

    ``mode="all_groups"``: max - min and min / max over the groups (Fairlearn). ``mode="reference"``:
    each group against ``reference_group`` (a value, a tuple of values, a ``{feature: value}``
    mapping or the text "v1, v2"; by default the most-favoured group, the one with the highest
    selection rate), signed ``m(g) - m(ref)`` and ``m(g) / m(ref)`` (AIF360). Groups with fewer than
    ``min_group_size`` rows are reported but left out of every aggregate. ``thresholds`` maps an
    aggregate to ``(op, bound)`` with op one of ``<``, ``<=``, ``>``, ``>=``, applied to ``|value|``
    for a difference and to ``min(r, 1/r)`` for a ratio. ``n_resamples`` bootstrap resamples of the
    statistics (0: none), seeded with ``seed``, give ``confidence`` percentile intervals.
    """
    if mode not in ("all_groups", "reference"):
        raise InvalidInput(f"mode must be 'all_groups' or 'reference', not {mode!r}")
    if not isinstance(min_group_size, int) or min_group_size < 0:
        raise InvalidInput(f"min_group_size must be a non-negative integer, not {min_group_size!r}")
    if not 0 < confidence < 1:
        raise InvalidInput(f"confidence must lie strictly between 0 and 1, not {confidence!r}")
    if not isinstance(n_resamples, int) or n_resamples < 0:
        raise InvalidInput(f"n_resamples must be a non-negative integer, not {n_resamples!r}")
    if not isinstance(calibration_bins, int) or calibration_bins < 1:
        raise InvalidInput(f"calibration_bins must be a positive integer, not {calibration_bins!r}")
    checks = _threshold_specs(thresholds or {})
    if reference_group is not None and mode != "reference":
        raise InvalidInput("a reference_group is compared against only in mode='reference'")

    groups = stats.groups
    confusion = stats.confusion
    weights = confusion.sum(axis=(1, 2))
    rates = metrics.group_rates(confusion)
    rates["auc"] = metrics.group_auc(stats.score_hist) if stats.score_hist is not None else np.full(len(groups), np.nan)
    reasons: dict[str, list[str | None]] = metrics.rate_reasons(confusion)
    reasons["auc"] = metrics.auc_reasons(stats.score_hist, len(groups))
    eligible = stats.rows >= min_group_size

    reference = _reference(stats, rates, eligible, mode, reference_group)
    ratio, top, below = metrics.four_fifths(rates["selection_rate"], eligible)
    point = {name: values[None, :] for name, values in rates.items()}
    resampled = _resampled_rates(stats, n_resamples, seed)

    aggregates: dict[str, Aggregate] = {}
    for spec in AGGREGATES:
        aggregates[spec.name] = _aggregate(
            spec, point, resampled, rates, reasons, groups, eligible, mode, reference, confidence, n_resamples
        )
    threshold_checks = tuple(_check(name, op, bound, aggregates[name]) for name, (op, bound) in checks.items())
    for check in threshold_checks:
        aggregates[check.metric] = _with_threshold(aggregates[check.metric], check)
    passed = (
        None
        if not threshold_checks or any(c.passed is None for c in threshold_checks)
        else all(bool(c.passed) for c in threshold_checks)
    )
    four = FourFifths(
        ratio=ratio,
        passed=None if ratio is None else ratio >= 0.8,
        most_favoured=None if top is None else groups[top],
        below=tuple(groups[g] for g in below),
        reason=None
        if ratio is not None
        else (
            "the most-favoured group's selection rate is 0"
            if top is not None
            else "fewer than 2 large-enough groups have a defined selection rate"
        ),
    )
    return FairnessResult(
        mode=mode,
        reference_group=None if reference is None else groups[reference],
        features=stats.features,
        groups=_group_metrics(stats, rates, reasons, weights, eligible, reference, top, mode, calibration_bins),
        aggregates=aggregates,
        four_fifths=four,
        too_small=tuple(g for g, ok in zip(groups, eligible.tolist(), strict=True) if not ok),
        min_group_size=min_group_size,
        thresholds=threshold_checks,
        passed=passed,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        statistics=stats,
        engine=engine,
        version=__version__,
        fingerprint=fingerprint,
    )


def assess(
    data: Any = None,
    *,
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    scores: Any = None,
    sample_weight: Any = None,
    positive_label: Any = None,
    missing: Missing = "group",
    bins: int = DEFAULT_BINS,
    engine: Engine = "numpy",
    chunk_rows: int | None = None,
    progress: Progress | None = None,
    mode: Mode = "all_groups",
    reference_group: Any = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    thresholds: Mapping[str, Threshold] | None = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = 0,
    calibration_bins: int = DEFAULT_CALIBRATION_BINS,
    fingerprint: str | None = None,
) -> FairnessResult:
    """``fairness_metrics(compute_statistics(data, ...), ...)``: both steps, the same keywords."""
    stats = compute_statistics(
        data,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive_features,
        scores=scores,
        sample_weight=sample_weight,
        positive_label=positive_label,
        missing=missing,
        bins=bins,
        engine=engine,
        chunk_rows=chunk_rows,
        progress=progress,
    )
    return fairness_metrics(
        stats,
        mode=mode,
        reference_group=reference_group,
        min_group_size=min_group_size,
        thresholds=thresholds,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        calibration_bins=calibration_bins,
        engine=engine,
        fingerprint=fingerprint,
    )


# --- pieces ---------------------------------------------------------------------------------------


def _threshold_specs(thresholds: Mapping[str, Threshold]) -> dict[str, Threshold]:
    specs: dict[str, Threshold] = {}
    for name, spec in thresholds.items():
        if name not in AGGREGATE_NAMES:
            raise InvalidInput(f"unknown metric {name!r} in thresholds; known: {', '.join(AGGREGATE_NAMES)}")
        try:
            op, bound = spec
            bound = float(bound)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"threshold for {name!r} must be (op, number), not {spec!r}") from exc
        if op not in _OPS or math.isnan(bound):
            raise InvalidInput(f"threshold for {name!r}: op must be one of {', '.join(_OPS)} and the bound a number")
        specs[name] = (op, bound)
    return specs


def _check(name: str, op: str, bound: float, aggregate: Aggregate) -> ThresholdCheck:
    value = aggregate.value
    if value is None:
        return ThresholdCheck(name, op, bound, None, None, None, aggregate.reason)
    measured = min(value, 1 / value) if metrics.is_ratio(name) and value > 0 else abs(value)
    return ThresholdCheck(name, op, bound, value, measured, _OPS[op](float(measured), bound))


def _with_threshold(aggregate: Aggregate, check: ThresholdCheck) -> Aggregate:
    return replace(aggregate, threshold=check)


def _find_group(stats: GroupStats, wanted: Any) -> int:
    features = stats.features
    if isinstance(wanted, Mapping):
        missing = [f for f in features if f not in wanted]
        if missing:
            raise InvalidInput(f"reference group {dict(wanted)!r} gives no value for {missing}")
        key: tuple[Any, ...] = tuple(wanted[f] for f in features)
    elif isinstance(wanted, tuple | list):
        key = tuple(wanted)
    elif isinstance(wanted, str) and len(features) > 1:
        key = tuple(part.strip() for part in wanted.split(","))
    else:
        key = (wanted,)
    for i, label in enumerate(stats.groups):
        if label == key:
            return i
    text = tuple("(missing)" if v is None else str(v) for v in key)
    for i, label in enumerate(stats.groups):
        if tuple("(missing)" if v is None else str(v) for v in label) == text:
            return i
    raise InvalidInput(
        f"reference group {wanted!r} not found; the groups are: {'; '.join(group_text(g) for g in stats.groups)}"
    )


def _reference(
    stats: GroupStats, rates: Mapping[str, F64], eligible: np.ndarray[Any, Any], mode: Mode, wanted: Any
) -> int | None:
    if mode != "reference":
        return None
    if wanted is not None:
        index = _find_group(stats, wanted)
        if not eligible[index]:
            raise InvalidInput(
                f"reference group {group_text(stats.groups[index])} has {int(stats.rows[index])} rows, fewer than "
                "min_group_size"
            )
        return index
    selection = np.where(eligible, rates["selection_rate"], np.nan)
    if np.isnan(selection).all():
        return None
    return int(np.nanargmax(selection))


def _resampled_rates(stats: GroupStats, n: int, seed: int | None) -> dict[str, F64] | None:
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    rates = metrics.group_rates(bootstrap.resample_confusion(stats, n, rng))
    rates["auc"] = bootstrap.resample_auc(stats, n, rng)
    return rates


def _aggregate(
    spec: metrics.AggregateSpec,
    point: Mapping[str, F64],
    resampled: Mapping[str, F64] | None,
    rates: Mapping[str, F64],
    reasons: Mapping[str, list[str | None]],
    groups: tuple[GroupLabel, ...],
    eligible: np.ndarray[Any, Any],
    mode: Mode,
    reference: int | None,
    confidence: float,
    n_resamples: int,
) -> Aggregate:
    used = [i for i in range(len(groups)) if eligible[i] and all(not np.isnan(rates[r][i]) for r in spec.rates)]
    skipped = tuple(
        (groups[i], "; ".join(f"{r}: {reasons[r][i]}" for r in spec.rates if np.isnan(rates[r][i])))
        for i in range(len(groups))
        if eligible[i] and i not in used
    )
    if mode == "reference" and reference is None:
        reason = "no reference group: no large-enough group has a defined selection rate"
        return Aggregate(spec.name, None, reason, None, tuple(groups[i] for i in used), skipped)
    values, first, second = metrics.evaluate(spec, point, eligible=eligible, mode=mode, reference=reference)
    value = float(values[0])
    if math.isnan(value):
        reason = metrics.explain(spec, rates, reasons, eligible=eligible, mode=mode, reference=reference)
        return Aggregate(spec.name, None, reason, None, tuple(groups[i] for i in used), skipped)
    compared = None if first[0] < 0 else (groups[int(first[0])], groups[int(second[0])])
    interval = None
    if resampled is not None:
        # In reference mode the interval is that of the comparison reported (its group fixed): a signed
        # "largest comparison" whose group changes between resamples would mix both signs.
        pair = eligible
        if mode == "reference" and compared is not None:
            pair = np.zeros_like(eligible)
            pair[[int(first[0]), int(second[0])]] = True
        draws = metrics.evaluate(spec, resampled, eligible=pair, mode=mode, reference=reference)[0]
        low, high, defined = bootstrap.percentile_interval(draws, confidence)
        interval = Interval(
            low, high, confidence, n_resamples, defined, None if defined else "undefined in every resample"
        )
    return Aggregate(spec.name, value, None, compared, tuple(groups[i] for i in used), skipped, interval)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _group_metrics(
    stats: GroupStats,
    rates: Mapping[str, F64],
    reasons: Mapping[str, list[str | None]],
    weights: F64,
    eligible: np.ndarray[Any, Any],
    reference: int | None,
    top: int | None,
    mode: Mode,
    calibration_bins: int,
) -> tuple[GroupMetrics, ...]:
    out: list[GroupMetrics] = []
    selection = rates["selection_rate"]
    best = None if top is None else float(selection[top])
    for i, label in enumerate(stats.groups):
        values: dict[str, float | None] = {name: _number(float(rates[name][i])) for name in RATE_NAMES}
        undefined = {name: str(reasons[name][i]) for name in RATE_NAMES if values[name] is None}
        if best is None or best <= 0 or values["selection_rate"] is None:
            values["impact_ratio"] = None
            undefined["impact_ratio"] = (
                undefined["selection_rate"]
                if values["selection_rate"] is None
                else "no most-favoured group (fewer than 2 large-enough groups, or every selection rate is 0)"
            )
        else:
            values["impact_ratio"] = float(selection[i]) / best
        calibration = None
        if stats.score_hist is not None:
            bins = metrics.calibration(stats.score_hist[i], calibration_bins)
            calibration = tuple(CalibrationBin(*b) for b in bins)
            values["calibration_error"] = metrics.calibration_error(bins)
            if values["calibration_error"] is None:
                undefined["calibration_error"] = "the group's total weight is 0"
        else:
            values["calibration_error"] = None
            undefined["calibration_error"] = metrics.NO_SCORES
        versus = None
        if mode == "reference" and reference is not None and i != reference:
            versus = {name: _compare(rates[name], reasons[name], i, reference) for name in RATE_NAMES}
        out.append(
            GroupMetrics(
                group=label,
                count=int(stats.rows[i]),
                weight=float(weights[i]),
                too_small=not bool(eligible[i]),
                values=values,
                undefined=undefined,
                vs_reference=versus,
                calibration=calibration,
            )
        )
    return tuple(out)


def _compare(values: F64, reasons: list[str | None], group: int, reference: int) -> Comparison:
    mine, theirs = float(values[group]), float(values[reference])
    if math.isnan(mine):
        return Comparison(None, None, f"undefined for the group ({reasons[group]})")
    if math.isnan(theirs):
        return Comparison(None, None, f"undefined for the reference group ({reasons[reference]})")
    if theirs == 0:
        return Comparison(mine - theirs, None, "the reference group's value is 0 (division by zero)")
    return Comparison(mine - theirs, mine / theirs)
