"""Consistency of fitted scikit-learn estimators whose compiled code trusts their state.

The structures compiled code walks (trees, predictors, neighbour trees) are
checked in :mod:`satchel.format.handlers.sklearn_`; encoders, vectorizers and
spline transformers in :mod:`~satchel.format.handlers.sklearn_features`; the
hyperparameters a file may not set in :mod:`~satchel.format.handlers.sklearn_params`.
This module checks the estimators that index with what they hold: a boosted
model's stage width, a neighbours classifier's labels, an SVM's support counts
and indices. Each check runs on the finished object, before it is returned.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from satchel.format.handlers.objects import AFTER_TYPES, fail
from satchel.format.handlers.sklearn_ import fitted_width, is_int
from satchel.format.handlers.sklearn_params import COMPUTED_METRIC_PARAMS


def _decision_tree_after(model: Any) -> None:
    n_features = fitted_width(model, "tree_")
    tree = getattr(model, "tree_", None)
    if tree is not None and not _instance(tree, "sklearn.tree._tree", "Tree"):
        raise fail(type(model).__name__, f"tree_ must be a Tree, found {type(tree).__name__}")
    if tree is not None and tree.n_features != n_features:
        raise fail(type(model).__name__, f"tree_ has {tree.n_features} features,"
                                          f" the estimator {n_features}")


def _ensemble_after(model: Any) -> None:
    n_features = fitted_width(model, "estimators_")
    members = getattr(model, "estimators_", None)
    if n_features is None or members is None:
        return
    members = list(np.ravel(np.asarray(members, dtype=object)))
    subsets = getattr(model, "estimators_features_", None)
    if subsets is not None and (type(subsets) is not list or len(subsets) != len(members)):
        raise fail(type(model).__name__, f"estimators_features_ must list the features of each"
                                          f" of its {len(members)} members")
    for i, member in enumerate(members):
        expected = n_features
        if subsets is not None:
            features = np.asarray(subsets[i])
            if outside(features, n_features):
                raise fail(type(model).__name__, "a member uses a feature out of range")
            expected = features.shape[0]
        member_features = getattr(member, "n_features_in_", expected)
        if member_features != expected:
            raise fail(type(model).__name__, f"member {i} expects {member_features} features,"
                                              f" not {expected}")


def _gradient_boosting_after(model: Any) -> None:
    """``predict_stages`` adds tree ``[i, k]`` to column ``k`` of a buffer as wide as
    the initial prediction, unchecked: every stage holds exactly that many trees."""
    members = getattr(model, "estimators_", None)
    if members is None:
        return
    name, width = type(model).__name__, fitted_width(model, "estimators_")
    per_stage = getattr(model, "n_trees_per_iteration_", None)
    if not (isinstance(members, np.ndarray) and members.dtype == object and members.ndim == 2
            and is_int(per_stage, 1) and members.shape[1] == per_stage
            and per_stage == _trees_per_stage(model)):
        raise fail(name, "estimators_ must hold n_trees_per_iteration_ trees per stage:"
                          " one, or one per class beyond two")
    _check_initial_width(model, per_stage)
    regressor = loaded_class("sklearn.tree._classes", "DecisionTreeRegressor")
    trees = [member.tree_ for member in members.ravel().tolist() if type(member) is regressor]
    if len(trees) != members.size or {(t.n_features, t.n_outputs) for t in trees} - {
            (width, 1)}:
        raise fail(name, f"every stage must hold regression trees of one output and"
                          f" {width} features")


def _trees_per_stage(model: Any) -> int:
    """One tree per stage for regression and two classes, else one per class."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return 1
    if getattr(model, "n_classes_", len(classes)) != len(classes):
        raise fail(type(model).__name__, "n_classes_ and classes_ disagree")
    return 1 if len(classes) <= 2 else len(classes)


def _check_initial_width(model: Any, per_stage: int) -> None:
    """The initial prediction (the buffer the trees add to) has ``per_stage`` columns.

    The default initial estimators are checked from their state. The width of another
    estimator's predictions depends on its fitted arrays (a classifier's ``classes_``
    need not match the columns its ``predict_proba`` gives), so it predicts one row of
    zeros here, as the model's ``predict`` would call it: an already validated
    scikit-learn estimator, on the float32 array the model itself would pass it.
    """
    name = type(model).__name__
    init: Any = getattr(model, "init_", "zero")
    loss = getattr(model, "_loss", None)
    if loss is not None and bool(getattr(loss, "is_multiclass", False)) != (per_stage > 1):
        raise fail(name, "the loss and the number of trees per stage disagree")
    if isinstance(init, str) and init == "zero":
        return
    if _instance(init, "sklearn.dummy", "DummyRegressor"):
        wide = init.n_outputs_ == 1
    elif _instance(init, "sklearn.dummy", "DummyClassifier"):
        wide = init.n_outputs_ == 1 and len(init.classes_) == init.n_classes_ == len(
            init.class_prior_) == len(model.classes_)
    else:
        wide = _predicted_width(model, init, per_stage) == per_stage
    if not wide:
        raise fail(name, f"init_ does not predict the {per_stage} columns the trees add to")


def _predicted_width(model: Any, init: Any, per_stage: int) -> int:
    """The columns of the initial prediction ``init`` makes for one row, computed as the
    model computes it (one column for two classes: the second's probability): on a row of
    zeros, else of ones (an encoder may know no 0, a log no 0 either). When ``init``
    predicts neither, the width comes from its state (:func:`_stated_width`)."""
    classifier = hasattr(model, "classes_")
    width = fitted_width(model, "estimators_") or 0
    found = None
    for row in (np.zeros((1, width), dtype=np.float32), np.ones((1, width), dtype=np.float32)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = np.asarray(init.predict_proba(row) if classifier else init.predict(row))
            break
        except Exception:  # noqa: S112 - a row outside its domain: the next one, or its state
            continue
    if found is None:
        return _stated_width(init, classifier, per_stage)
    if found.ndim == 1 or found.shape[0] != 1:
        return 1 if found.shape == (1,) else 0
    if classifier and per_stage == 1:  # binary: the positive class's column is taken
        return 1 if found.ndim == 2 and found.shape[1] >= 2 else 0
    return int(found.shape[1]) if found.ndim == 2 else 0


def _stated_width(init: Any, classifier: bool, per_stage: int) -> int:
    """The width of ``init``'s predictions from its state: its classes, where the arrays
    its predictions come from (a linear model's or a network's last layer) agree."""
    if not classifier:
        return 1
    final = init
    while hasattr(final, "steps"):  # a pipeline predicts with its last step
        final = final.steps[-1][1]
    classes = len(getattr(init, "classes_", ()))
    coef, layers = getattr(final, "coef_", None), getattr(final, "coefs_", None)
    outputs = [*([np.shape(coef)[0]] if coef is not None else []),
               *([np.shape(layers[-1])[-1]] if layers else [])]
    if any(max(count, 2) != classes for count in outputs):  # one output for two classes
        return 0
    return 1 if per_stage == 1 and classes >= 2 else classes


def loaded_class(module: str, name: str) -> Any:
    """The class ``module.name`` if its module is imported, else None: a check never
    imports (an object of a class whose module was never imported cannot exist)."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) else None


def _instance(value: Any, module: str, name: str) -> bool:
    cls = loaded_class(module, name)
    return cls is not None and isinstance(value, cls)


def _neighbors_after(model: Any) -> None:
    """The brute-force search (compiled, and scipy's ``cdist``) reads each stored sample
    as wide as the query, which scikit-learn checks against ``n_features_in_``: the
    stored samples and the metric's weights must be that wide."""
    data = getattr(model, "_fit_X", None)
    if data is None:
        return
    name, width = type(model).__name__, fitted_width(model, "_fit_X")
    rows = getattr(model, "n_samples_fit_", None)
    if getattr(data, "ndim", None) != 2 or (rows is not None and data.shape[0] != rows):
        raise fail(name, "_fit_X must be a 2-d array of n_samples_fit_ rows")
    if getattr(model, "effective_metric_", None) != "precomputed" and data.shape[1] != width:
        raise fail(name, f"_fit_X has {data.shape[1]} columns for {width} features")
    for metric, params in (("metric", "metric_params"),
                           ("effective_metric_", "effective_metric_params_")):
        _check_metric_params(name, getattr(model, params, None), width,
                             callable(getattr(model, metric, None)))


def _check_metric_params(name: str, params: Any, width: int | None, function: bool) -> None:
    """The parameters of a named metric; those of a function (``metric=my_function``) are
    its keyword arguments, whatever their shape, which only that function reads."""
    if params is None:
        return
    if type(params) is not dict:
        raise fail(name, "metric parameters must be a dict")
    if COMPUTED_METRIC_PARAMS & params.keys():
        raise fail(name, f"metric parameters may not hold {sorted(COMPUTED_METRIC_PARAMS)}")
    if function:
        return
    # V is seuclidean's variances, or mahalanobis' covariance matrix.
    shapes: dict[str, list[tuple[int | None, ...]]] = {
        "VI": [(width, width)], "V": [(width,), (width, width)], "w": [(width,)]}
    for key, allowed in shapes.items():
        value = params.get(key)
        if value is not None and np.shape(value) not in allowed:
            raise fail(name, f"metric parameter {key} must have shape"
                             f" {' or '.join(map(str, allowed))}")


def _birch_after(model: Any) -> None:
    """``predict`` passes ``_subcluster_norms`` to the compiled search as the centres'
    squared norms, one per centre, read unchecked."""
    centers = getattr(model, "subcluster_centers_", None)
    if centers is None:
        return
    name, width = type(model).__name__, fitted_width(model, "subcluster_centers_")
    norms = getattr(model, "_subcluster_norms", None)
    if not (isinstance(centers, np.ndarray) and centers.ndim == 2 and centers.shape[1] == width
            and centers.dtype.kind == "f" and isinstance(norms, np.ndarray)
            and norms.shape == (centers.shape[0],) and norms.dtype == centers.dtype):
        raise fail(name, f"subcluster_centers_ must have {width} columns of floats and"
                         " _subcluster_norms one norm of their dtype for each")


#: Nodes of a bisecting k-means tree: each split at most doubles the clusters.
_MAX_BISECTING_NODES = 1 << 20


def _bisecting_after(model: Any) -> None:
    """``predict`` walks the tree of bisections and labels the input against each node's
    two centres in compiled code, which takes its width from the centres: each must be
    as wide as the input. Every node has two children or none, and no node is its own
    ancestor."""
    root = getattr(model, "_bisecting_tree", None)
    if root is None:
        return
    name, width = type(model).__name__, fitted_width(model, "_bisecting_tree")
    mean = getattr(model, "_X_mean", None)
    if mean is not None and np.shape(mean) != (width,):
        raise fail(name, f"_X_mean must hold {width} means")
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen or len(seen) >= _MAX_BISECTING_NODES:
            raise fail(name, "_bisecting_tree must be a tree of at most"
                             f" {_MAX_BISECTING_NODES} nodes")
        seen.add(id(node))
        center = getattr(node, "center", None)
        left, right = getattr(node, "left", None), getattr(node, "right", None)
        if not (isinstance(center, np.ndarray) and center.shape == (width,)
                and center.dtype.kind == "f") or (left is None) != (right is None):
            raise fail(name, f"every node of _bisecting_tree needs a centre of {width} floats"
                             " and two children or none")
        pending += [child for child in (left, right) if child is not None]


def _hdbscan_after(model: Any) -> None:
    """``dbscan_clustering`` joins the two nodes each row of ``_single_linkage_tree_`` names
    in a union-find of ``2 * rows + 1`` entries, written unchecked: each is one of them
    (a row naming node 10**9 wrote past the union-find, a crash)."""
    tree = getattr(model, "_single_linkage_tree_", None)
    if tree is None:
        return
    names = getattr(getattr(tree, "dtype", None), "names", None) or ()
    if not (isinstance(tree, np.ndarray) and tree.ndim == 1
            and {"left_node", "right_node"} <= set(names)):
        raise fail(type(model).__name__, "_single_linkage_tree_ must be a 1-d record array"
                                          " of left_node and right_node")
    last = 2 * tree.shape[0]  # the nodes: the samples, then one cluster per row
    for field in ("left_node", "right_node") if tree.size else ():
        if tree[field].astype(np.int64).view(np.uint64).max() > last:  # negatives wrap
            raise fail(type(model).__name__, f"_single_linkage_tree_ names a {field} outside"
                                              f" its {last + 1} nodes")


def _neighbors_labels_after(model: Any) -> None:
    """``_y`` holds each training sample's class index, which the brute-force class
    vote adds to its per-class scores at, unchecked."""
    labels, data = getattr(model, "_y", None), getattr(model, "_fit_X", None)
    if labels is None or data is None:
        return
    name, rows, two_d = type(model).__name__, data.shape[0], model.outputs_2d_
    if type(two_d) not in (bool, np.bool_):
        raise fail(name, "outputs_2d_ must be a boolean")
    per_output = list(model.classes_) if two_d else [model.classes_]
    if not (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu"
            and labels.shape == ((rows, len(per_output)) if two_d else (rows,))
            and getattr(model, "n_samples_fit_", rows) == rows):
        raise fail(name, f"_y must hold a class index for each of the {rows} training samples")
    counts = np.array([len(classes) for classes in per_output], dtype=np.int64)
    if not labels.size:
        return
    # One maximum per output (a negative index wraps past every count): no temporary.
    highest = labels.reshape(rows, -1).astype(np.int64, copy=False).view(np.uint64).max(axis=0)
    if (highest >= counts.view(np.uint64)).any():
        raise fail(name, "_y holds a class index outside classes_")


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
    missing = [attribute for attribute in ("support_", "_n_support", "_dual_coef_", "_intercept_")
               if getattr(model, attribute, None) is None]
    if missing:
        raise fail(name, f"a fitted model (it holds support_vectors_) needs {missing}")
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
        raise fail(name, "support vector counts disagree")
    if (counts < 0).any():
        raise fail(name, "_n_support holds a negative count")
    _check_svm_probabilities(model, pairs)
    if model._sparse:
        if precomputed or dual.data.shape != ((classes - 1) * n_sv,):
            raise fail(name, "a sparse model needs one dual coefficient per support vector"
                              " and class, and no precomputed kernel")
    elif precomputed:
        _check_training_indices(model, support)
    elif vectors.shape[1] != getattr(model, "n_features_in_", vectors.shape[1]):
        raise fail(name, "support vectors and n_features_in_ disagree")
    _writable_coefficients(model)


def _writable_coefficients(model: Any) -> None:
    """libsvm's ``predict_proba`` takes the dual coefficients as a writable buffer, which a
    mapped file's read-only view is not (``mmap=True``): such a model gets its own copy
    of them (one row per class but one, far smaller than the support vectors)."""
    dual = model._dual_coef_
    data = dual.data if model._sparse else dual
    if isinstance(data, np.ndarray) and not data.flags.writeable:
        model._dual_coef_ = dual.copy()


def _check_svm_probabilities(model: Any, pairs: int) -> None:
    """``_probA`` and ``_probB`` hold one value per pair of classes (or none, unless a
    sparse model predicts with them): libsvm copies that many."""
    shapes = {model._probA.shape, model._probB.shape}
    needed = model._sparse and bool(getattr(model, "_effective_probability", False))
    if len(shapes) != 1 or shapes.pop() not in ({(pairs,)} if needed else {(0,), (pairs,)}):
        raise fail(type(model).__name__, "_probA and _probB must each hold one value per"
                                          f" pair of classes ({pairs}), or none")


def _check_training_indices(model: Any, support: np.ndarray[Any, Any]) -> None:
    """With a precomputed kernel, ``support_`` indexes the kernel's columns: the
    training samples (``shape_fit_[0]``, which predict checks the kernel against)."""
    shape = model.shape_fit_
    rows = shape[0] if type(shape) is tuple and shape else -1  # -1: refused below
    kept = getattr(getattr(model, "_BaseLibSVM__Xfit", None), "shape", ())  # a kernel's input
    if not is_int(rows) or (callable(model.kernel) and tuple(kept)[:1] != (rows,)):
        raise fail(type(model).__name__, "shape_fit_ must give the number of training samples")
    if outside(support, rows):
        raise fail(type(model).__name__, f"support_ names a training sample outside the"
                                          f" {rows} the kernel has columns for")


#: The most OpenMP threads a fitted model may ask for (scikit-learn records the cores of
#: the machine it was fitted on); OpenMP takes -1 as 2**32 - 1 threads and aborts.
MAX_THREADS = 4096


def _kmeans_after(model: Any) -> None:
    """The compiled labelling reads each row's distance to the first centre, and scoring
    that centre, unchecked: there is at least one, of ``n_features_in_`` values."""
    centers = getattr(model, "cluster_centers_", None)
    n_features = getattr(model, "n_features_in_", None)
    if centers is not None and not isinstance(centers, np.ndarray):
        raise fail(type(model).__name__, f"cluster_centers_ must be an array, found"
                                          f" {type(centers).__name__}")
    if centers is not None and n_features is not None and (
            centers.ndim != 2 or centers.shape[1] != n_features):
        raise fail(type(model).__name__, "cluster_centers_ and n_features_in_ disagree")
    if centers is not None and not centers.shape[0]:
        raise fail(type(model).__name__, "cluster_centers_ holds no centre")
    threads = getattr(model, "_n_threads", 1)
    if type(threads) is not int or not 1 <= threads <= MAX_THREADS:
        raise fail(type(model).__name__, f"_n_threads must be a whole number of threads from 1"
                   f" to {MAX_THREADS}")


def outside(values: np.ndarray[Any, Any], limit: int) -> bool:
    """Whether any of ``values`` falls outside ``0 .. limit - 1``."""
    return bool(values.size) and bool(values.min() < 0 or values.max() >= limit)


AFTER_TYPES.extend([
    ("sklearn.tree._classes:BaseDecisionTree", _decision_tree_after),
    ("sklearn.ensemble._base:BaseEnsemble", _ensemble_after),
    ("sklearn.ensemble._gb:BaseGradientBoosting", _gradient_boosting_after),
    ("sklearn.svm._base:BaseLibSVM", _libsvm_after),
    ("sklearn.neighbors._base:NeighborsBase", _neighbors_after),
    ("sklearn.cluster._birch:Birch", _birch_after),
    ("sklearn.cluster._bisect_k_means:BisectingKMeans", _bisecting_after),
    ("sklearn.cluster._kmeans:_BaseKMeans", _kmeans_after),
    ("sklearn.cluster._hdbscan.hdbscan:HDBSCAN", _hdbscan_after),
    ("sklearn.neighbors._classification:KNeighborsClassifier", _neighbors_labels_after),
    ("sklearn.neighbors._classification:RadiusNeighborsClassifier", _neighbors_labels_after),
])
