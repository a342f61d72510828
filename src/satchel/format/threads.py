"""Helper threads that a save or a load can do without.

Hashing and compression release the GIL, so large saves and loads run them on
other threads: a pool of ours, blake3's own pool and zstd's workers. A process
under an address-space or thread limit (a sandbox, a fuzzer, a small
container) may be unable to start them: Python then raises ``RuntimeError``,
blake3's pool panics and zstd reports an allocation error. Here the work falls
back to the calling thread instead: slower, never a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import blake3

T = TypeVar("T")
R = TypeVar("R")


class Worker:
    """Up to ``threads`` helper threads, started as work arrives; once one cannot be
    started, the caller's own thread does the work that no running thread takes."""

    def __init__(self, threads: int = 1) -> None:
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=threads)
        self._inline = False

    def submit(self, work: Callable[..., R], *args: Any) -> Future[R]:
        """``work(*args)``, on a helper thread if one is running or can be started."""
        once = _Once(work, args)
        if self._pool is not None and not self._inline:
            try:
                return self._pool.submit(once.run)
            except RuntimeError:  # queued, but no thread could be started for it
                self._inline = True  # threads already running still drain the queue
        once.claim()  # here, unless a running thread took it from the queue first
        return once.outcome()

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
    """A call run by whichever thread claims it first; the other gets its outcome.

    A call queued for a thread that could not be started may still be taken by a
    pool thread already running, or be run by the caller.
    """

    def __init__(self, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.work, self.args = work, args
        self._claimed = threading.Lock()
        self._finished = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def run(self) -> Any:
        """Run the call if no thread has; return its result (or raise its error)."""
        self.claim()
        return self.outcome().result()

    def claim(self) -> None:
        """Run the call here, keeping its outcome, unless another thread has claimed it."""
        if self._claimed.acquire(blocking=False):
            try:
                self._result = self.work(*self.args)
            except BaseException as exc:  # delivered by outcome()
                self._error = exc
            finally:
                self._finished.set()

    def outcome(self) -> Future[Any]:
        """A future holding the call's result or error, once whoever runs it is done."""
        self._finished.wait()
        future: Future[Any] = Future()
        if self._error is not None:
            future.set_exception(self._error)
        else:
            future.set_result(self._result)
        return future


#: Whether blake3's own thread pool started (None: not tried yet). It starts once per
#: process, on the first multi-threaded hash, or never.
_blake3_pool: bool | None = None
#: Whether a multi-threaded hash was ever begun here (the pool may be starting).
_blake3_tried = False


def blake3_digest(*parts: Any) -> bytes:
    """BLAKE3 of large buffers, one after the other, on every core if blake3's pool can
    start, else here.

    The pool panics if it cannot start its threads, and never starts after that;
    a probe thread is started first, so that a process that cannot start any
    does not even try.
    """
    global _blake3_pool  # noqa: PLW0603 - one pool per process
    if _blake3_pool is None and not _thread_starts():
        return blake3_of(parts, 1)
    if _blake3_pool is not False:
        global _blake3_tried  # noqa: PLW0603 - one pool per process
        _blake3_tried = True  # a fork from here on may copy the pool's state
        try:
            digest = blake3_of(parts, blake3.blake3.AUTO)
        except BaseException as exc:  # pyo3's PanicException: the pool's threads did not start
            if type(exc).__name__ != "PanicException":
                raise
            _blake3_pool = False
        else:
            _blake3_pool = True
            return digest
    return blake3_of(parts, 1)


def blake3_of(parts: Iterable[Any], threads: int) -> bytes:
    """BLAKE3 of ``parts`` one after the other, hashed on up to ``threads`` threads."""
    hasher = blake3.blake3(max_threads=threads)
    for part in parts:
        hasher.update(part)
    return hasher.digest()


def _after_fork() -> None:
    """A child forked after blake3's pool started has the pool's state but none of its
    threads: a multi-threaded hash would wait for them for good. The child hashes on its
    own thread (a child forked before the pool started may start its own)."""
    global _blake3_pool  # noqa: PLW0603 - one pool per process
    if _blake3_tried:  # started, or starting while the fork happened
        _blake3_pool = False


os.register_at_fork(after_in_child=_after_fork)


def _thread_starts() -> bool:
    """Whether a thread can be started here now."""
    probe = threading.Thread(target=int, name="satchel-probe", daemon=True)
    try:
        probe.start()
    except RuntimeError:
        return False
    probe.join()
    return True
