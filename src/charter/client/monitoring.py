"""Monitoring over ``/api/v1``: monitors, their runs, alerts, notification channels and the outbox."""

from __future__ import annotations

from typing import Any

from charter.client.base import ClientBase, query, segment
from charter.monitoring.schemas import AlertRead, ChannelRead, DeliveryRead, MonitorRead, RunRead
from charter.pagination import Page


def _monitors(model: str | int) -> str:
    return f"/api/v1/models/{segment(model)}/monitors"


class MonitoringAPI(ClientBase):
    def add_monitor(
        self,
        model: str | int,
        name: str,
        kind: str,
        config: dict[str, Any],
        *,
        version: str | None = None,
        interval: int | None = 3600,
        on_ingest: bool = False,
        severity: str = "SEV3",
        open_incident: bool = True,
    ) -> MonitorRead:
        """A monitor on a model: ``kind`` is metric_threshold, drift, fairness or data_quality; ``config``
        follows the kind (see ``charter.monitoring.schemas``). For drift, :meth:`drift_reference` makes the
        reference profile from a local file or DataFrame."""
        body = {
            "name": name,
            "kind": kind,
            "config": config,
            "version": version,
            "interval": interval,
            "on_ingest": on_ingest,
            "severity": severity,
            "open_incident": open_incident,
        }
        return self._post(MonitorRead, _monitors(model), body)

    @staticmethod
    def drift_reference(data: Any, *, columns: list[str] | None = None, max_exact_rows: int = 10_000) -> dict[str, Any]:
        """The reference profile a drift monitor compares with, computed here from ``data`` (a file or a frame)."""
        from charter.compute.drift import profile

        return profile(data, columns=columns, max_exact_rows=max_exact_rows).to_dict()

    def monitors(self, model: str | int) -> list[MonitorRead]:
        return self._get(list[MonitorRead], _monitors(model))

    def run_monitor(self, model: str | int, name: str) -> RunRead:
        """Run a monitor now; a breach fires its alert (and opens an incident) as a scheduled run would."""
        return self._post(RunRead, f"{_monitors(model)}/{segment(name)}/run")

    def monitor_runs(self, model: str | int, name: str, *, limit: int = 50) -> list[RunRead]:
        return self._get(list[RunRead], f"{_monitors(model)}/{segment(name)}/runs", query(limit=limit))

    def alerts(
        self,
        *,
        model: str | int | None = None,
        status: str | None = None,
        incident: int | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[AlertRead]:
        """Alerts, newest first, a page at a time (``next_cursor`` continues)."""
        params = query(model=model, status=status, incident=incident, cursor=cursor, limit=limit)
        return self._get(Page[AlertRead], "/api/v1/alerts", params)

    def add_notification_channel(
        self, name: str, kind: str, target: str, *, secret: str | None = None, min_severity: str = "SEV4"
    ) -> ChannelRead:
        body = query(name=name, kind=kind, target=target, secret=secret, min_severity=min_severity)
        return self._post(ChannelRead, "/api/v1/notification-channels", body)

    def notifications(self, *, status: str | None = None, limit: int = 50) -> list[DeliveryRead]:
        return self._get(list[DeliveryRead], "/api/v1/notifications", query(status=status, limit=limit))
