"""Writing files to a path: a temporary file beside it, renamed into place.

Large uncompressed files are *streamed*: the array section is written first,
each chunk hashed on a second thread while the next is written, and the header
last, at the front of the file. The room for the header is reserved from a
stand-in with random digests of the same width; the real header, which
compresses to about the same length, is padded with empty deflate blocks to
end where the arrays begin (FORMAT.md, section 2).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import queue
import secrets
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import blake3
import xxhash

from satchel.format.container import (
    ALIGNMENT,
    FLAG_HEADER_DICTIONARY,
    FLAG_HEADER_ZLIB,
    PREAMBLE_SIZE,
    ArraySpec,
    Budget,
    Codec,
    Stored,
    align,
    build_header,
    checksum,
    compress,
    deflate_header,
    hash_bytes,
    kept_compressed,
    may_compress,
    preamble,
    raw_parts,
    reused_zstd,
    serialize,
    threaded_zstd,
    zstd_compressor,
)
from satchel.format.threads import Worker

#: Array sections from this size on are written before the header, each array hashed (and
#: compressed) as it is written.
STREAM_FROM = 16 << 20
_CHUNK = 8 << 20
#: A write's errors for a filesystem (or a quota) with no room left for the file.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
#: The fix for EFBIG, where freeing space would not help.
_TOO_LARGE = ("the file is larger than its filesystem or this process's file size limit"
              " (ulimit -f) allows: choose a folder on another filesystem, or raise the limit")
#: Room left for the real header beyond the stand-in's compressed length.
_HEADER_SLACK = 16


def write(tree: Any, arrays: Sequence[Stored], metadata: dict[str, Any],
          target: str | os.PathLike[str], codec: Codec | None = None) -> None:
    """Write a satchel file to the path ``target``; a crash never leaves half a file there.

    Large files are streamed into the temporary file (the header is written last, at its
    front); a device or a descriptor, which cannot be rewound, is written in order.
    """
    # No fsync: the rename is atomic against crashes of this process, and forcing the bytes
    # to disk would double the cost of a large save.
    with writing(target) as destination, opened(destination) as handle:
        if isinstance(destination, str) and sum(a.nbytes for a in arrays) >= STREAM_FROM:
            _stream(handle, tree, arrays, metadata, codec)
        else:
            for chunk in serialize(tree, arrays, metadata, codec):
                handle.write(chunk)


def opened(destination: str | IO[bytes]) -> contextlib.AbstractContextManager[IO[bytes]]:
    """What :func:`writing` gave, as an open binary file: a path opened for writing, a file
    as it is (left open)."""
    if isinstance(destination, str):
        return open(destination, "wb")
    return contextlib.nullcontext(destination)


def descriptor_named(target: str | os.PathLike[str]) -> int | None:
    """The open file descriptor ``target`` names (``/dev/stdout``, ``/dev/stderr``,
    ``/dev/fd/N``, ``/proc/self/fd/N``), or None. Opened by name, the file a shell
    redirected it to would be truncated (``>>`` appends) or replaced; written through the
    descriptor, what the file held stays, as it does for any command writing to its
    standard output."""
    path = os.path.abspath(os.fspath(target))
    for prefix in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
        number = path.removeprefix(prefix)
        if number != path and number.isascii() and number.isdigit():
            return int(number)
    return {"/dev/stdout": 1, "/dev/stderr": 2}.get(path)


@contextlib.contextmanager
def writing(target: str | os.PathLike[str]) -> Iterator[str | IO[bytes]]:
    """Where a file for ``target`` is written: a temporary file's path, renamed over
    ``target`` once the block succeeds (:func:`replacing`); or, for a descriptor
    (:func:`descriptor_named`) or a device, an open binary file written in place."""
    descriptor = descriptor_named(target)
    if descriptor is None:
        with _replacing(target) as (path, temporary):
            if temporary:
                yield path
                return
            with _in_place(path), open(path, "wb") as device:
                yield device
        return
    if descriptor == 1 and sys.stdout is not None:  # None when it was closed
        sys.stdout.flush()  # what was printed before comes first
    try:
        copy = os.dup(descriptor)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot write {os.fspath(target)}: descriptor {descriptor}"
                        " is not open; redirect it to a file or give a file name") from None
    with _in_place(target), os.fdopen(copy, "wb") as handle:
        yield handle


def _in_place(target: str | os.PathLike[str]) -> contextlib.AbstractContextManager[None]:
    """Raise a write's error of no room left as one that names ``target``, a device or a
    descriptor written in place, and says its output is cut short (:func:`_no_room`)."""
    return _no_room(lambda reason: f"cannot write {os.fspath(target)}: {reason}; what was"
                    " written to it is cut short", "free space where it leads, or save to a file")


@contextlib.contextmanager
def _no_room(said: Callable[[str | None], str], fix: str) -> Iterator[None]:
    """Raise a write's error of no room left (:data:`NO_ROOM`) as one that says
    ``said(reason)`` and ``fix`` (or, for a file past its size limit, how to raise it)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            raise
        raise OSError(exc.errno, f"{said(exc.strerror)}:"
                      f" {_TOO_LARGE if exc.errno == errno.EFBIG else fix}") from None


@contextlib.contextmanager
def _replacing(target: str | os.PathLike[str]) -> Iterator[tuple[str, bool]]:
    """A new empty file beside ``target``'s destination, to be written in the block and
    then renamed over it: a crash never leaves a half file under the final name. It is
    given with True; a device, written to as it is and never replaced, with False.

    Each write has a file of its own, so two threads saving to one path never share one;
    the file replaced keeps its permissions.
    """
    path = destination(target)
    if _special(path):
        yield path, False
        return
    directory, name = os.path.split(path)
    temporary = os.path.join(directory,
                             f".{name[:100]}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    mode = _mode(path)
    try:  # 0o666 less the umask, as open() creates a file
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise _uncreatable(exc, path, directory) from None
    old = _hold(path)
    try:
        with _no_room(lambda reason: f"cannot save to {path}: {reason} in the folder"
                      f" {directory}; nothing was written under its name (a file there keeps"
                      " what it held)", "free space on its filesystem or choose another folder"):
            yield temporary, True
        if mode is not None:
            os.chmod(temporary, mode)
        try:
            os.replace(temporary, path)
        except OSError as exc:  # named by the file given, not by the hidden temporary one
            raise type(exc)(exc.errno, f"cannot replace {path}: {exc.strerror} (a save writes"
                            " a new file beside it and renames it over it, which the file or"
                            " its folder does not allow); nothing was changed") from None
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    finally:
        if old is not None:
            _release(old)


def _uncreatable(exc: OSError, path: str, directory: str) -> OSError:
    """The error for a save whose temporary file could not be created: it names the path
    given and its folder, not the hidden temporary file."""
    if not os.path.isdir(directory):
        return FileNotFoundError(errno.ENOENT, f"cannot save to {path}: the folder {directory}"
                                 " does not exist")
    return type(exc)(exc.errno, f"cannot save to {path}: no file can be created in the folder"
                     f" {directory} ({exc.strerror}); a save writes a temporary file beside its"
                     " destination and renames it into place, so choose a folder you can"
                     " write to")


def destination(target: str | os.PathLike[str]) -> str:
    """The absolute path a save to ``target`` writes: through a symbolic link to the file it
    names, as ``open`` writes (the link stays a link). A link to what has no path of its
    own (``/dev/stdout`` when it is a pipe) is given back as it is, to be written to.

    Raises:
        ValueError: ``target`` is empty.
        IsADirectoryError: ``target`` is a folder, or ends with a slash as one does.
    """
    given = os.fspath(target)
    if not given:
        raise ValueError("cannot save to '': expected the path of a file")
    path = os.path.realpath(given)
    if os.path.isdir(path) or given.endswith(("/", os.sep)):
        what = "a folder" if os.path.isdir(path) else "ends with a slash, as a folder does"
        raise IsADirectoryError(errno.EISDIR, f"cannot save to {given}: it is {what}; give"
                                " the path of a file")
    if not os.path.lexists(path) and os.path.exists(given):
        return os.path.abspath(given)
    return path


def _special(path: str) -> bool:
    """Whether ``path`` is written to rather than replaced: a device (such as /dev/null),
    or what a link names that has no path of its own (a pipe as ``/dev/stdout``). A named
    pipe is replaced like a file: writing to one would wait for a reader."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or not os.path.lexists(
        os.path.realpath(path))


def _mode(path: str) -> int | None:
    """The permissions of the file at ``path``, None if there is none."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def _hold(path: str) -> int | None:
    """Open the file a save replaces, if any, and drop its pages from the page cache.

    Freeing a file's pages and blocks takes from a fraction of a millisecond (a
    small file) to tens of milliseconds (a large one, with online discard).
    Holding the old file open moves that work to the last close, which a
    background thread does once the new file is in place, so that the save
    returns without it. Its cached pages are dropped before the new file is
    written (the file itself is untouched until the rename), so that the new
    file's pages are the ones just freed rather than pages the kernel has to
    find while the old ones are freed beside it; pages that another process
    maps stay.
    """
    if os.name != "posix":
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with contextlib.suppress(OSError):
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    return descriptor


def _release(descriptor: int) -> None:
    """Close ``descriptor`` on the one background thread that frees replaced files (here,
    if that thread cannot be started)."""
    try:
        _closer().put(descriptor)
    except RuntimeError:
        os.close(descriptor)


@functools.cache
def _closer() -> queue.SimpleQueue[int]:
    """The queue of the closing thread, started on first use."""
    descriptors: queue.SimpleQueue[int] = queue.SimpleQueue()
    threading.Thread(target=_close_forever, args=(descriptors,), name="satchel-release",
                     daemon=True).start()
    return descriptors


def _close_forever(descriptors: queue.SimpleQueue[int]) -> None:
    while True:
        os.close(descriptors.get())


if hasattr(os, "register_at_fork"):
    # A forked child has no closing thread: its first save starts its own, rather than
    # queueing what it replaces for good (each file's descriptor and room on disk).
    os.register_at_fork(after_in_child=_closer.cache_clear)


def _stream(handle: IO[bytes], tree: Any, arrays: Sequence[Stored],
            metadata: dict[str, Any], codec: Codec | None) -> None:
    """Write the array section, then the header in front of it, in the room a stand-in
    header reserved. Its digests and checksums are unrelated random bytes, which compress
    as the real ones will; an array that may be compressed is given a length between its
    size and twice that, with digits as varied as its real one's, which is smaller."""
    specs, offset = [], 0
    for index, array in enumerate(arrays):
        digest, check = (blake3.blake3(b"%s %d" % (what, index)).digest() for what in (b"d", b"c"))
        length, used = array.nbytes, codec if may_compress(array, codec) else None
        if used is not None:  # no longer than this, and with digits as varied as the real one's
            length += int.from_bytes(check[8:16], "little") % length
        specs.append(ArraySpec(array.dtype, tuple(array.shape), "C", offset, length, digest,
                               used, check[:8].hex()))
        offset = align(offset + length)
    reserved = len(deflate_header(build_header(tree, specs, metadata))) + _HEADER_SLACK
    data_start = align(PREAMBLE_SIZE + reserved)
    handle.seek(data_start)
    specs = _write_arrays(handle, arrays, codec)
    text = build_header(tree, specs, metadata)
    # Every length whose aligned end is data_start (FORMAT.md, section 4).
    fits = range(data_start - PREAMBLE_SIZE - ALIGNMENT + 1, data_start - PREAMBLE_SIZE + 1)
    try:
        header = deflate_header(text, fits)
    except ValueError:  # compressed worse than the stand-ins by more than the slack
        _rewind(handle, 0)
        for chunk in serialize(tree, arrays, metadata, codec):
            handle.write(chunk)
        return
    handle.seek(0)
    handle.write(preamble(header, FLAG_HEADER_ZLIB | FLAG_HEADER_DICTIONARY) + header
                 + bytes(data_start - PREAMBLE_SIZE - len(header)))


def _write_arrays(handle: IO[bytes], arrays: Sequence[Stored], codec: Codec | None
                  ) -> list[ArraySpec]:
    """Write ``arrays`` one after the other, each hashed as it is written and, with
    ``codec``, compressed where it pays; return their entries.

    A zstd array larger than a chunk (:data:`_CHUNK`) is compressed a chunk at a time
    straight into the file, so that a save never holds its compressed bytes whole; a
    smaller one, and an lz4 array (an lz4 block has no streaming form), is compressed
    whole. An array that does not shrink, or that would take the file past what a reader
    accepts, is written again over its compressed bytes, uncompressed, as :func:`prepare`
    stores it.
    """
    specs, end, budget, compressor = [], 0, Budget(), reused_zstd()
    with Worker() as hasher:
        for array in arrays:
            offset = align(end)
            handle.write(bytes(offset - end))  # alignment padding
            parts, order = raw_parts(array)
            written = None
            if codec is not None and may_compress(array, codec):
                written = _write_compressed(handle, parts, codec, hasher, budget=budget,
                                            compressor=compressor)
            used = None if written is None else codec
            digest, check, length = written or _write_hashed(handle, parts, hasher)
            specs.append(ArraySpec(array.dtype, tuple(array.shape), order, offset, length,
                                   digest, used, check))
            end = offset + length
    return specs


def _write_compressed(handle: IO[bytes], parts: Sequence[memoryview], codec: Codec,
                      hasher: Worker, *, budget: Budget, compressor: Callable[[], Any]
                      ) -> tuple[bytes, str, int] | None:
    """Write an array's ``parts`` compressed with ``codec`` (a whole one with zstd by
    ``compressor()``), as :func:`_write_hashed` does; or return None, with nothing written,
    if they are not kept compressed (:func:`kept_compressed`) or would take the file past
    ``budget``."""
    start, nbytes = handle.tell(), sum(map(len, parts))
    if codec == "lz4" or nbytes <= _CHUNK:  # as a whole-file save compresses it
        packed = compress(parts, codec, compressor)
        handle.write(packed)
        written = hash_bytes(*parts), checksum(packed), len(packed)
    else:
        written = _write_zstd(handle, parts, nbytes, hasher)
    if kept_compressed(written[2], nbytes) and budget.admits(written[2], nbytes):
        return written
    _rewind(handle, start)
    return None


def _write_zstd(handle: IO[bytes], parts: Sequence[memoryview], size: int, hasher: Worker
                ) -> tuple[bytes, str, int]:
    """:func:`_write_hashed` through zstd, on every core where that pays and its threads
    start."""
    import zstandard  # noqa: PLC0415 - optional dependency

    if threaded_zstd(size):
        start = handle.tell()
        try:
            return _write_hashed(handle, parts, hasher,
                                 zstd_compressor(threaded=True).compressobj(size=size))
        except zstandard.ZstdError:  # its worker threads could not start: compress here
            _rewind(handle, start)
    return _write_hashed(handle, parts, hasher,
                         zstd_compressor(threaded=False).compressobj(size=size))


def _rewind(handle: IO[bytes], position: int) -> None:
    """Drop what was written to ``handle`` from ``position`` on, to write it again."""
    handle.seek(position)
    handle.truncate()


def _write_hashed(handle: IO[bytes], parts: Sequence[memoryview], hasher: Worker,
                  stream: Any = None) -> tuple[bytes, str, int]:
    """Write one array's parts, through the compressor ``stream`` if one is given; return
    the BLAKE3 digest of the parts' bytes, the XXH3 checksum of the bytes written and how
    many bytes were written.

    Each chunk of about 8 MiB is hashed on ``hasher`` while it is written (or compressed).
    """
    strong, fast = blake3.blake3(max_threads=1), xxhash.xxh3_64()
    written = 0

    def update(chunk: list[memoryview]) -> None:
        for piece in chunk:
            strong.update(piece)
            if stream is None:
                fast.update(piece)

    def out(data: bytes | memoryview) -> None:
        nonlocal written
        if stream is not None:
            fast.update(data)
        handle.write(data)
        written += len(data)

    for chunk in _chunks(parts):
        done = hasher.submit(update, chunk)
        for piece in chunk:
            out(piece if stream is None else stream.compress(piece))
        done.result()
    if stream is not None:
        out(stream.flush())
    return strong.digest(), fast.hexdigest(), written


def _chunks(parts: Sequence[memoryview]) -> Iterator[list[memoryview]]:
    """``parts`` in groups of about :data:`_CHUNK` bytes; a larger part is cut."""
    chunk: list[memoryview] = []
    filled = 0
    for part in parts:
        for start in range(0, len(part), _CHUNK):
            piece = part[start:start + _CHUNK]
            chunk.append(piece)
            filled += len(piece)
            if filled >= _CHUNK:
                yield chunk
                chunk, filled = [], 0
    if chunk:
        yield chunk
