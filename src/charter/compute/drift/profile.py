"""Profiles: each column of a dataset reduced to small, mergeable statistics.

A numeric column becomes a :class:`NumericProfile`: counts (finite values, missing, infinite),
min, max, mean and the sum of squared deviations (merged with Chan's formula), and a histogram
on **edges fixed from the reference**: the reference's order statistics at ranks
``floor(j * (n - 1) / bins)`` for ``j = 0 .. bins`` (its minimum, its maximum and ``bins - 1``
quantiles between) and, in each tail, at halving shares of the values (``edge_ranks``), repeated
values kept once. With ``m`` edges ``e_0 < ... < e_{m-1}`` the
histogram has ``2m + 1`` *cells*: the open interval below ``e_0``, the value ``e_0`` itself, the
open interval ``(e_0, e_1)``, the value ``e_1``, ..., the open interval above ``e_{m-1}``. A value
``x`` falls in cell ``searchsorted(edges, x, "left") + searchsorted(edges, x, "right")``.
Counting the edge values apart makes the CDF of the data known exactly just below and at every
edge, which is what bounds the error of the binned statistics; it also makes a column with few
distinct values (ages, counts, codes) exact: its edges are its values.

Where the edges lie decides how tight those bounds are, not whether they hold: the bounds are
computed from the cells alone (each CDF is monotone inside an open cell, whatever its ends), and
the cells count every value, on either side of any edge. So a large reference profiled by the
DuckDB engine takes its edges from a sample of its rows (the sample's order statistics at the
same ranks, and the column's exact minimum and maximum: ``engines.batches``) instead of a sort of
the whole column; its cells, and every other engine's cells on those edges, are still exact.

When a column has at most ``max_exact_rows`` finite values its **sorted values** are kept too;
then KS and Wasserstein are computed exactly (SciPy's numbers). Profiles of two chunks of the
same data, binned on the same edges, merge into the profile of the whole (counts add, sorted
values merge while they stay under the bound).

A categorical column becomes a :class:`CategoricalProfile`: the count of each value and of
missing values (None, NaN). Values are kept as JSON-ready Python values (``native``) in a
canonical order, so that profiles from every engine compare with ``equals``.

``DatasetProfile.to_dict`` / ``from_dict`` round-trip through JSON: a monitor stores the
reference profile, not the reference data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from charter.compute.fairness.engines.encode import native
from charter.errors import InvalidInput

Kind = Literal["numeric", "categorical"]
F64 = np.ndarray[Any, np.dtype[np.float64]]
I64 = np.ndarray[Any, np.dtype[np.int64]]

DEFAULT_BINS = 1000
# Sorted values are kept up to this many finite values per column (16 MB of float64 each).
DEFAULT_MAX_EXACT_ROWS = 2_000_000
FORMAT_VERSION = 1


# --- edges and cells: the rules every engine follows ------------------------------------------------


def edge_ranks(n: int, bins: int) -> I64:
    """The 0-based ranks of the reference's order statistics that become edges (integer arithmetic).

    ``floor(j (n - 1) / bins)`` for ``j = 0 .. bins``, and in each tail the ranks ``floor((n - 1) /
    2^k)`` (and their mirror images) for every ``2^k > bins``: without them the outermost cell of a
    heavy-tailed column is one wide stretch (from the 99.9 % quantile to the maximum) whose values
    linear interpolation places badly; with them the tails are cut at halving shares of the values.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    body = (np.arange(bins + 1, dtype=np.int64) * (n - 1)) // bins
    shifts = np.arange(max(int(bins).bit_length(), 1), 63, dtype=np.int64)
    low = (n - 1) >> shifts
    low = low[low > 0]
    return np.unique(np.concatenate([body, low, (n - 1) - low]))


def unique_edges(values: Sequence[float] | F64) -> F64:
    """Sorted order statistics with repeats dropped; ``-0.0`` becomes ``0.0`` (both compare equal)."""
    edges = np.asarray(values, dtype=np.float64) + 0.0
    if len(edges) == 0:
        return edges
    keep = np.empty(len(edges), dtype=bool)
    keep[0] = True
    np.not_equal(edges[1:], edges[:-1], out=keep[1:])
    result: F64 = edges[keep]
    return result


def edges_from_sorted(values: F64, bins: int) -> F64:
    """The edges of sorted finite ``values`` (see the module docstring)."""
    return unique_edges(values[edge_ranks(len(values), bins)])


def cell_count(edges: F64) -> int:
    return 2 * len(edges) + 1


def cells_from_sorted(values: F64, edges: F64) -> I64:
    """The cell counts of sorted finite ``values`` (two binary searches per edge, none per value)."""
    left = np.searchsorted(values, edges, side="left").astype(np.int64)
    right = np.searchsorted(values, edges, side="right").astype(np.int64)
    return cells_from_ranks(left, right, len(values))


def cells_from_ranks(below: I64, upto: I64, n: int) -> I64:
    """Cells from ``below[k] = #{x < e_k}`` and ``upto[k] = #{x <= e_k}`` of ``n`` values."""
    cells = np.empty(2 * len(below) + 1, dtype=np.int64)
    cells[1::2] = upto - below
    cells[0::2] = np.concatenate([below, [n]]) - np.concatenate([[0], upto])
    return cells


# --- profiles -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """One numeric column (see the module docstring). ``values``: sorted finite values, or None."""

    count: int  # finite values
    missing: int  # null or NaN
    infinite: int  # +inf or -inf: left out of every statistic, reported
    minimum: float | None
    maximum: float | None
    mean: float | None
    m2: float  # sum of squared deviations from the mean
    edges: F64
    cells: I64
    values: F64 | None = None
    # Sums of the values below the first edge and above the last: with them the Wasserstein distance
    # over the two unbounded cells is exact (they are empty in the reference, whose edges they are).
    below_sum: float = 0.0
    above_sum: float = 0.0
    kind: Kind = field(default="numeric", init=False)

    def __post_init__(self) -> None:
        if len(self.cells) != cell_count(self.edges):
            raise ValueError(f"{len(self.edges)} edges need {cell_count(self.edges)} cells, not {len(self.cells)}")
        if int(self.cells.sum()) != self.count:
            raise ValueError(f"the cells hold {int(self.cells.sum())} values, not {self.count}")
        if self.values is not None and len(self.values) != self.count:
            raise ValueError(f"{len(self.values)} sorted values kept for {self.count} finite values")

    @property
    def rows(self) -> int:
        return self.count + self.missing + self.infinite

    @property
    def std(self) -> float | None:
        """Population standard deviation (``ddof=0``, NumPy's default)."""
        if self.count == 0:
            return None
        if self.values is not None:
            return float(np.std(self.values))
        return math.sqrt(max(self.m2, 0.0) / self.count)

    @classmethod
    def of_sorted(cls, values: F64, *, edges: F64, missing: int, infinite: int, keep_values: bool) -> NumericProfile:
        """The profile of sorted finite ``values`` (what the numpy engine and the exact paths build)."""
        n = len(values)
        mean = float(values.mean()) if n else None
        m2 = float(values.var()) * n if n else 0.0
        below = above = 0.0
        if len(edges):
            below = float(values[: int(np.searchsorted(values, edges[0], side="left"))].sum())
            above = float(values[int(np.searchsorted(values, edges[-1], side="right")) :].sum())
        return cls(
            count=n,
            missing=missing,
            infinite=infinite,
            minimum=float(values[0]) if n else None,
            maximum=float(values[-1]) if n else None,
            mean=mean,
            m2=m2,
            edges=edges,
            cells=cells_from_sorted(values, edges),
            values=values if keep_values else None,
            below_sum=below,
            above_sum=above,
        )

    def without_values(self) -> NumericProfile:
        return self if self.values is None else replace(self, values=None)

    def merge(self, other: NumericProfile, *, max_exact_rows: int) -> NumericProfile:
        """Both chunks together; the edges must be the same (bin every chunk on the reference's edges)."""
        if not np.array_equal(self.edges, other.edges):
            raise InvalidInput("cannot merge numeric profiles binned on different edges; profile with edges=")
        count = self.count + other.count
        if self.count == 0 or other.count == 0:
            mean, m2 = (other.mean, other.m2) if self.count == 0 else (self.mean, self.m2)
        else:
            assert self.mean is not None and other.mean is not None
            delta = other.mean - self.mean
            mean = self.mean + delta * other.count / count
            m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        values = None
        if self.values is not None and other.values is not None and count <= max_exact_rows:
            values = np.sort(np.concatenate([self.values, other.values]), kind="stable")
        return NumericProfile(
            count=count,
            missing=self.missing + other.missing,
            infinite=self.infinite + other.infinite,
            minimum=_pick(min, self.minimum, other.minimum),
            maximum=_pick(max, self.maximum, other.maximum),
            mean=mean,
            m2=m2,
            edges=self.edges,
            cells=self.cells + other.cells,
            values=values,
            below_sum=self.below_sum + other.below_sum,
            above_sum=self.above_sum + other.above_sum,
        )

    def same_counts(self, other: NumericProfile) -> bool:
        """Everything but the floating-point sums (moments, outer sums) is equal: what engines must agree on."""
        values_equal = (self.values is None) == (other.values is None) and (
            self.values is None or other.values is None or np.array_equal(self.values, other.values)
        )
        return (
            (self.count, self.missing, self.infinite, self.minimum, self.maximum)
            == (other.count, other.missing, other.infinite, other.minimum, other.maximum)
            and np.array_equal(self.edges, other.edges)
            and np.array_equal(self.cells, other.cells)
            and values_equal
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "count": self.count,
            "missing": self.missing,
            "infinite": self.infinite,
            "min": self.minimum,
            "max": self.maximum,
            "mean": self.mean,
            "m2": self.m2,
            "edges": self.edges.tolist(),
            "cells": self.cells.tolist(),
            "values": None if self.values is None else self.values.tolist(),
            "below_sum": self.below_sum,
            "above_sum": self.above_sum,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        values = data.get("values")
        return cls(
            count=int(data["count"]),
            missing=int(data["missing"]),
            infinite=int(data.get("infinite", 0)),
            minimum=None if data["min"] is None else float(data["min"]),
            maximum=None if data["max"] is None else float(data["max"]),
            mean=None if data["mean"] is None else float(data["mean"]),
            m2=float(data["m2"]),
            edges=np.asarray(data["edges"], dtype=np.float64),
            cells=np.asarray(data["cells"], dtype=np.int64),
            values=None if values is None else np.asarray(values, dtype=np.float64),
            below_sum=float(data.get("below_sum", 0.0)),
            above_sum=float(data.get("above_sum", 0.0)),
        )


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(choose(a, b))


def category_key(value: Any) -> tuple[int, Any]:
    """Canonical order and identity of a category: booleans, then numbers, then text (1 and "1" differ)."""
    if isinstance(value, bool):
        return (0, value)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """One categorical column: the count of each value (canonical order) and of missing values."""

    categories: tuple[Any, ...]
    counts: I64
    missing: int
    kind: Kind = field(default="categorical", init=False)

    def __post_init__(self) -> None:
        if len(self.categories) != len(self.counts):
            raise ValueError("one count per category is needed")
        keys = [category_key(c) for c in self.categories]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise ValueError("categories must be unique and in canonical order (use CategoricalProfile.build)")

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    @property
    def rows(self) -> int:
        return self.count + self.missing

    @classmethod
    def build(cls, values: Sequence[Any], counts: Sequence[int], missing: int) -> CategoricalProfile:
        """From values in any order, possibly repeated (their counts add), None/NaN counting as missing."""
        totals: dict[tuple[int, Any], tuple[Any, int]] = {}
        for raw, n in zip(values, counts, strict=True):
            value = native(raw)
            if value is None:
                missing += int(n)
                continue
            key = category_key(value)
            seen = totals.get(key)
            totals[key] = (value if seen is None else seen[0], int(n) + (0 if seen is None else seen[1]))
        order = sorted(totals)
        kept = [k for k in order if totals[k][1] > 0]
        return cls(
            categories=tuple(totals[k][0] for k in kept),
            counts=np.asarray([totals[k][1] for k in kept], dtype=np.int64),
            missing=int(missing),
        )

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        return CategoricalProfile.build(
            [*self.categories, *other.categories],
            [*self.counts.tolist(), *other.counts.tolist()],
            self.missing + other.missing,
        )

    def same_counts(self, other: CategoricalProfile) -> bool:
        return (
            [category_key(c) for c in self.categories] == [category_key(c) for c in other.categories]
            and np.array_equal(self.counts, other.counts)
            and self.missing == other.missing
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "categories": list(self.categories),
            "counts": self.counts.tolist(),
            "missing": self.missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        return cls.build(list(data["categories"]), [int(n) for n in data["counts"]], int(data["missing"]))


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True, eq=False)
class DatasetProfile:
    """Every profiled column of one dataset, by name, in the caller's order.

    ``skipped`` maps columns left out (types that are neither numeric nor categorical, such as
    dates) to the reason. ``bins`` and ``max_exact_rows`` are the settings the profile was made with.
    """

    rows: int
    columns: Mapping[str, ColumnProfile]
    bins: int = DEFAULT_BINS
    max_exact_rows: int = DEFAULT_MAX_EXACT_ROWS
    skipped: Mapping[str, str] = field(default_factory=dict)
    engine: str = "numpy"

    def __getitem__(self, name: str) -> ColumnProfile:
        return self.columns[name]

    def kinds(self) -> dict[str, Kind]:
        return {name: column.kind for name, column in self.columns.items()}

    def edges(self) -> dict[str, F64]:
        """The edges of each numeric column: what the current data is binned on."""
        return {name: c.edges for name, c in self.columns.items() if isinstance(c, NumericProfile)}

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        """The profile of both datasets (chunks) together: same columns, kinds and edges."""
        if list(self.columns) != list(other.columns) or self.kinds() != other.kinds():
            raise InvalidInput(
                f"cannot merge profiles of different columns: {self.kinds()} and {other.kinds()}",
            )
        merged: dict[str, ColumnProfile] = {}
        for name, mine in self.columns.items():
            theirs = other.columns[name]
            if isinstance(mine, NumericProfile) and isinstance(theirs, NumericProfile):
                merged[name] = mine.merge(theirs, max_exact_rows=self.max_exact_rows)
            elif isinstance(mine, CategoricalProfile) and isinstance(theirs, CategoricalProfile):
                merged[name] = mine.merge(theirs)
        return replace(self, rows=self.rows + other.rows, columns=merged, skipped={**self.skipped, **other.skipped})

    def without_values(self) -> DatasetProfile:
        """The same profile without sorted values (small; KS and Wasserstein become binned)."""
        columns = {n: c.without_values() if isinstance(c, NumericProfile) else c for n, c in self.columns.items()}
        return replace(self, columns=columns)

    def same_counts(self, other: DatasetProfile) -> bool:
        """Equal but for floating-point moments (which engines add in different orders)."""
        if self.rows != other.rows or list(self.columns) != list(other.columns):
            return False
        for name, mine in self.columns.items():
            theirs = other.columns[name]
            if isinstance(mine, NumericProfile) and isinstance(theirs, NumericProfile):
                if not mine.same_counts(theirs):
                    return False
            elif isinstance(mine, CategoricalProfile) and isinstance(theirs, CategoricalProfile):
                if not mine.same_counts(theirs):
                    return False
            else:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (floats, ints, strings, booleans and None only)."""
        return {
            "format": FORMAT_VERSION,
            "rows": self.rows,
            "bins": self.bins,
            "max_exact_rows": self.max_exact_rows,
            "engine": self.engine,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
            "skipped": dict(self.skipped),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        if data.get("format") != FORMAT_VERSION:
            raise InvalidInput(f"unknown drift profile format {data.get('format')!r} (expected {FORMAT_VERSION})")
        columns: dict[str, ColumnProfile] = {}
        try:
            for name, body in data["columns"].items():
                kind = body.get("kind")
                if kind == "numeric":
                    columns[name] = NumericProfile.from_dict(body)
                elif kind == "categorical":
                    columns[name] = CategoricalProfile.from_dict(body)
                else:
                    raise InvalidInput(f"column {name!r}: unknown kind {kind!r}")
            return cls(
                rows=int(data["rows"]),
                columns=columns,
                bins=int(data["bins"]),
                max_exact_rows=int(data["max_exact_rows"]),
                skipped=dict(data.get("skipped") or {}),
                engine=str(data.get("engine", "numpy")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"not a drift profile: {exc}") from exc
