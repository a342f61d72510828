"""The ``satchel`` command: each subcommand parses, calls one public function, renders."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import satchel
from satchel.errors import EncodeError, IntegrityError, SatchelError, UntrustedTypesError

#: Exit codes, one per family of expected error.
EXIT_CODES: dict[type[BaseException], int] = {
    UntrustedTypesError: 3,
    IntegrityError: 4,
    EncodeError: 5,
    SatchelError: 2,
    OSError: 2,
}


def _quickstart(args: argparse.Namespace) -> int:
    from satchel import quickstart  # noqa: PLC0415

    quickstart.run(args.directory)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    info = satchel.inspect(args.file)
    summary: dict[str, Any] = {
        "file": args.file,
        "format": "{}.{}".format(*info.version),
        "digest": info.digest,
        "size": info.size,
        "arrays": info.array_count,
        "array_bytes": info.array_bytes,
        "compressed": info.compressed,
        "types": info.types,
        "untrusted": info.untrusted,
        "metadata": info.header.metadata,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for key, value in summary.items():
        shown = (", ".join(value) or "none") if isinstance(value, list) else value
        print(f"{key:12} {shown}")
    return 0


def _untrusted(args: argparse.Namespace) -> int:
    names = satchel.untrusted_types(args.file)
    for name in names:
        print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``satchel`` command."""
    parser = argparse.ArgumentParser(
        prog="satchel",
        description="Save, inspect and load fitted scikit-learn pipelines without pickle.",
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
    inspect = command("inspect", _inspect,
                      "Describe a satchel file from its header; nothing is imported or run.")
    inspect.add_argument("file", help="path of a .satchel file")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    untrusted = command("untrusted", _untrusted,
                        "List the names a file needs in trusted=[...] to load.")
    untrusted.add_argument("file", help="path of a .satchel file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except tuple(EXIT_CODES) as exc:
        code = next(c for kind, c in EXIT_CODES.items() if isinstance(exc, kind))
        print(f"satchel: error: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
