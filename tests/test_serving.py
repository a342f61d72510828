"""The prediction server over real HTTP on 127.0.0.1: the serve command, routes, request
formats, errors, alias following, micro-batching, a mixed load, memory shared by workers and
the fast path."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import psutil
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

import satchel
from satchel.quickstart import demo_data, demo_pipeline
from satchel.registry import Registry
from satchel.serving import create_app
from satchel.serving.batching import Batcher
from satchel.serving.columns import Columns, columns, layout
from satchel.serving.holder import Holder
from satchel.serving.inputs import parse
from tests.backends import free_port
from tests.inferred import TEXT, TEXT_DTYPE

COLUMNS = ["a", "b", "c", "d"]
JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}
SECRET = "zq-secret-4417"

# ------------------------------------------------------------------ models and files


def table(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """Four float columns of normal noise."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)


def fit(frame: pd.DataFrame, *, flip: bool = False) -> LogisticRegression:
    """A classifier of a + b > 0 (or of its opposite, so that every prediction changes)."""
    target = (frame["a"] + frame["b"] > 0).astype(np.int64)
    return LogisticRegression().fit(frame, 1 - target if flip else target)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """The training table, also the rows the tests send."""
    return table()


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> LogisticRegression:
    """The classifier the module-scoped servers serve."""
    return fit(frame)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, model: Any, frame: pd.DataFrame) -> Path:
    """The classifier saved with a frame schema and a check sample."""
    path = tmp_path_factory.mktemp("served") / "churn.satchel"
    satchel.save(model, path, sample=frame[:50])
    return path


def records(rows: pd.DataFrame) -> dict[str, Any]:
    """An MLflow ``dataframe_records`` request."""
    return {"dataframe_records": rows.to_dict(orient="records")}


# ------------------------------------------------------------------ real servers


@contextlib.contextmanager
def thread_server(app: Any) -> Iterator[str]:
    """``app`` under uvicorn in a thread on 127.0.0.1; yields its base URL, stops it on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                          log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(10)
            raise RuntimeError("the uvicorn server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive(), "the uvicorn server did not stop"


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a ``satchel serve`` process and every worker it started."""
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    for child in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Return once ``GET /ping`` answers 200; fail with the server's log if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"satchel serve exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"satchel serve did not get ready in {seconds} s:\n{log.read_text()}")


@contextlib.contextmanager
def cli_server(log: Path, *args: str, env: dict[str, str] | None = None
               ) -> Iterator[tuple[str, psutil.Process]]:
    """``satchel serve ARGS --port P`` as a subprocess; yields (base URL, process)."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "satchel", "serve", *args, "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process, log)
        yield url, psutil.Process(process.pid)
    finally:
        stop(process)


def listening(process: psutil.Process) -> set[tuple[str, int]]:
    """The TCP addresses ``process`` listens on."""
    return {(c.laddr.ip, c.laddr.port) for c in process.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN}


def workers_of(process: psutil.Process) -> list[psutil.Process]:
    """The workers ``satchel serve`` forked, or the process itself when it serves alone."""
    return process.children() or [process]


@pytest.fixture(scope="module")
def server(model_file: Path) -> Iterator[str]:
    """One server on the classifier for the tests that do not change it (4 KiB body limit)."""
    with thread_server(create_app(str(model_file), max_body_bytes=4096)) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    """An HTTP client of the module's server."""
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http


def test_create_app_given_one_trusted_name_as_a_string_serves(tmp_path: Path) -> None:
    """create_app(path, trusted="pkg.Name") trusts that name, as load does: its letters were
    each taken for a name, and the model was refused as 'invalid name 't''."""
    from tests.custom import Doubler

    path = tmp_path / "custom.satchel"
    satchel.save(make_pipeline(Doubler(), LogisticRegression()).fit([[0.0], [1.0]], [0, 1]),
                 path)
    with thread_server(create_app(str(path), trusted="tests.custom.Doubler")) as url:
        answer = httpx.post(f"{url}/invocations", json={"inputs": [[1.0]]}, timeout=30)
    assert answer.json() == {"predictions": [1]}


def metric(text: str, sample_name: str, /, **labels: str) -> float:
    """The value of ``sample_name`` with ``labels`` in a Prometheus text page (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and all(sample.labels.get(k) == v
                                                  for k, v in labels.items()):
                return float(sample.value)
    return 0.0


# ------------------------------------------------------------------ 1. satchel serve


def test_serve_file_on_default_host(tmp_path: Path, model_file: Path, model: Any,
                                    frame: pd.DataFrame) -> None:
    """satchel serve FILE --port P --no-batching listens on 127.0.0.1:P only and predicts."""
    rows = frame[:32].reset_index(drop=True)
    with cli_server(tmp_path / "serve.log", str(model_file), "--no-batching") as (url, process):
        port = int(url.rsplit(":", 1)[1])
        assert listening(process) == {("127.0.0.1", port)}
        response = httpx.post(f"{url}/invocations", json=records(frame[:5]), timeout=30)
        assert response.status_code == 200
        assert response.json() == {"predictions": model.predict(frame[:5]).tolist()}
        probabilities = asyncio.run(concurrent_rows(url, rows, "predict_proba"))
        np.testing.assert_allclose(probabilities, model.predict_proba(rows), rtol=1e-12,
                                   atol=1e-15)
        health = httpx.get(f"{url}/health", timeout=30).json()
        assert (health["status"], health["model"], health["version"]) == (
            "ok", "churn.satchel", None)


def test_serve_answers_503_past_its_connections(tmp_path: Path, model_file: Path,
                                               model: Any, frame: pd.DataFrame) -> None:
    """satchel serve --max-connections 3 answers 503 to a request that comes while three
    connections are open (two clients that send nothing): connections that never finish a
    request were held without bound, each with what it had sent. Once they close, requests
    are served."""
    with cli_server(tmp_path / "serve.log", str(model_file), "--max-connections", "3",
                    "--no-batching") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        time.sleep(0.2)  # the server has taken both
        crowded = httpx.post(f"{url}/invocations", json=records(frame[:2]), timeout=30)
        for connection in idle:
            connection.close()
        time.sleep(0.2)
        served = httpx.post(f"{url}/invocations", json=records(frame[:2]), timeout=30)
    assert crowded.status_code == 503
    assert served.json() == {"predictions": model.predict(frame[:2]).tolist()}


def test_serve_registry_uri(tmp_path: Path, model: Any, frame: pd.DataFrame) -> None:
    """satchel serve models:/name@alias serves the alias's version from SATCHEL_REGISTRY."""
    registry = Registry(str(tmp_path / "registry"))
    registry.register("churn", fit(frame, flip=True), sample=frame[:20])
    second = registry.register("churn", model, sample=frame[:20])
    registry.set_alias("churn", "production", 2)
    with cli_server(tmp_path / "serve.log", "models:/churn@production",
                    env={"SATCHEL_REGISTRY": str(tmp_path / "registry")}) as (url, _):
        health = httpx.get(f"{url}/health", timeout=30).json()
        assert (health["status"], health["model"], health["version"], health["digest"],
                health["follows"], health["last_error"]) == (
            "ok", "churn", 2, second.digest, "models:/churn@production", None)
        response = httpx.post(f"{url}/invocations", json=records(frame[:8]), timeout=30)
        assert response.status_code == 200
        assert response.json()["predictions"] == model.predict(frame[:8]).tolist()
        assert httpx.get(f"{url}/version", timeout=30).json() == {
            "satchel": satchel.__version__, "model_version": 2}


def test_serve_a_model_with_custom_code_trusted_by_name(tmp_path: Path, model: Any,
                                                        frame: pd.DataFrame) -> None:
    """satchel serve FILE --trust NAME serves a model that uses a custom function: serve had
    no --trust, so such a model could not be served at all. Without it, /health says which
    option to pass."""
    from sklearn.preprocessing import FunctionTransformer

    from tests.custom import double

    custom = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(
        frame, model.predict(frame))
    path = tmp_path / "custom.satchel"
    satchel.save(custom, path, sample=frame[:20])
    with thread_server(create_app(str(path))) as url:
        health = httpx.get(f"{url}/health", timeout=30)
        assert health.status_code == 503
        assert "serve it with --trust tests.custom.double" in health.json()["last_error"]
    with cli_server(tmp_path / "serve.log", str(path), "--trust", "tests.custom.double") as (
            url, _):
        response = httpx.post(f"{url}/invocations", json=records(frame[:8]), timeout=30)
        assert response.status_code == 200
        assert response.json()["predictions"] == custom.predict(frame[:8]).tolist()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_an_address_in_use_says_so(tmp_path: Path, model_file: Path,
                                            workers: str) -> None:
    """An address in use is one line and exit code 2, with one worker as with several:
    with one, uvicorn printed its own error and exited 3, the code of an untrusted file."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "satchel", "serve", str(model_file), "--port", str(port),
             "--workers", workers], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("satchel: error: "), done.stderr
    assert "in use" in done.stderr


def test_serve_two_workers(tmp_path: Path, model_file: Path, model: Any,
                           frame: pd.DataFrame) -> None:
    """satchel serve --workers 2 --batch-wait-ms 20 runs two workers that answer correctly."""
    rows = frame[:32].reset_index(drop=True)
    with cli_server(tmp_path / "serve.log", str(model_file), "--workers", "2",
                    "--batch-wait-ms", "20") as (url, process):
        workers = workers_of(process)
        assert len(workers) == 2
        assert all(w.is_running() for w in workers)
        probabilities = asyncio.run(concurrent_rows(url, rows, "predict_proba"))
        np.testing.assert_allclose(probabilities, model.predict_proba(rows), rtol=1e-12,
                                   atol=1e-15)
        for start in range(0, 40, 4):  # a new connection each time: both workers take some
            rows = frame[start:start + 4]
            with httpx.Client(base_url=url, timeout=30) as http:
                response = http.post("/invocations", json=records(rows))
            assert response.status_code == 200
            assert response.json()["predictions"] == model.predict(rows).tolist()


LEAN_START = """
import sys
from satchel.serving.app import create_app
from satchel.serving.run import _lean_start
with _lean_start():
    create_app(sys.argv[1]).state.server.preload()
import pyarrow
try:
    import sklearn.callback._progressbar as bar
except ImportError:  # scikit-learn 1.4 has no progress bars to import rich for
    bar = None
print(pyarrow.default_memory_pool().backend_name, "rich.progress" in sys.modules,
      hasattr(bar, "_Progress"))
import rich.progress
print("rich.progress" in sys.modules)
"""


def test_start_keeps_the_arrow_pool_and_rich_out_of_the_parent(model_file: Path) -> None:
    """The forked workers inherit no mimalloc pool and no rich; rich imports again after."""
    pytest.importorskip("rich")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", LEAN_START, str(model_file)], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["system", "False", "False", "True"]


def test_app_mounted_in_another_starlette_app(model_file: Path, model: Any,
                                              frame: pd.DataFrame) -> None:
    """create_app is an ASGI app: mounted under /model, it serves next to the host's routes."""
    inner = create_app(str(model_file))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner.router.lifespan_context(inner):
            yield

    async def home(request: Request) -> Response:
        return PlainTextResponse("host")

    outer = Starlette(routes=[Route("/", home), Mount("/model", app=inner)], lifespan=lifespan)
    with thread_server(outer) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/").text == "host"
        assert (http.get("/model/ping").status_code, http.get("/model/ping").text) == (200, "ok")
        response = http.post("/model/invocations", json=records(frame[:6]))
        assert response.status_code == 200
        assert response.json()["predictions"] == model.predict(frame[:6]).tolist()


def test_app_mounted_without_lifespan_wiring_serves(model_file: Path, model: Any,
                                                    frame: pd.DataFrame) -> None:
    """A plain Mount("/model", create_app(...)) loads the model and serves it."""
    outer = Starlette(routes=[Mount("/model", app=create_app(str(model_file)))])
    with thread_server(outer) as url, httpx.Client(base_url=url, timeout=30) as http:
        deadline = time.monotonic() + 5
        while http.get("/model/ping").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.get("/model/ping").status_code == 200
        response = http.post("/model/invocations", json=records(frame[:6]))
        assert response.status_code == 200
        assert response.json()["predictions"] == model.predict(frame[:6]).tolist()


def test_probes_of_a_mounted_app_answer_while_its_first_load_runs(
        tmp_path: Path, model: Any, frame: pd.DataFrame) -> None:
    """Mounted without lifespan wiring, the app loads its model when first asked; a probe
    that asks while the load runs gets 503 at once instead of waiting for the load (a
    probe's timeout is a second or two, a load from S3 can take longer), and a prediction
    waits for it. The model's custom step holds the load's check until the test opens
    the gate."""
    from tests import custom

    gated = make_pipeline(custom.Gated(), LogisticRegression()).fit(frame, model.predict(frame))
    path = tmp_path / "gated.satchel"
    satchel.save(gated, path, sample=frame[:20])
    app = create_app(str(path), trusted=["tests.custom.Gated"])
    outer = Starlette(routes=[Mount("/model", app=app)])
    answers: list[httpx.Response] = []
    custom.GATE.clear()
    try:
        with thread_server(outer) as url, httpx.Client(base_url=url, timeout=30) as http:
            for probe in ("/model/ping", "/model/health", "/model/ping"):
                answer = http.get(probe, timeout=10)
                assert answer.status_code == 503
            assert answer.text == "loading"
            prediction = threading.Thread(target=lambda: answers.append(
                http.post("/model/invocations", json=records(frame[:6]))))
            prediction.start()
            custom.GATE.set()
            prediction.join(30)
            assert http.get("/model/ping").status_code == 200
    finally:
        custom.GATE.set()
    assert answers[0].status_code == 200
    assert answers[0].json()["predictions"] == gated.predict(frame[:6]).tolist()


# ------------------------------------------------------------------ 2. routes and formats

FORMATS: dict[str, Callable[[pd.DataFrame], dict[str, Any]]] = {
    "dataframe_split": lambda rows: {"json": {"dataframe_split": rows.to_dict(orient="split")}},
    "dataframe_records": lambda rows: {"json": records(rows)},
    "dataframe_records, columns reversed": lambda rows: {"json": records(rows[COLUMNS[::-1]])},
    "instances as rows": lambda rows: {"json": {"instances": rows.to_numpy().tolist()}},
    "instances as records": lambda rows: {"json": {"instances": rows.to_dict(orient="records")}},
    "inputs as columns": lambda rows: {"json": {"inputs": rows.to_dict(orient="list")}},
    "text/csv": lambda rows: {"content": rows.to_csv(index=False).encode(), "headers": CSV},
    "text/csv with a charset": lambda rows: {
        "content": rows.to_csv(index=False).encode(), "headers": {
            "content-type": "text/csv; charset=utf-8"}},
}


def test_a_csv_body_is_read_in_the_charset_its_content_type_names() -> None:
    """text/csv; charset=latin-1 is decoded as Latin-1: a city of 'Zürich' was read as UTF-8
    and refused as not valid CSV. An unknown charset is a 415 naming it."""
    body = "city,x\nZürich,1.5\n".encode("latin-1")
    frame, _ = parse(body, 'text/csv; charset="ISO-8859-1"', None)
    assert frame["city"].tolist() == ["Zürich"]
    with pytest.raises(satchel.errors.UnsupportedMediaTypeError, match="charset 'klingon'"):
        parse(body, "text/csv; charset=klingon", None)
    with pytest.raises(satchel.errors.RequestError, match="not valid utf-16 text"):
        parse(b"city\n\xd8\x00", "text/csv; charset=utf-16", None)


@pytest.mark.parametrize("charset", ["rot13", "base64", "hex", "zlib", "undefined"])
def test_a_charset_that_is_no_text_encoding_is_415(charset: str) -> None:
    """A charset Python knows as a codec of bytes to bytes or text to text (base64, rot13),
    or as no encoding at all ('undefined'), is a 415 or a 400 saying so: decoding with it
    raised LookupError or UnicodeError, a 500."""
    for content_type in ("application/json", "text/csv"):
        with pytest.raises(satchel.errors.RequestError, match=f"charset '{charset}'"
                           if charset != "undefined" else "not valid undefined text"):
            parse(b'{"inputs": [[1]]}', f"{content_type}; charset={charset}", None)


def test_a_csv_header_with_a_bare_carriage_return_is_400() -> None:
    """A CSV header whose lines end in a bare carriage return is a 400 saying how to end
    lines: the csv module's error was a 500."""
    with pytest.raises(satchel.errors.RequestError, match=(
            r"the body is not valid CSV: its header line cannot be read \(new-line character"
            r" seen in unquoted field.*\); end lines with \\n or \\r\\n")):
        parse(b"a,b\r1,2\r", "text/csv", None)


def test_rows_of_text_are_objects_not_strings_as_wide_as_the_longest() -> None:
    """Instances holding text become an array of objects: numpy made each cell as wide as
    the longest string, so a 100 KB body of one long string and 4000 short ones took
    1.8 GB, and a 1.5 MB one asked for 373 GiB (a 500)."""
    body = orjson.dumps({"instances": ["x" * 100_000] + ["a"] * 4000})
    rows, _ = parse(body, "application/json", None)
    assert rows.dtype == object
    assert rows.nbytes == 4001 * 8
    nested, _ = parse(orjson.dumps({"inputs": [[["x" * 1000, "a"]], [["a", "b"]]]}),
                      "application/json", None)
    assert nested.dtype == object
    numbers, _ = parse(b'{"inputs": [[1, 2.5], [3, 4]]}', "application/json", None)
    assert numbers.dtype == np.float64


def test_a_json_body_is_read_in_the_charset_its_content_type_names() -> None:
    """application/json; charset=latin-1 (or utf-16) is decoded in that charset, as a CSV body
    is: the charset was ignored, so 'Zürich' in Latin-1 or UTF-16 was refused as no UTF-8
    ('surrogates not allowed'). An unknown charset is a 415 naming it."""
    document = '{"dataframe_records": [{"city": "Zürich", "x": 1.5}]}'
    for charset in ("latin-1", "utf-16", "UTF-8"):
        frame, _ = parse(document.encode(charset), f"application/json; charset={charset}", None)
        assert frame["city"].tolist() == ["Zürich"]
    with pytest.raises(satchel.errors.UnsupportedMediaTypeError, match="charset 'klingon'"):
        parse(document.encode(), "application/json; charset=klingon", None)


@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("kind", list(FORMATS))
def test_request_formats(client: httpx.Client, model: Any, frame: pd.DataFrame, kind: str,
                         size: int) -> None:
    """Every MLflow request format and CSV answer {"predictions": [...]} like model.predict."""
    rows = frame[10:10 + size]
    response = client.post("/invocations", **FORMATS[kind](rows))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": model.predict(rows).tolist()}


@pytest.mark.parametrize("how", ["query", "params"])
@pytest.mark.parametrize("method", ["predict_proba", "decision_function"])
def test_method_per_request(client: httpx.Client, model: Any, frame: pd.DataFrame, how: str,
                            method: str) -> None:
    """?method=... or params.method picks the method of each request."""
    rows = frame[20:25]
    if how == "query":
        response = client.post(f"/invocations?method={method}", json=records(rows))
    else:
        response = client.post("/invocations", json={**records(rows), "params": {"method": method}})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], getattr(model, method)(rows),
                               rtol=1e-12, atol=1e-15)


def test_ping_health_version(client: httpx.Client, model_file: Path) -> None:
    """/ping says ok, /health the model and digest, /version satchel's version."""
    assert (client.get("/ping").status_code, client.get("/ping").text) == (200, "ok")
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model": "churn.satchel", "version": None,
                             "digest": satchel.inspect(model_file).digest, "follows": None,
                             "last_check": None, "last_error": None}
    version = client.get("/version")
    assert version.status_code == 200
    assert version.json() == {"satchel": satchel.__version__, "model_version": None}


def test_metadata(client: httpx.Client, model_file: Path) -> None:
    """/metadata gives the input schema, environment, name, version, digest and methods."""
    response = client.get("/metadata")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"], body["digest"]) == (
        "churn.satchel", None, satchel.inspect(model_file).digest)
    assert body["input_schema"] == {"kind": "frame", "columns": [
        {"name": name, "dtype": "float64", "kind": "float", "nullable": False}
        for name in COLUMNS]}
    assert body["output_schema"] == {"dtype": "int64", "classes": [0, 1]}
    assert body["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert body["environment"]["packages"]["scikit-learn"]
    assert body["methods"] == ["predict", "predict_proba", "decision_function"]
    assert body["metadata"] == {}
    assert body["check_sample"] == {"rows": 50, "methods": [
        "predict", "predict_proba", "decision_function"]}


def test_metadata_gives_the_saved_metadata_and_no_check_sample_when_none(
        tmp_path: Path, model: Any) -> None:
    """/metadata gives the metadata given to save (as ``satchel inspect`` shows it), and
    null for the check sample of a model saved without one; the sample's rows are never
    sent."""
    path = tmp_path / "plain.satchel"
    satchel.save(model, path, metadata={"team": "churn", "auc": 0.91, "tags": ["a", "b"]})
    with thread_server(create_app(str(path))) as url, httpx.Client(base_url=url) as http:
        body = http.get("/metadata").json()
    assert body["metadata"] == {"team": "churn", "auc": 0.91, "tags": ["a", "b"]}
    assert body["check_sample"] is None


def test_health_is_ready_only_once_loaded(model_file: Path, tmp_path: Path) -> None:
    """/health and /ping answer 503 until the model loads, then 200 (mounted app, no lifespan;
    a failed load is tried again a poll interval later)."""
    target = tmp_path / "later.satchel"
    outer = Starlette(routes=[Mount("/", app=create_app(str(target), poll_interval=0.2))])
    with thread_server(outer) as url, httpx.Client(base_url=url, timeout=30) as http:
        health = http.get("/health")
        assert (health.status_code, health.json()["status"], health.json()["model"]) == (
            503, "loading", None)
        assert (http.get("/ping").status_code, http.get("/ping").text) == (503, "loading")
        assert http.get("/metadata").status_code == 503
        target.write_bytes(model_file.read_bytes())
        wait_for(lambda: http.get("/health").status_code == 200)
        assert http.get("/health").json()["status"] == "ok"
        assert http.get("/ping").status_code == 200


def test_requests_after_a_failed_load_are_answered_at_once(
        tmp_path: Path, frame: pd.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    """Within a poll interval of a failed load, requests get their 503 at once, without a load
    of their own: each waited for one (seconds against an S3 endpoint that does not answer);
    the load is tried again once the interval has passed."""
    app = create_app(str(tmp_path / "missing.satchel"), poll_interval=1.0)
    with caplog.at_level(logging.ERROR, logger="satchel.serving"), thread_server(app) as url, \
            httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(5):
            response = http.post("/invocations", json=records(frame[:1]))
            assert response.status_code == 503
            assert "no such file" in response.json()["message"].lower()
        assert http.get("/ping").status_code == 503
        assert len(caplog.records) == 1  # the lifespan's load
        time.sleep(1.1)
        assert http.post("/invocations", json=records(frame[:1])).status_code == 503
        assert len(caplog.records) == 2


def test_other_requests_are_answered_while_a_large_body_is_parsed(model_file: Path) -> None:
    """A request of megabytes of JSON is parsed, checked and predicted off the event loop:
    a ping sent meanwhile waits at most for the one C call that decodes the JSON, which
    holds the interpreter. The whole parse held the loop (0.7 s for these 18 MiB), so a ping
    waited as long. The waits are compared with that call, timed here, so that a slow
    machine slows both."""
    body = orjson.dumps(records(table(200_000, seed=3)))
    decoding = []
    for _ in range(3):
        started = time.perf_counter()
        orjson.loads(body)
        decoding.append(time.perf_counter() - started)
    answers: list[int] = []
    waits: list[float] = []
    with thread_server(create_app(str(model_file), max_body_bytes=len(body))) as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        assert http.get("/ping").status_code == 200
        done = threading.Event()

        def large() -> None:
            answers.append(http.post("/invocations", content=body, headers=JSON).status_code)
            done.set()

        sender = threading.Thread(target=large)
        sender.start()
        while not done.is_set():
            started = time.perf_counter()
            assert http.get("/ping").status_code == 200
            waits.append(time.perf_counter() - started)
        sender.join()
    assert answers == [200]
    assert max(waits) < 3 * min(decoding) + 0.05, (max(waits), min(decoding))


def test_invocations_before_the_model_is_loaded_is_503(tmp_path: Path,
                                                       frame: pd.DataFrame) -> None:
    """A prediction request while the model cannot be loaded is answered 503, not 500."""
    outer = Starlette(routes=[Mount("/", app=create_app(str(tmp_path / "missing.satchel")))])
    with thread_server(outer) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/health").status_code == 503
        response = http.post("/invocations", json=records(frame[:2]))
        assert response.status_code == 503
        assert response.json()["error_code"] == "NotReadyError"


def test_requests_while_a_load_fails_share_that_attempt(tmp_path: Path, model_file: Path,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    """Requests that arrive while the model is being loaded take that load's outcome: a burst
    of eight made eight failed loads one after another, the last request waiting for all."""
    target = tmp_path / "damaged.satchel"
    target.write_bytes(model_file.read_bytes()[:-40])
    server = create_app(str(target), poll_interval=0.2).state.server

    async def burst() -> list[Any]:
        return await asyncio.gather(*(server.ensure_loaded() for _ in range(8)))

    with caplog.at_level(logging.ERROR, logger="satchel.serving"):
        assert asyncio.run(burst()) == [None] * 8
    assert [r.getMessage()[:16] for r in caplog.records] == ["could not load /"]
    assert server.holder.last_error.startswith("IntegrityError: the file is truncated")
    target.write_bytes(model_file.read_bytes())
    time.sleep(0.3)  # past the poll interval after the failed load
    assert asyncio.run(server.ensure_loaded()) is server.holder.current is not None


def test_metrics_count_requests_by_method_and_status(client: httpx.Client, model_file: Path,
                                                     frame: pd.DataFrame) -> None:
    """/metrics counts requests and observes latency by method and status, with the model."""
    before = client.get("/metrics").text
    for _ in range(3):
        assert client.post("/invocations", json=records(frame[:2])).status_code == 200
    assert client.post("/invocations?method=predict_proba",
                       json=records(frame[:2])).status_code == 200
    assert client.post("/invocations", json={"dataframe_records": [{"a": 1.0}]}).status_code == 422
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    after = response.text

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("satchel_requests_total", method="predict", status="200") == 3
    assert delta("satchel_requests_total", method="predict_proba", status="200") == 1
    assert delta("satchel_requests_total", method="predict", status="422") == 1
    assert delta("satchel_request_seconds_count", method="predict", status="200") == 3
    assert delta("satchel_request_seconds_bucket", method="predict", status="200",
                 le="+Inf") == 3
    assert delta("satchel_request_seconds_count", method="predict", status="422") == 1
    assert metric(after, "satchel_request_seconds_sum", method="predict", status="200") > 0
    assert metric(after, "satchel_model_info", name="churn.satchel",
                  digest=satchel.inspect(model_file).digest) == 1


def test_openapi_describes_the_request_from_the_schema(client: httpx.Client) -> None:
    """/openapi.json describes /invocations with the model's columns and their JSON types."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    post = document["paths"]["/invocations"]["post"]
    assert set(post["responses"]) == {"200", "400", "413", "415", "422", "500", "503"}
    content = post["requestBody"]["content"]
    assert set(content) == {"application/json", "text/csv"}
    properties = content["application/json"]["schema"]["properties"]
    record = properties["dataframe_records"]["items"]
    assert record["required"] == COLUMNS
    assert record["properties"] == {name: {"type": "number"} for name in COLUMNS}
    assert properties["dataframe_split"]["properties"]["columns"]["example"] == COLUMNS
    assert "predict_proba" in properties["params"]["properties"]["method"]["enum"]
    assert {"/ping", "/health", "/version", "/metadata", "/metrics"} <= set(document["paths"])


def test_openapi_gives_every_format_and_only_the_model_methods(client: httpx.Client) -> None:
    """/openapi.json describes each of MLflow's formats the server reads, inputs included
    (columns or records), and offers only the methods the model has: inputs was missing for
    a frame schema, and transform and score_samples were offered to a classifier, which the
    server answers 400."""
    post = client.get("/openapi.json").json()["paths"]["/invocations"]["post"]
    properties = post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(properties) == {"dataframe_split", "dataframe_records", "instances", "inputs",
                               "params"}
    columns, records = properties["inputs"]["oneOf"]
    assert columns["properties"] == {name: {"type": "array", "items": {"type": "number"}}
                                     for name in COLUMNS}
    assert records == properties["dataframe_records"]
    methods = ["predict", "predict_proba", "decision_function"]
    assert properties["params"]["properties"]["method"]["enum"] == methods
    assert post["parameters"][0]["schema"]["enum"] == methods


def test_openapi_of_an_array_model(tmp_path: Path) -> None:
    """For a model without column names, /openapi.json asks for rows of n_features numbers."""
    features = np.random.default_rng(1).normal(size=(40, 3))
    path = tmp_path / "array.satchel"
    satchel.save(LogisticRegression().fit(features, features[:, 0] > 0), path, sample=features)
    with thread_server(create_app(str(path))) as url:
        document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    schema = document["paths"]["/invocations"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert schema["properties"]["instances"]["items"] == {
        "type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}


def test_openapi_gives_a_categorical_of_integers_as_integers(tmp_path: Path) -> None:
    """A categorical of integers is described as integers, which the server takes for it: it
    was described as strings, which the server refuses ('10' is not the category 10)."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"code": pd.Categorical(rng.choice([10, 20], 40)),
                          "plan": pd.Categorical(rng.choice(["a", "b"], 40)),
                          "x": rng.normal(size=40)})
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["code", "plan"]),
                                                  remainder="passthrough"),
                          LogisticRegression()).fit(frame, frame["x"] > 0)
    path = tmp_path / "codes.satchel"
    satchel.save(model, path, sample=frame)
    with thread_server(create_app(str(path))) as url:
        document = httpx.get(f"{url}/openapi.json", timeout=30).json()
        answer = httpx.post(f"{url}/invocations", timeout=30, json={
            "dataframe_records": [{"code": 10, "plan": "a", "x": 0.5}]})
    record = document["paths"]["/invocations"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["dataframe_records"]["items"]
    assert record["properties"] == {"code": {"type": "integer"}, "plan": {"type": "string"},
                                    "x": {"type": "number"}}
    assert answer.status_code == 200, answer.text


def test_a_transformer_giving_polars_frames_answers_with_records(tmp_path: Path) -> None:
    """A transformer set to give polars DataFrames answers with one record a row, as one
    giving pandas DataFrames does: it failed, as a polars frame's to_dict takes no orient."""
    import polars as pl

    rows = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "s": ["a", "b", "a", "b"]})
    columns = make_column_transformer((StandardScaler(), ["x"]), ("passthrough", ["s"]),
                                      verbose_feature_names_out=False)
    path = tmp_path / "polars.satchel"
    satchel.save(columns.set_output(transform="polars").fit(rows), path, sample=rows)
    with thread_server(create_app(str(path))) as url:
        answer = httpx.post(f"{url}/invocations?method=transform", timeout=30,
                            json={"dataframe_records": [{"x": 3.0, "s": "b"}]})
    assert answer.status_code == 200, answer.text
    scaled = (3.0 - 1.5) / np.std([0.0, 1.0, 2.0, 3.0])
    assert answer.json() == {"predictions": [{"x": pytest.approx(scaled), "s": "b"}]}


# ------------------------------------------------------------------ 3. errors


#: request -> the exact problems reported (None: any non-empty list of problems).
SCHEMA_PROBLEMS: dict[str, tuple[dict[str, Any], list[dict[str, Any]] | None]] = {
    "text in a float column and an extra column": (
        {"json": {"dataframe_records": [
            {"a": SECRET, "b": 31337.25, "c": 1.5, "d": 2.5, "extra": "zq-extra-9921"}]}},
        [{"column": "extra", "expected": "no such column", "found": "an unexpected column"},
         {"column": "a", "expected": "float (float64)", "found": TEXT}]),
    "a missing column": (
        {"json": {"dataframe_split": {"columns": ["a", "b", "c", "dd"],
                                      "data": [[31337.25, 1.0, 2.0, 3.0]]}}},
        [{"column": "d", "expected": "a column of float", "found": "missing (closest: 'dd')"},
         {"column": "dd", "expected": "no such column", "found": "an unexpected column"
                                                                  " (closest: 'd')"}]),
    "a missing value": (
        {"json": {"dataframe_records": [{"a": None, "b": 31337.25, "c": 1.0, "d": 1.0},
                                        {"a": 1.0, "b": 2.0, "c": 1.0, "d": 1.0}]}},
        [{"column": "a", "expected": "no missing values", "found": "1 missing values"}]),
    "text in a CSV column": (
        {"content": f"a,b,c,d\n1.0,{SECRET},2.0,31337.25\n".encode(), "headers": CSV},
        [{"column": "b", "expected": "float (float64)", "found": TEXT}]),
    "rows of three values for four columns": (
        {"json": {"instances": [[31337.25, 1.0, 2.0]]}}, None),
    "infinity in a CSV float column": (
        {"content": b"a,b,c,d\n1.0,inf,2.0,31337.25\n", "headers": CSV},
        [{"column": "b", "expected": "finite numbers", "found": "1 infinite values"}]),
    "a repeated column": (
        {"json": {"dataframe_split": {"columns": ["a", "b", "c", "d", "d"],
                                      "data": [[31337.25, 1.0, 2.0, 3.0, 4.0]]}}},
        [{"column": "d", "expected": "one column of that name", "found": "2 columns"}]),
    "a lone null": (
        {"json": {"dataframe_records": [{"a": None, "b": 31337.25, "c": 1.0, "d": 1.0}]}},
        [{"column": "a", "expected": "no missing values", "found": "1 missing values"}]),
    "a column of nulls": (
        {"json": {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, None, 2.0, 31337.25],
                                                                   [1.0, None, 2.0, 3.0]]}}},
        [{"column": "b", "expected": "no missing values", "found": "2 missing values"}]),
    "an object in a float column": (
        {"json": {"dataframe_records": [{"a": {"k": SECRET}, "b": 1.0, "c": 1.0, "d": 1.0}]}},
        [{"column": "a", "expected": "float (float64)", "found": "object (object)"}]),
}


@pytest.mark.parametrize("case", list(SCHEMA_PROBLEMS))
def test_schema_problems_are_422_without_input_values(client: httpx.Client, model: Any,
                                                      frame: pd.DataFrame, case: str) -> None:
    """A request that misses the schema gets 422 and its problems, never the values sent."""
    request, problems = SCHEMA_PROBLEMS[case]
    response = client.post("/invocations", **request)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "SchemaError"
    if problems is None:
        assert body["problems"]
        assert all(set(p) == {"column", "expected", "found"} for p in body["problems"])
    else:
        assert body["problems"] == problems
    for value in (SECRET, "zq-extra-9921", "31337"):
        assert value not in response.text
    following = client.post("/invocations", json=records(frame[:3]))
    assert following.status_code == 200
    assert following.json()["predictions"] == model.predict(frame[:3]).tolist()


def chunks(data: bytes, size: int = 512) -> Iterator[bytes]:
    """``data`` in pieces: httpx sends it chunked, without a content-length."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize(("body", "found"), [(b"[[1, 2, 3, 4]]", "a JSON array"),
                                             (b'"1,2,3,4"', "a JSON string")])
def test_a_body_that_is_no_json_object_says_what_it_is_and_how_to_wrap_rows(
        client: httpx.Client, body: bytes, found: str) -> None:
    """A body of bare rows ([[1, 2, 3, 4]]) is answered with what was found and the object
    that holds them: the message named the keys only."""
    answer = client.post("/invocations", content=body, headers=JSON)
    assert answer.status_code == 400
    assert answer.json()["message"] == (
        "expected a JSON object with one of ['dataframe_split', 'dataframe_records',"
        f" 'instances', 'inputs'], found {found}: send rows as {{\"inputs\": [[...], ...]}}")


def oversize(frame: pd.DataFrame) -> bytes:
    """A valid request body of more than the module server's 4 KiB."""
    body = orjson.dumps(records(frame[:60]))
    assert len(body) > 4096
    return body


BAD_REQUESTS: dict[str, tuple[Callable[[pd.DataFrame], dict[str, Any]], int, str]] = {
    "malformed JSON": (lambda f: {"content": b'{"instances": [[1, 2', "headers": JSON},
                       400, "RequestError"),
    "JSON that is not an object": (lambda f: {"content": b"[1, 2]", "headers": JSON},
                                   400, "RequestError"),
    "no known format key": (lambda f: {"json": {"rows": [[1, 2, 3, 4]]}}, 400, "RequestError"),
    "two format keys": (lambda f: {"json": {**records(f[:1]), "instances": [[1, 2, 3, 4]]}},
                        400, "RequestError"),
    "unknown method": (lambda f: {"json": {**records(f[:1]), "params": {"method": "fit"}}},
                       400, "RequestError"),
    "an empty method": (lambda f: {"json": {**records(f[:1]), "params": {"method": ""}}},
                        400, "RequestError"),
    "a method that is false": (lambda f: {"json": {**records(f[:1]), "params": {
        "method": False}}}, 400, "RequestError"),
    "a method that is a list": (lambda f: {"json": {**records(f[:1]), "params": {
        "method": ["predict_proba"]}}}, 400, "RequestError"),
    "an empty method in the query": (lambda f: {"json": records(f[:1]),
                                                "params": {"method": ""}}, 400, "RequestError"),
    "params that are no object": (lambda f: {"json": {**records(f[:1]), "params": ["proba"]}},
                                  400, "RequestError"),
    "oversize body": (lambda f: {"content": oversize(f), "headers": JSON},
                      413, "PayloadTooLargeError"),
    "oversize chunked body": (lambda f: {"content": chunks(oversize(f)), "headers": JSON},
                              413, "PayloadTooLargeError"),
    "unsupported content type": (lambda f: {"content": b"a=1&b=2", "headers": {
        "content-type": "application/x-www-form-urlencoded"}}, 415,
                                 "UnsupportedMediaTypeError"),
    "plain text": (lambda f: {"content": b"1,2,3,4", "headers": {"content-type": "text/plain"}},
                   415, "UnsupportedMediaTypeError"),
    "a gzip body": (lambda f: {"content": gzip.compress(orjson.dumps(records(f[:1]))),
                               "headers": {**JSON, "content-encoding": "gzip"}},
                    415, "UnsupportedMediaTypeError"),
    "a body of two encodings": (lambda f: {"content": orjson.dumps(records(f[:1])),
                                           "headers": {**JSON, "content-encoding":
                                                       "identity, br"}},
                                415, "UnsupportedMediaTypeError"),
    "an index longer than the data": (lambda f: {"json": {"dataframe_split": {
        "columns": COLUMNS, "data": f[:1].to_numpy().tolist(), "index": [0, 1, 2]}}},
                                      400, "RequestError"),
    "an index entry that is a list": (lambda f: {"json": {"dataframe_split": {
        "columns": COLUMNS, "data": f[:1].to_numpy().tolist(), "index": [[7, 8, 9]]}}},
                                      400, "RequestError"),
    "an index entry that is an object": (lambda f: {"json": {"dataframe_split": {
        "columns": COLUMNS, "data": f[:2].to_numpy().tolist(), "index": [1, {"a": 2}]}}},
                                         400, "RequestError"),
    "a column name that is a list": (lambda f: {"json": {"dataframe_split": {
        "columns": [["a"], "b", "c", "d"], "data": f[:1].to_numpy().tolist()}}},
                                     400, "RequestError"),
    "a column name that is an object": (lambda f: {"json": {"dataframe_split": {
        "columns": ["a", "b", "c", {"d": 1}], "data": f[:1].to_numpy().tolist()}}},
                                       400, "RequestError"),
    "columns that are a string": (lambda f: {"json": {"dataframe_split": {
        "columns": "abcd", "data": f[:1].to_numpy().tolist()}}}, 400, "RequestError"),
    "no instances": (lambda f: {"json": {"instances": []}}, 400, "RequestError"),
    "no records": (lambda f: {"json": {"dataframe_records": []}}, 400, "RequestError"),
    "a split of no data": (lambda f: {"json": {"dataframe_split": {"columns": COLUMNS,
                                                                   "data": []}}},
                           400, "RequestError"),
    "inputs of empty columns": (lambda f: {"json": {"inputs": {c: [] for c in COLUMNS}}},
                                400, "RequestError"),
    "a CSV header alone": (lambda f: {"content": b"a,b,c,d\n", "headers": CSV},
                           400, "RequestError"),
    "a first CSV row longer than the header": (lambda f: {
        "content": b"a,b,c,d\n7,1.0,2.0,3.0,4.0\n", "headers": CSV}, 400, "RequestError"),
    "a later CSV row longer than the header": (lambda f: {
        "content": b"a,b,c,d\n1.0,2.0,3.0,4.0\n7,1.0,2.0,3.0,4.0\n", "headers": CSV},
                                              400, "RequestError"),
}


#: What the error message of each of BAD_REQUESTS says: a status and an error code are
#: shared by many refusals, and tell nothing of which check refused the request.
BAD_REQUEST_MESSAGES = {
    "malformed JSON": "the body is not valid JSON: ",
    "JSON that is not an object": 'found a JSON array: send rows as {"inputs": [[...], ...]}',
    "no known format key": "'instances', 'inputs'], found none",
    "two format keys": "found ['dataframe_records', 'instances']",
    "unknown method": "unknown method 'fit'; this model offers",
    "an empty method": "method must be one of ['predict', 'predict_proba',"
                       " 'decision_function'], found \"\"",
    "a method that is false": "'decision_function'], found false",
    "a method that is a list": "'decision_function'], found [\"predict_proba\"]",
    "an empty method in the query": "'decision_function'], found \"\"",
    "params that are no object": "params must be a JSON object",
    "oversize body": "the body has 5810 bytes; the limit is 4096 (--max-body-bytes)",
    "oversize chunked body": "the body exceeds the limit of 4096 bytes (--max-body-bytes)",
    "unsupported content type": "unsupported content type 'application/x-www-form-urlencoded'",
    "plain text": "unsupported content type 'text/plain'",
    "a gzip body": "unsupported content encoding 'gzip'",
    "a body of two encodings": "unsupported content encoding 'br'",
    "an index longer than the data": "per row of data (1), found 3 entries",
    "an index entry that is a list": "per row of data (1), found 1 entries that are lists",
    "an index entry that is an object": "per row of data (2), found 1 entries that are lists",
    "a column name that is a list": "found 1 entries that are lists, objects or nulls",
    "a column name that is an object": "found 1 entries that are lists, objects or nulls",
    "columns that are a string": "a list of column names (strings or numbers), found str",
    "no instances": "the request has no rows",
    "no records": "the request has no rows",
    "a split of no data": "the request has no rows",
    "inputs of empty columns": "the request has no rows",
    "a CSV header alone": "the request has no rows",
    "a first CSV row longer than the header": "line 2 of the body (its first row of data) has 5",
    "a later CSV row longer than the header": "line 3 of the body has 5 values",
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_their_status_and_the_next_one_is_served(
        client: httpx.Client, model: Any, frame: pd.DataFrame, case: str) -> None:
    """Each unreadable request gets its 4xx and a JSON error saying what is wrong with it; the
    next valid one gets 200."""
    build, status, code = BAD_REQUESTS[case]
    response = client.post("/invocations", **build(frame))
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    assert BAD_REQUEST_MESSAGES[case] in response.json()["message"]
    following = client.post("/invocations", json=records(frame[:3]))
    assert following.status_code == 200
    assert following.json()["predictions"] == model.predict(frame[:3]).tolist()


def test_no_route_and_a_wrong_method_answer_json_naming_what_to_use(client: httpx.Client
                                                                    ) -> None:
    """An unknown route is a 404 and a method the route does not take a 405 (with Allow), each
    with a JSON error naming the routes or the methods to use, not plain text."""
    missing = client.post("/predict", json={"instances": [[1, 2, 3, 4]]})
    assert missing.status_code == 404
    assert missing.json() == {
        "error_code": "NotFound", "message": "no route '/predict'; the server's routes are POST"
        " /invocations, GET /ping, GET /health, GET /version, GET /metadata, GET /metrics,"
        " GET /openapi.json"}
    wrong = client.get("/invocations")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json() == {"error_code": "MethodNotAllowed",
                            "message": "GET is not allowed on '/invocations'; use POST"}
    message = client.post("/ping").json()["message"]  # starlette lists a set's methods
    assert message.startswith("POST is not allowed on '/ping'; use ")
    assert set(message.rsplit("use ", 1)[1].split(", ")) == {"GET", "HEAD"}


def test_content_encoding_identity_is_read_as_is(client: httpx.Client, model: Any,
                                                  frame: pd.DataFrame) -> None:
    """Content-Encoding: identity is no encoding; the body is served."""
    response = client.post("/invocations", content=orjson.dumps(records(frame[:2])),
                           headers={**JSON, "content-encoding": "Identity"})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(frame[:2]).tolist()


def test_a_gzip_body_is_415_saying_to_send_it_uncompressed(client: httpx.Client,
                                                          frame: pd.DataFrame) -> None:
    """A compressed body is refused for its encoding, not reported as invalid JSON."""
    response = client.post("/invocations", content=gzip.compress(orjson.dumps(records(
        frame[:1]))), headers={**JSON, "content-encoding": "gzip"})
    assert response.status_code == 415, response.text
    assert response.json() == {
        "error_code": "UnsupportedMediaTypeError", "message": "unsupported content encoding"
        " 'gzip': the server reads bodies as sent; send the body uncompressed, without a"
        " Content-Encoding header (or with Content-Encoding: identity)"}


def test_no_rows_is_400_saying_so(client: httpx.Client) -> None:
    """A request of no rows says so, not that its columns (of no values) have the wrong dtype."""
    response = client.post("/invocations", json={"instances": []})
    assert response.status_code == 400, response.text
    assert response.json() == {"error_code": "RequestError", "message": "the request has no"
                               " rows: send at least one row to predict on"}


def test_a_lone_null_in_an_integer_column_is_a_missing_value(churn: Any) -> None:
    """One row with null in an integer column: pandas makes the column objects; the problem
    reported is the missing value, as it is when other rows have numbers."""
    _, frame, _, path = churn
    row = as_json(frame[:2]).to_dict(orient="records")
    row[0]["tenure_months"] = None
    with thread_server(create_app(str(path))) as url, httpx.Client(base_url=url,
                                                                   timeout=30) as http:
        for rows in (row[:1], row):
            response = http.post("/invocations", json={"dataframe_records": rows})
            assert response.status_code == 422, response.text
            assert response.json()["problems"] == [{"column": "tenure_months", "expected":
                                                    "no missing values",
                                                    "found": "1 missing values"}]


def test_a_number_among_the_strings_of_a_text_column_is_a_schema_problem(churn: Any
                                                                         ) -> None:
    """A number in a text column is a 422 whether the request has one row or several (with
    strings in other rows, the column of objects was passed to the model)."""
    _, frame, _, path = churn
    rows = as_json(frame[:3]).to_dict(orient="records")
    rows[1]["region"] = 7
    with thread_server(create_app(str(path))) as url, httpx.Client(base_url=url,
                                                                   timeout=30) as http:
        for sent, found in ((rows[1:2], "integer (int64)"), (rows, None)):
            response = http.post("/invocations", json={"dataframe_records": sent})
            assert response.status_code == 422, response.text
            problem = response.json()["problems"]
            assert problem == [{"column": "region", "expected": f"string ({TEXT_DTYPE})",
                                "found": found}
                               if found else {"column": "region", "expected": "string values",
                                              "found": "1 values that are not strings"}]


def test_a_split_index_of_labels_names_the_rows(client: httpx.Client, model: Any,
                                                frame: pd.DataFrame) -> None:
    """An index of one label per row (strings, numbers, nulls) is accepted and changes nothing."""
    response = client.post("/invocations", json={"dataframe_split": {
        "columns": COLUMNS, "data": frame[:3].to_numpy().tolist(), "index": ["x", 7, None]}})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(frame[:3]).tolist()


def test_rows_of_columns_of_their_own_are_refused_before_a_table_is_made(
        model_file: Path, frame: pd.DataFrame, model: Any) -> None:
    """Rows that each name other columns (or a header far wider than its rows) would make a
    table of rows x columns cells, far more than the values sent (69 KiB of records took 265
    MiB): a 400 saying so, before pandas fills it; the next request is served."""
    names = [f"k{i}" for i in range(1000)]  # within the width allowed
    requests = [
        {"json": {"dataframe_records": [{name: 1} for name in names]}},
        {"json": {"instances": [{name: 1} for name in names]}},
        {"json": {"dataframe_split": {"columns": names, "data": [[1]] * 1000}}},
        {"content": (",".join(names) + "\n" + "1\n" * 3000).encode(), "headers": CSV}]
    with thread_server(create_app(str(model_file))) as url, httpx.Client(base_url=url,
                                                                         timeout=30) as http:
        for request in requests:
            response = http.post("/invocations", **request)
            assert response.status_code == 400, response.text[:200]
            message = response.json()["message"]
            assert re.fullmatch(r"the rows give \d+ values for a table of \d+ rows and 1000"
                                r" columns \(\d+ cells\): rows that each name other columns,"
                                r" or a header far wider than its rows, are no table; send"
                                r" every row with the same columns, those the model takes",
                                message), message
        following = http.post("/invocations", json=records(frame[:3]))
        assert following.json()["predictions"] == model.predict(frame[:3]).tolist()


def test_far_more_columns_than_the_model_takes_are_one_problem(
        model_file: Path, frame: pd.DataFrame, model: Any) -> None:
    """A request naming over 1000 columns more than the model takes is refused with one
    problem giving both widths, before its table is built (a CSV row of a million columns
    held the event loop for 20 s); fewer extra columns are still reported one by one."""
    names = [*COLUMNS, *(f"k{i}" for i in range(2000))]
    requests = [
        {"json": {"dataframe_records": [dict.fromkeys(names, 1.0)]}},
        {"json": {"dataframe_split": {"columns": names, "data": [[1.0] * len(names)]}}},
        {"json": {"inputs": {name: [1.0] for name in names}}},
        {"content": (",".join(names) + "\n" + ",".join(["1.0"] * len(names))).encode(),
         "headers": CSV}]
    with thread_server(create_app(str(model_file))) as url, httpx.Client(base_url=url,
                                                                         timeout=30) as http:
        for request in requests:
            response = http.post("/invocations", **request)
            assert response.status_code == 422, response.text[:200]
            assert response.json()["problems"] == [{"column": None, "expected": "the model's 4"
                                                    " columns", "found": "2004 columns"}]
        few = http.post("/invocations", json={"dataframe_records": [
            dict.fromkeys([*COLUMNS, "x", "y"], 1.0)]})
        assert len(few.json()["problems"]) == 2
        following = http.post("/invocations", json=records(frame[:3]))
        assert following.json()["predictions"] == model.predict(frame[:3]).tolist()


def test_split_column_names_that_are_lists_are_400_saying_so(client: httpx.Client,
                                                             frame: pd.DataFrame) -> None:
    """A dataframe_split column named by a list is a 400 saying what names are (it was a 500)."""
    response = client.post("/invocations", json={"dataframe_split": {
        "columns": [["a"], "b", "c", "d"], "data": frame[:2].to_numpy().tolist()}})
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error_code": "RequestError", "message": "dataframe_split's columns must be a list of"
        " column names (strings or numbers), found 1 entries that are lists, objects or nulls"}


def test_a_csv_text_column_of_digits_stays_text(tmp_path: Path) -> None:
    """CSV values of a text column that look like numbers (zip codes) are read as text, zeros
    kept, as JSON strings are: pandas made them integers, which the schema refused (422)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"zip": rng.choice(["00123", "02139", "94105"], 100),
                          "x": rng.normal(size=100)})
    pipeline = make_pipeline(make_column_transformer((OneHotEncoder(), ["zip"]),
                                                     remainder="passthrough"),
                             LogisticRegression()).fit(frame, frame["zip"] == "00123")
    path = tmp_path / "zip.satchel"
    satchel.save(pipeline, path, sample=frame[:20])
    rows = pd.DataFrame({"zip": ["00123", "94105"], "x": [0.5, -0.5]})
    with thread_server(create_app(str(path))) as url, httpx.Client(base_url=url,
                                                                   timeout=30) as http:
        for body in (b"zip,x\n00123,0.5\n94105,-0.5\n", b'zip,x\n"00123",0.5\n94105,-0.5\n'):
            response = http.post("/invocations", content=body, headers=CSV)
            assert response.status_code == 200, response.text
            assert response.json()["predictions"] == pipeline.predict(rows).tolist() == [
                True, False]


def test_a_csv_row_longer_than_the_header_says_both_lengths(client: httpx.Client) -> None:
    """A first row with one value more than the header is refused, not scored with each value
    one column to the left of its name (pandas takes the extra first value as an index)."""
    response = client.post("/invocations", content=b"a,b,c,d\n7,1.0,2.0,3.0,4.0\n",
                           headers=CSV)
    assert response.status_code == 400, response.text
    assert "has 5 values but the header names 4 columns (a, b, c, d)" in (
        response.json()["message"])


def test_a_later_csv_row_longer_than_the_header_says_both_lengths(client: httpx.Client) -> None:
    """A later row with one value more than the header is refused naming its line and both
    lengths, as the first row is: the message was pandas' own ('Error tokenizing data. C
    error: Expected 4 fields in line 3, saw 5'), which said nothing of the header or the fix."""
    response = client.post("/invocations", content=b"a,b,c,d\n1,2,3,4\n1,2,3,4,5\n",
                           headers=CSV)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == (
        "the body is not valid CSV: line 3 of the body has 5 values but the header names 4"
        " columns (a, b, c, d): every row needs exactly one value per header column; remove"
        " the extra values or name their columns in the header")


def test_a_trailing_comma_is_read_as_the_end_of_each_row(client: httpx.Client,
                                                         frame: pd.DataFrame,
                                                         model: Any) -> None:
    """An empty last value on the first row (a trailing comma) ends every row, as pandas reads
    it with index_col=False: each value stays under its name, on the rows with one and without."""
    rows = frame[:3]
    lines = rows.to_csv(index=False).splitlines()
    body = "\n".join([lines[0], lines[1] + ",", lines[2], lines[3] + ","]) + "\n"
    response = client.post("/invocations", content=body.encode(), headers=CSV)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(rows).tolist()


def test_unknown_method_in_the_query(client: httpx.Client, frame: pd.DataFrame) -> None:
    """?method=NAME for a method the model lacks is a 400 that lists the methods it has."""
    response = client.post("/invocations?method=transform", json=records(frame[:1]))
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "RequestError", "message": "unknown method 'transform'; this model offers"
        " ['predict', 'predict_proba', 'decision_function']"}


@pytest.fixture(scope="module")
def array_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier of 4 unnamed features, whose schema does not look at values."""
    features = np.random.default_rng(1).normal(size=(40, 4))
    path = tmp_path_factory.mktemp("array") / "array.satchel"
    satchel.save(LogisticRegression().fit(features, features[:, 0] > 0), path)
    return path


def test_values_the_model_refuses_are_422_with_an_error_id_only(array_file: Path) -> None:
    """A ValueError of the model's own (infinity, which an array schema lets through) is
    the input's fault: 422 with an error id, and neither the message nor the values."""
    good = b"0.5,1.0,2.0,3.0\n"
    with thread_server(create_app(str(array_file))) as url:
        for rows in (b"1e400,1.0,2.0,31337.25\n", b"1e400,1.0,2.0,31337.25\n" + good):
            response = httpx.post(f"{url}/invocations", content=b"a,b,c,d\n" + rows,
                                  headers=CSV, timeout=30)
            assert response.status_code == 422
            failure = response.json()
            assert set(failure) == {"error_code", "message"}
            assert failure["error_code"] == "InputRejectedError"
            assert re.search(r"error id [0-9a-f]{12}$", failure["message"])
            for leak in ("Traceback", "infinity", "31337", "sklearn", ".py"):
                assert leak not in response.text
            assert httpx.post(f"{url}/invocations", content=b"a,b,c,d\n" + good,
                              headers=CSV, timeout=30).status_code == 200


def test_model_failure_is_500_with_an_error_id_only(tmp_path: Path, frame: pd.DataFrame
                                                    ) -> None:
    """Any other exception inside the model is a 500 with an id, and no traceback."""
    from sklearn.preprocessing import FunctionTransformer

    broken = make_pipeline(FunctionTransformer(np.round), LogisticRegression()).fit(
        frame, frame["a"] > 0)
    broken[0].kw_args = {"decimals": "two"}  # a TypeError in every call from now on
    path = tmp_path / "broken.satchel"
    satchel.save(broken, path)
    with thread_server(create_app(str(path))) as url:
        for rows in (frame[:1], frame[:2]):  # a batched single row, then two rows
            response = httpx.post(f"{url}/invocations", json=records(rows), timeout=30)
            assert response.status_code == 500
            failure = response.json()
            assert set(failure) == {"error_code", "error_id", "message"}
            assert failure["error_code"] == "InternalError"
            assert re.fullmatch(r"[0-9a-f]{12}", failure["error_id"])
            for leak in ("Traceback", "TypeError", "decimals", "sklearn", ".py"):
                assert leak not in response.text


# ------------------------------------------------------------------ 4. following an alias


def wait_for(check: Callable[[], bool], seconds: float = 15) -> None:
    """Poll ``check`` until it is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"still false after {seconds} s: {check.__doc__}")
        time.sleep(0.05)


@dataclass
class Traffic:
    """Requests sent in a loop by background threads, with every answer kept."""

    url: str
    bodies: list[dict[str, Any]]
    answers: list[tuple[int, int, Any]]
    running: threading.Event

    def loop(self, index: int) -> None:
        """Send the bodies round robin until stopped; keep (body index, status, predictions)."""
        with httpx.Client(base_url=self.url, timeout=30) as http:
            sent = index
            while self.running.is_set():
                which = sent % len(self.bodies)
                response = http.post("/invocations", json=self.bodies[which])
                payload = (response.json()["predictions"] if response.status_code == 200
                           else response.text)
                self.answers.append((which, response.status_code, payload))
                sent += 1


@contextlib.contextmanager
def traffic(url: str, bodies: list[dict[str, Any]], threads: int = 3) -> Iterator[Traffic]:
    """Background request loops for the duration of the block."""
    state = Traffic(url, bodies, [], threading.Event())
    state.running.set()
    workers = [threading.Thread(target=state.loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield state
    finally:
        state.running.clear()
        for worker in workers:
            worker.join(30)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """An empty registry: SQLite and a local artifact folder."""
    return Registry(str(tmp_path / "registry"))


def test_alias_move_switches_without_failing_requests(registry: Registry, frame: pd.DataFrame
                                                      ) -> None:
    """When the alias moves, the server switches to the new version; no request fails."""
    old, new = fit(frame), fit(frame, flip=True)
    first = registry.register("churn", old, sample=frame[:20])
    second = registry.register("churn", new, sample=frame[:20])
    registry.set_alias("churn", "production", 1)
    app = create_app("models:/churn@production", registry=registry, poll_interval=0.2)
    bodies = [records(frame[i:i + 1]) for i in range(8)] + [records(frame[:16])]
    expected = {version: [fitted.predict(pd.DataFrame(b["dataframe_records"])).tolist()
                          for b in bodies] for version, fitted in ((1, old), (2, new))}
    with thread_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/health").json()["version"] == 1
        with traffic(url, bodies) as load:
            wait_for(lambda: len(load.answers) > 30)
            registry.set_alias("churn", "production", 2)

            def switched() -> bool:
                """/health shows version 2."""
                return bool(http.get("/health").json()["version"] == 2)

            wait_for(switched)
            switched_at = len(load.answers)
            wait_for(lambda: len(load.answers) > switched_at + 30)
        health = http.get("/health").json()
        metrics = http.get("/metrics").text
    assert [a for a in load.answers if a[1] != 200] == []
    versions = []
    for which, _, predictions in load.answers:
        matches = [v for v in (1, 2) if predictions == expected[v][which]]
        assert matches, f"an answer matches neither version: {predictions}"
        versions.append(matches[0])
    assert versions[0] == 1
    assert versions[-10:] == [2] * 10
    assert (health["version"], health["digest"], health["last_error"]) == (
        2, second.digest, None)
    assert health["last_check"] is not None
    assert first.digest != second.digest
    assert metric(metrics, "satchel_model_info", name="churn", version="2",
                  digest=second.digest) == 1


def test_alias_moved_to_the_same_file_reports_the_new_version(
        registry: Registry, tmp_path: Path, frame: pd.DataFrame) -> None:
    """The same file registered again as version 2: when the alias moves to it, /health,
    /version, /metadata and /metrics name version 2 (version 1 may be gone), without a
    reload."""
    path = tmp_path / "churn.satchel"
    satchel.save(fit(frame), path, sample=frame[:20])
    registry.register("churn", str(path))
    registry.set_alias("churn", "production", 1)
    app = create_app("models:/churn@production", registry=registry, poll_interval=0.2)
    with thread_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/health").json()["version"] == 1
        loaded = app.state.server.holder.current.model
        second = registry.register("churn", str(path), description="the same bytes")
        registry.set_alias("churn", "production", second.version)
        registry.delete("churn", 1)

        def relabelled() -> bool:
            """/health shows version 2."""
            return bool(http.get("/health").json()["version"] == 2)

        wait_for(relabelled)
        health = http.get("/health").json()
        assert (health["digest"], health["last_error"]) == (second.digest, None)
        assert http.get("/version").json()["model_version"] == 2
        assert http.get("/metadata").json()["version"] == 2
        assert http.post("/invocations", json=records(frame[:2])).status_code == 200
        assert metric(http.get("/metrics").text, "satchel_model_info", name="churn",
                      version="2", digest=second.digest) == 1
        assert app.state.server.holder.current.model is loaded


def test_alias_moved_to_the_model_saved_again_loads_its_file(
        registry: Registry, tmp_path: Path, frame: pd.DataFrame) -> None:
    """The same fitted model saved again with another check sample is another stored file:
    when the alias moves to it, the server loads and verifies that file and serves its
    metadata; it relabelled the file already loaded, whose metadata it kept serving."""
    fitted = fit(frame)
    first, second = tmp_path / "first.satchel", tmp_path / "second.satchel"
    satchel.save(fitted, first, sample=frame[:20])
    satchel.save(fitted, second, sample=frame[20:25], metadata={"run": "second"})
    registry.register("churn", str(first))
    registry.set_alias("churn", "production", 1)
    app = create_app("models:/churn@production", registry=registry, poll_interval=30)
    holder = app.state.server.holder
    with thread_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        loaded = holder.current.model
        moved = registry.register("churn", str(second))
        assert moved.digest == registry.version("churn", 1).digest
        registry.set_alias("churn", "production", moved.version)
        asyncio.run(holder.refresh())
        served = holder.current
        assert (served.version, served.digest, holder.last_error) == (2, moved.digest, None)
        assert served.model is not loaded
        assert served.model.metadata == satchel.inspect(second).header.metadata
        assert http.get("/metadata").json()["environment"] == served.model.environment
        assert http.post("/invocations", json=records(frame[:2])).status_code == 200


def test_metrics_name_the_model_served_when_read(registry: Registry, frame: pd.DataFrame
                                                 ) -> None:
    """satchel_model_info names the model served when /metrics is read, with no request
    needed: it was missing until a first request, and named the old version after the alias
    moved until the next one."""
    first = registry.register("churn", fit(frame), sample=frame[:20])
    second = registry.register("churn", fit(frame, flip=True), sample=frame[:20])
    registry.set_alias("churn", "production", 1)
    app = create_app("models:/churn@production", registry=registry, poll_interval=0.2)
    with thread_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:

        def info(version: int, digest: str) -> float:
            return metric(http.get("/metrics").text, "satchel_model_info", name="churn",
                          version=str(version), digest=digest)

        assert info(1, first.digest) == 1
        registry.set_alias("churn", "production", 2)
        wait_for(lambda: bool(http.get("/health").json()["version"] == 2))
        assert (info(1, first.digest), info(2, second.digest)) == (0, 1)


def truncate(path: str) -> None:
    """Damage a stored artifact: keep only its first half."""
    size = os.path.getsize(path)
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def test_alias_to_a_damaged_version_keeps_the_old_one(registry: Registry, frame: pd.DataFrame
                                                      ) -> None:
    """If the new version fails to load, the old one keeps serving and /health says why."""
    old = fit(frame)
    registry.register("churn", old, sample=frame[:20])
    damaged = registry.register("churn", fit(frame, flip=True), sample=frame[:20])
    repaired = registry.register("churn", fit(frame[:150], flip=True), sample=frame[:20])
    truncate(registry.store.path(damaged.stored_as))
    registry.set_alias("churn", "production", 1)
    app = create_app("models:/churn@production", registry=registry, poll_interval=0.2)
    rows = frame[:10]
    with thread_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        with traffic(url, [records(rows)], threads=2) as load:
            registry.set_alias("churn", "production", 2)

            def failed() -> bool:
                """/health shows the failed switch."""
                return http.get("/health").json()["last_error"] is not None

            wait_for(failed)
            health = http.get("/health").json()
            assert (health["status"], health["version"]) == ("ok", 1)
            assert health["last_error"].startswith("IntegrityError: ")
            assert "truncated" in health["last_error"]
            response = http.post("/invocations", json=records(rows))
            assert response.status_code == 200
            assert response.json()["predictions"] == old.predict(rows).tolist()
            registry.set_alias("churn", "production", 3)

            def repaired_served() -> bool:
                """/health shows version 3."""
                return bool(http.get("/health").json()["version"] == 3)

            wait_for(repaired_served)
        health = http.get("/health").json()
    assert (health["digest"], health["last_error"]) == (repaired.digest, None)
    assert {status for _, status, _ in load.answers} == {200}


@pytest.mark.parametrize(("held", "found"), [
    ({"threshold": 0.5}, "holds a dict, not a model: a server needs a fitted estimator, with"
     " one of the methods predict, predict_proba, decision_function, transform,"
     " score_samples; give a file or version that holds one"),
    (LogisticRegression(), "holds a LogisticRegression that was never fitted: a server needs a"
     " fitted estimator, and this one would refuse every row; fit it before it is saved")])
def test_a_file_that_holds_no_fitted_model_is_not_served(tmp_path: Path, held: Any,
                                                         found: str) -> None:
    """A file that holds no model (a dict of settings), or a model saved before it was
    fitted, is not served, and /health says so. /health said "AttributeError: 'dict' object
    has no attribute 'unwrap'"; the unfitted model was served as ready, and every request
    was answered 422, the input blamed."""
    path = tmp_path / "held.satchel"
    satchel.save(held, path)
    with thread_server(create_app(str(path))) as url:
        health = httpx.get(f"{url}/health", timeout=30)
    assert health.status_code == 503
    assert health.json()["last_error"] == f"NotAModelError: {path} {found}"


def test_an_alias_moved_to_a_version_that_holds_no_model_keeps_the_old_one(
        registry: Registry, frame: pd.DataFrame) -> None:
    """An alias moved to a version that holds no model (a dict) leaves the old one serving,
    and /health says why."""
    old = fit(frame)
    registry.register("churn", old, sample=frame[:20])
    registry.register("churn", {"threshold": 0.5})
    registry.set_alias("churn", "production", 1)
    app = create_app("models:/churn@production", registry=registry, poll_interval=0.2)
    with thread_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        registry.set_alias("churn", "production", 2)
        wait_for(lambda: http.get("/health").json()["last_error"] is not None)
        health = http.get("/health").json()
        assert (health["status"], health["version"]) == ("ok", 1)
        assert health["last_error"].startswith(
            "NotAModelError: models:/churn/2 holds a dict, not a model")
        response = http.post("/invocations", json=records(frame[:5]))
    assert response.json() == {"predictions": old.predict(frame[:5]).tolist()}


def test_alias_to_a_version_with_a_flipped_array_bit_keeps_the_old_one(
        registry: Registry) -> None:
    """A new version whose array bytes changed on disk is refused by its checksum."""
    rng = np.random.default_rng(2)
    features = rng.normal(size=(100, 300))
    old = LogisticRegression().fit(features, features[:, 0] > 0)
    registry.register("wide", old, sample=features[:10])
    flipped = registry.register("wide", LogisticRegression(C=0.5).fit(features,
                                                                      features[:, 0] > 0),
                                sample=features[:10])
    path = registry.store.path(flipped.stored_as)
    info = satchel.inspect(path)
    coef = next(s for s in info.header.arrays if s.shape == (1, 300))
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:  # the lowest mantissa bit: predictions do not change
        handle.seek(info.header.data_start + coef.offset)
        byte = handle.read(1)[0]
        handle.seek(info.header.data_start + coef.offset)
        handle.write(bytes([byte ^ 1]))
    registry.set_alias("wide", "production", 1)
    app = create_app("models:/wide@production", registry=registry, poll_interval=0.2)
    with thread_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        registry.set_alias("wide", "production", 2)

        def decided() -> bool:
            """/health shows version 2 or a failed switch."""
            health = http.get("/health").json()
            return bool(health["version"] == 2 or health["last_error"] is not None)

        wait_for(decided)
        health = http.get("/health").json()
        assert health["version"] == 1
        assert health["last_error"] is not None
        assert health["last_error"].startswith("IntegrityError: ")
        response = http.post("/invocations", json={"instances": features[:5].tolist()})
        assert response.status_code == 200
        assert response.json()["predictions"] == old.predict(features[:5]).tolist()


# ------------------------------------------------------------------ 5. micro-batching


def test_batcher_gathers_waiting_rows_into_one_call() -> None:
    """32 rows submitted together make one call, and each caller gets its own row's output."""
    calls: list[tuple[str, int]] = []

    def call(method: str, rows: Any) -> Any:
        calls.append((method, len(rows)))
        return np.asarray(rows).sum(axis=1)

    async def main() -> list[Any]:
        batcher = Batcher(call, wait_ms=0)
        return await asyncio.gather(*(batcher.submit("predict", np.array([[i, 0.5]]))
                                      for i in range(32)))

    outputs = asyncio.run(main())
    assert calls == [("predict", 32)]
    assert [o.tolist() for o in outputs] == [[i + 0.5] for i in range(32)]


def test_batcher_calls_once_per_method() -> None:
    """Rows for different methods waiting together make one call per method."""
    calls: list[tuple[str, int]] = []

    def call(method: str, rows: Any) -> Any:
        calls.append((method, len(rows)))
        values = np.asarray(rows)[:, 0]
        return values * (10 if method == "predict_proba" else 1)

    async def main() -> list[Any]:
        batcher = Batcher(call, wait_ms=0)
        return list(await asyncio.gather(*(
            batcher.submit("predict_proba" if i % 2 else "predict", np.array([[float(i)]]))
            for i in range(20))))

    outputs = asyncio.run(main())
    assert sorted(calls) == [("predict", 10), ("predict_proba", 10)]
    assert [o.tolist() for o in outputs] == [[i * (10 if i % 2 else 1)] for i in range(20)]


def test_batcher_waits_for_more_rows_and_caps_the_batch() -> None:
    """With wait_ms, rows arriving a little later join the batch; max_rows caps its size."""
    calls: list[int] = []

    def call(method: str, rows: Any) -> Any:
        calls.append(len(rows))
        return np.asarray(rows)[:, 0]

    async def staggered(batcher: Batcher, i: int) -> Any:
        await asyncio.sleep(i * 0.001)
        return await batcher.submit("predict", np.array([[float(i)]]))

    async def main(wait_ms: float, count: int, max_rows: int) -> list[Any]:
        batcher = Batcher(call, wait_ms=wait_ms, max_rows=max_rows)
        return list(await asyncio.gather(*(staggered(batcher, i) for i in range(count))))

    outputs = asyncio.run(main(200, 32, 256))
    assert sum(calls) == 32
    assert len(calls) <= 2
    assert [o.tolist() for o in outputs] == [[float(i)] for i in range(32)]
    calls.clear()
    outputs = asyncio.run(main(0, 1, 256))
    assert calls == [1]

    async def burst() -> list[Any]:
        batcher = Batcher(call, wait_ms=0, max_rows=256)
        return list(await asyncio.gather(*(batcher.submit("predict", np.array([[float(i)]]))
                                           for i in range(300))))

    calls.clear()
    outputs = asyncio.run(burst())
    assert calls == [256, 44]
    assert [o.tolist() for o in outputs] == [[float(i)] for i in range(300)]


def test_batcher_concatenates_frames_and_isolates_failing_rows() -> None:
    """One-row frames are concatenated; a failing batch is retried row by row."""
    seen: list[Any] = []

    def call(method: str, rows: Any) -> Any:
        seen.append(rows)
        if (rows["a"] < 0).any():
            raise ValueError("negative")
        return rows["a"].to_numpy() * 2

    async def main() -> tuple[list[Any], Any]:
        batcher = Batcher(call, wait_ms=0)
        failing = await asyncio.gather(*(
            batcher.submit("predict", pd.DataFrame({"a": [float(i) - 1]})) for i in range(4)),
            return_exceptions=True)
        working = await asyncio.gather(*(
            batcher.submit("predict", pd.DataFrame({"a": [float(i)]})) for i in range(4)))
        return list(failing), working

    failing, working = asyncio.run(main())
    assert isinstance(failing[0], ValueError)
    assert [f.tolist() for f in failing[1:]] == [[0.0], [2.0], [4.0]]
    assert [w.tolist() for w in working] == [[0.0], [2.0], [4.0], [6.0]]
    assert [list(batch["a"]) for batch in seen] == [
        [-1.0, 0.0, 1.0, 2.0], [-1.0], [0.0], [1.0], [2.0], [0.0, 1.0, 2.0, 3.0]]
    assert list(seen[-1].index) == [0, 1, 2, 3]


async def concurrent_rows(url: str, frame: pd.DataFrame, method: str) -> list[Any]:
    """One single-row request per row of ``frame``, all at once; the predictions in order."""
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as http:
        responses = await asyncio.gather(*(
            http.post(f"/invocations?method={method}", json=records(frame[i:i + 1]))
            for i in range(len(frame))))
    assert [r.status_code for r in responses] == [200] * len(frame)
    return [r.json()["predictions"][0] for r in responses]


@pytest.mark.parametrize("batch_wait_ms", [20.0, 0.0, None], ids=["wait-20ms", "no-wait", "off"])
def test_concurrent_single_rows_each_get_their_prediction(
        model_file: Path, model: Any, frame: pd.DataFrame, batch_wait_ms: float | None) -> None:
    """32 concurrent one-row requests each get their own row's prediction, batched or not."""
    rows = frame[100:132].reset_index(drop=True)
    app = create_app(str(model_file), batch_wait_ms=batch_wait_ms)
    with thread_server(app) as url:
        probabilities = asyncio.run(concurrent_rows(url, rows, "predict_proba"))
        classes = asyncio.run(concurrent_rows(url, rows, "predict"))
    np.testing.assert_allclose(probabilities, model.predict_proba(rows), rtol=1e-12, atol=1e-15)
    assert classes == model.predict(rows).tolist()


async def post_all(url: str, requests: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send the first request, then all the others at once; the responses in order.

    With a long batch wait, the first request opens a batch that the others join.
    """
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as http:
        first = asyncio.create_task(http.post("/invocations", **requests[0]))
        await asyncio.sleep(0.1)
        others = await asyncio.gather(*(http.post("/invocations", **r) for r in requests[1:]))
        return [await first, *others]


def test_a_failing_row_fails_only_its_own_request(array_file: Path) -> None:
    """A row the model fails on, batched with 31 others, gets its 422; the others get 200."""
    rows = np.random.default_rng(2).normal(size=(31, 4))
    requests: list[dict[str, Any]] = [{"json": {"instances": rows[i:i + 1].tolist()}}
                                      for i in range(31)]
    requests.insert(5, {"content": b"a,b,c,d\ninf,1.0,2.0,3.0\n", "headers": CSV})
    with thread_server(create_app(str(array_file), batch_wait_ms=500)) as url:
        responses = asyncio.run(post_all(url, requests))
    assert [r.status_code for r in responses] == [200] * 5 + [422] + [200] * 26
    valid = responses[:5] + responses[6:]
    expected = satchel.load(array_file).unwrap().predict(rows).tolist()
    assert [r.json()["predictions"][0] for r in valid] == expected


def test_array_model_batches_rows_sent_in_different_formats(tmp_path: Path) -> None:
    """Single rows for an array model, as dataframe_split and as instances, batch together."""
    features = np.random.default_rng(4).normal(size=(64, 4))
    fitted = LogisticRegression().fit(features, features[:, 0] > 0)
    path = tmp_path / "array.satchel"
    satchel.save(fitted, path, sample=features)
    requests = [{"json": {"dataframe_split": {"columns": ["x0", "x1", "x2", "x3"],
                                              "data": features[i:i + 1].tolist()}}}
                if i % 2 == 0 else {"json": {"instances": features[i:i + 1].tolist()}}
                for i in range(32)]
    with thread_server(create_app(str(path), batch_wait_ms=500)) as url:
        responses = asyncio.run(post_all(url, requests))
    assert [r.status_code for r in responses] == [200] * 32
    assert [r.json()["predictions"][0] for r in responses] == fitted.predict(
        features[:32]).tolist()


# ------------------------------------------------------------------ 7. a mixed load


@dataclass(frozen=True)
class Job:
    """One request of the load test and what its answer must be."""

    kind: str
    url: str
    body: bytes
    headers: dict[str, str]
    status: int
    expected: Any = None


KINDS = ("records", "split", "instances", "csv", "proba", "malformed", "columns", "types",
         "oversize", "media", "method")


@dataclass(frozen=True)
class Pool:
    """Rows to send and the model's outputs for them, computed once."""

    frame: pd.DataFrame
    values: list[list[float]]
    labels: list[int]
    probabilities: list[list[float]]

    @classmethod
    def of(cls, frame: pd.DataFrame, model: Any) -> Pool:
        """The pool of ``frame``'s rows."""
        frame = frame.reset_index(drop=True)
        return cls(frame, frame.to_numpy().tolist(), model.predict(frame).tolist(),
                   model.predict_proba(frame).tolist())

    def records(self, start: int, stop: int, **replace: Any) -> list[dict[str, Any]]:
        """Rows ``start:stop`` as record objects, with some columns replaced or renamed."""
        names = [replace.get(name, name) for name in COLUMNS]
        return [dict(zip(names, row, strict=True)) for row in self.values[start:stop]]


def job(kind: str, pool: Pool, start: int, stop: int, big: bytes) -> Job:
    """A request of ``kind`` for rows ``start:stop`` and the answer it must get."""
    body = orjson.dumps({"dataframe_records": pool.records(start, stop)})
    labels = pool.labels[start:stop]
    if kind == "records":
        return Job(kind, "/invocations", body, JSON, 200, labels)
    if kind == "split":
        split = {"columns": COLUMNS, "data": pool.values[start:stop]}
        return Job(kind, "/invocations", orjson.dumps({"dataframe_split": split}), JSON, 200,
                   labels)
    if kind == "instances":
        instances = orjson.dumps({"instances": pool.values[start:stop]})
        return Job(kind, "/invocations", instances, JSON, 200, labels)
    if kind == "csv":
        csv = pool.frame[start:stop].to_csv(index=False).encode()
        return Job(kind, "/invocations", csv, CSV, 200, labels)
    if kind == "proba":
        return Job(kind, "/invocations?method=predict_proba", body, JSON, 200,
                   pool.probabilities[start:stop])
    if kind == "columns":
        renamed = orjson.dumps({"dataframe_records": pool.records(start, stop, c="cc")})
        return Job(kind, "/invocations", renamed, JSON, 422)
    if kind == "types":
        texts = [{**r, "b": SECRET} for r in pool.records(start, stop)]
        return Job(kind, "/invocations", orjson.dumps({"dataframe_records": texts}), JSON, 422)
    return {
        "malformed": Job(kind, "/invocations", body[:-3], JSON, 400),
        "oversize": Job(kind, "/invocations", big, JSON, 413),
        "media": Job(kind, "/invocations", body, {"content-type": "text/xml"}, 415),
        "method": Job(kind, "/invocations?method=explode", body, JSON, 400),
    }[kind]


def load_jobs(pool: Pool, count: int) -> list[Job]:
    """``count`` requests, valid and invalid of every kind, of 1 to 8 rows drawn at random."""
    pick = random.Random(7)
    big = orjson.dumps({"dataframe_records": pool.records(0, 80)})
    jobs = []
    for index in range(count):
        start = pick.randrange(len(pool.values) - 8)
        stop = start + pick.choice((1, 1, 1, 3, 8))
        jobs.append(job(KINDS[index % len(KINDS)], pool, start, stop, big))
    return jobs


def send_all(url: str, jobs: list[Job], clients: int) -> list[tuple[Job, int, bytes]]:
    """Send ``jobs`` through ``clients`` concurrent keep-alive clients; every answer."""
    answers: list[tuple[Job, int, bytes]] = []

    def one_client(share: list[Job]) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for each in share:
                response = http.post(each.url, content=each.body, headers=each.headers)
                answers.append((each, response.status_code, response.content))

    threads = [threading.Thread(target=one_client, args=(jobs[i::clients],))
               for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def wrong(job: Job, status: int, content: bytes) -> bool:
    """Whether an answer is not the one ``job`` must get."""
    if status != job.status:
        return True
    body = orjson.loads(content)
    if status != 200:
        return "error_code" not in body or SECRET in content.decode()
    if job.kind == "proba":
        return not np.allclose(body["predictions"], job.expected, rtol=1e-12, atol=1e-15)
    return bool(body["predictions"] != job.expected)


@pytest.mark.slow
def test_mixed_load_of_ten_thousand_requests(tmp_path: Path, model_file: Path, model: Any,
                                             frame: pd.DataFrame) -> None:
    """10,000 concurrent valid and invalid requests each get the right status and answer."""
    jobs = load_jobs(Pool.of(frame, model), 10_000)
    with cli_server(tmp_path / "serve.log", str(model_file),
                    "--max-body-bytes", "4096") as (url, _):
        answers = send_all(url, jobs, clients=16)
        ping = httpx.get(f"{url}/ping", timeout=30)
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
    assert len(answers) == 10_000
    failures = [(job.kind, job.status, status, content[:200]) for job, status, content in answers
                if wrong(job, status, content)]
    assert failures == [], f"{len(failures)} wrong answers, e.g. {failures[:5]}"
    assert not any(status >= 500 for _, status, _ in answers)
    assert (ping.status_code, ping.text) == (200, "ok")
    counted = sum(metric(metrics, "satchel_requests_total", status=str(s), method=m)
                  for s in (200, 400, 413, 415, 422)
                  for m in ("predict", "predict_proba", "other"))
    assert counted == 10_000


# ------------------------------------------------------------------ 8. workers share memory


def wide_model(classes: int, features: int) -> LogisticRegression:
    """A classifier whose coef_ is a (classes, features) float64 array of noise."""
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(20, features))
    fitted = LogisticRegression(max_iter=5).fit(rows, np.arange(20) % 2)
    fitted.coef_ = rng.normal(size=(classes, features))
    fitted.intercept_ = np.zeros(classes)
    fitted.classes_ = np.arange(classes)
    return fitted


def model_mapped(workers: list[psutil.Process], path: Path) -> list[int]:
    """The bytes of ``path`` resident in each worker's memory map."""
    return [sum(m.rss for m in worker.memory_maps(grouped=True) if m.path == str(path))
            for worker in workers]


def own_memory(worker: psutil.Process, path: Path) -> int:
    """A worker's anonymous memory plus its share (PSS) of the mapped model file.

    Shared libraries are left out: their PSS depends on how many other Python processes on
    the machine map them, which says nothing about the model.
    """
    return sum(m.pss if m.path == str(path) else m.anonymous
               for m in worker.memory_maps(grouped=True))


@contextlib.contextmanager
def warmed_server(log: Path, path: Path, workers: int, features: int, array_bytes: int
                  ) -> Iterator[list[psutil.Process]]:
    """``satchel serve PATH --workers N`` once each worker has predicted; yields its processes.

    Those are the workers and, with several, the parent that loaded the model and forked them.
    """
    body = orjson.dumps({"instances": [[0.5] * features] * 2})
    with cli_server(log, str(path), "--workers", str(workers)) as (url, process):
        processes = workers_of(process)
        assert len(processes) == workers
        for attempt in range(80):  # a new connection each time, so that every worker predicts
            with httpx.Client(base_url=url, timeout=60) as http:
                assert http.post("/invocations", content=body, headers=JSON).status_code == 200
            if attempt >= 4 * workers and all(r >= 0.95 * array_bytes for r in
                                              model_mapped(processes, path)):
                break
        assert all(r >= 0.95 * array_bytes for r in model_mapped(processes, path))
        yield [process, *process.children()]


@pytest.mark.slow
def test_workers_share_the_model_arrays(tmp_path: Path) -> None:
    """A second worker adds less than 10% of the model's array bytes to the total memory."""
    # 2,000 classes x 10,000 features: as big as 10 x 2,000,000 (160 MB of coefficients) with
    # short rows, so that request buffers stay small next to the arrays being measured.
    classes, features = 2_000, 10_000
    wide, small = tmp_path / "wide.satchel", tmp_path / "small.satchel"
    satchel.save(wide_model(classes, features), wide)
    satchel.save(wide_model(2, features), small)
    array_bytes = classes * features * 8
    memory = {}
    for workers in (1, 2):  # the wide and the small model side by side, each in its own file
        with warmed_server(tmp_path / f"wide-{workers}.log", wide, workers, features,
                           array_bytes) as big, \
                warmed_server(tmp_path / f"small-{workers}.log", small, workers, features,
                              0) as little:
            memory["wide", workers] = sum(own_memory(w, wide) for w in big)
            memory["small", workers] = sum(own_memory(w, small) for w in little)
    one_worker_model = memory["wide", 1] - memory["small", 1]
    second_worker = memory["wide", 2] - memory["wide", 1]
    second_worker_without_model = memory["small", 2] - memory["small", 1]
    assert one_worker_model > 0.9 * array_bytes, memory  # the measure does see the arrays
    assert second_worker - second_worker_without_model < 0.1 * array_bytes, memory


# ------------------------------------------------------------------ 9. the fast path


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pd.DataFrame, Any, Path]:
    """The quickstart pipeline (a ColumnTransformer, then a classifier), fitted and saved."""
    frame, labels = demo_data(300)
    pipeline = demo_pipeline().fit(frame, labels)
    path = tmp_path_factory.mktemp("churn") / "pipeline.satchel"
    satchel.save(pipeline, path, sample=frame)
    return pipeline, frame, labels, path


def as_json(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as JSON carries them: categories become plain strings."""
    return rows.astype({c: object for c in rows.columns if rows[c].dtype == "category"})


BODIES: dict[str, Callable[[pd.DataFrame], dict[str, Any]]] = {
    "dataframe_split": lambda r: {"dataframe_split": r.to_dict(orient="split", index=False)},
    "dataframe_records": lambda r: {"dataframe_records": r.to_dict(orient="records")},
    "instances": lambda r: {"instances": r.to_dict(orient="split")["data"]},
    "inputs": lambda r: {"inputs": r.to_dict(orient="list")},
}


@pytest.mark.parametrize("kind", BODIES)
def test_fast_columns_give_the_frame_the_schema_gives(churn: Any, kind: str) -> None:
    """Rows that fit the schema become columns whose frame equals the general path's, validated."""
    _, frame, _, path = churn
    model = satchel.load(path)
    body = orjson.dumps(BODIES[kind](as_json(frame[:7])))
    fast, _ = parse(body, "application/json", model.input_schema, layout(model.input_schema))
    general, _ = parse(body, "application/json", model.input_schema)
    assert isinstance(fast, Columns)
    assert len(fast) == 7
    pd.testing.assert_frame_equal(fast.frame(), model.validate(general))


@pytest.mark.parametrize("change", [
    {"tenure_months": None}, {"tenure_months": True}, {"tenure_months": 2.0},
    {"monthly_charges": "70"}, {"plan": 3}, {"extra": 1}, {"plan": ...}])
def test_fast_columns_leave_everything_else_to_the_schema(churn: Any,
                                                          change: dict[str, Any]) -> None:
    """A null, a bool or a float for an integer, a wrong type, an odd column: the general path."""
    _, frame, _, path = churn
    found = layout(satchel.load(path).input_schema)
    assert found is not None
    record = {**as_json(frame[:1]).to_dict(orient="records")[0], **change}
    record = {k: v for k, v in record.items() if v is not ...}
    assert columns("dataframe_records", [record], found) is None
    assert columns("dataframe_split", {"columns": list(record), "data": [list(record.values())],
                                       "index": [0]}, found) is None


def test_pipeline_plan_reproduces_the_pipeline(churn: Any) -> None:
    """The quickstart pipeline is compiled for its methods and gives exactly its outputs."""
    pipeline, frame, _, path = churn
    served = Holder(str(path)).load_now()
    assert served.plan is not None
    assert served.layout is not None
    assert served.plan.methods == {"predict", "predict_proba", "decision_function"}
    rows = columns("dataframe_split", as_json(frame[:40]).to_dict(orient="split", index=False),
                   served.layout)
    assert rows is not None
    for method in sorted(served.plan.methods):
        np.testing.assert_array_equal(served.plan.run(method, rows),
                                      getattr(pipeline, method)(frame[:40]))


def test_no_plan_for_a_nested_pipeline_and_the_pipeline_still_answers(tmp_path: Path) -> None:
    """A ColumnTransformer holding a pipeline is not compiled; the model predicts as before."""
    frame, labels = demo_data(200)
    pipeline = demo_pipeline()
    pipeline.set_params(columns__numbers=make_pipeline(StandardScaler()))
    pipeline.fit(frame, labels)
    satchel.save(pipeline, tmp_path / "nested.satchel", sample=frame)
    served = Holder(str(tmp_path / "nested.satchel")).load_now()
    assert served.plan is None
    with thread_server(create_app(str(tmp_path / "nested.satchel"))) as url:
        body = BODIES["dataframe_split"](as_json(frame[:5]))
        answer = httpx.post(f"{url}/invocations", json=body, timeout=30).json()
    assert answer["predictions"] == pipeline.predict(frame[:5]).tolist()


def test_a_row_the_plan_fails_on_fails_as_in_the_pipeline_alone(churn: Any,
                                                                tmp_path: Path) -> None:
    """An unknown category under handle_unknown='error' is the model's 422; its batch mates
    are answered."""
    _, frame, labels, _ = churn
    strict = demo_pipeline().set_params(columns__categories__handle_unknown="error")
    strict.fit(frame, labels)
    satchel.save(strict, tmp_path / "strict.satchel", sample=frame)
    rows = as_json(frame[:12]).reset_index(drop=True)
    rows.loc[5, "plan"] = "gold"
    with thread_server(create_app(str(tmp_path / "strict.satchel"))) as url:
        responses = asyncio.run(post_all(url, [
            {"json": BODIES["dataframe_records"](rows[i:i + 1])} for i in range(12)]))
    assert [r.status_code for r in responses] == [422 if i == 5 else 200 for i in range(12)]
    assert responses[5].json()["error_code"] == "InputRejectedError"
    assert "gold" not in responses[5].text
    expected = strict.predict(frame[:12]).tolist()
    assert [r.json()["predictions"][0] for i, r in enumerate(responses) if i != 5] == [
        label for i, label in enumerate(expected) if i != 5]


def test_values_a_text_model_cannot_read_are_422(tmp_path: Path) -> None:
    """Numbers, nulls or lists sent to a text pipeline (which has no input schema) are a
    422, as values a model refuses with ValueError are: its TypeError or AttributeError
    ('int' object has no attribute 'lower') was a 500."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["good film", "great fun", "bad movie", "awful plot"]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, [1, 1, 0, 0])
    path = tmp_path / "texts.satchel"
    satchel.save(model, path, sample=texts)
    with thread_server(create_app(str(path))) as url, httpx.Client(base_url=url,
                                                                  timeout=30) as http:
        answers = [http.post("/invocations", json={"instances": value})
                   for value in ([1], [None], [1.5], [["a"]])]
        following = http.post("/invocations", json={"instances": ["good fun"]})
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json()["error_code"] == "InputRejectedError"
        assert answer.json()["message"].startswith("the model refused the input (")
    assert following.json() == {"predictions": model.predict(["good fun"]).tolist()}


def test_a_body_that_stops_arriving_is_408_and_freed(model_file: Path) -> None:
    """A request whose body stops before its declared length is answered 408 once the body
    timeout passes: it waited for good, holding what had come, so that clients that stall
    could fill the server's memory."""
    with thread_server(create_app(str(model_file), body_timeout=0.5)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\ncontent-type:"
                               b" application/json\r\ncontent-length: 1000\r\n\r\n{}")
            started = time.monotonic()
            answer = connection.recv(65536)
            waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"error_code":"RequestTimeoutError"' in answer
    assert b"the body did not arrive within 0.5 s (2 bytes came)" in answer
    assert waited < 5


def test_a_text_model_takes_a_table_of_one_column_as_one_text_per_row(tmp_path: Path) -> None:
    """A pipeline that starts with a text vectorizer gets a CSV body's or a dataframe_split's
    one column as its texts, a prediction per row: given the table, the vectorizer read its
    column name as the only text and the answer held one prediction for all the rows. A
    table of several columns, which such a model cannot read, is a 400."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["good film", "great fun", "bad movie", "awful plot", "good fun", "bad plot"]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, [1, 1, 0, 0, 1, 0])
    path = tmp_path / "texts.satchel"
    satchel.save(model, path, sample=texts)
    expected = model.predict(["good film", "bad movie", "awful"]).tolist()
    with thread_server(create_app(str(path))) as url, httpx.Client(base_url=url,
                                                                  timeout=30) as http:
        csv = http.post("/invocations", content=b"review\ngood film\nbad movie\nawful\n",
                        headers={"content-type": "text/csv"})
        split = http.post("/invocations", json={"dataframe_split": {
            "columns": ["review"], "data": [["good film"], ["bad movie"], ["awful"]]}})
        instances = http.post("/invocations", json={"instances": ["good film", "bad movie",
                                                                  "awful"]})
        wide = http.post("/invocations", json={"dataframe_split": {
            "columns": ["review", "stars"], "data": [["good film", 5], ["awful", 1]]}})
    for answer in (csv, split, instances):
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": expected}
    assert wide.status_code == 400
    assert wide.json()["message"] == (
        "the model takes one text per row (its first step is TfidfVectorizer), found 2"
        " columns: give one column of texts")
