"""The records the registry gives back: a registered version, and a move of an alias."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, with what the registry knows without downloading it.

    ``digest`` is the model's content digest; ``stored_as`` names the file the version
    loads: its artifact digest (the content digest with the file's metadata), or the
    content digest for a version registered before schema 0003 (and by default). Two
    versions load the very same file exactly when their ``stored_as`` are equal.
    """

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
    stored_as: str = ""

    def __post_init__(self) -> None:
        if not self.stored_as:
            object.__setattr__(self, "stored_as", self.digest)

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
