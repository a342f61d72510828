"""Load hostile corpus files and report what happened, one JSON line per file.

``python -m tests.hostile_child [--predict] [--limit-as BYTES] CASE...`` is how
``tests/test_hostile.py`` runs the files that could crash the process, hang it
or exhaust its memory. The child imports satchel and scikit-learn once, then
forks once per case: a fork that dies or hangs is reported (with the stage it
was in, load or predict) and the next case goes on. Each case runs in its own
scratch directory (``./<case>``), so that marker files land where the parent
looks for them. The forks start from a process that has not imported what the
cases forbid, so their imports show. :func:`run_case` is also what the
in-process tests call, so both report the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import json
import os
import resource
import select
import signal
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import satchel
from satchel.format import reader
from satchel.format.handlers import columns
from tests.hostile import CASES, Case, training_data

Report = dict[str, Any]


class LookupRecorder(importlib.abc.MetaPathFinder):
    """Records every module name the import system is asked to find, finds nothing."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        """Note the name; let the real finders answer."""
        self.names.append(fullname)

    def __enter__(self) -> LookupRecorder:
        sys.meta_path.insert(0, self)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.meta_path.remove(self)


def where(exc: BaseException) -> str:
    """The innermost frame of satchel's own code in ``exc``'s traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f"{os.sep}satchel{os.sep}" in f.filename and "tests" not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename.split('src' + os.sep)[-1]}:{frame.lineno} ({frame.name})"


def attempt(call: Callable[[], Any]) -> tuple[Report, Any]:
    """(what ``call`` did, its value): refused with a SatchelError, leaked another, or loaded."""
    try:
        value = call()
    except satchel.SatchelError as exc:
        return {"result": "refused", "type": type(exc).__name__, "message": str(exc),
                "names": getattr(exc, "names", None)}, None
    except BaseException as exc:  # reporting whatever leaked is the point
        return {"result": "leaked", "type": type(exc).__name__, "message": str(exc)[:500],
                "where": where(exc)}, None
    return {"result": "loaded", "value": type(value).__name__}, value


def _within(name: str, roots: Sequence[str]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


@contextlib.contextmanager
def by_array() -> Iterator[None]:
    """Loads inside read arrays as they need them and tree nodes a few trees at a time, as
    loads of files of 1 MiB or more do."""
    saved = reader._WHOLE_BELOW, columns.GROUP_BYTES
    reader._WHOLE_BELOW, columns.GROUP_BYTES = 0, 256
    try:
        yield
    finally:
        reader._WHOLE_BELOW, columns.GROUP_BYTES = saved


def run_case(item: Case, predict: bool = False,
             progress: Callable[[str], None] | None = None) -> Report:
    """Load ``item``'s file with loads, load and a load by array, inspect it, and say what
    happened.

    With ``predict``, a model that loads is asked to predict; ``progress`` is
    told just before, so that a crash can be placed.
    """
    data = item.path.read_bytes()
    options = dict(item.options)
    report: Report = {"case": item.name}
    before = set(sys.modules)
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
    with LookupRecorder() as recorder:
        report["loads"], value = attempt(lambda: satchel.loads(data, **options))
        report["load"], _ = attempt(lambda: satchel.load(item.path, **options))
        with by_array():
            report["load_by_array"], _ = attempt(lambda: satchel.load(item.path, **options))
        if tracemalloc.is_tracing():
            report["peak"] = tracemalloc.get_traced_memory()[1]
        inspected = set(sys.modules)
        report["inspect"], _ = attempt(lambda: satchel.inspect(item.path))
        report["inspect_imports"] = sorted(set(sys.modules) - inspected)
    report["lookups"] = sorted({n for n in recorder.names if _within(n, item.forbidden)})
    report["imported"] = sorted(n for n in set(sys.modules) - before
                                if _within(n, item.forbidden))
    if predict and value is not None and hasattr(value, "predict"):
        if progress is not None:
            progress("predict")
        report["predict"], _ = attempt(lambda: value.predict(training_data()[0]))
    return report


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"killed by signal {number} ({signal.Signals(number).name})"
    return f"exit status {os.WEXITSTATUS(status)}"


def _read_until(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything written to ``fd`` until it closes, and whether that happened in time."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b"".join(chunks), False
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)


def run_forked(name: str, predict: bool, limit_as: int) -> Report:
    """:func:`run_case` in a forked process, so that a crash or a hang is reported, not fatal.

    For a memory case, the fork sets the address-space limit ``limit_as`` and
    traces allocations. It works in the directory ``./<name>`` and counts as
    hung after the case's ``seconds``.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked process: report through the pipe, never return
        os.close(read_end)
        out = os.fdopen(write_end, "w")

        def say(message: Report) -> None:
            out.write(json.dumps(message) + "\n")
            out.flush()

        os.makedirs(name, exist_ok=True)
        os.chdir(name)
        if limit_as and CASES[name].isolate == "memory":
            tracemalloc.start()
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
        say(run_case(CASES[name], predict, lambda stage: say({"stage": stage})))
        os._exit(0)
    os.close(write_end)
    timeout = CASES[name].seconds
    output, finished = _read_until(read_end, time.monotonic() + timeout)
    os.close(read_end)
    if not finished:
        os.kill(pid, signal.SIGKILL)
    status = os.waitpid(pid, 0)[1]
    messages = [json.loads(line) for line in output.decode().splitlines()]
    for message in messages:
        if "case" in message:
            return message
    stage = next((m["stage"] for m in reversed(messages) if "stage" in m), "load")
    if not finished:
        return {"case": name, "died": f"the process hung during {stage}: no answer within"
                                      f" {timeout:g} s, so it was killed"}
    return {"case": name, "died": f"the process died during {stage}: {_describe_status(status)}"}


def main(argv: Sequence[str] | None = None) -> None:
    """Run each named case in a fork of one prepared process; print one report line each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--predict", action="store_true")
    parser.add_argument("--limit-as", type=int, default=0)
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args(argv)
    training_data()
    import sklearn.ensemble
    import sklearn.neighbors
    import sklearn.preprocessing
    import sklearn.svm  # noqa: F401 - imported once here rather than in every fork

    for name in args.cases:
        report = run_forked(name, args.predict, args.limit_as)
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
