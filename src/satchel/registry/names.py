"""Names in the registry: what a model, alias or tag key may be called, and URIs.

Names become parts of URIs (``models:/churn@production``) and of log lines, so
they are short, printable and cannot traverse paths.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from satchel.errors import InvalidNameError

MAX_LENGTH = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: The largest version number a registry stores (a signed 64-bit integer).
MAX_VERSION = 2**63 - 1
_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))?")


def check_name(name: object, what: str = "model name") -> str:
    """``name`` if it is a valid registry name.

    Raises:
        InvalidNameError: saying what is allowed, what was found, and a fix.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"a {what} must be a string, not {type(name).__name__}")
    if not name or len(name) > MAX_LENGTH or not _NAME.fullmatch(name) or ".." in name:
        suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:MAX_LENGTH]
        fix = f"; for example {suggestion!r}" if suggestion and _NAME.fullmatch(suggestion) \
            and ".." not in suggestion else ""
        raise InvalidNameError(
            f"invalid {what} {name[:60]!r}: expected 1 to {MAX_LENGTH} letters, digits, '.',"
            f" '_' or '-', starting with a letter or digit, without '..'{fix}"
        )
    if name.isdigit() and what == "alias":
        raise InvalidNameError(f"invalid alias {name!r}: an alias cannot be a number, which"
                               " would read as a version")
    return name


def check_alias(alias: object) -> str:
    """``alias`` if an alias may be set, or named in a URI, by that name.

    ``latest`` (in any case) is reserved: ``models:/churn`` is the latest version, and
    ``models:/churn@latest`` naming another would be a trap.

    Raises:
        InvalidNameError: as :func:`check_name`, or for a reserved name.
    """
    name = check_name(alias, "alias")
    if name.lower() == "latest":
        raise InvalidNameError(f"invalid alias {name!r}: 'latest' is reserved, as"
                               " models:/NAME already names the latest version; use that, or"
                               " choose another alias such as 'production'")
    return name


def check_version(version: object) -> int:
    """``version`` as a Python int if it is a valid version number, from 1 to
    :data:`MAX_VERSION`.

    Any integer type is accepted (a numpy integer from a DataFrame, for one), and so is
    a string of ASCII digits; the database stores Python ints only, since sqlite3 binds
    a numpy integer as bytes that no version equals.

    Raises:
        InvalidNameError: a bool, a float, another string or a number out of range.
    """
    expected = f"expected a version number, an integer from 1 to {MAX_VERSION}"
    if isinstance(version, bool):
        raise InvalidNameError(f"{expected}, found the bool {version!r}")
    if isinstance(version, str) and version.isascii() and version.isdigit():
        number = int(version) if len(version) <= 20 else MAX_VERSION + 1
        found = repr(version[:40])
    else:
        try:
            number = operator.index(version)  # type: ignore[arg-type]
        except TypeError:
            raise InvalidNameError(f"{expected}, found {type(version).__name__}"
                                   f" {str(version)[:40]!r}{_number_fix(version)}") from None
        found = str(number) if number.bit_length() <= 128 else f"a {number.bit_length()}-bit number"
    if not 1 <= number <= MAX_VERSION:
        raise InvalidNameError(f"{expected}, found {found}")
    return number


def _number_fix(version: object) -> str:
    """The number that a version written as a folder name ('v2') means."""
    match = re.fullmatch(r"[vV]([1-9][0-9]{0,17})", version) if isinstance(version, str) else None
    return f"; pass {match.group(1)} for {version!r}" if match else ""


@dataclass(frozen=True)
class ModelURI:
    """A parsed ``models:/name``, ``models:/name/3`` or ``models:/name@alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}" + (f"@{self.alias}" if self.alias else "")


def is_model_uri(text: object) -> bool:
    """Whether ``text`` is a ``models:/`` URI."""
    return isinstance(text, str) and text.startswith("models:/")


def parse_uri(text: str) -> ModelURI:
    """Parse a ``models:/`` URI.

    Raises:
        InvalidNameError: the URI is malformed; the message shows the three forms.
    """
    forms = "models:/NAME (latest), models:/NAME/VERSION or models:/NAME@ALIAS"
    if not isinstance(text, str):
        raise InvalidNameError(f"expected a model URI ({forms}) as a string, found"
                               f" {type(text).__name__}")
    match = _URI.fullmatch(text)
    if not match:
        raise InvalidNameError(f"invalid model URI {text[:80]!r}: expected {forms}")
    alias = match.group("alias")
    name = check_name(match.group("name"))
    return ModelURI(name, _version(match.group("version"), text, name),
                    check_alias(alias) if alias is not None else None)


def _version(version: str | None, text: str, name: str) -> int | None:
    """The version number in the URI ``text``: from 1 to :data:`MAX_VERSION`."""
    if version is None:
        return None
    # ASCII digits only: int() reads Arabic-Indic or full-width digits, which
    # check_version refuses.
    number = int(version) if version.isascii() and version.isdigit() else 0
    if number < 1:
        raise InvalidNameError(f"invalid version {version[:20]!r} in {text[:80]!r}: expected a"
                               f" positive integer{_stage_fix(version, name)}")
    if number > MAX_VERSION:
        raise InvalidNameError(f"invalid version in {text[:80]!r}: expected a version from 1"
                               f" to {MAX_VERSION}")
    return number


def _stage_fix(version: str, name: str) -> str:
    """How to write what an MLflow stage URI (``models:/churn/Production``) meant."""
    if version.isascii() and version.isdigit():  # 0: no stage was meant
        return ""
    if version.lower() == "latest":
        return f"; 'models:/{name}' names the latest version"
    if _number_fix(version):  # a folder registry's v2
        return f"; write 'models:/{name}/{version[1:]}' for version {version[1:]}"
    try:
        alias = check_alias(version)
    except InvalidNameError:
        return ""
    return f"; for an alias (satchel's stages), write 'models:/{name}@{alias}'"
