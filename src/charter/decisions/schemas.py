"""Decision-log inputs and outputs (``DecisionIn`` / ``DecisionBatch`` / ``DecisionRead`` ...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_BATCH = 10_000
DECISION_ID_PATTERN = r"^[^/\s]+$"
DECISION_ID_HELP = "the client's id for the decision, unique per model: no '/' or spaces, at most 200 characters"

Treatment = Literal["pseudonymised", "encrypted"]
Scalar = str | int | float | bool | None


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC, as everywhere in Charter."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UTCTime = Annotated[datetime, AfterValidator(_utc)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Explanation(_Input):
    """Why the model decided as it did: a sentence for the person concerned, and/or per-feature attributions."""

    text: str | None = Field(default=None, max_length=10_000)
    attributions: dict[str, float] | None = Field(
        default=None, max_length=2_000, description="feature -> contribution (e.g. SHAP values)"
    )


class DecisionIn(_Input):
    decision_id: str = Field(min_length=1, max_length=200, pattern=DECISION_ID_PATTERN, description=DECISION_ID_HELP)
    version: str = Field(max_length=64, description="the model version that decided")
    # A plain datetime: the service reads one without a zone as UTC (a validator per item costs too much here).
    decided_at: datetime | None = Field(
        default=None, description="when it decided (UTC if no zone; default: when it is logged)"
    )
    inputs: dict[str, Any] = Field(default_factory=dict, max_length=2_000, description="what the model saw")
    output: Any = Field(description="what it decided (any JSON value)")
    score: float | None = Field(default=None, allow_inf_nan=False)
    explanation: Explanation | None = None
    subject: str | None = Field(
        default=None, min_length=1, max_length=500, description="data-subject reference; stored only as a pseudonym"
    )
    sensitive_attributes: dict[str, Scalar] | None = Field(
        default=None,
        max_length=100,
        description="protected characteristics for fairness (e.g. sex, age band); kept apart, "
        "readable only with `fairness:read`",
    )


class DecisionBatch(_Input):
    decisions: list[DecisionIn] = Field(min_length=1, max_length=MAX_BATCH)
    personal_fields: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="input fields holding personal data: pseudonymised, or encrypted when a dataset "
        "of the version is special-category data",
    )


class BatchResult(BaseModel):
    model: str
    received: int
    stored: int
    duplicates: int = Field(description="decisions already logged exactly as sent (skipped)")
    treatment: dict[str, Treatment] = Field(
        default_factory=dict, description="version -> how its personal fields were stored (when any were named)"
    )


class Outcome(_Input):
    outcome: Any = Field(description="the ground truth (any JSON value)")
    observed_at: UTCTime | None = Field(default=None, description="when it was known (default: now)")
    replace: bool = Field(default=False, description="overwrite a different outcome recorded before")


class OutcomeRead(BaseModel):
    decision_id: str
    outcome: Any
    outcome_at: datetime


class DecisionFilter(BaseModel):
    """How decisions are searched; every filter given must match (AND)."""

    since: UTCTime | None = Field(default=None, description="decided at or after (ISO 8601)")
    until: UTCTime | None = Field(default=None, description="decided before (ISO 8601)")
    version: str | None = None
    subject: str | None = Field(default=None, description="a data-subject reference as logged, or its `ps:` pseudonym")
    has_outcome: bool | None = None
    output: str | None = Field(
        default=None, description='the output as JSON (`1`, `true`, `"approve"`); text that is not JSON is a string'
    )
    decision_id: str | None = None


class DecisionRead(BaseModel):
    decision_id: str
    model: str
    version: str
    decided_at: datetime
    subject: str | None = Field(description="pseudonym of the data subject")
    inputs: dict[str, Any]
    personal_fields: list[str] = Field(description="inputs that hold pseudonyms (`ps:`) or ciphertexts (`enc:`)")
    output: Any
    score: float | None
    explanation: Explanation | None
    outcome: Any
    outcome_at: datetime | None
    sensitive_attributes: dict[str, Scalar] | None = Field(
        default=None, description="only for readers holding `fairness:read` in the model's team"
    )
    created_at: datetime
    created_by: str


class PerformanceWindow(BaseModel):
    start: datetime
    rows: int
    positives: int = Field(description="actual positives (outcome equal to the positive outcome)")
    predicted_positives: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    auc: float | None = Field(default=None, description="null without scores, or when a window has one class only")
    calibration_error: float | None = Field(
        default=None, description="expected calibration error of the scores (10 bins)"
    )
    undefined: dict[str, str] = Field(default_factory=dict, description="metric -> why it is undefined")


class PerformanceRead(BaseModel):
    """Accuracy, precision, recall, AUC and calibration per time window, over logged decisions with outcomes."""

    model: str
    version: str
    window: str
    decisions: int = Field(description="decisions with a known outcome in the range")
    windows: list[PerformanceWindow]
