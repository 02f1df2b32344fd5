"""Monitoring inputs and outputs. A monitor's ``config`` is typed by its ``kind`` (a discriminated union)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from charter.incidents.lifecycle import Severity

Kind = Literal["metric_threshold", "drift", "fairness", "data_quality"]
Op = Literal["<", "<=", ">", ">="]
Window = Annotated[int, Field(ge=60, le=366 * 86_400, description="seconds of data each run looks at")]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MetricThresholdConfig(_Input):
    """Alert when the metric's aggregate over the window breaks ``op value`` (e.g. accuracy >= 0.8)."""

    metric: str = Field(min_length=1, max_length=100)
    op: Op
    value: float = Field(allow_inf_nan=False)
    window: Window = 3600
    aggregate: Literal["mean", "last", "min", "max"] = "mean"
    segment: dict[str, str] | None = Field(default=None, description="labels the series must carry (null: any)")
    per_version: bool = Field(default=False, description="only points tied to the watched version")


class DriftConfig(_Input):
    """Alert when the inputs of the decisions logged in the window drift from a reference profile."""

    reference_profile: dict[str, Any] = Field(
        description="the reference data's profile (`charter.compute.drift.profile(...).to_dict()`; "
        "`charter monitor add --reference FILE` makes it)"
    )
    window: Window = 86_400
    columns: list[str] | None = Field(default=None, max_length=500)
    drift_share: float = Field(default=0.5, gt=0, le=1, description="share of drifted columns that is drift")
    thresholds: dict[str, float] | None = None
    min_rows: int = Field(default=100, ge=1)
    max_rows: int = Field(default=200_000, ge=1, le=5_000_000)


class FairnessConfig(_Input):
    """Alert when a fairness threshold fails over the decisions (with outcomes) logged in the window."""

    sensitive_features: list[str] = Field(min_length=1, max_length=5)
    positive_output: Any
    positive_outcome: Any = None
    window: Window = 30 * 86_400
    thresholds: dict[str, tuple[Op, float]] | None = Field(
        default=None, description="default: the server's CHARTER_FAIRNESS_THRESHOLDS"
    )
    min_group_size: int | None = Field(default=None, ge=1)


class DataQualityConfig(_Input):
    """Alert on missing values and on inputs of the wrong type, over the decisions logged in the window."""

    window: Window = 3600
    max_null_rate: float | None = Field(default=None, ge=0, le=1, description="for every column")
    null_rates: dict[str, float] = Field(default_factory=dict, description="column -> most missing share")
    schema_: dict[str, Literal["number", "integer", "string", "boolean"]] = Field(
        default_factory=dict, alias="schema", description="column -> expected JSON type"
    )
    strict: bool = Field(default=False, description="columns outside `schema` are a problem")
    max_rows: int = Field(default=100_000, ge=1, le=5_000_000)


_CONFIGS: dict[str, type[_Input]] = {
    "metric_threshold": MetricThresholdConfig,
    "drift": DriftConfig,
    "fairness": FairnessConfig,
    "data_quality": DataQualityConfig,
}


def config_model(kind: str) -> type[_Input]:
    return _CONFIGS[kind]


class _MonitorBase(_Input):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: str | None = Field(default=None, max_length=64, description="default: the version in production")
    interval: int | None = Field(
        default=3600, ge=60, le=30 * 86_400, description="seconds between runs; null: on ingestion and on demand only"
    )
    on_ingest: bool = Field(default=False, description="also run when decisions or metric points arrive")
    severity: Severity = "SEV3"
    open_incident: bool = Field(default=True, description="a new alert opens (or joins) an incident")
    enabled: bool = True


class MetricMonitorCreate(_MonitorBase):
    kind: Literal["metric_threshold"]
    config: MetricThresholdConfig


class DriftMonitorCreate(_MonitorBase):
    kind: Literal["drift"]
    config: DriftConfig


class FairnessMonitorCreate(_MonitorBase):
    kind: Literal["fairness"]
    config: FairnessConfig


class DataQualityMonitorCreate(_MonitorBase):
    kind: Literal["data_quality"]
    config: DataQualityConfig


MonitorCreate = Annotated[
    MetricMonitorCreate | DriftMonitorCreate | FairnessMonitorCreate | DataQualityMonitorCreate,
    Field(discriminator="kind"),
]


class MonitorUpdate(_Input):
    interval: int | None = Field(default=None, ge=60, le=30 * 86_400)
    severity: Severity | None = None
    enabled: bool | None = None
    open_incident: bool | None = None
    on_ingest: bool | None = None


class MonitorRead(BaseModel):
    id: int
    model: str
    version: str | None
    name: str
    kind: Kind
    config: dict[str, Any]
    interval: int | None
    on_ingest: bool
    severity: str
    open_incident: bool
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    last_value: float | None
    created_at: datetime
    created_by: str


class RunRead(BaseModel):
    id: int
    monitor_id: int
    started_at: datetime
    finished_at: datetime
    trigger: str
    worker: str
    status: Literal["ok", "breach", "error"]
    value: float | None
    message: str
    details: dict[str, Any]
    alert_id: int | None = None


class AlertRead(BaseModel):
    id: int
    source: Literal["monitor", "incident_clock"]
    monitor_id: int | None
    monitor: str | None
    model: str | None
    status: Literal["firing", "resolved"]
    severity: str
    title: str
    message: str
    value: float | None
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    incident_id: int | None


class ChannelCreate(_Input):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Literal["webhook", "slack", "email"]
    target: str = Field(min_length=3, max_length=500, description="the webhook URL, or an e-mail address")
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="webhooks: the HMAC-SHA256 signing secret"
    )
    min_severity: Severity = Field(default="SEV4", description="alerts at least this severe are sent")
    enabled: bool = True


class ChannelRead(BaseModel):
    id: int
    name: str
    kind: str
    target: str
    signed: bool
    min_severity: str
    enabled: bool
    created_at: datetime


class DeliveryRead(BaseModel):
    id: int
    alert_id: int
    channel: str
    event: str
    status: Literal["pending", "sent", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
