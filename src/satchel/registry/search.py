"""Filtering and ordering registered versions by tags and metrics."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from satchel.errors import InvalidNameError

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq,
    ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_FILTER = re.compile(r"\s*([A-Za-z0-9._-]+)\s*(>=|<=|!=|==|>|<|=)\s*(\S+)\s*")


#: A parsed metric filter: (metric, comparison, value).
Filter = tuple[str, Callable[[Any, Any], bool], float]


def parse_filter(text: object) -> Filter:
    """``"auc >= 0.9"`` as (metric, comparison, value).

    Raises:
        InvalidNameError: the filter is not ``METRIC OP NUMBER`` (a NaN, which no metric
            equals, included).
    """
    match = _FILTER.fullmatch(text) if isinstance(text, str) else None
    try:
        value = float(match.group(3)) if match else math.nan
    except ValueError:
        value = math.nan
    if match is None or math.isnan(value):
        raise InvalidNameError(f"invalid metric filter {str(text)[:60]!r}: expected METRIC OP"
                               " NUMBER with OP one of >=, <=, >, <, =, !=, for example"
                               " 'auc >= 0.9'")
    return match.group(1), _COMPARISONS[match.group(2)], value


def parse_filters(texts: str | Iterable[str]) -> list[Filter]:
    """Every filter of ``texts``, parsed before any version is looked at: a single string is
    one filter (not one per letter), and a bad filter is refused even when nothing would be
    compared with it.

    Raises:
        InvalidNameError: as :func:`parse_filter`.
    """
    return [parse_filter(text) for text in ([texts] if isinstance(texts, str) else texts)]


def matches(version: Any, tags: Mapping[str, str], filters: Sequence[Filter]) -> bool:
    """Whether ``version`` has all ``tags`` and passes every parsed metric filter."""
    if any(version.tags.get(k) != v for k, v in tags.items()):
        return False
    for metric, compare, value in filters:
        found = version.metrics.get(metric)
        if found is None or not compare(found, value):
            return False
    return True


def order_key(order_by: str | None) -> tuple[str, bool] | None:
    """The field ``order_by`` names and whether it is descending, None for no order.

    Raises:
        InvalidNameError: it names no field versions are ordered by.
    """
    if order_by is None or order_by == "":
        return None
    if not isinstance(order_by, str):
        raise InvalidNameError(f"order_by must be a field's name as a string, such as"
                               f" '-metrics.auc', not {type(order_by).__name__}")
    key = order_by.lstrip("-+")
    if not key.startswith("metrics.") and key not in ("version", "created_at", "name", "size"):
        raise InvalidNameError(f"cannot order by {order_by!r}: expected version, created_at,"
                               " name, size or metrics.NAME, optionally prefixed with '-'")
    return key, order_by.startswith("-")


def order(versions: list[Any], order_by: str | None) -> list[Any]:
    """``versions`` sorted by ``order_by`` (``-`` for descending); missing metrics last."""
    found = order_key(order_by)
    if found is None:
        return versions
    key, descending = found
    if key.startswith("metrics."):
        metric = key.removeprefix("metrics.")
        present = [v for v in versions if metric in v.metrics]
        missing = [v for v in versions if metric not in v.metrics]
        return sorted(present, key=lambda v: v.metrics[metric], reverse=descending) + missing
    return sorted(versions, key=lambda v: (getattr(v, key), v.version), reverse=descending)
