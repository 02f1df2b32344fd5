"""The DuckDB engine gives the numpy engine's profiles (counts, edges, cells, sorted values) exactly.

Three ways through the engine: values fetched and sorted in NumPy (small data), numeric columns
streamed in batches on exact edges (``edge_sample_rows=None``: DuckDB sorts each column), and on
edges sampled from the reference; the last differ from the numpy engine's edges, so there the
numpy engine bins the same data on the DuckDB profile's edges and the counts must agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from charter.compute.drift import DatasetProfile, NumericProfile, compare, drift, profile
from charter.compute.drift.columns import Request
from charter.compute.drift.engines.duckdb_engine import profile_duckdb
from charter.errors import InvalidInput
from tests.compute.drift.engines import adult_split, assert_same_report, compas_split, random_split

SPLITS = {
    "adult": adult_split,
    "compas": compas_split,
    **{f"random-{s}": (lambda s=s: random_split(s)) for s in range(4)},
}


def duck(source: Any, *, bins: int = 1000, reference: DatasetProfile | None = None, **options: Any) -> DatasetProfile:
    """``profile_duckdb`` as ``profile(engine="duckdb", max_exact_rows=0)`` calls it, with the engine's options."""
    request = Request(
        None,
        frozenset(),
        frozenset(),
        bins,
        0,
        kinds=None if reference is None else reference.kinds(),
        edges=None if reference is None else reference.edges(),
    )
    return profile_duckdb(source, request, **options)


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


@pytest.mark.parametrize("streamed", [False, True], ids=["values-fetched", "streamed"])
def test_duckdb_reads_frames_arrow_relations_and_folders(streamed: bool, tmp_path: Path) -> None:
    ref, _ = random_split(7)
    options: dict[str, Any] = {"edge_sample_rows": None, "batch_rows": 100} if streamed else {}
    expected = profile(ref, max_exact_rows=0)
    assert duck(ref, **options).same_counts(expected)
    assert duck(pa.Table.from_pandas(ref, preserve_index=False), **options).same_counts(expected)
    folder = tmp_path / "parts"
    folder.mkdir()
    table = pa.Table.from_pandas(ref, preserve_index=False)
    for i, start in enumerate(range(0, len(ref), 400)):
        pq.write_table(table.slice(start, 400), folder / f"part-{i:02d}.parquet")
    assert duck(str(folder), **options).same_counts(expected)
    con = duckdb.connect()
    try:
        con.register("events", table)
        relation = con.sql("SELECT * FROM events WHERE color IS DISTINCT FROM 'green'")
        subset = ref[ref.color != "green"]
        assert duck(relation, **options).same_counts(profile(subset, max_exact_rows=0))
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


def test_sorted_edges_are_the_order_statistics() -> None:
    """``edge_sample_rows=None``: DuckDB's sort gives the values of the ranks ``edge_ranks``, at every size tried."""
    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 10, 999, 1001, 12345, 100003):
        values = rng.normal(size=n)
        values[rng.random(n) < 0.1] = np.nan
        frame = pd.DataFrame({"v": values})
        mine = profile(frame, bins=1000, max_exact_rows=0)
        assert duck(frame, edge_sample_rows=None, batch_rows=4096).same_counts(mine), n


@pytest.mark.parametrize("split", list(SPLITS))
def test_streamed_batches_on_exact_edges_equal_numpy(split: str, tmp_path: Path) -> None:
    ref, cur = SPLITS[split]()
    ref_path, cur_path = write(ref, tmp_path, "ref", "parquet"), write(cur, tmp_path, "cur", "parquet")
    for bins in (7, 1000):
        mine = profile(ref_path, bins=bins, max_exact_rows=0)
        theirs = duck(ref_path, bins=bins, edge_sample_rows=None, batch_rows=257)
        assert theirs.same_counts(mine)
        assert duck(cur_path, reference=theirs, batch_rows=100).same_counts(profile(cur_path, reference=mine))
    ref_duck = duck(ref_path, edge_sample_rows=None, batch_rows=1000)
    assert_same_report(
        compare(ref_duck, duck(cur_path, reference=ref_duck, batch_rows=1000)),
        drift(ref_path, cur_path, max_exact_rows=0),
    )


@pytest.mark.parametrize("split", list(SPLITS))
def test_sampled_edges_bin_like_numpy_and_keep_the_bounds(split: str, tmp_path: Path) -> None:
    """Edges from a sample of 300 rows: the numpy engine counts the same cells on them, the extremes are edges,
    and SciPy's exact KS and Wasserstein lie within the binned statistics' bounds."""
    ref, cur = SPLITS[split]()
    ref_path, cur_path = write(ref, tmp_path, "ref", "parquet"), write(cur, tmp_path, "cur", "parquet")
    sampled = duck(ref_path, edge_sample_rows=300, batch_rows=100)
    assert sampled.same_counts(profile(ref_path, reference=sampled))  # numpy on the same edges
    exact = profile(ref_path, max_exact_rows=0)
    assert not all(
        np.array_equal(a.edges, b.edges)  # type: ignore[union-attr]
        for a, b in zip(sampled.columns.values(), exact.columns.values(), strict=True)
        if isinstance(a, NumericProfile)
    )
    current = duck(cur_path, reference=sampled, batch_rows=100)
    assert current.same_counts(profile(cur_path, reference=sampled))
    report = compare(sampled, current)
    assert_same_report(report, compare(sampled, profile(cur_path, reference=sampled)))
    for name, column in sampled.columns.items():
        if not isinstance(column, NumericProfile) or column.count == 0:
            continue
        r = ref[name].to_numpy(dtype=np.float64, na_value=np.nan)
        c = cur[name].to_numpy(dtype=np.float64, na_value=np.nan)
        r, c = r[np.isfinite(r)], c[np.isfinite(c)]
        assert column.edges[0] == r.min() and column.edges[-1] == r.max(), name
        got = report.columns[name]
        ks, bound = got["ks_statistic"], got.details["ks_error_bound"]
        assert ks is not None and ks - 1e-12 <= stats.ks_2samp(r, c).statistic <= ks + bound + 1e-12, name
        w, w_bound = got["wasserstein_distance"], got.details["wasserstein_error_bound"]
        assert w is not None and abs(w - stats.wasserstein_distance(r, c)) <= w_bound + 1e-9 * max(1.0, w), name


def test_sampled_edges_do_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    ref, _ = random_split(3)
    path = write(ref, tmp_path, "ref", "parquet")
    first = duck(path, edge_sample_rows=200, batch_rows=7)
    for batch_rows in (100, 10**6):
        again = duck(path, edge_sample_rows=200, batch_rows=batch_rows)
        assert again.same_counts(first) and again.edges().keys() == first.edges().keys()
    # a sample as large as the data: the exact edges (the values are fetched and sorted)
    assert duck(path, edge_sample_rows=len(ref)).same_counts(profile(path, max_exact_rows=0))


def test_streaming_options_and_read_errors(tmp_path: Path) -> None:
    ref, _ = random_split(9)
    path = write(ref, tmp_path, "ref", "parquet")
    for option in ("edge_sample_rows", "batch_rows"):
        for bad in (0, -3, True, 2.5):
            with pytest.raises(InvalidInput, match=f"{option} must be a positive integer"):
                duck(path, **{option: bad})
    # the CSV sniffer reads the first 20,480 rows: a bad value after them fails half-way through the stream
    rows = ["x,y", *(f"{i * 0.5},{i % 7}" for i in range(40_000))]
    rows[39_001] = "oops,3"
    bad_csv = tmp_path / "late.csv"
    bad_csv.write_text("\n".join(rows) + "\n")
    with pytest.raises(InvalidInput, match=r"(?s)cannot read .*late\.csv.*oops"):
        duck(bad_csv, edge_sample_rows=10, batch_rows=1000)
