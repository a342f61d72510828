"""Running the server with uvicorn: one process, or several workers sharing mapped arrays."""

from __future__ import annotations

import importlib.util
import os

from satchel.errors import SatchelError


def serve(target: str, *, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          max_body_bytes: int = 10 << 20, batch_wait_ms: float | None = 0.0,
          poll_interval: float = 5.0) -> None:
    """Serve ``target`` until interrupted.

    Each worker maps the same model file, so the model's arrays are in memory
    once, whatever the number of workers. uvloop and httptools are used where
    installed; asyncio and uvloop set TCP_NODELAY on every connection.
    """
    try:
        import uvicorn  # noqa: PLC0415 - the [server] extra
    except ImportError:
        raise SatchelError("serving needs uvicorn and starlette: pip install"
                           " 'satchel[server]'") from None
    os.environ.update({
        "SATCHEL_SERVE_TARGET": target,
        "SATCHEL_SERVE_MAX_BODY": str(max_body_bytes),
        "SATCHEL_SERVE_BATCH_WAIT_MS": "off" if batch_wait_ms is None else str(batch_wait_ms),
        "SATCHEL_SERVE_POLL": str(poll_interval),
    })
    uvicorn.run(
        "satchel.serving.app:app_from_environment", factory=True, host=host, port=port,
        workers=workers, log_level="info", access_log=False,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
    )
