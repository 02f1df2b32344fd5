"""Profiles: the edge and cell rules, every input type, chunks that merge into the whole, JSON round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charter.compute.drift import CategoricalProfile, DatasetProfile, NumericProfile, profile
from charter.compute.drift.profile import cells_from_sorted, edge_ranks, edges_from_sorted
from charter.errors import InvalidInput

N = 2000


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    x = rng.normal(10, 3, N)
    x[rng.random(N) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, np.inf]
    color = rng.choice(["red", "green", "blue"], N).astype(object)
    color[rng.random(N) < 0.03] = None
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 7, N),  # few distinct values: its edges are its values
            "color": color,
            "flag": rng.random(N) < 0.3,
            "code": rng.integers(100, 104, N),  # numeric by type, categorical by request
        }
    )


def test_edges_are_order_statistics_and_cells_count_every_value() -> None:
    values = np.sort(np.random.default_rng(1).normal(size=1001))
    body = [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    tails = [1, 3, 7, 15, 31, 62, 938, 969, 985, 993, 997, 999]  # 1000 / 2^k for 2^k > 10, and mirrored
    assert edge_ranks(1001, 10).tolist() == sorted(body + tails)
    edges = edges_from_sorted(values, 10)
    assert np.array_equal(edges, values[sorted(body + tails)])
    data = np.sort(np.concatenate([values[:50], values[::100], [-99.0, 99.0]]))  # values on the edges too
    cells = cells_from_sorted(data, edges)
    cell_of = np.searchsorted(edges, data, "left") + np.searchsorted(edges, data, "right")
    assert np.array_equal(cells, np.bincount(cell_of, minlength=2 * len(edges) + 1))
    assert cells[0] == 1 and cells[-1] == 1 and cells[1] == 2  # -99, 99 and the minimum twice
    assert cells[1::2].tolist() == [int((data == e).sum()) for e in edges]


def test_repeated_values_are_one_edge() -> None:
    values = np.sort(np.repeat([1.0, 2.0, 5.0], [500, 10, 490]))
    assert edges_from_sorted(values, 1000).tolist() == [1.0, 2.0, 5.0]
    assert edges_from_sorted(np.array([0.0, -0.0]), 4).tolist() == [0.0]


def test_numeric_and_categorical_profiles(frame: pd.DataFrame) -> None:
    p = profile(frame, categorical=["code"])
    assert p.kinds() == {"x": "numeric", "k": "numeric", "color": "categorical", "flag": "categorical",
                         "code": "categorical"}  # fmt: skip
    x = p["x"]
    assert isinstance(x, NumericProfile)
    finite = frame.x[np.isfinite(frame.x)]
    assert (x.count, x.missing, x.infinite) == (len(finite), int(frame.x.isna().sum()), 3)
    assert x.minimum == finite.min() and x.maximum == finite.max()
    assert x.mean == pytest.approx(finite.mean(), rel=1e-12) and x.std == pytest.approx(finite.std(ddof=0), rel=1e-12)
    assert x.values is not None and np.array_equal(x.values, np.sort(finite.to_numpy()))
    k = p["k"]
    assert isinstance(k, NumericProfile) and k.edges.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert k.cells[1::2].tolist() == np.bincount(frame.k, minlength=7).tolist() and k.cells[0::2].sum() == 0
    color = p["color"]
    assert isinstance(color, CategoricalProfile)
    assert color.categories == ("blue", "green", "red")
    assert color.counts.tolist() == [int((frame.color == c).sum()) for c in ("blue", "green", "red")]
    assert color.missing == int(frame.color.isna().sum())
    flag = p["flag"]
    assert isinstance(flag, CategoricalProfile) and flag.categories == (False, True)
    code = p["code"]
    assert isinstance(code, CategoricalProfile) and code.categories == (100, 101, 102, 103)


def as_kind(frame: pd.DataFrame, kind: str, folder: Path) -> Any:
    if kind == "pandas":
        return frame
    if kind == "arrow":
        return pa.Table.from_pandas(frame, preserve_index=False)
    if kind == "polars":
        return polars.from_pandas(frame)
    if kind == "mapping":
        return {name: frame[name].to_numpy() for name in frame.columns}
    if kind == "reader":
        return pa.Table.from_pandas(frame, preserve_index=False).to_reader(max_chunksize=300)
    if kind == "categorical":
        return frame.astype({"color": "category"})
    path = folder / f"data.{kind}"
    if kind == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["pandas", "arrow", "polars", "mapping", "reader", "categorical", "parquet", "csv"])
def test_every_input_gives_the_same_profile(frame: pd.DataFrame, kind: str, tmp_path: Path) -> None:
    data = frame
    if kind == "csv":  # CSV writes +-inf as text, and Arrow reads an empty text field as the label ""
        data = frame.drop(columns=["x"]).assign(color=frame.color.fillna(""))
    expected = profile(data, categorical=["code"])
    got = profile(as_kind(data, kind, tmp_path), categorical=["code"])
    assert got.same_counts(expected), kind


@pytest.mark.parametrize("chunk_rows", [1, 7, 333, 1999, 5000])
@pytest.mark.parametrize("source", ["pandas", "parquet"])
def test_chunks_merge_into_the_whole(frame: pd.DataFrame, chunk_rows: int, source: str, tmp_path: Path) -> None:
    data = frame if source == "pandas" else as_kind(frame, "parquet", tmp_path)
    whole = profile(data, categorical=["code"])
    chunked = profile(data, categorical=["code"], chunk_rows=chunk_rows)
    assert chunked.same_counts(whole)
    x, y = chunked["x"], whole["x"]
    assert isinstance(x, NumericProfile) and isinstance(y, NumericProfile)
    assert x.mean == pytest.approx(y.mean, rel=1e-12) and x.m2 == pytest.approx(y.m2, rel=1e-10)


def test_merge_by_hand_and_the_exact_values_bound(frame: pd.DataFrame) -> None:
    whole = profile(frame, max_exact_rows=1500)
    x_whole = whole["x"]
    assert isinstance(x_whole, NumericProfile) and x_whole.values is None  # 1,896 finite values > 1,500
    halves = [profile(frame.iloc[:1000], reference=whole), profile(frame.iloc[1000:], reference=whole)]
    assert all(isinstance(h["x"], NumericProfile) and h["x"].values is not None for h in halves)  # type: ignore[union-attr]
    merged = halves[0].merge(halves[1])
    assert merged.same_counts(whole) and merged.rows == N


def test_json_round_trip(frame: pd.DataFrame) -> None:
    p = profile(frame, categorical=["code"])
    text = json.dumps(p.to_dict(), allow_nan=False)  # strictly JSON: no NaN or infinity anywhere
    back = DatasetProfile.from_dict(json.loads(text))
    assert back.same_counts(p) and back.to_dict() == p.to_dict()
    small = p.without_values()
    assert all(c.values is None for c in small.columns.values() if isinstance(c, NumericProfile))
    assert DatasetProfile.from_dict(json.loads(json.dumps(small.to_dict()))).same_counts(small)
    with pytest.raises(InvalidInput, match=r"not a drift profile|unknown drift profile"):
        DatasetProfile.from_dict({"format": 1, "rows": 1})


def test_merging_profiles_on_other_edges_is_refused(frame: pd.DataFrame) -> None:
    a, b = profile(frame.iloc[:1000]), profile(frame.iloc[1000:])
    with pytest.raises(InvalidInput, match="different edges"):
        a.merge(b)


def test_kind_overrides_and_refusals(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match=r"'color' is numeric .* holds non-numeric values"):
        profile(frame, numeric=["color"])
    with pytest.raises(InvalidInput, match="both categorical and numeric"):
        profile(frame, numeric=["k"], categorical=["k"])
    dated = frame.assign(when=pd.date_range("2024-01-01", periods=N, freq="h"))
    assert profile(dated).skipped == {"when": "type datetime64[us] is neither numeric nor categorical"}
    with pytest.raises(InvalidInput, match=r"'when' has type .* neither numeric nor categorical"):
        profile(dated, columns=["when"])
    counted = profile(dated, columns=["when"], categorical=["when"])["when"]
    assert isinstance(counted, CategoricalProfile) and counted.count == N
    # the reference's kinds win: text where the reference had numbers is refused
    ref = profile(frame)
    with pytest.raises(InvalidInput, match="'k' is numeric in the reference but holds non-numeric values"):
        profile(frame.assign(k=frame.k.astype(str)), reference=ref)


def test_bad_input_is_refused_clearly(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"column 'nope' not found.*available columns: x, k, color"):
        profile(frame, columns=["x", "nope"])
    with pytest.raises(InvalidInput, match="no rows"):
        profile(frame.iloc[:0])
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pandas(frame.iloc[:0], preserve_index=False), path)
    with pytest.raises(InvalidInput, match="no rows"):
        profile(path)
    with pytest.raises(InvalidInput, match="bins must be a positive integer"):
        profile(frame, bins=0)
    with pytest.raises(InvalidInput, match="engine must be"):
        profile(frame, engine="pandas")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not a Parquet or CSV file name"):
        profile(tmp_path / "data.xlsx")
