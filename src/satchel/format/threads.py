"""Helper threads that a save or a load can do without.

Hashing and compression release the GIL, so large saves and loads run them on
a second thread. A process under an address-space or thread limit (a sandbox, a
fuzzer, a small container) may be unable to start one: Python then raises
``RuntimeError`` and blake3's thread pool panics. Here the work falls back to
the calling thread instead: slower, never a failure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import blake3

T = TypeVar("T")
R = TypeVar("R")

#: Whether blake3's own thread pool has started (it is started once per process).
_blake3_pool = False


class Worker:
    """Up to ``threads`` helper threads, started as work arrives; the caller's own
    thread does the work once one of them cannot be started."""

    def __init__(self, threads: int = 1) -> None:
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=threads)

    def submit(self, work: Callable[..., R], *args: Any) -> Future[R]:
        """``work(*args)``, on a helper thread if one is running or can be started."""
        if self._pool is not None:
            once = _Once(work, args)
            try:
                return self._pool.submit(once)
            except RuntimeError:  # no thread could be started; the work is queued, unrun
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
                return _done(once)
        return _done(_Once(work, args))

    def map(self, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[work(item) for item in items]``, the items spread over the threads."""
        return [future.result() for future in [self.submit(work, item) for item in items]]

    def shutdown(self) -> None:
        """Wait for the work submitted, then let the threads go."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.shutdown()


class _Once:
    """A call that runs at most once: a queued copy that a thread finds after the caller
    ran it itself does nothing."""

    def __init__(self, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.work, self.args = work, args
        self.claimed = threading.Lock()

    def __call__(self) -> Any:
        if self.claimed.acquire(blocking=False):
            return self.work(*self.args)
        return None


def _done(call: _Once) -> Future[Any]:
    """A future holding what ``call`` gives when run here and now."""
    future: Future[Any] = Future()
    try:
        future.set_result(call())
    except Exception as exc:  # delivered by result(), as a thread's failure would be
        future.set_exception(exc)
    return future


def blake3_threads() -> int:
    """``max_threads`` for hashing a large buffer: every core once blake3's pool can start.

    Its pool starts on first use and panics if it cannot start its threads, so
    until it has started, a thread is started here first to show that it can.
    """
    global _blake3_pool  # noqa: PLW0603 - one pool per process
    if not _blake3_pool:
        probe = threading.Thread(target=int, name="satchel-probe")
        try:
            probe.start()
        except RuntimeError:
            return 1
        probe.join()
        _blake3_pool = True
    return blake3.blake3.AUTO
