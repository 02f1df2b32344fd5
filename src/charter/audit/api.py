"""REST routes for the audit trail: search, verify, checkpoint, export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from charter.audit import service
from charter.audit.schemas import AuditEventRead, AuditFilter, CheckpointRead, VerifyReport
from charter.errors import NotFound
from charter.pagination import Page
from charter.security.audit_chain import Checkpoint
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs
from charter.server.state import AppState

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
P = Permission


@router.get("/events", response_model=Page[AuditEventRead], summary="Search the audit trail, newest first")
def list_events(
    ctx: Context = Needs(P.AUDIT_READ, write=True),  # reading the trail is itself recorded
    actor: Annotated[str | None, Query(max_length=200, description="e.g. user:alice")] = None,
    action: Annotated[str | None, Query(max_length=100, description="e.g. role.grant")] = None,
    resource_type: Annotated[str | None, Query(max_length=100)] = None,
    resource_id: Annotated[str | None, Query(max_length=300)] = None,
    since: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO 8601, exclusive")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AuditEventRead]:
    filters = AuditFilter(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
        until=until,
    )
    return service.list_events(ctx.session, ctx.principal, filters, cursor=cursor, limit=limit)


@router.get("/verify", response_model=VerifyReport, summary="Verify the whole chain and the stored checkpoints")
def verify(ctx: Context = Needs(P.AUDIT_READ, write=True)) -> VerifyReport:
    return service.verify_as(ctx.session, ctx.principal, public_key=ctx.state.audit_key.public_key())


class VerifyRequest(BaseModel):
    checkpoints: list[CheckpointRead] = Field(description="checkpoints you kept outside Charter", max_length=100)


@router.post(
    "/verify",
    response_model=VerifyReport,
    summary="Verify the chain against checkpoints you kept (detects truncation and rollback)",
)
def verify_against(data: VerifyRequest, ctx: Context = Needs(P.AUDIT_READ)) -> VerifyReport:
    trusted = [Checkpoint(**c.model_dump()) for c in data.checkpoints]
    return service.verify_as(ctx.session, ctx.principal, public_key=ctx.state.audit_key.public_key(), trusted=trusted)


@router.post(
    "/checkpoints",
    response_model=CheckpointRead,
    status_code=status.HTTP_201_CREATED,
    summary="Sign the current head of the chain; keep the answer outside Charter",
)
def create_checkpoint(ctx: Context = Needs(P.AUDIT_CHECKPOINT)) -> CheckpointRead:
    return service.checkpoint(ctx.session, ctx.principal, key=ctx.state.audit_key, origin=ctx.state.audit_origin)


@router.get("/checkpoints/latest", response_model=CheckpointRead)
def latest_checkpoint(ctx: Context = Needs(P.AUDIT_READ)) -> CheckpointRead:
    found = service.latest_checkpoint(ctx.session)
    if found is None:
        raise NotFound("No checkpoint has been made yet; POST /api/v1/audit/checkpoints makes one.")
    return found


def _stream(state: AppState, since_seq: int) -> Iterator[str]:
    # The request's transaction has ended by the time the body streams: read in a session of its own.
    with state.db.session(write=False) as session:
        yield from service.stream_lines(session, since_seq=since_seq)


@router.get(
    "/export",
    summary="Every event as JSON lines, with its hashes",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export(
    ctx: Context = Needs(P.AUDIT_READ, write=True),
    since_seq: Annotated[int, Query(ge=0, description="export events after this seq")] = 0,
) -> StreamingResponse:
    service.record_export(ctx.session, ctx.principal, since_seq=since_seq)
    return StreamingResponse(
        _stream(ctx.state, since_seq),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="charter-audit.jsonl"'},
    )
