"""Metric series over ``/api/v1/models/{model}/metrics``: record points, read series, reports, thresholds.

``track_metrics`` (the framework's name) takes a ``{name: value}`` mapping measured now, or a list
of points (dicts with ``name``, ``value`` and optionally ``time``, ``version``, ``segment``), sent
in batches of up to 10,000. Values may be NumPy scalars; NaN and infinities are refused here,
naming the point, before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from charter.client._http import parse
from charter.client.base import ClientBase, Moment, iso, plain, query, segment
from charter.errors import InvalidInput
from charter.metrics.schemas import (
    MAX_BATCH,
    IngestResult,
    MetricsReport,
    Resolution,
    SeriesResponse,
    ThresholdRead,
)


def _path(model: str | int) -> str:
    return f"/api/v1/models/{segment(model)}/metrics"


def _segments(labels: Mapping[str, str] | None) -> list[str] | None:
    return None if labels is None else ([f"{k}:{v}" for k, v in labels.items()] or [""])


def _finite(points: list[dict[str, Any]], offset: int) -> None:
    for i, item in enumerate(points):
        value: Any = item.get("value")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"Point {offset + i} ({item.get('name')!r}) has a value that is not a number.") from None
        if not math.isfinite(number):
            raise InvalidInput(
                f"Point {offset + i} ({item.get('name')!r}) has the value {number}; only finite numbers are recorded.",
                details={"index": offset + i},
            )


class MetricsAPI(ClientBase):
    def track_metrics(
        self,
        model: str | int,
        points: Mapping[str, float] | Iterable[Mapping[str, Any]],
        *,
        version: str | None = None,
        at: Moment | None = None,
        segment: Mapping[str, str] | None = None,
        batch_size: int = MAX_BATCH,
    ) -> IngestResult:
        """Record metric points for a model (``monitor:write``); the counts of all batches are summed.

        ``points``: ``{"accuracy": 0.93, "latency_ms": 41}`` (measured ``at``, default now), or a list
        of ``{"name", "value", "time"?, "version"?, "segment"?}``. ``version``, ``at`` and
        ``segment`` apply to every point that does not say otherwise (segment labels add up).
        Batches are stored one by one; sending everything again is safe: points stored exactly as
        sent are skipped as duplicates.
        """
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if isinstance(points, Mapping):
            items: Iterable[Mapping[str, Any]] = [{"name": k, "value": v} for k, v in points.items()]
        else:
            items = points
        defaults = query(version=version, time=iso(at), segment=dict(segment) if segment else None)
        total = IngestResult(model=str(model), received=0, stored=0, duplicates=0, series=0, new_series=0)
        batch: list[dict[str, Any]] = []
        sent = 0

        def send() -> None:
            nonlocal sent
            _finite(batch, sent)
            result = self._post(IngestResult, _path(model), {"points": plain(batch), **plain(defaults)})
            total.model = result.model
            total.received += result.received
            total.stored += result.stored
            total.duplicates += result.duplicates
            total.series = max(total.series, result.series)
            total.new_series += result.new_series
            sent += len(batch)
            batch.clear()

        for item in items:
            batch.append(dict(item))
            if len(batch) == batch_size:
                send()
        if batch:
            send()
        return total

    def metric_series(
        self,
        model: str | int,
        name: str | None = None,
        *,
        version: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        segment: Mapping[str, str] | None = None,
        resolution: Resolution | None = None,
    ) -> SeriesResponse:
        """The model's series (one ``name``, or all), raw or downsampled; ``segment={}`` selects series
        without labels. Without ``resolution`` the server keeps the answer to a few thousand points."""
        params = query(
            name=name,
            version=version,
            since=iso(since),
            until=iso(until),
            segment=_segments(segment),
            resolution=resolution,
        )
        return self._get(SeriesResponse, _path(model), params)

    def metrics_report(
        self,
        model: str | int,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        name: str | None = None,
        version: str | None = None,
        segment: Mapping[str, str] | None = None,
        thresholds: Sequence[tuple[str, str, float]] | Mapping[str, tuple[str, float]] | None = None,
        method: Literal["mad", "ewma"] = "mad",
        resolution: Resolution | None = None,
    ) -> MetricsReport:
        """Trend, cycle, change points, anomalies and threshold breaches of each series.

        ``thresholds``: ``[("accuracy", ">=", 0.9)]`` or ``{"accuracy": (">=", 0.9)}``, judged with the
        model's stored ones.
        """
        listed: list[tuple[str, str, float]] = []
        if isinstance(thresholds, Mapping):
            listed = [(k, op, bound) for k, (op, bound) in thresholds.items()]
        elif thresholds is not None:
            listed = list(thresholds)
        params = query(
            since=iso(since),
            until=iso(until),
            name=name,
            version=version,
            segment=_segments(segment),
            threshold=[f"{n}:{op}:{bound!r}" for n, op, bound in listed] or None,
            method=method,
            resolution=resolution,
        )
        return self._get(MetricsReport, _path(model) + "/report", params)

    def metric_thresholds(self, model: str | int) -> list[ThresholdRead]:
        return self._get(list[ThresholdRead], _path(model) + "/thresholds")

    def set_metric_thresholds(
        self, model: str | int, thresholds: Sequence[tuple[str, str, float]]
    ) -> list[ThresholdRead]:
        """Replace the model's stored thresholds, e.g. ``[("accuracy", ">=", 0.9)]`` (empty: none)."""
        body = {"thresholds": [{"name": n, "op": op, "value": v} for n, op, v in thresholds]}
        data = self._transport.json("PUT", _path(model) + "/thresholds", json=plain(body))
        return parse(list[ThresholdRead], data, where=f"PUT {_path(model)}/thresholds")
