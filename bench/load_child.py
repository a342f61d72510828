"""Time one load in a fresh process; ``formats.py`` starts this script once per measurement.

Usage: ``python bench/load_child.py '<json spec>'`` where the spec names the
``format``, the ``path``, the ``imports`` to make before timing (numpy,
scikit-learn, the serialization library and every module the model's classes
live in) and the ``trusted`` names for skops and satchel (computed by the
parent, outside the timed region).

Only the load call is timed, and it starts from a collected heap
(``gc.collect()``), as the dumps in ``formats.py`` do. Without it, whether a
full collection falls inside the load depends on where the imports left the
collector's counters, not on the load: after pandas and scikit-learn are
imported, one costs 50-80 ms, far more than most loads themselves. Each format
then pays for the collections its own allocations trigger.

It prints one JSON object:

``seconds``
    wall time of the load call (``time.perf_counter``);
``peak``
    peak RSS during the load minus RSS just before it, in bytes. Linux only:
    the high-water mark is reset to the current RSS (``5`` written to
    ``/proc/self/clear_refs``) right before the load and read back as
    ``VmHWM`` from ``/proc/self/status`` after it. ``resource.getrusage``'s
    ``ru_maxrss`` is no use here: a child started with fork + exec inherits the
    parent's high-water mark, which is the whole benchmark process;
``retained``
    RSS after the load minus RSS before it, in bytes (``VmRSS``);
``old_gc``
    whether the garbage collector collected generation 1 or 2 during the load
    (a ``gc.callbacks`` entry notes it): the load allocated enough objects to
    reach one from a collected heap.
"""

from __future__ import annotations

import gc
import importlib
import json
import pickle
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy  # noqa: F401 - imported before timing, like every loader's dependencies
import sklearn  # noqa: F401

LIBRARIES = {
    "pickle": ["pickle"],
    "joblib": ["joblib"],
    "joblib_zlib3": ["joblib", "zlib"],
    "joblib_lz4": ["joblib", "lz4.frame"],
    "cloudpickle": ["cloudpickle"],
    "skops": ["skops.io"],
    "satchel": ["satchel"],
    "satchel_mmap": ["satchel"],
    "satchel_zstd": ["satchel", "zstandard"],
    "satchel_lz4": ["satchel", "lz4.block"],
}


def _pickle_load(path: str) -> Any:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def _cloudpickle_load(path: str) -> Any:
    import cloudpickle

    with open(path, "rb") as handle:
        return cloudpickle.load(handle)


def loader(fmt: str, trusted: list[str]) -> Callable[[str], Any]:
    """The call that loads ``fmt`` from a path; only it is timed."""
    if fmt == "pickle":
        return _pickle_load
    if fmt.startswith("joblib"):
        import joblib

        return joblib.load
    if fmt == "cloudpickle":
        return _cloudpickle_load
    if fmt == "skops":
        import skops.io

        return lambda path: skops.io.load(path, trusted=trusted)
    import satchel

    mmap = fmt == "satchel_mmap"
    return lambda path: satchel.load(path, trusted=trusted, mmap=mmap)


def memory() -> dict[str, int]:
    """Current (``VmRSS``) and peak (``VmHWM``) resident set size of this process, in bytes."""
    sizes = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                sizes[key] = int(rest.split()[0]) * 1024  # the kernel reports kB
    return sizes


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Import everything, then time one load of ``spec['path']`` and its memory."""
    for module in [*LIBRARIES[spec["format"]], *spec["imports"]]:
        importlib.import_module(module)
    load = loader(spec["format"], spec["trusted"])
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    old: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"]:
            old.append(info["generation"])

    gc.callbacks.append(note)
    before = memory()
    start = time.perf_counter()
    obj = load(spec["path"])
    seconds = time.perf_counter() - start
    after = memory()
    gc.callbacks.remove(note)
    del obj
    return {"seconds": seconds, "peak": after["VmHWM"] - before["VmRSS"],
            "retained": after["VmRSS"] - before["VmRSS"], "old_gc": bool(old)}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
