"""The Spark engine gives exactly the statistics of the in-memory engine (local[2] session, one per run).

Data builders, the reference and the error cases are those of ``test_engines_duckdb.py``. Spark
reads the same Parquet files; CSV files only where Spark's CSV reader and Arrow's agree on the
values (no empty text fields: Spark reads them as NULL, Arrow as ""), and pandas frames through
``createDataFrame``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charter.compute.fairness.engines.duckdb_engine import statistics_duckdb
from charter.compute.fairness.engines.spark_engine import statistics_spark
from charter.compute.fairness.stats import score_bin
from charter.errors import InvalidInput
from tests.compute.fairness.test_engines_duckdb import (
    ADULT_CASES,
    BASE,
    COMPAS_CASES,
    EDGE_SCORES,
    ERROR_CASES,
    adult_frame,
    assert_same,
    compas_frame,
    error_frame,
    expected,
    nan_table,
    random_frame,
    write,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

SPARK_SEEDS = range(6)


@pytest.fixture(scope="module")
def compas(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict[str, Path]]:
    df = compas_frame()
    folder = tmp_path_factory.mktemp("compas-spark")
    return df, {fmt: write(df, folder, fmt) for fmt in ("csv", "parquet")}


def _read(spark: Any, path: Path) -> Any:
    if path.suffix == ".csv":
        return spark.read.csv(str(path), header=True, inferSchema=True)
    return spark.read.parquet(str(path))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("case", [1, 3, 4])
def test_compas_equals_reference(spark: Any, compas: tuple[pd.DataFrame, dict[str, Path]], fmt: str, case: int) -> None:
    _, files = compas
    options = COMPAS_CASES[case]
    assert_same(statistics_spark(_read(spark, files[fmt]), **options), expected(files[fmt], **options))


def test_compute_statistics_dispatches_here(spark: Any, compas: tuple[pd.DataFrame, dict[str, Path]]) -> None:
    from charter.compute.fairness import compute_statistics

    df, files = compas
    options = COMPAS_CASES[1]
    got = compute_statistics(_read(spark, files["parquet"]), engine="spark", **options)
    assert_same(got, compute_statistics(df, engine="numpy", **options))


def test_adult_weighted_with_scores(spark: Any, tmp_path: Path) -> None:
    path = write(adult_frame(), tmp_path, "parquet")
    options = ADULT_CASES[1]
    assert_same(statistics_spark(_read(spark, path), **options), expected(path, **options))


@pytest.mark.parametrize("seed", SPARK_SEEDS)
def test_random_data_equals_reference(spark: Any, tmp_path: Path, seed: int) -> None:
    df, options = random_frame(seed)
    path = write(df, tmp_path, "parquet")
    want = expected(path, **options)
    assert_same(statistics_spark(_read(spark, path), **options), want)
    assert_same(statistics_duckdb(path, **options), want)  # and the three engines agree


def test_from_pandas(spark: Any) -> None:
    """A DataFrame made by ``createDataFrame``: categoricals become their values, NaN a missing value."""
    df = pd.DataFrame(
        {
            "category": pd.Categorical(["x", "y", "x", None, "y", "x"]),
            "number": [0.5, np.nan, 0.5, 2.0, 2.0, 0.5],
            "integer": [3, 1, 3, 1, 1, 2],
            "y": [1, 0, 1, 0, 1, 1],
            "p": [True, True, False, False, True, False],
            "s": [0.0, 0.1, 0.7, 1.0, 0.3, 0.29],
        }
    )
    options: dict[str, Any] = {
        "y_true": "y",
        "y_pred": "p",
        "sensitive_features": ["category", "number", "integer"],
        "scores": "s",
        "bins": 10,
    }
    got = statistics_spark(spark.createDataFrame(df), **options)
    assert_same(got, expected(df, **options))
    assert got.groups[0] == ("x", 0.5, 2) and [type(v) for v in got.groups[0]] == [str, float, int]


def test_nan_is_a_missing_value(spark: Any) -> None:
    table = nan_table()
    df = spark.createDataFrame(
        [tuple(row.values()) for row in table.to_pylist()], "h double, y double, p long"
    )  # from Python rows: NaN stays NaN
    assert df.where("isnan(h)").count() == 2
    got = statistics_spark(df, y_true="y", y_pred="p", sensitive_features=["h"])
    assert_same(got, expected(table, y_true="y", y_pred="p", sensitive_features=["h"]))


def test_score_bins_match_numpy_at_the_edges(spark: Any, tmp_path: Path) -> None:
    """Java's doubles bin exactly as NumPy's, float32 scores widened first."""
    scores = np.concatenate([EDGE_SCORES, np.arange(1001) / 1000, np.nextafter(np.arange(1, 1001) / 1000, 0)])
    n = len(scores)
    table = pa.table(
        {
            "s": scores,
            "s32": scores.astype(np.float32),
            "g": ["a"] * n,
            "y": [1] * n,
            "p": [0] * n,
        }
    )
    pq.write_table(table, tmp_path / "edges.parquet")
    df = spark.read.parquet(str(tmp_path / "edges.parquet"))
    for column, values in (("s", scores), ("s32", scores.astype(np.float32))):
        for bins in (7, 10, 1000):
            got = statistics_spark(df, y_true="y", y_pred="p", sensitive_features=["g"], scores=column, bins=bins)
            assert got.score_hist is not None
            np.testing.assert_array_equal(got.score_hist[0, 1], np.bincount(score_bin(values, bins), minlength=bins))


def test_merge_of_two_halves_equals_the_whole(spark: Any, tmp_path: Path) -> None:
    df, options = random_frame(11, n=4000)
    whole = statistics_spark(_read(spark, write(df, tmp_path / "all", "parquet")), **options)
    first = statistics_spark(_read(spark, write(df.iloc[:2000], tmp_path / "a", "parquet")), **options)
    second = statistics_spark(_read(spark, write(df.iloc[2000:], tmp_path / "b", "parquet")), **options)
    assert not first.equals(whole)
    assert_same(first.merge(second), whole)


def test_identifiers_are_quoted(spark: Any) -> None:
    """Column names with dots, backticks and spaces are names, not paths into structs."""
    names = {"g": "race.group`x", "y": "two year`recid", "p": "pred.1", "w": "w`"}
    df = pd.DataFrame({names["g"]: ["a", "b", "a"], names["y"]: [1, 0, 1], names["p"]: [1, 1, 0], names["w"]: 2.0})
    options: dict[str, Any] = {
        "y_true": names["y"],
        "y_pred": names["p"],
        "sensitive_features": [names["g"]],
        "sample_weight": names["w"],
    }
    assert_same(statistics_spark(spark.createDataFrame(df), **options), expected(df, **options))


# Spark reads a pandas NaN in an integer or text column differently: these use columns it keeps as they are.
SPARK_ERROR_CASES = [case for case in ERROR_CASES if case[0] != "missing y_pred"]


@pytest.mark.parametrize(
    ("changes", "options", "message"), [c[1:] for c in SPARK_ERROR_CASES], ids=[c[0] for c in SPARK_ERROR_CASES]
)
def test_errors_as_the_numpy_engine_gives_them(
    spark: Any, changes: dict[str, Any], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        statistics_spark(spark.createDataFrame(error_frame(**changes)), **options)


def test_missing_predictions(spark: Any) -> None:
    df = spark.createDataFrame([("a", 1, None), ("b", 0, 1), ("a", 1, None)], "g string, y long, p long")
    with pytest.raises(InvalidInput, match=r"^y_pred \('p'\) has 2 missing values$"):
        statistics_spark(df, **BASE)


def test_many_labels_are_listed_up_to_twenty(spark: Any) -> None:
    df = spark.range(100).selectExpr("'a' AS g", "id AS y", "1 AS p")
    with pytest.raises(InvalidInput, match=r"^labels must be binary: y_true \('y'\) has \[") as info:
        statistics_spark(df, **BASE)
    assert len(info.value.message.split("[", 1)[1].split("]", 1)[0].split(", ")) == 20


def test_empty_data(spark: Any) -> None:
    df = spark.createDataFrame([], "g string, y long, p long, s double")
    got = statistics_spark(df, **BASE, scores="s", bins=4)
    assert got.groups == () and got.score_hist is not None and got.score_hist.shape == (0, 2, 4)
