"""Threshold breaches as runs; the combined analysis on a series with everything planted in it."""

from __future__ import annotations

import numpy as np
import pytest

from charter.compute.series import analyze, breaches
from charter.errors import InvalidInput
from tests.compute.series.conftest import hourly


def test_breaches_are_runs_with_their_worst_value() -> None:
    y = [0.95, 0.85, 0.80, 0.92, 0.91, 0.70]
    found = breaches(y, op=">=", bound=0.9)
    assert [(b.start, b.end, b.points, b.worst) for b in found] == [(1, 2, 2, 0.80), (5, 5, 1, 0.70)]
    assert breaches(y, op="<", bound=1.0) == []
    upper = breaches([100, 300, 280, 100], op="<=", bound=250)
    assert [(b.start, b.end, b.worst) for b in upper] == [(1, 2, 300)]


def test_buckets_breach_through_their_minimum_or_maximum() -> None:
    means, lows, highs = [0.95, 0.94], [0.91, 0.60], [0.99, 0.99]
    assert breaches(means, op=">=", bound=0.9) == []
    found = breaches(means, op=">=", bound=0.9, low=lows, high=highs)
    assert [(b.start, b.worst) for b in found] == [(1, 0.60)]
    assert breaches(means, op="<", bound=0.98, low=lows, high=highs)[0].points == 2


def test_breach_refusals() -> None:
    with pytest.raises(InvalidInput, match="operator"):
        breaches([1.0], op="==", bound=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="finite"):
        breaches([1.0], op="<", bound=float("nan"))


def test_analysis_finds_what_was_planted_and_nothing_else() -> None:
    times = hourly(24 * 28)
    n = len(times)
    rng = np.random.default_rng(21)
    daily = 4 * np.sin(2 * np.pi * np.asarray(times.hour) / 24)
    level = np.where(np.arange(n) < 400, 50.0, 56.0)  # a shift at point 400
    y = level + daily + rng.normal(scale=0.5, size=n)
    y[200] += 8.0  # a spike far smaller than the daily swing
    result = analyze(y, times, threshold=5.0)
    assert result.season is not None and result.season.period == "daily"
    assert len(result.change_points.indices) == 1 and abs(result.change_points.indices[0] - 400) <= 2
    shift = result.change_points.points[0]
    assert shift.before_mean == pytest.approx(50, abs=0.3) and shift.after_mean == pytest.approx(56, abs=0.3)
    assert result.anomalies is not None
    found = result.anomalies.index.tolist()
    assert 200 in found
    assert all(i == 200 or 400 <= i < 430 for i in found)  # the shift's first hours are news too
    assert result.trend.direction == "increasing" and result.trend.unit == "day"
    without = analyze(y, times, season="none", threshold=5.0)
    assert without.anomalies is not None and 200 not in without.anomalies.index.tolist()


def test_analysis_of_short_and_empty_series() -> None:
    short = analyze([1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0])
    assert short.anomalies is not None and short.anomalies.window == 5
    assert short.notes == ("anomalies judged against the previous 5 points (the series is short)",)
    tiny = analyze([1.0, 2.0])
    assert tiny.anomalies is None and tiny.notes == ("too few points (2) to judge anomalies",)
    empty = analyze([])
    assert empty.n == 0 and empty.trend.slope is None and empty.change_points.points == ()
    assert len(analyze([1.0, 2.0], method="ewma").anomalies or []) == 0
    with pytest.raises(InvalidInput, match="needs the times"):
        analyze([1.0, 2.0], season="daily")
