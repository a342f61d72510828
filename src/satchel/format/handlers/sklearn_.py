"""Validation of scikit-learn state that compiled code indexes without bounds checks.

Type-safe is not memory-safe: a ``Tree`` whose child index points past the end,
or a ball tree whose index array names a sample that does not exist, would make
``predict`` read outside its arrays. Every check here runs on load, before the
object is used, so that these models stay trusted by default. Children must
come after their parents, which also rules out cycles (a hang at predict), and
no node may be the child of two (partial dependence walks every path: shared
children make them exponentially many); a Tree's depth, which ``decision_path``
sizes its buffer by, is found on the way. KD and ball trees and distance
metrics are checked in :mod:`satchel.format.handlers.sklearn_neighbors`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from satchel.format.dtypes import KNOWN_DTYPES
from satchel.format.handlers.columns import COLUMNAR, Bases, Batch
from satchel.format.handlers.objects import AFTER_TYPES, ARGS, STATE, fail

TREE = "sklearn.tree._tree:Tree"
MAX_OUTPUTS = 1 << 20
#: Nodes checked at a time: the temporaries of a chunk stay in the CPU cache.
_CHUNK = 1 << 13
#: A node's two child indices seen as one item of a type numpy gathers and selects fast.
_PAIRS = {np.int32: np.dtype(np.int64), np.int64: np.dtype(np.complex128)}


#: A Tree's n_features: scikit-learn 1.4 keeps it in a C int, and fails to build a wider one.
MAX_TREE_FEATURES = (1 << 31) - 1


def is_int(value: Any, low: int = 0, high: int = 1 << 62) -> bool:
    return type(value) is int and low <= value <= high


def _check_links(what: str, nodes: np.ndarray[Any, Any], fields: tuple[str, str, str],
                 internal_of: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]],
                 n_features: Any, *, lengths: np.ndarray[Any, Any] | None = None,
                 children: bool = False) -> np.ndarray[Any, Any] | None:
    """Internal nodes' children exist and come after them; their features are in range.

    ``nodes`` holds one tree, or with ``lengths`` several trees one after the
    other (child indices are then local to each tree, and ``n_features`` may hold
    one limit per tree); ``internal_of`` tells the internal nodes of a slice. This
    runs on every forest, so it must cost little more than reading the nodes
    once: it goes through them in parts of about :data:`_CHUNK` nodes (whole
    small trees, or slices of a large one) whose temporaries stay in the CPU
    cache, with each bound a single unsigned comparison.

    With ``children``, it returns what :func:`_check_depths` walks, taken from
    the parts while they are in the cache: each node's two children, side by side,
    as indices into ``nodes`` (a leaf's are equal, an internal node's never).
    """
    sizes = np.asarray(lengths if lengths is not None else [nodes.shape[0]], dtype=np.int64)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    # Without a limit, a feature only has to be non-negative (below 2**62).
    widths = np.broadcast_to(np.asarray(1 << 62 if n_features is None else n_features,
                                        dtype=np.int64), sizes.shape)
    index = np.int32 if nodes.shape[0] < 1 << 31 else np.int64  # half the memory to walk
    out = np.empty((nodes.shape[0], 2), index) if children else None
    # Trees [cuts[i], cuts[i + 1]) hold about _CHUNK nodes together (or one tree more).
    cuts = [0, len(sizes)]
    if int(ends[-1]) > _CHUNK:
        marks = np.searchsorted(ends, np.arange(_CHUNK, int(ends[-1]) + _CHUNK, _CHUNK))
        cuts = np.unique(np.concatenate(([0], np.minimum(marks + 1, len(sizes))))).tolist()
    for first_tree, stop_tree in itertools.pairwise(cuts):
        trees = slice(first_tree, stop_tree)
        low, high = int(starts[first_tree]), int(ends[stop_tree - 1])
        if stop_tree - first_tree == 1:  # one tree, perhaps a large one: slices of it
            for begin in range(low, high, _CHUNK):
                _check_part(what, nodes, fields, internal_of,
                            span=(begin, min(begin + _CHUNK, high)), out=out,
                            bounds=(starts[trees], ends[trees], widths[trees]))
        else:
            _check_part(what, nodes, fields, internal_of, span=(low, high), out=out,
                        bounds=tuple(np.repeat(v[trees], sizes[trees])
                                     for v in (starts, ends, widths)))
    return out


def _check_part(what: str, nodes: np.ndarray[Any, Any], fields: tuple[str, str, str],
                internal_of: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]], *,
                span: tuple[int, int], bounds: tuple[np.ndarray[Any, Any], ...],
                out: np.ndarray[Any, Any] | None) -> None:
    """:func:`_check_links` on ``nodes[span]``, given each node's tree start, end and width."""
    first, last, width = bounds
    part = nodes[span[0]:span[1]]
    internal = internal_of(part)
    after = np.arange(span[0] + 1, span[1] + 1)  # global index + 1
    room = (last - after).view(np.uint64)
    bad = _as_int64(part[fields[2]]).view(np.uint64) >= width.view(np.uint64)
    children = [_as_int64(part[field]) + first for field in fields[:2]]  # in ``nodes``
    for child in children:  # child - (index + 1) must lie in [0, room)
        bad |= (child - after).view(np.uint64) >= room
    bad |= children[0] == children[1]
    if (bad & internal).any():
        raise fail(what, "a child index is out of range, points backwards or names both"
                          " children, or a split uses a feature that does not exist")
    if out is not None:  # a leaf's two entries are equal (both the node before its tree)
        out[span[0]:span[1], 0], out[span[0]:span[1], 1] = children


def _as_int64(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return values.astype(np.int64, copy=False)


def _tree_internal(part: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Internal nodes of a Tree's node slice; its leaves must have no right child."""
    internal: np.ndarray[Any, Any] = part["left_child"] != -1
    if ((part["right_child"] != -1) & ~internal).any():
        raise fail("Tree", "a leaf has a right child")
    return internal


def _predictor_internal(part: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    internal: np.ndarray[Any, Any] = part["is_leaf"] == 0
    return internal


# ----------------------------------------------------------------- sklearn Tree


def _tree_args(args: tuple[Any, ...]) -> None:
    if len(args) != 3:
        raise fail("Tree", "expected (n_features, n_classes, n_outputs)")
    n_features, n_classes, n_outputs = args
    if not (is_int(n_features, 0, MAX_TREE_FEATURES) and is_int(n_outputs, 1, MAX_OUTPUTS)):
        raise fail("Tree", "n_features and n_outputs must be small non-negative integers")
    if not (isinstance(n_classes, np.ndarray) and n_classes.dtype.kind in "iu"
            and n_classes.shape == (n_outputs,) and (n_classes >= 1).all()
            and int(n_classes.max()) * n_outputs <= 1 << 31):
        raise fail("Tree", "n_classes must hold n_outputs positive integers")


def _tree_state(state: Any, args: tuple[Any, ...]) -> None:
    if not isinstance(state, dict) or not {"nodes", "values", "node_count"} <= state.keys():
        raise fail("Tree", "the state needs nodes, values and node_count")
    nodes = state["nodes"]
    if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None or nodes.ndim != 1:
        raise fail("Tree", "nodes must be a 1-d record array")
    count = state["node_count"]
    if not isinstance(count, int | np.integer) or isinstance(count, bool):
        raise fail("Tree", f"node_count must be a whole number, found {type(count).__name__}")
    if count != nodes.shape[0] or nodes.shape[0] == 0:
        raise fail("Tree", f"node_count {count!r} does not match"
                            f" {nodes.shape[0]} nodes")
    if not isinstance(state["values"], np.ndarray) or state["values"].ndim != 3 \
            or state["values"].shape[0] != nodes.shape[0]:
        raise fail("Tree", "values must hold one row per node")
    fields = ("left_child", "right_child", "feature")
    if not set(fields) <= set(nodes.dtype.names):
        raise fail("Tree", "nodes lack left_child, right_child or feature")
    lengths = np.array([nodes.shape[0]])
    limits = _depth_limits([state], lengths)
    _check_depths(_check_links("Tree", nodes, fields, _tree_internal,
                               args[0] if args else None, children=True), lengths, limits)


def _depth_limits(states: list[dict[str, Any]], lengths: Any) -> np.ndarray[Any, Any]:
    """Each tree's ``max_depth``: a non-negative integer below its node count."""
    claimed = [state.get("max_depth") for state in states]
    if set(map(type, claimed)) != {int}:
        raise fail("Tree", "max_depth must be an integer")
    limits = np.array(claimed, dtype=np.int64)
    if ((limits < 0) | (limits >= lengths)).any():
        raise fail("Tree", "max_depth must be from 0 to the tree's node count")
    return limits


def _check_depths(children: Any, lengths: np.ndarray[Any, Any],
                  limits: np.ndarray[Any, Any]) -> None:
    """The trees are trees, and each is no deeper than its ``max_depth`` (``limits``).

    ``decision_path`` allocates ``max_depth + 1`` entries per sample and writes
    one per node on the path. The trees (one after another, ``children`` as
    :func:`_check_links` gives them) are walked together a level at a time. The
    walk reaches a node once per path to it, as partial dependence does: it must
    reach exactly as many nodes as there are, so a node shared by two parents
    (which would make those paths exponentially many) is refused, and the walk
    costs a pass over the nodes.
    """
    total = children.shape[0]
    pairs = children.view(_PAIRS[children.dtype.type]).ravel()
    bounds = np.append(np.cumsum(lengths) - lengths, total).astype(children.dtype)
    # A level lists its trees' nodes tree after tree (as the roots are), so the bounds
    # of each tree's run in it are found by binary search.
    level, depth, reached, shallowest = bounds[:-1], 0, len(lengths), int(limits.min())
    while level.size:
        if depth > shallowest and (limits[np.diff(np.searchsorted(level, bounds)) > 0]
                                   < depth).any():
            raise fail("Tree", f"max_depth is smaller than the depth of the tree ({depth})")
        found = np.take(pairs, level)
        both = found.view(children.dtype).reshape(-1, 2)  # a leaf's two entries are equal
        level = np.compress(both[:, 0] != both[:, 1], found).view(children.dtype)
        depth, reached = depth + 1, reached + level.size
        if reached > total:
            break
    if reached != total:
        raise fail("Tree", "a node is the child of more than one node, or of none")


def _check_trees(what: str, children: Any, lengths: np.ndarray[Any, Any],
                 internal: np.ndarray[Any, Any]) -> None:
    """Every node but a root is the child of exactly one node (see :func:`_check_depths`,
    which also finds the depths): the children of the ``internal`` nodes are as many
    as the nodes that are not roots, and all distinct."""
    both = children.view(_PAIRS[children.dtype.type]).ravel()
    kids = np.compress(internal, both).view(children.dtype)
    expected = children.shape[0] - len(lengths)  # no root is a child: children come later
    if kids.size != expected or np.count_nonzero(np.bincount(kids)) != expected:
        raise fail(what, "a node is the child of more than one node, or of none")


def _trees_args(args: list[tuple[Any, ...]], bases: Bases) -> bool:
    """:func:`_tree_args` for the trees of a forest at once."""
    if "1" not in bases:
        return False
    if not all(len(a) == 3 and is_int(a[0], 0, MAX_TREE_FEATURES)
               and is_int(a[2], 1, MAX_OUTPUTS) for a in args):
        raise fail("Tree", "n_features and n_outputs must be small non-negative integers")
    classes, lengths = bases["1"]
    outputs = np.array([a[2] for a in args], dtype=np.int64)
    if not (classes.dtype.kind in "iu" and classes.ndim == 1 and (lengths == outputs).all()
            and (classes >= 1).all() and (classes <= 1 << 31).all()):
        raise fail("Tree", "n_classes must hold n_outputs positive integers")
    widest = np.maximum.reduceat(classes.astype(np.int64), np.cumsum(lengths) - lengths)
    if (widest * outputs > 1 << 31).any():
        raise fail("Tree", "n_classes must hold n_outputs positive integers")
    return True


def _trees_state(states: list[dict[str, Any]], args: list[tuple[Any, ...]], bases: Bases
                 ) -> bool:
    """:func:`_tree_state` for the trees of a forest at once, on their concatenated nodes."""
    if not {"nodes", "values"} <= bases.keys() or "node_count" not in states[0]:
        return False
    counts = [state["node_count"] for state in states]
    if not all(type(c) is int for c in counts):
        return False
    nodes, lengths = bases["nodes"]
    values, value_lengths = bases["values"]
    if nodes.dtype.names is None or nodes.ndim != 1 or (lengths == 0).any() \
            or (np.array(counts) != lengths).any():
        raise fail("Tree", "node_count does not match the nodes, or nodes are missing")
    if values.ndim != 3 or (value_lengths != lengths).any():
        raise fail("Tree", "values must hold one row per node")
    fields = ("left_child", "right_child", "feature")
    if not set(fields) <= set(nodes.dtype.names):
        raise fail("Tree", "nodes lack left_child, right_child or feature")
    widths = np.array([a[0] for a in args], dtype=np.int64)
    limits = _depth_limits(states, lengths)
    _check_depths(_check_links("Tree", nodes, fields, _tree_internal, widths, lengths=lengths,
                               children=True), lengths, limits)
    return True


# ------------------------------------------------------------ histogram GBM


def _predictor_after(predictor: Any) -> None:
    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or not nodes.size \
            or nodes.dtype.names is None:
        raise fail("TreePredictor", "nodes must be a non-empty record array")
    fields = ("left", "right", "feature_idx")
    if not {*fields, "is_leaf", "is_categorical", "bitset_idx"} <= set(nodes.dtype.names):
        raise fail("TreePredictor", "nodes lack the predictor fields")
    internal = nodes["is_leaf"] == 0
    bitset = nodes["bitset_idx"][internal & (nodes["is_categorical"] != 0)]
    _check_trees("TreePredictor", _check_links("TreePredictor", nodes, fields,
                                               _predictor_internal, None, children=True),
                 np.array([nodes.shape[0]]), internal)
    for name in ("binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        bitsets = getattr(predictor, name, None)
        if not isinstance(bitsets, np.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8 \
                or bitsets.dtype != np.uint32 or (bitset >= bitsets.shape[0]).any():
            raise fail("TreePredictor", f"{name} does not cover the categorical splits")


def _predictors_state(states: list[dict[str, Any]], args: list[tuple[Any, ...]],
                      bases: Bases) -> bool:
    """:func:`_predictor_after` for the predictors of a boosted model at once."""
    from sklearn.ensemble._hist_gradient_boosting.common import (  # noqa: PLC0415
        PREDICTOR_RECORD_DTYPE,
    )

    bitsets = ("binned_left_cat_bitsets", "raw_left_cat_bitsets")
    if not {"nodes", *bitsets} <= bases.keys() or bases["nodes"][0].dtype != \
            PREDICTOR_RECORD_DTYPE:
        return False
    nodes, lengths = bases["nodes"]
    if (lengths == 0).any():
        raise fail("TreePredictor", "nodes must be a non-empty record array")
    internal = nodes["is_leaf"] == 0
    _check_trees("TreePredictor", _check_links(
        "TreePredictor", nodes, ("left", "right", "feature_idx"), _predictor_internal, None,
        lengths=lengths, children=True), lengths, internal)
    categorical = internal & (nodes["is_categorical"] != 0)
    for name in bitsets:
        table, table_lengths = bases[name]
        limit = np.repeat(table_lengths, lengths)
        if table.ndim != 2 or table.shape[1] != 8 or table.dtype != np.uint32 \
                or (nodes["bitset_idx"][categorical] >= limit[categorical]).any():
            raise fail("TreePredictor", f"{name} does not cover the categorical splits")
    return True


def fitted_width(model: Any, fitted: str) -> int | None:
    """``n_features_in_`` of a model that holds ``fitted``; required once it is fitted.

    scikit-learn checks an input's width against ``n_features_in_`` and skips the
    check when it is missing, so a fitted model without it could index past X.
    """
    if getattr(model, fitted, None) is None:
        return None
    width = getattr(model, "n_features_in_", None)
    if type(width) is not int or width < 0:
        raise fail(type(model).__name__, f"it holds {fitted} but no valid n_features_in_")
    return width


def _all_nodes(every: list[np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]] | None:
    """The split fields of many predictors' nodes, one array per field.

    Predictors stored as columns are views of one array: their fields are read
    from it at once (a superset check, as it holds exactly their nodes).
    """
    if not every:
        return None
    fields = ("is_leaf", "feature_idx", "is_categorical")
    base = every[0].base
    if isinstance(base, np.ndarray) and base.dtype == every[0].dtype and base.ndim == 1 \
            and all(n.base is base for n in every) and sum(map(len, every)) == len(base):
        return {f: base[f] for f in fields}
    return {f: np.concatenate([n[f] for n in every]) for f in fields}


def _hist_gbm_after(model: Any) -> None:
    n_features = fitted_width(model, "_predictors")
    predictors = getattr(model, "_predictors", None)
    if n_features is None or predictors is None:
        return
    _check_preprocessor(model, n_features)
    categorical = getattr(getattr(model, "_bin_mapper", None), "is_categorical_", None)
    if categorical is not None and (not isinstance(categorical, np.ndarray)
                                    or categorical.shape != (n_features,)):
        raise fail(type(model).__name__, f"_bin_mapper.is_categorical_ must hold one flag for"
                                          f" each of its {n_features} features")
    try:
        nodes = _all_nodes([p.nodes for row in predictors for p in row])
    except (AttributeError, TypeError):  # a number where a row or a predictor goes
        raise fail(type(model).__name__, "_predictors must be a list of lists of"
                                          " predictors") from None
    if nodes is None:
        return
    internal = nodes["is_leaf"] == 0
    if (nodes["feature_idx"][internal] >= n_features).any():
        raise fail(type(model).__name__, f"a split uses a feature beyond {n_features}")
    cat_features = nodes["feature_idx"][internal & (nodes["is_categorical"] != 0)]
    if cat_features.size and (categorical is None or not categorical[cat_features].all()):
        raise fail(type(model).__name__, "a categorical split uses a numeric feature")


def _qualified(value: Any) -> str:
    return f"{type(value).__module__}:{type(value).__qualname__}"


#: What a histogram gradient-boosting model's _preprocessor applies to its columns: each
#: gives as many columns as it is given (a FunctionTransformer only with check_array).
_SAME_WIDTH = {"sklearn.preprocessing._encoders:OrdinalEncoder",
               "sklearn.preprocessing._function_transformer:FunctionTransformer"}


def _check_preprocessor(model: Any, n_features: int) -> None:
    """The ColumnTransformer a model with categorical features puts before its trees must
    give ``n_features`` columns: scikit-learn then lets it validate the input, and the
    trees index its output without bounds checks. Only the transformers scikit-learn
    builds there are accepted, each of a width its column selection gives."""
    prep = getattr(model, "_preprocessor", None)
    if prep is None:
        return
    what = type(model).__name__
    if _qualified(prep) != "sklearn.compose._column_transformer:ColumnTransformer" or type(
            getattr(prep, "transformers_", None)) is not list:
        raise fail(what, "_preprocessor must be a fitted ColumnTransformer")
    width = 0
    for entry in prep.transformers_:
        if type(entry) is not tuple or len(entry) != 3:
            raise fail(what, "_preprocessor.transformers_ must hold (name, transformer,"
                             " columns) triples")
        _, transformer, columns = entry
        count = _selected(columns, n_features)
        if count is None:
            raise fail(what, f"_preprocessor selects columns {type(columns).__name__} that are"
                             f" not a mask or indices of {n_features} features")
        if isinstance(transformer, str) and transformer in ("drop", "passthrough"):
            width += count if transformer == "passthrough" else 0
        elif _qualified(transformer) in _SAME_WIDTH and _same_width(transformer, count):
            width += count
        else:
            raise fail(what, f"_preprocessor holds {_qualified(transformer)}, not an encoder"
                             " of the width scikit-learn builds")
    if width != n_features or getattr(prep, "n_features_in_", None) != n_features:
        raise fail(what, f"_preprocessor gives {width} columns for {n_features} features")


def _selected(columns: Any, n_features: int) -> int | None:
    """How many columns a selection (a boolean mask or column indices) takes, or None."""
    array = np.asarray(columns) if type(columns) in (list, np.ndarray) else None
    if array is None or array.ndim != 1:
        return None
    if array.dtype == bool:
        return int(array.sum()) if len(array) == n_features else None
    if array.size == 0:
        return 0
    if array.dtype.kind not in "iu" or array.min() < 0 or array.max() >= n_features:
        return None
    return len(array)


def _same_width(transformer: Any, count: int) -> bool:
    """An OrdinalEncoder checks its input width; a FunctionTransformer must apply
    check_array (or nothing), which keeps the width."""
    if type(transformer).__name__ == "OrdinalEncoder":
        return getattr(transformer, "n_features_in_", None) == count
    func = getattr(transformer, "func", None)
    if func is None:
        return True
    return type(func) is functools.partial and getattr(func.func, "__qualname__", "") == (
        "check_array") and getattr(func.func, "__module__", "") == "sklearn.utils.validation"


PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor:TreePredictor"
COLUMNAR.update({
    TREE: Batch(args=_trees_args, state=_trees_state, copied=frozenset({"nodes", "values"})),
    PREDICTOR: Batch(state=_predictors_state, covers=frozenset({_predictor_after})),
    **{f"sklearn.tree._classes:{name}": Batch() for name in (
        "DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
        "ExtraTreeRegressor")},
})
KNOWN_DTYPES.extend([("sklearn.tree._tree", "NODE_DTYPE"),
                     ("sklearn.ensemble._hist_gradient_boosting.common",
                      "PREDICTOR_RECORD_DTYPE")])
ARGS[TREE] = _tree_args
STATE[TREE] = _tree_state
AFTER_TYPES.extend([
    (PREDICTOR, _predictor_after),
    ("sklearn.ensemble._hist_gradient_boosting.gradient_boosting:BaseHistGradientBoosting",
     _hist_gbm_after),
])
