"""The report document: what a compliance report says, before it is rendered.

One document serves every format. The builder (:mod:`charter.reports.builder`) fills it from the
platform; the renderers (:mod:`charter.reports.render`) turn it into HTML, PDF and OSCAL without
reading the database again, so every format of one report says the same thing. The JSON format is
this document itself, serialised canonically; its SHA-256 is printed in the other formats.

A model report carries each framework's requirements with the findings that decided them; an
organisation report (hundreds of models) carries per-framework counts and the open gaps only.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from charter.compliance.schemas import Gap, RequirementStatus

SCHEMA = "charter.report/1"
ReportKind = Literal["model", "organisation"]
ReportFormat = Literal["json", "html", "pdf", "oscal"]
FORMATS: tuple[ReportFormat, ...] = ("json", "html", "pdf", "oscal")


class Period(BaseModel):
    """The time range the report covers: evidence, incidents, transitions and audit events inside it."""

    start: datetime
    end: datetime


class FrameworkResult(BaseModel):
    framework: str
    title: str
    version: str
    sha256: str = Field(description="the framework document's digest")
    applies: bool
    counts: dict[str, int] = Field(description="requirements per status")
    requirements: list[RequirementStatus] = Field(
        default_factory=list, description="in model reports only: each requirement with its findings"
    )


class FactorSummary(BaseModel):
    factor: str
    title: str
    score: float
    weight: float
    reasons: list[str] = Field(description="the reasons of the rules that applied, in words")


class RiskSummary(BaseModel):
    assessment: int
    rating: str
    score: float
    rules_version: int
    assessed_at: datetime
    factors: list[FactorSummary]
    eu_ai_act_class: str | None = Field(default=None, description="the latest intake classification")


class RegisterEntry(BaseModel):
    id: int
    title: str
    category: str
    inherent_rating: str
    residual_rating: str
    treatment: str | None
    status: str
    owner: str
    review_date: str | None
    review_overdue: bool


class EvidenceSummary(BaseModel):
    id: int
    kind: str
    title: str
    passed: bool | None
    created_at: datetime
    created_by: str
    sha256: str
    highlights: dict[str, Any] = Field(
        default_factory=dict, description="a few headline numbers (e.g. disparate impact), by name"
    )


class IncidentSummary(BaseModel):
    id: int
    title: str
    type: str
    severity: str
    status: str
    detected_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None


class Transition(BaseModel):
    """A lifecycle step; approvals are the steps to ``approved``."""

    version: str
    from_stage: str | None
    to_stage: str
    by: str
    at: datetime
    reason: str | None


class WaiverSummary(BaseModel):
    id: int
    policy: str
    rule: str
    justification: str
    approved_by: str
    granted_at: datetime
    expires_at: datetime
    status: str


# ``register`` is also the name of ABCMeta.register on every pydantic model class: the field is what
# the report calls the risk register, and instances read it as data, so pydantic's warning is silenced.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class ModelSection(BaseModel):
        model: str
        model_id: int
        version: str
        stage: str
        team: str | None
        owner: str | None
        risk_tier: str | None
        frameworks: list[FrameworkResult]
        gaps: list[Gap] = Field(description="open gaps across the frameworks; waived rules are open gaps")
        risk: RiskSummary | None
        register: list[RegisterEntry] = Field(description="the model's entries in the risk register")
        fairness: list[EvidenceSummary]
        monitoring: list[EvidenceSummary] = Field(description="drift, performance and other monitoring evidence")
        firing_alerts: int
        incidents: list[IncidentSummary]
        transitions: list[Transition]
        waivers: list[WaiverSummary]


class AuditIntegrity(BaseModel):
    """The audit chain, verified when the report was built."""

    ok: bool
    events: int
    head_hash: str
    checkpoints_checked: int
    fault: str | None
    verified_at: datetime
    events_in_period: int


class Totals(BaseModel):
    models: int
    by_rating: dict[str, int]
    by_status: dict[str, dict[str, int]] = Field(description="framework -> requirement status -> count")
    gaps: int
    waived_gaps: int
    open_incidents: int
    firing_alerts: int


class ReportDocument(BaseModel):
    schema_: str = Field(default=SCHEMA, alias="schema")
    kind: ReportKind
    title: str
    organisation: str
    generated_at: datetime
    generated_by: str
    charter_version: str
    period: Period
    frameworks: list[str] = Field(description="the frameworks reported on")
    totals: Totals
    models: list[ModelSection]
    audit: AuditIntegrity

    model_config = {"populate_by_name": True}


# -- stored reports: what the API takes and answers -------------------------------------------------


class ReportCreate(BaseModel):
    """Generate a report. The period defaults to the 90 days before now."""

    model_config = {"extra": "forbid", "str_strip_whitespace": True}

    kind: ReportKind = "model"
    model: str | None = Field(default=None, max_length=100, description="model name or id (model reports)")
    version: str | None = Field(
        default=None, max_length=100, description="default: the newest in production, else the newest not retired"
    )
    team: str | None = Field(default=None, max_length=64, description="organisation reports: only this team's models")
    start: datetime | None = Field(default=None, description="start of the period (UTC when no zone is given)")
    end: datetime | None = Field(default=None, description="end of the period (default: now)")
    frameworks: list[str] | None = Field(default=None, max_length=50, description="default: every framework")
    formats: list[ReportFormat] | None = Field(
        default=None, max_length=4, description="default: all; JSON is always stored (it is the record)"
    )


class ReportFileRead(BaseModel):
    format: ReportFormat
    sha256: str = Field(description="SHA-256 of the file's bytes, as recorded in the audit trail")
    size: int
    media_type: str


class ReportRead(BaseModel):
    id: int
    kind: ReportKind
    model: str | None
    version: str | None
    team: str | None
    title: str
    period: Period
    frameworks: list[str]
    generated_by: str
    generated_at: datetime
    document_sha256: str = Field(description="SHA-256 of the canonical JSON document (the json file)")
    audit_seq: int | None = Field(description="the audit event that recorded the report and its hashes")
    files: list[ReportFileRead]


class ReportVerification(BaseModel):
    """What an uploaded file is: a stored report's file, untouched, or nothing Charter issued."""

    sha256: str = Field(description="SHA-256 of the uploaded bytes")
    size: int
    matched: bool
    report: ReportRead | None = None
    format: ReportFormat | None = None
    audit_intact: bool | None = Field(
        default=None, description="the audit event recording the report names this hash and is linked in the chain"
    )
    message: str
