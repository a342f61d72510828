"""diff: parameter, structure, array and metadata differences between two files."""

from __future__ import annotations

import base64
import io
import platform
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import satchel
from tests.custom import Doubler
from tests.forge import raw_header, with_header
from tests.hostile_tools import (
    forge_environment,
    header_metadata,
    rewrite_metadata,
    rewrite_tree,
)

SKLEARN = __import__("sklearn").__version__


def _save(tmp_path: Path, name: str, obj: Any, **options: Any) -> Path:
    path = tmp_path / f"{name}.satchel"
    satchel.save(obj, path, **options)
    return path


def _fit(xy: tuple[Any, Any], scaler: Any = None, **params: Any) -> Any:
    return make_pipeline(scaler or StandardScaler(), LogisticRegression(**params)).fit(*xy)


def test_identical_files_have_no_differences(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """Two saves of the same model differ in nothing, although their times may differ."""
    left = _save(tmp_path, "a", _fit(xy), metadata={"owner": "growth"})
    right = _save(tmp_path, "b", _fit(xy), metadata={"owner": "growth"})
    assert satchel.diff(left, right) == []


def test_parameter_and_array_changes(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """A changed parameter is a value change; refitted arrays are counted and measured."""
    left = _save(tmp_path, "a", _fit(xy))
    right = _save(tmp_path, "b", _fit(xy, C=0.01))
    changes = {c.path.lstrip("."): c for c in satchel.diff(left, right)}
    assert str(changes["steps[1][1].C"]) == "steps[1][1].C: value: 1.0 -> 0.01"
    coef = changes["steps[1][1].coef_"]
    assert (coef.kind, coef.left) == ("array", "values")
    assert coef.right.startswith("4 of 4 values differ, largest difference ")
    assert "steps[0][1].mean_" not in changes


def test_array_shape_changes(tmp_path: Path) -> None:
    """Arrays of another shape or dtype are reported with both."""
    left = _save(tmp_path, "a", {"w": np.zeros((100, 3))})
    right = _save(tmp_path, "b", {"w": np.zeros((100, 4), dtype=np.float32)})
    assert [str(c) for c in satchel.diff(left, right)] == [
        "w: array: float64 (100, 3) -> float32 (100, 4)"]


def test_missing_values_on_both_sides_are_no_difference(tmp_path: Path) -> None:
    """An array whose NaNs stay where they were (a KNNImputer's training rows) counts only
    the values that changed."""
    left = _save(tmp_path, "a", {"w": np.array([np.nan, 1.0, 2.0, np.nan, 3.0])})
    right = _save(tmp_path, "b", {"w": np.array([np.nan, 1.0, 2.5, np.nan, 3.0])})
    assert [str(c) for c in satchel.diff(left, right)] == [
        "w: array: values -> 1 of 5 values differ, largest difference 0.5"]


def test_large_arrays_in_the_array_section(tmp_path: Path) -> None:
    """Arrays stored in the array section are compared by value, with the largest gap."""
    values = np.arange(10_000.0)
    changed = values.copy()
    changed[[3, 7]] += [0.5, 2.0]
    left = _save(tmp_path, "a", {"w": values})
    right = _save(tmp_path, "b", {"w": changed})
    assert satchel.inspect(left).array_count == 1
    assert [str(c) for c in satchel.diff(left, right)] == [
        "w: array: values -> 2 of 10000 values differ, largest difference 2"]


def test_structure_changes(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """A step of another type, and a pipeline of another length, are structure changes."""
    base = _save(tmp_path, "a", _fit(xy))
    other_step = _save(tmp_path, "b", _fit(xy, scaler=MinMaxScaler()))
    changes = {c.path.lstrip("."): c for c in satchel.diff(base, other_step)}
    assert str(changes["steps[0][1]"]) == (
        "steps[0][1]: type: obj sklearn.preprocessing._data:StandardScaler ->"
        " obj sklearn.preprocessing._data:MinMaxScaler")
    longer = _save(tmp_path, "c", make_pipeline(StandardScaler(), Doubler(),
                                                LogisticRegression()).fit(*xy))
    assert "steps: value: 2 items -> 3 items" in [str(c) for c in satchel.diff(base, longer)]


def test_environment_changes_are_metadata(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """A package saved at another version is a metadata change, and so is another Python or
    platform (they were left out); the time a file was created is not."""
    left = _save(tmp_path, "a", _fit(xy))
    right = tmp_path / "old.satchel"
    right.write_bytes(forge_environment(left.read_bytes(), {"scikit-learn": "1.0.2"}))
    assert [str(c) for c in satchel.diff(right, left)] == [
        f"environment.scikit-learn: metadata: 1.0.2 -> {SKLEARN}"]
    other = tmp_path / "other.satchel"
    other.write_bytes(forge_environment(left.read_bytes(), python="3.9.1",
                                        platform="Windows-AMD64", created="2020-01-01T00:00:00Z"))
    assert [str(c) for c in satchel.diff(other, left)] == [
        f"environment.python: metadata: 3.9.1 -> {platform.python_version()}",
        f"environment.platform: metadata: Windows-AMD64 -> {platform.system()}-"
        f"{platform.machine()}"]


def test_schema_changes_are_metadata(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """Files whose schemas differ say how: each input column added, removed or of another
    dtype, and the output's dtype and classes; not only that the schema changed."""
    model = _fit(xy)
    left = _save(tmp_path, "a", model)
    right = _save(tmp_path, "b", model, sample=xy[0].astype(np.float32))
    assert [str(c) for c in satchel.diff(left, right) if c.path.startswith("schema")] == [
        "schema.input: metadata: an array of 4 features (None) -> an array of 4 features"
        " (float32)", "schema.output.dtype: metadata: None -> int64"]
    frame = pd.DataFrame(xy[0][:, :3], columns=["age", "income", "plan"])
    first = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, xy[1])
    changed = frame.drop(columns="plan").assign(income=frame["income"].astype(np.float32),
                                                tenure=1.0)
    second = make_pipeline(StandardScaler(), LogisticRegression()).fit(changed, xy[1] * 2)
    left = _save(tmp_path, "c", first, sample=frame)
    right = _save(tmp_path, "d", second, sample=changed)
    assert [str(c) for c in satchel.diff(left, right) if c.path.startswith("schema")] == [
        "schema.input['income']: metadata: float (float64) -> float (float32)",
        "schema.input['plan']: metadata: float (float64) -> -",
        "schema.input['tenure']: metadata: - -> float (float64)",
        "schema.output.classes: metadata: [0, 1] -> [0, 2]"]


def test_user_metadata_changes_are_reported(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """A change in the metadata= a model was saved with is a metadata difference; a key on
    one side only is '-' on the other, not the text '-' (which a value may be)."""
    model = _fit(xy)
    left = _save(tmp_path, "a", model, metadata={"owner": "growth", "auc": 0.91})
    right = _save(tmp_path, "b", model, metadata={"owner": "risk", "auc": 0.91})
    changes = satchel.diff(left, right)
    assert [(c.kind, "owner" in c.path, "growth" in c.left, "risk" in c.right)
            for c in changes] == [("metadata", True, True, True)]
    added = _save(tmp_path, "c", model, metadata={"owner": "growth", "auc": 0.91, "run": "-"})
    assert [str(c) for c in satchel.diff(left, added)] == ["user.run: metadata: - -> '-'"]
    assert [str(c) for c in satchel.diff(added, left)] == ["user.run: metadata: '-' -> -"]


def test_diff_reads_files_without_importing_them(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """diff of two files with custom code neither imports nor trusts it."""
    left = _save(tmp_path, "a", make_pipeline(Doubler(), LogisticRegression()).fit(*xy))
    right = _save(tmp_path, "b", make_pipeline(Doubler(), LogisticRegression(C=2.0)).fit(*xy))
    script = textwrap.dedent(f"""
        import sys, satchel
        changes = satchel.diff({str(left)!r}, {str(right)!r})
        print(len(changes) > 0, "tests.custom" in sys.modules, "sklearn.linear_model" in
              sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.split() == ["True", "False", "False"]


def test_custom_code_changes_are_metadata(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """Files whose custom module has another source, or embeds it where the other does not,
    say so by the module: the same tree may run other code, and diff found no difference."""
    model = make_pipeline(Doubler(), LogisticRegression()).fit(*xy)
    left = _save(tmp_path, "a", model)
    embedded = _save(tmp_path, "b", model, embed_source=True)
    source = satchel.inspect(left).metadata.code[0]["source_sha256"][:12]
    assert [str(c) for c in satchel.diff(left, embedded)] == [
        f"code.tests.custom: metadata: source {source} -> source {source}, embedded"]
    metadata = header_metadata(left.read_bytes())
    metadata["code"][0]["source_sha256"] = "0" * 64
    edited = tmp_path / "edited.satchel"
    edited.write_bytes(rewrite_metadata(left.read_bytes(), metadata))
    assert [str(c) for c in satchel.diff(left, edited)] == [
        f"code.tests.custom: metadata: source {source} -> source 000000000000"]


def test_check_sample_changes_are_metadata(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """Files whose check samples hold other rows, or other outputs on the same rows (a model
    that predicts otherwise), say so by method: diff compared no check sample, and two saves
    of one model with other samples showed no difference."""
    model = _fit(xy)
    left = _save(tmp_path, "a", model, sample=xy[0][:50])
    fewer = _save(tmp_path, "b", model, sample=xy[0][:50], sample_rows=20)
    assert [str(c) for c in satchel.diff(left, fewer)] == [
        "check.input: metadata: 50 rows -> 20 rows", "check.predict: metadata: outputs -> other"
        " outputs", "check.predict_proba: metadata: outputs -> other outputs",
        "check.decision_function: metadata: outputs -> other outputs"]
    other = _save(tmp_path, "c", model, sample=xy[0][50:100])
    assert "check.input: metadata: 50 rows -> 50 other rows" in [
        str(c) for c in satchel.diff(left, other)]
    retrained = _save(tmp_path, "d", _fit(xy, C=0.01), sample=xy[0][:50])
    changes = [str(c) for c in satchel.diff(left, retrained) if c.path.startswith("check")]
    assert "check.decision_function: metadata: outputs -> other outputs" in changes
    assert not [c for c in changes if c.startswith("check.input")]
    bare = _save(tmp_path, "e", model)
    assert [str(c) for c in satchel.diff(left, bare) if c.path.startswith("check")] == [
        "check.input: metadata: 50 rows -> none", "check.predict: metadata: outputs -> -",
        "check.predict_proba: metadata: outputs -> -",
        "check.decision_function: metadata: outputs -> -"]


def test_diff_accepts_file_objects(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """diff takes binary file objects as well as paths."""
    left = io.BytesIO(satchel.dumps(_fit(xy)))
    right = io.BytesIO(satchel.dumps(_fit(xy, C=0.5)))
    assert "steps[1][1].C: value: 1.0 -> 0.5" in [str(c) for c in satchel.diff(left, right)]


def test_diff_refuses_damaged_files(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """A damaged file is an IntegrityError, not a list of differences."""
    left = _save(tmp_path, "a", {"w": np.arange(10_000.0)})
    data = bytearray(left.read_bytes())
    data[-8] ^= 0xFF
    right = tmp_path / "bad.satchel"
    right.write_bytes(bytes(data))
    with pytest.raises(satchel.IntegrityError, match="does not match its checksum"):
        satchel.diff(left, right)


@pytest.mark.parametrize(("metadata", "message"), [
    ({"environment": "3.11"}, "bad.satchel: metadata.environment: expected dict, found str"),
    ({"user": ["owner"]}, "bad.satchel: metadata.user: expected dict, found list"),
    ({"environment": {"packages": ["numpy"]}},
     "bad.satchel: metadata.environment.packages: expected an object of name: version"),
])
def test_diff_refuses_malformed_metadata(tmp_path: Path, metadata: dict[str, Any],
                                         message: str) -> None:
    """Metadata that inspect and load refuse as malformed is a FormatError naming the file
    and the field, not a traceback."""
    left = _save(tmp_path, "a", {"w": np.arange(3.0)})
    right = tmp_path / "bad.satchel"
    right.write_bytes(rewrite_metadata(left.read_bytes(), metadata))
    where = re.escape(str(right.parent))
    with pytest.raises(satchel.FormatError, match=f"^{where}/{message}"):
        satchel.diff(left, right)


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """The error for a file diff cannot read names that file: 'not a satchel file' or a
    checksum's mismatch left the user to guess which of the two it was."""
    good = _save(tmp_path, "good", {"w": np.arange(10_000.0)})
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"\x80\x05not a satchel file")
    for left, right in ((good, pickled), (pickled, good)):
        with pytest.raises(satchel.FormatError) as caught:
            satchel.diff(left, right)
        assert str(caught.value).startswith(f"{pickled}: not a satchel file: expected")
    damaged = tmp_path / "damaged.satchel"
    data = bytearray(good.read_bytes())
    data[-8] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(satchel.IntegrityError, match=f"^{damaged}: .*does not match its"):
        satchel.diff(good, damaged)


def test_numpy_scalars_are_compared_by_value(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """A numpy scalar that changed (StandardScaler's n_samples_seen_) is shown as its value and
    dtype at its own path, not as the hex of its bytes at path.hex."""
    left = _save(tmp_path, "a", _fit(xy))
    right = _save(tmp_path, "b", _fit((xy[0][:100], xy[1][:100])))
    changes = [str(c) for c in satchel.diff(left, right)]
    seen = satchel.load(left).unwrap()[0].n_samples_seen_
    assert (f"steps[0][1].n_samples_seen_: value: {seen.item()!r} ({seen.dtype}) ->"
            f" {type(seen)(100).item()!r} ({seen.dtype})") in changes
    assert not [c for c in changes if ".hex" in c]
    same = {"a": np.float32(1.5), "b": np.int16(-3), "c": np.str_("x")}
    assert satchel.diff(_save(tmp_path, "c", same), _save(tmp_path, "d", dict(same))) == []
    changed = {"a": np.float64(1.5), "b": np.int16(-4), "c": np.str_("yz")}
    assert [str(c) for c in satchel.diff(_save(tmp_path, "c", same),
                                         _save(tmp_path, "e", changed))] == [
        "a: value: 1.5 (float32) -> 1.5 (float64)", "b: value: -3 (int16) -> -4 (int16)",
        "c: value: 'x' (<U1) -> 'yz' (<U2)"]


def _with_tree_text(data: bytes, tree: str) -> bytes:
    """``data`` with its object tree replaced by the JSON text ``tree``, which may nest deeper
    than a writer goes."""
    text = orjson.dumps({**raw_header(data), "tree": "TREE"})
    return with_header(data, text.replace(b'"TREE"', tree.encode()))


@pytest.mark.parametrize(("opening", "closing"), [('{"$":"dict","v":{"k":', "}}"), ("[", "]")])
def test_a_tree_nested_too_deep_is_refused_naming_the_file(tmp_path: Path, opening: str,
                                                             closing: str) -> None:
    """A tree nested deeper than a reader accepts is a LimitError naming the file, as inspect
    and load refuse it: diff walked it and raised RecursionError."""
    data = satchel.dumps({"w": np.arange(3.0)})
    left, right = tmp_path / "a.satchel", tmp_path / "b.satchel"
    left.write_bytes(_with_tree_text(data, opening * 500 + "1" + closing * 500))
    right.write_bytes(_with_tree_text(data, opening * 500 + "2" + closing * 500))
    with pytest.raises(satchel.errors.LimitError) as caught:
        satchel.diff(left, right)
    assert str(caught.value) == f"{left}: the object tree nests deeper than 200 levels"


@pytest.mark.parametrize("index", [1, -1, True, "0", None])
def test_an_array_index_not_in_the_table_is_refused_naming_the_file(tmp_path: Path,
                                                                     index: Any) -> None:
    """An array node whose index names no entry of the array table is a FormatError naming
    the file, as load refuses it: 1 and -1 raised IndexError, "0" and None TypeError, and
    true was read as array 0."""
    data = satchel.dumps({"w": np.arange(100.0)})
    left, right = tmp_path / "a.satchel", tmp_path / "b.satchel"
    left.write_bytes(data)
    right.write_bytes(rewrite_tree(data, {"$": "dict", "v": {"w": {"$": "nd", "a": index}}}))
    with pytest.raises(satchel.FormatError) as caught:
        satchel.diff(left, right)
    assert str(caught.value) == (f"{right}: array index {index!r} is not in the array table"
                                 " (0..0)")


def test_inline_values_beside_an_index_are_compared_as_load_reads_them(tmp_path: Path) -> None:
    """An array node that holds inline values beside an index is compared by its inline
    values, which load gives: diff compared the indexed array and found no difference
    between files whose models differ."""
    data = satchel.dumps({"w": np.arange(100.0)})
    other = {"$": "nd", "a": 0, "dtype": "<f8", "shape": [100],
             "b64": base64.b64encode(np.ones(100).tobytes()).decode()}
    left, right = tmp_path / "a.satchel", tmp_path / "b.satchel"
    left.write_bytes(data)
    right.write_bytes(rewrite_tree(data, {"$": "dict", "v": {"w": other}}))
    assert satchel.load(right)["w"].tolist() == [1.0] * 100
    assert [str(c) for c in satchel.diff(left, right) if c.kind == "array"] == [
        "w: array: values -> 99 of 100 values differ, largest difference 98"]


_DATES = np.array(["NaT", "2024-01-01", "2024-01-02"], dtype="M8[s]")


@pytest.mark.parametrize(("left", "right", "expected"), [
    (np.arange(100.0) + 1j, np.arange(100.0) + 2j,
     "100 of 100 values differ, largest difference 1"),
    (np.r_[np.nan, np.arange(99.0)], np.r_[5.0, np.arange(99.0)],
     "1 of 100 values differ, 1 missing (NaN) on one side"),
    (np.full(100, np.nan), np.r_[np.nan, np.arange(99.0) + 0.5],
     "99 of 100 values differ, 99 missing (NaN) on one side"),
    (np.r_[np.nan, np.arange(99.0)], np.r_[5.0, np.arange(99.0) * 2],
     "99 of 100 values differ, largest difference 98, 1 missing (NaN) on one side"),
    (np.repeat(_DATES, 20), np.repeat(_DATES[[0, 1, 1]], 20), "20 of 60 entries differ"),
], ids=["complex", "nan-on-one-side", "nan-on-the-left", "both", "dates-with-nat"])
def test_array_gaps_of_every_kind_of_number(tmp_path: Path, left: np.ndarray[Any, Any],
                                            right: np.ndarray[Any, Any], expected: str) -> None:
    """A changed array's gap is measured without warnings: complex numbers by the modulus of
    their difference (their imaginary parts were dropped, with a ComplexWarning, and the
    largest difference was 0), and values missing on one side only are counted apart, where
    the largest difference was 0 or, with no other, nan after a RuntimeWarning. NaT on both
    sides is no difference, as NaN is (each was counted as one)."""
    changes = satchel.diff(_save(tmp_path, "a", {"w": left}), _save(tmp_path, "b", {"w": right}))
    assert [str(c) for c in changes] == [f"w: array: values -> {expected}"]
