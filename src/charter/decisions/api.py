"""REST routes for the decision log: log batches, record outcomes, search and export.

Each route parses, calls one service function and shapes the answer. Reading decisions is
recorded in the audit trail, so the read routes open a writing transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from charter.decisions import service
from charter.decisions.pseudonyms import DecisionKeys, keys_for
from charter.decisions.schemas import (
    BatchResult,
    DecisionBatch,
    DecisionFilter,
    DecisionRead,
    Outcome,
    OutcomeRead,
)
from charter.pagination import Page
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs
from charter.server.state import AppState

router = APIRouter(prefix="/api/v1", tags=["decisions"])
P = Permission
ModelRef = Annotated[str, "model id or name"]
Decisions = "/models/{model}/decisions"


def _keys(ctx: Context) -> DecisionKeys:
    return keys_for(ctx.state.settings.secret)


def _filters(
    since: Annotated[datetime | None, Query(description="decided at or after (ISO 8601; UTC if no zone)")] = None,
    until: Annotated[datetime | None, Query(description="decided before (ISO 8601; UTC if no zone)")] = None,
    version: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[
        str | None, Query(max_length=500, description="a data-subject reference as logged, or its `ps:` pseudonym")
    ] = None,
    has_outcome: Annotated[bool | None, Query(description="true: outcome recorded; false: not yet")] = None,
    output: Annotated[
        str | None, Query(max_length=1000, description="the output as JSON; text that is not JSON is a string")
    ] = None,
    decision_id: Annotated[str | None, Query(max_length=200)] = None,
) -> DecisionFilter:
    return DecisionFilter(
        since=since,
        until=until,
        version=version,
        subject=subject,
        has_outcome=has_outcome,
        output=output,
        decision_id=decision_id,
    )


Filters = Annotated[DecisionFilter, Depends(_filters)]
Reveal = Annotated[
    bool, Query(description="decrypt encrypted personal fields (needs `fairness:read`; audited as a reveal)")
]
Attributes = Annotated[
    bool | None,
    Query(description="sensitive attributes: default shown to `fairness:read` holders only; true demands them"),
]


@router.post(Decisions, response_model=BatchResult, summary="Log a batch of automated decisions")
def log_decisions(model: ModelRef, data: DecisionBatch, ctx: Context = Needs(P.DECISION_WRITE)) -> BatchResult:
    """Up to 10,000 decisions per request, each naming the version that made it.

    Input fields named in `personal_fields` are stored as keyed pseudonyms (`ps:`), or encrypted
    (`enc:`) when a dataset linked to the version is special-category data; `subject` is always
    stored as a pseudonym. A decision re-sent exactly as logged is skipped (`duplicates`); a
    different decision under a logged id is refused with 409 and nothing of the batch is stored.
    """
    return service.log_decisions(ctx.session, ctx.principal, model, data, keys=_keys(ctx))


@router.get(Decisions, response_model=Page[DecisionRead], summary="Search logged decisions, newest first")
def list_decisions(
    model: ModelRef,
    filters: Filters,
    ctx: Context = Needs(P.DECISION_READ, write=True),  # every search is recorded in the audit trail
    reveal: Reveal = False,
    attributes: Attributes = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[DecisionRead]:
    return service.list_decisions(
        ctx.session,
        ctx.principal,
        model,
        filters,
        keys=_keys(ctx),
        reveal=reveal,
        attributes=attributes,
        cursor=cursor,
        limit=limit,
    )


def _stream(state: AppState, query: service.Query, keys: DecisionKeys) -> Iterator[str]:
    # The request's transaction has ended by the time the body streams: read in a session of its own.
    with state.db.session(write=False) as session:
        yield from service.export_lines(session, query, keys=keys)


@router.get(
    Decisions + "/export",
    summary="Logged decisions as JSON lines, oldest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export_decisions(
    model: ModelRef,
    filters: Filters,
    ctx: Context = Needs(P.DECISION_READ, write=True),  # the export is recorded in the audit trail
    reveal: Reveal = False,
    attributes: Attributes = None,
) -> StreamingResponse:
    """Every matching decision, one `DecisionRead` per line, streamed; the same filters as the search."""
    keys = _keys(ctx)
    query = service.plan_export(
        ctx.session, ctx.principal, model, filters, keys=keys, reveal=reveal, attributes=attributes
    )
    return StreamingResponse(
        _stream(ctx.state, query, keys),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="charter-decisions.jsonl"'},
    )


@router.post(Decisions + "/{decision_id}/outcome", response_model=OutcomeRead, summary="Record a decision's outcome")
def record_outcome(
    model: ModelRef,
    decision_id: Annotated[str, "the client's decision id"],
    data: Outcome,
    ctx: Context = Needs(P.DECISION_WRITE),
) -> OutcomeRead:
    """The ground truth, when it is known. The same outcome again is accepted; a different one needs
    `replace: true` (a correction, audited)."""
    return service.record_outcome(ctx.session, ctx.principal, model, decision_id, data)
