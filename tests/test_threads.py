"""Saves and loads that cannot start a thread run their hashing and compression on the
caller's thread."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import satchel
from satchel.format.threads import Worker

#: Saves (streamed and compressed), loads and verifies a 48 MiB model after limiting
#: its address space to 768 MiB more than it uses: room for the arrays, not for a thread
#: whose stack is 1 GiB.
CHILD = textwrap.dedent("""
    import resource, sys, threading
    import numpy as np
    import zstandard  # loaded, as a running program has its libraries
    import satchel
    from satchel.format import container

    folder, python_threads = sys.argv[1], sys.argv[2] == "start"
    if python_threads:  # small stacks: only the native pools' threads cannot start
        threading.stack_size(256 << 10)
    rng = np.random.default_rng(0)
    model = {"a": rng.integers(0, 50, 3 << 20).astype(np.float64),  # compresses, 24 MiB
             "b": rng.standard_normal((1 << 20, 3))}
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) for line in status if line.startswith("VmSize")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + (768 << 20), resource.RLIM_INFINITY))
    try:
        threading.Thread(target=int).start()
        started = True
    except RuntimeError:
        started = False
    assert started == python_threads, "the limit did not work as meant"
    for _ in range(2):  # the second replaces the first, whose closing is handed to a thread
        satchel.save(model, f"{folder}/plain.satchel")  # streamed, hashed while written
    satchel.save(model, f"{folder}/zstd.satchel", compress="zstd")  # zstd's own threads
    for name in ("plain", "zstd"):
        loaded = satchel.load(f"{folder}/{name}.satchel")  # read a chunk while one is hashed
        assert all(np.array_equal(loaded[k], model[k]) for k in model)
        satchel.verify(f"{folder}/{name}.satchel")  # BLAKE3 of each large array
    raw = memoryview(model["a"]).cast("B")
    assert container.hash_bytes(raw) == container.hash_bytes(bytes(raw))
    print("ok")
""")


def _native_stacks_of_one_gib() -> None:
    """Native threads (zstd's) take their default stack size from this limit."""
    resource.setrlimit(resource.RLIMIT_STACK, (1 << 30, resource.RLIM_INFINITY))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("python_threads", ["fail", "start"])
def test_saves_and_loads_without_threads(tmp_path: Path, python_threads: str) -> None:
    """Neither our threads nor zstd's can start, or only zstd's cannot: a 48 MiB model is
    saved (twice: over itself), loaded and verified as usual either way, with no
    RuntimeError and no zstd allocation error."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), python_threads], capture_output=True,
        text=True, timeout=300, check=False, preexec_fn=_native_stacks_of_one_gib)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


#: Hashes 8 MiB when a small Python thread can start but blake3's pool cannot.
BLAKE3_CHILD = textwrap.dedent("""
    import resource, threading
    import blake3
    import numpy as np
    from satchel.format import container

    data = memoryview(np.arange(1 << 20, dtype=np.float64)).cast("B")
    expected = blake3.blake3(bytes(data)).digest()
    threading.stack_size(64 << 10)
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) for line in status if line.startswith("VmSize")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + (2 << 20), resource.RLIM_INFINITY))
    probe = threading.Thread(target=int)
    probe.start()
    probe.join()
    assert container.hash_bytes(data) == expected
    assert container.hash_bytes(data) == expected  # the pool is not tried again
    print("ok")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_hashing_when_blake3s_pool_cannot_start() -> None:
    """blake3's pool panics when its threads cannot start; the hash is then computed on
    the caller's thread, and the panic does not escape."""
    done = subprocess.run([sys.executable, "-c", BLAKE3_CHILD], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def _failing_starts(monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
    """Let ``allowed`` threads start, then refuse every other start, as a limit would."""
    original = threading.Thread.start
    count = [0]

    def start(thread: threading.Thread) -> None:
        count[0] += 1
        if count[0] > allowed:
            raise RuntimeError("can't start new thread")
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", start)


@pytest.mark.parametrize("allowed", [0, 1])
def test_a_worker_whose_threads_cannot_start_still_gives_every_result(
        monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
    """When the pool cannot start its threads (none, or its second), each call is run once,
    by the caller or by the thread that runs, and each future has its own result or error."""
    runs: list[int] = []

    def work(n: int) -> int:
        time.sleep(0.002)  # a running thread may take a queued call before the caller does
        runs.append(n)
        if n == 7:
            raise ValueError("seven")
        return n * n

    _failing_starts(monkeypatch, allowed)
    for _ in range(20):
        runs.clear()
        with Worker(threads=2) as worker:
            futures = [worker.submit(work, n) for n in range(10)]
            results = [f.exception() or f.result() for f in futures]
        assert [r for r in results if not isinstance(r, Exception)] == [
            n * n for n in range(10) if n != 7]
        assert str(results[7]) == "seven"
        assert sorted(runs) == list(range(10))


def test_a_worker_map_gives_results_in_order() -> None:
    """With threads available, map gives each call's result in the order of the items."""
    with Worker(threads=2) as worker:
        assert worker.map(lambda n: n * n, range(50)) == [n * n for n in range(50)]


def test_a_process_forked_after_the_hashing_pool_started_saves(tmp_path: Path) -> None:
    """A child forked after blake3's pool started (multiprocessing's fork, a pre-forking
    server) hashes on its own thread: a multi-threaded hash waited for good for the pool's
    threads, which the child does not have."""
    script = textwrap.dedent(f"""
        import os, numpy as np, satchel
        satchel.save({{"w": np.zeros(300_000)}}, {str(tmp_path / 'parent.satchel')!r})
        pid = os.fork()
        if pid == 0:
            satchel.save({{"w": np.ones(300_000)}}, {str(tmp_path / 'child.satchel')!r})
            satchel.dumps({{"w": np.ones(300_000)}})
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert satchel.load(tmp_path / "child.satchel")["w"].sum() == 300_000


def test_a_process_forked_after_a_save_frees_the_files_it_replaces(tmp_path: Path) -> None:
    """A child forked after a save replaced a file (a multiprocessing worker, a pre-forking
    server) closes each file its saves replace, so that their room is freed: with no thread
    to close them, it kept every one open, a file descriptor and the old file's size on disk
    per save until it exited."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc here to count open files")
    script = textwrap.dedent(f"""
        import os, time, numpy as np, satchel
        path = {str(tmp_path / 'model.satchel')!r}

        def held():  # replaced files still open, once the closing thread had time
            for _ in range(100):
                names = [os.readlink("/proc/self/fd/" + name) for name in os.listdir(
                    "/proc/self/fd") if os.path.exists("/proc/self/fd/" + name)]
                count = sum(name.startswith(path + " ") for name in names)
                if not count:
                    break
                time.sleep(0.02)
            return count

        for _ in range(2):
            satchel.save({{"w": np.zeros(10)}}, path)
        assert held() == 0
        pid = os.fork()
        if pid == 0:
            for _ in range(20):
                satchel.save({{"w": np.zeros(10)}}, path)
            os._exit(min(held(), 100))
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    done = subprocess.run([sys.executable, "-c", script], check=True, timeout=120,
                          capture_output=True, text=True)
    assert done.stdout == "0\n"
