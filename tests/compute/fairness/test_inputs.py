"""Every way of passing the data gives exactly the same statistics; bad input is refused clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from charter.compute.fairness import GroupStats, compute_statistics
from charter.compute.fairness.engines import numpy_engine
from charter.errors import InvalidInput

N = 1500


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    race = rng.choice(["Black", "White", "Asian"], N).astype(object)
    race[rng.random(N) < 0.02] = None
    return pd.DataFrame(
        {
            "label": rng.integers(0, 2, N),
            "pred": rng.integers(0, 2, N),
            "race": race,
            "sex": rng.choice(["F", "M"], N),
            "score": rng.random(N),
            "weight": rng.integers(1, 9, N) / 4,  # sums exact in any order: chunks and engines agree bit for bit
        }
    )


@pytest.fixture(scope="module")
def expected(frame: pd.DataFrame) -> GroupStats:
    return compute_statistics(
        y_true=frame.label.to_numpy(), y_pred=frame.pred.to_numpy(),
        sensitive_features={"race": frame.race.to_numpy(), "sex": frame.sex.to_numpy()},
        scores=frame.score.to_numpy(), sample_weight=frame.weight.to_numpy(),
    )  # fmt: skip


ROLES = {"y_true": "label", "y_pred": "pred", "sensitive_features": ["race", "sex"], "scores": "score",
         "sample_weight": "weight"}  # fmt: skip


def arrays(frame: pd.DataFrame, kind: str) -> dict[str, Any]:
    convert = {
        "list": lambda s: s.tolist(),
        "ndarray": lambda s: s.to_numpy(),
        "series": lambda s: s,
        "polars": lambda s: polars.from_pandas(s),
        "arrow": lambda s: pa.Array.from_pandas(s),
        "chunked-arrow": lambda s: pa.chunked_array([pa.Array.from_pandas(s[:700]), pa.Array.from_pandas(s[700:])]),
        "categorical": lambda s: s.astype("category") if s.dtype == object or s.name == "sex" else s,
    }[kind]
    return {
        "y_true": convert(frame.label),
        "y_pred": convert(frame.pred),
        "sensitive_features": {"race": convert(frame.race), "sex": convert(frame.sex)},
        "scores": convert(frame.score),
        "sample_weight": convert(frame.weight),
    }


@pytest.mark.parametrize("kind", ["list", "ndarray", "series", "polars", "arrow", "chunked-arrow", "categorical"])
def test_array_likes_give_identical_statistics(frame: pd.DataFrame, expected: GroupStats, kind: str) -> None:
    stats = compute_statistics(**arrays(frame, kind))
    assert stats.equals(expected), kind
    assert stats.groups[-2:] == ((None, "F"), (None, "M"))  # a missing race is a group of its own, last


def _source(frame: pd.DataFrame, kind: str, tmp_path: Path) -> Any:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if kind == "pandas":
        return frame
    if kind == "polars":
        return polars.from_pandas(frame)
    if kind == "arrow":
        return table
    if kind == "record-batch":
        return table.combine_chunks().to_batches()[0]
    if kind == "mapping":
        return {name: frame[name].to_numpy() for name in frame.columns}
    if kind == "reader":
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=400))
    if kind == "parquet":
        pq.write_table(table, tmp_path / "data.parquet", row_group_size=500)
        return tmp_path / "data.parquet"
    if kind == "csv":
        pacsv.write_csv(table, tmp_path / "data.csv")
        return str(tmp_path / "data.csv")
    raise AssertionError(kind)


SOURCES = ["pandas", "polars", "arrow", "record-batch", "mapping", "reader", "parquet", "csv"]


@pytest.fixture(scope="module")
def expected_from_csv(frame: pd.DataFrame) -> GroupStats:
    """In a CSV file a missing text value is an empty field, which Arrow (and so Charter) reads as ""."""
    return compute_statistics(frame.assign(race=frame.race.fillna("")), **ROLES)


@pytest.mark.parametrize("kind", SOURCES)
def test_sources_give_identical_statistics(
    frame: pd.DataFrame, expected: GroupStats, expected_from_csv: GroupStats, kind: str, tmp_path: Path
) -> None:
    stats = compute_statistics(_source(frame, kind, tmp_path), **ROLES)
    assert stats.equals(expected_from_csv if kind == "csv" else expected), kind


@pytest.mark.parametrize("kind", ["pandas", "arrow", "parquet", "csv"])
def test_chunks_merge_to_the_same_statistics(
    frame: pd.DataFrame, expected: GroupStats, expected_from_csv: GroupStats, kind: str, tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    stats = compute_statistics(
        _source(frame, kind, tmp_path), **ROLES, chunk_rows=256, progress=lambda done, total: seen.append((done, total))
    )
    assert stats.equals(expected_from_csv if kind == "csv" else expected)
    assert len(seen) >= 2 and seen[-1][0] == seen[-1][1] and seen == sorted(seen)


def test_csv_chunks_are_read_with_the_types_of_the_first_chunk(tmp_path: Path) -> None:
    path = tmp_path / "drift.csv"
    path.write_text("label,pred,group\n" + "1,0,7\n" * 30000 + "1,0,seven\n")
    with pytest.raises(InvalidInput, match="cannot read"):
        compute_statistics(path, y_true="label", y_pred="pred", sensitive_features="group", chunk_rows=100)
    whole = compute_statistics(path, y_true="label", y_pred="pred", sensitive_features="group")
    assert whole.groups == (("7",), ("seven",))


def test_unknown_column_names_the_available_ones(frame: pd.DataFrame, tmp_path: Path) -> None:
    for source in (frame, _source(frame, "parquet", tmp_path), _source(frame, "csv", tmp_path)):
        with pytest.raises(InvalidInput, match="column 'gender' not found; available columns: label, pred, race") as e:
            compute_statistics(source, y_true="label", y_pred="pred", sensitive_features="gender")
        assert e.value.details["available"] == list(frame.columns)


def test_roles_must_be_names_with_data_and_values_without(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="with data, y_true must be a column name"):
        compute_statistics(frame, y_true=frame.label, y_pred="pred", sensitive_features="race")
    with pytest.raises(InvalidInput, match="no data was given"):
        compute_statistics(y_true="label", y_pred="pred", sensitive_features="race")
    with pytest.raises(InvalidInput, match=r"columns differ in length: y_true=3, y_pred=2"):
        compute_statistics(y_true=[1, 0, 1], y_pred=[1, 0], sensitive_features=["a", "b", "c"])
    with pytest.raises(InvalidInput, match="not a Parquet or CSV file"):
        compute_statistics("data.xlsx", y_true="a", y_pred="b", sensitive_features="c")
    with pytest.raises(InvalidInput, match="unsupported data"):
        compute_statistics(42, y_true="a", y_pred="b", sensitive_features="c")


def test_labels_scores_and_weights_are_checked() -> None:
    group = ["a", "b", "a", "b"]
    with pytest.raises(InvalidInput, match="y_true has 1 missing value"):
        compute_statistics(y_true=[1, None, 0, 1], y_pred=[1, 0, 0, 1], sensitive_features=group)
    with pytest.raises(InvalidInput, match=r"y_true \('label'\) has 1 missing value"):
        compute_statistics(
            pd.DataFrame({"label": [1.0, np.nan, 0.0, 1.0], "pred": 1, "g": group}),
            y_true="label", y_pred="pred", sensitive_features="g",
        )  # fmt: skip
    with pytest.raises(InvalidInput, match=r"scores must lie in \[0, 1\]"):
        compute_statistics(y_true=[1, 0, 0, 1], y_pred=[1, 0, 0, 1], sensitive_features=group, scores=[0.1, 2, 0, 1])
    with pytest.raises(InvalidInput, match="scores has 1 missing values"):
        compute_statistics(
            y_true=[1, 0, 0, 1], y_pred=[1, 0, 0, 1], sensitive_features=group, scores=[0.1, np.nan, 0, 1]
        )
    with pytest.raises(InvalidInput, match="finite and non-negative"):
        compute_statistics(
            y_true=[1, 0, 0, 1], y_pred=[1, 0, 0, 1], sensitive_features=group, sample_weight=[1, -1, 1, 1]
        )
    with pytest.raises(InvalidInput, match="sample_weight must be numeric"):
        compute_statistics(
            y_true=[1, 0, 0, 1], y_pred=[1, 0, 0, 1], sensitive_features=group, sample_weight=list("abcd")
        )


def test_numeric_labels_that_are_not_0_1_need_a_positive_label() -> None:
    y = [1, 2, 2, 1]
    with pytest.raises(InvalidInput, match=r"positive_label is required: the labels seen are \[1, 2\]"):
        compute_statistics(y_true=y, y_pred=y, sensitive_features=["a"] * 4)
    stats = compute_statistics(y_true=y, y_pred=y, sensitive_features=["a"] * 4, positive_label="2")  # text matches 2
    assert stats.confusion[0].tolist() == [[2.0, 0.0], [0.0, 2.0]]


@pytest.mark.parametrize(
    "column",
    [
        pd.Categorical(["b", "a", None, "b"], categories=["a", "b", "unused"]),
        pa.chunked_array([pa.array(["b", "a"]).dictionary_encode(), pa.array([None, "b"]).dictionary_encode()]),
        pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 2]), pa.array(["a", "b", "b"])),  # a repeated value
        np.array(["b", "a", None, "b"], dtype=object),
        pd.Series(["b", "a", None, "b"], dtype="string"),
    ],
    ids=["categorical-unused", "arrow-dictionaries", "arrow-repeated-value", "object", "pandas-string"],
)
def test_encodings_of_a_sensitive_column_agree(column: Any) -> None:
    stats = compute_statistics(y_true=[1, 0, 1, 1], y_pred=[1, 1, 0, 1], sensitive_features={"s": column})
    assert stats.groups == (("a",), ("b",), (None,))
    assert stats.rows.tolist() == [1, 2, 1]


@pytest.mark.parametrize(
    ("values", "groups"),
    [
        (np.array([5, -3, 5, 70000], dtype=np.int64), [(-3,), (5,), (70000,)]),  # too wide a range: factorised
        (np.array([2, 0, 2, 7], dtype=np.int16), [(0,), (2,), (7,)]),
        (np.array([True, False, True, True]), [(False,), (True,)]),
        (np.array([0.5, np.nan, 0.5, 1.5]), [(0.5,), (1.5,), (None,)]),
        (np.array([3, 1, 3, 1], dtype=np.uint64)[::1], [(1,), (3,)]),
    ],
    ids=["wide-int", "int16", "bool", "float-nan", "uint64"],
)
def test_numeric_sensitive_columns(values: np.ndarray[Any, Any], groups: list[tuple[Any, ...]]) -> None:
    stats = compute_statistics(y_true=[1, 0, 1, 1], y_pred=[1, 1, 0, 1], sensitive_features=values)
    assert list(stats.groups) == groups
    assert all(type(label[0]) in (int, float, bool, type(None)) for label in stats.groups)  # plain Python values


def test_label_columns_are_never_modified() -> None:
    y_true = np.array([1, 0, 1, 1], dtype=np.int8)
    codes = np.array([0, 1, 0, 1], dtype=np.uint8)
    before = (y_true.copy(), codes.copy())
    compute_statistics(y_true=y_true, y_pred=y_true, sensitive_features=codes, positive_label=0)
    assert np.array_equal(y_true, before[0]) and np.array_equal(codes, before[1])


def test_many_possible_combinations_are_compacted(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    features = {name: rng.integers(0, 40, 3000) for name in ("a", "b", "c")}
    y_true, y_pred = rng.integers(0, 2, 3000), rng.integers(0, 2, 3000)
    dense = compute_statistics(y_true=y_true, y_pred=y_pred, sensitive_features=features, scores=rng.random(3000))
    monkeypatch.setattr(numpy_engine, "_DENSE_GROUPS", 100)  # 40^3 possible groups: take the hashing path
    sparse = compute_statistics(y_true=y_true, y_pred=y_pred, sensitive_features=features, scores=rng.random(3000))
    assert sparse.groups == dense.groups and np.array_equal(sparse.confusion, dense.confusion)
    frame = pd.DataFrame(features).assign(n=1).groupby(["a", "b", "c"]).n.sum()
    assert dict(zip(dense.groups, dense.rows.tolist(), strict=True)) == frame.to_dict()


@pytest.mark.parametrize("n", [1, 2, 999, 1000])
@pytest.mark.parametrize("groups", [3, 64, 65, 20000])
def test_counts_equal_a_plain_bincount(monkeypatch: pytest.MonkeyPatch, n: int, groups: int) -> None:
    """The two-rows-at-a-time count (one-byte codes) and the wider codes give np.bincount's counts."""
    monkeypatch.setattr(numpy_engine, "_PAIR_COUNT_MIN_ROWS", 0)
    rng = np.random.default_rng(n + groups)
    group, y_true, y_pred = rng.integers(0, groups, n), rng.integers(0, 2, n), rng.integers(0, 2, n)
    stats = compute_statistics(y_true=y_true, y_pred=y_pred, sensitive_features=group)
    plain = np.bincount(group * 4 + y_true * 2 + y_pred, minlength=groups * 4).reshape(groups, 2, 2)
    present = np.flatnonzero(plain.sum(axis=(1, 2)))
    assert [g[0] for g in stats.groups] == sorted(present.tolist(), key=str)
    order = [int(g[0]) for g in stats.groups]
    assert np.array_equal(stats.confusion, plain[order].astype(float))


def test_duckdb_engine_gives_the_numpy_statistics(frame: pd.DataFrame, expected: GroupStats, tmp_path: Path) -> None:
    stats = compute_statistics(_source(frame, "parquet", tmp_path), **ROLES, engine="duckdb")
    assert stats.equals(expected)
    with pytest.raises(InvalidInput, match="engine 'duckdb' reads a table"):
        compute_statistics(y_true=[1], y_pred=[1], sensitive_features=["a"], engine="duckdb")


def test_missing_error_names_every_column_with_missing_values(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [1, 0, 1, 0], "race": ["a", None, "b", None], "sex": [None, "F", "M", "F"]})
    with pytest.raises(InvalidInput, match="'race' has 2 missing values, 'sex' has 1 missing value") as e:
        compute_statistics(frame, y_true="y", y_pred="y", sensitive_features=["race", "sex"], missing="error")
    assert e.value.details == {"missing": {"race": 2, "sex": 1}}


def test_spark_engine_is_called_with_the_column_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dispatch, without starting Spark (the engine's own tests run it): names in, GroupStats out."""
    import sys
    import types

    calls: list[tuple[Any, dict[str, Any]]] = []
    stats = compute_statistics(y_true=[1, 0], y_pred=[1, 1], sensitive_features={"race": ["a", None]})

    def statistics_spark(df: Any, **keywords: Any) -> GroupStats:
        calls.append((df, keywords))
        return stats

    fake = types.ModuleType("spark_engine")
    fake.statistics_spark = statistics_spark  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "charter.compute.fairness.engines.spark_engine", fake)
    frame = object()  # a Spark DataFrame stand-in (a string would be read as a file path)
    got = compute_statistics(frame, y_true="y", y_pred="p", sensitive_features="race", engine="spark")
    assert got is stats
    assert calls == [
        (
            frame,
            {
                "y_true": "y",
                "y_pred": "p",
                "sensitive_features": ["race"],
                "scores": None,
                "sample_weight": None,
                "positive_label": None,
                "missing": "group",
                "bins": 1000,
            },
        )
    ]
    with pytest.raises(InvalidInput, match="'race' has 1 missing value"):  # checked whatever the engine did
        compute_statistics(frame, y_true="y", y_pred="p", sensitive_features="race", engine="spark", missing="error")
    monkeypatch.setitem(sys.modules, "charter.compute.fairness.engines.spark_engine", types.ModuleType("empty"))
    with pytest.raises(InvalidInput, match="engine 'spark' is not available"):
        compute_statistics(frame, y_true="y", y_pred="p", sensitive_features="race", engine="spark")
