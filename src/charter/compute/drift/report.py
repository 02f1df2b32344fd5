"""The result of a drift comparison: a frozen tree of dataclasses, JSON-ready with ``to_dict()``.

Undefined numbers are ``None`` (``null`` in JSON) and come with a reason in ``undefined``. Each
column's statistics are flat, by name (``psi``, ``ks_statistic``, ``ks_pvalue``, ...), next to
its ``kind``, the statistic that decided (``stattest``), the bound (``threshold``) and ``drifted``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from charter.compute.drift.profile import Kind

Role = Literal["feature", "prediction", "target"]
Verdict = Literal["drift", "no_drift", "undecided"]

NUMERIC_STATISTICS = ("psi", "ks_statistic", "ks_pvalue", "wasserstein_distance", "wasserstein_distance_norm",
                      "jensenshannon_distance")  # fmt: skip
CATEGORICAL_STATISTICS = ("psi", "chi2_statistic", "chi2_pvalue", "jensenshannon_distance")
# Statistics whose small values mean drift (p-values); for every other one, large values do.
PVALUES = frozenset({"ks_pvalue", "chi2_pvalue"})


def json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Summary:
    """One side of one column: rows, finite (non-missing) values, and a few descriptive numbers."""

    rows: int
    count: int
    missing: int
    infinite: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    categories: int | None = None  # distinct non-missing values (categorical columns)

    @property
    def missing_share(self) -> float | None:
        return None if self.rows == 0 else (self.missing + self.infinite) / self.rows

    def to_dict(self, kind: Kind) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows,
            "count": self.count,
            "missing": self.missing,
            "missing_share": json_value(self.missing_share),
        }
        if kind == "numeric":
            out.update(
                infinite=self.infinite,
                min=json_value(self.minimum),
                max=json_value(self.maximum),
                mean=json_value(self.mean),
                std=json_value(self.std),
            )
        else:
            out["categories"] = self.categories
        return out


@dataclass(frozen=True)
class ColumnDrift:
    """The drift of one column. ``statistics`` maps each statistic's name to its value (None: undefined)."""

    name: str
    kind: Kind
    role: Role
    reference: Summary
    current: Summary
    statistics: Mapping[str, float | None]
    undefined: Mapping[str, str]
    stattest: str
    threshold: float
    drifted: bool | None
    reason: str | None = None  # why ``drifted`` is None
    details: Mapping[str, Any] = field(default_factory=dict)  # ks_method, ks_error_bound, chi2_dof, ...
    new_categories: tuple[Any, ...] = ()
    missing_categories: tuple[Any, ...] = ()

    def __getitem__(self, statistic: str) -> float | None:
        return self.statistics[statistic]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "role": self.role}
        out.update({name: json_value(value) for name, value in self.statistics.items()})
        out.update({name: json_value(value) for name, value in self.details.items()})
        out.update(
            stattest=self.stattest,
            threshold=self.threshold,
            drifted=self.drifted,
            reason=self.reason,
            undefined=dict(self.undefined),
            reference=self.reference.to_dict(self.kind),
            current=self.current.to_dict(self.kind),
        )
        if self.kind == "categorical":
            out["new_categories"] = list(self.new_categories)
            out["missing_categories"] = list(self.missing_categories)
        return out


@dataclass(frozen=True)
class DriftReport:
    """Drift of every compared column, and the dataset-level verdict over the feature columns.

    ``drift_share`` = drifted feature columns / feature columns whose drift is decided;
    ``dataset_drift`` = ``drift_share >= share_threshold`` (None when no column is decided).
    Prediction and target columns are reported apart and left out of the share.
    """

    columns: Mapping[str, ColumnDrift]
    prediction: ColumnDrift | None
    target: ColumnDrift | None
    reference_rows: int
    current_rows: int
    drift_share: float | None
    drifted_columns: tuple[str, ...]
    undecided_columns: tuple[str, ...]
    share_threshold: float
    dataset_drift: bool | None
    thresholds: Mapping[str, float]
    psi_bins: int
    psi_epsilon: float
    skipped: Mapping[str, str] = field(default_factory=dict)
    engine: str = "numpy"

    def __getitem__(self, name: str) -> ColumnDrift:
        for column in (self.prediction, self.target):
            if column is not None and column.name == name:
                return column
        return self.columns[name]

    @property
    def verdict(self) -> Verdict:
        if self.dataset_drift is None:
            return "undecided"
        return "drift" if self.dataset_drift else "no_drift"

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
            "prediction": None if self.prediction is None else {"column": self.prediction.name,
                                                                **self.prediction.to_dict()},
            "target": None if self.target is None else {"column": self.target.name, **self.target.to_dict()},
            "number_of_columns": len(self.columns),
            "drifted_columns": list(self.drifted_columns),
            "undecided_columns": list(self.undecided_columns),
            "drift_share": json_value(self.drift_share),
            "share_threshold": self.share_threshold,
            "dataset_drift": self.dataset_drift,
            "verdict": self.verdict,
            "thresholds": dict(self.thresholds),
            "psi_bins": self.psi_bins,
            "psi_epsilon": self.psi_epsilon,
            "skipped": dict(self.skipped),
        }  # fmt: skip
