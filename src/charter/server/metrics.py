"""Prometheus metrics: request counts and latencies, the audit chain's size, monitors and alerts.

Each app has its own registry (no process-global state, so several apps
can live in one test process). The audit, monitor and alert figures are read
from the database at scrape time, so they count what every process wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _AuditCollector(Collector):
    def __init__(self, size: Callable[[], int]) -> None:
        self._size = size

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("charter_audit_events", "Events in the audit chain (all processes)")
        family.add_metric([], float(self._size()))
        yield family


class _MonitoringCollector(Collector):
    """Monitor results and firing alerts, read from the database at scrape time (every worker's)."""

    def __init__(self, read: Callable[[], MonitoringState]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        state = self._read()
        value = GaugeMetricFamily("charter_monitor_value", "Last value a monitor measured", labels=["model", "monitor"])
        breach = GaugeMetricFamily(
            "charter_monitor_breached", "1 when a monitor's last run found a breach", labels=["model", "monitor"]
        )
        failing = GaugeMetricFamily(
            "charter_monitor_error", "1 when a monitor's last run could not check", labels=["model", "monitor"]
        )
        for model, monitor, status, last in state.monitors:
            if last is not None:
                value.add_metric([model, monitor], last)
            breach.add_metric([model, monitor], 1.0 if status == "breach" else 0.0)
            failing.add_metric([model, monitor], 1.0 if status == "error" else 0.0)
        alerts = GaugeMetricFamily("charter_alerts_firing", "Alerts firing", labels=["model", "severity"])
        for alerted, severity, count in state.firing:  # an incident's deadline names no model
            alerts.add_metric([alerted or "", severity], float(count))
        yield from (value, breach, failing, alerts)


@dataclass(frozen=True)
class MonitoringState:
    monitors: list[tuple[str, str, str | None, float | None]]
    firing: list[tuple[str | None, str, int]]


class Metrics:
    def __init__(self, audit_size: Callable[[], int], monitoring: Callable[[], MonitoringState] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "charter_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "charter_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_AuditCollector(audit_size))
        if monitoring is not None:
            self.registry.register(_MonitoringCollector(monitoring))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
