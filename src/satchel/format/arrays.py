"""Reading a file's arrays from an open file: on demand, verified, in chunks.

A load reads a larger file's arrays as the decoder reaches them
(:class:`FileArrays`), and the arrays it never reaches at the end, so that it
still checks every byte. Each is read into a buffer of its own, with the padding
before it, and hashed on a second thread while the next chunk is read. An array
whose objects copy it out (a forest's tree nodes) can be read as a
:class:`Stream`: a piece at a time through two reused buffers, without the fresh
memory a buffer of its whole size costs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from typing import IO, Any

import numpy as np
import xxhash

from satchel.errors import FormatError, IntegrityError
from satchel.format.container import PREAMBLE_SIZE, ArraySpec, Header
from satchel.format.threads import Worker

#: Bytes read (and hashed) at a time.
CHUNK = 8 << 20
PIPELINE_FROM = 2 * CHUNK

Buffer = np.ndarray[Any, np.dtype[np.uint8]]


def allocate(size: int) -> Buffer:
    """A writable buffer of ``size`` bytes.

    numpy's allocator is the fastest to fill in a fresh process here: asking for
    transparent huge pages makes the first large allocation wait for compaction.
    """
    return np.empty(size, dtype=np.uint8)


def mismatch(index: int, spec: ArraySpec) -> IntegrityError:
    """The error for array ``index``, whose bytes do not match its checksum."""
    return IntegrityError(
        f"array {index} ({spec.dtype}, shape {spec.shape}) does not match its checksum: the"
        " file was changed or damaged after it was written. Restore it from the registry or a"
        " backup."
    )


Progress = Callable[[int, int], None]


class FileArrays:
    """The arrays of an open file, read and verified on demand.

    Every array is read with the padding before it, which must be zero, and
    checked against its checksum before it is returned. :meth:`finish` reads
    what was never asked for and leaves ``handle`` after the file, where a full
    read leaves it.
    """

    def __init__(self, handle: IO[bytes], header: Header, base: int, check: bool = True
                 ) -> None:
        self.handle = handle
        self.header = header
        self.base = base
        #: Whether arrays are checked against their checksums (a load's ``check_arrays``).
        self.check = check
        #: Arrays read or streamed whole and found to match their checksums.
        self.done: set[int] = set()
        self._worker: Worker | None = None

    def read(self, indices: Iterable[int], progress: Progress | None = None) -> list[Buffer]:
        """Arrays ``indices`` (ascending), each in a buffer of its own, verified.

        A read of :data:`PIPELINE_FROM` bytes or more hashes one chunk on a
        worker thread while the next is read.
        """
        specs = self.header.arrays
        wanted = list(indices)
        parts = [allocate(specs[index].length) for index in wanted]
        hashers = [xxhash.xxh3_64() for _ in parts]
        batches = _read_arrays(self, wanted, parts, hashers, progress)
        if not self.check:
            for _ in batches:  # each batch is read as it is asked for
                pass
            return parts
        if sum(len(part) for part in parts) < PIPELINE_FROM:
            for batch in batches:
                _hash(batch)
        else:
            pending = [self.worker().submit(_hash, batch) for batch in batches]
            for future in pending:
                future.result()
        for index, hasher in zip(wanted, hashers, strict=True):
            if hasher.hexdigest() != specs[index].checksum:
                raise mismatch(index, specs[index])
        self.done.update(wanted)
        return parts

    def stream(self, index: int, largest: int) -> Stream:
        """Array ``index`` read in pieces of up to ``largest`` bytes (see :class:`Stream`)."""
        return Stream(self, index, largest)

    def seek(self, position: int) -> int:
        """Move to ``position`` (from the start of the satchel file); return it."""
        self.handle.seek(self.base + position)
        return position

    def worker(self) -> Worker:
        """The thread that hashes while the next bytes are read."""
        if self._worker is None:
            self._worker = Worker()
        return self._worker

    def gap_before(self, index: int) -> int:
        """Where the padding before array ``index`` starts."""
        if not index:
            return PREAMBLE_SIZE + self.header.header_len
        before = self.header.arrays[index - 1]
        return self.header.data_start + before.offset + before.length

    def read_all(self, progress: Progress | None = None) -> list[Buffer]:
        """Read and verify every array (and the padding of a file without arrays)."""
        self._check_empty()
        return self.read(range(len(self.header.arrays)), progress)

    def finish(self) -> None:
        """Verify every array not read yet, one at a time (what a buffer could hold is then
        bounded by the largest), and leave the handle after the file."""
        self._check_empty()
        for index in range(len(self.header.arrays)):
            if self.check and index not in self.done:
                self.read([index])
        self.seek(self.header.file_size)
        self.close()

    def _check_empty(self) -> None:
        """A file without arrays: the padding after its header must be zero."""
        if not self.header.arrays:
            _read_padding(self.handle, self.seek(self.gap_before(0)), self.header.data_start)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown()
            self._worker = None


class Stream:
    """One array read front to back in pieces, through two buffers used in turn.

    Each piece of a large array is hashed on the worker while the caller uses it
    and the next is read into the other buffer, so a caller must be done with a
    piece before it asks for the one after the next. The padding before the
    array is checked when the stream opens; the checksum when it closes
    (:meth:`close`, which reads whatever the caller did not ask for, so that a
    caller that fails on damaged bytes can learn that they were damaged).
    """

    def __init__(self, file: FileArrays, index: int, largest: int) -> None:
        header, spec = file.header, file.header.arrays[index]
        self.file, self.index, self.spec = file, index, spec
        self.position = _read_padding(file.handle, file.seek(file.gap_before(index)),
                                      header.data_start + spec.offset)
        self.end = self.position + spec.length
        size = max(1, min(largest, spec.length))
        self.buffers = [allocate(size), allocate(size)]
        self.pending: list[Future[None] | None] = [None, None]
        self.turn = 0
        self.hasher = xxhash.xxh3_64()
        #: Whether pieces are hashed on the worker (for arrays as large as a pipelined read).
        self.pipelined = spec.length >= PIPELINE_FROM

    def next(self, size: int) -> Buffer:
        """The next ``size`` bytes of the array."""
        if size > len(self.buffers[0]) or self.position + size > self.end:
            raise FormatError(f"array {self.index} is read past its end or in a piece larger"
                              " than its reader's buffer")
        slot, self.turn = self.turn, self.turn ^ 1
        waiting = self.pending[slot]
        if waiting is not None:
            waiting.result()
        piece = self.buffers[slot][:size]
        self.file.seek(self.position)
        self.position = fill(self.file.handle, piece.data, self.position)
        if self.pipelined and self.file.check:
            self.pending[slot] = self.file.worker().submit(self.hasher.update, piece.data)
        elif self.file.check:
            self.hasher.update(piece.data)
        return piece

    def close(self) -> None:
        """Read what is left, then check the array's checksum.

        Raises:
            IntegrityError: the array does not match its checksum.
        """
        if not self.file.check:
            return
        while self.position < self.end:
            self.next(min(len(self.buffers[0]), self.end - self.position))
        for waiting in self.pending:
            if waiting is not None:
                waiting.result()
        if self.hasher.hexdigest() != self.spec.checksum:
            raise mismatch(self.index, self.spec)
        self.file.done.add(self.index)


def read_exactly(handle: IO[bytes], position: int, count: int) -> bytes:
    """The next ``count`` bytes of ``handle``, which is at ``position``."""
    buffer = allocate(count)
    fill(handle, buffer.data, position)
    return buffer.tobytes()


def fill(handle: IO[bytes], view: memoryview, position: int) -> int:
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


def _read_arrays(file: FileArrays, indices: list[int], parts: Sequence[Buffer],
                 hashers: Sequence[Any], progress: Progress | None) -> Iterator[Batch]:
    """Read arrays ``indices`` of the array section into ``parts``, checking the padding
    before each as it passes.

    Yields what arrived in batches of about :data:`CHUNK` bytes, each piece with
    the hasher of its array, so that a worker can hash one batch while the next
    is read. Arrays in a row are read without seeking.
    """
    header, handle = file.header, file.handle
    position = -1
    batch: Batch = []
    batched = 0
    for index, part, hasher in zip(indices, parts, hashers, strict=True):
        spec = header.arrays[index]
        if position != file.gap_before(index):
            position = file.seek(file.gap_before(index))
        position = _read_padding(handle, position, header.data_start + spec.offset)
        for begin in range(0, spec.length, CHUNK):
            piece = part[begin:begin + CHUNK].data
            position = fill(handle, piece, position)
            batch.append((hasher, piece))
            batched += len(piece)
            if batched >= CHUNK:
                yield batch
                batch, batched = [], 0
                if progress is not None:
                    progress(position, header.file_size)
    if batch:
        yield batch
    if progress is not None:
        progress(header.file_size, header.file_size)


def _read_padding(handle: IO[bytes], position: int, end: int) -> int:
    """Read the padding up to ``end``, which must be zero; return the position after it."""
    if end <= position:
        return position
    if any(read_exactly(handle, position, end - position)):
        raise IntegrityError(f"padding bytes {position}..{end} are not zero: the file was"
                             " changed or damaged after it was written")
    return end


def _hash(batch: Batch) -> None:
    for hasher, piece in batch:
        hasher.update(piece)
