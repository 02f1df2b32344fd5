"""Performance per window against scikit-learn, window by window; undefined values named, never 0."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from charter.compute.series import performance_windows
from charter.errors import InvalidInput
from tests.compute.series.conftest import Convert

TOL = 1e-12


def decisions(seed: int, n: int = 5000) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DatetimeIndex]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, size=n)
    # Scores rounded to 2 decimals: plenty of ties, which the ranks must handle as scikit-learn does.
    scores = np.clip(np.round(0.3 * y_true + rng.uniform(0, 0.7, size=n), 2), 0, 1)
    y_pred = (scores >= 0.5).astype(int)
    millis = np.sort(rng.integers(0, 3 * 86_400_000, size=n))
    times = pd.Timestamp("2026-02-01") + pd.to_timedelta(millis, unit="ms")
    return y_true, y_pred, scores, times


def ece(y: np.ndarray, s: np.ndarray, bins: int) -> float:
    """Expected calibration error from scikit-learn's own binning (calibration_curve drops empty bins)."""
    prob_true, prob_pred = calibration_curve(y, s, n_bins=bins)
    edges = np.linspace(0, 1, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], s), minlength=bins)
    counts = counts[counts > 0]
    return float(np.sum(counts / len(y) * np.abs(prob_true - prob_pred)))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("window", ["1h", "6h", "1d"])
def test_every_window_agrees_with_scikit_learn(seed: int, window: str) -> None:
    y_true, y_pred, scores, times = decisions(seed)
    result = performance_windows(y_true, y_pred, scores=scores, times=times, window=window)
    frame = pd.DataFrame({"t": y_true, "p": y_pred, "s": scores}, index=times)
    groups = [(start, g) for start, g in frame.groupby(frame.index.floor(window.replace("d", "D"))) if len(g)]
    assert len(result) == len(groups)
    for i, (start, g) in enumerate(groups):
        assert result.start[i] == start.value // 1_000_000
        assert result.rows[i] == len(g)
        assert result.accuracy[i] == pytest.approx(accuracy_score(g.t, g.p), abs=TOL)
        assert result.precision[i] == pytest.approx(precision_score(g.t, g.p), abs=TOL)
        assert result.recall[i] == pytest.approx(recall_score(g.t, g.p), abs=TOL)
        assert result.auc is not None and result.calibration_error is not None
        assert result.auc[i] == pytest.approx(roc_auc_score(g.t, g.s), abs=TOL)
        assert result.calibration_error[i] == pytest.approx(ece(g.t.to_numpy(), g.s.to_numpy(), 10), abs=TOL)


def test_row_windows_and_labels_that_are_not_0_1(as_input: Convert) -> None:
    rng = np.random.default_rng(4)
    truth = rng.choice(["approve", "deny"], size=1000)
    said = np.where(rng.random(1000) < 0.8, truth, rng.choice(["approve", "deny"], size=1000))
    with pytest.raises(InvalidInput, match="positive label"):
        performance_windows(truth, said, window=100)
    result = performance_windows(as_input(truth), as_input(said), window=250, positive_label="approve")
    assert result.by == "rows" and result.start.tolist() == [0, 250, 500, 750]
    for i in range(4):
        part = slice(250 * i, 250 * (i + 1))
        assert result.precision[i] == pytest.approx(precision_score(truth[part], said[part], pos_label="approve"))
        assert result.recall[i] == pytest.approx(recall_score(truth[part], said[part], pos_label="approve"))
    assert result.auc is None and "auc" not in result.records()[0]


def test_undefined_values_are_nan_and_named() -> None:
    y_true = [0, 0, 0, 1, 1, 0]
    y_pred = [0, 0, 0, 1, 0, 1]
    scores = [0.1, 0.2, 0.3, 0.9, 0.4, 0.6]
    result = performance_windows(y_true, y_pred, scores=scores, window=3)
    first, second = result.records()
    assert first["precision"] is None and first["recall"] is None and first["auc"] is None
    assert first["undefined"] == {
        "precision": "no predicted positives in the window",
        "recall": "no actual positives in the window",
        "auc": "the window has no positives or no negatives",
    }
    assert first["accuracy"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns, then answers 0 for the undefined precision
        assert precision_score(y_true[:3], y_pred[:3]) == 0.0
    assert second["precision"] == 0.5 and second["recall"] == 0.5 and second["auc"] == 0.5
    assert second["undefined"] == {}
    outside = performance_windows([0, 1], [0, 1], scores=[-0.5, 2.0], window=2).records()[0]
    assert outside["calibration_error"] is None and outside["auc"] == 1.0
    assert outside["undefined"] == {"calibration_error": "scores outside [0, 1]"}


def test_booleans_windows_skip_empty_periods_and_refusals() -> None:
    times = pd.to_datetime(["2026-01-01 00:10", "2026-01-01 00:20", "2026-01-01 05:00"])
    result = performance_windows([True, False, True], [True, True, True], times=times, window="1h")
    assert len(result) == 2 and result.rows.tolist() == [2, 1]
    assert result.records()[1]["start"].isoformat() == "2026-01-01T05:00:00+00:00"
    with pytest.raises(InvalidInput, match="y_true\\[1\\] is missing"):
        performance_windows([0.0, float("nan")], [0, 1], window=1)
    with pytest.raises(InvalidInput, match="one value per row"):
        performance_windows([0, 1], [0], window=1)
    with pytest.raises(InvalidInput, match="number of rows"):
        performance_windows([0, 1], [0, 1], window="1h")
    with pytest.raises(InvalidInput, match="No rows"):
        performance_windows([], [], window=1)
    with pytest.raises(InvalidInput, match="scores\\[0\\]"):
        performance_windows([0, 1], [0, 1], scores=[float("inf"), 0.2], window=2)
