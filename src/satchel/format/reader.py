"""Reading satchel files: whole and verified, memory-mapped, or header only.

A full load reads each array into a buffer of its own and checks every stored
byte against its XXH3 checksum (and every padding byte against zero). Hashing
runs on a second thread while the next chunk is read, so verification costs
little more than the read itself. Because no buffer is shared, an array the
loaded object does not keep, such as the packed text of a vocabulary once its
strings are decoded, is freed with the load instead of staying pinned by the
arrays that are kept. Files under 1 MiB are read whole with one call instead:
what they could pin is small, and the calls would cost more than the bytes.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

import numpy as np
import xxhash

from satchel.errors import FormatError, IntegrityError
from satchel.format.container import (
    PREAMBLE_SIZE,
    ArraySpec,
    Header,
    check_text,
    checksum,
    content_digest,
    hash_bytes,
    known_dtype,
    parse_header,
    parse_preamble,
    text_fields,
)

CHUNK = 8 << 20
_PIPELINE_FROM = 2 * CHUNK
#: Files smaller than this are read whole, into one buffer that their arrays share.
_WHOLE_BELOW = 1 << 20

Buffer = np.ndarray[Any, np.dtype[np.uint8]]


def _allocate(size: int) -> Buffer:
    """A writable buffer of ``size`` bytes.

    numpy's allocator is the fastest to fill in a fresh process here: asking for
    transparent huge pages makes the first large allocation wait for compaction.
    """
    return np.empty(size, dtype=np.uint8)


def _mismatch(index: int, spec: ArraySpec) -> IntegrityError:
    return IntegrityError(
        f"array {index} ({spec.dtype}, shape {spec.shape}) does not match its checksum: the"
        " file was changed or damaged after it was written. Restore it from the registry or a"
        " backup."
    )


class Source:
    """The bytes of one satchel file and what has been verified of them.

    ``buffer`` holds the whole file (``loads``, a mapped file) and arrays are
    views of it, unless ``parts`` holds each array's stored bytes in a buffer of
    its own (a full load from a file, whose ``buffer`` is then empty).
    """

    def __init__(self, buffer: Buffer, writable: bool,
                 parts: Sequence[Buffer] | None = None) -> None:
        self.buffer = buffer
        self.writable = writable
        self.parts = parts
        self.verified = False

    @classmethod
    def of_parts(cls, parts: Sequence[Buffer]) -> Source:
        """Arrays read into buffers of their own and already verified."""
        source = cls(np.empty(0, dtype=np.uint8), writable=True, parts=parts)
        source.verified = True
        return source

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Source:
        """Copy ``data`` once so that decoded arrays are writable, like pickle's."""
        buffer = _allocate(len(data))
        buffer[:] = np.frombuffer(data, dtype=np.uint8)
        return cls(buffer, writable=True)

    @classmethod
    def mapped(cls, handle: IO[bytes]) -> Source:
        """Map an open file read-only; nothing is read yet."""
        fileno = _fileno(handle)
        if fileno is None or os.fstat(fileno).st_size == 0:
            return cls.from_bytes(handle.read())
        region = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
        return cls(np.frombuffer(region, dtype=np.uint8)[handle.tell():], writable=False)

    def header(self) -> Header:
        """Parse and verify the preamble and header."""
        size = len(self.buffer)
        start = self.buffer[:PREAMBLE_SIZE].tobytes()
        header_len = parse_preamble(start, size)
        header_bytes = self.buffer[PREAMBLE_SIZE:PREAMBLE_SIZE + header_len].tobytes()
        return parse_header(start, header_bytes, size)

    def stored(self, header: Header, index: int) -> Buffer:
        """The stored bytes of array ``index`` (compressed or not)."""
        if self.parts is not None:
            return self.parts[index]
        begin = header.data_start + header.arrays[index].offset
        return self.buffer[begin:begin + header.arrays[index].length]

    def verify(self, header: Header) -> None:
        """Check every padding byte and every array's stored bytes (of a whole-file buffer)."""
        self.check_padding(header)
        for index, spec in enumerate(header.arrays):
            if checksum(self.stored(header, index).data) != spec.checksum:
                raise _mismatch(index, spec)
        self.verified = True

    def check_padding(self, header: Header) -> None:
        """Every byte between the header and the arrays, and between arrays, must be zero."""
        data = self.buffer.data
        gaps, gap_start = [], PREAMBLE_SIZE + header.header_len
        for spec in header.arrays:
            gap_end = header.data_start + spec.offset
            gaps.append((gap_start, gap_end))
            gap_start = gap_end + spec.length
        if not header.arrays:
            gaps.append((gap_start, header.data_start))
        # The gaps are shorter than the alignment: one joined check instead of one per gap.
        if not b"".join(data[a:b] for a, b in gaps).strip(b"\0"):
            return
        for gap_start, gap_end in gaps:
            if data[gap_start:gap_end].tobytes().strip(b"\0"):
                raise IntegrityError(
                    f"padding bytes {gap_start}..{gap_end} are not zero: the file was changed"
                    " or damaged after it was written"
                )

    def array(self, header: Header, index: int, verify: bool) -> np.ndarray[Any, Any]:
        """Array ``index``: a view of its stored bytes, or fresh memory if it was compressed."""
        spec = header.arrays[index]
        stored = self.stored(header, index)
        if verify and not self.verified and checksum(stored.data) != spec.checksum:
            raise _mismatch(index, spec)
        raw = stored if spec.codec is None else _decompress(stored, spec, index)
        dtype = spec.dtype if spec.dtype.names is None else known_dtype(spec.dtype)
        count = spec.nbytes // dtype.itemsize if dtype.itemsize else 0
        # From a memoryview, not the buffer itself: the array is then the base of
        # its own views, so that the members of a column can be seen to share it.
        flat = (np.frombuffer(raw.data, dtype=dtype, count=count) if count
                else np.empty(0, dtype=dtype))
        try:
            result = flat.reshape(spec.shape[::-1]).T if spec.order == "F" else flat.reshape(
                spec.shape)
        except ValueError as exc:
            raise FormatError(f"array {index} cannot take shape {spec.shape}: {exc}") from None
        if text_fields(dtype):
            check_text(result, f"array {index}")
        if not self.writable and spec.codec is None:
            result.flags.writeable = False
        return result


Progress = Callable[[int, int], None]


def read_verified(handle: IO[bytes], progress: Progress | None = None) -> tuple[Source, Header]:
    """Read a whole file and verify every byte of it (a full load).

    Each array is read into a buffer of its own. ``progress(done, total)`` is
    called as bytes arrive, for progress bars.
    """
    fileno = _fileno(handle)
    if fileno is None:
        return verified(Source.from_bytes(handle.read()))
    size = os.fstat(fileno).st_size - handle.tell()
    if size < _WHOLE_BELOW:
        source, header = _read_whole(handle, size)
        if progress is not None:
            progress(size, size)
        return source, header
    start = _read(handle, 0, min(PREAMBLE_SIZE, size))
    header = parse_header(start, _read(handle, len(start), parse_preamble(start, size)), size)
    parts = [_allocate(spec.length) for spec in header.arrays]
    hashers = [xxhash.xxh3_64() for _ in parts]
    batches = _read_arrays(handle, header, parts, hashers, progress)
    if size < _PIPELINE_FROM:
        for batch in batches:
            _hash(batch)
    else:
        with ThreadPoolExecutor(max_workers=1) as worker:
            pending = [worker.submit(_hash, batch) for batch in batches]
        for future in pending:
            future.result()
    for index, (spec, hasher) in enumerate(zip(header.arrays, hashers, strict=True)):
        if hasher.hexdigest() != spec.checksum:
            raise _mismatch(index, spec)
    return Source.of_parts(parts), header


def verify_file(path: str) -> Header:
    """Check every byte of the file at ``path`` and its content digest (what ``satchel
    verify`` checks short of the check sample), mapped so that a large file is not copied.

    Raises:
        IntegrityError: a checksum or the digest does not match.
    """
    with open(path, "rb") as handle:
        source = Source.mapped(handle)
        header = source.header()
        source.verify(header)
        check_digest(source, header)
    return header


def verified(source: Source) -> tuple[Source, Header]:
    """``source`` (a whole-file buffer) and its header, with every byte verified."""
    header = source.header()
    source.verify(header)
    return source, header


def _read_whole(handle: IO[bytes], size: int) -> tuple[Source, Header]:
    """Read a small file with one call (not one per array and padding gap) and verify it."""
    buffer = _allocate(size)
    _fill(handle, buffer.data, 0)
    return verified(Source(buffer, writable=True))


def _read(handle: IO[bytes], position: int, count: int) -> bytes:
    """The next ``count`` bytes of ``handle``, which is at ``position``."""
    buffer = _allocate(count)
    _fill(handle, buffer.data, position)
    return buffer.tobytes()


def _fill(handle: IO[bytes], view: memoryview, position: int) -> int:
    """Fill ``view`` from ``handle``, which is at ``position``; return the position after it."""
    got = 0
    while got < len(view):
        count = handle.readinto(view[got:])  # type: ignore[attr-defined]
        if not count:
            raise FormatError(f"the file changed while it was read: expected"
                              f" {position + len(view)} bytes, found {position + got}")
        got += count
    return position + got


Batch = list[tuple[Any, memoryview]]


def _read_arrays(handle: IO[bytes], header: Header, parts: Sequence[Buffer],
                 hashers: Sequence[Any], progress: Progress | None) -> Iterator[Batch]:
    """Read the array section into ``parts``, checking its padding as it passes.

    Yields what arrived in batches of about :data:`CHUNK` bytes, each piece with
    the hasher of its array, so that a worker can hash one batch while the next
    is read.
    """
    position = PREAMBLE_SIZE + header.header_len
    batch: Batch = []
    batched = 0
    for spec, part, hasher in zip(header.arrays, parts, hashers, strict=True):
        position = _read_padding(handle, position, header.data_start + spec.offset)
        for begin in range(0, spec.length, CHUNK):
            piece = part[begin:begin + CHUNK].data
            position = _fill(handle, piece, position)
            batch.append((hasher, piece))
            batched += len(piece)
            if batched >= CHUNK:
                yield batch
                batch, batched = [], 0
                if progress is not None:
                    progress(position, header.file_size)
    _read_padding(handle, position, header.data_start)  # a file without arrays
    if batch:
        yield batch
    if progress is not None:
        progress(header.file_size, header.file_size)


def _read_padding(handle: IO[bytes], position: int, end: int) -> int:
    """Read the padding up to ``end``, which must be zero; return the position after it."""
    if end <= position:
        return position
    if any(_read(handle, position, end - position)):
        raise IntegrityError(f"padding bytes {position}..{end} are not zero: the file was"
                             " changed or damaged after it was written")
    return end


def _hash(batch: Batch) -> None:
    for hasher, piece in batch:
        hasher.update(piece)


def read_header(handle: IO[bytes]) -> Header:
    """Read and verify only the preamble and header of an open file."""
    fileno = _fileno(handle)
    if fileno is None:
        return Source.from_bytes(handle.read()).header()
    size = os.fstat(fileno).st_size - handle.tell()
    start = handle.read(PREAMBLE_SIZE)
    header_len = parse_preamble(start, size)
    return parse_header(start, handle.read(header_len), size)


def _decompress(stored: Buffer, spec: ArraySpec, index: int) -> Buffer:
    try:
        if spec.codec == "zstd":
            import zstandard  # noqa: PLC0415 - optional dependency

            declared = zstandard.frame_content_size(stored.data)
            if declared != spec.nbytes:  # zstd would allocate what the frame declares
                raise IntegrityError(f"array {index} does not decompress to its size: its zstd"
                                     f" frame declares {declared} bytes, the table"
                                     f" {spec.nbytes}")
            data = zstandard.ZstdDecompressor().decompress(
                stored.data, max_output_size=spec.nbytes)
        else:
            import lz4.block  # noqa: PLC0415 - optional dependency

            data = lz4.block.decompress(stored.data, uncompressed_size=spec.nbytes)
    except ImportError:
        raise FormatError(
            f"array {index} is compressed with {spec.codec}; install it with"
            " pip install 'satchel[compression]'"
        ) from None
    except IntegrityError:
        raise
    except Exception as exc:  # codecs raise their own error types
        raise IntegrityError(f"array {index} does not decompress: {exc}") from None
    if len(data) != spec.nbytes:
        raise IntegrityError(f"array {index} decompresses to {len(data)} bytes, expected"
                             f" {spec.nbytes}")
    out = _allocate(spec.nbytes)
    out[:] = np.frombuffer(data, dtype=np.uint8)
    return out


def _fileno(handle: IO[bytes]) -> int | None:
    """The descriptor of a regular file behind ``handle``, or None."""
    try:
        fileno = handle.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fileno if stat.S_ISREG(os.fstat(fileno).st_mode) else None


def check_digest(source: Source, header: Header) -> None:
    """Recompute every array's BLAKE3 and the content digest (what ``satchel verify`` adds).

    Raises:
        IntegrityError: an array or the digest does not match the header.
    """
    specs = []
    for index, spec in enumerate(header.arrays):
        stored = source.stored(header, index)
        raw = stored if spec.codec is None else _decompress(stored, spec, index)
        if hash_bytes(raw.data) != spec.digest:
            raise _mismatch(index, spec)
        specs.append(spec)
    if content_digest(header.tree, specs) != header.digest:
        raise IntegrityError(f"the content digest does not match: the header says {header.digest}"
                             ", the content gives another. The file was altered.")
