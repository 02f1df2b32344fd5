"""The drift statistics, from profiles: pure functions of sorted values, cells or category counts.

Notation: ``F_r`` and ``F_c`` are the empirical CDFs of the reference's and the current data's
finite values, ``n_r`` and ``n_c`` their counts.

* Kolmogorov-Smirnov: ``D = sup_x |F_r(x) - F_c(x)|``. Exact from sorted values, with SciPy's
  p-value (``scipy.stats.ks_2samp``, ``method="auto"``: the exact distribution when both samples
  have at most 10,000 values, else ``kstwo.sf(D, round(n_r n_c / (n_r + n_c)))``). From cells it is
  *binned*: ``D`` is the largest difference at the points where both CDFs are known (just below
  and at every edge), a lower bound of the exact ``D``; between two edges each CDF is monotone, so
  the exact ``D`` is at most ``D + ks_error_bound`` where the bound comes from the largest jump
  either CDF can make inside one open cell. Its p-value is the asymptotic one of that ``D``.
* Wasserstein-1: ``W = integral |F_r(x) - F_c(x)| dx`` (``scipy.stats.wasserstein_distance``).
  Exact from sorted values; from cells the CDFs are interpolated linearly inside each open cell
  between two edges, the two unbounded cells are integrated exactly from the sums of their values,
  and the true value lies within ``wasserstein_error_bound`` of the estimate (each CDF monotone
  inside a cell).
  ``wasserstein_distance_norm = W / max(std_r, 0.001)`` (Evidently's normalisation).
* Both binned bounds are computed from the cells (the CDFs at the edges) and the edges' positions,
  and need nothing else: no assumption on where the edges lie, only that each CDF is monotone
  between two of them. They hold for sampled edges as for exact order statistics (tested against
  SciPy with edges drawn at random); edges that cut the data into near-equal cells make them tight.
* PSI: ``sum_i (p_c,i - p_r,i) * ln(p_c,i / p_r,i)`` over bins (categories, or reference-quantile
  bins of a numeric column), where an empty bin's proportion is replaced by ``epsilon``.
* Jensen-Shannon distance: ``sqrt((KL(p_r || m) + KL(p_c || m)) / 2)`` with ``m = (p_r + p_c) / 2``,
  natural logarithm (``scipy.spatial.distance.jensenshannon``); no smoothing is needed.
* chi-square: Pearson's test of homogeneity on the 2 x K table of counts (reference, current) by
  category, without Yates' correction (``scipy.stats.chi2_contingency(table, correction=False)``),
  ``K - 1`` degrees of freedom.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from charter.compute.drift.profile import F64, I64, NumericProfile

# SciPy's ks_2samp(method="auto") uses the exact distribution up to this many values per sample.
KS_EXACT_MAX_N = 10_000
# Evidently's floor under the reference's standard deviation when normalising Wasserstein.
WASSERSTEIN_NORM_FLOOR = 0.001


def _scipy() -> Any:
    """SciPy, imported on first use (it takes a few tenths of a second; profiles do not need it)."""
    import scipy.special  # type: ignore[import-untyped]
    import scipy.stats  # type: ignore[import-untyped]

    return scipy


@dataclass(frozen=True)
class KS:
    statistic: float
    pvalue: float
    method: str  # "exact" (sorted values) or "binned" (cells)
    pvalue_method: str  # "exact" or "asymp", as SciPy names them
    error_bound: float  # the exact statistic lies in [statistic, statistic + error_bound]


@dataclass(frozen=True)
class Wasserstein:
    distance: float
    method: str  # "exact" or "binned"
    error_bound: float  # |exact - distance| <= error_bound


# --- exact, from sorted values -----------------------------------------------------------------------


def _merged(a: F64, b: F64) -> tuple[F64, F64]:
    """The distinct values of both sorted samples and ``F_a - F_b`` at each (right-continuous CDFs).

    Written to hold few arrays of the merged length at once (columns run side by side on threads).
    """
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
    merged = both[order]
    del both
    from_a = np.cumsum(order < len(a))  # values of ``a`` up to each position
    del order
    last = np.empty(len(merged), dtype=bool)  # the last of each run of equal values
    np.not_equal(merged[:-1], merged[1:], out=last[:-1])
    last[-1] = True
    if last.all():  # no value repeats (continuous data): nothing to drop
        positions = np.arange(1, len(merged) + 1)
    else:
        from_a, merged, positions = from_a[last], merged[last], np.flatnonzero(last) + 1
    del last
    diff = from_a / len(a)
    np.subtract(positions, from_a, out=positions)  # values of ``b`` up to each position
    del from_a
    diff -= positions / len(b)
    return merged, diff


def exact_ks_wasserstein(reference: F64, current: F64) -> tuple[KS, Wasserstein]:
    """KS and Wasserstein from both samples' sorted finite values (neither empty); SciPy's numbers."""
    values, diff = _merged(reference, current)
    statistic = float(max(diff.max(), -diff.min(), 0.0))
    steps = np.diff(values)
    del values
    np.abs(diff, out=diff)
    steps *= diff[:-1]
    distance = float(np.sum(steps))
    n_r, n_c = len(reference), len(current)
    if max(n_r, n_c) <= KS_EXACT_MAX_N:
        ks = _scipy_exact_ks(reference, current)
    else:
        ks = KS(statistic, asymptotic_pvalue(statistic, n_r, n_c), "exact", "asymp", 0.0)
    return ks, Wasserstein(distance, "exact", 0.0)


def _scipy_exact_ks(reference: F64, current: F64) -> KS:
    """SciPy's exact two-sample distribution (small samples only): the same call, so the same numbers.

    SciPy rounds the statistic to a multiple of 1 / lcm(n_r, n_c) for it, and falls back to the
    asymptotic p-value (with a warning) when the exact computation overflows; both are kept.
    """
    stats = _scipy().stats

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result: Any = stats.ks_2samp(reference, current, method="auto")
    fell_back = any("Switching to method=asymp" in str(w.message) for w in caught)
    return KS(float(result.statistic), float(result.pvalue), "exact", "asymp" if fell_back else "exact", 0.0)


def asymptotic_pvalue(statistic: float, n_r: int, n_c: int) -> float:
    """SciPy's two-sided asymptotic p-value: ``kstwo.sf(D, round(n_r n_c / (n_r + n_c)))``.

    In one region SciPy's ``kstwo.sf`` is ``2 * scipy.special.smirnov(n, D)``, an exact sum of
    about ``n`` terms that SciPy adds one by one (0.2 to 1.5 s for n between 1e5 and 1e6, per
    column): there the same sum is added here with NumPy (:func:`smirnov`, equal to SciPy's to
    1e-9 relative, tested), everywhere else SciPy is called.
    """
    stats = _scipy().stats

    m, n = sorted([float(n_r), float(n_c)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    size, x = int(en), statistic
    if _SMIRNOV_MIN_N < size <= SMIRNOV_MAX_N and 1.0 < size * x < size - 1 and x < 0.5 and 2.2 <= size * x * x < 370:
        return float(np.clip(2.0 * smirnov(size, x), 0.0, 1.0))
    return float(np.clip(stats.kstwo.sf(statistic, en), 0.0, 1.0))


# SciPy's kstwo.sf sums the Smirnov series itself for 140 < n and 2.2 <= n x^2 < 370, and smirnov
# is exact up to n = 1e6 (an asymptotic formula above, which SciPy then evaluates fast).
_SMIRNOV_MIN_N = 140
SMIRNOV_MAX_N = 1_000_000


@functools.lru_cache(maxsize=4)
def _log_factorials(n: int) -> F64:
    gammaln = _scipy().special.gammaln

    table: F64 = gammaln(np.arange(n + 1, dtype=np.float64) + 1.0)
    return table


def smirnov(n: int, x: float) -> float:
    """``P(D_n^+ >= x)``, the exact one-sided Smirnov tail (Birnbaum and Tingey, 1951)::

        x * sum_{j=0}^{floor(n (1 - x))} C(n, j) (1 - x - j / n)^(n - j) (x + j / n)^(j - 1)

    added in logarithms (the terms span hundreds of orders of magnitude), all at once.
    """
    last = math.floor(n * (1.0 - x))
    j = np.arange(last + 1, dtype=np.float64)
    logs = _log_factorials(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        falling = np.where(j == n, 0.0, (n - j) * np.log1p(-x - j / n))
        rising = (j - 1.0) * np.log(x + j / n)
    terms = logs[n] - logs[: last + 1] - logs[n - last :][::-1] + falling + rising
    top = float(np.max(terms))
    if not math.isfinite(top):
        return 0.0
    return float(x * math.exp(top) * np.sum(np.exp(terms - top)))


# --- binned, from cells --------------------------------------------------------------------------------


def _cdf_points(cells: I64, n: int) -> tuple[F64, F64]:
    """Each CDF just below every edge and at every edge (``F(e_k^-)``, ``F(e_k)``)."""
    running = np.cumsum(cells)
    below = running[0:-1:2] / n
    at = running[1::2] / n
    return below, at


def binned_ks(reference: NumericProfile, current: NumericProfile) -> KS:
    """KS from the cells of two profiles on the same edges (see the module docstring for the bound)."""
    below_r, at_r = _cdf_points(reference.cells, reference.count)
    below_c, at_c = _cdf_points(current.cells, current.count)
    known = np.concatenate([below_r - below_c, at_r - at_c])
    low = float(np.abs(known).max()) if len(known) else 0.0
    # Inside open cell k each CDF climbs from its value at e_{k-1} (0 before e_0) to its value just
    # below e_k (1 after the last edge); the difference can reach at most these.
    start_r, start_c = np.concatenate([[0.0], at_r]), np.concatenate([[0.0], at_c])
    end_r, end_c = np.concatenate([below_r, [1.0]]), np.concatenate([below_c, [1.0]])
    high = float(max(low, np.max(end_r - start_c), np.max(end_c - start_r)))
    return KS(low, asymptotic_pvalue(low, reference.count, current.count), "binned", "asymp", high - low)


def binned_wasserstein(reference: NumericProfile, current: NumericProfile) -> Wasserstein:
    """Wasserstein-1 from the cells, with a rigorous error bound.

    Inside each open cell between two edges both CDFs are interpolated linearly. Over the two
    unbounded cells the integral of each CDF is known exactly from the sums kept there (below the
    first edge ``integral F = (count * e_0 - sum) / n``, above the last ``integral (1 - F) = (sum -
    count * e_last) / n``), so those cells add no error when one side has no value in them, as the
    reference has none (its minimum and maximum are edges).
    """
    below_r, at_r = _cdf_points(reference.cells, reference.count)
    below_c, at_c = _cdf_points(current.cells, current.count)
    edges = reference.edges
    width = np.diff(edges)
    start_r, start_c = at_r[:-1], at_c[:-1]  # each CDF at the left edge of the inner cells ...
    end_r, end_c = below_r[1:], below_c[1:]  # ... and just below the right edge
    d0, d1 = start_r - start_c, end_r - end_c
    same_sign = d0 * d1 >= 0
    total = np.abs(d0) + np.abs(d1)
    crossing = np.divide(d0 * d0 + d1 * d1, 2 * total, out=np.zeros_like(total), where=total > 0)
    estimate = width * np.where(same_sign, total / 2, crossing)
    upper = width * np.maximum.reduce([end_r - start_c, end_c - start_r, np.zeros_like(width)])
    lower = width * np.maximum.reduce([start_r - end_c, start_c - end_r, np.zeros_like(width)])
    value, high, low = float(estimate.sum()), float(upper.sum()), float(lower.sum())
    first, last = float(edges[0]), float(edges[-1])
    for outer_r, outer_c in (
        (_below_integral(reference, first), _below_integral(current, first)),
        (_above_integral(reference, last), _above_integral(current, last)),
    ):
        # |F_r - F_c| integrates to between |I_r - I_c| and I_r + I_c; exactly the first when one is 0.
        value += abs(outer_r - outer_c)
        low += abs(outer_r - outer_c)
        high += outer_r + outer_c
    bound = max(high - value, value - low, 0.0)
    return Wasserstein(value, "binned", bound)


def _below_integral(profile: NumericProfile, first: float) -> float:
    """``integral_{-inf}^{e_0} F(x) dx`` from the count and sum of the values below the first edge."""
    count = int(profile.cells[0])
    return max(count * first - profile.below_sum, 0.0) / profile.count


def _above_integral(profile: NumericProfile, last: float) -> float:
    """``integral_{e_last}^{inf} (1 - F(x)) dx`` from the count and sum of the values above the last edge."""
    count = int(profile.cells[-1])
    return max(profile.above_sum - count * last, 0.0) / profile.count


def psi_bins(reference: NumericProfile, current: NumericProfile, bins: int) -> tuple[I64, I64]:
    """Counts of both profiles in ``bins`` reference-quantile bins built from the cells.

    Bin boundaries are the first edges at which the reference's CDF reaches ``i / bins``
    (``i = 1 .. bins - 1``), repeated boundaries kept once; bins are closed on the right and the
    outer ones open-ended (values beyond the reference's range fall in the first or last bin).
    """
    running_r = np.cumsum(reference.cells)[1::2]  # reference count at or below each edge
    levels = np.arange(1, bins, dtype=np.int64) * reference.count
    stops = np.searchsorted(running_r * bins, levels, side="left")
    stops = np.unique(stops[stops < len(running_r) - 1])  # never the last edge: the top bin is open-ended
    cut = 2 * stops + 2  # cells up to and including the edge's own cell
    return _grouped(reference.cells, cut), _grouped(current.cells, cut)


def _grouped(cells: I64, cut: I64) -> I64:
    running = np.concatenate([[0], np.cumsum(cells)])
    bounds = np.concatenate([[0], cut, [len(cells)]])
    result: I64 = np.diff(running[bounds])
    return result


# --- distributions of counts -----------------------------------------------------------------------------


def psi(reference: I64, current: I64, epsilon: float) -> float:
    """Population stability index of two count vectors over the same bins (see the module docstring)."""
    p_r = _proportions(reference)
    p_c = _proportions(current)
    p_r = np.where(p_r == 0, epsilon, p_r)
    p_c = np.where(p_c == 0, epsilon, p_c)
    return float(np.sum((p_c - p_r) * np.log(p_c / p_r)))


def jensenshannon(reference: I64, current: I64) -> float:
    """Jensen-Shannon distance, natural log: the formula of ``scipy.spatial.distance.jensenshannon``."""
    rel_entr = _scipy().special.rel_entr

    p = _proportions(reference)
    q = _proportions(current)
    m = (p + q) / 2.0
    divergence = float(np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m)))
    return math.sqrt(max(divergence, 0.0) / 2.0)


def chi2_homogeneity(reference: I64, current: I64) -> tuple[float, float, int]:
    """Pearson's chi-square test of homogeneity on the 2 x K table; (statistic, p-value, dof).

    Categories absent from both are dropped. With one category the two samples cannot differ:
    statistic 0, p-value 1, 0 degrees of freedom (SciPy's answer too).
    """
    stats = _scipy().stats

    table = np.stack([reference, current]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    if dof < 1:
        return 0.0, 1.0, 0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, dof)), dof


def _proportions(counts: I64) -> F64:
    total = counts.sum()
    result: F64 = counts / total
    return result
