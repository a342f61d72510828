"""Registry latency: registering a model, and loading it by alias against loading its file.

Run from the project root::

    .venv/bin/python bench/registry.py [--runs 25] [--registers 10] [--json out.json]

A RandomForestClassifier (``--trees`` 50) is fitted on a 20,000 x 20
classification problem, saved with a 200-row sample and registered in a fresh
registry (SQLite database + artifact folder) in a temporary directory.

What is measured (wall time, ``time.perf_counter``):

- **register**, median of ``--registers`` calls each:
  a file whose artifact is new (a fresh registry per call, opened outside the
  timing, so the file is copied into the store every time); the same file
  again (the store already holds its digest, nothing is copied); and the fitted
  model object (saved to a temporary file, then registered). ``satchel.save``
  of the model is shown for reference.
- **load, in process**: a warm ``Registry`` object's
  ``load("models:/x@production")`` against ``satchel.load(path)`` of the very
  file the registry serves (``Registry.artifact_path(uri)``), median of
  ``--runs`` calls each, interleaved. Once with the defaults (full, verified
  load) and once with ``mmap=True``.
- **load, fresh process**: one load per new Python process, median of
  ``--runs`` each, interleaved. Both children import numpy, scikit-learn,
  ``sklearn.ensemble`` and satchel first; the registry child also opens the
  ``Registry`` (SQLAlchemy engine, schema check) before the clock starts. Only
  the load call is timed, so the registry's own cost (its first queries in a
  new process included) is what the ratio shows.

The target is registry_load / file_load <= 1.2 in each setting.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import machine_load, progress

import satchel

TARGET = 1.2
NAME = "x"
URI = f"models:/{NAME}@production"


# ------------------------------------------------------------------- helpers


def fit_model(rows: int, features: int, trees: int) -> tuple[Any, Any]:
    """A fitted RandomForestClassifier and its training rows."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=rows, n_features=features,
                               n_informative=features // 2, random_state=0)
    model = RandomForestClassifier(n_estimators=trees, n_jobs=2, random_state=0)
    return model.fit(X, y), X


def timed(call: Callable[[], Any]) -> float:
    """Seconds one call takes (garbage collected first, outside the timing)."""
    gc.collect()
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def interleaved(calls: dict[str, Callable[[], float]], runs: int) -> dict[str, list[float]]:
    """``runs`` results of each call, alternating their order so drift hits all alike."""
    results: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for run in range(runs):
        for name in names if run % 2 == 0 else reversed(names):
            results[name].append(calls[name]())
    return results


def summary(times: list[float]) -> dict[str, Any]:
    """Median, min and max in milliseconds, and the raw runs."""
    return {"median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times),
            "max_ms": 1000 * max(times), "runs": len(times),
            "runs_ms": [round(1000 * t, 3) for t in times]}






# ------------------------------------------------------------------ register


def measure_register(root: Path, model: Any, sample: Any, path: Path,
                     repeats: int) -> dict[str, dict[str, Any]]:
    """Register latency: a new artifact, an already stored one, and an in-memory model."""
    from satchel.registry import Registry

    new_artifact = []
    for index in range(repeats):
        fresh = Registry(str(root / f"fresh-{index}"))
        new_artifact.append(timed(lambda reg=fresh: reg.register(NAME, str(path))))
    registry = Registry(str(root / "main"))
    registry.register(NAME, str(path))  # stores the artifact; later calls find it there
    stored = [timed(lambda: registry.register(NAME, str(path))) for _ in range(repeats)]
    in_memory = [timed(lambda: registry.register(NAME, model, sample=sample))
                 for _ in range(repeats)]
    saves = [timed(lambda: satchel.save(model, root / "again.satchel", sample=sample))
             for _ in range(repeats)]
    return {"register file (new artifact)": summary(new_artifact),
            "register file (artifact stored)": summary(stored),
            "register in-memory model": summary(in_memory),
            "satchel.save (reference)": summary(saves)}


# --------------------------------------------------------------------- load


def measure_in_process(registry: Any, path: str, runs: int,
                       mmap: bool) -> dict[str, dict[str, Any]]:
    """Warm in-process loads: by alias through the registry, and of the file itself."""
    registry.load(URI, mmap=mmap)  # warm-up: imports, SQL compilation, page cache
    satchel.load(path, mmap=mmap)
    times = interleaved({
        "registry": lambda: timed(lambda: registry.load(URI, mmap=mmap)),
        "file": lambda: timed(lambda: satchel.load(path, mmap=mmap)),
    }, runs)
    return {name: summary(values) for name, values in times.items()}


def child_seconds(spec: dict[str, Any]) -> float:
    """Seconds of one load in a fresh Python process (see :func:`child`)."""
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"child failed: {done.stderr.strip()[-2000:]}")
    return float(json.loads(done.stdout)["seconds"])


def measure_fresh(root: str, path: str, runs: int) -> dict[str, dict[str, Any]]:
    """One load per fresh process: by alias through a Registry, and of the file."""
    times = interleaved({
        "registry": lambda: child_seconds({"mode": "registry", "root": root, "uri": URI}),
        "file": lambda: child_seconds({"mode": "file", "path": path}),
    }, runs)
    return {name: summary(values) for name, values in times.items()}


def child(spec: dict[str, Any]) -> None:
    """Import, open what is needed, then time only the load call; print JSON seconds."""
    import numpy  # noqa: F401 - imported before timing in both modes
    import sklearn.ensemble  # noqa: F401

    if spec["mode"] == "registry":
        from satchel.registry import Registry

        load, target = Registry(spec["root"]).load, spec["uri"]
    else:
        load, target = satchel.load, spec["path"]
    start = time.perf_counter()
    load(target)
    print(json.dumps({"seconds": time.perf_counter() - start}))


# ------------------------------------------------------------------- report


def print_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    """One table of medians (and min/max) in milliseconds."""
    print(f"\n{title}")
    print(f"  {'what':<44} {'median ms':>10} {'min ms':>9} {'max ms':>9} {'runs':>5}")
    for name, row in rows.items():
        print(f"  {name:<44} {row['median_ms']:>10.2f} {row['min_ms']:>9.2f}"
              f" {row['max_ms']:>9.2f} {row['runs']:>5}")


def ratios(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """registry_load / file_load for each load setting, and whether it meets the target."""
    found = {}
    for setting in ("in_process", "in_process_mmap", "fresh_process"):
        pair = results["load"][setting]
        ratio = pair["registry"]["median_ms"] / pair["file"]["median_ms"]
        found[setting] = {"ratio": ratio, "target": TARGET, "holds": ratio <= TARGET,
                          "overhead_ms": pair["registry"]["median_ms"]
                          - pair["file"]["median_ms"]}
    return found


def report(results: dict[str, Any]) -> None:
    """Print the tables and the ratios."""
    model = results["model"]
    print(f"\nmodel: {model['description']}, file {model['size_bytes'] / 2**20:.2f} MiB")
    print(f"machine before: {results['machine']['before']}")
    print(f"machine after:  {results['machine']['after']}")
    print_table("register latency", results["register"])
    labels = {"in_process": "in process, warm Registry (default load)",
              "in_process_mmap": "in process, warm Registry (mmap=True)",
              "fresh_process": "fresh process (only the load call timed)"}
    for setting, label in labels.items():
        pair = results["load"][setting]
        print_table(f"load: {label}", {f"Registry.load('{URI}')": pair["registry"],
                                       "satchel.load(path)": pair["file"]})
    print(f"\nratios (target registry_load / file_load <= {TARGET})")
    for setting, found in results["ratios"].items():
        verdict = "holds" if found["holds"] else "FAILS"
        print(f"  {setting:<16} registry/file = {found['ratio']:.3f}"
              f"  ({found['overhead_ms']:+.2f} ms)  {verdict}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=25, help="loads per setting (>= 20)")
    parser.add_argument("--registers", type=int, default=10, help="register calls per kind")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.runs < 20:
        parser.error("--runs must be at least 20")

    machine_before = machine_load()
    with tempfile.TemporaryDirectory(prefix="satchel-registry-bench-") as folder:
        root = Path(folder)
        progress(f"fitting RandomForestClassifier({args.trees} trees) on"
                 f" {args.rows:,} x {args.features}")
        model, X = fit_model(args.rows, args.features, args.trees)
        sample = X[:200]
        path = root / "model.satchel"
        satchel.save(model, path, sample=sample)

        progress("register latency")
        register = measure_register(root, model, sample, path, args.registers)
        from satchel.registry import Registry

        registry = Registry(str(root / "main"))
        version = registry.latest(NAME)
        registry.set_alias(NAME, "production", version.version)
        stored = registry.artifact_path(version.uri)

        progress(f"in-process loads ({args.runs} each)")
        load = {"in_process": measure_in_process(registry, stored, args.runs, mmap=False),
                "in_process_mmap": measure_in_process(registry, stored, args.runs, mmap=True)}
        progress(f"fresh-process loads ({args.runs} each)")
        load["fresh_process"] = measure_fresh(str(root / "main"), stored, args.runs)

        results: dict[str, Any] = {
            "model": {"description": f"RandomForestClassifier(n_estimators={args.trees}) on"
                                     f" {args.rows} x {args.features}",
                      "size_bytes": Path(stored).stat().st_size, "digest": version.digest},
            "register": register,
            "load": load,
            "machine": {"before": machine_before, "after": machine_load()},
        }
    results["ratios"] = ratios(results)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
