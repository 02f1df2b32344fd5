"""Bootstrap resamples of the statistics themselves: the data is never read again.

Resampling the rows of a group with replacement changes only how many of them fall in each of its
four confusion cells, so a resample of group ``g`` is one multinomial draw
``Multinomial(rows_g, confusion_g / W_g)``: exactly the row bootstrap stratified by group (the
group sizes stay fixed, as in a design that samples each group). With sample weights the draw is
rescaled to the group's total weight (an approximation: the weights of the rows drawn are taken
to be the cell's mean weight).

The AUC is not resampled bin by bin (a thousand bins x groups x resamples draws would cost
seconds): each group's AUC is drawn from the normal distribution with DeLong's variance, computed
exactly from the histograms (see ``resample_auc``), and the AUC aggregates are evaluated on those
draws like every other aggregate.

In reference mode an aggregate reports one comparison (the group farthest from the reference);
its interval is that comparison's, the group held fixed across resamples. In all-groups mode the
whole statistic (max - min over groups) is resampled, whichever groups attain it. Percentile
intervals of a max - min are biased upward when the groups hardly differ (the resampled ranges
exceed the true one): a point estimate near 0 may then lie below the interval.

Intervals are percentile intervals ``[q(alpha/2), q(1 - alpha/2)]`` of the resampled values with
``alpha = 1 - confidence``, over the resamples where the metric is defined (the count is reported;
a metric defined in no resample has no interval).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from charter.compute.fairness.stats import GroupStats

F64 = np.ndarray[Any, np.dtype[np.float64]]


def _scale(stats: GroupStats) -> F64:
    """Weight per row of each group (1 without sample weights)."""
    totals = stats.confusion.sum(axis=(1, 2))
    rows = np.maximum(stats.rows, 1).astype(np.float64)
    scale: F64 = totals / rows
    return scale


def resample_confusion(stats: GroupStats, n: int, rng: np.random.Generator) -> F64:
    """``n`` resampled confusion arrays, shape ``(n, G, 2, 2)``."""
    groups = len(stats.groups)
    if groups == 0:
        return np.zeros((n, 0, 2, 2))
    cells = stats.confusion.reshape(groups, 4)
    totals = cells.sum(axis=1, keepdims=True)
    empty = totals[:, 0] <= 0
    p = np.where(empty[:, None], np.array([1.0, 0.0, 0.0, 0.0]), cells / np.where(totals > 0, totals, 1.0))
    draws = rng.multinomial(stats.rows, p, size=(n, groups)).astype(np.float64)
    draws *= _scale(stats)[None, :, None]
    result: F64 = draws.reshape(n, groups, 2, 2)
    return result


def resample_auc(stats: GroupStats, n: int, rng: np.random.Generator) -> F64:
    """``n`` draws of every group's AUC, shape ``(n, G)``: ``AUC_g + se_g * Z`` clipped to [0, 1].

    ``se_g`` is DeLong's standard error, exact for the binned scores: a positive in bin ``b``
    beats the share ``v10_b = (negatives below b + half of those in b) / N`` of the negatives, a
    negative in ``b`` is beaten by ``v01_b = (positives above b + half of those in b) / P``, and
    ``se^2 = var(v10) / P + var(v01) / N`` (counts in rows: weighted counts are rescaled to the
    group's rows). Groups without both classes draw NaN.
    """
    groups = len(stats.groups)
    if stats.score_hist is None:
        return np.full((n, groups), np.nan)
    weight_per_row = _scale(stats)
    counts = stats.score_hist / np.where(weight_per_row > 0, weight_per_row, 1.0)[:, None, None]  # in rows
    negatives, positives = counts[:, 0, :], counts[:, 1, :]
    total_negatives = negatives.sum(axis=1, keepdims=True)
    total_positives = positives.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        beats = (np.cumsum(negatives, axis=1) - negatives + 0.5 * negatives) / total_negatives
        beaten = (total_positives - np.cumsum(positives, axis=1) + 0.5 * positives) / total_positives
        auc = (positives * beats).sum(axis=1, keepdims=True) / total_positives
        spread_positives = (positives * (beats - auc) ** 2).sum(axis=1) / total_positives[:, 0]
        spread_negatives = (negatives * (beaten - auc) ** 2).sum(axis=1) / total_negatives[:, 0]
        se = np.sqrt(spread_positives / total_positives[:, 0] + spread_negatives / total_negatives[:, 0])
    defined = (total_positives[:, 0] > 0) & (total_negatives[:, 0] > 0)
    draws = auc[:, 0] + se * rng.standard_normal((n, groups))
    result: F64 = np.where(defined, np.clip(draws, 0.0, 1.0), np.nan)
    return result


def percentile_interval(values: F64, confidence: float) -> tuple[float | None, float | None, int]:
    """``(low, high, defined)``: the percentile interval over the non-NaN resampled values."""
    defined = values[~np.isnan(values)]
    if len(defined) == 0:
        return None, None, 0
    alpha = 1.0 - confidence
    low, high = np.quantile(defined, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high), len(defined)
