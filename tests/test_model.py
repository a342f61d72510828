"""Model: the loaded estimator whose prediction methods check their input first."""

from __future__ import annotations

import copy
import inspect
import io
import pickle
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone as sklearn_clone
from sklearn.base import is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, IsolationForest
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import get_scorer
from sklearn.model_selection import cross_validate
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

import satchel
from satchel import checks
from satchel.artifact import save_model
from tests.hostile_tools import forge_check_outputs, forge_environment


def _calibrated(model: Any, X: Any, y: Any) -> CalibratedClassifierCV:
    """``model`` calibrated as already fitted: through FrozenEstimator, which scikit-learn 1.6
    added, or before it with ``cv="prefit"``."""
    try:
        from sklearn.frozen import FrozenEstimator
    except ImportError:
        return CalibratedClassifierCV(model, cv="prefit").fit(X, y)
    return CalibratedClassifierCV(FrozenEstimator(model)).fit(X, y)


@pytest.fixture(scope="module")
def frame(xy: tuple[Any, Any]) -> pd.DataFrame:
    """The shared features as a DataFrame with named columns."""
    return pd.DataFrame(xy[0], columns=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def pipeline(frame: pd.DataFrame, xy: tuple[Any, Any]) -> Pipeline:
    """A fitted classification pipeline over named columns."""
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, xy[1])


@pytest.fixture(scope="module")
def model(pipeline: Pipeline, frame: pd.DataFrame) -> satchel.Model:
    """The pipeline saved with a sample and loaded back."""
    return satchel.loads(satchel.dumps(pipeline, sample=frame, metadata={"owner": "growth"}))


_ESTIMATORS = {
    "predict": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    "predict_proba": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    "decision_function": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    "transform": StandardScaler,
    "score_samples": lambda: IsolationForest(n_estimators=5, random_state=0),
}


@pytest.mark.parametrize("method", sorted(_ESTIMATORS))
def test_every_prediction_method_validates_first(method: str, frame: pd.DataFrame,
                                                 xy: tuple[Any, Any]) -> None:
    """predict, predict_proba, decision_function, transform and score_samples check input."""
    fitted = _ESTIMATORS[method]().fit(frame, xy[1])
    model = satchel.loads(satchel.dumps(fitted, sample=frame))
    bound = getattr(model, method)
    assert bound.__name__ == method
    np.testing.assert_allclose(bound(frame.head(5)), getattr(fitted, method)(frame.head(5)))
    with pytest.raises(satchel.SchemaError) as caught:
        bound(frame.head(5).rename(columns={"d": "dd"}))
    assert caught.value.problems == [
        {"column": "d", "expected": "a column of float", "found": "missing (closest: 'dd')"},
        {"column": "dd", "expected": "no such column",
         "found": "an unexpected column (closest: 'd')"},
    ]


def test_log_probabilities_and_score_validate_first(model: satchel.Model, pipeline: Pipeline,
                                                    frame: pd.DataFrame,
                                                    xy: tuple[Any, Any]) -> None:
    """predict_log_proba and score(X, y) check their input like predict: reordered columns
    are put in order, and a missing column is a SchemaError, not scikit-learn's error."""
    reordered = frame[["d", "c", "b", "a"]]
    np.testing.assert_allclose(model.predict_log_proba(reordered),
                               pipeline.predict_log_proba(frame))
    assert model.score(reordered, xy[1]) == pipeline.score(frame, xy[1])
    for method in (model.predict_log_proba, lambda rows: model.score(rows, xy[1])):
        with pytest.raises(satchel.SchemaError, match="column 'd': expected a column of float"):
            method(frame.drop(columns="d"))


def test_the_input_may_be_passed_by_name(model: satchel.Model, pipeline: Pipeline,
                                         frame: pd.DataFrame) -> None:
    """predict(X=frame) is checked like predict(frame), as the estimator's own takes it."""
    reordered = frame[["d", "c", "b", "a"]].head(5)
    np.testing.assert_array_equal(model.predict(X=reordered), pipeline.predict(frame.head(5)))
    np.testing.assert_allclose(model.predict_proba(X=reordered),
                               pipeline.predict_proba(frame.head(5)))
    with pytest.raises(satchel.SchemaError, match="column 'd': expected a column of float"):
        model.predict(X=frame.head(5).drop(columns="d"))
    assert inspect.signature(model.predict) == inspect.signature(pipeline.predict)


def test_unwrap_gives_the_bare_estimator(model: satchel.Model, frame: pd.DataFrame) -> None:
    """unwrap returns the estimator itself, which does no satchel checks."""
    bare = model.unwrap()
    assert type(bare) is Pipeline
    assert not isinstance(bare, satchel.Model)
    reordered = frame[["d", "c", "b", "a"]].head(3)
    assert len(model.predict(reordered)) == 3
    with pytest.raises(ValueError, match="feature names") as caught:
        bare.predict(reordered)
    assert not isinstance(caught.value, satchel.SchemaError)


def test_other_attributes_are_the_estimators(model: satchel.Model) -> None:
    """Attributes other than the checked methods are read from the estimator."""
    assert model.classes_.tolist() == [0, 1]
    assert model.named_steps["logisticregression"] is model.unwrap().named_steps[
        "logisticregression"]
    assert "named_steps" in dir(model)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = model.nonexistent


def test_a_pipeline_model_is_indexed_as_its_pipeline(model: satchel.Model, pipeline: Pipeline,
                                                    frame: pd.DataFrame) -> None:
    """model[:-1], model[-1], model["step"] and len(model) are the pipeline's: a loaded
    pipeline was not subscriptable, as pickle's is. A model of no length is still true."""
    np.testing.assert_array_equal(model[:-1].transform(frame), pipeline[:-1].transform(frame))
    assert model[-1] is model.unwrap()[-1]
    assert model["standardscaler"] is model.unwrap().named_steps["standardscaler"]
    assert len(model) == 2
    single = satchel.loads(satchel.dumps(LogisticRegression().fit(frame, pipeline.predict(frame))))
    assert single
    with pytest.raises(TypeError, match="not subscriptable"):
        single[0]


def test_scikit_learn_takes_a_model_as_its_estimator(model: satchel.Model, pipeline: Pipeline,
                                                     frame: pd.DataFrame,
                                                     xy: tuple[Any, Any]) -> None:
    """scikit-learn's scorers, check_is_fitted, FrozenEstimator and clone take a Model."""
    reordered = frame[["d", "c", "b", "a"]]
    assert is_classifier(model)
    assert get_scorer("roc_auc")(model, reordered, xy[1]) == get_scorer("roc_auc")(
        pipeline, frame, xy[1])
    check_is_fitted(model)
    calibrated = _calibrated(model, frame, xy[1])
    assert calibrated.predict_proba(reordered).shape == (len(frame), 2)
    bare = sklearn_clone(model)
    assert type(bare) is Pipeline
    assert not hasattr(bare.named_steps["logisticregression"], "coef_")
    unfitted = satchel.loads(satchel.dumps(LogisticRegression()))
    assert not unfitted.__sklearn_is_fitted__()


def test_a_model_inside_another_is_saved_as_its_estimator(model: satchel.Model,
                                                          frame: pd.DataFrame,
                                                          xy: tuple[Any, Any]) -> None:
    """A loaded model calibrated through FrozenEstimator is saved as its bare estimator: the
    file named satchel's Model and schema classes, which no load trusts."""
    calibrated = _calibrated(model, frame, xy[1])
    data = satchel.dumps(calibrated, sample=frame)
    assert not [name for name in satchel.inspect(io.BytesIO(data)).types
                if name.startswith("satchel")]
    loaded = satchel.loads(data, verify=True)
    inner = loaded.unwrap().estimator  # a FrozenEstimator, or before 1.6 the model itself
    assert type(getattr(inner, "estimator", inner)) is Pipeline
    np.testing.assert_array_equal(loaded.predict_proba(frame), calibrated.predict_proba(frame))


def test_model_carries_its_metadata(model: satchel.Model, pipeline: Pipeline,
                                    frame: pd.DataFrame) -> None:
    """A Model knows its digest, saved environment, user metadata and schemas."""
    data = satchel.dumps(pipeline, sample=frame, metadata={"owner": "growth"})
    assert model.digest == satchel.inspect(io.BytesIO(data)).digest
    assert model.environment["packages"]["scikit-learn"]
    assert model.metadata["user"] == {"owner": "growth"}
    assert model.input_schema is not None
    assert [c.name for c in model.input_schema.columns] == ["a", "b", "c", "d"]
    assert model.output_schema is not None
    assert model.output_schema.classes == [0, 1]
    assert repr(model).startswith("Model(Pipeline(")


def test_values_that_are_not_estimators_are_not_wrapped() -> None:
    """load returns plain values as they are, not as a Model."""
    loaded = satchel.loads(satchel.dumps({"weights": np.arange(3.0)}))
    assert type(loaded) is dict


def test_valid_input_is_not_copied(xy: tuple[Any, Any]) -> None:
    """An array that already matches the schema reaches the estimator as is, uncopied."""
    model = satchel.loads(satchel.dumps(make_pipeline(StandardScaler()).fit(xy[0])))
    rows = xy[0][:3]
    assert model.input_schema is not None
    assert model.validate(rows) is rows


def test_model_can_be_copied_and_pickled(model: satchel.Model, frame: pd.DataFrame) -> None:
    """A Model survives copy.deepcopy and pickle (joblib workers need both)."""
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(clone.predict(frame.head(3)),
                                      model.predict(frame.head(3)))


def test_a_loaded_model_saved_again_keeps_its_metadata(tmp_path: Any) -> None:
    """save() of a loaded Model stores the estimator (not the wrapper, which no loader
    trusts) with the metadata it was loaded with; given a new sample, new metadata."""
    frame = pd.DataFrame({"x": np.arange(30.0), "z": np.arange(30.0) % 7})
    model = LogisticRegression().fit(frame, np.arange(30) % 2)
    satchel.save(model, tmp_path / "first.satchel", sample=frame, metadata={"run": 1})
    loaded = satchel.load(tmp_path / "first.satchel")
    satchel.save(loaded, tmp_path / "again.satchel")
    again = satchel.load(tmp_path / "again.satchel")
    assert type(again.unwrap()) is LogisticRegression
    assert again.metadata == loaded.metadata
    assert again.digest == loaded.digest
    resampled = satchel.loads(satchel.dumps(loaded, sample=frame.astype({"z": "float32"})))
    assert [c.dtype for c in resampled.input_schema.columns] == ["float64", "float32"]
    np.testing.assert_array_equal(again.predict(frame), model.predict(frame))


def test_a_model_saved_again_under_other_versions_records_them(tmp_path: Any) -> None:
    """A model loaded from another environment and saved again, as the mismatch warning
    advises, records the current versions and loads with no warning; its schema, check
    sample and metadata are kept. The old versions were kept, and the warning came back at
    every load."""
    frame = pd.DataFrame({"x": np.arange(30.0), "z": np.arange(30.0) % 7})
    model = LogisticRegression().fit(frame, np.arange(30) % 2)
    data = satchel.dumps(model, sample=frame, metadata={"run": 1})
    (tmp_path / "old.satchel").write_bytes(forge_environment(data, {"scikit-learn": "1.0.2"}))
    with pytest.warns(satchel.EnvironmentMismatchWarning):
        loaded = satchel.load(tmp_path / "old.satchel")
    satchel.save(loaded, tmp_path / "again.satchel")
    save_model(loaded, tmp_path / "registered.satchel")
    for name in ("again.satchel", "registered.satchel"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = satchel.load(tmp_path / name, verify=True)
        assert again.environment["packages"]["scikit-learn"] == sklearn.__version__
        assert {k: v for k, v in again.metadata.items() if k != "environment"} == {
            k: v for k, v in loaded.metadata.items() if k != "environment"}


def test_a_loaded_model_fitted_again_checks_the_columns_it_was_fitted_on() -> None:
    """fit() on a loaded model gives it the schemas of the data it was fitted on (its new
    classes too), and gives the Model back: it kept the schema it was loaded with and refused
    its own training columns ('expected no such column'), and fit() gave the bare estimator,
    whose predict checks nothing."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40)})
    loaded = satchel.loads(satchel.dumps(LogisticRegression().fit(frame, frame["x"] > 0),
                                         sample=frame))
    wider = frame.assign(w=rng.integers(0, 3, 40))
    assert loaded.fit(wider, wider["w"]) is loaded
    assert [(c.name, c.dtype) for c in loaded.input_schema.columns] == [
        ("x", "float64"), ("z", "float64"), ("w", "int64")]
    assert loaded.output_schema is not None
    assert (loaded.output_schema.dtype, loaded.output_schema.classes) == ("int64", [0, 1, 2])
    np.testing.assert_array_equal(loaded.predict(wider[["w", "x", "z"]]),
                                  loaded.unwrap().predict(wider))
    with pytest.raises(satchel.SchemaError, match="column 'w': expected a column of integer"):
        loaded.predict(frame)


def test_a_loaded_model_fitted_again_on_polars_or_arrow_takes_their_columns() -> None:
    """fit() on a polars DataFrame or a pyarrow Table gives a loaded model the schema of
    the columns they hold, as for a pandas DataFrame: polars failed with an AttributeError
    once the estimator was fitted, leaving the old schema to refuse the new columns, and a
    Table gave an array schema of its width."""
    import polars as pl

    rng = np.random.default_rng(0)
    rows = pl.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40)})
    loaded = satchel.loads(satchel.dumps(LogisticRegression().fit(rows, rows["x"] > 0),
                                         sample=rows))
    for name, renamed in [("w", rows.rename({"z": "w"})),
                          ("v", rows.rename({"z": "v"}).to_arrow())]:
        assert loaded.fit(renamed, rows["x"] > 0) is loaded
        assert loaded.input_schema is not None
        assert [c.name for c in loaded.input_schema.columns] == ["x", name]
        np.testing.assert_array_equal(loaded.predict(renamed), loaded.unwrap().predict(renamed))


def test_a_model_that_predicts_otherwise_is_saved_again_with_its_outputs(
        tmp_path: Any) -> None:
    """A model that no longer reproduces its check sample under the current versions
    (loaded with verify=False), saved again as the PredictionMismatchError advises, stores
    its current outputs on the same rows: the old ones were kept, and the new file failed
    verification as the old one did."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40)})
    data = satchel.dumps(LogisticRegression().fit(frame, frame["x"] > 0), sample=frame)

    def flip(outputs: dict[str, Any]) -> None:
        outputs["predict"][:3] = ~outputs["predict"][:3]

    (tmp_path / "old.satchel").write_bytes(forge_environment(
        forge_check_outputs(data, flip), {"scikit-learn": "1.0.2"}))
    with pytest.raises(satchel.PredictionMismatchError), \
            pytest.warns(satchel.EnvironmentMismatchWarning):
        satchel.load(tmp_path / "old.satchel")
    with pytest.warns(satchel.EnvironmentMismatchWarning):
        loaded = satchel.load(tmp_path / "old.satchel", verify=False)
    satchel.save(loaded, tmp_path / "again.satchel")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = satchel.load(tmp_path / "again.satchel", verify=True)
    assert again.input_schema == loaded.input_schema
    assert again.metadata["check"]["rows"] == 40


def test_a_loaded_model_fitted_again_is_saved_with_what_describes_it(tmp_path: Any) -> None:
    """A loaded model fitted again, then saved, is not saved with the check sample it was
    loaded with, whose outputs are no longer its own: the new file failed verification.
    Fitted on the same columns, its schema is kept and its check sample holds its outputs
    on the same rows; on other columns, it is saved without the schema and check sample,
    which would refuse its inputs, and the save says so. Its user metadata is kept."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40)})
    fitted = LogisticRegression().fit(frame, frame["x"] > 0)
    satchel.save(fitted, tmp_path / "first.satchel", sample=frame, metadata={"run": 1})
    loaded = satchel.load(tmp_path / "first.satchel")
    loaded.fit(frame, frame["z"] > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_model(loaded, tmp_path / "refit.satchel")
        again = satchel.load(tmp_path / "refit.satchel", verify=True)
    assert again.input_schema == satchel.load(tmp_path / "first.satchel").input_schema
    assert again.metadata["check"]["rows"] == 40
    assert again.metadata["user"] == {"run": 1}
    stored = checks.decoded(again.metadata["check"])
    np.testing.assert_array_equal(stored["outputs"]["predict"], loaded.predict(frame))

    wider = satchel.load(tmp_path / "first.satchel")
    wider.fit(frame.assign(w=1.0), frame["x"] > 0)
    with pytest.warns(UserWarning, match="no longer matches") as caught:
        satchel.save(wider, tmp_path / "wider.satchel")
    assert [str(w.message) for w in caught] == [
        "the model no longer matches the metadata it was loaded with: it was fitted again on"
        " the columns ['x', 'z', 'w'], where its schema has ['x', 'z']. Its input schema and"
        " check sample are not saved with it; pass sample= (rows like those it was fitted on)"
        " to store new ones."]
    with pytest.warns(UserWarning, match=r"load\(verify=True\) found no check sample"):
        again = satchel.load(tmp_path / "wider.satchel", verify=True)
    assert (again.metadata["user"], "check" in again.metadata) == ({"run": 1}, False)
    np.testing.assert_array_equal(again.predict(frame.assign(w=1.0)),
                                  wider.predict(frame.assign(w=1.0)))


def test_training_a_mapped_model_in_place_says_to_load_it_whole(tmp_path: Any) -> None:
    """partial_fit of a model loaded with mmap=True, which writes into arrays that are views
    of the file, raises MappedModelError saying to load it whole; a new fit works, and a
    full load's partial_fit works."""
    from sklearn.naive_bayes import GaussianNB

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 40)), np.arange(200) % 3
    satchel.save(GaussianNB().fit(X, y), tmp_path / "nb.satchel")
    mapped = satchel.load(tmp_path / "nb.satchel", mmap=True)
    with pytest.raises(satchel.errors.MappedModelError) as caught:
        mapped.partial_fit(X, y)
    assert str(caught.value) == (
        "partial_fit writes into the model's fitted arrays (output array is read-only), but"
        " the model was loaded with mmap=True: its arrays are read-only views of the file. To"
        " train it further, load it whole: satchel.load(path) without mmap=True.")
    assert isinstance(caught.value, ValueError)
    np.testing.assert_array_equal(mapped.fit(X, y).predict(X), GaussianNB().fit(X, y).predict(X))
    satchel.load(tmp_path / "nb.satchel").partial_fit(X, y)


def test_methods_that_give_the_estimator_back_give_the_model(frame: pd.DataFrame,
                                                             xy: tuple[Any, Any]) -> None:
    """set_params, set_output and partial_fit give the Model back, as the estimator's give the
    estimator, so that a chained predict checks its input: they gave the bare estimator."""
    fitted = make_pipeline(StandardScaler(), SGDClassifier(random_state=0)).fit(frame, xy[1])
    model = satchel.loads(satchel.dumps(fitted, sample=frame))
    reordered = frame[["d", "c", "b", "a"]].head(3)
    assert model.set_params(sgdclassifier__alpha=0.001) is model
    assert model.unwrap().get_params()["sgdclassifier__alpha"] == 0.001
    assert model[-1].set_params(alpha=0.002) is model.unwrap()[-1]
    assert model.set_output(transform="default") is model
    single = satchel.loads(satchel.dumps(SGDClassifier(random_state=0).fit(frame, xy[1])))
    assert single.partial_fit(frame, xy[1]) is single
    assert model.set_params(sgdclassifier__alpha=0.01).predict(reordered).shape == (3,)
    assert model.get_params()["sgdclassifier__alpha"] == 0.01


def test_metadata_requests_give_the_model_back(frame: pd.DataFrame, xy: tuple[Any, Any]) -> None:
    """set_fit_request and set_score_request give the Model back, as the estimator's give the
    estimator, and cross_validate routes sample weights to it: they gave the bare estimator."""
    model = satchel.loads(satchel.dumps(LogisticRegression().fit(frame, xy[1]), sample=frame))
    with sklearn.config_context(enable_metadata_routing=True):
        assert model.set_fit_request(sample_weight=True) is model
        assert model.set_score_request(sample_weight=True) is model
        routed = cross_validate(model, frame, xy[1], cv=2,
                                params={"sample_weight": np.ones(len(frame))})
    assert len(routed["test_score"]) == 2
    assert model.get_metadata_routing().fit.requests == {"sample_weight": True}
    held = satchel.loads(satchel.dumps(FunctionTransformer(np.log1p).fit(frame), sample=frame))
    assert held.func is np.log1p
    process = GaussianProcessClassifier(random_state=0).fit(frame.head(20), xy[1][:20])
    given = satchel.loads(satchel.dumps(process))
    assert repr(given.kernel_) == repr(process.kernel_)


def test_a_notebook_shows_a_model_as_a_model(model: satchel.Model) -> None:
    """The text a notebook shows for a Model is its repr, beside the estimator's diagram: it
    was the bare estimator's text, with no word of the Model and its checks."""
    bundle = model._repr_mimebundle_()
    assert bundle["text/plain"] == repr(model)
    assert "sk-top-container" in bundle["text/html"]
    assert "StandardScaler" in bundle["text/html"]


_OTHER_INPUTS = {
    "predict_joint_log_proba": GaussianNB,
    "staged_predict": lambda: GradientBoostingClassifier(n_estimators=3, random_state=0),
    "staged_predict_proba": lambda: GradientBoostingClassifier(n_estimators=3, random_state=0),
    "staged_decision_function": lambda: GradientBoostingClassifier(n_estimators=3,
                                                                   random_state=0),
    "apply": lambda: DecisionTreeClassifier(max_depth=2, random_state=0),
    "decision_path": lambda: DecisionTreeClassifier(max_depth=2, random_state=0),
}


@pytest.mark.parametrize("method", sorted(_OTHER_INPUTS))
def test_other_methods_of_the_models_input_validate_first(method: str, frame: pd.DataFrame,
                                                          xy: tuple[Any, Any]) -> None:
    """Methods that take the input predict takes (staged predictions, leaves, joint
    log-probabilities) check and reorder it as predict does: they refused reordered columns."""
    fitted = _OTHER_INPUTS[method]().fit(frame, xy[1])
    model = satchel.loads(satchel.dumps(fitted, sample=frame))
    reordered = frame[["d", "c", "b", "a"]].head(5)

    def values(result: Any) -> Any:
        return [*result] if inspect.isgenerator(result) else getattr(result, "toarray", lambda:
                                                                     result)()

    np.testing.assert_allclose(values(getattr(model, method)(reordered)),
                               values(getattr(fitted, method)(frame.head(5))))
    with pytest.raises(satchel.SchemaError, match="column 'd': expected a column of float"):
        getattr(model, method)(frame.head(5).drop(columns="d"))


def test_a_model_fitted_on_an_array_takes_a_table_without_warning() -> None:
    """A model fitted on an array given a table (what a CSV or a request becomes) predicts
    from its values with no warning, as satchel predict and the server give them: each call
    warned 'X has feature names, but StandardScaler was fitted without feature names'."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = np.random.default_rng(0).normal(size=(40, 5))
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(rows, rows[:, 0] > 0)
    model = satchel.loads(satchel.dumps(pipeline, sample=rows))
    table = pd.DataFrame(rows[:6], columns=[f"f{i}" for i in range(5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predicted = model.predict(table)
    assert predicted.tolist() == pipeline.predict(rows[:6]).tolist()
