"""Training inputs and outputs: courses, completions, one person's training."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from charter.evidence.schemas import UTCTime

CourseKind = Literal["security_awareness", "responsible_ai", "compliance", "incident_response"]
SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CourseCreate(_Input):
    id: str = Field(pattern=SLUG_PATTERN, description="lower-case letters, digits and '-', e.g. ai-literacy")
    title: str = Field(min_length=1, max_length=200)
    kind: CourseKind
    validity_days: int | None = Field(
        default=365, ge=1, le=3650, description="how long a completion stays current; null: it never expires"
    )
    required: bool = Field(
        default=False, description="every owner and approver of a model must hold it (the owners_trained fact)"
    )
    description: str | None = Field(default=None, max_length=5000)


class CourseRead(BaseModel):
    id: str
    title: str
    kind: CourseKind
    validity_days: int | None
    required: bool
    description: str | None
    created_at: datetime
    created_by: str


class CompletionCreate(_Input):
    person: str = Field(min_length=1, max_length=64, description="the user's name")
    course: str = Field(pattern=SLUG_PATTERN)
    completed_at: UTCTime | None = Field(default=None, description="when (default: now; UTC when no zone is given)")
    expires_at: UTCTime | None = Field(
        default=None, description="when it lapses (default: completed_at plus the course's validity)"
    )
    note: str | None = Field(default=None, max_length=2000, description="what proves it: certificate, provider")


class CompletionRead(BaseModel):
    id: int
    person: str
    course: str
    course_title: str
    kind: CourseKind
    completed_at: datetime
    expires_at: datetime | None
    current: bool = Field(description="completed and not yet expired at the time of the answer")
    note: str | None
    recorded_at: datetime
    recorded_by: str


class TrainingStatus(BaseModel):
    """One person's training: every completion, and the required courses they hold no current one of."""

    person: str
    completions: list[CompletionRead]
    missing_required: list[str] = Field(description="ids of required courses without a current completion")
