"""The check sample: stored at save, recomputed at load when it matters or when asked."""

from __future__ import annotations

import io
import platform
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import satchel
from satchel import checks
from satchel.format.decoder import decode_inline
from satchel.format.trust import TrustPolicy
from tests.hostile_tools import forge_check_outputs, forge_environment

SKLEARN = __import__("sklearn").__version__


@pytest.fixture(scope="module")
def rows() -> np.ndarray[Any, Any]:
    """150 rows of 4 features."""
    return np.random.default_rng(1).normal(size=(150, 4))


@pytest.fixture(scope="module")
def classifier(rows: np.ndarray[Any, Any]) -> Any:
    """A fitted pipeline with predict, predict_proba and decision_function."""
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(rows, rows[:, 0] > 0)


@pytest.fixture(scope="module")
def saved(classifier: Any, rows: np.ndarray[Any, Any]) -> bytes:
    """The classifier saved with its training rows as the sample."""
    return satchel.dumps(classifier, sample=rows)


def _stored(data: bytes) -> tuple[int, dict[str, Any]]:
    check = satchel.inspect(io.BytesIO(data)).metadata.check
    assert check is not None
    return check["rows"], decode_inline(check["tree"], TrustPolicy())


def _flip_labels(outputs: dict[str, Any]) -> None:
    outputs["predict"][:3] = ~outputs["predict"][:3]


def test_sample_keeps_the_first_100_rows_and_every_output(saved: bytes, classifier: Any,
                                                          rows: np.ndarray[Any, Any]) -> None:
    """The first 100 rows are stored with the outputs of each method the model has."""
    count, stored = _stored(saved)
    assert count == checks.DEFAULT_ROWS == 100
    np.testing.assert_array_equal(stored["input"], rows[:100])
    assert sorted(stored["outputs"]) == ["decision_function", "predict", "predict_proba"]
    for method, values in stored["outputs"].items():
        np.testing.assert_array_equal(values, getattr(classifier, method)(rows[:100]))


def test_sample_rows_is_configurable(tmp_path: Path, classifier: Any,
                                     rows: np.ndarray[Any, Any]) -> None:
    """sample_rows= keeps that many rows instead."""
    satchel.save(classifier, tmp_path / "m.satchel", sample=rows, sample_rows=10)
    count, stored = _stored((tmp_path / "m.satchel").read_bytes())
    assert count == 10
    assert stored["input"].shape == (10, 4)


def test_dumps_takes_sample_rows_as_save_does(classifier: Any,
                                             rows: np.ndarray[Any, Any]) -> None:
    """dumps(sample_rows=) keeps that many rows, as save does: dumps, documented as giving the
    bytes save writes, took no sample_rows and always kept 100."""
    count, stored = _stored(satchel.dumps(classifier, sample=rows, sample_rows=10))
    assert count == 10
    assert stored["input"].shape == (10, 4)


@pytest.mark.parametrize("count", [-5, 2.5, "10", True, None])
def test_sample_rows_must_be_a_count(classifier: Any, rows: np.ndarray[Any, Any],
                                     count: Any) -> None:
    """sample_rows= that is no whole number >= 0 is a ValueError that says what it takes: a
    negative one stored no check sample without a word, and a float or text failed with a
    TypeError from slicing. 0 keeps none."""
    with pytest.raises(ValueError, match=re.escape(
            "sample_rows must be a whole number >= 0 (the rows of sample= to keep; 0 keeps"
            f" none), not {count!r}")):
        satchel.save(classifier, io.BytesIO(), sample=rows, sample_rows=count)
    data = io.BytesIO()
    satchel.save(classifier, data, sample=rows, sample_rows=np.int64(0))
    assert satchel.inspect(io.BytesIO(data.getvalue())).metadata.check is None


def test_transform_outputs_are_stored(rows: np.ndarray[Any, Any]) -> None:
    """A transformer's sample stores its transform output."""
    scaler = StandardScaler().fit(rows)
    _, stored = _stored(satchel.dumps(scaler, sample=rows))
    assert list(stored["outputs"]) == ["transform"]
    np.testing.assert_array_equal(stored["outputs"]["transform"], scaler.transform(rows[:100]))


def test_sample_is_bounded_in_bytes() -> None:
    """A wide sample keeps fewer rows so that its JSON stays within checks.MAX_BYTES."""
    wide = np.random.default_rng(0).normal(size=(120, 2000))
    data = satchel.dumps(LinearRegression().fit(wide, wide[:, 0]), sample=wide)
    check = satchel.inspect(io.BytesIO(data)).metadata.check
    assert check is not None
    assert check["rows"] == 25
    assert len(orjson.dumps(check["tree"])) <= checks.MAX_BYTES == 1 << 20


def test_a_row_too_large_for_a_check_sample_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample of which one row with its outputs passes checks.MAX_BYTES (a very wide row,
    a long document) stores no check sample and says so, as other samples that cannot be
    checked do: it was dropped without a word."""
    monkeypatch.setattr(checks, "MAX_BYTES", 2000)
    wide = np.random.default_rng(0).normal(size=(3, 400))
    with pytest.warns(UserWarning, match="no check sample") as caught:
        data = satchel.dumps(StandardScaler().fit(wide), sample=wide)
    assert satchel.inspect(io.BytesIO(data)).metadata.check is None
    assert len(caught) == 1
    assert re.fullmatch(
        r"no check sample is stored: one row of the sample with the model's outputs on it"
        r" takes \d,\d{3} bytes of JSON, more than the 2,000 a check sample may take"
        r" \(satchel\.checks\.MAX_BYTES\)\. The input schema is stored as usual\.",
        str(caught[0].message))
    assert caught[0].filename == __file__


def test_no_sample_no_check(classifier: Any) -> None:
    """Without sample= no check sample is stored and verify=True has nothing to recompute:
    it says so, pointing at the caller's line (it passed without a word, as if the
    predictions had been checked). satchel.verify says so in its result instead."""
    data = satchel.dumps(classifier)
    assert satchel.inspect(io.BytesIO(data)).metadata.check is None
    with pytest.warns(UserWarning, match=re.escape(
            "load(verify=True) found no check sample in the file: its predictions were not"
            " checked. Save the model with sample=")) as caught:
        assert isinstance(satchel.loads(data, verify=True), satchel.Model)
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(satchel.loads(data), satchel.Model)
        assert satchel.verify(io.BytesIO(data)).checked_rows == 0


def test_an_intact_file_verifies(saved: bytes) -> None:
    """verify=True recomputes the sample and accepts a model that reproduces it."""
    assert isinstance(satchel.loads(saved, verify=True), satchel.Model)


def test_frame_samples_verify() -> None:
    """A DataFrame sample with category and text columns is stored and recomputed."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40),
                          "plan": pd.Categorical(rng.choice(["a", "b"], 40)),
                          "city": rng.choice(["oslo", "rome"], 40)})
    pipeline = Pipeline([
        ("columns", ColumnTransformer([("num", StandardScaler(), ["x"]),
                                       ("cat", OneHotEncoder(), ["plan", "city"])])),
        ("model", LogisticRegression()),
    ]).fit(frame, frame["x"] > 0)
    data = satchel.dumps(pipeline, sample=frame)
    count, stored = _stored(data)
    assert count == 40
    pd.testing.assert_frame_equal(stored["input"], frame)
    satchel.loads(data, verify=True)
    forged = forge_check_outputs(data, _flip_labels)
    with pytest.raises(satchel.PredictionMismatchError, match="predict: 3 of 40 rows differ"):
        satchel.loads(forged, verify=True)


def test_wrong_outputs_are_reported_with_a_summary(saved: bytes) -> None:
    """A mismatch names each method, the rows that differ, the largest gap and the versions."""
    def change(outputs: dict[str, Any]) -> None:
        _flip_labels(outputs)
        outputs["predict_proba"][5, 0] += 0.25

    with pytest.raises(satchel.PredictionMismatchError) as caught:
        satchel.loads(forge_check_outputs(saved, change), verify=True)
    assert str(caught.value) == (
        "the loaded model does not reproduce the predictions stored with it: predict: 3 of 100"
        " rows differ; predict_proba: 1 of 100 rows differ, largest absolute difference 0.25."
        " The environment is the one the model was saved in. Floats are compared with"
        " rtol=1e-06 (4 units in the last place for float16), atol=1e-09; labels must be"
        " equal. Retrain or re-save the model under the"
        " current versions, or install the saved ones."
    )
    assert isinstance(caught.value, AssertionError)


def test_float16_outputs_may_differ_by_a_unit_in_their_last_place() -> None:
    """A model whose outputs are float16 (a StandardScaler fitted on float16 data) verifies
    when they moved by a unit in the last place, as another machine may round them: one
    unit of float16 is a thousand times rtol, and such a model never verified elsewhere.
    Larger changes still fail."""
    from sklearn.preprocessing import StandardScaler

    rows = np.random.default_rng(0).normal(3.0, 2.0, size=(30, 3)).astype(np.float16)
    data = satchel.dumps(StandardScaler().fit(rows), sample=rows)

    def moved(units: int) -> Callable[[dict[str, Any]], None]:
        def change(outputs: dict[str, Any]) -> None:
            values = outputs["transform"]
            assert values.dtype == np.float16
            for _ in range(units):
                values[4, 1] = np.nextafter(values[4, 1], np.float16(np.inf))
        return change

    satchel.loads(forge_check_outputs(data, moved(1)), verify=True)
    with pytest.raises(satchel.PredictionMismatchError, match="transform: 1 of 30 rows differ"):
        satchel.loads(forge_check_outputs(data, moved(40)), verify=True)


def test_verification_skipped_when_the_environment_is_the_same(saved: bytes) -> None:
    """With the saving environment, load does not recompute the sample unless asked."""
    forged = forge_check_outputs(saved, _flip_labels)
    assert isinstance(satchel.loads(forged), satchel.Model)
    with pytest.raises(satchel.PredictionMismatchError, match="predict: 3 of 100 rows differ"):
        satchel.loads(forged, verify=True)


def test_verification_runs_when_the_environment_differs(saved: bytes) -> None:
    """When a version differs, load recomputes the sample by default and names the versions."""
    forged = forge_environment(forge_check_outputs(saved, _flip_labels),
                               {"scikit-learn": "1.0.2"})
    with pytest.raises(satchel.PredictionMismatchError) as caught, \
            pytest.warns(satchel.EnvironmentMismatchWarning):
        satchel.loads(forged)
    assert (f"predict: 3 of 100 rows differ. Saved -> current: scikit-learn 1.0.2 -> {SKLEARN}"
            " (minor). Floats are compared") in str(caught.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", satchel.EnvironmentMismatchWarning)
        assert isinstance(satchel.loads(forged, verify=False), satchel.Model)


def test_verification_runs_on_another_platform(saved: bytes) -> None:
    """A file saved on another platform (or Python implementation) with the same versions
    has its sample recomputed by default, naming the platforms, though no version differs
    to warn of: its maths libraries may round otherwise. It was not checked at all."""
    here = f"{platform.system()}-{platform.machine()}"
    elsewhere = "Darwin-arm64" if here != "Darwin-arm64" else "Linux-x86_64"
    forged = forge_environment(forge_check_outputs(saved, _flip_labels), platform=elsewhere)
    with warnings.catch_warnings():
        warnings.simplefilter("error", satchel.EnvironmentMismatchWarning)
        with pytest.raises(satchel.PredictionMismatchError, match=re.escape(
                f"predict: 3 of 100 rows differ. Saved -> current: platform {elsewhere} ->"
                f" {here} (other). Floats")):
            satchel.loads(forged)
        assert isinstance(satchel.loads(forge_environment(saved, platform=elsewhere)),
                          satchel.Model)
        assert isinstance(satchel.loads(forged, verify=False), satchel.Model)


def test_an_intact_model_passes_in_another_environment(saved: bytes) -> None:
    """A model that still reproduces its sample loads with only the mismatch warning."""
    forged = forge_environment(saved, {"numpy": "1.26.0"})
    with pytest.warns(satchel.EnvironmentMismatchWarning):
        assert isinstance(satchel.loads(forged), satchel.Model)


def test_tolerances_are_the_documented_ones() -> None:
    """Floats match within |saved - current| <= 1e-9 + 1e-6 * |saved|."""
    assert (checks.RTOL, checks.ATOL) == (1e-6, 1e-9)


@pytest.mark.parametrize(("scale", "fails"), [(0.5, False), (3.0, True)])
def test_float_outputs_match_within_tolerance(rows: np.ndarray[Any, Any], scale: float,
                                              fails: bool) -> None:
    """A float output off by half the tolerance passes; off by three times it fails."""
    regressor = LinearRegression().fit(rows, rows @ [1.0, 2.0, 3.0, 4.0] + 10.0)
    data = satchel.dumps(regressor, sample=rows)

    def nudge(outputs: dict[str, Any]) -> None:
        saved = outputs["predict"]
        outputs["predict"] = saved + scale * (checks.ATOL + checks.RTOL * np.abs(saved))

    forged = forge_check_outputs(data, nudge)
    if not fails:
        satchel.loads(forged, verify=True)
        return
    with pytest.raises(satchel.PredictionMismatchError, match=(
            r"predict: 100 of 100 rows differ, largest absolute difference \d")):
        satchel.loads(forged, verify=True)


def test_renamed_output_columns_are_a_mismatch() -> None:
    """A transformer giving a DataFrame (set_output) whose columns are no longer named as
    they were fails verification, naming both: code reading them by name breaks. The
    values alone were compared, and such a model verified."""
    frame = pd.DataFrame({"x": np.linspace(0.0, 1.0, 20), "s": ["a", "b"] * 10})
    columns = ColumnTransformer([("num", StandardScaler(), ["x"]),
                                 ("keep", "passthrough", ["s"])]).set_output(transform="pandas")
    data = satchel.dumps(columns.fit(frame), sample=frame)
    satchel.loads(data, verify=True)

    def rename(outputs: dict[str, Any]) -> None:
        outputs["transform"].columns = ["x", "s"]

    with pytest.raises(satchel.PredictionMismatchError, match=re.escape(
            "stored with it: transform: gives the columns ['num__x', 'keep__s'] where it gave"
            " the columns ['x', 's']. The environment")):
        satchel.loads(forge_check_outputs(data, rename), verify=True)


def test_a_polars_output_is_checked_as_the_pandas_frame_it_gives() -> None:
    """A transformer giving polars DataFrames (set_output) keeps a check sample of the
    pandas frames they give, which verifies at load and finds renamed columns. No check
    sample was kept: its outputs held polars objects."""
    import polars as pl

    rows = pl.DataFrame({"x": np.linspace(0.0, 1.0, 20), "s": ["a", "b"] * 10})
    columns = ColumnTransformer([("num", StandardScaler(), ["x"]),
                                 ("keep", "passthrough", ["s"])]).set_output(transform="polars")
    data = satchel.dumps(columns.fit(rows), sample=rows)
    assert satchel.inspect(io.BytesIO(data)).metadata.check is not None
    loaded = satchel.loads(data, verify=True)
    assert type(loaded.transform(rows)) is pl.DataFrame

    def rename(outputs: dict[str, Any]) -> None:
        outputs["transform"].columns = ["x", "s"]

    with pytest.raises(satchel.PredictionMismatchError, match="gives the columns"):
        satchel.loads(forge_check_outputs(data, rename), verify=True)


def test_infinite_and_missing_outputs_verify_without_warnings() -> None:
    """Outputs holding infinities (a tophat KernelDensity's score_samples far from its data)
    or NaN alone verify with no RuntimeWarning at save or load, and a changed one is still
    found, with the largest finite difference."""
    rows = np.r_[np.zeros((5, 1)), [[100.0]]]
    density = KernelDensity(kernel="tophat", bandwidth=0.5).fit(rows[:5])
    missing = FunctionTransformer().fit(np.full((3, 1), np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        satchel.loads(satchel.dumps(density, sample=rows), verify=True)
        satchel.loads(satchel.dumps(missing, sample=np.full((3, 1), np.nan)), verify=True)
        scores = density.score_samples(rows)
        assert checks._differences(scores, np.r_[scores[:5], np.nan]) == (1, None)
        assert checks._differences(scores, np.r_[scores[:4], 2.0, -np.inf]) == (1, 2.0)


def test_labels_must_match_exactly(saved: bytes) -> None:
    """One changed label is a mismatch, with no tolerance."""
    def flip_one(outputs: dict[str, Any]) -> None:
        outputs["predict"][42] = ~outputs["predict"][42]

    with pytest.raises(satchel.PredictionMismatchError, match=r"predict: 1 of 100 rows differ\. "):
        satchel.loads(forge_check_outputs(saved, flip_one), verify=True)


def test_a_missing_method_is_a_mismatch(saved: bytes) -> None:
    """A stored method the loaded model no longer has is reported."""
    def add(outputs: dict[str, Any]) -> None:
        outputs["score_samples"] = np.zeros(100)

    with pytest.raises(satchel.PredictionMismatchError,
                       match="score_samples: no longer available"):
        satchel.loads(forge_check_outputs(saved, add), verify=True)


def test_a_method_that_now_raises_is_reported_with_its_error(saved: bytes) -> None:
    """A stored method that raises on the sample (as one may under other versions) is
    reported with its error, not as a method the model no longer has."""
    model = satchel.loads(saved)
    estimator = model.unwrap()[-1]
    estimator.n_features_in_ = 3
    check = satchel.inspect(io.BytesIO(saved)).metadata.check
    assert check is not None
    with pytest.raises(satchel.PredictionMismatchError) as caught:
        checks.verify(model.unwrap(), check, "versions")
    assert str(caught.value).startswith(
        "the loaded model does not reproduce the predictions stored with it: predict: raised"
        " ValueError: X has 4 features, but LogisticRegression is expecting 3 features as"
        " input; predict_proba: raised ValueError: X has 4 features")


def test_satchel_verify_counts_the_checked_rows(tmp_path: Path, saved: bytes) -> None:
    """satchel.verify recomputes the sample and reports how many rows it checked."""
    (tmp_path / "m.satchel").write_bytes(saved)
    result = satchel.verify(tmp_path / "m.satchel")
    assert (result.checked_rows, result.differences) == (100, [])
    (tmp_path / "bad.satchel").write_bytes(forge_check_outputs(saved, _flip_labels))
    with pytest.raises(satchel.PredictionMismatchError):
        satchel.verify(tmp_path / "bad.satchel")


def test_object_outputs_with_missing_values_verify() -> None:
    """A transformer passing text and missing numbers through gives object outputs holding
    NaN and None: an unchanged model verifies (NaN is not equal to itself), a changed
    value is still found, and so is a missing value that became a value or the reverse."""
    frame = pd.DataFrame({"s": ["a", "b", None, "c"] * 5, "f": [np.nan, 1.0, 2.0, None] * 5})
    columns = ColumnTransformer([("keep", "passthrough", ["s", "f"])]).fit(frame)
    data = satchel.dumps(columns, sample=frame)
    satchel.loads(data, verify=True)
    outputs = columns.transform(frame)
    for row, column, value in [(3, 0, "d"), (2, 0, "x"), (0, 1, 0.0), (1, 1, np.nan),
                               (5, 0, None)]:
        changed = outputs.copy()
        changed[row, column] = value
        assert checks._differences(outputs, changed) == (1, None), (row, column, value)
    assert checks._differences(outputs, outputs.copy()) is None


@pytest.mark.parametrize("output", ["default", "pandas"])
@pytest.mark.parametrize(("scale", "fails"), [(0.5, False), (3.0, True)])
def test_floats_among_text_match_within_tolerance(output: str, scale: float,
                                                  fails: bool) -> None:
    """Floats that a transformer gives beside text (objects, or a DataFrame of mixed dtypes)
    off by half the tolerance pass, as a float output's do; off by three times it fail."""
    frame = pd.DataFrame({"x": np.linspace(0.0, 1.0, 20), "s": ["a", "b"] * 10})
    columns = ColumnTransformer([("num", StandardScaler(), ["x"]),
                                 ("keep", "passthrough", ["s"])]).set_output(transform=output)
    data = satchel.dumps(columns.fit(frame), sample=frame)

    def nudge(outputs: dict[str, Any]) -> None:
        saved = outputs["transform"]
        floats = saved.iloc[:, 0] if output == "pandas" else saved[:, 0]
        moved = [x + scale * (checks.ATOL + checks.RTOL * abs(x)) for x in floats]
        if output == "pandas":
            saved.iloc[:, 0] = moved
        else:
            saved[:, 0] = moved

    forged = forge_check_outputs(data, nudge)
    if not fails:
        satchel.loads(forged, verify=True)
        return
    with pytest.raises(satchel.PredictionMismatchError, match="transform: 20 of 20 rows differ"):
        satchel.loads(forged, verify=True)


@pytest.mark.parametrize("kind", ["csr", "csc", "coo"])
def test_sparse_samples(kind: str) -> None:
    """A sparse sample (as a model fitted on sparse data takes) gives a schema of its width
    and dtype and a check sample that verifies (COO cannot be sliced; no sparse matrix has
    a len())."""
    import scipy.sparse

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    data = scipy.sparse.csr_matrix(X)
    model = LogisticRegression().fit(data, y)
    loaded = satchel.loads(satchel.dumps(model, sample=data.asformat(kind)), verify=True)
    assert (loaded.input_schema.n_features, loaded.input_schema.dtype) == (3, "float64")
    assert loaded.metadata["check"]["rows"] == 40
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))


def test_wide_sparse_outputs_are_compared_a_block_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A HashingVectorizer's sparse outputs (100 rows of 2**18 columns here) are compared
    without making them dense at once: a save took 3 GB for the default 2**20 columns. A
    changed value is still found, in any block of rows, with the largest difference."""
    import tracemalloc

    import scipy.sparse
    from sklearn.feature_extraction.text import HashingVectorizer

    documents = [f"document {i} about item {i % 7}" for i in range(100)]
    hasher = HashingVectorizer(n_features=1 << 18).fit(documents)
    tracemalloc.start()
    try:
        satchel.loads(satchel.dumps(hasher, sample=documents), verify=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # each side of 100 rows, dense: 200 MB
    monkeypatch.setattr(checks, "DENSE_BLOCK", 3 * (1 << 18))  # blocks of 3 rows
    saved = hasher.transform(documents)
    changed = saved.tolil()
    changed[4, 7] += 0.5
    changed[98, 7] -= 2.0
    assert checks._differences(saved, changed.tocsr()) == (2, 2.0)
    assert checks._differences(saved, saved.toarray()) is None
    assert checks._differences(saved, scipy.sparse.csr_matrix((100, 5))) == (100, None)


def test_random_outputs_are_not_checked() -> None:
    """A method whose outputs change from one run to the next (a stratified dummy's
    predict) is left out of the check sample, so that verifying does not fail for it."""
    from sklearn.dummy import DummyClassifier

    X = np.random.default_rng(0).normal(size=(60, 2))
    y = np.arange(60) % 2
    dummy = DummyClassifier(strategy="stratified").fit(X, y)
    with pytest.warns(UserWarning, match="no check sample is stored: the model's outputs on the"
                      " sample change from one run to the next"):
        data = satchel.dumps(dummy, sample=X)
    with pytest.warns(UserWarning, match=r"load\(verify=True\) found no check sample"):
        satchel.loads(data, verify=True)
    prior = DummyClassifier(strategy="prior").fit(X, y)
    record = satchel.loads(satchel.dumps(prior, sample=X)).metadata["check"]
    stored = decode_inline(record["tree"], TrustPolicy())
    assert set(stored["outputs"]) == {"predict", "predict_proba"}


def test_samples_holding_objects_store_no_check_and_say_so() -> None:
    """A sample with values of a class a check sample cannot hold (a Fraction) cannot be
    a check sample, which is decoded with only data trusted: the save warns and stores
    none, rather than storing one that every verify refuses; the model loads, verifies
    and predicts."""
    import fractions

    X = np.random.default_rng(0).normal(size=(40, 2))
    frame = pd.DataFrame({"f": X[:, 0], "share": [fractions.Fraction(1, 3)] * 40})
    model = make_pipeline(ColumnTransformer([("keep", "passthrough", ["f"])]),
                          LogisticRegression()).fit(frame, (X[:, 1] > 0).astype(int))
    with pytest.warns(UserWarning, match=r"no check sample is stored.*'fractions.Fraction'"):
        data = satchel.dumps(model, sample=frame)
    with pytest.warns(UserWarning, match=r"load\(verify=True\) found no check sample"):
        loaded = satchel.loads(data, verify=True)
    assert loaded.metadata.get("check") is None
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_dates_and_decimals_are_data() -> None:
    """Dates and decimals (as read_sql gives a DATE or NUMERIC column) are an encoder's
    categories and a sample's values: the model loads with no trusted= argument (it
    needed trusted=['datetime.date', 'decimal.Decimal']) and its check sample is kept."""
    import datetime
    import decimal

    days = [datetime.date(2024, 1, d) for d in (1, 2, 3, 1)] * 10
    frame = pd.DataFrame({"day": days, "price": [decimal.Decimal(f"{d.day}.5") for d in days],
                          "at": pd.Series([datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
                                           + datetime.timedelta(hours=d.day) for d in days],
                                          dtype=object)})
    model = make_pipeline(ColumnTransformer([("days", OneHotEncoder(), ["day", "price"])]),
                          LogisticRegression()).fit(frame, np.arange(40) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = satchel.loads(satchel.dumps(model, sample=frame), verify=True)
    assert loaded.metadata["check"]["rows"] == 40
    encoder = loaded.unwrap()[0].named_transformers_["days"]
    assert encoder.categories_[0].tolist() == [datetime.date(2024, 1, d) for d in (1, 2, 3)]
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


@pytest.fixture(scope="module")
def dated() -> tuple[pd.DataFrame, Any]:
    """A frame indexed by date and a pipeline fitted on its two numeric columns."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)},
                         index=pd.date_range("2024-01-01", periods=40, freq="D"))
    return frame, make_pipeline(StandardScaler(), LogisticRegression()).fit(
        frame, (frame["a"] > 0).astype(int))


@pytest.mark.parametrize("index", ["datetime", "multi", "period", "categorical", "timedelta"])
def test_a_sample_indexed_by_anything_stores_a_check(dated: tuple[pd.DataFrame, Any],
                                                     index: str) -> None:
    """An estimator never reads a frame's index, and a time series' sample is indexed by
    date: its check sample keeps a plain index (the save refused a DatetimeIndex,
    MultiIndex, PeriodIndex or CategoricalIndex), and verifies."""
    frame, model = dated
    sample = {
        "datetime": frame,
        "multi": frame.set_index([frame.index, np.arange(40)]),
        "period": frame.set_axis(pd.period_range("2024-01", periods=40, freq="D")),
        "categorical": frame.set_axis(pd.CategoricalIndex(list("xy") * 20)),
        "timedelta": frame.set_axis(pd.timedelta_range(0, periods=40, freq="s")),
    }[index]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = satchel.loads(satchel.dumps(model, sample=sample), verify=True)
    assert loaded.metadata["check"]["rows"] == 40
    np.testing.assert_array_equal(loaded.predict(sample), model.predict(frame))


def test_a_sample_with_columns_a_check_cannot_hold_warns(dated: tuple[pd.DataFrame, Any]
                                                         ) -> None:
    """A column of time-zone-aware timestamps (which the model drops) is not plain data: the
    save warns that it stores no check sample, naming the dtype, and keeps the schema."""
    frame, _ = dated
    stamped = frame.assign(at=pd.date_range("2024-01-01", periods=40, freq="h", tz="UTC"))
    model = make_pipeline(ColumnTransformer([("keep", "passthrough", ["a", "b"])]),
                          LogisticRegression()).fit(stamped, (frame["a"] > 0).astype(int))
    with pytest.warns(UserWarning, match=r"no check sample is stored.*datetime64\[.*UTC\]"):
        data = satchel.dumps(model, sample=stamped)
    with pytest.warns(UserWarning, match=r"load\(verify=True\) found no check sample"):
        loaded = satchel.loads(data, verify=True)
    assert loaded.metadata.get("check") is None
    assert [c.name for c in loaded.input_schema.columns] == ["a", "b", "at"]
    np.testing.assert_array_equal(loaded.predict(stamped), model.predict(stamped))


def test_a_sample_the_model_cannot_take_is_refused(tmp_path: Path, classifier: Any,
                                                   rows: np.ndarray[Any, Any]) -> None:
    """A sample that every method of the model refuses (the wrong number of features) would
    store a schema that refuses the model's real inputs, and a check of nothing: the save
    fails, naming the methods and what they said, and writes nothing."""
    path = tmp_path / "model.satchel"
    with pytest.raises(ValueError, match=r"sample= is not an input this model accepts:"
                       r" predict, predict_proba, decision_function raised ValueError: X has"
                       r" 3 features.*Pass rows like those the model was fitted on"):
        satchel.save(classifier, path, sample=rows[:, :3])
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_sample_the_model_does_not_read_row_by_row_is_refused() -> None:
    """A text pipeline given a DataFrame reads its column names as one document: one
    prediction for the whole sample. The save fails saying so, rather than storing a schema
    of a frame that every prediction would misread."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents = pd.Series(["good day", "bad day", "fine", "bad bad"] * 10, name="text")
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        documents, documents.str.contains("bad"))
    with pytest.raises(ValueError, match=r"sample= is not read row by row by this model:"
                       r" predict, predict_proba, decision_function gave 1 row for 40 rows"
                       r" of the sample\. .*a text pipeline takes a Series"):
        satchel.dumps(model, sample=documents.to_frame())
    loaded = satchel.loads(satchel.dumps(model, sample=documents), verify=True)
    assert loaded.metadata["check"]["rows"] == 40


def test_a_multi_line_refusal_is_quoted_on_one_line() -> None:
    """scikit-learn's feature-name errors span lines: the save's error quotes them on one
    line, where they ended in a line of their own with the full stop ('- c\\n. Pass')."""
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3, "c": np.arange(20.0)})
    model = LogisticRegression().fit(frame, np.arange(20) % 2)
    with pytest.raises(ValueError, match="sample= is not an input") as caught:
        satchel.dumps(model, sample=frame[["a", "b"]])
    assert str(caught.value) == (
        "sample= is not an input this model accepts: predict, predict_proba, decision_function"
        " raised ValueError: The feature names should match those that were passed during"
        " fit. Feature names seen at fit time, yet now missing: - c. Pass rows like those the"
        " model was fitted on (X_train[:100]).")


def test_a_model_with_no_method_to_check_says_so(rows: np.ndarray[Any, Any]) -> None:
    """A clusterer with fit_predict only has no outputs to check: the save says so rather
    than storing a check of nothing, which would verify whatever the model became, and says
    that no input schema is stored either (it said the schema was stored as usual)."""
    from sklearn.cluster import DBSCAN

    with pytest.warns(UserWarning, match="has none of predict.*nothing to check") as caught:
        data = satchel.dumps(DBSCAN().fit(rows), sample=rows)
    metadata = satchel.inspect(io.BytesIO(data)).metadata
    assert metadata.check is None
    assert metadata.input_schema is None
    assert str(caught[0].message).endswith(
        "Nor is an input schema: load gives the object back as it is, checking no input.")


def test_multi_output_probabilities_of_different_widths(rows: np.ndarray[Any, Any]) -> None:
    """A multi-output classifier's predict_proba is one array per output, as wide as that
    output's classes (2 and 3 here): numpy cannot stack them, and the save raised its
    ValueError. They are compared output by output; a change in one is found."""
    from sklearn.multioutput import MultiOutputClassifier

    Y = np.column_stack([rows[:, 0] > 0, np.digitize(rows[:, 1], [-0.5, 0.5])])
    model = MultiOutputClassifier(LogisticRegression()).fit(rows, Y)
    data = satchel.dumps(model, sample=rows)
    np.testing.assert_array_equal(satchel.loads(data, verify=True).predict(rows),
                                  model.predict(rows))

    def shift(outputs: dict[str, Any]) -> None:
        outputs["predict_proba"][1][:7] += 0.25

    with pytest.raises(satchel.PredictionMismatchError,
                       match=r"predict_proba: 7 of 100 rows differ, largest absolute difference"
                             r" 0\.25"):
        satchel.loads(forge_check_outputs(data, shift), verify=True)


def _saved_with_check(model: Any, frame: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """``model`` saved with ``frame`` as its sample and loaded with verify=True, no warning
    allowed; and the check sample's input as stored."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = satchel.loads(satchel.dumps(model, sample=frame), verify=True)
    return loaded, decode_inline(loaded.metadata["check"]["tree"], TrustPolicy())["input"]


def test_a_pyarrow_backed_sample_keeps_its_check() -> None:
    """read_parquet(dtype_backend="pyarrow") gives int64[pyarrow], double[pyarrow] and
    string[pyarrow] columns: the check sample holds their numpy (or nullable) equivalents
    and verifies. It stored no check sample, and a string column raised numpy's
    "assignment destination is read-only" at save."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "n": [1, None] * 20,
                          "k": np.arange(40, dtype=np.uint8), "flag": [True, False] * 20,
                          "city": ["x", "q", "z", "y"] * 10}).convert_dtypes(
        dtype_backend="pyarrow")
    assert all(type(dtype).__name__ == "ArrowDtype" for dtype in frame.dtypes)
    from sklearn.impute import SimpleImputer

    model = make_pipeline(ColumnTransformer([("n", SimpleImputer(), ["a", "n", "k", "flag"]),
                                             ("c", OneHotEncoder(), ["city"])]),
                          LogisticRegression()).fit(frame, np.arange(40) % 2)
    loaded, stored = _saved_with_check(model, frame)
    assert loaded.metadata["check"]["rows"] == 40
    assert [str(d) for d in stored.dtypes] == ["float64", "Int64", "uint8", "bool",
                                               "string"]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_a_sample_read_from_parquet_with_pyarrow_keeps_its_check(tmp_path: Any) -> None:
    """read_parquet(dtype_backend="pyarrow") gives text as large_string[pyarrow]: the check
    sample holds it as pandas' string dtype and verifies. No check sample was stored, with
    a warning that the dtype is not supported."""
    rng = np.random.default_rng(0)
    pd.DataFrame({"city": rng.choice(["oslo", "rome"], 40), "x": rng.normal(size=40)}
                 ).to_parquet(tmp_path / "rows.parquet")
    frame = pd.read_parquet(tmp_path / "rows.parquet", dtype_backend="pyarrow")
    # pandas 2.0 with pyarrow 14 reads it as string[pyarrow], which the check holds alike
    assert str(frame["city"].dtype) in ("large_string[pyarrow]", "string[pyarrow]")
    model = make_pipeline(ColumnTransformer([("c", OneHotEncoder(), ["city"])],
                                            remainder="passthrough"),
                          LogisticRegression()).fit(frame, np.arange(40) % 2)
    loaded, stored = _saved_with_check(model, frame)
    assert loaded.metadata["check"]["rows"] == 40
    assert [str(d) for d in stored.dtypes] == ["string", "float64"]


def test_a_categorical_read_from_parquet_with_pyarrow_keeps_its_check(tmp_path: Any) -> None:
    """read_parquet(dtype_backend="pyarrow") gives a categorical as a pyarrow dictionary: the
    check sample holds it as a categorical, missing values and all, and verifies. No check
    sample was stored, with a warning that the dtype is not supported."""
    from sklearn.impute import SimpleImputer

    rng = np.random.default_rng(0)
    city = pd.Series(rng.choice(["oslo", "rome"], 40)).astype("category")
    city[::5] = None
    fitted = pd.DataFrame({"city": city, "x": rng.normal(size=40)})
    fitted.to_parquet(tmp_path / "rows.parquet")
    frame = pd.read_parquet(tmp_path / "rows.parquet", dtype_backend="pyarrow")
    assert str(frame["city"].dtype).startswith("dictionary<values=string")
    text = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder())
    model = make_pipeline(ColumnTransformer([("c", text, ["city"])], remainder="passthrough"),
                          LogisticRegression()).fit(fitted, np.arange(40) % 2)
    loaded, stored = _saved_with_check(model, frame)
    assert loaded.metadata["check"]["rows"] == 40
    assert [str(d) for d in stored.dtypes] == ["category", "float64"]
    assert stored["city"].isna().sum() == 8


def test_a_sample_with_a_row_the_model_refuses_warns() -> None:
    """One unseen category among the checked rows makes every method fail on them; the
    sample is still an input of the model (its other rows run), so the save stores no
    check sample and says so, rather than refusing the sample."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"city": rng.choice(["a", "b", "c"], 200), "x": rng.normal(size=200)})
    model = make_pipeline(ColumnTransformer([("c", OneHotEncoder(), ["city"])],
                                            remainder="passthrough"),
                          LogisticRegression()).fit(frame, np.arange(200) % 2)
    frame.loc[3, "city"] = "d"
    with pytest.warns(UserWarning, match="refuse some of the sample's rows"):
        data = satchel.dumps(model, sample=frame)
    assert satchel.loads(data).metadata.get("check") is None
