"""The DuckDB engine gives exactly the statistics of the in-memory engine, from files and from memory.

Expected statistics come from the numpy engine (``engines.numpy_engine``) when it is importable and,
in every case, from ``reference_statistics`` below: an independent, deliberately plain computation
(pandas ``factorize`` + ``np.bincount``, Python ``==`` for labels) of the rules the engines follow.
The data builders and the reference are shared with ``test_engines_spark.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from charter.compute.fairness.engines.duckdb_engine import statistics_duckdb
from charter.compute.fairness.engines.numpy_engine import statistics_numpy
from charter.compute.fairness.stats import DEFAULT_BINS, GroupStats, score_bin
from charter.demo.data import compas_propublica
from charter.errors import InvalidInput

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
SEEDS = range(8)


# -- the reference --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, bool | int | float) and not isinstance(value, str)


def _same(a: Any, b: Any) -> bool:
    return _is_number(a) == _is_number(b) and bool(a == b)


def _bits(
    y_true: Sequence[Any], y_pred: Sequence[Any], positive_label: Any
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The documented label rules (``numpy_engine.Binariser``), written out plainly.

    y_pred is already binary (1/True positive) when its values are 0/1 and y_true's labels are not
    numbers; otherwise both share one space of at most two labels, whose positive one is
    ``positive_label`` (or 1 when every label is 0/1).
    """
    seen_true, seen_pred = set(y_true), set(y_pred)
    pred_binary = all(_is_number(v) and v in (0, 1) for v in seen_pred) and not all(map(_is_number, seen_true))
    space = seen_true if pred_binary else seen_true | seen_pred
    assert len(space) <= 2, "reference: labels are not binary"
    if positive_label is None:
        assert all(_is_number(v) and v in (0, 1) for v in space), "reference: positive_label needed"
        positive: Any = 1
    else:
        matching = [v for v in space if _same(v, positive_label)]
        matching += [v for v in space if isinstance(positive_label, str) and str(v) == positive_label]
        positive = matching[0] if matching else positive_label
    t = np.fromiter((_same(v, positive) for v in y_true), dtype=bool, count=len(y_true))
    if pred_binary:
        p = np.fromiter((v == 1 for v in y_pred), dtype=bool, count=len(y_pred))
    else:
        p = np.fromiter((_same(v, positive) for v in y_pred), dtype=bool, count=len(y_pred))
    return t, p


def read_back(path: Path) -> pa.Table:
    """A file as the numpy engine reads it (Arrow's readers; text columns as dictionaries)."""
    if path.suffix == ".csv":
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(auto_dict_encode=True))
    return pq.read_table(path)


def _values(data: pd.DataFrame | pa.Table, name: str) -> np.ndarray[Any, Any]:
    """A column as an object array of Python values (NaN, None and NA stay what they are)."""
    values = data[name].tolist() if isinstance(data, pd.DataFrame) else data.column(name).to_pylist()
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def reference_statistics(
    data: pd.DataFrame | pa.Table | Path,
    *,
    y_true: str,
    y_pred: str,
    sensitive_features: Sequence[str],
    scores: str | None = None,
    sample_weight: str | None = None,
    positive_label: Any = None,
    bins: int = DEFAULT_BINS,
) -> GroupStats:
    """Statistics by the book: one code per group, ``np.bincount`` of every cell, groups seen only."""
    frame = read_back(data) if isinstance(data, Path) else data
    n = len(frame)
    codes, values = [], []
    for name in sensitive_features:
        code, uniques = pd.factorize(_values(frame, name), use_na_sentinel=True)
        labels = [_plain(v) for v in uniques]
        codes.append(np.where(code < 0, len(labels), code))
        values.append([*labels, None])
    dims = tuple(len(v) for v in values)
    group = np.ravel_multi_index(tuple(codes), dims) if n else np.zeros(0, dtype=np.intp)
    size = math.prod(dims)
    t_bits, p_bits = _bits(list(_values(frame, y_true)), list(_values(frame, y_pred)), positive_label)
    t, p = t_bits.astype(np.intp), p_bits.astype(np.intp)
    w = None if sample_weight is None else _values(frame, sample_weight).astype(np.float64)
    rows = np.bincount(group, minlength=size)
    confusion = np.bincount(group * 4 + t * 2 + p, weights=w, minlength=size * 4).astype(np.float64)
    hist = None
    if scores is not None:
        b = score_bin(_values(frame, scores).astype(np.float64), bins)
        hist = np.bincount((group * 2 + t) * bins + b, weights=w, minlength=size * 2 * bins).astype(np.float64)
        hist = hist.reshape(size, 2, bins)
    seen = np.flatnonzero(rows)
    digits = np.unravel_index(seen, dims)
    labels = [tuple(values[i][int(digits[i][k])] for i in range(len(dims))) for k in range(len(seen))]
    return GroupStats.build(
        list(sensitive_features),
        labels,
        confusion.reshape(size, 2, 2)[seen],
        rows[seen],
        None if hist is None else hist[seen],
        weighted=w is not None,
    )


def expected(data: pd.DataFrame | pa.Table | Path, **options: Any) -> GroupStats:
    """The statistics every engine must produce: the reference's, checked against the numpy engine's."""
    ref = reference_statistics(data, **options)
    got = statistics_numpy(data, **options)
    assert got.equals(ref), f"the numpy engine and the reference disagree:\n{got}\n{ref}"
    return ref


def assert_same(got: GroupStats, want: GroupStats) -> None:
    assert got.features == want.features
    assert got.groups == want.groups
    for a, b in zip(got.groups, want.groups, strict=True):  # same values and the same Python types
        assert [type(v) for v in a] == [type(v) for v in b], (a, b)
    np.testing.assert_array_equal(got.rows, want.rows)
    np.testing.assert_array_equal(got.confusion, want.confusion)
    if want.score_hist is None:
        assert got.score_hist is None
    else:
        assert got.score_hist is not None
        np.testing.assert_array_equal(got.score_hist, want.score_hist)
    assert got.weighted == want.weighted
    assert got.equals(want)


# -- the data ------------------------------------------------------------------------------------------


def compas_frame() -> pd.DataFrame:
    """COMPAS with ProPublica's filter (6,172 rows); prediction: score_text Medium or High."""
    df = compas_propublica(DATA)
    df = df[["race", "sex", "age_cat", "two_year_recid", "decile_score", "score_text"]].copy()
    df["high_risk"] = df["score_text"].isin(["Medium", "High"]).astype(np.int64)
    df["recid_text"] = np.where(df["two_year_recid"] == 1, "yes", "no")
    df["high_risk_text"] = np.where(df["high_risk"] == 1, "yes", "no")
    df["risk"] = df["decile_score"] / 10  # 0.1, 0.2, ... 1.0: the edges of the bins
    return df


def adult_frame() -> pd.DataFrame:
    """UCI Adult; prediction: education_num >= 13 (a deterministic rule, 0/1)."""
    df = pd.read_csv(DATA / "adult.csv")[["sex", "race", "education_num", "fnlwgt", "income", "age"]].copy()
    df["degree"] = (df["education_num"] >= 13).astype(np.int64)
    df["score"] = (df["age"].clip(17, 90) - 17) / 73
    return df


# Scores on and beside the edges of the bins, where float64 rounding decides the bin.
EDGE_SCORES = np.array(
    [0.0, 1.0, 0.1, 0.2, 0.3, 0.6, 0.7, 0.9, 1 / 3, 2 / 3, 0.5, 5e-324, 1e-300, 0.07, 0.57, 0.29, 0.58, 0.99]
    + [np.nextafter(1.0, 0.0), np.nextafter(0.5, 0.0), np.nextafter(0.5, 1.0), np.nextafter(0.1, 0.0)]
    + [0.1 * k for k in range(11)]
    + [k / 1000 for k in range(0, 1001, 37)]
    + [np.nextafter(k / 100, 1.0) for k in range(101)]
    + [np.nextafter(k / 100, 0.0) for k in range(1, 101)]
)

FEATURE_KINDS = ("str", "int", "category", "category_int", "bool", "float")
LABEL_KINDS = ("int01", "bool", "float01", "str", "str_pred01")


def random_frame(seed: int, n: int = 3000) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Random data and the options to compute it with: 1-3 features of mixed types, gaps, weights, scores.

    The seed decides the shape (number of features, gaps, label types, weights, scores) so that a
    few seeds cover every case; the values and the feature types are random.
    """
    rng = np.random.default_rng(seed)
    n_features = 1 + seed % 3
    kinds = list(rng.choice(FEATURE_KINDS, size=n_features, replace=False))
    gaps = seed % 4 != 1
    frame: dict[str, Any] = {}
    for i, kind in enumerate(kinds):
        k = int(rng.integers(2, 6))
        missing = (rng.random(n) < 0.05) if gaps else np.zeros(n, dtype=bool)
        pick = rng.integers(0, k, size=n)
        if kind == "str":
            col: Any = pd.Series([None if m else f"g{v}" for v, m in zip(pick, missing, strict=True)], dtype=object)
        elif kind == "int":
            col = pd.array([None if m else int(v) * 7 - 3 for v, m in zip(pick, missing, strict=True)], dtype="Int64")
        elif kind == "category":
            col = pd.Categorical([None if m else f"c{v}" for v, m in zip(pick, missing, strict=True)])
        elif kind == "category_int":
            col = pd.Categorical([None if m else int(v) * 10 for v, m in zip(pick, missing, strict=True)])
        elif kind == "bool":
            col = pd.array([None if m else bool(v % 2) for v, m in zip(pick, missing, strict=True)], dtype="boolean")
        else:
            col = np.where(missing, np.nan, pick * 0.75 + 0.5)
        frame[f"feature {i}"] = col
    label_kind = LABEL_KINDS[seed % len(LABEL_KINDS)]
    truth = rng.random(n) < 0.4
    pred = rng.random(n) < np.where(truth, 0.7, 0.3)
    options: dict[str, Any] = {"positive_label": None}
    if label_kind == "int01":
        frame["y"], frame["yhat"] = truth.astype(np.int64), pred.astype(np.int64)
    elif label_kind == "bool":
        frame["y"], frame["yhat"] = truth, pred
    elif label_kind == "float01":
        frame["y"], frame["yhat"] = truth.astype(np.float64), pred.astype(np.float64)
    elif label_kind == "str":
        frame["y"] = np.where(truth, "yes", "no")
        frame["yhat"] = np.where(pred, "yes", "no")
        options["positive_label"] = "yes"
    else:
        frame["y"] = np.where(truth, ">50K", "<=50K")
        frame["yhat"] = pred.astype(np.int64)
        options["positive_label"] = ">50K"
    bins = int(rng.choice([1, 7, 10, 100, 1000]))
    scores = rng.random(n)
    edge = rng.random(n) < 0.3
    scores[edge] = rng.choice(EDGE_SCORES, size=int(edge.sum()))
    frame["score"] = scores
    frame["weight"] = rng.integers(0, 64, size=n) / 8  # dyadic: every partial sum is exact
    df = pd.DataFrame(frame)
    options |= {
        "y_true": "y",
        "y_pred": "yhat",
        "sensitive_features": [f"feature {i}" for i in range(n_features)],
        "scores": "score" if seed % 5 not in (1, 3) else None,
        "sample_weight": "weight" if seed % 2 else None,
        "bins": bins,
    }
    return df, options


def write(df: pd.DataFrame, folder: Path, fmt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"data.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


# -- equality with the reference ----------------------------------------------------------------------------


COMPAS_CASES: list[dict[str, Any]] = [
    {"y_true": "two_year_recid", "y_pred": "high_risk", "sensitive_features": ["race"]},
    {"y_true": "two_year_recid", "y_pred": "high_risk", "sensitive_features": ["race", "sex"], "scores": "risk"},
    {"y_true": "two_year_recid", "y_pred": "high_risk", "sensitive_features": ["sex", "race"], "positive_label": 1},
    {
        "y_true": "recid_text",
        "y_pred": "high_risk_text",
        "sensitive_features": ["race", "sex", "age_cat"],
        "positive_label": "yes",
        "scores": "risk",
        "bins": 10,
    },
    # text labels, 0/1 predictions: 1 is the positive prediction
    {"y_true": "recid_text", "y_pred": "high_risk", "sensitive_features": ["race"], "positive_label": "yes"},
]


@pytest.fixture(scope="module")
def compas_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict[str, Path]]:
    df = compas_frame()
    folder = tmp_path_factory.mktemp("compas")
    return df, {fmt: write(df, folder, fmt) for fmt in ("csv", "parquet")}


@pytest.mark.parametrize("source", ["csv", "parquet", "pandas", "arrow"])
@pytest.mark.parametrize("case", range(len(COMPAS_CASES)))
def test_compas_equals_reference(compas_files: tuple[pd.DataFrame, dict[str, Path]], source: str, case: int) -> None:
    df, files = compas_files
    options = COMPAS_CASES[case]
    data: Any
    if source == "pandas":
        data = df
    elif source == "arrow":
        data = pa.Table.from_pandas(df, preserve_index=False)
    else:
        data = files[source]
    want = expected(data, **options)
    assert len(df) == 6172 and want.rows.sum() == 6172
    assert_same(statistics_duckdb(data, **options), want)


def test_compute_statistics_dispatches_here(compas_files: tuple[pd.DataFrame, dict[str, Path]]) -> None:
    from charter.compute.fairness import compute_statistics

    df, files = compas_files
    options = COMPAS_CASES[3]
    got = compute_statistics(files["parquet"], engine="duckdb", **options)
    assert_same(got, compute_statistics(df, engine="numpy", **options))


def test_compas_shows_the_known_gap(compas_files: tuple[pd.DataFrame, dict[str, Path]]) -> None:
    """ProPublica's finding, from the statistics: Black defendants' FPR is about twice white defendants'."""
    _, files = compas_files
    stats = statistics_duckdb(
        files["parquet"], y_true="two_year_recid", y_pred="high_risk", sensitive_features=["race"]
    )
    fpr = {g[0]: c[0, 1] / c[0].sum() for g, c in zip(stats.groups, stats.confusion, strict=True)}
    assert fpr["African-American"] == pytest.approx(0.423, abs=0.001)
    assert fpr["Caucasian"] == pytest.approx(0.220, abs=0.001)


ADULT_CASES: list[dict[str, Any]] = [
    {"y_true": "income", "y_pred": "degree", "sensitive_features": ["sex"], "positive_label": ">50K"},
    {
        "y_true": "income",
        "y_pred": "degree",
        "sensitive_features": ["sex", "race"],
        "positive_label": ">50K",
        "sample_weight": "fnlwgt",  # integers: the weighted sums are exact
        "scores": "score",
        "bins": 100,
    },
]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("case", range(len(ADULT_CASES)))
def test_adult_equals_reference(tmp_path: Path, fmt: str, case: int) -> None:
    df = adult_frame()
    options = ADULT_CASES[case]
    path = write(df, tmp_path, fmt)
    assert_same(statistics_duckdb(path, **options), expected(path, **options))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", ["pandas", "arrow", "parquet", "csv"])
def test_random_data_equals_reference(tmp_path: Path, seed: int, source: str) -> None:
    df, options = random_frame(seed)
    data: Any
    if source == "pandas":
        data = df
    elif source == "arrow":
        data = pa.Table.from_pandas(df, preserve_index=False)
    else:
        data = write(df, tmp_path, source)
    assert_same(statistics_duckdb(data, **options), expected(data, **options))


def test_random_data_covers_the_cases() -> None:
    """The seeds above reach every kind of feature and label, gaps, weights and scores."""
    features, labels, flags = set(), set(), set()
    for seed in SEEDS:
        df, options = random_frame(seed)
        for name in options["sensitive_features"]:
            features.add(str(df[name].dtype))
            flags.add(f"gaps {bool(df[name].isna().any())}")
        labels.add((str(df["y"].dtype), str(df["yhat"].dtype)))
        flags |= {f"scores {options['scores'] is not None}", f"weights {options['sample_weight'] is not None}"}
        flags.add(f"features {len(options['sensitive_features'])}")
    assert features >= {"object", "Int64", "category", "boolean", "float64"}
    assert len(labels) >= 4
    assert flags >= {
        "gaps True",
        "gaps False",
        "scores True",
        "scores False",
        "weights True",
        "weights False",
        "features 1",
        "features 2",
        "features 3",
    }


@pytest.mark.parametrize("bins", [1, 3, 7, 10, 100, 1000, 4096])
def test_score_bins_match_numpy_at_the_edges(bins: int) -> None:
    scores = np.concatenate([EDGE_SCORES, np.arange(bins + 1) / bins, np.nextafter(np.arange(1, bins + 1) / bins, 0)])
    df = pd.DataFrame({"s": scores, "g": "a", "y": 1, "p": 0})
    got = statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["g"], scores="s", bins=bins)
    assert got.score_hist is not None
    np.testing.assert_array_equal(got.score_hist[0, 1], np.bincount(score_bin(scores, bins), minlength=bins))


def test_float32_scores_are_binned_as_float64() -> None:
    """A FLOAT column is widened before the product, as NumPy does (float32 arithmetic would move bins)."""
    scores = (np.arange(1, 1000, dtype=np.float32) / np.float32(1000)).astype(np.float32)
    table = pa.table({"s": scores, "g": ["a"] * len(scores), "y": [1] * len(scores), "p": [1] * len(scores)})
    got = statistics_duckdb(table, y_true="y", y_pred="p", sensitive_features=["g"], scores="s", bins=1000)
    assert got.score_hist is not None
    np.testing.assert_array_equal(got.score_hist[0, 1], np.bincount(score_bin(scores, 1000), minlength=1000))


def test_float_weights_agree_to_rounding() -> None:
    """Arbitrary float weights: the same groups and counts, sums equal up to the order of addition."""
    df, options = random_frame(3, n=20000)
    df["weight"] = np.random.default_rng(0).random(len(df)) * 3
    options["sample_weight"] = "weight"
    want = reference_statistics(df, **options)
    got = statistics_duckdb(df, **options)
    assert got.groups == want.groups
    np.testing.assert_array_equal(got.rows, want.rows)
    np.testing.assert_allclose(got.confusion, want.confusion, rtol=1e-12)
    assert got.weighted


# -- group labels and their types ---------------------------------------------------------------------------


def test_labels_come_back_as_python_values() -> None:
    df = pd.DataFrame(
        {
            "text": ["a", "b", None, "a"],
            "integer": pd.array([1, None, 3, 1], dtype="Int64"),
            "category": pd.Categorical(["x", "y", "x", None], categories=["x", "y", "unused"]),
            "category_int": pd.Categorical([10, 20, 10, 20]),
            "flag": [True, False, True, True],
            "number": [0.5, np.nan, 0.5, 2.0],
            "y": [1, 0, 1, 0],
            "p": [1, 1, 0, 0],
        }
    )
    for name in ["text", "integer", "category", "category_int", "flag", "number"]:
        got = statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=[name])
        assert_same(got, expected(df, y_true="y", y_pred="p", sensitive_features=[name]))
    got = statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["category_int", "category", "number"])
    assert got.groups == ((10, "x", 0.5), (20, "y", None), (20, None, 2.0))
    np.testing.assert_array_equal(got.rows, [2, 1, 1])
    assert [type(v) for v in got.groups[0]] == [int, str, float]
    assert ("unused",) not in statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["category"]).groups


def test_missing_values_form_a_group() -> None:
    df = pd.DataFrame({"g": ["a", None, "a", None, "b"], "h": [1.0, 2.0, np.nan, np.nan, 1.0], "y": 1, "p": 1})
    got = statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["g", "h"])
    assert got.groups == (("a", 1.0), ("a", None), ("b", 1.0), (None, 2.0), (None, None))
    np.testing.assert_array_equal(got.rows, [1, 1, 1, 1, 1])


def nan_table() -> pa.Table:
    """NaN that are not nulls (Arrow keeps them apart; pandas would turn them into nulls)."""
    nan = float("nan")
    return pa.table(
        {
            "h": pa.array([1.5, nan, nan, 1.5, None, 2.5], from_pandas=False),
            "y": pa.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0], from_pandas=False),
            "p": [1, 0, 1, 1, 1, 0],
        }
    )


def test_nan_is_a_missing_value() -> None:
    table = nan_table()
    assert table.column("h").null_count == 1  # two NaN, one null
    got = statistics_duckdb(table, y_true="y", y_pred="p", sensitive_features=["h"])
    assert_same(got, expected(table, y_true="y", y_pred="p", sensitive_features=["h"]))
    assert got.groups == ((1.5,), (2.5,), (None,))
    np.testing.assert_array_equal(got.rows, [2, 1, 3])
    bad = table.set_column(1, "y", pa.array([1.0, float("nan"), 1.0, 1.0, 0.0, 0.0], from_pandas=False))
    with pytest.raises(InvalidInput, match=r"^y_true \('y'\) has 1 missing value$"):
        statistics_duckdb(bad, y_true="y", y_pred="p", sensitive_features=["h"])


def test_empty_data() -> None:
    df = pd.DataFrame({"g": pd.Series([], dtype=object), "y": pd.Series([], dtype=np.int64), "p": 0})
    got = statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["g"], scores="y", bins=4)
    assert got.groups == () and got.confusion.shape == (0, 2, 2) and got.score_hist is not None


def test_positive_label_zero_means_zero() -> None:
    """``positive_label=0`` on 0/1 labels: the zeros are the positives, of y_true and of y_pred."""
    df = pd.DataFrame({"g": "a", "y": [0, 0, 1], "p": [1, 1, 0]})
    got = statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["g"], positive_label=0)
    assert_same(got, expected(df, y_true="y", y_pred="p", sensitive_features=["g"], positive_label=0))
    np.testing.assert_array_equal(got.confusion[0], [[0, 1], [2, 0]])


def test_text_labels_with_zero_one_predictions() -> None:
    """y_true in {"no", "yes"}, y_pred 0/1: the predictions are already binary, 1 is positive."""
    df = pd.DataFrame({"g": "a", "y": ["yes", "no", "yes", "no"], "p": [1, 1, 0, 0]})
    got = statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["g"], positive_label="yes")
    assert_same(got, expected(df, y_true="y", y_pred="p", sensitive_features=["g"], positive_label="yes"))
    np.testing.assert_array_equal(got.confusion[0], [[1, 1], [1, 1]])


def test_labels_of_another_type_do_not_match() -> None:
    """Text labels match a text positive label ('1' finds '1'), never the number 1."""
    df = pd.DataFrame({"g": "a", "y": ["1", "0", "1"], "p": ["1", "1", "0"]})
    got = statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["g"], positive_label="1")
    np.testing.assert_array_equal(got.confusion[0], [[0, 1], [1, 1]])
    with pytest.raises(InvalidInput, match="positive_label 1 is not one of the labels seen"):
        statistics_duckdb(df, y_true="y", y_pred="p", sensitive_features=["g"], positive_label=1)


# -- sources, merging, options --------------------------------------------------------------------------------


def test_merge_of_two_halves_equals_the_whole(tmp_path: Path) -> None:
    df, options = random_frame(11, n=4000)
    half = len(df) // 2
    parts = [write(df.iloc[:half], tmp_path / "a", "parquet"), write(df.iloc[half:], tmp_path / "b", "parquet")]
    whole = statistics_duckdb(write(df, tmp_path / "all", "parquet"), **options)
    first, second = (statistics_duckdb(p, **options) for p in parts)
    assert not first.equals(whole)
    assert_same(first.merge(second), whole)


def test_glob_and_folder_of_parquet_files(tmp_path: Path) -> None:
    df = compas_frame()
    options = COMPAS_CASES[1]
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), 4)):
        pq.write_table(pa.Table.from_pandas(df.iloc[chunk], preserve_index=False), folder / f"part-{i}.parquet")
    want = expected(df, **options)
    assert_same(statistics_duckdb(folder, **options), want)
    assert_same(statistics_duckdb(str(folder / "part-*.parquet"), **options), want)
    assert not statistics_duckdb(str(folder / "part-[01].parquet"), **options).equals(want)


def test_identifiers_are_quoted(tmp_path: Path) -> None:
    """Column names are data: quotes, spaces, dots and SQL in them are just names."""
    names = {"g": 'race"; DROP TABLE x; --', "y": "two.year recid", "p": "pred'$1", "w": 'we"ight'}
    df = pd.DataFrame({names["g"]: ["a", "b", "a"], names["y"]: [1, 0, 1], names["p"]: [1, 1, 0], names["w"]: 2.0})
    options: dict[str, Any] = {
        "y_true": names["y"],
        "y_pred": names["p"],
        "sensitive_features": [names["g"]],
        "sample_weight": names["w"],
    }
    want = expected(df, **options)
    assert_same(statistics_duckdb(df, **options), want)
    assert_same(statistics_duckdb(write(df, tmp_path, "parquet"), **options), want)


def test_connection_threads_and_memory_limit() -> None:
    con = duckdb.connect()
    df = compas_frame()
    options = COMPAS_CASES[0]
    got = statistics_duckdb(df, **options, connection=con, threads=1, memory_limit="256MB")
    assert_same(got, expected(df, **options))
    assert con.execute("SELECT current_setting('threads')").fetchone() == (1,)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("256.0 MB", "244.1 MiB")  # type: ignore[index]
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (0,)  # unregistered
    con.close()
    with pytest.raises(InvalidInput, match="memory_limit"):
        statistics_duckdb(df, **options, memory_limit="1GB'; SET threads=1; --")
    with pytest.raises(InvalidInput, match="threads"):
        statistics_duckdb(df, **options, threads=0)


# -- errors --------------------------------------------------------------------------------------------------------


def error_frame(**changes: Any) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "g": ["a", "b", None, "a"],
            "y": [1.0, 0.0, 1.0, 0.0],
            "p": [1, 1, 0, 0],
            "multi": [1, 2, 3, 2],
            "text": ["u", "v", "u", "w"],
            "yes": ["yes", "no", "no", "yes"],
            "s": [0.1, 0.5, 1.0, 0.0],
            "w": [1.0, 2.0, 1.0, 1.0],
        }
    )
    for name, values in changes.items():
        df[name] = values
    return df


BASE: dict[str, Any] = {"y_true": "y", "y_pred": "p", "sensitive_features": ["g"]}
# (id, changed columns, options, the message; the numpy engine gives the same message)
ERROR_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "unknown column",
        {},
        BASE | {"sensitive_features": ["g", "race"]},
        r"^column 'race' not found; available columns: g, y, p, multi, text, yes, s, w$",
    ),
    (
        "unknown column, case differs",  # exact names: DuckDB's case-insensitive lookup is not used
        {},
        BASE | {"y_true": "Y"},
        r"^column 'Y' not found",
    ),
    (
        "y_true not binary",
        {},
        BASE | {"y_true": "multi"},
        r"^labels must be binary: y_true \('multi'\) has \[1, 2, 3\], y_pred \('p'\) has \[0, 1\]$",
    ),
    (
        "y_true not binary, with a positive label",
        {},
        BASE | {"y_true": "multi", "positive_label": 2},
        r"^labels must be binary: y_true \('multi'\) has \[1, 2, 3\]",
    ),
    (
        "y_pred not binary",
        {},
        BASE | {"y_pred": "text"},
        r"^labels must be binary: y_true \('y'\) has \[0.0, 1.0\], y_pred \('text'\) has \['u', 'v', 'w'\]$",
    ),
    (
        "text labels without a positive label",
        {},
        BASE | {"y_true": "yes", "y_pred": "yes"},
        r"^positive_label is required: the labels seen are \['no', 'yes'\]",
    ),
    (
        "positive label not among the labels",
        {},
        BASE | {"y_true": "yes", "y_pred": "yes", "positive_label": "maybe"},
        r"^positive_label 'maybe' is not one of the labels seen: \['no', 'yes'\]$",
    ),
    (
        "score above 1",
        {"s": [0.1, 1.5, 1.0, 0.0]},
        BASE | {"scores": "s"},
        r"^scores \('s'\) must lie in \[0, 1\] \(seen from 0.0 to 1.5\); pass probabilities$",
    ),
    (
        "score below 0",
        {"s": [0.1, -0.25, 1.0, 0.0]},
        BASE | {"scores": "s"},
        r"^scores \('s'\) must lie in \[0, 1\] \(seen from -0.25 to 1.0\)",
    ),
    (
        "integer scores",
        {},
        BASE | {"scores": "multi"},
        r"^scores \('multi'\) must lie in \[0, 1\] \(seen from 1.0 to 3.0\)",
    ),
    ("missing score", {"s": [0.1, np.nan, 1.0, 0.0]}, BASE | {"scores": "s"}, r"^scores \('s'\) has 1 missing values$"),
    (
        "missing sensitive values with missing='error'",
        {"g": ["a", None, None, "b"]},
        BASE | {"sensitive_features": ["text", "g"], "missing": "error"},
        r"^sensitive feature 'g' has 2 missing values \(missing='error'",
    ),
    ("missing y_true", {"y": [1.0, np.nan, 1.0, 0.0]}, BASE, r"^y_true \('y'\) has 1 missing value$"),
    (
        "missing y_pred",
        {"p": pd.array([1, None, None, 0], dtype="Int64")},
        BASE,
        r"^y_pred \('p'\) has 2 missing values$",
    ),
    (
        "missing weight",
        {"w": [1.0, np.nan, 1.0, 1.0]},
        BASE | {"sample_weight": "w"},
        r"^sample_weight \('w'\) has 1 missing values$",
    ),
    (
        "negative weight",
        {"w": [1.0, -1.0, 2.0, 1.0]},
        BASE | {"sample_weight": "w"},
        r"^sample_weight \('w'\) must be finite and non-negative \(seen from -1.0 to 2.0\)$",
    ),
]


@pytest.mark.parametrize(
    ("changes", "options", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_errors_as_the_numpy_engine_gives_them(changes: dict[str, Any], options: dict[str, Any], message: str) -> None:
    df = error_frame(**changes)
    with pytest.raises(InvalidInput, match=message) as info:
        statistics_duckdb(df, **options)
    with pytest.raises(InvalidInput) as theirs:
        statistics_numpy(df, **options)
    assert info.value.message == theirs.value.message


def test_errors_from_files(tmp_path: Path) -> None:
    df = error_frame()
    for fmt in ("parquet", "csv"):
        path = write(df, tmp_path, fmt)
        with pytest.raises(InvalidInput, match=r"^column 'race' not found; available columns: g, y, p, multi") as info:
            statistics_duckdb(path, **BASE | {"sensitive_features": ["race"]})
        assert info.value.details["available"] == list(df.columns)
        with pytest.raises(InvalidInput, match=r"^labels must be binary: y_true \('multi'\) has \[1, 2, 3\]"):
            statistics_duckdb(path, **BASE | {"y_true": "multi"})


def test_many_labels_are_listed_up_to_twenty() -> None:
    many = pd.DataFrame({"g": "a", "y": np.arange(100), "p": 1})
    with pytest.raises(InvalidInput, match=r"^labels must be binary: y_true \('y'\) has \[") as info:
        statistics_duckdb(many, y_true="y", y_pred="p", sensitive_features=["g"])
    listed = info.value.message.split("[", 1)[1].split("]", 1)[0].split(", ")
    assert len(listed) == 20 and set(map(int, listed)) < set(range(100))


def test_scores_and_weights_must_be_numbers() -> None:
    with pytest.raises(InvalidInput, match=r"^scores \('text'\) must be numeric \(its type is VARCHAR\)$"):
        statistics_duckdb(error_frame(), **BASE | {"scores": "text"})
    with pytest.raises(InvalidInput, match=r"^sample_weight \('yes'\) must be numeric"):
        statistics_duckdb(error_frame(), **BASE | {"sample_weight": "yes"})


def test_bad_sources_and_options(tmp_path: Path) -> None:
    options: dict[str, Any] = dict(BASE)
    with pytest.raises(InvalidInput, match="cannot read"):
        statistics_duckdb(tmp_path / "missing.parquet", **options)
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        statistics_duckdb(tmp_path / "data.xlsx", **options)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match="cannot read"):
        statistics_duckdb(tmp_path / "bad.parquet", **options)
    with pytest.raises(InvalidInput, match="at least one sensitive feature"):
        statistics_duckdb(error_frame(), y_true="y", y_pred="p", sensitive_features=[])
    with pytest.raises(InvalidInput, match="bins"):
        statistics_duckdb(error_frame(), **options, scores="s", bins=0)
    with pytest.raises(InvalidInput, match="missing"):
        statistics_duckdb(error_frame(), **options, missing="drop")
