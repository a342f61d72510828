"""Reading a file's preamble, header and array table, each check in FORMAT.md's order.

Every check is cheap and runs before anything is allocated from a size the file
declares (``docs/FORMAT.md``, section 7): the preamble's magic, version and header
length; the header's hash, inflated size and JSON; each array-table entry; and the
layout of the array section.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import blake3
import orjson

from satchel.errors import FormatError, IntegrityError, LimitError, UnsupportedVersionError
from satchel.format import container, dtypes
from satchel.format.container import (
    ALIGNMENT,
    CODECS,
    FLAG_HEADER_DICTIONARY,
    FLAG_HEADER_ZLIB,
    FORMAT_MAJOR,
    HEADER_DICTIONARY,
    MAGIC,
    PREAMBLE_LAYOUT,
    PREAMBLE_SIZE,
    ArraySpec,
    Header,
    align,
    check_header_text,
    inflates_within,
)
from satchel.format.dtypes import dtype_from_json

#: The fix for a file of another format: a model saved by another library.
_RESAVE = "satchel never loads pickles; re-save the model with satchel.save() where it was trained."
_NOT_SATCHEL = (
    (b"\x80", "a pickle (joblib or pickle.dump wrote it)", _RESAVE),
    (b"PK\x03\x04", "a zip archive (a skops .skops file or similar)", _RESAVE),
    (b"\x1f\x8b", "a gzip stream", "if it holds a satchel file, decompress it (gunzip) or"
     " load gzip.open(path, 'rb'), which satchel reads; a compressed joblib file is a pickle,"
     " which satchel never loads: re-save that model with satchel.save() where it was"
     " trained."),
    (b"\x78", "a zlib stream (a compressed joblib file?)", _RESAVE),
    (b"\x28\xb5\x2f\xfd", "a zstd stream", _RESAVE),
    (b"\x04\x22\x4d\x18", "an lz4 frame", _RESAVE),
    (b"version https://git-lfs", "a Git LFS pointer, which stands for the file in the"
     " repository's LFS store", "fetch the file itself with git lfs pull."),
)


def _describe_foreign(start: bytes) -> str:
    """What a file that is no satchel file is, and what to do about it."""
    if not start:
        return ("an empty file (0 bytes): copy it again from where it was saved, or save the"
                " model again")
    for prefix, what, fix in _NOT_SATCHEL:
        if start.startswith(prefix):
            return f"{what}{'.' if fix is _RESAVE else ':'} {fix}"
    return f"bytes starting {start[:8]!r}. {_RESAVE}"


def cut_short(message: str) -> IntegrityError:
    """The error of a file cut short or with bytes added after it was written: damage, as
    a changed byte is (a command exits 4), not a file of another kind."""
    return IntegrityError(f"{message}. It was cut short or added to after it was written:"
                          " copy it again from where it was saved, or restore it from the"
                          " registry or a backup")


def parse_preamble(start: bytes, file_size: int) -> int:
    """Check the 64-byte preamble and return the header length."""
    if len(start) < PREAMBLE_SIZE or not start.startswith(MAGIC):
        if start.startswith(MAGIC):
            raise cut_short(f"the file is truncated: {file_size} bytes, not even a preamble")
        raise FormatError(
            f"not a satchel file: expected the magic bytes {MAGIC!r}, found"
            f" {_describe_foreign(start)}"
        )
    _, major, minor, flags, header_len, _, reserved = PREAMBLE_LAYOUT.unpack(start[:PREAMBLE_SIZE])
    if major != FORMAT_MAJOR:
        raise UnsupportedVersionError(
            f"the file uses satchel format {major}.{minor}; this satchel reads format"
            f" {FORMAT_MAJOR}.x. Install a satchel release that reads format {major}."
        )
    if flags & ~(FLAG_HEADER_ZLIB | FLAG_HEADER_DICTIONARY) or reserved != bytes(8) or (
            flags & FLAG_HEADER_DICTIONARY and not flags & FLAG_HEADER_ZLIB):
        raise FormatError("reserved preamble bytes are not zero: the file is damaged")
    if header_len > container.MAX_HEADER_BYTES:
        raise LimitError(
            f"the header declares {header_len} bytes; a reader accepts at most"
            f" {container.MAX_HEADER_BYTES} (satchel.format.container.MAX_HEADER_BYTES)"
        )
    if PREAMBLE_SIZE + header_len > file_size:
        raise cut_short(f"the file is truncated: the header needs {PREAMBLE_SIZE + header_len}"
                        f" bytes, the file has {file_size}")
    return int(header_len)


def parse_header(start: bytes, header_bytes: bytes, file_size: int | None) -> Header:
    """Verify and decode the header that follows ``start`` (the preamble).

    ``file_size`` None takes the size the layout gives (a stream, whose size is known
    only once it is read): the caller then checks that the file has that size.
    """
    expected = start[24:56]
    if blake3.blake3(start[:24] + header_bytes).digest() != expected:
        raise IntegrityError(
            "the header checksum does not match: the file was changed or damaged after it"
            " was written. Restore it from the registry or a backup."
        )
    flags = struct.unpack_from("<I", start, 12)[0]
    if flags & FLAG_HEADER_ZLIB:
        header_text = _inflate_header(header_bytes, bool(flags & FLAG_HEADER_DICTIONARY))
    else:
        header_text = header_bytes
    check_header_text(header_text)
    try:
        raw = orjson.loads(header_text)
    except orjson.JSONDecodeError as exc:
        if "memory" in str(exc) or "depth" in str(exc):
            raise LimitError(f"the header is too large, or nests deeper than a reader parses:"
                             f" {exc}") from None
        raise FormatError(f"the header is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not {"digest", "tree", "arrays", "metadata"} <= raw.keys():
        raise FormatError("the header must be an object with digest, tree, arrays and metadata")
    if not isinstance(raw["arrays"], list) or len(raw["arrays"]) > container.MAX_ARRAYS:
        raise LimitError(f"the array table must be a list of at most {container.MAX_ARRAYS}"
                         " entries")
    if not isinstance(raw["metadata"], dict) or not isinstance(raw["digest"], str):
        raise FormatError("header.metadata must be an object and header.digest a string")
    data_start = align(PREAMBLE_SIZE + len(header_bytes))
    specs = tuple(_spec_from_json(e, i) for i, e in enumerate(raw["arrays"]))
    end = _check_layout(specs, data_start, file_size)
    major, minor = struct.unpack_from("<HH", start, 8)
    return Header((major, minor), raw["digest"], raw["tree"], specs, raw["metadata"],
                  data_start, end, len(header_bytes))


def _inflate_header(data: bytes, dictionary: bool) -> bytes:
    inflater = zlib.decompressobj(zdict=HEADER_DICTIONARY) if dictionary else zlib.decompressobj()
    try:
        text = inflater.decompress(data, container.MAX_HEADER_BYTES)
    except zlib.error as exc:
        raise FormatError(f"the compressed header does not inflate: {exc}") from None
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise LimitError(f"the header inflates past {container.MAX_HEADER_BYTES} bytes or is"
                         " malformed")
    return text


_SPEC_KEYS = frozenset({"dtype", "shape", "order", "offset", "length", "blake3", "xxh3"})
_SPEC_KEYS_CODEC = _SPEC_KEYS | {"codec"}
_HEX = re.compile("[0-9a-f]*")


def _spec_from_json(entry: Any, index: int) -> ArraySpec:
    """One entry of the array table, checked; a forest's table holds thousands of them."""
    if type(entry) is not dict or not (entry.keys() == _SPEC_KEYS
                                       or entry.keys() == _SPEC_KEYS_CODEC):
        required = _SPEC_KEYS_CODEC if isinstance(entry, dict) and "codec" in entry else _SPEC_KEYS
        raise FormatError(f"{_where(index)}: expected exactly the keys {sorted(required)}")
    dtype = dtype_from_json(entry["dtype"], f"{_where(index)}.dtype")
    shape = entry["shape"]
    if type(shape) is not list or len(shape) > dtypes.MAX_NDIM or not all(
            type(n) is int and n >= 0 for n in shape):
        raise FormatError(f"{_where(index)}.shape: expected at most {dtypes.MAX_NDIM} non-negative"
                          " integers")
    offset, length, codec = entry["offset"], entry["length"], entry.get("codec")
    if type(offset) is not int or type(length) is not int or offset < 0 or length < 0:
        raise FormatError(f"{_where(index)}: offset and length must be non-negative integers")
    if entry["order"] not in ("C", "F") or codec not in (None, *CODECS):
        raise FormatError(f"{_where(index)}: order must be 'C' or 'F', codec one of {CODECS}")
    digest = _hex_digest(entry["blake3"], index, "blake3", 64)
    fast = entry["xxh3"]
    _hex_digest(fast, index, "xxh3", 16)
    spec = ArraySpec(dtype, tuple(shape), entry["order"], offset, length, digest, codec, fast)
    nbytes = spec.nbytes
    if codec is None and length != nbytes:
        raise FormatError(
            f"{_where(index)}: shape {tuple(shape)} x itemsize {dtype.itemsize} is {nbytes}"
            f" bytes, but {length} bytes are stored"
        )
    if codec is not None and not inflates_within(length, nbytes):
        raise LimitError(
            f"{_where(index)}: {length} compressed bytes claim to expand to {nbytes};"
            f" a reader accepts a ratio of at most {container.MAX_COMPRESSION_RATIO}"
            " (satchel.format.container.MAX_COMPRESSION_RATIO)"
        )
    return spec


def _where(index: int) -> str:
    return f"header.arrays[{index}]"


def _hex_digest(text: Any, index: int, key: str, digits: int) -> bytes:
    if type(text) is not str or len(text) != digits or not _HEX.fullmatch(text):
        raise FormatError(f"{_where(index)}.{key}: expected {digits} hex digits")
    return bytes.fromhex(text)


def _check_layout(specs: Sequence[ArraySpec], data_start: int, file_size: int | None) -> int:
    """Arrays must sit exactly where a writer puts them: in order, aligned, no gaps, and the
    file must end with the last (unless ``file_size`` is None). Return where it ends."""
    expected = 0
    end = data_start
    packed = inflated = 0
    for index, spec in enumerate(specs):
        if spec.offset != expected:
            raise FormatError(
                f"header.arrays[{index}].offset: expected {expected} (arrays follow each other"
                f" at {ALIGNMENT}-byte boundaries), found {spec.offset}"
            )
        end = data_start + spec.offset + spec.length
        expected = align(spec.offset + spec.length)
        if spec.codec is not None:
            packed, inflated = packed + spec.length, inflated + spec.nbytes
    if not inflates_within(packed, inflated, container.MAX_INFLATED_FLOOR):
        raise LimitError(
            f"the compressed arrays' {packed} bytes claim to expand to {inflated} together; a"
            f" reader accepts at most max({container.MAX_COMPRESSION_RATIO} * their bytes,"
            f" {container.MAX_INFLATED_FLOOR >> 20} MiB)"
            " (satchel.format.container.MAX_INFLATED_FLOOR)")
    if file_size is not None and end != file_size:
        what = "truncated" if end > file_size else "followed by unexpected bytes"
        raise cut_short(f"the file is {what}: the layout ends at byte {end}, the file at"
                        f" {file_size}")
    return end
