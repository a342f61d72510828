"""The benchmark's model zoo: seven fitted scikit-learn models and their test inputs.

Each builder returns ``(model, X_test)``. Fitting some of them takes minutes, so
:func:`fitted` caches every fitted model with pickle under ``bench/.cache/``
(a benchmark may use pickle for its own cache; satchel never reads it). Plain
pickle, not joblib: joblib loses the sharing of one array between two
attributes (a KNeighborsClassifier's ``_fit_X`` is its KDTree's data), which
would double that model's size in every format.

``datetime_parts`` lives here, at module level, because the ``ct_gb`` pipeline's
FunctionTransformer refers to it: pickle stores it as ``zoo.datetime_parts`` and
satchel needs ``trusted=["zoo.datetime_parts"]`` to load it.
"""

from __future__ import annotations

import hashlib
import pickle
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

CACHE = Path(__file__).resolve().parent / ".cache"
Built = tuple[Any, Any]


def datetime_parts(frame: pd.DataFrame) -> np.ndarray:
    """Hour, weekday, month and day of year of every datetime column, as floats."""
    parts = []
    for column in frame.columns:
        stamps = pd.DatetimeIndex(frame[column])
        parts += [stamps.hour, stamps.dayofweek, stamps.month, stamps.dayofyear]
    return np.column_stack(parts).astype(np.float64)


def _classification(rows: int, features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=rows, n_features=features, n_informative=features // 2,
                               random_state=seed)


def small(scale: float) -> Built:
    """StandardScaler + LogisticRegression on 1,000 x 10."""
    X, y = _classification(int(1000 * scale), 10)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X[:200]


def rf(scale: float) -> Built:
    """RandomForestClassifier(200 trees) on 50,000 x 20."""
    X, y = _classification(int(50_000 * scale), 20)
    trees = max(int(200 * scale), 10)
    model = RandomForestClassifier(n_estimators=trees, n_jobs=2, random_state=0).fit(X, y)
    return model, X[:1000]


def hgb(scale: float) -> Built:
    """HistGradientBoostingClassifier on 50,000 x 20."""
    X, y = _classification(int(50_000 * scale), 20)
    model = HistGradientBoostingClassifier(max_iter=max(int(100 * scale), 10), random_state=0)
    return model.fit(X, y), X[:1000]


def _frame(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric, categorical and datetime columns, with a label that depends on each."""
    rng = np.random.default_rng(seed)
    cities = np.array([f"city_{i:02d}" for i in range(60)])
    start = np.datetime64("2023-01-01T00:00:00")
    frame = pd.DataFrame({f"num_{i}": rng.normal(size=rows) for i in range(6)})
    frame["city"] = cities[rng.integers(0, len(cities), rows)]
    frame["plan"] = rng.choice(["free", "basic", "pro", "team"], rows)
    frame["signup"] = start + rng.integers(0, 365 * 24 * 3600, rows).astype("timedelta64[s]")
    score = (frame["num_0"] + (frame["plan"] == "pro") + frame["city"].str.endswith("7")
             + (frame["signup"].dt.dayofweek >= 5) + rng.normal(scale=0.5, size=rows))
    return frame, (score > score.median()).to_numpy(dtype=np.int64)


def ct_gb(scale: float) -> Built:
    """ColumnTransformer (scaler, one-hot, datetime parts) + GradientBoosting on a DataFrame."""
    frame, y = _frame(int(20_000 * scale))
    columns = ColumnTransformer([
        ("num", StandardScaler(), [f"num_{i}" for i in range(6)]),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["city", "plan"]),
        ("date", FunctionTransformer(datetime_parts), ["signup"]),
    ])
    booster = GradientBoostingClassifier(n_estimators=max(int(100 * scale), 10), random_state=0)
    model = Pipeline([("columns", columns), ("gb", booster)]).fit(frame, y)
    return model, frame.iloc[:500]


def _words(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct random lowercase words of 4 to 11 letters."""
    letters = np.array(list(string.ascii_lowercase))
    words: set[str] = set()
    while len(words) < count:
        lengths = rng.integers(4, 12, count)
        chars = letters[rng.integers(0, 26, (count, 11))]
        words.update("".join(row[:n]) for row, n in zip(chars, lengths, strict=True))
    return np.array(sorted(words)[:count])


def tfidf(scale: float) -> Built:
    """TfidfVectorizer + SGDClassifier on random documents over ~200,000 words."""
    rng = np.random.default_rng(0)
    words = _words(int(200_000 * scale), rng)
    docs_count, length = int(25_000 * scale), 60
    picks = rng.integers(0, len(words), (docs_count, length))
    docs = [" ".join(words[row]) for row in picks]
    y = (picks < len(words) // 2).sum(axis=1) > length // 2
    model = make_pipeline(TfidfVectorizer(), SGDClassifier(random_state=0)).fit(docs, y)
    return model, docs[:500]


def wide(scale: float) -> Built:
    """An SGDClassifier over 2,000,000 sparse features and 8 classes: 128 MB of coef_."""
    rng = np.random.default_rng(0)
    features, classes = int(2_000_000 * scale), 8
    X = sparse.random(400, features, density=2e-5, format="csr", random_state=0)
    y = np.arange(400) % classes
    model = SGDClassifier(max_iter=5, tol=None, random_state=0).fit(X, y)
    # Dense, incompressible weights, as a model trained on real data would have.
    model.coef_ = rng.standard_normal((classes, features)) * 0.01
    X_test = sparse.random(200, features, density=1e-3, format="csr", random_state=1)
    return model, X_test


def knn(scale: float) -> Built:
    """KNeighborsClassifier (kd_tree) on 200,000 x 16."""
    X, y = _classification(int(200_000 * scale), 16)
    return KNeighborsClassifier(algorithm="kd_tree").fit(X, y), X[:1000]


BUILDERS: dict[str, Callable[[float], Built]] = {
    "small": small, "rf": rf, "hgb": hgb, "ct_gb": ct_gb, "tfidf": tfidf, "wide": wide,
    "knn": knn,
}


def fitted(name: str, quick: bool) -> Built:
    """The fitted model ``name`` and its test input, from the cache when it is current."""
    scale = 0.1 if quick else 1.0
    source = Path(__file__).read_bytes() + sklearn.__version__.encode()
    key = hashlib.sha256(source).hexdigest()[:12]
    path = CACHE / f"{name}-{'quick' if quick else 'full'}-{key}.pkl"
    if path.exists():
        with open(path, "rb") as handle:
            return pickle.load(handle)  # written below by this script
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    built = BUILDERS[name](scale)
    with open(path, "wb") as handle:
        pickle.dump(built, handle, protocol=5)
    return built
