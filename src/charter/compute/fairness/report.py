"""The result of a fairness assessment: a frozen tree of dataclasses, JSON-ready with ``to_dict()``.

Undefined numbers are ``None`` (``null`` in JSON) and always come with a reason. Group labels are
tuples (one value per sensitive feature, ``None`` for a missing value); in JSON a group is an
object ``{feature: value}`` plus a display ``label`` in which a missing value reads "(missing)".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from charter.compute.fairness.stats import GroupLabel, GroupStats

Mode = Literal["all_groups", "reference"]
MISSING_LABEL = "(missing)"
# The aggregates a summary shows (cards, lists, policies).
HEADLINE = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "average_odds_difference",
)


def group_text(label: GroupLabel) -> str:
    """A group for people: its values joined with ", " ("(missing)" for a missing value)."""
    return ", ".join(MISSING_LABEL if value is None else str(value) for value in label)


def json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _group_json(features: tuple[str, ...], label: GroupLabel) -> dict[str, Any]:
    return {feature: json_value(value) for feature, value in zip(features, label, strict=True)}


@dataclass(frozen=True)
class Comparison:
    """One group's rate against the reference group's: ``difference = m(g) - m(ref)``, ``ratio = m(g) / m(ref)``."""

    difference: float | None
    ratio: float | None
    reason: str | None = None  # why either is undefined


@dataclass(frozen=True)
class CalibrationBin:
    lower: float
    upper: float
    weight: float
    mean_predicted: float | None  # None: no rows in the bin
    observed: float | None


@dataclass(frozen=True)
class GroupMetrics:
    """Every rate of one group; ``undefined`` maps a metric whose value is ``None`` to the reason."""

    group: GroupLabel
    count: int
    weight: float
    too_small: bool
    values: Mapping[str, float | None]
    undefined: Mapping[str, str]
    vs_reference: Mapping[str, Comparison] | None = None
    calibration: tuple[CalibrationBin, ...] | None = None

    @property
    def label(self) -> str:
        return group_text(self.group)

    def __getitem__(self, metric: str) -> float | None:
        return self.values[metric]

    def to_dict(self, features: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "group": _group_json(features, self.group),
            "label": self.label,
            "count": self.count,
            "weight": self.weight,
            "too_small": self.too_small,
        }
        out.update({name: json_value(value) for name, value in self.values.items()})
        out["undefined"] = dict(self.undefined)
        if self.vs_reference is not None:
            out["vs_reference"] = {
                name: {"difference": json_value(c.difference), "ratio": json_value(c.ratio), "reason": c.reason}
                for name, c in self.vs_reference.items()
            }
        if self.calibration is not None:
            out["calibration"] = [
                {
                    "bin": [b.lower, b.upper],
                    "weight": b.weight,
                    "mean_predicted": json_value(b.mean_predicted),
                    "observed": json_value(b.observed),
                }
                for b in self.calibration
            ]
        return out


@dataclass(frozen=True)
class Interval:
    """A bootstrap percentile interval; ``defined`` of the ``resamples`` gave a value."""

    low: float | None
    high: float | None
    confidence: float
    resamples: int
    defined: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "low": json_value(self.low),
            "high": json_value(self.high),
            "confidence": self.confidence,
            "resamples": self.resamples,
            "defined": self.defined,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ThresholdCheck:
    """``measured op bound``, where ``measured`` is ``|value|`` for a difference and ``min(r, 1/r)`` for a ratio.

    ``passed`` is ``None`` when the metric is undefined (the check cannot be made).
    """

    metric: str
    op: str
    bound: float
    value: float | None
    measured: float | None
    passed: bool | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "op": self.op,
            "bound": self.bound,
            "value": json_value(self.value),
            "measured": json_value(self.measured),
            "passed": self.passed,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Aggregate:
    """One aggregate metric; ``value = m(a) - m(b)`` or ``m(a) / m(b)`` for ``compared = (a, b)`` when set."""

    name: str
    value: float | None
    reason: str | None
    compared: tuple[GroupLabel, GroupLabel] | None
    groups: tuple[GroupLabel, ...]  # the groups it was computed over
    skipped: tuple[tuple[GroupLabel, str], ...]  # large-enough groups left out, with the reason
    interval: Interval | None = None
    threshold: ThresholdCheck | None = None

    def to_dict(self, features: tuple[str, ...]) -> dict[str, Any]:
        return {
            "value": json_value(self.value),
            "reason": self.reason,
            "compared": None if self.compared is None else [_group_json(features, g) for g in self.compared],
            "groups": [group_text(g) for g in self.groups],
            "skipped": [{"group": _group_json(features, g), "reason": r} for g, r in self.skipped],
            "interval": None if self.interval is None else self.interval.to_dict(),
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
        }


@dataclass(frozen=True)
class FourFifths:
    """The four-fifths rule (29 CFR 1607.4(D)): every group's selection rate >= 0.8 x the most-favoured group's."""

    ratio: float | None  # min / max selection rate over large-enough groups
    passed: bool | None
    most_favoured: GroupLabel | None
    below: tuple[GroupLabel, ...]
    reason: str | None = None

    def to_dict(self, features: tuple[str, ...]) -> dict[str, Any]:
        return {
            "ratio": json_value(self.ratio),
            "passed": self.passed,
            "threshold": 0.8,
            "most_favoured": None if self.most_favoured is None else _group_json(features, self.most_favoured),
            "below": [_group_json(features, g) for g in self.below],
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FairnessResult:
    """Everything an assessment found, with the statistics it was derived from."""

    mode: Mode
    reference_group: GroupLabel | None
    features: tuple[str, ...]
    groups: tuple[GroupMetrics, ...]
    aggregates: Mapping[str, Aggregate]
    four_fifths: FourFifths
    too_small: tuple[GroupLabel, ...]
    min_group_size: int
    thresholds: tuple[ThresholdCheck, ...]
    passed: bool | None  # every threshold passed; None without thresholds or when one is undefined
    confidence: float
    n_resamples: int
    seed: int | None
    statistics: GroupStats
    engine: str | None
    version: str
    fingerprint: str | None = None

    def __getitem__(self, name: str) -> float | None:
        """The value of an aggregate metric: ``result["demographic_parity_ratio"]``."""
        return self.aggregates[name].value

    def group(self, label: GroupLabel | Any) -> GroupMetrics:
        key = label if isinstance(label, tuple) else (label,)
        for metrics in self.groups:
            if metrics.group == key:
                return metrics
        raise KeyError(label)

    def summary(self) -> dict[str, Any]:
        return summary_of(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        features = self.features
        return {
            "mode": self.mode,
            "reference_group": None if self.reference_group is None else _group_json(features, self.reference_group),
            "features": list(features),
            "min_group_size": self.min_group_size,
            "by_group": [g.to_dict(features) for g in self.groups],
            "aggregates": {name: a.to_dict(features) for name, a in self.aggregates.items()},
            "four_fifths": self.four_fifths.to_dict(features),
            "too_small": [
                {"group": _group_json(features, g.group), "count": g.count} for g in self.groups if g.too_small
            ],
            "thresholds": {"passed": self.passed, "checks": [t.to_dict() for t in self.thresholds]},
            "bootstrap": {
                "n_resamples": self.n_resamples,
                "confidence": self.confidence,
                "seed": self.seed,
                "method": "percentile; per-group multinomial resampling of the confusion cells, DeLong normal "
                "draws for the AUC; in reference mode the reported comparison's group is held fixed",
            },
            "statistics": self.statistics.to_dict(),
            "engine": self.engine,
            "version": self.version,
            "fingerprint": self.fingerprint,
        }


def summary_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """The headline of a result's JSON form (``FairnessResult.to_dict()``): verdict, groups, key numbers."""
    checks = body["thresholds"]["checks"]
    return {
        "passed": body["thresholds"]["passed"],
        "failed": [c["metric"] for c in checks if c["passed"] is False],
        "undecided": [c["metric"] for c in checks if c["passed"] is None],
        "mode": body["mode"],
        "features": list(body["features"]),
        "reference_group": body["reference_group"],
        "groups": len(body["by_group"]),
        "too_small": len(body["too_small"]),
        "four_fifths": {"ratio": body["four_fifths"]["ratio"], "passed": body["four_fifths"]["passed"]},
        "metrics": {name: body["aggregates"][name]["value"] for name in HEADLINE if name in body["aggregates"]},
    }
