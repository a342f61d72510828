"""Sizes a fitted estimator states as numbers, which predict allocates for every row.

Most of what predict allocates is as large as the arrays a file stores: a forest's
nodes, a linear model's coefficients. Some sizes are numbers instead (a polynomial's
degrees, a sketch's n_components, a forest's or dummy model's class count, a dummy
regressor's, a tree's or a forest's output count, a boosted model's trees per iteration,
a vectorizer's n-gram lengths, an embedding's or a factorisation's width, the rows of a
sparse matrix no index array bounds), which a file of a few bytes could set to 2**40.
Each must be what the stored arrays give, and the columns a transform makes from
numbers alone at most :data:`MAX_COLUMNS`. The rules hold at load and at save.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from satchel.format.handlers.objects import ATTRIBUTE_RULES
from satchel.format.handlers.sklearn_ import is_int

#: The most columns a transform may allocate for every row from numbers a file states
#: rather than arrays it stores (a PolynomialFeatures' degrees, a sketch's n_components):
#: 2**24 float64 columns are 128 MiB a row.
MAX_COLUMNS = 1 << 24


def _polynomial_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a fitted PolynomialFeatures' output width, or None.

    ``transform`` allocates ``_n_out_full`` columns per row and fills them from the
    degrees, trusting both: they must be what the degrees give for ``n_features_in_``
    (a file of 2**40 columns asked for terabytes), and at most
    :data:`MAX_COLUMNS`.
    """
    if "_n_out_full" not in state:
        return None
    values: list[Any] = [state.get(k) for k in ("n_features_in_", "_min_degree", "_max_degree")]
    features, low, high = values
    flags = [state.get(k) for k in ("interaction_only", "include_bias")]
    if not (is_int(features) and is_int(low) and is_int(high) and low <= high
            and all(type(flag) in (bool, np.bool_) for flag in flags)):
        return ("a fitted PolynomialFeatures needs n_features_in_, degrees _min_degree <="
                " _max_degree and boolean interaction_only and include_bias")
    full = _polynomial_width(features, 0, high, *map(bool, flags))
    out = _polynomial_width(features, low, high, *map(bool, flags))
    if full is None:
        return (f"degrees up to {high} of {features} features give more than"
                f" {MAX_COLUMNS} columns, which transform allocates for every row")
    if (state["_n_out_full"], state.get("n_output_features_")) != (full, out):
        return (f"_n_out_full and n_output_features_ must be {full} and {out}, the columns"
                f" degrees {low} to {high} of {features} features give")
    return None


def _polynomial_width(features: int, low: int, high: int, interaction: bool, bias: bool
                      ) -> int | None:
    """The columns of degrees ``low`` to ``high`` of ``features`` features (as scikit-learn
    counts them), or None past :data:`MAX_COLUMNS`; never a huge number."""
    # C(n, k) is at least 2**min(k, n - k): past the limit when both are large.
    if interaction:
        total = 0
        for degree in range(max(1, low), min(high, features) + 1):
            if min(degree, features - degree) > 64:
                return None
            total += math.comb(features, degree)
            if total > MAX_COLUMNS:
                return None
    else:
        if min(features, high) > 64:
            return None
        total = math.comb(features + high, high) - 1
        if low > 0:
            total -= math.comb(features + low - 1, low - 1) - 1
    total += bias
    return total if total <= MAX_COLUMNS else None


#: Fitted matrices that predict or transform multiplies the input by (or measures it
#: against, row by row). scikit-learn keeps the first ones as CSR for sparse input or after
#: sparsify(), one row per output and n_features_in_ columns; the others are always dense.
_CSR_MATRICES = frozenset({"coef_", "components_", "_fit_X", "X_fit_"})
_DENSE_MATRICES = ("coefs_", "feature_log_prob_", "random_weights_", "normalization_",
                   "scalings_", "mixing_", "inverse_components_", "alpha_", "x_loadings_",
                   "label_distributions_")
_MATRICES = _CSR_MATRICES.union(_DENSE_MATRICES)


def _matrices_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a sparse matrix that predict multiplies the input by, or None.

    Only a CSR matrix's index pointers bound its rows, and only the input's width bounds
    the columns it is multiplied over: a CSC, COO, DIA or BSR matrix of 2**40 rows, or a
    CSR of 2**40 columns where dense weights belong, takes a few bytes to store and gives
    a product of 2**40 values for each row predicted.
    """
    if _MATRICES.isdisjoint(state):  # most estimators hold none (a forest's hundreds of trees)
        return None
    width = state.get("n_features_in_")
    for name in (*_CSR_MATRICES, *_DENSE_MATRICES):
        value: Any = state.get(name)
        matrix: Any
        for matrix in value if type(value) is list else [value]:
            fmt = getattr(matrix, "format", None)
            if not (type(matrix).__module__.startswith("scipy.sparse") and type(fmt) is str):
                continue
            if name not in _CSR_MATRICES:
                return (f"{name} is a sparse {fmt.upper()} matrix of shape {matrix.shape};"
                        " scikit-learn keeps it dense. Save it as an array (.toarray())")
            if fmt != "csr" or (width is not None and matrix.shape[-1] != width):
                return (f"{name} is a sparse {fmt.upper()} matrix of shape {matrix.shape}; a"
                        f" file keeps it as CSR of {width} columns, as scikit-learn does, whose"
                        " index pointers bound its rows. Convert it with .tocsr()")
    return None


def _dummy_classes_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a fitted DummyClassifier's class counts, or None: predict_proba
    allocates ``n_classes_`` columns a row, which must be its classes and their priors
    (a file of 2**40 classes and two labels asked for terabytes)."""
    if "classes_" not in state:
        return None
    outputs = state.get("n_outputs_")
    found: list[Any] = [state.get(k) for k in ("n_classes_", "classes_", "class_prior_")]
    counts, classes, priors = found
    if outputs == 1:
        counts, classes, priors = [counts], [classes], [priors]
    if not (is_int(outputs, 1) and all(type(v) is list and len(v) == outputs
                                       for v in (counts, classes, priors))
            and all(_count(n) == np.shape(c)[:1] == np.shape(p)[:1]
                    for n, c, p in zip(counts, classes, priors, strict=True))):
        return ("n_classes_ must count the classes_ of each of n_outputs_ outputs, with one"
                " class_prior_ each")
    return None


def _dummy_outputs_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a fitted DummyRegressor's output count, or None: predict
    fills ``n_outputs_`` columns a row with ``constant_``, which broadcasts from one
    column to any number (a file of 2**40 outputs asked for terabytes)."""
    if "constant_" not in state:
        return None
    outputs: Any = state.get("n_outputs_")
    constant: Any = state.get("constant_")
    if not (is_int(outputs, 1) and isinstance(constant, np.ndarray)
            and constant.shape == (1, outputs)):
        return (f"n_outputs_ is {str(outputs)[:40]} and constant_ of shape"
                f" {getattr(constant, 'shape', None)}: constant_ must hold one row of a value"
                " for each of n_outputs_ outputs")
    return None


def _boosting_width_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a fitted histogram gradient-boosting model's trees per iteration,
    or None: predict allocates ``n_trees_per_iteration_`` values a row and adds the
    baseline to each, so it is the width of ``_baseline_prediction`` and of every row of
    ``_predictors`` (a file of one tree claiming 2**40 asked for terabytes)."""
    predictors: Any = state.get("_predictors")
    if predictors is None:
        return None
    width: Any = state.get("n_trees_per_iteration_")
    baseline: Any = state.get("_baseline_prediction")
    if not (is_int(width, 1) and isinstance(baseline, np.ndarray)
            and baseline.shape == (1, width) and type(predictors) is list
            and all(type(row) is list and len(row) == width for row in predictors)):
        return (f"n_trees_per_iteration_ is {str(width)[:40]}; it must be the width of"
                " _baseline_prediction, one row of that many values, and of every row of"
                " _predictors: predict allocates that many values for every row")
    return None


def _class_count_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a fitted forest's or bagging classifier's class counts, or None:
    predict_proba allocates ``n_classes_`` columns a row (per output) and adds each
    member's probabilities to them, which broadcast from one class to any number (a forest
    of one class claiming 2**40 filled terabytes)."""
    classes: Any = state.get("classes_")
    if classes is None:
        return None
    counts: Any = state.get("n_classes_")
    if type(classes) is list:  # one array of classes per output
        counted = isinstance(counts, list | np.ndarray) and len(counts) == len(classes) and all(
            _count(n) == np.shape(c)[:1] for n, c in zip(counts, classes, strict=True))
    else:
        counted = _count(counts) == np.shape(classes)[:1]
    if not counted:
        return (f"n_classes_ is {str(counts)[:40]}; it must count the classes_ (of each"
                " output): predict_proba allocates that many columns for every row")
    return None


def _outputs_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a fitted tree's or forest's output count, or None: predict
    allocates ``n_outputs_`` columns a row (a tree of one output claiming 2**40 asked for
    terabytes), so it is the outputs of ``tree_``, or those of every member of a forest."""
    if "n_outputs_" not in state:
        return None
    outputs: Any = state["n_outputs_"]
    tree, members = state.get("tree_"), state.get("estimators_")
    if tree is not None:
        found = {getattr(tree, "n_outputs", None)}
    elif isinstance(members, list) and members:
        found = {getattr(member, "n_outputs_", None) for member in members}
    else:
        return None
    if not (isinstance(outputs, int | np.integer) and found == {outputs}):
        return (f"n_outputs_ is {str(outputs)[:40]}; it must be the outputs of its trees"
                f" ({', '.join(sorted(map(str, found)))[:60]}): predict allocates that many"
                " columns for every row")
    return None


def _count(value: Any) -> tuple[int, ...] | None:
    """``(value,)`` for a whole number, to compare with a shape's first entry."""
    return (int(value),) if isinstance(value, int | np.integer) else None


def _count_sketch_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a fitted PolynomialCountSketch, or None: ``transform`` allocates
    ``degree`` x ``n_components`` values a row (twice, as complex numbers, for its FFT) and
    adds each feature at its hashed column, so the hashes are ``degree`` rows of columns
    below ``n_components``, and the values a row at most :data:`MAX_COLUMNS`."""
    hashes, signs = state.get("indexHash_"), state.get("bitHash_")
    if hashes is None:
        return None
    degree: Any = state.get("degree")
    columns: Any = state.get("n_components")
    if not (is_int(degree, 1) and is_int(columns, 1, MAX_COLUMNS)
            and degree * columns <= MAX_COLUMNS):
        return (f"degree must be a positive whole number and n_components one from 1 to"
                f" {MAX_COLUMNS}, with degree x n_components at most {MAX_COLUMNS} too: transform"
                f" allocates that many values for every row (found {str(degree)[:40]} and"
                f" {str(columns)[:40]})")
    if not (isinstance(hashes, np.ndarray) and hashes.ndim == 2 and hashes.shape[0] == degree
            and isinstance(signs, np.ndarray) and signs.shape == hashes.shape
            and hashes.dtype.kind in "iu" and not (
                hashes.size and (hashes.min() < 0 or hashes.max() >= columns))):
        return (f"indexHash_ and bitHash_ must hold {degree} rows, of columns below"
                f" n_components ({columns})")
    return None


def _chi2_steps_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with an AdditiveChi2Sampler's sample_steps, or None: ``transform``
    adds two copies of the input for each step past the first, looping in Python, so
    they make ``n_features_in_ * (2 * sample_steps - 1)`` columns, at most
    :data:`MAX_COLUMNS` (a file of 10**9 steps never returned)."""
    steps: Any = state.get("sample_steps")
    width: Any = state.get("n_features_in_", 1)
    if not (is_int(steps, 1) and is_int(width)) or width * (2 * steps - 1) > MAX_COLUMNS:
        return (f"sample_steps is {str(steps)[:40]}; transform may make at most {MAX_COLUMNS}"
                f" columns of {width} features, two for each step past the first")
    return None


def _stated_width_problem(number: str, matrix: str, axis: int, model: Any,
                          state: dict[str, Any]) -> str | None:
    """What is wrong with a count ``transform`` allocates and fills that many values a row
    by, or None: it is the size of ``matrix`` along ``axis``, which the file stores (a
    file of 2**27 components of a 1-column embedding filled 1 GiB a row)."""
    stored: Any = state.get(matrix)
    if stored is None:
        return None
    count: Any = state.get(number)
    if not (isinstance(stored, np.ndarray) and stored.ndim == 2 and is_int(count)
            and count == stored.shape[axis]):
        return (f"{number} is {str(count)[:40]}; it must be the {('rows', 'columns')[axis]}"
                f" of {matrix} (of shape {getattr(stored, 'shape', None)}), the values"
                " transform allocates and fills for every row")
    return None


#: (class, count, the fitted matrix that holds it, along which axis).
_STATED_WIDTHS = [
    ("sklearn.manifold._locally_linear:LocallyLinearEmbedding", "n_components", "embedding_", 1),
    ("sklearn.decomposition._nmf:_BaseNMF", "_n_components", "components_", 0),
]


#: The longest n-grams a text vectorizer may make. It makes, at each position of a
#: document (or of a word, for char_wb), every n-gram from ngram_range's start to its
#: end that fits: a file of (1, 10**9) made the n-grams of a document grow with the cube
#: of its length (1500 words asked for gigabytes), this many only with 32**2 / 2 times it.
MAX_NGRAM = 32


def _ngram_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a text vectorizer's ``ngram_range``, or None: a pair of n-gram
    lengths from 1 to :data:`MAX_NGRAM`, the shorter first."""
    span: Any = state.get("ngram_range", (1, 1))
    if not (type(span) is tuple and len(span) == 2
            and all(_count(n) is not None and 1 <= n <= MAX_NGRAM for n in span)
            and span[0] <= span[1]):
        return (f"ngram_range is {str(span)[:40]}; a vectorizer may make n-grams of 1 to"
                f" {MAX_NGRAM} words or characters (the shorter length first), which"
                " transform makes at every position of a document")
    return None


ATTRIBUTE_RULES.extend([
    ("sklearn.base:BaseEstimator", _matrices_problem),
    ("sklearn.dummy:DummyClassifier", _dummy_classes_problem),
    ("sklearn.dummy:DummyRegressor", _dummy_outputs_problem),
    ("sklearn.tree._classes:BaseDecisionTree", _outputs_problem),
    ("sklearn.ensemble._forest:BaseForest", _outputs_problem),
    ("sklearn.ensemble._forest:ForestClassifier", _class_count_problem),
    ("sklearn.ensemble._bagging:BaggingClassifier", _class_count_problem),
    ("sklearn.ensemble._hist_gradient_boosting.gradient_boosting:BaseHistGradientBoosting",
     _boosting_width_problem),
    ("sklearn.kernel_approximation:PolynomialCountSketch", _count_sketch_problem),
    ("sklearn.kernel_approximation:AdditiveChi2Sampler", _chi2_steps_problem),
    ("sklearn.preprocessing._polynomial:PolynomialFeatures", _polynomial_problem),
    ("sklearn.feature_extraction.text:_VectorizerMixin", _ngram_problem),
    *((name, functools.partial(_stated_width_problem, number, matrix, axis))
      for name, number, matrix, axis in _STATED_WIDTHS),
])
