"""satchel: save, verify, version and serve fitted scikit-learn pipelines, safely.

Example:
    >>> import satchel
    >>> satchel.save(pipeline, "churn.satchel")          # doctest: +SKIP
    >>> model = satchel.load("churn.satchel")            # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from satchel.artifact import Verification, dumps, load, loads, save, verify
from satchel.diff import Change, diff
from satchel.errors import (
    ConflictError,
    EncodeError,
    EnvironmentMismatchError,
    EnvironmentMismatchWarning,
    FormatError,
    IntegrityError,
    InvalidNameError,
    LimitError,
    MissingCodeError,
    MissingPackageError,
    NoRegistryError,
    NotAModelError,
    NotFoundError,
    PredictionMismatchError,
    SatchelError,
    SchemaError,
    StoreError,
    UnsupportedVersionError,
    UntrustedTypesError,
)
from satchel.inspection import Inspection, inspect, untrusted_types
from satchel.model import Model

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports it on first use
    from satchel.registry import Registry


def __getattr__(name: str) -> object:
    # The registry needs SQLAlchemy (the [registry] extra): imported on first use.
    if name == "Registry":
        from satchel.registry import Registry  # noqa: PLC0415

        return Registry
    raise AttributeError(f"module 'satchel' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "ConflictError",
    "InvalidNameError",
    "NoRegistryError",
    "NotAModelError",
    "NotFoundError",
    "StoreError",
    "Registry",
    "Change",
    "Verification",
    "diff",
    "verify",
    "EncodeError",
    "EnvironmentMismatchError",
    "EnvironmentMismatchWarning",
    "FormatError",
    "Inspection",
    "IntegrityError",
    "LimitError",
    "MissingCodeError",
    "MissingPackageError",
    "Model",
    "PredictionMismatchError",
    "SatchelError",
    "SchemaError",
    "UnsupportedVersionError",
    "UntrustedTypesError",
    "dumps",
    "inspect",
    "load",
    "loads",
    "save",
    "untrusted_types",
]
