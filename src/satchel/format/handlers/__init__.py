"""One module per type family; importing this package registers them all."""

from satchel.format.handlers import builtins, numpy_, objects, pandas_, scipy_, sklearn_

__all__ = ["builtins", "numpy_", "objects", "pandas_", "scipy_", "sklearn_"]
