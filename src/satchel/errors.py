"""satchel's error tree.

Every error satchel raises on purpose is a :class:`SatchelError`. Each subclass
also inherits the builtin that a caller would naturally catch (``ValueError``
for bad data, ``TypeError`` for objects that cannot be saved), so code written
for pickle or joblib keeps working. Messages say what was expected, what was
found, where, and how to fix it.
"""

from __future__ import annotations

import shlex
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "ConflictError",
    "EncodeError",
    "InvalidNameError",
    "NoRegistryError",
    "NotFoundError",
    "NotReadyError",
    "EnvironmentMismatchError",
    "EnvironmentMismatchWarning",
    "MissingCodeError",
    "PayloadTooLargeError",
    "PredictionMismatchError",
    "RequestError",
    "SchemaError",
    "StoreError",
    "FormatError",
    "IntegrityError",
    "LimitError",
    "MappedModelError",
    "SatchelError",
    "UnsupportedVersionError",
    "UnsupportedMediaTypeError",
    "UntrustedTypesError",
]


class SatchelError(Exception):
    """Base class of every error satchel raises on purpose."""


class FormatError(SatchelError, ValueError):
    """The bytes are not a well-formed satchel file."""


class UnsupportedVersionError(FormatError):
    """The file was written by a format version this reader does not know."""


class IntegrityError(FormatError):
    """A checksum does not match: the file was changed or damaged after it was written."""


class LimitError(FormatError):
    """The file declares more than a reader accepts (sizes, depth, counts)."""


class EncodeError(SatchelError, TypeError):
    """An object cannot be saved in the satchel format."""


class UntrustedTypesError(SatchelError, ValueError):
    """The file names types or functions that are not trusted.

    Attributes:
        names: every untrusted name, sorted, in the dotted form that
            ``trusted=[...]`` accepts.
        detail: what else the message says about them ("" for nothing).
    """

    def __init__(self, names: Iterable[str], detail: str = "", *, fix: str = "",
                 imported: str = "") -> None:
        """``fix`` says how to trust the names where that is not ``trusted=[...]`` (the
        command line's ``--trust NAME``); ``imported`` names the module of a trusted library
        that was imported to look a name up, when it was refused only then."""
        self.names = sorted(set(names))
        self.detail = detail
        self.imported = imported
        listed = ", ".join(repr(n) for n in self.names)
        done = (f"Only {imported}, a module of a trusted library, was imported to look it up;"
                " nothing was run." if imported else "Nothing was imported or run.")
        message = (
            f"the file needs {len(self.names)} untrusted type(s) or function(s): {listed}."
            f"{' ' + detail if detail else ''}"
            f" {done} If you trust the file's author,"
            f" {fix or f'load it with trusted=[{listed}]'}."
        )
        super().__init__(message)


def trust_options(names: Iterable[str]) -> str:
    """The command-line options that trust ``names``: ``--trust NAME`` for each."""
    return " ".join(f"--trust {shlex.quote(name)}" for name in names)


#: The last line of every :class:`SchemaError`: what to do about its problems.
SCHEMA_FIX = ("To fix it, give the input the columns and dtypes the schema expects (satchel"
              " inspect FILE shows them), or, if the model should take such input, save it"
              " again with a sample that holds it.")


def shown_name(name: object, limit: int = 80) -> str:
    """``repr(name)``, its text cut to ``limit`` characters with its length said after it:
    a column name is the input's own, and one of 20 million letters made a message of 20 MB
    (printed whole by a command)."""
    if isinstance(name, str) and len(name) > limit:
        return f"{name[:limit]!r}... ({len(name)} characters)"
    return repr(name)


class SchemaError(SatchelError, ValueError):
    """An input does not match the model's input schema.

    Attributes:
        problems: one dict per problem with ``column`` (None for the whole
            input), ``expected`` and ``found``. Input values never appear.
    """

    def __init__(self, problems: Sequence[Mapping[str, Any]], *, where: str = "") -> None:
        """``where`` names the part of the input at fault ("data rows 1 to 7 of 'x.csv'")."""
        self.problems = [dict(p) for p in problems]
        self.where = where
        lines = [
            f"  - {'column ' + shown_name(p['column']) if p['column'] is not None else 'input'}:"
            f" expected {p['expected']}, found {p['found']}"
            for p in problems
        ]
        super().__init__(
            f"the input does not match the model's schema{' in ' + where if where else ''}"
            f" ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n" + "\n".join(lines) + "\n" + SCHEMA_FIX
        )


class PredictionMismatchError(SatchelError, AssertionError):
    """The model no longer reproduces the predictions stored with it."""


class EnvironmentMismatchError(SatchelError, RuntimeError):
    """The loading environment differs from the saving one (``on_mismatch="error"``)."""


class EnvironmentMismatchWarning(UserWarning):
    """The loading environment differs from the saving one (``on_mismatch="warn"``)."""


class MappedModelError(SatchelError, ValueError):
    """A model loaded with ``mmap=True`` was asked to write into the arrays it maps
    (``partial_fit``, ``fit`` with ``warm_start``): they are read-only views of its file."""


class MissingCodeError(SatchelError, ImportError):
    """Custom code the model needs is not installed."""


class MissingPackageError(SatchelError, ImportError):
    """An optional package that what was asked needs is not installed; the message names
    it and the extra that installs it."""


class NotAModelError(SatchelError, TypeError):
    """A file or registered version that holds no model (None, a dict, an array) was given
    to be served or to score rows: it has no method to call."""


class NotFoundError(SatchelError, LookupError):
    """A registered model, version or alias does not exist."""


class NoRegistryError(NotFoundError):
    """There is no registry where one was named, and what only reads a registry creates none."""


class InvalidNameError(SatchelError, ValueError):
    """A model, alias or tag name is not allowed."""


class ConflictError(SatchelError, RuntimeError):
    """The operation would lose or orphan something stored (use force=True to insist)."""


class StoreError(SatchelError, OSError):
    """The registry's database or artifact store cannot be opened, read or written: a server
    or an endpoint that does not answer, a bucket that does not exist, credentials that are
    missing or refused."""


class RequestError(SatchelError, ValueError):
    """A prediction request that cannot be read (HTTP 400)."""


class InputRejectedError(RequestError):
    """Input that matches the schema but that the model refuses (HTTP 422): scikit-learn
    raised ValueError on its values, such as a category it never saw."""


class UnsupportedMediaTypeError(RequestError):
    """A request in a content type the server does not read (HTTP 415)."""


class PayloadTooLargeError(RequestError):
    """A request body over the server's limit (HTTP 413)."""


class RequestTimeoutError(RequestError):
    """A request body that did not arrive within the server's time (HTTP 408)."""


class NotReadyError(SatchelError, RuntimeError):
    """A server's model is not loaded (yet) (HTTP 503)."""


def warn(message: str | Warning, category: type[Warning] = UserWarning) -> None:
    """Warn at the line outside satchel that led here (the user's call of ``save``, ``load``
    or the registry's), whichever path inside satchel it took: a fixed ``stacklevel`` pointed
    into satchel's own code when the same warning came by another path (a registration)."""
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").partition(".")[0] \
            == "satchel":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
