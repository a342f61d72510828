"""The registry on every backend: versions, aliases, search, URIs, artifacts and bad input."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import importlib.util
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import satchel
from satchel.format import reader
from satchel.registry import Registry
from satchel.registry.artifacts import ArtifactStore, artifact_digest
from satchel.registry.database import HEAD
from tests import forge
from tests.backends import (  # noqa: F401 - fixtures
    POSTGRES_VARIABLE,
    Backend,
    backend,
    postgres_url,
    s3_endpoint,
)
from tests.hostile_tools import array_offset


@pytest.fixture
def registry(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:  # noqa: F811
    """A fresh registry on the backend under test."""
    for key, value in backend.environment.items():
        monkeypatch.setenv(key, value)
    return Registry(backend.uri, artifacts=backend.artifacts, cache=str(tmp_path / "cache"))


def _data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    features = np.random.default_rng(0).normal(size=(60, 3))
    return features, features[:, 0] > 0


def model(c: float = 1.0) -> Any:
    """A small fitted classifier."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 3))
    return LogisticRegression(C=c).fit(features, features[:, 0] > 0)


def test_versions_are_consecutive_from_one(registry: Registry) -> None:
    """Each registration of a name gets the next version number, starting at 1."""
    numbers = [registry.register("churn", model(c)).version for c in (1.0, 0.5, 0.1)]
    assert numbers == [1, 2, 3]
    assert [v.version for v in registry.versions("churn")] == [1, 2, 3]


def test_register_records_metadata_without_download(registry: Registry) -> None:
    """Metrics, tags, params, lineage and the artifact's schema are queryable."""
    found = registry.register(
        "churn", model(), description="first", tags={"team": "growth"},
        metrics={"auc": 0.91}, params={"C": 1.0},
        lineage={"commit": "abc123", "run_id": "r1", "data_digest": "d1"},
        sample=np.zeros((5, 3)))
    assert (found.tags, found.metrics, found.params) == ({"team": "growth"}, {"auc": 0.91},
                                                        {"C": 1.0})
    assert found.lineage["commit"] == "abc123"
    assert found.artifact["schema"]["input"] == {"kind": "array", "n_features": 3,
                                                 "dtype": "float64"}
    assert found.artifact["environment"]["packages"]["scikit-learn"]
    assert found.artifact["check_rows"] == 5


def test_damaged_or_altered_files_are_refused_and_never_stored(registry: Registry,
                                                               tmp_path: Path) -> None:
    """A file whose bytes do not match its checksums, or whose header claims another
    model's digest, is refused before the store keeps anything; the model already stored
    under that digest is untouched."""
    big = RandomForestClassifier(n_estimators=3, random_state=0).fit(*_data())
    good = registry.register("forest", big)
    other = tmp_path / "other.satchel"
    satchel.save(RandomForestClassifier(n_estimators=2, random_state=1).fit(*_data()), other)
    header = forge.raw_header(other.read_bytes())
    altered = tmp_path / "altered.satchel"
    altered.write_bytes(forge.with_header(other.read_bytes(), {**header, "digest": good.digest}))
    damaged = tmp_path / "damaged.satchel"
    satchel.save(big, damaged)
    data = bytearray(damaged.read_bytes())
    data[array_offset(bytes(data))] ^= 1
    damaged.write_bytes(bytes(data))
    for path in (altered, damaged):
        with pytest.raises(satchel.IntegrityError):
            registry.register("other", path)
    assert [m["name"] for m in registry.models()] == ["forest"]
    assert len(registry.load("models:/forest/1").unwrap().estimators_) == 3


def test_a_file_that_changes_while_it_is_registered_is_never_stored(
        registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file given to register is copied, and the copy verified before the store keeps it:
    a byte changed in the file once it was read (while it was being copied) was stored,
    and the version registered then failed to load with IntegrityError."""
    from satchel.registry import core

    path = tmp_path / "forest.satchel"
    satchel.save(RandomForestClassifier(n_estimators=3, random_state=0).fit(*_data()), path)
    original = path.read_bytes()
    read, calls = core.inspect, []

    def read_then_change(file: Any) -> Any:
        calls.append(file)
        if len(calls) == 1:  # the file given was read: it changes before it is copied
            data = bytearray(original)
            data[array_offset(original)] ^= 1
            path.write_bytes(bytes(data))
        return read(file)

    monkeypatch.setattr(core, "inspect", read_then_change)
    with pytest.raises(satchel.IntegrityError):
        registry.register("forest", path)
    assert registry.models() == []
    assert list(registry.store.digests()) == []
    path.write_bytes(original)
    registry.register("forest", path)
    assert len(registry.load("models:/forest/1").unwrap().estimators_) == 3


@pytest.mark.parametrize("grace", [1e300, -5, float("nan"), "10", None, True])
def test_gc_refuses_a_grace_period_that_is_no_number_of_seconds(registry: Registry,
                                                                grace: Any) -> None:
    """gc's grace period is a number of seconds from 0 to a century: 1e300 raised
    OverflowError, '10' and None TypeErrors, and -5 expired registrations in progress."""
    registry.register("churn", model())
    with pytest.raises(ValueError, match=r"grace_seconds must be a number of seconds from 0"
                       r" to 3155760000 \(a century; 3600, an hour, by default\), not"):
        registry.gc(grace)
    assert registry.load("models:/churn/1").coef_.shape == (1, 3)


def test_gc_refuses_another_registrys_artifact_store(tmp_path: Path) -> None:
    """gc of a registry given another registry's artifact store removes nothing and says
    so: it took that store's artifacts for orphans and removed them, and the other
    registry's versions no longer loaded."""
    first, second = Registry(str(tmp_path / "first")), Registry(str(tmp_path / "second"))
    first.register("churn", model(0.5))
    second.register("churn", model(0.1))
    second.register("other", model(1.0))
    wrong = Registry(str(tmp_path / "first"), artifacts=str(tmp_path / "second" / "artifacts"))
    with pytest.raises(satchel.StoreError, match=(
            r"gc: the artifact store .*second/artifacts lacks the artifacts of 1 live"
            r" version\(s\) of this registry .*: it is another registry's store, or it lost"
            r" files. .* register the lost versions' models again \(or delete those versions\)"
            r" before gc. Nothing was removed")):
        wrong.gc(0)
    assert len(list(second.store.digests())) == 2
    assert second.load("models:/other/1").unwrap().C == 1.0


def test_a_database_file_emptied_is_refused_not_made_a_new_registry(tmp_path: Path) -> None:
    """A registry.db of no bytes (cut short or emptied) is a StoreError: SQLite took it for a
    new database, the registry wrote its tables into it, and gc then removed every stored
    artifact as an orphan. One that is just being created (SQLite writes its first page at
    the first commit) is opened."""
    registry = Registry(str(tmp_path / "registry"))
    registry.register("churn", model())
    registry.engine.dispose()
    database = tmp_path / "registry" / "registry.db"
    database.write_bytes(b"")
    os.utime(database, (time.time() - 60, time.time() - 60))
    for create in (True, False):
        with pytest.raises(satchel.StoreError, match=(
                r"the registry database '.*registry.db' is empty \(0 bytes\): it was cut"
                r" short or emptied after it was written. Restore it from a backup")):
            Registry(str(tmp_path / "registry"), create=create)
    assert len(list(registry.store.digests())) == 1
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "registry.db").write_bytes(b"")
    Registry(str(fresh)).register("churn", model())


def test_gc_of_a_registry_whose_versions_are_all_deleted_removes_their_files(
        registry: Registry) -> None:
    """A registry that deleted every version still owns its store: gc removes the files."""
    registry.register("churn", model())
    registry.delete("churn", 1)
    assert len(registry.gc(0)) == 1
    assert list(registry.store.digests()) == []


def test_a_model_uri_registers_that_version_again(registry: Registry) -> None:
    """register(name, "models:/...") registers the stored version's file under name."""
    first = registry.register("churn", model(0.5))
    registry.set_alias("churn", "production", 1)
    copy = registry.register("churn-eu", "models:/churn@production")
    assert (copy.name, copy.version, copy.digest) == ("churn-eu", 1, first.digest)
    with pytest.raises(satchel.NotFoundError):
        registry.register("copy", "models:/churn/7")


def test_same_model_is_stored_once(registry: Registry) -> None:
    """Registering the same model twice stores its bytes once."""
    fitted = model()
    first, second = registry.register("a", fitted), registry.register("b", fitted)
    assert first.digest == second.digest
    assert len(list(registry.store.digests())) == 1


def test_a_model_saved_again_keeps_each_versions_file(registry: Registry,
                                                      tmp_path: Path) -> None:
    """The same fitted model saved again with another check sample (or under other package
    versions) and registered keeps each version's own file: the store kept one file per
    content digest, so the second registration replaced the first version's file, which then
    loaded with the second's check sample and environment."""
    fitted = model()
    rows = np.random.default_rng(1).normal(size=(20, 3))
    first, second = tmp_path / "first.satchel", tmp_path / "second.satchel"
    satchel.save(fitted, first, sample=rows[:5])
    satchel.save(fitted, second, sample=rows)
    registered = [registry.register("churn", path) for path in (first, second)]
    assert registered[0].digest == registered[1].digest
    assert [v.stored_as for v in registered] == [
        artifact_digest(satchel.inspect(path).header) for path in (first, second)]
    for version, path in ((1, first), (2, second)):
        assert registry.load(f"models:/churn/{version}").metadata == satchel.inspect(
            path).header.metadata
    assert len(list(registry.store.digests())) == 2
    registry.register("copy", first)  # the same file again: stored once
    assert len(list(registry.store.digests())) == 2


def test_versions_of_a_registry_upgraded_from_content_digests_still_load(
        tmp_path: Path) -> None:
    """A registry whose artifacts are named by content digest (schema 0002) is upgraded: its
    versions load, are stored_as their content digest, and gc keeps their files; the model
    registered again with other metadata is stored beside them."""
    from alembic import command
    from alembic.config import Config

    fitted = model()
    Registry(str(tmp_path / "registry")).register("churn", fitted)
    database = tmp_path / "registry" / "registry.db"
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        digest, stored = connection.execute("SELECT digest, file FROM satchel_versions").fetchone()
        connection.execute("UPDATE satchel_versions SET file = NULL")
    store = ArtifactStore(str(tmp_path / "registry" / "artifacts"))
    os.makedirs(os.path.dirname(store.path(digest)))
    os.replace(store.path(stored), store.path(digest))  # where 0002 stored it
    config = Config()
    config.set_main_option("script_location", str(Path(satchel.registry.__file__).parent
                                                  / "migrations"))
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    engine.dispose()

    registry = Registry(str(tmp_path / "registry"))
    assert registry.load("models:/churn/1").digest == digest
    assert registry.version("churn", 1).stored_as == digest
    assert registry.gc(grace_seconds=0) == []
    rows = np.random.default_rng(1).normal(size=(4, 3))
    registry.register("churn", fitted, sample=rows)
    assert registry.load("models:/churn/2").metadata["check"]["rows"] == 4
    assert registry.load("models:/churn/1").metadata.get("check") is None
    assert len(list(registry.store.digests())) == 2


def test_uris_resolve_latest_version_and_alias(registry: Registry) -> None:
    """models:/name, models:/name/N and models:/name@alias load the right version."""
    for c in (1.0, 0.01):
        registry.register("churn", model(c))
    registry.set_alias("churn", "production", 1)
    assert registry.resolve("models:/churn").version == 2
    assert registry.resolve("models:/churn/1").version == 1
    assert registry.resolve("models:/churn@production").version == 1
    loaded = registry.load("models:/churn@production")
    np.testing.assert_array_equal(loaded.coef_, model(1.0).coef_)


@pytest.mark.parametrize(("version", "expected"), [
    ("99999999999999999999", "expected a version from 1 to 9223372036854775807"),
    ("²", "expected a positive integer"),
    ("٣", "expected a positive integer"),  # int() reads Arabic-Indic and full-width digits
    ("\uff13", "expected a positive integer"),
])
def test_a_uri_version_no_database_holds_is_an_invalid_name(registry: Registry, version: str,
                                                            expected: str) -> None:
    """A version past 64 bits, or written in other digits than ASCII's, is refused as a
    malformed URI before the database is asked: '٣' loaded version 3."""
    registry.register("churn", model())
    with pytest.raises(satchel.InvalidNameError, match=expected):
        registry.load(f"models:/churn/{version}")


@pytest.mark.parametrize(("stage", "fix"), [
    ("Production", "for an alias (satchel's stages), write 'models:/churn@Production'"),
    ("latest", "'models:/churn' names the latest version"),
    ("v2", "write 'models:/churn/2' for version 2"),
])
def test_a_uri_naming_a_stage_as_mlflow_does_says_how_to_write_an_alias(
        registry: Registry, stage: str, fix: str) -> None:
    """models:/churn/Production (MLflow's stage URI) is refused with the alias form that
    names it, and models:/churn/latest with the form of the latest version: the message
    asked for a positive integer only."""
    registry.register("churn", model())
    with pytest.raises(satchel.InvalidNameError) as info:
        registry.load(f"models:/churn/{stage}")
    assert str(info.value) == (f"invalid version {stage!r} in 'models:/churn/{stage}':"
                               f" expected a positive integer; {fix}")


def test_a_registry_folder_may_be_a_path(tmp_path: Path) -> None:
    """Registry(pathlib.Path) opens that folder, as the functions that take files take paths:
    it raised "argument of type 'PosixPath' is not iterable". Another type is a TypeError
    saying what a location is."""
    registry = Registry(tmp_path / "registry", artifacts=tmp_path / "store")
    registry.register("churn", model())
    assert Registry(str(tmp_path / "registry"), artifacts=str(tmp_path / "store")).load(
        "models:/churn").coef_.shape == (1, 3)
    with pytest.raises(TypeError, match=r"uri must be a folder, a database URL or an artifact"
                       r" store URL as a string .or a pathlib.Path., not int"):
        Registry(5)  # type: ignore[arg-type]


def test_a_registry_folder_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    """A registry folder under a file, or under /proc, cannot be made: a StoreError says so
    and names the path, where the OSError of makedirs came out ('[Errno 2] No such file or
    directory'), printed by the command line with no fix."""
    (tmp_path / "file").write_text("")
    for folder, reason in ((tmp_path / "file" / "registry", "Not a directory"),
                           (Path("/proc/1/satchel-registry"), "No such file or directory")):
        with pytest.raises(satchel.StoreError, match=(
                rf"there is no registry at '{re.escape(str(folder))}', and its folder cannot be"
                rf" created there \({reason}\): check the path \(the uri given, or"
                r" SATCHEL_REGISTRY\)$")):
            Registry(folder)


def test_arguments_of_the_wrong_kind_are_refused_saying_what_is_expected(
        registry: Registry) -> None:
    """resolve(None), search(order_by=5) and alias_history of a malformed alias say what they
    expect: they raised a regular expression's TypeError, an AttributeError, or gave []."""
    registry.register("churn", model())
    with pytest.raises(satchel.InvalidNameError, match=r"expected a model URI .* as a string,"
                       r" found NoneType"):
        registry.resolve(None)  # type: ignore[arg-type]
    with pytest.raises(satchel.InvalidNameError, match=r"order_by must be a field's name as a"
                       r" string, such as '-metrics\.auc', not int"):
        registry.search(order_by=5)  # type: ignore[arg-type]
    with pytest.raises(satchel.InvalidNameError, match="alias"):
        registry.alias_history("churn", "a b")


def test_a_registry_folder_under_home_is_found_there(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """SATCHEL_REGISTRY=~/models (an env file does not expand it) and Registry("~/models")
    name the home's folder: they made a folder called '~' in the current one, a new empty
    registry where the model was not found."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    Registry(str(home / "models")).register("churn", model())
    Registry(str(home / "other"), artifacts=str(home / "store")).register("churn", model())
    monkeypatch.setenv("SATCHEL_REGISTRY", "~/models")
    assert satchel.load("models:/churn").coef_.shape == (1, 3)
    assert Registry("~/other", artifacts="~/store").load("models:/churn").coef_.shape == (1, 3)
    assert list(elsewhere.iterdir()) == []


def test_reading_a_registry_that_is_not_there_creates_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load("models:/...") where there is no registry is a NoRegistryError naming the default
    location and how to name another; it made an empty ./satchel-registry and then said the
    model was not in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SATCHEL_REGISTRY", raising=False)
    with pytest.raises(satchel.NoRegistryError) as caught:
        satchel.load("models:/churn@production")
    assert str(caught.value) == (
        "there is no registry at 'satchel-registry' (the default location, as neither a uri"
        f" nor SATCHEL_REGISTRY names one): '{tmp_path / 'satchel-registry' / 'registry.db'}'"
        " is not there. Name the registry you meant (Registry(uri), --registry or"
        " SATCHEL_REGISTRY), or create this one by registering a model in it (satchel registry"
        " register NAME FILE)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["folder", "sqlite"])
def test_create_false_opens_only_a_registry_that_is_there(tmp_path: Path, where: str) -> None:
    """Registry(uri, create=False) refuses a folder without registry.db, and a sqlite:/// file
    that is not there, creating nothing; once a registration has made it, it opens it."""
    uri = (str(tmp_path / "models") if where == "folder"
           else f"sqlite:///{tmp_path / 'models.db'}")
    artifacts = None if where == "folder" else str(tmp_path / "store")
    with pytest.raises(satchel.NoRegistryError, match=re.escape(
            f"there is no registry at {uri!r}: ")):
        Registry(uri, artifacts=artifacts, create=False)
    assert list(tmp_path.iterdir()) == []
    Registry(uri, artifacts=artifacts).register("churn", model())
    assert Registry(uri, artifacts=artifacts, create=False).load("models:/churn").coef_.shape == (
        1, 3)


def test_a_registry_location_that_is_a_file_says_so(tmp_path: Path) -> None:
    """A file where the registry's folder should be is a StoreError naming it and saying
    what a registry location is, not the system's bare 'File exists'."""
    (tmp_path / "some.csv").write_text("a,b\n")
    with pytest.raises(satchel.StoreError) as caught:
        Registry(str(tmp_path / "some.csv"))
    assert str(caught.value) == (
        f"the registry location {str(tmp_path / 'some.csv')!r} is a file, not a folder: a"
        " registry is a folder (created if missing) holding registry.db and artifacts/, or a"
        " database URL such as postgresql+psycopg://host/db; name another path")


@pytest.mark.parametrize("damage", ["other bytes", "truncated"])
def test_a_damaged_registry_database_is_a_store_error(tmp_path: Path, damage: str) -> None:
    """A registry.db of other bytes, or cut short, is a StoreError naming the file and
    saying to restore it, not SQLAlchemy's DatabaseError."""
    good = Registry(str(tmp_path / "good"))
    for c in (1.0, 0.5, 0.1):
        good.register(f"churn-{c}", model(c), description="x" * 4000)
    good.engine.dispose()
    whole = (tmp_path / "good" / "registry.db").read_bytes()
    (tmp_path / "bad").mkdir()
    database = tmp_path / "bad" / "registry.db"
    database.write_bytes(bytes(range(256)) * 20 if damage == "other bytes"
                         else whole[:len(whole) // 2])
    with pytest.raises(satchel.StoreError) as caught:
        Registry(str(tmp_path / "bad")).models()
    assert str(caught.value).startswith(f"{str(database)!r} is not a registry database, or"
                                        " is damaged (SQLite: ")
    assert str(caught.value).endswith("): restore it from a backup, or name another registry"
                                      " folder")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_a_postgres_url_opens_the_database_through_psycopg(tmp_path: Path, scheme: str) -> None:
    """postgres://... (as Heroku and others give it) and postgresql://... open PostgreSQL
    through psycopg, the driver satchel[postgres] installs: SQLAlchemy raised
    NoSuchModuleError for the first."""
    url = postgres_url()
    if not url:
        pytest.skip(f"{POSTGRES_VARIABLE} is not set")
    registry = Registry(f"{scheme}://{url.split('://', 1)[1]}", artifacts=str(tmp_path))
    assert registry.engine.url.drivername == "postgresql+psycopg"
    assert isinstance(registry.models(), list)


def test_a_database_url_of_an_unknown_scheme_says_what_to_write(tmp_path: Path) -> None:
    """A scheme SQLAlchemy has no dialect for is an InvalidNameError giving the URL to write,
    not SQLAlchemy's NoSuchModuleError."""
    with pytest.raises(satchel.InvalidNameError) as caught:
        Registry("postgress://host/db", artifacts=str(tmp_path))
    assert str(caught.value) == (
        "the registry database URL's scheme 'postgress' is not a database SQLAlchemy knows:"
        " for PostgreSQL write postgresql+psycopg://user@host/db, for SQLite a folder path")


def test_an_artifact_store_that_is_a_file_says_so(tmp_path: Path) -> None:
    """A local artifact store that is a file is a StoreError when the registry opens: a
    registration failed on a path under it ('Not a directory') and gc returned []."""
    (tmp_path / "some.csv").write_text("a,b\n")
    with pytest.raises(satchel.StoreError) as caught:
        Registry(str(tmp_path / "registry"), artifacts=str(tmp_path / "some.csv"))
    assert str(caught.value) == (
        f"the artifact store {str(tmp_path / 'some.csv')!r} is a file, not a folder: name a"
        " folder (created if missing) or an fsspec URL such as s3://bucket/prefix")


def test_satchel_load_reads_the_registry_from_the_environment(
        registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """satchel.load("models:/...") uses SATCHEL_REGISTRY (and SATCHEL_ARTIFACTS)."""
    registry.register("churn", model())
    monkeypatch.setenv("SATCHEL_REGISTRY", registry.database_url
                       if "postgresql" in registry.database_url
                       else os.path.dirname(registry.database_url.removeprefix("sqlite:///")))
    monkeypatch.setenv("SATCHEL_ARTIFACTS", registry.store.url)
    assert satchel.load("models:/churn/1").coef_.shape == (1, 3)


def test_alias_moves_are_recorded(registry: Registry) -> None:
    """Setting, moving and deleting an alias each leave an entry in its history."""
    for c in (1.0, 0.5):
        registry.register("churn", model(c))
    registry.set_alias("churn", "production", 1)
    registry.set_alias("churn", "production", 2)
    registry.delete_alias("churn", "production")
    moves = [(m.version, m.previous) for m in registry.alias_history("churn", "production")]
    assert moves == [(1, None), (2, 1), (None, 2)]


def test_times_are_utc_on_every_backend(registry: Registry) -> None:
    """Versions', models' and alias moves' times are aware UTC datetimes on every backend
    (SQLite's were naive, so comparing them with datetime.now(UTC) raised TypeError)."""
    before = datetime.datetime.now(datetime.UTC)
    found = registry.register("churn", model())
    registry.set_alias("churn", "production", 1)
    after = datetime.datetime.now(datetime.UTC)
    times = [found.created_at, registry.version("churn", 1).created_at,
             registry.models()[0]["created_at"], registry.alias_history("churn")[0].at]
    assert all(t.tzinfo is datetime.UTC and before <= t <= after for t in times), times


def test_search_filters_and_orders(registry: Registry) -> None:
    """Versions can be searched by name, tag and metric, and ordered by a metric."""
    for c, auc, team in ((1.0, 0.8, "a"), (0.5, 0.9, "b"), (0.1, 0.95, "b")):
        registry.register("churn", model(c), metrics={"auc": auc}, tags={"team": team})
    found = registry.search("churn", tags={"team": "b"}, metrics=["auc >= 0.9"],
                            order_by="-metrics.auc")
    assert [v.version for v in found] == [3, 2]
    assert [v.version for v in registry.search(order_by="metrics.auc", limit=1)] == [1]


def test_a_bad_order_is_reported_before_a_missing_model(registry: Registry) -> None:
    """A search with an order_by that names no field says so whether or not the model
    exists, as its other arguments are checked before anything is read: for a name the
    registry lacks, it said only that the model was not found, and the bad field came to
    light once that was fixed."""
    for name in ("missing", None):
        with pytest.raises(satchel.InvalidNameError, match=re.escape(
                "cannot order by 'bogus': expected version, created_at, name, size or"
                " metrics.NAME")):
            registry.search(name, order_by="bogus")


def test_tags_descriptions_archive_and_delete(registry: Registry) -> None:
    """Tags and descriptions update; archived versions leave latest; deletion is guarded; a
    deleted version cannot be archived, and the error names the versions there are."""
    for c in (1.0, 0.5):
        registry.register("churn", model(c))
    assert registry.update("churn", 1, tags={"stage": "qa"}, description="x").tags == {
        "stage": "qa"}
    registry.archive("churn", 2)
    assert registry.latest("churn").version == 1
    registry.set_alias("churn", "production", 1)
    with pytest.raises(satchel.ConflictError, match="target of alias"):
        registry.delete("churn", 1)
    registry.delete("churn", 1, force=True)
    assert [v.version for v in registry.versions("churn")] == [2]
    with pytest.raises(satchel.NotFoundError, match=r"has no version 1; it has versions \[2\]"):
        registry.archive("churn", 1)
    assert [(v.version, v.status) for v in registry.versions("churn")] == [(2, "archived")]
    assert registry.register("churn", model(0.2)).version == 3  # numbers are never reused


def test_an_archived_version_can_be_restored(registry: Registry) -> None:
    """restore() brings an archived version back into latest and searches, leaves an active
    one active, and cannot bring back a deleted one."""
    for c in (1.0, 0.5, 0.1):
        registry.register("churn", model(c))
    registry.archive("churn", 3)
    assert registry.latest("churn").version == 2
    registry.restore("churn", 3)
    assert registry.latest("churn").version == 3
    assert [v.version for v in registry.search("churn")] == [1, 2, 3]
    registry.restore("churn", 3)
    assert registry.version("churn", 3).status == "active"
    registry.delete("churn", 1)
    with pytest.raises(satchel.NotFoundError, match=r"has no version 1; it has versions"
                                                     r" \[2, 3\]"):
        registry.restore("churn", 1)
    assert [(v.version, v.status) for v in registry.versions("churn")] == [
        (2, "active"), (3, "active")]


def test_aliases_never_point_at_deleted_versions(registry: Registry) -> None:
    """An alias cannot be set to a deleted version, and an alias left dangling by an older
    registry (its version deleted under it) can still be removed."""
    import sqlalchemy as sa

    from satchel.registry import database as db

    for c in (1.0, 0.5):
        registry.register("churn", model(c))
    registry.delete("churn", 1)
    with pytest.raises(satchel.NotFoundError, match=r"has no version 1; it has versions \[2\]"):
        registry.set_alias("churn", "production", 1)
    registry.set_alias("churn", "production", 2)
    with registry.engine.begin() as connection:  # what a delete racing a move once left
        churn = sa.select(db.models.c.id).where(db.models.c.name == "churn").scalar_subquery()
        connection.execute(sa.update(db.versions).where(
            db.versions.c.model_id == churn, db.versions.c.version == 2).values(status="deleted"))
    registry.delete_alias("churn", "production")
    with pytest.raises(satchel.NotFoundError, match="has no alias 'production'"):
        registry.delete_alias("churn", "production")
    assert [m.version for m in registry.alias_history("churn", "production")] == [2, None]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 10**400, "0.9",
                                   True])
def test_metrics_must_be_finite_numbers(registry: Registry, value: Any) -> None:
    """A metric JSON cannot hold, or that is not a number, is refused before anything is stored."""
    with pytest.raises(satchel.InvalidNameError, match="expected a finite number"):
        registry.register("churn", model(), metrics={"auc": value})
    assert registry.models() == []


def test_missing_things_name_what_exists(registry: Registry) -> None:
    """Missing models, versions and aliases raise NotFoundError naming what exists nearby;
    in a registry of no models, naming the registry (a mistyped SATCHEL_REGISTRY opens a new,
    empty one)."""
    where = registry.engine.url.render_as_string()
    with pytest.raises(satchel.NotFoundError, match=re.escape(
            f"no model named 'churn' in the registry {where}, which has no models: check that"
            " SATCHEL_REGISTRY (or the registry given) names the one you meant")):
        registry.resolve("models:/churn@prod")
    registry.register("churn", model())
    with pytest.raises(satchel.NotFoundError, match="did you mean 'churn'"):
        registry.resolve("models:/chrun")
    with pytest.raises(satchel.NotFoundError, match=r"has no version 7; it has versions \[1\]"):
        registry.resolve("models:/churn/7")
    with pytest.raises(satchel.NotFoundError, match="has no alias 'prod'; its aliases are none"):
        registry.resolve("models:/churn@prod")


@pytest.mark.parametrize("name", ["../etc", "a/b", "", "x" * 200, "bad name", "..", "-x"])
def test_invalid_names_are_refused(registry: Registry, name: str) -> None:
    """Names with path separators, traversal, spaces or bad length are refused."""
    with pytest.raises(satchel.InvalidNameError, match="invalid model name"):
        registry.register(name, model())
    assert registry.models() == []


def test_failed_registration_loses_nothing(registry: Registry) -> None:
    """A registration that fails leaves the stored versions untouched."""
    registry.register("churn", model())
    with pytest.raises(satchel.InvalidNameError):
        registry.register("churn", model(0.5), metrics={"auc": "high"})  # type: ignore[dict-item]
    assert [v.version for v in registry.versions("churn")] == [1]
    assert registry.load("models:/churn/1").coef_.shape == (1, 3)


def test_gc_removes_only_orphans(registry: Registry) -> None:
    """gc removes artifacts of deleted versions and keeps those still referenced."""
    registry.register("churn", model(1.0))
    registry.register("churn", model(0.5))
    registry.delete("churn", 1)
    removed = registry.gc(grace_seconds=0)
    assert len(removed) == 1
    assert registry.load("models:/churn/2").coef_.shape == (1, 3)


def test_loaded_model_digest_is_checked(registry: Registry) -> None:
    """A stored artifact replaced by another model is refused on load."""
    first = registry.register("churn", model(1.0))
    other = registry.register("other", model(0.01))
    if not registry.store.local:
        pytest.skip("tampering is tested on the local store")
    os.replace(registry.store.path(other.stored_as),
               registry.store.path(first.stored_as))
    with pytest.raises(satchel.IntegrityError, match="the registry recorded"):
        registry.load("models:/churn/1")


def test_remote_loads_use_the_cache(registry: Registry) -> None:
    """The second load of a remote artifact reads the local cache (and can map it)."""
    if registry.store.local:
        pytest.skip("local stores are read in place")
    found = registry.register("churn", model())
    registry.load("models:/churn/1")
    cached = registry.store.local_path(found.stored_as)
    assert os.path.exists(cached)
    assert registry.load("models:/churn/1", mmap=True).coef_.shape == (1, 3)


def test_a_bucket_that_does_not_exist_is_a_store_error(s3_endpoint: str, tmp_path: Path  # noqa: F811
                                                      ) -> None:
    """Registering to or loading from an S3 bucket that does not exist raises StoreError naming
    the store and what to check, and stores nothing (s3fs's FileNotFoundError named neither)."""
    import s3fs

    bucket = f"satchel-{os.urandom(6).hex()}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}).mkdir(bucket)
    folder = str(tmp_path / "registry")
    Registry(folder, artifacts=f"s3://{bucket}/models").register("churn", model())
    wrong = Registry(folder, artifacts="s3://satchel-no-such-bucket/models",
                     cache=str(tmp_path / "cache"))
    expected = ("the artifact store s3://satchel-no-such-bucket/models: FileNotFoundError: The"
                " specified bucket does not exist; check that it exists (for S3, that its"
                " bucket was created) and that this process's endpoint and credentials reach it")
    with pytest.raises(satchel.StoreError, match=re.escape(f"cannot read from {expected}")):
        wrong.load("models:/churn/1")
    with pytest.raises(satchel.StoreError, match=re.escape(f"cannot write to {expected}")):
        wrong.register("churn", model(2.0))
    assert [v.version for v in wrong.versions("churn")] == [1]
    assert isinstance(satchel.StoreError("x"), OSError)


def test_gc_on_a_bucket_that_does_not_exist_is_a_store_error(s3_endpoint: str,  # noqa: F811
                                                             tmp_path: Path) -> None:
    """gc on an S3 bucket that does not exist raises the StoreError that register does: it
    took the missing bucket for an empty store and returned []."""
    wrong = Registry(str(tmp_path / "registry"), artifacts="s3://satchel-no-such-bucket/models")
    with pytest.raises(satchel.StoreError, match=re.escape(
            "cannot list the artifact store s3://satchel-no-such-bucket/models:"
            " FileNotFoundError: The specified bucket does not exist; check that it exists")):
        wrong.gc()


@pytest.mark.parametrize("damage", ["truncated", "a flipped byte", "another model's file"])
def test_a_damaged_cached_copy_is_downloaded_again(registry: Registry, tmp_path: Path,
                                                   damage: str) -> None:
    """A remote artifact's cached copy damaged or replaced after it was kept is downloaded
    again by the next load: every load of that version failed for as long as the copy
    stayed."""
    if registry.store.local:
        pytest.skip("local stores are read in place, with no cached copy")
    found = registry.register("churn", model())
    registry.load("models:/churn/1")
    cached = Path(registry.store.local_path(found.stored_as))
    whole = cached.read_bytes()
    if damage == "truncated":
        cached.write_bytes(whole[:-10])
    elif damage == "a flipped byte":
        cached.write_bytes(whole[:200] + bytes([whole[200] ^ 1]) + whole[201:])
    else:
        satchel.save(model(3.0), cached)
    assert registry.store.cached_is_damaged(found.stored_as)
    assert registry.load("models:/churn/1", mmap=True).coef_.tolist() == (
        model().coef_.tolist())
    assert cached.read_bytes() == whole
    assert not registry.store.cached_is_damaged(found.stored_as)


def test_the_cache_is_private_to_its_user(s3_endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    """Remote artifacts are cached in a folder of this user's that no one else may write
    to; a shared one (the default was /tmp/satchel-cache, which any user could create and
    fill) is refused, since a file put there is loaded as the artifact it is named after."""
    import s3fs

    bucket = f"satchel-{os.urandom(6).hex()}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}).mkdir(bucket)
    folder, artifacts = str(tmp_path / "registry"), f"s3://{bucket}/models"
    Registry(folder, artifacts=artifacts).register("churn", model())
    default = Registry(folder, artifacts=artifacts).store.cache
    assert os.path.basename(default) == f"satchel-cache-{os.getuid()}"
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(satchel.StoreError, match=re.escape(
            f"the artifact cache {str(shared)!r} is not private (owner uid {os.getuid()}, mode"
            f" 777): expected a folder of this user's")):
        Registry(folder, artifacts=artifacts, cache=str(shared)).load("models:/churn/1")
    assert list(shared.iterdir()) == []
    private = tmp_path / "private"
    Registry(folder, artifacts=artifacts, cache=str(private)).load("models:/churn/1")
    assert private.stat().st_mode & 0o777 == 0o700


def test_registries_open_their_own_store(registry: Registry) -> None:
    """Each registry opens its store afresh (client and listings follow its configuration)."""
    other = Registry(registry.database_url, artifacts=registry.store.url)
    assert other.store.fs is not registry.store.fs


def test_damaged_stored_artifact_is_replaced(registry: Registry) -> None:
    """A truncated file under an artifact's name is rewritten by the next registration."""
    first = registry.register("churn", model())
    registry.store.delete(first.stored_as)
    registry.store.fs.pipe_file(registry.store.path(first.stored_as),
                                b"SATCHEL truncated")
    again = registry.register("churn", model())
    assert again.digest == first.digest
    assert registry.load("models:/churn/1").coef_.shape == (1, 3)


def test_stored_artifact_damaged_in_place_is_repaired_by_registering_it_again(
        registry: Registry) -> None:
    """A local artifact whose bytes changed on disk (same size) fails to load; registering
    the same model again rewrites it."""
    if not registry.store.local:
        pytest.skip("an object store's artifact is only checked when it is read")
    first = registry.register("churn", model())
    path = registry.store.path(first.stored_as)
    with open(path, "rb") as handle:
        original = handle.read()
    with open(path, "r+b") as handle:  # in place, as a failing disk would
        handle.seek(len(original) - 100)
        handle.write(bytes([original[-100] ^ 0xFF]))
    with pytest.raises(satchel.IntegrityError, match=(
            r"models:/churn/1: the artifact \S+ in the store \S+ is damaged\. Register the model"
            r" again, .* What was found: .*changed or damaged after it was written")):
        registry.load("models:/churn/1")
    registry.register("churn", model())
    # The same content (digest), whole again; its metadata records the second save's time.
    assert reader.verify_file(path).digest == first.digest
    assert registry.load("models:/churn/1").coef_.shape == (1, 3)


def test_a_lost_artifact_says_how_to_store_it_again(registry: Registry) -> None:
    """A version whose artifact the store lost is refused with what to do: register the model
    again, which stores it anew. The message said to run gc, which refuses a store that lacks
    a live version's artifact; an object store left with no artifacts was said to be
    unreachable, as if its bucket did not exist."""
    first = registry.register("churn", model())
    registry.store.delete(first.stored_as)
    with pytest.raises(satchel.IntegrityError) as caught:
        registry.load("models:/churn/1")
    assert str(caught.value) == (
        f"the artifact {first.stored_as} is missing from the store {registry.store.url}: its"
        " file was deleted, or the store is not this registry's own (check --artifacts or"
        " SATCHEL_ARTIFACTS). Register the model again, which stores the file anew (the"
        " version it adds may then be deleted), or delete the versions that need it")
    registry.register("churn", model())
    assert registry.load("models:/churn/1").coef_.shape == (1, 3)


def test_a_damaged_remote_artifact_is_named_by_its_store(registry: Registry) -> None:
    """An object store's artifact damaged in place is refused as the store's, with how to
    mend it; the error named the temporary file it was downloaded to."""
    if registry.store.local:
        pytest.skip("a local store's damaged artifact is tested above")
    first = registry.register("churn", model())
    path = registry.store.path(first.stored_as)
    data = bytearray(registry.store.fs.cat_file(path))
    data[-100] ^= 0xFF
    registry.store.fs.pipe_file(path, bytes(data))
    with pytest.raises(satchel.IntegrityError) as caught:
        Registry(registry.database_url, artifacts=registry.store.url,
                 cache=registry.store.cache + "-fresh").load("models:/churn/1")
    assert str(caught.value).startswith(
        f"the artifact {first.stored_as} in the store {registry.store.url} is damaged. Register"
        " the model again")
    assert ".tmp" not in str(caught.value)


def test_gc_during_a_registration_loses_nothing(registry: Registry,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """gc with no grace period, run between a registration's upload and its commit."""
    put = registry.store.put
    runs: list[list[str]] = []

    def put_then_gc(local_file: str, digest: str) -> None:
        put(local_file, digest)
        if not runs:
            runs.append(registry.gc(grace_seconds=0))

    monkeypatch.setattr(registry.store, "put", put_then_gc)
    version = registry.register("churn", model())
    # the claim had expired: gc removed the upload, and the registration stored it again
    assert runs == [[version.stored_as]]
    assert registry.store.exists(version.stored_as)
    assert registry.load("models:/churn/1").coef_.shape == (1, 3)
    assert registry.gc(grace_seconds=0) == []


def test_gc_keeps_claimed_artifacts_and_removes_old_temporaries(registry: Registry) -> None:
    """An old orphan that a registration in progress claims is kept; old temporaries go."""
    if not registry.store.local:
        pytest.skip("modification times are set on the local store")
    from satchel.registry import database as db

    orphan = registry.register("churn", model(0.5)).stored_as
    registry.register("churn", model(1.0))
    registry.delete("churn", 1)
    path = registry.store.path(orphan)
    old = os.path.getmtime(path) - 7200
    os.utime(path, (old, old))
    stale, fresh = f"{path}.{'a' * 32}.tmp", f"{path}.{'b' * 32}.tmp"
    for temporary in (stale, fresh):
        Path(temporary).write_bytes(b"partial")
    os.utime(stale, (old, old))
    with db.write(registry.engine) as connection:
        claim = db.claim(connection, orphan)
    assert registry.gc() == []
    assert registry.store.exists(orphan)
    assert (os.path.exists(stale), os.path.exists(fresh)) == (False, True)
    with db.write(registry.engine) as connection:
        assert db.release(connection, claim)
    assert registry.gc() == [orphan]
    assert not registry.store.exists(orphan)


def test_numpy_integer_versions_are_plain_versions(registry: Registry) -> None:
    """A numpy integer (a DataFrame's max(), say) names the version it holds: the alias it
    sets resolves, and a delete through it removes the version it reports deleting."""
    for c in (1.0, 0.5, 0.1):
        registry.register("churn", model(c))
    registry.set_alias("churn", "production", np.int64(2))
    assert registry.resolve("models:/churn@production").version == 2
    assert registry.load("models:/churn@production").coef_.shape == (1, 3)
    assert registry.version("churn", np.int32(2)).aliases == ["production"]
    registry.delete("churn", np.int64(1))
    registry.archive("churn", np.uint8(3))
    assert registry.update("churn", np.int64(3), tags={"stage": "old"}).tags == {"stage": "old"}
    assert [(v.version, v.status) for v in registry.versions("churn")] == [
        (2, "active"), (3, "archived")]
    registry.delete("churn", np.int64(2), force=True)
    assert [v.version for v in registry.versions("churn")] == [3]
    assert registry.models()[0]["aliases"] == {}


def test_a_version_written_as_a_folder_name_says_which_number_to_pass(
        registry: Registry) -> None:
    """set_alias("churn", "production", "v2"), as a folder registry names versions, says to
    pass 2: the message said only that a str was found."""
    registry.register("churn", model())
    registry.register("churn", model())
    with pytest.raises(satchel.InvalidNameError) as info:
        registry.set_alias("churn", "production", "v2")
    assert str(info.value) == ("expected a version number, an integer from 1 to"
                               " 9223372036854775807, found str 'v2'; pass 2 for 'v2'")


@pytest.mark.parametrize(("version", "found"), [
    (True, "found the bool True"), (2.0, "found float '2.0'"), ("two", "found str 'two'"),
    (0, "found 0"), (2**63, f"found {2**63}"), (None, "found NoneType 'None'")])
def test_versions_that_are_not_whole_numbers_are_refused(registry: Registry, version: Any,
                                                         found: str) -> None:
    """Bools, floats, words and numbers out of range are refused by every method that takes
    a version, before anything changes."""
    registry.register("churn", model())
    registry.set_alias("churn", "production", 1)
    expected = "expected a version number, an integer from 1 to 9223372036854775807, " + found
    calls = [lambda: registry.version("churn", version),
             lambda: registry.set_alias("churn", "staging", version),
             lambda: registry.archive("churn", version),
             lambda: registry.restore("churn", version),
             lambda: registry.update("churn", version, tags={"a": "b"}),
             lambda: registry.delete("churn", version, force=True)]
    for call in calls:
        with pytest.raises(satchel.InvalidNameError, match=re.escape(expected)):
            call()
    assert registry.version("churn", "1").aliases == ["production"]
    assert registry.version("churn", 1).tags == {}


@pytest.mark.parametrize(("revision", "expected"), [
    ("0004", "the registry's schema 0004 is newer than this satchel reads (0003): a newer"
     " satchel upgraded it; upgrade satchel"),
    ("ab12cd", "the registry's schema 'ab12cd' is not one this satchel knows (0001, 0002,"
     " 0003)")],
    ids=["newer", "unknown"])
def test_a_schema_this_satchel_does_not_know_is_refused(registry: Registry, backend: Backend,  # noqa: F811
                                                        tmp_path: Path, revision: str,
                                                        expected: str) -> None:
    """A database a newer satchel upgraded is refused when opened, saying to upgrade."""
    import sqlalchemy as sa

    registry.register("churn", model())
    with registry.engine.begin() as connection:
        connection.execute(sa.text("UPDATE satchel_alembic_version SET version_num = :v"),
                           {"v": revision})
    registry.engine.dispose()
    with pytest.raises(satchel.SatchelError, match=re.escape(expected)):
        Registry(backend.uri, artifacts=backend.artifacts, cache=str(tmp_path / "cache"))


def test_known_revisions_are_the_migrations() -> None:
    """Every migration's revision is one the registry knows, in order."""
    from satchel.registry import database as db

    folder = Path(db.__file__).parent / "migrations" / "versions"
    found = sorted(p.name.split("_")[0] for p in folder.glob("[0-9]*.py"))
    assert tuple(found) == db.REVISIONS


def test_file_contents_are_refused_with_a_hint_to_pass_the_path(registry: Registry,
                                                                 tmp_path: Path) -> None:
    """Bytes or a file object given to register() are refused, rather than registering the
    bytes object itself as a model."""
    path = tmp_path / "model.satchel"
    satchel.save(model(), path)
    raw = path.read_bytes()
    with path.open("rb") as opened:
        for given, kind in ((raw, "bytes"), (io.BytesIO(raw), "BytesIO"),
                            (bytearray(raw), "bytearray"), (opened, "BufferedReader")):
            with pytest.raises(satchel.EncodeError, match=re.escape(
                    f"a models:/ URI, not {kind}: it would register the object itself as a"
                    " model; to register a satchel file's contents, write them to a file and"
                    " pass its path")):
                registry.register("churn", given)
    assert registry.models() == []
    assert registry.register("churn", path).version == 1


def test_none_is_no_model_to_register(registry: Registry) -> None:
    """register(name, None) is refused, and nothing is stored: a function that fitted a model
    and forgot to return it registered None as version 1, which every load returned."""
    with pytest.raises(satchel.EncodeError, match=re.escape(
            "register() takes a fitted model, a satchel.Model, the path of a .satchel file or"
            " a models:/ URI, not None: check that the code that made the model returns it")):
        registry.register("churn", None)
    assert registry.models() == []


def test_a_sample_with_a_saved_model_is_refused(registry: Registry, tmp_path: Path) -> None:
    """sample= with a .satchel file, a loaded Model or a models:/ URI is refused before
    anything is stored: the file keeps the check sample it was saved with, and the sample
    given was dropped without a word."""
    path = tmp_path / "model.satchel"
    satchel.save(model(), path)
    registry.register("churn", path)
    rows = _data()[0][:5]
    for given in (path, str(path), satchel.load(path), "models:/churn/1"):
        with pytest.raises(satchel.EncodeError, match=re.escape(
                "register(sample=...) saves a fitted model with that check sample; a saved"
                " model keeps the one it was saved with: save it again with"
                " satchel.save(estimator, path, sample=...) and register that file")):
            registry.register("churn", given, sample=rows)
    assert [v.version for v in registry.versions("churn")] == [1]
    assert registry.register("churn", model(), sample=rows).artifact["check_rows"] == 5


def test_numpy_scalars_are_stored_as_python_numbers(registry: Registry) -> None:
    """Metrics, params and lineage holding numpy scalars store the numbers they hold."""
    found = registry.register(
        "churn", model(), metrics={"auc": np.float32(0.91), "rows": np.int64(500)},
        params={"n_estimators": np.int64(100), "grid": (np.float64(0.5), np.bool_(True))},
        lineage={"rows": {"train": np.uint32(400)}})
    again = registry.version("churn", found.version)
    assert again.metrics == {"auc": 0.91, "rows": 500.0}
    assert again.params == {"n_estimators": 100, "grid": [0.5, True]}
    assert again.lineage == {"rows": {"train": 400}}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("arguments", "expected"), [
    ({"params": {"trained": datetime.date(2024, 5, 1)}},
     "params['trained']: expected JSON data (a string, a number, a bool, None, or a list or"
     " dict of them), found datetime.date; convert it first, for example a date with"
     " .isoformat()"),
    ({"lineage": {"data": [1, {"at": datetime.datetime(2024, 5, 1)}]}},
     "lineage['data'][1]['at']: expected JSON data"),
    ({"params": {"alpha": float("nan")}}, "params['alpha']: expected a finite number, found nan"),
    ({"params": {1: "a"}}, "params: expected string keys, found the int key '1'"),
    ({"params": [("C", 1.0)]}, "params: expected a dict such as {'C': 1.0}, found list"),
    ({"lineage": _nested(40)}, "nested more than 32 levels deep"),
    ({"tags": [("team", "growth")]}, "tags: expected a dict such as {'team': 'growth'}, found"
     " list"),
    ({"metrics": {"auc": np.float32("nan")}}, "metric 'auc': expected a finite number"),
    ({"tags": {"note": "x" * 1025}}, "tag 'note': expected a string of at most 1024 characters,"
     " found a string of 1025 characters"),
    ({"description": None}, "a description must be a string, not NoneType; pass '' for none"),
], ids=["date", "nested-datetime", "nan", "int-key", "pairs", "deep", "tag-pairs",
        "nan-metric", "long-tag", "no-description"])
def test_metadata_the_database_cannot_store_is_refused(registry: Registry,
                                                       arguments: dict[str, Any],
                                                       expected: str) -> None:
    """Metadata that is not JSON data, or not of the kind expected, is refused saying where
    and what it is, before anything is stored."""
    with pytest.raises(satchel.InvalidNameError, match=re.escape(expected)):
        registry.register("churn", model(), **arguments)
    assert registry.models() == []


def test_descriptions_must_be_strings(registry: Registry) -> None:
    """describe() and update() refuse a description that is not a string."""
    registry.register("churn", model(), description="first")
    with pytest.raises(satchel.InvalidNameError, match="a description must be a string, not"
                       " NoneType"):
        registry.describe("churn", None)  # type: ignore[arg-type]
    with pytest.raises(satchel.InvalidNameError, match="a description must be a string, not"
                       " int"):
        registry.update("churn", 1, description=3)  # type: ignore[arg-type]
    assert registry.version("churn", 1).description == "first"


@pytest.mark.parametrize(("text", "found"), [("a\x00b", "'\\x00' at position 1"),
                                             ("caf\udce9", "'\\udce9' at position 3")])
def test_descriptions_no_database_stores_are_refused(registry: Registry, text: str,
                                                     found: str) -> None:
    """A NUL (which PostgreSQL's text refuses) or a lone surrogate (no UTF-8) in a description
    is an InvalidNameError on every backend, before anything is stored: they raised the
    driver's DataError with its SQL, or UnicodeEncodeError."""
    expected = f"a description must be text a database can store, found {found}"
    registry.register("churn", model(), description="first")
    with pytest.raises(satchel.InvalidNameError, match=re.escape(expected)):
        registry.register("churn", model(), description=text)
    with pytest.raises(satchel.InvalidNameError, match=re.escape(expected)):
        registry.update("churn", 1, description=text)
    with pytest.raises(satchel.InvalidNameError, match=re.escape(expected)):
        registry.describe("churn", text)
    assert [(v.version, v.description) for v in registry.versions("churn")] == [(1, "first")]
    assert registry.models()[0]["description"] == ""


def test_one_tag_key_to_remove_is_one_tag(registry: Registry) -> None:
    """update(remove_tags="draft") removes the tag 'draft', not the tags 'd', 'r', ..."""
    registry.register("churn", model(), tags={"draft": "yes", "d": "keep", "t": "keep"})
    assert registry.update("churn", 1, remove_tags="draft").tags == {"d": "keep", "t": "keep"}
    assert registry.update("churn", 1, remove_tags=["d", "t"]).tags == {}


@pytest.mark.parametrize("limit", [-1, 1.5, True, "2"])
def test_search_limit_is_a_count(registry: Registry, limit: Any) -> None:
    """search() refuses a limit that is not a whole number from 0, rather than dropping
    results from the end."""
    for c in (1.0, 0.5):
        registry.register("churn", model(c))
    with pytest.raises(satchel.InvalidNameError, match=re.escape(
            f"limit: expected None or a whole number >= 0, found {str(limit)!r}")):
        registry.search("churn", limit=limit)
    assert [v.version for v in registry.search("churn", limit=np.int64(1))] == [1]
    assert registry.search("churn", limit=0) == []


def test_search_filters_are_checked_first_and_one_string_is_one_filter(registry: Registry
                                                                       ) -> None:
    """search(metrics="auc >= 0.9") is one filter (it was read letter by letter and 'a'
    refused), and a bad filter or tag filter is refused before any version is looked at
    (on an empty registry it returned [] or raised AttributeError)."""
    with pytest.raises(satchel.InvalidNameError, match="invalid metric filter 'auc >'"):
        registry.search(metrics=["auc >"])
    with pytest.raises(satchel.InvalidNameError, match="invalid metric filter 'auc = nan'"):
        registry.search(metrics="auc = nan")
    with pytest.raises(satchel.InvalidNameError, match="tags: expected a dict such as"):
        registry.search(tags="team")  # type: ignore[arg-type]
    registry.register("churn", model(), metrics={"auc": 0.95})
    registry.register("churn", model(2.0), metrics={"auc": 0.85})
    assert [v.version for v in registry.search("churn", metrics="auc >= 0.9")] == [1]
    assert [v.version for v in registry.search(metrics=("auc < 0.9", "auc > 0.8"))] == [2]


def test_latest_is_not_an_alias(registry: Registry) -> None:
    """'latest' cannot be set as an alias or named in a URI, since models:/NAME is the
    latest version; one an older registry set can still be removed."""
    import sqlalchemy as sa

    from satchel.registry import database as db

    for c in (1.0, 0.5):
        registry.register("churn", model(c))
    for alias in ("latest", "Latest"):
        with pytest.raises(satchel.InvalidNameError, match=re.escape(
                f"invalid alias {alias!r}: 'latest' is reserved, as models:/NAME already names"
                " the latest version")):
            registry.set_alias("churn", alias, 1)
    with pytest.raises(satchel.InvalidNameError, match="'latest' is reserved"):
        registry.resolve("models:/churn@latest")
    assert registry.models()[0]["aliases"] == {}
    with registry.engine.begin() as connection:  # what an older registry allowed
        churn = connection.execute(sa.select(db.models.c.id)).scalar_one()
        connection.execute(sa.insert(db.aliases).values(
            model_id=churn, alias="latest", version=1, updated_at=db.now()))
    registry.delete_alias("churn", "latest")
    assert registry.models()[0]["aliases"] == {}


def test_a_database_that_cannot_be_reached_is_a_store_error(tmp_path: Path) -> None:
    """A database URL whose server does not answer is a StoreError naming the URL (its
    password hidden) and what to check: it was SQLAlchemy's OperationalError, which only
    the command line turned into a message."""
    with pytest.raises(satchel.StoreError) as caught:
        Registry("postgresql+psycopg://nobody:secret@127.0.0.1:1/registry",
                 artifacts=str(tmp_path / "artifacts"))
    message = str(caught.value)
    assert message.startswith("cannot open the registry database"
                              " postgresql+psycopg://nobody:***@127.0.0.1:1/registry: ")
    assert "Connection refused" in message
    assert "secret" not in message
    assert message.endswith("Check that its server is running and that the URL's host, port,"
                            " user and database are right (the uri given, or SATCHEL_REGISTRY)")
    with pytest.raises(satchel.StoreError, match=re.escape(
            "unable to open database file. Check that its folder exists and that this user may"
            " write to it (the uri given, or SATCHEL_REGISTRY)")):
        Registry(f"sqlite:///{tmp_path}/missing/folder/registry.db",
                 artifacts=str(tmp_path / "artifacts"))


@pytest.mark.parametrize(("url", "fix"), [
    ("gs://bucket/models", "Please install gcsfs to access Google Storage. Install the package"
     " it names (pip install it beside satchel[registry]); satchel's own extras bring the"
     " backends of folders and S3 (satchel[s3])"),
    ("foo://bucket/models", "Protocol not known: foo. Give a folder path or an"
     " s3://bucket/prefix URL"),
])
def test_an_artifact_store_of_another_backend_says_what_to_install(url: str, fix: str) -> None:
    """A store whose backend fsspec lacks names the package fsspec asks for: the message
    said to install satchel[registry], which does not bring it."""
    pytest.importorskip("fsspec")
    if url.startswith("gs:") and importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    with pytest.raises(satchel.StoreError) as caught:
        ArtifactStore(url)
    assert str(caught.value) == f"cannot open artifact store {url!r}: {fix}"


def test_warnings_point_at_the_callers_line(registry: Registry) -> None:
    """A warning that a save gives (no check sample could be stored) points at the line
    that called the registry, as it points at a save's: it pointed into satchel's own code,
    whose depth differs on that path."""
    from sklearn.dummy import DummyClassifier

    rows = np.random.default_rng(0).normal(size=(20, 3))
    unrepeatable = DummyClassifier(strategy="stratified").fit(rows, [0, 1] * 10)
    with pytest.warns(UserWarning, match="no check sample is stored") as caught:
        registry.register("dummy", unrepeatable, sample=rows)
    assert [w.filename for w in caught] == [__file__]


def _big_model(size: int) -> Any:
    """A fitted classifier whose coefficients take ``size`` float64s."""
    fitted = model()
    fitted.coef_ = np.random.default_rng(0).random((1, size))
    return fitted


def test_an_artifact_store_that_fills_is_a_store_error(small_disk: Path, tmp_path: Path) -> None:
    """A registration whose artifact finds no room says which store and why, records nothing
    and leaves no temporary file: it raised '[Errno 28] No space left on device', naming
    nothing."""
    registry = Registry(str(tmp_path / "registry"), artifacts=str(small_disk))
    first = registry.register("churn", model())
    with pytest.raises(satchel.StoreError) as caught:
        registry.register("churn", _big_model(300_000))
    assert str(caught.value) == (
        f"cannot store an artifact in the artifact store {small_disk}: No space left on"
        " device; nothing was registered: free space on its filesystem or use another"
        " artifact store")
    assert [v.version for v in registry.versions("churn")] == [1]
    stored = [p.name for p in small_disk.rglob("*") if p.is_file()]
    assert stored == [f"{first.stored_as.removeprefix('blake3:')}.satchel"]


def test_a_registered_model_takes_its_size_on_disk_once(small_disk: Path) -> None:
    """A model registered in a local store is kept as the file it was saved to, readable
    as a file open() makes, so a disk with room for it once takes it: the file was copied
    into the store, which needed twice the model's size free (6.2 GB to register a 3 GB
    model) and wrote it twice."""
    registry = Registry(str(small_disk / "registry"))
    version = registry.register("churn", _big_model(70_000))  # 560 kB on a disk of 1 MiB
    umask = os.umask(0)
    os.umask(umask)
    artifact = Path(registry.store.path(version.stored_as))
    assert artifact.stat().st_mode & 0o777 == 0o666 & ~umask
    assert version.size > (1 << 20) // 2
    assert registry.load("models:/churn/1").digest == version.digest
    assert list((small_disk / "registry" / "artifacts" / "staging").iterdir()) == []


def _fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` with a new file; return its path."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(bytes(4096))
    return filler


def test_a_registry_database_whose_disk_fills_is_a_store_error(small_disk: Path,
                                                               tmp_path: Path) -> None:
    """A SQLite database that cannot grow names its file and says the change was not made,
    and the registry is whole once there is room: it was SQLAlchemy's OperationalError
    '(sqlite3.OperationalError) database or disk is full' with its background link."""
    registry = Registry(str(small_disk / "registry"), artifacts=str(tmp_path / "artifacts"))
    registry.register("churn", model(), description="first")
    filler = _fill(small_disk)
    with pytest.raises(satchel.StoreError) as caught:
        registry.update("churn", 1, description="x" * 200_000)
    database = small_disk / "registry" / "registry.db"
    assert str(caught.value) == (
        f"the registry database {str(database)!r} cannot grow: database or disk is full;"
        " nothing was changed: free space on its filesystem")
    filler.unlink()
    assert registry.version("churn", 1).description == "first"
    assert registry.update("churn", 1, description="second").description == "second"


def test_a_cache_that_fills_is_named_not_the_remote_store(small_disk: Path,
                                                          tmp_path: Path) -> None:
    """A download from a remote store into a cache whose disk fills says so and leaves no
    partial file: it was reported as the store's failure, saying to check that its bucket
    exists and the endpoint and credentials reach it."""
    store = f"memory://{tmp_path.name}/artifacts"
    registry = Registry(str(tmp_path / "registry"), artifacts=store,
                        cache=str(small_disk / "cache"))
    version = registry.register("churn", _big_model(300_000))
    with pytest.raises(satchel.StoreError) as caught:
        registry.load("models:/churn/1")
    assert str(caught.value) == (
        f"cannot download {version.stored_as} from the artifact store {store} into"
        " the cache"
        f" {small_disk / 'cache'}: No space left on device; free space there, or give the"
        " registry a cache folder with room (Registry(cache=...); by default it is in the"
        " temporary folder, which TMPDIR names)")
    assert list((small_disk / "cache").iterdir()) == []


def test_a_stored_artifact_is_flushed_with_its_name(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Storing an artifact in a local folder flushes the folders that name it once it is
    renamed into place, so that a power cut after its version is committed cannot lose the
    file: only the file's bytes were flushed, and the rename could be lost."""
    synced: list[int] = []
    fsync = os.fsync

    def recording(descriptor: int) -> None:
        synced.append(os.fstat(descriptor).st_ino)
        fsync(descriptor)

    registry = Registry(str(tmp_path / "registry"))
    monkeypatch.setattr(os, "fsync", recording)
    version = registry.register("churn", model())
    stored = Path(registry.store.path(version.stored_as))
    assert synced[-3:] == [stored.stat().st_ino, stored.parent.stat().st_ino,
                           stored.parent.parent.stat().st_ino]


def test_a_download_removes_what_killed_downloads_left_in_the_cache(tmp_path: Path) -> None:
    """A download into the cache removes the partial files of downloads that were killed
    (a server restarted while it fetched its model), and keeps those a live download
    holds: they stayed for good, a model's size each."""
    registry = Registry(str(tmp_path / "registry"), artifacts=f"memory://{tmp_path.name}/a",
                        cache=str(tmp_path / "cache"))
    first, second = (registry.register(name, model(c)) for name, c in (("a", 1.0), ("b", 0.5)))
    registry.load("models:/a/1")
    cached = tmp_path / "cache" / f"{first.stored_as.removeprefix('blake3:')}.satchel"
    killed, live = (Path(f"{cached}.{c * 32}.tmp") for c in "ab")
    killed.write_bytes(b"partial")
    live.write_bytes(b"partial")
    with live.open("rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_SH)
        registry.load("models:/b/1")
        assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
            [cached.name, live.name,
             f"{second.stored_as.removeprefix('blake3:')}.satchel"])


def test_a_file_registered_again_needs_no_writable_store(small_disk: Path,
                                                         tmp_path: Path) -> None:
    """Registering a file whose artifact the store holds writes nothing there, so it works on
    a read-only store (one written by an older satchel, with no staging folder): the folder
    a model object is saved in first is made only for one."""
    registry = Registry(str(tmp_path / "registry"), artifacts=str(small_disk / "artifacts"))
    satchel.save(model(), tmp_path / "model.satchel")
    first = registry.register("churn", str(tmp_path / "model.satchel"))
    with contextlib.suppress(FileNotFoundError):
        (small_disk / "artifacts" / "staging").rmdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    again = registry.register("churn-copy", str(tmp_path / "model.satchel"))
    assert again.digest == first.digest


def _remote_registry(tmp_path: Path, temporary: Path,
                     monkeypatch: pytest.MonkeyPatch) -> tuple[Registry, str]:
    """A registry with a remote artifact store (and its URL), whose models are saved in the
    temporary folder ``temporary`` before they are uploaded."""
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    store = f"memory://{tmp_path.name}/artifacts"
    return Registry(str(tmp_path / "registry"), artifacts=store,
                    cache=str(tmp_path / "cache")), store


def test_a_temporary_folder_that_fills_says_how_to_choose_another(
        small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model registered in a remote store is saved in the temporary folder first: one with
    no room says so and names TMPDIR; it said to choose another folder than a temporary file
    the user never named."""
    registry, store = _remote_registry(tmp_path, small_disk, monkeypatch)
    with pytest.raises(satchel.StoreError) as caught:
        registry.register("churn", _big_model(300_000))
    assert str(caught.value) == (
        f"cannot register the model: it is saved in the temporary folder {small_disk} before it"
        f" is uploaded to the artifact store {store}, and that folder has no room (No space"
        " left on device); free space there, or set TMPDIR to a folder with room")
    assert list(small_disk.iterdir()) == []


def _read_only_message(path: Path) -> str:
    return (f"the registry database {path} is read-only (its file, its folder or its"
            " filesystem): nothing was changed; register, move aliases, tag, delete and run"
            " gc where it is writable")


def _served_registry(folder: Path) -> str:
    """A registry in ``folder`` with model ``m``'s version 1 as alias ``p``; its digest."""
    registry = Registry(str(folder))
    version = registry.register("m", model())
    registry.set_alias("m", "p", version.version)
    registry.engine.dispose()
    return version.digest


def _refuses_changes(registry: Registry, database: Path) -> None:
    """Every change to ``registry`` is a StoreError saying its database is read-only."""
    for change in (lambda: registry.register("m", model(0.5)),
                   lambda: registry.set_alias("m", "q", 1),
                   lambda: registry.update("m", 1, tags={"a": "b"}),
                   lambda: registry.delete("m", 1, force=True), registry.gc):
        with pytest.raises(satchel.StoreError) as caught:
            change()
        assert str(caught.value) == _read_only_message(database)


def test_a_registry_on_a_read_only_filesystem_is_read(small_disk: Path) -> None:
    """A registry on a read-only filesystem (a volume mounted so, a snapshot) loads and
    lists its models, and refuses changes with a StoreError saying so: it could not be opened
    ('unable to open database file')."""
    digest = _served_registry(small_disk / "registry")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    registry = Registry(str(small_disk / "registry"))
    assert repr(registry) == (f"Registry('sqlite:///{small_disk}/registry/registry.db',"
                              f" artifacts='{small_disk}/registry/artifacts')")
    assert registry.load("models:/m@p").digest == digest
    assert [(v.version, v.aliases) for v in registry.versions("m")] == [(1, ["p"])]
    _refuses_changes(registry, small_disk / "registry" / "registry.db")
    assert registry.resolve("models:/m@p").version == 1


@contextlib.contextmanager
def _unwritable(path: Path) -> Any:
    """``path`` made read-only for this process (chmod, or chattr +i for root, whom modes do
    not stop), made writable again after."""
    mode = path.stat().st_mode
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True,
                          check=False).returncode != 0:
            pytest.skip("chattr +i is not available here (it needs a file system that"
                        " supports it)")
    else:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        if os.access(path, os.W_OK):
            pytest.skip(f"this user may still write to {path} once it is made read-only")
        yield path
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


@pytest.mark.parametrize("what", ["registry.db", "."])
def test_a_registry_whose_file_or_folder_is_read_only_is_read(tmp_path: Path, what: str) -> None:
    """A registry whose database file (chmod 444) or folder (chmod 555) this user may not
    write to loads its models and refuses changes with a StoreError saying so."""
    digest = _served_registry(tmp_path / "registry")
    with _unwritable(tmp_path / "registry" / what):
        registry = Registry(str(tmp_path / "registry"))
        try:
            assert registry.load("models:/m@p").digest == digest
            _refuses_changes(registry, tmp_path / "registry" / "registry.db")
        finally:
            registry.engine.dispose()


def test_an_old_schema_on_read_only_storage_says_to_upgrade_it_where_writable(
        small_disk: Path) -> None:
    """A read-only registry whose schema is older than the code's is a StoreError saying to
    open it once where it is writable, since it cannot be upgraded where it is."""
    _served_registry(small_disk / "registry")
    database = small_disk / "registry" / "registry.db"
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE satchel_alembic_version SET version_num = '0001'")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(satchel.StoreError) as caught:
        Registry(str(small_disk / "registry"))
    assert str(caught.value) == (
        f"the registry database {database} has the schema 0001, older than this satchel's"
        f" ({HEAD}), and it is read-only, so it cannot be upgraded here: open it once with"
        " this satchel where it is writable (satchel registry models), then read it here")


def test_a_registry_folder_only_another_user_writes_says_how_to_read_it(tmp_path: Path) -> None:
    """A registry whose folder only another user may write to, none of whose writers has it
    open, says that SQLite must create its -shm file there and how to let this user read it:
    it said that the database was read-only and that nothing was changed."""
    if os.geteuid() != 0:
        pytest.skip("reading as another user (os.setuid) needs root here")
    _served_registry(tmp_path / "warm")
    folder = Path(tempfile.mkdtemp())  # tmp_path's parents are root's alone
    try:
        folder.chmod(0o755)
        _served_registry(folder / "registry")
        script = ("import os, sys, satchel\n"
                  "satchel.Registry(sys.argv[2]).models()\n"  # imports what reading needs
                  "os.setgid(65534)\nos.setuid(65534)\n"
                  "try:\n    satchel.Registry(sys.argv[1]).models()\n"
                  "except satchel.StoreError as exc:\n    print(exc)\n")
        found = subprocess.run([sys.executable, "-c", script, str(folder / "registry"),
                                str(tmp_path / "warm")], capture_output=True, text=True,
                               check=True).stdout
        database = folder / "registry" / "registry.db"
        assert found == (
            f"cannot read the registry database {database}: SQLite must create"
            f" {database}-shm beside it to read it while none of its writers has it open,"
            " and this user may not write to its folder (SQLite: attempt to write a readonly"
            " database); let this user write to the folder, or, if nothing writes to it,"
            " make it read-only to everyone (chmod a-w)\n")
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("given", ["object", "file"])
def test_a_read_only_artifact_store_is_a_store_error(small_disk: Path, tmp_path: Path,
                                                     given: str) -> None:
    """A registration into a local artifact store on a read-only filesystem (its database
    elsewhere) is a StoreError naming the store and saying nothing was registered: it was
    "[Errno 30] Read-only file system: '<store>/staging'"."""
    registry = Registry(str(tmp_path / "registry"), artifacts=str(small_disk / "artifacts"))
    registry.register("churn", model())
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    satchel.save(model(0.5), tmp_path / "model.satchel")
    with pytest.raises(satchel.StoreError) as caught:
        registry.register("churn", model(0.5) if given == "object"
                          else str(tmp_path / "model.satchel"))
    assert str(caught.value) == (
        f"cannot store an artifact in the artifact store {small_disk}/artifacts: it is read-only"
        " (Read-only file system); nothing was registered: register where it is writable, or"
        " use another artifact store")
    assert [v.version for v in registry.versions("churn")] == [1]


@pytest.mark.parametrize("left", ["artifact", "staged file"])
def test_gc_on_a_read_only_artifact_store_is_a_store_error(small_disk: Path, tmp_path: Path,
                                                           left: str) -> None:
    """gc of a local artifact store on a read-only filesystem, with an orphan to remove (an
    artifact, or a file a killed registration left), is a StoreError naming the store and
    saying it is read-only: it was "[Errno 30] Read-only file system: '<artifact>'"."""
    registry = Registry(str(tmp_path / "registry"), artifacts=str(small_disk / "artifacts"))
    registry.register("churn", model())
    if left == "artifact":
        registry.delete("churn", 1)
    else:
        (small_disk / "artifacts" / "staging" / "tmpkilled.satchel").write_bytes(b"")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(satchel.StoreError) as caught:
        registry.gc(grace_seconds=0)
    assert str(caught.value) == (
        f"cannot delete from the artifact store {small_disk}/artifacts: it is read-only"
        " (Read-only file system); run gc where it is writable")


def test_a_missing_registry_on_read_only_storage_says_it_is_not_there(small_disk: Path) -> None:
    """A registry folder that is not there, on a filesystem where it cannot be created (a
    mistyped SATCHEL_REGISTRY on a read-only volume), is a StoreError saying so: it was
    "[Errno 30] Read-only file system: '<folder>'"."""
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(satchel.StoreError) as caught:
        Registry(str(small_disk / "registry"))
    assert str(caught.value) == (
        f"there is no registry at {str(small_disk / 'registry')!r}, and its folder cannot be"
        " created there (Read-only file system): check the path (the uri given, or"
        " SATCHEL_REGISTRY); a registry on read-only storage is read, once made where it is"
        " writable")


def test_a_cache_on_read_only_storage_says_how_to_choose_another(small_disk: Path,
                                                                 tmp_path: Path) -> None:
    """A remote artifact loaded where the cache cannot be created or written to (a
    container's read-only temporary folder) is a StoreError naming the cache and how to
    choose another: it was "[Errno 30] Read-only file system: '<cache>'"; a cached copy there
    is still loaded."""
    registry = Registry(str(tmp_path / "registry"), artifacts=f"memory://{tmp_path.name}/a",
                        cache=str(small_disk / "cache"))
    registry.register("churn", model())
    registry.register("churn", model(0.5))
    registry.load("models:/churn/1")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    assert registry.load("models:/churn/1").coef_.shape == (1, 3)
    with pytest.raises(satchel.StoreError) as caught:
        registry.load("models:/churn/2")
    assert str(caught.value) == (
        f"cannot write to the artifact cache {str(small_disk / 'cache')!r} (Read-only file"
        " system): a remote artifact is downloaded there before it is loaded; give the"
        " registry a writable cache folder (Registry(cache=...); by default it is in the"
        " temporary folder, which TMPDIR names)")
    other = Registry(str(tmp_path / "registry"), artifacts=f"memory://{tmp_path.name}/a",
                     cache=str(small_disk / "other"))
    with pytest.raises(satchel.StoreError, match=r"cannot write to the artifact cache .*other'"):
        other.load("models:/churn/1")


def test_a_read_only_temporary_folder_says_how_to_choose_another(
        small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model registered in a remote store is saved in the temporary folder first: a
    read-only one (a container's /tmp) says so and names TMPDIR; it was the system's bare
    'Read-only file system' naming a temporary file the user never chose."""
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    registry, store = _remote_registry(tmp_path, small_disk, monkeypatch)
    with pytest.raises(satchel.StoreError) as caught:
        registry.register("churn", _big_model(1000))
    assert str(caught.value) == (
        f"cannot register the model: it is saved in the temporary folder {small_disk} before it"
        f" is uploaded to the artifact store {store}, and that folder is read-only (Read-only"
        " file system); set TMPDIR to a folder this process can write to")
    assert registry.models() == []


def test_a_registry_dropped_closes_its_connections(backend: Backend, tmp_path: Path,  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry that is no longer referenced closes its database connections: a pooled
    PostgreSQL connection collected while open gave a ResourceWarning, at whatever line the
    collector ran."""
    import gc
    import warnings

    for key, value in backend.environment.items():
        monkeypatch.setenv(key, value)
    registry = Registry(backend.uri, artifacts=backend.artifacts, cache=str(tmp_path / "cache"))
    registry.register("churn", model())
    assert registry.load("models:/churn/1") is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del registry
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
