"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from charter import __version__
from charter.audit.models import AuditEventRow
from charter.db.engine import Database
from charter.db.migrate import schema_status
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs, app_state

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str


@router.get("/healthz", response_model=Health, summary="The process is up (open)")
def healthz() -> Health:
    return Health(status="ok", version=__version__)


@router.get("/readyz", summary="The database is reachable and its schema is current (open)")
def readyz(request: Request) -> JSONResponse:
    db = app_state(request).db
    try:
        current, head = schema_status(db)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "reason": "the database is not reachable"}, status_code=503)
    if current != head:
        reason = f"the schema is at {current}, this version needs {head}: run `charter db upgrade`"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready", "schema": current})


@router.get(
    "/metrics",
    summary="Prometheus metrics (needs metrics:read; API keys work as bearer tokens)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(ctx: Context = Needs(Permission.METRICS_READ)) -> Response:
    body = ctx.request.app.state.metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def audit_size(db: Database) -> int:
    with db.session(write=False) as session:
        return int(session.scalar(select(func.coalesce(func.max(AuditEventRow.seq), 0))) or 0)
