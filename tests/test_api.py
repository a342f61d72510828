"""save / load / dumps / loads / inspect: files, file objects, mmap and atomic writes."""

from __future__ import annotations

import bz2
import contextlib
import datetime
import functools
import gzip
import importlib
import inspect
import io
import json
import lzma
import math
import mmap
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import LogisticRegression

import satchel
from satchel.format import container, reader
from satchel.format.decoder import Decoder, decode_inline
from satchel.format.encoder import encode
from satchel.format.handlers import builtins
from satchel.format.trust import TrustPolicy
from satchel.format.writer import STREAM_FROM
from tests.forge import find, raw_header, with_header


def test_save_and_load_a_path(forest: Any, forest_file: Path, xy: tuple[Any, Any]) -> None:
    """A model saved to a path loads back and predicts the same."""
    loaded = satchel.load(forest_file)
    np.testing.assert_array_equal(loaded.predict(xy[0]), forest.predict(xy[0]))


def test_file_objects(forest: Any, xy: tuple[Any, Any], tmp_path: Path) -> None:
    """save and load accept binary file objects, seekable or not."""
    buffer = io.BytesIO()
    satchel.save(forest, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(satchel.load(buffer).predict(xy[0]), forest.predict(xy[0]))
    with open(tmp_path / "m.satchel", "wb") as handle:
        satchel.save(forest, handle)
    with open(tmp_path / "m.satchel", "rb") as handle:
        assert satchel.load(handle).n_estimators == forest.n_estimators


@pytest.mark.parametrize("codec", [gzip, bz2, lzma])
def test_decompressing_file_objects_are_read_as_streams(forest: Any, xy: tuple[Any, Any],
                                                        tmp_path: Path, codec: Any) -> None:
    """A file object that decompresses (gzip.open, bz2.open, lzma.open) is read for the
    bytes it gives: load, mmap load and inspect took the compressed file behind it for
    the satchel file ('the file is truncated', 'not a satchel file: a gzip stream')."""
    path = tmp_path / "forest.satchel.z"
    with codec.open(path, "wb") as handle:
        satchel.save(forest, handle)
    for mmap_load in (False, True):
        with codec.open(path, "rb") as handle:
            loaded = satchel.load(handle, mmap=mmap_load)
        np.testing.assert_array_equal(loaded.predict(xy[0]), forest.predict(xy[0]))
    with codec.open(path, "rb") as handle:
        assert satchel.inspect(handle).digest == loaded.digest


def test_dumps_matches_save(forest: Any, forest_file: Path) -> None:
    """dumps returns exactly the bytes save writes."""
    assert satchel.dumps(forest) == forest_file.read_bytes()


def test_loads_takes_any_buffer_as_its_bytes() -> None:
    """loads reads a memoryview of wider items, or of strided ones, as bytes(view) gives
    them: it copied len(view) items' worth and failed to broadcast, or raised BufferError."""
    data = satchel.dumps({"w": np.arange(100.0)})  # ends with whole float64 items
    wide = memoryview(np.frombuffer(data, dtype=np.float64))
    strided = memoryview(np.frombuffer(data, dtype=np.uint8).repeat(2))[::2]
    for view in (wide, strided):
        assert bytes(view) == data
        np.testing.assert_array_equal(satchel.loads(view)["w"], np.arange(100.0))


def test_full_load_gives_writable_arrays(forest_file: Path) -> None:
    """Arrays of a full load are writable, like pickle's."""
    assert satchel.load(forest_file).estimators_[0].classes_.flags.writeable


def test_full_load_arrays_do_not_pin_the_rest_of_the_file(tmp_path: Path) -> None:
    """A full load of a file over 1 MiB gives each array memory of its own, not a view of one
    buffer of the file."""
    weights = np.arange(1000.0)
    path = tmp_path / "text.satchel"
    satchel.save({"vocabulary": {f"word{i:06d}": i for i in range(150_000)}, "w": weights}, path)
    assert path.stat().st_size >= reader._WHOLE_BELOW
    base = satchel.load(path)["w"]
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    assert memoryview(base).nbytes == weights.nbytes  # the packed words are freed


def test_packed_strings_decode_without_a_copy_of_their_text(tmp_path: Path) -> None:
    """Decoding a vocabulary holds no copy of its whole text beside the strings it builds."""
    vocabulary = {f"{i:0200d}": i for i in range(20_000)}  # 4 MB of text
    satchel.save(vocabulary, tmp_path / "words.satchel")
    with open(tmp_path / "words.satchel", "rb") as handle:
        source, header = reader.read_verified(handle)
    tracemalloc.start()
    try:
        loaded = Decoder(header, source, TrustPolicy(), verify=True).decode(header.tree)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded == vocabulary
    assert peak - current < 1 << 20  # a copy of the text alone would be 4 MB


@pytest.mark.parametrize("step", [4, 5, 7, 1 << 16])
def test_packed_strings_cut_anywhere_between_steps_round_trip(
        monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Strings and characters that the decoder's steps cut in two come back whole."""
    monkeypatch.setattr(builtins, "_TEXT_STEP", step)
    words = ["", "a", "é中😀", "😀" * 5000, *(f"w{i}é" for i in range(40)), ""]
    loaded = satchel.loads(satchel.dumps({"words": words, "index": dict.fromkeys(words[1:], 7)}))
    assert loaded == {"words": words, "index": dict.fromkeys(words[1:], 7)}


def test_mmap_arrays_are_read_only_views_of_the_file(tmp_path: Path) -> None:
    """With mmap=True every uncompressed array points into the mapped file: zero copy. A
    stochastic gradient model's weights too, which were copied at load so that
    partial_fit could write into them."""
    from sklearn.linear_model import SGDClassifier

    weights = np.random.default_rng(0).normal(size=(512, 256))
    sgd = SGDClassifier(random_state=0).fit(weights, np.arange(512) % 3)
    path = tmp_path / "wide.satchel"
    satchel.save({"w": weights, "f": np.asfortranarray(weights[:64]), "sgd": sgd}, path)
    loaded = satchel.load(path, mmap=True)
    for array in (loaded["w"], loaded["f"], loaded["sgd"].coef_):
        assert not array.flags.writeable
        base = array
        while isinstance(base, np.ndarray | memoryview):
            base = base.base if isinstance(base, np.ndarray) else base.obj
        assert isinstance(base, mmap.mmap)
    np.testing.assert_array_equal(loaded["w"], weights)
    assert loaded["f"].flags.f_contiguous


@pytest.mark.filterwarnings("ignore:The `probability` parameter was deprecated")
@pytest.mark.parametrize("sparse", [False, True])
def test_mmap_svm_probabilities(tmp_path: Path, sparse: bool) -> None:
    """libsvm's predict_proba writes through its dual-coefficient buffer's type: a mapped
    SVC gets its own copy of those coefficients, and keeps its support vectors mapped."""
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 40)), np.arange(300) % 3
    data = scipy.sparse.csr_matrix(X) if sparse else X
    model = SVC(probability=True, random_state=0).fit(data, y)
    satchel.save(model, tmp_path / "svc.satchel")
    loaded = satchel.load(tmp_path / "svc.satchel", mmap=True)
    np.testing.assert_array_equal(loaded.predict_proba(data[:30]), model.predict_proba(data[:30]))
    vectors = loaded.unwrap().support_vectors_
    assert not (vectors.data if sparse else vectors).flags.writeable


_SGD_PARTIAL_FIT = textwrap.dedent("""
    import pickle, sys, warnings
    import numpy as np
    import satchel
    from sklearn.linear_model import SGDClassifier, SGDOneClassSVM, SGDRegressor
    from sklearn.multiclass import OneVsRestClassifier

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 40))
    y = np.arange(200) % 3
    cases = [(SGDClassifier(random_state=0), (X, y % 2)),
             (SGDClassifier(average=True, random_state=0), (X, y)),
             (SGDRegressor(average=True, random_state=0), (X, X[:, 0])),
             (SGDOneClassSVM(random_state=0), (X,)),
             (OneVsRestClassifier(SGDClassifier(random_state=0)), (X, y))]
    for index, (model, args) in enumerate(cases):
        path = f"{sys.argv[1]}/sgd{index}.satchel"
        satchel.save(model.fit(*args), path)
        copy = pickle.loads(pickle.dumps(model)).partial_fit(*args)
        mapped = satchel.load(path, mmap=True).unwrap().partial_fit(*args)
        np.testing.assert_array_equal(mapped.predict(X), copy.predict(X))
    print("ok")
""")


def test_mmap_sgd_partial_fit(tmp_path: Path) -> None:
    """partial_fit of a mapped stochastic gradient model updates it as a pickled copy's does:
    its compiled loop writes through read-only weights, which killed the process on the
    mapped pages."""
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(random_state=0).fit(np.eye(4), [0, 1, 0, 1])
    model.coef_.setflags(write=False)
    try:
        model.partial_fit(np.eye(4), [0, 1, 0, 1])
    except ValueError:
        pytest.skip("this scikit-learn's (1.4's) partial_fit asks for writable weights: a"
                    " mapped model's raises ValueError, as the README says")
    done = subprocess.run([sys.executable, "-c", _SGD_PARTIAL_FIT, str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]


@pytest.mark.parametrize("start", [4, 64])
def test_mmap_of_a_file_object_at_an_offset_gives_aligned_arrays(tmp_path: Path,
                                                                 start: int) -> None:
    """A satchel file inside an open file, at a position off the arrays' alignment, is read
    rather than mapped: views of it were misaligned, which compiled code refused."""
    from sklearn.preprocessing import SplineTransformer

    X = np.random.default_rng(0).normal(size=(300, 40))
    model = SplineTransformer().fit(X)
    path = tmp_path / "inside.bin"
    path.write_bytes(b"\0" * start + satchel.dumps({"model": model, "w": np.arange(9.0)}))
    with path.open("rb") as handle:
        handle.seek(start)
        loaded = satchel.load(handle, mmap=True)
    assert loaded["w"].flags.aligned
    np.testing.assert_array_equal(loaded["model"].transform(X), model.transform(X))


def test_mmap_of_a_file_that_is_read_checks_its_arrays(tmp_path: Path) -> None:
    """A mapped load that reads the file instead (a stream, an open file at an offset off
    the alignment) checks every array's checksum, as a full load does: reading costs no
    page more. A file that is mapped leaves them to a full load."""
    data = bytearray(satchel.dumps({"w": np.arange(1000.0)}))
    data[-8] ^= 1  # a bit of the last value
    path = tmp_path / "inside.bin"
    path.write_bytes(b"\0" * 4 + data)
    with path.open("rb") as handle:
        handle.seek(4)
        for given in (io.BytesIO(data), handle):
            with pytest.raises(satchel.IntegrityError, match=r"array 0 .* does not match"):
                satchel.load(given, mmap=True)
    path.write_bytes(data)
    assert satchel.load(path, mmap=True)["w"][-1] != 999.0


@pytest.mark.parametrize("size", [1000, 200_000])
def test_check_arrays_false_skips_the_checksums_of_a_full_load(tmp_path: Path, size: int
                                                                ) -> None:
    """A full load with check_arrays=False does not check the arrays' checksums, of a small
    file, a larger one read array by array, or a stream; by default it does."""
    data = bytearray(satchel.dumps({"w": np.arange(float(size))}))
    data[-8] ^= 1  # a bit of the last value
    path = tmp_path / "damaged.satchel"
    path.write_bytes(data)
    for given in (lambda: path, lambda: io.BytesIO(data)):
        with pytest.raises(satchel.IntegrityError, match=r"array 0 .* does not match"):
            satchel.load(given())
        loaded = satchel.load(given(), check_arrays=False)
        assert loaded["w"][-1] != size - 1
        np.testing.assert_array_equal(loaded["w"][:-1], np.arange(size - 1.0))


def test_mmap_of_compressed_arrays_decodes_them(tmp_path: Path) -> None:
    """Compressed arrays cannot be mapped; mmap=True still loads them."""
    array = np.zeros(100_000)
    satchel.save({"x": array}, tmp_path / "z.satchel", compress="zstd")
    np.testing.assert_array_equal(satchel.load(tmp_path / "z.satchel", mmap=True)["x"], array)


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_mmap_checks_a_compressed_array_before_decompressing_it(tmp_path: Path,
                                                                codec: str) -> None:
    """A mapped load checks a compressed array against its checksum before decompressing it
    (it reads every byte of it anyway): a damaged one decoded to other values without a
    word, or failed inside the decompressor."""
    array = np.round(np.random.default_rng(0).random(20_000), 2)
    path = tmp_path / "z.satchel"
    satchel.save({"x": array, "plain": np.arange(1000.0)}, path,
                 compress=codec)  # type: ignore[arg-type]
    header = satchel.inspect(path).header
    spec = next(s for s in header.arrays if s.codec)
    data = bytearray(path.read_bytes())
    data[header.data_start + spec.offset + spec.length // 3] ^= 0x10
    path.write_bytes(data)
    with pytest.raises(satchel.IntegrityError, match=r"array \d .* does not match its checksum"):
        satchel.load(path, mmap=True)


def test_failed_save_keeps_the_old_file(tmp_path: Path, forest: Any) -> None:
    """A save that fails leaves the previous file intact and no temporary file behind."""
    path = tmp_path / "model.satchel"
    satchel.save(forest, path)
    before = path.read_bytes()
    with pytest.raises(satchel.EncodeError, match="lambda"):
        satchel.save({"f": lambda x: x}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.satchel"]


def test_save_over_a_fifo_replaces_it_without_waiting(tmp_path: Path) -> None:
    """The file a save replaces is opened without blocking: a FIFO there is replaced."""
    path = tmp_path / "model.satchel"
    os.mkfifo(path)
    script = f"import satchel; satchel.save({{'x': 1}}, {str(path)!r})"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert satchel.load(path) == {"x": 1}


def test_save_over_a_file_another_process_maps(tmp_path: Path) -> None:
    """Replacing a file whose arrays another holder maps leaves those arrays intact."""
    path = tmp_path / "model.satchel"
    weights = np.random.default_rng(0).normal(size=(3000, 1000))
    satchel.save({"w": weights}, path)
    mapped = satchel.load(path, mmap=True)
    satchel.save({"w": -weights}, path)
    np.testing.assert_array_equal(mapped["w"], weights)
    np.testing.assert_array_equal(satchel.load(path)["w"], -weights)


def test_packed_strings_keep_exact_types() -> None:
    """Only plain str keys and int values are packed; subclasses and bools keep their types."""
    words = [f"w{i}" for i in range(100)]
    plain = dict(zip(words, range(100), strict=True))
    subclass = {**plain, np.str_("numpy"): 1}
    flags = {**plain, "flag": True}
    mixed_list = [*words, np.str_("numpy")]
    for value in (plain, subclass, flags, words, mixed_list, {}):
        loaded = satchel.loads(satchel.dumps({"x": value}))["x"]
        assert loaded == value
        items = loaded.items() if isinstance(value, dict) else zip(loaded, loaded, strict=True)
        expected = value.items() if isinstance(value, dict) else zip(value, value, strict=True)
        assert [(type(k), type(v)) for k, v in items] == [(type(k), type(v)) for k, v in expected]
    kinds = {name: json.dumps(satchel.inspect(io.BytesIO(satchel.dumps(v))).tree)
             for name, v in (("plain", plain), ("subclass", subclass), ("flags", flags))}
    assert '"strdict"' in kinds["plain"]
    assert '"strdict"' not in kinds["subclass"]
    assert '"strdict"' not in kinds["flags"]


@pytest.mark.parametrize(("extra", "dtype"), [
    (255, "|u1"), (-1, "<i2"), (1 << 40, "<u8"), (-(1 << 63), "<i8"), ((1 << 63) - 1, "<u8"),
    (1 << 63, "<u8"), (1 << 64, None), (-(1 << 63) - 1, None),
])
def test_packed_dict_values_take_the_narrowest_integer_type(extra: int, dtype: str | None
                                                            ) -> None:
    """A str -> int dict is packed with its values in the narrowest integer dtype that holds
    them all, up to uint64; past 64 bits it stays JSON. Every value loads back exact."""
    value = {**{f"w{i}": i for i in range(40)}, "extra": extra}
    data = satchel.dumps({"x": value})
    loaded = satchel.loads(data)["x"]
    assert loaded == value
    assert all(type(v) is int for v in loaded.values())
    header = raw_header(data)
    if dtype is None:
        assert '"strdict"' not in json.dumps(header["tree"])
    else:
        packed = find(header["tree"], lambda n: n.get("$") == "strdict")
        assert header["arrays"][packed["v"]]["dtype"] == dtype


@pytest.mark.parametrize("value", ["\ud800x", ["\ud800x"] * 40, {"\udcff": 1}])
def test_lone_surrogates_are_refused_at_save(tmp_path: Path, value: Any) -> None:
    """Text that is not valid Unicode is an EncodeError at save, never a file that won't load."""
    path = tmp_path / "model.satchel"
    satchel.save({"x": 1}, path)
    with pytest.raises(satchel.EncodeError, match="lone surrogate"):
        satchel.save({"x": value}, path)
    assert satchel.load(path) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model.satchel"]


def test_killed_save_never_leaves_a_half_file(tmp_path: Path) -> None:
    """A save killed with SIGKILL leaves either no file or the complete old one."""
    path = tmp_path / "big.satchel"
    satchel.save({"x": np.zeros(10)}, path)
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import numpy as np, satchel
        big = np.random.default_rng(0).normal(size=40_000_000)
        print("ready", flush=True)
        while True:
            satchel.save({{"x": big}}, {str(path)!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"ready"
    time.sleep(0.4)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    loaded = satchel.load(path)
    assert path.read_bytes() == before or loaded["x"].shape == (40_000_000,)


def test_inspect_reads_only_the_header(forest_file: Path) -> None:
    """inspect reports the header without importing the model's modules."""
    script = textwrap.dedent(f"""
        import sys, satchel
        info = satchel.inspect({str(forest_file)!r})
        print(info.array_count > 0, info.untrusted == [],
              "sklearn.ensemble" in sys.modules,
              "sklearn.ensemble._forest.RandomForestClassifier" in info.types)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["True", "True", "False", "True"]


@pytest.mark.parametrize("stream", ["bytesio", "pipe"])
def test_inspect_of_a_stream_holds_only_its_header(tmp_path: Path, stream: str) -> None:
    """inspect and untrusted_types of a stream count the bytes after the header without
    holding them: they held the whole file, twice for a pipe."""
    path = tmp_path / "wide.satchel"
    satchel.save({"w": np.ones((64 << 20) // 8)}, path)
    peaks = []
    for use in (satchel.inspect, satchel.untrusted_types):
        with subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE) as cat:
            handle = io.BytesIO(path.read_bytes()) if stream == "bytesio" else cat.stdout
            assert handle is not None
            tracemalloc.start()
            try:
                found = use(handle)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
            handle.close()
        assert found == use(path)
    assert max(peaks) < 32 << 20


def test_inspect_puts_a_seekable_file_object_back_where_it_was(tmp_path: Path) -> None:
    """inspect and untrusted_types leave an open file or a BytesIO at the position they
    found it, so that load can read it next; a pipe, which cannot seek, is left after the
    file."""
    data = satchel.dumps({"w": np.arange(3.0)})
    path = tmp_path / "inside.bin"
    path.write_bytes(b"\0" * 64 + data)
    for use in (satchel.inspect, satchel.untrusted_types):
        with path.open("rb") as handle, io.BytesIO(data) as buffer:
            handle.seek(64)
            for given, start in ((handle, 64), (buffer, 0)):
                use(given)
                assert given.tell() == start
                np.testing.assert_array_equal(satchel.load(given)["w"], np.arange(3.0))
    with subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE) as cat:
        assert cat.stdout is not None
        cat.stdout.read(64)
        satchel.inspect(cat.stdout)
        assert cat.stdout.read() == b""


class Endless(io.RawIOBase):
    """A stream of the bytes given and then zeros for ever, which fails a reader that asks
    for more than ``limit`` bytes in all (one that reads it whole)."""

    def __init__(self, data: bytes, limit: int = 64 << 20) -> None:
        self.data, self.position, self.limit = data, 0, limit

    def readable(self) -> bool:
        return True

    def readinto(self, view: Any) -> int:
        assert self.position < self.limit, "the reader read the stream whole"
        count = min(len(view), self.limit - self.position)
        given = self.data[self.position:self.position + count]
        view[:count] = given + bytes(count - len(given))
        self.position += count
        return count


@pytest.mark.parametrize("start", ["zeros", "satchel file"])
def test_a_stream_that_never_ends_is_refused_without_reading_it_whole(start: str) -> None:
    """load, a mapped load, verify and inspect of a stream read the preamble and header
    first and then only as much as their layout holds: a stream that is no satchel file,
    or goes on after one, is a FormatError, where they read it whole (to MemoryError)."""
    data = b"" if start == "zeros" else satchel.dumps({"w": np.arange(1000.0)})
    message = ("not a satchel file" if start == "zeros" else
               f"the file is followed by unexpected bytes: the layout ends at byte {len(data)},"
               " the stream goes on after it")
    for use in (satchel.load, functools.partial(satchel.load, mmap=True), satchel.verify,
                satchel.inspect):
        with pytest.raises(satchel.FormatError, match=message):
            use(io.BufferedReader(Endless(data)))


def test_a_stream_is_not_given_the_memory_its_header_claims() -> None:
    """A stream whose header declares an array of 8 TiB is refused as truncated when it
    ends, before any memory of that size is asked for."""
    data = satchel.dumps({"w": np.arange(1000.0)})
    header = raw_header(data)
    header["arrays"][0].update(shape=[1 << 40], length=8 << 40)
    with pytest.raises(satchel.FormatError, match="the file is truncated: the layout ends at"):
        satchel.load(io.BytesIO(with_header(data, header)))


def test_a_stream_longer_than_memory_is_a_limit_error(tmp_path: Path) -> None:
    """A stream whose header declares 8 TiB and that gives zeros for ever is refused with a
    LimitError once memory runs out, where a MemoryError came out of the read."""
    data = satchel.dumps({"w": np.arange(1000.0)})
    header = raw_header(data)
    header["arrays"][0].update(shape=[1 << 40], length=8 << 40)
    (tmp_path / "start").write_bytes(with_header(data, header)[:-8000])
    script = textwrap.dedent(f"""
        import io, resource, sys
        import satchel
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
        start = open({str(tmp_path / "start")!r}, "rb").read()
        class Endless(io.RawIOBase):
            position = 0
            def readable(self): return True
            def readinto(self, view):
                given = start[self.position:self.position + len(view)]
                view[:len(view)] = given + bytes(len(view) - len(given))
                self.position += len(view)
                return len(view)
        try:
            satchel.load(io.BufferedReader(Endless()))
        except satchel.LimitError as exc:
            print(exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert re.fullmatch(r"the stream's layout ends at byte \d{13}, more than this process can"
                        r" hold in memory: save it to a file and load that \(a file is read"
                        r" an array at a time\)\n", done.stdout), done.stderr[-2000:]


@pytest.mark.parametrize("codec", [gzip, bz2, lzma])
@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_compressed_file_object_is_a_format_error(tmp_path: Path, codec: Any,
                                                            damage: str) -> None:
    """A gzip, bz2 or xz file that is cut short or has a flipped byte near its end is a
    FormatError that says so: EOFError, BadGzipFile, OSError or LZMAError came out."""
    packed = codec.compress(satchel.dumps({"w": np.arange(1000.0)}))
    packed = packed[:-20] if damage == "truncated" else (
        packed[:-6] + bytes([packed[-6] ^ 1]) + packed[-5:])
    (tmp_path / "damaged").write_bytes(packed)
    for use in (satchel.load, satchel.inspect):
        with codec.open(tmp_path / "damaged", "rb") as handle, pytest.raises(
                satchel.FormatError, match=r"the file object could not be read: .* A compressed"
                r" file \(gzip, bz2, xz\) that is truncated or damaged does this"):
            use(handle)


def test_a_file_object_past_its_end_is_an_empty_file(tmp_path: Path) -> None:
    """An open file positioned past its end holds no satchel file: a full load computed a
    negative size and numpy refused it ('negative dimensions are not allowed')."""
    satchel.save({"w": np.arange(1000.0)}, tmp_path / "w.satchel")
    for use in (satchel.load, functools.partial(satchel.load, mmap=True), satchel.inspect):
        with open(tmp_path / "w.satchel", "rb") as handle:
            handle.seek(100_000)
            with pytest.raises(satchel.FormatError, match="found an empty file"):
                use(handle)


def test_untrusted_types_lists_custom_names(tmp_path: Path) -> None:
    """untrusted_types names what trusted= must hold, without importing it."""
    from tests.custom import Doubler

    path = tmp_path / "custom.satchel"
    satchel.save(Doubler(), path)
    assert satchel.untrusted_types(path) == ["tests.custom.Doubler"]


def test_trusted_given_one_name_as_a_string_trusts_that_name(tmp_path: Path) -> None:
    """trusted="pkg.Name" trusts that one name, as a list of it does: its letters were
    each taken for a name, and refused as 'invalid name 't''."""
    from tests.custom import Doubler

    path = tmp_path / "custom.satchel"
    satchel.save(Doubler(), path)
    assert repr(satchel.load(path, trusted="tests.custom.Doubler")).startswith("Model(Doubler()")
    loaded = satchel.loads(path.read_bytes(), trusted="tests.custom.Doubler")
    assert repr(loaded).startswith("Model(Doubler()")


@pytest.mark.parametrize(("name", "shown"), [
    ("my transformers.Scaler", "'my transformers.Scaler'"), (7, "7"),
    ("x" * 10**6 + "!", f"{'x' * 80!r}... (1000001 characters)")])
def test_a_trusted_name_that_is_no_dotted_name_is_a_bad_argument(tmp_path: Path,
                                                                 name: Any, shown: str) -> None:
    """A name in trusted= that is no dotted name of identifiers is a ValueError with an
    example and where to find the names: it was a FormatError, the error of a damaged
    file, asking for 'module:qualname'. A long one is shown cut, with its length (a name of
    ten million letters made a message of 10 MB)."""
    path = tmp_path / "plain.satchel"
    satchel.save({"a": 1}, path)
    with pytest.raises(ValueError, match="trusted names") as info:
        satchel.load(path, trusted=[name])
    assert not isinstance(info.value, satchel.FormatError)
    assert str(info.value) == (
        "trusted names each type or function by its dotted name, such as"
        f" 'mypkg.features.MyScaler', not {shown}: satchel.untrusted_types(file) (or satchel"
        " untrusted FILE) lists the names a file needs")


def test_trusted_true_is_refused_with_the_names_to_pass(tmp_path: Path) -> None:
    """trusted=True (skops' way to trust a whole file) is a TypeError that says satchel
    trusts names, and how to list them: it was 'Value after * must be an iterable'."""
    from tests.custom import Doubler

    path = tmp_path / "custom.satchel"
    satchel.save(Doubler(), path)
    with pytest.raises(TypeError) as info:
        satchel.load(path, trusted=True)  # type: ignore[arg-type]
    assert str(info.value) == (
        "trusted must be a list of names, such as trusted=['mypkg.MyScaler'], not True:"
        " satchel never trusts a whole file; satchel.untrusted_types(file) (or satchel"
        " untrusted FILE) lists the names it needs")


@pytest.mark.parametrize("compress", [3, True, ("lz4", 3), "gzip"])
def test_a_compression_level_or_other_codec_is_refused_with_the_codecs_to_pass(
        compress: Any) -> None:
    """compress=3, True, ('lz4', 3) or 'gzip' (as joblib takes them) are refused saying that
    satchel takes a codec's name and which to pass: the message listed a tuple only."""
    with pytest.raises(ValueError, match="compress must be") as info:
        satchel.dumps({}, compress=compress)
    assert str(info.value) == (
        f"compress must be None, 'zstd' or 'lz4', not {compress!r}: satchel takes the name of"
        " a codec, with no level (as joblib's compress=3 or ('lz4', 3) give one); pass"
        " compress='zstd' for smaller files or compress='lz4' for faster loads")


@pytest.mark.parametrize(("codec", "module", "package"),
                         [("zstd", "zstandard", "zstandard"), ("lz4", "lz4.block", "lz4")])
def test_a_codec_whose_package_is_missing_is_refused_with_the_extra_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str, module: str,
        package: str) -> None:
    """save and dumps with a codec whose package is not installed say which package and
    extra to install, before anything is written: they raised the import's bare
    ModuleNotFoundError."""
    monkeypatch.setitem(sys.modules, module, None)
    for call in (lambda: satchel.save({"x": np.arange(1000.0)}, tmp_path / "x.satchel",
                                      compress=codec),  # type: ignore[arg-type]
                 lambda: satchel.dumps({"x": np.arange(1000.0)},
                                       compress=codec)):  # type: ignore[arg-type]
        with pytest.raises(satchel.SatchelError) as info:
            call()
        assert str(info.value) == (
            f"compress={codec!r} needs the {package} package, which is not installed: pip"
            " install 'satchel[compression]', or save without compress=")
    assert not list(tmp_path.iterdir())


def test_unsaveable_objects_name_their_path() -> None:
    """An object satchel cannot store is refused with its path inside the structure."""
    with pytest.raises(satchel.EncodeError, match=r"cannot save \['steps'\]\[1\]"):
        satchel.dumps({"steps": [1, lambda: 0]})


def test_pandas_objects_round_trip() -> None:
    """DataFrames with numeric, categorical, string, datetime and nullable columns survive."""
    import pandas as pd

    frame = pd.DataFrame(
        {"n": [1, 2, 3], "cat": pd.Categorical(["x", "y", "x"]), "s": ["p", None, "r"],
         "t": pd.to_datetime(["2020-01-01", "2021-06-01", "2022-01-01"]),
         "i": pd.array([1, None, 3], dtype="Int64")},
        index=pd.Index(["a", "b", "c"], name="id"),
    )
    pd.testing.assert_frame_equal(satchel.loads(satchel.dumps(frame)), frame)
    series = pd.Series([0.5, 1.5], name="x")
    pd.testing.assert_series_equal(satchel.loads(satchel.dumps(series)), series)


def test_object_columns_and_shared_frame_parts_round_trip() -> None:
    """An object Series or DataFrame column of strings stays object (pandas 3 would infer
    its str dtype), and a DataFrame whose index is its columns object, or shares its
    values, loads with the sharing intact."""
    import pandas as pd

    series = pd.Series(["a", None], dtype=object, index=[5, 7])
    loaded = satchel.loads(satchel.dumps(series))
    assert loaded.dtype == object
    pd.testing.assert_series_equal(loaded, series)
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1, 2]}, index=[3, 4]).astype({"a": object})
    pd.testing.assert_frame_equal(satchel.loads(satchel.dumps(frame)), frame)
    labels = pd.Index(["a", "b"], dtype=object)
    square = pd.DataFrame(np.eye(2))
    square.index = square.columns = labels
    assert square.index is square.columns
    back = satchel.loads(satchel.dumps(square))
    pd.testing.assert_frame_equal(back, square)
    assert back.index is back.columns
    numbers = pd.Index([1, 2])
    sharing = pd.DataFrame(np.eye(2), columns=numbers, index=pd.Index(numbers, copy=False))
    pd.testing.assert_frame_equal(satchel.loads(satchel.dumps(sharing)), sharing)


@pytest.mark.parametrize("make", [
    lambda: np.ma.array(np.array(["ab", "cd"]), mask=[0, 1]),
    lambda: np.ma.array(np.array([1, 2], dtype=np.float16), mask=[1, 0]),
    lambda: np.ma.array(np.array([1 + 2j], dtype=np.complex64), mask=[0]),
    lambda: np.ma.array([1.0, 2.0], mask=[0, 1], fill_value=7.5),
])
def test_masked_arrays_keep_their_fill_value(make: Any) -> None:
    """A masked array comes back with the fill value it had: the one set on it, or numpy's
    default for its dtype (not that default cast to the dtype: 'N/A' in a <U2 array was
    'N/'); saving does not set one on the original."""
    original = make()
    explicit = original._fill_value is not None
    loaded = satchel.loads(satchel.dumps(original))
    assert (original._fill_value is not None) == explicit
    assert loaded.fill_value == original.fill_value
    assert type(loaded.fill_value) is type(original.fill_value)
    np.testing.assert_array_equal(np.ma.getmaskarray(loaded), np.ma.getmaskarray(original))


def test_nans_stay_distinct_in_sets_and_dict_keys() -> None:
    """Two NaN objects are two elements of a set (and two dict keys); one shared NaN
    object on loading would merge them."""
    loaded = satchel.loads(satchel.dumps([{math.nan, float("nan")}, {math.nan: 1, -math.nan: 2},
                                          {float("inf"), float("-inf")}]))
    assert len(loaded[0]) == 2
    assert len(loaded[1]) == 2
    assert loaded[2] == {math.inf, -math.inf}


def _sparse_of(ndim: int) -> bool:
    """Whether the installed scipy makes sparse arrays of ``ndim`` dimensions (scipy 1.11
    makes a 1-d input one row, and refuses more than two)."""
    try:
        return bool(scipy.sparse.coo_array(np.ones((2,) * ndim)).ndim == ndim)
    except (TypeError, ValueError):
        return False


_NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
_SPARSE_OF = {ndim: _sparse_of(ndim) for ndim in (1, 3)}


def _record(**spec: Any) -> np.dtype[Any]:
    return np.dtype({"names": ["a"], "formats": ["<i4"], "offsets": [0], **spec})


@pytest.mark.parametrize(("value", "message"), [
    # numpy 2.0 raised its limit of dimensions from 32 to 64
    *([(lambda: np.zeros((1,) * 33), "33 dimensions")] if _NUMPY_2 else []),
    (lambda: np.empty((0, 20_000_000), dtype=object), "along each axis"),
    (lambda: np.bytes_(b"x" * (2 << 20)), "past what a reader accepts"),
    (lambda: np.array(["y" * 300_000]), "past what a reader accepts"),
    (lambda: np.dtype("S2000000"), "past what a reader accepts"),
    (lambda: np.array([0], dtype="M8[1000000s]"), "past what a reader accepts"),
    (lambda: np.zeros(2, dtype=[("a", "i4"), ("b", "S0")]), "past what a reader accepts"),
    (lambda: np.empty(2, dtype="V0"), "past what a reader accepts"),
    (lambda: np.zeros(1, dtype=_record(itemsize=(1 << 20) + 8)), "past what a reader accepts"),
    (lambda: "[" * 1_000_001, "more than 1000000 objects and lists"),
    (lambda: [np.zeros(1) for _ in range(600_000)], "more than 1000000 objects and lists"),
    (lambda: [0] * 4_000_001, "more than 4000000 values.*Store long lists of numbers as numpy"),
    (lambda: "x" * (65 << 20), "a reader accepts at most 67108864"),
    *([(lambda: scipy.sparse.coo_array(np.array([1.0, 0.0, 2.0])), "only 2-D sparse")]
      if _SPARSE_OF[1] else []),
    *([(lambda: scipy.sparse.coo_array(np.ones((2, 2, 2))), "only 2-D sparse")]
      if _SPARSE_OF[3] else []),
    (lambda: {i * (2**61 - 1) for i in range(1001)}, "1001 of its keys share one hash value"),
    (lambda: {(i * (2**61 - 1),): i for i in range(1001)}, "1001 of its keys share one hash"),
])
def test_what_a_reader_would_refuse_is_refused_at_save(value: Any, message: str) -> None:
    """A value past a reader's limits (dimensions, itemsize, dtype text, header size,
    objects and values, sparse shapes, keys of one hash) is an EncodeError at save, never
    a file that does not load."""
    with pytest.raises(satchel.EncodeError, match=message):
        satchel.dumps(value())


@pytest.mark.parametrize("index", ["multi", "datetime", "categorical", "period"])
def test_pandas_indexes_not_stored_name_themselves(index: str) -> None:
    """A MultiIndex, DatetimeIndex, CategoricalIndex or PeriodIndex is refused naming its
    class and what to convert it to, not as an object "rebuilt by calling _new_Index"."""
    import pandas as pd

    value = {"multi": lambda: pd.MultiIndex.from_tuples([("a", 1), ("b", 2)]),
             "datetime": lambda: pd.date_range("2024-01-01", periods=3),
             "categorical": lambda: pd.CategoricalIndex(["x", "y"]),
             "period": lambda: pd.DataFrame({"a": [1, 2]}, index=pd.period_range(
                 "2024-01", periods=2, freq="M"))}[index]()
    with pytest.raises(satchel.EncodeError, match=r"pandas (Multi|Datetime|Categorical|Period)"
                       r"Index is not supported.*Convert it"):
        satchel.dumps(value)


@pytest.mark.parametrize("name", [float("nan"), float("-inf"), 2**70, -(2**70), "x", None])
def test_pandas_names_json_cannot_hold_round_trip(name: Any) -> None:
    """Index and Series names that plain JSON cannot hold (NaN, infinities, integers past
    64 bits) come back as saved, not as None or an error."""
    import pandas as pd

    series = pd.Series([1.0, 2.0], index=pd.Index([3, 4], name=name), name=name)
    loaded = satchel.loads(satchel.dumps(series))
    # pandas 2.0 tells a NaN name from another NaN object: the names are compared below
    pd.testing.assert_series_equal(loaded, series, check_names=False)
    for got in (loaded.name, loaded.index.name):
        assert type(got) is type(name)
        assert got == name or (got != got and name != name)


def test_pandas_attrs_and_duplicate_label_flag_round_trip() -> None:
    """A Series' or DataFrame's attrs and its refusal of duplicate labels are kept."""
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2]}).set_flags(allows_duplicate_labels=False)
    frame.attrs = {"source": "crm", "rows": 2}
    loaded = satchel.loads(satchel.dumps(frame))
    assert loaded.attrs == {"source": "crm", "rows": 2}
    assert loaded.flags.allows_duplicate_labels is False
    plain = satchel.loads(satchel.dumps(pd.Series([1.0])))
    assert plain.attrs == {}
    assert plain.flags.allows_duplicate_labels is True


def test_pandas_missing_value_markers_round_trip() -> None:
    """pd.NA and pd.NaT load as themselves: an imputer of nullable columns told
    missing_values=pd.NA saves, loads and transforms as it was fitted."""
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"plan": pd.array(["basic", pd.NA, "pro", "basic"], dtype="string"),
                          "seats": pd.array([1, pd.NA, 3, 2], dtype="Int64")})
    pipeline = make_pipeline(make_column_transformer(
        (make_pipeline(SimpleImputer(missing_values=pd.NA, strategy="most_frequent"),
                       OneHotEncoder()), ["plan"]),
        (SimpleImputer(missing_values=pd.NA, strategy="median"), ["seats"])),
        LogisticRegression()).fit(frame, [0, 1, 1, 0])
    loaded = satchel.loads(satchel.dumps(pipeline, sample=frame), verify=True).unwrap()
    imputer = loaded.steps[0][1].named_transformers_["pipeline"].steps[0][1]
    assert imputer.missing_values is pd.NA
    np.testing.assert_array_equal(loaded.predict_proba(frame), pipeline.predict_proba(frame))
    markers = satchel.loads(satchel.dumps([pd.NA, pd.NaT, {"fill": pd.NA}]))
    assert markers[0] is pd.NA
    assert markers[1] is pd.NaT
    assert markers[2]["fill"] is pd.NA


#: Whether pandas has a StringDtype whose missing value is NaN (since pandas 2.3).
_STRINGS_OF_NAN = "na_value" in inspect.signature(
    importlib.import_module("pandas").StringDtype).parameters


@pytest.mark.skipif(_STRINGS_OF_NAN, reason="this pandas has string dtypes of NaN; pandas"
                    " before 2.3, such as the declared minimum 2.0, has not")
def test_a_string_dtype_of_nan_is_refused_where_pandas_has_none() -> None:
    """A file's string dtype whose missing value is NaN, on a pandas that has only pd.NA,
    is a FormatError naming the pandas to install."""
    import pandas as pd

    tree, _ = encode([pd.StringDtype("python")], inline=True)
    assert satchel.loads(satchel.dumps([pd.StringDtype("python")])) == [pd.StringDtype()]
    tree[0]["na_value"] = "nan"
    with pytest.raises(satchel.FormatError, match=re.escape(
            f"the file holds a string dtype whose missing value is NaN, which pandas"
            f" {pd.__version__} has not; install pandas 2.3 or later (pip install"
            f" 'pandas>=2.3')")):
        decode_inline(tree, TrustPolicy())


def test_pandas_dtypes_of_plain_data_round_trip() -> None:
    """Nullable extension dtypes as values load equal, a StringDtype with its storage and
    missing-value marker: a column selector of pd.StringDtype() saves, loads and selects."""
    import pandas as pd
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    dtypes = [pd.Int64Dtype(), pd.UInt8Dtype(), pd.Float32Dtype(), pd.BooleanDtype(),
              pd.StringDtype("python"), pd.StringDtype("pyarrow")]
    if _STRINGS_OF_NAN:
        dtypes.append(pd.StringDtype("python", na_value=np.nan))
    loaded_dtypes = satchel.loads(satchel.dumps(dtypes))
    assert loaded_dtypes == dtypes
    assert [d.storage for d in loaded_dtypes[4:]] == ["python", "pyarrow", "python"][
        :len(dtypes) - 4]
    assert loaded_dtypes[5].na_value is pd.NA
    if _STRINGS_OF_NAN:
        assert loaded_dtypes[6].na_value != loaded_dtypes[6].na_value  # NaN
    frame = pd.DataFrame({"plan": pd.array(["basic", pd.NA, "pro", "basic"], dtype="string"),
                          "seats": pd.array([1, pd.NA, 3, 2], dtype="Int64")})
    pipeline = make_pipeline(make_column_transformer(
        (make_pipeline(SimpleImputer(missing_values=pd.NA, strategy="most_frequent"),
                       OneHotEncoder()), make_column_selector(dtype_include=pd.StringDtype())),
        (SimpleImputer(missing_values=pd.NA, strategy="median"),
         make_column_selector(dtype_include=pd.Int64Dtype()))),
        LogisticRegression()).fit(frame, [0, 1, 1, 0])
    loaded = satchel.loads(satchel.dumps(pipeline, sample=frame), verify=True).unwrap()
    selector = loaded.steps[0][1].transformers[0][2]
    assert selector.dtype_include == pd.StringDtype()
    assert selector(frame) == ["plan"]
    np.testing.assert_array_equal(loaded.predict_proba(frame), pipeline.predict_proba(frame))


@pytest.mark.parametrize("bits", [0xFFF8000000000000, 0x7FF8000000000001, 0x7FF4000000000000])
def test_nan_sign_and_payload_round_trip(bits: int) -> None:
    """A NaN's sign and payload survive, alone and inside a complex number."""
    nan = struct.unpack("<d", struct.pack("<Q", bits))[0]
    loaded = satchel.loads(satchel.dumps([nan, complex(nan, 1.0)]))
    assert struct.pack("<d", loaded[0]) == struct.pack("<d", nan)
    assert struct.pack("<d", loaded[1].real) == struct.pack("<d", nan)


def test_a_float_node_whose_bits_are_not_a_nan_is_refused() -> None:
    """The bits of a NaN float node must be a NaN's."""
    tree, arrays = encode(-math.nan)
    assert tree["bits"] == "fff8000000000000"
    for bits in ("3ff0000000000000", "xyz", 7):
        data = b"".join(container.serialize({**tree, "bits": bits}, arrays, {}))
        with pytest.raises(satchel.FormatError, match="hex digits of a NaN"):
            satchel.loads(data)


def test_integers_past_the_int_node_limit_are_refused_at_save() -> None:
    """An int with more digits than a reader accepts is refused when saved, not loaded."""
    assert satchel.loads(satchel.dumps(-(10**3999))) == -(10**3999)
    for value in (10**4000, 10**5000):
        with pytest.raises(satchel.EncodeError, match="more than 4000 decimal digits"):
            satchel.dumps(value)


@pytest.mark.parametrize("values", [
    [-(2**40), 2**40], [2**63, 2**64 - 1], [-1, 2**63], [0, 300], [-(2**63), 5],
])
def test_vocabulary_like_dicts_of_any_64_bit_ints_round_trip(values: list[int]) -> None:
    """A str -> int dict large enough to pack keeps every value, whatever their range."""
    value = {f"w{i}": values[i % len(values)] for i in range(40)}
    loaded = satchel.loads(satchel.dumps(value))
    assert loaded == value
    assert all(type(v) is int for v in loaded.values())


def test_empty_numpy_string_scalars_and_sizeless_dtypes_round_trip() -> None:
    """np.str_(''), np.bytes_(b''), np.void(b'') and np.dtype('U') have no size; they load."""
    value = [np.str_(""), np.bytes_(b""), np.void(b""), np.dtype("U"), np.dtype("S"), np.str_("ab")]
    loaded = satchel.loads(satchel.dumps(value))
    assert [type(x) for x in loaded] == [type(x) for x in value]
    assert loaded[:2] == value[:2]
    assert loaded[3:] == value[3:]
    assert [x.dtype for x in loaded if not isinstance(x, np.dtype)] == [
        x.dtype for x in value if not isinstance(x, np.dtype)]


@pytest.mark.parametrize(("value", "message"), [
    (np.zeros(3, dtype=[(("Title", "a"), "<i4")]), "field titles"),
    (np.zeros(3, dtype=[]), "has no fields"),
    (np.ma.masked_array(np.zeros(2, dtype=[("a", "<f8")])), "masked arrays of record dtypes"),
    *([(np.array(["a", "b"], dtype=np.dtypes.StringDType()), r"astype\(str\)")]
      if hasattr(np.dtypes, "StringDType") else []),  # numpy 2.0 added StringDType
])
def test_dtypes_a_reader_would_refuse_are_refused_at_save(value: Any, message: str) -> None:
    """What a file cannot hold faithfully is refused when saved, not when loaded."""
    with pytest.raises(satchel.EncodeError, match=message):
        satchel.dumps(value)


def test_ranges_longer_than_a_header_could_list_are_refused_at_save() -> None:
    """A range of more than MAX_NODES numbers, which a reader refuses, is refused at save
    with the array to save instead; one of MAX_NODES loads back."""
    from satchel.format.container import MAX_NODES

    longest = range(-1, 2 * MAX_NODES - 1, 2)
    assert satchel.loads(satchel.dumps({"r": longest})) == {"r": longest}
    with pytest.raises(satchel.EncodeError, match=r"at most 1000000 numbers.*np\.arange"):
        satchel.dumps({"r": range(MAX_NODES + 1)})


def test_long_range_indexes_only_index_columns() -> None:
    """A RangeIndex of more than MAX_NODES numbers is saved and loaded as the index of a
    Series or of a DataFrame with columns, which are as long; anywhere else it is refused
    at save, as a reader refuses it."""
    import pandas as pd

    frame = pd.DataFrame({"a": np.arange(1_000_001.0)})
    loaded = satchel.loads(satchel.dumps({"frame": frame, "series": frame["a"]}))
    assert len(loaded["frame"].index) == len(loaded["series"].index) == 1_000_001
    for value in (pd.RangeIndex(1_000_001), {"empty": pd.DataFrame(index=range(1_000_001))}):
        with pytest.raises(satchel.EncodeError, match="a RangeIndex of 1000001 numbers: one"
                           " holds at most 1000000"):
            satchel.dumps(value)


def test_subclasses_of_builtin_values_are_refused_with_the_conversion() -> None:
    """A str (or int...) subclass cannot be rebuilt from a class and state: the error
    names the builtin to convert it to."""
    from tests.custom import Label

    with pytest.raises(satchel.EncodeError, match=r"subclasses str.*str\(\.\.\.\)"):
        satchel.dumps({"label": Label("spam")})


def test_ranges_past_64_bits_round_trip() -> None:
    """A range whose bounds JSON cannot hold as integers is saved as int nodes."""
    value = range(-(2**70), 2**70, 3**50)
    assert satchel.loads(satchel.dumps(value)) == value


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX pipes and /dev/zero")
def test_devices_and_pipes_are_refused_before_they_are_opened(tmp_path: Path) -> None:
    """/dev/zero would be read forever and a FIFO would block the open: both are refused
    at once by every reading entry point."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    for path, kind in (("/dev/zero", "a device"), (pipe, "a pipe")):
        for read in (satchel.load, satchel.inspect, satchel.untrusted_types, satchel.verify):
            with pytest.raises(satchel.FormatError, match=f"is {kind}, not a file"):
                read(path)


def test_a_folder_is_refused_saying_what_to_give(tmp_path: Path) -> None:
    """A folder given to a reading entry point is an IsADirectoryError that names it and
    says to give a .satchel file: open's "[Errno 21] Is a directory" said nothing of the
    fix, and satchel diff printed no more."""
    for read in (satchel.load, satchel.inspect, satchel.untrusted_types, satchel.verify):
        with pytest.raises(IsADirectoryError, match=re.escape(
                f"{str(tmp_path)!r} is a folder, not a file: give the path of a .satchel file"
                " (a model in a registry is named models:/NAME)")):
            read(tmp_path)


def test_distributions_a_reader_would_refuse_are_refused_at_save() -> None:
    """Frozen distributions the format cannot rebuild (array parameters, histogram or
    discrete-values distributions, multivariate ones) are an EncodeError at save; named
    ones with numeric parameters round-trip."""
    import scipy.stats as st

    hist = st.rv_histogram(np.histogram(np.arange(10.0), bins=3))
    custom = st.rv_discrete(values=([1, 2], [0.5, 0.5]))
    for value in (st.norm(loc=np.zeros(2)), hist(), custom(), st.multivariate_normal([0, 0])):
        with pytest.raises(satchel.EncodeError, match=r"only scipy\.stats' named distributions"):
            satchel.dumps(value)
    loaded = satchel.loads(satchel.dumps([st.norm(1, 2), st.randint(1, 5)]))
    assert [(d.dist.name, d.args) for d in loaded] == [("norm", (1, 2)), ("randint", (1, 5))]


def test_scipy_sparse_round_trips() -> None:
    """Every supported sparse format and class comes back identical."""
    import scipy.sparse as sp

    dense = np.eye(5)[:, ::-1] * 3
    for fmt in ("csr", "csc", "coo", "bsr", "dia"):
        for kind in ("matrix", "array"):
            value = getattr(sp, f"{fmt}_{kind}")(dense)
            loaded = satchel.loads(satchel.dumps(value))
            assert type(loaded) is type(value)
            np.testing.assert_array_equal(loaded.toarray(), dense)


def test_shared_objects_stay_shared() -> None:
    """An object referenced twice is stored once and comes back as one object."""
    array = np.arange(1000.0)
    loaded = satchel.loads(satchel.dumps({"a": array, "b": array, "c": [array]}))
    assert loaded["a"] is loaded["b"] is loaded["c"][0]


def test_shared_pandas_objects_and_sparse_matrices_stay_shared() -> None:
    """A DataFrame, Series, Index, Categorical or sparse matrix referred to from two places
    is one object after loading; equal but distinct ones stay distinct."""
    import pandas as pd
    import scipy.sparse as sp

    frame = pd.DataFrame({"x": [1.5, 2.0], "y": ["a", "b"]})
    values = [frame, frame["y"], frame.columns, frame["y"].astype("category").array,
              sp.csr_matrix(np.eye(3)), sp.coo_array(np.eye(2))]
    loaded = satchel.loads(satchel.dumps([[v, v] for v in values] + [frame.copy()]))
    for (first, again), original in zip(loaded[:-1], values, strict=True):
        assert first is again
        assert type(first) is type(original)
    pd.testing.assert_frame_equal(loaded[0][0], frame)
    pd.testing.assert_frame_equal(loaded[-1], frame)
    assert loaded[-1] is not loaded[0][0]


@pytest.mark.parametrize("make", [
    lambda: [1, 2.5, "x"], lambda: ["w"] * 40, lambda: {"a": 1}, lambda: {3, 4},
    lambda: frozenset({5}), lambda: bytearray(b"ab"),
])
def test_shared_containers_stay_shared(make: Any) -> None:
    """A list, dict, set or bytearray referred to from two places is one object after loading
    (a search's best_params_ is one of its cv_results_['params']), and distinct equal
    containers stay distinct."""
    shared, twin = make(), make()
    loaded = satchel.loads(satchel.dumps([shared, {"again": shared}, (shared,), twin]))
    assert loaded[0] == shared
    assert loaded[0] is loaded[1]["again"] is loaded[2][0]
    assert loaded[3] == twin
    assert loaded[3] is not loaded[0]


def test_shared_lists_inside_shared_lists_stay_shared() -> None:
    """Shared lists nested in each other, met first deep inside or late in the tree, are
    each numbered where they first appear."""
    inner, late = [1, 2], ["x", 3.5]
    outer = [inner, 3]
    obj = {"a": [outer, {"deep": [[late]]}], "b": outer, "c": [inner, late], "d": late}
    loaded = satchel.loads(satchel.dumps(obj))
    assert loaded == obj
    assert loaded["a"][0] is loaded["b"]
    assert loaded["b"][0] is loaded["c"][0]
    assert loaded["a"][1]["deep"][0][0] is loaded["c"][1] is loaded["d"]


def test_search_and_column_transformer_keep_their_shared_containers() -> None:
    """Real models share lists and dicts between attributes; they still do after loading."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import StandardScaler

    X, y = np.random.default_rng(0).normal(size=(60, 3)), np.arange(60) % 2
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
    loaded = satchel.loads(satchel.dumps(search)).unwrap()
    assert loaded.best_params_ is loaded.cv_results_["params"][loaded.best_index_]
    columns = ColumnTransformer([("scale", StandardScaler(), [0, 2])]).fit(X)
    back = satchel.loads(satchel.dumps(columns)).unwrap()
    assert back.transformers[0][2] is back.transformers_[0][2]


def _object_array_holding_itself() -> Any:
    array = np.empty(2, dtype=object)
    array[0], array[1] = array, 5
    return array


def _holding_itself(container: Any) -> Any:
    if isinstance(container, dict):
        container["me"] = container
    else:
        container.append(container)
    return container


@pytest.mark.parametrize("make", [
    lambda: _holding_itself({}),
    lambda: _holding_itself([]),
    lambda: functools.reduce(lambda inner, _: [inner], range(300), [0]),
    _object_array_holding_itself,
])
def test_cycles_through_containers_and_deep_nesting_are_refused_at_save(make: Any) -> None:
    """What a reader could not rebuild (a dict, list or object array holding itself,
    nesting past the reader's depth limit) is an EncodeError at save, not a RecursionError
    or a file that does not load."""
    with pytest.raises(satchel.EncodeError, match=r"contains itself|nests deeper than 200"):
        satchel.dumps(make())


def _nested(levels: int, make: Any) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = make(value)
    return value


@pytest.mark.parametrize("levels", [127, 199, 1000])
@pytest.mark.parametrize("make", [lambda v: {"k": v}, lambda v: frozenset([v, 1])])
def test_deeply_nested_dicts_and_sets_are_an_encode_error(levels: int, make: Any) -> None:
    """Dicts or sets nested past what a file holds are an EncodeError that says so, not a
    RecursionError or a message blaming the metadata; 126 dicts still round-trip."""
    with pytest.raises(satchel.EncodeError, match=r"nests (too deeply|deeper than 200)"):
        satchel.dumps(_nested(levels, make))
    nested = _nested(126, lambda v: {"k": v})
    assert satchel.loads(satchel.dumps(nested)) == nested


def test_metadata_is_kept_as_given_or_refused_where_it_is_no_json(xy: tuple[Any, Any]) -> None:
    """metadata= holds numpy scalars as the numbers they are (scores.mean() was refused);
    NaN, dates and sets are refused naming where they are, as register() refuses them (NaN
    came back as None and a date as text), and so are integers past 64 bits and text with a
    lone surrogate, which the file's JSON header cannot hold."""
    model = LogisticRegression().fit(*xy)
    given = {"cv_auc": np.float64(0.91), "folds": np.int64(5), "runs": (1, 2)}
    assert satchel.loads(satchel.dumps(model, metadata=given)).metadata["user"] == {
        "cv_auc": 0.91, "folds": 5, "runs": [1, 2]}
    for metadata, message in [
        ({"auc": float("nan")}, "metadata['auc']: expected a finite number, found nan"),
        ({"run": {"when": datetime.date(2020, 1, 1)}}, "metadata['run']['when']: expected JSON"
         " data (a string, a number, a bool, None, or a list or dict of them), found"
         " datetime.date; convert it first, for example a date with .isoformat()"),
        ({"tags": {"a"}}, "metadata['tags']: expected JSON data"),
        (["owner"], "metadata: expected a dict of JSON data"),
        ({"run": {"seed": 2**70}}, "metadata['run']['seed']: expected an integer of at most"
         " 64 bits (-2**63 to 2**64 - 1), found one of 71 bits; store it as text (str(n))"),
        ({"path": "data/\udcff.csv"}, "metadata['path']: expected valid Unicode text, found a"
         " lone surrogate '\\udcff' at position 5 (as os.fsdecode makes of bytes that are"
         " not UTF-8); decode the bytes as UTF-8 first"),
        ({"\udcff": 1}, "metadata: the key '\\udcff': expected valid Unicode text"),
    ]:
        with pytest.raises(satchel.EncodeError, match=re.escape(message)):
            satchel.dumps(model, metadata=metadata)  # type: ignore[arg-type]


def test_text_past_the_last_code_point_is_refused_at_save() -> None:
    """numpy stores a code point past U+10FFFF that a reader refuses: so does a save."""
    codes = np.array([0x41, 0x110000], dtype="<u4")
    with pytest.raises(satchel.EncodeError, match="past U\\+10FFFF"):
        satchel.dumps({"names": codes.view("<U1")})


@pytest.mark.parametrize("entropy", [12345, [1, 2, 3], None, np.uint64(2546248239)])
def test_a_generators_seed_sequence_round_trips(entropy: Any) -> None:
    """A Generator keeps its SeedSequence: spawn() after loading gives the same streams."""
    generator = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(7,)))
    generator.random()
    loaded = satchel.loads(satchel.dumps(generator))
    seeds, saved = loaded.bit_generator.seed_seq, generator.bit_generator.seed_seq
    assert (seeds.entropy, seeds.spawn_key) == (saved.entropy, saved.spawn_key)
    assert loaded.spawn(2)[1].random() == generator.spawn(2)[1].random()
    assert loaded.random() == generator.random()


@pytest.mark.parametrize("draws", [0, 1, 2])
def test_random_generators_round_trip(draws: int) -> None:
    """RandomState and Generator resume their streams exactly, with or without the
    gaussian that RandomState caches after an odd number of draws."""
    state, generator = np.random.RandomState(3), np.random.default_rng(4)
    for _ in range(draws):
        state.normal(), generator.normal()
    loaded_state, loaded_generator = satchel.loads(satchel.dumps((state, generator)))
    assert [loaded_state.normal() for _ in range(3)] == [state.normal() for _ in range(3)]
    assert loaded_generator.normal() == generator.normal()


def test_an_imputer_fitted_on_text_round_trips() -> None:
    """SimpleImputer keeps the object dtype of the text it was fitted on (a dtype value,
    never an array's): an imputer of categorical columns saves, loads and transforms."""
    import pandas as pd
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"plan": ["basic", None, "pro", "basic"], "region": ["n", "s", None, "s"]})
    pipeline = make_pipeline(SimpleImputer(strategy="most_frequent"),
                             OneHotEncoder(sparse_output=False)).fit(frame)
    loaded = satchel.loads(satchel.dumps(pipeline, sample=frame), verify=True)
    assert loaded.unwrap().steps[0][1]._fit_dtype == np.dtype(object)
    np.testing.assert_array_equal(loaded.transform(frame), pipeline.transform(frame))
    assert satchel.loads(satchel.dumps([np.dtype(object), np.dtype("<U0")])) == [
        np.dtype(object), np.dtype("<U0")]


def test_an_estimators_own_bound_method_in_its_attributes_is_left_out() -> None:
    """HistGradientBoosting's early stopping with a scorer leaves its own _raw_predict,
    bound to itself, in its attributes: the class gives it back, so it is left out (the
    save refused "builtins.method"). A method bound to another object is still refused."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    model = HistGradientBoostingClassifier(early_stopping=True, scoring="roc_auc", max_iter=20,
                                           random_state=0).fit(X, y)
    assert "_raw_predict" in vars(model)
    loaded = satchel.loads(satchel.dumps(model)).unwrap()
    assert "_raw_predict" not in vars(loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    model._raw_predict = StandardScaler().fit(X).transform
    with pytest.raises(satchel.EncodeError, match="_raw_predict"):
        satchel.dumps(model)


@pytest.mark.parametrize("jobs", [65, 100_000, 2.5])
def test_n_jobs_past_what_a_reader_accepts_is_refused_at_save(jobs: Any) -> None:
    """n_jobs is how many processes joblib starts when a FeatureUnion or ColumnTransformer
    transforms: a file of n_jobs=100000 started them all. A reader refuses more than 64,
    so a writer does too, saying to use -1 (every core)."""
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import StandardScaler

    union = FeatureUnion([("a", StandardScaler()), ("b", StandardScaler())]).fit(np.eye(3))
    for fine in (None, -1, 64):
        union.n_jobs = fine
        assert satchel.loads(satchel.dumps(union)).n_jobs == fine
    union.n_jobs = jobs
    with pytest.raises(satchel.EncodeError, match=r"n_jobs is .*at most 64 workers.*n_jobs=-1"):
        satchel.dumps(union)


def test_workers_a_function_is_given_past_what_a_reader_accepts_are_refused_at_save() -> None:
    """pairwise_kernels starts n_jobs threads: given n_jobs by a FunctionTransformer's
    kw_args, a kernel's keyword arguments or a partial, a model started 100,000 to
    predict. A reader refuses more than 64 there too, so a writer does."""
    from sklearn.gaussian_process.kernels import PairwiseKernel
    from sklearn.metrics.pairwise import pairwise_kernels
    from sklearn.preprocessing import FunctionTransformer

    def models(jobs: int) -> dict[str, Any]:
        keywords = {"metric": "linear", "n_jobs": jobs}
        return {"kw_args": FunctionTransformer(pairwise_kernels, kw_args=keywords),
                "pairwise_kernels_kwargs": PairwiseKernel(pairwise_kernels_kwargs={
                    "n_jobs": jobs}),
                "partial": FunctionTransformer(functools.partial(pairwise_kernels, **keywords))}

    for model in models(64).values():
        satchel.loads(satchel.dumps(model))
    for where, model in models(65).items():
        key = "n_jobs" if where == "partial" else f"{where}['n_jobs']"
        with pytest.raises(satchel.EncodeError, match=re.escape(
                f"{key} is 65: a file may ask for at most 64 workers, which joblib starts as"
                f" processes or threads when the model predicts. Set {key}=-1")):
            satchel.dumps(model)


def test_transform_iterations_past_what_a_reader_accepts_are_refused_at_save() -> None:
    """An NMF's transform iterates max_iter times to its tolerance: a reader refuses more
    than a million iterations (a file of 10**15 and a negative tolerance never returned),
    so a writer does too."""
    from sklearn.decomposition import NMF

    model = NMF(n_components=2, max_iter=1000, random_state=0).fit(np.abs(np.eye(5) + 1))
    model.max_iter = 1_000_000
    assert satchel.loads(satchel.dumps(model)).unwrap().max_iter == 1_000_000
    model.max_iter = 1_000_001
    with pytest.raises(satchel.EncodeError, match="max_iter is 1000001; transform may run at"
                       " most 1000000 iterations"):
        satchel.dumps(model)


def test_a_tweedie_regressor_keeps_its_loss_as_class_and_power() -> None:
    """A fitted TweedieRegressor's compiled loss is stored as its class and power and loads
    back, on scikit-learn 1.4 (whose loss has Cython's generated pickling) as on later ones."""
    from sklearn.linear_model import TweedieRegressor

    X = np.arange(12.0).reshape(6, 2)
    model = TweedieRegressor(power=1.5, max_iter=50).fit(X, np.arange(1.0, 7.0))
    tree, _ = encode(model)
    closs = tree["state"]["v"]["_base_loss"]["state"]["v"]["closs"]
    name = type(model._base_loss.closs).__name__
    assert closs == {"$": "new", "cls": f"sklearn._loss._loss:{name}", "args": [1.5]}
    loaded = satchel.loads(satchel.dumps(model)).unwrap()
    assert loaded._base_loss.closs.power == 1.5
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_sparse_coder_without_parameter_constraints_round_trips() -> None:
    """A SparseCoder saves and loads where scikit-learn declares no parameter constraints for
    it (1.4): its parameters are checked as far as scikit-learn can check them."""
    from sklearn.decomposition import SparseCoder

    coder = SparseCoder(dictionary=np.eye(3), transform_max_iter=50)
    loaded = satchel.loads(satchel.dumps(coder)).unwrap()
    assert loaded.transform_max_iter == 50
    np.testing.assert_array_equal(loaded.dictionary, np.eye(3))


def test_polynomial_features_past_what_a_reader_accepts_are_refused_at_save() -> None:
    """PolynomialFeatures.transform allocates _n_out_full columns for every row: a reader
    refuses a width the degrees do not give, or more than 2**24 columns, so a writer does
    too."""
    from sklearn.preprocessing import PolynomialFeatures

    features = np.arange(12.0).reshape(3, 4)
    for degree in (2, (2, 3), 13):
        model = PolynomialFeatures(degree, interaction_only=degree == 13).fit(features)
        assert satchel.loads(satchel.dumps(model)).unwrap().n_output_features_ == (
            model.n_output_features_)
    model = PolynomialFeatures(2).fit(features)
    model._n_out_full = 1 << 40
    with pytest.raises(satchel.EncodeError, match="_n_out_full and n_output_features_ must be"
                       " 15 and 15, the columns degrees 0 to 2 of 4 features give"):
        satchel.dumps(model)
    with pytest.raises(satchel.EncodeError, match="degrees up to 200 of 4 features give more"
                       " than 16777216 columns"):
        satchel.dumps(PolynomialFeatures(200).fit(features))


def test_sparse_matrices_predict_multiplies_by_are_csr_or_refused_at_save() -> None:
    """A CSC matrix's rows cost nothing to store: a coef_ of 2**40 empty rows made
    predict's product ask for 2**40 outputs a row. A reader takes the matrices predict
    multiplies by as scikit-learn keeps them (CSR of n_features_in_ columns, or dense),
    so a writer does too."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPRegressor

    features, labels = np.eye(4), np.array([0, 1, 0, 1])
    sparse = LogisticRegression().fit(features, labels).sparsify()
    assert satchel.loads(satchel.dumps(sparse)).unwrap().coef_.format == "csr"
    model = LinearRegression().fit(features, labels)
    model.coef_ = scipy.sparse.csc_matrix((1 << 40, 4))
    with pytest.raises(satchel.EncodeError, match=re.escape(
            "coef_ is a sparse CSC matrix of shape (1099511627776, 4); a file keeps it as CSR"
            " of 4 columns")):
        satchel.dumps(model)
    network = MLPRegressor(hidden_layer_sizes=(2,), max_iter=2).fit(features, labels)
    network.coefs_[0] = scipy.sparse.csr_matrix(network.coefs_[0])
    with pytest.raises(satchel.EncodeError, match="coefs_ is a sparse CSR matrix of shape"
                       r" \(4, 2\); scikit-learn keeps it dense"):
        satchel.dumps(network)


@pytest.mark.parametrize("interface", ["spmatrix", "sparray"])
def test_every_sparsified_linear_model_round_trips(interface: str) -> None:
    """Each linear model's sparsify() saves and loads with equal predictions and the same
    sparse type and shape: single-output ones keep a 1-d CSR of n_features_in_ columns."""
    import sklearn
    from sklearn.linear_model._base import SparseCoefMixin
    from sklearn.utils import all_estimators

    features = np.random.default_rng(0).normal(size=(30, 4))
    target = features @ np.array([1.0, 0.0, 2.0, 0.0])
    models = [kind() for _, kind in all_estimators() if issubclass(kind, SparseCoefMixin)]
    assert len(models) >= 9
    context: Any = contextlib.nullcontext()
    if "sparse_interface" in inspect.signature(sklearn.config_context).parameters:
        context = sklearn.config_context(sparse_interface=interface)
    elif interface == "sparray":
        pytest.skip(f"scikit-learn {sklearn.__version__} has no sparse_interface: sparsify()"
                    f" makes a csr_matrix")
    with context:
        for model in models:
            labels = target > 0 if sklearn.base.is_classifier(model) else target
            model.fit(features, labels).sparsify()
            loaded = satchel.loads(satchel.dumps(model)).unwrap()
            assert (type(loaded.coef_), loaded.coef_.shape) == (type(model.coef_),
                                                                model.coef_.shape)
            np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


@pytest.mark.skipif(not _SPARSE_OF[1], reason=f"scipy {scipy.__version__} has no 1-d sparse"
                    f" arrays: a file's 1-d CSR is refused for its shape alone")
def test_a_one_dimensional_csr_of_more_than_one_row_is_refused() -> None:
    """A 1-d CSR matrix is one row: index pointers for two, or a shape of three
    dimensions, are refused at load."""
    data = satchel.dumps(scipy.sparse.csr_array(np.eye(2, 3)))
    for shape, message in (([3], "invalid csr_array: index pointer size 3 should be 2"),
                           ([2, 3, 1], "a sparse matrix needs a shape of two non-negative"
                                       " integers (or one, for CSR), found [2, 3, 1]")):
        header = raw_header(data)
        find(header["tree"], lambda node: node.get("$") == "sparse")["shape"] = shape
        with pytest.raises(satchel.FormatError, match=re.escape(message)):
            satchel.loads(with_header(data, header))


def test_dummy_classes_past_what_a_reader_accepts_are_refused_at_save() -> None:
    """A DummyClassifier's predict_proba allocates n_classes_ columns a row: a reader takes
    only the count of its classes_ (one count, class list and prior per output), so a
    writer does too."""
    from sklearn.dummy import DummyClassifier

    features, labels = np.eye(4), np.array([[0, 1], [1, 2], [0, 3], [1, 4]])
    for target in (labels[:, 0], labels):
        model = DummyClassifier(strategy="uniform").fit(features, target)
        assert satchel.loads(satchel.dumps(model)).unwrap().n_classes_ == model.n_classes_
    model.n_classes_ = [2, 1 << 40]
    with pytest.raises(satchel.EncodeError, match="n_classes_ must count the classes_ of each"
                       " of n_outputs_ outputs"):
        satchel.dumps(model)


def test_dummy_outputs_past_its_constant_are_refused_at_save() -> None:
    """A DummyRegressor's predict fills n_outputs_ columns a row with constant_: a reader
    takes only the outputs constant_ holds, so a writer does too."""
    from sklearn.dummy import DummyRegressor

    features = np.eye(4)
    for target in (np.arange(4.0), np.arange(8.0).reshape(4, 2)):
        model = DummyRegressor().fit(features, target)
        assert satchel.loads(satchel.dumps(model)).unwrap().n_outputs_ == model.n_outputs_
    model.n_outputs_ = 1 << 40
    with pytest.raises(satchel.EncodeError, match="constant_ must hold one row of a value for"
                       " each of n_outputs_ outputs"):
        satchel.dumps(model)


def test_ngrams_past_what_a_reader_accepts_are_refused_at_save() -> None:
    """A text vectorizer makes every n-gram of its ngram_range at every position of a
    document: a reader takes lengths from 1 to 32, the shorter first, so a writer does too."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer

    documents = ["red green blue", "green blue sky"]
    model = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 32)).fit(documents)
    loaded = satchel.loads(satchel.dumps(model)).unwrap()
    assert (loaded.transform(documents) != model.transform(documents)).nnz == 0
    for span in ((1, 33), (3, 2), (0, 1)):
        with pytest.raises(satchel.EncodeError, match=re.escape(f"ngram_range is {span}")):
            satchel.dumps(HashingVectorizer(ngram_range=span))


def test_embedding_widths_past_the_embedding_are_refused_at_save() -> None:
    """A LocallyLinearEmbedding's transform fills n_components values a row, a MiniBatchNMF's
    _n_components: a reader takes only the columns of its embedding_, or the rows of its
    components_, so a writer does too."""
    from sklearn.decomposition import MiniBatchNMF
    from sklearn.manifold import LocallyLinearEmbedding

    features = np.random.default_rng(0).normal(size=(30, 4))
    model = LocallyLinearEmbedding(n_components=2, n_neighbors=5).fit(features)
    assert satchel.loads(satchel.dumps(model)).unwrap().n_components == 2
    model.n_components = 1 << 30
    with pytest.raises(satchel.EncodeError, match=re.escape(
            "n_components is 1073741824; it must be the columns of embedding_ (of shape"
            " (30, 2))")):
        satchel.dumps(model)
    factorisation = MiniBatchNMF(n_components=2, random_state=0).fit(np.abs(features))
    assert satchel.loads(satchel.dumps(factorisation)).unwrap()._n_components == 2
    factorisation._n_components = 1 << 30
    with pytest.raises(satchel.EncodeError, match=re.escape(
            "_n_components is 1073741824; it must be the rows of components_ (of shape (2, 4))")):
        satchel.dumps(factorisation)


def test_boosting_widths_past_its_baseline_are_refused_at_save() -> None:
    """A histogram gradient-boosting model's predict allocates n_trees_per_iteration_ values
    a row: a reader takes only the width of its baseline and of each iteration's trees, so a
    writer does too."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    features = np.random.default_rng(0).normal(size=(60, 3))
    model = HistGradientBoostingClassifier(max_iter=2).fit(
        features, np.digitize(features[:, 0], [-0.5, 0.5]))
    assert satchel.loads(satchel.dumps(model)).unwrap().n_trees_per_iteration_ == 3
    model.n_trees_per_iteration_ = 1 << 40
    with pytest.raises(satchel.EncodeError, match="n_trees_per_iteration_ is 1099511627776; it"
                       " must be the width of _baseline_prediction"):
        satchel.dumps(model)


def test_forest_class_counts_past_its_classes_are_refused_at_save() -> None:
    """A forest's or bagging classifier's predict_proba allocates n_classes_ columns a row
    (per output): a reader takes only the count of its classes_, so a writer does too."""
    from sklearn.ensemble import BaggingClassifier, ExtraTreesClassifier

    features = np.random.default_rng(0).normal(size=(30, 3))
    labels = np.stack([features[:, 0] > 0, np.digitize(features[:, 1], [0.0, 1.0])], axis=1)
    models = [ExtraTreesClassifier(n_estimators=2, random_state=0).fit(features, labels),
              ExtraTreesClassifier(n_estimators=2, random_state=0).fit(features, labels[:, 1]),
              BaggingClassifier(n_estimators=2, random_state=0).fit(features, labels[:, 1])]
    for model in models:
        loaded = satchel.loads(satchel.dumps(model)).unwrap()
        assert np.array_equal(loaded.n_classes_, model.n_classes_)
        model.n_classes_ = [2, 1 << 40] if isinstance(model.n_classes_, list) else 1 << 40
        with pytest.raises(satchel.EncodeError, match="it must count the classes_"):
            satchel.dumps(model)


def test_mahalanobis_matrices_given_to_functions_are_refused_at_save() -> None:
    """A Mahalanobis VI in the keyword arguments a file gives a function (a
    FunctionTransformer's kw_args, a partial's keywords, or the metric_kwargs among them)
    reaches scipy unchecked against the input's width, and squared norms in metric_kwargs
    the compiled euclidean search: a reader refuses them, so a writer does too."""
    import functools

    from sklearn.metrics.pairwise import pairwise_distances, pairwise_distances_argmin
    from sklearn.preprocessing import FunctionTransformer

    matrix = np.eye(4)
    for value in (
            FunctionTransformer(pairwise_distances, kw_args={"metric": "mahalanobis",
                                                             "VI": matrix}),
            functools.partial(pairwise_distances, metric="mahalanobis", VI=matrix),
            functools.partial(pairwise_distances_argmin, metric="mahalanobis",
                              metric_kwargs={"VI": matrix})):
        with pytest.raises(satchel.EncodeError, match="give a function a Mahalanobis VI"):
            satchel.dumps(value)
    norms = functools.partial(pairwise_distances_argmin, metric_kwargs={
        "Y_norm_squared": np.zeros(1)})
    with pytest.raises(satchel.EncodeError, match=re.escape(
            "give a function squared norms, which the compiled euclidean search reads one per"
            " row, without checking it ('Y_norm_squared'). Leave them out")):
        satchel.dumps(norms)


def test_count_sketch_columns_past_what_a_reader_accepts_are_refused_at_save() -> None:
    """A PolynomialCountSketch's transform allocates degree x n_components values a row: a
    reader takes at most 2**24 of them, hashed below n_components, so a writer does too."""
    from sklearn.kernel_approximation import PolynomialCountSketch

    model = PolynomialCountSketch(n_components=8, random_state=0).fit(np.eye(4))
    assert satchel.loads(satchel.dumps(model)).unwrap().n_components == 8
    model.n_components = 1 << 40
    with pytest.raises(satchel.EncodeError, match="n_components one from 1 to 16777216"):
        satchel.dumps(model)
    model.n_components = 1 << 24  # allowed alone, but degree 2 makes 2**25 values a row
    with pytest.raises(satchel.EncodeError, match=re.escape(
            "degree x n_components at most 16777216 too: transform allocates that many values"
            " for every row (found 2 and 16777216)")):
        satchel.dumps(model)
    model.n_components = 4
    model.indexHash_[0, 0] = 7
    with pytest.raises(satchel.EncodeError, match=re.escape(
            "indexHash_ and bitHash_ must hold 2 rows, of columns below n_components (4)")):
        satchel.dumps(model)


def test_chi2_sample_steps_past_what_a_reader_accepts_are_refused_at_save() -> None:
    """An AdditiveChi2Sampler's transform adds two copies of its input a step: a reader
    takes at most 2**24 columns of them, so a writer does too."""
    from sklearn.kernel_approximation import AdditiveChi2Sampler

    model = AdditiveChi2Sampler(sample_steps=100, sample_interval=0.5).fit(np.eye(4))
    assert satchel.loads(satchel.dumps(model)).unwrap().sample_steps == 100
    model.sample_steps = 10**9
    with pytest.raises(satchel.EncodeError, match="sample_steps is 1000000000; transform may"
                       " make at most 16777216 columns of 4 features"):
        satchel.dumps(model)


def test_threads_saving_to_one_path_never_show_a_partial_file(tmp_path: Path) -> None:
    """Each save writes a temporary file of its own: two threads saving to one path used
    one name per process, so one truncated the file the other was about to rename into
    place (readers saw empty and half files) and the other's rename found nothing."""
    import threading

    path = tmp_path / "model.satchel"
    value = {"w": np.arange(300_000, dtype=np.float64)}
    satchel.save(value, path)
    errors: list[BaseException] = []
    done = threading.Event()

    def save() -> None:
        for _ in range(15):
            try:
                satchel.save(value, path)
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)

    def read() -> None:
        while not done.is_set():
            try:
                satchel.load(path)
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=save) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    done.set()
    reader.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.satchel"]


def test_a_save_keeps_the_permissions_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "private.satchel"
    satchel.save({"a": 1}, path)
    path.chmod(0o600)
    satchel.save({"a": 2}, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert satchel.load(path) == {"a": 2}


def test_a_save_through_a_symbolic_link_writes_the_file_it_names(tmp_path: Path) -> None:
    """Like open(): current.satchel -> v1.satchel stays a link, and v1 holds the new save
    (the link was replaced by a file, leaving v1 as it was)."""
    target, link = tmp_path / "v1.satchel", tmp_path / "current.satchel"
    satchel.save({"v": 1}, target)
    link.symlink_to(target)
    satchel.save({"v": 2}, link)
    assert link.is_symlink()
    assert satchel.load(target) == {"v": 2}


def test_a_file_name_of_250_bytes_saves(tmp_path: Path) -> None:
    """The temporary name is cut to fit: a name the system accepts failed with
    ENAMETOOLONG, naming the hidden temporary file."""
    path = tmp_path / ("m" * 242 + ".satchel")
    satchel.save({"a": 1}, path)
    assert satchel.load(path) == {"a": 1}


@pytest.mark.parametrize(("where", "error", "message"), [
    ("", ValueError, "cannot save to '': expected the path of a file"),
    (".", IsADirectoryError, "it is a folder; give the path of a file"),
    ("new.satchel/", IsADirectoryError, "ends with a slash, as a folder does"),
    ("missing/model.satchel", FileNotFoundError, "the folder .*missing does not exist"),
])
def test_a_save_to_no_file_says_what_the_path_is(tmp_path: Path, where: str,
                                                  error: type[Exception], message: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors name the path given, not the hidden temporary file (a folder's was written
    beside it first)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message):
        satchel.save({"a": 1}, where)
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def _refusing_folder(tmp_path: Path, kind: str) -> Iterator[Path]:
    """A folder in which no file can be created: a read-only one (immutable, chattr +i, for
    a user such as root, who may write to a read-only folder), or /proc."""
    if kind == "proc":
        if not os.path.isdir("/proc/self"):
            pytest.skip("no /proc here")
        yield Path("/proc")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):
        yield folder
        return
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True, check=False).returncode != 0:
        pytest.skip("this user may write to a read-only folder, and chattr +i is not available"
                    " here (it needs root and a file system that keeps the flag)")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize("kind", ["read-only", "proc"])
def test_a_save_to_a_folder_that_refuses_files_names_it(tmp_path: Path, kind: str) -> None:
    """A folder in which no file can be created is named with the path given and why, not
    the hidden temporary file (a read-only folder's error named it) nor as missing (/proc's
    was said not to exist)."""
    with _refusing_folder(tmp_path, kind) as folder, pytest.raises(
            OSError, match="no file can be created") as caught:
        satchel.save({"a": 1}, folder / "model.satchel")
    assert str(caught.value) == (
        f"[Errno {caught.value.errno}] cannot save to {folder}/model.satchel: no file can be"
        f" created in the folder {folder} ({os.strerror(caught.value.errno or 0)}); a save"
        " writes a temporary file beside its destination and renames it into place, so"
        " choose a folder you can write to")


def test_a_save_to_a_device_writes_to_it(tmp_path: Path) -> None:
    """A device (/dev/null) is written to, as open() does, never replaced by a file."""
    import stat

    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs privileges")
    satchel.save({"a": 1}, device)
    assert stat.S_ISCHR(device.stat().st_mode)


def test_sets_give_the_same_digest_whatever_the_hash_seed() -> None:
    """A set's items are written in one order whatever the process's hash seed: sets of
    mixed types and of tuples were written in hash order, and sets of frozensets in an
    order their partial "<" gave from hash order."""
    script = textwrap.dedent("""
        import io, satchel
        values = [{frozenset({"a", "b"}), frozenset({"c"}), frozenset({"x", "y", "z"})},
                  {None, "a", "b", 1, 2.5, float("nan")}, {(1, "a"), ("b", 2), (3,)},
                  frozenset({"alpha", "beta", "gamma"})]
        print([satchel.inspect(io.BytesIO(satchel.dumps(v))).digest for v in values])
    """)
    digests = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2", "3", "4")}
    assert len(digests) == 1, digests


@pytest.mark.parametrize("kind", ["text", "bytes path", "descriptor"])
def test_a_file_argument_that_is_no_binary_file_says_so(tmp_path: Path, kind: str) -> None:
    """A text-mode file, a bytes path or a file descriptor number gets a TypeError saying
    what is expected: they failed inside with AttributeError or UnicodeDecodeError."""
    path = tmp_path / "model.satchel"
    satchel.save({"a": 1}, path)
    message = "open it in binary mode" if kind == "text" else "expected a path"
    with open(path) as text:
        given = {"text": text, "bytes path": os.fsencode(path), "descriptor": 0}[kind]
        for call in (satchel.load, satchel.inspect, lambda f: satchel.save({"a": 2}, f)):
            with pytest.raises(TypeError, match=message):
                call(given)
    assert satchel.load(path) == {"a": 1}


@pytest.mark.parametrize("mmap_load", [False, True])
def test_a_binary_file_open_the_other_way_says_so(tmp_path: Path, mmap_load: bool) -> None:
    """A binary file open only for writing, given to load or inspect, or only for reading,
    given to save, gets a TypeError saying how to open it: a load found 'no satchel file'
    (b''), a mapped load PermissionError, inspect and save io.UnsupportedOperation."""
    path = tmp_path / "model.satchel"
    satchel.save({"a": 1}, path)
    with open(path, "ab") as appending:
        for call in (functools.partial(satchel.load, mmap=mmap_load), satchel.inspect):
            with pytest.raises(TypeError) as caught:
                call(appending)
            assert str(caught.value) == ("the file is not open for reading (mode 'ab'): open"
                                         " it with 'rb' or pass its path")
    with open(path, "rb") as reading, pytest.raises(TypeError) as caught:
        satchel.save({"a": 2}, reading)
    assert str(caught.value) == ("the file is not open for writing (mode 'rb'): open it with"
                                 " 'wb' or pass its path")
    assert satchel.load(path) == {"a": 1}


def test_models_the_load_time_checks_must_accept() -> None:
    """Fitted models that the checks against crafted state must let through: a gradient
    boosting init_ that predicts neither a row of zeros nor fails on ones (categories coded
    1..4, a log), float32 Birch (its norms are float32) and a Mahalanobis metric given its
    covariance V (a matrix, where seuclidean's V is a vector)."""
    from sklearn.cluster import Birch
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    rng = np.random.default_rng(0)
    codes = rng.integers(1, 5, size=(300, 3)).astype(float)
    X = rng.normal(size=(100, 4))
    models = [
        GradientBoostingClassifier(n_estimators=3, init=make_pipeline(
            OneHotEncoder(), LogisticRegression())).fit(codes, np.digitize(codes[:, 0], [2, 3])),
        GradientBoostingRegressor(n_estimators=3, init=make_pipeline(
            FunctionTransformer(np.log), Ridge())).fit(codes, codes[:, 0] * 2.0),
        Birch(n_clusters=3).fit(X.astype(np.float32)),
        KNeighborsClassifier(metric="mahalanobis", metric_params={"V": np.cov(X.T)},
                             algorithm="ball_tree").fit(X, np.arange(100) % 3),
    ]
    for model, data in zip(models, [codes, codes, X.astype(np.float32), X], strict=True):
        np.testing.assert_array_equal(satchel.loads(satchel.dumps(model)).predict(data),
                                      model.predict(data))


def test_a_save_to_dev_stdout_writes_the_pipe() -> None:
    """/dev/stdout of a piped process links to a pipe that has no path of its own: the
    save writes to it (it failed naming a folder /proc/PID/fd that did not exist)."""
    script = "import satchel; satchel.save({'a': 1}, '/dev/stdout')"
    if not os.path.exists("/dev/stdout"):
        pytest.skip("no /dev/stdout here")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True,
                          timeout=60)
    assert satchel.loads(done.stdout) == {"a": 1}
    assert os.path.islink("/dev/stdout") or not os.path.isfile("/dev/stdout")


def test_a_save_to_dev_stdout_appends_where_the_shell_said(tmp_path: Path) -> None:
    """/dev/stdout redirected with >> to a file, or after what the script printed, is written
    through the descriptor after what the file holds: opened by its name, the file was
    replaced by the satchel file alone and its lines were lost. A file too large to be
    written in one pass (its header comes last) is written in order to a pipe, which cannot
    be rewound."""
    if not os.path.exists("/dev/stdout"):
        pytest.skip("no /dev/stdout here")
    log = tmp_path / "log.txt"
    log.write_bytes(b"kept\n")
    script = ("import sys, satchel; print('printed', flush=True);"
              " satchel.save({'a': 1}, sys.argv[1])")
    for target in ("/dev/stdout", "/dev/fd/1"):
        with log.open("ab") as appended:
            subprocess.run([sys.executable, "-c", script, target], stdout=appended, check=True,
                           timeout=60)
    data = log.read_bytes()
    assert data.startswith(b"kept\nprinted\n\x89SATCHEL")
    second = data.index(b"printed\n", 6) + len(b"printed\n")
    assert satchel.loads(data[second:]) == {"a": 1}
    large = ("import numpy as np, satchel;"
             f" satchel.save({{'w': np.arange({STREAM_FROM // 8 + 1}.0)}}, '/dev/stdout')")
    done = subprocess.run([sys.executable, "-c", large], capture_output=True, check=True,
                          timeout=120)
    loaded = satchel.loads(done.stdout)
    np.testing.assert_array_equal(loaded["w"], np.arange(STREAM_FROM // 8 + 1.0))


def test_a_file_that_cannot_be_replaced_is_named(tmp_path: Path) -> None:
    """A save over a file that cannot be replaced (immutable, chattr +i) names that file and
    keeps it as it was: the error named the hidden temporary file beside it
    ('.model.satchel.123.abc.tmp' -> 'model.satchel'), which no user asked for."""
    target = tmp_path / "model.satchel"
    satchel.save({"a": 1}, target)
    before = target.read_bytes()
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(target)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not available here (it needs root and a file system that"
                    " keeps the flag)")
    try:
        with pytest.raises(PermissionError) as caught:
            satchel.save({"a": 2}, target)
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert str(caught.value).startswith(f"[Errno 1] cannot replace {target}: Operation not"
                                        " permitted (a save writes a new file beside it")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.satchel"]


@pytest.mark.parametrize(("size", "options"), [
    (300_000, {}), (300_000, {"compress": "zstd"}), (STREAM_FROM // 8, {})])
def test_a_save_to_a_full_disk_names_the_file_and_keeps_the_old_one(
        small_disk: Path, size: int, options: dict[str, Any]) -> None:
    """A save that runs out of room (ENOSPC), written whole, compressed or streamed, says
    which file and why, leaves no temporary file and keeps the file it would replace: the
    error was '[Errno 28] No space left on device', naming nothing."""
    path = small_disk / "model.satchel"
    satchel.save({"v": 1}, path)
    big = {"v": np.random.default_rng(0).random(size)}
    with pytest.raises(OSError, match="No space left") as caught:
        satchel.save(big, path, **options)
    assert str(caught.value) == (
        f"[Errno 28] cannot save to {path}: No space left on device in the folder"
        f" {small_disk}; nothing was written under its name (a file there keeps what it"
        " held): free space on its filesystem or choose another folder")
    assert [p.name for p in small_disk.iterdir()] == ["model.satchel"]
    assert satchel.load(path) == {"v": 1}


@pytest.mark.parametrize("how", ["device", "descriptor"])
def test_a_save_to_a_full_device_or_descriptor_names_it(how: str) -> None:
    """A save written in place (a device, a descriptor such as /dev/stdout) that runs out of
    room names what it wrote to and says the output is cut short: the error was '[Errno 28]
    No space left on device', naming nothing."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "wb") as full:
        target = "/dev/full" if how == "device" else f"/dev/fd/{full.fileno()}"
        with pytest.raises(OSError, match="No space left") as caught:
            satchel.save({"v": np.zeros(100_000)}, target)
    assert str(caught.value) == (
        f"[Errno 28] cannot write {target}: No space left on device; what was written to it"
        " is cut short: free space where it leads, or save to a file")


def test_a_save_past_the_file_size_limit_says_so(tmp_path: Path) -> None:
    """A save larger than the process's file size limit (ulimit -f, EFBIG) or what its
    filesystem allows says so, rather than to free space, which would not help."""
    script = textwrap.dedent(f"""
        import resource, numpy as np, satchel
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
        try:
            satchel.save({{"v": np.zeros(300_000)}}, {str(tmp_path / 'model.satchel')!r})
        except OSError as exc:
            print(exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout == (
        f"[Errno 27] cannot save to {tmp_path}/model.satchel: File too large in the folder"
        f" {tmp_path}; nothing was written under its name (a file there keeps what it held):"
        " the file is larger than its filesystem or this process's file size limit (ulimit"
        " -f) allows: choose a folder on another filesystem, or raise the limit\n")
    assert list(tmp_path.iterdir()) == []
