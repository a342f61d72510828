"""The satchel container: preamble, JSON header and the aligned array section.

This module turns ``(tree, arrays, metadata)`` into bytes. It knows
nothing of Python objects beyond numpy arrays; :mod:`satchel.format.encoder`
and :mod:`satchel.format.decoder` build the tree, and :mod:`satchel.format.dtypes`
describes the arrays' dtypes. ``docs/FORMAT.md`` is the specification; the
constants below are the ones it names.

Reading is defensive (:mod:`satchel.format.parsing`): every check is cheap, runs in
a fixed order and runs before anything is allocated from a size the file declares.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import blake3
import numpy as np
import orjson
import xxhash

from satchel.errors import (
    EncodeError,
    LimitError,
    MissingPackageError,
)
from satchel.format.dtypes import dtype_to_json
from satchel.format.threads import Worker, blake3_digest, blake3_of

MAGIC = b"\x89SATCHEL"
FORMAT_MAJOR = 1
FORMAT_MINOR = 4
PREAMBLE_SIZE = 64
ALIGNMENT = 64
HASH_SIZE = 32
PREAMBLE_LAYOUT = struct.Struct("<8sHHIQ32s8s")

#: Limits a reader enforces before it allocates anything (see FORMAT.md, "Limits").
MAX_HEADER_BYTES = 64 * 1024**2
MAX_ARRAYS = 1_000_000
#: Containers (JSON objects and arrays) a header may hold, counted before parsing:
#: a forest of 200 deep trees has well under 100,000.
MAX_NODES = 1_000_000
#: Values (and keys) a header may hold, counted before parsing as the characters that
#: come before each: ``[``, ``{``, ``,`` and ``:``. Parsed, a short string costs about
#: 100 bytes: without this a 60 KB file of a highly compressed header of one-letter
#: strings became 16 million of them (1.5 GB), and a 6 KB one 4 million (400 MB). A
#: DataFrame's schema takes about 10 per column.
MAX_VALUES = 4_000_000
MAX_COMPRESSION_RATIO = 4096
#: What a file's compressed arrays may claim together beyond that ratio: each may claim
#: 1 MiB, so without a bound on their sum a file of thousands of tiny frames would claim
#: gigabytes (4000 frames of 49 bytes, 4 GiB).
MAX_INFLATED_FLOOR = 64 << 20
_HASH_THREADS_FROM = 1 << 20
#: Preamble flag: the header is stored zlib-compressed (it is mostly repeated keys).
FLAG_HEADER_ZLIB = 1
#: Preamble flag (with FLAG_HEADER_ZLIB): deflated with HEADER_DICTIONARY preset.
FLAG_HEADER_DICTIONARY = 2
#: A deflate stored block of no bytes (not final): padding that inflates to nothing.
_EMPTY_BLOCK = b"\x00\x00\x00\xff\xff"
#: zlib's preset dictionary for headers (FORMAT.md, appendix A): text that headers
#: usually hold, so that even a small model's header compresses well. Never changes
#: within format 1: files written with it must stay readable.
HEADER_DICTIONARY = "".join((
    '{"digest":"blake3:', '"tree":', '"arrays":[', '"metadata":{',
    '{"$":"dict","v":{', '{"$":"tuple","v":[', '{"$":"ref","to":', '{"$":"type","name":"numpy:',
    '{"$":"func","name":"', '{"$":"objarray","shape":[', '"order":"C","v":["',
    '{"$":"strs","a":', '{"$":"npscalar","dtype":"<f8","hex":"',
    '"n_jobs":null,', '"random_state":null,', '"verbose":0,', '"verbose":false,', '"copy":true,',
    '"max_iter":100,', '"tol":0.0001,', '"warm_start":false,', '"fit_intercept":true,',
    '"class_weight":null,', '"max_depth":null,', '"criterion":"', '"max_features":',
    '"min_samples_split":2,', '"min_samples_leaf":1,', '"min_weight_fraction_leaf":0.0,',
    '"max_leaf_nodes":null,', '"min_impurity_decrease":0.0,', '"ccp_alpha":0.0,',
    '"monotonic_cst":null,', '"n_estimators":100,', '"n_outputs_":1,', '"n_classes_":',
    '"estimators_":', '"estimator":', '"learning_rate":', '"loss":"', '"classes_":',
    '"coef_":', '"intercept_":', '"n_iter_":', '"feature_names_in_":', '"n_features_in_":',
    '"steps":[', '"memory":null,', '"transform_input":null,', '"transformers":[',
    '"remainder":"drop",', '"sparse_threshold":0.3,', '"transformer_weights":null,',
    '"verbose_feature_names_out":true,', '"handle_unknown":"ignore",', '"categories_":[',
    '"with_mean":true,"with_std":true,', '"mean_":', '"var_":', '"scale_":',
    '"n_samples_seen_":', '{"$":"obj","cls":"sklearn.tree._classes:DecisionTree',
    '{"$":"news","cls":"sklearn.tree._tree:Tree","n":', '"node_count":', '"nodes":',
    '"values":', '{"$":"cat","v":', '"lens":', '{"$":"same","v":', '{"$":"each","v":[',
    '"state":{"$":"cols","v":{', '"names":["left_child","right_child","feature","threshold",'
    '"impurity","n_node_samples","weighted_n_node_samples","missing_go_to_left"],'
    '"formats":["<i8","<i8","<i8","<f8","<f8","<i8","<f8","|u1"],'
    '"offsets":[0,8,16,24,32,40,48,56],"itemsize":64}',
    '"environment":{"satchel":"', '"created":"20', '"python":"3.', '"implementation":"CPython",',
    '"platform":"Linux-x86_64","packages":{"scikit-learn":"1.', '"numpy":"2.', '"scipy":"1.',
    '"pandas":"', '"schema":{"input":{"kind":"array","n_features":', '"kind":"frame","columns":[',
    '{"name":"', '"nullable":false', '"output":{"dtype":null,"classes":[', '"check":{"rows":',
    '"code":[', '"user":{', '{"$":"obj","cls":"sklearn.', '","state":{"$":"dict","v":{',
    '{"$":"nd","a":', '{"$":"nd","dtype":"<f8","shape":[', '],"b64":"', '"_sklearn_version":"1.',
    '{"dtype":"<f8","shape":[', '{"dtype":"<i8","shape":[', '],"order":"C","offset":',
    ',"length":', ',"blake3":"', '","xxh3":"', '"},{"dtype":',
)).encode("utf-8")
_HEADER_ZLIB_FROM = 512
#: Level 6 writes a forest's header in two thirds of level 9's time, 0.2% larger.
_HEADER_LEVEL = 6
#: Arrays up to this many bytes are stored in the header, base64-encoded: a
#: table entry and its alignment padding would cost more than the data.
INLINE_MAX = 256
#: With a codec, arrays of at least this many bytes are compressed (when it pays).
_COMPRESS_FROM = 256
_THREADS_FROM = 4 << 20
#: The most bytes an lz4 block holds (LZ4_MAX_INPUT_SIZE): larger arrays are stored plain.
_LZ4_MAX = 0x7E000000

Codec = Literal["zstd", "lz4"]
CODECS: tuple[Codec, ...] = ("zstd", "lz4")
_DIGEST_TAG = b"satchel/1 content digest\n"


class ArraySpec(NamedTuple):
    """One entry of the array table: where an array's bytes are and what they mean.

    A named tuple: a forest's table holds thousands, and each load builds them all.
    """

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    order: Literal["C", "F"]
    offset: int
    length: int
    digest: bytes
    codec: Codec | None = None
    checksum: str = ""

    @property
    def nbytes(self) -> int:
        """Size of the array once decoded."""
        count = 1
        for n in self.shape:
            count *= n
        return count * self.dtype.itemsize


@dataclass(frozen=True)
class Header:
    """A parsed, verified header."""

    version: tuple[int, int]
    digest: str
    tree: Any
    arrays: tuple[ArraySpec, ...]
    metadata: dict[str, Any]
    data_start: int
    file_size: int
    header_len: int


def align(n: int) -> int:
    """Round ``n`` up to the next multiple of :data:`ALIGNMENT`."""
    return -(-n // ALIGNMENT) * ALIGNMENT


def inflates_within(length: int, nbytes: int, floor: int = 1 << 20) -> bool:
    """Whether ``length`` compressed bytes may decode to ``nbytes``: at most
    :data:`MAX_COMPRESSION_RATIO` times as many, or ``floor`` (1 MiB for one array,
    :data:`MAX_INFLATED_FLOOR` for all the compressed arrays of a file)."""
    return nbytes <= max(length * MAX_COMPRESSION_RATIO, floor)


# ------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Payload:
    """An array ready to be written: its table entry and the bytes to store."""

    spec: ArraySpec
    data: memoryview


@dataclass(frozen=True)
class Joined:
    """Arrays stored as one: their bytes one after the other, joined only if a codec needs it.

    A column of objects (``cat``, FORMAT.md section 3) is one array in the file.
    Streamed saves write its parts one after the other and hash them as they go,
    so that a forest's nodes are never copied into one buffer first.
    """

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    parts: tuple[memoryview, ...]
    nbytes: int

    @classmethod
    def of(cls, arrays: Sequence[np.ndarray[Any, Any]]) -> Joined:
        """The rows of ``arrays`` (same dtype and row shape), byte for byte, padding included.

        ``np.concatenate`` would pack record dtypes (drop their padding), which
        compiled code would then have to convert back.
        """
        first = arrays[0]
        rows = sum(map(len, arrays))
        parts = tuple((a if a.flags.c_contiguous else np.ascontiguousarray(a))
                      .reshape(-1).view(np.uint8).data for a in arrays if a.size)
        return cls(first.dtype, (rows, *first.shape[1:]), parts, sum(map(len, parts)))

    def array(self) -> np.ndarray[Any, Any]:
        """The joined array, copied into one buffer."""
        joined = bytearray().join(self.parts)  # one C copy, writable like the originals
        return np.frombuffer(joined, dtype=self.dtype).reshape(self.shape)


#: An array as the encoder hands it to the writer.
Stored = np.ndarray[Any, Any] | Joined


def raw_parts(array: Stored) -> tuple[Sequence[memoryview], Literal["C", "F"]]:
    """The array's bytes in storage order, as parts to write one after the other."""
    if isinstance(array, Joined):
        return array.parts, "C"
    data, order = raw_view(array)
    return (data,), order


def raw_view(array: Stored) -> tuple[memoryview, Literal["C", "F"]]:
    """The array's bytes in storage order, without a copy where the layout allows."""
    if isinstance(array, Joined):
        return array.array().reshape(-1).view(np.uint8).data, "C"
    if array.flags.c_contiguous:
        return array.reshape(-1).view(np.uint8).data, "C"
    if array.flags.f_contiguous:
        return array.T.reshape(-1).view(np.uint8).data, "F"
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).data, "C"


def checksum(data: memoryview | bytes | bytearray) -> str:
    """The fast integrity checksum of stored bytes: XXH3-64, as 16 hex digits."""
    return xxhash.xxh3_64_hexdigest(data)


def hash_bytes(*parts: memoryview | bytes) -> bytes:
    """BLAKE3 of ``parts`` one after the other, using every core for large buffers."""
    if sum(map(len, parts)) >= _HASH_THREADS_FROM:
        return blake3_digest(*parts)
    return blake3_of(parts, 1)


def require_codec(codec: Codec) -> None:
    """Refuse ``codec`` when its package is not installed, before anything is encoded.

    Raises:
        MissingPackageError: the package is missing; the message names it and the extra.
    """
    try:
        if codec == "zstd":
            import zstandard  # noqa: F401, PLC0415 - optional dependency
        else:
            import lz4.block  # noqa: F401, PLC0415 - optional dependency
    except ImportError:
        package = "zstandard" if codec == "zstd" else "lz4"
        raise MissingPackageError(f"compress={codec!r} needs the {package} package, which"
                                  " is not installed: pip install 'satchel[compression]', or"
                                  " save without compress=") from None


def compress(parts: Sequence[memoryview], codec: Codec,
             compressor: Callable[[], Any] | None = None) -> bytes | bytearray:
    """Compress the bytes of ``parts``, one after the other, as one frame of ``codec``.

    zstd reads the parts where they are (a forest's trees' nodes are never joined in
    memory first); the frame states the size they make together. ``compressor()`` gives
    the zstd compressor to use when one core is enough, one of this thread (a new one
    otherwise).
    """
    size = sum(map(len, parts))
    if codec == "zstd":
        import zstandard  # noqa: PLC0415 - optional dependency

        if threaded_zstd(size):
            try:
                return _zstd(zstd_compressor(threaded=True), parts, size)
            except zstandard.ZstdError:  # its worker threads could not start: compress here
                pass
        one = compressor() if compressor else zstd_compressor(threaded=False)
        return _zstd(one, parts, size)
    import lz4.block  # noqa: PLC0415 - optional dependency

    data = parts[0] if len(parts) == 1 else b"".join(parts)
    return bytes(lz4.block.compress(data, store_size=False))


def threaded_zstd(size: int) -> bool:
    """Whether ``size`` bytes are compressed with zstd on every core: enough to repay
    starting its worker threads."""
    return size >= 4 * _HASH_THREADS_FROM


def reused_zstd() -> Callable[[], Any]:
    """The single-threaded zstd compressor of one save, made on first use and given again
    after: a new one for each array allocates and clears its tables again. Not to be shared
    between threads."""
    return functools.cache(functools.partial(zstd_compressor, threaded=False))


def zstd_compressor(threaded: bool) -> Any:
    """satchel's zstd compressor (level 3), on every core if ``threaded``. Its worker
    threads may fail to start, which its first compression reports as a ``ZstdError``."""
    import zstandard  # noqa: PLC0415 - optional dependency

    return zstandard.ZstdCompressor(level=3, threads=-1 if threaded else 0)


def _zstd(compressor: Any, parts: Sequence[memoryview], size: int) -> bytes | bytearray:
    if len(parts) == 1:
        return bytes(compressor.compress(parts[0]))
    stream, packed = compressor.compressobj(size=size), bytearray()
    for part in parts:
        packed += stream.compress(part)
    packed += stream.flush()
    return packed


#: What :func:`_stored` gives for an array: (stored bytes, order, BLAKE3, codec used).
_Kept = tuple[memoryview, Literal["C", "F"], bytes, Codec | None]


def _stored(array: Stored, codec: Codec | None,
            compressor: Callable[[], Any] | None = None) -> _Kept:
    """(stored bytes, order, BLAKE3 of the raw bytes, codec used) of one array, compressed
    with ``compressor()`` (:func:`compress`).

    A concatenated column is hashed and compressed with zstd from its members' bytes,
    and joined only if it is stored raw.
    """
    parts: Sequence[memoryview]
    order: Literal["C", "F"]
    if codec == "zstd" and isinstance(array, Joined) and len(array.parts) > 1:
        parts, order = array.parts, "C"
    else:
        data, order = raw_view(array)
        parts = (data,)
    digest = hash_bytes(*parts)
    if codec is not None and may_compress(array, codec):
        packed = compress(parts, codec, compressor)
        if kept_compressed(len(packed), array.nbytes):
            return memoryview(packed), order, digest, codec
    return (parts[0] if len(parts) == 1 else raw_view(array)[0]), order, digest, None


def kept_compressed(length: int, nbytes: int) -> bool:
    """Whether an array of ``nbytes`` compressed to ``length`` bytes is stored so: if it is
    smaller, and not so much smaller that a reader would refuse it as a decompression bomb
    (a large constant array: zstd shrinks 24 MiB of ones to 2 KiB)."""
    return length < nbytes and inflates_within(length, nbytes)


def may_compress(array: Stored, codec: Codec | None) -> bool:
    """Whether ``array`` is compressed with ``codec`` where that pays: it is large enough,
    and within what one block of the codec holds."""
    return codec is not None and array.nbytes >= _COMPRESS_FROM and (
        codec == "zstd" or array.nbytes <= _LZ4_MAX)


def prepare(arrays: Sequence[Stored], codec: Codec | None) -> list[Payload]:
    """Hash, optionally compress and lay out ``arrays`` in file order.

    Hashing and compression release the GIL, so arrays are processed on two
    threads when there are several and enough bytes to repay starting a thread.
    """
    if len(arrays) > 1 and sum(a.nbytes for a in arrays) >= _THREADS_FROM:
        with Worker(threads=2) as pool:
            stored = pool.map(lambda a: _stored(a, codec), arrays)
    else:
        compressor = reused_zstd()
        stored = [_stored(a, codec, compressor) for a in arrays]
    payloads: list[Payload] = []
    offset = 0
    budget = Budget()
    for array, kept in zip(arrays, stored, strict=True):
        data, order, digest, used = kept
        if used is not None and not budget.admits(len(data), array.nbytes):
            (data, order), used = raw_view(array), None
        spec = ArraySpec(array.dtype, tuple(array.shape), order, offset, len(data), digest, used,
                         checksum(data))
        payloads.append(Payload(spec, data))
        offset = align(offset + len(data))
    return payloads


class Budget:
    """What a file's compressed arrays claim together, in file order: those that would take
    it past what a reader accepts (:data:`MAX_INFLATED_FLOOR` beyond the ratio) are stored
    plain instead."""

    def __init__(self) -> None:
        self.packed = self.inflated = 0

    def admits(self, length: int, nbytes: int) -> bool:
        """Whether an array of ``nbytes`` stored in ``length`` compressed bytes stays within
        the budget; if it does, it is counted."""
        if not inflates_within(self.packed + length, self.inflated + nbytes, MAX_INFLATED_FLOOR):
            return False
        self.packed, self.inflated = self.packed + length, self.inflated + nbytes
        return True


def content_digest(tree: Any, specs: Sequence[ArraySpec]) -> str:
    """The cryptographic digest of a model: its tree and its arrays' values.

    Offsets, compression and metadata stay out, so the same fitted object has
    the same digest however it was stored.
    """
    hasher = blake3.blake3(_DIGEST_TAG)
    hasher.update(_json(tree))
    for spec in specs:
        hasher.update(orjson.dumps([dtype_to_json(spec.dtype), spec.shape, spec.order]))
        hasher.update(spec.digest)
    return "blake3:" + hasher.hexdigest()


def _spec_to_json(spec: ArraySpec) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "dtype": dtype_to_json(spec.dtype),
        "shape": list(spec.shape),
        "order": spec.order,
        "offset": spec.offset,
        "length": spec.length,
        "blake3": spec.digest.hex(),
        "xxh3": spec.checksum,
    }
    if spec.codec is not None:
        entry["codec"] = spec.codec
    return entry


def build_header(tree: Any, specs: Sequence[ArraySpec], metadata: dict[str, Any]) -> bytes:
    """The JSON header of a file, uncompressed.

    Raises:
        EncodeError: a reader would refuse the header as too large.
    """
    text = _json({
        "digest": content_digest(tree, specs),
        "tree": tree,
        "arrays": [_spec_to_json(s) for s in specs],
        "metadata": metadata,
    })
    try:
        check_header_text(text)
    except LimitError as exc:
        raise EncodeError(
            f"cannot save: {exc}. Store long lists of numbers as numpy arrays, join many"
            " small arrays or lists into fewer large arrays, and keep large text out of the"
            " metadata."
        ) from None
    return text


def check_header_text(text: bytes) -> None:
    """Refuse header text past the size and the count of objects a reader accepts.

    Raises:
        LimitError: ``text`` is too large or holds too many objects and lists, or values.
    """
    if len(text) > MAX_HEADER_BYTES:
        raise LimitError(f"the header takes {len(text)} bytes; a reader accepts at most"
                         f" {MAX_HEADER_BYTES} (satchel.format.container.MAX_HEADER_BYTES)")
    containers = text.count(b"[") + text.count(b"{")
    if containers > MAX_NODES:
        raise LimitError(f"the header holds more than {MAX_NODES} objects and lists; a reader"
                         " accepts at most that many (satchel.format.container.MAX_NODES)")
    if containers + text.count(b",") + text.count(b":") > MAX_VALUES:
        raise LimitError(f"the header holds more than {MAX_VALUES} values; a reader accepts"
                         " at most that many (satchel.format.container.MAX_VALUES)")


#: Why an object nested past what the format can hold is refused at save.
NESTED_TOO_DEEP = ("the object nests too deeply to be stored (each dict, set or list inside"
                   " another adds a level, and a file holds at most 255 levels of JSON);"
                   " flatten the nesting")


def _json(value: Any) -> bytes:
    """``value`` as JSON; text that is not valid Unicode is an :class:`EncodeError`."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        if "surrogates" in str(exc):
            raise EncodeError(
                f"cannot save: {exc}. A string holds a lone surrogate (as os.fsdecode makes of"
                " undecodable bytes), which is not valid Unicode text and cannot be stored as"
                " UTF-8; store such a value as bytes instead."
            ) from None
        if "Recursion limit" in str(exc):
            raise EncodeError(f"cannot save: {NESTED_TOO_DEEP}") from None
        raise EncodeError(
            f"cannot save: {exc}. The metadata must be JSON: strings, numbers, booleans,"
            " None, and lists and dicts of them with string keys."
        ) from None


def deflate_header(header: bytes, size: range | None = None) -> bytes:
    """zlib of ``header`` with the preset dictionary, padded to a length in ``size``.

    Padding is empty stored blocks (five bytes each), which inflate to nothing:
    a streamed file reserves room for its header before the hashes are known.

    Raises:
        ValueError: the compressed header does not fit ``size``.
    """
    deflater = zlib.compressobj(_HEADER_LEVEL, zdict=HEADER_DICTIONARY)
    stream = deflater.compress(header)
    if size is not None:
        stream += deflater.flush(zlib.Z_SYNC_FLUSH)  # ends on a byte-aligned block boundary
        # The last flush adds an empty final block and the Adler-32: 6 bytes.
        stream += _EMPTY_BLOCK * max(0, -(-(size.start - len(stream) - 6) // 5))
    stream += deflater.flush()
    if size is not None and len(stream) not in size:
        raise ValueError(f"the header takes {len(stream)} bytes, not {size.start}..{size.stop}")
    return stream


def preamble(header: bytes, flags: int) -> bytes:
    """The 64-byte preamble in front of the stored ``header``."""
    start = PREAMBLE_LAYOUT.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, flags, len(header), bytes(32),
                           bytes(8))[:24]
    return start + blake3.blake3(start + header).digest() + bytes(8)


def serialize(
    tree: Any, arrays: Sequence[Stored], metadata: dict[str, Any],
    codec: Codec | None = None,
) -> Iterator[bytes | memoryview]:
    """Yield the bytes of a whole satchel file, chunk by chunk."""
    payloads = prepare(arrays, codec)
    header = build_header(tree, [p.spec for p in payloads], metadata)
    flags = 0
    if len(header) >= _HEADER_ZLIB_FROM:
        header, flags = deflate_header(header), FLAG_HEADER_ZLIB | FLAG_HEADER_DICTIONARY
    yield preamble(header, flags)
    yield header
    position = PREAMBLE_SIZE + len(header)
    data_start = align(position)
    yield bytes(data_start - position)
    for payload in payloads:
        here = data_start + payload.spec.offset
        if here > position and payload is not payloads[0]:
            yield bytes(here - position)
        yield payload.data
        position = here + payload.spec.length
