"""The registry's metadata store: SQLAlchemy tables on SQLite or PostgreSQL.

Versions are numbered per model inside one write transaction: on SQLite the
transaction takes the write lock up front (``BEGIN IMMEDIATE``), on
PostgreSQL it locks the model's row (``SELECT ... FOR UPDATE``), so concurrent
registrations get consecutive numbers and none is lost. The schema is created
and upgraded by the alembic migrations in ``satchel/registry/migrations``.

A registration in progress holds a *claim* on its artifact's digest (a row of
``satchel_claims``, committed before the artifact is stored and removed in the
transaction that writes the version): ``gc`` never removes an artifact that a
version or a claim refers to. ``gc`` decides under :func:`gc_lock`, which
claims and version commits wait for, so no registration can start relying on
an artifact between gc's check and its deletion.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from satchel.errors import InvalidNameError, SatchelError, StoreError

#: The alembic revisions of ``migrations/versions``, oldest first.
REVISIONS = ("0001", "0002", "0003")
#: The alembic revision the code expects; opening a database upgrades it to this.
HEAD = REVISIONS[-1]

#: The PostgreSQL advisory lock key that serialises schema upgrades ("satchel").
_UPGRADE_LOCK = 0x73617463686C
#: SQLite's primary result codes for a read-only file, a damaged one, a full disk and a file
#: that is not a database.
_SQLITE_READONLY, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 8, 11, 13, 26



class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A UTC time, read back aware on every backend.

    The registry writes UTC (:func:`now`); SQLite keeps no time zone, so its times came back
    naive where PostgreSQL's are aware, and comparing one with ``datetime.now(UTC)`` raised
    TypeError on SQLite only. The column's DDL is ``DateTime(timezone=True)``'s.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """``value`` in UTC, a naive one taken as the UTC the registry wrote."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()
models = sa.Table(
    "satchel_models", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
versions = sa.Table(
    "satchel_versions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("satchel_models.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(80), nullable=False, index=True),
    # The artifact digest the file is stored under; None: the content digest (0002 and
    # earlier named artifacts by it).
    sa.Column("file", sa.String(80), nullable=True, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("lineage", sa.JSON, nullable=False),
    sa.Column("artifact", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("model_id", "version", name="uq_satchel_versions_model_version"),
)
aliases = sa.Table(
    "satchel_aliases", metadata,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("satchel_models.id"), primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
alias_history = sa.Table(
    "satchel_alias_history", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("satchel_models.id"), nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("previous", sa.Integer, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
)

claims = sa.Table(
    "satchel_claims", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(80), nullable=False, index=True),
    sa.Column("claimed_at", UTCDateTime(), nullable=False),
)


def now() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


def create_engine(url: str) -> Engine:
    """An engine for ``url`` with the locking each backend needs.

    A SQLite file this process cannot write (its file, its folder or its filesystem is
    read-only) is opened read-only, and :func:`write` refuses changes to it.
    """
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database or ""
        opening = _read_only(path)
        engine = sa.create_engine(
            url if opening is None else sa.engine.URL.create(
                "sqlite", database=f"file:{quote(path)}", query={**opening, "uri": "true"}),
            connect_args={"timeout": 60, "isolation_level": None},
            execution_options={"satchel_read_only": path} if opening is not None else {})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            if opening is None:  # the journal mode of a read-only file stays as it is
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # Writers take the write lock up front, so that two of them never both read
            # the same highest version; readers run in autocommit and block no one.
            if connection.get_execution_options().get("satchel_write", False):
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        @sa.event.listens_for(engine, "handle_error")
        def _damaged(context: sa.engine.ExceptionContext) -> None:
            _raise_if_unusable(context.original_exception, path, read_only=opening is not None)

        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except sa.exc.NoSuchModuleError:
        raise InvalidNameError(f"the registry database URL's scheme {url.split(':', 1)[0]!r} is"
                               " not a database SQLAlchemy knows: for PostgreSQL write"
                               " postgresql+psycopg://user@host/db, for SQLite a folder"
                               " path") from None
    except ModuleNotFoundError as exc:
        raise SatchelError(f"the database driver for {url.split(':', 1)[0]!r} is not installed"
                           f" ({exc.name}); for PostgreSQL: pip install 'satchel[postgres]'"
                           ) from None


def _read_only(path: str) -> dict[str, str] | None:
    """How SQLite opens the database file at ``path`` that this process cannot write (None:
    it can, or there is no file yet): ``mode=ro``, or ``immutable=1`` where no one can change
    it and no reader could create the shared-memory file of a WAL database beside it."""
    if not os.path.isfile(path):
        return None
    folder = os.path.dirname(path) or "."
    if os.access(folder, os.W_OK):
        return None if os.access(path, os.W_OK) else {"mode": "ro"}
    with suppress(OSError):
        if os.path.getsize(f"{path}-wal"):  # commits not yet in the file, which ro reads
            return {"mode": "ro"}
    return {"immutable": "1"} if _unchanging(folder) else {"mode": "ro"}


def _unchanging(folder: str) -> bool:
    """Whether no one changes the files of ``folder``, which this process may not write to:
    it is on a read-only filesystem, its mode lets no one write, or even root may not (chattr
    +i). A folder that another user may write to is not: a writer of theirs may be running."""
    if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY:
        return True
    return not os.stat(folder).st_mode & 0o222 or (hasattr(os, "geteuid") and os.geteuid() == 0)


def read_only_error(path: str) -> StoreError:
    """The error of a change to a registry database that is read-only."""
    return StoreError(f"the registry database {path} is read-only (its file, its folder or its"
                      " filesystem): nothing was changed; register, move aliases, tag, delete"
                      " and run gc where it is writable")


def check_writable(engine: Engine) -> None:
    """Raise :func:`read_only_error` if ``engine``'s database was opened read-only."""
    path = engine.get_execution_options().get("satchel_read_only")
    if path is not None:
        raise read_only_error(path)


def _raise_if_unusable(exc: BaseException, path: str, *, read_only: bool = False) -> None:
    """Raise a StoreError for SQLite's word that its file is not a database or is damaged,
    that its disk is full, or that it is read-only (a filesystem remounted so).

    SQLite reads the file only at the first statement, so this runs on every statement's
    error (SQLite says SQLITE_NOTADB for a file of other bytes, SQLITE_CORRUPT for a
    truncated or damaged one; its other errors, such as a lock, pass through). A database
    opened read-only is never written (:func:`write`): its SQLITE_READONLY is a read's, of a
    WAL database whose ``-shm`` file cannot be created.
    """
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        raise StoreError(f"{path!r} is not a registry database, or is damaged (SQLite: {exc}):"
                         " restore it from a backup, or name another registry folder") from exc
    if code == _SQLITE_READONLY and read_only:
        raise StoreError(f"cannot read the registry database {path}: SQLite must create"
                         f" {path}-shm beside it to read it while none of its writers has it"
                         f" open, and this user may not write to its folder (SQLite: {exc});"
                         " let this user write to the folder, or, if nothing writes to it,"
                         " make it read-only to everyone (chmod a-w)") from exc
    if code == _SQLITE_READONLY:
        raise read_only_error(path) from exc
    if code == _SQLITE_FULL:
        raise StoreError(f"the registry database {path!r} cannot grow: {exc}; nothing was"
                         " changed: free space on its filesystem") from exc


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to :data:`HEAD` with alembic, if it is not there yet.

    Processes opening an old database at once upgrade it one at a time: the upgrade
    runs in a write transaction (on PostgreSQL, under an advisory lock), and the
    revision is read again once the lock is held.
    """
    with engine.connect() as connection:
        revision = _revision(connection)
    if revision == HEAD:
        return
    path = engine.get_execution_options().get("satchel_read_only")
    if path is not None:
        raise StoreError(
            f"the registry database {path} has the schema {revision or 'none'}, older than this"
            f" satchel's ({HEAD}), and it is read-only, so it cannot be upgraded here: open it"
            " once with this satchel where it is writable (satchel registry models), then read"
            " it here")
    from alembic import command  # noqa: PLC0415 - only needed when the schema changes
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", os.path.join(os.path.dirname(__file__),
                                                           "migrations"))
    with write(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_UPGRADE_LOCK)))
        if _revision(connection) == HEAD:
            return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _revision(connection: Connection) -> str | None:
    """The database's alembic revision, None for a database without the registry.

    Raises:
        SatchelError: a newer satchel upgraded the database to a revision this one does
            not know (alembic could not upgrade it, and the tables may have changed).
    """
    if not sa.inspect(connection).has_table("satchel_alembic_version"):
        return None
    found = connection.execute(sa.text("SELECT version_num FROM satchel_alembic_version"))
    revision = found.scalar()
    if revision is not None and revision not in REVISIONS:
        text = str(revision)[:40]
        if text.isdigit() and int(text) > int(HEAD):
            raise SatchelError(f"the registry's schema {text} is newer than this satchel reads"
                               f" ({HEAD}): a newer satchel upgraded it; upgrade satchel (pip"
                               " install -U 'satchel[registry]') to use this registry")
        raise SatchelError(f"the registry's schema {text!r} is not one this satchel knows"
                           f" ({', '.join(REVISIONS)}); upgrade satchel (pip install -U"
                           " 'satchel[registry]') if a newer one wrote it")
    return revision


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (the SQLite write lock is taken at its start).

    Raises:
        StoreError: the database was opened read-only (:func:`check_writable`).
    """
    check_writable(engine)
    with engine.connect().execution_options(satchel_write=True) as connection, \
            connection.begin():
        yield connection


def stored_as() -> sa.ColumnElement[str]:
    """The digest a version's artifact is stored under (see ``versions.file``)."""
    return sa.func.coalesce(versions.c.file, versions.c.digest)


def find_digest(connection: Connection, name: str, version: int | None,
                alias: str | None) -> tuple[int, str, str] | None:
    """(version, digest, the digest its artifact is stored under) for a name and a version,
    an alias or neither (latest), in one query."""
    query = (sa.select(versions.c.version, versions.c.digest, stored_as())
             .join(models, models.c.id == versions.c.model_id)
             .where(models.c.name == name, versions.c.status != "deleted"))
    if alias is not None:
        query = query.join(aliases, (aliases.c.model_id == versions.c.model_id)
                           & (aliases.c.version == versions.c.version)
                           ).where(aliases.c.alias == alias)
    elif version is not None:
        query = query.where(versions.c.version == version)
    else:
        query = query.where(versions.c.status == "active").order_by(
            versions.c.version.desc()).limit(1)
    row = connection.execute(query).first()
    return (int(row[0]), str(row[1]), str(row[2])) if row else None


def lock_model(connection: Connection, name: str) -> int:
    """The id of model ``name``, created if new, locked for this transaction."""
    query = sa.select(models.c.id).where(models.c.name == name)
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.dialects.postgresql.insert(models)
            .values(name=name, description="", created_at=now())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        found = connection.execute(query.with_for_update()).scalar_one()
        return int(found)
    found = connection.execute(query).scalar()
    if found is None:
        inserted = connection.execute(
            sa.insert(models).values(name=name, description="", created_at=now())
        ).inserted_primary_key
        found = inserted[0] if inserted else None
    return int(found)


def next_version(connection: Connection, model_id: int) -> int:
    """One more than the highest version of ``model_id``.

    Deleted versions stay as rows with status ``deleted``, so numbers are never reused.
    """
    highest = connection.execute(
        sa.select(sa.func.max(versions.c.version)).where(versions.c.model_id == model_id)
    ).scalar()
    return int(highest or 0) + 1


def claim(connection: Connection, digest: str) -> int:
    """Record that a registration is storing ``digest``; the claim's id."""
    inserted = connection.execute(
        sa.insert(claims).values(digest=digest, claimed_at=now())).inserted_primary_key
    if not inserted:
        raise SatchelError("the database returned no id for a new claim")
    return int(inserted[0])


def release(connection: Connection, claim_id: int) -> bool:
    """Remove a claim; whether it was still there (gc drops claims older than its grace)."""
    return bool(connection.execute(sa.delete(claims).where(claims.c.id == claim_id)).rowcount)


def gc_lock(connection: Connection) -> None:
    """Make claims and version commits wait until this transaction ends.

    On SQLite the write transaction holds the database's write lock already; on
    PostgreSQL the claims table is locked against writes (new claims and the
    release that commits a version both write it).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("LOCK TABLE satchel_claims IN EXCLUSIVE MODE"))


def referenced(connection: Connection, digests: list[str]) -> set[str]:
    """Which of ``digests`` a live version or a claim refers to."""
    found: set[str] = set()
    for start in range(0, len(digests), 500):
        chunk = digests[start:start + 500]
        found.update(connection.execute(sa.select(stored_as()).where(
            stored_as().in_(chunk), versions.c.status != "deleted")).scalars())
        found.update(connection.execute(
            sa.select(claims.c.digest).where(claims.c.digest.in_(chunk))).scalars())
    return found


def expire_claims(connection: Connection, before: datetime) -> int:
    """Remove claims made before ``before`` (their registrations died); how many."""
    return int(connection.execute(sa.delete(claims).where(claims.c.claimed_at < before)).rowcount)
