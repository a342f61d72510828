"""The prediction server: a small Starlette app of routes, usable from any ASGI server.

Routes: ``POST /invocations`` (MLflow's request formats), ``GET /ping``,
``/health``, ``/version``, ``/metadata``, ``/metrics`` (Prometheus) and
``/openapi.json``. Every error is mapped to a status in one place
(:data:`STATUS`); error bodies never echo input rows or stack traces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import satchel
from satchel.checks import METHODS, stored_methods
from satchel.errors import (
    InputRejectedError,
    NotReadyError,
    PayloadTooLargeError,
    RequestError,
    RequestTimeoutError,
    SatchelError,
    SchemaError,
    UnsupportedMediaTypeError,
)
from satchel.schema import check_output_rows, one_text_per_row
from satchel.serving.batching import Batcher
from satchel.serving.columns import Columns
from satchel.serving.holder import Holder, Served
from satchel.serving.inputs import jsonable, parse
from satchel.serving.metrics import Metrics
from satchel.serving.openapi import openapi

log = logging.getLogger("satchel.serving")

#: Error type -> HTTP status, most specific first.
STATUS: list[tuple[type[BaseException], int]] = [
    (NotReadyError, 503),
    (SchemaError, 422),
    (InputRejectedError, 422),
    (PayloadTooLargeError, 413),
    (RequestTimeoutError, 408),
    (UnsupportedMediaTypeError, 415),
    (RequestError, 400),
]


#: Bodies from this size on are parsed on a worker thread: parsing megabytes of JSON takes
#: tenths of a second, during which the event loop would answer no other request.
PARSE_OFF_LOOP_BYTES = 256 << 10


def _count(rows: Any) -> int:
    return int(rows.shape[0]) if hasattr(rows, "shape") and rows.shape else len(rows)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def _chosen_method(query: Any, params: dict[str, Any], offered: Iterable[str]) -> str:
    """The method a request names (``?method=`` first, then ``params.method``), ``predict``
    when it names none.

    Raises:
        RequestError: it names one that is no text, or empty text: ``params.method`` of
            ``""``, ``0`` or ``false`` was taken for none, and predict answered.
    """
    given = query["method"] if "method" in query else params.get("method", "predict")
    if type(given) is not str or not given:
        raise RequestError(f"method must be one of {list(offered)}, found"
                           f" {orjson.dumps(given, default=str).decode()[:40]}")
    return given


def _check_encoding(header: str) -> None:
    """Refuse a compressed body: read as it is, gzip's bytes were reported as invalid JSON.

    Bodies are not decompressed, so that ``--max-body-bytes`` bounds the memory a request
    takes (a small gzip body can inflate to gigabytes).
    """
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    unsupported = [c for c in codings if c != "identity"]
    if unsupported:
        raise UnsupportedMediaTypeError(
            f"unsupported content encoding {', '.join(unsupported)[:40]!r}: the server reads"
            " bodies as sent; send the body uncompressed, without a Content-Encoding header"
            " (or with Content-Encoding: identity)")


async def _route_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, a method the route does not take) as JSON, as
    every other error is: they were plain text, which a client reading JSON could not parse."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException
        raise exc
    routes = ", ".join(f"{'POST' if 'POST' in (route.methods or ()) else 'GET'} {route.path}"
                       for route in request.app.routes if isinstance(route, Route))
    path = request.url.path[:200]
    if exc.status_code == 404:
        body = {"error_code": "NotFound", "message": f"no route {path!r}; the server's routes"
                f" are {routes}"}
    elif exc.status_code == 405:
        body = {"error_code": "MethodNotAllowed", "message": f"{request.method[:20]} is not"
                f" allowed on {path!r}; use {(exc.headers or {}).get('Allow', 'another')}"}
    else:
        body = {"error_code": "HTTPError", "message": str(exc.detail)}
    return Response(orjson.dumps(body), status_code=exc.status_code, headers=exc.headers,
                    media_type="application/json")


class Server:
    """The state behind the routes: the held model, the batcher and the metrics."""

    def __init__(self, holder: Holder, *, max_body_bytes: int, batch_wait_ms: float | None,
                 poll_interval: float, body_timeout: float = 60.0) -> None:
        self.holder = holder
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.poll_interval = poll_interval
        self.metrics = Metrics()
        self.batcher = (Batcher(self._call, wait_ms=batch_wait_ms)
                        if batch_wait_ms is not None else None)

        self._loading: asyncio.Task[None] | None = None  # the load ensure_loaded started
        self._retry_at = 0.0  # time.monotonic() before which a failed load is not tried again

    @staticmethod
    def _call(key: tuple[Served, str, bool], rows: Any) -> Any:
        """Run a method of a served model on rows already checked for it."""
        served, method, _ = key
        if not isinstance(rows, Columns):
            result = getattr(served.model.unwrap(), method)(rows)
        elif served.plan is not None and method in served.plan.methods:
            try:
                result = served.plan.run(method, rows)
            except Exception:  # the pipeline answers, or fails its way
                result = getattr(served.model.unwrap(), method)(rows.frame())
        else:
            result = getattr(served.model.unwrap(), method)(rows.frame())
        check_output_rows(result, _count(rows), method, "the request")
        return result

    @staticmethod
    def _checked(served: Served, method: str, rows: Any
                 ) -> tuple[tuple[Served, str, bool], Any]:
        """(the call's key, ``rows`` checked against the model's schema)."""
        checked = rows if isinstance(rows, Columns) else one_text_per_row(
            served.model.unwrap(), served.model.validate(rows))
        return (served, method, isinstance(checked, Columns)), checked

    def _checked_call(self, served: Served, method: str, rows: Any) -> Any:
        return self._call(*self._checked(served, method, rows))

    def preload(self) -> None:
        """Load the model now, before serving (``satchel serve`` does, then forks any workers)."""
        try:
            self.holder.start()
        except Exception as exc:  # the workers try again; /health shows why
            self._failed(exc)
        self.holder.forget_registry()  # each worker opens its own connections

    def _failed(self, exc: Exception) -> None:
        """Record why the model could not be loaded; it is not tried again for a poll
        interval."""
        self.holder.last_error = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.poll_interval
        log.error("could not load %s: %s; trying again in %g s", self.holder.target,
                  self.holder.last_error, self.poll_interval)

    async def ensure_loaded(self, *, wait: bool = True) -> Served | None:
        """The served model, loaded now if no lifespan did it (a plain Mount) or if loading
        failed more than a poll interval ago.

        Requests that arrive while a load is tried take its outcome rather than each trying
        again in turn, and requests within a poll interval of a failed load are answered at
        once: each request waited for a load of its own (seconds, against an S3 endpoint
        that does not answer) to be told 503. With ``wait=False`` (the probes) the load is
        started but not waited for: a probe that waited for a slow first load timed out.
        """
        if self.holder.current is None and time.monotonic() >= self._retry_at:
            if self._loading is None:
                self._loading = asyncio.create_task(self._load())
            if wait:  # shielded: a request that goes away does not cancel the load
                await asyncio.shield(self._loading)
        return self.holder.current

    async def _load(self) -> None:
        try:
            await asyncio.to_thread(self.holder.start)
        except Exception as exc:
            self._failed(exc)
        finally:
            self._loading = None

    async def invocations(self, request: Request) -> Response:
        """Predict: parse, validate, run (batched for single rows), answer."""
        started = time.perf_counter()
        method = "predict"
        try:
            served = self.holder.current or await self.ensure_loaded()
            if served is None:
                raise NotReadyError(f"the model is not loaded: {self.holder.last_error}")
            body = await self._body(request)
            arguments = (body, request.headers.get("content-type", ""),
                         served.model.input_schema, served.layout)
            rows, params = (await asyncio.to_thread(parse, *arguments)
                            if len(body) >= PARSE_OFF_LOOP_BYTES else parse(*arguments))
            method = _chosen_method(request.query_params, params, served.methods)
            output = await self._model_answer(served, method, rows)
            response = _json({"predictions": jsonable(output)})
        except Exception as exc:
            response = self._error(exc)
        self.metrics.observe(method if method in METHODS else "other", response.status_code,
                             time.perf_counter() - started)
        return response

    async def _body(self, request: Request) -> bytes:
        _check_encoding(request.headers.get("content-encoding", ""))
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise PayloadTooLargeError(f"the body has {declared} bytes; the limit is"
                                       f" {self.max_body_bytes} (--max-body-bytes)")
        chunks, size = [], 0
        try:  # a client that stops sending would hold its buffered bytes for good
            async with asyncio.timeout(self.body_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise PayloadTooLargeError(
                            f"the body exceeds the limit of {self.max_body_bytes} bytes"
                            " (--max-body-bytes)")
                    chunks.append(chunk)
        except TimeoutError:
            raise RequestTimeoutError(
                f"the body did not arrive within {self.body_timeout:g} s ({size} bytes came):"
                " send it at once, or raise the server's --body-timeout") from None
        return b"".join(chunks)

    async def _model_answer(self, served: Served, method: str, rows: Any) -> Any:
        """The prediction. A ValueError of the model's own is the input's fault (422): values
        it cannot take. So is a TypeError or AttributeError of a model with no input schema,
        which vouched for no type: a number where a text pipeline reads documents ('int'
        object has no attribute 'lower'). Of a model whose schema passed the input, they
        are the model's own failure (500)."""
        try:
            return await self._predict(served, method, rows)
        except SatchelError:
            raise
        except (ValueError, TypeError, AttributeError) as exc:
            if not isinstance(exc, ValueError) and served.model.input_schema is not None:
                raise
            error_id = uuid.uuid4().hex[:12]
            log.warning("the model refused the input (error id %s): %s", error_id, exc)
            raise InputRejectedError(
                f"the model refused the input ({type(exc).__name__}): values it cannot take,"
                " such as a missing or infinite number, a category it never saw or a number"
                " where it reads text (GET /metadata gives its input schema); the server log"
                f" has the model's message under error id {error_id}") from exc

    async def _predict(self, served: Served, method: str, rows: Any) -> Any:
        """Single rows run on the event loop (batched unless switched off); more are checked
        and run in a thread."""
        if method not in served.methods:
            raise RequestError(f"unknown method {method[:40]!r}; this model offers"
                               f" {list(served.methods)}")
        if _count(rows) != 1:
            return await asyncio.to_thread(self._checked_call, served, method, rows)
        key, checked = self._checked(served, method, rows)
        if self.batcher is not None:
            return await self.batcher.submit(key, checked)
        return self._call(key, checked)

    def _error(self, exc: Exception) -> Response:
        for kind, status in STATUS:
            if isinstance(exc, kind):
                body: dict[str, Any] = {"error_code": type(exc).__name__, "message": str(exc)}
                if isinstance(exc, SchemaError):
                    body = {"error_code": "SchemaError", "message": "the input does not match"
                            " the model's schema", "problems": exc.problems}
                return _json(body, status)
        error_id = uuid.uuid4().hex[:12]
        log.error("prediction failed (error id %s)", error_id, exc_info=exc)
        return _json({"error_code": "InternalError", "error_id": error_id, "message":
                      "the model failed on this request; the server log has the details under"
                      " this error id"}, 500)

    async def ping(self, request: Request) -> Response:
        """200 once the model is loaded and verified, else 503 at once."""
        await self.ensure_loaded(wait=False)
        return PlainTextResponse("ok" if self.holder.current else "loading",
                                 200 if self.holder.current else 503)

    async def health(self, request: Request) -> Response:
        """Readiness, the served version and the last alias-switch problem."""
        served = await self.ensure_loaded(wait=False)
        return _json({
            "status": "ok" if served else "loading",
            "model": served.name if served else None,
            "version": served.version if served else None,
            "digest": served.digest if served else None,
            "follows": self.holder.target if self.holder.follows_alias else None,
            "last_check": self.holder.last_check,
            "last_error": self.holder.last_error,
        }, 200 if served else 503)

    async def version(self, request: Request) -> Response:
        """satchel's version and the served model's version."""
        served = self.holder.current
        return _json({"satchel": satchel.__version__,
                      "model_version": served.version if served else None})

    async def metadata(self, request: Request) -> Response:
        """Input schema, environment, model name, version and digest, the metadata given
        to ``save`` and what the check sample holds (its rows stay in the file: they are
        training data)."""
        served = await self.ensure_loaded()
        if served is None:
            return _json({"status": "loading"}, 503)
        model = served.model
        check = model.metadata.get("check")
        return _json({
            "name": served.name, "version": served.version, "digest": served.digest,
            "input_schema": model.input_schema.to_json() if model.input_schema else None,
            "output_schema": model.output_schema.to_json() if model.output_schema else None,
            "environment": model.environment,
            "methods": list(served.methods),
            "metadata": model.metadata.get("user", {}),
            "check_sample": None if check is None else {
                "rows": check["rows"], "methods": stored_methods(check)},
        })

    async def prometheus(self, request: Request) -> Response:
        """Request counts and latency histograms, in Prometheus's text format."""
        body, content_type = self.metrics.render(self.holder.current)
        return Response(body, media_type=content_type)

    async def schema(self, request: Request) -> Response:
        """The OpenAPI document, with the request format built from the input schema."""
        served = self.holder.current
        if served is None:
            return _json(openapi(None))
        return _json(openapi(served.model.input_schema, served.methods))


def create_app(target: str, *, registry: Any = None, mmap: bool = True,
               max_body_bytes: int = 10 << 20, batch_wait_ms: float | None = 0.0,
               poll_interval: float = 5.0, trusted: Iterable[str] = (),
               trust_code: bool = False, body_timeout: float = 60.0) -> Starlette:
    """An ASGI app serving ``target`` (a satchel file or a ``models:/`` URI).

    Args:
        target: the file or URI to serve; ``models:/name@alias`` is followed.
        registry: the Registry for ``models:/`` targets (default: SATCHEL_REGISTRY).
        mmap: map the model's arrays (workers then share their memory).
        max_body_bytes: larger request bodies are answered 413.
        batch_wait_ms: how long single-row requests wait to be batched with others
            (0: only those already waiting); None switches batching off.
        poll_interval: seconds between checks of a followed alias.
        trusted: names to trust beyond the default set, as ``load(trusted=...)`` takes them.
        trust_code: run the source the model embeds if its modules are not installed.
        body_timeout: seconds a request's body may take to arrive; later, it is answered
            408 and its bytes are freed.

    Example:
        >>> app = create_app("models:/churn@production")  # doctest: +SKIP
    """
    holder = Holder(target, registry=registry, mmap=mmap, trusted=trusted,
                    trust_code=trust_code)
    server = Server(holder, max_body_bytes=max_body_bytes, batch_wait_ms=batch_wait_ms,
                    poll_interval=poll_interval, body_timeout=body_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.ensure_loaded()
        follower = (asyncio.create_task(holder.follow(poll_interval))
                    if holder.follows_alias else None)
        yield
        if follower is not None:
            follower.cancel()

    routes = [
        Route("/invocations", server.invocations, methods=["POST"]),
        Route("/ping", server.ping, methods=["GET"]),
        Route("/health", server.health, methods=["GET"]),
        Route("/version", server.version, methods=["GET"]),
        Route("/metadata", server.metadata, methods=["GET"]),
        Route("/metrics", server.prometheus, methods=["GET"]),
        Route("/openapi.json", server.schema, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _route_error})
    app.state.server = server
    return app
