"""inspect and untrusted_types: what a file holds, read from its header alone."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from satchel.errors import FormatError
from satchel.format import handlers, reader
from satchel.format.container import Header
from satchel.format.decoder import collect_names
from satchel.format.trust import TrustPolicy, dotted
from satchel.metadata import Metadata

FileLike = str | os.PathLike[str] | IO[bytes]
__all__ = ["FileLike", "Inspection", "handlers", "inspect", "opened", "untrusted_types"]


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
        metadata: the artifact metadata (environment, schema, check sample, code).
        tree: the object tree, as stored.
        header: the parsed header (array table included).
    """

    version: tuple[int, int]
    digest: str
    size: int
    array_count: int
    array_bytes: int
    compressed: bool
    types: list[str]
    untrusted: list[str]
    metadata: Metadata = field(repr=False)
    tree: Any = field(repr=False)
    header: Header = field(repr=False)


@contextlib.contextmanager
def opened(file: FileLike) -> Iterator[IO[bytes]]:
    """``file`` as an open binary file: opened here for paths, as given otherwise.

    Raises:
        TypeError: ``file`` is neither a path nor a binary file object open for reading.
    """
    if isinstance(file, (str, os.PathLike)):
        _check_regular(file)
        with open(file, "rb") as handle:
            yield handle
    else:
        check_file_object(file, "read")
        yield file


def check_file_object(file: Any, use: str) -> None:
    """Refuse what is not a binary file object that can ``use`` (``read`` or ``write``):
    a text-mode file, a file descriptor number or a bytes path would fail deep inside."""
    if isinstance(file, io.TextIOBase) or (not isinstance(file, io.IOBase) and hasattr(
            file, "encoding")):
        raise TypeError("the file is open in text mode: open it in binary mode"
                        f" ({'rb' if use == 'read' else 'wb'!r}) or pass its path")
    if not callable(getattr(file, use, None)):
        raise TypeError(f"expected a path (str or pathlib.Path) or a binary file object"
                        f" with {use}(), found {type(file).__name__}")
    reading = use == "read"
    able = getattr(file, "readable" if reading else "writable", None)
    if callable(able) and not able():  # a file opened the other way has both methods
        raise TypeError(f"the file is not open for {'reading' if reading else 'writing'}"
                        f" (mode {getattr(file, 'mode', 'unknown')!r}): open it with"
                        f" {'rb' if reading else 'wb'!r} or pass its path")


def _check_regular(path: str | os.PathLike[str]) -> None:
    """Refuse a device or a pipe before opening it: a FIFO blocks the open, and a device
    such as /dev/zero never ends. A folder is an IsADirectoryError that says what to give
    instead (open's said only "Is a directory"); a missing file fails in ``open`` as usual."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, f"{os.fspath(path)!r} is a folder, not a file:"
                                " give the path of a .satchel file (a model in a registry is"
                                " named models:/NAME)")
    if not stat.S_ISREG(mode):
        kind = "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else (
            "a device")
        raise FormatError(f"{os.fspath(path)!r} is {kind}, not a file: expected a .satchel"
                          " file. Save the stream to a file first, or pass an open binary"
                          " file object.")


def inspect(file: FileLike) -> Inspection:
    """Describe a file from its header alone: nothing is imported or executed.

    Of a stream (``io.BytesIO``, a pipe), the bytes after the header are read to
    learn the file's size, a chunk at a time, and not kept. An open file object
    that can seek is put back where it was, so that ``load`` can read it next;
    one that cannot (a pipe, a socket) is left after the satchel file.

    Raises:
        FormatError: the header is damaged, crafted or not a satchel header.
    """
    with opened(file) as handle:
        start = _position(handle)
        try:
            return describe(reader.read_header(handle))
        finally:
            if start is not None:
                handle.seek(start)


def _position(handle: IO[bytes]) -> int | None:
    """Where ``handle`` is, to come back to, or None if it cannot seek."""
    try:
        return handle.tell() if handle.seekable() else None
    except (AttributeError, OSError, ValueError):  # a reader with read() alone
        return None


def describe(header: Header) -> Inspection:
    """What :func:`inspect` tells of a file whose header was read already."""
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
        metadata=Metadata.from_json(header.metadata),
        tree=header.tree,
        header=header,
    )


def untrusted_types(file: FileLike) -> list[str]:
    """The names in ``file`` that must be passed to ``trusted=`` to load it.

    Reads the header as :func:`inspect` does, and leaves an open file object where
    it found it if it can seek: ``untrusted_types(f)`` then ``load(f, trusted=...)``.
    """
    return inspect(file).untrusted
