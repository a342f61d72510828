"""The model a server serves, and how it follows a registry alias.

A server started on ``models:/name@alias`` polls the registry. When the alias
moves, the new version is loaded and its check sample verified off the event
loop; only then is it swapped in, with one assignment, so requests in flight
finish on the version they started with. If the new version fails, the old one
keeps serving and the reason is shown in ``/health``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from satchel.artifact import load, trusted_names
from satchel.checks import METHODS
from satchel.errors import UntrustedTypesError, trust_options
from satchel.model import as_model
from satchel.registry.names import is_model_uri, parse_uri
from satchel.serving import plan
from satchel.serving.columns import Layout, layout

log = logging.getLogger("satchel.serving")


@dataclass(eq=False)
class Served:
    """One loaded model, where it came from, and what requests need of it, prepared once."""

    model: Any
    digest: str
    name: str
    version: int | None
    source: str
    #: The registry's name for the file loaded (``ModelVersion.stored_as``); None for a file.
    stored_as: str | None = None
    loaded_at: float = field(default_factory=time.time)
    methods: tuple[str, ...] = ()
    layout: Layout | None = None
    plan: plan.Plan | None = None

    def __post_init__(self) -> None:
        estimator = self.model.unwrap()
        self.methods = tuple(m for m in METHODS if hasattr(estimator, m))
        self.layout = layout(self.model.input_schema)
        self.plan = plan.build(self.model, self.layout)


class Holder:
    """Holds the current model; swaps it when a followed alias moves."""

    def __init__(self, target: str, *, registry: Any = None, mmap: bool = True,
                 trusted: Iterable[str] = (), trust_code: bool = False) -> None:
        self.target = target
        self.mmap = mmap
        self.trusted = tuple(trusted_names(trusted))
        self.trust_code = trust_code
        self.registry = registry
        self._owns_registry = registry is None
        self.current: Served | None = None
        self.last_error: str | None = None
        self.last_check: float | None = None

    @property
    def follows_alias(self) -> bool:
        """True when the target is a ``models:/name@alias`` URI."""
        return is_model_uri(self.target) and parse_uri(self.target).alias is not None

    def _registry(self) -> Any:
        if self.registry is None:
            from satchel.registry import Registry  # noqa: PLC0415 - only for models:/ targets

            self.registry = Registry(create=False)
        return self.registry

    def forget_registry(self) -> None:
        """Drop a registry this holder opened, so that forked workers open their own."""
        if self._owns_registry:
            self.registry = None

    def load_now(self) -> Served:
        """Load (and verify) the target as it is now."""
        options: dict[str, Any] = {"mmap": self.mmap, "verify": True, "check_arrays": True,
                                   "trusted": self.trusted, "trust_code": self.trust_code}
        try:
            if not is_model_uri(self.target):
                model = as_model(load(self.target, **options), self.target, "a server")
                return Served(model, model.digest, self.target.rsplit("/", 1)[-1], None,
                              self.target)
            registry = self._registry()
            found = registry.resolve(self.target)
            model = as_model(registry.load(found.uri, **options), found.uri, "a server")
        except UntrustedTypesError as exc:
            raise UntrustedTypesError(exc.names, exc.detail, fix=(
                f"serve it with {trust_options(exc.names)} (create_app's trusted=[...])"),
                imported=exc.imported) from None
        return Served(model, found.digest, found.name, found.version, self.target,
                      stored_as=found.stored_as)

    def start(self) -> None:
        """Load the model for the first time; the server is not ready until this passes."""
        self.current = self.load_now()
        log.info("serving %s version %s (%s)", self.current.name, self.current.version,
                 self.current.digest)

    async def follow(self, interval: float) -> None:
        """Poll the alias every ``interval`` seconds and swap in new versions."""
        while True:
            await asyncio.sleep(interval)
            await self.refresh()

    async def refresh(self) -> None:
        """Check the alias once; load and swap if it moved."""
        self.last_check = time.time()
        try:
            found = await asyncio.to_thread(self._registry().resolve, self.target)
            if self.current is not None and found.stored_as == self.current.stored_as:
                self._relabel(self.current, found)
                self.last_error = None  # the alias names what is served, whatever failed before
                return
            candidate = await asyncio.to_thread(self.load_now)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("could not switch %s: %s; still serving the previous version",
                      self.target, self.last_error)
            return
        self.current, self.last_error = candidate, None
        log.info("switched %s to version %s (%s)", self.target, candidate.version,
                 candidate.digest)

    def _relabel(self, served: Served, found: Any) -> None:
        """Report the version the alias names when it loads the very file already served.

        The same file registered again (or the alias moved to an older copy) needs no
        reload, but /health, /version, /metadata and /metrics must name the version the
        alias points to now: the one served may even have been deleted. The same model
        saved again with other metadata (check sample, environment) is another stored
        file, loaded and verified as any other version.
        """
        if (served.name, served.version) == (found.name, found.version):
            return
        log.info("%s now names version %s, the file already served (%s); not reloaded",
                 self.target, found.version, found.stored_as)
        served.name, served.version = found.name, found.version
