"""The hostile corpus: every forged, damaged or foreign file is refused, safely.

All loads run in one child process with an address-space limit, so that a
crash, a MemoryError or runaway allocation would show as a failed child, never
as a passing test. Forged callables target a marker file that must never appear.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.forge import CORPUS, MARKER

EXPECTED: dict[str, dict[str, str]] = json.loads((CORPUS / "expected.json").read_text())
CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import satchel
    results = {}
    for path in sys.argv[1:]:
        name = path.rsplit("/", 1)[-1][:-len(".satchel")]
        data = open(path, "rb").read()
        outcome = {}
        for verb, call in (("load", lambda: satchel.load(path)),
                           ("loads", lambda: satchel.loads(data)),
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
    paths = sorted(str(p) for p in CORPUS.glob("*.satchel"))
    child = subprocess.run([sys.executable, "-c", CHILD, *paths], capture_output=True,
                           text=True, timeout=600, check=False)
    assert child.returncode == 0, f"the loading process died: {child.stderr[-2000:]}"
    results: dict[str, dict[str, Any]] = json.loads(child.stdout)
    return results


def test_corpus_is_large_and_complete() -> None:
    """The corpus holds at least 30 files and each has an expected outcome."""
    names = {p.stem for p in CORPUS.glob("*.satchel")}
    assert len(names) >= 30
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_file_is_refused(name: str, outcomes: dict[str, dict[str, Any]]) -> None:
    """load and loads refuse the file with the expected satchel error and message."""
    expected = EXPECTED[name]
    for verb in ("load", "loads"):
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
