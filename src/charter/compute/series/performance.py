"""Model performance over time: accuracy, precision, recall, AUC and calibration error per window.

Rows are decisions whose outcome is known: the true label ``y_true``, the decision ``y_pred``,
optionally the ``scores`` behind it, and the decision ``times``. Windows are fixed, aligned to the
epoch (UTC) when ``times`` are given (``window="1h"``: 10:00 to 11:00, ...), or consecutive blocks
of ``window`` rows otherwise. Only windows holding rows are returned. Everything is computed for
all windows at once: counts with ``bincount``, ranks with one sort.

Per window, with P = positive label (TP, FP, FN, TN the confusion counts)::

    accuracy          = (TP + TN) / rows                        scikit-learn accuracy_score
    precision         = TP / (TP + FP)   undefined: no predicted positives    precision_score
    recall            = TP / (TP + FN)   undefined: no actual positives       recall_score
    auc               = (R+ - n+ (n+ + 1) / 2) / (n+ n-)         roc_auc_score
                        R+ = sum of the ranks of the positives' scores (ties get their mean rank):
                        the Mann-Whitney form, equal to the area under the ROC curve, ties counted half
                        undefined: no positives or no negatives
    calibration_error = sum_b (n_b / rows) |mean(y = P)_b - mean(score)_b|
                        over ``calibration_bins`` equal-width bins of [0, 1], binned as scikit-learn's
                        ``calibration_curve`` (a score on an edge goes to the lower bin)
                        undefined: a score outside [0, 1]

Undefined values are NaN in the arrays and ``None`` with the reason in :meth:`records`, never 0
(scikit-learn returns 0 with a warning for an undefined precision or recall).

The positive label is given, or inferred only when the labels are 0/1 or False/True.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import numpy as np

from charter.compute.series._arrays import F64, I64, as_millis, millis_to_datetime, window_millis
from charter.compute.series._stats import as_int64
from charter.errors import InvalidInput

METRICS = ("accuracy", "precision", "recall", "auc", "calibration_error")
UNDEFINED = {
    "precision": "no predicted positives in the window",
    "recall": "no actual positives in the window",
    "auc": "the window has no positives or no negatives",
    "calibration_error": "scores outside [0, 1]",
}


@dataclass(frozen=True)
class PerformanceWindows:
    """One entry per non-empty window, in time (or row) order; NaN marks an undefined value."""

    by: Literal["time", "rows"]
    width: int  # milliseconds, or rows
    start: I64  # window start: milliseconds since the epoch, or the first row's position
    rows: I64
    positives: I64  # actual positives
    predicted_positives: I64
    accuracy: F64
    precision: F64
    recall: F64
    auc: F64 | None  # None: no scores were given
    calibration_error: F64 | None

    def __len__(self) -> int:
        return len(self.start)

    def records(self) -> list[dict[str, Any]]:
        """Each window as a dict: its start (a datetime, or a row position), counts, metrics (None when
        undefined) and ``undefined``: metric -> reason."""
        out: list[dict[str, Any]] = []
        for i in range(len(self)):
            start: Any = millis_to_datetime(int(self.start[i])) if self.by == "time" else int(self.start[i])
            item: dict[str, Any] = {
                "start": start,
                "rows": int(self.rows[i]),
                "positives": int(self.positives[i]),
                "predicted_positives": int(self.predicted_positives[i]),
            }
            undefined: dict[str, str] = {}
            for name in METRICS:
                column: F64 | None = getattr(self, name)
                if column is None:
                    continue
                value = float(column[i])
                item[name] = None if np.isnan(value) else value
                if np.isnan(value):
                    undefined[name] = UNDEFINED[name]
            item["undefined"] = undefined
            out.append(item)
        return out


def _positive_label(y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], given: Any) -> Any:
    if given is not None:
        return given
    labels = set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist())
    if labels <= {0, 1}:  # True == 1 and False == 0, so booleans land here too
        return True if all(isinstance(v, bool | np.bool_) for v in labels) else 1
    shown = ", ".join(repr(v) for v in sorted(labels, key=repr)[:5])
    raise InvalidInput(f"Name the positive label (positive_label=...): the labels are not 0/1 but {shown}.")


def _labels(values: Any, name: str, n: int | None) -> np.ndarray[Any, Any]:
    array = np.asarray(values)
    if array.ndim != 1 or (n is not None and len(array) != n):
        raise InvalidInput(f"{name} must be one-dimensional with one value per row.")
    if array.dtype.kind == "f" and np.isnan(array).any():
        first = int(np.argmax(np.isnan(array)))
        raise InvalidInput(f"{name}[{first}] is missing.", details={"index": first})
    if array.dtype.kind == "O" and any(v is None for v in array):
        first = next(i for i, v in enumerate(array) if v is None)
        raise InvalidInput(f"{name}[{first}] is missing.", details={"index": first})
    return array


def _ratio(numerator: I64, denominator: I64) -> F64:
    out = np.full(len(numerator), np.nan)
    defined = denominator > 0
    out[defined] = numerator[defined] / denominator[defined]
    return out


def _auc(window: I64, positive: np.ndarray[Any, Any], scores: F64, windows: int) -> F64:
    """Per-window Mann-Whitney AUC with mid-ranks for ties: one lexsort, no loop over rows or windows."""
    order = np.lexsort((scores, window))
    w, s, pos = window[order], scores[order], positive[order]
    n = len(w)
    counts = np.bincount(w, minlength=windows)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(n) - starts[w] + 1.0  # 1-based rank inside the window
    # Runs of equal (window, score): every member gets the mean of the run's first and last rank.
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (w[1:] != w[:-1]) | (s[1:] != s[:-1])
    run = np.cumsum(new_run) - 1
    run_first = rank[new_run]
    run_last = np.append(rank[np.flatnonzero(new_run)[1:] - 1], rank[-1]) if n else rank
    mid = ((run_first + run_last) / 2.0)[run]
    rank_sum = np.bincount(w, weights=mid * pos, minlength=windows)
    n_pos = np.bincount(w, weights=pos.astype(np.float64), minlength=windows)
    n_neg = counts - n_pos
    out = np.full(windows, np.nan)
    defined = (n_pos > 0) & (n_neg > 0)
    out[defined] = (rank_sum[defined] - n_pos[defined] * (n_pos[defined] + 1) / 2) / (n_pos[defined] * n_neg[defined])
    return out


def _calibration(window: I64, positive: np.ndarray[Any, Any], scores: F64, windows: int, bins: int) -> F64:
    if ((scores < 0) | (scores > 1)).any():
        return np.full(windows, np.nan)
    edges = np.linspace(0.0, 1.0, bins + 1)
    cell = window * bins + np.searchsorted(edges[1:-1], scores)
    size = windows * bins
    score_sum = np.bincount(cell, weights=scores, minlength=size)
    true_sum = np.bincount(cell, weights=positive.astype(np.float64), minlength=size)
    gaps = np.abs(true_sum - score_sum)  # = n_b * |mean(y)_b - mean(score)_b|
    rows = np.bincount(window, minlength=windows).astype(np.float64)
    total: F64 = gaps.reshape(windows, bins).sum(axis=1) / rows  # an empty bin adds 0
    return total


def performance_windows(
    y_true: Any,
    y_pred: Any,
    *,
    window: timedelta | str | int,
    times: Any = None,
    scores: Any = None,
    positive_label: Any = None,
    calibration_bins: int = 10,
) -> PerformanceWindows:
    """Per-window accuracy, precision, recall, AUC and calibration error (see the module docstring).

    ``window``: with ``times``, a duration (``timedelta``, milliseconds, or ``"15min"``, ``"1h"``,
    ``"1d"``, ``"1w"``); without, a number of consecutive rows.
    """
    truth = _labels(y_true, "y_true", None)
    n = len(truth)
    predicted = _labels(y_pred, "y_pred", n)
    if calibration_bins < 1:
        raise InvalidInput(f"calibration_bins must be at least 1, not {calibration_bins}.")
    if n == 0:
        raise InvalidInput("No rows: performance needs at least one decision with its outcome.")
    label = _positive_label(truth, predicted, positive_label)
    actual = truth == label
    said = predicted == label
    if times is None:
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise InvalidInput("Without times, window is a number of rows (at least 1).")
        by: Literal["time", "rows"] = "rows"
        width = window
        bucket = np.arange(n, dtype=np.int64) // width
    else:
        by, width = "time", window_millis(window)
        bucket = as_millis(times, n) // width
    keys, inverse = np.unique(bucket, return_inverse=True)
    group: I64 = inverse.astype(np.int64)
    k = len(keys)

    def count(mask: np.ndarray[Any, Any] | None = None) -> I64:
        return as_int64(np.bincount(group if mask is None else group[mask], minlength=k))

    rows, tp, tn = count(), count(actual & said), count(~actual & ~said)
    positives, predicted_positives = count(actual), count(said)
    auc = calibration = None
    if scores is not None:
        score = np.asarray(scores, dtype=np.float64)
        if score.shape != (n,):
            raise InvalidInput("scores must be one-dimensional with one value per row.")
        if not np.isfinite(score).all():
            first = int(np.argmax(~np.isfinite(score)))
            raise InvalidInput(f"scores[{first}] is not a finite number.", details={"index": first})
        auc = _auc(group, actual, score, k)
        calibration = _calibration(group, actual, score, k, calibration_bins)
    start: I64 = keys.astype(np.int64) * width
    return PerformanceWindows(
        by=by,
        width=width,
        start=start,
        rows=rows,
        positives=positives,
        predicted_positives=predicted_positives,
        accuracy=(tp + tn) / rows,
        precision=_ratio(tp, predicted_positives),
        recall=_ratio(tp, positives),
        auc=auc,
        calibration_error=calibration,
    )
