"""The satchel command on artifacts: inspect, verify, diff and untrusted, run as a user would."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import satchel
from satchel.cli import build_parser, main
from tests.custom import Doubler, embedded_model
from tests.hostile_tools import array_offset, forge_check_outputs, forge_environment
from tests.terminal import run_in_terminal

ROOT = Path(__file__).resolve().parent.parent
SKLEARN = __import__("sklearn").__version__
_RICH_MARKS = ("\x1b[", "┃", "━", "│", "─")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m satchel`` with ``args`` in a new process, stdout and stderr piped."""
    return subprocess.run([sys.executable, "-m", "satchel", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, check=False)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the command in this process (faster), with output captured like a pipe."""
    def call(*args: str | Path) -> Result:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


@dataclass(frozen=True)
class Result:
    """What a command did: its exit code and its output."""

    returncode: int
    stdout: str
    stderr: str


def assert_clean_error(result: Result | subprocess.CompletedProcess[str], code: int,
                       start: str) -> None:
    """The command failed with ``code`` and one line on stderr that starts with ``start``."""
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith(f"satchel: error: {start}"), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline over named columns with a forest, saved with a sample and user metadata."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 4)), columns=["age", "income", "tenure", "spend"])
    target = np.where(frame["age"] * frame["income"] > 0, "churn", "stay")
    model = make_pipeline(StandardScaler(),
                          RandomForestClassifier(n_estimators=3, random_state=0))
    path = tmp_path_factory.mktemp("cli") / "model.satchel"
    satchel.save(model.fit(frame, target), path, sample=frame, metadata={"owner": "growth"})
    assert satchel.inspect(path).array_count > 0
    return path


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory, xy: tuple[Any, Any]) -> Path:
    """A pipeline with a custom step from tests/custom.py, its source embedded."""
    path = tmp_path_factory.mktemp("cli") / "custom.satchel"
    model = make_pipeline(StandardScaler(), Doubler(), LogisticRegression()).fit(*xy)
    satchel.save(model, path, sample=xy[0], embed_source=True)
    return path


def test_every_artifact_command_has_help() -> None:
    """inspect, verify, diff and untrusted each describe themselves in --help and the index."""
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert commands is not None
    index = run("--help").stdout
    for name in ("inspect", "verify", "diff", "untrusted"):
        description = commands[name].description
        assert description
        assert name in index
        assert "".join(description.split()) in "".join(commands[name].format_help().split())
        assert "".join(description.split()) in "".join(index.split())


def test_inspect_plain_output(churn: Path) -> None:
    """inspect prints plain tables when piped: objects with types, shapes, sizes and trust."""
    result = run("inspect", churn)
    assert result.returncode == 0, result.stderr
    assert not any(mark in result.stdout for mark in _RICH_MARKS)
    lines = result.stdout.splitlines()
    for title in ("# file", "# objects", "# input schema", "# environment"):
        assert title in lines
    assert any(line.split()[:4] == ["<root>", "sklearn.pipeline.Pipeline", "class", "trusted"]
               for line in lines if line)
    forest = [line for line in lines if line.startswith("steps[1][1] ")]
    forest_model = satchel.load(churn).unwrap()[-1]
    assert forest[0].split()[1:] == ["sklearn.ensemble._forest.RandomForestClassifier", "class",
                                     "trusted"]
    assert ["steps[1][1].estimators_", "sklearn.tree._classes.DecisionTreeClassifier", "class",
            f"x{len(forest_model.estimators_)},", "as", "columns", "trusted"] in [
        line.split() for line in lines]
    nodes = sum(tree.tree_.node_count for tree in forest_model.estimators_)
    assert ["steps[1][1].estimators_[*].tree_.values", "ndarray", "float64",
            f"({nodes},", "1,", "2)"] in [line.split()[:6] for line in lines]
    assert ["steps[0][1].mean_", "ndarray", "<f8", "[4]", "inline"] in [
        line.split() for line in lines]
    assert any(line.split()[:4] == ["age", "float64", "float", "False"] for line in lines if line)
    assert any(line.split() == ["scikit-learn", SKLEARN] for line in lines)
    assert any(line.split() == ["python", platform.python_version()] for line in lines)


def objects_table(text: str) -> list[list[str]]:
    """The rows of the objects table in inspect's plain output, each split into words."""
    table = text.split("# objects\n", 1)[1].split("\n\n", 1)[0]
    return [line.split() for line in table.splitlines()[1:]]


def test_inspect_says_how_many_objects_it_left_out(cli: Callable[..., Result],
                                                   churn: Path) -> None:
    """Past --max-rows, the last row counts the objects left out and gives the --max-rows
    that lists them all; it gave a lower bound and said --json would list them, which it
    does not."""
    every = objects_table(cli("inspect", churn, "--max-rows", "1000").stdout)
    assert every[-1][0] != "..."
    shown = objects_table(cli("inspect", churn, "--max-rows", "2").stdout)
    assert shown[:2] == every[:2]
    assert shown[2] == ["...", str(len(every) - 2), "more", "not", "shown", "--max-rows",
                        str(len(every)), "lists", "them"]
    assert objects_table(cli("inspect", churn, "--max-rows", str(len(every))).stdout) == every


@pytest.fixture(scope="module")
def hostile_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose column names and metadata hold an escape sequence, a line break, a
    right-to-left override and rich markup."""
    frame = pd.DataFrame({"a\x1b[2Jb": [1.0, 2.0, 3.0], "[red]x\nnext": [0.0, 1.0, 0.0],
                          "abc\u202edef": [1.0, 1.0, 0.0]})
    path = tmp_path_factory.mktemp("cli") / "hostile-text.satchel"
    satchel.save(LinearRegression().fit(frame, [1.0, 2.0, 3.0]), path, sample=frame,
                 metadata={"note": "[/bold] closes no tag"})
    return path


def test_inspect_escapes_what_is_not_printable(cli: Callable[..., Result],
                                               hostile_text: Path) -> None:
    """Characters a terminal would act on are printed as their escapes, one table row per
    column: the escape sequence, line break and override went out as they were."""
    lines = cli("inspect", hostile_text).stdout.splitlines()
    assert not [line for line in lines if not line.isprintable()]
    assert [line.split()[0] for line in lines if line.endswith("float64  float  False")] == [
        "a\\x1b[2Jb", "[red]x\\nnext", "abc\\u202edef"]


def test_messages_escape_what_files_hold(tmp_path: Path, churn: Path) -> None:
    """Errors and warnings quoting a file's text write what is not printable as escapes: a
    forged metadata key or saved version cleared the screen and set the terminal's title."""
    forged = tmp_path / "forged.satchel"
    forged.write_bytes(forge_environment(churn.read_bytes(), **{"\x1b[2Jkey": "x"}))
    result = run("verify", forged)
    assert result.returncode == 2
    assert result.stderr == ("satchel: error: metadata.environment.\\x1b[2Jkey: unknown field;"
                             " expected one of ['created', 'implementation', 'packages',"
                             " 'platform', 'python', 'satchel']\n")
    old = tmp_path / "old.satchel"
    old.write_bytes(forge_environment(churn.read_bytes(), {"numpy": "1.0\x1b]0;title\x07"}))
    rows = tmp_path / "rows.csv"
    pd.DataFrame(np.zeros((2, 4)), columns=["age", "income", "tenure", "spend"]).to_csv(
        rows, index=False)
    result = run("predict", old, rows, "-o", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("satchel: warning: the model was saved in another"
                                    " environment (1 difference): numpy 1.0\\x1b]0;title\\x07")
    assert all(line.isprintable() for line in result.stderr.splitlines())


def test_the_progress_bar_is_drawn_on_standard_error(tmp_path: Path) -> None:
    """verify of a large file with its output piped and standard error on a terminal draws
    the bar there, and the output holds the JSON alone: the bar went to standard output,
    so it was not drawn at all when that was not a terminal."""
    large = tmp_path / "large.satchel"
    satchel.save({"w": np.arange(5_000_000, dtype=np.float64)}, large)  # over 32 MiB
    code, shown, output = run_in_terminal("verify", large, "--json", on="stderr")
    assert code == 0
    assert json.loads(output)["ok"] is True
    assert "verifying" in shown
    assert "%" in shown


def test_inspect_on_a_terminal_prints_text_not_markup(hostile_text: Path) -> None:
    """On a terminal, text from the file is shown as it is written: '[/bold]' in the metadata
    made rich raise MarkupError with a traceback, '[red]' coloured a column name and the
    escape sequence reached the terminal."""
    code, output, errors = run_in_terminal("inspect", hostile_text)
    assert (code, errors) == (0, "")
    assert "[/bold] closes no tag" in output
    assert "[red]x\\nnext" in output
    assert "a\\x1b[2Jb" in output
    assert "\x1b[2J" not in output
    assert "\x1b[31m" not in output


def test_inspect_shows_user_metadata(cli: Callable[..., Result], churn: Path) -> None:
    """inspect's plain output includes the metadata= the model was saved with."""
    output = cli("inspect", churn).stdout
    assert "owner" in output
    assert "growth" in output


def test_inspect_shows_output_schema(cli: Callable[..., Result], churn: Path) -> None:
    """inspect's plain output includes the output schema: the classes a model predicts."""
    output = cli("inspect", churn).stdout
    assert "churn" in output
    assert "stay" in output


def test_inspect_shows_the_check_sample(cli: Callable[..., Result], churn: Path,
                                        tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """inspect's plain output says how many rows the check sample holds and of which methods,
    or that a model has none, so load cannot check its predictions: it said neither."""
    lines = [line.split() for line in cli("inspect", churn).stdout.splitlines()]
    assert ["rows", "100"] in lines
    assert ["methods", "predict,", "predict_proba"] in lines
    satchel.save(LogisticRegression().fit(*xy), tmp_path / "bare.satchel")
    assert ("rows   none stored: load cannot check the model's predictions (save it with"
            " sample=)") in cli("inspect", tmp_path / "bare.satchel").stdout.splitlines()
    satchel.save({"w": np.zeros(3)}, tmp_path / "data.satchel")
    assert "check sample" not in cli("inspect", tmp_path / "data.satchel").stdout


def test_inspect_shows_the_whole_environment(cli: Callable[..., Result], churn: Path) -> None:
    """inspect's plain output shows every recorded environment field, platform included."""
    output = cli("inspect", churn).stdout
    saved = satchel.inspect(churn).metadata.environment
    fields = ("satchel", "created", "python", "implementation", "platform")
    assert [field for field in fields if saved[field] not in output] == []


def test_inspect_marks_untrusted_and_embedded_code(cli: Callable[..., Result],
                                                   custom: Path) -> None:
    """inspect flags a custom class as UNTRUSTED and says its source is embedded."""
    lines = cli("inspect", custom).stdout.splitlines()
    assert ["steps[1][1]", "tests.custom.Doubler", "class", "UNTRUSTED"] in [
        line.split() for line in lines]
    assert ["untrusted", "tests.custom.Doubler"] in [line.split() for line in lines]
    assert ["tests.custom", "None", "None", "embedded"] in [line.split() for line in lines]


def test_inspect_json(churn: Path) -> None:
    """inspect --json prints the summary, the types and the whole metadata as JSON."""
    result = run("inspect", churn, "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    info = satchel.inspect(churn)
    assert data["digest"] == info.digest
    assert data["format"] == "1.4"
    assert data["untrusted"] == []
    assert data["arrays"] == info.array_count
    assert "sklearn.ensemble._forest.RandomForestClassifier" in data["types"]
    metadata = data["metadata"]
    assert metadata["user"] == {"owner": "growth"}
    assert metadata["schema"]["output"]["classes"] == ["churn", "stay"]
    assert [c["name"] for c in metadata["schema"]["input"]["columns"]] == [
        "age", "income", "tenure", "spend"]
    assert metadata["environment"]["packages"]["scikit-learn"] == SKLEARN
    assert metadata["check"]["rows"] == 100


def test_inspect_json_shows_the_object_tree(cli: Callable[..., Result], tmp_path: Path) -> None:
    """inspect --json holds the object tree as stored, so that a parameter that runs at
    predict (a vectorizer's token_pattern, its input) is read without loading the file."""
    from sklearn.feature_extraction.text import CountVectorizer

    path = tmp_path / "text.satchel"
    satchel.save(CountVectorizer(token_pattern=r"(a+)+b").fit(["aab ab"]), path)
    tree = json.loads(cli("inspect", path, "--json").stdout)["tree"]
    assert tree == satchel.inspect(path).tree
    assert tree["cls"] == "sklearn.feature_extraction.text:CountVectorizer"
    assert tree["state"]["v"]["token_pattern"] == "(a+)+b"
    assert tree["state"]["v"]["input"] == "content"


def test_inspect_requirements(cli: Callable[..., Result], churn: Path) -> None:
    """inspect --requirements prints the saved packages as a pinned requirements file."""
    import importlib.metadata

    result = cli("inspect", churn, "--requirements")
    assert result.returncode == 0
    pinned = [f"{name}=={importlib.metadata.version(name)}"
              for name in ("numpy", "pandas", "scikit-learn", "scipy")]
    assert result.stdout.splitlines() == [
        f"# saved with Python {platform.python_version()} on"
        f" {platform.system()}-{platform.machine()}", *pinned]


def test_inspect_requirements_of_another_environment(cli: Callable[..., Result],
                                                     tmp_path: Path, churn: Path) -> None:
    """--requirements gives the saved versions, not the installed ones."""
    old = tmp_path / "old.satchel"
    old.write_bytes(forge_environment(churn.read_bytes(), {"scikit-learn": "1.0.2",
                                                           "PyYAML": "6.0.1"}))
    lines = cli("inspect", old, "--requirements").stdout.splitlines()
    assert "scikit-learn==1.0.2" in lines
    assert "PyYAML==6.0.1" in lines


def test_verify_passes_on_an_intact_file(cli: Callable[..., Result], churn: Path) -> None:
    """verify exits 0 and reports the arrays and check-sample rows it checked."""
    result = cli("verify", churn)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["check", "sample", "rows", "100"] in lines
    assert ["environment", "differences", "none"] in lines
    data = json.loads(cli("verify", churn, "--json").stdout)
    assert data["ok"] is True
    assert data["check sample rows"] == 100
    assert data["arrays verified"] == satchel.inspect(churn).array_count


def test_verify_json_gives_numbers_for_counts(cli: Callable[..., Result],
                                              tmp_path: Path) -> None:
    """verify --json gives 0 check-sample rows for a file saved without a sample, as the
    other counts are numbers: it gave the text 'none stored', which a consumer comparing
    counts fails on. The table still says none stored."""
    bare = tmp_path / "bare.satchel"
    satchel.save(StandardScaler().fit(np.ones((3, 2))), bare)
    data = json.loads(cli("verify", bare, "--json").stdout)
    assert (data["check sample rows"], data["arrays verified"]) == (0, 0)
    lines = [line.split() for line in cli("verify", bare).stdout.splitlines()]
    assert ["check", "sample", "rows", "none", "stored"] in lines


def test_verify_a_corrupted_array_exits_4(tmp_path: Path, churn: Path) -> None:
    """One changed byte inside an array makes verify exit 4 with one clear line."""
    data = bytearray(churn.read_bytes())
    data[array_offset(bytes(data)) + 3] ^= 0x01
    bad = tmp_path / "bad.satchel"
    bad.write_bytes(bytes(data))
    result = run("verify", bad)
    assert_clean_error(result, 4, "array 0 (")
    assert "does not match its checksum" in result.stderr


def test_verify_a_forged_check_sample_exits_5(tmp_path: Path, churn: Path) -> None:
    """Stored outputs the model does not reproduce make verify exit 5."""
    def flip(outputs: dict[str, Any]) -> None:
        outputs["predict"][:2] = np.where(outputs["predict"][:2] == "churn", "stay", "churn")

    forged = tmp_path / "forged.satchel"
    forged.write_bytes(forge_check_outputs(churn.read_bytes(), flip))
    assert_clean_error(run("verify", forged), 5,
                       "the loaded model does not reproduce the predictions stored with it:"
                       " predict: 2 of 100 rows differ")


def test_verify_reports_environment_differences(cli: Callable[..., Result], tmp_path: Path,
                                                churn: Path) -> None:
    """A file from another environment that still predicts the same verifies and says so."""
    old = tmp_path / "old.satchel"
    old.write_bytes(forge_environment(churn.read_bytes(), {"scikit-learn": "1.0.2"}))
    result = cli("verify", old, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["environment differences"] == [
        f"scikit-learn 1.0.2 -> {SKLEARN} (minor)"]


def test_verify_needs_trust_for_custom_code(cli: Callable[..., Result], custom: Path) -> None:
    """verify refuses untrusted custom code with exit 3, saying which --trust options accept
    it (not trusted=[...], which the command line has no way to pass), and passes with them."""
    assert_clean_error(cli("verify", custom), 3,
                       "the file needs 1 untrusted type(s) or function(s):"
                       " 'tests.custom.Doubler'. Nothing was imported or run. If you trust the"
                       " file's author, pass --trust tests.custom.Doubler.\n")
    assert cli("verify", custom, "--trust", "tests.custom.Doubler").returncode == 0


def test_verify_runs_embedded_code_with_trust_code(tmp_path: Path) -> None:
    """A file whose custom module is missing says to pass --trust-code (not trust_code=True,
    which the command line had no way to pass), and verifies with it."""
    path = embedded_model(tmp_path)
    assert_clean_error(run("verify", path, "--trust", "cli_step.Shift"), 2,
                       "the model needs module 'cli_step', which is not installed: make module"
                       " 'cli_step' importable, or pass --trust-code to run the source embedded"
                       " in the file.\n")
    result = run("verify", path, "--trust-code", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["check sample rows"] == 10


def test_untrusted_lists_names(cli: Callable[..., Result], custom: Path, churn: Path) -> None:
    """untrusted prints one name per line, or a JSON list; nothing for a trusted file."""
    assert cli("untrusted", custom).stdout == "tests.custom.Doubler\n"
    assert json.loads(cli("untrusted", custom, "--json").stdout) == ["tests.custom.Doubler"]
    assert cli("untrusted", churn).stdout == ""
    assert json.loads(cli("untrusted", churn, "--json").stdout) == []


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, xy: tuple[Any, Any]) -> tuple[Path, Path]:
    """Two versions of a pipeline: another C, refitted coefficients."""
    folder = tmp_path_factory.mktemp("diff")
    for name, c in (("v1", 1.0), ("v2", 0.5)):
        satchel.save(make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(*xy),
                     folder / f"{name}.satchel")
    return folder / "v1.satchel", folder / "v2.satchel"


def test_diff_plain(pair: tuple[Path, Path]) -> None:
    """diff prints a plain table of parameter and array changes when piped."""
    result = run("diff", *pair)
    assert result.returncode == 0
    assert not any(mark in result.stdout for mark in _RICH_MARKS)
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["steps[1][1].C", "value", "1.0", "0.5"] in lines
    assert any(line[:3] == ["steps[1][1].coef_", "array", "values"] for line in lines)


def test_diff_json_and_exit_code(cli: Callable[..., Result], pair: tuple[Path, Path]) -> None:
    """diff --json prints every change; --exit-code exits 1 when the files differ."""
    changes = json.loads(cli("diff", *pair, "--json").stdout)
    assert {"path": "steps[1][1].C", "kind": "value", "left": "1.0", "right": "0.5"} in [
        {**c, "path": c["path"].lstrip(".")} for c in changes]
    assert cli("diff", *pair, "--exit-code").returncode == 1
    same = cli("diff", pair[0], pair[0], "--exit-code")
    assert (same.returncode, same.stdout) == (0, "no differences\n")
    assert json.loads(cli("diff", pair[0], pair[0], "--json").stdout) == []


@pytest.mark.parametrize("command", ["inspect", "verify", "untrusted", "diff"])
def test_missing_file_is_one_clean_line(cli: Callable[..., Result], tmp_path: Path,
                                        command: str) -> None:
    """A missing file gives exit 2 and one message, never a traceback."""
    missing = tmp_path / "missing.satchel"
    args = [missing, missing] if command == "diff" else [missing]
    assert_clean_error(cli(command, *args), 2, "[Errno 2] No such file or directory")


@pytest.mark.parametrize("command", ["inspect", "verify", "untrusted", "diff"])
def test_foreign_file_is_one_clean_line(cli: Callable[..., Result], tmp_path: Path,
                                        command: str) -> None:
    """A file that is not a satchel file gives exit 2 and says so."""
    foreign = tmp_path / "model.pkl"
    foreign.write_bytes(b"\x80\x05not a satchel file at all")
    args = [foreign, foreign] if command == "diff" else [foreign]
    named = f"{foreign}: " if command == "diff" else ""  # which of the two files
    assert_clean_error(cli(command, *args), 2, f"{named}not a satchel file")
