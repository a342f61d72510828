"""The registry's artifact store: satchel files addressed by content digest, on fsspec.

An artifact lives at ``<root>/<hex[:2]>/<hex>.satchel``. It is written under a
temporary name and renamed (moved, on object stores) into place, so a
half-written artifact is never visible under its final name. A remote store is
read through a local cache: the first read downloads the file, checks its
content digest cryptographically and keeps it; later reads (and memory maps)
use the cached copy.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

from satchel.errors import IntegrityError, SatchelError
from satchel.format import reader


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise SatchelError("the registry needs fsspec: pip install 'satchel[registry]'") from None
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        extra = "s3" if url.startswith("s3:") else "registry"
        raise SatchelError(f"cannot open artifact store {url!r}: {exc}. Install the backend:"
                           f" pip install 'satchel[{extra}]'") from None
    return fs, root.rstrip("/")


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
        self.cache = cache or os.path.join(tempfile.gettempdir(), "satchel-cache")

    def path(self, digest: str) -> str:
        """Where the artifact of ``digest`` lives in the store."""
        value = _hex(digest)
        return f"{self.root}/{value[:2]}/{value}.satchel"

    def exists(self, digest: str) -> bool:
        """Whether the store holds ``digest`` (asked afresh: listings are not cached)."""
        path = self.path(digest)
        self.fs.invalidate_cache(path.rsplit("/", 1)[0])
        return bool(self.fs.exists(path))

    def put(self, local_file: str, digest: str) -> None:
        """Store ``local_file`` as ``digest`` unless it is there already."""
        target = self.path(digest)
        if self.exists(digest):
            return
        temporary = f"{target}.{uuid.uuid4().hex}.tmp"
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(local_file, temporary)
        try:
            self.fs.mv(temporary, target)
        finally:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)

    def local_path(self, digest: str) -> str:
        """A local file holding ``digest``: the store's own for local stores, else cached."""
        if self.local:
            path = self.path(digest)
            if not os.path.exists(path):
                raise IntegrityError(f"artifact {digest} is missing from {self.url}; run"
                                     " 'satchel registry gc' and re-register the model")
            return path
        cached = os.path.join(self.cache, f"{_hex(digest)}.satchel")
        if not os.path.exists(cached):
            self._download(digest, cached)
        return cached

    def _download(self, digest: str, cached: str) -> None:
        os.makedirs(self.cache, exist_ok=True)
        partial = f"{cached}.{uuid.uuid4().hex}.tmp"
        try:
            self.fs.get_file(self.path(digest), partial)
            with open(partial, "rb") as handle:
                source, header = reader.read_verified(handle)
            reader.check_digest(source, header)
            if header.digest != digest:
                raise IntegrityError(f"the store's artifact {digest} holds {header.digest}")
            os.replace(partial, cached)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def digests(self) -> Iterator[tuple[str, float]]:
        """Every stored digest with its modification time (seconds since the epoch)."""
        self.fs.invalidate_cache(self.root)
        if not self.fs.exists(self.root):
            return
        for info in self.fs.find(self.root, detail=True).values():
            name = info["name"].rsplit("/", 1)[-1]
            if name.endswith(".satchel") and len(name) == 72:
                yield f"blake3:{name[:64]}", _mtime(info)

    def delete(self, digest: str) -> None:
        """Remove the artifact of ``digest``."""
        self.fs.rm(self.path(digest))


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)
