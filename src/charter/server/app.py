"""``create_app()``: the server, assembled from its parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select

from charter import __version__
from charter.audit import api as audit_api
from charter.audit import service as audit
from charter.audit.models import AuditCheckpointRow, AuditEventRow
from charter.compliance import api as compliance_api
from charter.config import Settings, get_settings
from charter.db.engine import Database
from charter.db.migrate import check_schema
from charter.decisions import api as decisions_api
from charter.evidence import api as evidence_api
from charter.identity import api as identity_api
from charter.identity import auth
from charter.incidents import api as incidents_api
from charter.inventory import api as inventory_api
from charter.metrics import api as metrics_api
from charter.monitoring import api as monitoring_api
from charter.monitoring import worker
from charter.monitoring.service import firing_counts, monitor_states
from charter.policies import api as policies_api
from charter.reports import api as reports_api
from charter.risk import api as risk_api
from charter.security.principal import Principal
from charter.server.errors import install_error_handlers
from charter.server.health import audit_size
from charter.server.health import router as health_router
from charter.server.metrics import Metrics, MonitoringState
from charter.server.middleware import RequestMiddleware
from charter.server.state import AppState
from charter.training import api as training_api
from charter.web import compliance as compliance_pages
from charter.web import incidents as incident_pages
from charter.web import inventory as inventory_pages
from charter.web import monitoring as monitoring_pages
from charter.web import pages
from charter.web import policies as policy_pages
from charter.web import reports as report_pages
from charter.web import risk as risk_pages
from charter.web import training as training_pages
from charter.web.vendor import VendorFiles

log = logging.getLogger("charter.server")
SCHEDULER = Principal.system("scheduler")


def checkpoint_if_grown(state: AppState) -> bool:
    """Sign a checkpoint when the chain has grown since the last one (run on a schedule)."""
    with state.db.session(write=True) as session:
        last = session.scalar(select(AuditCheckpointRow.size).order_by(AuditCheckpointRow.id.desc()).limit(1))
        size = session.scalar(select(func.coalesce(func.max(AuditEventRow.seq), 0))) or 0
        if size == 0 or (last is not None and last >= size):
            return False
        audit.checkpoint(session, SCHEDULER, key=state.audit_key, origin=state.audit_origin, record_event=False)
    return True


def monitoring_state(state: AppState) -> MonitoringState:
    with state.db.session(write=False) as session:
        return MonitoringState(monitors=monitor_states(session), firing=firing_counts(session))


def monitoring_round(state: AppState) -> None:
    """The in-process worker (``CHARTER_WORKER_INTERVAL``): due monitors, deadlines, notifications."""
    worker.tick(state.db, state.settings)


def housekeeping(state: AppState) -> None:
    """Forget revocations of tokens that have expired anyway (their rows would only grow)."""
    with state.db.session(write=True) as session:
        auth.purge_revoked(session)


HOUSEKEEPING_INTERVAL = 3600


async def _every(interval: int, job: Callable[[], object], what: str) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception("scheduled %s failed", what)


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    """Build the app. Refuses to start on a weak secret, missing keys or an out-of-date schema."""
    settings = settings or get_settings()
    state = AppState.build(settings, db)
    check_schema(state.db)
    state.audit_key  # noqa: B018  (fail now, not at the first checkpoint, when the key file is missing)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_every(HOUSEKEEPING_INTERVAL, lambda: housekeeping(state), "housekeeping"))]
        if settings.audit_checkpoint_interval:
            checkpoint = asyncio.create_task(
                _every(settings.audit_checkpoint_interval, lambda: checkpoint_if_grown(state), "audit checkpoint")
            )
            tasks.append(checkpoint)
        if settings.worker_interval:
            rounds = _every(settings.worker_interval, lambda: monitoring_round(state), "monitoring round")
            tasks.append(asyncio.create_task(rounds))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    app = FastAPI(
        title="Charter",
        version=__version__,
        summary="Security and governance for enterprise AI",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        swagger_ui_oauth2_redirect_url="/api/v1/docs/oauth2-redirect",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.charter = state
    app.state.metrics = Metrics(lambda: audit_size(state.db), lambda: monitoring_state(state))
    app.add_middleware(RequestMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(identity_api.router)
    app.include_router(audit_api.router)
    app.include_router(inventory_api.router)
    app.include_router(evidence_api.router)
    app.include_router(decisions_api.router)
    app.include_router(incidents_api.router)
    app.include_router(metrics_api.router)
    app.include_router(monitoring_api.router)
    app.include_router(policies_api.router)
    app.include_router(risk_api.router)
    app.include_router(compliance_api.router)
    app.include_router(training_api.router)
    app.include_router(reports_api.router)
    app.include_router(pages.router)
    app.include_router(inventory_pages.router)
    app.include_router(incident_pages.router)
    app.include_router(monitoring_pages.router)
    app.include_router(policy_pages.router)
    app.include_router(risk_pages.router)
    app.include_router(compliance_pages.router)
    app.include_router(training_pages.router)
    app.include_router(report_pages.router)
    static = resources.files("charter.web") / "static"
    app.mount("/static/vendor", VendorFiles(), name="vendor")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
