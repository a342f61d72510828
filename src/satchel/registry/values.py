"""Checking what a caller gives the registry: descriptions, tags, metrics, parameters and
search limits, each refused with what was expected and what was found, before anything is
stored (every database stores what passes, and gives it back unchanged)."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from satchel.errors import InvalidNameError
from satchel.metadata import json_data, python_scalar, whole_number
from satchel.registry.names import check_name

#: What no registry database stores as text: NUL (PostgreSQL) and lone surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


#: The longest grace period gc takes, a century: older times are out of the clock's range.
MAX_GRACE_SECONDS = 100 * 365.25 * 86_400


def checked_grace(seconds: object) -> float:
    """``seconds``, gc's grace period: a number from 0 to :data:`MAX_GRACE_SECONDS` (1e300
    raised OverflowError, and a negative one expired the claims of registrations in
    progress).

    Raises:
        ValueError: ``seconds`` is no such number.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            0 <= seconds <= MAX_GRACE_SECONDS):
        raise ValueError(f"grace_seconds must be a number of seconds from 0 to"
                         f" {MAX_GRACE_SECONDS:.0f} (a century; 3600, an hour, by default),"
                         f" not {seconds!r:.40}")
    return float(seconds)


def checked_description(description: object) -> str:
    """``description`` if it is a string (the database has no "no description") that every
    database stores: PostgreSQL's text holds no NUL character, and no database a lone
    surrogate, which is no UTF-8 text (they raised the driver's errors with their SQL)."""
    if not isinstance(description, str):
        raise InvalidNameError(f"a description must be a string, not"
                               f" {type(description).__name__}; pass '' for none")
    unstorable = _UNSTORABLE.search(description)
    if unstorable:
        raise InvalidNameError(
            f"a description must be text a database can store, found {unstorable.group()!r}"
            f" at position {unstorable.start()}: remove NUL characters, and lone surrogates"
            " (bytes decoded with errors='surrogateescape': decode them as UTF-8)")
    return str(description)


def _mapping(given: object, what: str, example: str) -> Mapping[Any, Any]:
    """``given`` if it is a mapping (None: an empty one)."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise InvalidNameError(f"{what}: expected a dict such as {example}, found"
                               f" {type(given).__name__}")
    return given


def checked_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    result = {}
    for key, value in _mapping(tags, "tags", "{'team': 'growth'}").items():
        check_name(key, "tag key")
        if not isinstance(value, str) or len(value) > 1024:
            found = (f"a string of {len(value)} characters" if isinstance(value, str)
                     else type(value).__name__)
            raise InvalidNameError(f"tag {key!r}: expected a string of at most 1024 characters,"
                                   f" found {found}")
        result[key] = str(value)
    return result


def checked_limit(limit: object) -> int | None:
    """``limit`` if it is None or a whole number from 0 (a negative one would slice off
    results from the end)."""
    if limit is None:
        return None
    number = whole_number(limit)
    if number is None:
        raise InvalidNameError(f"limit: expected None or a whole number >= 0, found"
                               f" {str(limit)[:40]!r}")
    return number


def checked_tag_keys(keys: Iterable[str] | None) -> set[str]:
    """The tag keys to remove: a single string is one key, not its letters."""
    if keys is None:
        return set()
    return {check_name(key, "tag key") for key in ([keys] if isinstance(keys, str) else keys)}


def checked_metrics(metrics: Mapping[str, float] | None) -> dict[str, float]:
    result = {}
    for key, value in _mapping(metrics, "metrics", "{'auc': 0.91}").items():
        check_name(key, "metric name")
        number, given = math.nan, python_scalar(value)
        if isinstance(given, (int, float)) and not isinstance(given, bool):
            with contextlib.suppress(OverflowError):  # an int past float's range
                number = float(given)
        if not math.isfinite(number):
            raise InvalidNameError(f"metric {key!r}: expected a finite number, found"
                                   f" {value!r:.40}")
        result[key] = number
    return result


def checked_json(given: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """``given`` as JSON data the database stores and gives back unchanged."""
    result: dict[str, Any] = json_data(_mapping(given, what, "{'C': 1.0}"), what,
                                       InvalidNameError)
    return result
