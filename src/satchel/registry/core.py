"""Registry: names, versions, aliases, tags, metrics and lineage for satchel models.

:class:`Registry` opens the database and the artifact store and makes the changes
(registrations, aliases, updates, deletions, gc); what only reads them is in
:mod:`satchel.registry.queries`.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from satchel.errors import ConflictError, EncodeError, IntegrityError, NotFoundError, StoreError
from satchel.format import reader
from satchel.inspection import Inspection, describe, inspect
from satchel.registry import database as db
from satchel.registry.artifacts import ArtifactStore, artifact_digest
from satchel.registry.locations import locations
from satchel.registry.names import check_alias, check_name, check_version, is_model_uri
from satchel.registry.queries import Queries
from satchel.registry.records import ModelVersion
from satchel.registry.values import (
    checked_description,
    checked_grace,
    checked_json,
    checked_metrics,
    checked_tag_keys,
    checked_tags,
)


class _ClaimExpiredError(Exception):
    """gc dropped a registration's claim before its version was written."""


class Registry(Queries):
    """Registered models: metadata in SQLAlchemy, artifacts in an fsspec store.

    Args:
        uri: a folder (default ``./satchel-registry``, or ``SATCHEL_REGISTRY``)
            holding a SQLite database and an ``artifacts`` folder, or a database
            URL such as ``postgresql+psycopg://host/db``.
        artifacts: an fsspec URL for the artifacts (``s3://bucket/prefix``);
            required with a database URL (or ``SATCHEL_ARTIFACTS``).
        cache: where remote artifacts are cached locally.
        create: make a SQLite registry that is not there yet (its folder and
            database). False refuses it with a ``NoRegistryError`` (a
            ``NotFoundError``) and creates nothing, as reading a registry does
            (``load("models:/...")``, ``satchel serve``, and the ``satchel registry``
            commands other than ``register``).

    Example:
        >>> reg = satchel.Registry()                                   # doctest: +SKIP
        >>> v = reg.register("churn", pipeline, metrics={"auc": 0.91})  # doctest: +SKIP
        >>> reg.set_alias("churn", "production", v.version)            # doctest: +SKIP
        >>> model = reg.load("models:/churn@production")               # doctest: +SKIP
    """

    def __init__(self, uri: str | os.PathLike[str] | None = None,
                 artifacts: str | os.PathLike[str] | None = None,
                 cache: str | None = None, *, create: bool = True) -> None:
        self.database_url, artifacts_url = locations(uri, artifacts, create)
        self.engine = db.create_engine(self.database_url)
        # Its pooled connections are closed once the registry is collected: a PostgreSQL
        # connection collected while open gives a ResourceWarning wherever that happens.
        weakref.finalize(self, self.engine.dispose)
        try:
            db.upgrade(self.engine)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            self.engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
            check = ("that its folder exists and that this user may write to it"
                     if self.engine.dialect.name == "sqlite" else "that its server is running"
                     " and that the URL's host, port, user and database are right")
            raise StoreError(
                f"cannot open the registry database {self._location}:"
                f" {reason}. Check {check} (the uri given, or SATCHEL_REGISTRY)") from exc
        self.store = ArtifactStore(artifacts_url, cache)

    def __repr__(self) -> str:
        return f"Registry({self._location!r}, artifacts={self.store.url!r})"

    # ---------------------------------------------------------------- register

    def register(self, name: str, model_or_file: Any, *, description: str = "",
                 tags: Mapping[str, str] | None = None,
                 metrics: Mapping[str, float] | None = None,
                 params: Mapping[str, Any] | None = None,
                 lineage: Mapping[str, Any] | None = None, sample: Any = None) -> ModelVersion:
        """Register a model (object, loaded Model or satchel file) as the next version.

        The registration first claims the artifact's digest (a committed row that
        ``gc`` respects), stores the artifact under it (once, however often the
        same model and metadata are registered), then writes the version row and
        drops the claim in one transaction: a crash at any point leaves at most an orphaned artifact
        and a stale claim, which ``gc`` removes, never a version without its
        artifact.

        Raises:
            InvalidNameError: the name, the description, a tag, a metric, or params or
                lineage that are not JSON data (numpy scalars are taken as the Python
                numbers they hold).
            EncodeError: ``model_or_file`` is None, bytes or a file object: pass the file's
                path instead. Or ``sample`` is given with a model saved already (a file,
                a Model, a URI), which keeps the check sample it was saved with.
            ConflictError: ``gc`` with a grace period shorter than the upload
                expired this registration's claim three times.
        """
        check_name(name)
        db.check_writable(self.engine)  # before the model is saved
        description = checked_description(description)
        tags, metrics = checked_tags(tags), checked_metrics(metrics)
        params, lineage = checked_json(params, "params"), checked_json(lineage, "lineage")
        path, temporary = self._artifact_file(model_or_file, sample)
        held = self.store.hold(path) if temporary else None
        try:
            # The store keeps a file under the digest its header claims. One from outside
            # is checked first: where it is if the store holds it already, else as the copy
            # the store keeps (the one just saved needs no second reading).
            info = inspect(path)
            stored = artifact_digest(info.header)
            if not temporary and self.store.exists(stored):
                info = describe(reader.verify_file(path))
                stored = artifact_digest(info.header)
            elif not temporary:
                path, info = self._verified_copy(path, stored)
                temporary, held = True, self.store.hold(path)
            record = _artifact_record(info.header.metadata)
            for _ in range(3):
                with db.write(self.engine) as connection:
                    claim = db.claim(connection, stored)
                try:
                    self.store.put(path, stored)
                    version = self._commit_version(name, claim, {
                        "digest": info.digest, "file": stored, "size": info.size,
                        "status": "active",
                        "description": description, "tags": tags, "metrics": metrics,
                        "params": params, "lineage": lineage, "artifact": record})
                except BaseException:
                    self._drop_claim(claim)
                    raise
                if version is not None:
                    return self.version(name, version)
        finally:
            if temporary:
                os.unlink(path)
            if held is not None:
                os.close(held)
        raise ConflictError(f"registering {name!r}: gc expired the claim on {stored}"
                            " three times; run gc with a grace period longer than uploads")

    def _verified_copy(self, path: str, stored: str) -> tuple[str, Inspection]:
        """A copy of the file at ``path`` in the store's staging folder, verified to hold the
        artifact ``stored``, and its description. The store keeps the copy: a byte changed
        in the file after it was verified, while it was copied, was stored, and the version
        then failed to load.

        Raises:
            IntegrityError: the file changed while it was copied; nothing is stored.
        """
        with self.store.filling():  # the staging folder is on the store's disk
            copy = self.store.stage()
            try:
                shutil.copyfile(path, copy)
                info = describe(reader.verify_file(copy))
                if artifact_digest(info.header) != stored:
                    raise IntegrityError(f"{path!r} changed while it was registered: it holds"
                                         " another model now; nothing was registered")
            except BaseException:
                os.unlink(copy)
                raise
        return copy, info

    def _artifact_file(self, model_or_file: Any, sample: Any) -> tuple[str, bool]:
        """A satchel file for what was given (a ``models:/`` URI: the version's stored
        file, which is then registered again), and whether it is a temporary one."""
        if is_model_uri(model_or_file):
            _no_sample(sample)
            return self.artifact_path(str(model_or_file)), False
        with self.store.filling():  # the staging folder is on the store's disk
            return _artifact_file(model_or_file, sample, self.store.stage)

    def _commit_version(self, name: str, claim: int, values: dict[str, Any]) -> int | None:
        """Write the next version of ``name`` and drop the claim; None if gc expired it."""
        try:
            with db.write(self.engine) as connection:
                # The model's row is locked before the claims are written: gc waits for
                # transactions that wrote claims and never for a model's lock.
                model_id = db.lock_model(connection, name)
                if not db.release(connection, claim):
                    raise _ClaimExpiredError  # rolls back (a new model's row too)
                version = db.next_version(connection, model_id)
                connection.execute(sa.insert(db.versions).values(
                    model_id=model_id, version=version, created_at=db.now(), **values))
        except _ClaimExpiredError:
            return None
        return version

    def _drop_claim(self, claim: int) -> None:
        """Drop the claim of a registration that failed (gc expires it otherwise)."""
        with contextlib.suppress(sa.exc.SQLAlchemyError), db.write(self.engine) as connection:
            db.release(connection, claim)

    # --------------------------------------------------------------- aliases

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version`` (creating or moving it); the move is recorded."""
        check_alias(alias)
        version = check_version(version)
        with db.write(self.engine) as connection:
            model_id = self._locked_model(connection, name)
            self._check_live(connection, model_id, name, version)
            self._move_alias(connection, model_id, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` (even one left pointing at a deleted version); the removal is
        recorded in its history."""
        check_name(alias, "alias")
        with db.write(self.engine) as connection:
            model_id = self._locked_model(connection, name)
            known = _aliases(connection, model_id)
            if alias not in known:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}; its aliases are"
                                    f" {sorted(known) or 'none'}")
            self._move_alias(connection, model_id, alias, None)

    @staticmethod
    def _move_alias(connection: sa.Connection, model_id: int, alias: str,
                    version: int | None) -> None:
        """Point ``alias`` at ``version`` (None removes it) and record the move."""
        which = (db.aliases.c.model_id == model_id) & (db.aliases.c.alias == alias)
        previous = connection.execute(sa.select(db.aliases.c.version).where(which)).scalar()
        connection.execute(sa.delete(db.aliases).where(which))
        if version is not None:
            connection.execute(sa.insert(db.aliases).values(
                model_id=model_id, alias=alias, version=version, updated_at=db.now()))
        connection.execute(sa.insert(db.alias_history).values(
            model_id=model_id, alias=alias, version=version, previous=previous, at=db.now()))

    def _locked_model(self, connection: sa.Connection, name: str) -> int:
        """The id of the existing model ``name``, locked until the transaction ends, so that
        alias moves, updates, archivals and deletions of one model happen one at a time
        (SQLite's write transactions already do)."""
        model_id = self._model_id(connection, name)
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(db.models.c.id).where(db.models.c.id == model_id)
                               .with_for_update())
        return model_id

    @staticmethod
    def _check_live(connection: sa.Connection, model_id: int, name: str, version: int) -> None:
        """Raise NotFoundError unless ``version`` of the model exists and is not deleted."""
        live = connection.execute(sa.select(db.versions.c.version).where(
            db.versions.c.model_id == model_id, db.versions.c.status != "deleted")
        ).scalars().all()
        if version not in live:
            raise NotFoundError(f"model {name!r} has no version {version}; it has versions"
                                f" {sorted(live) or 'none'}")

    # --------------------------------------------------------------- changes

    def update(self, name: str, version: int, *, tags: Mapping[str, str] | None = None,
               remove_tags: Iterable[str] = (), description: str | None = None) -> ModelVersion:
        """Merge ``tags`` into a version's tags, remove ``remove_tags`` (one tag key, or
        several), set its description.

        The tags are read and written in one transaction with the model locked, so that
        concurrent updates each keep the others' tags.
        """
        version = check_version(version)
        added, removed = checked_tags(tags), checked_tag_keys(remove_tags)
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = checked_description(description)
        with db.write(self.engine) as connection:
            model_id = self._locked_model(connection, name)
            self._check_live(connection, model_id, name, version)
            current = connection.execute(sa.select(db.versions.c.tags).where(
                db.versions.c.model_id == model_id, db.versions.c.version == version)
            ).scalar_one()
            values["tags"] = {k: v for k, v in {**current, **added}.items()
                              if k not in removed}
            self._set(connection, model_id, name, version, **values)
            return self._query(connection, db.versions.c.model_id == model_id,
                               db.versions.c.version == version)[0]

    def describe(self, name: str, description: str) -> None:
        """Set a model's description."""
        description = checked_description(description)
        with db.write(self.engine) as connection:
            model_id = self._model_id(connection, name)
            connection.execute(sa.update(db.models).where(db.models.c.id == model_id)
                               .values(description=description))

    def archive(self, name: str, version: int) -> None:
        """Mark a version archived: kept and loadable, left out of searches and ``latest``."""
        version = check_version(version)
        with db.write(self.engine) as connection:
            model_id = self._locked_model(connection, name)
            self._check_live(connection, model_id, name, version)
            self._set(connection, model_id, name, version, status="archived")

    def restore(self, name: str, version: int) -> None:
        """Make an archived version active again: back in ``latest`` and searches (a version
        already active stays so; a deleted one is gone for good)."""
        version = check_version(version)
        with db.write(self.engine) as connection:
            model_id = self._locked_model(connection, name)
            self._check_live(connection, model_id, name, version)
            self._set(connection, model_id, name, version, status="active")

    def delete(self, name: str, version: int, *, force: bool = False) -> None:
        """Delete a version (its number is never reused; ``gc`` frees its artifact).

        Raises:
            ConflictError: an alias points to it and ``force`` is false.
        """
        version = check_version(version)
        with db.write(self.engine) as connection:
            model_id = self._locked_model(connection, name)
            self._check_live(connection, model_id, name, version)
            pointing = sorted(a for a, v in _aliases(connection, model_id).items() if v == version)
            if pointing and not force:
                raise ConflictError(f"models:/{name}/{version} is the target of alias(es)"
                                    f" {pointing}; move them first or pass force=True to delete"
                                    " them too")
            for alias in pointing:
                self._move_alias(connection, model_id, alias, None)
            changed = connection.execute(sa.update(db.versions).where(
                db.versions.c.model_id == model_id, db.versions.c.version == version,
                db.versions.c.status != "deleted").values(status="deleted")).rowcount
            if changed != 1:  # rolls the alias removals back with the transaction
                raise NotFoundError(f"model {name!r} has no version {version} to delete")

    def gc(self, grace_seconds: float = 3600.0) -> list[str]:
        """Remove artifacts no live version refers to; return the digests they were stored
        under (artifact digests; content digests for files registered before schema 0003).

        Artifacts younger than ``grace_seconds`` are kept, and so are those a
        registration in progress has claimed; claims older than the grace period
        (left by registrations that died) are dropped first, and so are
        temporary files older than it. Each batch of removals is decided again
        under a lock that registrations wait for, so an artifact that a
        registration starts to rely on meanwhile is kept.
        """
        cutoff = time.time() - checked_grace(grace_seconds)
        with db.write(self.engine) as connection:
            db.gc_lock(connection)
            db.expire_claims(connection, datetime.fromtimestamp(cutoff, UTC))
        with self.engine.connect() as connection:
            live = set(connection.execute(sa.select(db.stored_as()).where(
                db.versions.c.status != "deleted")).scalars())
        held = dict(self.store.digests())
        self._check_own_store(live, held)
        candidates = [d for d, mtime in held.items() if d not in live and mtime < cutoff]
        removed = []
        for start in range(0, len(candidates), 100):
            batch = candidates[start:start + 100]
            with db.write(self.engine) as connection:
                db.gc_lock(connection)
                kept = db.referenced(connection, batch)
                for digest in batch:
                    if digest not in kept:
                        self.store.delete(digest)
                        removed.append(digest)
        for path, mtime in self.store.temporaries():
            if mtime < cutoff:
                self.store.delete_temporary(path)
        return removed

    def _check_own_store(self, live: set[str], held: dict[str, float]) -> None:
        """Refuse to collect a store that lacks a live version's artifact: another registry's
        store, given as ``artifacts``, whose every artifact gc took for an orphan and
        removed (a store that lost files is left as it is too).

        Raises:
            StoreError: the store and the database do not belong together.
        """
        missing = live - held.keys()
        if missing:
            raise StoreError(
                f"gc: the artifact store {self.store.url} lacks the artifacts of"
                f" {len(missing)} live version(s) of this registry ({sorted(missing)[0]}"
                f"{', ...' if len(missing) > 1 else ''}): it is another registry's store, or it"
                " lost files. Check the artifacts location (--artifacts, SATCHEL_ARTIFACTS);"
                " if it is right, register the lost versions' models again (or delete those"
                " versions) before gc. Nothing was removed")

    # -------------------------------------------------------------- internals

    @staticmethod
    def _set(connection: sa.Connection, model_id: int, name: str, version: int,
             **values: Any) -> None:
        """Change a live version's columns; a version deleted meanwhile stays deleted."""
        changed = connection.execute(sa.update(db.versions).where(
            db.versions.c.model_id == model_id, db.versions.c.version == version,
            db.versions.c.status != "deleted").values(**values)).rowcount
        if changed != 1:
            raise NotFoundError(f"model {name!r} has no version {version}")


def _aliases(connection: sa.Connection, model_id: int) -> dict[str, int]:
    """The model's aliases and the versions they point at."""
    rows = connection.execute(sa.select(db.aliases.c.alias, db.aliases.c.version).where(
        db.aliases.c.model_id == model_id)).all()
    return {str(alias): int(version) for alias, version in rows}


def _no_sample(sample: Any) -> None:
    """Refuse a check sample for a model saved already, which keeps its own: it was dropped."""
    if sample is not None:
        raise EncodeError(
            "register(sample=...) saves a fitted model with that check sample; a saved model"
            " keeps the one it was saved with: save it again with satchel.save(estimator,"
            " path, sample=...) and register that file")


def _artifact_file(model_or_file: Any, sample: Any, stage: Callable[[], str]
                   ) -> tuple[str, bool]:
    """A satchel file for what was given, and whether it is a temporary one (saved in the
    new file ``stage()`` gives)."""
    if model_or_file is None:
        raise EncodeError("register() takes a fitted model, a satchel.Model, the path of a"
                          " .satchel file or a models:/ URI, not None: check that the code"
                          " that made the model returns it")
    if isinstance(model_or_file, (bytes, bytearray, memoryview, io.IOBase)) or callable(
            getattr(model_or_file, "read", None)):
        raise EncodeError(
            f"register() takes a fitted model, a satchel.Model, the path of a .satchel file or"
            f" a models:/ URI, not {type(model_or_file).__name__}: it would register the"
            " object itself as a model; to register a satchel file's contents, write them to"
            " a file and pass its path")
    if isinstance(model_or_file, (str, os.PathLike)):
        _no_sample(sample)
        if not os.path.exists(model_or_file):
            raise NotFoundError(f"no such file: {os.fspath(model_or_file)!r}")
        if not os.path.isfile(model_or_file):
            raise NotFoundError(f"{os.fspath(model_or_file)!r} is not a file: expected a"
                                " .satchel file")
        return os.fspath(model_or_file), False
    from satchel.artifact import save, save_model  # noqa: PLC0415 - avoids an import cycle
    from satchel.model import Model  # noqa: PLC0415

    path = stage()
    try:
        if isinstance(model_or_file, Model):
            _no_sample(sample)
            save_model(model_or_file, path)
        else:
            save(model_or_file, path, sample=sample)
    except BaseException:
        os.unlink(path)
        raise
    return path, True


def _artifact_record(metadata: dict[str, Any]) -> dict[str, Any]:
    """What the registry keeps of a file's metadata: queryable without the file."""
    check = metadata.get("check")
    return {
        "environment": metadata.get("environment", {}),
        "schema": metadata.get("schema"),
        "check_rows": check.get("rows") if isinstance(check, dict) else 0,
        "code": [{k: v for k, v in r.items() if k != "source"}
                 for r in metadata.get("code", []) if isinstance(r, dict)],
        "user": metadata.get("user", {}),
    }
