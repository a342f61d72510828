"""satchel: save, verify, version and serve fitted scikit-learn pipelines, safely.

Example:
    >>> import satchel
    >>> satchel.save(pipeline, "churn.satchel")          # doctest: +SKIP
    >>> model = satchel.load("churn.satchel")            # doctest: +SKIP
"""

from satchel.api import Inspection, dumps, inspect, load, loads, save, untrusted_types
from satchel.errors import (
    EncodeError,
    FormatError,
    IntegrityError,
    LimitError,
    SatchelError,
    UnsupportedVersionError,
    UntrustedTypesError,
)

__version__ = "0.1.0"

__all__ = [
    "EncodeError",
    "FormatError",
    "Inspection",
    "IntegrityError",
    "LimitError",
    "SatchelError",
    "UnsupportedVersionError",
    "UntrustedTypesError",
    "dumps",
    "inspect",
    "load",
    "loads",
    "save",
    "untrusted_types",
]
