"""REST routes for monitoring: monitors of a model, their runs, alerts, channels and the outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from charter.monitoring import service, worker
from charter.monitoring.schemas import (
    AlertRead,
    ChannelCreate,
    ChannelRead,
    DeliveryRead,
    MonitorCreate,
    MonitorRead,
    MonitorUpdate,
    RunRead,
)
from charter.pagination import Page
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
P = Permission
Monitors = "/models/{model}/monitors"
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post(Monitors, response_model=MonitorRead, status_code=status.HTTP_201_CREATED)
def create_monitor(model: str, data: MonitorCreate, ctx: Context = Needs(P.MONITOR_WRITE)) -> MonitorRead:
    """A check run on a schedule and/or when data arrives; a breach fires an alert (and opens an incident)."""
    return service.create_monitor(ctx.session, ctx.principal, model, data)


@router.get(Monitors, response_model=list[MonitorRead])
def list_monitors(model: str, ctx: Context = Needs(P.MONITOR_READ)) -> list[MonitorRead]:
    return service.list_monitors(ctx.session, ctx.principal, model)


@router.get(Monitors + "/{name}", response_model=MonitorRead)
def read_monitor(model: str, name: str, ctx: Context = Needs(P.MONITOR_READ)) -> MonitorRead:
    return service.read_monitor(ctx.session, ctx.principal, model, name)


@router.patch(Monitors + "/{name}", response_model=MonitorRead)
def update_monitor(model: str, name: str, data: MonitorUpdate, ctx: Context = Needs(P.MONITOR_WRITE)) -> MonitorRead:
    return service.update_monitor(ctx.session, ctx.principal, model, name, data)


@router.delete(Monitors + "/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_monitor(model: str, name: str, ctx: Context = Needs(P.MONITOR_WRITE)) -> Response:
    service.delete_monitor(ctx.session, ctx.principal, model, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(Monitors + "/{name}/run", response_model=RunRead)
def run_monitor(model: str, name: str, ctx: Context = Needs(P.MONITOR_WRITE, write=False)) -> RunRead:
    """Run the monitor now, whatever its schedule; the run (and any alert) is recorded as a scheduled one is.

    The request only reads: the run writes in transactions of its own, so evaluating it never
    holds SQLite's write lock.
    """
    row = service.monitor_for(ctx.session, ctx.principal, model, name, P.MONITOR_WRITE)
    (run,) = worker.run_now(ctx.state.db, ctx.state.settings, [row.id], actor=ctx.principal)
    return run


@router.get(Monitors + "/{name}/runs", response_model=list[RunRead])
def list_runs(model: str, name: str, ctx: Context = Needs(P.MONITOR_READ), limit: Limit = 50) -> list[RunRead]:
    return service.list_runs(ctx.session, ctx.principal, model, name, limit=limit)


@router.get("/alerts", response_model=Page[AlertRead])
def list_alerts(
    ctx: Context = Needs(P.MONITOR_READ),
    model: str | None = None,
    alert_status: Annotated[str | None, Query(alias="status", description="firing or resolved")] = None,
    incident: Annotated[int | None, Query(description="only the alerts attached to this incident")] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[AlertRead]:
    """Alerts, newest first: a model's, or every model's the reader may see (and, for organisation-wide
    readers, the alerts of missed incident deadlines)."""
    return service.list_alerts(
        ctx.session,
        ctx.principal,
        model_ref=model,
        status=alert_status,
        incident_id=incident,
        cursor=cursor,
        limit=limit,
    )


@router.post("/notification-channels", response_model=ChannelRead, status_code=status.HTTP_201_CREATED)
def create_channel(data: ChannelCreate, ctx: Context = Needs(P.MONITOR_WRITE)) -> ChannelRead:
    """A webhook (signed with HMAC-SHA256 when a secret is given), a Slack incoming webhook, or an e-mail address."""
    return service.create_channel(ctx.session, ctx.principal, ctx.state.settings, data)


@router.get("/notification-channels", response_model=list[ChannelRead])
def list_channels(ctx: Context = Needs(P.MONITOR_READ)) -> list[ChannelRead]:
    return service.list_channels(ctx.session, ctx.principal)


@router.get("/notifications", response_model=list[DeliveryRead])
def list_deliveries(
    ctx: Context = Needs(P.MONITOR_READ),
    delivery_status: Annotated[str | None, Query(alias="status", description="pending, sent or dead")] = None,
    limit: Limit = 50,
) -> list[DeliveryRead]:
    """The outbox of notifications, newest first; `status=dead` lists the dead letters."""
    return service.list_deliveries(ctx.session, ctx.principal, status=delivery_status, limit=limit)
