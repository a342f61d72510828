"""Running the server with uvicorn: one process, or a parent that forks workers.

The model is loaded and verified before the port is opened. With several
workers, the parent imports the libraries, loads and verifies the
model and binds the socket once, then forks the workers, which inherit all of
it copy-on-write and each run uvicorn on the inherited socket. A worker's own
memory is then what it writes after the fork (its connections, requests and
the pages Python touches), not another copy of the interpreter, libraries and
model. The parent only restarts workers that die (unless they keep dying as they
start) and passes SIGINT and SIGTERM on to them.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import signal
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from satchel.errors import SatchelError

#: Workers that die this soon after their start, this many times in a row, are not restarted.
_QUICK_SECONDS = 5.0
_QUICK_DEATHS = 5


def serve(target: str, *, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          max_body_bytes: int = 10 << 20, batch_wait_ms: float | None = 0.0,
          poll_interval: float = 5.0, trusted: Iterable[str] = (),
          trust_code: bool = False, body_timeout: float = 60.0,
          max_connections: int = 256) -> None:
    """Serve ``target`` until interrupted (``trusted`` and ``trust_code`` as
    :func:`~satchel.serving.create_app` takes them).

    Each worker shares the parent's copy of the model and of the libraries (it
    is forked once they are loaded), and the model's arrays are mapped from its
    file. uvloop and httptools are used where installed; asyncio and uvloop set
    TCP_NODELAY on every connection. Each worker holds at most ``max_connections``
    connections and answers others 503, so that clients that send slowly, or not at all,
    hold a bounded amount of its memory; a body must arrive within ``body_timeout``
    seconds.
    """
    try:
        import uvicorn  # noqa: PLC0415 - the [server] extra
    except ImportError:
        raise SatchelError("serving needs uvicorn and starlette: pip install"
                           " 'satchel[server]'") from None
    from satchel.serving.app import create_app  # noqa: PLC0415 - after the check above

    gc.disable()  # importing the model's libraries makes objects, not garbage: 10-15% faster
    with _lean_start():
        app = create_app(target, max_body_bytes=max_body_bytes, batch_wait_ms=batch_wait_ms,
                         poll_interval=poll_interval, trusted=trusted, trust_code=trust_code,
                         body_timeout=body_timeout)
        app.state.server.preload()
    gc.enable()
    gc.freeze()  # what the start made stays out of later collections (and shared, once forked)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", access_log=False, lifespan="on",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        limit_concurrency=max_connections,
    )
    # Bound here for one worker too: an address in use is then an OSError, which the
    # command line reports as one line with its exit code, as it does for several.
    listener = socket.create_server((host, port), backlog=2048, family=socket.AF_INET6
                                    if ":" in host else socket.AF_INET)
    if workers <= 1:
        uvicorn.Server(config).run(sockets=[listener])
        return
    listener.set_inheritable(True)
    _supervise(lambda: uvicorn.Server(config).run(sockets=[listener]), workers)


@contextlib.contextmanager
def _lean_start() -> Iterator[None]:
    """Keep two optional allocations out of the start, which forked workers would inherit.

    pandas imports pyarrow, whose default mimalloc pool reserves 4 MiB of huge
    pages on the first string column it meets (the check sample's); the server
    does no Arrow work per request, so Arrow uses the system allocator unless
    ``ARROW_DEFAULT_MEMORY_POOL`` says otherwise. scikit-learn imports rich for
    its fit progress bars when rich is installed (5 MiB); a server never fits,
    so while the model loads rich's progress module cannot be imported, unless
    something imported rich already.
    """
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    blocked = "rich" not in sys.modules and "rich.progress" not in sys.modules
    if blocked:
        sys.modules["rich.progress"] = None  # type: ignore[assignment]  # fails the import
    try:
        yield
    finally:
        if blocked and sys.modules.get("rich.progress", 0) is None:
            del sys.modules["rich.progress"]


def _supervise(run: Any, workers: int) -> None:
    """Fork ``workers`` processes that call ``run``; restart those that die until stopped.

    Raises:
        SatchelError: workers died within seconds of starting ``_QUICK_DEATHS`` times in a
            row (a start that always fails would otherwise be restarted without end).
    """
    children = {_fork(run): time.monotonic() for _ in range(workers)}
    stopping, quick_deaths = [], 0

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)
        for pid in list(children):
            _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while children:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        quick = time.monotonic() - started < _QUICK_SECONDS
        quick_deaths = quick_deaths + 1 if quick else 0
        if quick_deaths < _QUICK_DEATHS:
            children[_fork(run)] = time.monotonic()
        else:
            stop(signal.SIGTERM, None)  # the loop collects the others
    if quick_deaths >= _QUICK_DEATHS:
        raise SatchelError(f"{quick_deaths} workers in a row died within {_QUICK_SECONDS:g} s"
                           " of starting (the log above says why); not restarting them")


def _fork(run: Any) -> int:
    pid = os.fork()
    if pid:
        return pid
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 0
    try:
        run()
    except BaseException:  # a worker must never return into the parent's loop
        code = 1
    os._exit(code)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
