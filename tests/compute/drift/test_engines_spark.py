"""The Spark engine gives the numpy engine's profiles exactly (local[2] session, one per run).

Spark reads the same Parquet files as the other engines (its CSV reader makes an empty text field
NULL where Arrow keeps the label "", so CSV is compared through the DuckDB engine only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from charter.compute.drift import drift, profile
from charter.errors import InvalidInput
from tests.compute.drift.engines import adult_split, assert_same_report, compas_split, random_split

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

SPLITS = {"adult": adult_split, "compas": compas_split, "random-0": lambda: random_split(0),
          "random-1": lambda: random_split(1)}  # fmt: skip


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("max_exact_rows", [0, 10**6], ids=["binned-in-spark", "values-collected"])
def test_spark_equals_numpy(spark: Any, split: str, max_exact_rows: int, tmp_path: Path) -> None:
    ref, cur = SPLITS[split]()
    paths = []
    for name, frame in (("ref", ref), ("cur", cur)):
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(path)
    ref_df, cur_df = spark.read.parquet(str(paths[0])), spark.read.parquet(str(paths[1]))
    mine = profile(paths[0], max_exact_rows=max_exact_rows)
    theirs = profile(ref_df, max_exact_rows=max_exact_rows, engine="spark")
    assert theirs.same_counts(mine) and theirs.engine == "spark"
    assert profile(cur_df, reference=theirs, engine="spark").same_counts(profile(paths[1], reference=mine))
    spark_report = drift(ref_df, cur_df, engine="spark", max_exact_rows=max_exact_rows)
    assert_same_report(spark_report, drift(paths[0], paths[1], max_exact_rows=max_exact_rows))
    if split == "adult":  # a file path goes through the local session (the active one is reused)
        assert profile(paths[0], engine="spark", max_exact_rows=max_exact_rows).same_counts(mine)


def test_spark_from_pandas_and_errors(spark: Any) -> None:
    ref, _ = random_split(5)
    frame = spark.createDataFrame(ref)
    assert profile(frame, engine="spark", max_exact_rows=0).same_counts(profile(ref, max_exact_rows=0))
    with pytest.raises(InvalidInput, match="column 'nope' not found"):
        profile(frame, columns=["nope"], engine="spark")
    with pytest.raises(InvalidInput, match=r"'color' is numeric .* holds non-numeric values"):
        profile(frame, numeric=["color"], engine="spark")
    with pytest.raises(InvalidInput, match="no rows"):
        profile(spark.createDataFrame(pd.DataFrame({"x": [1.0]})).limit(0), engine="spark")


def test_spark_bins_on_sampled_duckdb_edges_like_numpy(spark: Any, tmp_path: Path) -> None:
    """Edges sampled by the DuckDB engine: Spark and NumPy count the same cells on them, for both datasets."""
    from charter.compute.drift.columns import Request
    from charter.compute.drift.engines.duckdb_engine import profile_duckdb

    ref, cur = random_split(2)
    paths = []
    for name, frame in (("ref", ref), ("cur", cur)):
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(path)
    sampled = profile_duckdb(paths[0], Request(None, frozenset(), frozenset(), 1000, 0), edge_sample_rows=250)
    for path in paths:
        theirs = profile(spark.read.parquet(str(path)), reference=sampled, engine="spark")
        mine = profile(path, reference=sampled)
        assert theirs.same_counts(mine)
        if path == paths[0]:
            assert theirs.same_counts(sampled)
