"""Micro-batching: concurrent single-row requests share one predict call.

Each request is validated on its own (so a bad row never spoils a batch), then
queued. A collector takes what is waiting, up to ``max_rows`` rows, optionally
waiting ``wait_ms`` for more, calls the model once per method and hands each
caller its own rows back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Pending:
    key: Any
    rows: Any
    future: asyncio.Future[Any]


class Batcher:
    """Gathers single-row requests into batches for ``call(key, rows)``.

    Requests are batched only with others of the same ``key`` (the model and
    method they were validated for). If a batched call fails, each of its
    requests is retried alone, so that one bad row fails only its own request.
    """

    def __init__(self, call: Callable[[Any, Any], Any], *, wait_ms: float = 0.0,
                 max_rows: int = 256) -> None:
        self.call = call
        self.wait = wait_ms / 1000.0
        self.max_rows = max_rows
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def submit(self, key: Any, rows: Any) -> Any:
        """The outputs for ``rows`` (one row) under ``key``, computed in some batch."""
        if self.task is None:
            self.task = asyncio.create_task(self._run())
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Pending(key, rows, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            if self.wait:
                await asyncio.sleep(self.wait)
            while len(batch) < self.max_rows and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            groups: dict[int, list[_Pending]] = {}
            for pending in batch:
                groups.setdefault(id(pending.key), []).append(pending)
            for group in groups.values():
                await self._predict(group)

    async def _predict(self, batch: list[_Pending]) -> None:
        try:
            outputs = await asyncio.to_thread(self.call, batch[0].key, _concat(batch))
        except Exception as exc:  # handed to the caller, who answers 500
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            for pending in batch:  # find the rows that fail, alone
                await self._predict([pending])
            return
        for index, pending in enumerate(batch):
            if not pending.future.done():
                pending.future.set_result(outputs[index:index + 1])


def _concat(batch: list[_Pending]) -> Any:
    if all(hasattr(p.rows, "iloc") for p in batch):
        import pandas as pd  # noqa: PLC0415

        return pd.concat([p.rows for p in batch], ignore_index=True)
    return np.concatenate([np.asarray(p.rows) for p in batch])
