"""Inventory inputs and outputs (``XCreate`` / ``XUpdate`` / ``XRead``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["draft", "review", "approved", "production", "deprecated", "retired"]
Domain = Literal["credit", "employment", "health", "biometrics", "education", "law_enforcement", "insurance", "other"]
Classification = Literal["public", "internal", "personal", "special_category"]
LegalBasis = Literal[
    "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"
]
DatasetRole = Literal["training", "evaluation", "reference"]
RiskTier = Literal["unacceptable", "high", "limited", "minimal"]
Verdict = Literal["clean", "unsafe", "not_verified"]

MODEL_NAME_PATTERN = r"^[a-z][a-z0-9._-]{0,99}$"
MODEL_NAME_HELP = "lower-case letters, digits, '.', '_' and '-', starting with a letter, at most 100 characters"
# Semantic (1.2.3, 2.0.0-rc.1) or integer (7) versions.
VERSION_PATTERN = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
VERSION_HELP = "a semantic version (1.2.0, 2.0.0-rc.1) or an integer (7)"
TAG = Field(max_length=50)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- datasets ---------------------------------------------------------------------------------------


class DatasetCreate(_Input):
    name: str = Field(pattern=MODEL_NAME_PATTERN, description=MODEL_NAME_HELP)
    team: str = Field(description="owner team")
    description: str | None = Field(default=None, max_length=5000)
    location: str | None = Field(default=None, max_length=1000, description="URI of the data")
    classification: Classification = "internal"
    legal_basis: LegalBasis | None = Field(default=None, description="GDPR Art. 6 basis; required for personal data")
    retention_days: int | None = Field(default=None, ge=1, le=36_500)
    consent_required: bool = False
    tags: list[str] = Field(default_factory=list, max_length=50)


class DatasetRead(BaseModel):
    id: int
    name: str
    team: str
    description: str | None
    location: str | None
    classification: Classification
    legal_basis: LegalBasis | None
    retention_days: int | None
    consent_required: bool
    tags: list[str]
    created_at: datetime
    created_by: str


class DatasetLink(_Input):
    dataset: str = Field(description="dataset name")
    role: DatasetRole = "training"


class LineageRead(BaseModel):
    dataset: str
    role: DatasetRole
    classification: Classification


# -- models -----------------------------------------------------------------------------------------


class _ModelFields(_Input):
    description: str | None = Field(default=None, max_length=10_000)
    purpose: str | None = Field(default=None, max_length=10_000)
    intended_use: str | None = Field(default=None, max_length=10_000)
    out_of_scope_uses: list[str] = Field(default_factory=list, max_length=50)
    domain: Domain = "other"
    deployment_context: str | None = Field(default=None, max_length=10_000)
    data_sources: list[str] = Field(default_factory=list, max_length=50)
    regulations: list[str] = Field(default_factory=list, max_length=50, description="e.g. EU AI Act, GDPR, ECOA")
    tags: list[str] = Field(default_factory=list, max_length=50)


class ModelCreate(_ModelFields):
    name: str = Field(pattern=MODEL_NAME_PATTERN, description=MODEL_NAME_HELP)
    team: str = Field(description="owner team")


class ModelUpdate(_Input):
    """Fields to change; omitted fields keep their value."""

    description: str | None = Field(default=None, max_length=10_000)
    purpose: str | None = Field(default=None, max_length=10_000)
    intended_use: str | None = Field(default=None, max_length=10_000)
    out_of_scope_uses: list[str] | None = Field(default=None, max_length=50)
    domain: Domain | None = None
    deployment_context: str | None = Field(default=None, max_length=10_000)
    data_sources: list[str] | None = Field(default=None, max_length=50)
    regulations: list[str] | None = Field(default=None, max_length=50)
    tags: list[str] | None = Field(default=None, max_length=50)


class RiskTierChange(_Input):
    risk_tier: RiskTier | None = Field(description="EU AI Act tier; null: not assessed")


class ModelRead(BaseModel):
    id: int
    name: str
    team: str
    description: str | None
    purpose: str | None
    intended_use: str | None
    out_of_scope_uses: list[str]
    domain: Domain
    deployment_context: str | None
    data_sources: list[str]
    regulations: list[str]
    tags: list[str]
    risk_tier: RiskTier | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    latest_version: str | None = None
    latest_stage: Stage | None = None
    version_count: int = 0


# -- versions ---------------------------------------------------------------------------------------


class VersionCreate(_Input):
    version: str = Field(pattern=VERSION_PATTERN, max_length=64, description=VERSION_HELP)
    description: str | None = Field(default=None, max_length=10_000)
    framework: str | None = Field(default=None, max_length=100, description="e.g. scikit-learn 1.5, pytorch 2.4")
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict, max_length=200)
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=500)
    datasets: list[DatasetLink] = Field(default_factory=list, max_length=50)
    card: dict[str, Any] = Field(default_factory=dict, description="model-card fields the owner writes")


class CardUpdate(_Input):
    """Owner-edited model-card fields (see ``charter.inventory.cards.EDITABLE``); null removes one."""

    fields: dict[str, str | list[str] | None]


class ArtifactRead(BaseModel):
    path: str
    digest: str = Field(description="SHA-256 of the plaintext")
    size: int
    format: str | None
    scan_verdict: Verdict
    scan_findings: list[dict[str, Any]]
    encrypted: bool
    key_id: str | None
    override_by: str | None
    override_reason: str | None
    created_at: datetime
    created_by: str


class TransitionRead(BaseModel):
    from_stage: Stage
    to_stage: Stage
    actor: str
    comment: str | None
    at: datetime


class VersionRead(BaseModel):
    id: int
    model: str
    version: str
    stage: Stage
    description: str | None
    framework: str | None
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    metrics: dict[str, float]
    parameters: dict[str, Any]
    card: dict[str, Any]
    datasets: list[LineageRead]
    artifacts: list[ArtifactRead]
    transitions: list[TransitionRead]
    signed: bool
    signature_key_id: str | None
    signed_at: datetime | None
    created_at: datetime
    created_by: str
    stage_changed_at: datetime
    warnings: list[str] = Field(
        default_factory=list, description="failures of policies in `warn` (registration and promotion answers only)"
    )


class Promotion(_Input):
    stage: Stage
    comment: str | None = Field(default=None, max_length=5000)


class ArtifactOverride(_Input):
    reason: str = Field(min_length=10, max_length=5000, description="why this flagged artifact may proceed")


class FieldChange(BaseModel):
    field: str
    old: Any
    new: Any


class VersionDiff(BaseModel):
    model: str
    old: str
    new: str
    metadata: list[FieldChange]
    metrics: list[FieldChange]
    artifacts: list[FieldChange] = Field(description="by path: added (old null), removed (new null), changed digest")
    datasets: list[FieldChange]
    card: list[FieldChange]


class HistoryEntry(BaseModel):
    seq: int
    ts: str
    actor: str
    action: str
    outcome: str
    details: dict[str, Any]
