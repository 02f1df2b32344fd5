"""Every fairness metric, derived from the statistics alone (vectorised over bootstrap resamples).

Notation, per group ``g`` (weighted counts from ``GroupStats.confusion``): TP, FP, FN, TN and
W = TP + FP + FN + TN. Rates are NaN here where their denominator is 0; the report turns NaN into
``None`` with the reason (:data:`RATES` names it), never into 0.

========================== ======================= ====================================
rate                       formula                 undefined when
========================== ======================= ====================================
selection_rate             (TP + FP) / W           W = 0 (every weight of the group is 0)
base_rate                  (TP + FN) / W           W = 0
accuracy                   (TP + TN) / W           W = 0
true_positive_rate         TP / (TP + FN)          no actual positives
false_negative_rate        FN / (TP + FN)          no actual positives
false_positive_rate        FP / (FP + TN)          no actual negatives
true_negative_rate         TN / (FP + TN)          no actual negatives
precision (PPV)            TP / (TP + FP)          no predicted positives
false_discovery_rate       FP / (TP + FP)          no predicted positives
negative_predictive_value  TN / (TN + FN)          no predicted negatives
false_omission_rate        FN / (TN + FN)          no predicted negatives
auc                        from score histograms   no scores, or no positives or negatives
========================== ======================= ====================================

AUC per group from the histograms ``p_b`` (positives) and ``n_b`` (negatives) of bin ``b``:
``AUC = sum_b p_b * (sum_{c<b} n_c + n_b / 2) / (P * N)``: the probability that a positive
outscores a negative, ties counted half. It is exactly scikit-learn's ``roc_auc_score`` on the
scores rounded down to their bin (``score_bin(s) / bins``), so for scores that are already
multiples of ``1 / bins`` it is scikit-learn's value; for raw scores it differs by at most the
share of positive/negative pairs that fall in the same bin, halved.

Aggregates over the groups ``G'`` that are large enough and where the rate ``m`` is defined
(groups where it is undefined are skipped and listed; fewer than two is undefined):

* ``mode="all_groups"`` (Fairlearn's ``between_groups``): ``X_difference = max m - min m`` and
  ``X_ratio = min m / max m`` (undefined when ``max m = 0``).
* ``mode="reference"`` (AIF360's orientation, reference group ``r``): for every other group
  ``d_g = m(g) - m(r)`` and ``q_g = m(g) / m(r)``; ``X_difference`` is the ``d_g`` of largest
  magnitude (signed) and ``X_ratio`` the ``q_g`` farthest from parity (smallest
  ``min(q, 1/q)``, raw value). With two groups these are exactly AIF360's values.

``equalized_odds_difference`` is ``max(TPR difference, FPR difference)`` (Fairlearn's
``worst_case``; in reference mode ``max_g max(|dTPR_g|, |dFPR_g|)``, AIF360's definition) and
``equalized_odds_ratio`` ``min(TPR ratio, FPR ratio)`` (reference mode: the component ratio
farthest from parity). ``average_odds_difference`` is AIF360's signed
``(dFPR_g + dTPR_g) / 2`` (reference mode only: the terms can cancel) and
``average_absolute_odds_difference`` ``(|dFPR_g| + |dTPR_g|) / 2`` (all-groups mode:
``(TPR difference + FPR difference) / 2``, Fairlearn's ``equalized_odds_difference(agg="mean")``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

F64 = np.ndarray[Any, np.dtype[np.float64]]
I64 = np.ndarray[Any, np.dtype[np.intp]]
Mode = Literal["all_groups", "reference"]
Kind = Literal["difference", "ratio", "eo_difference", "eo_ratio", "average_odds", "average_abs_odds"]

TN, FP, FN, TP = (0, 0), (0, 1), (1, 0), (1, 1)
_ALL = (TN, FP, FN, TP)


@dataclass(frozen=True)
class Rate:
    name: str
    numerator: tuple[tuple[int, int], ...]
    denominator: tuple[tuple[int, int], ...]
    undefined: str


RATES: tuple[Rate, ...] = (
    Rate("selection_rate", (TP, FP), _ALL, "the group's total weight is 0"),
    Rate("base_rate", (TP, FN), _ALL, "the group's total weight is 0"),
    Rate("accuracy", (TP, TN), _ALL, "the group's total weight is 0"),
    Rate("true_positive_rate", (TP,), (TP, FN), "no actual positives (TP + FN = 0)"),
    Rate("false_negative_rate", (FN,), (TP, FN), "no actual positives (TP + FN = 0)"),
    Rate("false_positive_rate", (FP,), (FP, TN), "no actual negatives (FP + TN = 0)"),
    Rate("true_negative_rate", (TN,), (FP, TN), "no actual negatives (FP + TN = 0)"),
    Rate("precision", (TP,), (TP, FP), "no predicted positives (TP + FP = 0)"),
    Rate("false_discovery_rate", (FP,), (TP, FP), "no predicted positives (TP + FP = 0)"),
    Rate("negative_predictive_value", (TN,), (TN, FN), "no predicted negatives (TN + FN = 0)"),
    Rate("false_omission_rate", (FN,), (TN, FN), "no predicted negatives (TN + FN = 0)"),
)
RATE_NAMES: tuple[str, ...] = (*(r.name for r in RATES), "auc")
NO_SCORES = "no scores given"


@dataclass(frozen=True)
class AggregateSpec:
    name: str
    kind: Kind
    rates: tuple[str, ...]


def _families() -> tuple[AggregateSpec, ...]:
    families = (
        ("demographic_parity", "selection_rate"),
        ("equal_opportunity", "true_positive_rate"),
        ("false_positive_rate", "false_positive_rate"),
        ("false_negative_rate", "false_negative_rate"),
        ("true_negative_rate", "true_negative_rate"),
        ("predictive_parity", "precision"),
        ("false_discovery_rate", "false_discovery_rate"),
        ("false_omission_rate", "false_omission_rate"),
        ("negative_predictive_value", "negative_predictive_value"),
        ("accuracy_score", "accuracy"),
        ("auc", "auc"),
    )
    specs: list[AggregateSpec] = []
    for prefix, rate in families:
        specs.append(AggregateSpec(f"{prefix}_difference", "difference", (rate,)))
        specs.append(AggregateSpec(f"{prefix}_ratio", "ratio", (rate,)))
    odds = ("true_positive_rate", "false_positive_rate")
    specs += [
        AggregateSpec("equalized_odds_difference", "eo_difference", odds),
        AggregateSpec("equalized_odds_ratio", "eo_ratio", odds),
        AggregateSpec("average_odds_difference", "average_odds", odds),
        AggregateSpec("average_absolute_odds_difference", "average_abs_odds", odds),
    ]
    return tuple(specs)


AGGREGATES: tuple[AggregateSpec, ...] = _families()
AGGREGATE_NAMES: tuple[str, ...] = tuple(spec.name for spec in AGGREGATES)


def is_ratio(name: str) -> bool:
    return name.endswith("_ratio")


# --- per-group rates --------------------------------------------------------------------------------


def _cells(confusion: F64, cells: tuple[tuple[int, int], ...]) -> F64:
    total: F64 = sum((confusion[..., i, j] for i, j in cells), start=np.zeros(confusion.shape[:-2]))
    return total


def _divide(numerator: F64, denominator: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        result: F64 = np.where(denominator > 0, numerator / denominator, np.nan)
    return result


def group_rates(confusion: F64) -> dict[str, F64]:
    """Every rate of :data:`RATES` for ``confusion`` of shape ``(..., G, 2, 2)``: arrays ``(..., G)``."""
    return {r.name: _divide(_cells(confusion, r.numerator), _cells(confusion, r.denominator)) for r in RATES}


def group_auc(hist: F64) -> F64:
    """ROC AUC per group from histograms of shape ``(..., G, 2, bins)`` (see the module docstring)."""
    negatives, positives = hist[..., 0, :], hist[..., 1, :]
    below = np.cumsum(negatives, axis=-1) - negatives
    wins = (positives * (below + 0.5 * negatives)).sum(axis=-1)
    return _divide(wins, positives.sum(axis=-1) * negatives.sum(axis=-1))


def rate_reasons(confusion: F64) -> dict[str, list[str | None]]:
    """Why each rate is undefined per group (``None`` where it is defined); ``confusion`` is ``(G, 2, 2)``."""
    reasons: dict[str, list[str | None]] = {}
    for rate in RATES:
        denominator = _cells(confusion, rate.denominator)
        reasons[rate.name] = [None if d > 0 else rate.undefined for d in denominator.tolist()]
    return reasons


def auc_reasons(hist: F64 | None, groups: int) -> list[str | None]:
    if hist is None:
        return [NO_SCORES] * groups
    out: list[str | None] = []
    for negatives, positives in zip(
        hist[:, 0, :].sum(axis=1).tolist(), hist[:, 1, :].sum(axis=1).tolist(), strict=True
    ):
        out.append(
            None
            if positives > 0 and negatives > 0
            else ("no actual positives" if positives <= 0 else "no actual negatives")
        )
    return out


# --- aggregates -------------------------------------------------------------------------------------


def _pick(values: F64, key: F64) -> tuple[F64, I64]:
    """Per row, ``values`` where ``key`` is largest (NaN keys ignored; NaN when every key is NaN)."""
    if key.shape[-1] == 0:  # no groups at all
        return np.full(key.shape[:-1], np.nan), np.zeros(key.shape[:-1], dtype=np.intp)
    nan = np.isnan(key)
    index = np.where(nan, -np.inf, key).argmax(axis=-1)
    picked = np.take_along_axis(values, index[..., None], axis=-1)[..., 0]
    picked = np.where(nan.all(axis=-1), np.nan, picked)
    return picked, index


def _between(values: F64) -> tuple[F64, F64, I64, I64]:
    """(difference, ratio, index of max, index of min) over groups, NaN with fewer than 2 defined."""
    enough = (~np.isnan(values)).sum(axis=-1) >= 2
    high, top = _pick(values, values)
    low, bottom = _pick(values, -values)
    difference = np.where(enough, high - low, np.nan)
    ratio = np.where(enough & (high > 0), _divide(low, high), np.nan)
    return difference, ratio, top, bottom


def _fold(ratio: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        folded: F64 = np.minimum(ratio, 1.0 / ratio)
    return folded


def _versus(values: F64, reference: int) -> tuple[F64, F64]:
    """(differences, ratios) of every group against the reference (NaN for the reference itself)."""
    base = values[..., reference : reference + 1]
    difference = values - base
    ratio = _divide(values, np.broadcast_to(base, values.shape))
    ratio = np.where(np.isnan(values), np.nan, ratio)
    difference[..., reference] = np.nan
    ratio[..., reference] = np.nan
    return difference, ratio


def evaluate(
    spec: AggregateSpec, rates: Mapping[str, F64], *, eligible: np.ndarray[Any, Any], mode: Mode, reference: int | None
) -> tuple[F64, I64, I64]:
    """The aggregate for rates of shape ``(B, G)``: value ``(B,)`` and the compared groups' indices.

    The value is ``m(a) - m(b)`` or ``m(a) / m(b)`` for the returned pair ``(a, b)`` where one
    pair is meaningful (-1 otherwise). Groups not ``eligible`` (too small) take no part.
    """
    parts = [np.where(eligible, rates[name], np.nan) for name in spec.rates]
    size = parts[0].shape[0]
    none = np.full(size, -1, dtype=np.intp)
    if mode == "all_groups":
        return _evaluate_between(spec.kind, parts, none)
    assert reference is not None
    ref = np.full(size, reference, dtype=np.intp)
    versus = [_versus(p, reference) for p in parts]
    if spec.kind == "difference":
        value, index = _pick(versus[0][0], np.abs(versus[0][0]))
    elif spec.kind == "ratio":
        value, index = _pick(versus[0][1], -_fold(versus[0][1]))
    elif spec.kind == "eo_difference":
        worst = np.maximum(np.abs(versus[0][0]), np.abs(versus[1][0]))
        value, index = _pick(worst, worst)
    elif spec.kind == "eo_ratio":
        folds = [_fold(v[1]) for v in versus]
        chosen = np.where(folds[0] <= folds[1], versus[0][1], versus[1][1])
        chosen = np.where(np.isnan(folds[0]) | np.isnan(folds[1]), np.nan, chosen)
        value, index = _pick(chosen, -_fold(chosen))
    elif spec.kind == "average_odds":
        signed = 0.5 * (versus[0][0] + versus[1][0])
        value, index = _pick(signed, np.abs(signed))
    else:
        mean_abs = 0.5 * (np.abs(versus[0][0]) + np.abs(versus[1][0]))
        value, index = _pick(mean_abs, mean_abs)
    return value, np.where(np.isnan(value), -1, index), np.where(np.isnan(value), -1, ref)


def _evaluate_between(kind: Kind, parts: list[F64], none: I64) -> tuple[F64, I64, I64]:
    difference, ratio, top, bottom = _between(parts[0])
    if kind == "difference":
        return difference, top, bottom
    if kind == "ratio":
        return ratio, bottom, top
    if kind == "average_odds":
        return np.full(len(none), np.nan), none, none
    other_difference, other_ratio, other_top, other_bottom = _between(parts[1])
    if kind == "eo_difference":
        first = difference >= other_difference
        return (
            np.maximum(difference, other_difference),
            np.where(first, top, other_top),
            np.where(first, bottom, other_bottom),
        )
    if kind == "eo_ratio":
        first = ratio <= other_ratio
        return (
            np.minimum(ratio, other_ratio),
            np.where(first, bottom, other_bottom),
            np.where(first, top, other_top),
        )
    return 0.5 * (difference + other_difference), none, none


def explain(
    spec: AggregateSpec,
    rates: Mapping[str, F64],
    reasons: Mapping[str, list[str | None]],
    *,
    eligible: np.ndarray[Any, Any],
    mode: Mode,
    reference: int | None,
) -> str:
    """Why an aggregate of the point estimate (rates of shape ``(G,)``) is undefined."""
    if spec.kind == "average_odds" and mode == "all_groups":
        return "signed: defined only against a reference group (mode='reference')"
    for name in spec.rates:
        if name == "auc" and reasons[name] and all(r == NO_SCORES for r in reasons[name]):
            return NO_SCORES
        values = np.where(eligible, rates[name], np.nan)
        defined = np.flatnonzero(~np.isnan(values))
        if mode == "reference" and reference is not None:
            if np.isnan(values[reference]):
                return f"the reference group's {name} is undefined ({reasons[name][reference]})"
            if len(defined) < 2:
                return f"no group besides the reference has a defined {name}"
            if is_ratio(spec.name) and values[reference] == 0:
                return f"the reference group's {name} is 0 (division by zero)"
        else:
            if int(eligible.sum()) < 2:
                return "fewer than 2 groups are large enough (min_group_size)"
            if len(defined) < 2:
                return f"fewer than 2 groups have a defined {name}"
            if is_ratio(spec.name) and np.nanmax(values) == 0:
                return f"every group's {name} is 0 (0 / 0)"
    return "undefined"


def four_fifths(selection: F64, eligible: np.ndarray[Any, Any]) -> tuple[float | None, int | None, list[int]]:
    """(min / max selection rate, the most-favoured group, groups below 0.8 of it) over eligible groups."""
    values = np.where(eligible, selection, np.nan)
    defined = np.flatnonzero(~np.isnan(values))
    if len(defined) < 2:
        return None, None, []
    top = int(defined[np.argmax(values[defined])])
    if values[top] <= 0:
        return None, top, []
    below = [int(g) for g in defined if values[g] / values[top] < 0.8]
    return float(np.nanmin(values) / values[top]), top, below


def calibration(hist: F64, bins: int) -> list[tuple[float, float, float, float | None, float | None]]:
    """Per coarse bin of one group's histogram ``(2, fine)``: (lower, upper, weight, mean predicted, observed).

    The mean predicted score of a bin is the weighted mean of its fine bins' midpoints (within
    ``0.5 / fine`` of the true mean: the histograms keep counts, not score sums); the observed
    rate is the share of actual positives. Empty bins have ``None`` for both.
    """
    fine = hist.shape[-1]
    coarse = np.arange(fine) * bins // fine
    midpoints = (np.arange(fine) + 0.5) / fine
    weight = np.bincount(coarse, weights=hist.sum(axis=0), minlength=bins)
    positives = np.bincount(coarse, weights=hist[1], minlength=bins)
    predicted = np.bincount(coarse, weights=hist.sum(axis=0) * midpoints, minlength=bins)
    out: list[tuple[float, float, float, float | None, float | None]] = []
    for b in range(bins):
        w = float(weight[b])
        out.append(
            (
                b / bins,
                (b + 1) / bins,
                w,
                float(predicted[b] / w) if w > 0 else None,
                float(positives[b] / w) if w > 0 else None,
            )
        )
    return out


def calibration_error(bins: list[tuple[float, float, float, float | None, float | None]]) -> float | None:
    """Expected calibration error over the bins of :func:`calibration`: ``sum_b w_b |observed_b - predicted_b| / W``."""
    total = sum(w for _, _, w, _, _ in bins)
    if total <= 0:
        return None
    return sum(w * abs(o - p) for _, _, w, p, o in bins if p is not None and o is not None) / total
