"""Prometheus metrics of one server: requests by method and status, latency, model version.

Kept as plain counters (a dictionary lookup and a bisection per request) and
written in Prometheus's text exposition format when ``/metrics`` is read.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class _Series:
    count: int = 0
    total: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    """The counters and histograms ``/metrics`` exposes."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], _Series] = {}

    def observe(self, method: str, status: int, seconds: float) -> None:
        """Count one request."""
        key = (method if len(method) <= 32 else "other", str(status))
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series()
        series.count += 1
        series.total += seconds
        series.buckets[bisect_left(_BUCKETS, seconds)] += 1

    def render(self, served: Any) -> tuple[bytes, str]:
        """The text exposition format and its content type, with ``served`` (the model served
        now, None before it loads) as ``satchel_model_info``.

        The model is the one served when the page is read: the one the last request saw was
        missing until a first request and stayed after an alias moved to another version.
        """
        lines = ["# HELP satchel_requests_total Prediction requests.",
                 "# TYPE satchel_requests_total counter"]
        for (method, status), series in sorted(self.series.items()):
            lines.append(f"satchel_requests_total{_labels(method=method, status=status)}"
                         f" {float(series.count)}")
        lines += ["# HELP satchel_request_seconds Prediction latency in seconds.",
                  "# TYPE satchel_request_seconds histogram"]
        for (method, status), series in sorted(self.series.items()):
            lines += _histogram(method, status, series)
        lines += ["# HELP satchel_model_info The served model (value 1).",
                  "# TYPE satchel_model_info gauge"]
        if served is not None:
            lines.append("satchel_model_info" + _labels(
                name=served.name, version=str(served.version), digest=served.digest) + " 1.0")
        return ("\n".join(lines) + "\n").encode(), CONTENT_TYPE


def _histogram(method: str, status: str, series: _Series) -> list[str]:
    lines, cumulative = [], 0
    for bound, count in zip([*map(str, _BUCKETS), "+Inf"], series.buckets, strict=True):
        cumulative += count
        lines.append("satchel_request_seconds_bucket"
                     + _labels(method=method, status=status, le=bound) + f" {float(cumulative)}")
    labels = _labels(method=method, status=status)
    return [*lines, f"satchel_request_seconds_count{labels} {float(series.count)}",
            f"satchel_request_seconds_sum{labels} {series.total!r}"]
