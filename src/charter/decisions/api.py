"""REST routes for the decision log: log batches, record outcomes, search and export.

Each route parses, calls one service function and shapes the answer; the batch route calls two,
preparing the batch in a reading transaction and writing it in a writing one. Reading decisions
is recorded in the audit trail, so the read routes open a writing transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from charter.decisions import service
from charter.decisions.parquet import ParquetLog, configured
from charter.decisions.pseudonyms import DecisionKeys, keys_for
from charter.decisions.schemas import (
    BatchResult,
    DecisionBatch,
    DecisionFilter,
    DecisionRead,
    Outcome,
    OutcomeRead,
    PerformanceRead,
)
from charter.pagination import Page
from charter.security.permissions import Permission
from charter.server.bulk import BulkRoute
from charter.server.deps import Context, Needs
from charter.server.state import AppState

router = APIRouter(prefix="/api/v1", tags=["decisions"])
P = Permission
ModelRef = Annotated[str, "model id or name"]
Decisions = "/models/{model}/decisions"


def _keys(ctx: Context) -> DecisionKeys:
    return keys_for(ctx.state.settings.secret)


def _utc(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _parquet(ctx: Context) -> ParquetLog | None:
    return configured(ctx.state.settings)


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


def log_decisions(
    model: ModelRef, data: DecisionBatch, ctx: Context = Needs(P.DECISION_WRITE, write=False)
) -> BatchResult:
    """Up to 10,000 decisions per request, each naming the version that made it.

    Input fields named in `personal_fields` are stored as keyed pseudonyms (`ps:`), or encrypted
    (`enc:`) when a dataset linked to the version is special-category data; `subject` is always
    stored as a pseudonym. A decision re-sent exactly as logged is skipped (`duplicates`); a
    different decision under a logged id is refused with 409 and nothing of the batch is stored.
    """
    parquet = _parquet(ctx)
    sink = service.DATABASE if parquet is None else parquet
    keys = _keys(ctx)
    # Found in the request's reading transaction, prepared once it has ended, written in a writing
    # one: on SQLite, other writers wait for the write lock only while the batch is written, and no
    # snapshot is held while it is prepared (see service.prepare_decisions).
    target = service.batch_target(ctx.session, ctx.principal, model, data)
    ctx.end_reading()
    prepared = service.prepare_decisions(target, data, keys=keys)
    with ctx.writing() as session:
        return service.log_decisions(session, ctx.principal, model, data, keys=keys, sink=sink, prepared=prepared)


# A bulk route: the batch is parsed and validated with the garbage collector paused.
router.add_api_route(
    Decisions,
    log_decisions,
    methods=["POST"],
    response_model=BatchResult,
    summary="Log a batch of automated decisions",
    route_class_override=BulkRoute,
)


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
        parquet=_parquet(ctx),
    )


def _stream(state: AppState, query: service.Query, keys: DecisionKeys, parquet: ParquetLog | None) -> Iterator[str]:
    # The request's transaction has ended by the time the body streams: read in a session of its own.
    with state.db.session(write=False) as session:
        yield from service.export_lines(session, query, keys=keys, parquet=parquet)


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
    parquet = _parquet(ctx)
    query = service.plan_export(
        ctx.session, ctx.principal, model, filters, keys=keys, reveal=reveal, attributes=attributes, parquet=parquet
    )
    return StreamingResponse(
        _stream(ctx.state, query, keys, parquet),
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
    return service.record_outcome(ctx.session, ctx.principal, model, decision_id, data, parquet=_parquet(ctx))


@router.get(
    Decisions + "/performance",
    response_model=PerformanceRead,
    summary="Accuracy, precision, recall, AUC and calibration per time window, from logged outcomes",
)
def performance(
    model: ModelRef,
    version: Annotated[str, Query(max_length=64)],
    positive_output: Annotated[
        str, Query(max_length=1000, description="the favourable output as JSON; text that is not JSON is a string")
    ],
    ctx: Context = Needs(P.DECISION_READ, write=True),  # recorded in the audit trail
    positive_outcome: Annotated[str | None, Query(max_length=1000, description="default: the same value")] = None,
    since: Annotated[datetime | None, Query(description="decided at or after (ISO 8601; UTC if no zone)")] = None,
    until: Annotated[datetime | None, Query(description="decided before")] = None,
    window: Annotated[str, Query(pattern=r"^\d+(ms|s|min|h|d|w)$", description="e.g. 1h, 1d, 1w")] = "1d",
) -> PerformanceRead:
    return service.performance(
        ctx.session,
        ctx.principal,
        model,
        version,
        positive_output=service.json_or_text(positive_output),
        positive_outcome=None if positive_outcome is None else service.json_or_text(positive_outcome),
        since=_utc(since),
        until=_utc(until),
        window=window,
        parquet=_parquet(ctx),
    )
