"""Fairness at any scale: sufficient statistics reduced once, every metric derived from them.

    stats = compute_statistics(df, y_true="label", y_pred="pred", sensitive_features=["sex", "race"])
    result = fairness_metrics(stats, mode="reference", thresholds={"demographic_parity_ratio": (">=", 0.8)})
    result = assess(df, y_true=..., y_pred=..., sensitive_features=...)   # both steps

The data is read once into :class:`GroupStats` (per group: weighted confusion counts, rows, score
histograms); per-group rates, aggregates, four-fifths rule, calibration, AUC and bootstrap
intervals (resampling the statistics, not the data) all come from it. Definitions are in
``metrics``; the JSON shape in ``report``; the guide is ``docs/fairness.md``.

Conventions, and where Charter differs from Fairlearn 0.15 and AIF360 0.6.1
-------------------------------------------------------------------------------

* Where definitions coincide the numbers agree to 1e-9 (tested on COMPAS, Adult and random
  data): Fairlearn's ``MetricFrame`` rates and ``demographic_parity_*``, ``equalized_odds_*``,
  ``equal_opportunity_*`` (``mode="all_groups"``); AIF360's ``ClassificationMetric``
  ``statistical_parity_difference``, ``disparate_impact``, ``equal_opportunity_difference``,
  ``average_odds_difference``, ``average_abs_odds_difference``, ``equalized_odds_difference``
  with two groups (``mode="reference"``, the reference being AIF360's privileged group).
* Undefined values: a rate with a zero denominator (TPR of a group with no actual positives,
  precision of a group with no predicted positives, ...) is ``None`` with the reason, and
  aggregates skip that group and list it; an aggregate over fewer than two defined groups is
  itself ``None`` with a reason. Fairlearn returns 0.0 for an undefined TPR/FPR (scikit-learn's
  ``confusion_matrix(normalize="true")`` then ``nan_to_num``) and 0 (with a warning) for an
  undefined precision, which can inflate or hide a disparity; AIF360's classic metrics give NaN
  for TPR/FPR and 0.0 for an undefined PPV/NPV/FDR/FOR, and ``inf`` for x / 0. Charter reports
  neither 0 nor inf for an undefined value.
* Reference comparisons are group by group. AIF360 pools every unprivileged group into one
  (its ``unprivileged_groups`` rows together); Charter compares each group with the reference
  and reports the comparison of largest magnitude (the ratio farthest from 1), naming the group.
  With two groups the two agree.
* Ratios are raw in reference mode (``m(g) / m(ref)``, may exceed 1, AIF360's orientation) and
  ``min / max`` in all-groups mode (Fairlearn's). Thresholds compare ``|difference|`` and the
  folded ratio ``min(r, 1/r)``, so one bound serves both modes.
* The four-fifths rule is always judged against the most-favoured group (highest selection
  rate, 29 CFR 1607.4(D)), whatever reference group is chosen; AIF360's ``disparate_impact``
  uses the designated privileged group instead.
* Groups with fewer than ``min_group_size`` rows (default 30) are reported with their numbers
  but excluded from every aggregate and listed as too small; neither library does this.
* Missing sensitive values form their own group by default (``missing="group"``, label
  ``None``, shown "(missing)"); ``missing="error"`` refuses them. Fairlearn keeps NaN as a
  label of its own; AIF360 refuses NaN.
* Positive label: given, or inferred only when the labels are 0/1 or False/True (Fairlearn also
  infers it for -1/1; Charter asks).
* Intervals (neither library has them built in) are percentile bootstrap intervals over
  resamples of the statistics: per-group multinomial draws of the confusion cells, DeLong normal
  draws for the AUC; in reference mode the reported comparison's group is held fixed.
* CSV files are read by Arrow's rules (shared by the DuckDB engine): an empty text field is the
  label "" (pandas.read_csv would make it missing); empty numeric fields are missing.
* ``SqlQuery`` makes a query's result the data: run by DuckDB in process (it reads Parquet and
  CSV files, joins them, filters with ``$name`` parameters) or streamed from a SQLite or
  PostgreSQL database by URL (``:name`` parameters); see ``sql``.
"""

from charter.compute.fairness.api import (
    DEFAULT_CALIBRATION_BINS,
    DEFAULT_MIN_GROUP_SIZE,
    DEFAULT_RESAMPLES,
    DEFAULT_THRESHOLDS,
    assess,
    compute_statistics,
    fairness_metrics,
)
from charter.compute.fairness.metrics import AGGREGATE_NAMES, RATE_NAMES
from charter.compute.fairness.report import (
    Aggregate,
    CalibrationBin,
    Comparison,
    FairnessResult,
    FourFifths,
    GroupMetrics,
    Interval,
    ThresholdCheck,
)
from charter.compute.fairness.sql import SqlQuery
from charter.compute.fairness.stats import DEFAULT_BINS, GroupLabel, GroupStats, score_bin

__all__ = [
    "AGGREGATE_NAMES",
    "DEFAULT_BINS",
    "DEFAULT_CALIBRATION_BINS",
    "DEFAULT_MIN_GROUP_SIZE",
    "DEFAULT_RESAMPLES",
    "DEFAULT_THRESHOLDS",
    "RATE_NAMES",
    "Aggregate",
    "CalibrationBin",
    "Comparison",
    "FairnessResult",
    "FourFifths",
    "GroupLabel",
    "GroupMetrics",
    "GroupStats",
    "Interval",
    "SqlQuery",
    "ThresholdCheck",
    "assess",
    "compute_statistics",
    "fairness_metrics",
    "score_bin",
]
