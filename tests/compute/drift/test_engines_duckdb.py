"""The DuckDB engine gives the numpy engine's profiles (counts, edges, cells, sorted values) exactly."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charter.compute.drift import drift, profile
from charter.compute.drift.columns import Request
from charter.compute.drift.engines.duckdb_engine import profile_duckdb
from charter.errors import InvalidInput
from tests.compute.drift.engines import adult_split, assert_same_report, compas_split, random_split

SPLITS = {
    "adult": adult_split,
    "compas": compas_split,
    **{f"random-{s}": (lambda s=s: random_split(s)) for s in range(4)},
}


def write(df: pd.DataFrame, folder: Path, name: str, fmt: str) -> Path:
    path = folder / f"{name}.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("max_exact_rows", [0, 10**6], ids=["binned-in-SQL", "values-fetched"])
def test_duckdb_equals_numpy_on_parquet(split: str, max_exact_rows: int, tmp_path: Path) -> None:
    ref, cur = SPLITS[split]()
    ref_path, cur_path = write(ref, tmp_path, "ref", "parquet"), write(cur, tmp_path, "cur", "parquet")
    for bins in (7, 1000):
        mine = profile(ref_path, bins=bins, max_exact_rows=max_exact_rows)
        theirs = profile(ref_path, bins=bins, max_exact_rows=max_exact_rows, engine="duckdb")
        assert theirs.same_counts(mine) and theirs.engine == "duckdb"
        assert profile(cur_path, reference=theirs, engine="duckdb").same_counts(profile(cur_path, reference=mine))
    assert_same_report(
        drift(ref_path, cur_path, engine="duckdb", max_exact_rows=max_exact_rows),
        drift(ref_path, cur_path, max_exact_rows=max_exact_rows),
    )


@pytest.mark.parametrize("split", ["adult", "compas"])
def test_duckdb_equals_numpy_on_csv(split: str, tmp_path: Path) -> None:
    ref, cur = SPLITS[split]()
    ref_path, cur_path = write(ref, tmp_path, "ref", "csv"), write(cur, tmp_path, "cur", "csv")
    for max_exact_rows in (0, 10**6):
        assert_same_report(
            drift(ref_path, cur_path, engine="duckdb", max_exact_rows=max_exact_rows),
            drift(ref_path, cur_path, max_exact_rows=max_exact_rows),
        )


def test_duckdb_reads_frames_arrow_relations_and_folders(tmp_path: Path) -> None:
    ref, _ = random_split(7)
    expected = profile(ref, max_exact_rows=0)
    assert profile(ref, engine="duckdb", max_exact_rows=0).same_counts(expected)
    assert profile(pa.Table.from_pandas(ref, preserve_index=False), engine="duckdb", max_exact_rows=0).same_counts(
        expected
    )
    folder = tmp_path / "parts"
    folder.mkdir()
    table = pa.Table.from_pandas(ref, preserve_index=False)
    for i, start in enumerate(range(0, len(ref), 400)):
        pq.write_table(table.slice(start, 400), folder / f"part-{i}.parquet")
    assert profile(str(folder), engine="duckdb", max_exact_rows=0).same_counts(expected)
    con = duckdb.connect()
    try:
        con.register("events", table)
        relation = con.sql("SELECT * FROM events WHERE color IS DISTINCT FROM 'green'")
        subset = ref[ref.color != "green"]
        assert profile(relation, engine="duckdb", max_exact_rows=0).same_counts(profile(subset, max_exact_rows=0))
    finally:
        con.close()


def test_duckdb_options_and_errors(tmp_path: Path) -> None:
    ref, _ = random_split(8)
    path = tmp_path / "ref.parquet"
    ref.to_parquet(path, index=False)
    request = Request(None, frozenset(), frozenset(), 100, 0)
    limited = profile_duckdb(path, request, threads=1, memory_limit="256MB")
    assert limited.same_counts(profile(path, bins=100, max_exact_rows=0))
    with pytest.raises(InvalidInput, match="memory_limit"):
        profile_duckdb(path, request, memory_limit="lots")
    with pytest.raises(InvalidInput, match="column 'nope' not found"):
        profile(path, columns=["nope"], engine="duckdb")
    with pytest.raises(InvalidInput, match="cannot read"):
        profile(tmp_path / "missing.parquet", engine="duckdb")
    with pytest.raises(InvalidInput, match=r"'color' is numeric .* holds non-numeric values"):
        profile(path, numeric=["color"], engine="duckdb")
    with pytest.raises(InvalidInput, match="no rows"):
        profile(pa.Table.from_pandas(ref.iloc[:0], preserve_index=False), engine="duckdb")


def test_quantile_edges_are_the_order_statistics() -> None:
    """DuckDB's quantile_disc at (r + 0.5) / n is the value of rank r, at every size tried."""
    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 10, 999, 1001, 12345, 100003):
        values = rng.normal(size=n)
        frame = pd.DataFrame({"v": values})
        mine = profile(frame, bins=1000, max_exact_rows=0)["v"]
        theirs = profile(frame, bins=1000, max_exact_rows=0, engine="duckdb")["v"]
        assert np.array_equal(mine.edges, theirs.edges), n  # type: ignore[union-attr]
