"""satchel predict: CSV and Parquet files scored in chunks like model.predict, and nothing
written when the input does not match the model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
from pandas.testing import assert_frame_equal
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import satchel
from satchel.batch import score
from satchel.cli import main
from satchel.errors import SCHEMA_FIX
from satchel.registry import Registry
from tests.custom import Doubler, embedded_model, strict_root
from tests.hostile_tools import forge_environment
from tests.inferred import TEXT
from tests.terminal import run_in_terminal

COLUMNS = ["a", "b", "c", "d"]


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    """Four float columns of normal noise."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    """A classifier of a + b > 0."""
    frame = table(200)
    return LogisticRegression().fit(frame, (frame["a"] + frame["b"] > 0).astype(np.int64))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, model: Any) -> Path:
    """The classifier saved with a frame schema and a check sample."""
    path = tmp_path_factory.mktemp("batch") / "churn.satchel"
    satchel.save(model, path, sample=table(200)[:50])
    return path


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """53 rows to score: not a multiple of the chunk size."""
    return table(53, seed=1)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``satchel predict ARGS`` in a new process."""
    return subprocess.run([sys.executable, "-m", "satchel", "predict", *args],
                          capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class Result:
    """The exit code and standard error of one ``satchel predict``."""

    returncode: int
    stderr: str


Predict = Callable[..., Result]


@pytest.fixture
def predict(capsys: pytest.CaptureFixture[str]) -> Predict:
    """Run ``satchel predict ARGS`` through the command's entry point, in this process."""

    def run_main(*args: str) -> Result:
        code = main(["predict", *args])
        captured = capsys.readouterr()
        assert captured.out == ""
        return Result(code, captured.err)

    return run_main


def read(path: Path) -> pd.DataFrame:
    """A CSV or Parquet output file."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.parametrize(("source", "output"), [("csv", "csv"), ("parquet", "parquet"),
                                                ("csv", "parquet"), ("parquet", "csv")])
def test_predict_in_chunks_matches_the_model(predict: Predict, tmp_path: Path, model_file: Path,
                                             model: Any, rows: pd.DataFrame, source: str,
                                             output: str) -> None:
    """satchel predict with --chunk-rows 7 writes exactly model.predict's outputs."""
    given, written = tmp_path / f"rows.{source}", tmp_path / f"scores.{output}"
    if source == "csv":
        rows.to_csv(given, index=False)
    else:
        rows.to_parquet(given, index=False)
    result = predict(str(model_file), str(given), "-o", str(written), "--chunk-rows", "7")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"scored 53 rows of {given} with {model_file} -> {written}\n"
    scores = read(written)
    assert list(scores.columns) == ["predict"]
    assert scores["predict"].tolist() == model.predict(rows).tolist()


@pytest.mark.parametrize(("held", "found"), [
    ({"threshold": 0.5}, "holds a dict, not a model: scoring needs a fitted estimator, with one"
     " of the methods predict, predict_proba, decision_function, transform, score_samples;"
     " give a file or version that holds one"),
    (LogisticRegression(), "holds a LogisticRegression that was never fitted: scoring needs a"
     " fitted estimator, and this one would refuse every row; fit it before it is saved")])
def test_a_file_that_holds_no_fitted_model_is_refused(predict: Predict, tmp_path: Path,
                                                      rows: pd.DataFrame, held: Any,
                                                      found: str) -> None:
    """A file that holds no model (a dict of settings) or a model saved before it was fitted
    exits 2 saying so, and no output is written: the command printed a traceback ("'dict'
    object has no attribute 'unwrap'"), or scored nothing and blamed the first row ("the
    model's predict refused data row 1")."""
    saved, given, written = (tmp_path / "held.satchel", tmp_path / "rows.csv",
                             tmp_path / "scores.csv")
    satchel.save(held, saved)
    rows.to_csv(given, index=False)
    result = predict(str(saved), str(given), "-o", str(written))
    assert result == Result(2, f"satchel: error: {saved} {found}\n")
    assert not written.exists()


def test_a_transformer_that_needs_no_fit_scores(predict: Predict, tmp_path: Path,
                                                rows: pd.DataFrame) -> None:
    """A transformer that needs no fit (Normalizer) scores, unfitted as it is."""
    stateless, given, written = (tmp_path / "normalizer.satchel", tmp_path / "rows.csv",
                                 tmp_path / "scores.csv")
    satchel.save(Normalizer(), stateless)
    rows.to_csv(given, index=False)
    result = predict(str(stateless), str(given), "-o", str(written), "--method", "transform")
    assert result.returncode == 0, result.stderr
    assert read(written).shape == rows.shape


@pytest.mark.parametrize("name", ["table.parquet", "spark_output"])
def test_a_folder_of_parquet_files_is_read_in_order(predict: Predict, tmp_path: Path,
                                                    model_file: Path, model: Any,
                                                    rows: pd.DataFrame, name: str) -> None:
    """A folder of Parquet part files, as Spark and pyarrow write a table (beside _SUCCESS
    and hidden checksums), is scored file after file in the order of their names: it failed
    with '[Errno 21] Is a directory'. A folder of none is refused saying what is read."""
    folder, written = tmp_path / name, tmp_path / "scores.csv"
    folder.mkdir()
    for number, start in enumerate(range(0, len(rows), 20)):
        rows[start:start + 20].to_parquet(folder / f"part-{number:05d}.snappy.parquet",
                                          index=False)
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".part-00000.snappy.parquet.crc").write_bytes(b"\x00\x01")
    result = predict(str(model_file), str(folder), "-o", str(written), "--chunk-rows", "7")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"scored 53 rows of {folder} with {model_file} -> {written}\n"
    assert read(written)["predict"].tolist() == model.predict(rows).tolist()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "rows.txt").write_text("a\n")
    result = predict(str(model_file), str(empty), "-o", str(written))
    assert (result.returncode, result.stderr) == (2, (
        f"satchel: error: cannot read {str(empty)!r}: it is a folder that holds no Parquet"
        " file; give a .csv, .csv.gz, .txt, .parquet or .pq file, or a folder of Parquet files"
        " (as Spark writes a table)\n"))


def test_an_output_that_is_a_file_of_the_input_writes_nothing(predict: Predict, tmp_path: Path,
                                                              model_file: Path,
                                                              rows: pd.DataFrame) -> None:
    """An output that is one of the Parquet files of the input folder exits 2 saying so, and
    score refuses one that is the input file: the predictions replaced that part of the
    table (or, from score, the input file itself), and its rows were lost."""
    folder = tmp_path / "table"
    folder.mkdir()
    rows[:20].to_parquet(folder / "part-00000.parquet", index=False)
    rows[20:].to_parquet(folder / "part-00001.parquet", index=False)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    part = folder / "part-00001.parquet"
    result = predict(str(model_file), str(folder), "-o", str(part))
    assert (result.returncode, result.stderr) == (2, (
        f"satchel: error: the output {str(part)!r} is 'part-00001.parquet' of the input folder"
        f" {str(folder)!r}, which would be replaced by the predictions: pass another -o"
        " file\n"))
    given = tmp_path / "rows.csv"
    rows.to_csv(given, index=False)
    with pytest.raises(satchel.errors.RequestError) as caught:
        score(str(model_file), str(given), str(tmp_path / "." / "rows.csv"))
    assert str(caught.value) == (
        f"the output {str(tmp_path / '.' / 'rows.csv')!r} is the input file {str(given)!r},"
        " which would be replaced by the predictions: give another output file")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert_frame_equal(pd.read_csv(given), rows)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("rows.csv", "a,b,c,d\n1,2,3,4\n".encode("utf-16"), "'utf-8' codec can't decode byte 0xff"
     " in position 0: invalid start byte"),
    ("rows.csv", b"", "it holds no header row naming its columns"),
    ("rows.csv.gz", b"\x1f\x8b\x08\x00", "Compressed file ended before the end-of-stream"
     " marker was reached"),
    ("rows.parquet", b"a,b,c,d\n1,2,3,4\n", "Parquet magic bytes not found in footer"),
], ids=["utf-16", "empty", "gzip-cut-short", "csv-as-parquet"])
def test_score_of_an_unreadable_input_is_a_request_error(tmp_path: Path, model_file: Path,
                                                         name: str, content: bytes,
                                                         expected: str) -> None:
    """score of an input that is not the CSV or Parquet its name says raises RequestError
    naming it, with or without progress (which counts its rows first), as the command
    reports it: UnicodeDecodeError, pandas' EmptyDataError, EOFError and pyarrow's
    ArrowInvalid came out."""
    source = tmp_path / name
    source.write_bytes(content)
    for progress in (None, lambda done, total: None):
        with pytest.raises(satchel.errors.RequestError) as caught:
            score(str(model_file), str(source), str(tmp_path / "out.csv"), progress=progress)
        assert str(caught.value).startswith(f"cannot read {str(source)!r}: {expected}")
        assert str(caught.value).endswith("; expected a UTF-8 CSV file (gzip-compressed for"
                                          " .csv.gz) or a Parquet file")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("rows", [0, -1, 2.5, True, "7"])
@pytest.mark.parametrize("name", ["rows.csv", "rows.parquet"])
def test_score_refuses_a_chunk_size_that_is_no_count_of_rows(tmp_path: Path, model_file: Path,
                                                             rows: Any, name: str) -> None:
    """score's chunk_rows must be an integer >= 1, checked before anything is read: pandas
    refused 0 and 2.5 in its own words ('chunksize' must be an integer >=1), pyarrow refused
    0 in others, and took 2.5 and True as chunk sizes."""
    source = tmp_path / name
    if name.endswith(".csv"):
        table(5).to_csv(source, index=False)
    else:
        table(5).to_parquet(source)
    with pytest.raises(ValueError, match=re.escape(
            f"chunk_rows must be an integer >= 1, not {rows!r}")) as caught:
        score(str(model_file), str(source), str(tmp_path / "out.csv"), chunk_rows=rows)
    assert type(caught.value) is ValueError
    assert not (tmp_path / "out.csv").exists()


def test_predict_proba_in_chunks(predict: Predict, tmp_path: Path, model_file: Path, model: Any,
                                 rows: pd.DataFrame) -> None:
    """--method predict_proba writes one column per class, equal to model.predict_proba."""
    given, written = tmp_path / "rows.parquet", tmp_path / "scores.parquet"
    rows.to_parquet(given, index=False)
    result = predict(str(model_file), str(given), "-o", str(written), "--chunk-rows", "10",
                     "--method", "predict_proba")
    assert result.returncode == 0, result.stderr
    scores = read(written)
    assert list(scores.columns) == ["predict_proba_0", "predict_proba_1"]
    np.testing.assert_allclose(scores.to_numpy(), model.predict_proba(rows), rtol=1e-12,
                               atol=1e-15)


def test_predict_from_the_registry(predict: Predict, tmp_path: Path, model: Any,
                                   rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """satchel predict models:/name@alias scores with the alias's version (SATCHEL_REGISTRY)."""
    registry = Registry(str(tmp_path / "registry"))
    registry.register("churn", model, sample=table(200)[:50])
    registry.set_alias("churn", "production", 1)
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    rows.to_csv(given, index=False)
    monkeypatch.setenv("SATCHEL_REGISTRY", str(tmp_path / "registry"))
    result = predict("models:/churn@production", str(given), "-o", str(written),
                     "--chunk-rows", "20")
    assert result.returncode == 0, result.stderr
    assert read(written)["predict"].tolist() == model.predict(rows).tolist()


def test_predict_reorders_columns(predict: Predict, tmp_path: Path, model_file: Path, model: Any,
                                  rows: pd.DataFrame) -> None:
    """Columns in another order are matched by name, as the server does."""
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    rows[COLUMNS[::-1]].to_csv(given, index=False)
    result = predict(str(model_file), str(given), "-o", str(written), "--chunk-rows", "7")
    assert result.returncode == 0, result.stderr
    assert read(written)["predict"].tolist() == model.predict(rows).tolist()


def bad_text_in_last_chunk(rows: pd.DataFrame, path: Path) -> None:
    """``rows`` as CSV with text in column b of row 50: only the last chunk is wrong."""
    broken = rows.astype({"b": object})
    broken.loc[50, "b"] = "zq-secret-text"
    broken.to_csv(path, index=False)


@pytest.mark.parametrize("output", ["scores.csv", "scores.parquet"])
def test_schema_problem_in_a_late_chunk_writes_nothing(predict: Predict, tmp_path: Path,
                                                       model_file: Path, rows: pd.DataFrame,
                                                       output: str) -> None:
    """Text in a float column of the last chunk: exit 2, a message naming the rows of that
    chunk, no output file. The message named no rows, leaving a file of millions to search."""
    given = tmp_path / "rows.csv"
    bad_text_in_last_chunk(rows, given)
    result = predict(str(model_file), str(given), "-o", str(tmp_path / output),
                     "--chunk-rows", "7")
    assert result.returncode == 2
    assert result.stderr == (
        "satchel: error: the input does not match the model's schema in data rows 50 to 53 of"
        f" {str(given)!r} (1 problem):\n"
        f"  - column 'b': expected float (float64), found {TEXT}\n{SCHEMA_FIX}\n")
    assert "zq-secret-text" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


@pytest.mark.parametrize("output", ["scores.parquet", "scores.csv.gz"])
def test_a_score_holds_the_outputs_of_one_chunk_at_a_time(tmp_path: Path, model_file: Path,
                                                          model: Any, output: str) -> None:
    """The outputs are written a chunk at a time: a score held every chunk's outputs until
    the end, then all of them again as one table, gigabytes for a hundred million rows. Here
    the memory Python allocates at its peak is the same for 120,000 rows as for 30,000 (it
    was four times as much)."""
    import tracemalloc

    def peak(count: int) -> int:
        """Peak memory allocated while ``count`` rows are scored, 5,000 at a time."""
        given, written = tmp_path / f"rows{count}.parquet", tmp_path / f"{count}{output}"
        rows = table(count, seed=3)
        rows.to_parquet(given, index=False)
        tracemalloc.start()
        try:
            score(str(model_file), str(given), str(written), method="predict_proba",
                  chunk_rows=5_000)
            found = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        scores = pd.read_csv(written) if output.endswith(".gz") else pd.read_parquet(written)
        assert list(scores.columns) == ["predict_proba_0", "predict_proba_1"]
        np.testing.assert_allclose(scores.to_numpy(), model.predict_proba(rows), rtol=1e-15)
        return found

    peak(5_000)  # what a first write imports is not counted
    assert peak(120_000) < 1.5 * peak(30_000)


def test_a_later_chunk_whose_outputs_parquet_cannot_hold_says_to_write_csv(
        tmp_path: Path) -> None:
    """A Parquet output's columns have the first chunk's types: a later chunk's outputs of
    another type that cannot be cast (text after numbers) stop the score with what to do."""
    from satchel.batch import _writer

    path = tmp_path / "scores.parquet"
    with _writer(str(path), "parquet", path.name) as write:
        write(pd.DataFrame({"predict": [1.5, 2.0]}), "data rows 1 to 2")
        write(pd.DataFrame({"predict": [1, 7]}), "data rows 3 to 4")  # cast to float64
        with pytest.raises(satchel.SatchelError, match=re.escape(
                "the outputs of data rows 5 to 6 have other types than those before them (")
                ) as caught:
            write(pd.DataFrame({"predict": ["churn", "stay"]}), "data rows 5 to 6")
    assert pd.read_parquet(path)["predict"].tolist() == [1.5, 2.0, 1.0, 7.0]
    assert str(caught.value).endswith(
        "), which one Parquet file cannot hold: write a .csv output instead")


def test_standard_output_gets_nothing_when_a_late_chunk_fails(tmp_path: Path,
                                                               model_file: Path,
                                                               rows: pd.DataFrame) -> None:
    """-o /dev/stdout is given the outputs once every chunk is scored: a schema problem in
    the last chunk leaves it as it was, as it leaves a file output."""
    given, redirected = tmp_path / "rows.csv", tmp_path / "redirected"
    bad_text_in_last_chunk(rows, given)
    with redirected.open("wb") as stdout:
        result = subprocess.run([sys.executable, "-m", "satchel", "predict", str(model_file),
                                 str(given), "-o", "/dev/stdout", "--chunk-rows", "7"],
                                stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)
    assert result.returncode == 2
    assert "data rows 50 to 53" in result.stderr
    assert redirected.read_bytes() == b""


def test_values_the_model_refuses_are_one_line_naming_their_rows(predict: Predict,
                                                                  tmp_path: Path) -> None:
    """Rows that match the schema but that the model refuses (a category its encoder never
    saw) exit 2 with the model's message and the rows of the chunk it refused, writing
    nothing: they printed a traceback, as a bug of satchel's would."""
    frame = pd.DataFrame({"city": ["a", "b", "a", "b"], "x": [1.0, 2.0, 3.0, 4.0]})
    pipeline = make_pipeline(make_column_transformer((OneHotEncoder(), ["city"]),
                                                     remainder="passthrough"),
                             LogisticRegression()).fit(frame, [0, 1, 0, 1])
    model_path, given = tmp_path / "strict.satchel", tmp_path / "rows.csv"
    satchel.save(pipeline, model_path, sample=frame)
    pd.DataFrame({"city": ["a"] * 5 + ["zz"], "x": [1.0] * 6}).to_csv(given, index=False)
    result = predict(str(model_path), str(given), "-o", str(tmp_path / "scores.csv"),
                     "--chunk-rows", "4")
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"satchel: error: the model's predict refused data rows 5 to 6 of {str(given)!r}"
        " (valid for its schema): ValueError: Found unknown categories ['zz']")
    assert result.stderr.endswith(
        "; fix or remove the values it refuses (such as a category it never saw), or score"
        " with a model trained on such values\n")
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv", "strict.satchel"]


def test_another_error_of_the_model_is_one_line_naming_its_rows(predict: Predict,
                                                                 tmp_path: Path) -> None:
    """An error of the model's own other than ValueError (a TypeError its code raises on some
    rows) exits 2 with one line naming the rows, the error and whose it is, writing nothing:
    it printed a traceback, as a bug of satchel's would."""
    frame = pd.DataFrame({"x": [1.0, 4.0, 9.0, 16.0], "y": [2.0, 3.0, 5.0, 7.0]})
    pipeline = make_pipeline(FunctionTransformer(strict_root), LogisticRegression())
    model_path, given = tmp_path / "roots.satchel", tmp_path / "rows.csv"
    satchel.save(pipeline.fit(frame, [0, 1, 0, 1]), model_path, sample=frame)
    pd.DataFrame({"x": [1.0, 4.0, 9.0, -1.0], "y": [1.0] * 4}).to_csv(given, index=False)
    result = predict(str(model_path), str(given), "-o", str(tmp_path / "scores.csv"),
                     "--chunk-rows", "2", "--trust", "tests.custom.strict_root")
    assert (result.returncode, result.stderr) == (2, (
        f"satchel: error: the model's predict failed on data rows 3 to 4 of {str(given)!r}:"
        " TypeError: strict_root takes no negative value; the model's own code raised it, not"
        " satchel: call predict on these rows in Python to see where\n"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roots.satchel", "rows.csv"]


def test_a_header_that_names_a_column_twice_is_reported_as_repeated(
        predict: Predict, tmp_path: Path, model_file: Path) -> None:
    """A CSV header naming a column twice is reported as that column repeated: pandas read
    the second as 'a.1', and the schema's error spoke of a column the file does not have."""
    given = tmp_path / "rows.csv"
    given.write_text("a,b,c,d,a\n1,2,3,4,5\n")
    result = predict(str(model_file), str(given), "-o", str(tmp_path / "out.csv"))
    assert (result.returncode, result.stderr) == (2, (
        "satchel: error: the input does not match the model's schema in data row 1 of"
        f" {str(given)!r} (1 problem):\n"
        f"  - column 'a': expected one column of that name, found 2 columns\n{SCHEMA_FIX}\n"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_a_column_of_no_name_says_where_it_comes_from(predict: Predict, tmp_path: Path,
                                                      model_file: Path,
                                                      rows: pd.DataFrame) -> None:
    """A CSV file written by pandas' to_csv with its index (a first column of no name), or
    with a trailing comma, is refused saying which column has no name and why: the message
    spoke only of an unexpected column 'Unnamed: 0', a name pandas makes up."""
    given = tmp_path / "rows.csv"
    rows.to_csv(given)
    result = predict(str(model_file), str(given), "-o", str(tmp_path / "out.csv"))
    assert (result.returncode, result.stderr) == (2, (
        "satchel: error: the input does not match the model's schema in data rows 1 to 53 of"
        f" {str(given)!r} (1 problem):\n"
        "  - column 'Unnamed: 0': expected no such column, found an unexpected column"
        " (column 1 of the header has no name: the index that pandas' to_csv writes unless"
        f" given index=False)\n{SCHEMA_FIX}\n"))
    given.write_text("a,b,c,d,\n1,2,3,4,\n")
    result = predict(str(model_file), str(given), "-o", str(tmp_path / "out.csv"))
    assert "  - column 'Unnamed: 4': expected no such column, found an unexpected column" \
        " (column 5 of the header has no name: a trailing comma?)\n" in result.stderr


def test_a_file_of_another_separator_says_so(predict: Predict, tmp_path: Path,
                                             model_file: Path, rows: pd.DataFrame) -> None:
    """A CSV file separated by semicolons (as spreadsheets write it in many countries) or
    tabs is refused saying which separator its header seems to use and how to convert it:
    the message spoke of one unexpected column named after the whole header."""
    for separator in (";", "\t"):
        given = tmp_path / "rows.csv"
        rows.to_csv(given, sep=separator, index=False)
        result = predict(str(model_file), str(given), "-o", str(tmp_path / "out.csv"))
        assert result.returncode == 2
        assert (f"(the header seems separated by {separator!r}: satchel predict reads files"
                " separated by commas; write it with pd.read_csv(path,"
                f" sep={separator!r}).to_csv(new_path, index=False))") in result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_missing_and_extra_columns_write_nothing(predict: Predict, tmp_path: Path, model_file: Path,
                                                 rows: pd.DataFrame) -> None:
    """A renamed column is reported as missing and unexpected, with the closest name."""
    given, written = tmp_path / "rows.parquet", tmp_path / "scores.csv"
    rows.rename(columns={"c": "cc"}).to_parquet(given, index=False)
    result = predict(str(model_file), str(given), "-o", str(written), "--chunk-rows", "7")
    assert result.returncode == 2
    assert result.stderr == (
        "satchel: error: the input does not match the model's schema in data rows 1 to 7 of"
        f" {str(given)!r} (2 problems):\n"
        "  - column 'c': expected a column of float, found missing (closest: 'cc')\n"
        "  - column 'cc': expected no such column, found an unexpected column"
        f" (closest: 'c')\n{SCHEMA_FIX}\n")
    assert not written.exists()


def test_existing_output_is_left_alone_on_a_schema_problem(predict: Predict, tmp_path: Path,
                                                           model_file: Path, rows: pd.DataFrame
                                                           ) -> None:
    """A failed run leaves a previous output file as it was."""
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    written.write_text("previous\n")
    bad_text_in_last_chunk(rows, given)
    result = predict(str(model_file), str(given), "-o", str(written), "--chunk-rows", "7")
    assert result.returncode == 2
    assert written.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv", "scores.csv"]


def test_unsupported_input_format(predict: Predict, tmp_path: Path, model_file: Path,
                                  rows: pd.DataFrame) -> None:
    """An input that is neither CSV nor Parquet exits 2 and says which formats are read."""
    given, written = tmp_path / "rows.json", tmp_path / "scores.csv"
    rows.to_json(given)
    result = predict(str(model_file), str(given), "-o", str(written))
    assert result.returncode == 2
    assert result.stderr == (f"satchel: error: cannot read {str(given)!r}: expected a .csv,"
                             " .csv.gz, .txt, .parquet or .pq file, or a folder of Parquet"
                             " files, as the input's format follows its name; give the input"
                             " one of these endings\n")
    assert not written.exists()


@pytest.mark.parametrize("method", ["explode", "fit"])
def test_unknown_method_exits_cleanly(tmp_path: Path, model_file: Path, rows: pd.DataFrame,
                                      method: str) -> None:
    """--method that is not a prediction method exits 2 with one line, like the server's 400."""
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    rows.to_csv(given, index=False)
    result = run(str(model_file), str(given), "-o", str(written), "--method", method)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"satchel: error: unknown method {method!r}")
    assert "Traceback" not in result.stderr
    assert not written.exists()


def test_predict_command_in_a_new_process(tmp_path: Path, model_file: Path, model: Any,
                                          rows: pd.DataFrame) -> None:
    """python -m satchel predict scores a CSV file in chunks and reports on stderr."""
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    rows.to_csv(given, index=False)
    result = run(str(model_file), str(given), "-o", str(written), "--chunk-rows", "7")
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert result.stderr == f"scored 53 rows of {given} with {model_file} -> {written}\n"
    assert read(written)["predict"].tolist() == model.predict(rows).tolist()


@pytest.mark.parametrize("name", ["rows.csv", "rows.csv.gz"])
def test_score_reports_progress_up_to_its_total(tmp_path: Path, model_file: Path,
                                                rows: pd.DataFrame, name: str) -> None:
    """score() calls progress(done, total) per chunk, growing, and ends at done == total; a
    .csv.gz file's rows are counted in its text (its compressed bytes' line breaks were)."""
    given, written = tmp_path / name, tmp_path / "scores.csv"
    rows.to_csv(given, index=False)
    calls: list[tuple[int, int]] = []
    assert score(str(model_file), str(given), str(written), chunk_rows=10,
                 progress=lambda done, total: calls.append((done, total))) == 53
    assert len(calls) == 6
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1][0] == calls[-1][1]
    assert {total for _, total in calls} == {53}


@pytest.mark.parametrize("line", [1, 30])
def test_a_row_longer_than_the_header_is_refused(predict: Predict, tmp_path: Path,
                                                 model_file: Path, rows: pd.DataFrame,
                                                 line: int) -> None:
    """A data row with one value too many exits 2 naming its line, its length and the
    header's; pandas would otherwise take the first row's extra value as an index and shift the
    others left, and gave a later row's lengths only in a message of its own parser."""
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    lines = rows.to_csv(index=False).splitlines()
    lines[line] = "99999," + lines[line]
    given.write_text("\n".join(lines) + "\n")
    result = predict(str(model_file), str(given), "-o", str(written), "--chunk-rows", "7")
    assert result.returncode == 2, result.stderr
    assert f"line {line + 1} of {str(given)!r}" in result.stderr
    assert "has 5 values but the header names 4 columns (a, b, c, d)" in result.stderr
    assert not written.exists()


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_a_csv_text_column_of_digits_stays_text(tmp_path: Path, dtype: str) -> None:
    """A text column of digits (zip codes) in a CSV file is read as text, zeros kept: pandas
    made it integers, which the schema refused. A sample's column of Python strings (pandas
    2's text columns, astype(object)) is text too: its integers reached the encoder, whose
    isnan check raised TypeError."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"zip": rng.choice(["00123", "02139", "94105"], 100).astype(object),
                          "x": rng.normal(size=100)}).astype({"zip": dtype})
    pipeline = make_pipeline(make_column_transformer((OneHotEncoder(), ["zip"]),
                                                     remainder="passthrough"),
                             LogisticRegression()).fit(frame, frame["zip"] == "00123")
    satchel.save(pipeline, tmp_path / "zip.satchel", sample=frame[:20])
    (tmp_path / "rows.csv").write_text("zip,x\n00123,0.5\n94105,-0.5\n")
    assert score(str(tmp_path / "zip.satchel"), str(tmp_path / "rows.csv"),
                 str(tmp_path / "out.csv")) == 2
    assert pd.read_csv(tmp_path / "out.csv")["predict"].tolist() == [True, False]


def test_a_csv_categorical_of_integers_is_read_as_integers(tmp_path: Path) -> None:
    """A categorical of integers (or of dates) is read from CSV as the values it holds, as
    pandas reads them: it was read as text, so '10' reached HistGradientBoosting, which took
    it for an unknown category and predicted otherwise without a word."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    days = pd.to_datetime(["2024-01-01", "2024-06-01"])
    frame = pd.DataFrame({"code": pd.Categorical(rng.choice([10, 20, 30], 80)),
                          "day": pd.Categorical(rng.choice(days, 80)),
                          "x": rng.normal(size=80)})
    labels = np.where(frame["code"].astype(int) == 10, "a", "b")
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=5)
    model.fit(frame, labels)
    with pytest.warns(UserWarning, match=r"no check sample is stored: cannot save .*pandas"
                      " DatetimeIndex is not supported"):
        satchel.save(model, tmp_path / "codes.satchel", sample=frame)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    assert score(str(tmp_path / "codes.satchel"), str(tmp_path / "rows.csv"),
                 str(tmp_path / "out.csv"), chunk_rows=30) == 80
    assert pd.read_csv(tmp_path / "out.csv")["predict"].tolist() == model.predict(frame).tolist()


@pytest.mark.parametrize("dtype", ["datetime64[us, Europe/Paris]",
                                   "timestamp[us, tz=Europe/Paris][pyarrow]"])
def test_csv_times_of_a_zone_with_summer_time_are_dates(tmp_path: Path, dtype: str) -> None:
    """Times of a zone with summer time, written to CSV with their two offsets (+01:00 in
    winter, +02:00 in summer), are read as times of the schema's zone: pandas parses mixed
    offsets only as UTC, so they were left as text and refused ('found string')."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"when": pd.Series(pd.date_range("2024-03-20", periods=20, freq="D",
                                                          tz="Europe/Paris")).astype(dtype),
                          "x": rng.normal(size=20)})
    model = make_pipeline(make_column_transformer((StandardScaler(), ["x"])),
                          LogisticRegression()).fit(frame, frame["x"] > 0)
    with pytest.warns(UserWarning, match="no check sample"):  # no check sample holds a zone
        satchel.save(model, tmp_path / "times.satchel", sample=frame)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    written = (tmp_path / "rows.csv").read_text()
    assert {"+01:00", "+02:00"} <= set(re.findall(r"[+]0\d:00", written))
    assert score(str(tmp_path / "times.satchel"), str(tmp_path / "rows.csv"),
                 str(tmp_path / "out.csv"), chunk_rows=8) == 20
    assert pd.read_csv(tmp_path / "out.csv")["predict"].tolist() == model.predict(frame).tolist()


def test_csv_durations_are_read_as_durations(tmp_path: Path) -> None:
    """A timedelta column, written to CSV as pandas writes it ('0 days 00:14:10'), is read
    as durations: it was left as text and refused ('found string')."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"wait": pd.to_timedelta(rng.integers(0, 5000, 20), unit="s"),
                          "x": rng.normal(size=20)})
    model = make_pipeline(make_column_transformer((StandardScaler(), ["x"])),
                          LogisticRegression()).fit(frame, frame["x"] > 0)
    satchel.save(model, tmp_path / "waits.satchel", sample=frame)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    assert "0 days " in (tmp_path / "rows.csv").read_text()
    assert score(str(tmp_path / "waits.satchel"), str(tmp_path / "rows.csv"),
                 str(tmp_path / "out.csv"), chunk_rows=8) == 20
    assert pd.read_csv(tmp_path / "out.csv")["predict"].tolist() == model.predict(frame).tolist()


def test_a_csv_header_alone_is_no_rows(predict: Predict, tmp_path: Path,
                                       model_file: Path) -> None:
    """A CSV file of a header and no rows exits 2 saying it has no rows (not that its columns,
    of no values, have the wrong dtype), and writes nothing."""
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    given.write_text("a,b,c,d\n")
    result = predict(str(model_file), str(given), "-o", str(written))
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"satchel: error: {str(given)!r} has no rows to score; nothing was"
                             " written\n")
    assert not written.exists()


@pytest.mark.parametrize("name", ["scores.csv.gz", "scores.txt", "scores.pq"])
def test_output_format_follows_its_name(predict: Predict, tmp_path: Path, model_file: Path,
                                        model: Any, rows: pd.DataFrame, name: str) -> None:
    """A .csv.gz output is gzip-compressed CSV (naming the CSV inside), .txt is CSV and .pq is
    Parquet: each reads back as the input of the same name does."""
    given, written = tmp_path / "rows.csv", tmp_path / name
    rows.to_csv(given, index=False)
    result = predict(str(model_file), str(given), "-o", str(written))
    assert result.returncode == 0, result.stderr
    scores = pd.read_parquet(written) if name.endswith(".pq") else pd.read_csv(written)
    assert scores["predict"].tolist() == model.predict(rows).tolist()
    if name.endswith(".gz"):
        assert written.read_bytes()[:2] == b"\x1f\x8b"
        assert written.read_bytes()[10:21] == b"scores.csv\x00"


@pytest.mark.parametrize(("source", "output"), [("ROWS.CSV", "SCORES.PARQUET"),
                                                ("rows.Parquet", "scores.CSV.GZ"),
                                                ("ROWS.CSV.GZ", "SCORES.PQ")])
def test_endings_are_read_in_any_case(predict: Predict, tmp_path: Path, model_file: Path,
                                      model: Any, rows: pd.DataFrame, source: str,
                                      output: str) -> None:
    """An input or output whose ending is in capitals (DATA.CSV, as Windows tools name files)
    is read and written as the same ending in small letters: it was refused, said to have
    none of the endings it had."""
    given, written = tmp_path / source, tmp_path / output
    if source.lower().endswith(".parquet"):
        rows.to_parquet(given)
    else:
        rows.to_csv(given, index=False, compression="gzip" if source.endswith("GZ") else None)
    result = predict(str(model_file), str(given), "-o", str(written))
    assert result.returncode == 0, result.stderr
    scores = (pd.read_parquet(written) if output.endswith(("PARQUET", "PQ"))
              else pd.read_csv(written, compression="gzip"))
    assert scores["predict"].tolist() == model.predict(rows).tolist()
    if output.endswith(".GZ"):
        assert written.read_bytes()[10:21] == b"scores.CSV\x00"


@pytest.mark.parametrize("name", ["", "scores.json", "-"])
def test_an_output_name_of_no_format_writes_nothing(predict: Predict, tmp_path: Path,
                                                    model_file: Path, rows: pd.DataFrame,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    name: str) -> None:
    """An output named without .csv, .csv.gz or .parquet (nor a device) exits 2 saying so and
    writes nothing: an empty name raised ValueError, others got CSV whatever their name."""
    given = tmp_path / "rows.csv"
    rows.to_csv(given, index=False)
    monkeypatch.chdir(tmp_path)
    result = predict(str(model_file), str(given), "-o", name)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"satchel: error: cannot write {name!r}: expected a .csv, .csv.gz or .parquet file (or"
        " a device such as /dev/stdout), as the output's format follows its name; give the"
        " output one of these endings\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_an_output_in_a_missing_folder_fails_before_scoring(predict: Predict, tmp_path: Path,
                                                            model_file: Path,
                                                            rows: pd.DataFrame) -> None:
    """An output in a folder that does not exist is reported before any row is scored."""
    given = tmp_path / "rows.csv"
    bad_text_in_last_chunk(rows, given)
    result = predict(str(model_file), str(given), "-o", str(tmp_path / "missing" / "out.csv"))
    assert result.returncode == 2
    assert result.stderr == (f"satchel: error: [Errno 2] cannot save to {tmp_path}/missing/out.csv:"
                             f" the folder {tmp_path}/missing does not exist\n")


def test_predict_trusts_custom_code_by_name(predict: Predict, tmp_path: Path,
                                            rows: pd.DataFrame) -> None:
    """A model with custom code is refused with the --trust options that accept it, and
    --trust NAME scores it: predict had no way to trust a name, and said trusted=[...]."""
    model = make_pipeline(Doubler(), LogisticRegression()).fit(table(200), np.arange(200) % 2)
    satchel.save(model, tmp_path / "custom.satchel", sample=table(200)[:50])
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    rows.to_csv(given, index=False)
    refused = predict(str(tmp_path / "custom.satchel"), str(given), "-o", str(written))
    assert refused == Result(3, "satchel: error: the file needs 1 untrusted type(s) or"
                             " function(s): 'tests.custom.Doubler'. Nothing was imported or"
                             " run. If you trust the file's author, pass --trust"
                             " tests.custom.Doubler.\n")
    assert not written.exists()
    trusted = predict(str(tmp_path / "custom.satchel"), str(given), "-o", str(written),
                      "--trust", "tests.custom.Doubler")
    assert trusted.returncode == 0, trusted.stderr
    assert read(written)["predict"].tolist() == model.predict(rows).tolist()


def test_predict_runs_embedded_code_with_trust_code(tmp_path: Path) -> None:
    """--trust-code scores a model whose custom module is not installed from the source the
    file embeds, which the error says to pass (it said trust_code=True, which predict had no
    way to pass)."""
    path = embedded_model(tmp_path)
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    pd.DataFrame({"0": [2.0, 4.0], "1": [3.0, 5.0]}).to_csv(given, index=False)
    refused = run(str(path), str(given), "-o", str(written), "--trust", "cli_step.Shift")
    assert (refused.returncode, refused.stderr) == (
        2, "satchel: error: the model needs module 'cli_step', which is not installed: make"
        " module 'cli_step' importable, or pass --trust-code to run the source embedded in the"
        " file.\n")
    scored = run(str(path), str(given), "-o", str(written), "--trust-code")
    assert scored.returncode == 0, scored.stderr
    assert read(written)["predict"].tolist() == pytest.approx([2.0, 4.0])


def test_a_warning_is_one_line(tmp_path: Path, model_file: Path, rows: pd.DataFrame) -> None:
    """A model saved under other versions warns in one 'satchel: warning:' line, without the
    file, line and source of the library's code that Python's printer added."""
    saved = tmp_path / "old.satchel"
    saved.write_bytes(forge_environment(model_file.read_bytes(), {"scikit-learn": "1.0.2"}))
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    rows.to_csv(given, index=False)
    result = run(str(saved), str(given), "-o", str(written))
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "satchel: warning: the model was saved in another environment (1 difference):"
        f" scikit-learn 1.0.2 -> {sklearn.__version__} (minor). Install the saved versions"
        " (satchel inspect FILE --requirements) or re-save the model under the current ones.\n"
        f"scored 53 rows of {given} with {saved} -> {written}\n")


def test_a_model_fitted_on_arrays_scores_a_file_without_warnings(tmp_path: Path,
                                                                  rows: pd.DataFrame) -> None:
    """A model fitted on an array scores a CSV file (which has a header whatever the model
    was fitted on) in column order, without scikit-learn's warning for every chunk that 'X
    has feature names, but StandardScaler was fitted without feature names'."""
    values = rows.to_numpy()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        values, (values[:, 0] > 0).astype(np.int64))
    saved, given, written = tmp_path / "m.satchel", tmp_path / "rows.csv", tmp_path / "s.csv"
    satchel.save(pipeline, saved, sample=values)
    rows.to_csv(given, index=False)
    result = run(str(saved), str(given), "-o", str(written), "--chunk-rows", "20")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"scored 53 rows of {given} with {saved} -> {written}\n"
    assert pd.read_csv(written)["predict"].tolist() == pipeline.predict(values).tolist()


def test_a_text_model_gets_one_text_per_row(predict: Predict, tmp_path: Path) -> None:
    """A pipeline that starts with a text vectorizer scores the file's one column, a text
    per row: given the table, it read the column's name as the only text and the output
    held one prediction for the whole file. A file of several columns is refused."""
    texts = ["good movie", "bad movie", "great film", "awful film"]
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, [1, 0, 1, 0])
    saved, given, written = tmp_path / "m.satchel", tmp_path / "rows.csv", tmp_path / "s.csv"
    satchel.save(pipeline, saved, sample=texts)
    pd.DataFrame({"review": texts * 3}).to_csv(given, index=False)
    result = predict(str(saved), str(given), "-o", str(written), "--chunk-rows", "5")
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(written)["predict"].tolist() == pipeline.predict(texts * 3).tolist()
    pd.DataFrame({"review": texts, "stars": [5, 1, 4, 1]}).to_csv(given, index=False)
    result = predict(str(saved), str(given), "-o", str(written))
    assert (result.returncode, result.stderr) == (2, (
        "satchel: error: the model takes one text per row (its first step is TfidfVectorizer),"
        " found 2 columns: give one column of texts\n"))


def test_outputs_not_one_per_row_are_refused(predict: Predict, tmp_path: Path) -> None:
    """A model whose output does not have one row per input row (a function that flattens
    its input) writes nothing: the file got as many scores as the model gave, under the
    wrong rows."""
    saved, given, written = tmp_path / "m.satchel", tmp_path / "rows.csv", tmp_path / "s.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}).to_csv(given, index=False)
    for function, outputs in ((np.ravel, 6), (np.sum, 1)):
        satchel.save(FunctionTransformer(function).fit(np.ones((4, 2))), saved)
        result = predict(str(saved), str(given), "-o", str(written), "--method", "transform",
                         "--trust", f"numpy.{function.__name__}")
        assert (result.returncode, result.stderr) == (2, (
            f"satchel: error: the model's transform gave {outputs} outputs for data rows 1 to 3"
            f" of {str(given)!r} (3 rows): it does not score a table row by row\n"))
        assert not written.exists()


def test_an_input_is_read_once(tmp_path: Path, model_file: Path, model: Any,
                               rows: pd.DataFrame) -> None:
    """Without a progress bar the input is read once, so a named pipe scores: it was read to
    the end to count its rows first, and scoring then waited for a second writer for good."""
    folder = tmp_path / "piped"
    folder.mkdir()
    os.mkfifo(folder / "rows.csv")
    process = subprocess.Popen([sys.executable, "-m", "satchel", "predict", str(model_file),
                                str(folder / "rows.csv"), "-o", str(folder / "scores.csv")],
                               stderr=subprocess.PIPE)
    with open(folder / "rows.csv", "w") as pipe:
        pipe.write(rows.to_csv(index=False))
    try:
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert read(folder / "scores.csv")["predict"].tolist() == model.predict(rows).tolist()


def test_the_progress_bar_counts_rows_to_the_end(tmp_path: Path, model_file: Path) -> None:
    """On a terminal, the bar of a large input fills as rows are scored: its total was the
    file's size in bytes while it counted rows, so it stayed near 0% to the end."""
    given = tmp_path / "rows.csv"
    table(450_000).to_csv(given, index=False)  # larger than the 32 MiB a bar needs
    assert given.stat().st_size > 32 << 20
    code, shown, _ = run_in_terminal("predict", model_file, given, "-o",
                                     tmp_path / "scores.csv", "--chunk-rows", "100000",
                                     on="stderr")
    assert code == 0
    assert re.findall(r"(\d+)%", shown)[-1] == "100"


def test_csv_columns_are_read_as_the_schema_says(predict: Predict, tmp_path: Path) -> None:
    """A text column of digits stays text, leading zeros and all, in every chunk, and a date
    column is parsed as dates, as the server reads them: pandas read a chunk of postcodes
    as integers and dates as strings, and both were refused as the wrong type."""
    frame = pd.DataFrame({"postcode": ["01234", "98765", "01234", "55555", "A1234", "98765"],
                          "signup": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01",
                                                    "2024-04-01", "2024-05-01", "2024-06-01"]),
                          "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    columns = ColumnTransformer([("codes", OneHotEncoder(handle_unknown="ignore"), ["postcode"]),
                                 ("numbers", StandardScaler(), ["x"])])
    model = make_pipeline(columns, LogisticRegression()).fit(frame, [0, 1, 0, 1, 0, 1])
    satchel.save(model, tmp_path / "codes.satchel", sample=frame)
    given, written = tmp_path / "rows.csv", tmp_path / "scores.csv"
    frame.to_csv(given, index=False)
    result = predict(str(tmp_path / "codes.satchel"), str(given), "-o", str(written),
                     "--chunk-rows", "2")
    assert result.returncode == 0, result.stderr
    assert read(written)["predict"].tolist() == model.predict(frame).tolist()


def test_every_shape_of_output_is_written_row_by_row(predict: Predict, tmp_path: Path,
                                                     rows: pd.DataFrame) -> None:
    """A sparse transform is written dense and a model of two outputs writes each output's
    probabilities as columns of their own rows: a sparse matrix raised IndexError with a
    traceback, and the list of two outputs was reshaped across rows, so a chunk of 4 rows
    got other rows' probabilities."""
    encoder = OneHotEncoder().fit(pd.DataFrame({"c": ["x", "y", "z"]}))
    satchel.save(encoder, tmp_path / "encoder.satchel", sample=pd.DataFrame({"c": ["x"]}))
    codes = pd.DataFrame({"c": ["z", "x", "y"]})
    codes.to_csv(tmp_path / "codes.csv", index=False)
    assert predict(str(tmp_path / "encoder.satchel"), str(tmp_path / "codes.csv"), "-o",
                   str(tmp_path / "codes-out.csv"), "--method", "transform").returncode == 0
    assert read(tmp_path / "codes-out.csv").to_numpy().tolist() == [[0, 0, 1], [1, 0, 0],
                                                                     [0, 1, 0]]
    frame = table(200)
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
        frame, np.c_[frame["a"] > 0, frame["b"] > 0].astype(np.int64))
    satchel.save(model, tmp_path / "two.satchel", sample=frame)
    rows[:8].to_csv(tmp_path / "rows.csv", index=False)
    result = predict(str(tmp_path / "two.satchel"), str(tmp_path / "rows.csv"), "-o",
                     str(tmp_path / "scores.csv"), "--method", "predict_proba",
                     "--chunk-rows", "4")
    assert result.returncode == 0, result.stderr
    scores = read(tmp_path / "scores.csv")
    assert list(scores.columns) == ["predict_proba_0_0", "predict_proba_0_1",
                                    "predict_proba_1_0", "predict_proba_1_1"]
    np.testing.assert_array_equal(scores.to_numpy(), np.hstack(model.predict_proba(rows[:8])))


def test_standard_output_redirected_to_a_file_gets_csv(tmp_path: Path, model_file: Path,
                                                       model: Any, rows: pd.DataFrame) -> None:
    """-o /dev/stdout writes CSV to the file a shell redirected standard output to: the
    output's name was checked as the regular file /dev/stdout leads to, of no known ending,
    and refused."""
    given, redirected = tmp_path / "rows.csv", tmp_path / "redirected"
    rows.to_csv(given, index=False)
    with redirected.open("wb") as stdout:
        result = subprocess.run([sys.executable, "-m", "satchel", "predict", str(model_file),
                                 str(given), "-o", "/dev/stdout"], stdout=stdout,
                                stderr=subprocess.PIPE, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(redirected)["predict"].tolist() == model.predict(rows).tolist()


def test_standard_output_appended_to_a_file_keeps_what_it_held(tmp_path: Path,
                                                              model_file: Path, model: Any,
                                                              rows: pd.DataFrame) -> None:
    """-o /dev/stdout writes at the end of the file standard output is redirected to (as
    `>> log` and `{ echo; satchel ...; } > log` do): the file was replaced by a new one that
    held the predictions alone, and what it held before was lost."""
    given, redirected = tmp_path / "rows.csv", tmp_path / "redirected"
    rows.to_csv(given, index=False)
    redirected.write_bytes(b"written before\n")
    with redirected.open("ab") as stdout:
        result = subprocess.run([sys.executable, "-m", "satchel", "predict", str(model_file),
                                 str(given), "-o", "/dev/stdout"], stdout=stdout,
                                stderr=subprocess.PIPE, text=True, check=False)
        stdout.write(b"written after\n")
    assert result.returncode == 0, result.stderr
    lines = redirected.read_text().splitlines()
    assert lines[0] == "written before"
    assert lines[-1] == "written after"
    assert lines[1:-1] == ["predict", *map(str, model.predict(rows))]


def test_an_input_of_no_known_ending_is_refused_naming_every_ending(model_file: Path,
                                                                     tmp_path: Path) -> None:
    """An input whose name gives no format is refused listing every ending that is read."""
    source = tmp_path / "rows.tsv"
    source.write_text("a\tb\tc\td\n1\t2\t3\t4\n")
    with pytest.raises(satchel.errors.RequestError) as caught:
        score(str(model_file), str(source), str(tmp_path / "out.csv"))
    assert str(caught.value) == (
        f"cannot read {str(source)!r}: expected a .csv, .csv.gz, .txt, .parquet or .pq file,"
        " or a folder of Parquet files, as the input's format follows its name; give the input"
        " one of these endings")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("output", ["scores.csv", "scores.parquet"])
def test_an_output_on_a_full_disk_is_one_line_naming_it(predict: Predict, tmp_path: Path,
                                                        model_file: Path, small_disk: Path,
                                                        output: str) -> None:
    """An output that runs out of room names the file and leaves the one it would replace as
    it was, with no temporary file: the error named no file ('[Errno 28] No space left on
    device', or Arrow's 'Error writing bytes to file')."""
    given, written = tmp_path / "rows.parquet", small_disk / output
    table(60_000).to_parquet(given, index=False)
    written.write_text("old\n")
    result = predict(str(model_file), str(given), "-o", str(written), "--method",
                     "predict_proba")
    assert result.returncode == 2
    assert result.stderr.startswith(f"satchel: error: [Errno 28] cannot save to {written}: ")
    assert result.stderr.endswith(f" in the folder {small_disk}; nothing was written under its"
                                  " name (a file there keeps what it held): free space on its"
                                  " filesystem or choose another folder\n")
    assert [p.name for p in small_disk.iterdir()] == [output]
    assert written.read_text() == "old\n"
