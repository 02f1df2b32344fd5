"""One call for everything a report says about a series: trend, cycle, change points, anomalies.

``analyze`` finds (or is told) the series' daily or weekly cycle, then looks for mean shifts and
anomalies in the values with that cycle taken out, and fits the trend on the values as they are.
Change points are reported with the means of the raw values on either side.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from charter.compute.series._arrays import as_millis, as_values
from charter.compute.series.anomalies import (
    DEFAULT_ALPHA,
    DEFAULT_EWMA_THRESHOLD,
    DEFAULT_MAD_THRESHOLD,
    DEFAULT_WINDOW,
    Anomalies,
    Method,
    ewma,
    rolling_mad,
)
from charter.compute.series.changes import ChangePoints, change_points
from charter.compute.series.season import Season, detect_season, fit_season
from charter.compute.series.trend import Trend, trend
from charter.errors import InvalidInput

SeasonChoice = Literal["auto", "none", "daily", "weekly"]
# A rolling window shorter than this says little about what is normal.
MIN_WINDOW = 5


@dataclass(frozen=True)
class SeriesAnalysis:
    n: int
    trend: Trend
    season: Season | None
    change_points: ChangePoints
    anomalies: Anomalies | None  # None: too few points to judge any
    notes: tuple[str, ...] = ()


def analyze(
    values: Any,
    times: Any = None,
    *,
    season: SeasonChoice | Season = "auto",
    method: Method = "mad",
    window: int = DEFAULT_WINDOW,
    threshold: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    penalty: float | None = None,
    min_size: int = 5,
    confidence: float = 0.95,
) -> SeriesAnalysis:
    """Trend, cycle, change points and anomalies of one series.

    ``season``: ``"auto"`` detects a daily or weekly cycle (needs ``times``), ``"none"`` assumes
    none, ``"daily"``/``"weekly"`` fits that one, or pass a fitted ``Season``. ``method``: ``mad``
    (rolling robust z-score; the window shrinks to half the series when the series is short) or
    ``ewma`` (control chart). The other options are those of ``rolling_mad`` / ``ewma``,
    ``change_points`` and ``trend``.
    """
    y = as_values(values)
    n = len(y)
    millis = None if times is None else as_millis(times, n)
    # Passed on as datetime64: plain integers would be read as seconds since the epoch.
    stamps = None if millis is None else millis.astype("datetime64[ms]")
    notes: list[str] = []
    fitted: Season | None
    if isinstance(season, Season):
        fitted = season
    elif season == "none" or n == 0:
        fitted = None
    elif millis is None:
        if season != "auto":
            raise InvalidInput(f"A {season} cycle needs the times of the values.")
        fitted = None
    elif season == "auto":
        fitted = detect_season(y, stamps)
    elif season in ("daily", "weekly"):
        fitted = fit_season(y, stamps, period=season)
    else:
        raise InvalidInput(f"season is auto, none, daily or weekly; not {season!r}.")
    adjusted = y if fitted is None or millis is None else y - fitted.profile[fitted.slots(millis)]
    shifts = change_points(adjusted, penalty=penalty, min_size=min_size)
    if fitted is not None and shifts.points:
        # The shifts were found with the cycle taken out; report the levels as the series shows them.
        bounds = [0, *shifts.indices, n]
        means = [float(np.mean(y[a:b])) for a, b in itertools.pairwise(bounds)]
        points = tuple(replace(p, before_mean=means[i], after_mean=means[i + 1]) for i, p in enumerate(shifts.points))
        shifts = replace(shifts, points=points)
    anomalies: Anomalies | None = None
    if method == "mad":
        size = min(window, n // 2)
        if size >= MIN_WINDOW:
            anomalies = rolling_mad(
                y, window=size, threshold=threshold or DEFAULT_MAD_THRESHOLD, times=stamps, season=fitted
            )
            if size < window:
                notes.append(f"anomalies judged against the previous {size} points (the series is short)")
        else:
            notes.append(f"too few points ({n}) to judge anomalies")
    elif method == "ewma":
        if n:
            anomalies = ewma(y, alpha=alpha, threshold=threshold or DEFAULT_EWMA_THRESHOLD, times=stamps, season=fitted)
    else:
        raise InvalidInput(f"method is mad or ewma; not {method!r}.")
    return SeriesAnalysis(
        n=n,
        trend=trend(y, stamps, confidence=confidence),
        season=fitted,
        change_points=shifts,
        anomalies=anomalies,
        notes=tuple(notes),
    )
