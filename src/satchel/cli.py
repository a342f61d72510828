"""The ``satchel`` command: each subcommand parses, calls one public function, renders.

Output is a rich table on a terminal (when rich is installed), plain text when
piped, and JSON with ``--json``. Expected errors print one line and exit with
the code of their family; they never print a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import satchel
from satchel import checks, cli_registry, environment
from satchel.cli_args import host, integer, number, target, trusted_name
from satchel.cli_errors import noting_ctrl_c, run, show_warning
from satchel.diff import diff
from satchel.errors import IntegrityError
from satchel.format.arrays import Progress
from satchel.registry.names import is_model_uri
from satchel.render import Table, render, tree_rows

#: Files from this size on show a progress bar on a terminal.
_PROGRESS_FROM = 32 << 20


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

    registry = Registry(create=False)
    found = registry.resolve(given)
    return registry.artifact_path(found.uri), found.digest


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
        _print_json({**summary, "types": info.types, "metadata": info.header.metadata,
                     "tree": info.tree})
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
          poll_interval=args.poll_interval, trusted=args.trust, trust_code=args.trust_code,
          body_timeout=args.body_timeout, max_connections=args.max_connections)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from satchel.batch import score  # noqa: PLC0415

    with _progress(args.input, "scoring (rows)") as progress:
        rows = score(args.target, args.input, args.output, method=args.method,
                     chunk_rows=args.chunk_rows, trusted=args.trust,
                     trust_code=args.trust_code, progress=progress)
    print(f"scored {rows} rows of {args.input} with {args.target} -> {args.output}",
          file=sys.stderr)
    return 0


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
    json_or_requirements.add_argument(
        "--json", action="store_true",
        help="print JSON: the summary, types, metadata and the object tree as stored")
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
    serve.add_argument("--body-timeout", type=number(0, 3600, above=True), default=60.0,
                       help="seconds a request body may take to arrive, up to 3600; later"
                       " it gets 408 (60)")
    serve.add_argument("--max-connections", type=integer(1, 1_000_000), default=256,
                       help="connections a worker holds at once; more get 503 (256)")
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
    cli_registry.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(), noting_ctrl_c():  # both put Python's own back at the end
        warnings.showwarning = show_warning
        return run(args)


def entry() -> None:
    """The ``satchel`` command: :func:`main`, then an exit that Ctrl-C no longer interrupts.
    The registry's connections are closed as the interpreter exits, and a Ctrl-C then
    printed a traceback from their finalizer after the command had finished."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    entry()
