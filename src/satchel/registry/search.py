"""Filtering and ordering registered versions by tags and metrics."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from satchel.errors import InvalidNameError

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq,
    ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_FILTER = re.compile(r"\s*([A-Za-z0-9._-]+)\s*(>=|<=|!=|==|>|<|=)\s*(\S+)\s*")


def parse_filter(text: str) -> tuple[str, Callable[[Any, Any], bool], float]:
    """``"auc >= 0.9"`` as (metric, comparison, value).

    Raises:
        InvalidNameError: the filter is not ``METRIC OP NUMBER``.
    """
    match = _FILTER.fullmatch(text)
    try:
        value = float(match.group(3)) if match else None
    except ValueError:
        value = None
    if match is None or value is None:
        raise InvalidNameError(f"invalid metric filter {text[:60]!r}: expected METRIC OP NUMBER"
                               " with OP one of >=, <=, >, <, =, !=, for example 'auc >= 0.9'")
    return match.group(1), _COMPARISONS[match.group(2)], value


def matches(version: Any, tags: Mapping[str, str], filters: Sequence[str]) -> bool:
    """Whether ``version`` has all ``tags`` and passes every metric filter."""
    if any(version.tags.get(k) != v for k, v in tags.items()):
        return False
    for text in filters:
        metric, compare, value = parse_filter(text)
        found = version.metrics.get(metric)
        if found is None or not compare(found, value):
            return False
    return True


def order(versions: list[Any], order_by: str | None) -> list[Any]:
    """``versions`` sorted by ``order_by`` (``-`` for descending); missing metrics last."""
    if not order_by:
        return versions
    descending = order_by.startswith("-")
    key = order_by.lstrip("-+")
    if key.startswith("metrics."):
        metric = key.removeprefix("metrics.")
        present = [v for v in versions if metric in v.metrics]
        missing = [v for v in versions if metric not in v.metrics]
        return sorted(present, key=lambda v: v.metrics[metric], reverse=descending) + missing
    if key not in ("version", "created_at", "name", "size"):
        raise InvalidNameError(f"cannot order by {order_by!r}: expected version, created_at,"
                               " name, size or metrics.NAME, optionally prefixed with '-'")
    return sorted(versions, key=lambda v: (getattr(v, key), v.version), reverse=descending)
