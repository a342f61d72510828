"""Fuzz targets over mutated valid files, bounded in time so that CI runs them.

``tests/fuzz.py`` makes the inputs: bit flips, byte insertions and deletions,
truncations, and edits of the JSON header and of array elements with the
checksums recomputed, so that mutations reach the decoder and the validators
and not only the integrity checks. Every failure must be a SatchelError;
anything else, or a crash or hang of the fuzzing process, fails the test, and
the input is written to ``$SATCHEL_FUZZ_OUT`` (default ``tests/corpus/found/``)
to become a corpus file.

``SATCHEL_FUZZ_SECONDS`` (default 20) bounds the run. Half of it replays a fixed
seed, so that CI is reproducible; the other half uses a seed taken from the
clock (or ``SATCHEL_FUZZ_SEED``), which the failure message names, so that new
ground is covered and a failure can be replayed with
``python -m tests.fuzz --seeds SEED --start INDEX --count 1 --out DIR``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import satchel
from tests import fuzz, hostile
from tests.forge import CORPUS
from tests.hostile_tools import CHILD_PATH

SECONDS = float(os.environ.get("SATCHEL_FUZZ_SECONDS", "20"))
FIXED_SEED = 20261129
ROOT = Path(__file__).resolve().parent.parent
FOUND = Path(os.environ.get("SATCHEL_FUZZ_OUT", CORPUS / "found"))
#: Time a fuzzing process may take beyond its budget (start-up, then a hang).
GRACE = 60.0


def _fuzz_once(seeds: list[int], start: int, seconds: float) -> tuple[list[dict[str, Any]],
                                                                     bool, str]:
    """One fuzzing process: (its reports, whether it ended normally, how it ended)."""
    env = {**os.environ, "PYTHONPATH": CHILD_PATH, "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tests.fuzz", "--seeds", ",".join(map(str, seeds)),
               "--start", str(start), "--seconds", f"{seconds:.1f}", "--out", str(FOUND)]
    try:
        child = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env,
                               timeout=seconds + GRACE, check=False)
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return _reports(output), False, f"no answer {GRACE:g} s past its budget (a hang)"
    how = f"exit status {child.returncode}: {child.stderr[-1500:]}"
    return _reports(child.stdout), child.returncode == 0, how


def _reports(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def crash_site(path: Path) -> str:
    """The innermost Python frame when checking ``path`` crashes a fresh process."""
    env = {**os.environ, "PYTHONPATH": CHILD_PATH, "OPENBLAS_NUM_THREADS": "1"}
    try:
        child = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "tests.fuzz",
                                "--replay", str(path)], capture_output=True, text=True,
                               cwd=ROOT, env=env, timeout=GRACE, check=False)
    except subprocess.TimeoutExpired:
        return "a hang"
    frames = re.findall(r'File "(?:[^"]*/)?((?:sklearn|satchel|scipy|numpy)/[^"]+)", line (\d+)'
                        r" in (\w+)", child.stderr)
    return f"{frames[0][0]}:{frames[0][1]} ({frames[0][2]})" if frames else "?"


def run_fuzzer(seeds: list[int], seconds: float) -> tuple[list[dict[str, Any]], int]:
    """Fuzz ``seeds`` for ``seconds``, restarting after each crash; (failures, inputs run)."""
    deadline = time.monotonic() + seconds
    failures: list[dict[str, Any]] = []
    runs, start = 0, 0
    while seeds and (left := deadline - time.monotonic()) > 1:
        reports, normal, how = _fuzz_once(seeds, start, left)
        failures += [r for r in reports if "runs" not in r]
        runs += sum(r["runs"] for r in reports if "runs" in r)
        if normal:
            break
        current = json.loads((FOUND / "current.json").read_text())
        kept = FOUND / f"{current['seed']}-{current['index']}-crash.satchel"
        shutil.copyfile(FOUND / "current.satchel", kept)
        failures.append({**current, "stage": "process", "type": "crash", "message": how,
                         "file": str(kept), "where": crash_site(kept)})
        seeds = seeds[seeds.index(current["seed"]):]
        start = current["index"] + 1
    return failures, runs


def test_mutated_files_only_raise_satchel_errors() -> None:
    """For a bounded time, every mutated file loads or raises a SatchelError; none crashes."""
    FOUND.mkdir(parents=True, exist_ok=True)
    clock_seed = int(os.environ.get("SATCHEL_FUZZ_SEED", time.time_ns() % 1_000_000_007))
    print(f"fuzzing seeds {FIXED_SEED} (fixed) and {clock_seed} (clock) for {SECONDS:g} s")
    failures, runs = run_fuzzer([FIXED_SEED, clock_seed], SECONDS)
    kinds: dict[tuple[str, str, str], dict[str, Any]] = {}
    for failure in failures:
        kinds.setdefault((failure["stage"], failure["type"], failure["where"]), failure)
    lines = [f"{f['stage']}: {f['type']} at {f['where'] or '?'}: {f['message'][:300]}"
             f" -> {f['file']} (seed {f['seed']}, input {f['index']})"
             for f in kinds.values()]
    assert not failures, (f"{len(failures)} failures of {len(kinds)} kinds in {runs} inputs"
                          f" (seeds {FIXED_SEED}, {clock_seed}):\n" + "\n".join(lines))
    assert runs > 100, f"only {runs} inputs in {SECONDS:g} s"


def test_forge_refuses_to_read_a_record_field_past_its_itemsize() -> None:
    """An edit can move a field of a stored record dtype past the itemsize, which numpy
    accepts and then reads past the buffer: the forge refuses to read that array (a
    ValueError, which the fuzzer skips), and the fuzzing process does not crash."""
    code = ("from tests import hostile\n"
            "forge = hostile.Forge.parse(hostile.base('tree'))\n"
            "forge.header['arrays'][0]['dtype']['offsets'][2] = 2**31 - 1\n"
            "try:\n    forge.arrays()\nexcept ValueError as exc:\n    print(exc)\n")
    env = {**os.environ, "PYTHONPATH": CHILD_PATH, "OPENBLAS_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=GRACE, check=False)
    assert (child.returncode, child.stdout) == (0, "a field of int64 at offset 2147483647"
                                                    " lies outside a record of 64 bytes\n"), (
        child.stderr[-1500:])


def _json_values() -> st.SearchStrategy[Any]:
    """JSON values, with node kinds, names and dtypes among the leaves."""
    leaves = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
              | st.floats(allow_nan=False, allow_infinity=False)
              | st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
              | st.sampled_from(fuzz.KINDS + fuzz.NAMES + fuzz.DTYPES))
    nodes = st.fixed_dictionaries({"$": st.sampled_from(fuzz.KINDS)})
    return st.recursive(leaves | nodes, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.sampled_from(sorted(fuzz.STEERING)), inner,
                                          max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_edited_headers_only_raise_satchel_errors(data: st.DataObject) -> None:
    """Any JSON value put anywhere in a valid header loads or raises a SatchelError."""
    forge = hostile.Forge.parse(hostile.base(data.draw(st.sampled_from(
        ["value", "words", "sparse", "function", "tree", "kdtree"]))))
    spots = fuzz.places(forge.header)
    container, key = spots[data.draw(st.integers(0, len(spots) - 1))]
    container[key] = data.draw(_json_values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the contract is about exceptions, not warnings
        with contextlib.suppress(satchel.SatchelError):  # anything else fails the test
            satchel.loads(forge.to_bytes())
