"""Compliance inputs and outputs: framework documents, status, history, attestations, impact assessments.

A framework is data (YAML or JSON): requirements, each with an applicability condition (CEL over
the policy facts) and what satisfies it. Pure pydantic: the SDK imports this module.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from charter.evidence.schemas import UTCTime

FRAMEWORK_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
FRAMEWORK_HELP = "lower-case letters, digits and '-', starting with a letter, e.g. eu-ai-act"
# "Art. 9", "Art. 50(1)", "GOVERN 1", "A.6.2.4", "ctl-7": what the source itself calls the requirement.
REQUIREMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._()/-]{0,63}$"
RULE_PATTERN = r"^[a-z][a-z0-9-]{0,63}(/[a-z][a-z0-9-]{0,63})?$"
MAX_EXPRESSION = 4000

RequirementStatusName = Literal["satisfied", "not_satisfied", "not_applicable", "attested", "expired"]
FindingKind = Literal["applicability", "policy_rule", "evidence", "check", "attestation"]
FindingOutcome = Literal[
    "passed", "failed", "waived", "error", "missing", "stale", "current", "expired", "not_installed", "not_applicable"
]
GapKind = Literal["not_satisfied", "expired", "waived"]
Level = Literal["low", "medium", "high"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _short_list(values: list[str], most: int = 200) -> list[str]:
    cleaned = [v.strip() for v in values]
    if any(not v or len(v) > most for v in cleaned):
        raise ValueError(f"each entry is 1 to {most} characters")
    return cleaned


# -- the framework document -------------------------------------------------------------------------


class EvidenceRequirement(_Input):
    """Evidence of a kind on the model version: the latest one counts (of any of the kinds, when a list)."""

    kind: str | list[str] = Field(description="an evidence kind, or a list of kinds any one of which will do")
    max_age_days: int | None = Field(default=None, ge=1, le=3650, description="older evidence has expired")
    must_pass: bool = Field(default=False, description="it must have passed the thresholds it was judged by")

    @property
    def kinds(self) -> list[str]:
        return [self.kind] if isinstance(self.kind, str) else list(self.kind)

    @field_validator("kind")
    @classmethod
    def _some(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("name at least one evidence kind")
        return value


class AttestationRequirement(_Input):
    required: bool = Field(default=True, description="false: an attestation is shown when present, never needed")
    max_age_days: int | None = Field(default=None, ge=1, le=3650, description="older attestations have expired")


class CheckSpec(_Input):
    """A condition over the facts, checked where the requirement applies (no policy needed)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")
    expr: str = Field(min_length=1, max_length=MAX_EXPRESSION, description="CEL over `facts`; true: satisfied")
    message: str = Field(min_length=1, max_length=1000, description="what a failure means and how to fix it")


class SatisfiedBy(_Input):
    """Everything listed must hold. Nothing listed means an attestation is needed."""

    policy_rules: list[str] = Field(
        default_factory=list, max_length=50, description="'policy-id/rule-id', or 'policy-id' for all its rules"
    )
    evidence: list[EvidenceRequirement] = Field(default_factory=list, max_length=20)
    checks: list[CheckSpec] = Field(default_factory=list, max_length=20)
    attestation: AttestationRequirement | None = None

    @field_validator("policy_rules")
    @classmethod
    def _rules(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.match(RULE_PATTERN, value):
                raise ValueError(f"{value!r} is not 'policy-id/rule-id' or 'policy-id'")
        return values

    @property
    def automated(self) -> bool:
        return bool(self.policy_rules or self.evidence or self.checks)

    def effective_attestation(self) -> AttestationRequirement | None:
        """The attestation asked for; with nothing automated listed, one is needed whatever ``required`` says."""
        if not self.automated:
            return AttestationRequirement(max_age_days=self.attestation.max_age_days if self.attestation else None)
        return self.attestation


class RequirementSpec(_Input):
    id: str = Field(pattern=REQUIREMENT_PATTERN, description="as the source names it: 'Art. 9', 'GOVERN 1', 'A.6.2.4'")
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(
        default="", max_length=2000, description="a short paraphrase of what it asks (never the source's text)"
    )
    references: list[str] = Field(default_factory=list, max_length=20)
    applies: str = Field(
        default="true", min_length=1, max_length=MAX_EXPRESSION, description="CEL over `facts`: where it applies"
    )
    applies_from: date | None = Field(default=None, description="when the obligation takes effect (informational)")
    satisfied_by: SatisfiedBy = Field(default_factory=SatisfiedBy)
    maps_to: list[str] = Field(
        default_factory=list, max_length=20, description="equivalent requirements elsewhere: 'framework:requirement'"
    )

    @field_validator("references", "maps_to")
    @classmethod
    def _short(cls, values: list[str]) -> list[str]:
        return _short_list(values)


class FrameworkDocument(_Input):
    id: str = Field(pattern=FRAMEWORK_PATTERN, description=FRAMEWORK_HELP)
    title: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=100, description="the edition of the source, e.g. 2024/1689")
    source: str = Field(min_length=1, max_length=500, description="where the source is published (URL, citation)")
    description: str | None = Field(default=None, max_length=5000)
    applies: str = Field(
        default="true", min_length=1, max_length=MAX_EXPRESSION, description="CEL over `facts`: the models it covers"
    )
    requirements: list[RequirementSpec] = Field(min_length=1, max_length=500)

    @field_validator("requirements")
    @classmethod
    def _unique(cls, values: list[RequirementSpec]) -> list[RequirementSpec]:
        seen: set[str] = set()
        for requirement in values:
            if requirement.id in seen:
                raise ValueError(f"two requirements have the id {requirement.id!r}")
            seen.add(requirement.id)
        return values


class FrameworkText(_Input):
    text: str = Field(min_length=1, max_length=1_000_000, description="a framework document as YAML or JSON text")


class FrameworkSummary(BaseModel):
    id: str
    title: str
    version: str = Field(description="the edition of the source")
    source: str
    builtin: bool = Field(description="shipped with Charter (read-only) rather than added by users")
    revision: int | None = Field(description="the stored version of a user's framework (null: shipped)")
    sha256: str = Field(description="SHA-256 of the canonical JSON of the document")
    requirements: int
    created_at: datetime | None
    created_by: str | None


class FrameworkRead(FrameworkSummary):
    document: FrameworkDocument


# -- status -----------------------------------------------------------------------------------------


class Finding(BaseModel):
    """One thing that decided a requirement: a rule's result, a piece of evidence, a check, an attestation."""

    kind: FindingKind
    ref: str = Field(description="what was looked at: 'policy/rule', an evidence kind, a check id, 'attestation'")
    outcome: FindingOutcome
    detail: str
    evidence: int | None = Field(default=None, description="the evidence id")
    age_days: float | None = None
    passed: bool | None = None
    created_at: datetime | None = None
    waiver: int | None = Field(default=None, description="the waiver excusing a failed rule")
    waiver_expires_at: datetime | None = None
    attestation: int | None = Field(default=None, description="the attestation id")
    valid_until: datetime | None = None
    via: str | None = Field(default=None, description="the mapped requirement an attestation was made for")


class Gap(BaseModel):
    """Something open: a requirement not satisfied or expired, with the finding behind it."""

    framework: str
    requirement: str
    title: str
    status: RequirementStatusName
    kind: GapKind = Field(description="waived: a failing rule excused by a waiver is still an open gap")
    ref: str
    detail: str
    waiver: int | None = None
    waiver_expires_at: datetime | None = None


class RequirementStatus(BaseModel):
    id: str
    title: str
    references: list[str]
    status: RequirementStatusName
    waived: bool = Field(description="a rule it relies on passes only through a waiver")
    applies_from: date | None
    in_force: bool = Field(description="applies_from has passed (or none is recorded)")
    why: list[Finding]
    maps_to: list[str]


class FrameworkStatus(BaseModel):
    framework: str
    title: str
    version: str
    sha256: str
    applies: bool
    counts: dict[str, int] = Field(description="requirements per status")
    requirements: list[RequirementStatus]
    gaps: list[Gap]


class ComplianceStatus(BaseModel):
    model: str
    model_id: int
    version: str
    version_id: int
    stage: str
    risk_tier: str | None
    evaluated_at: datetime
    frameworks: list[FrameworkStatus]
    gaps: list[Gap] = Field(description="every framework's gaps")


class StatusChange(BaseModel):
    requirement: str
    before: RequirementStatusName | None
    after: RequirementStatusName | None


class SnapshotRead(BaseModel):
    """One evaluation whose outcome differed from the one before it (history is compacted)."""

    id: int
    framework: str
    framework_sha256: str
    model: str
    version: str | None
    evaluated_at: datetime
    counts: dict[str, int]
    statuses: dict[str, RequirementStatusName]
    gaps: list[Gap]
    changes: list[StatusChange] = Field(description="requirements whose status differs from the previous snapshot")


# -- attestations -----------------------------------------------------------------------------------


class AttestationCreate(_Input):
    framework: str = Field(pattern=FRAMEWORK_PATTERN)
    requirement: str = Field(pattern=REQUIREMENT_PATTERN)
    model: str | None = Field(default=None, max_length=100, description="model name or id; none: organisation-wide")
    statement: str = Field(min_length=10, max_length=10_000, description="what is attested, and how it was checked")
    valid_until: UTCTime | None = Field(
        default=None, description="when it lapses (default: the requirement's max_age_days, else one year)"
    )


class AttestationDocument(BaseModel):
    name: str
    size: int
    sha256: str


class AttestationRead(BaseModel):
    id: int
    framework: str
    requirement: str
    model: str | None = Field(description="null: organisation-wide")
    statement: str
    document: AttestationDocument | None
    valid_until: datetime
    current: bool
    created_at: datetime
    created_by: str


# -- impact assessments -----------------------------------------------------------------------------


class RiskItem(_Input):
    description: str = Field(min_length=1, max_length=2000)
    likelihood: Level
    severity: Level
    mitigation: str | None = Field(default=None, max_length=2000)


def _texts(values: list[str]) -> list[str]:
    return _short_list(values, 2000)


class DpiaForm(_Input):
    """A data protection impact assessment with the content GDPR Art. 35(7) names, points (a) to (d)."""

    title: str | None = Field(default=None, max_length=200)
    processing_description: str = Field(
        min_length=1, max_length=20_000, description="(a) a systematic description of the envisaged processing"
    )
    purposes: str = Field(min_length=1, max_length=10_000, description="(a) its purposes")
    legitimate_interest: str | None = Field(
        default=None, max_length=10_000, description="(a) the controller's legitimate interest, where relied on"
    )
    data_categories: list[str] = Field(min_length=1, max_length=100, description="personal data processed")
    data_subjects: list[str] = Field(min_length=1, max_length=100, description="whose data it is")
    necessity_and_proportionality: str = Field(
        min_length=1, max_length=20_000, description="(b) why the processing is necessary and proportionate"
    )
    risks: list[RiskItem] = Field(
        min_length=1, max_length=100, description="(c) risks to the rights and freedoms of data subjects"
    )
    measures: list[str] = Field(
        min_length=1, max_length=100, description="(d) safeguards, security measures and mechanisms against them"
    )
    dpo_advice: str | None = Field(default=None, max_length=10_000, description="Art. 35(2): the DPO's advice")
    data_subject_views: str | None = Field(default=None, max_length=10_000, description="Art. 35(9): their views")
    residual_risk: Level = Field(description="high: prior consultation of the supervisory authority (Art. 36)")

    @field_validator("data_categories", "data_subjects", "measures")
    @classmethod
    def _lists(cls, values: list[str]) -> list[str]:
        return _texts(values)


class FriaForm(_Input):
    """A fundamental rights impact assessment with the content EU AI Act Art. 27(1) names, points (a) to (f)."""

    title: str | None = Field(default=None, max_length=200)
    deployer_processes: str = Field(
        min_length=1, max_length=20_000, description="(a) the deployer's processes the system is used in"
    )
    period_and_frequency: str = Field(
        min_length=1, max_length=5000, description="(b) the period and frequency of intended use"
    )
    affected_persons: list[str] = Field(
        min_length=1, max_length=100, description="(c) categories of people and groups likely to be affected"
    )
    risks_of_harm: list[RiskItem] = Field(
        min_length=1, max_length=100, description="(d) the specific risks of harm to those categories"
    )
    human_oversight: str = Field(
        min_length=1, max_length=20_000, description="(e) the human oversight measures, per the instructions for use"
    )
    mitigation_measures: str = Field(
        min_length=1,
        max_length=20_000,
        description="(f) measures if the risks materialise, incl. internal governance and complaint mechanisms",
    )
    authority_notified: bool = Field(
        default=False, description="Art. 27(3): the market surveillance authority was notified of the results"
    )
    residual_risk: Level

    @field_validator("affected_persons")
    @classmethod
    def _lists(cls, values: list[str]) -> list[str]:
        return _texts(values)
