"""A fuzz target over mutated valid files, run for a bounded time in CI.

Mutations: bit flips, byte insertions and deletions, truncations, and edits
of the JSON header (values replaced, keys dropped, types changed) with the
checksums recomputed, so that mutations reach the decoder and not only the
integrity check. Every failure must be a satchel error; anything else, or a
crash of the child process, fails the test and the input is written to
``tests/corpus/found/`` to become a corpus file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.forge import CORPUS

SECONDS = float(os.environ.get("SATCHEL_FUZZ_SECONDS", "20"))
FOUND = CORPUS / "found"

TARGET = textwrap.dedent("""
    import copy, json, random, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import numpy as np
    import satchel
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.linear_model import LogisticRegression
    from tests.forge import raw_header, with_header

    seed, seconds, found = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    data = np.random.default_rng(0).normal(size=(120, 4))
    labels = (data[:, 0] > 0).astype(int)
    seeds = [satchel.dumps(m.fit(data, labels)) for m in (
        RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0),
        HistGradientBoostingClassifier(max_iter=2),
        KNeighborsClassifier(algorithm="kd_tree"),
        make_pipeline(StandardScaler(), LogisticRegression()))]
    seeds.append(satchel.dumps({"a": np.arange(50.0), "s": ["x"] * 40, "t": (1, 2.5, None)},
                               compress="zstd"))
    VALUES = [None, True, -1, 0, 1, 2**63, 1e308, "", "x", [], {}, [1], {"$": "ref", "to": 0}]

    def mutate_json(value):
        if isinstance(value, dict) and value:
            key = rng.choice(list(value))
            roll = rng.random()
            if roll < 0.2:
                del value[key]
            elif roll < 0.5:
                value[key] = rng.choice(VALUES)
            else:
                value[key] = mutate_json(value[key])
        elif isinstance(value, list) and value:
            index = rng.randrange(len(value))
            value[index] = mutate_json(value[index]) if rng.random() < 0.6 else rng.choice(VALUES)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = rng.choice([-1, 0, value * 2 + 1, 2**40, -2**40])
        else:
            value = rng.choice(VALUES)
        return value

    def mutate(blob):
        roll = rng.random()
        if roll < 0.5:
            header = raw_header(blob)
            for _ in range(rng.randint(1, 3)):
                header = mutate_json(header)
            try:
                return with_header(blob, header if isinstance(header, dict) else {})
            except (TypeError, ValueError):
                return blob
        data = bytearray(blob)
        if roll < 0.7:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif roll < 0.8:
            del data[rng.randrange(len(data)):][:rng.randint(1, 64)]
        elif roll < 0.9:
            data[rng.randrange(len(data)):rng.randrange(len(data))] = bytes(rng.randint(1, 9))
        else:
            data = data[:rng.randrange(len(data))]
        return bytes(data)

    runs, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        candidate = mutate(rng.choice(seeds))
        runs += 1
        try:
            satchel.loads(candidate)
        except satchel.SatchelError:
            pass
        except Exception as exc:
            name = f"{found}/seed{seed}-run{runs}.satchel"
            open(name, "wb").write(candidate)
            print(f"FAILED {type(exc).__name__}: {exc} -> {name}")
    print(f"runs {runs}")
""")


def test_mutated_files_only_raise_satchel_errors() -> None:
    """For a bounded time, every mutated file loads or raises a SatchelError; none crashes."""
    FOUND.mkdir(parents=True, exist_ok=True)
    seed = int(time.time()) % 100_000
    root = Path(__file__).resolve().parent.parent
    child = subprocess.run(
        [sys.executable, "-c", TARGET, str(seed), str(SECONDS), str(FOUND)],
        capture_output=True, text=True, timeout=SECONDS + 300, check=False, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)})
    report = f"seed {seed}: {child.stdout[-3000:]} {child.stderr[-2000:]}"
    assert child.returncode == 0, f"the fuzz target crashed ({child.returncode}); {report}"
    assert "FAILED" not in child.stdout, report
    assert int(child.stdout.split("runs ")[-1]) > 50, report
