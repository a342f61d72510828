"""The hostile corpus: every forged, damaged or foreign file is refused, safely.

Two scripts write the corpus: ``tests/forge.py`` (expectations in
``expected.json``) and ``tests/hostile.py`` (expectations beside each builder,
in :data:`tests.hostile.CASES`). The first set loads in one child process with
an address-space limit. Of the second, files that cannot harm the test process
load in it; files that could crash it (scikit-learn state that compiled code
indexes, then ``predict``), exhaust its memory, or must be loaded by a fresh
interpreter to show what it imports load in child processes. Forged callables
target marker files that must never appear.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import satchel
from satchel.format import container, reader
from satchel.format.handlers.scipy_ import _spline_parts
from tests import hostile
from tests.forge import CORPUS, MARKER
from tests.hostile import CASES, Case, Forge
from tests.hostile_child import LookupRecorder, Report, attempt, run_case
from tests.hostile_tools import CHILD_PATH

EXPECTED: dict[str, dict[str, str]] = json.loads((CORPUS / "expected.json").read_text())
CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import satchel
    from tests.hostile_child import by_array

    results = {}
    for path in sys.argv[1:]:
        name = path.rsplit("/", 1)[-1][:-len(".satchel")]
        data = open(path, "rb").read()
        outcome = {}
        for verb, call in (("load", lambda: satchel.load(path)),
                           ("loads", lambda: satchel.loads(data)),
                           ("load_by_array", lambda: by_array()(satchel.load)(path)),
                           ("inspect", lambda: satchel.inspect(path))):
            try:
                call()
                outcome[verb] = ["ok", ""]
            except satchel.SatchelError as exc:
                outcome[verb] = [type(exc).__name__, str(exc),
                                 getattr(exc, "names", None)]
            except BaseException as exc:
                outcome[verb] = ["NOT A SATCHEL ERROR: " + type(exc).__name__, str(exc)[:300]]
        results[name] = outcome
    print(json.dumps(results))
""")


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, Any]]:
    """What loading each corpus file did, in a memory-limited child process."""
    if os.path.exists(MARKER):
        os.unlink(MARKER)
    paths = [str(CORPUS / f"{name}.satchel") for name in sorted(EXPECTED)]
    child = subprocess.run([sys.executable, "-c", CHILD, *paths], capture_output=True,
                           text=True, timeout=600, check=False,
                           env={**os.environ, "PYTHONPATH": CHILD_PATH})
    assert child.returncode == 0, f"the loading process died: {child.stderr[-2000:]}"
    results: dict[str, dict[str, Any]] = json.loads(child.stdout)
    return results


def test_corpus_is_large_and_complete() -> None:
    """The corpus holds at least 30 files and each has an expected outcome."""
    names = {p.stem for p in CORPUS.glob("*.satchel")}
    assert len(names) >= 30
    assert not set(EXPECTED) & set(CASES)
    assert names == set(EXPECTED) | set(CASES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_file_is_refused(name: str, outcomes: dict[str, dict[str, Any]]) -> None:
    """load and loads refuse the file with the expected satchel error and message, also when
    the load reads arrays as it needs them and tree nodes a few trees at a time."""
    if name.startswith(("bspline_", "spline_transformer_")) and _spline_parts() != ("_t", "_c"):
        pytest.skip("the corpus file holds a BSpline as recent scipy keeps it (_t, _c and an"
                    " _asarray of scipy's array API module); scipy 1.11 cannot import that"
                    " module, and refuses the file for it")
    expected = EXPECTED[name]
    for verb in ("load", "loads", "load_by_array"):
        kind, message, *_ = outcomes[name][verb]
        assert kind == expected["error"], f"{verb}: {kind}: {message}"
        assert expected["message"] in message, f"{verb}: {message}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inspect_never_fails_badly(name: str, outcomes: dict[str, dict[str, Any]]) -> None:
    """inspect either describes the file or raises a satchel error."""
    kind, message, *_ = outcomes[name]["inspect"]
    assert not kind.startswith("NOT A SATCHEL ERROR"), message


def test_untrusted_errors_name_the_forged_callable(outcomes: dict[str, dict[str, Any]]) -> None:
    """Forged names are listed in UntrustedTypesError.names, as trusted= would need them."""
    assert outcomes["function_os_system"]["load"][2] == ["os.system"]
    assert outcomes["partial_os_system"]["load"][2] == ["os.system"]
    assert outcomes["methodcaller"]["load"][2] == ["operator.methodcaller"]


def test_no_forged_code_ran(outcomes: dict[str, dict[str, Any]]) -> None:
    """No file made its callable run: the marker file they target does not exist."""
    assert outcomes
    assert not os.path.exists(MARKER)


def test_inspect_imports_nothing_a_file_names() -> None:
    """Inspecting files that name scikit-learn's SVM and tree modules imports neither."""
    script = textwrap.dedent(f"""
        import sys, satchel
        for name in ("svc_support_counts", "tree_child_out_of_range", "class_os_system"):
            satchel.inspect({str(CORPUS)!r} + "/" + name + ".satchel")
        print(sorted(m for m in ("sklearn.svm", "sklearn.tree", "subprocess")
                     if m in sys.modules))
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True)
    assert child.stdout.strip() == "[]"


def test_refused_tree_never_reaches_predict() -> None:
    """A tree with a child index out of range is refused; nothing segfaults."""
    script = textwrap.dedent(f"""
        import satchel
        try:
            satchel.load({str(CORPUS / "tree_child_out_of_range.satchel")!r}).predict([[0] * 4])
        except satchel.FormatError as exc:
            print("refused:", exc)
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=False)
    assert child.returncode == 0
    assert child.stdout.startswith("refused: ")


def test_corpus_matches_the_forge(tmp_path: Path) -> None:
    """tests/forge.py still produces exactly the committed attack names."""
    from tests.forge import attacks

    assert set(attacks()) == set(EXPECTED)


# ------------------------------------------------- the cases of tests/hostile.py

IN_PROCESS = sorted(name for name, item in CASES.items() if not item.isolate)
ISOLATED = sorted(name for name, item in CASES.items() if item.isolate)
#: The address-space limit of the memory cases, and what a load may allocate in it:
#: inflating a header up to the reader's cap is allowed (and costs up to twice that).
ADDRESS_SPACE = 2 << 30
MEMORY_BUDGET = 2 * container.MAX_HEADER_BYTES + (64 << 20)
CHILD_TIMEOUT = 300
ROOT = Path(__file__).resolve().parent.parent


def _describe(outcome: Report) -> str:
    detail = outcome.get("message", outcome.get("value", ""))
    return f"{outcome['result']} {outcome.get('type', '')}: {detail} {outcome.get('where', '')}"


def refusal_problems(item: Case, report: Report) -> list[str]:
    """How ``report`` (see tests.hostile_child) breaks what ``item`` expects; empty if it holds."""
    problems = []
    for verb in ("loads", "load", "load_by_array"):
        outcome = report[verb]
        if outcome["result"] != "refused":
            problems.append(f"{verb}: {_describe(outcome)}")
            continue
        found = getattr(satchel, outcome["type"], None)
        expected = item.error
        if (found is not expected) if item.exact else not (
                isinstance(found, type) and issubclass(found, expected)):
            problems.append(f"{verb}: expected {expected.__name__}, got {_describe(outcome)}")
        problems += [f"{verb}: the message lacks {m!r}: {outcome['message']}"
                     for m in item.match if m not in outcome["message"]]
        if item.names is not None and tuple(outcome["names"] or ()) != item.names:
            problems.append(f"{verb}: names {outcome['names']}, expected {list(item.names)}")
    if report["lookups"] or report["imported"]:
        problems.append(f"looked up {report['lookups']}, imported {report['imported']}")
    return problems


def _markers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(f"{hostile.MARKER}*"))


def test_forge_round_trips_valid_files() -> None:
    """Taking a valid file apart and putting it back together gives the same bytes."""
    for name in ("value", "kdtree", "sparse", "hgb"):
        data = hostile.base(name)
        assert Forge.parse(data).to_bytes() == data


def test_forged_files_pass_every_checksum() -> None:
    """An edited file has a valid header hash, array checksums and content digest."""
    assert satchel.loads(hostile.pack(hostile.header_text(b"[1,2]"))) == [1, 2]
    forge = Forge.parse(hostile.base("value"))
    forge.tree["v"]["t"] = "changed"
    forge.set_arrays([array * 2 for array in forge.arrays()])
    data = forge.to_bytes()
    source = reader.Source.from_bytes(data)
    reader.check_digest(source, source.header())
    loaded = satchel.loads(data)
    assert (loaded["t"], loaded["x"][1], loaded["i"][3]) == ("changed", 2.0, 6)


@pytest.mark.parametrize("name", IN_PROCESS)
def test_crafted_file_is_refused(name: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """load and loads refuse the file with the expected error, message and names; nothing ran."""
    monkeypatch.chdir(tmp_path)
    item = CASES[name]
    problems = refusal_problems(item, run_case(item))
    assert not problems, f"{item.about}\n" + "\n".join(problems)
    assert _markers(tmp_path) == []


@pytest.mark.parametrize("name", IN_PROCESS)
def test_inspect_reads_the_header_alone(name: str) -> None:
    """inspect describes the file or raises a SatchelError, and imports or looks up nothing."""
    satchel.inspect(io.BytesIO(hostile.base("value")))
    before = set(sys.modules)
    with LookupRecorder() as recorder:
        outcome, _ = attempt(lambda: satchel.inspect(CASES[name].path))
    assert outcome["result"] != "leaked", _describe(outcome)
    assert recorder.names == []
    assert set(sys.modules) == before


@pytest.mark.parametrize("name", IN_PROCESS)
def test_mapped_load_refuses_or_loads(name: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """load(mmap=True), which leaves array checksums to a full load, raises only SatchelErrors."""
    monkeypatch.chdir(tmp_path)
    item = CASES[name]
    outcome, _ = attempt(lambda: satchel.load(item.path, mmap=True, **dict(item.options)))
    assert outcome["result"] != "leaked", _describe(outcome)
    assert _markers(tmp_path) == []


@pytest.mark.parametrize(("outputs", "change"), [
    (1, lambda y: y.__setitem__(3, -1)),
    (1, lambda y: y.__setitem__(-1, 2)),
    (2, lambda y: y.__setitem__((5, 1), 3)),
    (2, lambda y: y.__setitem__((4, 0), 2)),
    (2, lambda y: y.__setitem__((0, 0), -(1 << 62))),
])
def test_neighbours_labels_outside_their_classes_are_refused(outputs: int, change: Any) -> None:
    """Each output's class indices in ``_y`` must lie in ``0..len(classes) - 1``: negative
    ones too (the brute-force vote indexes with them unchecked)."""
    from sklearn.neighbors import KNeighborsClassifier

    features = np.random.default_rng(0).normal(size=(30, 2))
    labels = np.stack([np.arange(30) % 2, np.arange(30) % 3], axis=1)[:, :outputs].squeeze()
    model = KNeighborsClassifier(n_neighbors=3).fit(features, labels)
    assert satchel.loads(satchel.dumps(model)).unwrap()._y.shape == model._y.shape
    change(model._y)
    with pytest.raises(satchel.FormatError, match="_y holds a class index outside classes_"):
        satchel.loads(satchel.dumps(model))


def test_every_cut_of_a_file_is_refused() -> None:
    """A neighbours file cut anywhere in its first kilobyte, then every 61 bytes, is refused."""
    data = hostile.base("kdtree")
    for cut in [*range(1024), *range(1024, len(data), 61)]:
        with pytest.raises(satchel.FormatError):
            satchel.loads(data[:cut])


@pytest.fixture(scope="module", autouse=True)
def isolated_child(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The child that loads the isolated cases, started early so that it runs beside the rest.

    tests.hostile_child forks once per case; the scratch directory holds one
    folder per case (where markers would appear) and ``path/``, which provides
    the marker package.
    """
    scratch = tmp_path_factory.mktemp("isolated")
    package = scratch / "path" / hostile.MARKER_MODULE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        f"open({hostile.MARKER + '-imported'!r}, 'w').close()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([CHILD_PATH, str(scratch / "path")]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tests.hostile_child", "--predict",
               "--limit-as", str(ADDRESS_SPACE), *ISOLATED]
    with (scratch / "stdout").open("wb") as out, (scratch / "stderr").open("wb") as err:
        child = subprocess.Popen(command, cwd=scratch, env=env, stdout=out, stderr=err)
    yield child, scratch
    if child.poll() is None:
        child.kill()
        child.wait()


@pytest.fixture(scope="module")
def isolated_reports(isolated_child: tuple[subprocess.Popen[bytes], Path]
                     ) -> dict[str, Report]:
    """What loading each isolated case did (see tests.hostile_child)."""
    child, scratch = isolated_child
    child.wait(timeout=CHILD_TIMEOUT)
    stderr = (scratch / "stderr").read_text(errors="replace")
    assert child.returncode == 0, f"the child itself failed: {stderr[-3000:]}"
    reports = {}
    for line in (scratch / "stdout").read_text().splitlines():
        report = json.loads(line)
        reports[report["case"]] = {**report, "stderr": stderr,
                                   "markers": _markers(scratch / report["case"])}
    return reports


@pytest.mark.parametrize("name", ISOLATED)
def test_isolated_file_is_refused_safely(name: str,
                                         isolated_reports: dict[str, Report]) -> None:
    """In a child process the file is refused as expected: no crash, hang or runaway memory."""
    item, report = CASES[name], isolated_reports[name]
    assert "died" not in report, f"{item.about}\n{report['died']}"
    problems = refusal_problems(item, report)
    if "predict" in report:
        problems.append(f"then predict ran: {_describe(report['predict'])}")
    if report.get("peak", 0) > MEMORY_BUDGET:
        problems.append(f"a load allocated {report['peak'] >> 20} MiB at its peak; the budget"
                        f" is {MEMORY_BUDGET >> 20} MiB")
    if report["inspect"]["result"] == "leaked" or report["inspect_imports"]:
        problems.append(f"inspect: {_describe(report['inspect'])},"
                        f" imported {report['inspect_imports']}")
    if report["markers"]:
        problems.append(f"code ran: it created {report['markers']}")
    if "Fatal Python error" in report["stderr"]:
        problems.append(report["stderr"][-1500:])
    assert not problems, f"{item.about}\n" + "\n".join(problems)
