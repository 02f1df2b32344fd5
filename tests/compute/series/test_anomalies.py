"""Anomalies: rolling MAD and EWMA equal to pandas computations; planted anomalies found, clean data left alone;
a daily cycle taken out before judging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from charter.compute.series import detect_season, ewma, rolling_mad
from charter.compute.series._stats import MAD_TO_SIGMA
from charter.errors import InvalidInput
from tests.compute.series.conftest import Convert, hourly


def pandas_mad_scores(y: np.ndarray, window: int) -> np.ndarray:
    past = pd.Series(y).shift(1).rolling(window)
    median = past.median()
    mad = past.apply(lambda w: np.median(np.abs(w - np.median(w))), raw=True)
    return np.asarray((pd.Series(y) - median) / (mad * MAD_TO_SIGMA))


@pytest.mark.parametrize("window", [5, 30, 61])
def test_rolling_mad_equals_a_pandas_rolling_computation(window: int) -> None:
    y = np.random.default_rng(window).standard_t(3, size=3000)
    got = rolling_mad(y, window=window, warmup=False)
    want = pandas_mad_scores(y, window)
    assert np.isnan(got.scores[:window]).all() and np.isnan(want[:window]).all()
    np.testing.assert_allclose(got.scores[window:], want[window:], rtol=1e-12, atol=1e-12)


def test_planted_spikes_are_found_and_nothing_else() -> None:
    rng = np.random.default_rng(8)
    y = 50 + rng.normal(size=2000)
    planted = [300, 301, 1200, 1777]
    y[planted] += [12.0, -9.0, 15.0, -20.0]
    found = rolling_mad(y, window=60, threshold=6.0)
    assert found.index.tolist() == planted
    records = found.records()
    assert [r.index for r in records] == planted
    spike = records[2]
    assert spike.method == "mad" and spike.score > 6 and spike.value == y[1200]
    assert (
        spike.expected_low < 50 < spike.expected_high and not spike.expected_low <= spike.value <= spike.expected_high
    )
    assert "above the median of the previous 60 points" in spike.reason
    assert records[3].score < -6 and "below" in records[3].reason
    assert [r.index for r in found.records(limit=2)] == [1200, 1777]  # the two largest |score|, in order


def test_the_first_window_is_judged_against_itself() -> None:
    y = 20 + np.random.default_rng(6).normal(size=100)
    y[3] = 35.0
    found = rolling_mad(y, window=30, threshold=5)
    assert found.index.tolist() == [3]
    assert "median of the first 30 points" in found.records()[0].reason
    center = np.median(y[:30])
    assert found.expected[3] == center and found.spread[3] == pytest.approx(
        5 * MAD_TO_SIGMA * np.median(np.abs(y[:30] - center))
    )
    assert np.isnan(rolling_mad(y, window=30, warmup=False).scores[:30]).all()


def test_a_constant_history_makes_any_change_anomalous_and_ties_use_the_mean_deviation() -> None:
    y = np.full(100, 3.0)
    y[80] = 3.5
    found = rolling_mad(y, window=20)
    assert found.index.tolist() == [80] and found.scores[80] > 1e6
    mostly = np.array([1.0] * 15 + [2.0] * 5 + [1.0, 4.0])  # MAD of the windows is 0, mean deviation is not
    scores = rolling_mad(mostly, window=20).scores
    assert np.isfinite(scores[20:]).all() and 0 < scores[21] < 1e3


def test_season_is_taken_out_before_judging() -> None:
    times = hourly(24 * 28)
    rng = np.random.default_rng(2)
    y = 100 + 10 * np.sin(2 * np.pi * np.asarray(times.hour) / 24) + rng.normal(size=len(times))
    peak = int(np.flatnonzero((times.hour == 6) & (times.day == 20))[0])  # the daily peak
    y[peak] = 100.0  # an ordinary level, but not at the peak hour
    season = detect_season(y, times)
    assert season is not None and season.period == "daily"
    seasonal = rolling_mad(y, window=48, times=times, season=season, threshold=5)
    assert peak in seasonal.index.tolist()
    record = next(r for r in seasonal.records() if r.index == peak)
    assert record.expected_low > 100 and 109 < (record.expected_low + record.expected_high) / 2 < 111
    assert record.time == times[peak].tz_localize("UTC").to_pydatetime()
    assert peak not in rolling_mad(y, window=48, threshold=5).index.tolist()


def test_ewma_equals_pandas_and_catches_a_small_persistent_shift() -> None:
    rng = np.random.default_rng(9)
    y = np.concatenate([rng.normal(0, 1, 400), rng.normal(1.0, 1, 200)])
    chart = ewma(y, alpha=0.1, baseline=200, threshold=3.5)
    target = float(np.median(y[:200]))
    smoothed = pd.Series([target, *y]).ewm(alpha=0.1, adjust=False).mean().to_numpy()[1:]
    np.testing.assert_allclose(chart.statistic, smoothed, rtol=1e-12, atol=1e-12)
    alarms = chart.index
    assert len(alarms) > 100 and alarms.min() >= 400
    # No single point of the shift is far out: the robust z-score sees (almost) nothing.
    assert (rolling_mad(y, window=60).index >= 400).sum() <= 2
    record = chart.records(limit=1)[0]
    assert record.method == "ewma" and record.statistic > record.expected_high and "control limits" in record.reason


def test_ewma_limits_follow_the_nist_formula() -> None:
    y = np.random.default_rng(1).normal(size=50)
    chart = ewma(y, alpha=0.3, threshold=3.0, target=0.0, sigma=2.0)
    steps = np.arange(1, 51)
    limits = 3.0 * 2.0 * np.sqrt(0.3 / 1.7 * (1 - 0.7 ** (2 * steps)))
    np.testing.assert_allclose(chart.spread, limits, rtol=1e-12)
    np.testing.assert_allclose(chart.expected, 0.0)


def test_inputs_and_refusals(as_input: Convert) -> None:
    y = np.random.default_rng(0).normal(size=200)
    assert np.array_equal(rolling_mad(as_input(y), window=10).scores, rolling_mad(y, window=10).scores, equal_nan=True)
    assert np.isnan(rolling_mad(y[:5], window=10).scores).all()  # shorter than one window: nothing to judge
    assert len(ewma([])) == 0
    with pytest.raises(InvalidInput, match="window"):
        rolling_mad(y, window=2)
    with pytest.raises(InvalidInput, match="threshold"):
        rolling_mad(y, threshold=0)
    with pytest.raises(InvalidInput, match="alpha"):
        ewma(y, alpha=1.5)
    with pytest.raises(InvalidInput, match="baseline"):
        ewma(y, baseline=500)
    with pytest.raises(InvalidInput, match="index 1"):
        rolling_mad([1.0, float("nan")])
    season = detect_season(np.sin(np.arange(24 * 14) * 2 * np.pi / 24), hourly(24 * 14))
    assert season is not None
    with pytest.raises(InvalidInput, match="times"):
        rolling_mad(y, season=season)
