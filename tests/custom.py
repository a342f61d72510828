"""Module-level custom code that tests save and load with trusted=[...]."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


def double(values: Any) -> Any:
    """Twice the input."""
    return np.asarray(values) * 2


class Doubler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A custom transformer that doubles its input."""

    def fit(self, X: Any, y: Any = None) -> Doubler:
        """Nothing to learn."""
        return self

    def transform(self, X: Any) -> Any:
        """Twice the input."""
        return double(X)


class Label(str):
    """A str subclass, as a user's own label type would be."""

    __slots__ = ()
