"""The byte layout of FORMAT.md: pinned bytes, layout rules, integrity and limits."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import satchel
from satchel.format import arrays, container, dtypes, reader, writer
from satchel.format.encoder import encode

PINNED_PREAMBLE = bytes.fromhex(
    "895341544348454c01000400000000005701000000000000"
    "9dab19cfb1bb0dee52be66daed382f5fc7b57373894f63732660ee6bf4e5bd0c"
    "0000000000000000"
)
PINNED_HEADER = (
    b'{"digest":"blake3:34aa29968619f4cfc10092ddf1ba0e17f07c02a9f2aa3f96924205ce4edf9dae","t'
    b'ree":{"$":"dict","v":{"name":"demo","weights":{"$":"nd","a":0}}},"arrays":[{"dtype":"<'
    b'i4","shape":[80],"order":"C","offset":0,"length":320,"blake3":"5b0727e15b62118281bc9ce'
    b'ecb3fbaecaf94a19c0e0db4b3de158574c8dd3083","xxh3":"323cf69d28c5f234"}],"metadata":{}}'
)


def pinned_object() -> dict[str, Any]:
    """The small object whose bytes FORMAT.md's layout is pinned by."""
    return {"name": "demo", "weights": np.arange(80, dtype="<i4")}


def format_bytes(obj: Any) -> bytes:
    """The format layer's bytes for ``obj`` with empty metadata (no timestamps)."""
    tree, arrays = encode(obj)
    return b"".join(container.serialize(tree, arrays, {}))


def test_exact_bytes_of_a_small_object() -> None:
    """A small dict with one array is written exactly as FORMAT.md describes."""
    data = format_bytes(pinned_object())
    header_end = 64 + len(PINNED_HEADER)
    assert data[:64] == PINNED_PREAMBLE
    assert data[64:header_end] == PINNED_HEADER
    assert data[header_end:448] == bytes(448 - header_end)  # padding to data_start = 448
    assert data[448:] == np.arange(80, dtype="<i4").tobytes()
    assert len(data) == 448 + 320


def test_preamble_fields() -> None:
    """The preamble holds magic, version 1.4, flags, header length and the header hash."""
    magic, major, minor, flags, length, _, reserved = struct.unpack(
        "<8sHHIQ32s8s", PINNED_PREAMBLE)
    assert (magic, major, minor, flags, length, reserved) == (
        b"\x89SATCHEL", 1, 4, 0, len(PINNED_HEADER), bytes(8))


def test_large_header_is_zlib_compressed(forest: Any) -> None:
    """Headers of 512 bytes or more are stored with flag bits 0 and 1: zlib, preset dictionary."""
    data = satchel.dumps(forest)
    assert struct.unpack_from("<I", data, 12)[0] == 3
    length = struct.unpack_from("<Q", data, 16)[0]
    assert data[64] == 0x78  # zlib stream
    assert data[65] & 0x20  # FDICT
    assert struct.unpack_from(">I", data, 66)[0] == zlib.adler32(container.HEADER_DICTIONARY)
    inflater = zlib.decompressobj(zdict=container.HEADER_DICTIONARY)
    assert inflater.decompress(data[64:64 + length]).startswith(b'{"digest":"blake3:')


def test_the_dictionary_is_the_one_format_md_prints() -> None:
    """FORMAT.md's appendix A holds the header dictionary, piece by piece."""
    text = (Path(__file__).parent.parent / "docs" / "FORMAT.md").read_text()
    appendix = text.split("## Appendix A", 1)[1].split("```", 2)[1]
    pieces = [json.loads(line) for line in appendix.strip().splitlines()[1:]]
    assert "".join(pieces).encode() == container.HEADER_DICTIONARY


def test_a_header_without_the_dictionary_flag_is_read_as_plain_zlib() -> None:
    """Files written before the dictionary (flag bit 0 alone) still load."""
    header = b'{"digest":"blake3:' + b"0" * 64 + b'","tree":[1,2],"arrays":[],"metadata":{}}'
    stored = zlib.compress(header + b" " * 600, 6)
    data = container.preamble(stored, container.FLAG_HEADER_ZLIB) + stored
    data += bytes(container.align(len(data)) - len(data))
    with pytest.raises(satchel.IntegrityError, match="content digest"):
        reader.check_digest(reader.Source.from_bytes(data), reader.read_header(io.BytesIO(data)))
    assert reader.read_header(io.BytesIO(data)).tree == [1, 2]


def test_arrays_are_64_byte_aligned(forest: Any) -> None:
    """Every array starts on a 64-byte boundary of the file."""
    header = reader.read_header(io.BytesIO(satchel.dumps(forest)))
    assert header.arrays
    assert all((header.data_start + spec.offset) % 64 == 0 for spec in header.arrays)


def test_same_object_gives_same_bytes_and_digest(forest: Any) -> None:
    """Saving the same fitted object twice gives identical object bytes and digest."""
    assert format_bytes(forest) == format_bytes(forest)
    first, second = satchel.dumps(forest), satchel.dumps(forest)
    digests = {satchel.inspect(io.BytesIO(d)).digest for d in (first, second)}
    assert len(digests) == 1
    assert digests.pop().startswith("blake3:")


def test_a_loaded_model_saved_again_keeps_its_digest(xy: tuple[Any, Any]) -> None:
    """A model holding a RandomState seeded with a number (an MLP, a GradientBoosting, a
    Gaussian process) saved again once loaded gives the digest of its file, so that the
    registry knows it for the same model: its copy's generator recorded a seed sequence the
    original did not have, and the digest changed."""
    from sklearn.neural_network import MLPClassifier

    seeded = np.random.RandomState(3)
    seeded.rand(5)
    model = MLPClassifier((4,), max_iter=5, random_state=seeded).fit(*xy)
    for value in (model, seeded, np.random.default_rng(3), np.random.PCG64(3)):
        data = satchel.dumps(value)
        copy = satchel.loads(data)
        again = satchel.dumps(copy.unwrap() if isinstance(copy, satchel.Model) else copy)
        assert satchel.inspect(io.BytesIO(again)).digest == \
            satchel.inspect(io.BytesIO(data)).digest, type(value).__name__


def test_digest_ignores_compression_and_metadata(forest: Any) -> None:
    """The content digest is the same compressed or not, whatever the metadata."""
    plain = satchel.inspect(io.BytesIO(satchel.dumps(forest))).digest
    packed = satchel.inspect(io.BytesIO(
        satchel.dumps(forest, compress="zstd", metadata={"note": "x"}))).digest
    assert plain == packed


def test_digest_changes_with_the_model(xy: tuple[Any, Any]) -> None:
    """Two different fitted models have different digests."""
    from sklearn.linear_model import LogisticRegression

    first = LogisticRegression(C=1.0).fit(*xy)
    second = LogisticRegression(C=0.01).fit(*xy)
    digests = {satchel.inspect(io.BytesIO(satchel.dumps(m))).digest for m in (first, second)}
    assert len(digests) == 2


@pytest.mark.parametrize("compress", [None, "zstd", "lz4"])
def test_every_single_byte_change_is_detected(compress: str | None) -> None:
    """Changing any one byte anywhere in a file makes a full load fail."""
    obj = {"a": np.arange(2000, dtype=np.float64), "b": np.ones((70, 3)), "c": "text" * 200}
    data = satchel.dumps(obj, compress=compress)  # type: ignore[arg-type]
    undetected = []
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        try:
            satchel.loads(bytes(damaged))
        except satchel.SatchelError:
            continue
        undetected.append(position)
    assert undetected == []


@pytest.mark.parametrize("reading", ["whole", "by array", "pipelined"])
def test_every_single_byte_change_in_a_file_is_detected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: str) -> None:
    """A full load from a path, read whole or array by array, hashed on a worker or not, finds
    any one changed byte."""
    if reading != "whole":
        monkeypatch.setattr(reader, "_WHOLE_BELOW", 0)
    if reading == "pipelined":
        monkeypatch.setattr(arrays, "PIPELINE_FROM", 0)
        monkeypatch.setattr(arrays, "CHUNK", 200)
    data = satchel.dumps({"a": np.arange(300.0), "b": np.ones((70, 3))})
    path = tmp_path / "damaged.satchel"
    undetected = []
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        path.write_bytes(damaged)
        try:
            satchel.load(path)
        except satchel.SatchelError:
            continue
        undetected.append(position)
    assert undetected == []


def test_truncation_anywhere_is_refused() -> None:
    """A file cut at any point is refused with a FormatError."""
    data = satchel.dumps({"a": np.arange(300, dtype=np.int64)})
    for cut in range(0, len(data), 7):
        with pytest.raises(satchel.FormatError):
            satchel.loads(data[:cut])


def test_trailing_bytes_are_refused() -> None:
    """Bytes after the last array are refused."""
    data = satchel.dumps({"a": np.arange(300, dtype=np.int64)})
    with pytest.raises(satchel.FormatError, match="followed by unexpected bytes"):
        satchel.loads(data + b"\x00")


@pytest.mark.parametrize(("start", "what"), [
    (b"\x80\x05\x95", "a pickle"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x78\x9c", "a zlib stream"),
])
def test_foreign_files_are_named(start: bytes, what: str) -> None:
    """Pickles, zips and zlib streams are refused with a message that says what they are."""
    with pytest.raises(satchel.FormatError, match=f"not a satchel file.*{what}"):
        satchel.loads(start + bytes(100))


@pytest.mark.parametrize(("start", "expected"), [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 12345\n",
     "found a Git LFS pointer, which stands for the file in the repository's LFS store:"
     " fetch the file itself with git lfs pull"),
    (b"\x1f\x8b\x08\x00", "found a gzip stream: if it holds a satchel file, decompress it"
     " (gunzip) or load gzip.open(path, 'rb'), which satchel reads; a compressed joblib"
     " file is a pickle, which satchel never loads: re-save that model with satchel.save()"
     " where it was trained."),
])
def test_foreign_files_say_how_to_get_a_satchel_file(start: bytes, expected: str) -> None:
    """A Git LFS pointer, or a satchel file gzip-compressed, is refused with the fix for
    what it is: both were told to re-save the model, as a pickle is."""
    with pytest.raises(satchel.FormatError) as caught:
        satchel.loads(start + bytes(100))
    assert str(caught.value).startswith("not a satchel file: expected the magic bytes")
    assert expected in str(caught.value)
    assert "never loads pickles; re-save" not in str(caught.value).replace(expected, "")


def test_an_empty_file_is_named_empty(tmp_path: Path) -> None:
    """An empty file is refused as empty: it was 'bytes starting b' (nothing) and told to
    re-save the model, as a pickle is."""
    empty = tmp_path / "model.satchel"
    empty.write_bytes(b"")
    with pytest.raises(satchel.FormatError) as caught:
        satchel.inspect(empty)
    assert str(caught.value) == (
        f"not a satchel file: expected the magic bytes {container.MAGIC!r}, found an empty"
        " file (0 bytes): copy it again from where it was saved, or save the model again")


def test_unknown_major_version_is_refused() -> None:
    """A file of another major version is refused with the version to install."""
    data = bytearray(format_bytes(pinned_object()))
    data[8] = 2
    with pytest.raises(satchel.UnsupportedVersionError, match=r"format 2\.4"):
        satchel.loads(bytes(data))


def test_compressed_arrays_round_trip() -> None:
    """zstd and lz4 arrays decode to the same values and are smaller on disk."""
    array = np.tile(np.arange(1000, dtype=np.float64), 50)
    for codec in ("zstd", "lz4"):
        data = satchel.dumps({"x": array}, compress=codec)  # type: ignore[arg-type]
        assert len(data) < array.nbytes / 4
        np.testing.assert_array_equal(satchel.loads(data)["x"], array)


def test_each_zstd_array_is_the_frame_it_would_be_alone() -> None:
    """The arrays of a save share one zstd compressor, and each is still the frame a new
    compressor gives it alone, a forest's nodes joined from its trees' too: nothing one
    array leaves in the compressor changes the next, so the same array always has the
    same bytes."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 4)), rng.integers(0, 2, 300)
    values = {"forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y),
              "large": np.tile(rng.integers(0, 9, 5000), 40), "small": np.arange(200.0),
              "again": np.tile(rng.integers(0, 9, 5000), 40)}
    arrays = encode(values)[1]
    assert any(isinstance(a, container.Joined) for a in arrays)  # the trees' nodes
    assert sum(a.nbytes for a in arrays) < container._THREADS_FROM  # one thread, one compressor
    data = satchel.dumps(values, compress="zstd")
    header = reader.verified(reader.Source.from_bytes(data))[1]
    compressed = 0
    for spec, array in zip(header.arrays, arrays, strict=True):
        if spec.codec == "zstd":
            parts = array.parts if isinstance(array, container.Joined) else [
                container.raw_view(array)[0]]
            start = header.data_start + spec.offset
            assert data[start:start + spec.length] == container.compress(parts, "zstd")
            compressed += 1
    assert compressed >= 4


def test_zstd_compresses_a_forest_from_each_trees_nodes(tmp_path: Path) -> None:
    """A forest's trees' nodes, stored as one concatenated array, are hashed and compressed
    with zstd tree by tree: the save never holds a joined copy of them (it did, as large as
    the nodes themselves), and the file loads the same trees."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 40, size=(8000, 4)), rng.integers(0, 2, size=8000)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    nodes = sum(tree.tree_.__getstate__()["nodes"].nbytes for tree in model.estimators_)
    assert nodes > 4 << 20  # large enough for zstd's threads, as a real forest's nodes are
    satchel.save(model, tmp_path / "plain.satchel", compress="zstd")  # imports done
    tracemalloc.start()
    try:
        satchel.save(model, tmp_path / "forest.satchel", compress="zstd")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < nodes / 2  # the compressed nodes and the values, never the nodes joined
    loaded = satchel.load(tmp_path / "forest.satchel")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert satchel.inspect(tmp_path / "forest.satchel").digest == satchel.inspect(
        tmp_path / "plain.satchel").digest


def compressed_bytes(obj: Any, how: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The bytes of ``obj`` saved with zstd, whole (``dumps``) or streamed to a file."""
    if how == "whole":
        return satchel.dumps(obj, compress="zstd")
    monkeypatch.setattr(writer, "STREAM_FROM", 0)
    monkeypatch.setattr(writer, "_CHUNK", 1 << 16)  # the large arrays are compressed in chunks
    satchel.save(obj, folder / "streamed.satchel", compress="zstd")
    return (folder / "streamed.satchel").read_bytes()


@pytest.mark.parametrize("how", ["whole", "streamed"])
def test_constant_arrays_past_the_ratio_limit_are_stored_plain(
        how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """zstd shrinks 24 MiB of one value over 4096-fold, past what a reader accepts of a
    compressed array: such an array is stored uncompressed, so the file loads."""
    constant, varied = np.ones(3 << 20), np.tile(np.arange(1000, dtype=np.float64), 50)
    data = compressed_bytes({"constant": constant, "varied": varied}, how, tmp_path, monkeypatch)
    header = reader.verified(reader.Source.from_bytes(data))[1]
    assert [spec.codec for spec in header.arrays] == [None, "zstd"]
    loaded = satchel.loads(data)
    np.testing.assert_array_equal(loaded["constant"], constant)
    np.testing.assert_array_equal(loaded["varied"], varied)


@pytest.mark.parametrize("how", ["whole", "streamed"])
def test_compressed_arrays_claim_at_most_the_files_budget_together(
        how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrays of 1 MiB of zeros each shrink to a few dozen bytes with zstd, within what a
    reader takes of one array; together they would claim more than a reader takes of a file
    (MAX_INFLATED_FLOOR past the ratio), so those past it are stored uncompressed, and the
    file loads."""
    arrays = {f"zeros{i}": np.zeros(1 << 17) for i in range(80)}
    data = compressed_bytes(arrays, how, tmp_path, monkeypatch)
    specs = reader.verified(reader.Source.from_bytes(data))[1].arrays
    compressed = [spec for spec in specs if spec.codec is not None]
    assert sum(spec.nbytes for spec in compressed) == container.MAX_INFLATED_FLOOR
    assert len(compressed) == 64
    loaded = satchel.loads(data)
    assert all(np.array_equal(loaded[name], array) for name, array in arrays.items())


@pytest.mark.parametrize("after", [b"junk", "frame"])
def test_bytes_after_an_arrays_zstd_frame_are_refused(after: bytes | str) -> None:
    """A zstd array whose stored bytes go on after its frame (a second frame, other bytes)
    is refused, as an lz4 block with bytes after it is: the bytes after the frame were
    ignored and the file loaded."""
    import orjson
    import zstandard

    from tests.hostile import pack, table_entry

    frame = zstandard.ZstdCompressor().compress(np.arange(1000.0).tobytes())
    stored = frame + (frame if after == "frame" else after)
    header = {"digest": "", "tree": {"$": "nd", "a": 0},
              "arrays": [table_entry(stored, "<f8", [1000], codec="zstd")], "metadata": {}}
    with pytest.raises(satchel.IntegrityError, match=(
            f"array 0 does not decompress: compressed input contains {len(stored) - len(frame)}"
            " bytes of unused data")):
        satchel.loads(pack(orjson.dumps(header), stored))


def test_a_zstd_array_is_decoded_into_its_own_memory_only(tmp_path: Path) -> None:
    """A load of a zstd array holds its decoded bytes once: they were decoded into the
    codec's own buffer and then copied into the array's, twice the array's size at once
    (a 4.5 GiB array took 10 GiB to load)."""
    array = np.random.default_rng(0).integers(0, 100, 4 << 20).astype(np.float64)  # 32 MiB
    satchel.save(array, tmp_path / "array.satchel", compress="zstd")
    satchel.load(tmp_path / "array.satchel")  # imports done
    tracemalloc.start()
    try:
        loaded = satchel.load(tmp_path / "array.satchel")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert satchel.inspect(tmp_path / "array.satchel").compressed
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable
    assert peak < 1.25 * array.nbytes


def test_arrays_past_what_an_lz4_block_holds_are_stored_plain() -> None:
    """An array larger than an lz4 block holds (2,113,929,216 bytes) is stored uncompressed
    with compress='lz4', as one that does not shrink is: the save raised lz4's own error
    ('Compression failed', or past 2 GiB an OverflowError)."""
    large = np.zeros(0x7E000000 + 1, dtype=np.uint8)  # untouched pages: no memory used
    payloads = container.prepare([large, np.zeros(1000)], "lz4")
    assert [(p.spec.codec, p.spec.length) for p in payloads[:1]] == [(None, large.nbytes)]
    assert payloads[1].spec.codec == "lz4"


def test_a_compressed_array_past_the_memory_free_is_a_limit_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A zstd array whose frame declares more bytes than the process can allocate (a 1 PiB
    one, under a compression ratio raised to let it through) is a LimitError that names the
    array and its size: it was an IntegrityError that said only 'does not decompress: '."""
    import orjson

    from tests.hostile import pack, table_entry

    size = 1 << 50
    monkeypatch.setattr(container, "MAX_COMPRESSION_RATIO", size)
    # A frame header declaring ``size`` bytes (single segment), then one empty last block.
    frame = struct.pack("<IBQ", 0xFD2FB528, 0xE0, size) + (1).to_bytes(3, "little")
    header = {"digest": "", "tree": {"$": "nd", "a": 0},
              "arrays": [table_entry(frame, "|u1", [size], codec="zstd")], "metadata": {}}
    with pytest.raises(satchel.LimitError) as info:
        satchel.loads(pack(orjson.dumps(header), frame))
    assert str(info.value) == (
        f"array 0 (uint8, shape ({size},)) takes {size} bytes once decompressed, more memory"
        " than this process can allocate: load the file where more memory is free, and only"
        " if you know where it comes from")


def test_invalid_codec_is_refused() -> None:
    """An unknown codec name is a ValueError that lists the choices."""
    with pytest.raises(ValueError, match="compress must be None, 'zstd' or 'lz4', not 'gzip'"):
        satchel.dumps({}, compress="gzip")  # type: ignore[arg-type]


def test_dtype_descriptions_round_trip() -> None:
    """Simple, datetime and record dtypes survive, object dtypes never reach the table."""
    for dtype in ["<f8", ">i4", "|b1", "<M8[ns]", "<m8[s]", "<U7", "|S3", "<c16"]:
        assert dtypes.dtype_from_json(dtypes.dtype_to_json(np.dtype(dtype)), "x") == dtype
    record = np.dtype([("a", "<i8"), ("b", "u1")], align=True)
    assert dtypes.dtype_from_json(dtypes.dtype_to_json(record), "x") == record
    with pytest.raises(satchel.FormatError, match="expected a simple dtype"):
        dtypes.dtype_from_json("|O", "arrays[0].dtype")


def test_large_saves_are_streamed_with_the_same_content(tmp_path: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A save of 16 MiB+ writes its header last, in the room it reserved, with dumps' digest."""
    obj = {"big": np.arange(3 << 20, dtype=np.float64), "names": [f"c{i}" for i in range(300)],
           "parts": [np.full(1000 + i, i, dtype=np.int32) for i in range(40)]}

    def no_fallback(*args: Any) -> Any:
        raise AssertionError("the streamed header did not fit its room")

    monkeypatch.setattr(writer, "serialize", no_fallback)
    satchel.save(obj, tmp_path / "big.satchel")
    monkeypatch.undo()
    data = (tmp_path / "big.satchel").read_bytes()
    assert struct.unpack_from("<I", data, 12)[0] == 3  # zlib with the preset dictionary
    assert satchel.inspect(tmp_path / "big.satchel").digest == satchel.inspect(
        io.BytesIO(satchel.dumps(obj))).digest
    source = reader.Source.from_bytes(data)
    reader.check_digest(source, source.header())
    np.testing.assert_array_equal(satchel.loads(data)["big"], obj["big"])
    satchel.save(obj, tmp_path / "big.satchel")  # replacing the file
    again = satchel.inspect(tmp_path / "big.satchel")
    assert again.digest == satchel.inspect(io.BytesIO(data)).digest
    assert [p.name for p in tmp_path.iterdir()] == ["big.satchel"]


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_a_large_compressed_save_holds_one_array_at_a_time(
        tmp_path: Path, codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressed save of 16 MiB+ writes each array as it is compressed, and its header
    last: it held every compressed array in memory until the file was written (a 3 GiB
    model took 3 GB more to save with zstd, where joblib took 16 MB). A zstd array larger
    than a chunk is compressed chunk by chunk into the file. The file has the digest of an
    unstreamed save."""
    rng = np.random.default_rng(0)
    obj = {f"w{i}": rng.integers(0, 1 << 20, 1 << 18).astype(np.float64) for i in range(32)}
    obj["names"] = [f"c{i}" for i in range(300)]
    satchel.save({"w": obj["w0"]}, tmp_path / "warm.satchel", compress=codec)  # imports done
    monkeypatch.setattr(writer, "_CHUNK", 1 << 18)  # each zstd array compressed in 8 chunks

    def no_fallback(*args: Any) -> Any:
        raise AssertionError("the streamed header did not fit its room")

    monkeypatch.setattr(writer, "serialize", no_fallback)
    tracemalloc.start()
    try:
        satchel.save(obj, tmp_path / "big.satchel", compress=codec)  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    monkeypatch.undo()
    data = (tmp_path / "big.satchel").read_bytes()
    header = reader.verified(reader.Source.from_bytes(data))[1]
    assert {spec.codec for spec in header.arrays} == {codec}
    assert sum(spec.length for spec in header.arrays) > 12 * obj["w0"].nbytes
    # zstd holds a chunk's compressed bytes at a time, lz4 one array's (its bound is larger)
    assert peak < (obj["w0"].nbytes / 2 if codec == "zstd" else 2.5 * obj["w0"].nbytes)
    whole = satchel.dumps(obj, compress=codec)  # type: ignore[arg-type]
    assert satchel.inspect(io.BytesIO(data)).digest == satchel.inspect(io.BytesIO(whole)).digest
    assert len(data) <= len(whole) + 2 * container.ALIGNMENT
    loaded = satchel.loads(data)
    assert all(np.array_equal(loaded[f"w{i}"], obj[f"w{i}"]) for i in range(32))


def test_forest_columns_are_streamed_unjoined(tmp_path: Path, forest: Any, xy: tuple[Any, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A streamed save writes a column's parts as they are, in chunks, with dumps' bytes."""
    _, arrays = encode(forest)
    assert any(isinstance(a, container.Joined) for a in arrays)

    join = container.Joined.array

    def no_join(self: container.Joined) -> Any:
        assert self.nbytes <= container.INLINE_MAX, "a column was copied into one buffer"
        return join(self)  # an inline column is joined to be base64-encoded

    monkeypatch.setattr(writer, "STREAM_FROM", 0)
    monkeypatch.setattr(writer, "_CHUNK", 1000)  # parts cut, and chunks across parts
    monkeypatch.setattr(container.Joined, "array", no_join)
    satchel.save(forest, tmp_path / "forest.satchel")
    monkeypatch.undo()
    data = (tmp_path / "forest.satchel").read_bytes()
    whole = satchel.dumps(forest)
    start = reader.Source.from_bytes(data).header().data_start
    assert data[start:] == whole[reader.Source.from_bytes(whole).header().data_start:]
    assert satchel.inspect(io.BytesIO(data)).digest == satchel.inspect(io.BytesIO(whole)).digest
    loaded = satchel.loads(data)
    np.testing.assert_array_equal(loaded.predict_proba(xy[0]), forest.predict_proba(xy[0]))


def test_the_dictionary_flag_without_zlib_is_refused() -> None:
    """Flag bit 1 means nothing without bit 0: such a preamble is refused."""
    header = b'{"digest":"","tree":1,"arrays":[],"metadata":{}}'
    data = container.preamble(header, container.FLAG_HEADER_DICTIONARY) + header
    with pytest.raises(satchel.FormatError, match="reserved preamble bytes"):
        satchel.loads(data + bytes(container.align(len(data)) - len(data)))


def test_a_raised_node_limit_is_the_one_a_range_is_read_under(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A user who trusts a file past a limit raises satchel.format.container's constant, as
    FORMAT.md says: a range of more than MAX_NODES numbers was still refused, its handler
    holding the value the constant had at import."""
    longest = container.MAX_NODES + 1
    data = b"".join(container.serialize({"$": "range", "v": [0, longest, 1]}, [], {}))
    with pytest.raises(satchel.LimitError, match="a range holds at most 1000000 numbers"):
        satchel.loads(data)
    monkeypatch.setattr(container, "MAX_NODES", longest)
    assert satchel.loads(data) == range(longest)


def test_the_tree_is_counted_under_the_container_node_limit(
        monkeypatch: pytest.MonkeyPatch, xy: tuple[Any, Any]) -> None:
    """The object tree's node count follows satchel.format.container.MAX_NODES as set when
    the file is read: the decoder kept the value of its import, so changing the constant
    (to read a file past it) changed only the header's count."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=50, max_depth=2, random_state=0,
                                    n_jobs=1).fit(*xy)
    data = satchel.dumps(forest)
    monkeypatch.setattr(container, "MAX_NODES", 1000)
    with pytest.raises(satchel.LimitError, match="the object tree holds more than 1000 nodes"):
        satchel.loads(data)


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="numpy before 2.0"
                    " makes no array of more than 32 dimensions, the limit itself")
def test_a_raised_dimension_limit_is_the_one_an_inline_array_is_read_under(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An inline array of more than MAX_NDIM dimensions loads once the constant is raised,
    as FORMAT.md says a user who trusts the file may do."""
    import base64

    shape = [1] * (dtypes.MAX_NDIM + 1)
    node = {"$": "nd", "dtype": "<f8", "shape": shape, "b64": base64.b64encode(bytes(8)).decode()}
    data = b"".join(container.serialize(node, [], {}))
    with pytest.raises(satchel.FormatError, match="at most 32 non-negative sizes"):
        satchel.loads(data)
    monkeypatch.setattr(dtypes, "MAX_NDIM", len(shape))
    assert satchel.loads(data).shape == tuple(shape)
