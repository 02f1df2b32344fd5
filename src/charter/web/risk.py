"""Dashboard pages of risk: the heat map of the register, the register (list, a risk, new risks,
acceptance), and a model's risk (its latest assessment per version with every factor's reasons, the
assessment history, the EU AI Act classification).

Each page parses, calls the risk services and renders, as the API does. Forms carry the session's
CSRF value, checked before the service is called; a refused form comes back on its page in the
service's words and nothing of it is kept. Accepting a high or critical risk without ``risk:accept``
is a denial the person must read: it is shown in place and audited as the error renderer would.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from charter.errors import CharterError, PermissionDenied
from charter.inventory import service as inventory
from charter.risk import register, service
from charter.risk.models import RATINGS, RISK_CATEGORIES, STATUSES, TREATMENTS, RiskRow
from charter.risk.schemas import AssessmentRead, RiskAccept, RiskCreate, RiskRead
from charter.risk.scoring import matrix_rating
from charter.security.permissions import Permission
from charter.security.principal import Scope
from charter.server.deps import Context, PageNeeds
from charter.server.errors import record_refusal
from charter.web.forms import FORM_ERRORS, labelled, submit
from charter.web.pages import CsrfField, check_csrf
from charter.web.render import render

router = APIRouter(include_in_schema=False)
P = Permission
PER_PAGE = 50
MODEL_CHOICES = 500  # models offered in the pickers
HISTORY = 20  # assessments shown per version
LEVELS = (1, 2, 3, 4, 5)
BASES = ("inherent", "residual")
ShortField = Annotated[str, Form(max_length=200)]
LongField = Annotated[str, Form(max_length=10_000)]
DONE_MESSAGES = {
    "created": "The risk was added to the register.",
    "accepted": "The residual risk was accepted.",
    "assessed": "The version was assessed again; its new assessment is shown.",
}
FIELD_LABELS = {
    "title": "Title",
    "category": "Category",
    "likelihood": "Likelihood",
    "impact": "Impact",
    "residual_likelihood": "Residual likelihood",
    "residual_impact": "Residual impact",
    "owner": "Owner",
    "treatment": "Treatment",
    "review_date": "Review date",
    "controls": "Controls",
    "description": "Description",
    "model": "Model",
    "note": "Note",
}


explain = labelled(FIELD_LABELS)


def _choice(value: str | None, allowed: tuple[str, ...]) -> str:
    return value if value is not None and value in allowed else ""


def _model_names(ctx: Context) -> list[str]:
    if not ctx.principal.holds(P.MODEL_READ):
        return []
    return [m.name for m in inventory.list_models(ctx.session, ctx.principal, limit=MODEL_CHOICES).items]


def _cell_class(likelihood: int, impact: int) -> str:
    return f"rating-{matrix_rating(likelihood, impact)}"


# -- the heat map -----------------------------------------------------------------------------------


@router.get("/risk", response_class=HTMLResponse)
def risk_page(ctx: Context = PageNeeds(P.RISK_READ)) -> HTMLResponse:
    heat = register.heat_map(ctx.session, ctx.principal)
    grids = []
    for basis in BASES:
        counts = heat.inherent if basis == "inherent" else heat.residual
        # Rows from the most likely down, as risk matrices are read; columns by impact.
        rows = [
            [(impact, counts[likelihood - 1][impact - 1], _cell_class(likelihood, impact)) for impact in LEVELS]
            for likelihood in reversed(LEVELS)
        ]
        grids.append((basis, list(zip(reversed(LEVELS), rows, strict=True))))
    return render(
        ctx.request,
        "risk.html",
        {"heat": heat, "grids": grids, "ratings": RATINGS, "levels": LEVELS},
    )


# -- the register -----------------------------------------------------------------------------------


def _where(filters: dict[str, str]) -> register.RiskFilter:
    cell = None
    if filters["likelihood"] and filters["impact"]:
        cell = (int(filters["likelihood"]), int(filters["impact"]))
    return register.RiskFilter(
        model=filters["model"] or None,
        status=filters["status"] or None,
        category=filters["category"] or None,
        rating=filters["rating"] or None,
        owner=filters["owner"] or None,
        overdue=filters["overdue"] == "1",
        cell=cell,
        residual=filters["basis"] == "residual",
    )


def _register_page(
    ctx: Context,
    filters: dict[str, str],
    *,
    page: int = 1,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    where = _where(filters)
    total = register.count_risks(ctx.session, ctx.principal, where)
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(page, 1), pages)
    risks = register.list_risks(ctx.session, ctx.principal, where, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    shown = {k: v for k, v in filters.items() if v}

    def link(number: int) -> str:
        return "/risk/register?" + urlencode({**shown, "page": number})

    return render(
        ctx.request,
        "risk_register.html",
        {
            "risks": risks,
            "total": total,
            "page": page,
            "pages": pages,
            "previous_link": link(page - 1) if page > 1 else None,
            "next_link": link(page + 1) if page < pages else None,
            "filters": filters,
            "models": _model_names(ctx),
            "statuses": STATUSES,
            "ratings": RATINGS,
            "categories": RISK_CATEGORIES,
            "treatments": TREATMENTS,
            "levels": LEVELS,
            "can_write": ctx.principal.holds(P.RISK_WRITE),
            "form": form or {},
            "error": error,
        },
        status=status,
    )


def _filters(**values: str | None) -> dict[str, str]:
    return {
        "model": (values.get("model") or "").strip(),
        "status": _choice(values.get("status"), STATUSES),
        "rating": _choice(values.get("rating"), RATINGS),
        "category": _choice(values.get("category"), RISK_CATEGORIES),
        "owner": (values.get("owner") or "").strip(),
        "overdue": "1" if values.get("overdue") in ("1", "true", "on") else "",
        "basis": _choice(values.get("basis"), BASES),
        "likelihood": _choice(values.get("likelihood"), tuple(map(str, LEVELS))),
        "impact": _choice(values.get("impact"), tuple(map(str, LEVELS))),
    }


@router.get("/risk/register", response_class=HTMLResponse)
def register_page(
    ctx: Context = PageNeeds(P.RISK_READ),
    model: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    rating: Annotated[str | None, Query(max_length=20)] = None,
    category: Annotated[str | None, Query(max_length=20)] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    overdue: Annotated[str | None, Query(max_length=5)] = None,
    basis: Annotated[str | None, Query(max_length=10)] = None,
    likelihood: Annotated[str | None, Query(max_length=2)] = None,
    impact: Annotated[str | None, Query(max_length=2)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    filters = _filters(
        model=model,
        status=status,
        rating=rating,
        category=category,
        owner=owner,
        overdue=overdue,
        basis=basis or "residual",
        likelihood=likelihood,
        impact=impact,
    )
    return _register_page(ctx, filters, page=page)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.post("/risk/register", response_class=HTMLResponse)
def create_submit(
    csrf: CsrfField = "",
    model: ShortField = "",
    title: ShortField = "",
    category: ShortField = "",
    likelihood: ShortField = "",
    impact: ShortField = "",
    residual_likelihood: ShortField = "",
    residual_impact: ShortField = "",
    owner: ShortField = "",
    treatment: ShortField = "",
    review_date: ShortField = "",
    description: LongField = "",
    controls: LongField = "",
    ctx: Context = PageNeeds(P.RISK_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {
        "model": model,
        "title": title,
        "category": category,
        "likelihood": likelihood,
        "impact": impact,
        "residual_likelihood": residual_likelihood,
        "residual_impact": residual_impact,
        "owner": owner,
        "treatment": treatment,
        "review_date": review_date,
        "description": description,
        "controls": controls,
    }

    def parse() -> RiskCreate:
        return RiskCreate.model_validate(
            {
                "model": model.strip() or None,
                "title": title,
                "category": category,
                "likelihood": likelihood,
                "impact": impact,
                "residual_likelihood": residual_likelihood or None,
                "residual_impact": residual_impact or None,
                "owner": owner,
                "treatment": treatment or None,
                "review_date": review_date or None,
                "description": description.strip() or None,
                "controls": _lines(controls),
            }
        )

    def create(data: RiskCreate) -> Response:
        created = register.create_risk(ctx.session, ctx.principal, data)
        return RedirectResponse(f"/risk/register/{created.id}?done=created", status_code=303)

    def refuse(error: CharterError) -> Response:
        ctx.session.rollback()
        return _register_page(ctx, _filters(), error=error.message, status=error.status, form=typed)

    return submit(parse, create, refuse=refuse, explain=explain)


def _risk_page(
    ctx: Context,
    risk_id: int,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    risk = register.read_risk(ctx.session, ctx.principal, risk_id)
    scope = _risk_scope(ctx, risk)
    can_write = ctx.principal.can(P.RISK_WRITE, scope)
    needs_accept = risk.residual_rating in register.ACCEPT_NEEDS_PERMISSION
    return render(
        ctx.request,
        "risk_detail.html",
        {
            "risk": risk,
            "can_accept": can_write and risk.status != "closed",
            "needs_accept": needs_accept,
            "holds_accept": ctx.principal.can(P.RISK_ACCEPT, scope),
            "message": message,
            "error": error,
            "form": form or {},
        },
        status=status,
    )


def _risk_scope(ctx: Context, risk: RiskRead) -> Scope:
    row = ctx.session.get(RiskRow, risk.id)
    assert row is not None  # read_risk found it
    return register.scope_of(row)


@router.get("/risk/register/{risk_id}", response_class=HTMLResponse)
def risk_detail_page(
    risk_id: int,
    ctx: Context = PageNeeds(P.RISK_READ),
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _risk_page(ctx, risk_id, message=DONE_MESSAGES.get(done or ""))


@router.post("/risk/register/{risk_id}/accept", response_class=HTMLResponse)
def accept_submit(
    risk_id: int,
    csrf: CsrfField = "",
    note: LongField = "",
    review_date: ShortField = "",
    ctx: Context = PageNeeds(P.RISK_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {"note": note, "review_date": review_date}

    def accept(data: RiskAccept) -> Response:
        try:
            register.accept_risk(ctx.session, ctx.principal, risk_id, data)
        except PermissionDenied as exc:
            # Accepting a high or critical risk needs risk:accept: the person is told in place, and
            # the denial is audited as the error renderer would audit it.
            ctx.session.rollback()
            try:
                page = _risk_page(ctx, risk_id, error=exc.message, status=exc.status, form=typed)
            except PermissionDenied:
                raise exc from None  # not even readable: the error page says why (and audits it, once)
            record_refusal(ctx.request, exc)
            return page
        return RedirectResponse(f"/risk/register/{risk_id}?done=accepted", status_code=303)

    def refuse(error: CharterError) -> Response:
        ctx.session.rollback()
        return _risk_page(ctx, risk_id, error=error.message, status=error.status, form=typed)

    return submit(
        lambda: RiskAccept.model_validate({"note": note, "review_date": review_date or None}),
        accept,
        refuse=refuse,
        explain=explain,
    )


# -- a model's risk ---------------------------------------------------------------------------------


def _evidence_link(model: str, version: str, evidence_id: int) -> str:
    return f"/models/{model}?{urlencode({'version': version})}#evidence-{evidence_id}"


def _model_risk_page(
    ctx: Context, name: str, *, message: str | None = None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    model = inventory.read_model(ctx.session, ctx.principal, name)
    row = inventory.get_model_row(ctx.session, model.id)
    scope = inventory.scope_of(row)
    versions = inventory.list_versions(ctx.session, ctx.principal, model.name, limit=100).items
    assessed: list[tuple[Any, list[AssessmentRead]]] = []
    for version in versions:
        history = service.list_assessments(ctx.session, ctx.principal, model.name, version.version, limit=HISTORY)
        assessed.append((version, history))
    classifications = service.list_classifications(ctx.session, ctx.principal, model.name)
    risks = register.list_risks(ctx.session, ctx.principal, register.RiskFilter(model=model.name), limit=200)
    return render(
        ctx.request,
        "risk_model.html",
        {
            "model": model,
            "assessed": assessed,
            "classification": classifications[0] if classifications else None,
            "classifications": classifications,
            "risks": risks,
            "can_assess": ctx.principal.can(P.EVIDENCE_WRITE, scope),
            "evidence_link": _evidence_link,
            "message": message,
            "error": error,
        },
        status=status,
    )


@router.get("/risk/models/{name}", response_class=HTMLResponse)
def model_risk_page(
    name: str,
    ctx: Context = PageNeeds(P.RISK_READ),
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _model_risk_page(ctx, name, message=DONE_MESSAGES.get(done or ""))


@router.post("/risk/models/{name}/versions/{version}/assess", response_class=HTMLResponse)
def assess_submit(
    name: str, version: str, csrf: CsrfField = "", ctx: Context = PageNeeds(P.EVIDENCE_WRITE)
) -> Response:
    check_csrf(ctx, csrf)
    try:
        service.assess(ctx.session, ctx.principal, name, version)
    except FORM_ERRORS as exc:
        ctx.session.rollback()
        return _model_risk_page(ctx, name, error=exc.message, status=exc.status)
    return RedirectResponse(f"/risk/models/{name}?done=assessed#version-{version}", status_code=303)
