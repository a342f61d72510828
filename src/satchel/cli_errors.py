"""How the ``satchel`` command ends: each expected error is one line on standard error and
the exit code of its family (``EXIT_CODES``), never a traceback; Ctrl-C, a closed pipe and
an unusable registry database have codes and lines of their own."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from satchel.errors import (
    ConflictError,
    EncodeError,
    EnvironmentMismatchError,
    IntegrityError,
    InvalidNameError,
    MissingCodeError,
    NoRegistryError,
    NotFoundError,
    PredictionMismatchError,
    RequestError,
    SatchelError,
    UntrustedTypesError,
    trust_options,
)
from satchel.registry.locations import DEFAULT_PATH
from satchel.render import printable

#: Exit codes, one per family of expected error (the first match wins).
EXIT_CODES: dict[type[BaseException], int] = {
    UntrustedTypesError: 3,
    IntegrityError: 4,
    PredictionMismatchError: 5,
    EnvironmentMismatchError: 6,
    EncodeError: 7,
    SatchelError: 2,
    OSError: 2,
}
#: The exit code when the output's reader leaves early: a shell's for a death by SIGPIPE.
_BROKEN_PIPE = 128 + 13
#: Set when Ctrl-C was pressed, or SIGTERM sent, during the command.
_CTRL_C = threading.Event()
#: The signal that interrupted the command (SIGINT or SIGTERM), once _CTRL_C is set.
_SIGNAL = [int(signal.SIGINT)]


@contextmanager
def noting_ctrl_c() -> Iterator[None]:
    """Note Ctrl-C (SIGINT) and SIGTERM before raising KeyboardInterrupt as Python does for
    Ctrl-C: pandas' CSV reader turns the interrupt of a read into a ParserError of its own
    ('Calling read(nbytes) on source failed'), which would otherwise be reported as an
    unreadable file. SIGTERM (``kill``, ``timeout``, a container stopped) ended the process
    at once, leaving the temporary file of a save or a score behind; it now stops the
    command as Ctrl-C does, which removes it (``satchel serve`` handles both its own way)."""
    _CTRL_C.clear()
    if threading.current_thread() is not threading.main_thread():  # only it gets signals
        yield
        return

    def note(signum: int, frame: Any) -> None:
        _SIGNAL[0] = signum
        _CTRL_C.set()
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, note) for number in (signal.SIGINT,
                                                                    signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def show_warning(  # noqa: PLR0917 - the signature warnings.showwarning is called with
        message: Warning | str, category: type[Warning], filename: str, lineno: int,
        file: TextIO | None = None, line: str | None = None) -> None:
    """Print a warning as one line, ``satchel: warning: ...``: Python's printer adds the file
    and line that warned and the source of that line, which mean nothing to a user."""
    kind = "" if category.__module__.startswith("satchel") else f"{category.__name__}: "
    print(f"satchel: warning: {escaped(f'{kind}{message}')}", file=file or sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the command ``args`` names; expected errors print one line and give their code."""
    try:
        return int(args.handler(args))
    except BrokenPipeError:  # what reads the output stopped early (satchel inspect F | head)
        _discard_stdout()
        return _BROKEN_PIPE
    except KeyboardInterrupt:  # Ctrl-C: files are written to temporaries, so none is half
        return _interrupted(args)
    except tuple(EXIT_CODES) as exc:
        if _CTRL_C.is_set():  # a library made the interrupt an error of its own
            return _interrupted(args)
        if isinstance(exc.__cause__, Exception) and _is_database_error(exc.__cause__):
            return _database_error(exc.__cause__, args)  # the options to check are named
        code = next(c for kind, c in EXIT_CODES.items() if isinstance(exc, kind))
        print(f"satchel: error: {escaped(str(_in_options(exc, args)) + _where(exc, args))}",
              file=sys.stderr)
        return code
    except Exception as exc:
        if _CTRL_C.is_set():
            return _interrupted(args)
        if not _is_database_error(exc):
            raise
        return _database_error(exc, args)


def _database_error(exc: Exception, args: argparse.Namespace) -> int:
    """Print what SQLAlchemy raised as one line naming the registry and the options to check."""
    print(f"satchel: error: cannot use the registry at {_registry_location(args)!r}:"
          f" {escaped(first_line(getattr(exc, 'orig', None) or exc))}; check --registry"
          " (or SATCHEL_REGISTRY) and that the database is reachable",
          file=sys.stderr)
    return 2


def _where(exc: BaseException, args: argparse.Namespace) -> str:
    """For a model, version or alias the registry does not have, which registry was asked
    and how to name another: a command run in the wrong folder asks an empty one."""
    if not isinstance(exc, NotFoundError) or isinstance(exc, NoRegistryError):
        return ""  # a missing registry's error names it and how to name another
    option = "--registry or " if "registry" in vars(args) else ""
    return (f" (in the registry at {_registry_location(args)!r}; {option}SATCHEL_REGISTRY"
            " names another)")


def _interrupted(args: argparse.Namespace | None = None) -> int:
    """Say the command was interrupted (Ctrl-C) or terminated (SIGTERM), and give a shell's
    code for a death by that signal. A registry's change is written in one transaction: one
    that committed just before the signal stays made, so the message says how to see it (a
    registration run again would add another version)."""
    terminated = _CTRL_C.is_set() and _SIGNAL[0] == signal.SIGTERM
    registry = getattr(getattr(args, "handler", None), "__module__", "") == "satchel.cli_registry"
    print(f"satchel: {'terminated' if terminated else 'interrupted'}"
          + ("; a change written before it stays made (satchel registry versions NAME shows"
             " the versions there are)" if registry else ""), file=sys.stderr)
    return 128 + (signal.SIGTERM if terminated else signal.SIGINT)


def escaped(message: str) -> str:
    """``message`` with what is not printable in each line written as its escape: messages
    quote what files hold (a saved version, a metadata key), which a terminal would act on.
    A schema error keeps its line per problem."""
    return "\n".join(printable(line) for line in message.split("\n"))


#: Fixes the library words as a Python argument, and the option a command takes instead:
#: (error, the argument as the message words it, the option, the option's destination).
_OPTIONS: list[tuple[type[BaseException], str, str, str]] = [
    (ConflictError, "force=True", "--force", "force"),
    (MissingCodeError, "load with trust_code=True", "pass --trust-code", "trust_code"),
    (InvalidNameError, "artifacts='s3://bucket/prefix'", "--artifacts s3://bucket/prefix",
     "artifacts"),
    (RequestError, "give another output file", "pass another -o file", "output"),
]


#: The fix for a registry database without an artifact store, for a command without
#: --artifacts (which _OPTIONS gives to the registry's commands).
_NO_ARTIFACTS = "pass artifacts='s3://bucket/prefix' (any fsspec URL) or set SATCHEL_ARTIFACTS"


def _in_options(exc: BaseException, args: argparse.Namespace) -> BaseException | str:
    """``exc``, with a fix the library words as a Python argument worded as the command's
    option: ``--trust NAME`` for ``trusted=[...]``, and those of ``_OPTIONS``."""
    if isinstance(exc, UntrustedTypesError) and "trust" in vars(args):
        return UntrustedTypesError(exc.names, exc.detail, fix=f"pass {trust_options(exc.names)}",
                                   imported=exc.imported)
    for kind, argument, option, destination in _OPTIONS:
        if isinstance(exc, kind) and destination in vars(args) and argument in str(exc):
            return str(exc).replace(argument, option)
    if isinstance(exc, InvalidNameError) and _NO_ARTIFACTS in str(exc):  # predict, serve
        return str(exc).replace(_NO_ARTIFACTS, "set SATCHEL_ARTIFACTS=s3://bucket/prefix (any"
                                " fsspec URL)")
    return exc


def _discard_stdout() -> None:
    """Send what is left of standard output to the null device, so that Python's last flush
    at exit does not fail on the closed pipe with its own traceback."""
    with suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def _is_database_error(exc: Exception) -> bool:
    """Whether SQLAlchemy raised ``exc``: the registry's database is unusable or unreachable."""
    try:
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - the [registry] extra
    except ImportError:
        return False
    return isinstance(exc, SQLAlchemyError)


def _registry_location(args: argparse.Namespace) -> str:
    """The registry a command used, with any password in a database URL hidden."""
    location = (getattr(args, "registry", None) or os.environ.get("SATCHEL_REGISTRY")
                or DEFAULT_PATH)
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", location)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
