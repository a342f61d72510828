"""Validation of scikit-learn state that compiled code indexes without bounds checks.

Type-safe is not memory-safe: a ``Tree`` whose child index points past the end,
or a ball tree whose index array names a sample that does not exist, would make
``predict`` read outside its arrays. Every check here runs on load, before the
object is used, so that these models stay trusted by default. Children must
come after their parents, which also rules out cycles (a hang at predict), and
no node may be the child of two (partial dependence walks every path: shared
children make them exponentially many); a Tree's depth, which ``decision_path``
sizes its buffer by, is found on the way.
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
#: A node's two child indices seen as one item of a type numpy gathers and selects fast.
_PAIRS = {np.int32: np.dtype(np.int64), np.int64: np.dtype(np.complex128)}


def _fail(what: str, problem: str) -> FormatError:
    return FormatError(f"invalid {what}: {problem}. The file was crafted or damaged; refusing"
                       " to load it")


def _is_int(value: Any, low: int = 0, high: int = 1 << 62) -> bool:
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
        raise _fail(what, "a child index is out of range, points backwards or names both"
                          " children, or a split uses a feature that does not exist")
    if out is not None:  # a leaf's two entries are equal (both the node before its tree)
        out[span[0]:span[1], 0], out[span[0]:span[1], 1] = children


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
    lengths = np.array([nodes.shape[0]])
    limits = _depth_limits([state], lengths)
    _check_depths(_check_links("Tree", nodes, fields, _tree_internal,
                               args[0] if args else None, children=True), lengths, limits)


def _depth_limits(states: list[dict[str, Any]], lengths: Any) -> np.ndarray[Any, Any]:
    """Each tree's ``max_depth``: a non-negative integer below its node count."""
    claimed = [state.get("max_depth") for state in states]
    if set(map(type, claimed)) != {int}:
        raise _fail("Tree", "max_depth must be an integer")
    limits = np.array(claimed, dtype=np.int64)
    if ((limits < 0) | (limits >= lengths)).any():
        raise _fail("Tree", "max_depth must be from 0 to the tree's node count")
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
            raise _fail("Tree", f"max_depth is smaller than the depth of the tree ({depth})")
        found = np.take(pairs, level)
        both = found.view(children.dtype).reshape(-1, 2)  # a leaf's two entries are equal
        level = np.compress(both[:, 0] != both[:, 1], found).view(children.dtype)
        depth, reached = depth + 1, reached + level.size
        if reached > total:
            break
    if reached != total:
        raise _fail("Tree", "a node is the child of more than one node, or of none")


def _check_trees(what: str, children: Any, lengths: np.ndarray[Any, Any],
                 internal: np.ndarray[Any, Any]) -> None:
    """Every node but a root is the child of exactly one node (see :func:`_check_depths`,
    which also finds the depths): the children of the ``internal`` nodes are as many
    as the nodes that are not roots, and all distinct."""
    both = children.view(_PAIRS[children.dtype.type]).ravel()
    kids = np.compress(internal, both).view(children.dtype)
    expected = children.shape[0] - len(lengths)  # no root is a child: children come later
    if kids.size != expected or np.count_nonzero(np.bincount(kids)) != expected:
        raise _fail(what, "a node is the child of more than one node, or of none")


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
    limits = _depth_limits(states, lengths)
    _check_depths(_check_links("Tree", nodes, fields, _tree_internal, widths, lengths=lengths,
                               children=True), lengths, limits)
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
    _check_trees("TreePredictor", _check_links("TreePredictor", nodes, fields,
                                               _predictor_internal, None, children=True),
                 np.array([nodes.shape[0]]), internal)
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
    _check_trees("TreePredictor", _check_links(
        "TreePredictor", nodes, ("left", "right", "feature_idx"), _predictor_internal, None,
        lengths=lengths, children=True), lengths, internal)
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


def _gradient_boosting_after(model: Any) -> None:
    """``predict_stages`` adds tree ``[i, k]`` to column ``k`` of a buffer as wide as
    the initial prediction, unchecked: every stage holds exactly that many trees."""
    members = getattr(model, "estimators_", None)
    if members is None:
        return
    name, width = type(model).__name__, _fitted_width(model, "estimators_")
    per_stage = getattr(model, "n_trees_per_iteration_", None)
    if not (isinstance(members, np.ndarray) and members.dtype == object and members.ndim == 2
            and _is_int(per_stage, 1) and members.shape[1] == per_stage
            and per_stage == _trees_per_stage(model)):
        raise _fail(name, "estimators_ must hold n_trees_per_iteration_ trees per stage:"
                          " one, or one per class beyond two")
    _check_initial_width(model, per_stage)
    from sklearn.tree import DecisionTreeRegressor  # noqa: PLC0415

    trees = [member.tree_ for member in members.ravel().tolist()
             if type(member) is DecisionTreeRegressor]
    if len(trees) != members.size or {(t.n_features, t.n_outputs) for t in trees} - {
            (width, 1)}:
        raise _fail(name, f"every stage must hold regression trees of one output and"
                          f" {width} features")


def _trees_per_stage(model: Any) -> int:
    """One tree per stage for regression and two classes, else one per class."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return 1
    if getattr(model, "n_classes_", len(classes)) != len(classes):
        raise _fail(type(model).__name__, "n_classes_ and classes_ disagree")
    return 1 if len(classes) <= 2 else len(classes)


def _check_initial_width(model: Any, per_stage: int) -> None:
    """The initial prediction (the buffer the trees add to) has ``per_stage`` columns.

    The default initial estimators are checked exactly; another classifier's
    ``predict_proba`` is taken to have a column per class, as scikit-learn's do.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor  # noqa: PLC0415

    name, init = type(model).__name__, getattr(model, "init_", "zero")
    loss = getattr(model, "_loss", None)
    if loss is not None and bool(getattr(loss, "is_multiclass", False)) != (per_stage > 1):
        raise _fail(name, "the loss and the number of trees per stage disagree")
    if isinstance(init, str) and init == "zero":
        return
    if isinstance(init, DummyRegressor):
        wide = init.n_outputs_ == 1
    elif isinstance(init, DummyClassifier):
        wide = init.n_outputs_ == 1 and len(init.classes_) == init.n_classes_ == len(
            init.class_prior_) == len(model.classes_)
    else:
        wide = per_stage == 1 or len(getattr(init, "classes_", ())) == per_stage
    if not wide:
        raise _fail(name, f"init_ does not predict the {per_stage} columns the trees add to")


def _neighbors_labels_after(model: Any) -> None:
    """``_y`` holds each training sample's class index, which the brute-force class
    vote adds to its per-class scores at, unchecked."""
    labels, data = getattr(model, "_y", None), getattr(model, "_fit_X", None)
    if labels is None or data is None:
        return
    name, rows, two_d = type(model).__name__, data.shape[0], model.outputs_2d_
    if type(two_d) not in (bool, np.bool_):
        raise _fail(name, "outputs_2d_ must be a boolean")
    per_output = list(model.classes_) if two_d else [model.classes_]
    if not (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu"
            and labels.shape == ((rows, len(per_output)) if two_d else (rows,))
            and getattr(model, "n_samples_fit_", rows) == rows):
        raise _fail(name, f"_y must hold a class index for each of the {rows} training samples")
    counts = np.array([len(classes) for classes in per_output], dtype=np.int64)
    if labels.size and (labels.reshape(rows, -1).astype(np.int64, copy=False).view(np.uint64)
                        >= counts.view(np.uint64)).any():
        raise _fail(name, "_y holds a class index outside classes_")


#: libsvm computes ``n * (n - 1) / 2`` class pairs in a C int.
MAX_SVM_CLASSES = 46340


def _libsvm_after(model: Any) -> None:
    """The arrays libsvm's predict walks agree: it trusts their shapes and counts.

    libsvm takes the number of classes from ``_n_support``, the number of support
    vectors from ``support_`` (dense) or the vectors' rows (sparse), and walks
    each class's run of coefficients by its count. With a precomputed kernel it
    reads each kernel row at the support vector's training index.
    """
    vectors = getattr(model, "support_vectors_", None)
    if vectors is None:
        return
    name = type(model).__name__
    support, counts = model.support_, model._n_support
    n_sv, classes = support.shape[0], counts.shape[0]
    pairs = classes * (classes - 1) // 2
    precomputed = model.kernel == "precomputed" or callable(model.kernel)
    classifier = model._impl in ("c_svc", "nu_svc")
    dual = model._dual_coef_
    if support.ndim != 1 or counts.ndim != 1 or not 2 <= classes <= MAX_SVM_CLASSES or (
            classifier and (counts.sum() != n_sv or classes != len(model.classes_))) or (
            not classifier and classes != 2) or (not precomputed and vectors.shape[0] != n_sv) \
            or dual.shape != (classes - 1, n_sv) or model._intercept_.shape != (pairs,):
        raise _fail(name, "support vector counts disagree")
    if (counts < 0).any():
        raise _fail(name, "_n_support holds a negative count")
    _check_svm_probabilities(model, pairs)
    if model._sparse:
        if precomputed or dual.data.shape != ((classes - 1) * n_sv,):
            raise _fail(name, "a sparse model needs one dual coefficient per support vector"
                              " and class, and no precomputed kernel")
    elif precomputed:
        _check_training_indices(model, support)
    elif vectors.shape[1] != getattr(model, "n_features_in_", vectors.shape[1]):
        raise _fail(name, "support vectors and n_features_in_ disagree")


def _check_svm_probabilities(model: Any, pairs: int) -> None:
    """``_probA`` and ``_probB`` hold one value per pair of classes (or none, unless a
    sparse model predicts with them): libsvm copies that many."""
    shapes = {model._probA.shape, model._probB.shape}
    needed = model._sparse and bool(getattr(model, "_effective_probability", False))
    if len(shapes) != 1 or shapes.pop() not in ({(pairs,)} if needed else {(0,), (pairs,)}):
        raise _fail(type(model).__name__, "_probA and _probB must each hold one value per"
                                          f" pair of classes ({pairs}), or none")


def _check_training_indices(model: Any, support: np.ndarray[Any, Any]) -> None:
    """With a precomputed kernel, ``support_`` indexes the kernel's columns: the
    training samples (``shape_fit_[0]``, which predict checks the kernel against)."""
    shape = model.shape_fit_
    rows = shape[0] if type(shape) is tuple and shape else None
    kept = getattr(getattr(model, "_BaseLibSVM__Xfit", None), "shape", ())  # a kernel's input
    if not _is_int(rows) or (callable(model.kernel) and tuple(kept)[:1] != (rows,)):
        raise _fail(type(model).__name__, "shape_fit_ must give the number of training samples")
    if support.size and (support.min() < 0 or support.max() >= rows):
        raise _fail(type(model).__name__, f"support_ names a training sample outside the"
                                          f" {rows} the kernel has columns for")


def _kmeans_after(model: Any) -> None:
    centers = getattr(model, "cluster_centers_", None)
    n_features = getattr(model, "n_features_in_", None)
    if centers is not None and n_features is not None and (
            centers.ndim != 2 or centers.shape[1] != n_features):
        raise _fail(type(model).__name__, "cluster_centers_ and n_features_in_ disagree")


# ------------------------------------------------------------ encoders
# Encoders build a sparse matrix from fitted column indices and scipy densifies it
# without checking them: each index must fall inside the matrix it is placed in.


def _one_hot_after(model: Any) -> None:
    """``_n_features_outs`` is what scikit-learn computes from the categories, the
    infrequent groups and the dropped categories, which map each value to a column."""
    outs = getattr(model, "_n_features_outs", None)
    if outs is None:
        return
    name, categories = type(model).__name__, model.categories_
    width = len(categories)
    grouped = bool(model._infrequent_enabled)
    infrequent = model._infrequent_indices if grouped else [None] * width
    mappings = model._default_to_infrequent_mappings if grouped else [None] * width
    drops = model._drop_idx_after_grouping
    if width != getattr(model, "n_features_in_", width) or len(infrequent) != width \
            or len(mappings) != width or not (drops is None or (
                isinstance(drops, np.ndarray) and drops.shape == (width,))):
        raise _fail(name, f"categories_ and the per-feature attributes must hold {width}"
                          " features")
    expected = [_one_hot_width(name, *feature) for feature in zip(
        categories, infrequent, mappings, [None] * width if drops is None else drops,
        strict=True)]
    if type(outs) is not list or len(outs) != width or not all(
            _is_int(n) and n == e for n, e in zip(outs, expected, strict=True)):
        raise _fail(name, f"_n_features_outs must be {expected}, the columns the categories"
                          " make")


def _one_hot_width(name: str, categories: Any, infrequent: Any, mapping: Any, drop: Any
                   ) -> int:
    """The columns one feature encodes to (as scikit-learn counts them), once its
    values are checked to stay below that."""
    if not (isinstance(categories, np.ndarray) and categories.ndim == 1
            and _searchable(categories)):
        raise _fail(name, "numeric categories must be sorted, with NaN last")
    kept = len(categories)
    if (infrequent is None) != (mapping is None):
        raise _fail(name, "infrequent categories come with their mapping")
    if infrequent is not None:
        kept -= infrequent.size - 1
        if not (_indices_below(infrequent, len(categories)) and _indices_below(mapping, kept)):
            raise _fail(name, "an infrequent category or its mapping is out of range")
    if drop is None:
        return kept
    if not (isinstance(drop, int | np.integer) and 0 <= drop < kept):
        raise _fail(name, "a dropped category is out of range")
    return kept - 1


def _indices_below(values: Any, limit: int) -> bool:
    return (isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iu"
            and not (values.size and (values.min() < 0 or values.max() >= limit)))


def _searchable(categories: np.ndarray[Any, Any]) -> bool:
    """Whether numeric categories are sorted (NaN last), as the binary search that
    encodes numeric input needs: unsorted, it can return one past the end."""
    if categories.dtype.kind in "USMm" or not categories.size or (
            categories.dtype.kind == "O"
            and not all(isinstance(v, int | float | np.number) for v in categories.tolist())):
        return True
    last = categories[-1]
    body = categories[:-1] if last != last else categories  # noqa: PLR0124 - NaN
    return bool(np.all(body[:-1] <= body[1:])) and bool(np.all(body == body))  # noqa: PLR0124


def _check_vocabulary(name: str, vocabulary: Any, size: int) -> None:
    """``vocabulary`` maps its terms one to one onto the columns ``range(size)``."""
    if not isinstance(vocabulary, dict) or len(vocabulary) != size:
        raise _fail(name, f"the vocabulary must map {size} terms to columns")
    columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=size)
    if size and columns.view(np.uint64).max() >= size:
        raise _fail(name, f"the vocabulary maps a term to a column outside 0 to {size - 1}")
    used = np.zeros(size, dtype=bool)
    used[columns] = True
    if not used.all():
        raise _fail(name, "the vocabulary maps two terms to one column")


def _dict_vectorizer_after(model: Any) -> None:
    vocabulary = getattr(model, "vocabulary_", None)
    if vocabulary is not None:
        _check_vocabulary(type(model).__name__, vocabulary, len(model.feature_names_))


def _count_vectorizer_after(model: Any) -> None:
    vocabulary = getattr(model, "vocabulary_", None)
    if vocabulary is not None:
        _check_vocabulary(type(model).__name__, vocabulary, len(vocabulary))


def _label_binarizer_after(model: Any) -> None:
    cached = getattr(model, "_cached_dict", None)
    if cached is not None:
        _check_vocabulary(type(model).__name__, cached, len(model.classes_))


def _hasher_after(model: Any) -> None:
    """The hashing kernel takes each hash modulo ``n_features`` in C: 0 is a crash."""
    n_features = model.n_features
    if not (isinstance(n_features, int | np.integer) and 1 <= n_features < 1 << 31):
        raise _fail(type(model).__name__, "n_features must be an integer from 1 to 2**31 - 1")


def _spline_transformer_after(model: Any) -> None:
    from scipy.interpolate import BSpline  # noqa: PLC0415

    splines = getattr(model, "bsplines_", None)
    width = _fitted_width(model, "bsplines_")
    if splines is None or width is None:
        return
    name = type(model).__name__
    if type(splines) is not list or len(splines) != width or not all(
            type(s) is BSpline and s._c.ndim == 2 for s in splines):
        raise _fail(name, f"bsplines_ must hold a spline of 2-d coefficients for each of the"
                          f" {width} features")
    per_feature, bias = splines[0]._c.shape[1], model.include_bias
    if not isinstance(bias, bool | np.bool_) or {s._c.shape[1] for s in splines} != {
            per_feature} or model.n_features_out_ != width * (per_feature - (not bias)):
        raise _fail(name, "bsplines_ and n_features_out_ disagree")


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
    ("sklearn.ensemble._gb:BaseGradientBoosting", _gradient_boosting_after),
    ("sklearn.svm._base:BaseLibSVM", _libsvm_after),
    ("sklearn.cluster._kmeans:_BaseKMeans", _kmeans_after),
    ("sklearn.neighbors._classification:KNeighborsClassifier", _neighbors_labels_after),
    ("sklearn.neighbors._classification:RadiusNeighborsClassifier", _neighbors_labels_after),
    ("sklearn.preprocessing._encoders:OneHotEncoder", _one_hot_after),
    ("sklearn.preprocessing._label:MultiLabelBinarizer", _label_binarizer_after),
    ("sklearn.preprocessing._polynomial:SplineTransformer", _spline_transformer_after),
    ("sklearn.feature_extraction._dict_vectorizer:DictVectorizer", _dict_vectorizer_after),
    ("sklearn.feature_extraction.text:CountVectorizer", _count_vectorizer_after),
    ("sklearn.feature_extraction.text:HashingVectorizer", _hasher_after),
    ("sklearn.feature_extraction._hash:FeatureHasher", _hasher_after),
])

STATE["sklearn.metrics._dist_metrics:*"] = _metric_state
