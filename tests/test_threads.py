"""Saves and loads that cannot start a thread run their hashing on the caller's thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from satchel.format.threads import Worker

#: A child that cannot start threads: each needs a 1 GiB stack, and the address
#: space may grow by 768 MiB (room for the arrays, not for a thread).
CHILD = textwrap.dedent("""
    import resource, sys, threading
    import numpy as np
    import satchel
    from satchel.format import container

    folder = sys.argv[1]
    threading.stack_size(1 << 30)
    model = {"a": np.arange(3 << 20, dtype=np.float64),
             "b": np.random.default_rng(0).standard_normal((1 << 20, 3))}
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) for line in status if line.startswith("VmSize")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + (768 << 20), resource.RLIM_INFINITY))
    try:
        threading.Thread(target=int).start()
        sys.exit("the limit let a thread start")
    except RuntimeError:
        pass
    satchel.save(model, f"{folder}/plain.satchel")  # streamed, hashed while written
    satchel.save(model, f"{folder}/zstd.satchel", compress="zstd")  # arrays on two threads
    for name in ("plain", "zstd"):
        loaded = satchel.load(f"{folder}/{name}.satchel")  # read a chunk while one is hashed
        assert all(np.array_equal(loaded[k], model[k]) for k in model)
        satchel.verify(f"{folder}/{name}.satchel")  # BLAKE3 of each large array
    raw = memoryview(model["a"]).cast("B")
    assert container.hash_bytes(raw) == container.hash_bytes(bytes(raw))
    print("ok")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_no_thread_can_start(tmp_path: Path) -> None:
    """Under a limit that refuses every new thread, a 48 MiB model is saved (streamed and
    compressed), loaded and verified as usual, with no RuntimeError and no panic."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
    assert "panicked" not in done.stderr


def test_work_runs_once_whoever_runs_it() -> None:
    """A worker gives each call's result or error through its future, in order."""
    seen: list[int] = []
    with Worker(threads=2) as worker:
        assert worker.map(lambda n: n * n, range(5)) == [0, 1, 4, 9, 16]
        failing = worker.submit(lambda: 1 // 0)
        worker.submit(seen.append, 7).result()
    with pytest.raises(ZeroDivisionError):
        failing.result()
    assert seen == [7]
