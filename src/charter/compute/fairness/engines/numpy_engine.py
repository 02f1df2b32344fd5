"""The NumPy/Arrow engine: the data reduced to :class:`GroupStats` with one ``np.bincount``.

Each sensitive column is encoded to integer codes (``encode``: a categorical's codes, an Arrow
dictionary's indices, ``pandas.factorize`` otherwise; a missing value gets its own code), the
codes of several features combine into one group code ``g = (c1 * k2 + c2) * k3 + c3 ...``
(intersectional groups fall out of it), and one count over ``g * 4 + y_true * 2 + y_pred`` gives
every group's confusion matrix (with ``weights=`` for sample weights). Score histograms are one
more count over ``(g * 2 + y_true) * bins + score_bin(score)``. Groups with no rows are dropped.

The cell code is built in the narrowest unsigned type that holds it; with at most 64 groups it
is one byte per row, counted two rows at a time (the bytes viewed as ``uint16``, a 65,536-bin
count, then summed back per byte): about as fast as a bare ``np.bincount`` of a prepared code.

Files are read whole with Arrow, or in chunks of ``chunk_rows`` rows (Parquet record batches, CSV
blocks) whose statistics are merged, so a file larger than memory works too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from charter.compute.fairness.engines.encode import Codes, IntArray, encode, native
from charter.compute.fairness.inputs import (
    Column,
    Columns,
    Progress,
    file_batches,
    in_memory_batches,
    is_path,
    is_polars,
    read_file,
    reader_batches,
    resolve,
)
from charter.compute.fairness.stats import DEFAULT_BINS, GroupLabel, GroupStats, score_bin
from charter.errors import InvalidInput

U8 = np.ndarray[Any, np.dtype[np.uint8]]
F64 = np.ndarray[Any, np.dtype[np.float64]]

# Above this many possible groups the group code is compacted to the groups that occur.
_DENSE_GROUPS = 1 << 20
# Histograms of more cells than this are refused (memory): fewer bins or fewer groups.
_MAX_HIST_CELLS = 1 << 27
# Below this many rows the two-rows-at-a-time count is not worth its 65,536 bins.
_PAIR_COUNT_MIN_ROWS = 1 << 18


def statistics_numpy(
    data: Any = None,
    *,
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    scores: Any = None,
    sample_weight: Any = None,
    positive_label: Any = None,
    missing: str = "group",
    bins: int = DEFAULT_BINS,
    chunk_rows: int | None = None,
    progress: Progress | None = None,
) -> GroupStats:
    """Statistics of in-memory data, a file or a record-batch reader (see ``compute_statistics``)."""
    columns, roles = resolve(
        data,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive_features,
        scores=scores,
        sample_weight=sample_weight,
    )
    labels = Binariser(positive_label)
    if columns is not None and chunk_rows is None:
        stats = reduce(columns, labels, bins=bins)
    else:
        if columns is not None:
            batches: Iterable[Columns] = in_memory_batches(columns, chunk_rows or columns.rows or 1, progress)
        elif isinstance(data, pa.RecordBatchReader):
            assert roles is not None
            batches = reader_batches(data, roles, progress=progress)
        elif is_path(data) and chunk_rows is not None:
            assert roles is not None
            batches = file_batches(data, roles, chunk_rows=chunk_rows, progress=progress)
        else:
            assert roles is not None
            batches = [read_file(data, roles)]
        stats = _merge_all(batches, labels, bins=bins, features=roles.sensitive if roles else None)
    if missing == "error":
        raise_on_missing(stats)
    return stats


def statistics_batches(
    batches: Iterable[Columns],
    *,
    features: Sequence[str],
    scores: bool,
    positive_label: Any = None,
    missing: str = "group",
    bins: int = DEFAULT_BINS,
) -> GroupStats:
    """Statistics of a stream of batches (a query's result), merged batch by batch; one label rule for all.

    ``scores`` says whether the batches carry scores, so that an empty stream still gets (empty)
    score histograms, as the other engines give.
    """
    stats = _merge_all(batches, Binariser(positive_label), bins=bins, features=features, scores=scores)
    if missing == "error":
        raise_on_missing(stats)
    return stats


def _merge_all(
    batches: Iterable[Columns], labels: Binariser, *, bins: int, features: Sequence[str] | None, scores: bool = False
) -> GroupStats:
    total: GroupStats | None = None
    with_scores = scores
    for batch in batches:
        part = reduce(batch, labels, bins=bins)
        with_scores = batch.scores is not None
        total = part if total is None else total.merge(part)
    if total is None:  # no rows at all
        return _empty(tuple(features or ()), bins if with_scores else None)
    return total


def _empty(features: tuple[str, ...], bins: int | None) -> GroupStats:
    return GroupStats(
        features, (), np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), None if bins is None else np.zeros((0, 2, bins))
    )


def missing_counts(stats: GroupStats) -> dict[str, int]:
    """Rows whose value of each sensitive feature is missing (``None`` in the group label)."""
    counts = dict.fromkeys(stats.features, 0)
    for label, rows in zip(stats.groups, stats.rows.tolist(), strict=True):
        for feature, value in zip(stats.features, label, strict=True):
            if value is None:
                counts[feature] += rows
    return {feature: n for feature, n in counts.items() if n}


def raise_on_missing(stats: GroupStats) -> None:
    counts = missing_counts(stats)
    if counts:
        listed = ", ".join(f"{feature!r} has {n} missing value{'s' if n != 1 else ''}" for feature, n in counts.items())
        raise InvalidInput(
            f"sensitive feature {listed} (missing='error'; pass missing='group' to report them as a group)",
            details={"missing": counts},
        )


# --- one batch ------------------------------------------------------------------------------------


def reduce(columns: Columns, labels: Binariser, *, bins: int) -> GroupStats:
    """The statistics of one batch of columns."""
    y_true, y_pred = labels(encode(columns.y_true), encode(columns.y_pred), columns.names)
    features = tuple(name for name, _ in columns.sensitive)
    grouping = _Grouping.of([_sensitive_codes(col) for _, col in columns.sensitive])
    weights = None if columns.sample_weight is None else _weights(columns.sample_weight, columns.names)
    score_bins = None if columns.scores is None else _score_bins(columns.scores, bins, columns.names)
    confusion, rows = _count(grouping, y_true, y_pred, weights)
    keep = np.flatnonzero(rows)
    hist = None if score_bins is None else _histograms(grouping, keep, y_true, score_bins, weights, bins)
    return GroupStats.build(
        features,
        [grouping.label(int(k)) for k in keep],
        confusion[keep],
        rows[keep],
        hist,
        weighted=weights is not None,
    )


def _sensitive_codes(column: Column) -> tuple[IntArray, list[Any]]:
    codes = encode(column)
    labels = list(codes.labels)
    values = codes.codes
    if codes.missing():
        values = np.where(values < 0, len(labels), values)
        labels.append(None)
    return values, labels


class _Grouping:
    """The combined group code of every row and the label tuple of each code."""

    def __init__(self, code: IntArray, size: int, label: Callable[[int], GroupLabel]) -> None:
        self.code, self.size, self.label = code, size, label

    @classmethod
    def of(cls, features: Sequence[tuple[IntArray, list[Any]]]) -> _Grouping:
        sizes = [max(1, len(labels)) for _, labels in features]
        total = math.prod(sizes)
        label_lists = [labels for _, labels in features]
        if total <= _DENSE_GROUPS:
            dtype = _code_dtype(total * 4)
            code = _as(features[0][0], dtype)
            for (values, _), size in zip(features[1:], sizes[1:], strict=True):
                code = code * dtype.type(size) + _as(values, dtype)

            def mixed_radix(k: int) -> GroupLabel:
                digits = []
                for size in reversed(sizes):
                    k, digit = divmod(k, size)
                    digits.append(digit)
                return tuple(labels[d] for labels, d in zip(label_lists, reversed(digits), strict=True))

            return cls(code, total, mixed_radix)
        # Too many possible combinations: number only those that occur (hash-based, slower).
        table = np.arange(sizes[0], dtype=np.int64)[:, None]
        code = features[0][0].astype(np.int64)
        for (values, _), size in zip(features[1:], sizes[1:], strict=True):
            combined = code * size + values.astype(np.int64)
            dense, uniques = pd.factorize(combined, sort=True)
            uniques = np.asarray(uniques, dtype=np.int64)
            table = np.column_stack([table[uniques // size], uniques % size])
            code = np.asarray(dense, dtype=np.int64)
        digits = table

        def from_table(k: int) -> GroupLabel:
            return tuple(labels[int(d)] for labels, d in zip(label_lists, digits[k], strict=True))

        dtype = _code_dtype(len(digits) * 4)
        return cls(code.astype(dtype), len(digits), from_table)


def _code_dtype(cells: int) -> np.dtype[Any]:
    if cells <= 1 << 8:
        return np.dtype(np.uint8)
    if cells <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.intp)


def _as(values: IntArray, dtype: np.dtype[Any]) -> IntArray:
    """Non-negative codes in ``dtype`` (a view when only the sign differs, never a write into the input)."""
    if values.dtype == dtype:
        return values
    if values.dtype.itemsize == dtype.itemsize and values.dtype.kind in "iu" and values.flags.c_contiguous:
        return values.view(dtype)
    return values.astype(dtype)


def _count(grouping: _Grouping, y_true: U8, y_pred: U8, weights: F64 | None) -> tuple[F64, np.ndarray[Any, Any]]:
    cells = grouping.size * 4
    dtype = grouping.code.dtype
    cell = grouping.code * dtype.type(4)  # a new array: the group code may be the caller's own data
    cell += y_true
    cell += y_true
    cell += y_pred
    counts = _bincount(cell, cells)
    rows = counts.reshape(grouping.size, 4).sum(axis=1)
    if weights is None:
        confusion = counts.astype(np.float64)
    else:
        confusion = np.bincount(cell, weights=weights, minlength=cells).astype(np.float64)
    return confusion.reshape(grouping.size, 2, 2), rows.astype(np.int64)


def _bincount(cell: IntArray, cells: int) -> np.ndarray[Any, np.dtype[np.intp]]:
    """``np.bincount(cell, minlength=cells)``; one-byte codes are counted two rows at a time."""
    if cell.dtype != np.uint8 or len(cell) < _PAIR_COUNT_MIN_ROWS or not cell.flags.c_contiguous:
        return np.bincount(cell, minlength=cells)
    half = len(cell) // 2
    pairs = np.bincount(cell[: 2 * half].view(np.uint16), minlength=1 << 16).reshape(256, 256)
    counts = pairs.sum(axis=0) + pairs.sum(axis=1)
    if len(cell) % 2:
        counts[cell[-1]] += 1
    result: np.ndarray[Any, np.dtype[np.intp]] = counts[:cells]
    return result


def _histograms(
    grouping: _Grouping, keep: IntArray, y_true: U8, score_bins: IntArray, weights: F64 | None, bins: int
) -> F64:
    group = grouping.code.astype(np.intp)
    groups = grouping.size
    if groups * 2 * bins > 1 << 24:  # number only the groups that occur
        lut = np.full(grouping.size, -1, dtype=np.intp)
        lut[keep] = np.arange(len(keep))
        group, groups = lut[group], len(keep)
        keep = np.arange(len(keep))
    if groups * 2 * bins > _MAX_HIST_CELLS:
        raise InvalidInput(f"{groups} groups x {bins} bins is too many score-histogram cells; pass fewer bins")
    index = (group * 2 + y_true) * bins + score_bins
    hist = np.bincount(index, weights=weights, minlength=groups * 2 * bins).reshape(groups, 2, bins)
    result: F64 = hist[keep].astype(np.float64)
    return result


# --- numbers: scores and weights ------------------------------------------------------------------


def _floats(column: Column, role: str) -> F64:
    if is_polars(column) and hasattr(column, "to_arrow"):
        column = column.to_arrow()
    try:
        if isinstance(column, pa.Array | pa.ChunkedArray):
            if pa.types.is_decimal(column.type):
                # SQL NUMERIC (DuckDB, PostgreSQL), to the nearest double as DuckDB's CAST(... AS DOUBLE): Arrow's
                # own decimal-to-double cast is off by an ulp for a third of values, its text parser is exact.
                column = column.cast(pa.string()).cast(pa.float64())
            if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
                raise TypeError(str(column.type))
            return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        if isinstance(column, pd.Series | pd.Index):
            return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan))
        array = np.asarray(column)
        if array.dtype.kind in "fiub":
            return array.astype(np.float64, copy=False)
        return np.asarray(pd.Series(array, dtype=object).astype("float64").to_numpy())
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{role} must be numeric ({exc})") from exc


def _weights(column: Column, names: Mapping[str, str]) -> F64:
    role = names.get("sample_weight", "sample_weight")
    weights = _floats(column, role)
    if len(weights):
        low, high = float(weights.min()), float(weights.max())
        if math.isnan(low) or math.isnan(high):
            raise InvalidInput(f"{role} has {int(np.isnan(weights).sum())} missing values")
        if low < 0 or math.isinf(high):
            raise InvalidInput(f"{role} must be finite and non-negative (seen from {low} to {high})")
    return weights


def _score_bins(column: Column, bins: int, names: Mapping[str, str]) -> IntArray:
    role = names.get("scores", "scores")
    scores = _floats(column, role)
    if len(scores):
        low, high = float(scores.min()), float(scores.max())
        if math.isnan(low) or math.isnan(high):
            raise InvalidInput(f"{role} has {int(np.isnan(scores).sum())} missing values")
        if low < 0 or high > 1:
            raise InvalidInput(f"{role} must lie in [0, 1] (seen from {low} to {high}); pass probabilities")
    return score_bin(scores, bins)


# --- labels ---------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, bool | int | float) and not isinstance(value, str)


def _is_01(value: Any) -> bool:
    return _is_number(value) and value in (0, 1)


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) if _is_number(a) == _is_number(b) else False


_UNSET = object()


class Binariser:
    """Label binarisation, consistent over every chunk of one input.

    The labels of ``y_true`` (and of ``y_pred`` when it uses the same labels) must be at most two.
    ``y_pred`` is taken as already binary (1 = positive) when its values are 0/1 or booleans and
    ``y_true``'s labels are not numbers (e.g. ``y_true`` in {"<=50K", ">50K"}, ``y_pred`` 0/1).
    The positive label is ``positive_label`` when given (a string also matches a label with the
    same text, so ``"1"`` from a command line finds the label 1); otherwise 1 (or True), inferred
    only when every label is 0/1 or a boolean; otherwise an error listing the labels seen.
    """

    def __init__(self, positive_label: Any = None) -> None:
        self.given = positive_label
        self.space: list[Any] = []
        self.positive: Any = _UNSET

    def __call__(self, y_true: Codes, y_pred: Codes, names: Mapping[str, str]) -> tuple[U8, U8]:
        for role, codes in (("y_true", y_true), ("y_pred", y_pred)):
            missing = codes.missing()
            if missing:
                raise InvalidInput(f"{names.get(role, role)} has {missing} missing value{'s' if missing != 1 else ''}")
        seen_true, seen_pred = y_true.present(binary_superset=True), y_pred.present(binary_superset=True)
        pred_binary = all(_is_01(v) for v in seen_pred) and any(not _is_number(v) for v in seen_true + self.space)
        for value in seen_true + ([] if pred_binary else seen_pred):
            if not any(_same(value, known) for known in self.space):
                self.space.append(value)
        if len(self.space) > 2:
            raise InvalidInput(
                f"labels must be binary: {names.get('y_true', 'y_true')} has {_show(seen_true)}, "
                f"{names.get('y_pred', 'y_pred')} has {_show(seen_pred)}"
            )
        positive = self._positive()
        true_bits = _binary(y_true, [_same(label, positive) for label in y_true.labels])
        pred_lut = (
            [_is_01(label) and label == 1 for label in y_pred.labels]
            if pred_binary
            else [_same(label, positive) for label in y_pred.labels]
        )
        return true_bits, _binary(y_pred, pred_lut)

    def _positive(self) -> Any:
        if self.given is None:
            if all(_is_01(v) for v in self.space):
                return True if self.space and all(isinstance(v, bool) for v in self.space) else 1
            raise InvalidInput(
                f"positive_label is required: the labels seen are {_show(self.space)} (it is inferred only for "
                "0/1 and False/True)"
            )
        for label in self.space:
            if _same(label, self.given):
                return label
        for label in self.space:
            if isinstance(self.given, str) and str(label) == self.given:
                return label
        if len(self.space) >= 2:
            raise InvalidInput(f"positive_label {self.given!r} is not one of the labels seen: {_show(self.space)}")
        return self.given


def _binary(codes: Codes, lut: list[bool]) -> U8:
    """1 where the label is positive, as one byte per row (a view when the codes already are 0/1)."""
    table = np.asarray(lut, dtype=np.uint8)
    values = codes.codes
    if len(table) == 0:
        return np.zeros(len(values), dtype=np.uint8)
    if np.array_equal(table, np.arange(len(table))):  # the codes are the bits
        bits: U8 = (
            values.view(np.uint8)
            if values.dtype.itemsize == 1 and values.flags.c_contiguous
            else values.astype(np.uint8)
        )
        return bits
    if len(table) == 2 and table[0] == 1 and table[1] == 0:
        flipped: U8 = np.subtract(1, values, dtype=np.uint8, casting="unsafe")
        return flipped
    result: U8 = table[values]
    return result


def _show(labels: Sequence[Any]) -> str:
    return "[" + ", ".join(repr(native(v)) for v in sorted(labels, key=lambda v: (str(type(v)), str(v)))) + "]"
