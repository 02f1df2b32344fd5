"""Dashboard pages of compliance: the framework x model matrix, the open gaps across models, and a
model's page (each requirement with its status, the findings that decided it, and the history).

Each page parses, calls the compliance services and renders, as the API does. A status is computed
live from the version's facts (:func:`charter.compliance.service.status_for_model`): the matrix and
the gap list evaluate a page of models at a time and record nothing (``record=False``), so that
looking at many models neither writes nor takes the write lock. A model's own page records its
evaluation in the history when it differs from the last one, as the API's status does: it is one
comparison per framework, and the history then shows the evaluation the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from charter.compliance import service
from charter.compliance.schemas import ComplianceStatus, FrameworkStatus, FrameworkSummary, Gap
from charter.errors import Conflict, PermissionDenied
from charter.identity import service as identity
from charter.identity.schemas import TeamRead
from charter.inventory import service as inventory
from charter.inventory.models import STAGES
from charter.inventory.schemas import ModelRead
from charter.pagination import Page
from charter.policies import gates
from charter.security.permissions import Permission
from charter.server.deps import Context, PageNeeds
from charter.web.render import render

router = APIRouter(include_in_schema=False)
P = Permission
RISK_TIERS = ("unacceptable", "high", "limited", "minimal")
PAGE_SIZES = (25, 50)
GAP_KINDS = ("waived", "not_satisfied", "expired")
GOOD = ("satisfied", "attested")
HISTORY = 50


@dataclass(frozen=True)
class Cell:
    """One model's standing against one framework, as the matrix shows it."""

    framework: str
    applies: bool
    good: int
    bad: int
    lapsed: int
    not_applicable: int
    waived: int

    @property
    def state(self) -> str:
        if not self.applies:
            return "none"
        if self.bad:
            return "gaps"
        return "lapsed" if self.lapsed else "good"


@dataclass(frozen=True)
class Row:
    model: ModelRead
    version: str | None
    cells: dict[str, Cell]
    note: str | None  # why there is no status (no version, not readable)
    gaps: list[Gap]


def _cell(result: FrameworkStatus) -> Cell:
    counts = result.counts
    return Cell(
        framework=result.framework,
        applies=result.applies,
        good=sum(counts.get(s, 0) for s in GOOD),
        bad=counts.get("not_satisfied", 0),
        lapsed=counts.get("expired", 0),
        not_applicable=counts.get("not_applicable", 0),
        waived=sum(1 for g in result.gaps if g.kind == "waived"),
    )


def _status(ctx: Context, model: str, *, version: str | None = None, record: bool = False) -> ComplianceStatus:
    check = gates.signature_checker(ctx.session, ctx.state.protection)
    return service.status_for_model(ctx.session, ctx.principal, model, version, signature_check=check, record=record)


def _row(ctx: Context, model: ModelRead) -> Row:
    try:
        found = _status(ctx, model.name)
    except Conflict:
        return Row(model, None, {}, "no version yet", [])
    except PermissionDenied:
        return Row(model, None, {}, "you may not read its compliance", [])
    return Row(model, found.version, {f.framework: _cell(f) for f in found.frameworks}, None, found.gaps)


def _teams(ctx: Context) -> list[TeamRead]:
    return identity.list_teams(ctx.session, ctx.principal) if ctx.principal.can(P.TEAM_READ) else []


def _models(
    ctx: Context, filters: dict[str, str], teams: list[TeamRead], cursor: str | None, size: int
) -> Page[ModelRead]:
    known_team = filters["team"] if filters["team"] in {t.name for t in teams} else None
    return inventory.list_models(
        ctx.session,
        ctx.principal,
        team=known_team,
        stage=filters["stage"] or None,
        risk_tier=filters["risk"] or None,
        cursor=cursor,
        limit=size,
    )


def _model_filters(team: str | None, stage: str | None, risk: str | None) -> dict[str, str]:
    return {
        "team": (team or "").strip(),
        "stage": stage if stage in STAGES else "",
        "risk": risk if risk in RISK_TIERS else "",
    }


def _next_link(path: str, params: dict[str, Any], cursor: str | None) -> str | None:
    if not cursor:
        return None
    return f"{path}?{urlencode({**{k: v for k, v in params.items() if v}, 'cursor': cursor})}"


# -- the matrix -------------------------------------------------------------------------------------


@router.get("/compliance", response_class=HTMLResponse)
def matrix_page(
    ctx: Context = PageNeeds(P.COMPLIANCE_READ, write=False),
    team: Annotated[str | None, Query(max_length=64)] = None,
    stage: Annotated[str | None, Query(max_length=20)] = None,
    risk: Annotated[str | None, Query(max_length=20)] = None,
    size: Annotated[int, Query(ge=1, le=50)] = 25,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    filters = _model_filters(team, stage, risk)
    size = size if size in PAGE_SIZES else PAGE_SIZES[0]
    teams = _teams(ctx)
    frameworks: list[FrameworkSummary] = service.list_frameworks(ctx.session, ctx.principal)
    page = _models(ctx, filters, teams, cursor, size)
    rows = [_row(ctx, m) for m in page.items]
    return render(
        ctx.request,
        "compliance.html",
        {
            "frameworks": frameworks,
            "rows": rows,
            "filters": filters,
            "size": size,
            "sizes": PAGE_SIZES,
            "teams": teams,
            "stages": STAGES,
            "tiers": RISK_TIERS,
            "next_link": _next_link("/compliance", {**filters, "size": size}, page.next_cursor),
            "first_page": cursor is None,
        },
    )


# -- the gap list -----------------------------------------------------------------------------------


@router.get("/compliance/gaps", response_class=HTMLResponse)
def gaps_page(
    ctx: Context = PageNeeds(P.COMPLIANCE_READ, write=False),
    framework: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    stage: Annotated[str | None, Query(max_length=20)] = None,
    risk: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    frameworks = service.list_frameworks(ctx.session, ctx.principal)
    chosen = framework if framework in {f.id for f in frameworks} else ""
    chosen_kind = kind if kind in GAP_KINDS else ""
    filters = _model_filters(team, stage, risk)
    teams = _teams(ctx)
    page = _models(ctx, filters, teams, cursor, PAGE_SIZES[-1])
    gaps: list[tuple[str, str | None, Gap]] = []
    skipped: list[tuple[str, str]] = []
    for model in page.items:
        row = _row(ctx, model)
        if row.note is not None:
            skipped.append((model.name, row.note))
        for gap in row.gaps:
            if (not chosen or gap.framework == chosen) and (not chosen_kind or gap.kind == chosen_kind):
                gaps.append((model.name, row.version, gap))
    params = {**filters, "framework": chosen, "kind": chosen_kind}
    return render(
        ctx.request,
        "compliance_gaps.html",
        {
            "gaps": gaps,
            "skipped": skipped,
            "models": len(page.items),
            "frameworks": frameworks,
            "kinds": GAP_KINDS,
            "filters": params,
            "teams": teams,
            "stages": STAGES,
            "tiers": RISK_TIERS,
            "next_link": _next_link("/compliance/gaps", params, page.next_cursor),
            "first_page": cursor is None,
        },
    )


# -- a model's compliance ---------------------------------------------------------------------------


@router.get("/compliance/models/{name}", response_class=HTMLResponse)
def model_compliance_page(
    name: str,
    ctx: Context = PageNeeds(P.COMPLIANCE_READ, write=True),  # a changed status is kept in the history
    version: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    model = inventory.read_model(ctx.session, ctx.principal, name)
    versions = inventory.list_versions(ctx.session, ctx.principal, model.name, limit=100).items
    found: ComplianceStatus | None = None
    note = None
    try:
        found = _status(ctx, model.name, version=version or None, record=not version)
    except Conflict as exc:
        note = exc.message
    history = service.history(ctx.session, ctx.principal, model.name, limit=HISTORY)
    return render(
        ctx.request,
        "compliance_model.html",
        {
            "model": model,
            "versions": versions,
            "status": found,
            "note": note,
            "history": history,
            "waived": [g for g in found.gaps if g.kind == "waived"] if found else [],
            "evidence_link": lambda evidence_id: (
                f"/models/{model.name}?{urlencode({'version': found.version if found else ''})}#evidence-{evidence_id}"
            ),
        },
    )
