"""Fairness statistics with Spark: one ``groupBy().agg()`` over a DataFrame, the small result collected.

The same plan as the DuckDB engine (see its module docstring): built-in column expressions only,
no Python UDF, reduce the rows to

    sensitive features..., y_true, y_pred[, score bin]

grouped with ``count(*)`` and, when weighted, ``sum(weight)``; the few rows per group are collected
and turned into :class:`GroupStats` by the code DuckDB uses (``assemble``), so both follow the
numpy engine's rules and raise its errors. The aggregate leaves the cluster only when each label
column holds at most two values (a join with their distinct counts; Spark reuses the aggregate's
shuffle for both, so the data are scanned once).

Group labels come back as the Python values Spark collects for the column's type: ``StringType``
-> ``str`` (a pandas categorical of text becomes a string column when Spark creates the DataFrame),
integral types -> ``int``, ``FloatType``/``DoubleType`` -> ``float``, ``BooleanType`` -> ``bool``,
``DateType`` -> ``datetime.date``; NULL and NaN -> ``None``.

Counts are exact; weighted sums are added partition by partition, so they equal the numpy engine's
exactly when every partial sum is exact (integer or dyadic weights), and to rounding otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from charter.compute.fairness.engines.duckdb_engine import (
    MAX_LABELS_SHOWN,
    SCORE_MISSING,
    SCORE_OUT_OF_RANGE,
    Grouped,
    Kind,
    Missing,
    assemble,
    check_kinds,
    check_options,
    check_roles,
    raise_not_binary,
)
from charter.compute.fairness.engines.encode import native
from charter.compute.fairness.stats import DEFAULT_BINS, GroupStats

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row
    from pyspark.sql.types import DataType

__all__ = ["statistics_spark"]


def _kind(data_type: DataType) -> Kind:
    from pyspark.sql import types as T

    if isinstance(data_type, T.StringType | T.VarcharType | T.CharType):
        return "string"
    if isinstance(data_type, T.BooleanType):
        return "bool"
    if isinstance(data_type, T.IntegralType):
        return "integer"
    if isinstance(data_type, T.DecimalType):
        return "decimal"
    if isinstance(data_type, T.FloatType | T.DoubleType):
        return "float"
    return "other"


def _col(name: str) -> Column:
    """A column by name, quoted: names come from users and may hold dots or backticks."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _value(name: str, kind: Kind) -> Column:
    """A label or group value: NaN is missing, as NULL is."""
    from pyspark.sql import functions as F

    column = _col(name)
    return F.when(F.isnan(column), F.lit(None)).otherwise(column) if kind == "float" else column


def _score_bin(name: str, bins: int) -> Column:
    """``min(floor(score * bins), bins - 1)`` in float64 (Java doubles: IEEE 754, as NumPy)."""
    from pyspark.sql import functions as F

    score = _col(name).cast("double")
    binned = F.least(F.floor(score * F.lit(float(bins))), F.lit(bins - 1).cast("long")).cast("int")
    return (
        F.when(score.isNull() | F.isnan(score), F.lit(SCORE_MISSING))
        .when((score < F.lit(0.0)) | (score > F.lit(1.0)), F.lit(SCORE_OUT_OF_RANGE))
        .otherwise(binned)
    )


def statistics_spark(
    df: DataFrame,
    *,
    y_true: str,
    y_pred: str,
    sensitive_features: list[str],
    scores: str | None = None,
    sample_weight: str | None = None,
    positive_label: Any = None,
    missing: Missing = "group",
    bins: int = DEFAULT_BINS,
) -> GroupStats:
    """Per-group fairness statistics of a Spark DataFrame (one aggregation; the small result is collected).

    Same arguments, rules and errors as ``statistics_duckdb``; the result equals the numpy
    engine's on the same data.
    """
    from pyspark.sql import functions as F

    check_options(missing, bins)
    roles = check_roles(
        list(df.columns),
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive_features,
        scores=scores,
        sample_weight=sample_weight,
    )
    fields = {field.name: field.dataType for field in df.schema.fields}
    kinds = {name: _kind(data_type) for name, data_type in fields.items()}
    check_kinds(roles, kinds, {name: data_type.simpleString() for name, data_type in fields.items()})
    keys = [_value(name, kinds[name]).alias(f"s{i}") for i, name in enumerate(roles.sensitive)]
    keys.append(_value(roles.y_true, kinds[roles.y_true]).alias("t"))
    keys.append(_value(roles.y_pred, kinds[roles.y_pred]).alias("p"))
    if roles.scores is not None:
        keys.append(_score_bin(roles.scores, int(bins)).alias("b"))
    aggregates = [F.count(F.lit(1)).alias("n")]
    if roles.sample_weight is not None:
        w = _col(roles.sample_weight)
        absent = w.isNull() | F.isnan(w) if kinds[roles.sample_weight] == "float" else w.isNull()
        aggregates += [
            F.sum(w.cast("double")).alias("sw"),
            F.count(F.when(absent, F.lit(1))).alias("nw"),
            F.min(w).cast("double").alias("wmin"),
            F.max(w).cast("double").alias("wmax"),
        ]
    grouped = df.groupBy(*keys).agg(*aggregates)
    labels = grouped.agg(F.countDistinct("t").alias("nt"), F.countDistinct("p").alias("np"))
    rows = labels.join(grouped, (labels["nt"] <= 2) & (labels["np"] <= 2), "left").collect()
    guard = len(rows) == 1 and rows[0]["n"] is None  # not binary, or no rows
    if guard and max(rows[0]["nt"], rows[0]["np"]) > 2:

        def distinct(name: str) -> list[Any]:
            column = _col(name)
            found = df.select(column).where(column.isNotNull()).distinct().limit(MAX_LABELS_SHOWN + 1).collect()
            return [native(row[0]) for row in found]

        raise_not_binary(roles, positive_label, distinct)
    if guard:
        rows = []

    def score_range() -> tuple[float, float]:
        score = _col(str(roles.scores)).cast("double")
        found = df.agg(F.min(score), F.max(score)).collect()[0]
        return float(found[0]), float(found[1])

    return assemble(
        _grouped(rows, len(roles.sensitive), weighted=roles.sample_weight is not None, scores=roles.scores is not None),
        roles=roles,
        positive_label=positive_label,
        missing=missing,
        bins=int(bins),
        score_range=score_range,
    )


def _grouped(rows: list[Row], n_features: int, *, weighted: bool, scores: bool) -> Grouped:
    def numbers(name: str, dtype: type[np.generic]) -> np.ndarray[Any, Any]:
        return np.array([np.nan if row[name] is None else row[name] for row in rows], dtype=dtype)

    return Grouped(
        labels=[tuple(row[f"s{i}"] for i in range(n_features)) for row in rows],
        y_true=[native(row["t"]) for row in rows],
        y_pred=[native(row["p"]) for row in rows],
        score_bin=numbers("b", np.int64) if scores else None,
        rows=numbers("n", np.int64),
        weight_sum=numbers("sw", np.float64) if weighted else None,
        weight_missing=numbers("nw", np.int64) if weighted else None,
        weight_min=numbers("wmin", np.float64) if weighted else None,
        weight_max=numbers("wmax", np.float64) if weighted else None,
    )
