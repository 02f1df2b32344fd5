"""Trend against ``scipy.stats.linregress`` (slope, intercept, stderr, p-value to 1e-9), its interval, windows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats  # type: ignore[import-untyped]

from charter.compute.series import trend
from charter.errors import InvalidInput
from tests.compute.series.conftest import Convert, hourly

TOL = 1e-9


def _days(times: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray((times - times[0]).total_seconds() / 86400.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("slope", [0.0, 0.3, -2.5])
def test_agrees_with_linregress_on_irregular_times(seed: int, slope: float) -> None:
    rng = np.random.default_rng(seed)
    millis = np.sort(rng.integers(0, 30 * 86_400_000, size=400))  # Charter keeps times to the millisecond
    times = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(millis, unit="ms")
    x = (millis - millis[0]) / 86_400_000
    y = 100 + slope * x + rng.normal(scale=2.0, size=400)
    got = trend(y, times)
    want = stats.linregress(x, y)
    assert got.unit == "day" and got.n == 400
    assert got.slope == pytest.approx(want.slope, abs=TOL)
    assert got.intercept == pytest.approx(want.intercept, abs=TOL)
    assert got.stderr == pytest.approx(want.stderr, abs=TOL)
    assert got.p_value == pytest.approx(want.pvalue, abs=TOL)
    half = stats.t.ppf(0.975, 398) * want.stderr
    assert got.low == pytest.approx(want.slope - half, abs=TOL)
    assert got.high == pytest.approx(want.slope + half, abs=TOL)


def test_interval_covers_the_true_slope_at_the_stated_rate() -> None:
    rng = np.random.default_rng(11)
    x = np.arange(50, dtype=float)
    covered = 0
    for _ in range(2000):
        result = trend(0.1 * x + rng.normal(size=50), confidence=0.9)
        assert result.low is not None and result.high is not None
        covered += result.low <= 0.1 <= result.high
    assert 0.88 <= covered / 2000 <= 0.92


def test_direction_reads_the_interval() -> None:
    rng = np.random.default_rng(3)
    x = np.arange(200, dtype=float)
    assert trend(5 + 0.05 * x + rng.normal(size=200)).direction == "increasing"
    assert trend(5 - 0.05 * x + rng.normal(size=200)).direction == "decreasing"
    assert trend(5 + rng.normal(size=200)).direction == "flat"


def test_without_times_the_unit_is_a_point(as_input: Convert) -> None:
    y = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0]
    got = trend(as_input(y))
    want = stats.linregress(np.arange(6), y)
    assert got.unit == "point"
    assert got.slope == pytest.approx(want.slope, abs=TOL)
    assert got.p_value == pytest.approx(want.pvalue, abs=TOL)


def test_windows_by_points_and_by_time() -> None:
    rng = np.random.default_rng(5)
    times = hourly(24 * 20)
    # Flat for 13 days, then rising by 2 a day: the last week's trend is steeper than the whole's.
    y = 5.0 + 2.0 * np.maximum(_days(times) - 13, 0) + rng.normal(size=len(times))
    last_week = trend(y, times, window="7d")
    keep = times > times[-1] - pd.Timedelta(days=7)
    want = stats.linregress(_days(times[keep]), y[keep])
    assert last_week.n == keep.sum() == 24 * 7
    assert last_week.slope == pytest.approx(want.slope, abs=TOL)
    assert trend(y, times, window=timedelta(days=7)).slope == last_week.slope
    by_points = trend(y, times, window=48)
    assert by_points.n == 48
    assert by_points.slope == pytest.approx(stats.linregress(_days(times[-48:]), y[-48:]).slope, abs=TOL)
    whole = trend(y, times)
    assert whole.slope is not None and last_week.slope is not None and whole.slope < last_week.slope


def test_undefined_cases_are_named_not_zero() -> None:
    assert trend([]).slope is None and "at least 2" in (trend([]).reason or "")
    one = trend([4.0])
    assert one.slope is None and one.low is None and one.direction is None
    two = trend([1.0, 3.0])
    assert two.slope == 2.0 and two.stderr is None and two.reason == "2 points: no interval"
    same_time = trend([1.0, 2.0, 3.0], pd.to_datetime(["2026-01-01"] * 3))
    assert same_time.slope is None and same_time.reason == "every point has the same time"
    exact = trend([1.0, 2.0, 3.0, 4.0])
    assert exact.slope == pytest.approx(1.0) and exact.stderr == 0.0 and exact.p_value == 0.0
    constant = trend([2.0, 2.0, 2.0])
    assert constant.slope == 0.0 and constant.p_value is None and constant.direction == "flat"


def test_bad_input_is_refused_with_the_index() -> None:
    with pytest.raises(InvalidInput, match="index 2"):
        trend([1.0, 2.0, float("nan"), 4.0])
    with pytest.raises(InvalidInput, match="confidence"):
        trend([1.0, 2.0, 3.0], confidence=1.5)
    with pytest.raises(InvalidInput, match="needs times"):
        trend([1.0, 2.0, 3.0], window="1d")
    with pytest.raises(InvalidInput, match="duration"):
        trend([1.0, 2.0, 3.0], hourly(3), window="fortnight")


def test_times_may_be_aware_naive_or_seconds() -> None:
    y = [1.0, 2.5, 2.0, 4.0]
    naive = [pd.Timestamp("2026-01-01") + pd.Timedelta(hours=h) for h in (0, 5, 11, 30)]
    aware = [t.tz_localize("Europe/Paris") for t in naive]  # an hour ahead of UTC: same spacing
    seconds = [t.timestamp() for t in naive]
    slopes = {trend(y, times).slope for times in (naive, aware, seconds, [t.to_pydatetime() for t in naive])}
    assert len(slopes) == 1
