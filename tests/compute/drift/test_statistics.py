"""Every statistic against SciPy on the same data or the same histograms; binned ones within their bounds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from charter.compute.drift import statistics as st
from charter.compute.drift.profile import NumericProfile, edges_from_sorted

TOLERANCE = 1e-9


def sample(kind: str, n: int, seed: int, shift: float = 0.0) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(shift, 1.0, n)
    if kind == "lognormal":  # heavy right tail: wide outer cells
        return rng.lognormal(shift, 1.0, n)
    if kind == "integers":  # many ties
        return rng.integers(0, 12, n).astype(np.float64) + (shift > 0)
    if kind == "mixture":  # an atom at zero and a continuous part
        return np.where(rng.random(n) < 0.3, 0.0, rng.exponential(1.0 + shift, n))
    raise AssertionError(kind)


def profile_of(values: np.ndarray[Any, Any], edges: np.ndarray[Any, Any], keep: bool) -> NumericProfile:
    return NumericProfile.of_sorted(np.sort(values), edges=edges, missing=0, infinite=0, keep_values=keep)


CASES = [
    ("normal", 40, 57, 0.3),  # SciPy's exact p-value
    ("normal", 3000, 3000, 0.0),  # equal sizes: SciPy's other exact formula
    ("integers", 500, 800, 1.0),  # ties
    ("mixture", 9000, 10000, 0.1),
    ("normal", 10001, 12000, 0.0),  # SciPy switches to the asymptotic p-value
    ("normal", 30000, 20000, 0.05),  # the Smirnov-series region of kstwo.sf
    ("lognormal", 50000, 40000, 0.02),
    ("integers", 60000, 30000, 0.0),
]


@pytest.mark.parametrize(("kind", "n_r", "n_c", "shift"), CASES)
def test_exact_ks_and_wasserstein_equal_scipy(kind: str, n_r: int, n_c: int, shift: float) -> None:
    ref, cur = sample(kind, n_r, 1), sample(kind, n_c, 2, shift)
    ks, wasserstein = st.exact_ks_wasserstein(np.sort(ref), np.sort(cur))
    expected = stats.ks_2samp(ref, cur)
    assert ks.method == "exact" and ks.error_bound == 0.0
    assert ks.pvalue_method == ("exact" if max(n_r, n_c) <= 10000 else "asymp")
    assert abs(ks.statistic - float(expected.statistic)) <= TOLERANCE
    assert abs(ks.pvalue - float(expected.pvalue)) <= TOLERANCE
    assert ks.pvalue == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-300)
    assert abs(wasserstein.distance - stats.wasserstein_distance(ref, cur)) <= TOLERANCE


@pytest.mark.parametrize("size", [141, 999, 5000, 40000, 200000])
def test_asymptotic_pvalue_equals_kstwo(size: int) -> None:
    """Over the whole range of D, including the region where the Smirnov series is added here."""
    for nx2 in (0.3, 1.0, 2.19, 2.2, 3.0, 7.0, 30.0, 150.0, 369.0, 400.0):
        d = (nx2 / size) ** 0.5
        mine = st.asymptotic_pvalue(d, 2 * size, 2 * size)
        theirs = float(stats.kstwo.sf(d, size))
        assert abs(mine - theirs) <= 1e-10, (size, nx2)
        assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-300), (size, nx2)


def test_jensenshannon_psi_and_chi2_equal_scipy() -> None:
    rng = np.random.default_rng(5)
    ref = rng.multinomial(5000, [0.5, 0.2, 0.2, 0.1, 0.0])
    cur = rng.multinomial(4000, [0.4, 0.25, 0.2, 0.1, 0.05])  # a category new in the current data
    assert abs(st.jensenshannon(ref, cur) - jensenshannon(ref, cur)) <= 1e-12
    chi2, pvalue, dof = st.chi2_homogeneity(ref, cur)
    expected = stats.chi2_contingency(np.stack([ref, cur]), correction=False)
    assert dof == expected.dof == 4
    assert chi2 == pytest.approx(expected.statistic, rel=1e-12)
    assert abs(pvalue - expected.pvalue) <= TOLERANCE
    p_r, p_c = ref / ref.sum(), cur / cur.sum()
    p_r = np.where(p_r == 0, 1e-4, p_r)
    assert st.psi(ref, cur, 1e-4) == pytest.approx(float(np.sum((p_c - p_r) * np.log(p_c / p_r))), rel=1e-12)
    # two categories: Pearson's chi-square is the two-proportion z-test squared (Evidently's small-sample test)
    chi2, pvalue, _ = st.chi2_homogeneity(np.array([30, 70]), np.array([45, 55]))
    pooled = 75 / 200
    z = (0.45 - 0.30) / np.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    assert chi2 == pytest.approx(z * z, rel=1e-12)
    assert pvalue == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)


def test_chi2_single_category_and_psi_epsilon() -> None:
    assert st.chi2_homogeneity(np.array([10, 0]), np.array([7, 0])) == (0.0, 1.0, 0)
    # an empty bin on one side contributes (p - eps) * ln(p / eps)
    assert st.psi(np.array([10, 0]), np.array([5, 5]), 1e-4) == pytest.approx(
        (0.5 - 1.0) * np.log(0.5) + (0.5 - 1e-4) * np.log(0.5 / 1e-4), rel=1e-12
    )


@pytest.mark.parametrize("kind", ["normal", "lognormal", "integers", "mixture"])
@pytest.mark.parametrize("bins", [10, 100, 1000])
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.5])
def test_binned_ks_and_wasserstein_within_their_bounds(kind: str, bins: int, shift: float) -> None:
    ref, cur = sample(kind, 20000, 3), sample(kind, 15000, 4, shift)
    edges = edges_from_sorted(np.sort(ref), bins)
    r, c = profile_of(ref, edges, keep=False), profile_of(cur, edges, keep=False)
    ks = st.binned_ks(r, c)
    exact = float(stats.ks_2samp(ref, cur).statistic)
    assert ks.method == "binned" and ks.pvalue_method == "asymp"
    assert ks.statistic - 1e-12 <= exact <= ks.statistic + ks.error_bound + 1e-12
    assert ks.pvalue == pytest.approx(float(stats.kstwo.sf(ks.statistic, round(20000 * 15000 / 35000))), rel=1e-9)
    wasserstein = st.binned_wasserstein(r, c)
    assert abs(wasserstein.distance - stats.wasserstein_distance(ref, cur)) <= wasserstein.error_bound + 1e-12
    if kind == "integers" and bins >= 12:  # every value is an edge: nothing is binned, "binned" is exact
        assert ks.error_bound == 0.0 and abs(ks.statistic - exact) <= TOLERANCE
        if shift == 0:  # (with a shift, current values beyond the reference's maximum fill an open cell)
            assert wasserstein.error_bound <= 1e-12


def test_bounds_shrink_with_finer_bins() -> None:
    ref, cur = sample("normal", 50000, 6), sample("normal", 50000, 7, 0.02)
    ks_bounds, w_bounds = [], []
    for bins in (10, 100, 1000):
        edges = edges_from_sorted(np.sort(ref), bins)
        r, c = profile_of(ref, edges, keep=False), profile_of(cur, edges, keep=False)
        ks_bounds.append(st.binned_ks(r, c).error_bound)
        w_bounds.append(st.binned_wasserstein(r, c).error_bound)
    assert ks_bounds[0] > ks_bounds[1] > ks_bounds[2] and ks_bounds[2] < 0.003
    assert w_bounds[0] > w_bounds[1] > w_bounds[2]


def test_psi_bins_are_reference_deciles() -> None:
    ref = np.arange(1000, dtype=np.float64)
    edges = edges_from_sorted(ref, 1000)
    r = profile_of(ref, edges, keep=True)
    c = profile_of(np.array([-5.0, 0.0, 99.0, 100.0, 500.5, 999.0, 2000.0]), edges, keep=True)
    ref_bins, cur_bins = st.psi_bins(r, c, 10)
    assert ref_bins.tolist() == [100] * 10  # (-inf, 99], (99, 199], ..., (899, inf)
    assert cur_bins.tolist() == [3, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    # few distinct values: the bins are the values (the top bin open-ended)
    ref2 = np.repeat([0.0, 1.0], [700, 300])
    r2 = profile_of(ref2, edges_from_sorted(ref2, 1000), keep=True)
    c2 = profile_of(np.array([0.0, 1.0, 1.0, 3.0]), r2.edges, keep=True)
    a, b = st.psi_bins(r2, c2, 10)
    assert a.tolist() == [700, 300] and b.tolist() == [1, 3]


def test_smirnov_matches_scipy_special() -> None:
    from scipy import special

    for n, x in ((150, 0.2), (1000, 0.06), (25000, 0.015), (100000, 0.006)):
        assert st.smirnov(n, x) == pytest.approx(float(special.smirnov(n, x)), rel=1e-9)


@pytest.mark.parametrize("kind", ["normal", "lognormal", "integers", "mixture"])
@pytest.mark.parametrize("count", [3, 40, 400])
def test_bounds_hold_wherever_the_edges_lie(kind: str, count: int) -> None:
    """The bounds are computed from the cells alone: edges drawn at random inside the reference's range (its
    extremes beyond them, on both sides) still bound the exact statistics, only less tightly."""
    ref, cur = sample(kind, 20000, 8), sample(kind, 15000, 9, 0.3)
    low, high = np.quantile(ref, [0.05, 0.95])
    edges = np.unique(np.random.default_rng(count).uniform(low, high, count))
    r, c = profile_of(ref, edges, keep=False), profile_of(cur, edges, keep=False)
    assert r.cells[0] > 0 and r.cells[-1] > 0 and r.above_sum > 0  # reference values beyond the outer edges
    ks, wasserstein = st.binned_ks(r, c), st.binned_wasserstein(r, c)
    exact = float(stats.ks_2samp(ref, cur).statistic)
    assert ks.statistic - 1e-12 <= exact <= ks.statistic + ks.error_bound + 1e-12
    assert abs(wasserstein.distance - stats.wasserstein_distance(ref, cur)) <= wasserstein.error_bound + 1e-9
