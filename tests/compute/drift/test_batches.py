"""Batch-by-batch profiles (what the DuckDB engine runs behind its scan): sampled edges and merged cells.

Edges sampled from a large reference are not the exact order statistics, but the cells are counted
on all the data, so the binned statistics' bounds still hold: checked here against SciPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from charter.compute.drift import statistics as st
from charter.compute.drift.engines.batches import SAMPLE_SEED, binned_profiles, each_batch, sample_edges
from charter.compute.drift.profile import NumericProfile, edge_ranks, edges_from_sorted, unique_edges

Array = np.ndarray[Any, Any]


def awkward(n: int, seed: int, shift: float = 0.0) -> dict[str, Array]:
    """Columns with NaN, infinities, ties, a heavy tail and an atom, as float64."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.03] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    return {
        "x": x,
        "heavy": rng.lognormal(shift, 2.0, n),
        "ties": rng.integers(0, 40, n).astype(np.float64),
        "atom": np.where(rng.random(n) < 0.4, 0.0, rng.exponential(1.0 + shift, n)),
    }


def batches(columns: dict[str, Array], rows: int, *, nulls: bool = False) -> list[pa.RecordBatch]:
    """Record batches of ``rows`` rows of float64 (``nulls``: NaN sent as Arrow nulls, as DuckDB sends NULL)."""
    arrays = {name: pa.array(values, from_pandas=nulls) for name, values in columns.items()}
    return pa.table(arrays).to_batches(max_chunksize=rows)


def finite(values: Array) -> Array:
    kept: Array = np.sort(values[np.isfinite(values)])
    return kept


def test_a_sample_of_every_row_gives_the_exact_edges() -> None:
    data = awkward(5000, 1)
    names = list(data)
    edges = sample_edges(batches(data, 333, nulls=True), names, rows=5000, bins=100, sample_rows=5000)
    for name in names:
        assert np.array_equal(edges[name], edges_from_sorted(finite(data[name]), 100)), name


@pytest.mark.parametrize("rows_per_batch", [1, 97, 4096, 100_000])
def test_sampled_edges_follow_the_stated_rule(rows_per_batch: int) -> None:
    """One PCG64 draw per row in order, kept below q; the sample's order statistics plus the exact extremes."""
    n, sample_rows, bins = 20_000, 1500, 50
    data = awkward(n, 2)
    names = list(data)
    got = sample_edges(batches(data, rows_per_batch), names, rows=n, bins=bins, sample_rows=sample_rows)
    keep = np.random.Generator(np.random.PCG64(SAMPLE_SEED)).random(n) < sample_rows / n
    for name in names:
        values = data[name]
        sample = finite(values[keep])
        whole = finite(values)
        expected = unique_edges(np.concatenate([[whole[0]], sample[edge_ranks(len(sample), bins)], [whole[-1]]]))
        assert np.array_equal(got[name], expected), name
        assert got[name][0] == whole[0] and got[name][-1] == whole[-1]  # no reference value beyond the edges
    assert len(got["ties"]) == 40  # a few distinct values: every one is an edge, as with exact edges


def test_columns_without_finite_values_have_no_edges() -> None:
    data = {"empty": np.full(300, np.nan), "inf": np.full(300, np.inf), "x": np.arange(300.0)}
    edges = sample_edges(batches(data, 64), list(data), rows=300, bins=10, sample_rows=30)
    assert len(edges["empty"]) == 0 and len(edges["inf"]) == 0 and edges["x"][0] == 0 and edges["x"][-1] == 299
    profiles = binned_profiles(batches(data, 64), list(data), edges)
    assert profiles["empty"].cells.tolist() == [0] and profiles["empty"].missing == 300
    assert profiles["inf"].infinite == 300 and profiles["inf"].minimum is None


@pytest.mark.parametrize("nulls", [False, True])
def test_batch_profiles_merge_into_the_whole(nulls: bool) -> None:
    data = awkward(30_000, 3)
    names = list(data)
    edges = sample_edges(batches(data, 1000), names, rows=30_000, bins=200, sample_rows=3000)
    merged = binned_profiles(batches(data, 777, nulls=nulls), names, edges)
    for name in names:
        values = data[name]
        kept = finite(values)
        whole = NumericProfile.of_sorted(
            kept,
            edges=edges[name],
            missing=int(np.isnan(values).sum()),
            infinite=int(np.isinf(values).sum()),
            keep_values=False,
        )
        assert merged[name].same_counts(whole), name
        assert merged[name].mean == pytest.approx(whole.mean, rel=1e-12)
        assert merged[name].m2 == pytest.approx(whole.m2, rel=1e-10)
        assert merged[name].below_sum == 0.0 and merged[name].above_sum == 0.0  # the extremes are edges


def test_sampled_edges_cut_the_data_into_near_equal_cells() -> None:
    """Each open cell holds about 1 / bins of the values: 5 % either way for 100 bins and 40,000 sampled rows."""
    n, bins = 400_000, 100
    data = {"normal": np.random.default_rng(4).normal(size=n), "lognormal": np.random.default_rng(5).lognormal(0, 2, n)}
    edges = sample_edges(batches(data, 65536), list(data), rows=n, bins=bins, sample_rows=40_000)
    profiles = binned_profiles(batches(data, 65536), list(data), edges)
    for name, p in profiles.items():
        share = p.cells / p.count
        assert share[0] == 0 and share[-1] == 0, name  # nothing beyond the first and last edges
        body = share[2:-2:2]  # the open cells between the edges (tail cells are smaller by design)
        assert body.max() <= 1.25 / bins, (name, body.max() * bins)


@pytest.mark.parametrize("kind", ["x", "heavy", "ties", "atom"])
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.5])
def test_bounds_hold_on_sampled_edges(kind: str, shift: float) -> None:
    """The exact KS and Wasserstein (SciPy) lie within the binned statistics' bounds, edges sampled or not."""
    ref, cur = awkward(60_000, 6)[kind], awkward(45_000, 7, shift)[kind]
    edges = sample_edges(batches({kind: ref}, 8192), [kind], rows=len(ref), bins=100, sample_rows=2000)
    r = binned_profiles(batches({kind: ref}, 8192), [kind], edges)[kind]
    c = binned_profiles(batches({kind: cur}, 8192), [kind], edges)[kind]
    a, b = finite(ref), finite(cur)
    ks, wasserstein = st.binned_ks(r, c), st.binned_wasserstein(r, c)
    exact = float(stats.ks_2samp(a, b).statistic)
    assert ks.statistic - 1e-12 <= exact <= ks.statistic + ks.error_bound + 1e-12
    assert abs(wasserstein.distance - stats.wasserstein_distance(a, b)) <= wasserstein.error_bound + 1e-12
    assert ks.error_bound <= 0.02  # a sample of 2000 rows places 100 bins well enough


def test_every_column_of_every_batch_in_order() -> None:
    seen: list[list[int]] = [[], [], []]

    def work(item: int, i: int) -> None:
        seen[i].append(item)

    each_batch(iter(range(50)), work, 3)
    assert seen == [list(range(50))] * 3

    def fail(item: int, i: int) -> None:
        if item == 7 and i == 1:
            raise ValueError("column 1 of item 7")

    with pytest.raises(ValueError, match="column 1 of item 7"):
        each_batch(iter(range(50)), fail, 3)
