"""Consistency of fitted scikit-learn encoders, vectorizers and spline transformers.

Encoders build a sparse matrix from fitted column indices and scipy densifies it
without checking them; vectorizers index their output by their vocabulary; the
hashing kernel takes each hash modulo ``n_features`` in C; a spline transformer
writes each feature's splines into its output columns. Each check runs on the
finished object, before it is returned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from satchel.format.handlers.objects import AFTER_TYPES, fail
from satchel.format.handlers.sklearn_ import fitted_width, is_int
from satchel.format.handlers.sklearn_estimators import loaded_class, outside

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
        raise fail(name, f"categories_ and the per-feature attributes must hold {width}"
                          " features")
    expected = [_one_hot_width(name, *feature) for feature in zip(
        categories, infrequent, mappings, [None] * width if drops is None else drops,
        strict=True)]
    if type(outs) is not list or len(outs) != width or not all(
            is_int(n) and n == e for n, e in zip(outs, expected, strict=True)):
        raise fail(name, f"_n_features_outs must be {expected}, the columns the categories"
                          " make")


def _one_hot_width(name: str, categories: Any, infrequent: Any, mapping: Any, drop: Any
                   ) -> int:
    """The columns one feature encodes to (as scikit-learn counts them), once its
    values are checked to stay below that."""
    if not (isinstance(categories, np.ndarray) and categories.ndim == 1
            and _searchable(categories)):
        raise fail(name, "numeric categories must be sorted, with NaN last")
    kept = len(categories)
    if (infrequent is None) != (mapping is None):
        raise fail(name, "infrequent categories come with their mapping")
    if infrequent is not None:
        kept -= infrequent.size - 1
        if not (_indices_below(infrequent, len(categories)) and _indices_below(mapping, kept)):
            raise fail(name, "an infrequent category or its mapping is out of range")
    if drop is None:
        return kept
    if not (isinstance(drop, int | np.integer) and 0 <= drop < kept):
        raise fail(name, "a dropped category is out of range")
    return kept - 1


def _indices_below(values: Any, limit: int) -> bool:
    return (isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iu"
            and not outside(values, limit))


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
        raise fail(name, f"the vocabulary must map {size} terms to columns")
    columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=size)
    if size and columns.view(np.uint64).max() >= size:
        raise fail(name, f"the vocabulary maps a term to a column outside 0 to {size - 1}")
    used = np.zeros(size, dtype=bool)
    used[columns] = True
    if not used.all():
        raise fail(name, "the vocabulary maps two terms to one column")


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
        raise fail(type(model).__name__, "n_features must be an integer from 1 to 2**31 - 1")


def _spline_transformer_after(model: Any) -> None:
    spline = loaded_class("scipy.interpolate._bsplines", "BSpline")
    splines = getattr(model, "bsplines_", None)
    width = fitted_width(model, "bsplines_")
    if splines is None or width is None:
        return
    name = type(model).__name__
    if type(splines) is not list or len(splines) != width or not all(
            type(s) is spline and s.c.ndim == 2 for s in splines):
        raise fail(name, f"bsplines_ must hold a spline of 2-d coefficients for each of the"
                          f" {width} features")
    per_feature, bias = splines[0].c.shape[1], model.include_bias
    if not isinstance(bias, bool | np.bool_) or {s.c.shape[1] for s in splines} != {
            per_feature} or model.n_features_out_ != width * (per_feature - (not bias)):
        raise fail(name, "bsplines_ and n_features_out_ disagree")


AFTER_TYPES.extend([
    ("sklearn.preprocessing._encoders:OneHotEncoder", _one_hot_after),
    ("sklearn.preprocessing._label:MultiLabelBinarizer", _label_binarizer_after),
    ("sklearn.preprocessing._polynomial:SplineTransformer", _spline_transformer_after),
    ("sklearn.feature_extraction._dict_vectorizer:DictVectorizer", _dict_vectorizer_after),
    ("sklearn.feature_extraction.text:CountVectorizer", _count_vectorizer_after),
    ("sklearn.feature_extraction.text:HashingVectorizer", _hasher_after),
    ("sklearn.feature_extraction._hash:FeatureHasher", _hasher_after),
])
