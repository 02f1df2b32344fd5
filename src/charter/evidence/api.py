"""REST routes for evidence on a model version."""

from __future__ import annotations

from typing import Annotated, TypedDict

from fastapi import APIRouter, Query, status

from charter.decisions.parquet import configured
from charter.evidence import service
from charter.evidence.schemas import DecisionFairnessCreate, EvidenceRead, FairnessEvidenceCreate
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1")
P = Permission
VersionPath = "/models/{model}/versions/{version}/evidence"


class _Defaults(TypedDict):
    default_thresholds: dict[str, tuple[str, float]]
    default_min_group_size: int


def _defaults(ctx: Context) -> _Defaults:
    """The configured fairness thresholds and minimum group size, for requests that leave them out."""
    settings = ctx.state.settings
    return {
        "default_thresholds": dict(settings.fairness_thresholds),
        "default_min_group_size": settings.fairness_min_group_size,
    }


@router.post(
    VersionPath + "/fairness", response_model=EvidenceRead, status_code=status.HTTP_201_CREATED, tags=["evidence"]
)
def record_fairness(
    model: str, version: str, data: FairnessEvidenceCreate, ctx: Context = Needs(P.EVIDENCE_WRITE)
) -> EvidenceRead:
    """Store a fairness assessment: the server derives and judges the metrics from the statistics sent."""
    return service.record_fairness(ctx.session, ctx.principal, model, version, data, **_defaults(ctx))


@router.post(
    VersionPath + "/fairness-from-decisions",
    response_model=EvidenceRead,
    status_code=status.HTTP_201_CREATED,
    tags=["evidence"],
)
def fairness_from_decisions(
    model: str, version: str, data: DecisionFairnessCreate, ctx: Context = Needs(P.EVIDENCE_WRITE)
) -> EvidenceRead:
    """Assess the version's logged decisions with known outcomes in a time window (needs `fairness:read` too)."""
    return service.fairness_from_decisions(
        ctx.session, ctx.principal, model, version, data, **_defaults(ctx), parquet=configured(ctx.state.settings)
    )


@router.get(VersionPath, response_model=list[EvidenceRead], tags=["evidence"])
def list_evidence(
    model: str,
    version: str,
    ctx: Context = Needs(P.MODEL_READ),
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> list[EvidenceRead]:
    """The version's evidence, newest first (without the full results; read one for its body)."""
    return service.list_evidence(ctx.session, ctx.principal, model, version, kind=kind)


@router.get(VersionPath + "/{evidence_id}", response_model=EvidenceRead, tags=["evidence"])
def read_evidence(model: str, version: str, evidence_id: int, ctx: Context = Needs(P.MODEL_READ)) -> EvidenceRead:
    return service.read_evidence(ctx.session, ctx.principal, model, version, evidence_id)
