"""The argument types of the ``satchel`` command: each checks one argument as argparse
parses it, so that a bad one is refused with what was expected before anything runs."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from satchel.errors import FormatError, InvalidNameError
from satchel.format.trust import split_name
from satchel.registry.names import is_model_uri, parse_uri


def integer(low: int, high: int | None = None, *, what: str = "an integer"
            ) -> Callable[[str], int]:
    """An argparse ``type``: an integer from ``low`` to ``high`` (no limit when None).

    Example:
        >>> parser.add_argument("--port", type=integer(0, 65535))  # doctest: +SKIP
    """
    expected = f"{what} from {low} to {high}" if high is not None else f"{what} >= {low}"

    def convert(text: str) -> int:
        # Digits alone, as written in ASCII: int() also reads ' 8_0 ' and '٣'.
        digits = text[1:] if text[:1] == "-" else text
        value = int(text) if digits.isascii() and digits.isdigit() else low - 1
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text[:40]!r}")
        return value

    return convert


def number(low: float, high: float = math.inf, *, above: bool = False,
           unit: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a finite number from ``low`` (or above it, with ``above``) to
    ``high``; NaN and infinities are refused."""
    expected = f"a finite number {'>' if above else '>='} {_plain_number(low)}" + (
        f" and <= {_plain_number(high)}" if math.isfinite(high) else "") + (
        f" {unit}" if unit else "")

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan  # not a number: refused below with the same message
        inside = low < value <= high if above else low <= value <= high
        if not (math.isfinite(value) and inside):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text[:40]!r}")
        return value

    return convert


def _plain_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def model_uri(text: str) -> str:
    """An argparse ``type``: a well-formed ``models:/`` URI (the model need not exist)."""
    try:
        parse_uri(text)
    except InvalidNameError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def target(text: str) -> str:
    """An argparse ``type``: a file path, or a ``models:/`` URI checked by :func:`model_uri`."""
    return model_uri(text) if is_model_uri(text) else text


def trusted_name(text: str) -> str:
    """An argparse ``type``: a name ``--trust`` takes, checked before anything is loaded."""
    try:
        split_name(text)
    except FormatError:
        raise argparse.ArgumentTypeError(
            f"invalid name {text[:80]!r}: expected a dotted name of Python identifiers, such as"
            " mypkg.features.MyScaler; satchel untrusted FILE lists those a file needs"
        ) from None
    return text


def host(text: str) -> str:
    """An argparse ``type``: an address to bind, never empty: the system binds an empty one
    to every interface, so an unset variable (``--host "$HOST"``) would open the server to
    the network. 0.0.0.0 says so on purpose."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected an address such as 127.0.0.1 (or 0.0.0.0"
                                         f" for every interface), found {text!r}")
    return text
