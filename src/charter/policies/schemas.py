"""Policy inputs and outputs: the policy document (YAML or JSON), reads, waivers, dry runs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from charter.inventory.schemas import Stage
from charter.policies.lifecycle import DEFAULT_REVIEW_DAYS, State

SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
SLUG_HELP = "lower-case letters, digits and '-', starting with a letter, at most 64 characters"
Severity = Literal["low", "medium", "high", "critical"]
RuleStatus = Literal["passed", "failed", "waived", "error"]
PolicyOutcomeName = Literal["passed", "failed", "error", "not_applicable"]
WaiverStatus = Literal["active", "expired", "revoked"]
MAX_EXPRESSION = 4000


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Rationale(_Input):
    text: str = Field(min_length=1, max_length=5000, description="why the policy exists")
    references: list[str] = Field(
        default_factory=list, max_length=20, description='what it implements, e.g. "EU AI Act Art. 10"'
    )

    @field_validator("references")
    @classmethod
    def _short(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value.strip() or len(value) > 200:
                raise ValueError("each reference is 1 to 200 characters")
        return [v.strip() for v in values]


class RuleSpec(_Input):
    id: str = Field(pattern=SLUG_PATTERN, description=SLUG_HELP)
    expr: str = Field(min_length=1, max_length=MAX_EXPRESSION, description="CEL over `facts`; true means compliant")
    message: str = Field(min_length=1, max_length=1000, description="what a failure means and how to fix it")
    severity: Severity = "high"


class PolicyDocument(_Input):
    """A policy as data: who owns it, why it exists, which models it applies to, and its rules."""

    id: str = Field(pattern=SLUG_PATTERN, description=SLUG_HELP)
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    owner: str = Field(min_length=1, max_length=100, description="the person or team answerable for it")
    rationale: Rationale
    match: str = Field(
        default="true",
        min_length=1,
        max_length=MAX_EXPRESSION,
        description="CEL over `facts`: the model versions (and events) the policy applies to",
    )
    rules: list[RuleSpec] = Field(min_length=1, max_length=100)
    review_days: int = Field(
        default=DEFAULT_REVIEW_DAYS, ge=1, le=3650, description="days from enforcement to the scheduled review"
    )

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[RuleSpec]) -> list[RuleSpec]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"two rules have the id {rule.id!r}")
            seen.add(rule.id)
        return rules


class PolicyText(_Input):
    text: str = Field(min_length=1, max_length=256_000, description="a policy document as YAML or JSON text")


class ProposalRead(BaseModel):
    state: State
    version: int
    proposed_by: str
    proposed_at: datetime
    comment: str | None


class TransitionRead(BaseModel):
    kind: Literal["create", "update", "state", "propose", "approve"]
    version: int
    from_state: State | None
    to_state: State | None
    actor: str
    at: datetime
    comment: str | None


class PolicyRead(BaseModel):
    id: str
    title: str
    owner: str
    state: State = Field(description="the stored state")
    effective_state: State = Field(description="review once an enforced policy's review date has passed")
    version: int = Field(description="the current version, the one gates evaluate")
    sha256: str = Field(description="SHA-256 of the canonical JSON of the current version's document")
    document: PolicyDocument
    version_created_by: str = Field(description="the author of the current version")
    created_at: datetime
    created_by: str
    updated_at: datetime
    state_changed_at: datetime
    state_changed_by: str
    review_due_at: datetime | None
    pending: ProposalRead | None = Field(default=None, description="a proposal to enforce, awaiting approval")
    history: list[TransitionRead] | None = Field(default=None, description="in single reads only")


class PolicyVersionRead(BaseModel):
    policy: str
    version: int
    sha256: str
    document: PolicyDocument
    created_at: datetime
    created_by: str


class StateChange(_Input):
    state: State
    comment: str | None = Field(default=None, max_length=5000)


class Approval(_Input):
    comment: str | None = Field(default=None, max_length=5000)


class WaiverCreate(_Input):
    rule: str = Field(pattern=SLUG_PATTERN, description="the rule id within the policy")
    model: str = Field(min_length=1, max_length=100, description="model name or id")
    days: int = Field(ge=1, le=365, description="how long the exception lasts")
    reason: str = Field(min_length=10, max_length=5000, description="the justification")


class WaiverRevoke(_Input):
    reason: str = Field(min_length=3, max_length=5000)


class WaiverRead(BaseModel):
    id: int
    policy: str
    rule: str
    model: str
    justification: str
    approved_by: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    status: WaiverStatus


class RuleOutcome(BaseModel):
    rule: str
    status: RuleStatus
    severity: Severity
    message: str
    reason: str | None = Field(default=None, description="why it could not be evaluated (status error)")
    waiver: int | None = Field(default=None, description="the waiver that excused a failure")
    expired_waiver: datetime | None = Field(default=None, description="a waiver for it that has expired")


class PolicyOutcome(BaseModel):
    policy: str
    version: int
    state: State
    applies: bool
    outcome: PolicyOutcomeName
    reason: str | None = Field(default=None, description="why the match condition could not be evaluated")
    rules: list[RuleOutcome]


class DryRunRequest(_Input):
    model: str | None = Field(default=None, description="only this model's versions (name or id)")
    stage: Stage | None = Field(default=None, description="decide as if each version were being promoted to this stage")
    version: int | None = Field(default=None, ge=1, description="the policy version (default: the current one)")
    include_not_applicable: bool = Field(default=False, description="also list versions the policy does not match")


class DryRunItem(BaseModel):
    model: str
    version: str
    stage: Stage
    outcome: PolicyOutcomeName
    reason: str | None
    rules: list[RuleOutcome]


class DryRunResult(BaseModel):
    policy: str
    version: int
    state: State
    evaluated: int = Field(description="model versions looked at")
    applies: int
    passed: int
    failed: int
    errors: int
    items: list[DryRunItem]
