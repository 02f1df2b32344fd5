"""Small statistical building blocks shared by the series computations.

SciPy (a dependency of scikit-learn, so always present) supplies the t distribution and the
linear filter behind the EWMA; it ships no type information, so it is wrapped here, once, in
typed functions.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from scipy import signal, stats  # type: ignore[import-untyped]

from charter.compute.series._arrays import F64, I64

# 1 / Phi^-1(3/4): the MAD of a normal sample times this estimates its standard deviation.
MAD_TO_SIGMA = 1.482602218505602
# sqrt(pi / 2): the same for the mean absolute deviation (used when more than half the values tie).
MEANAD_TO_SIGMA = 1.2533141373155001


def t_quantile(probability: float, df: int) -> float:
    return float(stats.t.ppf(probability, df))


def t_two_sided_p(statistic: float, df: int) -> float:
    return float(2 * stats.t.sf(abs(statistic), df))


def exponential_smoothing(values: F64, alpha: float, start: float) -> F64:
    """``z_t = alpha * x_t + (1 - alpha) * z_{t-1}`` with ``z_0 = start``, for every t (one C loop)."""
    smoothed, _ = signal.lfilter([alpha], [1.0, alpha - 1.0], values, zi=[(1.0 - alpha) * start])
    return cast(F64, np.asarray(smoothed, dtype=np.float64))


def robust_center_scale(values: F64) -> tuple[float, float]:
    """Median and a robust standard deviation (MAD-based; mean-absolute-deviation-based when the MAD is 0)."""
    center = float(np.median(values))
    deviations = np.abs(values - center)
    scale = float(np.median(deviations)) * MAD_TO_SIGMA
    if scale == 0.0:
        scale = float(np.mean(deviations)) * MEANAD_TO_SIGMA
    return center, scale


def difference_sigma(values: F64) -> float:
    """The noise level from first differences: robust to level shifts and to isolated spikes.

    For independent noise of standard deviation s, consecutive differences have standard
    deviation s * sqrt(2); their MAD (scaled) estimates that, whatever the level does.
    """
    if len(values) < 3:
        return 0.0
    _, scale = robust_center_scale(np.diff(values))
    return scale / float(np.sqrt(2.0))


def grouped_median(groups: I64, values: F64, n_groups: int) -> tuple[F64, I64]:
    """The median of ``values`` within each group ``0 .. n_groups - 1`` (NaN for an empty group), and the counts.

    One sort by (group, value); each group's middle element(s) are then read by position.
    """
    order = np.lexsort((values, groups))
    ordered = values[order]
    counts = np.bincount(groups, minlength=n_groups).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    medians = np.full(n_groups, np.nan)
    present = counts > 0
    low = starts[present] + (counts[present] - 1) // 2
    high = starts[present] + counts[present] // 2
    medians[present] = (ordered[low] + ordered[high]) / 2.0
    return medians, counts


def as_int64(array: Any) -> I64:
    return cast(I64, np.asarray(array, dtype=np.int64))
