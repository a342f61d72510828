"""The model registry: names, versions, aliases and lineage over SQLAlchemy and fsspec.

``satchel.registry.names`` (URIs and name rules) needs nothing beyond satchel;
``Registry`` and its records need the ``[registry]`` extra and are imported on
first use.
"""

from typing import TYPE_CHECKING, Any

from satchel.registry.names import ModelURI, parse_uri

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports them on first use
    from satchel.registry.core import Registry
    from satchel.registry.records import AliasMove, ModelVersion

__all__ = ["AliasMove", "ModelURI", "ModelVersion", "Registry", "parse_uri"]


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from satchel.registry.core import Registry  # noqa: PLC0415 - imports SQLAlchemy

        return Registry
    if name in ("AliasMove", "ModelVersion"):
        from satchel.registry import records  # noqa: PLC0415

        return getattr(records, name)
    raise AttributeError(f"module 'satchel.registry' has no attribute {name!r}")
