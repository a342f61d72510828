"""Hand-built fitted models that exercise what all_estimators() defaults do not.

Each builder in :data:`CASES` returns a :class:`Case`: a fitted model, the input
its outputs are computed on, the names it needs trusted and, for objects that
are not estimators (CV splitters), a further output to compare. The families:
nested Pipeline / FeatureUnion / ColumnTransformer with every kind of column
selector, FunctionTransformer with ufuncs and a named function, searches with
scipy.stats distributions, neighbour trees and metrics, random states, CV
splitters, string class labels, pandas inputs, sparse inputs and pandas output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.special
import scipy.stats
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, Ridge, SGDClassifier
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    RandomizedSearchCV,
    ShuffleSplit,
    StratifiedKFold,
    TimeSeriesSplit,
)
from sklearn.neighbors import (
    KernelDensity,
    KNeighborsClassifier,
    KNeighborsRegressor,
    NearestNeighbors,
    RadiusNeighborsClassifier,
)
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    OneHotEncoder,
    PolynomialFeatures,
    StandardScaler,
)
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from tests.estimators import class_labels, documents, quiet, regression_target

CASES: dict[str, Callable[[], Case]] = {}


@dataclass
class Case:
    """A fitted model and what its round trip compares."""

    model: Any
    inputs: Any = None
    trusted: tuple[str, ...] = ()
    extra: Callable[[Any], Any] | None = None


def case(builder: Callable[[], Case]) -> Callable[[], Case]:
    """Register ``builder`` under its name; it runs with scikit-learn's warnings silenced."""
    def quietly() -> Case:
        with quiet():
            return builder()

    CASES[builder.__name__] = quietly
    return builder


def shifted_log(X: Any) -> Any:
    """log(X + 10): a module-level function that files may name but not trust by default."""
    return np.log(np.asarray(X) + 10.0)


# ------------------------------------------------------------------ data


def features() -> np.ndarray[Any, Any]:
    """48 rows of 4 standard normal features (the rows class_labels() labels)."""
    return np.random.default_rng(0).normal(size=(48, 4))


def frame() -> pd.DataFrame:
    """A DataFrame with numeric, string and categorical columns."""
    X = features()
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "age": X[:, 0] * 10 + 40,
        "income": X[:, 1],
        "score": X[:, 2].astype(np.float32),
        "visits": rng.integers(0, 9, size=48),
        "city": rng.choice(["paris", "lyon", "nice"], size=48).astype(object),
        "plan": pd.Categorical(rng.choice(["free", "pro"], size=48)),
    })


def numeric_frame() -> pd.DataFrame:
    """The numeric columns of :func:`frame`, with mixed dtypes."""
    return frame()[["age", "income", "score", "visits"]]


# ------------------------------------------------- nested compositions


@case
def nested_pipeline_feature_union() -> Case:
    X = features()
    union = FeatureUnion([
        ("scaled_pca", Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=2))])),
        ("poly", PolynomialFeatures(degree=2, include_bias=False)),
        ("skip", "drop"),
    ], transformer_weights={"poly": 0.5})
    model = Pipeline([("union", union), ("clf", LogisticRegression(max_iter=200))])
    return Case(model.fit(X, class_labels()), X)


@case
def column_transformer_names_remainder_drop() -> Case:
    X = frame()
    model = ColumnTransformer([
        ("num", StandardScaler(), ["age", "income"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
    ], remainder="drop")
    return Case(make_pipeline(model, LogisticRegression()).fit(X, class_labels()), X)


@case
def column_transformer_positions_remainder_passthrough() -> Case:
    X = features()
    model = ColumnTransformer([("scale", StandardScaler(), [0, 2])], remainder="passthrough")
    return Case(model.fit(X), X)


@case
def column_transformer_slices() -> Case:
    X = features()
    model = ColumnTransformer([
        ("first", StandardScaler(), slice(0, 2)),
        ("last", MaxAbsScaler(), slice(2, None)),
    ])
    return Case(model.fit(X), X)


@case
def column_transformer_boolean_masks() -> Case:
    X = features()
    model = ColumnTransformer([
        ("list_mask", StandardScaler(), [True, False, True, False]),
        ("array_mask", PCA(n_components=1), np.array([False, True, False, True])),
    ])
    return Case(model.fit(X), X)


@case
def column_transformer_selectors() -> Case:
    X = frame()
    model = ColumnTransformer([
        ("numbers", StandardScaler(), make_column_selector(dtype_include=np.number)),
        ("text", OneHotEncoder(), make_column_selector(dtype_include=object)),
        ("pattern", OneHotEncoder(), make_column_selector(pattern="^pl")),
    ])
    return Case(model.fit(X), X)


@case
def column_transformer_drop_and_passthrough_steps() -> Case:
    X = features()
    model = ColumnTransformer([
        ("dropped", "drop", [0]),
        ("kept", "passthrough", [1]),
        ("scaled", StandardScaler(), [2]),
    ], remainder=StandardScaler(), verbose_feature_names_out=False)
    return Case(model.fit(X), X)


@case
def column_transformer_nested() -> Case:
    X = frame()
    inner = ColumnTransformer([("scale", StandardScaler(), ["income", "score"])])
    numeric = Pipeline([("inner", inner), ("union", FeatureUnion([
        ("pca", PCA(n_components=1)), ("identity", FunctionTransformer()),
    ]))])
    outer = ColumnTransformer([
        ("numeric", numeric, ["age", "income", "score"]),
        ("city", OneHotEncoder(sparse_output=False), ["city"]),
    ], remainder="drop")
    model = Pipeline([("columns", outer), ("model", Ridge())])
    return Case(model.fit(X, regression_target()), X)


# -------------------------------------------------------- functions


@case
def function_transformer_numpy_ufuncs() -> Case:
    X = np.abs(features())
    model = FunctionTransformer(np.log1p, inverse_func=np.expm1, check_inverse=True,
                                feature_names_out="one-to-one")
    return Case(model.fit(X), X)


@case
def function_transformer_scipy_ufuncs() -> Case:
    X = features()
    model = FunctionTransformer(scipy.special.expit, inverse_func=scipy.special.logit)
    return Case(make_pipeline(model, LogisticRegression()).fit(X, class_labels()), X)


@case
def function_transformer_named_function() -> Case:
    X = np.abs(features())
    model = FunctionTransformer(shifted_log, validate=True)
    return Case(model.fit(X), X, trusted=("tests.cases.shifted_log",))


# --------------------------------------------------------- searches


@case
def grid_search_pipeline_multimetric() -> Case:
    X = features()
    model = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("svc", SVC())]),
        {"svc__C": [0.1, 1.0], "svc__kernel": ["linear", "rbf"]},
        scoring=["accuracy", "f1_macro"], refit="accuracy", cv=3,
    )
    return Case(model.fit(X, class_labels()), X)


@case
def randomized_search_scipy_distributions() -> Case:
    X = features()
    model = RandomizedSearchCV(
        LogisticRegression(max_iter=200),
        {"C": scipy.stats.loguniform(1e-2, 1e2), "tol": scipy.stats.uniform(1e-5, 1e-3),
         "max_iter": scipy.stats.randint(50, 200)},
        n_iter=4, cv=3, random_state=0,
    )
    return Case(model.fit(X, class_labels()), X)


@case
def randomized_search_tree_depth() -> Case:
    X = features()
    model = RandomizedSearchCV(
        DecisionTreeClassifier(random_state=0),
        {"max_depth": scipy.stats.randint(1, 5), "min_samples_leaf": [1, 2, 4],
         "ccp_alpha": scipy.stats.expon(scale=0.01)},
        n_iter=4, cv=3, random_state=np.random.RandomState(0),
    )
    return Case(model.fit(X, class_labels()), X)


# -------------------------------------------------------- neighbours


def _knn(estimator: Any) -> Case:
    X = features()
    fitted = estimator.fit(X, class_labels())

    return Case(fitted, X, extra=lambda model: model.kneighbors(X[:7]))


@case
def knn_kd_tree_minkowski_p3() -> Case:
    return _knn(KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree", p=3))


@case
def knn_kd_tree_manhattan() -> Case:
    return _knn(KNeighborsRegressor(n_neighbors=3, algorithm="kd_tree", metric="manhattan",
                                    weights="distance"))


@case
def knn_ball_tree_chebyshev() -> Case:
    return _knn(KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree", metric="chebyshev"))


@case
def knn_ball_tree_mahalanobis() -> Case:
    inverse = np.linalg.inv(np.cov(features(), rowvar=False))
    return _knn(KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree", metric="mahalanobis",
                                     metric_params={"VI": inverse}))


@case
def knn_brute_mahalanobis() -> Case:
    inverse = np.linalg.inv(np.cov(features(), rowvar=False))
    return _knn(NearestNeighbors(n_neighbors=3, algorithm="brute", metric="mahalanobis",
                                 metric_params={"VI": inverse}))


@case
def radius_neighbors_ball_tree() -> Case:
    X = features()
    model = RadiusNeighborsClassifier(radius=2.5, algorithm="ball_tree", outlier_label=0)
    return Case(model.fit(X, class_labels()), X,
                extra=lambda model: model.radius_neighbors(X[:3], sort_results=True))


@case
def kernel_density_kd_tree() -> Case:
    X = features()
    return Case(KernelDensity(kernel="epanechnikov", algorithm="kd_tree").fit(X), X)


# ----------------------------------------------------- random states


@case
def random_state_randomstate() -> Case:
    X = features()
    model = RandomForestClassifier(n_estimators=4, random_state=np.random.RandomState(3))
    return Case(model.fit(X, class_labels()), X)


@case
def random_state_generator_unfitted() -> Case:
    # scikit-learn 1.9 refuses a Generator at fit time, so the estimator is left unfitted.
    return Case(SGDClassifier(random_state=np.random.default_rng(0)))


@case
def random_state_generator_in_distribution() -> Case:
    X = features()
    distribution = scipy.stats.loguniform(1e-2, 1e2)
    distribution.random_state = np.random.default_rng(0)
    model = RandomizedSearchCV(Ridge(), {"alpha": distribution}, n_iter=3, cv=3,
                               random_state=0)
    return Case(model.fit(X, regression_target()), X)


# ------------------------------------------------------ CV splitters


def _splitter(splitter: Any, groups: bool = False) -> Case:
    X, y = features(), class_labels()
    group_ids = np.arange(48) % 6 if groups else None
    return Case(splitter, extra=lambda s: list(s.split(X, y, group_ids)))


def _searched(cv: Any, groups: bool = False, classify: bool = False) -> Case:
    X = features()
    estimator, grid = ((LogisticRegression(), {"C": [0.1, 1.0]}) if classify
                       else (Ridge(), {"alpha": [0.1, 1.0]}))
    y = class_labels() if classify else regression_target()
    fit_params = {"groups": np.arange(48) % 6} if groups else {}
    return Case(GridSearchCV(estimator, grid, cv=cv).fit(X, y, **fit_params), X)


@case
def splitter_kfold() -> Case:
    return _splitter(KFold(4, shuffle=True, random_state=np.random.RandomState(0)))


@case
def splitter_stratified_kfold() -> Case:
    return _splitter(StratifiedKFold(3, shuffle=True, random_state=0))


@case
def splitter_group_kfold() -> Case:
    return _splitter(GroupKFold(3), groups=True)


@case
def splitter_time_series() -> Case:
    return _splitter(TimeSeriesSplit(3, gap=1))


@case
def splitter_shuffle_split() -> Case:
    return _splitter(ShuffleSplit(3, test_size=0.25, random_state=np.random.RandomState(1)))


@case
def search_cv_kfold() -> Case:
    return _searched(KFold(3, shuffle=True, random_state=0))


@case
def search_cv_stratified_kfold() -> Case:
    return _searched(StratifiedKFold(3), classify=True)


@case
def search_cv_group_kfold() -> Case:
    return _searched(GroupKFold(3), groups=True)


@case
def search_cv_time_series_split() -> Case:
    return _searched(TimeSeriesSplit(3))


@case
def search_cv_shuffle_split() -> Case:
    return _searched(ShuffleSplit(3, test_size=0.25, random_state=0))


@case
def search_cv_list_of_splits() -> Case:
    return _searched(list(KFold(3).split(features())))


@case
def logistic_regression_cv_stratified_kfold() -> Case:
    X = features()
    model = LogisticRegressionCV(Cs=3, cv=StratifiedKFold(3, shuffle=True, random_state=0),
                                 max_iter=200)
    return Case(model.fit(X, class_labels()), X)


# ------------------------------------------------------ string labels


def _words(kind: type | str) -> np.ndarray[Any, Any]:
    return np.array(["bird", "cat", "dog"], dtype=kind)[class_labels()]


@case
def string_labels_unicode_logistic_regression() -> Case:
    X = features()
    return Case(LogisticRegression().fit(X, _words(str)), X)


@case
def string_labels_object_random_forest() -> Case:
    X = features()
    model = RandomForestClassifier(n_estimators=4, random_state=0)
    return Case(model.fit(X, _words(object)), X)


@case
def string_labels_svc_probability() -> Case:
    X = features()
    return Case(SVC(probability=True, random_state=0).fit(X, _words(object)), X)


@case
def string_labels_hist_gradient_boosting() -> Case:
    X = features()
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0)
    return Case(model.fit(X, _words(str)), X)


# ----------------------------------------------------------- pandas


@case
def pandas_standard_scaler() -> Case:
    X = numeric_frame()
    return Case(StandardScaler().fit(X), X)


@case
def pandas_series_target_ridge() -> Case:
    X = numeric_frame()
    return Case(Ridge().fit(X, pd.Series(regression_target(), name="spend")), X)


@case
def pandas_hist_gradient_boosting_categories() -> Case:
    X = frame()[["age", "income", "plan"]]
    # Two classes that depend on the category, so that the trees split on it.
    y = (X["plan"] == "pro").to_numpy() ^ (X["age"] > 40).to_numpy()
    model = HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype",
                                           min_samples_leaf=5, random_state=0)
    return Case(model.fit(X, y.astype(np.int64)), X)


@case
def pandas_default_string_dtype() -> Case:
    rng = np.random.default_rng(2)
    X = numeric_frame().assign(segment=pd.Series(rng.choice(["a", "b", "c"], size=48).tolist()))
    model = ColumnTransformer([
        ("segment", OneHotEncoder(drop="first"), ["segment"]),
        ("numbers", StandardScaler(), ["age", "visits"]),
    ])
    return Case(make_pipeline(model, LogisticRegression()).fit(X, class_labels()), X)


def nullable_frame() -> pd.DataFrame:
    """:func:`frame`'s city and visits as nullable columns (string, Int64), a few missing
    (pd.NA), as a frame read with dtype_backend="numpy_nullable" holds them."""
    X = frame()
    missing = np.arange(48) % 7 == 3
    return pd.DataFrame({
        "city": pd.array(X["city"].where(~missing), dtype="string"),
        "visits": pd.array(X["visits"].where(~missing), dtype="Int64"),
    })


@case
def pandas_nullable_columns_imputed_with_na() -> Case:
    X = nullable_frame()
    model = ColumnTransformer([
        ("city", make_pipeline(SimpleImputer(missing_values=pd.NA, strategy="most_frequent"),
                               OneHotEncoder()), ["city"]),
        ("visits", SimpleImputer(missing_values=pd.NA, strategy="median"), ["visits"]),
    ])
    return Case(make_pipeline(model, LogisticRegression()).fit(X, class_labels()), X)


@case
def pandas_nullable_columns_selected_by_dtype() -> Case:
    X = nullable_frame()
    model = ColumnTransformer([
        ("text", make_pipeline(SimpleImputer(missing_values=pd.NA, strategy="most_frequent"),
                               OneHotEncoder()), make_column_selector(
                                   dtype_include=pd.StringDtype())),
        ("numbers", SimpleImputer(missing_values=pd.NA, strategy="median"),
         make_column_selector(dtype_include=pd.Int64Dtype())),
    ])
    return Case(make_pipeline(model, LogisticRegression()).fit(X, class_labels()), X)


@case
def pandas_columns_selected_by_dtype_classes() -> Case:
    X = nullable_frame().assign(plan=frame()["plan"])
    model = ColumnTransformer([
        ("text", make_pipeline(SimpleImputer(missing_values=pd.NA, strategy="most_frequent"),
                               OneHotEncoder()), make_column_selector(
                                   dtype_include=[pd.CategoricalDtype, "string"])),
        ("numbers", SimpleImputer(missing_values=pd.NA, strategy="median"),
         make_column_selector(dtype_include=pd.Int64Dtype)),
    ])
    return Case(make_pipeline(model, LogisticRegression()).fit(X, class_labels()), X)


@case
def set_output_pandas_scaler() -> Case:
    X = features()
    return Case(StandardScaler().set_output(transform="pandas").fit(X), X)


@case
def set_output_pandas_pipeline() -> Case:
    X = numeric_frame()
    model = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=2))])
    return Case(model.set_output(transform="pandas").fit(X), X)


@case
def set_output_pandas_column_transformer() -> Case:
    X = frame()
    model = ColumnTransformer([
        ("num", StandardScaler(), ["age", "income"]),
        ("cat", OneHotEncoder(sparse_output=False), ["city"]),
    ], remainder="passthrough")
    return Case(model.set_output(transform="pandas").fit(X), X)


@case
def polars_input_pipeline() -> Case:
    import polars as pl

    X = pl.from_pandas(numeric_frame())
    return Case(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, class_labels()), X)


@case
def set_output_polars_column_transformer() -> Case:
    import polars as pl

    X = pl.from_pandas(frame()[["age", "income", "city"]])
    model = ColumnTransformer([
        ("num", StandardScaler(), ["age", "income"]),
        ("cat", OneHotEncoder(sparse_output=False), ["city"]),
    ])
    return Case(model.set_output(transform="polars").fit(X), X)


# ----------------------------------------------------------- sparse


def _csr() -> Any:
    X = features()
    X[np.abs(X) < 0.7] = 0.0
    return scipy.sparse.csr_matrix(X)


@case
def sparse_logistic_regression() -> Case:
    X = _csr()
    return Case(LogisticRegression().fit(X, class_labels()), X)


@case
def sparse_svc_support_vectors() -> Case:
    X = _csr()
    return Case(SVC().fit(X, class_labels()), X)


@case
def sparse_csr_array_random_forest() -> Case:
    X = scipy.sparse.csr_array(_csr())
    model = RandomForestRegressor(n_estimators=4, random_state=0)
    return Case(model.fit(X, regression_target()), X)


@case
def sparse_kmeans_and_truncated_svd() -> Case:
    X = _csr()
    model = make_pipeline(MaxAbsScaler(), TruncatedSVD(n_components=2, random_state=0),
                          KMeans(n_clusters=3, n_init=2, random_state=0))
    return Case(model.fit(X), X)


@case
def sparse_nearest_neighbors() -> Case:
    X = _csr()
    return Case(NearestNeighbors(n_neighbors=3).fit(X), X,
                extra=lambda model: model.kneighbors(X[:5]))


@case
def sparse_text_pipeline() -> Case:
    docs = documents()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC())
    return Case(model.fit(docs, class_labels()), docs)


@case
def sparse_count_vectorizer_stop_words() -> Case:
    docs = documents()
    return Case(CountVectorizer(stop_words=["kiwi", "lemon"], min_df=2).fit(docs), docs)


@case
def sparse_one_hot_output() -> Case:
    X = frame()[["city", "plan"]]
    return Case(OneHotEncoder(sparse_output=True, handle_unknown="ignore").fit(X), X)
