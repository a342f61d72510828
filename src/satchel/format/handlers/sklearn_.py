"""Validation of scikit-learn state that compiled code indexes without bounds checks.

Type-safe is not memory-safe: a ``Tree`` whose child index points past the end,
or a ball tree whose index array names a sample that does not exist, would make
``predict`` read outside its arrays. Every check here runs on load, before the
object is used, so that these models stay trusted by default. Children must
come after their parents, which also rules out cycles (a hang at predict).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from satchel.errors import FormatError
from satchel.format.container import KNOWN_DTYPES
from satchel.format.handlers.columns import COLUMNAR, Bases, Batch
from satchel.format.handlers.objects import AFTER_TYPES, ARGS, STATE

TREE = "sklearn.tree._tree:Tree"
MAX_OUTPUTS = 1 << 20
#: Nodes checked at a time: the temporaries of a chunk stay in the CPU cache.
_CHUNK = 1 << 13


def _fail(what: str, problem: str) -> FormatError:
    return FormatError(f"invalid {what}: {problem}. The file was crafted or damaged; refusing"
                       " to load it")


def _is_int(value: Any, low: int = 0, high: int = 1 << 62) -> bool:
    return type(value) is int and low <= value <= high


def _check_links(what: str, nodes: np.ndarray[Any, Any], fields: tuple[str, str, str],
                 internal_of: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]],
                 n_features: Any, *, lengths: np.ndarray[Any, Any] | None = None) -> None:
    """Internal nodes' children exist and come after them; their features are in range.

    ``nodes`` holds one tree, or with ``lengths`` several trees one after the
    other (child indices are then local to each tree, and ``n_features`` may hold
    one limit per tree); ``internal_of`` tells the internal nodes of a slice. This
    runs on every forest, so it must cost little more than reading the nodes
    once: it goes through them in parts of about :data:`_CHUNK` nodes (whole
    small trees, or slices of a large one) whose temporaries stay in the CPU
    cache, with each bound a single unsigned comparison.
    """
    sizes = np.asarray(lengths if lengths is not None else [nodes.shape[0]], dtype=np.int64)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    # Without a limit, a feature only has to be non-negative (below 2**62).
    widths = np.broadcast_to(np.asarray(1 << 62 if n_features is None else n_features,
                                        dtype=np.int64), sizes.shape)
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
                            span=(begin, min(begin + _CHUNK, high)),
                            bounds=(starts[trees], ends[trees], widths[trees]))
        else:
            _check_part(what, nodes, fields, internal_of, span=(low, high), bounds=tuple(
                np.repeat(v[trees], sizes[trees]) for v in (starts, ends, widths)))


def _check_part(what: str, nodes: np.ndarray[Any, Any], fields: tuple[str, str, str],
                internal_of: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]], *,
                span: tuple[int, int], bounds: tuple[np.ndarray[Any, Any], ...]) -> None:
    """:func:`_check_links` on ``nodes[span]``, given each node's tree start, end and width."""
    first, last, width = bounds
    part = nodes[span[0]:span[1]]
    after = np.arange(span[0] + 1, span[1] + 1)  # global index + 1
    room = (last - after).view(np.uint64)
    bad = _as_int64(part[fields[2]]).view(np.uint64) >= width.view(np.uint64)
    for field in fields[:2]:  # first + child - (index + 1) must lie in [0, room)
        bad |= (_as_int64(part[field]) + first - after).view(np.uint64) >= room
    if (bad & internal_of(part)).any():
        raise _fail(what, "a child index is out of range or points backwards, or a split"
                          " uses a feature that does not exist")


def _as_int64(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return values.astype(np.int64, copy=False)


def _tree_internal(part: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Internal nodes of a Tree's node slice; its leaves must have no right child."""
    internal: np.ndarray[Any, Any] = part["left_child"] != -1
    if ((part["right_child"] != -1) & ~internal).any():
        raise _fail("Tree", "a leaf has a right child")
    return internal


def _predictor_internal(part: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    internal: np.ndarray[Any, Any] = part["is_leaf"] == 0
    return internal


# ----------------------------------------------------------------- sklearn Tree


def _tree_args(args: tuple[Any, ...]) -> None:
    if len(args) != 3:
        raise _fail("Tree", "expected (n_features, n_classes, n_outputs)")
    n_features, n_classes, n_outputs = args
    if not (_is_int(n_features) and _is_int(n_outputs, 1, MAX_OUTPUTS)):
        raise _fail("Tree", "n_features and n_outputs must be small non-negative integers")
    if not (isinstance(n_classes, np.ndarray) and n_classes.dtype.kind in "iu"
            and n_classes.shape == (n_outputs,) and (n_classes >= 1).all()
            and int(n_classes.max()) * n_outputs <= 1 << 31):
        raise _fail("Tree", "n_classes must hold n_outputs positive integers")


def _tree_state(state: Any, args: tuple[Any, ...]) -> None:
    if not isinstance(state, dict) or not {"nodes", "values", "node_count"} <= state.keys():
        raise _fail("Tree", "the state needs nodes, values and node_count")
    nodes = state["nodes"]
    if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None or nodes.ndim != 1:
        raise _fail("Tree", "nodes must be a 1-d record array")
    if state["node_count"] != nodes.shape[0] or nodes.shape[0] == 0:
        raise _fail("Tree", f"node_count {state['node_count']!r} does not match"
                            f" {nodes.shape[0]} nodes")
    if not isinstance(state["values"], np.ndarray) or state["values"].ndim != 3 \
            or state["values"].shape[0] != nodes.shape[0]:
        raise _fail("Tree", "values must hold one row per node")
    fields = ("left_child", "right_child", "feature")
    if not set(fields) <= set(nodes.dtype.names):
        raise _fail("Tree", "nodes lack left_child, right_child or feature")
    _check_links("Tree", nodes, fields, _tree_internal, args[0] if args else None)


def _trees_args(args: list[tuple[Any, ...]], bases: Bases) -> bool:
    """:func:`_tree_args` for the trees of a forest at once."""
    if "1" not in bases:
        return False
    if not all(len(a) == 3 and _is_int(a[0]) and _is_int(a[2], 1, MAX_OUTPUTS) for a in args):
        raise _fail("Tree", "n_features and n_outputs must be small non-negative integers")
    classes, lengths = bases["1"]
    outputs = np.array([a[2] for a in args], dtype=np.int64)
    if not (classes.dtype.kind in "iu" and classes.ndim == 1 and (lengths == outputs).all()
            and (classes >= 1).all() and (classes <= 1 << 31).all()):
        raise _fail("Tree", "n_classes must hold n_outputs positive integers")
    widest = np.maximum.reduceat(classes.astype(np.int64), np.cumsum(lengths) - lengths)
    if (widest * outputs > 1 << 31).any():
        raise _fail("Tree", "n_classes must hold n_outputs positive integers")
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
        raise _fail("Tree", "node_count does not match the nodes, or nodes are missing")
    if values.ndim != 3 or (value_lengths != lengths).any():
        raise _fail("Tree", "values must hold one row per node")
    fields = ("left_child", "right_child", "feature")
    if not set(fields) <= set(nodes.dtype.names):
        raise _fail("Tree", "nodes lack left_child, right_child or feature")
    widths = np.array([a[0] for a in args], dtype=np.int64)
    _check_links("Tree", nodes, fields, _tree_internal, widths, lengths=lengths)
    return True


# ------------------------------------------------------ KD and ball trees, metrics


def _binary_tree_state(state: Any, args: tuple[Any, ...], bound_rows: int) -> None:
    if not isinstance(state, tuple) or len(state) != 13:
        raise _fail("neighbour tree", "the state must be a tuple of 13 values")
    data, idx, node_data, bounds = state[:4]
    leaf_size, n_levels, n_nodes = state[4:7]
    arrays_ok = all(isinstance(a, np.ndarray) for a in (data, idx, node_data, bounds))
    if not arrays_ok or data.ndim != 2 or data.dtype != np.float64:
        raise _fail("neighbour tree", "data must be a 2-d float64 array")
    n_samples, n_dims = data.shape
    if idx.dtype != np.intp or idx.shape != (n_samples,) or (
            n_samples and idx.view(np.uintp).max() >= n_samples):  # negatives wrap: too big
        raise _fail("neighbour tree", "idx_array must index the samples")
    if not (_is_int(leaf_size, 1) and _is_int(n_levels, 1, 62) and _is_int(n_nodes, 1)
            and n_nodes == 2 ** n_levels - 1 and node_data.shape == (n_nodes,)
            and node_data.dtype.names is not None
            and {"idx_start", "idx_end", "is_leaf"} <= set(node_data.dtype.names)):
        raise _fail("neighbour tree", "node counts and levels disagree")
    start, end = node_data["idx_start"], node_data["idx_end"]
    if ((start < 0) | (end > n_samples) | (start > end)).any():
        raise _fail("neighbour tree", "a node's sample range is outside the data")
    internal = node_data["is_leaf"] == 0
    if (2 * np.flatnonzero(internal) + 2 >= n_nodes).any():
        raise _fail("neighbour tree", "an internal node has no children")
    if bounds.shape != (bound_rows, n_nodes, n_dims) or bounds.dtype != np.float64:
        raise _fail("neighbour tree", "node_bounds do not match the nodes and data")
    weights = state[12]
    if weights is not None and (not isinstance(weights, np.ndarray)
                                or weights.shape != (n_samples,)):
        raise _fail("neighbour tree", "sample_weight must hold one weight per sample")
    _check_metric(state[11], n_dims)


def _check_metric(metric: Any, n_dims: int) -> None:
    from sklearn.metrics._dist_metrics import DistanceMetric64  # noqa: PLC0415

    if not isinstance(metric, DistanceMetric64):
        raise _fail("neighbour tree", "the distance metric must be a DistanceMetric64")
    _, vec, mat = metric.__getstate__()
    name = type(metric).__name__
    if name.startswith("Mahalanobis") and mat.shape != (n_dims, n_dims):
        raise _fail(name, f"VI must be {n_dims}x{n_dims}")
    if (name.startswith(("SEuclidean", "WMinkowski"))
            or (name.startswith("Minkowski") and vec.size)) and vec.shape != (n_dims,):
        raise _fail(name, f"the weight vector must have {n_dims} entries")


def _metric_state(state: Any, args: tuple[Any, ...]) -> None:
    if not (isinstance(state, tuple) and len(state) == 3
            and all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in state[1:])
            and state[1].ndim == 1 and state[2].ndim == 2):
        raise _fail("distance metric", "the state must be (p, vec, mat)")


# ------------------------------------------------------------ histogram GBM


def _predictor_after(predictor: Any) -> None:
    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or not nodes.size \
            or nodes.dtype.names is None:
        raise _fail("TreePredictor", "nodes must be a non-empty record array")
    fields = ("left", "right", "feature_idx")
    if not {*fields, "is_leaf", "is_categorical", "bitset_idx"} <= set(nodes.dtype.names):
        raise _fail("TreePredictor", "nodes lack the predictor fields")
    internal = nodes["is_leaf"] == 0
    bitset = nodes["bitset_idx"][internal & (nodes["is_categorical"] != 0)]
    _check_links("TreePredictor", nodes, fields, _predictor_internal, None)
    for name in ("binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        bitsets = getattr(predictor, name, None)
        if not isinstance(bitsets, np.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8 \
                or bitsets.dtype != np.uint32 or (bitset >= bitsets.shape[0]).any():
            raise _fail("TreePredictor", f"{name} does not cover the categorical splits")


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
        raise _fail("TreePredictor", "nodes must be a non-empty record array")
    internal = nodes["is_leaf"] == 0
    _check_links("TreePredictor", nodes, ("left", "right", "feature_idx"), _predictor_internal,
                 None, lengths=lengths)
    categorical = internal & (nodes["is_categorical"] != 0)
    for name in bitsets:
        table, table_lengths = bases[name]
        limit = np.repeat(table_lengths, lengths)
        if table.ndim != 2 or table.shape[1] != 8 or table.dtype != np.uint32 \
                or (nodes["bitset_idx"][categorical] >= limit[categorical]).any():
            raise _fail("TreePredictor", f"{name} does not cover the categorical splits")
    return True


def _fitted_width(model: Any, fitted: str) -> int | None:
    """``n_features_in_`` of a model that holds ``fitted``; required once it is fitted.

    scikit-learn checks an input's width against ``n_features_in_`` and skips the
    check when it is missing, so a fitted model without it could index past X.
    """
    if getattr(model, fitted, None) is None:
        return None
    width = getattr(model, "n_features_in_", None)
    if type(width) is not int or width < 0:
        raise _fail(type(model).__name__, f"it holds {fitted} but no valid n_features_in_")
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
    n_features = _fitted_width(model, "_predictors")
    predictors = getattr(model, "_predictors", None)
    if n_features is None or predictors is None:
        return
    categorical = getattr(getattr(model, "_bin_mapper", None), "is_categorical_", None)
    nodes = _all_nodes([p.nodes for row in predictors for p in row])
    if nodes is None:
        return
    internal = nodes["is_leaf"] == 0
    if (nodes["feature_idx"][internal] >= n_features).any():
        raise _fail(type(model).__name__, f"a split uses a feature beyond {n_features}")
    cat_features = nodes["feature_idx"][internal & (nodes["is_categorical"] != 0)]
    if cat_features.size and (categorical is None or not categorical[cat_features].all()):
        raise _fail(type(model).__name__, "a categorical split uses a numeric feature")


# ------------------------------------------------------- estimator consistency


def _decision_tree_after(model: Any) -> None:
    n_features = _fitted_width(model, "tree_")
    tree = getattr(model, "tree_", None)
    if tree is not None and tree.n_features != n_features:
        raise _fail(type(model).__name__, f"tree_ has {tree.n_features} features,"
                                          f" the estimator {n_features}")


def _ensemble_after(model: Any) -> None:
    n_features = _fitted_width(model, "estimators_")
    members = getattr(model, "estimators_", None)
    if n_features is None or members is None:
        return
    members = list(np.ravel(np.asarray(members, dtype=object)))
    subsets = getattr(model, "estimators_features_", None)
    for i, member in enumerate(members):
        expected = n_features
        if subsets is not None:
            features = np.asarray(subsets[i])
            if features.size and (features.min() < 0 or features.max() >= n_features):
                raise _fail(type(model).__name__, "a member uses a feature out of range")
            expected = features.shape[0]
        member_features = getattr(member, "n_features_in_", expected)
        if member_features != expected:
            raise _fail(type(model).__name__, f"member {i} expects {member_features} features,"
                                              f" not {expected}")


def _libsvm_after(model: Any) -> None:
    vectors = getattr(model, "support_vectors_", None)
    if vectors is None:
        return
    n_sv = vectors.shape[0]
    support, n_support = model.support_, model._n_support
    dual = model._dual_coef_
    classes = len(getattr(model, "classes_", ()))
    classifier = classes >= 2
    pairs = classes * (classes - 1) // 2 if classifier else 1
    if support.shape != (n_sv,) or dual.shape != (max(classes - 1, 1), n_sv) or (
            classifier and (n_support.sum() != n_sv or n_support.shape != (classes,))) \
            or model._intercept_.shape != (pairs,):
        raise _fail(type(model).__name__, "support vector counts disagree")
    if model.kernel != "precomputed" and vectors.shape[1] != getattr(
            model, "n_features_in_", vectors.shape[1]):
        raise _fail(type(model).__name__, "support vectors and n_features_in_ disagree")


def _kmeans_after(model: Any) -> None:
    centers = getattr(model, "cluster_centers_", None)
    n_features = getattr(model, "n_features_in_", None)
    if centers is not None and n_features is not None and (
            centers.ndim != 2 or centers.shape[1] != n_features):
        raise _fail(type(model).__name__, "cluster_centers_ and n_features_in_ disagree")


PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor:TreePredictor"
COLUMNAR.update({
    TREE: Batch(args=_trees_args, state=_trees_state),
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
# KD trees keep lower and upper bounds per node, ball trees one centroid.
STATE["sklearn.neighbors._kd_tree:KDTree"] = functools.partial(_binary_tree_state, bound_rows=2)
STATE["sklearn.neighbors._ball_tree:BallTree"] = functools.partial(_binary_tree_state,
                                                                   bound_rows=1)
AFTER_TYPES.extend([
    (PREDICTOR, _predictor_after),
    ("sklearn.ensemble._hist_gradient_boosting.gradient_boosting:BaseHistGradientBoosting",
     _hist_gbm_after),
    ("sklearn.tree._classes:BaseDecisionTree", _decision_tree_after),
    ("sklearn.ensemble._base:BaseEnsemble", _ensemble_after),
    ("sklearn.svm._base:BaseLibSVM", _libsvm_after),
    ("sklearn.cluster._kmeans:_BaseKMeans", _kmeans_after),
])

STATE["sklearn.metrics._dist_metrics:*"] = _metric_state
