"""Daily and weekly cycles: find them, and take them out before looking for anomalies or shifts.

A cycle is a profile over hourly slots: 24 for ``daily`` (hour of day, UTC) and 168 for ``weekly``
(hour of week). Fitting one:

1. the linear trend is removed (a trend would otherwise leak into the profile), its slope
   measured within slots (pooled over the slots, the same hour compared across cycles), since
   an ordinary least-squares line is tilted by the phase of the cycle itself;
2. the profile of slot ``s`` is the median of the detrended values in that slot, minus the median
   of all of them (so a flat series has a zero profile);
3. its strength is the share of the detrended variance it explains, adjusted for the number of
   slots it spent: ``1 - (SSR / (n - k)) / (SST / (n - 1))``, with ``k`` the slots seen.

``detect_season`` fits both periods on a series that spans at least two cycles and keeps the
stronger one if its strength reaches ``min_strength`` (weekly is kept over daily only if it
explains clearly more, by ``WEEKLY_MARGIN``: a weekly profile contains every daily one). Data at a
coarse resolution finds only what it can show: daily points have one slot per day, so no daily
cycle, but a weekly one (one slot per day of the week).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from charter.compute.series._arrays import F64, I64, MS_PER_DAY, MS_PER_HOUR, as_millis, as_values
from charter.compute.series._stats import grouped_median
from charter.errors import InvalidInput

Period = Literal["daily", "weekly"]
SLOTS: dict[Period, int] = {"daily": 24, "weekly": 168}
PERIOD_MS: dict[Period, int] = {"daily": MS_PER_DAY, "weekly": 7 * MS_PER_DAY}
MIN_STRENGTH = 0.3
WEEKLY_MARGIN = 0.05


@dataclass(frozen=True)
class Season:
    """A fitted cycle: ``profile[slot]`` is the typical departure of that hourly slot from the level."""

    period: Period
    strength: float
    profile: F64  # one value per slot; 0 for a slot the data never reached

    def slots(self, millis: I64) -> I64:
        # Slot 0 starts at the epoch: midnight UTC (a Thursday, for the weekly profile).
        slots: I64 = (millis // MS_PER_HOUR) % len(self.profile)
        return slots

    def at(self, times: Any) -> F64:
        """The profile's value at each time."""
        millis = as_millis(times, len(np.asarray(times)))
        values: F64 = self.profile[self.slots(millis)]
        return values


def _detrended(y: F64, millis: I64, slots: I64, slots_n: int) -> F64:
    """``y`` minus its trend, the trend measured within slots (each hour against the same hour of
    other cycles): a plain OLS line over a cycle's shape is biased by its phase, and would put a
    ramp into the profile."""
    x = (millis - millis.min()) / MS_PER_DAY
    counts = np.bincount(slots, minlength=slots_n).astype(np.float64)
    seen = np.maximum(counts, 1.0)
    dx = x - (np.bincount(slots, weights=x, minlength=slots_n) / seen)[slots]
    dy = y - (np.bincount(slots, weights=y, minlength=slots_n) / seen)[slots]
    sxx = float(dx @ dx)
    slope = float(dx @ dy) / sxx if sxx > 0 else 0.0
    detrended: F64 = y - slope * (x - x.mean())
    return detrended


def _fit(y: F64, millis: I64, period: Period) -> Season:
    slots_n = SLOTS[period]
    slots = (millis // MS_PER_HOUR) % slots_n
    detrended = _detrended(y, millis, slots, slots_n)
    medians, counts = grouped_median(slots, detrended, slots_n)
    center = float(np.median(detrended))
    profile = np.where(counts > 0, medians - center, 0.0)
    residual = detrended - profile[slots]
    n, k = len(y), int((counts > 0).sum())
    total = float(((detrended - detrended.mean()) ** 2).sum())
    left = float(((residual - residual.mean()) ** 2).sum())
    if n - k <= 0 or total == 0.0:
        strength = 0.0
    else:
        strength = max(0.0, 1.0 - (left / (n - k)) / (total / (n - 1)))
    return Season(period=period, strength=strength, profile=profile)


def fit_season(values: Any, times: Any, *, period: Period) -> Season:
    """The ``period`` profile of a series, whatever its strength (see the module docstring)."""
    if period not in SLOTS:
        raise InvalidInput(f"period must be 'daily' or 'weekly', not {period!r}.")
    y = as_values(values)
    if len(y) == 0:
        raise InvalidInput("A season needs at least one point.")
    return _fit(y, as_millis(times, len(y)), period)


def detect_season(
    values: Any,
    times: Any,
    *,
    periods: tuple[Period, ...] = ("daily", "weekly"),
    min_strength: float = MIN_STRENGTH,
) -> Season | None:
    """The cycle the series shows, or None (too short for two cycles, or no profile strong enough)."""
    y = as_values(values)
    if len(y) < 3:
        return None
    millis = as_millis(times, len(y))
    span = int(millis.max() - millis.min())
    fitted = {p: _fit(y, millis, p) for p in periods if span >= 2 * PERIOD_MS[p]}
    strong = {p: s for p, s in fitted.items() if s.strength >= min_strength}
    if not strong:
        return None
    daily, weekly = strong.get("daily"), strong.get("weekly")
    if daily is not None and weekly is not None:
        return weekly if weekly.strength > daily.strength + WEEKLY_MARGIN else daily
    return daily or weekly
