"""Prometheus metrics of one server: requests by method and status, latency, model version."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The counters, histograms and gauges ``/metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("satchel_requests", "Prediction requests.",
                                ["method", "status"], registry=self.registry)
        self.latency = Histogram("satchel_request_seconds", "Prediction latency in seconds.",
                                 ["method", "status"], buckets=_BUCKETS, registry=self.registry)
        self.model = Gauge("satchel_model_info", "The served model (value 1).",
                           ["name", "version", "digest"], registry=self.registry)

    def observe(self, method: str, status: int, seconds: float, served: Any) -> None:
        """Count one request."""
        labels = (method if len(method) <= 32 else "other", str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)
        if served is not None:
            self.model.clear()
            self.model.labels(served.name, str(served.version), served.digest).set(1)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
