"""Dashboard pages of the inventory: the model list, a model's page, datasets; approvals by form.

Pages call the inventory services, as the API does; forms that change something carry the session's
CSRF value. A refused promotion is shown on the model's page, in the reviewer's own words.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from charter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.identity import service as identity
from charter.inventory import api, cards, lifecycle, service
from charter.inventory.models import CLASSIFICATIONS, DOMAINS, STAGES
from charter.inventory.schemas import Promotion
from charter.security.permissions import Permission
from charter.server.deps import Context, PageNeeds
from charter.web import charts
from charter.web.monitoring import model_section
from charter.web.pages import CsrfField, check_csrf
from charter.web.render import render

router = APIRouter(include_in_schema=False)
P = Permission
RISK_TIERS = ("unacceptable", "high", "limited", "minimal")
# Refusals shown on the model's page rather than as an error page (a reviewer should see why, in place).
PROMOTION_ERRORS = (InvalidInput, Conflict, NotFound, PermissionDenied)
MOVE_LABELS = {
    "review": "Submit for review",
    "approved": "Approve",
    "draft": "Send back to draft",
    "production": "Deploy to production",
    "deprecated": "Deprecate",
    "retired": "Retire",
}
DONE_MESSAGES = {
    "promoted": "The version moved to its new stage.",
    "approved": "The version was approved.",
    "ran": "The monitor ran; its result is under Monitoring.",
}


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@router.get("/models", response_class=HTMLResponse)
def models_page(
    ctx: Context = PageNeeds(P.MODEL_READ),
    q: Annotated[str | None, Query(max_length=100)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    stage: Annotated[str | None, Query(max_length=20)] = None,
    risk: Annotated[str | None, Query(max_length=20)] = None,
    domain: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    filters = {
        "q": q or "",
        "team": team or "",
        "stage": _choice(stage, STAGES) or "",
        "risk": _choice(risk, RISK_TIERS) or "",
        "domain": _choice(domain, DOMAINS) or "",
    }
    teams = identity.list_teams(ctx.session, ctx.principal) if ctx.principal.can(P.TEAM_READ) else []
    known_team = team if team in {t.name for t in teams} else None
    page = service.list_models(
        ctx.session,
        ctx.principal,
        query=q or None,
        team=known_team,
        stage=filters["stage"] or None,
        risk_tier=filters["risk"] or None,
        domain=filters["domain"] or None,
        cursor=cursor,
        limit=50,
    )
    next_link = f"/models?{urlencode({**filters, 'cursor': page.next_cursor})}" if page.next_cursor else None
    return render(
        ctx.request,
        "models.html",
        {
            "page": page,
            "filters": filters,
            "teams": teams,
            "stages": STAGES,
            "tiers": RISK_TIERS,
            "domains": DOMAINS,
            "next_link": next_link,
        },
    )


def _model_page(
    ctx: Context,
    name: str,
    *,
    selected: str | None = None,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    model = service.read_model(ctx.session, ctx.principal, name)
    versions = service.list_versions(ctx.session, ctx.principal, name, limit=100).items
    current = next((v for v in versions if v.version == selected), versions[0] if versions else None)
    card = service.model_card(ctx.session, ctx.principal, name, current.version) if current else None
    history = service.history(ctx.session, ctx.principal, name, limit=30).items
    from charter.evidence import service as evidence

    fairness = []
    if current:
        for item in evidence.list_evidence(
            ctx.session, ctx.principal, name, current.version, kind="fairness", bodies=True
        ):
            assert item.body is not None
            fairness.append(
                {"evidence": item, "body": item.body, "chart": charts.embed(charts.fairness_bars(item.body))}
            )
    row = service.get_model_row(ctx.session, model.id)
    scope = service.scope_of(row)
    decisions = None
    if current and ctx.principal.can(P.DECISION_READ, scope):
        from charter.decisions import service as decision_log
        from charter.decisions.parquet import configured
        from charter.decisions.pseudonyms import keys_for
        from charter.decisions.schemas import DecisionFilter

        keys = keys_for(ctx.state.settings.secret)
        decisions = decision_log.list_decisions(
            ctx.session,
            ctx.principal,
            name,
            DecisionFilter(version=current.version),
            keys=keys,
            limit=10,
            parquet=configured(ctx.state.settings),
        ).items
    moves = []
    if current:
        for target in lifecycle.allowed_next(current.stage):
            needed = lifecycle.permissions_for(current.stage, target) or ()
            if any(ctx.principal.can(p, scope) for p in needed):
                moves.append(target)
    return render(
        ctx.request,
        "model.html",
        {
            "model": model,
            "versions": versions,
            "current": current,
            "card": card,
            "card_json": cards.to_json(card) if card else None,
            "history": history,
            "fairness": fairness,
            "decisions": decisions,
            "monitoring": model_section(ctx, model.name, scope),
            "moves": moves,
            "move_labels": MOVE_LABELS,
            "message": message,
            "error": error,
            "can_override": ctx.principal.can(P.ARTIFACT_OVERRIDE, scope),
            "can_download": ctx.principal.can(P.ARTIFACT_READ, scope),
        },
        status=status,
    )


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(
    name: str,
    ctx: Context = PageNeeds(P.MODEL_READ, write=True),  # reading decisions is audited
    version: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _model_page(ctx, name, selected=version, message=DONE_MESSAGES.get(done or ""))


@router.post("/models/{name}/versions/{version}/promote", response_class=HTMLResponse)
def promote_submit(
    name: str,
    version: str,
    csrf: CsrfField = "",
    stage: Annotated[str, Form(max_length=20)] = "",
    comment: Annotated[str, Form(max_length=5000)] = "",
    ctx: Context = PageNeeds(P.MODEL_READ, write=True),
) -> Response:
    check_csrf(ctx, csrf)
    try:
        data = Promotion(stage=stage, comment=comment or None)
    except ValidationError:
        return _model_page(ctx, name, selected=version, error=f"{stage!r} is not a lifecycle stage.", status=422)
    try:
        service.promote(ctx.session, ctx.principal, name, version, data, protection=ctx.state.protection)
    except PROMOTION_ERRORS as exc:
        ctx.session.rollback()
        if exc.audit is not None:  # keep the refusal in the model's history, as the API does
            from charter.server.errors import record_refusal

            record_refusal(ctx.request, exc)
        return _model_page(ctx, name, selected=version, error=exc.message, status=exc.status)
    done = "approved" if stage == "approved" else "promoted"
    return RedirectResponse(f"/models/{name}?{urlencode({'version': version, 'done': done})}", status_code=303)


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(
    ctx: Context = PageNeeds(P.DATASET_READ),
    q: Annotated[str | None, Query(max_length=100)] = None,
    classification: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    chosen = _choice(classification, CLASSIFICATIONS)
    page = service.list_datasets(ctx.session, ctx.principal, query=q or None, classification=chosen, cursor=cursor)
    return render(
        ctx.request,
        "datasets.html",
        {"page": page, "q": q or "", "classification": chosen or "", "classifications": CLASSIFICATIONS},
    )


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(name: str, ctx: Context = PageNeeds(P.DATASET_READ)) -> HTMLResponse:
    dataset = service.read_dataset(ctx.session, ctx.principal, name)
    used_by = service.dataset_usage(ctx.session, ctx.principal, name)
    return render(ctx.request, "dataset.html", {"dataset": dataset, "used_by": used_by})


# The dashboard's download and export links: the API's answers, authenticated by the session cookie.


@router.get("/models/{name}/versions/{version}/files/{path:path}")
def download_page(
    name: str, version: str, path: str, ctx: Context = PageNeeds(P.ARTIFACT_READ, write=True)
) -> Response:
    return api.download_response(ctx, name, version, path)


@router.get("/models/{name}/versions/{version}/card.{format}")
def card_page(name: str, version: str, format: str, ctx: Context = PageNeeds(P.MODEL_READ)) -> Response:
    formats = {"md": "markdown", "json": "json", "cdx.json": "cyclonedx"}
    if format not in formats:
        raise NotFound("Cards export as card.md, card.json or card.cdx.json.")
    return api.card_response(ctx, name, version, formats[format])
