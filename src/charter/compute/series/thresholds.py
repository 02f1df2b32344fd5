"""Threshold breaches: where a series fails a bound it must keep, as runs of consecutive points.

A threshold states what the metric must satisfy, ``value <op> bound`` (``accuracy >= 0.9``,
``latency_p99 <= 250``); a point breaches it when the statement is false. For downsampled data
give each bucket's ``low`` and ``high`` (min and max): a bucket breaches a lower bound (``>``,
``>=``) when its minimum does, and an upper bound (``<``, ``<=``) when its maximum does, so no
breaching point hides inside a bucket whose mean looks fine.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from charter.compute.series._arrays import F64, as_values
from charter.errors import InvalidInput

Op = Literal["<", "<=", ">", ">="]
OPS: dict[str, Callable[[Any, Any], Any]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Threshold:
    name: str
    op: Op
    bound: float

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Breach:
    """Points ``start .. end`` (inclusive) all breach; ``worst`` is the value farthest past the bound."""

    start: int
    end: int
    worst: float

    @property
    def points(self) -> int:
        return self.end - self.start + 1


def breaches(
    values: Any,
    *,
    op: Op,
    bound: float,
    low: Any = None,
    high: Any = None,
) -> list[Breach]:
    """Runs of consecutive points where ``value <op> bound`` is false (see the module docstring)."""
    if op not in OPS:
        raise InvalidInput(f"A threshold's operator is one of <, <=, >, >=; not {op!r}.")
    if not np.isfinite(bound):
        raise InvalidInput(f"A threshold's bound must be a finite number, not {bound!r}.")
    y = as_values(values)
    lower_bound = op in (">", ">=")  # the metric must stay above: its minimum is what breaches
    judged: F64 = y
    if lower_bound and low is not None:
        judged = as_values(low, name="low")
    elif not lower_bound and high is not None:
        judged = as_values(high, name="high")
    if len(judged) != len(y):
        raise InvalidInput("low and high need one value per point.")
    failing = ~np.asarray(OPS[op](judged, bound), dtype=bool)
    if not failing.any():
        return []
    edges = np.diff(np.concatenate(([0], failing.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    pick = np.minimum if lower_bound else np.maximum
    # One reduceat over [start, end + 1) pairs; the sentinel keeps a run that ends the series in range.
    padded = np.append(judged, judged[-1])
    worst = pick.reduceat(padded, np.column_stack((starts, ends + 1)).ravel())[::2]
    return [Breach(int(s), int(e), float(w)) for s, e, w in zip(starts, ends, worst, strict=True)]
