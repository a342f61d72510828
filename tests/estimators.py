"""Every scikit-learn estimator, built and fitted on small data suited to its tags.

:func:`all_estimator_names` lists ``sklearn.utils.all_estimators()`` with the
experimental estimators enabled. :func:`build` makes an instance with
scikit-learn's own test parameters (required arguments, few iterations) and a
fixed random state; :func:`fit` fits it on data chosen from its tags and
returns the input its outputs are computed on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import sklearn.experimental.enable_halving_search_cv
import sklearn.experimental.enable_iterative_imputer  # noqa: F401 - lists IterativeImputer
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.utils import all_estimators

try:  # scikit-learn 1.6 added FrozenEstimator, estimator tags and instance_generator
    from sklearn.frozen import FrozenEstimator
    from sklearn.utils._test_common.instance_generator import _construct_instances
except ImportError:  # scikit-learn 1.4 and 1.5: a dict of tags, one test instance a class
    from sklearn.utils.estimator_checks import _construct_instance, _set_checking_parameters

    FrozenEstimator = None

    def _construct_instances(cls: type[BaseEstimator]) -> Iterator[BaseEstimator]:
        if cls.__name__ in _REQUIRED_BEFORE_1_6:  # the first test instance 1.6 makes
            yield cls(**_REQUIRED_BEFORE_1_6[cls.__name__]())
            return
        estimator = _construct_instance(cls)
        _set_checking_parameters(estimator)
        yield estimator

N_SAMPLES, N_FEATURES = 48, 4


def _search() -> dict[str, Any]:
    return {"cv": 2, "error_score": "raise", "estimator": Ridge()}


#: Before scikit-learn 1.6 its test generator cannot make these: their required arguments.
_REQUIRED_BEFORE_1_6: dict[str, Callable[[], dict[str, Any]]] = {
    "ColumnTransformer": lambda: {"transformers": [("trans1", StandardScaler(), [0, 1])]},
    "FeatureUnion": lambda: {"transformer_list": [("trans1", StandardScaler())]},
    "GridSearchCV": lambda: {**_search(), "param_grid": {"alpha": [0.1, 1.0]}},
    "HalvingGridSearchCV": lambda: {**_search(), "min_resources": "smallest",
                                    "param_grid": {"alpha": [0.1, 1.0]}},
    "HalvingRandomSearchCV": lambda: {**_search(), "random_state": 0,
                                      "param_distributions": {"alpha": [0.1, 1.0]}},
    "Pipeline": lambda: {"steps": [("scaler", StandardScaler()), ("final_estimator", Ridge())]},
    "RandomizedSearchCV": lambda: {**_search(), "random_state": 0,
                                   "param_distributions": {"alpha": [0.1, 1.0]}},
    "SparseCoder": lambda: {"dictionary": np.zeros((5, N_FEATURES))},
}

#: Parameters beyond scikit-learn's test ones, each with its reason.
EXTRA_PARAMS: dict[str, dict[str, Any]] = {
    # 8x8 images: the default patch size (a tenth of the image) would be empty.
    "PatchExtractor": {"patch_size": (3, 3), "max_patches": 4},
    # The default runs ten rounds of a model per feature; three keep the test fast.
    "IterativeImputer": {"max_iter": 3},
    # scikit-learn's test dictionary has 3 features; the data here has 4.
    "SparseCoder": {"dictionary": np.random.default_rng(0).normal(size=(5, N_FEATURES))},
}
#: Estimators that need strictly positive features but have no positive_only tag.
POSITIVE_X = frozenset({"SkewedChi2Sampler", "PowerTransformer"})
#: Estimators that are fitted on data with missing values, which they exist to handle.
WITH_NAN = frozenset({"SimpleImputer", "KNNImputer", "IterativeImputer", "MissingIndicator"})

_WORDS = ("apple", "banana", "cherry", "date", "elder", "fig", "grape", "honeydew", "kiwi",
          "lemon", "mango", "nectarine", "olive", "peach", "quince", "raspberry")


def all_estimator_names() -> list[str]:
    """The names of every class in ``all_estimators()``, sorted."""
    return [name for name, _ in all_estimators()]


def estimator_class(name: str) -> type[BaseEstimator]:
    """The estimator class called ``name``."""
    return dict(all_estimators())[name]  # type: ignore[no-any-return]


def tags_of(estimator: BaseEstimator) -> Any:
    """``estimator.__sklearn_tags__()``, or before scikit-learn 1.6 the same fields read from
    its dict of ``_get_tags()``."""
    if hasattr(estimator, "__sklearn_tags__"):
        return estimator.__sklearn_tags__()
    old = estimator._get_tags()
    kinds = old["X_types"]
    kind = getattr(estimator, "_estimator_type", None)
    return SimpleNamespace(
        estimator_type=kind,
        classifier_tags=SimpleNamespace(multi_class=not old["binary_only"])
        if kind == "classifier" else None,
        target_tags=SimpleNamespace(single_output=not old["multioutput_only"],
                                    positive_only=old["requires_positive_y"],
                                    one_d_labels="1dlabels" in kinds,
                                    two_d_labels="2dlabels" in kinds),
        input_tags=SimpleNamespace(string="string" in kinds, two_d_array="2darray" in kinds,
                                   dict="dict" in kinds, three_d_array="3darray" in kinds,
                                   categorical="categorical" in kinds,
                                   positive_only=old["requires_positive_X"],
                                   one_d_array="1darray" in kinds, pairwise=old["pairwise"]))


@contextmanager
def quiet() -> Iterator[None]:
    """Silence scikit-learn's warnings while building and fitting on tiny data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def seed(estimator: BaseEstimator) -> BaseEstimator:
    """Set every unset ``random_state`` parameter, nested ones included, to 0."""
    params = estimator.get_params(deep=True)
    unset = {k: 0 for k, v in params.items() if k.endswith("random_state") and v is None}
    return estimator.set_params(**unset)  # type: ignore[no-any-return]


def build(name: str) -> BaseEstimator:
    """An unfitted instance of ``name`` with required and fast parameters, seeded."""
    cls = estimator_class(name)
    with quiet():
        # scikit-learn's generator cannot make a FrozenEstimator
        if FrozenEstimator is not None and cls is FrozenEstimator:
            estimator = FrozenEstimator(LogisticRegression(max_iter=50))
        else:
            estimator = next(iter(_construct_instances(cls)))
        estimator.set_params(**EXTRA_PARAMS.get(name, {}))
    return seed(estimator)


@dataclass
class Fitted:
    """A fitted estimator and the input its outputs are computed on."""

    estimator: Any
    inputs: Any
    fit_args: tuple[Any, ...] = field(default=(), repr=False)


def _features(name: str, positive: bool) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    if positive or name in POSITIVE_X:
        X = np.abs(X) + 0.1
    if name in WITH_NAN:
        X[rng.integers(0, N_SAMPLES, 6), rng.integers(0, N_FEATURES, 6)] = np.nan
    return X


def class_labels(n_classes: int = 3) -> np.ndarray[Any, Any]:
    """Balanced integer labels that depend on the features of :func:`_features`."""
    X = np.random.default_rng(0).normal(size=(N_SAMPLES, N_FEATURES))
    score = X[:, 0] + 0.5 * X[:, 1]
    ranks = np.argsort(np.argsort(score))
    return (ranks * n_classes // N_SAMPLES).astype(np.int64)


def regression_target() -> np.ndarray[Any, Any]:
    """A continuous target that depends on the features of :func:`_features`."""
    X = np.random.default_rng(0).normal(size=(N_SAMPLES, N_FEATURES))
    noise = np.random.default_rng(1).normal(scale=0.1, size=N_SAMPLES)
    return X @ np.array([1.0, -2.0, 0.5, 0.0]) + noise


def documents() -> list[str]:
    """Short texts for the text vectorizers."""
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(_WORDS, size=6)) for _ in range(N_SAMPLES)]


def _target(estimator: BaseEstimator) -> np.ndarray[Any, Any]:
    tags = tags_of(estimator)
    multi_output_only = not tags.target_tags.single_output
    if tags.estimator_type == "regressor":
        y = regression_target()
        if tags.target_tags.positive_only:
            y = np.exp(y / 4)
        return np.column_stack([y, y[::-1]]) if multi_output_only else y
    binary = tags.classifier_tags is not None and not tags.classifier_tags.multi_class
    labels = class_labels(2 if binary or multi_output_only else 3)
    return np.column_stack([labels, labels[::-1]]) if multi_output_only else labels


def _label_fit(estimator: BaseEstimator) -> Fitted | None:
    """Label transformers are fitted on targets alone."""
    target = tags_of(estimator).target_tags
    labels = class_labels()
    if target.two_d_labels:
        sets = [tuple(sorted({int(a), int(b)})) for a, b in zip(labels, labels[::-1],
                                                                   strict=True)]
        return Fitted(estimator.fit(sets), sets)
    if target.one_d_labels:
        return Fitted(estimator.fit(labels), labels)
    return None


def _inputs(name: str, estimator: BaseEstimator) -> Any:
    """The X an estimator accepts, by its input tags."""
    tags = tags_of(estimator).input_tags
    if tags.string and not tags.two_d_array:
        return documents()
    if tags.dict:
        return [{"a": float(i % 3), f"w_{_WORDS[i % 5]}": 1.0} for i in range(N_SAMPLES)]
    if tags.three_d_array:
        return np.random.default_rng(0).normal(size=(N_SAMPLES // 4, 8, 8))
    if tags.categorical:
        return np.random.default_rng(0).integers(0, 3, size=(N_SAMPLES, N_FEATURES))
    X = _features(name, tags.positive_only)
    if tags.one_d_array and not tags.two_d_array:
        return X[:, 0]
    if tags.pairwise:
        return X @ X.T
    return X


FITTERS: dict[str, Callable[[BaseEstimator], Fitted]] = {}


def fit(name: str, estimator: BaseEstimator) -> Fitted:
    """Fit ``estimator`` on data suited to its tags; scikit-learn's warnings are silenced."""
    with quiet():
        if name in FITTERS:
            return FITTERS[name](estimator)
        labelled = _label_fit(estimator)
        if labelled is not None:
            return labelled
        X = _inputs(name, estimator)
        y = _target(estimator)
        if isinstance(X, np.ndarray) and X.ndim == 3:
            return Fitted(estimator.fit(X), X, (X,))
        return Fitted(estimator.fit(X, y), X, (X, y))


def _fit_frozen(estimator: BaseEstimator) -> Fitted:
    """A FrozenEstimator wraps an already fitted model; its own fit does nothing."""
    X = _features("FrozenEstimator", positive=False)
    inner = LogisticRegression(max_iter=50).fit(X, class_labels())
    frozen = FrozenEstimator(inner).fit(X, class_labels())
    return Fitted(frozen, X, (X, class_labels()))


FITTERS["FrozenEstimator"] = _fit_frozen
