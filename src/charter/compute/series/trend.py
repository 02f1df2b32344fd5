"""Trend: the ordinary-least-squares slope of a series, with a confidence interval.

For points ``(x_i, y_i)``, ``i = 1..n`` (``x`` in days since the window's first time, or the
point's position when no times are given)::

    slope = Sxy / Sxx                                Sxx = sum (x - mean x)^2, Sxy = sum (x - mean x)(y - mean y)
    intercept = mean y - slope * mean x              (the fitted value at the window's first time)
    stderr = sqrt(SSR / (n - 2) / Sxx)               SSR = sum (y - intercept - slope x)^2
    interval = slope +- t_{(1 + confidence) / 2, n - 2} * stderr
    p_value = 2 * P(T_{n-2} > |slope / stderr|)      (two-sided test of "no trend")

These are ``scipy.stats.linregress``'s ``slope``, ``intercept``, ``stderr`` and ``pvalue``
(tested to 1e-9). The interval assumes independent errors: metric series are often
autocorrelated, which makes it too narrow, so read a "significant" trend on a short, smooth
series with care.

Undefined values (``None`` with ``reason``): fewer than 2 points, or every point at one time (no
slope); exactly 2 points (a slope, but no interval: no residual degrees of freedom).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import numpy as np

from charter.compute.series._arrays import MS_PER_DAY, as_millis, as_values, window_millis
from charter.compute.series._stats import t_quantile, t_two_sided_p
from charter.errors import InvalidInput

Direction = Literal["increasing", "decreasing", "flat"]


@dataclass(frozen=True)
class Trend:
    """The OLS slope over a window, per ``unit`` (a day when times were given, else a point)."""

    n: int
    unit: Literal["day", "point"]
    confidence: float
    slope: float | None
    intercept: float | None
    stderr: float | None
    low: float | None
    high: float | None
    p_value: float | None
    reason: str | None = None

    @property
    def direction(self) -> Direction | None:
        """``increasing`` / ``decreasing`` when the interval excludes 0, else ``flat`` (None: undefined)."""
        if self.low is None or self.high is None:
            return None
        if self.low > 0:
            return "increasing"
        if self.high < 0:
            return "decreasing"
        return "flat"

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "unit": self.unit,
            "confidence": self.confidence,
            "slope": self.slope,
            "intercept": self.intercept,
            "stderr": self.stderr,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "direction": self.direction,
            "reason": self.reason,
        }


def trend(
    values: Any,
    times: Any = None,
    *,
    window: int | timedelta | str | None = None,
    confidence: float = 0.95,
) -> Trend:
    """The least-squares trend of ``values`` (see the module docstring for the formulas).

    ``window``: the last ``window`` points (an int), or the points within that span of the last
    time (a ``timedelta`` or text such as ``"7d"``; needs ``times``); default: every point.
    """
    if not 0 < confidence < 1:
        raise InvalidInput(f"confidence must be between 0 and 1, not {confidence!r}.")
    y = as_values(values)
    unit: Literal["day", "point"] = "point"
    if times is None:
        x = np.arange(len(y), dtype=np.float64)
        if window is not None and not isinstance(window, int):
            raise InvalidInput("A window given as a duration needs times.")
    else:
        unit = "day"
        millis = as_millis(times, len(y))
        if window is not None and not isinstance(window, int) and len(y):
            keep = millis > millis.max() - window_millis(window)
            millis, y = millis[keep], y[keep]
        x = (millis - (millis.min() if len(millis) else 0)) / MS_PER_DAY
    if isinstance(window, int):
        if window < 2:
            raise InvalidInput(f"A trend window needs at least 2 points, not {window}.")
        x, y = x[-window:], y[-window:]
    return _ols(x, y, unit, confidence)


def _undefined(n: int, unit: Literal["day", "point"], confidence: float, reason: str) -> Trend:
    return Trend(n, unit, confidence, None, None, None, None, None, None, reason)


def _ols(x: Any, y: Any, unit: Literal["day", "point"], confidence: float) -> Trend:
    n = len(y)
    if n < 2:
        return _undefined(n, unit, confidence, f"{n} point{'s' if n != 1 else ''}: a trend needs at least 2")
    if unit == "day":
        # Days since the window's first time, not since the epoch: the intercept is then the level
        # at the start of the window, and the sums below stay well conditioned.
        x = x - x.min()
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx == 0.0:
        return _undefined(n, unit, confidence, "every point has the same time")
    dy = y - y.mean()
    slope = float(dx @ dy) / sxx
    intercept = float(y.mean() - slope * x.mean())
    if n == 2:
        return Trend(n, unit, confidence, slope, intercept, None, None, None, None, "2 points: no interval")
    residuals = dy - slope * dx
    df = n - 2
    stderr = float(np.sqrt(float(residuals @ residuals) / df / sxx))
    half = t_quantile((1 + confidence) / 2, df) * stderr
    if stderr > 0:
        p_value: float | None = t_two_sided_p(slope / stderr, df)
    else:  # a perfect fit: the slope is known exactly
        p_value = 0.0 if slope != 0 else None
    reason = None if p_value is not None else "a constant series: no test of a slope"
    return Trend(n, unit, confidence, slope, intercept, stderr, slope - half, slope + half, p_value, reason)
