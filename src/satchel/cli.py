"""The ``satchel`` command: each subcommand parses, calls one public function, renders.

Output is a rich table on a terminal (when rich is installed), plain text when
piped, and JSON with ``--json``. Expected errors print one line and exit with
the code of their family; they never print a traceback.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import signal
import sys
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TextIO

import satchel
from satchel import checks, environment
from satchel.diff import diff
from satchel.errors import (
    ConflictError,
    EncodeError,
    EnvironmentMismatchError,
    FormatError,
    IntegrityError,
    InvalidNameError,
    MissingCodeError,
    NotFoundError,
    PredictionMismatchError,
    RequestError,
    SatchelError,
    UntrustedTypesError,
    trust_options,
)
from satchel.format.arrays import Progress
from satchel.format.trust import split_name
from satchel.registry.names import is_model_uri, parse_uri
from satchel.render import Table, printable, render, tree_rows

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
_PROGRESS_FROM = 32 << 20
#: The exit code when the output's reader leaves early: a shell's for a death by SIGPIPE.
_BROKEN_PIPE = 128 + 13
#: The exit code after Ctrl-C: a shell's for a death by SIGINT.
_INTERRUPTED = 128 + 2


def integer(low: int, high: int | None = None, *, what: str = "an integer"
            ) -> Callable[[str], int]:
    """An argparse ``type``: an integer from ``low`` to ``high`` (no limit when None).

    Example:
        >>> parser.add_argument("--port", type=integer(0, 65535))  # doctest: +SKIP
    """
    expected = f"{what} from {low} to {high}" if high is not None else f"{what} >= {low}"

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1  # not an integer: refused below with the same message
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


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


@contextmanager
def _progress(path: str, label: str) -> Iterator[Progress | None]:
    """A progress bar on standard error for large files when that is a terminal, else
    nothing; standard output keeps what the command prints alone. The bar shows how much
    of the total the callback is given (bytes read, rows scored) is done."""
    size = _size(path)
    if size < _PROGRESS_FROM or not sys.stderr.isatty():
        yield None
        return
    try:
        from rich.console import Console  # noqa: PLC0415 - optional dependency
        from rich.progress import Progress as Bar  # noqa: PLC0415
    except ImportError:
        yield None
        return
    with Bar(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=size)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _quickstart(args: argparse.Namespace) -> int:
    from satchel import quickstart  # noqa: PLC0415

    quickstart.run(args.directory)
    return 0


def _file(given: str) -> str:
    """The file a command reads: ``given``, or the stored file of the version a ``models:/``
    URI names (in SATCHEL_REGISTRY, as load, predict and serve take it)."""
    return _registered(given)[0]


def _registered(given: str) -> tuple[str, str | None]:
    """(the file a command reads, the digest the registry recorded for it, None for a
    path)."""
    if not is_model_uri(given):
        return given, None
    from satchel.registry import Registry  # noqa: PLC0415 - needs the [registry] extra

    registry = Registry()
    digest = registry.resolve(given).digest
    return str(registry.store.local_path(digest)), digest


def _inspect(args: argparse.Namespace) -> int:
    info = satchel.inspect(_file(args.file))
    saved_env = info.header.metadata.get("environment", {})
    if args.requirements:
        print(environment.requirements(saved_env), end="")
        return 0
    summary = {
        "file": args.file, "format": "{}.{}".format(*info.version), "digest": info.digest,
        "size": info.size, "arrays": info.array_count, "array_bytes": info.array_bytes,
        "compressed": info.compressed, "untrusted": info.untrusted,
    }
    if args.json:
        _print_json({**summary, "types": info.types, "metadata": info.header.metadata})
        return 0
    render(Table("file", ["field", "value"], [[k, _plain(v)] for k, v in summary.items()]))
    render(Table("objects", ["path", "type", "detail", "trust"],
                 tree_rows(info.header, limit=args.max_rows)))
    record = info.metadata
    if record.input_schema is not None:
        render(Table("input schema", ["column", "dtype", "kind", "nullable"], [
            [c.name, c.dtype, c.kind, str(c.nullable)] for c in record.input_schema.columns
        ] or [["(array)", str(record.input_schema.dtype),
               f"{record.input_schema.n_features} features", "-"]]))
    if record.output_schema is not None:
        render(Table("output schema", ["field", "value"], [
            ["dtype", str(record.output_schema.dtype)],
            ["classes", ", ".join(map(str, record.output_schema.classes)) or "-"]]))
    if record.check is not None:
        render(Table("check sample", ["field", "value"], [
            ["rows", str(record.check["rows"])],
            ["methods", ", ".join(checks.stored_methods(record.check)) or "-"]]))
    elif record.output_schema is not None:  # a model, whose predictions cannot be checked
        render(Table("check sample", ["field", "value"], [
            ["rows", "none stored: load cannot check the model's predictions (save it with"
                     " sample=)"]]))
    render(Table("environment", ["field", "value"], [
        *[[key, str(saved_env.get(key))] for key in
          ("satchel", "created", "python", "implementation", "platform")],
        *[[k, v] for k, v in saved_env.get("packages", {}).items()]]))
    if record.user:
        render(Table("metadata", ["key", "value"], [[k, json.dumps(v, default=str)]
                                                   for k, v in record.user.items()]))
    if record.code:
        render(Table("custom code", ["module", "distribution", "version", "source"], [
            [r["module"], str(r.get("distribution")), str(r.get("version")),
             "embedded" if "source" in r else "-"] for r in record.code]))
    return 0


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0


def _plain(value: Any) -> str:
    return (", ".join(value) or "none") if isinstance(value, list) else str(value)


def _verify(args: argparse.Namespace) -> int:
    path, recorded = _registered(args.file)
    with _progress(path, "verifying") as progress:
        result = satchel.verify(path, trusted=args.trust, trust_code=args.trust_code,
                                progress=progress)
    if recorded is not None and result.digest != recorded:
        raise IntegrityError(f"the file of {args.file} has the digest {result.digest}, not the"
                             f" {recorded} the registry recorded: it was replaced; register"
                             " the model again")
    summary = {
        "file": args.file, "digest": result.digest, "arrays verified": result.arrays,
        "check sample rows": result.checked_rows,
        "environment differences": [str(d) for d in result.differences],
    }
    if args.json:
        _print_json({**summary, "ok": True})
    else:
        summary["check sample rows"] = result.checked_rows or "none stored"
        render(Table("verified", ["check", "result"], [[k, _plain(v)] for k, v in
                                                       summary.items()]))
    return 0


def _diff(args: argparse.Namespace) -> int:
    left, right = _file(args.left), _file(args.right)
    with _progress(max((left, right), key=_size), "reading") as progress:
        changes = diff(left, right, progress=progress)
    if args.json:
        _print_json([vars(c) for c in changes])
    elif not changes:
        print("no differences")
    else:
        render(Table(f"{len(changes)} differences", ["where", "kind", args.left, args.right],
                     [[c.path.lstrip("."), c.kind, c.left, c.right] for c in changes]))
    return 1 if changes and args.exit_code else 0


def _serve(args: argparse.Namespace) -> int:
    from satchel.serving.run import serve  # noqa: PLC0415 - needs the [server] extra

    serve(args.target, host=args.host, port=args.port, workers=args.workers,
          max_body_bytes=args.max_body_bytes,
          batch_wait_ms=None if args.no_batching else args.batch_wait_ms,
          poll_interval=args.poll_interval, trusted=args.trust, trust_code=args.trust_code)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from satchel.batch import score  # noqa: PLC0415

    if _same_file(args.input, args.output):
        raise RequestError(f"the output {args.output!r} is the input file {args.input!r}, which"
                           " would be replaced by the predictions: pass another -o file")
    try:
        with _progress(args.input, "scoring (rows)") as progress:
            rows = score(args.target, args.input, args.output, method=args.method,
                         chunk_rows=args.chunk_rows, trusted=args.trust,
                         trust_code=args.trust_code, progress=progress)
    except _unreadable_input() as exc:
        found = ("it holds no header row naming its columns" if _is_empty_data(exc)
                 else _first_line(exc))
        raise RequestError(f"cannot read {args.input!r}: {found}; expected a UTF-8 CSV file"
                           " (gzip-compressed for .csv.gz) or a Parquet file") from None
    print(f"scored {rows} rows of {args.input} with {args.target} -> {args.output}",
          file=sys.stderr)
    return 0


def _same_file(first: str, second: str) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet)
        return False


def _unreadable_input() -> tuple[type[Exception], ...]:
    """What pandas, pyarrow and gzip raise on a file that is not the CSV or Parquet it claims
    to be: gzip raises EOFError for a file cut short, BadGzipFile for one that is no gzip or
    fails its checksum, and zlib.error for damaged data."""
    errors: list[type[Exception]] = [UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error]
    with suppress(ImportError):
        import pandas as pd  # noqa: PLC0415 - the [pandas] extra, imported by now

        errors += [pd.errors.ParserError, pd.errors.EmptyDataError]
    with suppress(ImportError):
        from pyarrow import ArrowInvalid  # noqa: PLC0415 - the [parquet] extra

        errors.append(ArrowInvalid)
    return tuple(errors)


def _is_empty_data(exc: BaseException) -> bool:
    """Whether pandas found no header row in a CSV file ('No columns to parse from file')."""
    with suppress(ImportError):
        import pandas as pd  # noqa: PLC0415 - the [pandas] extra, imported by now

        return isinstance(exc, pd.errors.EmptyDataError)
    return False


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


def _untrusted(args: argparse.Namespace) -> int:
    names = satchel.untrusted_types(_file(args.file))
    if args.json:
        _print_json(names)
    for name in [] if args.json else names:
        print(name)
    return 0


_TRUST_CODE = ("run the source a file embeds for a custom module that is not installed"
               " (only for files you trust)")


_FILE = "a .satchel file or models:/NAME[/VERSION|@ALIAS] (in SATCHEL_REGISTRY)"


def _trust_options(parser: argparse.ArgumentParser) -> None:
    """``--trust NAME`` (repeatable) and ``--trust-code``, for a command that loads a model."""
    parser.add_argument("--trust", action="append", default=[], metavar="NAME",
                        type=trusted_name,
                        help="trust a custom class or function by name (repeatable)")
    parser.add_argument("--trust-code", action="store_true", help=_TRUST_CODE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``satchel`` command."""
    parser = argparse.ArgumentParser(
        prog="satchel",
        description="Save, inspect, verify and compare fitted scikit-learn models safely.",
    )
    parser.add_argument("--version", action="version", version=f"satchel {satchel.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int],
                help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    quick = command("quickstart", _quickstart,
                    "Train a demo pipeline, save, inspect, load it back and predict.")
    quick.add_argument("--directory", default=".", help="where to write the demo file")
    inspect = command("inspect", _inspect, "Show a file's objects, schema, check sample,"
                      " environment and trust status from its header; nothing is imported"
                      " or run.")
    inspect.add_argument("file", type=target, help=_FILE)
    json_or_requirements = inspect.add_mutually_exclusive_group()
    json_or_requirements.add_argument("--json", action="store_true", help="print JSON")
    json_or_requirements.add_argument(
        "--requirements", action="store_true",
        help="print the saved environment as a pinned requirements file")
    inspect.add_argument("--max-rows", type=integer(0), default=60,
                         help="objects to list (60)")
    verify = command("verify", _verify, "Check every byte, the content digest and the stored"
                     " check sample; exit non-zero on any failure.")
    verify.add_argument("file", type=target, help=_FILE)
    _trust_options(verify)
    verify.add_argument("--json", action="store_true", help="print JSON")
    compare = command("diff", _diff, "List parameter, structure, array and metadata"
                      " differences between two files.")
    compare.add_argument("left", type=target, help="first .satchel file or models:/ URI")
    compare.add_argument("right", type=target, help="second .satchel file or models:/ URI")
    compare.add_argument("--json", action="store_true", help="print JSON")
    compare.add_argument("--exit-code", action="store_true",
                         help="exit with 1 when the files differ")
    untrusted = command("untrusted", _untrusted,
                        "List the names a file needs in trusted=[...] to load.")
    untrusted.add_argument("file", type=target, help=_FILE)
    untrusted.add_argument("--json", action="store_true", help="print JSON")
    serve = command("serve", _serve, "Serve a satchel file or a models:/ URI over HTTP"
                    " (MLflow-compatible /invocations).")
    serve.add_argument("target", type=target,
                       help="a .satchel file or models:/NAME[/VERSION|@ALIAS]")
    serve.add_argument("--host", type=host, default="127.0.0.1",
                       help="address to bind (127.0.0.1; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=integer(0, 65535), default=8080,
                       help="port (8080; 0: any free port)")
    serve.add_argument("--workers", type=integer(1, 1024), default=1,
                       help="worker processes, up to 1024 (1)")
    serve.add_argument("--max-body-bytes", type=integer(1), default=10 << 20,
                       help="larger request bodies get 413 (10 MiB)")
    wait_or_no_batching = serve.add_mutually_exclusive_group()
    wait_or_no_batching.add_argument("--batch-wait-ms", type=number(0, 60_000), default=0.0,
                                     help="how long single rows wait to be batched, up to"
                                     " 60000 (0: only waiting ones)")
    wait_or_no_batching.add_argument("--no-batching", action="store_true",
                                     help="switch batching off")
    _trust_options(serve)
    serve.add_argument("--poll-interval", type=number(0, 86_400, above=True), default=5.0,
                       help="seconds between checks of a followed alias, up to 86400 (5)")
    predict = command("predict", _predict, "Score a CSV or Parquet file in chunks, with the"
                      " same input validation as the server.")
    predict.add_argument("target", type=target, help="a .satchel file or models:/ URI")
    predict.add_argument("input", help="CSV or Parquet file to score (.csv, .csv.gz, .parquet)")
    predict.add_argument("-o", "--output", required=True,
                         help="file to write: .csv, .csv.gz or .parquet (its name gives the"
                         " format)")
    predict.add_argument("--method", default="predict", help="predict, predict_proba, ...")
    _trust_options(predict)
    predict.add_argument("--chunk-rows", type=integer(1, 10**9), default=100_000,
                         help="rows per chunk, up to 1000000000 (100000)")
    from satchel import cli_registry  # noqa: PLC0415 - it imports this module's argument types

    cli_registry.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(), _noting_ctrl_c():  # both put Python's own back at the end
        warnings.showwarning = _show_warning
        return _run(args)


#: Set when Ctrl-C was pressed during the command.
_CTRL_C = threading.Event()


@contextmanager
def _noting_ctrl_c() -> Iterator[None]:
    """Note Ctrl-C before raising KeyboardInterrupt as Python does: pandas' CSV reader turns
    the interrupt of a read into a ParserError of its own ('Calling read(nbytes) on source
    failed'), which would otherwise be reported as an unreadable file."""
    _CTRL_C.clear()
    if threading.current_thread() is not threading.main_thread():  # only it gets signals
        yield
        return

    def note(signum: int, frame: Any) -> None:
        _CTRL_C.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _show_warning(  # noqa: PLR0917 - the signature warnings.showwarning is called with
        message: Warning | str, category: type[Warning], filename: str, lineno: int,
        file: TextIO | None = None, line: str | None = None) -> None:
    """Print a warning as one line, ``satchel: warning: ...``: Python's printer adds the file
    and line that warned and the source of that line, which mean nothing to a user."""
    kind = "" if category.__module__.startswith("satchel") else f"{category.__name__}: "
    print(f"satchel: warning: {_escaped(f'{kind}{message}')}", file=file or sys.stderr)


def _run(args: argparse.Namespace) -> int:
    """Run the command ``args`` names; expected errors print one line and give their code."""
    try:
        return int(args.handler(args))
    except BrokenPipeError:  # what reads the output stopped early (satchel inspect F | head)
        _discard_stdout()
        return _BROKEN_PIPE
    except KeyboardInterrupt:  # Ctrl-C: files are written to temporaries, so none is half
        return _interrupted()
    except tuple(EXIT_CODES) as exc:
        if _CTRL_C.is_set():  # a library made the interrupt an error of its own
            return _interrupted()
        if isinstance(exc.__cause__, Exception) and _is_database_error(exc.__cause__):
            return _database_error(exc.__cause__, args)  # the options to check are named
        code = next(c for kind, c in EXIT_CODES.items() if isinstance(exc, kind))
        print(f"satchel: error: {_escaped(str(_in_options(exc, args)) + _where(exc, args))}",
              file=sys.stderr)
        return code
    except Exception as exc:
        if _CTRL_C.is_set():
            return _interrupted()
        if not _is_database_error(exc):
            raise
        return _database_error(exc, args)


def _database_error(exc: Exception, args: argparse.Namespace) -> int:
    """Print what SQLAlchemy raised as one line naming the registry and the options to check."""
    print(f"satchel: error: cannot use the registry at {_registry_location(args)!r}:"
          f" {_escaped(_first_line(getattr(exc, 'orig', None) or exc))}; check --registry"
          " (or SATCHEL_REGISTRY) and that the database is reachable",
          file=sys.stderr)
    return 2


def _where(exc: BaseException, args: argparse.Namespace) -> str:
    """For a model, version or alias the registry does not have, which registry was asked
    and how to name another: a command run in the wrong folder asks an empty one."""
    if not isinstance(exc, NotFoundError):
        return ""
    option = "--registry or " if "registry" in vars(args) else ""
    return (f" (in the registry at {_registry_location(args)!r}; {option}SATCHEL_REGISTRY"
            " names another)")


def _interrupted() -> int:
    print("satchel: interrupted", file=sys.stderr)
    return _INTERRUPTED


def _escaped(message: str) -> str:
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
]


#: The fix for a registry database without an artifact store, for a command without
#: --artifacts (which _OPTIONS gives to the registry's commands).
_NO_ARTIFACTS = "pass artifacts='s3://bucket/prefix' (any fsspec URL) or set SATCHEL_ARTIFACTS"


def _in_options(exc: BaseException, args: argparse.Namespace) -> BaseException | str:
    """``exc``, with a fix the library words as a Python argument worded as the command's
    option: ``--trust NAME`` for ``trusted=[...]``, and those of ``_OPTIONS``."""
    if isinstance(exc, UntrustedTypesError) and "trust" in vars(args):
        return UntrustedTypesError(exc.names, exc.detail, fix=f"pass {trust_options(exc.names)}")
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
    from satchel.registry.core import DEFAULT_PATH  # noqa: PLC0415 - imports SQLAlchemy

    location = (getattr(args, "registry", None) or os.environ.get("SATCHEL_REGISTRY")
                or DEFAULT_PATH)
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", location)


if __name__ == "__main__":
    sys.exit(main())
