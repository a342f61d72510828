"""Reading satchel files: whole and verified, memory-mapped, or header only.

A full load reads each array into a buffer of its own and checks every stored
byte against its XXH3 checksum (and every padding byte against zero) before
the array is used. Hashing runs on a second thread while the next chunk is
read, so verification costs little more than the read itself. Because no
buffer is shared, an array the loaded object does not keep, such as the packed
text of a vocabulary once its strings are decoded, is freed with the load
instead of staying pinned by the arrays that are kept. Files under 1 MiB are
read whole with one call instead: what they could pin is small, and the calls
would cost more than the bytes.

A load reads a larger file's arrays as the decoder reaches them, and the arrays
it never reaches at the end, so that it still checks every byte
(:mod:`satchel.format.arrays`).
"""

from __future__ import annotations

import io
import mmap
import os
import stat
import sys
import zlib
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from satchel.errors import FormatError, IntegrityError, LimitError
from satchel.format.arrays import (
    CHUNK,
    Buffer,
    FileArrays,
    Progress,
    allocate,
    fill,
    mismatch,
    read_exactly,
)
from satchel.format.container import (
    ALIGNMENT,
    PREAMBLE_SIZE,
    ArraySpec,
    Header,
    checksum,
    content_digest,
    hash_bytes,
)
from satchel.format.dtypes import check_text, known_dtype, text_fields
from satchel.format.parsing import cut_short, parse_header, parse_preamble

#: Files smaller than this are read whole, into one buffer that their arrays share.
_WHOLE_BELOW = 1 << 20
#: Stored bytes of a zstd array decoded at a time (zstd's blocks decode to 128 KiB at most).
_ZSTD_PIECE = 128 << 10


class Source:
    """The bytes of one satchel file and what has been verified of them.

    ``buffer`` holds the whole file (``loads``, a mapped file) and arrays are
    views of it, unless ``parts`` holds each array's stored bytes in a buffer of
    its own (a full read of a file), or ``file`` reads them when they are needed
    (a load of a larger file); ``buffer`` is then empty.
    """

    def __init__(self, buffer: Buffer, writable: bool,
                 parts: Sequence[Buffer] | None = None, file: FileArrays | None = None
                 ) -> None:
        self.buffer = buffer
        self.writable = writable
        self.parts = parts
        #: Where the arrays are read from as they are needed (a load of a larger file).
        self.file = file
        self.verified = file is not None

    @classmethod
    def of_parts(cls, parts: Sequence[Buffer]) -> Source:
        """Arrays read into buffers of their own and already verified."""
        source = cls(np.empty(0, dtype=np.uint8), writable=True, parts=parts)
        source.verified = True
        return source

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Source:
        """Copy ``data`` once so that decoded arrays are writable, like pickle's.

        Any buffer is taken as its bytes, as ``bytes(data)`` gives them: a memoryview
        of wider items (``len`` counts items) or of strided ones (which cannot be cast).
        """
        view = memoryview(data)
        view = (view if view.c_contiguous else memoryview(view.tobytes())).cast("B")
        buffer = allocate(view.nbytes)
        buffer[:] = np.frombuffer(view, dtype=np.uint8)
        return cls(buffer, writable=True)

    @classmethod
    def mapped(cls, handle: IO[bytes]) -> Source:
        """Map an open file; nothing is read yet. Its arrays are read-only views.

        The mapping is private (copy on write): pages are the file's, shared with every
        process that maps it, until something writes into one. numpy refuses to, but
        some of scikit-learn's compiled code writes through a read-only view (a
        stochastic gradient model's ``partial_fit``): on a read-only mapping that killed
        the process; here the page written becomes the model's own, as in a full load.

        What cannot be mapped is read: a stream, and a satchel file that starts at a
        position of an open file off the :data:`ALIGNMENT` its arrays are stored at,
        whose views would not be aligned (compiled code refuses or misreads them).
        """
        fileno = _fileno(handle)
        if fileno is None:
            return read_stream(handle)[0]
        if os.fstat(fileno).st_size == 0 or handle.tell() % ALIGNMENT:
            return cls.from_bytes(handle.read())
        region = mmap.mmap(fileno, 0, access=mmap.ACCESS_COPY)
        return cls(np.frombuffer(region, dtype=np.uint8)[handle.tell():], writable=False)

    def header(self) -> Header:
        """Parse and verify the preamble and header."""
        size = len(self.buffer)
        start = self.buffer[:PREAMBLE_SIZE].tobytes()
        header_len = parse_preamble(start, size)
        header_bytes = self.buffer[PREAMBLE_SIZE:PREAMBLE_SIZE + header_len].tobytes()
        return parse_header(start, header_bytes, size)

    @classmethod
    def of_file(cls, file: FileArrays) -> Source:
        """Arrays read from ``file`` when they are first needed, verified as they are read."""
        return cls(np.empty(0, dtype=np.uint8), writable=True, file=file)

    def finish(self) -> None:
        """Verify what the decoder did not read, so that a load checks every byte."""
        if self.file is not None:
            self.file.finish()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def stored(self, header: Header, index: int) -> Buffer:
        """The stored bytes of array ``index`` (compressed or not)."""
        if self.parts is not None:
            return self.parts[index]
        if self.file is not None:
            return self.file.read([index])[0]
        begin = header.data_start + header.arrays[index].offset
        return self.buffer[begin:begin + header.arrays[index].length]

    def verify(self, header: Header, arrays: bool = True) -> None:
        """Check every padding byte and, with ``arrays``, every array's stored bytes (of a
        whole-file buffer)."""
        self.check_padding(header)
        if not arrays:
            return
        for index, spec in enumerate(header.arrays):
            if checksum(self.stored(header, index).data) != spec.checksum:
                raise mismatch(index, spec)
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
        # A mapped file's plain arrays are left to a full load (checking them would read
        # every page), but a compressed one is read whole anyway: it is checked first.
        if verify and not self.verified and (self.writable or spec.codec is not None) and (
                checksum(stored.data) != spec.checksum):
            raise mismatch(index, spec)
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


def read_verified(handle: IO[bytes], progress: Progress | None = None, *,
                  lazy: bool = False, check: bool = True) -> tuple[Source, Header]:
    """Read a whole file and verify every byte of it (a full load).

    Each array is read into a buffer of its own. ``progress(done, total)`` is
    called as bytes arrive, for progress bars. With ``lazy``, a file of 1 MiB or
    more has only its header read here: its arrays are read and verified as the
    decoder needs them, and ``Source.finish`` reads the rest (``handle`` must
    stay open until then). Without ``check``, the arrays' checksums are not
    computed, and a lazy read leaves the arrays the decoder never needs unread.
    """
    fileno = _fileno(handle)
    if fileno is None:
        source, header = read_stream(handle)
        source.verify(header, arrays=check)
        return source, header
    size = max(0, os.fstat(fileno).st_size - handle.tell())  # 0 past its end: too short
    if size < _WHOLE_BELOW:
        source, header = _read_whole(handle, size, check)
        if progress is not None:
            progress(size, size)
        return source, header
    base = handle.tell()
    start = read_exactly(handle, 0, min(PREAMBLE_SIZE, size))
    header_bytes = read_exactly(handle, len(start), parse_preamble(start, size))
    header = parse_header(start, header_bytes, size)
    file = FileArrays(handle, header, base, check)
    if lazy:
        return Source.of_file(file), header
    try:
        return Source.of_parts(file.read_all(progress)), header
    finally:
        file.close()


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


def _read_whole(handle: IO[bytes], size: int, check: bool) -> tuple[Source, Header]:
    """Read a small file with one call (not one per array and padding gap) and verify it
    (its arrays' checksums only with ``check``)."""
    buffer = allocate(size)
    fill(handle, buffer.data, 0)
    source = Source(buffer, writable=True)
    header = source.header()
    source.verify(header, arrays=check)
    return source, header


def read_header(handle: IO[bytes]) -> Header:
    """Read and verify only the preamble and header of an open file.

    A stream (``io.BytesIO``, a pipe) has no size to ask for: the rest of it is
    read a chunk at a time, up to where its layout ends, and not kept.
    """
    fileno = _fileno(handle)
    if fileno is None:
        return _stream_header(handle)
    size = max(0, os.fstat(fileno).st_size - handle.tell())
    start = handle.read(PREAMBLE_SIZE)
    header_len = parse_preamble(start, size)
    return parse_header(start, handle.read(header_len), size)


def _stream_header(handle: IO[bytes]) -> Header:
    """:func:`read_header` of a stream: the rest of it is read to check its length, a
    chunk at a time, and not kept."""
    start, header_bytes, header = _stream_start(handle)
    read = len(start) + len(header_bytes)
    _check_stream_end(handle, header, read + _skip(handle, header.file_size - read))
    return header


def read_stream(handle: IO[bytes]) -> tuple[Source, Header]:
    """A stream's satchel file in one buffer, and its header (arrays not verified yet).

    The preamble and header are checked before anything else is read, and then only
    the bytes their layout holds: a stream that is no satchel file, or never ends
    (``/dev/zero``), is refused without being read into memory. The buffer is
    allocated once the stream has given those bytes, not from the size the header
    declares, and filled from the chunks read as they are freed.
    """
    start, header_bytes, header = _stream_start(handle)
    chunks = [start, header_bytes]
    got = len(start) + len(header_bytes)
    try:
        while got < header.file_size and (
                chunk := _read_some(handle, min(CHUNK, header.file_size - got))):
            chunks.append(chunk)
            got += len(chunk)
        _check_stream_end(handle, header, got)
        buffer = allocate(got)
    except MemoryError:
        raise LimitError(f"the stream's layout ends at byte {header.file_size}, more than this"
                         " process can hold in memory: save it to a file and load that (a"
                         " file is read an array at a time)") from None
    filled = 0
    chunks.reverse()
    while chunks:
        chunk = chunks.pop()
        buffer[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    return Source(buffer, writable=True), header


def _stream_start(handle: IO[bytes]) -> tuple[bytes, bytes, Header]:
    """A stream's preamble, stored header and parsed header, whose ``file_size`` is where
    its layout ends. The header is read once the preamble declares one within the limit.

    Raises:
        FormatError: the preamble or header is refused, or the stream ends inside them.
    """
    start = _read_up_to(handle, PREAMBLE_SIZE)
    declared = parse_preamble(start, sys.maxsize) if len(start) == PREAMBLE_SIZE else 0
    header_bytes = _read_up_to(handle, declared)
    if len(start) < PREAMBLE_SIZE or len(header_bytes) < declared:
        parse_preamble(start, len(start) + len(header_bytes))  # says what is missing
    return start, header_bytes, parse_header(start, header_bytes, None)


def _check_stream_end(handle: IO[bytes], header: Header, got: int) -> None:
    """A stream that held ``got`` bytes up to where its layout ends must end there.

    Raises:
        IntegrityError: the stream ends before its layout does, or goes on after it.
    """
    end = header.file_size
    if got < end:
        raise cut_short(f"the file is truncated: the layout ends at byte {end}, the file at"
                        f" {got}")
    if _read_some(handle, 1):
        raise cut_short(f"the file is followed by unexpected bytes: the layout ends at byte"
                        f" {end}, the stream goes on after it")


def _skip(handle: IO[bytes], count: int) -> int:
    """Read up to ``count`` bytes of a stream a chunk at a time, keeping nothing; return
    how many it held."""
    skipped = 0
    while skipped < count and (chunk := _read_some(handle, min(CHUNK, count - skipped))):
        skipped += len(chunk)
    return skipped


def _read_up_to(handle: IO[bytes], count: int) -> bytes:
    """The next ``count`` bytes of a stream, or fewer where it ends (a pipe's read returns
    what has arrived)."""
    parts: list[bytes] = []
    while count > 0 and (part := _read_some(handle, count)):
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


def _read_some(handle: IO[bytes], count: int) -> bytes:
    """Up to ``count`` bytes of a stream. A decompressing reader (``gzip.open``,
    ``bz2.open``, ``lzma.open``) of a truncated or damaged file raises its own error,
    which is the file's fault, not the caller's: it becomes a FormatError. An error of
    the system (an OSError with an errno: a failing disk, a closed pipe) stays one.

    Raises:
        FormatError: the stream's compression is truncated or damaged.
    """
    damaged: tuple[type[Exception], ...] = (EOFError, zlib.error, OSError, *_codec_errors())
    try:
        return handle.read(count)
    except damaged as exc:
        if isinstance(exc, OSError) and (exc.errno is not None
                                         or isinstance(exc, io.UnsupportedOperation)):
            raise
        raise FormatError(
            f"the file object could not be read: {exc} ({type(exc).__name__}). A compressed"
            " file (gzip, bz2, xz) that is truncated or damaged does this: check it with its"
            " own tool (gzip -t FILE) or fetch it again") from None


def _codec_errors() -> tuple[type[Exception], ...]:
    """lzma's error, if a reader of its has imported it (it is looked up, not imported);
    gzip's and bz2's are OSErrors without an errno."""
    error = getattr(sys.modules.get("lzma"), "LZMAError", None)
    return (error,) if isinstance(error, type) and issubclass(error, Exception) else ()


def _decompress(stored: Buffer, spec: ArraySpec, index: int) -> Buffer:
    try:
        if spec.codec == "zstd":
            return _unzstd(stored, spec, index)
        import lz4.block  # noqa: PLC0415 - optional dependency

        data = lz4.block.decompress(stored.data, uncompressed_size=spec.nbytes)
    except ImportError:
        raise FormatError(
            f"array {index} is compressed with {spec.codec}; install it with"
            " pip install 'satchel[compression]'"
        ) from None
    except IntegrityError:
        raise
    except MemoryError:  # the codec's output buffer, of the size the table declares
        raise _too_large(index, spec) from None
    except Exception as exc:  # codecs raise their own error types
        raise IntegrityError(f"array {index} does not decompress: {exc}") from None
    if len(data) != spec.nbytes:
        raise IntegrityError(f"array {index} decompresses to {len(data)} bytes, expected"
                             f" {spec.nbytes}")
    try:
        out = allocate(spec.nbytes)
    except MemoryError:
        raise _too_large(index, spec) from None
    out[:] = np.frombuffer(data, dtype=np.uint8)
    return out


def _unzstd(stored: Buffer, spec: ArraySpec, index: int) -> Buffer:
    """Decode a zstd array a piece at a time straight into its own buffer: decoded whole,
    its bytes would be held twice, the codec's and the array's copy of them."""
    import zstandard  # noqa: PLC0415 - optional dependency

    declared = zstandard.frame_content_size(stored.data)
    if declared != spec.nbytes:  # the buffer is allocated from the declared size
        raise IntegrityError(f"array {index} does not decompress to its size: its zstd"
                             f" frame declares {declared} bytes, the table {spec.nbytes}")
    out, filled = allocate(spec.nbytes), 0
    stream = zstandard.ZstdDecompressor().decompressobj()
    for begin in range(0, len(stored), _ZSTD_PIECE):
        piece = stream.decompress(stored[begin:begin + _ZSTD_PIECE].data)
        if filled + len(piece) > spec.nbytes:
            raise IntegrityError(f"array {index} decompresses to more than {spec.nbytes}"
                                 " bytes, its size")
        out[filled:filled + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
        filled += len(piece)
        if stream.eof:
            # A writer stores one frame: bytes after it would hide in the array section.
            extra = len(stored) - min(begin + _ZSTD_PIECE, len(stored)) + len(
                stream.unused_data)
            if extra:
                raise IntegrityError(f"array {index} does not decompress: compressed input"
                                     f" contains {extra} bytes of unused data")
            break
    if not stream.eof or filled != spec.nbytes:
        raise IntegrityError(f"array {index} decompresses to {filled} bytes, expected"
                             f" {spec.nbytes}")
    return out


def _too_large(index: int, spec: ArraySpec) -> LimitError:
    """The error for a compressed array whose decoded bytes cannot be allocated: within the
    ratio a reader accepts, a crafted file can still claim more than any machine has."""
    return LimitError(
        f"array {index} ({spec.dtype}, shape {spec.shape}) takes {spec.nbytes} bytes once"
        " decompressed, more memory than this process can allocate: load the file where more"
        " memory is free, and only if you know where it comes from")


def _fileno(handle: IO[bytes]) -> int | None:
    """The descriptor of a regular file whose bytes ``handle`` reads as they are, or None.

    Only a file that ``open`` made reads its descriptor's bytes: a decompressing
    reader (``gzip.open``, ``bz2.open``, ``lzma.open``) gives the descriptor of the
    compressed file, whose size and bytes are not the ones it reads.
    """
    if not isinstance(getattr(handle, "raw", handle), io.FileIO):
        return None
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
            raise mismatch(index, spec)
        specs.append(spec)
    if content_digest(header.tree, specs) != header.digest:
        raise IntegrityError(f"the content digest does not match: the header says {header.digest}"
                             ", the content gives another. The file was altered.")
