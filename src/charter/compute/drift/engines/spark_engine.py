"""Drift profiles with Spark: aggregations over a DataFrame, only small results collected.

The DuckDB engine's plan (see its module docstring) in Spark's built-in expressions, no Python UDF:

1. one ``agg`` for every column's counts, min, max, mean and population variance; one
   ``groupBy(value).count()`` per categorical column;
2. the reference's edges: ``approxQuantile(..., relativeError=0.0)``, which is exact, at
   fractions ``(r + 0.5) / n`` (the order statistic of rank ``r``, as in ``profile.edge_ranks``);
3. one pass binning every numeric column: two ``Bucketizer`` s (JVM binary searches) give
   ``#{edges <= x}`` and, on ``-x`` and the negated edges, ``#{edges < x}``; their sum is the
   cell (the numpy engine's ``searchsorted(left) + searchsorted(right)``), counted with one
   ``groupBy`` over ``column index * cells + cell`` exploded from each row.

With at most ``max_exact_rows`` rows the numeric columns are collected (as float64, through Arrow)
and sorted in NumPy instead, as the exact statistics need. ``-0.0`` is normalised to ``0.0`` before
binning (Java's binary search orders ``-0.0`` below ``0.0``; NumPy and DuckDB take them as equal).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from charter.compute.drift.columns import Detected, Request, skipped_reason
from charter.compute.drift.engines.numpy_engine import finite_sorted
from charter.compute.drift.profile import (
    F64,
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    Kind,
    NumericProfile,
    edge_ranks,
    edges_from_sorted,
    unique_edges,
)
from charter.errors import InvalidInput

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType

__all__ = ["profile_spark"]


def _kind(data_type: DataType) -> Detected:
    from pyspark.sql import types as T

    if isinstance(data_type, T.StringType | T.VarcharType | T.CharType | T.BooleanType):
        return "categorical"
    if isinstance(data_type, T.IntegralType | T.FloatType | T.DoubleType | T.DecimalType):
        return "numeric"
    return None


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _double(name: str) -> Column:
    return _col(name).cast("double")


def _finite(name: str) -> Column:
    from pyspark.sql import functions as F

    x = _double(name)
    return x.isNotNull() & ~F.isnan(x) & (F.abs(x) != F.lit(float("inf")))


def profile_spark(df: DataFrame, request: Request) -> DatasetProfile:
    """The profile of a Spark DataFrame (see the module docstring); equal to the numpy engine's."""
    fields = {field.name: field.dataType for field in df.schema.fields}
    names = request.names(list(df.columns), where="the Spark DataFrame")
    kinds: dict[str, Kind] = {}
    skipped: dict[str, str] = {}
    for name in names:
        type_text = fields[name].simpleString()
        kind = request.kind(name, _kind(fields[name]), type_text)
        if kind is None:
            skipped[name] = skipped_reason(type_text)
        else:
            kinds[name] = kind
    rows = df.count()
    if rows == 0:
        raise InvalidInput("the Spark DataFrame has no rows")
    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    first = df.agg(*_first_aggregates(numeric)).collect()[0] if numeric else None
    columns: dict[str, ColumnProfile] = {}
    for name, kind in kinds.items():
        if kind == "categorical":
            columns[name] = _categorical(df, name, fields[name])
    if numeric and rows <= request.max_exact_rows:
        columns.update(_exact(df, numeric, request))
    elif numeric:
        assert first is not None
        edges: dict[str, F64] = {}
        for i, name in enumerate(numeric):
            given = request.edges_of(name)
            edges[name] = given if given is not None else _quantile_edges(df, name, int(first[f"c{i}"]), request.bins)
        cells = _binned_cells(df, numeric, edges)
        sums = _outer_sums(df, {n: e for n, e in edges.items() if request.edges_of(n) is not None and len(e)})
        for i, name in enumerate(numeric):
            count = int(first[f"c{i}"])
            columns[name] = NumericProfile(
                count=count,
                missing=int(first[f"m{i}"]),
                infinite=int(first[f"f{i}"]),
                minimum=_float(first[f"lo{i}"]),
                maximum=_float(first[f"hi{i}"]),
                mean=_float(first[f"mean{i}"]),
                m2=(_float(first[f"var{i}"]) or 0.0) * count,
                edges=edges[name],
                cells=cells[name],
                below_sum=sums.get(name, (0.0, 0.0))[0],
                above_sum=sums.get(name, (0.0, 0.0))[1],
            )
    return DatasetProfile(
        rows=rows,
        columns={name: columns[name] for name in kinds},
        bins=request.bins,
        max_exact_rows=request.max_exact_rows,
        skipped=skipped,
        engine="spark",
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _first_aggregates(numeric: list[str]) -> list[Column]:
    from pyspark.sql import functions as F

    parts = []
    for i, name in enumerate(numeric):
        x, finite = _double(name), _finite(name)
        value = F.when(finite, x)
        parts += [
            F.count(F.when(finite, F.lit(1))).alias(f"c{i}"),
            F.count(F.when(_col(name).isNull() | F.isnan(x), F.lit(1))).alias(f"m{i}"),
            F.count(F.when(x.isNotNull() & (F.abs(x) == F.lit(float("inf"))), F.lit(1))).alias(f"f{i}"),
            F.min(value).alias(f"lo{i}"),
            F.max(value).alias(f"hi{i}"),
            F.avg(value).alias(f"mean{i}"),
            F.var_pop(value).alias(f"var{i}"),
        ]
    return parts


def _categorical(df: DataFrame, name: str, data_type: DataType) -> CategoricalProfile:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    value = _col(name)
    if isinstance(data_type, T.FloatType | T.DoubleType):  # NaN is missing, as NULL is
        value = F.when(F.isnan(value), F.lit(None)).otherwise(value)
    rows = df.groupBy(value.alias("v")).count().collect()
    return CategoricalProfile.build([row["v"] for row in rows], [int(row["count"]) for row in rows], 0)


def _exact(df: DataFrame, numeric: list[str], request: Request) -> dict[str, NumericProfile]:
    selected = df.select(*[_double(name).alias(f"v{i}") for i, name in enumerate(numeric)])
    get: Callable[[str], Any]
    if hasattr(selected, "toArrow"):  # PySpark >= 4
        get = selected.toArrow().column
    else:  # pragma: no cover - PySpark 3.5
        frame: Any = selected.toPandas()
        get = frame.__getitem__
    out = {}
    for i, name in enumerate(numeric):
        values, missing, infinite = finite_sorted(get(f"v{i}"), name)
        given = request.edges_of(name)
        out[name] = NumericProfile.of_sorted(
            values,
            edges=given if given is not None else edges_from_sorted(values, request.bins),
            missing=missing,
            infinite=infinite,
            keep_values=len(values) <= request.max_exact_rows,
        )
    return out


def _quantile_edges(df: DataFrame, name: str, count: int, bins: int) -> F64:
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    ranks = edge_ranks(count, bins)
    fractions = np.minimum((ranks + 0.5) / count, 1.0).tolist()
    finite = df.select(_double(name).alias("v")).where(_finite(name))
    return unique_edges(np.asarray(finite.approxQuantile("v", fractions, 0.0), dtype=np.float64))


def _outer_sums(df: DataFrame, edges: dict[str, F64]) -> dict[str, tuple[float, float]]:
    """The sums of the values below the first edge and above the last (none in the reference itself)."""
    from pyspark.sql import functions as F

    if not edges:
        return {}
    parts = []
    for i, (name, e) in enumerate(edges.items()):
        x, finite = _double(name), _finite(name)
        parts += [
            F.sum(F.when(finite & (x < F.lit(float(e[0]))), x)).alias(f"b{i}"),
            F.sum(F.when(finite & (x > F.lit(float(e[-1]))), x)).alias(f"a{i}"),
        ]
    row = df.agg(*parts).collect()[0]
    return {name: (_float(row[f"b{i}"]) or 0.0, _float(row[f"a{i}"]) or 0.0) for i, name in enumerate(edges)}


def _binned_cells(df: DataFrame, numeric: list[str], edges: dict[str, F64]) -> dict[str, Any]:
    from pyspark.ml.feature import Bucketizer
    from pyspark.sql import functions as F

    inf = float("inf")
    with_edges = [name for name in numeric if len(edges[name])]
    width = max((2 * len(edges[name]) + 1 for name in numeric), default=1)
    if with_edges:
        nan = F.lit(float("nan"))
        inputs = []
        for i, name in enumerate(with_edges):
            x = _double(name) + F.lit(0.0)
            inputs += [F.when(_finite(name), x).otherwise(nan).alias(f"x{i}"),
                       F.when(_finite(name), -x + F.lit(0.0)).otherwise(nan).alias(f"n{i}")]  # fmt: skip
        prepared = df.select(*inputs)
        splits = []
        for name in with_edges:
            e = (edges[name] + 0.0).tolist()
            splits += [[-inf, *e, inf], [-inf, *[-v + 0.0 for v in reversed(e)], inf]]
        outputs = [f"{side}{i}b" for i in range(len(with_edges)) for side in ("x", "n")]
        inputs_names = [f"{side}{i}" for i in range(len(with_edges)) for side in ("x", "n")]
        bucketed = Bucketizer(
            splitsArray=splits, inputCols=inputs_names, outputCols=outputs, handleInvalid="keep"
        ).transform(prepared)
        codes = []
        for i, name in enumerate(with_edges):
            m = len(edges[name])
            cell = F.col(f"x{i}b").cast("long") + F.lit(m) - F.col(f"n{i}b").cast("long")
            codes.append(F.when(~F.isnan(F.col(f"x{i}")), F.lit(numeric.index(name) * width) + cell))
        counted = (
            bucketed.select(F.explode(F.array(*codes)).alias("code"))
            .where(F.col("code").isNotNull())
            .groupBy("code")
            .count()
            .collect()
        )
    else:
        counted = []
    cells = {name: np.zeros(2 * len(edges[name]) + 1, dtype=np.int64) for name in numeric}
    for row in counted:
        index, position = divmod(int(row["code"]), width)
        cells[numeric[index]][position] += int(row["count"])
    if len(with_edges) < len(numeric):  # columns without finite reference values: one cell, everything
        counts = df.agg(
            *[F.count(F.when(_finite(n), F.lit(1))).alias(f"k{i}") for i, n in enumerate(numeric)]
        ).collect()
        for i, name in enumerate(numeric):
            if not len(edges[name]):
                cells[name][0] = int(counts[0][f"k{i}"])
    return cells
