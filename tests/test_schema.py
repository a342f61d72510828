"""Input and output schemas: what save infers, and what every prediction checks first."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import satchel
from satchel.errors import SCHEMA_FIX
from satchel.format.decoder import decode_inline
from satchel.format.trust import TrustPolicy
from satchel.schema import Column, InputSchema, infer_input
from tests.inferred import TEXT, TIMES


def _frame(rows: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.integers(18, 80, rows),
        "income": rng.normal(50_000, 15_000, rows),
        "plan": pd.Categorical(rng.choice(["basic", "pro"], rows)),
        "city": pd.Series(rng.choice(["oslo", "rome"], rows), dtype="string"),
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, rows),
                                                               unit="D"),
        "score": np.where(np.arange(rows) % 5 == 0, np.nan, rng.random(rows)),
    })


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Training rows with integer, float, category, string, datetime and nullable columns."""
    return _frame()


@pytest.fixture(scope="module")
def churn(frame: pd.DataFrame) -> Any:
    """A pipeline over some of the frame's columns, predicting text labels."""
    labels = np.where(frame["income"] > 50_000, "churn", "stay")
    return Pipeline([
        ("columns", ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                                       ("cat", OneHotEncoder(), ["plan", "city"])])),
        ("model", LogisticRegression()),
    ]).fit(frame, labels)


@pytest.fixture(scope="module")
def model(churn: Any, frame: pd.DataFrame) -> satchel.Model:
    """The pipeline saved with the frame as its sample, and loaded."""
    return satchel.loads(satchel.dumps(churn, sample=frame))


def _schema(data: bytes) -> dict[str, Any]:
    return dict(satchel.inspect(io.BytesIO(data)).header.metadata["schema"])


def _city_pipeline() -> Pipeline:
    """Missing cities filled with the commonest, one-hot encoded; x passed through."""
    from sklearn.impute import SimpleImputer

    text = Pipeline([("fill", SimpleImputer(strategy="most_frequent")),
                     ("code", OneHotEncoder())])
    return Pipeline([("columns", ColumnTransformer([("text", text, ["city"])],
                                                   remainder="passthrough")),
                     ("model", LogisticRegression())])


def test_frame_schema_from_sample(churn: Any, frame: pd.DataFrame) -> None:
    """A DataFrame sample gives names in order, dtypes, kinds and nullability of every column."""
    assert _schema(satchel.dumps(churn, sample=frame))["input"] == {"kind": "frame", "columns": [
        {"name": "age", "dtype": "int64", "kind": "integer", "nullable": False},
        {"name": "income", "dtype": "float64", "kind": "float", "nullable": False},
        {"name": "plan", "dtype": "category", "kind": "category", "nullable": False},
        {"name": "city", "dtype": "string", "kind": "string", "nullable": False},
        {"name": "joined", "dtype": TIMES, "kind": "datetime", "nullable": False},
        {"name": "score", "dtype": "float64", "kind": "float", "nullable": True},
    ]}


def test_output_schema_records_dtype_and_classes(churn: Any, frame: pd.DataFrame) -> None:
    """The output schema has the prediction dtype and the classifier's classes_."""
    assert _schema(satchel.dumps(churn, sample=frame))["output"] == {
        "dtype": "<U5", "classes": ["churn", "stay"]}


def test_regressor_output_schema_has_no_classes(xy: tuple[Any, Any]) -> None:
    """A regressor's output schema records its float dtype and no classes."""
    features, target = xy
    regressor = LinearRegression().fit(features, target.astype(float))
    assert _schema(satchel.dumps(regressor, sample=features))["output"] == {
        "dtype": "float64", "classes": []}


def test_array_schema_from_sample(xy: tuple[Any, Any]) -> None:
    """An array sample gives the number of features and the dtype."""
    features, target = xy
    data = satchel.dumps(LogisticRegression().fit(features, target), sample=features)
    assert _schema(data) == {"input": {"kind": "array", "n_features": 4, "dtype": "float64"},
                             "output": {"dtype": "int64", "classes": [0, 1]}}


def test_a_sample_with_other_columns_gives_the_models_columns(churn: Any,
                                                              frame: pd.DataFrame) -> None:
    """A sample holding the model's columns and others it never read (an id, the target), or
    its columns in another order, gives a schema of the model's columns in the model's order:
    the schema demanded the others from every input, and the other order failed the save."""
    labels = np.where(frame["income"] > 50_000, "churn", "stay")
    table = frame.assign(customer=np.arange(len(frame)), label=labels)[
        ["label", "city", "customer", "plan", "income", "age", "joined", "score"]]
    columns = ["age", "income", "plan", "city", "joined", "score"]
    for sample in (table, frame[columns[::-1]]):
        model = satchel.loads(satchel.dumps(churn, sample=sample), verify=True)
        assert model.input_schema is not None
        assert [c.name for c in model.input_schema.columns] == columns
        np.testing.assert_array_equal(model.predict(frame.head(5)), churn.predict(frame.head(5)))
        stored = decode_inline(model.metadata["check"]["tree"], TrustPolicy())["input"]
        assert list(stored.columns) == columns


def test_schema_from_feature_names_without_sample(churn: Any) -> None:
    """Without a sample, the column names come from feature_names_in_, in order."""
    columns = _schema(satchel.dumps(churn))["input"]["columns"]
    assert [c["name"] for c in columns] == ["age", "income", "plan", "city", "joined", "score"]
    model = satchel.loads(satchel.dumps(churn))
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(_frame(3).drop(columns=["plan"]))
    assert [(p["column"], p["found"]) for p in caught.value.problems] == [("plan", "missing")]
    assert model.output_schema is not None
    assert model.output_schema.classes == ["churn", "stay"]


def test_one_row_given_as_a_1d_array_says_to_wrap_it(xy: tuple[Any, Any]) -> None:
    """A single row given as a 1-D array of the right length (X[0]) is said to be one row
    outside a list of rows, with how to wrap it, as scikit-learn says to reshape: it was
    only 'found shape (4,)'."""
    model = satchel.loads(satchel.dumps(LogisticRegression().fit(*xy)))
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(np.zeros(4))
    assert str(caught.value) == (
        "the input does not match the model's schema (1 problem):\n"
        "  - input: expected 4 features, found shape (4,): one row that is in no list of rows;"
        " give [row], or row.reshape(1, -1) for an array\n" + SCHEMA_FIX
    )


def test_schema_from_n_features_without_sample(xy: tuple[Any, Any]) -> None:
    """Without a sample or names, the schema is the number of features from n_features_in_."""
    data = satchel.dumps(LogisticRegression().fit(*xy))
    assert _schema(data)["input"] == {"kind": "array", "n_features": 4, "dtype": None}
    model = satchel.loads(data)
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(np.zeros((2, 3)))
    assert str(caught.value) == (
        "the input does not match the model's schema (1 problem):\n"
        "  - input: expected 4 features, found shape (2, 3)\n" + SCHEMA_FIX
    )


def test_all_problems_in_one_error(model: satchel.Model, frame: pd.DataFrame) -> None:
    """Missing, unexpected and mistyped columns are reported together, with the closest names."""
    broken = (frame.head(3).rename(columns={"income": "incme"}).drop(columns=["joined"])
              .assign(age=["a", "b", "c"], extra=1))
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(broken)
    assert str(caught.value) == (
        "the input does not match the model's schema (5 problems):\n"
        "  - column 'income': expected a column of float, found missing (closest: 'incme')\n"
        "  - column 'joined': expected a column of datetime, found missing\n"
        "  - column 'incme': expected no such column, found an unexpected column"
        " (closest: 'income')\n"
        "  - column 'extra': expected no such column, found an unexpected column\n"
        f"  - column 'age': expected integer (int64), found {TEXT}\n" + SCHEMA_FIX
    )
    assert caught.value.problems[0] == {"column": "income", "expected": "a column of float",
                                        "found": "missing (closest: 'incme')"}
    assert isinstance(caught.value, ValueError)


def test_input_values_never_appear_in_errors(model: satchel.Model, frame: pd.DataFrame) -> None:
    """A schema error names columns and types, never the values it was given."""
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(frame.head(2).assign(income=["secret-1", "secret-2"]))
    assert "secret" not in str(caught.value)


def test_columns_are_reordered_by_name(model: satchel.Model, churn: Any,
                                       frame: pd.DataFrame) -> None:
    """Columns in another order are put back in the schema's order before predicting."""
    shuffled = frame[["score", "joined", "city", "plan", "income", "age"]]
    assert list(model.validate(shuffled).columns) == list(frame.columns)
    np.testing.assert_array_equal(model.predict(shuffled), churn.predict(frame))


def test_integer_to_float_is_cast(model: satchel.Model, frame: pd.DataFrame) -> None:
    """An integer column where a float one is expected is accepted and cast."""
    given = frame.head(4).assign(income=[40_000, 50_000, 60_000, 70_000])
    checked = model.validate(given)
    assert checked["income"].dtype == np.float64
    assert list(checked["income"]) == [40_000.0, 50_000.0, 60_000.0, 70_000.0]
    assert len(model.predict(given)) == 4


@pytest.mark.parametrize(("column", "values", "found"), [
    ("age", [30.5, 40.0, 50.0], "float (float64)"),
    ("income", ["1", "2", "3"], TEXT),
    ("joined", ["2020-01-01", "2020-01-02", "2020-01-03"], TEXT),
])
def test_unsafe_casts_are_refused(model: satchel.Model, frame: pd.DataFrame, column: str,
                                  values: list[Any], found: str) -> None:
    """Float to integer, text to number and text to datetime are refused, never cast."""
    expected = {"age": "integer (int64)", "income": "float (float64)",
                "joined": f"datetime ({TIMES})"}[column]
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(frame.head(3).assign(**{column: values}))
    assert caught.value.problems == [{"column": column, "expected": expected, "found": found}]


def test_nulls_refused_where_the_sample_had_none(model: satchel.Model,
                                                 frame: pd.DataFrame) -> None:
    """A column with no missing values in the sample refuses them; a nullable one accepts."""
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(frame.head(3).assign(income=[1.0, np.nan, 3.0]))
    assert caught.value.problems == [{"column": "income", "expected": "no missing values",
                                      "found": "1 missing values"}]
    assert len(model.predict(frame.head(3).assign(score=[np.nan, np.nan, 0.5]))) == 3


def test_category_accepts_text(model: satchel.Model, frame: pd.DataFrame) -> None:
    """A category column may arrive as plain text with the same values."""
    given = frame.head(5).assign(plan=frame["plan"].head(5).astype(str))
    assert len(model.predict(given)) == 5


def test_a_category_of_integers_takes_the_integers_parquet_gives(tmp_path: Any) -> None:
    """A categorical of integers is read back from Parquet (and sent in JSON) as integers,
    which the model takes as it takes the categories: the schema refused them, as it did not
    know the categories were numbers. Text for it is refused: '10' is not the category 10."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"code": pd.Categorical(rng.choice([10, 20, 30], 60)),
                          "x": rng.normal(size=60)})
    labels = np.where(frame["code"].astype(int) > 15, "a", "b")
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=5)
    model.fit(frame, labels)
    loaded = satchel.loads(satchel.dumps(model, sample=frame))
    assert loaded.input_schema == InputSchema(columns=(
        Column("code", "category[int64]", "category", False), Column("x", "float64", "float",
                                                                      False)))
    frame.to_parquet(tmp_path / "rows.parquet")
    read = pd.read_parquet(tmp_path / "rows.parquet")
    assert str(read["code"].dtype) == "int64"
    np.testing.assert_array_equal(loaded.predict(read), model.predict(frame))
    with pytest.raises(satchel.SchemaError) as caught:
        loaded.predict(frame.astype({"code": str}))
    assert caught.value.problems == [{"column": "code", "expected": "category (category[int64])",
                                      "found": TEXT}]


@pytest.mark.parametrize("dtype", ["string[python]", "string[pyarrow]", "large_string[pyarrow]",
                                   "object", "category"])
def test_text_of_another_dtype_is_given_the_schemas(dtype: str) -> None:
    """Text of another dtype than the sample's, with missing values (pandas' NA in a string
    column, from read_parquet or a nullable frame; None in objects, from JSON), is cast to
    the schema's dtype: a pipeline fitted on pandas 3's str, whose missing values are NaN,
    raised 'boolean value of NA is ambiguous' on NA and took None for an unknown category."""

    rng = np.random.default_rng(0)
    city = pd.Series(rng.choice(["oslo", "rome", "lima"], 60))
    city[::4] = None
    frame = pd.DataFrame({"city": city, "x": rng.normal(size=60)})
    pipeline = _city_pipeline().fit(frame, frame["x"] > 0)
    loaded = satchel.loads(satchel.dumps(pipeline, sample=frame))
    given = frame.astype({"city": dtype})
    given["city"] = given["city"].where(frame["city"].notna(), None)
    np.testing.assert_array_equal(loaded.predict(given), pipeline.predict(frame))


@pytest.mark.parametrize("dtype", ["boolean", "bool[pyarrow]"])
def test_booleans_with_missing_values_read_from_csv_are_booleans(dtype: str) -> None:
    """A boolean column with missing values, which pandas reads from CSV (and JSON) as
    objects, is taken and cast to the schema's dtype: it was refused ('expected boolean,
    found object'), so the training frame's own CSV could not be scored."""
    from sklearn.impute import SimpleImputer

    rng = np.random.default_rng(0)
    flag = pd.Series(rng.integers(0, 2, 40).astype(bool)).astype(dtype)
    flag[::5] = None
    frame = pd.DataFrame({"flag": flag, "x": rng.normal(size=40)})
    pipeline = Pipeline([("fill", SimpleImputer(strategy="most_frequent")),
                         ("model", LogisticRegression())]).fit(frame, frame["x"] > 0)
    loaded = satchel.loads(satchel.dumps(pipeline, sample=frame))
    read = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    assert str(read["flag"].dtype) == "object"
    np.testing.assert_array_equal(loaded.predict(read), pipeline.predict(frame))
    with pytest.raises(satchel.SchemaError) as caught:
        loaded.predict(read.assign(flag=read["flag"].where(read["flag"].isna(), "yes")))
    assert caught.value.problems == [{"column": "flag", "expected": f"boolean ({dtype})",
                                      "found": "object (object)"}]


@pytest.mark.parametrize("backend", ["numpy_nullable", "pyarrow"])
def test_a_categorical_with_missing_values_takes_text_with_pandas_na(tmp_path: Any,
                                                                     backend: str) -> None:
    """A categorical of text with missing values, read back from Parquet as pandas' string
    dtype or as a pyarrow dictionary (whose missing values are pandas' NA), is given to the
    model as a categorical: the encoder raised 'boolean value of NA is ambiguous'."""

    rng = np.random.default_rng(0)
    city = pd.Series(rng.choice(["oslo", "rome", "lima"], 60))
    city[::4] = None
    frame = pd.DataFrame({"city": city.astype("category"), "x": rng.normal(size=60)})
    pipeline = _city_pipeline().fit(frame, frame["x"] > 0)
    loaded = satchel.loads(satchel.dumps(pipeline, sample=frame))
    frame.astype({"city": "string"}).to_parquet(tmp_path / "strings.parquet")
    frame.to_parquet(tmp_path / "categories.parquet")
    for name in ("strings", "categories"):
        read = pd.read_parquet(tmp_path / f"{name}.parquet", dtype_backend=backend)
        assert read["city"].hasnans
        np.testing.assert_array_equal(loaded.predict(read), pipeline.predict(frame))


def test_a_pyarrow_dictionary_is_a_categorical(tmp_path: Any) -> None:
    """A categorical read with read_parquet(dtype_backend="pyarrow") is a pyarrow dictionary,
    a category column in the schema: it was an object column, which took anything, so the
    zip codes of a CSV file were read as integers and reached the encoder (a TypeError
    from its isnan check) and numbers sent for it were passed on."""
    from satchel.batch import score

    rng = np.random.default_rng(0)
    pd.DataFrame({"zip": pd.Categorical(rng.choice(["00123", "02139", "94105"], 60)),
                  "x": rng.normal(size=60)}).to_parquet(tmp_path / "rows.parquet")
    frame = pd.read_parquet(tmp_path / "rows.parquet", dtype_backend="pyarrow")
    assert str(frame["zip"].dtype).startswith("dictionary<values=string")
    pipeline = Pipeline([("columns", ColumnTransformer([("zip", OneHotEncoder(), ["zip"])],
                                                       remainder="passthrough")),
                         ("model", LogisticRegression())]).fit(frame, frame["zip"] == "00123")
    loaded = satchel.loads(satchel.dumps(pipeline, sample=frame))
    assert loaded.input_schema is not None
    assert loaded.input_schema.columns[0].kind == "category"
    with pytest.raises(satchel.SchemaError) as caught:
        loaded.predict(frame.assign(zip=123))
    assert caught.value.problems == [{"column": "zip", "expected": "category"
                                      f" ({frame['zip'].dtype})", "found": "integer (int64)"}]
    (tmp_path / "model.satchel").write_bytes(satchel.dumps(pipeline, sample=frame))
    frame.to_csv(tmp_path / "rows.csv", index=False)
    assert score(str(tmp_path / "model.satchel"), str(tmp_path / "rows.csv"),
                 str(tmp_path / "out.csv")) == 60
    assert pd.read_csv(tmp_path / "out.csv")["predict"].tolist() == list(pipeline.predict(frame))


@pytest.mark.parametrize("given", ["datetime64[us, UTC]", "timestamp[us, tz=UTC][pyarrow]"])
def test_times_of_another_zone_are_converted_to_the_schemas(given: str) -> None:
    """Times of another zone (UTC, as another system writes them) are converted to the zone
    of the sample's column, the same instants: they were passed on in UTC, so the hour or day
    a pipeline derives from them was not the one it was fitted on. Naive times are kept."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"when": pd.date_range("2024-03-20 22:00", periods=20, freq="h",
                                                tz="Europe/Paris"), "x": rng.normal(size=20)})
    model = Pipeline([("columns", ColumnTransformer([("x", StandardScaler(), ["x"])])),
                      ("model", LogisticRegression())]).fit(frame, frame["x"] > 0)
    zoned = str(frame["when"].dtype)  # datetime64[us, Europe/Paris]; in pandas 2, of ns
    with pytest.warns(UserWarning, match=re.escape(
            f"no check sample is stored: cannot save ['input']: pandas dtype {zoned} is not"
            f" supported")):
        loaded = satchel.loads(satchel.dumps(model, sample=frame))
    checked = loaded.validate(frame.astype({"when": given}))
    assert str(checked["when"].dtype) == zoned
    assert checked["when"].tolist() == frame["when"].tolist()
    assert checked["when"].dt.hour.tolist() == frame["when"].dt.hour.tolist()
    naive = frame.assign(when=frame["when"].dt.tz_localize(None))
    assert loaded.validate(naive)["when"].tolist() == naive["when"].tolist()


def test_numbers_held_as_objects_are_numbers() -> None:
    """Numbers held as objects (read_sql's decimals for a NUMERIC column, astype(object),
    JSON's integers among nulls) are taken for a numeric column and cast to its dtype, as a
    pickled model takes them: they were refused ('found object'). Floats are no integers,
    and text is no number."""
    from decimal import Decimal

    from sklearn.impute import SimpleImputer

    rng = np.random.default_rng(0)
    count = pd.Series(rng.integers(0, 9, 40), dtype="Int64")
    count[::5] = None
    frame = pd.DataFrame({"count": count, "price": rng.normal(size=40)})
    model = Pipeline([("fill", SimpleImputer()), ("model", LogisticRegression())]).fit(
        frame, frame["price"] > 0)
    loaded = satchel.loads(satchel.dumps(model, sample=frame))
    given = pd.DataFrame({"count": pd.Series([3, None, 5], dtype=object),
                          "price": [Decimal("0.25"), Decimal("-1.5"), Decimal(2)]})
    checked = loaded.validate(given)
    assert [str(d) for d in checked.dtypes] == ["Int64", "float64"]
    np.testing.assert_array_equal(loaded.predict(given), model.predict(
        given.astype({"count": "Int64", "price": float})))
    with pytest.raises(satchel.SchemaError) as caught:
        loaded.predict(given.assign(count=pd.Series([1 << 70, 2, 3], dtype=object)))
    assert caught.value.problems == [
        {"column": "count", "expected": "integer (Int64)", "found": "object (object)"}]
    with pytest.raises(satchel.SchemaError) as caught:
        loaded.predict(pd.DataFrame({"count": pd.Series([3.5, None, 5], dtype=object),
                                     "price": pd.Series(["1", 2.0, 3.0], dtype=object)}))
    assert caught.value.problems == [
        {"column": "count", "expected": "integer (Int64)", "found": "object (object)"},
        {"column": "price", "expected": "float (float64)", "found": "object (object)"}]


@pytest.mark.parametrize("dtype", ["string[python]", "string[pyarrow]", "large_string[pyarrow]"])
def test_text_with_pandas_na_for_a_column_of_objects_gets_nan(dtype: str) -> None:
    """Text whose missing values are pandas' NA, for a column the sample held as objects
    (pandas 2's text, whose missing values are NaN), is given as objects with NaN: the
    pipeline raised 'boolean value of NA is ambiguous'."""

    rng = np.random.default_rng(0)
    city = pd.Series(rng.choice(["oslo", "rome", "lima"], 60), dtype=object)
    city[::4] = np.nan
    frame = pd.DataFrame({"city": city, "x": rng.normal(size=60)})
    pipeline = _city_pipeline().fit(frame, frame["x"] > 0)
    loaded = satchel.loads(satchel.dumps(pipeline, sample=frame))
    assert loaded.input_schema is not None
    assert loaded.input_schema.columns[0] == Column("city", "object", "string", True)
    given = frame.astype({"city": dtype})
    assert given["city"].isna().sum() == 15
    np.testing.assert_array_equal(loaded.predict(given), pipeline.predict(frame))


def test_a_string_column_refuses_numbers_among_strings(model: satchel.Model,
                                                       frame: pd.DataFrame) -> None:
    """Numbers or bools among the strings of a string column (a JSON request's rows) are a
    schema problem, as one alone is: the column of objects was passed to the model. Missing
    values there are the nullable check's."""
    given = frame.head(4).assign(city=pd.Series(["oslo", 7, True, None], dtype=object))
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(given)
    assert caught.value.problems == [{"column": "city", "expected": "no missing values",
                                      "found": "1 missing values"}]
    given = given.assign(city=pd.Series(["oslo", 7, True, "rome"], dtype=object))
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(given)
    assert caught.value.problems == [{"column": "city", "expected": "string values",
                                      "found": "2 values that are not strings"}]
    texts = given.assign(city=pd.Series(["oslo", "rome", "oslo", "rome"], dtype=object))
    assert len(model.predict(texts)) == 4


def test_misspelling_every_column_of_a_wide_model_is_reported_quickly() -> None:
    """A frame whose 1000 column names all miss a 1000-column schema gets its 2000 problems in
    well under a second, "closest" hints for the first ones only: comparing every name with
    every other took 15 s, on a server's event loop."""
    rng = np.random.default_rng(0)
    names = [f"feature_{i:04d}" for i in range(1000)]
    frame = pd.DataFrame(rng.normal(size=(20, 1000)), columns=names)
    model = satchel.loads(satchel.dumps(LogisticRegression(max_iter=20).fit(
        frame, np.arange(20) % 2), sample=frame))
    wrong = frame[:1].set_axis([f"feat_{i:04d}x" for i in range(1000)], axis=1)
    started = time.perf_counter()
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(wrong)
    assert time.perf_counter() - started < 3
    problems = caught.value.problems
    assert len(problems) == 2000
    assert problems[0] == {"column": "feature_0000", "expected": "a column of float",
                           "found": "missing (closest: 'feat_0000x')"}
    assert problems[999]["found"] == "missing"


def test_frame_schema_refuses_an_array(model: satchel.Model, frame: pd.DataFrame) -> None:
    """A model that expects named columns refuses an unnamed array."""
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(frame.head(2).to_numpy())
    assert str(caught.value) == (
        "the input does not match the model's schema (1 problem):\n"
        "  - input: expected a DataFrame with columns ['age', 'income', 'plan', 'city',"
        " 'joined', 'score'], found ndarray\n" + SCHEMA_FIX
    )


def test_a_frame_schema_takes_an_arrow_table_as_its_frame(frame: pd.DataFrame) -> None:
    """A pyarrow Table (or a polars DataFrame), which scikit-learn takes as a frame, is checked
    as the pandas frame it holds: it was refused as no DataFrame."""
    schema = InputSchema(columns=(Column("age", "int64", "integer", False),
                                  Column("income", "float64", "float", False)))
    table = pa.Table.from_pandas(frame[["income", "age"]].head(3), preserve_index=False)
    checked = schema.validate(table)
    assert type(checked) is pd.DataFrame
    pd.testing.assert_frame_equal(checked, frame[["age", "income"]].head(3))
    with pytest.raises(satchel.SchemaError) as caught:
        schema.validate(table.drop_columns(["age"]))
    assert caught.value.problems == [
        {"column": "age", "expected": "a column of integer", "found": "missing"}]


def test_a_model_fitted_on_polars_takes_a_polars_sample(frame: pd.DataFrame) -> None:
    """A pipeline fitted on a polars DataFrame is saved with that frame as its sample: the
    schema and check sample are those of the pandas frame it gives, the check passes at
    load, and the model predicts polars rows as before. The save failed with an
    AttributeError (a polars DataFrame has no isna)."""
    import polars as pl

    rows = pl.from_pandas(frame[["age", "income", "plan", "city"]])
    labels = np.where(frame["income"] > 50_000, "churn", "stay")
    model = Pipeline([
        ("columns", ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                                       ("cat", OneHotEncoder(), ["plan", "city"])])),
        ("model", LogisticRegression()),
    ]).fit(rows, labels)
    data = satchel.dumps(model, sample=rows)
    assert _schema(data) == _schema(satchel.dumps(model, sample=rows.to_pandas()))
    assert satchel.inspect(io.BytesIO(data)).metadata.check is not None
    loaded = satchel.loads(data, verify=True)
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))


def test_polars_without_pyarrow_says_what_to_install() -> None:
    """polars converts to pandas through pyarrow: where pyarrow is missing, a polars sample,
    and the polars output of a model given a pandas sample, are refused with a
    MissingPackageError that says what was being done and what to install. The sample gave
    polars' own error from inside the save, and the output made the method look as if it
    could not take the sample."""
    script = """
import importlib.abc, sys

class NoPyarrow(importlib.abc.MetaPathFinder):  # as where pyarrow is not installed
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoPyarrow())
import numpy as np, pandas as pd, polars as pl, satchel
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
rows = pl.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
scaler = StandardScaler().set_output(transform="polars").fit(rows.to_numpy())
for model, sample in [(LogisticRegression().fit(rows, np.arange(20) % 2), rows),
                      (scaler, pd.DataFrame(rows.to_numpy()))]:
    try:
        satchel.dumps(model, sample=sample)
    except satchel.MissingPackageError as exc:
        print(exc.name, exc, sep="|")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2, result.stdout + result.stderr
    for line in lines:
        name, message = line.split("|", 1)
        assert name == "pyarrow"
        assert message.startswith("a polars DataFrame is read as the pandas DataFrame its"
                                  " to_pandas() gives, which failed: ")
        assert message.endswith("Install pandas and pyarrow: pip install"
                                " 'satchel[pandas,parquet]'")


def test_a_wide_frame_schema_lists_some_columns_for_an_array() -> None:
    """An array given to a model of 3000 named columns is refused naming the first ten and
    how many more: the error listed all 3000 (47 kB)."""
    schema = InputSchema(columns=tuple(Column(f"f{i}", "float64", "float", False)
                                       for i in range(3000)))
    with pytest.raises(satchel.SchemaError) as caught:
        schema.validate(np.zeros((2, 3000)))
    assert caught.value.problems == [{
        "column": None, "found": "ndarray", "expected": "a DataFrame with columns ['f0', 'f1',"
        " 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', ... and 2990 more]"}]


def test_array_schema_checks_count_and_type_together() -> None:
    """An array with the wrong number of features and a text dtype gives both problems."""
    schema = InputSchema(n_features=4, dtype="float64")
    with pytest.raises(satchel.SchemaError) as caught:
        schema.validate(np.array([["a", "b", "c"]]))
    assert caught.value.problems == [
        {"column": None, "expected": "4 features", "found": "shape (1, 3)"},
        {"column": None, "expected": "float (float64)", "found": "string (<U1)"},
    ]


def test_array_schema_casts_only_safely() -> None:
    """An integer array becomes float for a float model; a float array is refused by an int one."""
    assert InputSchema(n_features=2, dtype="float64").validate(
        np.array([[1, 2]])).dtype == np.float64
    with pytest.raises(satchel.SchemaError) as caught:
        InputSchema(n_features=2, dtype="int64").validate(np.array([[1.5, 2.0]]))
    assert caught.value.problems == [
        {"column": None, "expected": "integer (int64)", "found": "float (float64)"}]


def test_array_schema_reads_a_frame_by_its_columns(xy: tuple[Any, Any]) -> None:
    """A model fitted on an array takes a DataFrame of pandas' nullable or pyarrow numbers
    (Float64, Int64, double[pyarrow]) as the estimator does: to_numpy gives them as objects,
    and they were refused as 'found object (object)'."""
    fitted = LogisticRegression().fit(*xy)
    model = satchel.loads(satchel.dumps(fitted, sample=xy[0]))
    frame = pd.DataFrame(xy[0][:5], columns=list("abcd"))
    expected = fitted.predict(xy[0][:5])
    for dtype in ("Float64", "double[pyarrow]"):
        np.testing.assert_array_equal(model.predict(frame.astype(dtype)), expected)
    whole = frame.round().astype("Int64")
    np.testing.assert_array_equal(model.predict(whole), fitted.predict(whole.to_numpy(float)))
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(frame.astype({"b": "str"}))
    assert caught.value.problems == [
        {"column": None, "expected": "float (float64)", "found": TEXT}]


def test_array_schema_takes_numbers_held_as_objects(xy: tuple[Any, Any]) -> None:
    """Numbers held as objects (astype(object), read_sql's decimals, a list with None) are
    taken by a model fitted on an array and cast to its dtype, as a pickled model takes
    them and as a frame schema takes them: they were refused ('found object (object)').
    Text and booleans held as objects are still refused."""
    from decimal import Decimal

    fitted = LogisticRegression().fit(*xy)
    model = satchel.loads(satchel.dumps(fitted, sample=xy[0]))
    rows = xy[0][:5]
    expected = fitted.predict(rows)
    np.testing.assert_array_equal(model.predict(rows.astype(object)), expected)
    np.testing.assert_array_equal(model.predict(pd.DataFrame(rows).astype(object)), expected)
    decimals = [[Decimal(str(value)) for value in row] for row in rows.tolist()]
    np.testing.assert_array_equal(model.predict(decimals), fitted.predict(
        np.array(decimals, dtype=float)))
    checked = model.validate(np.array([[None, 1, 2.5, np.int32(3)]], dtype=object))
    assert checked.dtype == np.float64
    np.testing.assert_array_equal(checked, [[np.nan, 1.0, 2.5, 3.0]])
    for other in ("1.5", True):
        with pytest.raises(satchel.SchemaError) as caught:
            model.predict(np.array([[other, 2.0, 3.0, 4.0]], dtype=object))
        assert caught.value.problems == [{"column": None, "expected": "float (float64)",
                                          "found": "object (object)"}]


def test_schema_round_trips_through_json() -> None:
    """A schema written by to_json reads back equal."""
    schema = InputSchema(columns=(Column("a", "int64", "integer", False),
                                  Column("b", "category", "category", True)))
    assert InputSchema.from_json(schema.to_json()) == schema
    array = InputSchema(n_features=3, dtype="float32")
    assert InputSchema.from_json(array.to_json()) == array


def test_multi_output_and_non_json_classes_are_recorded() -> None:
    """A multi-output classifier (outputs with different class counts) records one list
    of classes per output, and labels JSON cannot hold are recorded as text; both save."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.c_[X[:, 0] > 0, rng.integers(0, 3, 60)]
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    assert satchel.loads(satchel.dumps(forest)).output_schema.classes == [[0, 1], [0, 1, 2]]
    labels = np.where(X[:, 0] > 0, b"yes", b"no")
    tree = DecisionTreeClassifier().fit(X, labels)
    assert satchel.loads(satchel.dumps(tree)).output_schema.classes == ["b'no'", "b'yes'"]


def test_frames_with_integer_column_names(xy: tuple[Any, Any]) -> None:
    """A DataFrame's default integer column names are the schema's '0', '1', ...: the
    loaded model predicts on the frame it was trained on, with its columns in any order."""
    X, y = xy
    frame = pd.DataFrame(X)
    model = LogisticRegression().fit(frame, y)
    loaded = satchel.loads(satchel.dumps(model, sample=frame))
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    shuffled = frame[list(frame.columns)[::-1]]
    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(frame))


def test_a_sample_with_a_repeated_column_name_is_described(xy: tuple[Any, Any]) -> None:
    """A sample whose columns share a name is described column by column (it raised a
    pandas ValueError at save); such input is refused when predicting, naming the column.
    (scikit-learn's estimators refuse such a frame themselves: the sample would be refused
    at save, as no input of theirs; a FunctionTransformer passes it through.)"""
    X, y = xy
    model = FunctionTransformer().fit(X, y)
    names = ["a", "a", *[f"c{i}" for i in range(X.shape[1] - 2)]]
    sample = pd.DataFrame(X, columns=names)
    loaded = satchel.loads(satchel.dumps(model, sample=sample))
    assert [c.name for c in loaded.input_schema.columns] == names
    with pytest.raises(satchel.SchemaError, match="one column of that name"):
        loaded.transform(sample)


def test_ragged_rows_are_a_schema_error(xy: tuple[Any, Any]) -> None:
    """Rows of unequal length are refused with a SchemaError, not numpy's ValueError."""
    X, y = xy
    loaded = satchel.loads(satchel.dumps(LogisticRegression().fit(X, y), sample=X))
    with pytest.raises(satchel.SchemaError, match="rows of equal length"):
        loaded.predict([[1.0] * X.shape[1], [1.0]])


def test_a_column_of_objects_may_hold_lists() -> None:
    """A column of Python objects in the sample (dicts, which the model drops) may hold
    anything: the schema refused the model's own training frame, saying it expected object
    values and found objects. A text column still refuses lists."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=30), "meta": [{"k": i} for i in range(30)],
                          "city": ["x", "y", "z"] * 10})
    model = Pipeline([("pick", ColumnTransformer([("a", StandardScaler(), ["a"])])),
                      ("fit", LogisticRegression())]).fit(frame, np.arange(30) % 2)
    loaded = satchel.loads(satchel.dumps(model, sample=frame))
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    listed = frame.assign(city=[["x"]] * 30)
    with pytest.raises(satchel.SchemaError, match="column 'city': expected string values,"
                       " found 30 lists or objects"):
        loaded.predict(listed)


def test_missing_values_in_an_integer_column_are_called_missing() -> None:
    """A JSON null in an integer column makes pandas read the column as float: the problem
    is the missing value, not the dtype. Fractions are still a wrong dtype."""
    frame = pd.DataFrame({"n": np.arange(20), "f": np.arange(20.0)})
    loaded = satchel.loads(satchel.dumps(LinearRegression().fit(frame, np.arange(20.0)),
                                         sample=frame))
    with pytest.raises(satchel.SchemaError) as error:
        loaded.predict(pd.DataFrame({"n": [1, None], "f": [1.0, 2.0]}))
    assert error.value.problems == [{"column": "n", "expected": "no missing values",
                                     "found": "1 missing values"}]
    with pytest.raises(satchel.SchemaError) as error:
        loaded.predict(pd.DataFrame({"n": [1.5, None], "f": [1.0, 2.0]}))
    assert error.value.problems == [{"column": "n", "expected": "integer (int64)",
                                     "found": "float (float64)"}]


def test_a_column_of_nulls_alone_is_missing_values() -> None:
    """A column of nulls only (one JSON null in a one-row request) is objects to pandas: an
    integer or float column without missing values in the sample reports the missing values;
    a nullable one accepts them, cast to its dtype."""
    schema = infer_input(None, pd.DataFrame({"n": np.arange(3), "f": np.arange(3.0),
                                             "g": [np.nan, 1.0, 2.0]}))
    assert schema is not None
    with pytest.raises(satchel.SchemaError) as error:
        schema.validate(pd.DataFrame({"n": [None], "f": [None], "g": [1.0]}))
    assert error.value.problems == [
        {"column": "n", "expected": "no missing values", "found": "1 missing values"},
        {"column": "f", "expected": "no missing values", "found": "1 missing values"}]
    checked = schema.validate(pd.DataFrame({"n": [1, 2], "f": [1.0, 2.0], "g": [None, None]}))
    assert checked["g"].dtype == np.float64
    assert checked["g"].isna().all()


def test_a_frame_of_no_rows_is_cast_to_the_schema(model: satchel.Model, churn: Any,
                                                   frame: pd.DataFrame) -> None:
    """A frame of no rows whose columns pandas holds as objects (a CSV header alone,
    DataFrame(columns=...)) gets the schema's dtypes and the estimator's own answer, as a
    typed frame of no rows does: each column was refused as 'found object (object)'."""
    untyped = pd.read_csv(io.StringIO(",".join(frame.columns) + "\n"))
    assert set(untyped.dtypes.tolist()) == {np.dtype(object)}
    typed = ["age", "income", "joined", "score"]  # text and category columns take objects
    assert model.validate(untyped)[typed].dtypes.tolist() == frame[typed].dtypes.tolist()
    with pytest.raises(ValueError, match="0 sample") as caught:
        model.predict(untyped)
    assert not isinstance(caught.value, satchel.SchemaError)
    with pytest.raises(ValueError, match="0 sample") as raw:
        churn.predict(frame.head(0))
    assert str(caught.value) == str(raw.value)


def test_a_wide_frame_reports_each_column_problem() -> None:
    """Missing and infinite values are counted over the frame at once: each column of a
    wide frame still gets its own problem, in schema order."""
    names = [f"c{i}" for i in range(300)]
    frame = pd.DataFrame(np.ones((4, 300)), columns=names)
    loaded = satchel.loads(satchel.dumps(LinearRegression().fit(frame, np.arange(4.0)),
                                         sample=frame))
    bad = frame.copy()
    bad.loc[0, "c7"] = np.inf
    bad.loc[1, "c150"] = np.nan
    bad["c299"] = "text"
    with pytest.raises(satchel.SchemaError) as error:
        loaded.predict(bad)
    assert error.value.problems == [
        {"column": "c7", "expected": "finite numbers", "found": "1 infinite values"},
        {"column": "c150", "expected": "no missing values", "found": "1 missing values"},
        {"column": "c299", "expected": "float (float64)", "found": TEXT}]


@pytest.mark.parametrize("lengths", [(2, 2, 2), (2, 1, 3)])
def test_token_lists_are_no_feature_matrix(lengths: tuple[int, ...]) -> None:
    """A FeatureHasher takes lists of tokens, which numpy makes a 2-D array when they are of
    one length (the schema then refused lists of any other length) and refuses when they
    are not (the save raised numpy's ValueError): a list sample gives an array schema only
    for a model that counts its features."""
    from sklearn.feature_extraction import FeatureHasher

    words = ["a", "b", "c", "d", "e", "f"]
    docs = [[words[(i + j) % 6] for j in range(lengths[i % 3])] for i in range(30)]
    model = Pipeline([("hash", FeatureHasher(n_features=16, input_type="string")),
                      ("fit", LogisticRegression())]).fit(docs, np.arange(30) % 2)
    loaded = satchel.loads(satchel.dumps(model, sample=docs), verify=True)
    assert loaded.input_schema is None
    new = [["a", "b", "c"], ["d"]]
    np.testing.assert_array_equal(loaded.predict(new), model.predict(new))


def test_a_long_column_name_is_shown_cut_with_its_length() -> None:
    """A column name of a million letters is shown as its first 80 with its length, in the
    problem and in a hint naming it: the message held the whole name (a command printed
    megabytes). The problem's ``column`` keeps the name whole."""
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 2)), columns=["alpha", "beta"])
    model = satchel.loads(satchel.dumps(LinearRegression().fit(frame, frame["alpha"]),
                                        sample=frame))
    long = "x" * 1_000_000
    with pytest.raises(satchel.SchemaError) as caught:
        model.predict(frame.rename(columns={"beta": long}))
    assert str(caught.value).splitlines()[1:3] == [
        "  - column 'beta': expected a column of float, found missing",
        f"  - column {'x' * 80!r}... (1000000 characters): expected no such column, found an"
        " unexpected column"]
    assert caught.value.problems[1]["column"] == long
    near = "beta" + "b" * 3  # close enough to be named as the closest
    schema = InputSchema([Column(near * 30, "float64", "float", False)])
    with pytest.raises(satchel.SchemaError, match=re.escape(
            f"found missing (closest: {(near * 29 + 'beta')[:80]!r}... (207 characters))")):
        schema.validate(pd.DataFrame({near * 29 + "beta": [1.0]}))
