"""Where a registry lives: a folder (SQLite and local artifacts), or a database URL and an
artifact store URL, from the arguments or the environment (``SATCHEL_REGISTRY``,
``SATCHEL_ARTIFACTS``). Nothing here imports SQLAlchemy."""

from __future__ import annotations

import os
import time

from satchel.errors import InvalidNameError, NoRegistryError, StoreError
from satchel.registry.artifacts import READ_ONLY

#: The registry a command or ``Registry()`` uses when none is named.
DEFAULT_PATH = "satchel-registry"


def locations(uri: str | os.PathLike[str] | None, artifacts: str | os.PathLike[str] | None,
              create: bool = True) -> tuple[str, str]:
    """(database URL, artifact store URL) for a registry location.

    Without ``create``, a SQLite registry that does not exist yet (a folder without
    ``registry.db``, a ``sqlite:///`` file that is not there) is refused, and nothing is
    created: reading a registry must not leave an empty one where a path was mistyped.

    A folder may be given as a ``pathlib.Path`` too.

    Raises:
        NoRegistryError: ``create`` is false and there is no registry at the location.
        TypeError: ``uri`` or ``artifacts`` is neither a string nor a path.
    """
    uri, artifacts = _text(uri, "uri"), _text(artifacts, "artifacts")
    given = uri or os.environ.get("SATCHEL_REGISTRY")
    uri = given or DEFAULT_PATH
    if "://" not in uri:
        # "~/models" from an env file or a quoted option names the home's folder, not a
        # folder called "~" in the current one (a new, empty registry).
        folder = os.path.abspath(os.path.expanduser(uri))
        database = os.path.join(folder, "registry.db")
        if not create:
            _existing(database, given)
        _not_emptied(database)
        _folder(folder)
        return f"sqlite:///{database}", (
            _local(artifacts) if artifacts else os.path.join(folder, "artifacts"))
    artifacts = artifacts or os.environ.get("SATCHEL_ARTIFACTS")
    if not artifacts:
        raise InvalidNameError(
            f"the registry database {uri.split('://')[0]}://... needs an artifact store: pass"
            " artifacts='s3://bucket/prefix' (any fsspec URL) or set SATCHEL_ARTIFACTS"
        )
    if uri.split("://")[0].split("+")[0] == "sqlite":
        path = uri.split("://", 1)[1][1:].split("?")[0]  # after the empty host's slash
        if not create and path not in ("", ":memory:") and not path.startswith("file:"):
            _existing(path, given)
        _not_emptied(path)
    return _database_url(uri), _local(artifacts)


def _text(location: str | os.PathLike[str] | None, what: str) -> str | None:
    """A location given as a string or a path, as a string (None stays None)."""
    if location is None or isinstance(location, str):
        return location
    if isinstance(location, os.PathLike):
        return os.fspath(location)
    raise TypeError(f"{what} must be a folder, a database URL or an artifact store URL as a"
                    f" string (or a pathlib.Path), not {type(location).__name__}")


def _database_url(uri: str) -> str:
    """``uri`` with ``postgres://`` and ``postgresql://`` naming psycopg, the driver that
    ``satchel[postgres]`` installs: SQLAlchemy no longer reads the first (which Heroku and
    others give), and takes the second as psycopg2 before SQLAlchemy 2.1."""
    scheme, rest = uri.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else uri


def _existing(database: str, given: str | None) -> None:
    """Refuse a SQLite registry whose ``database`` file is not there.

    Raises:
        NoRegistryError: there is no file at ``database``.
    """
    if os.path.isfile(database):
        return
    why = (" (the default location, as neither a uri nor SATCHEL_REGISTRY names one)"
           if given is None else "")
    raise NoRegistryError(
        f"there is no registry at {given or DEFAULT_PATH!r}{why}: {os.path.abspath(database)!r}"
        " is not there. Name the registry you meant (Registry(uri), --registry or"
        " SATCHEL_REGISTRY), or create this one by registering a model in it (satchel registry"
        " register NAME FILE)")


#: A database file of no bytes older than this is no registry being created (SQLite
#: writes a new one's first page at its first commit, within milliseconds).
_CREATING_SECONDS = 10.0


def _not_emptied(database: str) -> None:
    """Refuse a SQLite database file of no bytes that is not being created: SQLite takes
    one for a new database, the registry wrote its tables into it, and gc then took every
    stored artifact for an orphan and removed it.

    Raises:
        StoreError: the file at ``database`` is empty and was not made just now.
    """
    try:
        found = os.stat(database)
    except OSError:  # none (a new registry), or unreadable: opening it says why
        return
    if found.st_size == 0 and time.time() - found.st_mtime > _CREATING_SECONDS:
        raise StoreError(
            f"the registry database {os.path.abspath(database)!r} is empty (0 bytes): it was"
            " cut short or emptied after it was written. Restore it from a backup; nothing"
            " was read or changed")


def _folder(folder: str) -> str:
    """``folder``, created if it is not there yet.

    Raises:
        StoreError: ``folder`` is a file (or something else that is not a folder), or it is
            missing and cannot be created (read-only storage, a parent that is a file or
            that cannot hold folders, such as /proc).
    """
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise StoreError(f"the registry location {folder!r} is a file, not a folder: a registry"
                         " is a folder (created if missing) holding registry.db and artifacts/,"
                         " or a database URL such as postgresql+psycopg://host/db; name"
                         " another path")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        read_only = ("; a registry on read-only storage is read, once made where it is"
                     " writable" if exc.errno in READ_ONLY else "")
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise StoreError(f"there is no registry at {folder!r}, and its folder cannot be created"
                         f" there ({reason}): check the path (the uri given, or"
                         f" SATCHEL_REGISTRY){read_only}") from None
    return folder


def _local(path: str) -> str:
    """``path`` with a leading ``~`` expanded, unless it is a URL."""
    return path if "://" in path else os.path.expanduser(path)
