"""``satchel registry ...``: the registry's commands, each over one Registry method."""

from __future__ import annotations

import argparse
import json
import math
import os
from datetime import UTC, datetime
from typing import Any

from satchel.cli_args import integer, model_uri, number, target
from satchel.errors import RequestError
from satchel.registry.names import MAX_VERSION, is_model_uri
from satchel.registry.values import MAX_GRACE_SECONDS
from satchel.render import Table, render

#: A version argument: SQLite and PostgreSQL store versions as signed 64-bit integers.
_version = integer(1, MAX_VERSION, what="a version number")
#: ``gc --grace``: seconds, at most a century (older times are out of the clock's range).
_grace = number(0, MAX_GRACE_SECONDS, unit="seconds (100 years)")


def _registry(args: argparse.Namespace, create: bool = False) -> Any:
    """The registry a command names; only ``register`` creates one that is not there."""
    from satchel.registry import Registry  # noqa: PLC0415 - needs the [registry] extra

    return Registry(args.registry, artifacts=args.artifacts, create=create)


def _version_row(v: Any) -> list[str]:
    metrics = ", ".join(f"{k}={v:g}" for k, v in v.metrics.items())
    return [str(v.version), v.status, ", ".join(v.aliases), metrics,
            ", ".join(f"{k}={t}" for k, t in v.tags.items()), v.digest[:19],
            _utc(v.created_at).strftime("%Y-%m-%d %H:%M UTC")]


def _version_json(v: Any) -> dict[str, Any]:
    return {**vars(v), "created_at": _utc(v.created_at).isoformat(), "uri": v.uri}


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC, as the registry stores it: SQLite gives it back without its zone,
    PostgreSQL in the connection's own zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _emit(args: argparse.Namespace, data: Any, table: Table) -> int:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        render(table)
    return 0


def _models(args: argparse.Namespace) -> int:
    models = _registry(args).models()
    dated = [{**m, "created_at": _utc(m["created_at"]).isoformat()} for m in models]
    return _emit(args, dated, Table("models", ["name", "latest", "aliases", "description"], [
        [m["name"], str(m["latest"]), ", ".join(f"{a}->{v}" for a, v in m["aliases"].items()),
         m["description"]] for m in models]))


def _versions(args: argparse.Namespace) -> int:
    found = _registry(args).versions(args.name)
    return _emit(args, [_version_json(v) for v in found], Table(
        f"versions of {args.name}",
        ["version", "status", "aliases", "metrics", "tags", "digest", "created"],
        [_version_row(v) for v in found]))


def _show(args: argparse.Namespace) -> int:
    found = _registry(args).resolve(args.uri)
    rows = [[k, json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v)]
            for k, v in _version_json(found).items()]
    return _emit(args, _version_json(found), Table(found.uri, ["field", "value"], rows))


def _done(args: argparse.Namespace, data: Any, text: str) -> int:
    """Report what a command changed: ``data`` as JSON with ``--json``, else ``text``."""
    print(json.dumps(data, indent=2, default=str) if args.json else text)
    return 0


def _register(args: argparse.Namespace) -> int:
    _check_file(args.file, args.name)
    tags = _one_value(args.tag, "--tag", "tag")
    metrics = _one_value(args.metric, "--metric", "metric")
    registry = _registry(args, create=True)
    found = registry.register(args.name, args.file, description=args.description, tags=tags,
                              metrics=metrics)
    return _done(args, _version_json(found), f"registered {found.uri} ({found.digest})")


def _check_file(given: str, name: str) -> None:
    """Refuse a file to register that is missing or a folder before the registry is opened:
    the registry's error for it read as if the registry lacked it, naming the registry.
    A name given first, as ``Registry.register(name, model)`` takes it, is said to be so."""
    if is_model_uri(given) or os.path.isfile(given):
        return
    found = ("a folder, not a file" if os.path.isdir(given) else
             "a device, a pipe or a socket, not a file" if os.path.exists(given) else
             "no such file")
    swapped = is_model_uri(name) or os.path.isfile(name)
    fix = f". The file comes first: satchel registry register {name!r} {given!r}" if swapped else ""
    raise RequestError(f"cannot register {given!r}: {found}; expected the path of a .satchel"
                       f" file or a models:/ URI{fix}")


def _one_value(pairs: list[tuple[str, Any]], option: str, what: str) -> dict[str, Any]:
    """``pairs`` as a dict, refused when they give one key two values: the last was kept in
    silence."""
    given: dict[str, Any] = {}
    for key, value in pairs:
        if key in given and given[key] != value:
            raise RequestError(f"{option} gives the {what} {key!r} two values"
                               f" ({given[key]!r}, {value!r}): pass one of them")
        given[key] = value
    return given


def _pair(text: str) -> tuple[str, str]:
    """An argparse ``type``: ``KEY=VALUE``."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, found {text[:60]!r}")
    return key, value


def _metric(text: str) -> tuple[str, float]:
    """An argparse ``type``: ``KEY=NUMBER`` with a finite number."""
    key, sep, value = text.partition("=")
    try:
        found = float(value)
    except ValueError:
        found = math.nan
    if not (sep and math.isfinite(found)):
        raise argparse.ArgumentTypeError(f"expected KEY=NUMBER with a finite number, found"
                                         f" {text[:60]!r}")
    return key, found


def _alias(args: argparse.Namespace) -> int:
    registry = _registry(args)
    uri = f"models:/{args.name}@{args.alias}"
    if args.delete:
        registry.delete_alias(args.name, args.alias)
        return _done(args, {"uri": uri, "version": None},
                     f"deleted alias {args.name}@{args.alias}")
    registry.set_alias(args.name, args.alias, args.version)
    return _done(args, {"uri": uri, "version": args.version},
                 f"{uri} -> version {args.version}")


def _tag(args: argparse.Namespace) -> int:
    tags = _one_value(args.set, "--set", "tag")
    both = next((key for key in args.remove if key in tags), None)
    if both is not None:  # the tag was removed in silence
        raise RequestError(f"--set and --remove both name the tag {both!r}: pass one of them")
    found = _registry(args).update(args.name, args.version, tags=tags,
                                   remove_tags=args.remove, description=args.description)
    return _done(args, _version_json(found), f"{found.uri} tags: {found.tags}")


def _delete(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.archive:
        registry.archive(args.name, args.version)
    else:
        registry.delete(args.name, args.version, force=args.force)
    status, uri = "archived" if args.archive else "deleted", f"models:/{args.name}/{args.version}"
    return _done(args, {"uri": uri, "status": status}, f"{status} {uri}")


def _restore(args: argparse.Namespace) -> int:
    _registry(args).restore(args.name, args.version)
    uri = f"models:/{args.name}/{args.version}"
    return _done(args, {"uri": uri, "status": "active"}, f"restored {uri}")


def _gc(args: argparse.Namespace) -> int:
    removed = _registry(args).gc(grace_seconds=args.grace)
    return _done(args, removed, f"removed {len(removed)} orphaned artifact(s)")


_NAME = "the model's name"
_VERSION = "the version's number"


def add_commands(commands: Any) -> None:
    """Add ``registry`` and its subcommands to the ``satchel`` parser."""
    parent = commands.add_parser("registry", help="Manage registered models, versions and"
                                 " aliases.", description="Manage registered models, versions"
                                 " and aliases (SATCHEL_REGISTRY or --registry).")
    sub = parent.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")

    def command(name: str, handler: Any, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        parser.add_argument("--registry", default=None, help="registry folder or database URL"
                            " (default: SATCHEL_REGISTRY or ./satchel-registry)")
        parser.add_argument("--artifacts", default=None, help="artifact store URL (s3://...)")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=handler)
        return parser

    command("models", _models, "List registered models with their latest version and aliases.")
    command("versions", _versions, "List the versions of a model.").add_argument(
        "name", help=_NAME)
    command("show", _show, "Show one version: models:/NAME, /VERSION or @ALIAS.").add_argument(
        "uri", type=model_uri, help="models:/NAME (the latest), models:/NAME/VERSION or"
        " models:/NAME@ALIAS")
    register = command("register", _register, "Register a satchel file as the next version.")
    register.add_argument("file", type=target, help="a .satchel file or models:/ URI")
    register.add_argument("name", help="the model's name (a new one starts at version 1)")
    register.add_argument("--description", default="", help="what this version is")
    register.add_argument("--tag", action="append", default=[], type=_pair, metavar="KEY=VALUE",
                          help="a tag of the version (repeatable)")
    register.add_argument("--metric", action="append", default=[], type=_metric,
                          metavar="KEY=NUMBER", help="a metric of the version (repeatable)")
    alias = command("alias", _alias, "Point an alias at a version (or --delete it).")
    alias.add_argument("name", help=_NAME)
    alias.add_argument("alias", help="the alias, such as production")
    version_or_delete = alias.add_mutually_exclusive_group(required=True)
    version_or_delete.add_argument("version", type=_version, nargs="?",
                                   help="the version it points to")
    version_or_delete.add_argument("--delete", action="store_true", help="delete the alias")
    tag = command("tag", _tag, "Set or remove tags and the description of a version.")
    tag.add_argument("name", help=_NAME)
    tag.add_argument("version", type=_version, help=_VERSION)
    tag.add_argument("--set", action="append", default=[], type=_pair, metavar="KEY=VALUE",
                     help="set a tag (repeatable)")
    tag.add_argument("--remove", action="append", default=[], metavar="KEY",
                     help="remove a tag (repeatable)")
    tag.add_argument("--description", default=None, help="replace the description")
    delete = command("delete", _delete, "Delete (or --archive) a version.")
    delete.add_argument("name", help=_NAME)
    delete.add_argument("version", type=_version, help=_VERSION)
    force_or_archive = delete.add_mutually_exclusive_group()
    force_or_archive.add_argument("--force", action="store_true", help="also delete its aliases")
    force_or_archive.add_argument("--archive", action="store_true",
                                  help="archive instead of deleting (aliases stay)")
    restore = command("restore", _restore, "Make an archived version active again.")
    restore.add_argument("name", help=_NAME)
    restore.add_argument("version", type=_version, help=_VERSION)
    gc = command("gc", _gc, "Remove artifacts that no version refers to.")
    gc.add_argument("--grace", type=_grace, default=3600.0,
                    help="keep artifacts younger than this many seconds (3600)")
