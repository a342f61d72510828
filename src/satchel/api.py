"""save / load / dumps / loads / inspect / untrusted_types: the format's public verbs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from satchel.format import container, handlers, reader
from satchel.format.container import Codec, Header
from satchel.format.decoder import collect_names, decode
from satchel.format.encoder import encode
from satchel.format.reader import Source
from satchel.format.trust import TrustPolicy, dotted

FileLike = str | os.PathLike[str] | IO[bytes]
__all__ = ["Inspection", "dumps", "handlers", "inspect", "load", "loads", "save",
           "untrusted_types"]


@dataclass(frozen=True)
class Inspection:
    """What a file's header says, read without importing or running anything.

    Attributes:
        version: format version as (major, minor).
        digest: cryptographic content digest (``blake3:<hex>``).
        size: file size in bytes.
        array_count: number of arrays in the array section.
        array_bytes: their total size once decoded.
        compressed: whether any array is compressed.
        types: every class and function the file names, dotted, sorted.
        untrusted: those of ``types`` that the default policy does not trust.
        metadata: the header's metadata object.
        tree: the object tree, as stored.
    """

    version: tuple[int, int]
    digest: str
    size: int
    array_count: int
    array_bytes: int
    compressed: bool
    types: list[str]
    untrusted: list[str]
    metadata: dict[str, Any] = field(repr=False)
    tree: Any = field(repr=False)


def _serialize(obj: Any, compress: Codec | None, metadata: dict[str, Any] | None
               ) -> Iterator[bytes | memoryview]:
    if compress is not None and compress not in container.CODECS:
        raise ValueError(f"compress must be None or one of {container.CODECS}, not {compress!r}")
    tree, arrays = encode(obj)
    return container.serialize(tree, arrays, metadata or {}, compress)


def save(obj: Any, file: FileLike, *, compress: Codec | None = None,
         metadata: dict[str, Any] | None = None) -> None:
    """Save ``obj`` to ``file`` (a path or a writable binary file object).

    A path is written to a temporary file beside it and renamed into place, so
    a crash never leaves a half-written file under the final name.

    Args:
        obj: any fitted scikit-learn object, or a structure of supported values.
        file: destination path or binary file object.
        compress: ``"zstd"`` or ``"lz4"`` to compress each array that shrinks.
        metadata: JSON-serializable metadata kept in the header, outside the digest.

    Raises:
        EncodeError: ``obj`` holds something satchel cannot store safely; the
            message gives its path inside ``obj``.

    Example:
        >>> satchel.save(pipeline, "churn.satchel", compress="zstd")  # doctest: +SKIP
    """
    chunks = _serialize(obj, compress, metadata)
    if isinstance(file, (str, os.PathLike)):
        container.write_file(chunks, file)
        return
    for chunk in chunks:
        file.write(chunk)


def dumps(obj: Any, *, compress: Codec | None = None,
          metadata: dict[str, Any] | None = None) -> bytes:
    """The bytes :func:`save` would write."""
    return b"".join(_serialize(obj, compress, metadata))


@contextlib.contextmanager
def _opened(file: FileLike) -> Iterator[IO[bytes]]:
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as handle:
            yield handle
    else:
        yield file


def load(file: FileLike, *, trusted: Iterable[str] = (), mmap: bool = False) -> Any:
    """Load an object saved by :func:`save`.

    Nothing the file names is imported before the trust check, and no callable
    it names is called. A full load verifies every byte of the file.

    Args:
        file: a path or a readable binary file object.
        trusted: extra names to trust (``["mypkg.MyScaler"]``), beyond the
            default set (scikit-learn, numpy, scipy and vetted functions).
        mmap: map the file instead of reading it; every uncompressed array is
            then a read-only view of the file (zero copy). The header is
            verified; array checksums are left to :func:`satchel.verify`-style
            full loads, since checking them would read every page.

    Raises:
        UntrustedTypesError: the file needs names that are not trusted.
        FormatError: the file is damaged, crafted, or not a satchel file.
    """
    with _opened(file) as handle:
        if mmap:
            source = Source.mapped(handle)
            header = source.header()
        else:
            source, header = reader.read_verified(handle)
    return decode(header, source, TrustPolicy(trusted), verify=not mmap)


def loads(data: bytes | bytearray | memoryview, *, trusted: Iterable[str] = ()) -> Any:
    """Load an object from the bytes :func:`dumps` returned (a full, verified load)."""
    source = Source.from_bytes(data)
    header = source.header()
    source.verify(header)
    return decode(header, source, TrustPolicy(trusted), verify=True)


def _read_header(file: FileLike) -> Header:
    with _opened(file) as handle:
        return reader.read_header(handle)


def inspect(file: FileLike) -> Inspection:
    """Describe a file from its header alone: nothing is imported or executed."""
    header = _read_header(file)
    names = collect_names(header.tree)
    policy = TrustPolicy()
    return Inspection(
        version=header.version,
        digest=header.digest,
        size=header.file_size,
        array_count=len(header.arrays),
        array_bytes=sum(spec.nbytes for spec in header.arrays),
        compressed=any(spec.codec for spec in header.arrays),
        types=sorted({dotted(name) for _, name in names}),
        untrusted=sorted({dotted(n) for role, n in names if not policy.trusts(role, n)}),
        metadata=header.metadata,
        tree=header.tree,
    )


def untrusted_types(file: FileLike) -> list[str]:
    """The names in ``file`` that must be passed to ``trusted=`` to load it."""
    return inspect(file).untrusted
