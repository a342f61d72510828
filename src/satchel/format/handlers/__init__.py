"""One module per type family; importing this package registers them all."""

from satchel.format.handlers import (
    builtins,
    columns,
    numpy_,
    objects,
    pandas_,
    scipy_,
    sklearn_,
    sklearn_estimators,
    sklearn_features,
    sklearn_neighbors,
    sklearn_params,
    sklearn_sizes,
)

__all__ = ["builtins", "columns", "numpy_", "objects", "pandas_", "scipy_", "sklearn_",
           "sklearn_estimators", "sklearn_features", "sklearn_neighbors", "sklearn_params",
           "sklearn_sizes"]
