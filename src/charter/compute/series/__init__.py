"""Metric series: trend, change points, anomalies, cycles, thresholds, and performance over time.

Pure NumPy (and SciPy's t distribution and linear filter): no server, no database. Every
function takes array-likes (list, NumPy, pandas, Arrow) and returns a typed result; times are
datetimes (naive = UTC) or seconds since the epoch. Nothing loops in Python over points: a
million points take seconds at most (``benchmarks/bench_metrics.py``).

    from charter.compute.series import analyze, trend, change_points, rolling_mad, performance_windows

    t = trend(values, times, window="7d")            # OLS slope per day, t-interval, p-value
    shifts = change_points(values)                   # mean shifts (binary segmentation, penalised)
    season = detect_season(values, times)            # a daily or weekly cycle, or None
    found = rolling_mad(values, times=times, season=season).records()   # each with its reason
    windows = performance_windows(y_true, y_pred, scores=scores, times=times, window="1d")
    report = analyze(values, times)                  # all of the above at once

Conventions:

* Non-finite values are refused (``InvalidInput`` naming the first index), never skipped.
* Undefined results are ``None`` (or NaN in arrays) with a reason, never 0: a trend over fewer
  than 2 points, a precision with no predicted positives, an AUC with one class.
* Agreement with the peers, tested: ``trend`` with ``scipy.stats.linregress`` (slope, intercept,
  stderr, p-value to 1e-9); ``change_points(robust=False)`` with ``ruptures.Binseg`` (L2 cost,
  ``jump=1``); ``rolling_mad`` and ``ewma`` with pandas rolling/ewm computations;
  ``performance_windows`` with scikit-learn's ``accuracy_score``, ``precision_score``,
  ``recall_score``, ``roc_auc_score`` and ``calibration_curve`` per window.

The formulas are in each module's docstring; the guide is ``docs/metrics.md``.
"""

from charter.compute.series.analysis import SeasonChoice, SeriesAnalysis, analyze
from charter.compute.series.anomalies import Anomalies, Anomaly, Method, ewma, rolling_mad
from charter.compute.series.changes import ChangePoint, ChangePoints, change_points
from charter.compute.series.performance import PerformanceWindows, performance_windows
from charter.compute.series.season import Period, Season, detect_season, fit_season
from charter.compute.series.thresholds import Breach, Op, Threshold, breaches
from charter.compute.series.trend import Trend, trend

__all__ = [
    "Anomalies",
    "Anomaly",
    "Breach",
    "ChangePoint",
    "ChangePoints",
    "Method",
    "Op",
    "PerformanceWindows",
    "Period",
    "Season",
    "SeasonChoice",
    "SeriesAnalysis",
    "Threshold",
    "Trend",
    "analyze",
    "breaches",
    "change_points",
    "detect_season",
    "ewma",
    "fit_season",
    "performance_windows",
    "rolling_mad",
    "trend",
]
