"""Reading satchel files: whole and verified, memory-mapped, or header only.

A full load reads the file into one private buffer and checks every stored
byte against its XXH3 checksum. Hashing runs on a second thread while the next
chunk is read, so verification costs little more than the read itself.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

import numpy as np
import xxhash

from satchel.errors import FormatError, IntegrityError
from satchel.format.container import (
    PREAMBLE_SIZE,
    ArraySpec,
    Header,
    checksum,
    content_digest,
    hash_bytes,
    parse_header,
    parse_preamble,
)

CHUNK = 8 << 20
_PIPELINE_FROM = 2 * CHUNK

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
    """The bytes of one satchel file and what has been verified of them."""

    def __init__(self, buffer: Buffer, writable: bool) -> None:
        self.buffer = buffer
        self.writable = writable
        self.verified = False

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

    def verify(self, header: Header) -> None:
        """Check every padding byte and every array's stored bytes."""
        self.check_padding(header)
        for index, spec in enumerate(header.arrays):
            begin = header.data_start + spec.offset
            if checksum(self.buffer[begin:begin + spec.length].data) != spec.checksum:
                raise _mismatch(index, spec)
        self.verified = True

    def check_padding(self, header: Header) -> None:
        """Every byte between the header and the arrays, and between arrays, must be zero."""
        gap_start = PREAMBLE_SIZE + header.header_len
        for spec in header.arrays:
            gap_end = header.data_start + spec.offset
            if gap_end > gap_start and self.buffer[gap_start:gap_end].any():
                raise IntegrityError(
                    f"padding bytes {gap_start}..{gap_end} are not zero: the file was changed"
                    " or damaged after it was written"
                )
            gap_start = gap_end + spec.length
        if not header.arrays and self.buffer[gap_start:header.data_start].any():
            raise IntegrityError("padding bytes after the header are not zero: the file was"
                                 " changed or damaged after it was written")

    def array(self, header: Header, index: int, verify: bool) -> np.ndarray[Any, Any]:
        """Array ``index``: a view of the buffer, or fresh memory if it was compressed."""
        spec = header.arrays[index]
        begin = header.data_start + spec.offset
        stored = self.buffer[begin:begin + spec.length]
        if verify and not self.verified and checksum(stored.data) != spec.checksum:
            raise _mismatch(index, spec)
        raw = stored if spec.codec is None else _decompress(stored, spec, index)
        count = spec.nbytes // spec.dtype.itemsize if spec.dtype.itemsize else 0
        flat = (np.frombuffer(raw, dtype=spec.dtype, count=count) if count
                else np.empty(0, dtype=spec.dtype))
        try:
            result = flat.reshape(spec.shape[::-1]).T if spec.order == "F" else flat.reshape(
                spec.shape)
        except ValueError as exc:
            raise FormatError(f"array {index} cannot take shape {spec.shape}: {exc}") from None
        if not self.writable and spec.codec is None:
            result.flags.writeable = False
        return result


Progress = Callable[[int, int], None]


def read_verified(handle: IO[bytes], progress: Progress | None = None) -> tuple[Source, Header]:
    """Read a whole file and verify every byte of it (a full load).

    ``progress(done, total)`` is called as bytes arrive, for progress bars.
    """
    fileno = _fileno(handle)
    if fileno is None:
        source = Source.from_bytes(handle.read())
        header = source.header()
        source.verify(header)
        return source, header
    size = os.fstat(fileno).st_size - handle.tell()
    buffer = _allocate(size)
    start = _read_into(handle, buffer, 0, min(PREAMBLE_SIZE, size))
    header_end = PREAMBLE_SIZE + parse_preamble(buffer[:start].tobytes(), size)
    _read_into(handle, buffer, start, header_end)
    source = Source(buffer, writable=True)
    header = source.header()
    if size < _PIPELINE_FROM:
        _read_into(handle, buffer, header_end, size)
        source.verify(header)
    else:
        _read_and_hash(handle, source, header, header_end, progress)
    return source, header


def _read_into(handle: IO[bytes], buffer: Buffer, begin: int, end: int) -> int:
    """Fill ``buffer[begin:end]`` from ``handle``; the file must not be shorter."""
    view = buffer[begin:end].data
    got = 0
    while got < end - begin:
        count = handle.readinto(view[got:])  # type: ignore[attr-defined]
        if not count:
            raise FormatError(f"the file changed while it was read: expected {end} bytes,"
                              f" found {begin + got}")
        got += count
    return end


def _read_and_hash(handle: IO[bytes], source: Source, header: Header, position: int,
                   progress: Progress | None) -> None:
    """Read the array section chunk by chunk while a worker thread hashes what arrived."""
    hashers = [xxhash.xxh3_64() for _ in header.arrays]
    pending: list[Future[None]] = []
    size = len(source.buffer)
    with ThreadPoolExecutor(max_workers=1) as worker:
        while position < size:
            end = _read_into(handle, source.buffer, position, min(position + CHUNK, size))
            pending.append(worker.submit(_hash_range, source.buffer, header, hashers,
                                         position, end))
            position = end
            if progress is not None:
                progress(position, size)
        for future in pending:
            future.result()
    source.check_padding(header)
    for index, (spec, hasher) in enumerate(zip(header.arrays, hashers, strict=True)):
        if hasher.hexdigest() != spec.checksum:
            raise _mismatch(index, spec)
    source.verified = True


def _hash_range(buffer: Buffer, header: Header, hashers: list[Any], begin: int,
                end: int) -> None:
    """Feed the parts of ``buffer[begin:end]`` that belong to arrays to their hashers."""
    for spec, hasher in zip(header.arrays, hashers, strict=True):
        low = max(begin, header.data_start + spec.offset)
        high = min(end, header.data_start + spec.offset + spec.length)
        if low < high:
            hasher.update(buffer[low:high].data)


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
        begin = header.data_start + spec.offset
        stored = source.buffer[begin:begin + spec.length]
        raw = stored if spec.codec is None else _decompress(stored, spec, index)
        if hash_bytes(raw.data) != spec.digest:
            raise _mismatch(index, spec)
        specs.append(spec)
    if content_digest(header.tree, specs) != header.digest:
        raise IntegrityError(f"the content digest does not match: the header says {header.digest}"
                             ", the content gives another. The file was altered.")
