"""Metric inputs and outputs: ``MetricBatch`` in, ``IngestResult`` / ``SeriesResponse`` / ``MetricsReport`` out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_BATCH = 10_000
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$"
NAME_HELP = "metric name: letters, digits, '_', '.', '-', '/'; at most 200 characters (e.g. accuracy, latency.p99)"
LABEL_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"

Resolution = Literal["raw", "1m", "1h", "1d"]
Op = Literal["<", "<=", ">", ">="]
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NAME_PATTERN)]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=LABEL_PATTERN)]
LabelValue = Annotated[str, StringConstraints(max_length=200)]
Segment = dict[LabelKey, LabelValue]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricPointIn(_Input):
    name: MetricName = Field(description=NAME_HELP)
    value: float = Field(allow_inf_nan=False, description="a finite number (NaN and infinities are refused)")
    # A plain datetime: the service reads one without a zone as UTC (a validator per point costs too much).
    time: datetime | None = Field(default=None, description="when it was measured (UTC if no zone; default: batch's)")
    version: str | None = Field(default=None, max_length=64, description="the version measured (default: batch's)")
    segment: Segment | None = Field(
        default=None,
        max_length=20,
        description='labels of the slice measured, e.g. {"region": "eu"}, added to the batch labels',
    )


class MetricBatch(_Input):
    points: list[MetricPointIn] = Field(min_length=1, max_length=MAX_BATCH)
    time: datetime | None = Field(default=None, description="time of points that give none (default: now)")
    version: str | None = Field(default=None, max_length=64, description="version of points that name none")
    segment: Segment | None = Field(default=None, max_length=20, description="labels every point carries")


class IngestResult(BaseModel):
    model: str
    received: int
    stored: int
    duplicates: int = Field(description="points already stored with the same value at the same time (skipped)")
    series: int = Field(description="distinct series in the batch")
    new_series: int = Field(description="series this batch created")


class SeriesRef(BaseModel):
    name: str
    version: str | None = Field(description="null: not tied to a version")
    segment: dict[str, str]


class SeriesData(SeriesRef):
    """Columns of equal length; at a bucketed resolution ``value`` is the bucket's mean."""

    time: list[datetime] = Field(description="the point's time, or the bucket's start")
    value: list[float]
    min: list[float] | None = Field(default=None, description="per bucket (null at raw resolution)")
    max: list[float] | None = None
    count: list[int] | None = None


class SeriesResponse(BaseModel):
    model: str
    resolution: Resolution
    since: datetime | None
    until: datetime | None
    series: list[SeriesData]


class ThresholdIn(_Input):
    name: MetricName
    op: Op
    value: float = Field(allow_inf_nan=False)


class ThresholdSet(_Input):
    thresholds: list[ThresholdIn] = Field(max_length=200, description="replaces every stored threshold of the model")


class ThresholdRead(BaseModel):
    name: str
    op: Op
    value: float
    source: Literal["stored", "query"]


class TrendRead(BaseModel):
    n: int
    slope_per_day: float | None
    low: float | None
    high: float | None
    confidence: float
    p_value: float | None
    direction: Literal["increasing", "decreasing", "flat"] | None
    reason: str | None = None


class SeasonRead(BaseModel):
    period: Literal["daily", "weekly"]
    strength: float


class ChangePointRead(BaseModel):
    time: datetime
    before_mean: float
    after_mean: float
    shift: float


class AnomalyRead(BaseModel):
    time: datetime
    value: float
    method: Literal["mad", "ewma"]
    score: float
    expected_low: float
    expected_high: float
    reason: str


class BreachRead(BaseModel):
    start: datetime
    end: datetime
    points: int = Field(description="points (or buckets) in breach")
    worst: float


class ThresholdBreaches(BaseModel):
    threshold: str
    breached: bool
    points: int
    episodes: list[BreachRead] = Field(description="runs of consecutive breaching points, latest last (at most 50)")


class Summary(BaseModel):
    mean: float
    min: float
    max: float
    last: float


class SeriesReport(SeriesRef):
    resolution: Resolution
    points: int = Field(description="points (or buckets) analysed")
    first: datetime | None
    last: datetime | None
    summary: Summary | None
    trend: TrendRead
    season: SeasonRead | None
    change_points: list[ChangePointRead]
    anomaly_count: int
    anomalies: list[AnomalyRead] = Field(description="the strongest anomalies, in time order (at most 50)")
    breaches: list[ThresholdBreaches]
    notes: list[str] = Field(default_factory=list)


class MetricsReport(BaseModel):
    model: str
    since: datetime | None
    until: datetime | None
    generated_at: datetime
    method: Literal["mad", "ewma"]
    thresholds: list[ThresholdRead]
    series: list[SeriesReport]
