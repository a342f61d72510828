"""A mutation fuzzer for satchel's reader and decoder.

``python -m tests.fuzz --seeds 7,8 --seconds 20 --out DIR [--start N]``;
``python -X faulthandler -m tests.fuzz --replay FILE`` checks one file.

Each input is one of the valid files of :func:`tests.hostile.base` put through
one to three mutations: raw ones (bit flips, byte insertions and deletions,
truncations, repeated chunks) and structured ones, made through
:class:`tests.hostile.Forge` so that the checksums are recomputed and the
mutation reaches the decoder (JSON values replaced, keys dropped, node kinds
and names changed, attributes removed, array elements set to extreme values).

Input ``i`` of seed ``s`` depends on ``random.Random(f"{s}:{i}")`` alone, so
``--seeds s --start i --count 1`` remakes it. Every input is loaded with
``satchel.loads``, loaded from its file reading array by array (as files of
1 MiB or more are), and inspected; a model that loads is asked to predict (only a
crash counts there: a model's own errors on nonsense state are its business).
Anything but a SatchelError from loads or inspect is a failure: its input is
written to ``DIR/<seed>-<i>.satchel`` (the first three of each kind) and a JSON
line describes it. Before each input, the fuzzer writes it to
``DIR/current.satchel`` and its seed and number to ``DIR/current.json``, so that
a parent can keep an input that crashed or hung the process.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import random
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import satchel
from tests.hostile import FAKE_MODULE, Forge, base, get_array, nodes, training_data
from tests.hostile_child import attempt, by_array

SEED_FILES = ("value", "words", "sparse", "function", "tree", "forest", "hgb", "kdtree",
              "balltree", "svc")
KINDS = ("obj", "new", "func", "type", "partial", "ref", "nd", "objarray", "npscalar",
         "dtype", "dict", "strdict", "strs", "tuple", "set", "int", "float", "complex",
         "range", "slice", "bytes", "sparse", "pandas", "masked", "generator",
         "namedtuple", "distribution", "pickle")
NAMES = ("os:system", "builtins:eval", "subprocess:Popen", f"{FAKE_MODULE}:Payload",
         "numpy:load", "numpy:float64", "sklearn.base:BaseEstimator",
         "sklearn.tree._tree:Tree", "sklearn.neighbors._kd_tree:KDTree",
         "sklearn.metrics.pairwise:np.save", "sklearn.base:BaseEstimator.__init__.__globals__",
         "scipy.special:expit", "collections:OrderedDict")
DTYPES = ("<f8", "<i8", "|u1", "|b1", "|V0", "|S0", "<U3", "|O", "<f3", "<M8[ns]", "<c16",
          ">i4", "|V8")
#: The fuzzer's address-space limit: a runaway allocation shows as a MemoryError.
ADDRESS_SPACE = 3 << 30
INTEGERS = (0, 1, -1, 2, 7, 63, 64, 255, 256, 2**31 - 1, 2**31, -(2**31), 2**32, 2**53,
            2**63 - 1, -(2**63), 2**64 - 1)


def _json_value(rng: random.Random) -> Any:
    """An awkward JSON value: extremes, wrong types, node kinds, names, dtypes."""
    choice = rng.randrange(9)
    if choice == 0:
        return rng.choice(INTEGERS)
    if choice == 1:
        return rng.choice([None, True, False, 0.0, -0.0, 1e308, -1e-308, 0.5])
    if choice == 2:
        return rng.choice(["", "x" * rng.randrange(64), "\u00b2", "--1", "nan", "C", "F"])
    if choice == 3:
        return rng.choice(DTYPES)
    if choice == 4:
        return rng.choice(NAMES)
    if choice == 5:
        return {"$": rng.choice(KINDS)}
    if choice == 6:
        return {"$": "ref", "to": rng.choice(INTEGERS[:6])}
    if choice == 7:
        return {"$": "nd", "a": rng.choice(INTEGERS[:6])}
    return [rng.choice(INTEGERS) for _ in range(rng.randrange(4))]


def places(header: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) of every value in ``header``."""
    found: list[tuple[Any, Any]] = []
    stack = [header]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            found.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return found


#: Keys whose values steer the decoder: edits favour them ten to one.
STEERING = frozenset({"$", "cls", "name", "dtype", "shape", "a", "to", "@", "v", "n", "k",
                      "hex", "b64", "args", "state", "order", "offset", "length", "codec",
                      "kind", "func", "strs"})
_SPECIFIC: dict[str, Callable[[random.Random], Any]] = {
    "$": lambda rng: rng.choice(KINDS),
    "cls": lambda rng: rng.choice(NAMES),
    "name": lambda rng: rng.choice(NAMES),
    "dtype": lambda rng: rng.choice(DTYPES),
    "shape": lambda rng: [rng.choice((0, 1, 3, 2**31, 2**63 - 1, 2**64 - 1))
                          for _ in range(rng.randrange(4))],
}


def _edit_json(rng: random.Random, forge: Forge) -> None:
    """Replace, drop, retype or copy one value of the header (steering keys first)."""
    spots = places(forge.header)
    weights = [10 if key in STEERING else 1 for _, key in spots]
    container, key = rng.choices(spots, weights)[0]
    value = container[key]
    roll = rng.random()
    if roll < 0.35 and key in _SPECIFIC:
        container[key] = _SPECIFIC[key](rng)
    elif roll < 0.5 and isinstance(container, dict):
        del container[key]
    elif roll < 0.65 and isinstance(value, int) and not isinstance(value, bool):
        container[key] = rng.choice([value + 1, value - 1, -value, value * 2**20, 0])
    elif roll < 0.75:
        other_container, other_key = rng.choice(spots)
        container[key] = json.loads(json.dumps(other_container[other_key]))
    else:
        container[key] = _json_value(rng)


def _drop_attribute(rng: random.Random, forge: Forge) -> None:
    """Remove one attribute of one object (n_features_in_, support_, ...)."""
    states = [n["state"]["v"] for n in nodes(forge.tree)
              if isinstance(n.get("state"), dict) and isinstance(n["state"].get("v"), dict)
              and n["state"]["v"]]
    if states:
        state = rng.choice(states)
        del state[rng.choice(list(state))]


def _extreme(rng: random.Random, array: np.ndarray[Any, Any]) -> None:
    """Set one element (one field of one record) of ``array`` to an extreme value."""
    if not array.size:
        return
    index = tuple(rng.randrange(n) for n in array.shape)
    target = array
    if array.dtype.names:
        target = array[rng.choice(array.dtype.names)]
    if target.dtype.kind in "iub":
        info = np.iinfo(target.dtype) if target.dtype.kind != "b" else None
        value = rng.choice([0, 1, -1, 2**31 - 1, 10**6]) if info is None else rng.choice(
            [info.min, info.max, 0, -1 if info.min < 0 else 1, info.max // 2])
        target[index] = np.array(value).astype(target.dtype)
    elif target.dtype.kind in "fc":
        target[index] = rng.choice([np.nan, np.inf, -np.inf, 1e308, -1.0, 0.0])


def _edit_array(rng: random.Random, forge: Forge) -> None:
    """Set one element of an array (inline or in the section) to an extreme value."""
    inline = [n for n in nodes(forge.tree) if n.get("$") == "nd" and "b64" in n]
    table = list(range(len(forge.header["arrays"])))
    if inline and (not table or rng.random() < 0.6):
        node = rng.choice(inline)
        try:
            array = get_array(forge, node)
        except Exception:  # an earlier mutation left it unreadable: that is the loader's test
            return
        _extreme(rng, array)
        node["b64"] = base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()
    elif table:
        try:
            arrays = forge.arrays()
        except Exception:  # an earlier mutation left the table unreadable: the loader's test
            return
        _extreme(rng, arrays[rng.choice(table)])
        forge.set_arrays(arrays)


STRUCTURED: tuple[Callable[[random.Random, Forge], None], ...] = (
    _edit_json, _edit_json, _edit_json, _drop_attribute, _edit_array, _edit_array)


def _raw(rng: random.Random, data: bytearray) -> bytearray:
    """One raw mutation of the bytes."""
    roll, size = rng.random(), len(data)
    where = rng.randrange(size) if size else 0
    if roll < 0.4 and size:
        data[where] ^= 1 << rng.randrange(8)
    elif roll < 0.55 and size:
        data[where] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x22, 0x7B])
    elif roll < 0.7:
        data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif roll < 0.85:
        del data[where:where + rng.randint(1, 64)]
    elif roll < 0.95:
        data = data[:where]
    else:
        data[where:where] = data[where:where + rng.randint(1, 256)]
    return data


def make_input(seed: int, index: int, seeds: list[bytes]) -> bytes:
    """Input ``index`` of ``seed``: a valid file with one to three mutations."""
    rng = random.Random(f"{seed}:{index}")
    data = rng.choice(seeds)
    if rng.random() < 0.65:
        forge = Forge.parse(data)
        for _ in range(rng.randint(1, 3)):
            mutation = rng.choice(STRUCTURED)
            # An earlier edit can leave the header beyond what a later one understands.
            with contextlib.suppress(TypeError, ValueError, LookupError, AttributeError):
                mutation(rng, forge)
        with contextlib.suppress(TypeError, ValueError):  # values JSON cannot say: keep the file
            data = forge.to_bytes()
    if rng.random() < 0.4:
        mutable = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            mutable = _raw(rng, mutable)
        data = bytes(mutable)
    return data


def check(data: bytes, path: Path) -> list[dict[str, Any]]:
    """Load (from ``data``, and from ``path``, which holds it, reading array by array),
    inspect and (for models) predict; the non-SatchelErrors that escaped."""
    escaped = []
    loaded, value = attempt(lambda: satchel.loads(data))
    with by_array():
        streamed, _ = attempt(lambda: satchel.load(path))
    inspected, _ = attempt(lambda: satchel.inspect(io.BytesIO(data)))
    for stage, outcome in (("loads", loaded), ("load_by_array", streamed),
                           ("inspect", inspected)):
        if outcome["result"] == "leaked":
            escaped.append({"stage": stage, **outcome})
    if value is not None and hasattr(value, "predict"):
        attempt(lambda: value.predict(training_data()[0]))
    return escaped


def fuzz(seeds: list[int], start: int, seconds: float, out: Path) -> None:
    """Fuzz each seed for an equal share of ``seconds``, printing a JSON line per failure."""
    files = [base(name) for name in SEED_FILES]
    training_data()
    kinds: dict[tuple[str, str, str], int] = {}
    runs = 0
    for position, seed in enumerate(seeds):
        index = start if position == 0 else 0
        deadline = time.monotonic() + seconds / len(seeds)
        while time.monotonic() < deadline:
            data = make_input(seed, index, files)
            (out / "current.satchel").write_bytes(data)
            (out / "current.json").write_text(json.dumps({"seed": seed, "index": index}))
            for failure in check(data, out / "current.satchel"):
                kind = (failure["stage"], failure["type"], failure["where"])
                kinds[kind] = kinds.get(kind, 0) + 1
                if kinds[kind] <= 3:
                    path = out / f"{seed}-{index}.satchel"
                    path.write_bytes(data)
                    print(json.dumps({"seed": seed, "index": index, "file": str(path),
                                      **failure}), flush=True)
            index += 1
            runs += 1
    print(json.dumps({"runs": runs, "kinds": [[*k, n] for k, n in kinds.items()]}), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--count", type=int, default=0, help="remake this many inputs, no fuzzing")
    parser.add_argument("--replay", type=Path, help="check this one file and report")
    parser.add_argument("--out", type=Path, default=Path())
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    if args.replay:
        print(json.dumps(check(args.replay.read_bytes(), args.replay)))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    if args.count:
        files = [base(name) for name in SEED_FILES]
        for index in range(args.start, args.start + args.count):
            path = args.out / f"{seeds[0]}-{index}.satchel"
            path.write_bytes(make_input(seeds[0], index, files))
            print(path, file=sys.stderr)
        return
    fuzz(seeds, args.start, args.seconds, args.out)


if __name__ == "__main__":
    main()
