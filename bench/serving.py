"""HTTP serving: ``satchel serve`` against ``mlflow models serve`` on the same pipeline.

Run from the project root::

    .venv/bin/python bench/serving.py [--rounds 3] [--json out.json] [--mlflow-python PATH]

The pipeline is the quickstart's (``satchel.quickstart.demo_pipeline``: a
ColumnTransformer of StandardScaler on the numeric columns and OneHotEncoder on
the categorical ones, then LogisticRegression), fitted on ``demo_data()``
(2,000 rows). It is saved with ``satchel.save`` (with a sample, so the server
validates inputs against the inferred schema) and, in a separate virtualenv,
with ``mlflow.sklearn.save_model`` (with a signature from ``infer_signature``,
so MLflow enforces its schema too). The fitted pipeline crosses to that
virtualenv as a pickle, so both servers hold the very same model.

MLflow lives in its own virtualenv, ``/tmp/mlflow-venv`` by default
(``--mlflow-python`` names its interpreter). If it is missing the script
creates it, which takes a few minutes; by hand::

    python3 -m venv /tmp/mlflow-venv
    /tmp/mlflow-venv/bin/pip install mlflow scikit-learn==X pandas==Y numpy==Z

with X, Y, Z the versions of this virtualenv (the pickle needs them to match).

Each server (``--servers``, in this order, one after the other) is started
``--cold-starts`` times; the last instance stays up for the measurements:

- **cold start**: from ``Popen`` to the first ``GET /ping`` answered 200
  (polled every 20 ms), median over the starts.
- **single row**: ``--requests`` (2,000) sequential ``POST /invocations``
  with one row each, over one keep-alive ``http.client`` connection, after 200
  warm-up requests; p50 and p99 of the client-side latency.
- **throughput**: ``--clients`` (8) threads, each with its own keep-alive
  connection, send single-row requests back to back for ``--seconds`` (15);
  completed requests per second, and the latency percentiles under load.
  The client shares the machine's cores with the server; its CPU time and the
  server's are reported.
- **batch**: one request of 1,000 rows, median of 20 after 3 warm-ups.
- **memory**: RSS, PSS and USS (psutil's ``memory_full_info``, the same for
  both servers) of every process of the server, after the load; and of a
  separate start with ``--memory-workers`` (2) workers, after 20 requests per
  worker, each on a new connection. ``mlflow models serve`` is a CLI process
  that runs uvicorn as a child, which with several workers spawns them (each
  imports and loads everything itself); ``satchel serve --workers 1`` is one
  process, and with several it loads the model in a parent that forks the
  workers. The workers are the processes without children. The target, as the
  issue states it, compares the RSS per worker of the multi-worker start. RSS
  counts shared pages in full in every process (a forked worker's RSS includes
  the parent's memory whose page tables it inherited), so the USS per worker
  (the pages only that worker holds: what one more worker costs), the PSS per
  worker and the PSS total of all the server's processes are shown beside it.

All servers get the same request bodies (``dataframe_split``); the 1,000-row
predictions of every server are compared. Both run one worker
(``--workers``, passed to each); satchel runs with its default micro-batching
("satchel") and with ``--no-batching`` ("satchel-nobatch").

``--rounds N`` runs the servers in turn N times (satchel, MLflow, satchel,
MLflow...) and shows the median of each figure over the rounds, which evens out
other work on the machine; the load average and CPU pressure before and after
are printed, since they skew every figure. The server CPU time per request
(psutil, all the server's processes) is shown beside the wall-clock figures: it
is less sensitive to such noise, though not immune to it.

``--py-spy DIR``, after the measurements of each server (in the last round),
records the server under the same concurrent load for ``--profile-seconds``
with py-spy (raw collapsed stacks in DIR); those runs are not part of the
numbers.

Targets: satchel's single-row p50 <= 0.5x MLflow's, throughput >= 4x, cold
start <= 0.3x and RSS per worker <= 0.5x (with ``--memory-workers`` workers).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import sklearn
from common import machine_load, progress

import satchel
from satchel.quickstart import demo_data, demo_pipeline

HOST = "127.0.0.1"
DEFAULT_MLFLOW_VENV = Path("/tmp/mlflow-venv")
MIB = 1024 * 1024
READY_TIMEOUT = 300.0
POLL_INTERVAL = 0.02
MAX_REQUESTS_PER_CLIENT = 2_000_000
JSON_HEADERS = {"Content-Type": "application/json"}
PORT = "--port"
SERVERS = ("satchel", "satchel-nobatch", "mlflow")
WARMUP = 200

#: Run by the MLflow virtualenv's interpreter: argv = pickle path, model directory.
SAVE_MLFLOW_MODEL = """
import json, pickle, sys
import mlflow, mlflow.sklearn, sklearn
from mlflow.models import infer_signature
with open(sys.argv[1], "rb") as handle:
    pipeline, frame = pickle.load(handle)
signature = infer_signature(frame, pipeline.predict(frame))
mlflow.sklearn.save_model(pipeline, sys.argv[2], signature=signature)
print(json.dumps({"mlflow": mlflow.__version__, "sklearn": sklearn.__version__}))
"""




# ------------------------------------------------------------------ models


def ensure_mlflow_venv(python: Path) -> None:
    """Create the MLflow virtualenv behind ``python`` if it does not exist yet."""
    if python.exists():
        return
    venv = python.parent.parent
    pins = [f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}"]
    progress(f"{python} does not exist: creating a virtualenv for MLflow in {venv} and"
             f" installing mlflow {' '.join(pins)} (a few minutes). Pass --mlflow-python to"
             " use an existing one.")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "mlflow", *pins],
                   check=True, timeout=3600)


def save_models(folder: Path, mlflow_python: Path) -> dict[str, Any]:
    """Fit the quickstart pipeline; save it for satchel and for MLflow; return paths."""
    frame, labels = demo_data()
    pipeline = demo_pipeline().fit(frame, labels)
    satchel_file = folder / "pipeline.satchel"
    satchel.save(pipeline, satchel_file, sample=frame)
    pickled = folder / "pipeline.pkl"
    with open(pickled, "wb") as handle:
        pickle.dump((pipeline, json_frame(frame.head(200))), handle, protocol=5)
    model_dir = folder / "mlflow-model"
    done = subprocess.run([str(mlflow_python), "-c", SAVE_MLFLOW_MODEL, str(pickled),
                           str(model_dir)], capture_output=True, text=True, check=False,
                          timeout=600, env=mlflow_environment(mlflow_python))
    if done.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{done.stderr[-3000:]}")
    versions = json.loads(done.stdout.strip().splitlines()[-1])
    if versions["sklearn"] != sklearn.__version__:
        progress(f"warning: MLflow's virtualenv has scikit-learn {versions['sklearn']},"
                 f" this one {sklearn.__version__}")
    return {"frame": frame, "satchel_file": satchel_file, "mlflow_model": model_dir,
            "versions": versions}


def json_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as a JSON request delivers it: categories become plain strings."""
    return frame.astype({c: str for c in frame.columns if frame[c].dtype == "category"})


def split_body(frame: pd.DataFrame) -> bytes:
    """A ``dataframe_split`` request body for ``frame``."""
    split = json_frame(frame).to_dict(orient="split", index=False)
    return json.dumps({"dataframe_split": split}).encode()


# ----------------------------------------------------------------- servers


def mlflow_environment(mlflow_python: Path) -> dict[str, str]:
    """Environment for MLflow: its virtualenv first on PATH (it runs ``uvicorn``), no telemetry."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=f"{mlflow_python.parent}{os.pathsep}{env.get('PATH', '')}",
               VIRTUAL_ENV=str(mlflow_python.parent.parent), MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true")
    return env


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """One running server: its process group, port and log."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    cold_starts: list[float] = field(default_factory=list)
    known: list[psutil.Process] = field(default_factory=list)

    def start(self) -> None:
        """Start the server in its own process group, on a fresh port; the clock starts here."""
        self.port = free_port()
        self.command[self.command.index(PORT):] = [PORT, str(self.port)]
        with open(self.log, "ab") as log:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> float:
        """Seconds from start to the first ``/ping`` answered 200."""
        assert self.process is not None
        deadline = self.started + READY_TIMEOUT
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log.read_text()[-3000:]}")
            if ping(self.port):
                seconds = time.perf_counter() - self.started
                self.known = [*self.known, *self.processes()[1]]
                return seconds
            time.sleep(POLL_INTERVAL)
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT:.0f} s; see {self.log}")

    def stop(self) -> None:
        """Stop the server and every process it started: SIGTERM, then SIGKILL after 20 s.

        The descendants are listed before the signal: a child whose parent exits
        first is re-parented and would otherwise be missed (and keep its port).
        """
        if self.process is None:
            return
        everyone = [p for p in self.known if p.is_running()]
        if self.process.poll() is None:
            root, children = self.processes()
            everyone += [root, *children]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        for process in everyone:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, alive = psutil.wait_procs(list({p.pid: p for p in everyone}.values()), timeout=20)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=10)
        self.process.wait(timeout=10)
        self.known = []

    def processes(self) -> tuple[psutil.Process, list[psutil.Process]]:
        """The started process and all its descendants."""
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        return root, root.children(recursive=True)


def ping(port: int) -> bool:
    """Whether ``GET /ping`` answers 200 now."""
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def server_for(name: str, models: dict[str, Any], mlflow_python: Path, workers: int,
               logs: Path) -> Server:
    """The command and environment that start server ``name`` (the port comes last)."""
    if name == "mlflow":
        command = [str(mlflow_python.parent / "mlflow"), "models", "serve", "-m",
                   str(models["mlflow_model"]), "--env-manager", "local", "-h", HOST,
                   "--workers", str(workers)]
        env = mlflow_environment(mlflow_python)
    else:
        command = [sys.executable, "-m", "satchel", "serve", str(models["satchel_file"]),
                   "--host", HOST, "--workers", str(workers)]
        if name == "satchel-nobatch":
            command.append("--no-batching")
        env = dict(os.environ)
    return Server(name, [*command, PORT, "0"], env, 0, logs / f"{name}.log")


# ------------------------------------------------------------------ client


class Client:
    """One keep-alive HTTP/1.1 connection to a server."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)

    def post(self, body: bytes) -> bytes:
        """``POST /invocations``; the response body (an error unless the status is 200)."""
        self.connection.request("POST", "/invocations", body, JSON_HEADERS)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
        return data

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


@contextlib.contextmanager
def client(port: int) -> Iterator[Client]:
    """A connected client, closed on exit."""
    opened = Client(port)
    try:
        yield opened
    finally:
        opened.close()


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50, p90, p99 and mean of latencies, in milliseconds."""
    values = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(values, 50)), "p90_ms": float(np.percentile(values, 90)),
            "p99_ms": float(np.percentile(values, 99)), "mean_ms": float(values.mean()),
            "count": len(values)}


def single_row_latency(port: int, bodies: list[bytes], requests: int,
                       warmup: int = WARMUP) -> dict[str, float]:
    """Latency of sequential single-row requests over one keep-alive connection."""
    latencies = []
    with client(port) as http:
        for index in range(warmup):
            http.post(bodies[index % len(bodies)])
        for index in range(requests):
            start = time.perf_counter()
            http.post(bodies[index % len(bodies)])
            latencies.append(time.perf_counter() - start)
    return percentiles(latencies)


def _load_worker(port: int, bodies: list[bytes], barrier: threading.Barrier,
                 deadline: list[float], latencies: list[float], errors: list[str]) -> None:
    """One client thread of the throughput test: requests back to back until the deadline."""
    try:
        with client(port) as http:
            for index in range(5):
                http.post(bodies[index])
            barrier.wait(timeout=60)
            for index in range(MAX_REQUESTS_PER_CLIENT):
                if time.perf_counter() >= deadline[0]:
                    break
                start = time.perf_counter()
                http.post(bodies[index % len(bodies)])
                latencies.append(time.perf_counter() - start)
    except Exception as exc:  # reported with the results, the other threads carry on
        errors.append(f"{type(exc).__name__}: {exc}"[:300])
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.abort()


def concurrent_load(port: int, bodies: list[bytes], clients: int,
                    seconds: float) -> dict[str, Any]:
    """``clients`` keep-alive connections, each sending single rows for ``seconds``."""
    barrier = threading.Barrier(clients + 1)
    deadline = [float("inf")]
    per_thread: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    threads = [threading.Thread(target=_load_worker, daemon=True,
                                args=(port, bodies, barrier, deadline, per_thread[i], errors))
               for i in range(clients)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=60)  # broken when a client failed: its error is reported
    cpu, start = time.process_time(), time.perf_counter()
    deadline[0] = start + seconds
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - start
    latencies = [t for thread_latencies in per_thread for t in thread_latencies]
    return {"requests": len(latencies), "seconds": elapsed,
            "throughput_rps": len(latencies) / elapsed, "errors": errors,
            "client_cpu_percent": 100 * (time.process_time() - cpu) / elapsed,
            **{f"load_{k}": v for k, v in percentiles(latencies).items()}}


def batch_latency(port: int, body: bytes, runs: int = 20) -> tuple[dict[str, float], Any]:
    """Latency of a many-row request (median of ``runs`` after 3 warm-ups) and its answer."""
    with client(port) as http:
        answer = json.loads(http.post(body))["predictions"]
        for _ in range(2):
            http.post(body)
        latencies = []
        for _ in range(runs):
            start = time.perf_counter()
            http.post(body)
            latencies.append(time.perf_counter() - start)
    return {"median_ms": 1000 * statistics.median(latencies),
            "min_ms": 1000 * min(latencies), "runs": runs}, answer


# ------------------------------------------------------------------ memory


def cpu_seconds(server: Server) -> float:
    """User + system CPU seconds of every process of the server so far."""
    root, children = server.processes()
    total = 0.0
    for process in [root, *children]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def memory(server: Server) -> dict[str, Any]:
    """RSS, PSS and USS (psutil) of the server's parent and of each worker, and totals.

    The workers are the processes with no children (multiprocessing's helpers
    aside). RSS counts every page a process maps, shared or not; PSS divides
    each shared page among the processes sharing it; USS counts only the pages
    no other process has, which is what one more such worker costs.
    """
    root, children = server.processes()
    everyone = [root, *children]
    workers = [p for p in everyone if not p.children()
               and "resource_tracker" not in " ".join(p.cmdline())]
    parents = [p for p in everyone if p not in workers]
    found = {p.pid: p.memory_full_info() for p in everyone}

    def mean(kind: str, processes: list[psutil.Process]) -> float:
        return statistics.mean(getattr(found[p.pid], kind) for p in processes) / MIB

    def total(kind: str, processes: list[psutil.Process]) -> float:
        return sum(getattr(found[p.pid], kind) for p in processes) / MIB

    return {
        "workers": len(workers),
        "parent_rss_mib": total("rss", parents),
        **{f"worker_{kind}_mib": mean(kind, workers) for kind in ("rss", "pss", "uss")},
        **{f"total_{kind}_mib": total(kind, everyone) for kind in ("rss", "pss", "uss")},
        "processes": [{"pid": p.pid, "role": "worker" if p in workers else "parent",
                       "command": " ".join(p.cmdline())[:160],
                       "rss_mib": found[p.pid].rss / MIB, "pss_mib": found[p.pid].pss / MIB,
                       "uss_mib": found[p.pid].uss / MIB} for p in everyone],
    }


def warm_workers(port: int, bodies: list[bytes], connections: int) -> None:
    """Single-row requests, each on a new connection, so that every worker serves some."""
    for index in range(connections):
        with client(port) as http:
            for body in bodies[index % 10::10][:5]:
                http.post(body)


def workers_memory(name: str, args: argparse.Namespace, models: dict[str, Any],
                   bodies: list[bytes], folder: Path) -> dict[str, Any]:
    """Memory of the server started with ``--memory-workers`` workers, once they have served."""
    server = server_for(name, models, args.mlflow_python, args.memory_workers, folder)
    try:
        server.start()
        server.wait_ready()
        warm_workers(server.port, bodies, 20 * args.memory_workers)
        return memory(server)
    finally:
        server.stop()


# ---------------------------------------------------------------- profiling


def profile(server: Server, bodies: list[bytes], clients: int, seconds: float,
            folder: Path) -> str | None:
    """Record the server with py-spy under concurrent load; return the output path."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        progress("py-spy not found: pip install py-spy to use --py-spy")
        return None
    root, children = server.processes()
    target = next((p for p in [root, *children] if not p.children()), root)
    output = folder / f"{server.name}.txt"
    recorder = subprocess.Popen([spy, "record", "--pid", str(target.pid), "--format", "raw",
                                 "--rate", "250", "--duration", str(int(seconds)), "--output",
                                 str(output), "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)
    concurrent_load(server.port, bodies, clients, seconds)
    try:
        recorder.wait(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        recorder.kill()
        recorder.wait(timeout=10)
    return str(output) if output.exists() else None


# ------------------------------------------------------------------- bench


def bench_server(server: Server, args: argparse.Namespace, bodies: list[bytes],
                 batch: bytes, profiles: Path | None) -> tuple[dict[str, Any], Any]:
    """Every measurement of one server; the server is stopped on return."""
    try:
        for attempt in range(args.cold_starts):
            if attempt:
                server.stop()
            server.start()
            server.cold_starts.append(server.wait_ready())
            progress(f"  {server.name}: ready in {server.cold_starts[-1]:.2f} s")
        result: dict[str, Any] = {"command": " ".join(server.command),
                                  "cold_start_s": statistics.median(server.cold_starts),
                                  "cold_start_runs_s": server.cold_starts,
                                  "memory_ready": memory(server)}
        progress(f"  {server.name}: {args.requests} single-row requests")
        cpu = cpu_seconds(server)
        result["single_row"] = single_row_latency(server.port, bodies, args.requests)
        result["single_row"]["server_cpu_ms_per_request"] = (
            1000 * (cpu_seconds(server) - cpu) / (args.requests + WARMUP))
        progress(f"  {server.name}: {args.clients} clients for {args.seconds:.0f} s")
        cpu = cpu_seconds(server)
        result["throughput"] = concurrent_load(server.port, bodies, args.clients, args.seconds)
        cpu = cpu_seconds(server) - cpu
        load = result["throughput"]
        load["server_cpu_percent"] = 100 * cpu / load["seconds"]
        load["server_cpu_ms_per_request"] = 1000 * cpu / max(load["requests"], 1)
        progress(f"  {server.name}: {args.batch_rows}-row batches")
        result["batch"], answer = batch_latency(server.port, batch)
        result["memory"] = memory(server)
        if profiles is not None:
            progress(f"  {server.name}: py-spy for {args.profile_seconds:.0f} s")
            result["profile"] = profile(server, bodies, args.clients, args.profile_seconds,
                                        profiles)
        return result, answer
    finally:
        server.stop()


# ------------------------------------------------------------------ report




def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several rounds: medians of numbers, lists joined, the rest as last."""
    merged: dict[str, Any] = {}
    keys = dict.fromkeys(key for found in rounds for key in found)  # "profile": last round only
    for key in keys:
        values = [found[key] for found in rounds if key in found]
        last = values[-1]
        if isinstance(last, dict):
            merged[key] = merge_rounds(values)
        elif isinstance(last, list):
            merged[key] = [item for value in values for item in value]
        elif isinstance(last, (int, float)) and not isinstance(last, bool):
            merged[key] = statistics.median(values)
        else:
            merged[key] = last
    return merged


ROWS: list[tuple[str, tuple[str, ...], str]] = [
    ("cold start to /ping (s)", ("cold_start_s",), "{:.2f}"),
    ("single-row p50 (ms)", ("single_row", "p50_ms"), "{:.2f}"),
    ("single-row p99 (ms)", ("single_row", "p99_ms"), "{:.2f}"),
    ("single-row mean (ms)", ("single_row", "mean_ms"), "{:.2f}"),
    ("  server CPU ms / request", ("single_row", "server_cpu_ms_per_request"), "{:.2f}"),
    ("throughput, clients (req/s)", ("throughput", "throughput_rps"), "{:.0f}"),
    ("  p50 under load (ms)", ("throughput", "load_p50_ms"), "{:.2f}"),
    ("  p99 under load (ms)", ("throughput", "load_p99_ms"), "{:.2f}"),
    ("  server CPU (% of a core)", ("throughput", "server_cpu_percent"), "{:.0f}"),
    ("  server CPU ms / request", ("throughput", "server_cpu_ms_per_request"), "{:.2f}"),
    ("  client CPU (% of a core)", ("throughput", "client_cpu_percent"), "{:.0f}"),
    ("batch request (ms, median)", ("batch", "median_ms"), "{:.1f}"),
    ("RSS parent (MiB)", ("memory", "parent_rss_mib"), "{:.1f}"),
    ("RSS per worker (MiB)", ("memory", "worker_rss_mib"), "{:.1f}"),
    ("PSS per worker (MiB)", ("memory", "worker_pss_mib"), "{:.1f}"),
    ("USS per worker (MiB)", ("memory", "worker_uss_mib"), "{:.1f}"),
    ("RSS total (MiB)", ("memory", "total_rss_mib"), "{:.1f}"),
    ("PSS total (MiB)", ("memory", "total_pss_mib"), "{:.1f}"),
    ("RSS per worker, idle (MiB)", ("memory_ready", "worker_rss_mib"), "{:.1f}"),
    ("N workers: RSS per worker", ("memory_workers", "worker_rss_mib"), "{:.1f}"),
    ("N workers: PSS per worker", ("memory_workers", "worker_pss_mib"), "{:.1f}"),
    ("N workers: USS per worker", ("memory_workers", "worker_uss_mib"), "{:.1f}"),
    ("N workers: PSS total (MiB)", ("memory_workers", "total_pss_mib"), "{:.1f}"),
]

#: (label, path, satchel / mlflow must be <= bound, or >= bound when ``at_least``; None: shown)
TARGETS: list[tuple[str, tuple[str, ...], float | None, bool]] = [
    ("single-row p50", ("single_row", "p50_ms"), 0.5, False),
    ("throughput", ("throughput", "throughput_rps"), 4.0, True),
    ("cold start", ("cold_start_s",), 0.3, False),
    ("RSS per worker", ("memory_workers", "worker_rss_mib"), 0.5, False),
    ("USS per worker", ("memory_workers", "worker_uss_mib"), None, False),
    ("PSS per worker", ("memory_workers", "worker_pss_mib"), None, False),
    ("PSS total", ("memory_workers", "total_pss_mib"), None, False),
    ("single-row p99", ("single_row", "p99_ms"), None, False),
    ("CPU/req, 1 client", ("single_row", "server_cpu_ms_per_request"), None, False),
    ("CPU/req, loaded", ("throughput", "server_cpu_ms_per_request"), None, False),
    ("batch request", ("batch", "median_ms"), None, False),
    ("RSS total", ("memory", "total_rss_mib"), None, False),
]


def dig(result: dict[str, Any], path: tuple[str, ...]) -> float:
    """The number at ``path`` in a nested result."""
    value: Any = result
    for key in path:
        value = value[key]
    return float(value)


def ratios(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """satchel / MLflow for each satchel variant and metric, with the verdict on targets."""
    found = []
    if "mlflow" not in results:
        return found
    for variant in [name for name in results if name != "mlflow"]:
        for label, path, bound, at_least in TARGETS:
            ratio = dig(results[variant], path) / dig(results["mlflow"], path)
            holds = None if bound is None else (ratio >= bound if at_least else ratio <= bound)
            found.append({"variant": variant, "metric": label, "ratio": ratio,
                          "target": None if holds is None else
                          f"{'>=' if at_least else '<='} {bound}x", "holds": holds})
    return found


def report(results: dict[str, dict[str, Any]], config: dict[str, Any],
           found: list[dict[str, Any]]) -> None:
    """Print the table of every server and the ratios."""
    names = list(results)
    print(f"\npipeline: {config['pipeline']}")
    print(f"workers: {config['workers']} per server; clients: {config['clients']} for"
          f" {config['seconds']:.0f} s; single-row requests: {config['requests']};"
          f" batch: {config['batch_rows']} rows")
    print(f"versions: {config['versions']}")
    if config["rounds"] > 1:
        print(f"rounds: {config['rounds']} (servers in turn); each figure is the median of the"
              " rounds")
    print(f"machine before: {config['machine_before']}")
    print(f"machine after:  {config['machine_after']}")
    print(f"\n{'metric':<30}" + "".join(f"{name:>17}" for name in names))
    for label, path, fmt in ROWS:
        shown = label.replace("clients", f"{config['clients']} clients").replace(
            "N workers", f"{config['memory_workers']} workers")
        print(f"{shown:<30}" + "".join(f"{fmt.format(dig(results[n], path)):>17}"
                                       for n in names))
    for name in names:
        errors = results[name]["throughput"]["errors"]
        if errors:
            print(f"{name}: {len(errors)} client errors, first: {errors[0]}")
    print(f"\npredictions of the {config['batch_rows']}-row batch agree across servers:"
          f" {config['predictions_agree']}")
    if found:
        print("\nratios satchel / mlflow")
        for row in found:
            verdict = ("" if row["holds"] is None else
                       f"target {row['target']}: {'holds' if row['holds'] else 'FAILS'}")
            print(f"  {row['variant']:<16} {row['metric']:<18} {row['ratio']:>7.3f}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mlflow-python", type=Path,
                        default=DEFAULT_MLFLOW_VENV / "bin" / "python",
                        help="interpreter of the MLflow virtualenv (created if missing)")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"comma-separated, from {', '.join(SERVERS)}")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server")
    parser.add_argument("--requests", type=int, default=2000, help="single-row requests")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=15.0, help="throughput test length")
    parser.add_argument("--batch-rows", type=int, default=1000, help="rows of the batch request")
    parser.add_argument("--cold-starts", type=int, default=3, help="starts per server")
    parser.add_argument("--memory-workers", type=int, default=2,
                        help="workers of the extra start that measures memory per worker")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the servers in turn this many times; medians are shown")
    parser.add_argument("--py-spy", type=Path, help="record each server with py-spy into DIR")
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    names = [n for n in args.servers.split(",") if n]
    if unknown := set(names) - set(SERVERS):
        parser.error(f"unknown servers {sorted(unknown)}; choose from {SERVERS}")
    if min(args.cold_starts, args.requests, args.clients, args.rounds) < 1:
        parser.error("--cold-starts, --requests, --clients and --rounds must be at least 1")

    if "mlflow" in names:
        ensure_mlflow_venv(args.mlflow_python)
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    machine_before = machine_load()
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    answers: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="satchel-serving-bench-") as folder:
        progress("fitting and saving the pipeline")
        models = save_models(Path(folder), args.mlflow_python)
        frame = models["frame"]
        bodies = [split_body(frame.iloc[i:i + 1]) for i in range(100)]
        rows = frame.sample(args.batch_rows, replace=True, random_state=0)
        batch = split_body(rows)
        for round_number in range(args.rounds):
            for name in names:
                progress(f"{name} (round {round_number + 1} of {args.rounds}):")
                server = server_for(name, models, args.mlflow_python, args.workers,
                                    Path(folder))
                result, answers[name] = bench_server(
                    server, args, bodies, batch,
                    args.py_spy if round_number == args.rounds - 1 else None)
                progress(f"  {name}: memory with {args.memory_workers} workers")
                result["memory_workers"] = workers_memory(name, args, models, bodies,
                                                          Path(folder))
                rounds[name].append(result)
    results = {name: merge_rounds(found) for name, found in rounds.items()}
    first = next(iter(answers.values()))
    config = {
        "pipeline": "quickstart demo_pipeline (ColumnTransformer[StandardScaler, OneHotEncoder]"
                    " + LogisticRegression) on demo_data(2000 rows)",
        "workers": args.workers, "memory_workers": args.memory_workers,
        "clients": args.clients, "seconds": args.seconds,
        "requests": args.requests, "batch_rows": args.batch_rows,
        "versions": {"satchel": satchel.__version__, "sklearn": sklearn.__version__,
                     "python": sys.version.split()[0],
                     **({"mlflow": models["versions"]["mlflow"]} if "mlflow" in names else {})},
        "rounds": args.rounds, "machine_before": machine_before,
        "machine_after": machine_load(),
        "predictions_agree": all(a == first for a in answers.values()),
        "cpus": os.cpu_count(),
    }
    found = ratios(results)
    report(results, config, found)
    if args.json:
        args.json.write_text(json.dumps({"config": config, "results": results,
                                         "rounds": rounds, "ratios": found}, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
