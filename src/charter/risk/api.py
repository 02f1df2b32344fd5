"""REST routes for risk (``/api/v1/risk``): assessments, scoring rules, the EU AI Act questionnaire and
classifications, the risk register and its heat map."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from charter.errors import InvalidInput
from charter.risk import register, scoring, service
from charter.risk.schemas import (
    AssessmentRead,
    ClassificationRead,
    ClassificationRequest,
    HeatMap,
    QuestionnaireRead,
    Rating,
    RiskAccept,
    RiskCategory,
    RiskCreate,
    RiskRead,
    RiskStatus,
    RiskUpdate,
    RulesRead,
    RulesSave,
    RulesText,
)
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])
P = Permission
_VERSION = "/models/{model}/versions/{version}/assessments"


# -- assessments ------------------------------------------------------------------------------------


@router.post(_VERSION, response_model=AssessmentRead, status_code=status.HTTP_201_CREATED)
def assess(model: str, version: str, ctx: Context = Needs(P.EVIDENCE_WRITE)) -> AssessmentRead:
    """Assess the version now: each factor scored with its reasons, the overall rating; stored, and
    recorded as `risk_assessment` evidence on the version."""
    return service.assess(ctx.session, ctx.principal, model, version)


@router.get(_VERSION, response_model=list[AssessmentRead])
def list_assessments(
    model: str, version: str, ctx: Context = Needs(P.RISK_READ), limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AssessmentRead]:
    """The version's assessments, newest first."""
    return service.list_assessments(ctx.session, ctx.principal, model, version, limit=limit)


@router.get(_VERSION + "/latest", response_model=AssessmentRead)
def latest_assessment(model: str, version: str, ctx: Context = Needs(P.RISK_READ)) -> AssessmentRead:
    return service.latest_assessment(ctx.session, ctx.principal, model, version)


@router.get("/assessments/{assessment}", response_model=AssessmentRead)
def read_assessment(assessment: int, ctx: Context = Needs(P.RISK_READ)) -> AssessmentRead:
    return service.read_assessment(ctx.session, ctx.principal, assessment)


# -- rules ------------------------------------------------------------------------------------------


@router.get("/rules", response_model=RulesRead)
def get_rules(ctx: Context = Needs(P.RISK_READ), number: Annotated[int | None, Query(ge=1)] = None) -> RulesRead:
    """The scoring rules in force (or version `number`); before any is stored, the shipped default as number 0."""
    return service.get_rules(ctx.session, ctx.principal, number=number)


@router.get("/rules/versions", response_model=list[RulesRead])
def list_rule_versions(ctx: Context = Needs(P.RISK_READ)) -> list[RulesRead]:
    return service.list_rule_versions(ctx.session, ctx.principal)


@router.put("/rules", response_model=RulesRead)
def save_rules(data: RulesSave, ctx: Context = Needs(P.RISK_WRITE)) -> RulesRead:
    """A new version of the rules (conditions type-checked, errors with positions); assessed versions are
    re-assessed under it."""
    return service.save_rules(ctx.session, ctx.principal, data.document, comment=data.comment)


@router.put("/rules/text", response_model=RulesRead)
def save_rules_text(data: RulesText, ctx: Context = Needs(P.RISK_WRITE)) -> RulesRead:
    """As `PUT /rules`, from the text of a YAML or JSON file."""
    document = scoring.parse_text(data.text)
    return service.save_rules(ctx.session, ctx.principal, document, comment=data.comment)


@router.post("/rules/install", response_model=RulesRead)
def install_rules(ctx: Context = Needs(P.RISK_WRITE)) -> RulesRead:
    """Make the shipped default rules the rules in force."""
    return service.install_rules(ctx.session, ctx.principal)


# -- EU AI Act --------------------------------------------------------------------------------------


@router.get("/questionnaire", response_model=QuestionnaireRead)
def questionnaire(ctx: Context = Needs(P.RISK_READ)) -> QuestionnaireRead:
    """The EU AI Act intake questionnaire: each question with its article or annex point and answer type."""
    return service.questionnaire(ctx.principal)


@router.put("/models/{model}/classification", response_model=ClassificationRead)
def classify(model: str, data: ClassificationRequest, ctx: Context = Needs(P.RISK_WRITE)) -> ClassificationRead:
    """Classify the model from the questionnaire answers (kept in its history); `apply_tier` sets its risk tier."""
    return service.classify_model(ctx.session, ctx.principal, model, data)


@router.get("/models/{model}/classifications", response_model=list[ClassificationRead])
def list_classifications(model: str, ctx: Context = Needs(P.RISK_READ)) -> list[ClassificationRead]:
    return service.list_classifications(ctx.session, ctx.principal, model)


# -- the register -----------------------------------------------------------------------------------


@router.post("/register", response_model=RiskRead, status_code=status.HTTP_201_CREATED)
def create_risk(data: RiskCreate, ctx: Context = Needs(P.RISK_WRITE)) -> RiskRead:
    return register.create_risk(ctx.session, ctx.principal, data)


@router.get("/register", response_model=list[RiskRead])
def list_risks(
    ctx: Context = Needs(P.RISK_READ),
    model: Annotated[str | None, Query(max_length=100)] = None,
    status: RiskStatus | None = None,
    category: RiskCategory | None = None,
    rating: Annotated[Rating | None, Query(description="the residual rating")] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    overdue: bool = False,
    likelihood: Annotated[int | None, Query(ge=1, le=5, description="with `impact`: one heat-map cell")] = None,
    impact: Annotated[int | None, Query(ge=1, le=5)] = None,
    basis: Annotated[Literal["residual", "inherent"], Query(description="the scores the cell is on")] = "residual",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[RiskRead]:
    """Risks you may read, highest residual score first; `overdue`: those past their review date;
    `likelihood` and `impact`: the open and accepted risks in that heat-map cell."""
    if (likelihood is None) != (impact is None):
        raise InvalidInput("Give both `likelihood` and `impact` to pick a heat-map cell, or neither.")
    where = register.RiskFilter(
        model=model,
        status=status,
        category=category,
        rating=rating,
        owner=owner,
        overdue=overdue,
        cell=None if likelihood is None or impact is None else (likelihood, impact),
        residual=basis == "residual",
    )
    return register.list_risks(ctx.session, ctx.principal, where, offset=offset, limit=limit)


@router.get("/register/heat-map", response_model=HeatMap)
def heat_map(ctx: Context = Needs(P.RISK_READ)) -> HeatMap:
    """Open and accepted risks per (likelihood, impact) cell, inherent and residual; per model its latest rating."""
    return register.heat_map(ctx.session, ctx.principal)


@router.get("/register/{risk}", response_model=RiskRead)
def read_risk(risk: int, ctx: Context = Needs(P.RISK_READ)) -> RiskRead:
    return register.read_risk(ctx.session, ctx.principal, risk)


@router.patch("/register/{risk}", response_model=RiskRead)
def update_risk(risk: int, data: RiskUpdate, ctx: Context = Needs(P.RISK_WRITE)) -> RiskRead:
    return register.update_risk(ctx.session, ctx.principal, risk, data)


@router.post("/register/{risk}/accept", response_model=RiskRead)
def accept_risk(risk: int, data: RiskAccept, ctx: Context = Needs(P.RISK_WRITE)) -> RiskRead:
    """Accept the residual risk; a high or critical residual rating needs `risk:accept`."""
    return register.accept_risk(ctx.session, ctx.principal, risk, data)
