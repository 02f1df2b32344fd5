"""Cycles: a daily cycle, a weekly one, none in noise or in too short a series."""

from __future__ import annotations

import numpy as np
import pytest

from charter.compute.series import change_points, detect_season, fit_season
from charter.errors import InvalidInput
from tests.compute.series.conftest import hourly


def test_daily_cycle_is_found_with_its_profile() -> None:
    times = hourly(24 * 21)
    rng = np.random.default_rng(0)
    shape = 5 * np.cos(2 * np.pi * (np.asarray(times.hour) - 14) / 24)  # peak at 14:00 UTC
    season = detect_season(20 + 0.1 * np.arange(len(times)) + shape + rng.normal(size=len(times)), times)
    assert season is not None and season.period == "daily" and season.strength > 0.8
    assert int(np.argmax(season.profile)) == 14 and len(season.profile) == 24
    assert season.profile.max() == pytest.approx(5, abs=0.6)  # the trend did not leak into the profile


def test_a_weekday_weekend_pattern_is_weekly() -> None:
    times = hourly(24 * 7 * 5)
    rng = np.random.default_rng(1)
    weekend = np.asarray(times.day_of_week) >= 5
    y = np.where(weekend, 40.0, 100.0) + rng.normal(scale=3, size=len(times))
    season = detect_season(y, times)
    assert season is not None and season.period == "weekly" and season.strength > 0.9
    assert season.at(times[weekend]).mean() < -45 and abs(season.at(times[~weekend]).mean()) < 5


def test_noise_a_short_series_and_daily_points_show_no_daily_cycle() -> None:
    rng = np.random.default_rng(2)
    times = hourly(24 * 21)
    assert detect_season(rng.normal(size=len(times)), times) is None
    short = hourly(36)  # less than two days
    assert detect_season(np.sin(np.arange(36) * 2 * np.pi / 24), short) is None
    days = hourly(60 * 24)[::24]  # one point a day at midnight: a daily cycle cannot show
    assert detect_season(rng.normal(size=len(days)), days) is None
    assert detect_season([1.0, 2.0], hourly(2)) is None


def test_fit_season_whatever_its_strength_and_refusals() -> None:
    times = hourly(48)
    weak = fit_season(np.random.default_rng(3).normal(size=48), times, period="daily")
    assert weak.period == "daily" and weak.strength < 0.3
    with pytest.raises(InvalidInput, match="period"):
        fit_season([1.0], hourly(1), period="monthly")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="at least one point"):
        fit_season([], hourly(0), period="daily")


def test_the_cycle_does_not_tilt_the_trend_it_removes() -> None:
    # A pure daily sine over whole days has an ordinary least-squares slope that is not 0 (its phase
    # tilts the line); the profile must not inherit that as a ramp within each day.
    times = hourly(24 * 30)
    y = 10 + np.sin(2 * np.pi * np.arange(len(times)) / 24)
    season = fit_season(y, times, period="daily")
    residual = y - season.at(times)
    assert np.ptp(residual) < 1e-9 and season.strength == pytest.approx(1.0)
    assert change_points(residual).points == ()
