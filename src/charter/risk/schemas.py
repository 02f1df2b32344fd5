"""Risk inputs and outputs: the scoring-rules document, assessments with their reasons, the EU AI Act
questionnaire and classification, and the risk register."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from charter.policies.schemas import SLUG_HELP, SLUG_PATTERN

Factor = Literal["data_privacy", "model_bias", "security", "compliance", "transparency", "robustness"]
FACTORS: tuple[Factor, ...] = ("data_privacy", "model_bias", "security", "compliance", "transparency", "robustness")
Rating = Literal["low", "medium", "high", "critical"]
Trigger = Literal["manual", "evidence", "incident", "stage_change", "rules_change"]
Category = Literal["prohibited", "high_risk", "limited", "minimal"]
RiskCategory = Literal["privacy", "bias", "security", "compliance", "transparency", "robustness", "other"]
Treatment = Literal["mitigate", "accept", "transfer", "avoid"]
RiskStatus = Literal["open", "accepted", "closed"]
RuleStatus = Literal["fired", "unknown"]
MAX_EXPRESSION = 4000
CONTROL_RULE_PATTERN = r"^[a-z][a-z0-9-]{0,63}/[a-z][a-z0-9-]{0,63}$"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- the scoring rules document ---------------------------------------------------------------------


class ScoringRule(_Input):
    id: str = Field(pattern=SLUG_PATTERN, description=SLUG_HELP)
    when: str = Field(min_length=1, max_length=MAX_EXPRESSION, description="CEL over `facts`: when the rule applies")
    add: float = Field(ge=-1.0, le=1.0, description="added to the factor's score when the rule applies (signed)")
    reason: str = Field(min_length=1, max_length=1000, description="what the rule means, shown with the score")


class FactorRules(_Input):
    title: str = Field(min_length=1, max_length=100)
    base: float = Field(ge=0.0, le=1.0, description="the score before any rule applies")
    rules: list[ScoringRule] = Field(default_factory=list, max_length=100)

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[ScoringRule]) -> list[ScoringRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"two rules have the id {rule.id!r}")
            seen.add(rule.id)
        return rules


class Thresholds(_Input):
    """The overall rating is the highest band whose threshold the weighted score reaches (below medium: low)."""

    medium: float = Field(gt=0.0, le=1.0)
    high: float = Field(gt=0.0, le=1.0)
    critical: float = Field(gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _increasing(self) -> Thresholds:
        if not self.medium < self.high < self.critical:
            raise ValueError("the thresholds must increase: medium < high < critical")
        return self


class Override(_Input):
    """Raise the overall rating to at least ``rating``: when a factor (or any factor) reaches
    ``at_least``, or when the CEL condition ``when`` is true. Overrides never lower a rating."""

    id: str = Field(pattern=SLUG_PATTERN, description=SLUG_HELP)
    rating: Literal["medium", "high", "critical"]
    factor: Factor | Literal["any"] | None = None
    at_least: float | None = Field(default=None, ge=0.0, le=1.0)
    when: str | None = Field(default=None, min_length=1, max_length=MAX_EXPRESSION)
    reason: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_kind(self) -> Override:
        by_factor = self.factor is not None or self.at_least is not None
        if by_factor == (self.when is not None):
            raise ValueError("an override has either `factor` and `at_least`, or `when`")
        if by_factor and (self.factor is None or self.at_least is None):
            raise ValueError("an override on a factor needs both `factor` and `at_least`")
        return self


class RulesDocument(_Input):
    """The scoring rules as data: per factor a base score and CEL rules, weights, thresholds and overrides.

    A factor's score is ``clamp(base + sum of the adds of the rules that apply, 0, 1)``; the overall
    score is the weighted mean of the factor scores, banded by ``thresholds``; ``overrides`` may
    raise the rating.
    """

    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    factors: dict[Factor, FactorRules]
    weights: dict[Factor, float]
    thresholds: Thresholds
    overrides: list[Override] = Field(default_factory=list, max_length=50)

    @field_validator("factors", "weights")
    @classmethod
    def _every_factor(cls, value: dict[Factor, Any]) -> dict[Factor, Any]:
        missing = [f for f in FACTORS if f not in value]
        if missing:
            raise ValueError(f"every factor must be given; missing: {', '.join(missing)}")
        return {f: value[f] for f in FACTORS}

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[Factor, float]) -> dict[Factor, float]:
        if any(w < 0 or w != w for w in weights.values()):
            raise ValueError("weights must be numbers of at least 0")
        if sum(weights.values()) <= 0:
            raise ValueError("at least one weight must be above 0")
        return weights

    @field_validator("overrides")
    @classmethod
    def _unique(cls, overrides: list[Override]) -> list[Override]:
        ids = [o.id for o in overrides]
        if len(ids) != len(set(ids)):
            raise ValueError("two overrides have the same id")
        return overrides


class RulesText(_Input):
    text: str = Field(min_length=1, max_length=256_000, description="a rules document as YAML or JSON text")
    comment: str | None = Field(default=None, max_length=2000)


class RulesSave(_Input):
    document: RulesDocument
    comment: str | None = Field(default=None, max_length=2000)


class RulesRead(BaseModel):
    number: int
    sha256: str
    document: RulesDocument
    comment: str | None
    created_at: datetime
    created_by: str
    reassessed: int | None = Field(default=None, description="versions re-assessed under the new rules")


# -- assessments ------------------------------------------------------------------------------------


class EvidenceRef(BaseModel):
    kind: str
    id: int


class Reason(BaseModel):
    """A rule that applied (``fired``), or whose condition could not be decided (``unknown``)."""

    rule: str
    status: RuleStatus
    applied: bool = Field(description="whether `add` counts (an unknown counts only when it raises the score)")
    add: float
    reason: str
    facts: dict[str, Any] = Field(description="the facts the condition read, by path, with their values")
    evidence: list[EvidenceRef] = Field(default_factory=list, description="the evidence those facts came from")
    error: str | None = None


class FactorScore(BaseModel):
    factor: Factor
    title: str
    base: float
    score: float = Field(description="clamp(base + sum of the applied adds, 0, 1), rounded to 4 decimals")
    weight: float
    contribution: float = Field(description="weight x score / sum of the weights: its share of the overall score")
    reasons: list[Reason]


class OverrideFired(BaseModel):
    id: str
    rating: Rating
    reason: str
    detail: str
    facts: dict[str, Any] = Field(default_factory=dict)


class ScoreResult(BaseModel):
    factors: list[FactorScore]
    score: float = Field(description="the weighted mean of the factor scores, rounded to 4 decimals")
    banded_rating: Rating = Field(description="the rating the score's band gives")
    rating: Rating = Field(description="the overall rating, after the overrides")
    thresholds: dict[str, float]
    overrides: list[OverrideFired]


class AssessmentRead(BaseModel):
    id: int
    model: str
    version: str
    version_id: int
    rules_version: int
    trigger: Trigger
    score: float
    rating: Rating
    result: ScoreResult
    facts_digest: str
    evidence_id: int | None
    created_at: datetime
    created_by: str


# -- EU AI Act --------------------------------------------------------------------------------------

AnswerType = Literal["boolean", "number"]
Answer = bool | float | int | None


class QuestionRead(BaseModel):
    id: str
    section: str
    text: str
    reference: str = Field(description="the article or annex point the question comes from")
    answer_type: AnswerType
    required: bool
    help: str | None = None


class QuestionnaireRead(BaseModel):
    version: str
    regulation: str
    questions: list[QuestionRead]


class ClassificationReason(BaseModel):
    question: str
    answer: Answer
    reference: str
    text: str


class Obligation(BaseModel):
    reference: str
    text: str


class ClassificationResult(BaseModel):
    category: Category
    gpai: bool
    gpai_systemic_risk: bool
    reasons: list[ClassificationReason]
    obligations: list[Obligation]
    proposed_tier: Literal["unacceptable", "high", "limited", "minimal"]


class ClassificationRequest(_Input):
    answers: dict[str, Answer] = Field(description="question id -> answer (see GET /risk/questionnaire)")
    apply_tier: bool = Field(default=False, description="also set the model's risk tier to the proposed one")


class ClassificationRead(BaseModel):
    id: int
    model: str
    questionnaire_version: str
    answers: dict[str, Answer]
    result: ClassificationResult
    tier_applied: bool = False
    created_at: datetime
    created_by: str


# -- the risk register ------------------------------------------------------------------------------


def _texts(values: list[str], limit: int = 1000) -> list[str]:
    out = [v.strip() for v in values]
    if any(not v or len(v) > limit for v in out):
        raise ValueError(f"each entry is 1 to {limit} characters")
    return out


def _control_rules(values: list[str]) -> list[str]:
    out = [v.strip() for v in values]
    for value in out:
        if not re.fullmatch(CONTROL_RULE_PATTERN, value):
            raise ValueError(f"{value!r} is not 'policy-id/rule-id'")
    return out


class RiskCreate(_Input):
    model: str | None = Field(default=None, max_length=100, description="the model; none: organisation-wide")
    team: str | None = Field(
        default=None, max_length=64, description="for an organisation-wide risk: the team it belongs to"
    )
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    category: RiskCategory
    likelihood: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    controls: list[str] = Field(default_factory=list, max_length=50)
    control_rules: list[str] = Field(default_factory=list, max_length=50, description='"policy-id/rule-id"')
    residual_likelihood: int | None = Field(
        default=None, ge=1, le=5, description="after controls (default: likelihood)"
    )
    residual_impact: int | None = Field(default=None, ge=1, le=5, description="after controls (default: impact)")
    owner: str = Field(min_length=1, max_length=100, description="the user or service account answerable for it")
    treatment: Treatment | None = None
    incidents: list[int] = Field(default_factory=list, max_length=100)
    review_date: date | None = None

    @field_validator("controls")
    @classmethod
    def _controls(cls, values: list[str]) -> list[str]:
        return _texts(values)

    @field_validator("control_rules")
    @classmethod
    def _rules(cls, values: list[str]) -> list[str]:
        return _control_rules(values)


class RiskUpdate(_Input):
    """The fields sent change; the others stay. Accepting has its own call (``/accept``)."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    category: RiskCategory | None = None
    likelihood: int | None = Field(default=None, ge=1, le=5)
    impact: int | None = Field(default=None, ge=1, le=5)
    controls: list[str] | None = Field(default=None, max_length=50)
    control_rules: list[str] | None = Field(default=None, max_length=50)
    residual_likelihood: int | None = Field(default=None, ge=1, le=5)
    residual_impact: int | None = Field(default=None, ge=1, le=5)
    owner: str | None = Field(default=None, min_length=1, max_length=100)
    treatment: Treatment | None = None
    incidents: list[int] | None = Field(default=None, max_length=100)
    review_date: date | None = None
    status: Literal["open", "closed"] | None = Field(default=None, description="reopen or close (accept: /accept)")

    @field_validator("controls")
    @classmethod
    def _controls(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _texts(values)

    @field_validator("control_rules")
    @classmethod
    def _rules(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _control_rules(values)


class RiskAccept(_Input):
    note: str = Field(min_length=10, max_length=5000, description="why the residual risk is acceptable")
    review_date: date | None = Field(default=None, description="when the acceptance is to be reviewed")


class RiskRead(BaseModel):
    id: int
    model: str | None
    team: str | None
    title: str
    description: str | None
    category: RiskCategory
    likelihood: int
    impact: int
    inherent_score: int = Field(description="likelihood x impact (1 to 25)")
    inherent_rating: Rating
    controls: list[str]
    control_rules: list[str]
    residual_likelihood: int
    residual_impact: int
    residual_score: int
    residual_rating: Rating
    owner: str
    treatment: Treatment | None
    incidents: list[int]
    review_date: date | None
    review_overdue: bool
    status: RiskStatus
    accepted_by: str | None
    accepted_at: datetime | None
    acceptance_note: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class ModelRating(BaseModel):
    model: str
    version: str
    rating: Rating
    score: float
    assessment: int
    assessed_at: datetime


class HeatMap(BaseModel):
    """Counts of risks per (likelihood, impact) cell: ``inherent[l-1][i-1]`` for likelihood l, impact i."""

    inherent: list[list[int]]
    residual: list[list[int]]
    risks: int
    by_residual_rating: dict[str, int]
    overdue_reviews: int
    models: list[ModelRating] = Field(description="per model, its latest assessment's overall rating")
