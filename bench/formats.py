"""satchel against pickle, joblib, cloudpickle and skops on a zoo of fitted models.

Run from the project root::

    .venv/bin/python bench/formats.py [--quick] [--models rf,knn] [--runs 5] [--json out.json]

``--quick`` shrinks every model about tenfold (and defaults to 3 runs) for a
smoke run. Fitted models are built once and cached in ``bench/.cache/`` (see
``zoo.py``); the files under test go to ``--out`` (``/tmp/satchel-bench``).
To measure a fixed snapshot of satchel, put its ``src`` first on ``PYTHONPATH``
(the load subprocesses inherit it); ``--json`` records which satchel was imported.

What is measured, per model and format:

- **size**: bytes on disk.
- **dump**: ``save``/``dump`` to a file, in this process, median of ``--runs``
  (at least 3, fewer than ``--runs`` once a format has spent 60 s). Each dump
  replaces the file the previous one wrote, as re-saving a model does, and
  starts with no dirty pages waiting to be written (``os.sync`` before it).
- **load**: one load per fresh subprocess (``load_child.py``), median of
  ``--runs``. The child first imports numpy, scikit-learn, the format's library
  and every module the model's classes come from, so only deserialization is
  timed, not imports. The files are in the page cache (warm reads). skops's and
  satchel's ``trusted`` lists are computed by the parent, outside the timing.
- Formats take turns (one dump or load of each per round), so that a busy
  spell of the machine spreads over all of them; the fastest run is kept too
  (``load min``), as it is the figure least disturbed by other processes.
- **peak**: peak RSS during the load minus RSS just before it, median over
  the runs. The child resets its high-water mark (``/proc/self/clear_refs``)
  before the load and reads ``VmHWM`` after it (Linux only; ``ru_maxrss`` would
  report the parent's peak, inherited across fork + exec). ``satchel_mmap``
  maps the file; pages it never touches are not counted.
- **old gc**: the share of loads that a generation 1 or 2 garbage collection
  fell into (about a millisecond each, for any format; see ``load_child.py``).

Before anything is timed, satchel's sources and ``zoo.py`` are compiled to
bytecode (``compileall``), as installing a wheel does. An editable install run
with ``PYTHONDONTWRITEBYTECODE`` set would otherwise compile satchel in every
load process: 50 ms of imports whose allocations leave the garbage collector's
counters somewhere else than an installed satchel leaves them.

Then it prints the ratios that matter and whether each target holds, and checks
that every satchel variant's loaded model predicts exactly what the original
does (not timed).
"""

from __future__ import annotations

import argparse
import compileall
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import joblib
import numpy as np
import skops.io
import zoo

import satchel

HERE = Path(__file__).resolve().parent
CHILD = HERE / "load_child.py"
DUMP_BUDGET = 60.0
MIB = 1024 * 1024
#: Peak-memory slack for the target: RSS moves by pages and allocator arenas.
PEAK_SLACK = 1 * MIB
MMAP_MODELS = ("wide", "knn")


def _pickle_dump(obj: Any, path: Path, module: Any = pickle) -> None:
    with open(path, "wb") as handle:
        module.dump(obj, handle, protocol=5)


DUMPS: dict[str, tuple[str, Callable[[Any, Path], Any]]] = {
    "pickle": ("pkl", _pickle_dump),
    "joblib": ("joblib", joblib.dump),
    "joblib_zlib3": ("joblib", lambda obj, path: joblib.dump(obj, path, compress=("zlib", 3))),
    "joblib_lz4": ("joblib", lambda obj, path: joblib.dump(obj, path, compress="lz4")),
    "cloudpickle": ("pkl", lambda obj, path: _pickle_dump(obj, path, cloudpickle)),
    "skops": ("skops", skops.io.dump),
    "satchel": ("satchel", satchel.save),
    "satchel_zstd": ("satchel", lambda obj, path: satchel.save(obj, path, compress="zstd")),
    "satchel_lz4": ("satchel", lambda obj, path: satchel.save(obj, path, compress="lz4")),
}
#: Load formats: each reads the file of the dump format it names.
LOADS = {**{name: name for name in DUMPS}, "satchel_mmap": "satchel"}

RATIOS: list[tuple[str, tuple[str, str], tuple[str, str]]] = [
    ("satchel_load/pickle_load", ("satchel", "load"), ("pickle", "load")),
    ("satchel_load/joblib_load", ("satchel", "load"), ("joblib", "load")),
    ("satchel_mmap_load/pickle_load", ("satchel_mmap", "load"), ("pickle", "load")),
    ("satchel_dump/pickle_dump", ("satchel", "dump"), ("pickle", "dump")),
    ("satchel_size/pickle_size", ("satchel", "size"), ("pickle", "size")),
    ("satchel_zstd_size/joblib_zlib3_size", ("satchel_zstd", "size"), ("joblib_zlib3", "size")),
    ("joblib_zlib3_write/satchel_zstd_write", ("joblib_zlib3", "dump"), ("satchel_zstd", "dump")),
    ("satchel_peak_mem/pickle_peak_mem", ("satchel", "peak"), ("pickle", "peak")),
    ("satchel_load/skops_load", ("satchel", "load"), ("skops", "load")),
    ("satchel_dump/skops_dump", ("satchel", "dump"), ("skops", "dump")),
    ("satchel_size/skops_size", ("satchel", "size"), ("skops", "size")),
    ("satchel_peak_mem/skops_peak_mem", ("satchel", "peak"), ("skops", "peak")),
]


# ---------------------------------------------------------------- measuring


def time_dump(obj: Any, dump: Callable[[Any, Path], Any], path: Path) -> float:
    """Seconds one dump of ``obj`` to ``path`` takes.

    Dirty pages are written back first (``os.sync``, untimed): otherwise a dump
    that follows others pays for their write-back when the kernel throttles
    writers, and the order of the formats would decide who pays.
    """
    gc.collect()
    os.sync()
    start = time.perf_counter()
    dump(obj, path)
    return time.perf_counter() - start


def wants_more(times: list[float], runs: int) -> bool:
    """Whether a format needs another dump: up to ``runs``, past 3 only within the budget."""
    return len(times) < runs and (len(times) < min(3, runs) or sum(times) < DUMP_BUDGET)


class _RecordingUnpickler(pickle.Unpickler):
    """An unpickler that notes the module of every global it looks up."""

    modules: set[str]

    def find_class(self, module: str, name: str) -> Any:
        self.modules.add(module)
        return super().find_class(module, name)


def model_modules(pickle_path: Path) -> list[str]:
    """The modules a pickle of the model imports; children import them before timing."""
    with open(pickle_path, "rb") as handle:
        unpickler = _RecordingUnpickler(handle)
        unpickler.modules = set()
        unpickler.load()
    return sorted(unpickler.modules)


def trusted_names(fmt: str, path: Path) -> list[str]:
    """The names skops or satchel must be told to trust for this file."""
    if fmt == "skops":
        return list(skops.io.get_untrusted_types(file=path))
    if fmt.startswith("satchel"):
        return list(satchel.untrusted_types(path))
    return []


def child_load(spec: str) -> dict[str, Any]:
    """One load described by ``spec`` (JSON), in a fresh Python process."""
    done = subprocess.run([sys.executable, str(CHILD), spec], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return dict(json.loads(done.stdout))


# ------------------------------------------------------------ one model


def _error(exc: Exception) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def measure_dumps(model: Any, folder: Path, runs: int) -> dict[str, dict[str, Any]]:
    """Size and dump times of every dump format; failures are recorded, not raised.

    Formats take turns, one dump each per round, so that a slow spell of the machine
    falls on all of them rather than on one.
    """
    paths = {fmt: folder / f"{fmt}.{suffix}" for fmt, (suffix, _) in DUMPS.items()}
    times: dict[str, list[float]] = {fmt: [] for fmt in DUMPS}
    results: dict[str, dict[str, Any]] = {}
    for round_ in range(runs):
        progress(f"  dumps, round {round_ + 1} of {runs}")
        for fmt, (_, dump) in DUMPS.items():
            if fmt in results or not wants_more(times[fmt], runs):
                continue
            try:
                times[fmt].append(time_dump(model, dump, paths[fmt]))
            except Exception as exc:  # a format that fails is a result, not a crash
                results[fmt] = _error(exc)
    for fmt, path in paths.items():
        if fmt not in results:
            results[fmt] = {"path": str(path), "size": path.stat().st_size,
                            "dump_runs": times[fmt], **_spread("dump", times[fmt])}
    return results


def _spread(name: str, values: list[float]) -> dict[str, float]:
    return {name: statistics.median(values), f"{name}_min": min(values)}


def _load_specs(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The child's JSON spec for every load format whose file exists."""
    imports = model_modules(Path(results["pickle"]["path"]))
    specs = {}
    for fmt, source in LOADS.items():
        path = results[source].get("path")
        if path is None:
            results[fmt] = {"error": results[source].get("error", "no file")}
            continue
        specs[fmt] = json.dumps({"format": fmt, "path": path, "imports": imports,
                                 "trusted": trusted_names(fmt, Path(path))})
    return specs


def measure_loads(results: dict[str, dict[str, Any]], runs: int) -> None:
    """Add load time and peak memory (medians over fresh processes) to ``results``.

    As for dumps, formats take turns: each round loads every format once.
    """
    specs = _load_specs(results)
    loads: dict[str, list[dict[str, Any]]] = {fmt: [] for fmt in specs}
    for round_ in range(runs):
        progress(f"  loads, round {round_ + 1} of {runs}")
        for fmt, spec in specs.items():
            if "error" in results.setdefault(fmt, {}):
                continue
            try:
                loads[fmt].append(child_load(spec))
            except Exception as exc:
                results[fmt].update(_error(exc))
    for fmt, runs_of in loads.items():
        if runs_of and "error" not in results[fmt]:
            results[fmt]["load_runs"] = runs_of
            results[fmt].update(_spread("load", [r["seconds"] for r in runs_of]))
            for key in ("peak", "retained"):
                results[fmt][key] = statistics.median(r[key] for r in runs_of)
            results[fmt]["old_gc"] = sum(r["old_gc"] for r in runs_of) / len(runs_of)


def _outputs(model: Any, X: Any) -> dict[str, Any]:
    methods = ("predict", "predict_proba", "decision_function")
    return {method: getattr(model, method)(X) for method in methods if hasattr(model, method)}


def _wrapper_outputs(loaded: Any, X: Any) -> dict[str, Any] | str:
    """The outputs through satchel's Model (input checks on), or the error it raised."""
    try:
        return _outputs(loaded, X)
    except satchel.SatchelError as exc:
        return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:200]


def sanity(model: Any, X_test: Any, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Whether each satchel variant's loaded model gives exactly the original's outputs.

    The bare estimator is compared (``Model.unwrap()``), so that the check is about the
    format; an error from the Model's input validation is reported beside it.
    """
    expected = _outputs(model, X_test)
    verdicts: dict[str, Any] = {}
    for fmt in ("satchel", "satchel_mmap", "satchel_zstd", "satchel_lz4"):
        path = results[LOADS[fmt]].get("path")
        if path is None:
            verdicts[fmt] = "no file"
            continue
        loaded = satchel.load(path, trusted=satchel.untrusted_types(path),
                              mmap=fmt == "satchel_mmap")
        bare = loaded.unwrap() if isinstance(loaded, satchel.Model) else loaded
        got = _outputs(bare, X_test)
        verdicts[fmt] = all(np.array_equal(got[m], expected[m]) for m in expected)
        wrapped = _wrapper_outputs(loaded, X_test)
        if isinstance(wrapped, str):
            verdicts[f"{fmt} (through Model)"] = wrapped
        del loaded, bare, got, wrapped
    return verdicts


def bench_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement for one model of the zoo."""
    progress(f"{name}: fitting or reading the cache")
    model, X_test = zoo.fitted(name, args.quick)
    folder = args.out / name
    folder.mkdir(parents=True, exist_ok=True)
    results = measure_dumps(model, folder, args.runs)
    measure_loads(results, args.runs)
    checks = sanity(model, X_test, results)
    return {"formats": results, "sanity": checks, "ratios": ratios(results),
            "targets": targets(name, results)}


# ------------------------------------------------------- ratios and targets


def value(results: dict[str, dict[str, Any]], fmt: str, metric: str) -> float | None:
    """One median (``size``, ``dump``, ``load``, ``peak``), or None if it failed."""
    found = results.get(fmt, {}).get(metric)
    return None if found is None else float(found)


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Every ratio of :data:`RATIOS`; None where a side is missing or zero."""
    out: dict[str, float | None] = {}
    for label, top, bottom in RATIOS:
        num, den = value(results, *top), value(results, *bottom)
        out[label] = None if num is None or not den else num / den
    return out


def _check(label: str, holds: bool | None, detail: str) -> dict[str, Any]:
    return {"target": label, "holds": holds, "detail": detail}


def _get(results: dict[str, dict[str, Any]], *keys: tuple[str, str]) -> list[float] | None:
    found = [value(results, fmt, metric) for fmt, metric in keys]
    return None if any(v is None for v in found) else [v for v in found if v is not None]


def _load_target(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    label = "load: <= pickle (pickle > 10 ms) or < 2 ms"
    found = _get(results, ("satchel", "load"), ("pickle", "load"))
    if found is None:
        return _check(label, None, "missing")
    mine, theirs = found
    if theirs > 0.010:
        return _check(label, mine <= theirs, f"{ms(mine)} vs pickle {ms(theirs)}")
    return _check(label, mine < 0.002, f"{ms(mine)} (pickle {ms(theirs)}, limit 2 ms)")


def _mmap_target(name: str, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    label = "mmap load >= 10x faster than pickle"
    found = _get(results, ("satchel_mmap", "load"), ("pickle", "load"))
    if name not in MMAP_MODELS or found is None:
        return _check(label, None, "not a target" if name not in MMAP_MODELS else "missing")
    speedup = found[1] / found[0]
    return _check(label, speedup >= 10, f"{speedup:.1f}x ({ms(found[0])} vs {ms(found[1])})")


def _at_most(label: str, results: dict[str, dict[str, Any]], mine: tuple[str, str],
             theirs: tuple[str, str], slack: float = 0.0) -> dict[str, Any]:
    found = _get(results, mine, theirs)
    if found is None:
        return _check(label, None, "missing")
    unit = {"size": human, "peak": human}.get(mine[1], ms)
    ratio = f", ratio {found[0] / found[1]:.4g}" if found[1] else ""
    if mine[1] == "size":
        ratio += f", {found[0] - found[1]:+,.0f} bytes"
    return _check(label, found[0] <= found[1] + slack,
                  f"{unit(found[0])} vs {theirs[0]} {unit(found[1])}{ratio}")


def _zstd_speed_target(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    label = "zstd written >= 3x faster than joblib zlib-3"
    found = _get(results, ("satchel_zstd", "dump"), ("joblib_zlib3", "dump"))
    if found is None:
        return _check(label, None, "missing")
    speedup = found[1] / found[0]
    return _check(label, speedup >= 3, f"{speedup:.1f}x ({ms(found[0])} vs {ms(found[1])})")


def targets(name: str, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target, whether it holds (None: not applicable or not measured) and why."""
    return [
        _load_target(results),
        _mmap_target(name, results),
        _at_most("dump no slower than pickle", results, ("satchel", "dump"), ("pickle", "dump")),
        _at_most("file no larger than pickle", results, ("satchel", "size"), ("pickle", "size")),
        _at_most("zstd file no larger than joblib zlib-3", results, ("satchel_zstd", "size"),
                 ("joblib_zlib3", "size")),
        _zstd_speed_target(results),
        _at_most("load peak memory <= pickle's (+1 MiB)", results, ("satchel", "peak"),
                 ("pickle", "peak"), PEAK_SLACK),
    ]


# ------------------------------------------------------------------ output


def progress(message: str) -> None:
    """A progress line on stderr, so that stdout holds only the tables."""
    print(message, file=sys.stderr, flush=True)


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds, with precision that suits the magnitude."""
    if seconds is None:
        return "n/a"
    millis = seconds * 1000
    return f"{millis:.2f} ms" if millis < 10 else f"{millis:,.0f} ms"


def human(nbytes: float | None) -> str:
    """A byte count in KiB or MiB."""
    if nbytes is None:
        return "n/a"
    return f"{nbytes / 1024:.1f} KiB" if abs(nbytes) < MIB else f"{nbytes / MIB:.1f} MiB"


def print_model(name: str, result: dict[str, Any]) -> None:
    """The per-format table of one model, then its sanity check."""
    print(f"\n== {name} ==")
    print(f"{'format':<14}{'size':>12}{'dump':>12}{'load':>12}{'load min':>12}"
          f"{'peak mem':>12}{'retained':>12}{'old gc':>8}")
    for fmt in LOADS:
        entry = result["formats"].get(fmt, {})
        if "error" in entry and "load" not in entry:
            print(f"{fmt:<14}  failed: {entry['error']}")
            continue
        print(f"{fmt:<14}{human(entry.get('size')):>12}{ms(entry.get('dump')):>12}"
              f"{ms(entry.get('load')):>12}{ms(entry.get('load_min')):>12}"
              f"{human(entry.get('peak')):>12}"
              f"{human(entry.get('retained')):>12}{_share(entry.get('old_gc')):>8}")
    print("predictions identical after satchel load:",
          ", ".join(f"{fmt}={ok}" for fmt, ok in result["sanity"].items()))


def _share(fraction: float | None) -> str:
    """The share of loads a generation 1 or 2 collection fell into."""
    return "n/a" if fraction is None else f"{fraction:.0%}"


def _cell(number: float | None) -> str:
    return "n/a" if number is None else f"{number:.3g}"


def print_summary(results: dict[str, dict[str, Any]]) -> None:
    """The ratio table and the target table, one column per model."""
    names = list(results)
    head = "".join(f"{n:>9}" for n in names)
    print(f"\n== ratios (< 1 favours satchel, except the write-speed ratio) ==\n{'':<40}{head}")
    for label, _, _ in RATIOS:
        cells = "".join(f"{_cell(results[n]['ratios'][label]):>9}" for n in names)
        print(f"{label:<40}{cells}")
    print(f"\n== targets ==\n{'':<40}{head}")
    for index, check in enumerate(results[names[0]]["targets"]):
        marks = {True: "ok", False: "FAIL", None: "-"}
        cells = "".join(f"{marks[results[n]['targets'][index]['holds']]:>9}" for n in names)
        print(f"{check['target']:<40}{cells}")
    print("\n== target details ==")
    for name in names:
        for check in results[name]["targets"]:
            if check["holds"] is not None:
                state = "ok  " if check["holds"] else "FAIL"
                print(f"{state} {name:<6} {check['target']}: {check['detail']}")


# -------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="models ~10x smaller, 3 runs")
    parser.add_argument("--models", default=",".join(zoo.BUILDERS),
                        help=f"comma-separated subset of {','.join(zoo.BUILDERS)}")
    parser.add_argument("--runs", type=int, help="loads (fresh processes) and dumps per format")
    parser.add_argument("--json", type=Path, help="write every number to this file")
    parser.add_argument("--out", type=Path, default=Path("/tmp/satchel-bench"),
                        help="folder for the files under test")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 5)
    unknown = set(args.models.split(",")) - set(zoo.BUILDERS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {list(zoo.BUILDERS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Benchmark every chosen model, print the tables, optionally write JSON."""
    args = parse_args(argv)
    compile_sources()
    results: dict[str, dict[str, Any]] = {}
    for name in args.models.split(","):
        results[name] = bench_model(name, args)
        print_model(name, results[name])
    print_summary(results)
    if args.json:
        args.json.write_text(json.dumps({"settings": settings(args), "models": results},
                                        indent=1))


def compile_sources() -> None:
    """Write the bytecode of satchel and of this folder, which the load processes import."""
    for folder in (Path(satchel.__file__).parent, HERE):
        if not compileall.compile_dir(folder, quiet=1):
            raise SystemExit(f"could not compile the sources in {folder}")


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a reader of the JSON needs to reproduce the run."""
    import sklearn

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True,
                            text=True, check=False).stdout.strip()
    modules = (np, sklearn, joblib, cloudpickle, skops, satchel)
    return {"quick": args.quick, "runs": args.runs, "python": sys.version.split()[0],
            "commit (working tree may differ)": commit, "satchel_from": satchel.__file__,
            "versions": {m.__name__: m.__version__ for m in modules}}


if __name__ == "__main__":
    main()
