"""Columns to integer codes, the cheap way for each kind of column.

A pandas categorical keeps its codes and an Arrow dictionary its indices (no pass over the data);
0/1 and boolean arrays are used as they are after one reduction proves them 0/1; small-range
integers become ``value - min``; everything else goes through ``pandas.factorize`` or Arrow's
``dictionary_encode`` (hash-based, fast on strings). Missing values (None, NaN, NA, Arrow null)
get the code -1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from charter.compute.fairness.inputs import Column, is_polars

IntArray = np.ndarray[Any, np.dtype[np.integer[Any]]]

# Integer columns whose values span at most this many codes are encoded as ``value - min``.
_OFFSET_RANGE = 1 << 16


@dataclass(frozen=True)
class Codes:
    """``codes[i]`` indexes ``labels`` (-1: missing). ``exact``: every label occurs (else some may not)."""

    codes: IntArray
    labels: list[Any]
    exact: bool
    may_miss: bool  # False when the column cannot hold a missing value (NumPy integers and booleans)

    def missing(self) -> int:
        if not self.may_miss or len(self.codes) == 0:
            return 0
        if self.codes.dtype.kind == "u":
            return 0
        return int(np.count_nonzero(self.codes < 0))

    def present(self, *, binary_superset: bool = False) -> list[Any]:
        """The labels that occur, in label order.

        ``binary_superset``: for a 0/1 (or boolean) column, answer ``labels`` without a pass over
        the data, although one of the two may not occur (what label binarisation can live with).
        """
        if self.exact:
            return list(self.labels)
        if binary_superset and not self.may_miss and len(self.labels) == 2 and self.labels[0] in (0, False):
            return list(self.labels)
        if not self.may_miss and len(self.labels) == 2:  # 0/1 or boolean: two reductions, no counting
            low, high = (int(self.codes.min()), int(self.codes.max())) if len(self.codes) else (1, 0)
            return self.labels[low : high + 1]
        valid = self.codes if not self.may_miss or self.codes.dtype.kind == "u" else self.codes[self.codes >= 0]
        counts = np.bincount(valid.astype(np.intp, copy=False), minlength=len(self.labels))
        return [label for label, n in zip(self.labels, counts, strict=False) if n > 0]


def native(value: Any) -> Any:
    """A JSON-ready Python value for a label: NumPy scalars unwrapped; NaN and NA become None; any
    other type than str, int, float and bool (dates, decimals, bytes) becomes its text, so that the
    statistics serialise and every engine names the group the same way."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


def encode(column: Column) -> Codes:
    """Integer codes for any supported column (see the module docstring)."""
    if is_polars(column) and hasattr(column, "to_arrow"):
        column = column.to_arrow()
    if isinstance(column, pa.Array | pa.ChunkedArray):
        return _encode_arrow(column)
    if isinstance(column, pd.Categorical):
        return _from_categorical(column)
    if isinstance(column, pd.Series | pd.Index):
        if isinstance(column.dtype, pd.CategoricalDtype):
            return _from_categorical(column.array)
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biu":
            return _encode_numpy(column.to_numpy())
        return _factorize(column)
    array = np.asarray(column)
    return _encode_numpy(array)


def _encode_numpy(array: np.ndarray[Any, Any]) -> Codes:
    kind = array.dtype.kind
    if kind == "b":
        return Codes(array.view(np.uint8), [False, True], exact=False, may_miss=False)
    if kind in "iu":
        if array.size == 0:
            return Codes(np.zeros(0, dtype=np.intp), [], exact=True, may_miss=False)
        if array.dtype.itemsize > 1:
            # One pass instead of min and max: with no value negative, every value is at most the
            # bitwise OR of all of them (the labels up to it that do not occur are dropped later).
            bits = int(np.bitwise_or.reduce(array, axis=None))
            if 0 <= bits < _OFFSET_RANGE:
                return Codes(array, list(range(bits + 1)), exact=bits == 0, may_miss=False)
        low, high = int(array.min()), int(array.max())
        if high - low < _OFFSET_RANGE:
            codes = array if low == 0 else _shift(array, low)
            return Codes(codes, list(range(low, high + 1)), exact=high - low <= 1, may_miss=False)
    return _factorize(array)


def _shift(array: np.ndarray[Any, Any], low: int) -> IntArray:
    shifted: IntArray = np.subtract(array, low, dtype=np.int64)
    return shifted


def _factorize(values: Any) -> Codes:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = [native(v) for v in list(uniques)]
    return Codes(np.asarray(codes), labels, exact=True, may_miss=True)


def _from_categorical(categorical: pd.Categorical) -> Codes:
    labels = [native(v) for v in categorical.categories.tolist()]
    return Codes(np.asarray(categorical.codes), labels, exact=False, may_miss=True)


def _encode_arrow(column: pa.Array | pa.ChunkedArray) -> Codes:
    kind = column.type
    if (pa.types.is_integer(kind) or pa.types.is_boolean(kind)) and column.null_count == 0:
        if isinstance(column, pa.ChunkedArray):
            array = column.to_numpy() if column.num_chunks != 1 else column.chunk(0).to_numpy(zero_copy_only=False)
        else:
            array = column.to_numpy(zero_copy_only=False)
        return _encode_numpy(array)
    if not pa.types.is_dictionary(kind):
        if pa.types.is_floating(kind):  # NaN is not null in Arrow but is missing here
            return _factorize(column.to_numpy(zero_copy_only=False))
        column = column.dictionary_encode()
        exact = True
    else:
        exact = False
    chunks = column.unify_dictionaries().chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not chunks:
        return Codes(np.zeros(0, dtype=np.intp), [], exact=True, may_miss=False)
    dictionary = [native(v) for v in chunks[0].dictionary.to_pylist()]
    parts = [_indices(chunk) for chunk in chunks]
    codes = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return _dedupe(Codes(codes, dictionary, exact=exact, may_miss=True))


def _indices(chunk: pa.DictionaryArray) -> IntArray:
    indices = chunk.indices
    if indices.null_count == 0 and not pa.types.is_uint32(indices.type) and not pa.types.is_uint64(indices.type):
        return np.asarray(indices.to_numpy(zero_copy_only=False))
    filled = indices.cast(pa.int64()).fill_null(-1)
    return np.asarray(filled.to_numpy(zero_copy_only=False))


def _dedupe(codes: Codes) -> Codes:
    """Arrow dictionaries may repeat a value or hold NaN: map such entries onto one code or -1."""
    seen: dict[Any, int] = {}
    lut = np.empty(len(codes.labels) + 1, dtype=np.int64)
    labels: list[Any] = []
    for i, label in enumerate(codes.labels):
        if label is None:
            lut[i] = -1
            continue
        key = (type(label).__name__, label)
        if key not in seen:
            seen[key] = len(labels)
            labels.append(label)
        lut[i] = seen[key]
    lut[-1] = -1  # code -1 stays -1 (it indexes the extra last slot)
    if len(labels) == len(codes.labels) and all(lut[:-1] == np.arange(len(labels))):
        return codes
    return Codes(lut[codes.codes], labels, exact=codes.exact, may_miss=True)
