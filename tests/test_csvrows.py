"""csvrows: CSV read so that every value stays under its header's name, and dates parsed as
the schema says."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline

import satchel
from satchel.csvrows import read_csv, with_dates
from satchel.errors import SchemaError


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> satchel.Model:
    """A model whose schema holds a datetime column d beside a float column x."""
    frame = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
                          "x": [1.0, 2.0, 3.0]})
    pipeline = make_pipeline(make_column_transformer(("passthrough", ["x"])),
                             LinearRegression()).fit(frame, [1.0, 2.0, 3.0])
    path = tmp_path_factory.mktemp("csvrows") / "dated.satchel"
    satchel.save(pipeline, path, sample=frame)
    return satchel.load(path)


def test_a_repeated_date_column_is_left_for_validation(dated: satchel.Model) -> None:
    """A date column given twice (JSON columns ["d", "x", "d"]) is left as it is, for the
    schema to report it as repeated: parsing it raised AttributeError, which the server
    answered with a 500."""
    frame = pd.DataFrame([["2024-01-01", 1.0, "2024-01-02"]], columns=["d", "x", "d"])
    schema = dated.input_schema
    assert schema is not None
    with pytest.raises(SchemaError) as caught:
        dated.validate(with_dates(frame, schema))
    assert caught.value.problems == [{"column": "d", "expected": "one column of that name",
                                      "found": "2 columns"}]


def test_a_single_date_column_is_still_parsed(dated: satchel.Model) -> None:
    """Beside a repeated column, a date column given once is parsed as dates."""
    frame = pd.DataFrame([["2024-01-01", 1.0, 2.0]], columns=["d", "x", "x"])
    schema = dated.input_schema
    assert schema is not None
    assert with_dates(frame, schema)["d"].dtype.kind == "M"


@pytest.mark.parametrize("dates", [[1704067200], [1704067200.5], [1704067200, None]])
def test_numbers_are_no_dates(dated: satchel.Model, dates: list[float | None]) -> None:
    """A date column of numbers (epoch seconds, from JSON or CSV) is refused, as a frame of
    them given to predict is: pandas read 1704067200 as nanoseconds, a date in 1970, and the
    model predicted from it."""
    frame = pd.DataFrame({"d": dates, "x": [1.0] * len(dates)})
    schema = dated.input_schema
    assert schema is not None
    with pytest.raises(SchemaError) as caught:
        dated.validate(with_dates(frame, schema))
    assert [p["column"] for p in caught.value.problems] == ["d"]
    assert caught.value.problems[0]["expected"].startswith("datetime")
    text = read_csv(b"d,x\n1704067200,1.0\n")
    with pytest.raises(SchemaError, match="'d': expected datetime"):
        dated.validate(with_dates(text, schema))


def test_a_column_the_header_names_twice_keeps_its_name() -> None:
    """A CSV body whose header names a column twice is read with that name twice, as the
    header writes it (the schema then reports it as repeated): pandas named the second
    'a.1'. A file's own 'a.1' beside 'a' keeps its name."""
    assert list(read_csv(b"a,b,a\n1,2,3\n").columns) == ["a", "b", "a"]
    assert list(read_csv(b"a,b,a,b\n1,2,3,4\n").columns) == ["a", "b", "a", "b"]
    assert list(read_csv(b"a,b,a.1\n1,2,3\n").columns) == ["a", "b", "a.1"]
    assert list(read_csv(b"a,a.1,a\n1,2,3\n").columns) == ["a", "a.1", "a"]
