"""Evidence inputs and outputs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ComparisonMode = Literal["all_groups", "reference"]
Comparator = Literal[">=", "<=", ">", "<"]


def _utc(moment: datetime) -> datetime:
    """A time without a zone is UTC, as everywhere in Charter (the database refuses naive times)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UTCTime = Annotated[datetime, AfterValidator(_utc)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvidenceRead(BaseModel):
    id: int
    model: str
    version: str
    kind: str
    title: str
    summary: dict[str, Any]
    passed: bool | None
    data_fingerprint: str | None
    engine: str | None
    library_version: str
    sha256: str
    created_at: datetime
    created_by: str
    body: dict[str, Any] | None = Field(default=None, description="the whole result; in single reads only")


class FairnessEvidenceCreate(_Input):
    """A fairness assessment, sent as the sufficient statistics the client reduced its data to.

    The server derives every metric from the statistics itself (``charter.compute.fairness``), so
    the numbers stored are Charter's, whoever computed the counts. The raw data never leaves the
    client.
    """

    statistics: dict[str, Any] = Field(description="GroupStats.to_dict() of the assessed data")
    title: str | None = Field(default=None, max_length=200)
    mode: ComparisonMode = "all_groups"
    reference_group: list[Any] | None = Field(default=None, description="label tuple of the reference group")
    thresholds: dict[str, tuple[Comparator, float]] | None = Field(
        default=None, description="metric -> [comparator, value]; default: the server's CHARTER_FAIRNESS_THRESHOLDS"
    )
    min_group_size: int | None = Field(default=None, ge=1)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    n_resamples: int = Field(default=1000, ge=0, le=20_000)
    seed: int = 0
    data_fingerprint: str | None = Field(default=None, max_length=100)
    data_description: str | None = Field(default=None, max_length=1000, description="what was assessed")
    engine: str | None = Field(default=None, max_length=40)


class DecisionFairnessCreate(_Input):
    """A fairness assessment over a version's logged decisions that have an outcome, in a time window."""

    sensitive_features: list[str] = Field(min_length=1, max_length=5, description="sensitive attributes as logged")
    positive_output: Any = Field(description="the decision value that is the favourable (or flagged) one")
    positive_outcome: Any = Field(default=None, description="the outcome value counted as positive (default: the same)")
    since: UTCTime | None = Field(default=None, description="decided at or after (UTC when no zone is given)")
    until: UTCTime | None = Field(default=None, description="decided before (UTC when no zone is given)")
    title: str | None = Field(default=None, max_length=200)
    mode: ComparisonMode = "all_groups"
    reference_group: list[Any] | None = None
    thresholds: dict[str, tuple[Comparator, float]] | None = None
    min_group_size: int | None = Field(default=None, ge=1)
    n_resamples: int = Field(default=1000, ge=0, le=20_000)
