"""Prometheus metrics: request counts and latencies, and the audit chain's size.

Each app has its own registry (no process-global state, so several apps
can live in one test process). The audit figure is read from the database
at scrape time, so it counts events written by every process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

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


class Metrics:
    def __init__(self, audit_size: Callable[[], int]) -> None:
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

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
