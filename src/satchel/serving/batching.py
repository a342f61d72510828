"""Micro-batching: concurrent single-row requests share one predict call.

Each request is validated on its own (so a bad row never spoils a batch), then
queued. A collector, started by the first row to arrive when none is running,
lets the event loop run once more (or ``wait_ms``), so that the rows of
requests that arrived together join; it then calls the model once per key on
the event loop's thread and hands each caller its own rows back. A lone row
therefore waits for nothing (no timer, no thread hop), and under load the rows
that arrive while one call runs form the next batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from satchel.serving.columns import Columns


@dataclass
class _Pending:
    key: Any
    rows: Any
    future: asyncio.Future[Any]


class Batcher:
    """Gathers single-row requests into batches for ``call(key, rows)``.

    Requests are batched only with others of the same ``key`` (hashable: the
    model, method and kind of rows they were validated for). If a batched call
    fails, each of its requests is retried alone, so that one bad row fails
    only its own request.
    """

    def __init__(self, call: Callable[[Any, Any], Any], *, wait_ms: float = 0.0,
                 max_rows: int = 256) -> None:
        self.call = call
        self.wait = wait_ms / 1000.0
        self.max_rows = max_rows
        self.pending: list[_Pending] = []
        self.task: asyncio.Task[None] | None = None

    async def submit(self, key: Any, rows: Any) -> Any:
        """The outputs for ``rows`` (one row) under ``key``, computed in some batch."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append(_Pending(key, rows, future))
        if self.task is None:
            self.task = asyncio.create_task(self._collect())
        return await future

    async def _collect(self) -> None:
        try:
            while self.pending:
                await asyncio.sleep(self.wait)  # 0: one turn of the loop, for rows arriving now
                batch, self.pending = self.pending[:self.max_rows], self.pending[self.max_rows:]
                groups: dict[Any, list[_Pending]] = {}
                for pending in batch:
                    groups.setdefault(pending.key, []).append(pending)
                for group in groups.values():
                    self._predict(group)
        finally:
            self.task = None

    def _predict(self, batch: list[_Pending]) -> None:
        try:
            outputs = self.call(batch[0].key, _concat(batch))
        except Exception as exc:  # handed to the caller, who answers 500
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            for pending in batch:  # find the rows that fail, alone
                self._predict([pending])
            return
        for index, pending in enumerate(batch):
            if not pending.future.done():
                pending.future.set_result(outputs[index:index + 1])


def _concat(batch: list[_Pending]) -> Any:
    if len(batch) == 1:
        return batch[0].rows
    if all(isinstance(p.rows, Columns) for p in batch):
        return Columns.concat([p.rows for p in batch])
    if all(hasattr(p.rows, "iloc") for p in batch):
        import pandas as pd  # noqa: PLC0415

        return pd.concat([p.rows for p in batch], ignore_index=True)
    return np.concatenate([np.asarray(p.rows) for p in batch])
