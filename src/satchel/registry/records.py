"""The records the registry gives back: a registered version, and a move of an alias."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, with what the registry knows without downloading it."""

    name: str
    version: int
    digest: str
    size: int
    status: str
    description: str
    tags: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, Any]
    lineage: dict[str, Any]
    artifact: dict[str, Any]
    created_at: datetime
    aliases: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        """``models:/name/version``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class AliasMove:
    """One entry of an alias's history: which version it pointed to, from when."""

    name: str
    alias: str
    version: int | None
    previous: int | None
    at: datetime
