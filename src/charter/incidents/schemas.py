"""Incident inputs and outputs (``XCreate`` / ``XUpdate`` / ``XRead``).

Times without a zone are taken as UTC; every time returned is UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from charter.incidents.lifecycle import ClockKind, IncidentType, Regime, Severity, Source, Status

WrittenKind = Literal["immediate_action", "investigation_note", "mitigation", "communication"]
EntryKind = Literal[
    "immediate_action",
    "investigation_note",
    "mitigation",
    "communication",
    "reported",
    "alert",
    "status_change",
    "update",
    "assignment",
    "regulatory",
    "containment",
    "review",
]
Audience = Literal["internal", "external"]
ContainmentKind = Literal["deprecate_version", "suspend_logging"]

TEXT = 20_000
SHORT = 200
PRINCIPAL_NAME = Field(default=None, max_length=64, description="a user or service account name")


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- inputs -----------------------------------------------------------------------------------------


class AffectedModel(_Input):
    model: str = Field(min_length=1, max_length=100, description="model name or id")
    version: str | None = Field(default=None, max_length=64, description="the version, when known")


class _Impact(_Input):
    """What a regulator's report needs; each may be filled in as it becomes known."""

    affected_people: int | None = Field(default=None, ge=0, description="approximate number of people affected")
    affected_groups: list[str] = Field(
        default_factory=list, max_length=50, description="categories of people affected (customers, applicants...)"
    )
    data_categories: list[str] = Field(
        default_factory=list, max_length=50, description="categories of personal data concerned (GDPR Art. 33(3)(a))"
    )
    records_affected: int | None = Field(default=None, ge=0, description="approximate number of personal-data records")
    consequences: str | None = Field(default=None, max_length=TEXT, description="likely consequences")
    contact_point: str | None = Field(
        default=None, max_length=500, description="who the authority can contact (the DPO, for a GDPR breach)"
    )
    member_states: list[str] = Field(
        default_factory=list, max_length=30, description="EU Member States where it occurred (ISO 3166 codes)"
    )


class IncidentCreate(_Impact):
    """A report of an incident (``report_incident``)."""

    title: str = Field(min_length=1, max_length=SHORT)
    type: IncidentType
    severity: Severity
    description: str | None = Field(default=None, max_length=TEXT)
    source: Source = "user_report"
    models: list[AffectedModel] = Field(
        default_factory=list, max_length=50, description="affected models; the first one's team owns the incident"
    )
    detected_at: datetime | None = Field(default=None, description="when it became known; default now")
    dedup_key: str | None = Field(default=None, max_length=SHORT)
    commander: str | None = PRINCIPAL_NAME
    assignee: str | None = PRINCIPAL_NAME
    details: dict[str, Any] = Field(default_factory=dict, description="anything the source attaches")


class IncidentUpdate(_Impact):
    """Changed fields only: a field left out keeps its value; ``models`` replaces the whole list."""

    title: str | None = Field(default=None, min_length=1, max_length=SHORT)
    type: IncidentType | None = None
    severity: Severity | None = None
    description: str | None = Field(default=None, max_length=TEXT)
    models: list[AffectedModel] | None = Field(default=None, max_length=50)
    detected_at: datetime | None = None
    details: dict[str, Any] | None = None


class StatusChange(_Input):
    status: Status
    note: str | None = Field(default=None, max_length=TEXT, description="why; kept in the timeline")


class EntryCreate(_Input):
    """A timeline entry written by a person: an action, a note, a mitigation or a communication."""

    kind: WrittenKind
    body: str = Field(min_length=1, max_length=TEXT)
    audience: Audience | None = Field(default=None, description="communications: internal or external")
    recipient: str | None = Field(default=None, max_length=SHORT, description="communications: to whom")
    at: datetime | None = Field(default=None, description="when it happened; default now")

    @model_validator(mode="after")
    def _communication_fields(self) -> Self:
        if self.kind == "communication":
            if self.audience is None or not self.recipient:
                raise ValueError("a communication needs `audience` (internal or external) and `recipient` (to whom)")
        elif self.audience is not None or self.recipient is not None:
            raise ValueError(f"`audience` and `recipient` belong to communications, not to a {self.kind}")
        return self


class Assignment(_Input):
    """Who leads (``commander``) and who works on it (``assignee``); a field sent as null unassigns."""

    commander: str | None = PRINCIPAL_NAME
    assignee: str | None = PRINCIPAL_NAME


class ReportableMark(_Input):
    regime: Regime
    reason: str | None = Field(default=None, max_length=TEXT, description="why the incident is reportable")


class ReportSubmission(_Input):
    reference: str | None = Field(default=None, max_length=SHORT, description="the authority's case number")
    submitted_at: datetime | None = Field(default=None, description="when it was sent; default now")
    note: str | None = Field(default=None, max_length=TEXT)


class ContainmentCreate(_Input):
    kind: ContainmentKind = Field(
        description="`deprecate_version`: move it out of production; `suspend_logging`: refuse its decision logging"
    )
    model: str = Field(min_length=1, max_length=100, description="model name or id")
    version: str = Field(min_length=1, max_length=64)
    # Kept short enough to travel in the version's own lifecycle comment.
    reason: str = Field(min_length=1, max_length=4000)


class ContainmentLift(_Input):
    reason: str = Field(min_length=1, max_length=TEXT)
    restore: bool = Field(
        default=True, description="deprecations: move the version back to production (its gates apply)"
    )


class FollowUp(_Input):
    action: str = Field(min_length=1, max_length=2000)
    owner: str = Field(min_length=1, max_length=100)
    due_date: date
    done: bool = False


class ReviewWrite(_Input):
    """The post-incident review, written whole (a rewrite replaces it)."""

    root_cause: str = Field(min_length=1, max_length=TEXT)
    contributing_factors: list[str] = Field(default_factory=list, max_length=50)
    follow_ups: list[FollowUp] = Field(default_factory=list, max_length=100)
    lessons: str | None = Field(default=None, max_length=TEXT)


# -- outputs ----------------------------------------------------------------------------------------


class AffectedModelRead(BaseModel):
    model_id: int
    model: str
    team: str
    version_id: int | None
    version: str | None
    stage: str | None = Field(description="the version's stage now")


class ClockRead(BaseModel):
    kind: ClockKind
    regime: Regime | None = Field(description="regulatory clocks: the regime")
    due_at: datetime
    met_at: datetime | None = Field(description="triaged (response) or report submitted (regulatory)")
    overdue: bool = Field(description="still running and past due")
    breached: bool = Field(description="the deadline was missed (overdue, or met late)")
    remaining_seconds: int | None = Field(description="until the deadline, negative once past; null once met")


class RegulatoryReportRead(BaseModel):
    regime: Regime
    reason: str | None
    marked_at: datetime
    marked_by: str
    due_at: datetime
    submitted_at: datetime | None
    submitted_by: str | None
    reference: str | None


class ContainmentRead(BaseModel):
    id: int
    incident_id: int
    kind: ContainmentKind
    model: str
    version: str
    active: bool
    reason: str
    previous_stage: str | None
    created_at: datetime
    created_by: str
    lifted_at: datetime | None
    lifted_by: str | None
    lift_reason: str | None


class EntryRead(BaseModel):
    id: int
    kind: EntryKind
    body: str
    audience: Audience | None
    recipient: str | None
    data: dict[str, Any]
    at: datetime
    created_at: datetime
    created_by: str


class FollowUpRead(BaseModel):
    action: str
    owner: str
    due_date: date
    done: bool


class ReviewRead(BaseModel):
    root_cause: str
    contributing_factors: list[str]
    follow_ups: list[FollowUpRead]
    lessons: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class IncidentRead(BaseModel):
    id: int
    title: str
    description: str | None
    type: IncidentType
    severity: Severity
    status: Status
    source: Source
    dedup_key: str | None
    team: str | None = Field(description="the owning team; null: organisation-wide")
    reporter: str
    commander: str | None
    assignee: str | None
    detected_at: datetime
    reported_at: datetime
    triaged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    models: list[AffectedModelRead]
    affected_people: int | None
    affected_groups: list[str]
    data_categories: list[str]
    records_affected: int | None
    consequences: str | None
    contact_point: str | None
    member_states: list[str]
    details: dict[str, Any]
    allowed_next: list[Status]
    clocks: list[ClockRead]
    overdue: bool = Field(description="a clock is running past its deadline")
    reports: list[RegulatoryReportRead]
    containments: list[ContainmentRead]
    review: ReviewRead | None
    timeline: list[EntryRead] | None = Field(default=None, description="in single reads only, oldest first")


class AlertOutcome(BaseModel):
    """What ``open_or_attach`` did: opened ``incident`` (``created``) or added the alert to it."""

    incident: IncidentRead
    created: bool


class OverdueClock(BaseModel):
    """A deadline running past due, for the worker that raises alerts."""

    incident_id: int
    title: str
    severity: Severity
    status: Status
    team_id: int | None
    kind: ClockKind
    regime: Regime | None
    due_at: datetime
    overdue_seconds: int


class ReportSystem(BaseModel):
    model: str
    version: str | None
    team: str
    purpose: str | None
    intended_use: str | None
    domain: str
    risk_tier: str | None
    stage: str | None


class ReportEntry(BaseModel):
    at: datetime
    kind: str
    summary: str
    by: str
    audience: Audience | None = None
    recipient: str | None = None


class AffectedRead(BaseModel):
    people: int | None = Field(description="approximate number of people affected")
    groups: list[str] = Field(description="categories of people affected")
    data_categories: list[str]
    records: int | None = Field(description="approximate number of personal-data records")


class RegulatorReport(BaseModel):
    """The content of a report to an authority, assembled from the incident (a draft for a person to send)."""

    regime: Regime
    regulation: str
    authority: str
    incident_id: int
    title: str
    type: IncidentType
    severity: Severity
    status: Status
    detected_at: datetime = Field(description="awareness: the deadline runs from here")
    due_at: datetime
    submitted_at: datetime | None
    submission_reference: str | None
    overdue: bool
    late: bool = Field(description="submitted after the deadline, or not submitted and past it")
    contact_point: str | None
    nature: str = Field(description="what happened")
    ai_systems: list[ReportSystem]
    affected: AffectedRead
    consequences: str | None
    member_states: list[str]
    root_cause: str | None = Field(description="from the post-incident review, when written")
    measures_taken: list[ReportEntry]
    measures_proposed: list[str]
    communications: list[ReportEntry]
    timeline: list[ReportEntry]
    missing: list[str] = Field(description="facts this regime's report needs that the incident does not hold yet")
    notes: list[str]
    generated_at: datetime
