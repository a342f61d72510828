"""The registry's artifact store: satchel files addressed by artifact digest, on fsspec.

A file's *artifact digest* (:func:`artifact_digest`) is its content digest with the
metadata it carries: one fitted model saved again with another check sample, or
under other package versions, is another artifact, and each version keeps its own
file. Registries of earlier releases named artifacts by content digest alone; such a
name still finds its file (:func:`holds`).

An artifact lives at ``<root>/<hex[:2]>/<hex>.satchel``, and its final name is
only ever written whole:

* in a local folder, the file is written under a temporary name in the same
  folder, flushed to disk and renamed into place (``os.replace`` is atomic), and the
  folders naming it are flushed too, before the version that needs it is committed;
* in an object store (S3 and the like), the final key is written with one PUT
  (one multipart upload for large files): an object store makes an object
  visible whole or not at all, so nothing is written under another name and
  nothing is moved. Object stores have no rename, and a copy-then-delete
  "move" can be cut short halfway.

The final name of an artifact is never deleted except by ``delete`` (which only
the registry's ``gc`` calls). Writing the same digest twice, even from two
processes at once, writes the same model and metadata. A remote store is read through a
local cache, a folder no other user may write to: the first read downloads the
file, checks its digests cryptographically and keeps it; later reads
(and memory maps) use the cached copy. Each store opens its own fsspec
filesystem (fsspec would otherwise share one per process, with the client and
listings of whoever opened it first).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import blake3
import orjson

from satchel.errors import (
    IntegrityError,
    LimitError,
    SatchelError,
    StoreError,
    UnsupportedVersionError,
)
from satchel.format import reader
from satchel.format.container import Header
from satchel.format.writer import NO_ROOM
from satchel.registry.localfiles import (
    default_cache,
    held,
    private_folder,
    remove_unheld,
    write_whole,
)

#: Names in the store: ``<hex>.satchel`` and the temporaries of local writes.
_ARTIFACT = re.compile(r"[0-9a-f]{64}\.satchel")
_TEMPORARY = re.compile(r"[0-9a-f]{64}\.satchel\.[0-9a-f]{32}\.tmp")
#: How the system refuses a write to a read-only filesystem, or to what this user may not
#: write (a mode, chattr +i).
READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
#: The folder of a local store where a registration saves a model before storing it.
_STAGING = "staging"


def _in_folder(path: object, folder: str) -> bool:
    """Whether ``path`` (an OSError's filename) is ``folder`` or in it."""
    folder = os.path.normpath(folder)
    return isinstance(path, str) and (path == folder or path.startswith(f"{folder}{os.sep}"))


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise SatchelError("the registry needs fsspec: pip install 'satchel[registry]'") from None
    try:
        # A store of its own, not fsspec's instance shared by the whole process: its
        # client and listings then follow the configuration (endpoint, credentials)
        # in force when the registry is opened.
        fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    except (ImportError, ValueError) as exc:
        if url.startswith(("s3:", "s3a:")):
            fix = "Install the backend: pip install 'satchel[s3]'"
        elif isinstance(exc, ImportError):  # fsspec names the package of its protocol
            fix = ("Install the package it names (pip install it beside satchel[registry]);"
                   " satchel's own extras bring the backends of folders and S3 (satchel[s3])")
        else:
            fix = "Give a folder path or an s3://bucket/prefix URL"
        raise StoreError(f"cannot open artifact store {url!r}: {exc}. {fix}") from None
    return fs, root.rstrip("/")


def artifact_digest(header: Header) -> str:
    """The digest a verified file is stored under: its content digest and its metadata
    (environment, schema, check sample, code records, user metadata), but not the time it
    was saved, so that the same model saved again where nothing changed is stored once."""
    metadata = dict(header.metadata)
    environment = metadata.get("environment")
    if isinstance(environment, dict):
        metadata["environment"] = {k: v for k, v in environment.items() if k != "created"}
    hasher = blake3.blake3(b"satchel/1 artifact digest\n")
    hasher.update(header.digest.encode() + b"\n")
    hasher.update(orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS))
    return "blake3:" + hasher.hexdigest()


def holds(header: Header, digest: str) -> bool:
    """Whether the verified file of ``header`` is the artifact ``digest`` names: its artifact
    digest, or the content digest that registries of earlier releases stored it under."""
    return digest == header.digest or digest == artifact_digest(header)


def _hex(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "blake3" or len(value) != 64 or not all(c in "0123456789abcdef"
                                                            for c in value):
        raise IntegrityError(f"invalid content digest {digest[:80]!r}")
    return value


class ArtifactStore:
    """Content-addressed satchel files under one fsspec URL."""

    def __init__(self, url: str, cache: str | None = None) -> None:
        self.url = url
        self.fs, self.root = _filesystem(url)
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple)
                                else (self.fs.protocol,))
        if self.local and os.path.exists(self.root) and not os.path.isdir(self.root):
            # Each write would fail on a path under it, and gc would find nothing to list.
            raise StoreError(f"the artifact store {url!r} is a file, not a folder: name a"
                             " folder (created if missing) or an fsspec URL such as"
                             " s3://bucket/prefix")
        self.cache = cache or default_cache()

    def path(self, digest: str) -> str:
        """Where the artifact of ``digest`` lives in the store."""
        value = _hex(digest)
        return f"{self.root}/{value[:2]}/{value}.satchel"

    def stage(self) -> str:
        """A new empty file for a registration to save a model in before storing it.

        In a local store it is in a folder of the store's own (on its disk, and cleared by
        ``gc`` of what a killed registration left there), created as ``open`` creates a file,
        since :meth:`put` keeps it as the artifact; for another store, a private file in the
        system's temporary folder.
        """
        if not self.local:
            handle, path = tempfile.mkstemp(suffix=".satchel")
            os.close(handle)
            return path
        folder = os.path.join(self.root, _STAGING)
        os.makedirs(folder, exist_ok=True)
        while True:
            path = os.path.join(folder, f"tmp{uuid.uuid4().hex[:12]}.satchel")
            with contextlib.suppress(FileExistsError):  # 0o666 less the umask
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                return path

    @contextlib.contextmanager
    def filling(self) -> Iterator[None]:
        """Raise the error of a disk (or quota) with no room left for a registration as a
        StoreError that names the folder: a local store's, or the temporary folder where a
        model is saved before it is uploaded to a remote store. So is a local store that is
        read-only (its filesystem, or to this user). Other errors pass through."""
        try:
            with self._writing("store an artifact in", "nothing was registered: register where"
                               " it is writable, or use another artifact store"):
                yield
        except OSError as exc:
            temporary = not self.local and exc.errno in READ_ONLY and _in_folder(
                exc.filename, tempfile.gettempdir())
            if exc.errno not in NO_ROOM and not temporary:
                raise
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            if not self.local:
                state, fix = ("is read-only", "set TMPDIR to a folder this process can write"
                              " to") if temporary else ("has no room", "free space there, or"
                                                        " set TMPDIR to a folder with room")
                raise StoreError(
                    f"cannot register the model: it is saved in the temporary folder"
                    f" {tempfile.gettempdir()} before it is uploaded to the artifact store"
                    f" {self.url}, and that folder {state} ({reason}); {fix}") from None
            raise StoreError(f"cannot store an artifact in the artifact store {self.url}:"
                             f" {reason}; nothing was registered: free space on its filesystem"
                             " or use another artifact store") from None

    @contextlib.contextmanager
    def _writing(self, action: str, fix: str) -> Iterator[None]:
        """Raise the error of a local store that refuses a write (a read-only filesystem, or
        a folder this user may not write to) as a StoreError naming the store, saying it is
        read-only and ``fix``. Other errors pass through."""
        try:
            yield
        except OSError as exc:
            if not (self.local and exc.errno in READ_ONLY and self._within(exc.filename)):
                raise
            raise StoreError(f"cannot {action} the artifact store {self.url}: it is read-only"
                             f" ({os.strerror(exc.errno)}); {fix}") from None

    def _within(self, path: object) -> bool:
        """Whether ``path`` (an OSError's filename) is the local store's folder or in it."""
        return _in_folder(path, self.root)

    def hold(self, path: str) -> int | None:
        """Keep ``gc`` from removing the file a registration saved in :meth:`staging` until the
        descriptor returned is closed, or the process ends (None: nothing to hold)."""
        return held(path) if _staged(path) else None

    def exists(self, digest: str) -> bool:
        """Whether the store holds ``digest`` (asked afresh: listings are not cached)."""
        return self._size(self.path(digest)) is not None

    def _size(self, path: str) -> int | None:
        """The size of the file at ``path`` (asked afresh), None if there is none."""
        if self.local:
            try:
                return os.stat(path).st_size
            except FileNotFoundError:
                return None
        self.fs.invalidate_cache(path)
        self.fs.invalidate_cache(path.rsplit("/", 1)[0])
        try:
            with self._reaching("read from"):
                info = self.fs.info(path)
        except FileNotFoundError:
            return None
        return int(info["size"]) if info.get("type") == "file" else None

    def put(self, local_file: str, digest: str) -> None:
        """Store ``local_file`` as ``digest`` unless the store holds it already.

        The caller vouches that ``local_file`` holds ``digest``. A stored file of
        another size (a damaged one) is replaced. In a local folder, a stored file
        of the right size is verified too, and replaced if its bytes are damaged;
        in an object store that would mean downloading it, so there only reads
        check it.

        Raises:
            IntegrityError: the store does not hold the whole file afterwards.
        """
        target = self.path(digest)
        size = os.path.getsize(local_file)
        if self._size(target) == size and (not self.local or _holds(target, local_file, digest)):
            return
        if self.local:
            with self.filling():
                write_whole(local_file, target, staged=os.path.dirname(local_file)
                             == os.path.join(self.root, _STAGING))
        else:
            try:
                with self._reaching("write to"):
                    self.fs.put_file(local_file, target)
            except FileNotFoundError as exc:  # the file to put is there: the store is not
                raise self._unreachable("write to", exc) from exc
        stored = self._size(target)
        if stored != size:
            raise IntegrityError(f"storing {digest} in {self.url} left {stored} bytes of"
                                 f" {size}")

    def local_path(self, digest: str, *, again: bool = False) -> str:
        """A local file holding ``digest``: the store's own for local stores, else cached.

        ``again`` downloads a remote artifact anew, replacing its cached copy (one damaged
        or replaced since it was verified and kept).
        """
        if self.local:
            path = self.path(digest)
            if not os.path.exists(path):
                raise self._missing(digest)
            return path
        with self._caching():
            cached = os.path.join(private_folder(self.cache), f"{_hex(digest)}.satchel")
            if again or not os.path.exists(cached):
                self._download(digest, cached)
        return cached

    def damaged(self, digest: str, found: IntegrityError, uri: str | None = None
                ) -> IntegrityError:
        """The error of an artifact whose stored file fails verification: ``found``, with
        the version ``uri`` that needs it and how to mend the store."""
        return IntegrityError(
            f"{uri + ': ' if uri else ''}the artifact {digest} in the store {self.url} is"
            " damaged. Register the model again, which stores a good copy (the version it adds"
            f" may then be deleted), or restore the store from a backup. What was found: {found}")

    def _missing(self, digest: str) -> IntegrityError:
        """The error of a live version whose artifact the store lacks."""
        return IntegrityError(
            f"the artifact {digest} is missing from the store {self.url}: its file was deleted,"
            " or the store is not this registry's own (check --artifacts or SATCHEL_ARTIFACTS)."
            " Register the model again, which stores the file anew (the version it adds may"
            " then be deleted), or delete the versions that need it")

    @contextlib.contextmanager
    def _caching(self) -> Iterator[None]:
        """Raise the error of a cache that cannot be written to (read-only storage, such as a
        container's temporary folder) as a StoreError naming it and how to choose another."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in READ_ONLY or not _in_folder(exc.filename, self.cache):
                raise
            raise StoreError(
                f"cannot write to the artifact cache {self.cache!r} ({os.strerror(exc.errno)}):"
                " a remote artifact is downloaded there before it is loaded; give the registry"
                " a writable cache folder (Registry(cache=...); by default it is in the"
                " temporary folder, which TMPDIR names)") from None

    def cached_is_damaged(self, digest: str) -> bool:
        """Whether the cached copy of a remote artifact is there but not whole (truncated,
        altered, another file): read again, it would fail every load.

        A file that this reader cannot check (a newer format, past its limits) is not
        called damaged: downloading it again would not help.
        """
        if self.local:
            return False
        cached = os.path.join(private_folder(self.cache), f"{_hex(digest)}.satchel")
        try:
            return not holds(reader.verify_file(cached), digest)
        except (UnsupportedVersionError, LimitError, FileNotFoundError):
            return False
        except (SatchelError, OSError):
            return True

    def _download(self, digest: str, cached: str) -> None:
        partial = f"{cached}.{uuid.uuid4().hex}.tmp"
        holding = held(partial, os.O_CREAT)  # kept from the sweeps of other downloads
        try:
            _sweep(os.path.dirname(cached))
            try:
                with self._reaching("read from"):
                    self._get(digest, partial)
            except FileNotFoundError as exc:
                # An object store's folder of no objects does not exist: its bucket must.
                with self._reaching("read from"):
                    empty = not self.fs.exists(self.root.split("/", 1)[0] or self.root)
                if empty:
                    raise self._unreachable("read from", exc) from exc
                raise self._missing(digest) from None
            try:
                header = reader.verify_file(partial)
            except IntegrityError as exc:  # named by the store, not by the download's file
                raise self.damaged(digest, exc) from None
            if not holds(header, digest):
                raise IntegrityError(f"the store's artifact {digest} holds another file (of the"
                                     f" model {header.digest})")
            os.replace(partial, cached)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
            if holding is not None:
                os.close(holding)

    def _get(self, digest: str, partial: str) -> None:
        """Download ``digest`` to the cache's file ``partial``; the cache's disk (or quota)
        filling is a StoreError naming the cache, not the store."""
        try:
            self.fs.get_file(self.path(digest), partial)
        except OSError as exc:
            if exc.errno not in NO_ROOM:
                raise
            raise StoreError(
                f"cannot download {digest} from the artifact store {self.url} into the cache"
                f" {os.path.dirname(partial)}: {os.strerror(exc.errno)}; free space there, or"
                " give the registry a cache folder with room (Registry(cache=...); by default"
                " it is in the temporary folder, which TMPDIR names)") from None

    def _files(self) -> Iterator[tuple[str, str, float]]:
        """(path, name, modification time) of every file in the store, listed afresh."""
        self.fs.invalidate_cache()
        try:
            with self._reaching("list"):
                found = self.fs.find(self.root, detail=True)
        except FileNotFoundError as exc:
            # A folder or prefix with nothing in it yet lists as empty; s3fs raises this
            # for a bucket that does not exist, which was taken for an empty store.
            if not self.local:
                raise self._unreachable("list", exc) from exc
            found = {}
        for info in found.values():
            if info.get("type", "file") == "file":
                yield info["name"], info["name"].rsplit("/", 1)[-1], _mtime(info)

    def digests(self) -> Iterator[tuple[str, float]]:
        """Every stored digest with its modification time (seconds since the epoch)."""
        for _, name, mtime in self._files():
            if _ARTIFACT.fullmatch(name):
                yield f"blake3:{name[:64]}", mtime

    def temporaries(self) -> Iterator[tuple[str, float]]:
        """Leftover temporary files (of killed writes and registrations) with their
        modification times."""
        for path, _, mtime in self._files():
            if _temporary(path):
                yield path, mtime

    def delete(self, digest: str) -> None:
        """Remove the artifact of ``digest`` (only ``Registry.gc`` should).

        Raises:
            StoreError: a local store that is read-only.
        """
        with self._writing("delete from", "run gc where it is writable"):
            self._remove(self.path(digest))

    def delete_temporary(self, path: str) -> None:
        """Remove a leftover temporary file listed by :meth:`temporaries`."""
        if not _temporary(path):
            raise IntegrityError(f"{path!r} is not a temporary artifact file")
        with self._writing("delete from", "run gc where it is writable"):
            if _staged(path):
                remove_unheld(path)
            else:
                self._remove(path)

    def _remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError), self._reaching("delete from"):
            self.fs.rm_file(path)  # a file missing was removed meanwhile by another gc

    @contextlib.contextmanager
    def _reaching(self, action: str) -> Iterator[None]:
        """Raise what a remote store's backend raised as a StoreError naming the store and what
        to check: botocore said only "Could not connect to the endpoint URL" or "Unable to
        locate credentials".

        FileNotFoundError (a file that is not there) is the caller's to read, and a local
        store's errors are OSErrors naming their path: both pass through.
        """
        try:
            yield
        except (FileNotFoundError, SatchelError):
            raise
        except Exception as exc:
            if self.local:
                raise
            raise self._unreachable(action, exc) from exc

    def _unreachable(self, action: str, exc: Exception) -> StoreError:
        return StoreError(
            f"cannot {action} the artifact store {self.url}: {type(exc).__name__}: {exc};"
            " check that it exists (for S3, that its bucket was created) and that this"
            " process's endpoint and credentials reach it (SATCHEL_ARTIFACTS, fsspec's and"
            " the AWS variables such as AWS_ENDPOINT_URL_S3)")


def _temporary(path: str) -> bool:
    """Whether ``path`` in the store is a temporary file: a write's, or a file a registration
    saved in the staging folder (a local store's)."""
    return bool(_TEMPORARY.fullmatch(path.rsplit("/", 1)[-1])) or _staged(path)


def _staged(path: str) -> bool:
    """Whether ``path`` is in a local store's staging folder."""
    return path.rsplit("/", 2)[-2:-1] == [_STAGING]


def _sweep(cache: str) -> None:
    """Remove the partial files that killed downloads left in the folder ``cache``."""
    for name in os.listdir(cache):
        if _TEMPORARY.fullmatch(name):
            remove_unheld(os.path.join(cache, name))


def _holds(path: str, local_file: str, digest: str) -> bool:
    """Whether the local file at ``path`` is whole and holds ``digest``: it is, when it is
    ``local_file`` itself (a stored version registered again, verified by the caller)."""
    try:
        return os.path.samefile(path, local_file) or holds(reader.verify_file(path), digest)
    except SatchelError:
        return False


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)
