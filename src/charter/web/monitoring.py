"""Dashboard pages of monitoring: the alerts list, running a monitor on demand, a model's metrics report,
and the Monitoring section of the model page (its monitors, open incidents and metric charts).

Charts follow ``charts.py``: the page embeds Plotly's JSON (data and layout) in a
``<script type="application/json" class="chart-data">`` element and ``static/charts.js`` draws it, so
the Content-Security-Policy stays ``script-src 'self'``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from charter.errors import InvalidInput, NotFound
from charter.incidents import lifecycle
from charter.incidents import service as incidents
from charter.incidents.schemas import IncidentRead
from charter.inventory import service as inventory
from charter.metrics import service as metrics
from charter.metrics.schemas import AnomalyRead, MetricsReport, SeriesData, SeriesReport, ThresholdRead
from charter.monitoring import service as monitoring
from charter.monitoring import worker
from charter.monitoring.schemas import AlertRead, MonitorRead
from charter.security.permissions import Permission
from charter.security.principal import Scope
from charter.server.deps import Context, PageNeeds
from charter.web import charts
from charter.web.pages import CsrfField, check_csrf
from charter.web.render import render

router = APIRouter(include_in_schema=False)
P = Permission
ALERT_STATUSES = ("firing", "resolved")
ALERTS_SHOWN = 500
MODEL_CHOICES = 500
CHART_DAYS = 30  # the model page charts the last 30 days
MAX_CHARTS = 12  # metrics charted on the model page; the report page charts them all
OPEN_INCIDENTS = 50
PALETTE = ("#2f5fb3", "#2e8b57", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#c0392b", "#2c3e50")
ANOMALY_COLOUR = "#d62728"
THRESHOLD_COLOUR = "#7a5d00"
SeriesKey = tuple[str, str | None, tuple[tuple[str, str], ...]]
# The resolution read_series chose: the finest that keeps the charts to a few thousand points.
RESOLUTIONS = {
    "raw": "Every point is shown",
    "1m": "Each point is a minute's mean (every point would be too many)",
    "1h": "Each point is an hour's mean (every point would be too many)",
    "1d": "Each point is a day's mean (every point would be too many)",
}


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _model_names(ctx: Context) -> list[str]:
    return [m.name for m in inventory.list_models(ctx.session, ctx.principal, limit=MODEL_CHOICES).items]


# -- charts -----------------------------------------------------------------------------------------


def _key(name: str, version: str | None, segment: dict[str, str]) -> SeriesKey:
    return name, version, tuple(sorted(segment.items()))


def series_label(version: str | None, segment: dict[str, str]) -> str:
    """How a series is named: its version and labels (``1.0.0 · region=eu``)."""
    return " · ".join([version or "any version", *(f"{k}={v}" for k, v in sorted(segment.items()))])


def _text(value: str) -> str:
    # Plotly reads names and hover text as a little HTML: labels come from clients, so they are shown as text.
    return html.escape(value, quote=False)


def _x(moment: datetime) -> str:
    # Plotly ignores zones in date strings: every time is written as UTC without one.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def metric_figure(
    name: str,
    series: Sequence[SeriesData],
    anomalies: dict[SeriesKey, list[AnomalyRead]],
    thresholds: Sequence[ThresholdRead],
) -> dict[str, Any]:
    """One metric over time: a line per series, its anomalies as red points, its thresholds as dashed lines."""
    data: list[dict[str, Any]] = []
    marked_x: list[str] = []
    marked_y: list[float] = []
    marked_text: list[str] = []
    for n, s in enumerate(series):
        label = _text(series_label(s.version, s.segment))
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if len(s.time) < 50 else "lines",
                "name": label,
                "x": [_x(t) for t in s.time],
                "y": s.value,
                "line": {"color": PALETTE[n % len(PALETTE)], "width": 1.5},
                "marker": {"size": 4},
                "hovertemplate": "%{x}<br>%{y:.4g}",
            }
        )
        for a in anomalies.get(_key(s.name, s.version, s.segment), []):
            marked_x.append(_x(a.time))
            marked_y.append(a.value)
            marked_text.append(f"{label}: {_text(a.reason)}")
    if marked_x:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "anomaly",
                "x": marked_x,
                "y": marked_y,
                "text": marked_text,
                "marker": {"color": ANOMALY_COLOUR, "size": 9, "line": {"color": "#fff", "width": 1}},
                "hovertemplate": "%{x}<br>%{y:.4g}<br>%{text}<extra>anomaly</extra>",
            }
        )
    times = [t for s in series for t in s.time]
    if times:
        # A threshold is a trace across the charted range, not a layout shape: it is then in the legend,
        # and in the y axis's range even when every point is far from it.
        ends = [_x(min(times)), _x(max(times))]
        for t in thresholds:
            if t.name == name:
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": f"threshold {t.op} {t.value:g}",
                        "x": ends,
                        "y": [t.value, t.value],
                        "line": {"color": THRESHOLD_COLOUR, "dash": "dash", "width": 1.5},
                        "hoverinfo": "skip",
                    }
                )
    return {
        "data": data,
        "layout": {
            "height": 300,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
            "xaxis": {"type": "date"},
            "yaxis": {"title": {"text": _text(name)}},
            "legend": {"orientation": "h", "y": -0.2},
            "showlegend": True,
            "font": {"size": 12},
        },
    }


@dataclass(frozen=True)
class MetricChart:
    name: str
    element_id: str
    spec: Markup
    series: int
    points: int
    anomalies: int


@dataclass(frozen=True)
class Charts:
    """The charts of a model's metrics over a range, or why there are none."""

    charts: list[MetricChart] = field(default_factory=list)
    resolution: str | None = None
    report: MetricsReport | None = None
    note: str | None = None
    more: int = 0  # metrics left out (``limit``)

    @property
    def resolution_text(self) -> str:
        return RESOLUTIONS.get(self.resolution or "", "")


def metric_charts(
    ctx: Context, model: str, *, since: datetime, until: datetime | None = None, limit: int | None = None
) -> Charts:
    """Read the model's series over the range (automatic resolution) and the report at that same
    resolution, so the anomalies it finds sit on the charted lines."""
    query = metrics.SeriesQuery(since=since, until=until)
    try:
        read = metrics.read_series(ctx.session, ctx.principal, model, query)
        report = metrics.report(ctx.session, ctx.principal, model, replace(query, resolution=read.resolution))
    except InvalidInput as exc:  # too many series or points: the page says so rather than failing
        return Charts(note=exc.message)
    anomalies = {_key(s.name, s.version, s.segment): s.anomalies for s in report.series}
    by_name: dict[str, list[SeriesData]] = {}
    for s in read.series:
        if s.time:
            by_name.setdefault(s.name, []).append(s)
    names = sorted(by_name)
    shown = names if limit is None else names[:limit]
    found = []
    for n, name in enumerate(shown):
        lines = by_name[name]
        spec = metric_figure(name, lines, anomalies, report.thresholds)
        found.append(
            MetricChart(
                name=name,
                element_id=f"metric-chart-{n}",
                spec=charts.embed(spec),
                series=len(lines),
                points=sum(len(s.time) for s in lines),
                anomalies=sum(len(anomalies.get(_key(s.name, s.version, s.segment), [])) for s in lines),
            )
        )
    note = None if found else "No metric point in this range."
    return Charts(found, read.resolution, report, note, len(names) - len(shown))


# -- the model page's section -----------------------------------------------------------------------


@dataclass(frozen=True)
class ModelMonitoring:
    """What the model page shows under "Monitoring"; a part is None when the reader may not see it."""

    monitors: list[MonitorRead] | None
    can_run: bool
    incidents: list[IncidentRead] | None
    can_report: bool
    charts: Charts | None


def model_section(ctx: Context, model: str, scope: Scope) -> ModelMonitoring | None:
    """The model page's Monitoring section for this reader (None: they read neither monitors nor incidents)."""
    can_monitors = ctx.principal.can(P.MONITOR_READ, scope)
    can_incidents = ctx.principal.can(P.INCIDENT_READ, scope)
    if not (can_monitors or can_incidents):
        return None
    open_incidents = None
    if can_incidents:
        found = incidents.list_incidents(
            ctx.session, ctx.principal, model=model, status=list(lifecycle.OPEN), limit=OPEN_INCIDENTS
        ).items
        open_incidents = sorted(found, key=lambda i: (lifecycle.rank(i.severity), -i.id))  # worst first
    return ModelMonitoring(
        monitors=monitoring.list_monitors(ctx.session, ctx.principal, model) if can_monitors else None,
        can_run=ctx.principal.can(P.MONITOR_WRITE, scope),
        incidents=open_incidents,
        can_report=ctx.principal.can(P.INCIDENT_WRITE, scope),
        charts=metric_charts(ctx, model, since=_now() - timedelta(days=CHART_DAYS), limit=MAX_CHARTS)
        if can_monitors
        else None,
    )


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/models/{name}/monitors/{monitor}/run")
def run_now_submit(
    name: str,
    monitor: str,
    csrf: CsrfField = "",
    # The request only reads: the run writes in transactions of its own (as the API's run route does),
    # so a slow check never holds SQLite's write lock.
    ctx: Context = PageNeeds(P.MONITOR_WRITE, write=False),
) -> Response:
    check_csrf(ctx, csrf)
    row = monitoring.monitor_for(ctx.session, ctx.principal, name, monitor, P.MONITOR_WRITE)
    worker.run_now(ctx.state.db, ctx.state.settings, [row.id], actor=ctx.principal)
    return RedirectResponse(f"/models/{quote(name)}?done=ran#monitoring", status_code=303)


# -- a model's metrics report -----------------------------------------------------------------------


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD), not {value[:20]!r}.") from exc


def _at_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@router.get("/models/{name}/metrics", response_class=HTMLResponse)
def metrics_report_page(
    name: str,
    ctx: Context = PageNeeds(P.MONITOR_READ),
    since: Annotated[str | None, Query(max_length=20)] = None,
    until: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """Trend, anomalies, change points and threshold breaches of every series of the model over a range
    of days (``until`` included), with a chart per metric."""
    model = inventory.read_model(ctx.session, ctx.principal, name)
    today = _now().date()
    error = None
    try:
        first = _day(since, "From") or today - timedelta(days=CHART_DAYS - 1)
        last = _day(until, "To") or today
        if first > last:
            raise InvalidInput("The range must start on or before the day it ends.")
    except InvalidInput as exc:
        error, first, last = exc.message, today - timedelta(days=CHART_DAYS - 1), today
    found = metric_charts(ctx, model.name, since=_at_midnight(first), until=_at_midnight(last + timedelta(days=1)))
    rows: list[SeriesReport] = found.report.series if found.report else []
    return render(
        ctx.request,
        "metrics_report.html",
        {
            "model": model,
            "since": first.isoformat(),
            "until": last.isoformat(),
            "found": found,
            "rows": [r for r in rows if r.points],
            "empty": [r for r in rows if not r.points],
            "label": series_label,
            "error": error,
        },
        status=422 if error else 200,
    )


# -- alerts -----------------------------------------------------------------------------------------


def _alerts(ctx: Context, model: str | None, status: str | None) -> list[AlertRead]:
    # The service keeps a team reader to their teams' models.
    page = monitoring.list_alerts(ctx.session, ctx.principal, model_ref=model, status=status, limit=ALERTS_SHOWN)
    return page.items


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    ctx: Context = PageNeeds(P.MONITOR_READ),
    status: Annotated[str | None, Query(max_length=10)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    chosen = _choice(status, ALERT_STATUSES)
    error = None
    try:
        found = _alerts(ctx, model or None, chosen)
    except NotFound as exc:
        error, found = exc.message, []
    # Firing first (what needs attention), then newest.
    found.sort(key=lambda a: (a.status != "firing", -a.id))
    return render(
        ctx.request,
        "alerts.html",
        {
            "alerts": found,
            "filters": {"status": chosen or "", "model": model or ""},
            "statuses": ALERT_STATUSES,
            "models": _model_names(ctx),
            "firing": sum(a.status == "firing" for a in found),
            "error": error,
        },
        status=404 if error else 200,
    )
