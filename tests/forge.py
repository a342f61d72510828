"""Forge hostile satchel files from valid ones, with every checksum recomputed.

Run ``python -m tests.forge`` to regenerate ``tests/corpus/``: one ``.satchel``
file per attack and ``expected.json``, which names the error each must raise
and a fragment of its message. Checksums are recomputed so that the attacks
reach the checks behind them, not just the integrity check.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import pickle
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from satchel.format import container, reader
from satchel.format.encoder import encode
from satchel.format.handlers.numpy_ import inline_array

CORPUS = Path(__file__).parent / "corpus"
MARKER = "/tmp/satchel-hostile-marker"  # a forged callable would create it if ever called


def parts(data: bytes) -> tuple[Any, list[np.ndarray[Any, Any]], dict[str, Any]]:
    """(tree, arrays as writable copies, metadata) of a valid file."""
    header = reader.read_header(io.BytesIO(data))
    source = reader.Source.from_bytes(data)
    arrays = [np.array(source.array(header, i, verify=False)) for i in range(len(header.arrays))]
    return copy.deepcopy(header.tree), arrays, header.metadata


def build(tree: Any, arrays: list[np.ndarray[Any, Any]], metadata: dict[str, Any] | None = None
          ) -> bytes:
    """A file with valid checksums around ``tree`` and ``arrays``."""
    return b"".join(container.serialize(tree, arrays, metadata or {}))


def raw_header(data: bytes) -> dict[str, Any]:
    """The decoded JSON header of a file."""
    length = struct.unpack_from("<Q", data, 16)[0]
    stored = data[64:64 + length]
    flags = struct.unpack_from("<I", data, 12)[0]
    if flags & 2:  # the preset dictionary
        inflater = zlib.decompressobj(zdict=container.HEADER_DICTIONARY)
        return dict(orjson.loads(inflater.decompress(stored) + inflater.flush()))
    return dict(orjson.loads(zlib.decompress(stored) if flags & 1 else stored))


def with_header(data: bytes, header: dict[str, Any] | bytes) -> bytes:
    """``data`` with its JSON header replaced (array section kept, hashes recomputed)."""
    old_length = struct.unpack_from("<Q", data, 16)[0]
    old_start = container.align(64 + old_length)
    text = header if isinstance(header, bytes) else orjson.dumps(header)
    start = struct.pack("<8sHHIQ", container.MAGIC, 1, 0, 0, len(text))
    preamble = start + __import__("blake3").blake3(start + text).digest() + bytes(8)
    body = preamble + text
    return body + bytes(container.align(len(body)) - len(body)) + data[old_start:]


def find(tree: Any, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first node of ``tree`` (depth first) that satisfies ``predicate``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if predicate(node):
                return node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    raise LookupError("no such node")


def _fitted(kind: str) -> bytes:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neighbors import KDTree
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 4))
    labels = (features[:, 0] * features[:, 1] + rng.normal(size=300) > 0).astype(int)
    model = {"tree": lambda: DecisionTreeClassifier(max_depth=4).fit(features, labels),
             "hgb": lambda: HistGradientBoostingClassifier(max_iter=3).fit(features, labels),
             "kdtree": lambda: KDTree(features, leaf_size=10),
             "svc": lambda: SVC().fit(features, labels),
             "forest": lambda: RandomForestClassifier(n_estimators=3, max_depth=3,
                                                      random_state=0).fit(features, labels),
             }[kind]()
    tree, arrays = encode(model)
    return build(tree, arrays)


def _edit_array(data: bytes, field_path: Callable[[Any], dict[str, Any]],
                change: Callable[[np.ndarray[Any, Any]], None]) -> bytes:
    tree, arrays, metadata = parts(data)
    node = field_path(tree)
    if "a" in node:
        change(arrays[node["a"]])
    else:  # a small array stored in the header
        values = np.array(inline_array(node))
        change(values)
        node["b64"] = base64.b64encode(values.tobytes()).decode("ascii")
    return build(tree, arrays, metadata)


def _tree_nodes(tree: Any) -> dict[str, Any]:
    tree_node = find(tree, lambda n: n.get("cls") == "sklearn.tree._tree:Tree")
    nodes: dict[str, Any] = tree_node["state"]["v"]["nodes"]
    return nodes


def _predictor_nodes(tree: Any) -> dict[str, Any]:
    members = find(tree, lambda n: n.get("cls", "").endswith(":TreePredictor"))
    nodes: dict[str, Any] = members["state"]["v"]["nodes"]
    return nodes["v"] if nodes.get("$") == "cat" else nodes  # predictors stored as columns


def _forest_column(name: str, part: str = "v") -> Callable[[Any], dict[str, Any]]:
    """The ``part`` of a column of the forest's trees (stored as columns)."""
    def column(tree: Any) -> dict[str, Any]:
        trees = find(tree, lambda n: n.get("$") == "news" and n["cls"].endswith(":Tree"))
        found: dict[str, Any] = trees["state"]["v"][name][part]
        return found
    return column


def _wrap_around(lens: np.ndarray[Any, Any]) -> None:
    """Add a third of 2**64 to each of the first three counts: int64 sums no longer see it."""
    third = (1 << 64) // 3
    lens[:3] += np.array([third, third, (1 << 64) - 2 * third], dtype=np.uint64).astype(
        np.int64)


def _edit_tree(data: bytes, edit: Callable[[Any], None]) -> bytes:
    tree, arrays, metadata = parts(data)
    edit(tree)
    return build(tree, arrays, metadata)


def _members(kind: str) -> Callable[[Any], dict[str, Any]]:
    return lambda tree: find(tree, lambda n: n.get("$") == kind)


def _columnar_attacks(forest: bytes, hgb: bytes) -> dict[str, tuple[bytes, str, str]]:
    """Trees and predictors stored as columns: their batch checks and the column nodes."""
    invalid = "FormatError"
    trees = _members("news")

    def change(what: Callable[[Any], dict[str, Any]], **values: Any) -> Callable[[Any], None]:
        return lambda tree: what(tree).update(values)

    def node_count(tree: Any) -> None:
        trees(tree)["state"]["v"]["node_count"]["v"][1] += 1

    def short_column(tree: Any) -> None:
        trees(tree)["state"]["v"]["node_count"]["v"].pop()

    def shared_object(tree: Any) -> None:
        trees(tree)["state"]["v"]["max_depth"] = {"$": "same", "v": {"$": "dict", "v": {}}}

    def untrusted_class(tree: Any) -> None:
        trees(tree)["cls"] = "subprocess:Popen"

    return {
        "forest_child_out_of_range": (_edit_array(forest, _forest_column("nodes"),
                                                  _set_field("left_child", 0, 10**9)),
                                      invalid, "invalid Tree"),
        "forest_child_into_next_tree": (_edit_array(forest, _forest_column("nodes"),
                                                    _set_field("right_child", 0, 15)),
                                        invalid, "invalid Tree"),
        "forest_feature_out_of_range": (_edit_array(forest, _forest_column("nodes"),
                                                    _set_field("feature", 2, 4)),
                                        invalid, "invalid Tree"),
        "forest_leaf_with_child": (_edit_array(forest, _forest_column("nodes"),
                                               _set_field("right_child", -1, 1)),
                                   invalid, "a leaf has a right child"),
        "forest_row_counts_wrong": (_edit_array(forest, _forest_column("nodes", "lens"),
                                                lambda lens: lens.__setitem__(0, lens[0] + 1)),
                                    invalid, "row counts do not add up"),
        "forest_row_counts_negative": (_edit_array(
            forest, _forest_column("nodes", "lens"),
            lambda lens: lens.__setitem__(slice(0, 2), [lens[0] + 1, lens[1] - 1 - 10**6])),
            invalid, "row counts do not add up"),
        # Each count is a valid int64 but their sum wraps around 2**64 to the true total.
        "forest_row_counts_overflow": (_edit_array(
            forest, _forest_column("nodes", "lens"), _wrap_around), invalid,
            "row counts do not add up"),
        "forest_node_count_mismatch": (_edit_tree(forest, node_count), invalid,
                                       "node_count does not match"),
        "forest_n_classes_zero": (_edit_array(forest, lambda t: trees(t)["args"][1]["v"],
                                              lambda n: n.__setitem__(0, 0)),
                                  invalid, "n_classes must hold"),
        "objs_column_short": (_edit_tree(forest, short_column), invalid,
                              "holds 2 values for 3 members"),
        "objs_shared_object": (_edit_tree(forest, shared_object), invalid,
                               "a shared value must be a JSON scalar"),
        "objs_untrusted_class": (_edit_tree(forest, untrusted_class), "UntrustedTypesError",
                                 "subprocess.Popen"),
        "objs_count_huge": (_edit_tree(forest, change(trees, n=10**7)), "LimitError",
                            "more than"),
        "objs_count_mismatch": (_edit_tree(forest, change(trees, n=2)), invalid,
                                "row counts do not add up"),
        "objs_refs_malformed": (_edit_tree(forest, change(trees, refs=[0])), invalid,
                                "refs must hold one entry per member"),
        "objs_rows_not_dividing": (_edit_tree(hgb, change(_members("objs"), rows=2)), invalid,
                                   "does not divide"),
        "column_outside_objs": (_name_attack({"$": "cat", "v": {"$": "nd", "a": 0}}), invalid,
                                "can only be a column"),
    }


def _set_field(name: str, index: int, value: int) -> Callable[[np.ndarray[Any, Any]], None]:
    def change(nodes: np.ndarray[Any, Any]) -> None:
        nodes[name][index] = value
    return change


def _name_attack(node: dict[str, Any]) -> bytes:
    return build({"$": "dict", "v": {"payload": node}}, [])


def attacks() -> dict[str, tuple[bytes, str, str]]:
    """name -> (file bytes, expected error class name, message fragment)."""
    base = build(*encode({"x": np.arange(100.0), "y": "text"}))
    tree_file, hgb, kdtree, svc, forest = (_fitted(k) for k in ("tree", "hgb", "kdtree", "svc",
                                                                "forest"))
    untrusted, invalid = "UntrustedTypesError", "FormatError"
    found: dict[str, tuple[bytes, str, str]] = {
        "class_os_system": (_name_attack({"$": "obj", "cls": "os:system"}), untrusted,
                            "os.system"),
        "class_subprocess_popen": (_name_attack({"$": "obj", "cls": "subprocess:Popen",
                                                 "state": {"$": "dict", "v": {"args": [
                                                     "touch", MARKER]}}}), untrusted,
                                   "subprocess.Popen"),
        "class_unknown_module": (_name_attack({"$": "obj", "cls": "no_such_pkg_x.mod:Thing"}),
                                 untrusted, "no_such_pkg_x.mod.Thing"),
        "class_reexported_in_sklearn": (_name_attack(
            {"$": "obj", "cls": "sklearn.utils._param_validation:Integral"}), untrusted,
            "not a class that satchel trusts"),
        "function_eval": (_name_attack({"$": "func", "name": "builtins:eval"}), untrusted,
                          "builtins.eval"),
        "function_exec": (_name_attack({"$": "func", "name": "builtins:exec"}), untrusted,
                          "builtins.exec"),
        "function_os_system": (_name_attack({"$": "func", "name": "os:system"}), untrusted,
                               "os.system"),
        "function_numpy_load": (_name_attack({"$": "func", "name": "numpy:load"}), untrusted,
                                "numpy.load"),
        "function_module_reexport": (_name_attack(
            {"$": "func", "name": "sklearn.metrics._classification:np"}), untrusted,
            "leads into module"),
        "type_numpy_function": (_name_attack({"$": "type", "name": "numpy:load"}), untrusted,
                                "numpy.load"),
        "partial_os_system": (_name_attack({"$": "partial", "func": {
            "$": "func", "name": "os:system"}, "args": [f"touch {MARKER}"],
            "kw": {"$": "dict", "v": {}}}), untrusted, "os.system"),
        "methodcaller": (_name_attack({"$": "new", "cls": "operator:methodcaller",
                                       "args": ["system", f"touch {MARKER}"]}), untrusted,
                         "operator.methodcaller"),
        "attrgetter": (_name_attack({"$": "new", "cls": "operator:attrgetter",
                                     "args": ["__globals__"]}), untrusted,
                       "operator.attrgetter"),
        "construct_sklearn_python_class": (_name_attack(
            {"$": "new", "cls": "sklearn.pipeline:Pipeline", "args": [[]]}), untrusted,
            "sklearn.pipeline.Pipeline"),
        "dunder_name": (_name_attack({"$": "func", "name":
                                      "sklearn.base:BaseEstimator.__init__.__globals__"}),
                        invalid, "invalid name"),
        "unknown_node_kind": (_name_attack({"$": "pickle", "data": "gASVAAAAAAAAAAA="}),
                              invalid, "unknown node kind"),
        "ref_forward": (build({"$": "tuple", "v": [{"$": "ref", "to": 3}]}, []), invalid,
                        "points to no object"),
        "deep_nesting": (build(orjson.loads("[" * 240 + "]" * 240), []), "LimitError",
                         "nests deeper"),
        "deep_nesting_json_10000": (with_header(base, b'{"digest":"","tree":' + b"[" * 10000
                                                + b"]" * 10000 + b',"arrays":[],"metadata":{}}'),
                                    "LimitError", "deeper"),
        "inline_size_mismatch": (_name_attack({"$": "nd", "dtype": "<f8", "shape": [1000],
                                               "b64": "AAAAAAAAAAA="}), invalid,
                                 "needs 8000 bytes"),
        "strs_count_mismatch": (build({"$": "strs", "a": 0, "n": 5},
                                      [np.frombuffer(b"a\x00b", dtype=np.uint8).copy()]),
                                invalid, "expected 5, found 2"),
        "sparse_index_out_of_range": (build(
            {"$": "sparse", "cls": "csr_matrix", "shape": [2, 2],
             "data": {"$": "nd", "a": 0}, "indices": {"$": "nd", "a": 1},
             "indptr": {"$": "nd", "a": 2}},
            [np.ones(2), np.array([0, 99], dtype=np.int32), np.array([0, 1, 2],
                                                                      dtype=np.int32)]),
            invalid, "invalid csr_matrix"),
        "tree_child_out_of_range": (_edit_array(tree_file, _tree_nodes,
                                                _set_field("left_child", 0, 10**9)),
                                    invalid, "invalid Tree"),
        "tree_child_backwards": (_edit_array(tree_file, _tree_nodes,
                                             _set_field("right_child", 0, 0)),
                                 invalid, "invalid Tree"),
        "tree_feature_out_of_range": (_edit_array(tree_file, _tree_nodes,
                                                  _set_field("feature", 0, 10**6)),
                                      invalid, "invalid Tree"),
        "tree_leaf_with_child": (_edit_array(tree_file, _tree_nodes,
                                             _set_field("right_child", -1, 1)),
                                 invalid, "invalid Tree"),
        "hgb_predictor_bad_child": (_edit_array(hgb, _predictor_nodes,
                                                _set_field("left", 0, 10**6)), invalid,
                                    "invalid TreePredictor"),
        "hgb_feature_out_of_range": (_edit_array(hgb, _predictor_nodes,
                                                 _set_field("feature_idx", 0, 10**6)), invalid,
                                     "a split uses a feature"),
        "kdtree_index_out_of_range": (_edit_array(kdtree, lambda t: find(
            t, lambda n: n.get("cls", "").endswith(":KDTree"))["state"]["v"][1],
            lambda idx: idx.__setitem__(0, 10**7)), invalid, "idx_array must index"),
        "svc_support_counts": (_edit_array(svc, lambda t: find(
            t, lambda n: n.get("cls", "").endswith(":SVC"))["state"]["v"]["_n_support"],
            lambda counts: counts.__setitem__(0, counts[0] + 5)), invalid,
            "support vector counts disagree"),
    }
    found.update(_layout_attacks(base))
    found.update(_columnar_attacks(forest, hgb))
    found.update(_tree_shape_attacks(tree_file, forest, hgb))
    found.update(_estimator_attacks())
    return found


# ------------------------------------------- state compiled code indexes with


def _shared_child(left: str, right: str) -> Callable[[np.ndarray[Any, Any]], None]:
    """The root's right child becomes the left child of the next internal node: a node
    with two parents (the root's old right subtree is left unreachable)."""
    def change(nodes: np.ndarray[Any, Any]) -> None:
        internal = nodes["is_leaf"] == 0 if "is_leaf" in nodes.dtype.names else \
            nodes[left] != -1
        nodes[right][0] = nodes[left][np.flatnonzero(internal[1:])[0] + 1]
    return change


def _tree_shape_attacks(tree_file: bytes, forest: bytes, hgb: bytes
                        ) -> dict[str, tuple[bytes, str, str]]:
    """Trees whose depth is not what decision_path allocates for, or that are not trees."""
    invalid = "FormatError"

    def tree_depth(value: int) -> Callable[[Any], None]:
        def edit(tree: Any) -> None:
            find(tree, lambda n: n.get("cls") == "sklearn.tree._tree:Tree")["state"]["v"][
                "max_depth"] = value
        return edit

    def forest_depth(tree: Any) -> None:
        trees = find(tree, lambda n: n.get("$") == "news" and n["cls"].endswith(":Tree"))
        trees["state"]["v"]["max_depth"] = {"$": "same", "v": 1}

    return {
        "tree_max_depth_below_its_depth": (_edit_tree(tree_file, tree_depth(0)), invalid,
                                           "max_depth is smaller than the depth of the tree"),
        "tree_max_depth_beyond_its_nodes": (_edit_tree(tree_file, tree_depth(1 << 40)),
                                            invalid, "max_depth must be from 0 to"),
        "tree_node_with_two_parents": (_edit_array(tree_file, _tree_nodes, _shared_child(
            "left_child", "right_child")), invalid, "a node is the child of more than one"),
        "tree_both_children_one_node": (_edit_array(tree_file, _tree_nodes, _set_field(
            "right_child", 0, 1)), invalid, "names both children"),
        "forest_max_depth_below_its_depth": (_edit_tree(forest, forest_depth), invalid,
                                             "max_depth is smaller than the depth of the tree"),
        "forest_node_with_two_parents": (_edit_array(forest, _forest_column("nodes"),
                                                     _shared_child("left_child",
                                                                   "right_child")),
                                         invalid, "a node is the child of more than one"),
        "hgb_node_with_two_parents": (_edit_array(hgb, _predictor_nodes,
                                                  _shared_child("left", "right")),
                                      invalid, "a node is the child of more than one"),
    }


def _training() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The features of :func:`_fitted`, its two classes, and three classes."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 4))
    labels = (features[:, 0] * features[:, 1] + rng.normal(size=300) > 0).astype(int)
    return features, labels, labels + (features[:, 2] > 1)


def _saved(model: Any, metadata: dict[str, Any] | None = None, **attributes: Any) -> bytes:
    """A file of ``model`` with ``attributes`` set on it first."""
    for name, value in attributes.items():
        setattr(model, name, value)
    return build(*encode(model), metadata)


def _estimator_attacks() -> dict[str, tuple[bytes, str, str]]:
    """Fitted attributes that compiled code indexes with, out of range."""
    from scipy.interpolate import BSpline
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
    from sklearn.feature_extraction import DictVectorizer, FeatureHasher
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import MultiLabelBinarizer, OneHotEncoder, SplineTransformer
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    features, labels, three = _training()
    invalid = "FormatError"
    codes = np.array([[0, 0], [1, 1], [2, 0], [3, 1]])

    def boosted(**attributes: Any) -> bytes:
        model = GradientBoostingRegressor(n_estimators=2, max_depth=2, random_state=0).fit(
            features, features[:, 0])
        return _saved(model, **attributes)

    def wide_stages() -> np.ndarray[Any, Any]:
        model = GradientBoostingRegressor(n_estimators=1, max_depth=2).fit(features, labels)
        stages = np.empty((1, 50), dtype=object)
        stages[0, :] = [model.estimators_[0, 0]] * 50
        return stages

    def classifier_stage() -> np.ndarray[Any, Any]:
        stages = np.empty((2, 1), dtype=object)
        stages[:, 0] = [DecisionTreeClassifier(max_depth=2).fit(features, labels)] * 2
        return stages

    def neighbours(change: Callable[[np.ndarray[Any, Any]], Any]) -> bytes:
        model = KNeighborsClassifier(algorithm="brute", metric="manhattan").fit(features,
                                                                                 labels)
        changed = change(model._y)
        return _saved(model, **({} if changed is None else {"_y": changed}))

    def precomputed() -> bytes:
        model = SVC(kernel="precomputed").fit(features @ features.T, labels)
        return _saved(model, support_=np.full_like(model.support_, (1 << 31) - 1))

    def support_counts() -> bytes:
        model = SVC().fit(features, labels)
        total = int(model._n_support.sum())
        return _saved(model, _n_support=np.array([total + 10**8, -10**8], dtype=np.int32))

    def spline(**attributes: Any) -> bytes:
        model = SplineTransformer(n_knots=5, degree=3).fit(features)
        for name, value in attributes.items():
            setattr(model.bsplines_[0], name, value)
        return _saved(model)

    def check_sample() -> dict[str, Any]:
        """A check sample, recomputed at load since the recorded scikit-learn differs."""
        sample, arrays = encode({"input": codes[:1].copy(), "outputs": {}})
        assert not arrays
        return {"environment": {"packages": {"scikit-learn": "0.0.1"}},
                "check": {"rows": 1, "tree": sample}}

    one_hot = OneHotEncoder(sparse_output=False).fit(codes)
    docs = ["the cat sat", "the dog ran", "a cat ran"]
    binarizer = MultiLabelBinarizer().fit([["a", "b"], ["c"]])
    binarizer.transform([["a"]])  # fills the cache transform uses
    return {
        "gb_stage_wider_than_its_trees": (boosted(estimators_=wide_stages()), invalid,
                                          "must hold n_trees_per_iteration_ trees per stage"),
        "gb_stage_of_classification_trees": (boosted(estimators_=classifier_stage()),
                                             invalid, "must hold regression trees"),
        "gb_init_narrower_than_its_stages": (_saved(
            GradientBoostingClassifier(n_estimators=2, max_depth=1).fit(features, three),
            init_=DummyClassifier().fit(features, labels)), invalid,
            "init_ does not predict the 3 columns"),
        "knn_label_past_the_classes": (neighbours(lambda y: y.__setitem__(slice(None),
                                                                          1 << 40)),
                                       invalid, "_y holds a class index outside classes_"),
        "knn_labels_fewer_than_samples": (neighbours(lambda y: y[:10].copy()), invalid,
                                          "_y must hold a class index for each"),
        "svc_precomputed_support_past_the_kernel": (precomputed(), invalid,
                                                    "support_ names a training sample"),
        "svc_negative_support_count": (support_counts(), invalid,
                                       "_n_support holds a negative count"),
        "svc_probabilities_too_few": (_saved(SVC().fit(features, three),
                                             _probA=np.zeros(1), _probB=np.zeros(1)),
                                      invalid, "_probA and _probB must each hold"),
        "onehot_columns_negative_and_huge": (_saved(
            OneHotEncoder(sparse_output=False).fit(codes),
            _n_features_outs=[-10**8, 10**8 + 6]), invalid, "_n_features_outs must be [4, 2]"),
        "onehot_columns_in_the_check_sample": (_saved(
            one_hot, check_sample(), _n_features_outs=[-10**8, 10**8 + 6]), invalid,
            "_n_features_outs must be [4, 2]"),
        "onehot_numbers_unsorted": (_saved(
            OneHotEncoder().fit(codes), categories_=[np.array([3, 1, 2, 0]),
                                                     np.array([0, 1])]), invalid,
            "numeric categories must be sorted"),
        "onehot_dropped_category_past_the_end": (_saved(
            OneHotEncoder(drop="first").fit(codes),
            _drop_idx_after_grouping=np.array([7, 0], dtype=object)), invalid,
            "a dropped category is out of range"),
        "dictvectorizer_column_past_the_end": (_saved(
            DictVectorizer(sparse=False).fit([{"a": 1, "b": 2}]),
            vocabulary_={"a": 0, "b": 1 << 30}), invalid, "maps a term to a column outside"),
        "dictvectorizer_two_terms_one_column": (_saved(
            DictVectorizer().fit([{"a": 1, "b": 2}]), vocabulary_={"a": 0, "b": 0}),
            invalid, "maps two terms to one column"),
        "countvectorizer_column_negative": (_saved(
            CountVectorizer().fit(docs), vocabulary_={"the": -5, "cat": 1, "sat": 2, "dog": 3,
                                                      "ran": 4}), invalid,
            "maps a term to a column outside"),
        "multilabel_binarizer_cached_column_past_the_end": (_saved(
            binarizer, _cached_dict={"a": 0, "b": 1, "c": 1 << 30}), invalid,
            "maps a term to a column outside"),
        "featurehasher_no_features": (_saved(FeatureHasher(n_features=0)), invalid,
                                      "n_features must be an integer from 1"),
        "hashingvectorizer_no_features": (_saved(HashingVectorizer(n_features=0)), invalid,
                                          "n_features must be an integer from 1"),
        "bspline_negative_degree": (spline(k=-5), invalid, "the degree k must be an integer"),
        "bspline_degree_2_31": (spline(k=(1 << 31) - 1), invalid,
                                "the degree k must be an integer"),
        "bspline_too_few_knots": (spline(_t=np.linspace(0.0, 1.0, 5)), invalid,
                                  "needs a 1-d float64 array of at least 8 knots"),
        "bspline_knots_decreasing": (spline(_t=np.linspace(1.0, 0.0, 11)), invalid,
                                     "knots must be finite and non-decreasing"),
        "spline_transformer_spline_missing": (_saved(
            SplineTransformer().fit(features), bsplines_=[BSpline(
                np.arange(8.0), np.ones(4), 3)]), invalid, "bsplines_ must hold a spline"),
    }


def _layout_attacks(base: bytes) -> dict[str, tuple[bytes, str, str]]:
    header = raw_header(base)
    limit, invalid, integrity = "LimitError", "FormatError", "IntegrityError"

    def entry(**changes: Any) -> bytes:
        edited = copy.deepcopy(header)
        edited["arrays"][0].update(changes)
        return with_header(base, edited)

    huge = bytearray(base)
    struct.pack_into("<Q", huge, 16, 1 << 62)
    flipped_array, flipped_header, flipped_padding = bytearray(base), bytearray(base), \
        bytearray(base)
    flipped_array[-5] ^= 0x40
    flipped_header[70] ^= 0x01
    header_end = 64 + struct.unpack_from("<Q", base, 16)[0]
    flipped_padding[header_end] ^= 0x01
    joblib_like = io.BytesIO()
    pickle.dump({"x": 1}, joblib_like, protocol=2)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("schema.json", "{}")
    return {
        "huge_declared_shape": (entry(shape=[1 << 40]), invalid, "bytes are stored"),
        "huge_header_length": (bytes(huge), limit, "header declares"),
        "compression_bomb": (entry(codec="zstd", shape=[1 << 36], length=800), limit,
                             "claim to expand"),
        "object_dtype": (entry(dtype="|O8"), invalid, "expected a simple dtype"),
        "record_dtype_with_object": (entry(dtype={"names": ["a"], "formats": ["|O8"],
                                                  "offsets": [0], "itemsize": 8}),
                                     invalid, "expected a simple dtype"),
        "offset_overlapping": (entry(offset=64), invalid, "arrays follow each other"),
        "offset_out_of_range": (entry(offset=1 << 40), invalid, "arrays follow each other"),
        "offset_misaligned": (entry(offset=8), invalid, "arrays follow each other"),
        "length_past_end": (entry(length=10**6, shape=[125000]), integrity, "truncated"),
        "truncated_preamble": (base[:40], integrity, "truncated"),
        "truncated_header": (base[:100], integrity, "truncated"),
        "truncated_array": (base[:-10], integrity, "truncated"),
        "trailing_bytes": (base + b"\x00" * 64, integrity, "unexpected bytes"),
        "bit_flip_array": (bytes(flipped_array), integrity, "does not match its checksum"),
        "bit_flip_header": (bytes(flipped_header), integrity, "header checksum"),
        "bit_flip_padding": (bytes(flipped_padding), integrity, "padding bytes"),
        "pickle_renamed": (pickle.dumps({"x": 1}, protocol=5), invalid, "a pickle"),
        "joblib_renamed": (joblib_like.getvalue(), invalid, "a pickle"),
        "zip_renamed": (zipped.getvalue(), invalid, "a zip archive"),
        "empty_file": (b"", invalid, "not a satchel file"),
        "wrong_version": (bytes(base[:8]) + struct.pack("<H", 9) + base[10:],
                          "UnsupportedVersionError", "format 9.0"),
    }


def main() -> None:
    """Write every attack to tests/corpus/ with expected.json."""
    CORPUS.mkdir(exist_ok=True)
    expected = {}
    for name, (data, error, fragment) in sorted(attacks().items()):
        (CORPUS / f"{name}.satchel").write_bytes(data)
        expected[name] = {"error": error, "message": fragment}
    (CORPUS / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {len(expected)} hostile files to {CORPUS}", file=sys.stderr)


if __name__ == "__main__":
    main()
