"""Validation of scikit-learn's KD and ball trees and distance metrics, on load.

The compiled neighbour search indexes a tree's samples by its index array and
node ranges, and a metric reads as many weights (or a ``VI`` as wide) as the
query has columns, without checking either: each must match the tree's data.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from satchel.format.handlers.objects import STATE, fail
from satchel.format.handlers.sklearn_ import is_int


def _binary_tree_state(state: Any, args: tuple[Any, ...], bound_rows: int) -> None:
    if not isinstance(state, tuple) or len(state) != 13:
        raise fail("neighbour tree", "the state must be a tuple of 13 values")
    data, idx, node_data, bounds = state[:4]
    leaf_size, n_levels, n_nodes = state[4:7]
    arrays_ok = all(isinstance(a, np.ndarray) for a in (data, idx, node_data, bounds))
    if not arrays_ok or data.ndim != 2 or data.dtype != np.float64:
        raise fail("neighbour tree", "data must be a 2-d float64 array")
    n_samples, n_dims = data.shape
    if idx.dtype != np.intp or idx.shape != (n_samples,) or (
            n_samples and idx.view(np.uintp).max() >= n_samples):  # negatives wrap: too big
        raise fail("neighbour tree", "idx_array must index the samples")
    if not (is_int(leaf_size, 1) and is_int(n_levels, 1, 62) and is_int(n_nodes, 1)
            and n_nodes == 2 ** n_levels - 1 and node_data.shape == (n_nodes,)
            and node_data.dtype.names is not None
            and {"idx_start", "idx_end", "is_leaf"} <= set(node_data.dtype.names)):
        raise fail("neighbour tree", "node counts and levels disagree")
    start, end = node_data["idx_start"], node_data["idx_end"]
    if ((start < 0) | (end > n_samples) | (start > end)).any():
        raise fail("neighbour tree", "a node's sample range is outside the data")
    internal = node_data["is_leaf"] == 0
    if (2 * np.flatnonzero(internal) + 2 >= n_nodes).any():
        raise fail("neighbour tree", "an internal node has no children")
    if bounds.shape != (bound_rows, n_nodes, n_dims) or bounds.dtype != np.float64:
        raise fail("neighbour tree", "node_bounds do not match the nodes and data")
    weights = state[12]
    if weights is not None and (not isinstance(weights, np.ndarray)
                                or weights.shape != (n_samples,)):
        raise fail("neighbour tree", "sample_weight must hold one weight per sample")
    _check_metric(state[11], n_dims)


def _check_metric(metric: Any, n_dims: int) -> None:
    from sklearn.metrics._dist_metrics import DistanceMetric64  # noqa: PLC0415

    if not isinstance(metric, DistanceMetric64):
        raise fail("neighbour tree", "the distance metric must be a DistanceMetric64")
    vec, mat = metric.__getstate__()[1:3]
    name = type(metric).__name__
    if name.startswith("Mahalanobis") and mat.shape != (n_dims, n_dims):
        raise fail(name, f"VI must be {n_dims}x{n_dims}")
    if (name.startswith(("SEuclidean", "WMinkowski"))
            or (name.startswith("Minkowski") and vec.size)) and vec.shape != (n_dims,):
        raise fail(name, f"the weight vector must have {n_dims} entries")
    # It reads a latitude and a longitude, unchecked: past each row of 1 value.
    if name.startswith("Haversine") and n_dims != 2:
        raise fail(name, f"haversine distances are between points of 2 values, not {n_dims}")


def _metric_state(state: Any, args: tuple[Any, ...]) -> None:
    if not (isinstance(state, tuple) and len(state) == 3
            and all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in state[1:])
            and state[1].ndim == 1 and state[2].ndim == 2):
        raise fail("distance metric", "the state must be (p, vec, mat)")


def _function_metric_state(state: Any, args: tuple[Any, ...]) -> None:
    """A metric that calls a function (``metric=my_function``) keeps the function and its
    ``metric_params`` after ``(p, vec, mat)``; the function was trusted by name."""
    if not (isinstance(state, tuple) and len(state) == 5 and callable(state[3])
            and isinstance(state[4], dict) and all(type(k) is str for k in state[4])):
        raise fail("distance metric", "the state of a function's metric must be"
                                      " (p, vec, mat, func, kwargs)")
    _metric_state(state[:3], args)


def _mahalanobis_state(state: Any, args: tuple[Any, ...]) -> None:
    """A Mahalanobis metric takes its width from ``VI``'s rows and reads that many columns
    of each row unchecked: ``VI`` must be square (a 4x1 one was read past its end)."""
    _metric_state(state, args)
    rows, columns = state[2].shape
    if rows != columns:
        raise fail("MahalanobisDistance", f"VI must be square, found {rows}x{columns}")


# KD trees keep lower and upper bounds per node, ball trees one centroid.
STATE["sklearn.neighbors._kd_tree:KDTree"] = functools.partial(_binary_tree_state, bound_rows=2)
STATE["sklearn.neighbors._ball_tree:BallTree"] = functools.partial(_binary_tree_state,
                                                                   bound_rows=1)
STATE["sklearn.metrics._dist_metrics:*"] = _metric_state
STATE.update(dict.fromkeys(("sklearn.metrics._dist_metrics:MahalanobisDistance64",
                            "sklearn.metrics._dist_metrics:MahalanobisDistance32"),
                           _mahalanobis_state))
STATE.update(dict.fromkeys(("sklearn.metrics._dist_metrics:PyFuncDistance64",
                            "sklearn.metrics._dist_metrics:PyFuncDistance32"),
                           _function_metric_state))
