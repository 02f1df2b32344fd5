"""Data drift at any scale: each dataset reduced once to a mergeable profile, every statistic derived from it.

    ref = profile(reference_df)                          # edges fixed from the reference
    cur = profile(current_df, reference=ref)             # binned on the same edges
    report = compare(ref, cur, prediction="score", target="label")
    report = drift(reference_df, current_df, engine="duckdb")     # both steps

``profile`` reduces each column to a :class:`DatasetProfile` entry (numeric: counts, min/max,
moments, a histogram on reference-quantile edges and, up to ``max_exact_rows`` values, the
sorted values; categorical: counts per value and of missing values); profiles of chunks merge
and round-trip through JSON, so a monitor can keep the reference's profile instead of its data.
``compare`` derives, per column, the statistics below and whether the column drifted, and the
dataset-level share of drifted columns. Formulas are in ``statistics``; the profile layout in
``profile``; the guide is ``docs/drift.md``.

Statistics, and how they agree with SciPy and Evidently 0.7.23
--------------------------------------------------------------

* Numeric columns: ``psi``, ``ks_statistic``, ``ks_pvalue``, ``wasserstein_distance``,
  ``wasserstein_distance_norm``, ``jensenshannon_distance``. Categorical columns: ``psi``,
  ``chi2_statistic``, ``chi2_pvalue``, ``jensenshannon_distance``. Statistics are computed on the
  non-missing values; missing values (None, NaN; and +-inf, counted apart) and their share are
  reported per side, as are new and vanished categories.
* Exact where the profile allows: when both sides kept their sorted values, KS equals
  ``scipy.stats.ks_2samp`` (statistic and p-value, SciPy's own choice of the exact or asymptotic
  distribution: ``ks_pvalue_method``) and Wasserstein ``scipy.stats.wasserstein_distance``, to
  1e-9 (tested). Otherwise they are *binned* (``ks_method`` / ``wasserstein_method``) from the
  histograms, with a rigorous ``ks_error_bound`` (the exact statistic lies in ``[ks_statistic,
  ks_statistic + ks_error_bound]``) and ``wasserstein_error_bound`` (``|exact - reported|``): with
  the default 1000 bins, about 0.001 for KS (one bin's share of the values).
* Jensen-Shannon distance is ``scipy.spatial.distance.jensenshannon`` (natural log) on the same
  counts; chi-square is ``scipy.stats.chi2_contingency(table, correction=False)`` on the 2 x K
  table (reference, current) by category: a two-sample homogeneity test, defined when a category
  is new. Evidently's chi-square is a goodness-of-fit test of the current counts against the
  reference's proportions (``scipy.stats.chisquare``), which is infinite when a category is new;
  with two categories Charter's equals Evidently's Z-test (z^2 = chi^2).
* Numeric PSI and Jensen-Shannon use ``psi_bins`` (10) bins at the reference's deciles (open-ended
  outer bins), built from the profile's fine cells. Evidently bins numeric columns by Sturges' rule
  on both samples together, so those two numbers differ from Evidently's for numeric columns; for
  categorical columns they coincide (Jensen-Shannon exactly; PSI where no category is empty).
* PSI smoothing: an empty bin's proportion becomes ``psi_epsilon`` (1e-4; the other proportions
  are left as they are). Evidently uses 1e-4 too, unless the smallest non-empty proportion is below
  1e-4, in which case it uses that proportion / 1e6. Jensen-Shannon needs no smoothing.
* ``wasserstein_distance_norm`` = Wasserstein / max(std of the reference, 0.001), Evidently's.

Defaults for ``drifted`` (``stattest="auto"``), Evidently's rule
------------------------------------------------------------------

A column with at most 1000 non-missing reference values is judged by a test: numeric KS p-value
< 0.05, categorical chi-square p-value < 0.05; a larger one by a distance, since with many rows a
test flags differences too small to matter: numeric ``wasserstein_distance_norm >= 0.1``,
categorical ``jensenshannon_distance >= 0.1``. PSI's default bound, when chosen, is 0.2. Each bound
is overridable by statistic name (``thresholds=``), the deciding statistic by column or kind
(``stattest=``). The dataset drifts when at least ``drift_share`` (0.5) of the feature columns
drifted; prediction and target columns are reported apart. Evidently differs in small details:
it judges numeric columns with at most 5 distinct values as categorical ones and its KS rule is
``p <= 0.05``.
"""

from charter.compute.drift.api import (
    AUTO_TEST_MAX_ROWS,
    DEFAULT_DRIFT_SHARE,
    DEFAULT_PSI_BINS,
    DEFAULT_PSI_EPSILON,
    DEFAULT_THRESHOLDS,
    STATISTICS,
    compare,
    drift,
    profile,
)
from charter.compute.drift.profile import (
    DEFAULT_BINS,
    DEFAULT_MAX_EXACT_ROWS,
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
)
from charter.compute.drift.report import ColumnDrift, DriftReport, Summary

__all__ = [
    "AUTO_TEST_MAX_ROWS",
    "DEFAULT_BINS",
    "DEFAULT_DRIFT_SHARE",
    "DEFAULT_MAX_EXACT_ROWS",
    "DEFAULT_PSI_BINS",
    "DEFAULT_PSI_EPSILON",
    "DEFAULT_THRESHOLDS",
    "STATISTICS",
    "CategoricalProfile",
    "ColumnDrift",
    "DatasetProfile",
    "DriftReport",
    "NumericProfile",
    "Summary",
    "compare",
    "drift",
    "profile",
]
