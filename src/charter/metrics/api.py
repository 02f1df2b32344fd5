"""REST routes for metric series: ingest batches, read series (downsampled), report, thresholds.

Each route parses, calls one service function and shapes the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from charter.metrics import service
from charter.metrics.schemas import (
    IngestResult,
    MetricBatch,
    MetricsReport,
    Resolution,
    SeriesResponse,
    ThresholdRead,
    ThresholdSet,
)
from charter.security.permissions import Permission
from charter.server.bulk import BulkRoute
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1", tags=["metrics"])
P = Permission
ModelRef = Annotated[str, "model id or name"]
Metrics = "/models/{model}/metrics"

Name = Annotated[str | None, Query(max_length=200, description="one metric name (default: every metric)")]
Version = Annotated[str | None, Query(max_length=64, description="one model version (default: every version)")]
Since = Annotated[datetime | None, Query(description="from this time on (ISO 8601; UTC if no zone)")]
Until = Annotated[datetime | None, Query(description="before this time (ISO 8601; UTC if no zone)")]
Segments = Annotated[
    list[str],
    Query(
        max_length=20,
        description="LABEL:VALUE a series must carry (repeatable, e.g. region:eu); an empty value selects "
        "series without labels",
    ),
]
ResolutionQuery = Annotated[
    Resolution | None,
    Query(description="raw, 1m, 1h or 1d (default: the finest that keeps the answer to a few thousand points)"),
]


def _query(
    name: str | None,
    version: str | None,
    since: datetime | None,
    until: datetime | None,
    segment: list[str],
    resolution: Resolution | None,
) -> service.SeriesQuery:
    return service.SeriesQuery(
        name=name,
        version=version,
        segment=service.parse_segment(segment),
        since=since,
        until=until,
        resolution=resolution,
    )


def ingest(model: ModelRef, data: MetricBatch, ctx: Context = Needs(P.MONITOR_WRITE)) -> IngestResult:
    """Up to 10,000 points per request; each names its metric and value, and optionally its time,
    version and segment labels (defaults for all of them may be given once for the batch).

    A point re-sent exactly as stored is skipped (`duplicates`); a different value at a stored time
    is refused with 409 and nothing of the batch is stored.
    """
    return service.ingest(ctx.session, ctx.principal, model, data)


# A bulk route: the batch is parsed and validated with the garbage collector paused (charter.gcpause).
router.add_api_route(
    Metrics,
    ingest,
    methods=["POST"],
    response_model=IngestResult,
    summary="Record a batch of metric points",
    route_class_override=BulkRoute,
)


@router.get(Metrics, response_model=SeriesResponse, summary="Read metric series, downsampled for long ranges")
def read_series(
    model: ModelRef,
    name: Name = None,
    version: Version = None,
    since: Since = None,
    until: Until = None,
    segment: Segments = [],  # noqa: B006 (FastAPI copies the default)
    resolution: ResolutionQuery = None,
    ctx: Context = Needs(P.MONITOR_READ),
) -> SeriesResponse:
    """Each matching series as columns: the raw points, or per bucket (minute, hour, day; UTC) the
    mean as `value` with `min`, `max` and `count`."""
    query = _query(name, version, since, until, segment, resolution)
    return service.read_series(ctx.session, ctx.principal, model, query)


@router.get(Metrics + "/report", response_model=MetricsReport, summary="Trend, change points, anomalies, breaches")
def report(
    model: ModelRef,
    name: Name = None,
    version: Version = None,
    since: Since = None,
    until: Until = None,
    segment: Segments = [],  # noqa: B006
    resolution: ResolutionQuery = None,
    threshold: Annotated[
        list[str],
        Query(max_length=50, description="NAME:OP:VALUE the metric must satisfy, e.g. accuracy:>=:0.9 (repeatable)"),
    ] = [],  # noqa: B006
    method: Annotated[
        Literal["mad", "ewma"], Query(description="anomalies by rolling robust z-score (mad) or EWMA control chart")
    ] = "mad",
    ctx: Context = Needs(P.MONITOR_READ),
) -> MetricsReport:
    """Per series: summary, OLS trend per day with its 95% interval, daily or weekly cycle, mean
    shifts, anomalies (each with its reason and expected range) and breaches of the model's stored
    thresholds and of those given here."""
    query = _query(name, version, since, until, segment, resolution)
    judged = [service.parse_threshold(t) for t in threshold]
    return service.report(ctx.session, ctx.principal, model, query, thresholds=judged, method=method)


@router.get(Metrics + "/thresholds", response_model=list[ThresholdRead], summary="The model's stored thresholds")
def list_thresholds(model: ModelRef, ctx: Context = Needs(P.MONITOR_READ)) -> list[ThresholdRead]:
    return service.list_thresholds(ctx.session, ctx.principal, model)


@router.put(Metrics + "/thresholds", response_model=list[ThresholdRead], summary="Replace the stored thresholds")
def set_thresholds(model: ModelRef, data: ThresholdSet, ctx: Context = Needs(P.MONITOR_WRITE)) -> list[ThresholdRead]:
    """Bounds each report judges, e.g. `{"name": "accuracy", "op": ">=", "value": 0.9}`; the list
    replaces the stored one (empty: none)."""
    return service.set_thresholds(ctx.session, ctx.principal, model, data)
