"""Reading a registry: its models, versions and aliases, searches, and loading a version.

:class:`Queries` holds what only reads the database and the artifact store;
:class:`~satchel.registry.core.Registry` opens them and adds what changes them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from satchel.errors import FormatError, IntegrityError, NotFoundError
from satchel.inspection import inspect
from satchel.registry import database as db
from satchel.registry.artifacts import ArtifactStore
from satchel.registry.names import check_alias, check_name, check_version, is_model_uri, parse_uri
from satchel.registry.records import AliasMove, ModelVersion
from satchel.registry.search import matches, order, order_key, parse_filters
from satchel.registry.values import checked_limit, checked_tags


class Queries:
    """The reading half of :class:`~satchel.registry.core.Registry`, which sets its database
    URL, engine and artifact store."""

    database_url: str
    engine: sa.Engine
    store: ArtifactStore

    @property
    def _location(self) -> str:
        """The database URL given, its password hidden (the engine's names a read-only SQLite
        file as a URI of SQLite's)."""
        return sa.engine.make_url(self.database_url).render_as_string()

    def models(self) -> list[dict[str, Any]]:
        """Every model: name, description, latest version, aliases."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(db.models).order_by(db.models.c.name)).all()
            result = []
            for row in rows:
                latest = connection.execute(
                    sa.select(sa.func.max(db.versions.c.version))
                    .where(db.versions.c.model_id == row.id, db.versions.c.status != "deleted")
                ).scalar()
                aliases = dict(connection.execute(
                    sa.select(db.aliases.c.alias, db.aliases.c.version)
                    .where(db.aliases.c.model_id == row.id)).all())
                result.append({"name": row.name, "description": row.description,
                               "latest": latest, "aliases": aliases,
                               "created_at": row.created_at})
        return result

    def versions(self, name: str, *, include_archived: bool = True) -> list[ModelVersion]:
        """Every version of ``name`` (deleted ones excluded), oldest first."""
        statuses = ("active", "archived") if include_archived else ("active",)
        return self._versions(name, db.versions.c.status.in_(statuses))

    def version(self, name: str, version: int) -> ModelVersion:
        """Version ``version`` of ``name``.

        Raises:
            InvalidNameError: ``version`` is not a version number.
            NotFoundError: naming the versions that do exist.
        """
        version = check_version(version)
        found = self._versions(name, db.versions.c.version == version,
                               db.versions.c.status != "deleted")
        if not found:
            existing = [v.version for v in self.versions(name)]
            raise NotFoundError(f"model {name!r} has no version {version}; it has versions"
                                f" {existing or 'none'}")
        return found[0]

    def latest(self, name: str) -> ModelVersion:
        """The highest active version of ``name``."""
        active = self.versions(name, include_archived=False)
        if not active:
            raise NotFoundError(f"model {name!r} has no active version")
        return active[-1]

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names (latest, a number or an alias)."""
        parsed = parse_uri(uri)
        if parsed.version is not None:
            return self.version(parsed.name, parsed.version)
        if parsed.alias is None:
            return self.latest(parsed.name)
        with self.engine.connect() as connection:
            model_id = self._model_id(connection, parsed.name)
            version = connection.execute(
                sa.select(db.aliases.c.version).where(db.aliases.c.model_id == model_id,
                                                      db.aliases.c.alias == parsed.alias)
            ).scalar()
            if version is None:
                known = connection.execute(sa.select(db.aliases.c.alias).where(
                    db.aliases.c.model_id == model_id)).scalars().all()
                raise NotFoundError(f"model {parsed.name!r} has no alias {parsed.alias!r};"
                                    f" its aliases are {sorted(known) or 'none'}")
        return self.version(parsed.name, int(version))

    def search(self, name: str | None = None, *, tags: Mapping[str, str] | None = None,
               metrics: str | Iterable[str] = (), order_by: str | None = None,
               include_archived: bool = False, limit: int | None = None
               ) -> list[ModelVersion]:
        """Versions matching a name, tags and metric filters such as ``"auc >= 0.9"``.

        ``metrics`` is one filter or several; ``order_by`` is a field (``version``,
        ``created_at``, ``metrics.auc``), prefixed with ``-`` for descending order;
        ``limit`` keeps the first that many (None: all).

        Raises:
            InvalidNameError: ``limit`` is not a whole number from 0, a filter is not
                ``METRIC OP NUMBER``, ``order_by`` names no field, or ``tags`` is not a dict
                of names to strings (checked before anything is read).
        """
        limit, tags, filters = checked_limit(limit), checked_tags(tags), parse_filters(metrics)
        order_key(order_by)  # a bad field is the caller's first mistake, before a missing name
        conditions = [db.versions.c.status.in_(("active", "archived") if include_archived
                                                else ("active",))]
        found = self._versions(name, *conditions) if name else self._all_versions(*conditions)
        selected = [v for v in found if matches(v, tags, filters)]
        return order(selected, order_by)[:limit]

    def load(self, uri: str, **options: Any) -> Any:
        """Load a registered model (``models:/name``, ``/version`` or ``@alias``).

        The artifact's header must carry the digest the registry recorded, and a
        full load then verifies every byte (unless ``check_arrays=False``). Options are
        those of :func:`satchel.load`.
        """
        uri, _, digest, stored = self._stored(uri)
        path = self.store.local_path(stored)
        try:
            return _load_artifact(path, uri, digest, options)
        except FormatError as exc:  # IntegrityError too
            if self.store.cached_is_damaged(stored):
                # The cached copy of a remote artifact was damaged or replaced after it was
                # verified and kept: a fresh download is verified again before it replaces it.
                return _load_artifact(self.store.local_path(stored, again=True), uri, digest,
                                      options)
            if isinstance(exc, IntegrityError):
                raise self.store.damaged(stored, exc, uri) from None
            raise

    def artifact_path(self, uri: str) -> str:
        """A local file holding the artifact of the version ``uri`` names: the store's own
        file, or a copy of a remote one downloaded (and verified) into the cache."""
        return self.store.local_path(self._stored(uri)[3])

    def _stored(self, uri: str) -> tuple[str, int, str, str]:
        """(``uri`` as a ``models:/`` URI, the version it names, its content digest, the
        digest its artifact is stored under).

        Raises:
            NotFoundError: no live version is named (saying what exists instead).
        """
        if not is_model_uri(uri):
            uri = f"models:/{uri}"
        parsed = parse_uri(uri)
        with self.engine.connect() as connection:
            found = db.find_digest(connection, parsed.name, parsed.version, parsed.alias)
        if found is None:
            self.resolve(uri)  # raises NotFoundError saying what exists instead
            raise NotFoundError(f"{uri} names no loadable version")
        return (uri, *found)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of the model's aliases (or of one alias), oldest first."""
        with self.engine.connect() as connection:
            model_id = self._model_id(connection, name)
            query = sa.select(db.alias_history).where(db.alias_history.c.model_id == model_id)
            if alias is not None:
                query = query.where(db.alias_history.c.alias == check_alias(alias))
            rows = connection.execute(query.order_by(db.alias_history.c.id)).all()
        return [AliasMove(name, r.alias, r.version, r.previous, r.at) for r in rows]

    # -------------------------------------------------------------- internals

    def _model_id(self, connection: sa.Connection, name: str) -> int:
        found = connection.execute(
            sa.select(db.models.c.id).where(db.models.c.name == check_name(name))).scalar()
        if found is None:
            names = connection.execute(sa.select(db.models.c.name)).scalars().all()
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else (
                f"; registered models: {sorted(names)[:10]}" if names else (
                    f" in the registry {self._location}, which has no"
                    " models: check that SATCHEL_REGISTRY (or the registry given) names the"
                    " one you meant"))
            raise NotFoundError(f"no model named {name!r}{hint}")
        return int(found)

    def _versions(self, name: str, *conditions: Any) -> list[ModelVersion]:
        with self.engine.connect() as connection:
            model_id = self._model_id(connection, name)
            return self._query(connection, db.versions.c.model_id == model_id, *conditions)

    def _all_versions(self, *conditions: Any) -> list[ModelVersion]:
        with self.engine.connect() as connection:
            return self._query(connection, *conditions)

    def _query(self, connection: sa.Connection, *conditions: Any) -> list[ModelVersion]:
        rows = connection.execute(
            sa.select(db.versions, db.models.c.name)
            .join(db.models, db.models.c.id == db.versions.c.model_id)
            .where(*conditions).order_by(db.models.c.name, db.versions.c.version)).all()
        aliases: dict[tuple[int, int], list[str]] = {}
        for model_id, alias, version in connection.execute(
                sa.select(db.aliases.c.model_id, db.aliases.c.alias, db.aliases.c.version)):
            aliases.setdefault((model_id, version), []).append(alias)
        return [ModelVersion(
            name=r.name, version=r.version, digest=r.digest, size=r.size, status=r.status,
            description=r.description, tags=r.tags, metrics=r.metrics, params=r.params,
            lineage=r.lineage, artifact=r.artifact, created_at=r.created_at,
            aliases=sorted(aliases.get((r.model_id, r.version), [])),
            stored_as=r.file or r.digest) for r in rows]


def _load_artifact(path: str, uri: str, digest: str, options: dict[str, Any]) -> Any:
    """The model in the file at ``path``, which must hold ``digest`` (the registry's record).

    Raises:
        IntegrityError: the file holds another digest.
    """
    from satchel.artifact import load  # noqa: PLC0415 - avoids an import cycle

    model = load(path, **options)
    held = getattr(model, "digest", None) or inspect(path).digest
    if held != digest:
        raise IntegrityError(f"the registry recorded {digest}, the artifact holds {held}: it was"
                             " replaced by another model's file")
    return model
