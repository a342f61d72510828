"""The model registry: names, versions, aliases and lineage over SQLAlchemy and fsspec."""

from satchel.registry.core import AliasMove, ModelVersion, Registry
from satchel.registry.names import ModelURI, parse_uri

__all__ = ["AliasMove", "ModelURI", "ModelVersion", "Registry", "parse_uri"]
