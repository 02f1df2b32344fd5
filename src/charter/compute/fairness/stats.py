"""Sufficient statistics for fairness: everything every metric needs, reduced from the data once.

Per group (one combination of the sensitive features' values): the weighted confusion counts
``confusion[g, y_true, y_pred]`` (``y`` binarised: 1 is the positive label), the number of rows,
and, when scores are given, weighted score histograms ``score_hist[g, y_true, bin]`` over ``bins``
equal-width bins on [0, 1]. Statistics of two chunks, files or partitions are merged by adding
them group by group, so one design serves in-memory, streamed, out-of-core and distributed runs;
every engine (NumPy/Arrow, DuckDB, Spark) produces this same object and must produce it exactly.

Groups are identified by their label tuple (one value per sensitive feature, ``None`` for a
missing value when missing values form their own group) and kept in a canonical order (labels
compared as text, ``None`` last), so that two engines' results compare with ``==``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GroupLabel = tuple[Any, ...]
DEFAULT_BINS = 1000


def _sort_key(label: GroupLabel) -> tuple[tuple[int, str], ...]:
    return tuple((1, "") if value is None else (0, str(value)) for value in label)


@dataclass(frozen=True, eq=False)
class GroupStats:
    """Merge-able per-group statistics (see the module docstring)."""

    features: tuple[str, ...]
    groups: tuple[GroupLabel, ...]
    confusion: np.ndarray[Any, np.dtype[np.float64]]  # (G, 2, 2): [group, y_true, y_pred], summed weights
    rows: np.ndarray[Any, np.dtype[np.int64]]  # (G,): rows per group, unweighted
    score_hist: np.ndarray[Any, np.dtype[np.float64]] | None = None  # (G, 2, bins): [group, y_true, bin]
    weighted: bool = False

    def __post_init__(self) -> None:
        g = len(self.groups)
        if self.confusion.shape != (g, 2, 2) or self.rows.shape != (g,):
            raise ValueError(f"statistics shapes do not match {g} groups")
        if self.score_hist is not None and (self.score_hist.ndim != 3 or self.score_hist.shape[:2] != (g, 2)):
            raise ValueError("score histograms must have shape (groups, 2, bins)")
        if any(len(label) != len(self.features) for label in self.groups):
            raise ValueError("every group label needs one value per sensitive feature")
        counts = [self.confusion, self.rows] + ([] if self.score_hist is None else [self.score_hist])
        if any(not np.all(np.isfinite(c)) or bool((c < 0).any()) for c in counts):
            raise ValueError("statistics must be finite, non-negative counts and weights")
        if list(self.groups) != sorted(self.groups, key=_sort_key) or len(set(self.groups)) != g:
            raise ValueError("groups must be unique and in canonical order (use GroupStats.build)")

    @property
    def bins(self) -> int | None:
        return None if self.score_hist is None else int(self.score_hist.shape[2])

    @classmethod
    def build(
        cls,
        features: Sequence[str],
        groups: Sequence[GroupLabel],
        confusion: np.ndarray[Any, Any],
        rows: np.ndarray[Any, Any],
        score_hist: np.ndarray[Any, Any] | None = None,
        *,
        weighted: bool = False,
    ) -> GroupStats:
        """Statistics from per-group arrays in any group order (they are put in canonical order)."""
        labels = [tuple(label) for label in groups]
        order = sorted(range(len(labels)), key=lambda i: _sort_key(labels[i]))
        index = np.asarray(order, dtype=np.intp)
        return cls(
            features=tuple(features),
            groups=tuple(labels[i] for i in order),
            confusion=np.asarray(confusion, dtype=np.float64).reshape(-1, 2, 2)[index],
            rows=np.asarray(rows, dtype=np.int64)[index],
            score_hist=None if score_hist is None else np.asarray(score_hist, dtype=np.float64)[index],
            weighted=weighted,
        )

    def merge(self, other: GroupStats) -> GroupStats:
        """The statistics of both inputs together: groups aligned by label, counts added."""
        if self.features != other.features:
            raise ValueError(f"cannot merge statistics over {self.features} with statistics over {other.features}")
        if (self.score_hist is None) != (other.score_hist is None) or self.bins != other.bins:
            raise ValueError("cannot merge statistics with different score histograms")
        labels = sorted(set(self.groups) | set(other.groups), key=_sort_key)
        position = {label: i for i, label in enumerate(labels)}
        confusion = np.zeros((len(labels), 2, 2))
        rows = np.zeros(len(labels), dtype=np.int64)
        hist = None if self.score_hist is None else np.zeros((len(labels), 2, self.score_hist.shape[2]))
        for part in (self, other):
            at = np.asarray([position[label] for label in part.groups], dtype=np.intp)
            np.add.at(confusion, at, part.confusion)
            np.add.at(rows, at, part.rows)
            if hist is not None and part.score_hist is not None:
                np.add.at(hist, at, part.score_hist)
        return GroupStats(self.features, tuple(labels), confusion, rows, hist, self.weighted or other.weighted)

    def equals(self, other: GroupStats) -> bool:
        """Exactly the same statistics (what two engines must produce on the same data)."""
        same_hist = (self.score_hist is None and other.score_hist is None) or (
            self.score_hist is not None
            and other.score_hist is not None
            and np.array_equal(self.score_hist, other.score_hist)
        )
        return (
            self.features == other.features
            and self.groups == other.groups
            and np.array_equal(self.confusion, other.confusion)
            and np.array_equal(self.rows, other.rows)
            and same_hist
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (stored with an assessment, so that it can be re-derived and re-bootstrapped)."""
        return {
            "features": list(self.features),
            "groups": [list(label) for label in self.groups],
            "confusion": self.confusion.tolist(),
            "rows": self.rows.tolist(),
            "score_hist": None if self.score_hist is None else self.score_hist.tolist(),
            "weighted": self.weighted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupStats:
        hist = data.get("score_hist")
        groups = data["groups"]
        if not isinstance(groups, list) or not all(isinstance(label, list) for label in groups):
            raise ValueError("groups must be a list of label lists, one value per sensitive feature")
        return cls.build(
            data["features"],
            [tuple(label) for label in data["groups"]],
            np.asarray(data["confusion"], dtype=np.float64),
            np.asarray(data["rows"], dtype=np.int64),
            None if hist is None else np.asarray(hist, dtype=np.float64),
            weighted=bool(data.get("weighted", False)),
        )


def score_bin(scores: np.ndarray[Any, Any], bins: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The histogram bin of each score in [0, 1]: ``min(floor(score * bins), bins - 1)``.

    Every engine must bin with exactly this rule (a score of 1.0 falls in the last bin); scores
    outside [0, 1] are the caller's error.
    """
    return np.minimum(np.floor(np.asarray(scores, dtype=np.float64) * bins), bins - 1).astype(np.int64)
