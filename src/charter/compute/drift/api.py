"""The three calls: ``profile`` (data -> DatasetProfile), ``compare`` (two profiles -> DriftReport)
and ``drift`` (both). See the package docstring for the definitions and defaults."""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from charter.compute.drift import statistics as st
from charter.compute.drift.columns import Request
from charter.compute.drift.parallel import map_columns
from charter.compute.drift.profile import (
    DEFAULT_BINS,
    DEFAULT_MAX_EXACT_ROWS,
    F64,
    I64,
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    Kind,
    NumericProfile,
    category_key,
)
from charter.compute.drift.report import (
    CATEGORICAL_STATISTICS,
    NUMERIC_STATISTICS,
    PVALUES,
    ColumnDrift,
    DriftReport,
    Role,
    Summary,
)
from charter.compute.tabular import Progress, is_path
from charter.errors import InvalidInput

Engine = Literal["numpy", "duckdb", "spark"]

# The bounds ``drifted`` is judged against: p-values below theirs mean drift, other statistics at or
# above theirs. The p-value and distance bounds are Evidently's defaults; PSI's is the customary
# "significant shift" (Evidently uses 0.1). ``ks_statistic`` and ``wasserstein_distance`` have no
# default (their scale depends on the data): pass one to decide by them.
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "ks_pvalue": 0.05,
    "chi2_pvalue": 0.05,
    "wasserstein_distance_norm": 0.1,
    "jensenshannon_distance": 0.1,
    "psi": 0.2,
}
DEFAULT_DRIFT_SHARE = 0.5
DEFAULT_PSI_BINS = 10
DEFAULT_PSI_EPSILON = 1e-4
# "auto": with at most this many reference values a column is judged by a test (KS, chi-square),
# above by a distance (normalised Wasserstein, Jensen-Shannon), as Evidently does.
AUTO_TEST_MAX_ROWS = 1000
STATISTICS = tuple(dict.fromkeys(NUMERIC_STATISTICS + CATEGORICAL_STATISTICS))
_APPLIES: Mapping[Kind, frozenset[str]] = {
    "numeric": frozenset(NUMERIC_STATISTICS),
    "categorical": frozenset(CATEGORICAL_STATISTICS),
}


# --- profile --------------------------------------------------------------------------------------------


def profile(
    data: Any,
    *,
    columns: str | Sequence[str] | None = None,
    categorical: str | Sequence[str] | None = None,
    numeric: str | Sequence[str] | None = None,
    reference: DatasetProfile | None = None,
    bins: int | None = None,
    max_exact_rows: int | None = None,
    engine: Engine = "numpy",
    chunk_rows: int | None = None,
    progress: Progress | None = None,
) -> DatasetProfile:
    """Reduce one dataset's columns to a mergeable :class:`DatasetProfile`.

    ``data``: a pandas or polars DataFrame, an Arrow table, a mapping of columns, an Arrow
    ``RecordBatchReader`` or the path of a Parquet or CSV file; for ``engine="duckdb"`` also a
    folder or glob of Parquet files or a ``DuckDBPyRelation``; for ``engine="spark"`` a Spark
    DataFrame or a file (read by a local Spark session). ``columns`` (default: all) are profiled
    as their type suggests, ``categorical`` / ``numeric`` force a kind. ``reference``: bin the
    numeric columns on that profile's edges, with its columns and kinds (what the current data
    needs to be compared with it). ``bins`` (default 1000) quantile edges are taken from the data
    otherwise; sorted values are kept for exact KS and Wasserstein while a column has at most
    ``max_exact_rows`` (default 2,000,000) finite values. ``chunk_rows`` (numpy engine) reads the
    data in chunks of that many rows and merges their profiles.
    """
    names = _names("columns", columns)
    forced_cat = frozenset(_names("categorical", categorical) or ())
    forced_num = frozenset(_names("numeric", numeric) or ())
    if forced_cat & forced_num:
        raise InvalidInput(f"columns both categorical and numeric: {sorted(forced_cat & forced_num)}")
    if bins is None:
        bins = reference.bins if reference is not None else DEFAULT_BINS
    if max_exact_rows is None:
        max_exact_rows = reference.max_exact_rows if reference is not None else DEFAULT_MAX_EXACT_ROWS
    _positive("bins", bins)
    if isinstance(max_exact_rows, bool) or not isinstance(max_exact_rows, int) or max_exact_rows < 0:
        raise InvalidInput(f"max_exact_rows must be a non-negative integer, not {max_exact_rows!r}")
    if chunk_rows is not None:
        _positive("chunk_rows", chunk_rows)
    if reference is not None:
        if not isinstance(reference, DatasetProfile):
            raise InvalidInput("reference must be a DatasetProfile (the reference's profile)")
        for name in names or ():
            if name not in reference.columns:
                raise InvalidInput(f"column {name!r} is not in the reference profile ({', '.join(reference.columns)})")
    request = Request(
        columns=None if names is None else tuple(names),
        categorical=forced_cat,
        numeric=forced_num,
        bins=bins,
        max_exact_rows=max_exact_rows,
        kinds=None if reference is None else reference.kinds(),
        edges=None if reference is None else reference.edges(),
    )
    result = _run_engine(engine, data, request, chunk_rows, progress)
    if result.rows == 0:
        raise InvalidInput("the data has no rows")
    if not result.columns:
        skipped = "; ".join(f"{name}: {why}" for name, why in result.skipped.items())
        raise InvalidInput("no numeric or categorical column to profile" + (f" ({skipped})" if skipped else ""))
    return result


def _run_engine(
    engine: str, data: Any, request: Request, chunk_rows: int | None, progress: Progress | None
) -> DatasetProfile:
    if engine == "numpy":
        from charter.compute.drift.engines.numpy_engine import profile_numpy

        return profile_numpy(data, request, chunk_rows=chunk_rows, progress=progress)
    if engine not in ("duckdb", "spark"):
        raise InvalidInput(f"engine must be 'numpy', 'duckdb' or 'spark', not {engine!r}")
    if data is None or isinstance(data, Mapping):
        raise InvalidInput(f"engine {engine!r} reads a table or a file, not {type(data).__name__}")
    module, function = {
        "duckdb": ("charter.compute.drift.engines.duckdb_engine", "profile_duckdb"),
        "spark": ("charter.compute.drift.engines.spark_engine", "profile_spark"),
    }[engine]
    try:
        run = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"engine {engine!r} is not available: {exc}") from exc
    if engine == "spark" and is_path(data):  # a file on this machine: Spark in local mode reads it
        from charter.compute.fairness.engines.spark_local import local_dataframe

        with local_dataframe(data) as frame:
            result: DatasetProfile = run(frame, request)
            return result
    result = run(data, request)
    return result


def _names(option: str, value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        if len(set(value)) != len(value):
            raise InvalidInput(f"{option} repeat a column: {list(value)}")
        return list(value)
    raise InvalidInput(f"{option} must be a column name or a list of column names")


def _positive(option: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{option} must be a positive integer, not {value!r}")


# --- compare --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    stattest: str | Mapping[str, str]
    thresholds: Mapping[str, float]
    psi_bins: int
    psi_epsilon: float
    exact: Mapping[str, tuple[st.KS, st.Wasserstein]]  # computed ahead, by column


def _exact_pair(ref: ColumnProfile, cur: ColumnProfile) -> tuple[F64, F64] | None:
    """Both sides' sorted values, when both kept them and neither is empty."""
    if not isinstance(ref, NumericProfile) or not isinstance(cur, NumericProfile):
        return None
    if ref.values is None or cur.values is None or ref.count == 0 or cur.count == 0:
        return None
    return ref.values, cur.values


def compare(
    reference: DatasetProfile,
    current: DatasetProfile,
    *,
    prediction: str | None = None,
    target: str | None = None,
    stattest: str | Mapping[str, str] = "auto",
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    psi_bins: int = DEFAULT_PSI_BINS,
    psi_epsilon: float = DEFAULT_PSI_EPSILON,
) -> DriftReport:
    """Every statistic of every column, which columns drifted, and the dataset-level verdict.

    The current profile must be binned on the reference's edges (``profile(current,
    reference=reference_profile)``). ``stattest`` names the statistic that decides ``drifted``:
    ``"auto"`` (a test up to 1000 reference values, a distance above: see the package docstring),
    one statistic name for every column it applies to, or a mapping from a column name or a kind
    (``"numeric"``, ``"categorical"``) to a name. ``thresholds`` override ``DEFAULT_THRESHOLDS``
    by statistic name. ``prediction`` and ``target`` name columns reported apart (prediction
    drift, label drift). The dataset drifts when the share of drifted feature columns is at least
    ``drift_share``. PSI and the numeric Jensen-Shannon distance use ``psi_bins`` reference-quantile
    bins, PSI replacing an empty bin's proportion by ``psi_epsilon``.
    """
    if not isinstance(reference, DatasetProfile) or not isinstance(current, DatasetProfile):
        raise InvalidInput("compare takes two DatasetProfile objects (from profile())")
    bounds = _thresholds(thresholds)
    _check_stattest(stattest, bounds)
    if isinstance(drift_share, bool) or not isinstance(drift_share, int | float) or not 0 < drift_share <= 1:
        raise InvalidInput(f"drift_share must lie in (0, 1], not {drift_share!r}")
    _positive("psi_bins", psi_bins)
    if not isinstance(psi_epsilon, int | float) or not 0 < psi_epsilon < 1:
        raise InvalidInput(f"psi_epsilon must lie strictly between 0 and 1, not {psi_epsilon!r}")
    for role, name in (("prediction", prediction), ("target", target)):
        if name is not None and name not in reference.columns:
            raise InvalidInput(
                f"{role} column {name!r} is not among the compared columns ({', '.join(reference.columns)})"
            )
    if prediction is not None and prediction == target:
        raise InvalidInput(f"prediction and target name the same column {prediction!r}")
    missing = [name for name in reference.columns if name not in current.columns]
    if missing:
        raise InvalidInput(f"the current profile lacks columns of the reference: {missing}")
    # The exact KS and Wasserstein of large columns are the costly part: on every core, up front.
    large = [
        name
        for name, column in reference.columns.items()
        if isinstance(column, NumericProfile)
        and isinstance(current.columns[name], NumericProfile)
        and _exact_pair(column, current.columns[name]) is not None
        and max(column.count, current.columns[name].count) > st.KS_EXACT_MAX_N
    ]

    def exact(name: str) -> tuple[st.KS, st.Wasserstein]:
        pair = _exact_pair(reference.columns[name], current.columns[name])
        assert pair is not None
        return st.exact_ks_wasserstein(*pair)

    options = _Options(
        stattest, bounds, psi_bins, float(psi_epsilon), dict(zip(large, map_columns(exact, large), strict=True))
    )
    roles: dict[str, Role] = {}
    if prediction is not None:
        roles[prediction] = "prediction"
    if target is not None:
        roles[target] = "target"
    results = {
        name: _column(name, roles.get(name, "feature"), column, current.columns[name], options)
        for name, column in reference.columns.items()
    }
    features = {name: r for name, r in results.items() if r.role == "feature"}
    decided = [r for r in features.values() if r.drifted is not None]
    drifted = tuple(r.name for r in decided if r.drifted)
    share = len(drifted) / len(decided) if decided else None
    return DriftReport(
        columns=features,
        prediction=None if prediction is None else results[prediction],
        target=None if target is None else results[target],
        reference_rows=reference.rows,
        current_rows=current.rows,
        drift_share=share,
        drifted_columns=drifted,
        undecided_columns=tuple(r.name for r in features.values() if r.drifted is None),
        share_threshold=float(drift_share),
        dataset_drift=None if share is None else share >= drift_share,
        thresholds=bounds,
        psi_bins=psi_bins,
        psi_epsilon=float(psi_epsilon),
        skipped={**reference.skipped, **current.skipped},
        engine=reference.engine,
    )


def _thresholds(given: Mapping[str, float] | None) -> dict[str, float]:
    bounds = dict(DEFAULT_THRESHOLDS)
    for name, value in (given or {}).items():
        if name not in STATISTICS:
            raise InvalidInput(f"unknown statistic {name!r} in thresholds; known: {', '.join(STATISTICS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidInput(f"threshold of {name} must be a number, not {value!r}")
        if name in PVALUES and not 0 < value < 1:
            raise InvalidInput(f"threshold of {name} must lie strictly between 0 and 1, not {value!r}")
        bounds[name] = float(value)
    return bounds


def _check_stattest(stattest: str | Mapping[str, str], bounds: Mapping[str, float]) -> None:
    chosen = list(stattest.values()) if isinstance(stattest, Mapping) else [stattest]
    for name in chosen:
        if name != "auto" and name not in STATISTICS:
            raise InvalidInput(f"unknown stattest {name!r}; choose 'auto' or one of: {', '.join(STATISTICS)}")
        if name != "auto" and name not in bounds:
            raise InvalidInput(f"stattest {name!r} has no default threshold: pass thresholds={{{name!r}: ...}}")


def _decider(name: str, kind: Kind, reference_count: int, stattest: str | Mapping[str, str]) -> str:
    choice = stattest
    explicit = False
    if isinstance(stattest, Mapping):
        choice = stattest.get(name) or stattest.get(kind) or "auto"
        explicit = name in stattest or kind in stattest
    assert isinstance(choice, str)
    if choice != "auto" and choice not in _APPLIES[kind]:
        if explicit:
            raise InvalidInput(f"stattest {choice!r} does not apply to {kind} column {name!r}")
        choice = "auto"  # one name for every column: the columns it does not suit keep the default
    if choice == "auto":
        small = reference_count <= AUTO_TEST_MAX_ROWS
        if kind == "numeric":
            return "ks_pvalue" if small else "wasserstein_distance_norm"
        return "chi2_pvalue" if small else "jensenshannon_distance"
    return choice


def _column(name: str, role: Role, ref: ColumnProfile, cur: ColumnProfile, options: _Options) -> ColumnDrift:
    if ref.kind != cur.kind:
        raise InvalidInput(f"column {name!r} is {ref.kind} in the reference but {cur.kind} in the current profile")
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        values, undefined, details, summaries = _numeric(name, ref, cur, options)
        new: tuple[Any, ...] = ()
        gone: tuple[Any, ...] = ()
    else:
        assert isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile)
        values, undefined, details, summaries, new, gone = _categorical(ref, cur, options)
    decider = _decider(name, ref.kind, ref.count, options.stattest)
    bound = options.thresholds[decider]
    value = values[decider]
    if value is None:
        drifted, reason = None, undefined.get(decider, f"{decider} is undefined")
    else:
        drifted = value < bound if decider in PVALUES else value >= bound
        reason = None
    return ColumnDrift(
        name=name,
        kind=ref.kind,
        role=role,
        reference=summaries[0],
        current=summaries[1],
        statistics=values,
        undefined=undefined,
        stattest=decider,
        threshold=bound,
        drifted=drifted,
        reason=reason,
        details=details,
        new_categories=new,
        missing_categories=gone,
    )


def _empty_reason(ref_count: int, cur_count: int) -> str | None:
    if ref_count == 0:
        return "the reference has no non-missing values"
    if cur_count == 0:
        return "the current data has no non-missing values"
    return None


def _numeric(
    name: str, ref: NumericProfile, cur: NumericProfile, options: _Options
) -> tuple[dict[str, float | None], dict[str, str], dict[str, Any], tuple[Summary, Summary]]:
    summaries = (_numeric_summary(ref), _numeric_summary(cur))
    values: dict[str, float | None] = dict.fromkeys(NUMERIC_STATISTICS)
    reason = _empty_reason(ref.count, cur.count)
    if reason is not None:
        return values, dict.fromkeys(NUMERIC_STATISTICS, reason), {}, summaries
    if not np.array_equal(ref.edges, cur.edges):
        raise InvalidInput(
            "the current profile was binned on other edges: profile it with reference=<reference profile>"
        )
    pair = _exact_pair(ref, cur)
    if name in options.exact:
        ks, wasserstein = options.exact[name]
    elif pair is not None:
        ks, wasserstein = st.exact_ks_wasserstein(*pair)
    else:
        ks, wasserstein = st.binned_ks(ref, cur), st.binned_wasserstein(ref, cur)
    std = ref.std
    assert std is not None
    ref_bins, cur_bins = st.psi_bins(ref, cur, options.psi_bins)
    values.update(
        psi=st.psi(ref_bins, cur_bins, options.psi_epsilon),
        ks_statistic=ks.statistic,
        ks_pvalue=ks.pvalue,
        wasserstein_distance=wasserstein.distance,
        wasserstein_distance_norm=wasserstein.distance / max(std, st.WASSERSTEIN_NORM_FLOOR),
        jensenshannon_distance=st.jensenshannon(ref_bins, cur_bins),
    )
    details = {
        "ks_method": ks.method,
        "ks_pvalue_method": ks.pvalue_method,
        "ks_error_bound": ks.error_bound,
        "wasserstein_method": wasserstein.method,
        "wasserstein_error_bound": wasserstein.error_bound,
        "psi_bins_used": len(ref_bins),
    }
    return values, {}, details, summaries


def _numeric_summary(p: NumericProfile) -> Summary:
    return Summary(
        rows=p.rows,
        count=p.count,
        missing=p.missing,
        infinite=p.infinite,
        minimum=p.minimum,
        maximum=p.maximum,
        mean=p.mean,
        std=p.std,
    )


def _categorical(
    ref: CategoricalProfile, cur: CategoricalProfile, options: _Options
) -> tuple[
    dict[str, float | None], dict[str, str], dict[str, Any], tuple[Summary, Summary], tuple[Any, ...], tuple[Any, ...]
]:
    keys = sorted({category_key(c) for c in ref.categories} | {category_key(c) for c in cur.categories})
    position = {key: i for i, key in enumerate(keys)}
    counts_r = _aligned(ref, position)
    counts_c = _aligned(cur, position)
    ref_keys = {category_key(c) for c in ref.categories}
    cur_keys = {category_key(c) for c in cur.categories}
    new = tuple(c for c in cur.categories if category_key(c) not in ref_keys)
    gone = tuple(c for c in ref.categories if category_key(c) not in cur_keys)
    summaries = (
        Summary(rows=ref.rows, count=ref.count, missing=ref.missing, categories=len(ref.categories)),
        Summary(rows=cur.rows, count=cur.count, missing=cur.missing, categories=len(cur.categories)),
    )
    values: dict[str, float | None] = dict.fromkeys(CATEGORICAL_STATISTICS)
    reason = _empty_reason(ref.count, cur.count)
    if reason is not None:
        return values, dict.fromkeys(CATEGORICAL_STATISTICS, reason), {}, summaries, new, gone
    chi2, pvalue, dof = st.chi2_homogeneity(counts_r, counts_c)
    values.update(
        psi=st.psi(counts_r, counts_c, options.psi_epsilon),
        chi2_statistic=chi2,
        chi2_pvalue=pvalue,
        jensenshannon_distance=st.jensenshannon(counts_r, counts_c),
    )
    return values, {}, {"chi2_dof": dof}, summaries, new, gone


def _aligned(column: CategoricalProfile, position: Mapping[tuple[int, Any], int]) -> I64:
    counts = np.zeros(len(position), dtype=np.int64)
    for category, n in zip(column.categories, column.counts.tolist(), strict=True):
        counts[position[category_key(category)]] += n
    return counts


# --- both -----------------------------------------------------------------------------------------------


def drift(
    reference: Any,
    current: Any,
    *,
    columns: str | Sequence[str] | None = None,
    categorical: str | Sequence[str] | None = None,
    numeric: str | Sequence[str] | None = None,
    prediction: str | None = None,
    target: str | None = None,
    engine: Engine = "numpy",
    bins: int | None = None,
    max_exact_rows: int | None = None,
    chunk_rows: int | None = None,
    stattest: str | Mapping[str, str] = "auto",
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    psi_bins: int = DEFAULT_PSI_BINS,
    psi_epsilon: float = DEFAULT_PSI_EPSILON,
) -> DriftReport:
    """Profile the reference, profile the current data on its edges, compare (``profile`` + ``compare``).

    ``prediction`` / ``target`` name the model's prediction and true-label columns: profiled with
    the rest, reported apart as prediction drift and label drift, left out of the dataset share.
    """
    wanted = _names("columns", columns)
    if wanted is not None:
        wanted += [name for name in (prediction, target) if name is not None and name not in wanted]
    try:
        ref = profile(
            reference, columns=wanted, categorical=categorical, numeric=numeric, bins=bins,
            max_exact_rows=max_exact_rows, engine=engine, chunk_rows=chunk_rows,
        )  # fmt: skip
    except InvalidInput as exc:
        raise InvalidInput(f"reference: {exc.message}", details=exc.details) from exc
    try:
        cur = profile(current, reference=ref, engine=engine, chunk_rows=chunk_rows)
    except InvalidInput as exc:
        raise InvalidInput(f"current data: {exc.message}", details=exc.details) from exc
    return compare(
        ref, cur, prediction=prediction, target=target, stattest=stattest, thresholds=thresholds,
        drift_share=drift_share, psi_bins=psi_bins, psi_epsilon=psi_epsilon,
    )  # fmt: skip
