"""Anomalies: points a series did not lead one to expect, each with its reason.

Two methods, both vectorised (a million points take about two seconds for ``mad`` and a few
milliseconds for ``ewma``; see ``benchmarks/bench_metrics.py``):

``rolling_mad`` (robust z-score against the recent past)
    For point ``t`` and the ``window`` points before it (the point itself excluded)::

        median_t = median(x[t - window : t])
        scale_t  = 1.4826 * median(|x[t - window : t] - median_t|)      (MAD; a normal sd estimate)
        score_t  = (x_t - median_t) / scale_t                           anomaly when |score_t| > threshold

    Default threshold 3.5 (Iglewicz and Hoaglin's modified z-score). When more than half of a
    window is one value the MAD is 0; the scale then falls back to 1.2533 x the mean absolute
    deviation, and, for a window that is entirely constant, to a tiny positive floor (any change
    from a constant history is then an anomaly). Expected range: ``median_t +- threshold * scale_t``.
    The first ``window`` points have no full past: with ``warmup=True`` (the default) they are
    judged against the median and scale of those first ``window`` points (themselves included;
    robust, so one spike among them still stands out), so that a short series is judged whole;
    with ``warmup=False`` they are not assessed (score NaN).

``ewma`` (an exponentially weighted moving-average control chart, NIST/SEMATECH 6.3.2.4)
    ``z_t = alpha * x_t + (1 - alpha) * z_{t-1}``, ``z_0 = target``; control limits
    ``target +- threshold * sigma * sqrt(alpha / (2 - alpha) * (1 - (1 - alpha)^(2t)))``.
    ``target`` and ``sigma`` default to the median and the MAD-based standard deviation of the
    first ``baseline`` points (default: a quarter of the series, at least 10). It catches small
    persistent shifts that no single point reveals; the "value" it judges is ``z_t``.

Seasonality: given a fitted :class:`~charter.compute.series.season.Season` (and the times), both
methods work on the values minus the profile of their hourly slot, so that the 9 a.m. peak is
compared with other days' 9 a.m. and not with the night before; expected ranges are given back in
the series' own units (profile added).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from charter.compute.series._arrays import F64, I64, as_millis, as_values, millis_to_datetime
from charter.compute.series._stats import MAD_TO_SIGMA, MEANAD_TO_SIGMA, exponential_smoothing, robust_center_scale
from charter.compute.series.season import Season
from charter.errors import InvalidInput

Method = Literal["mad", "ewma"]
DEFAULT_WINDOW = 60
DEFAULT_MAD_THRESHOLD = 3.5
DEFAULT_EWMA_THRESHOLD = 3.0
DEFAULT_ALPHA = 0.2
# Rows of windows handled at once: bounds the temporary (rows x window) arrays to a few MB.
_CHUNK = 16_384
_FLOOR = 1e-12


@dataclass(frozen=True)
class Anomaly:
    """One anomalous point and why."""

    index: int
    time: datetime | None
    value: float
    method: Method
    statistic: float  # what was judged: the value (mad) or the moving average (ewma)
    score: float  # standardised distance from the expected value (signed)
    expected_low: float
    expected_high: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time": self.time,
            "value": self.value,
            "method": self.method,
            "statistic": self.statistic,
            "score": self.score,
            "expected_low": self.expected_low,
            "expected_high": self.expected_high,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Anomalies:
    """Per-point scores of one method; ``index`` lists the anomalies (``|score| > threshold``)."""

    method: Method
    threshold: float
    values: F64
    statistic: F64  # what each score measures: the value itself (mad) or the moving average (ewma)
    scores: F64  # NaN where a point was not assessed
    expected: F64  # the expected statistic at each point (season included)
    spread: F64  # half-width of the expected range (threshold x scale)
    times: I64 | None = None  # milliseconds since the epoch, when given
    window: int | None = None

    @property
    def index(self) -> I64:
        flagged: I64 = np.flatnonzero(np.abs(np.nan_to_num(self.scores)) > self.threshold)
        return flagged

    def __len__(self) -> int:
        return len(self.index)

    def records(self, *, limit: int | None = None) -> list[Anomaly]:
        """The anomalies as records, in order of position (the ``limit`` largest |score| when given)."""
        index = self.index
        if limit is not None and len(index) > limit:
            strongest = np.argsort(-np.abs(self.scores[index]), kind="stable")[:limit]
            index = np.sort(index[strongest])
        return [self._record(int(i)) for i in index]

    def _record(self, i: int) -> Anomaly:
        score = float(self.scores[i])
        low = float(self.expected[i] - self.spread[i])
        high = float(self.expected[i] + self.spread[i])
        statistic = float(self.statistic[i])
        where = "above" if score > 0 else "below"
        if self.method == "mad":
            against = (
                f"previous {self.window} points"
                if self.window is None or i >= self.window
                else (f"first {self.window} points")
            )
            reason = (
                f"{statistic:.6g} is {abs(score):.1f} robust standard deviations {where} the median of the "
                f"{against} (expected {low:.6g} to {high:.6g})"
            )
        else:
            reason = (
                f"the moving average {statistic:.6g} is {where} the control limits {low:.6g} to {high:.6g} "
                f"({abs(score):.1f} standard errors from the target {float(self.expected[i]):.6g})"
            )
        return Anomaly(
            index=i,
            time=None if self.times is None else millis_to_datetime(int(self.times[i])),
            value=float(self.values[i]),
            method=self.method,
            statistic=statistic,
            score=score,
            expected_low=low,
            expected_high=high,
            reason=reason,
        )


def _deseasonalised(y: F64, times: Any, season: Season | None) -> tuple[F64, F64, I64 | None]:
    """(values minus the season, the season's value at each point, times in ms or None)."""
    millis = None if times is None else as_millis(times, len(y))
    if season is None:
        return y, np.zeros(len(y)), millis
    if millis is None:
        raise InvalidInput("A seasonal adjustment needs the times of the values.")
    profile: F64 = season.profile[season.slots(millis)]
    return y - profile, profile, millis


def _rolling_median_mad(y: F64, window: int) -> tuple[F64, F64]:
    """Median and MAD of the ``window`` values before each point from ``window`` on (chunked, no loop over points)."""
    rows = len(y) - window
    medians = np.empty(rows)
    mads = np.empty(rows)
    windows = sliding_window_view(y, window)[:rows]
    middle = [(window - 1) // 2, window // 2]
    for start in range(0, rows, _CHUNK):
        block = windows[start : start + _CHUNK]
        part = np.partition(block, middle, axis=1)
        median = (part[:, middle[0]] + part[:, middle[1]]) / 2.0
        deviations = np.abs(block - median[:, None])
        spread = np.partition(deviations, middle, axis=1)
        medians[start : start + _CHUNK] = median
        mads[start : start + _CHUNK] = (spread[:, middle[0]] + spread[:, middle[1]]) / 2.0
    return medians, mads


def rolling_mad(
    values: Any,
    *,
    window: int = DEFAULT_WINDOW,
    threshold: float = DEFAULT_MAD_THRESHOLD,
    times: Any = None,
    season: Season | None = None,
    warmup: bool = True,
) -> Anomalies:
    """Robust z-scores against the previous ``window`` points (see the module docstring)."""
    if window < 3:
        raise InvalidInput(f"window must be at least 3 points, not {window}.")
    if not threshold > 0:
        raise InvalidInput(f"threshold must be positive, not {threshold!r}.")
    y = as_values(values)
    adjusted, profile, millis = _deseasonalised(y, times, season)
    n = len(y)
    scores = np.full(n, np.nan)
    expected = np.full(n, np.nan)
    spread = np.full(n, np.nan)
    if n > window:
        medians, mads = _rolling_median_mad(adjusted, window)
        scale = mads * MAD_TO_SIGMA
        tied = np.flatnonzero(scale == 0)
        if len(tied):  # rare: only these windows pay for the mean absolute deviation
            rows = sliding_window_view(adjusted, window)[tied]
            scale[tied] = np.abs(rows - medians[tied, None]).mean(axis=1) * MEANAD_TO_SIGMA
        scale = np.maximum(scale, _FLOOR * np.maximum(1.0, np.abs(medians)))
        scores[window:] = (adjusted[window:] - medians) / scale
        expected[window:] = medians + profile[window:]
        spread[window:] = threshold * scale
    if warmup and n >= window:
        center, first = robust_center_scale(adjusted[:window])
        first = max(first, _FLOOR * max(1.0, abs(center)))
        scores[:window] = (adjusted[:window] - center) / first
        expected[:window] = center + profile[:window]
        spread[:window] = threshold * first
    return Anomalies("mad", threshold, y, y, scores, expected, spread, millis, window)


def ewma(
    values: Any,
    *,
    alpha: float = DEFAULT_ALPHA,
    threshold: float = DEFAULT_EWMA_THRESHOLD,
    baseline: int | None = None,
    target: float | None = None,
    sigma: float | None = None,
    times: Any = None,
    season: Season | None = None,
) -> Anomalies:
    """An EWMA control chart (see the module docstring); anomalies are points where the average leaves the limits."""
    if not 0 < alpha <= 1:
        raise InvalidInput(f"alpha must be in (0, 1], not {alpha!r}.")
    if not threshold > 0:
        raise InvalidInput(f"threshold must be positive, not {threshold!r}.")
    y = as_values(values)
    adjusted, profile, millis = _deseasonalised(y, times, season)
    n = len(y)
    if n == 0:
        empty = np.empty(0)
        return Anomalies("ewma", threshold, y, empty, empty, empty, empty, millis)
    size = min(n, max(10, n // 4)) if baseline is None else baseline
    if not 1 <= size <= n:
        raise InvalidInput(f"baseline must be between 1 and the number of points ({n}), not {size}.")
    center, scale = robust_center_scale(adjusted[:size])
    center = center if target is None else float(target)
    scale = scale if sigma is None else float(sigma)
    if not scale > 0:
        scale = _FLOOR * max(1.0, abs(center))
    smoothed = exponential_smoothing(adjusted, alpha, center)
    steps = np.arange(1, n + 1, dtype=np.float64)
    limit = scale * np.sqrt(alpha / (2 - alpha) * (1 - (1 - alpha) ** (2 * steps)))
    scores = (smoothed - center) / limit
    return Anomalies("ewma", threshold, y, smoothed + profile, scores, center + profile, threshold * limit, millis)
