"""The satchel command: help text, quickstart, inspect, untrusted, error exits and bad
arguments."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from satchel.cli import build_parser, main
from satchel.registry import Registry

COMMANDS = ["quickstart", "inspect", "verify", "diff", "untrusted", "serve", "predict",
            "registry"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m satchel`` with ``args``."""
    return subprocess.run([sys.executable, "-m", "satchel", *args], capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """Each subcommand prints a description with --help."""
    result = run(command, "--help")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) > 2


def test_every_subcommand_is_listed() -> None:
    """The parser's subcommands are exactly the documented ones."""
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert choices is not None
    assert sorted(choices) == sorted(COMMANDS)


def test_quickstart(tmp_path: Path) -> None:
    """The quickstart trains, saves, inspects, loads and predicts, and says so."""
    result = run("quickstart", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr
    words = [line.split()[0] for line in result.stdout.splitlines()]
    assert words[:5] == ["trained", "saved", "inspected", "loaded", "predicted"]
    assert "identical to the trained pipeline" in result.stdout
    assert "schema: 5 columns, check sample: 100 rows" in result.stdout
    assert (tmp_path / "demo-churn.satchel").exists()


def test_inspect_json(forest_file: Path) -> None:
    """inspect --json prints the digest, types and trust status."""
    result = run("inspect", str(forest_file), "--json")
    summary = json.loads(result.stdout)
    assert summary["digest"].startswith("blake3:")
    assert "sklearn.ensemble._forest.RandomForestClassifier" in summary["types"]
    assert summary["untrusted"] == []


def test_errors_exit_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An expected error prints one line and an exit code, never a traceback."""
    bad = tmp_path / "bad.satchel"
    bad.write_bytes(b"\x80\x05not a satchel file")
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("satchel: error: not a satchel file")
    assert "Traceback" not in err
    assert main(["inspect", str(tmp_path / "missing.satchel")]) == 2


def test_a_reader_that_leaves_early_gets_no_error(forest_file: Path) -> None:
    """Output to a pipe whose reader has gone (satchel inspect F | head) ends quietly with the
    shell's code for SIGPIPE, 141: it printed 'satchel: error: [Errno 32] Broken pipe'."""
    process = subprocess.Popen([sys.executable, "-m", "satchel", "inspect", str(forest_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (141, b"")


def test_ctrl_c_is_one_line(tmp_path: Path, forest_file: Path) -> None:
    """Ctrl-C while a command reads its input prints 'satchel: interrupted' and exits 130,
    the shell's code for SIGINT, leaving no file behind: it printed a KeyboardInterrupt
    traceback, or, as pandas' CSV reader turns an interrupted read into an error of its own,
    said the file could not be read."""
    folder = tmp_path / "scoring"
    folder.mkdir()
    os.mkfifo(folder / "rows.csv")
    process = subprocess.Popen([sys.executable, "-m", "satchel", "predict", str(forest_file),
                                str(folder / "rows.csv"), "-o", str(folder / "out.csv")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(folder / "rows.csv", "wb", buffering=0) as pipe:  # once satchel opened it
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(BrokenPipeError):  # rows end a read the signal came before
            pipe.write(b"a,b,c,d\n" + b"1,2,3,4\n" * 1000)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out, err) == (130, b"", b"satchel: interrupted\n")
    assert sorted(p.name for p in folder.iterdir()) == ["rows.csv"]


def test_sigterm_stops_a_command_as_ctrl_c_does(tmp_path: Path, forest_file: Path) -> None:
    """SIGTERM (kill, timeout, a container stopped) during a score prints 'satchel:
    terminated' and exits 143, the shell's code for it, removing the temporary output file:
    the process ended at once and left the hidden .NAME.PID.HEX.tmp file behind."""
    folder = tmp_path / "scoring"
    folder.mkdir()
    pd.DataFrame(np.ones((400_000, 4)), columns=list("abcd")).to_csv(folder / "rows.csv",
                                                                     index=False)
    process = subprocess.Popen([sys.executable, "-m", "satchel", "predict", str(forest_file),
                                str(folder / "rows.csv"), "-o", str(folder / "out.csv"),
                                "--chunk-rows", "1000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in folder.iterdir()):  # the output begun
        assert process.poll() is None, process.stderr
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out, err) == (143, b"", b"satchel: terminated\n")
    assert sorted(p.name for p in folder.iterdir()) == ["rows.csv"]


def test_ctrl_c_after_a_registration_says_it_stays_made(tmp_path: Path,
                                                        forest_file: Path) -> None:
    """Ctrl-C that comes once a registration is written says the change stays made, and
    how to see it: 'satchel: interrupted' alone led users to register again, adding a
    version. A Ctrl-C as the command exits (the registry's connections close then) is
    ignored: it printed a traceback from their finalizer."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from satchel.registry import core
        from satchel.cli import entry
        register = core.Registry.register
        def register_then_interrupt(self, *args, **kwargs):
            found = register(self, *args, **kwargs)
            os.kill(os.getpid(), signal.SIGINT)
            return found
        core.Registry.register = register_then_interrupt
        sys.argv = ["satchel", "registry", "register", {str(forest_file)!r}, "forest"]
        entry()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (130, (
        "satchel: interrupted; a change written before it stays made (satchel registry"
        " versions NAME shows the versions there are)\n"))
    assert [v.version for v in Registry(str(tmp_path / "satchel-registry")).versions(
        "forest")] == [1]


# ------------------------------------------------- bad arguments: one line, exit 2


def usage_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the command, expect argparse's usage error (exit 2); return its last line."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert "Traceback" not in err
    return err.splitlines()[-1]


def clean_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the command, expect one ``satchel: error:`` line and exit 2; return the line."""
    assert main(list(args)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("satchel: error: ")
    return err.rstrip("\n")


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--batch-wait-ms", "nan", "expected a finite number >= 0 and <= 60000, found 'nan'"),
    ("--batch-wait-ms", "inf", "expected a finite number >= 0 and <= 60000, found 'inf'"),
    ("--batch-wait-ms", "-1", "expected a finite number >= 0 and <= 60000, found '-1'"),
    ("--poll-interval", "nan", "expected a finite number > 0 and <= 86400, found 'nan'"),
    ("--poll-interval", "inf", "expected a finite number > 0 and <= 86400, found 'inf'"),
    ("--poll-interval", "0", "expected a finite number > 0 and <= 86400, found '0'"),
    ("--poll-interval", "-1", "expected a finite number > 0 and <= 86400, found '-1'"),
    ("--port", "99999", "expected an integer from 0 to 65535, found '99999'"),
    ("--port", "-5", "expected an integer from 0 to 65535, found '-5'"),
    ("--port", "http", "expected an integer from 0 to 65535, found 'http'"),
    ("--max-body-bytes", "0", "expected an integer >= 1, found '0'"),
    ("--max-body-bytes", "-1", "expected an integer >= 1, found '-1'"),
    ("--workers", "0", "expected an integer from 1 to 1024, found '0'"),
    ("--workers", "-3", "expected an integer from 1 to 1024, found '-3'"),
    ("--body-timeout", "0", "expected a finite number > 0 and <= 3600, found '0'"),
    ("--body-timeout", "nan", "expected a finite number > 0 and <= 3600, found 'nan'"),
    ("--max-connections", "0", "expected an integer from 1 to 1000000, found '0'"),
    ("--port", "8_0", "expected an integer from 0 to 65535, found '8_0'"),
    ("--port", " 80", "expected an integer from 0 to 65535, found ' 80'"),
    ("--workers", "٣", "expected an integer from 1 to 1024, found '٣'"),
])
def test_serve_refuses_bad_option_values(capsys: pytest.CaptureFixture[str], option: str,
                                         value: str, expected: str) -> None:
    """serve's numeric options are checked before anything starts, with one usage line."""
    line = usage_error(capsys, "serve", "model.satchel", option, value)
    assert line == f"satchel serve: error: argument {option}: {expected}"


def test_serve_accepts_the_edges_of_its_ranges() -> None:
    """Port 0 (any free port), no batching wait and tiny poll intervals stay allowed."""
    args = build_parser().parse_args(["serve", "model.satchel", "--port", "0", "--workers",
                                      "1", "--batch-wait-ms", "0", "--poll-interval", "0.01",
                                      "--max-body-bytes", "1"])
    assert (args.port, args.workers, args.batch_wait_ms, args.poll_interval,
            args.max_body_bytes) == (0, 1, 0.0, 0.01, 1)


def test_serve_refuses_a_batch_wait_without_batching(capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    """--batch-wait-ms with --no-batching is a usage error: the wait was silently ignored."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "m.satchel", "--no-batching", "--batch-wait-ms",
                                   "5"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "satchel serve: error: argument --batch-wait-ms: not allowed with argument"
        " --no-batching")


def test_serve_refuses_more_workers_than_a_machine_runs(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """--workers above 1024 is a usage error: --workers 40000 (a typo for 4) forked forty
    thousand servers, each a copy of the model and its libraries."""
    assert build_parser().parse_args(["serve", "m.satchel", "--workers", "1024"]).workers == 1024
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "m.satchel", "--workers", "40000"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "satchel serve: error: argument --workers: expected an integer from 1 to 1024, found"
        " '40000'")


@pytest.mark.parametrize("address", ["", "  "])
def test_serve_refuses_an_empty_host(capsys: pytest.CaptureFixture[str], address: str) -> None:
    """--host of nothing (an unset variable) is a usage error: the server bound it to every
    interface, opening itself to the network, where the default is 127.0.0.1."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "m.satchel", "--host", address])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "satchel serve: error: argument --host: expected an address such as 127.0.0.1 (or"
        f" 0.0.0.0 for every interface), found {address!r}")


@pytest.mark.parametrize(("uri", "expected"), [
    ("models:/bad name", "invalid model name 'bad name'"),
    ("models:/churn/0", "invalid version '0' in 'models:/churn/0'"),
    ("models:/churn/²", "invalid version '²' in 'models:/churn/²': expected a positive integer"),
    ("models:/churn/٣", "invalid version '٣' in 'models:/churn/٣': expected a positive integer"),
    ("models:/churn/99999999999999999999", "invalid version in"
     " 'models:/churn/99999999999999999999': expected a version from 1 to 9223372036854775807"),
])
def test_serve_and_predict_refuse_an_invalid_model_uri(capsys: pytest.CaptureFixture[str],
                                                       uri: str, expected: str) -> None:
    """A malformed models:/ URI is a usage error before any server or worker starts."""
    for command in (["serve", uri], ["predict", uri, "in.csv", "-o", "out.csv"]):
        line = usage_error(capsys, *command)
        assert line.startswith(f"satchel {command[0]}: error: argument target: {expected}")


def test_workers_that_die_at_start_are_not_restarted_forever() -> None:
    """The serve supervisor gives up, with one error, once workers keep dying as they start."""
    from satchel.errors import SatchelError
    from satchel.serving import run as serving

    def die() -> None:
        raise SystemExit(3)

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        with pytest.raises(SatchelError, match=r"^5 workers in a row died within 5 s of"
                           r" starting \(the log above says why\); not restarting them$"):
            serving._supervise(die, 2)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    assert time.monotonic() - started < 10


def test_predict_refuses_to_overwrite_its_input(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path, forest_file: Path) -> None:
    """predict -o naming the input file, by any spelling or a symlink, writes nothing."""
    data = tmp_path / "in.csv"
    data.write_text("a,b,c,d\n1,2,3,4\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(data)
    for output in (data, tmp_path / "sub" / ".." / "in.csv", tmp_path / "link.csv"):
        line = clean_error(capsys, "predict", str(forest_file), str(data), "-o", str(output))
        assert line == (f"satchel: error: the output {str(output)!r} is the input file"
                        f" {str(data)!r}, which would be replaced by the predictions: pass"
                        " another -o file")
    assert data.read_text() == "a,b,c,d\n1,2,3,4\n"


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("latin1.csv", b"\xff\xfe\x00\x01garbage\n", "'utf-8' codec can't decode byte 0xff in"
     " position 0: invalid start byte"),
    ("fake.parquet", b"not parquet\n", "Parquet magic bytes not found in footer"),
    ("empty.csv", b"", "it holds no header row naming its columns"),
    ("blank.csv", b"\n\n", "it holds no header row naming its columns"),
])
def test_predict_reports_an_unreadable_input(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             forest_file: Path, name: str, content: bytes,
                                             expected: str) -> None:
    """A non-UTF-8 CSV, a .parquet file that is not Parquet or an empty CSV file is bad input
    naming the file (an empty one was said to have 'No columns to parse from file')."""
    source = tmp_path / name
    source.write_bytes(content)
    _assert_unreadable(capsys, forest_file, source, expected)


def _assert_unreadable(capsys: pytest.CaptureFixture[str], forest_file: Path, source: Path,
                       expected: str) -> None:
    """satchel predict of ``source`` is bad input naming it and saying ``expected``, and
    writes nothing."""
    written = source.parent / "out.csv"
    line = clean_error(capsys, "predict", str(forest_file), str(source), "-o", str(written))
    assert line.startswith(f"satchel: error: cannot read {str(source)!r}: {expected}")
    assert line.endswith("; expected a UTF-8 CSV file (gzip-compressed for .csv.gz) or a"
                         " Parquet file")
    assert not written.exists()


_ROWS_GZ = gzip.compress(b"a,b,c,d\n" + b"1,2,3,4\n" * 200, mtime=0)


@pytest.mark.parametrize(("content", "expected"), [
    (_ROWS_GZ[:40], "Compressed file ended before the end-of-stream marker was reached"),
    (b"a,b,c,d\n1,2,3,4\n", "Not a gzipped file (b'a,')"),
    (_ROWS_GZ[:-8] + b"\0\0\0\0" + _ROWS_GZ[-4:], "CRC check failed"),
], ids=["cut-short", "not-gzip", "bad-checksum"])
def test_predict_reports_a_damaged_gzip_input(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path, forest_file: Path, content: bytes,
                                              expected: str) -> None:
    """A .csv.gz input that is cut short, not gzip or damaged is bad input naming the file:
    one cut short printed a traceback (EOFError), the others a line naming no file."""
    source = tmp_path / "rows.csv.gz"
    source.write_bytes(content)
    _assert_unreadable(capsys, forest_file, source, expected)


@pytest.mark.parametrize(("args", "expected"), [
    (["predict", "m.satchel", "in.csv", "-o", "out.csv", "--chunk-rows", "0"],
     "argument --chunk-rows: expected an integer from 1 to 1000000000, found '0'"),
    (["predict", "m.satchel", "in.csv", "-o", "out.csv", "--chunk-rows", "-1"],
     "argument --chunk-rows: expected an integer from 1 to 1000000000, found '-1'"),
    (["predict", "m.satchel", "in.parquet", "-o", "out.csv", "--chunk-rows", str(2**63)],
     "argument --chunk-rows: expected an integer from 1 to 1000000000, found"
     " '9223372036854775808'"),
    (["verify", "m.satchel", "--trust", "math log1p"],
     "argument --trust: invalid name 'math log1p': expected a dotted name of Python"
     " identifiers, such as mypkg.features.MyScaler; satchel untrusted FILE lists those a"
     " file needs"),
    (["predict", "m.satchel", "in.csv", "-o", "out.csv", "--trust", ""],
     "argument --trust: invalid name '': expected a dotted name of Python identifiers, such"
     " as mypkg.features.MyScaler; satchel untrusted FILE lists those a file needs"),
    (["verify", "m.satchel", "--trust", "mypkg.Scaler.__init__"],
     "argument --trust: invalid name 'mypkg.Scaler.__init__': expected a dotted name of Python"
     " identifiers, such as mypkg.features.MyScaler; satchel untrusted FILE lists those a"
     " file needs"),
    (["inspect", "m.satchel", "--max-rows", "-1"],
     "argument --max-rows: expected an integer >= 0, found '-1'"),
    (["inspect", "m.satchel", "--json", "--requirements"],
     "argument --requirements: not allowed with argument --json"),
    (["registry", "register", "m.satchel", "churn", "--metric", "auc=abc"],
     "argument --metric: expected KEY=NUMBER with a finite number, found 'auc=abc'"),
    (["registry", "register", "m.satchel", "churn", "--metric", "auc"],
     "argument --metric: expected KEY=NUMBER with a finite number, found 'auc'"),
    (["registry", "register", "m.satchel", "churn", "--metric", "auc=inf"],
     "argument --metric: expected KEY=NUMBER with a finite number, found 'auc=inf'"),
    (["registry", "register", "m.satchel", "churn", "--metric", "auc=nan"],
     "argument --metric: expected KEY=NUMBER with a finite number, found 'auc=nan'"),
    (["registry", "register", "m.satchel", "churn", "--tag", "team"],
     "argument --tag: expected KEY=VALUE, found 'team'"),
    (["registry", "tag", "churn", "1", "--set", "team"],
     "argument --set: expected KEY=VALUE, found 'team'"),
    (["registry", "alias", "churn", "production", "99999999999999999999"],
     "argument version: expected a version number from 1 to 9223372036854775807, found"
     " '99999999999999999999'"),
    (["registry", "tag", "churn", "99999999999999999999", "--set", "a=b"],
     "argument version: expected a version number from 1 to 9223372036854775807, found"
     " '99999999999999999999'"),
    (["registry", "delete", "churn", "0"],
     "argument version: expected a version number from 1 to 9223372036854775807, found '0'"),
    (["registry", "show", "models:/churn/99999999999999999999"],
     "argument uri: invalid version in 'models:/churn/99999999999999999999': expected a"
     " version from 1 to 9223372036854775807"),
    (["registry", "show", "models:/churn/²"],
     "argument uri: invalid version '²' in 'models:/churn/²': expected a positive integer"),
    (["registry", "gc", "--grace", "nan"], "argument --grace: expected a finite number >= 0"
     " and <= 3155760000 seconds (100 years), found 'nan'"),
    (["registry", "gc", "--grace", "inf"], "argument --grace: expected a finite number >= 0"
     " and <= 3155760000 seconds (100 years), found 'inf'"),
    (["registry", "gc", "--grace", "1e20"], "argument --grace: expected a finite number >= 0"
     " and <= 3155760000 seconds (100 years), found '1e20'"),
    (["registry", "alias", "churn", "production"],
     "one of the arguments version --delete is required"),
    (["registry", "alias", "churn", "production", "1", "--delete"],
     "argument --delete: not allowed with argument version"),
    (["registry", "delete", "churn", "1", "--archive", "--force"],
     "argument --force: not allowed with argument --archive"),
])
def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str],
                                        expected: str) -> None:
    """Malformed pairs, numbers and versions are refused by the parser: exit 2, no traceback."""
    line = usage_error(capsys, *args)
    command = " ".join(args[:2] if args[0] == "registry" else args[:1])
    assert line == f"satchel {command}: error: {expected}"


def test_registry_arguments_within_range_parse() -> None:
    """The largest version, finite metrics and KEY=VALUE pairs parse to their values."""
    parser = build_parser()
    args = parser.parse_args(["registry", "register", "m.satchel", "churn", "--metric",
                              "auc=0.9", "--tag", "team=a=b"])
    assert (args.metric, args.tag) == ([("auc", 0.9)], [("team", "a=b")])
    assert parser.parse_args(["registry", "delete", "c", str(2**63 - 1)]).version == 2**63 - 1
    assert parser.parse_args(["registry", "alias", "c", "prod", "--delete"]).version is None


def test_unusable_registry_is_one_line(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    """A registry whose database is damaged, missing, unknown or unreachable is one line."""
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "registry.db").write_text("garbage\n")
    line = clean_error(capsys, "registry", "models", "--registry", str(damaged))
    assert line == (f"satchel: error: {str(damaged / 'registry.db')!r} is not a registry"
                    " database, or is damaged (SQLite: file is not a database): restore it from"
                    " a backup, or name another registry folder")
    line = clean_error(capsys, "registry", "models", "--registry", "foo://bar", "--artifacts",
                       str(tmp_path / "artifacts"))
    assert line == ("satchel: error: the registry database URL's scheme 'foo' is not a database"
                    " SQLAlchemy knows: for PostgreSQL write postgresql+psycopg://user@host/db,"
                    " for SQLite a folder path")
    missing = f"sqlite:///{tmp_path}/missing/dir/x.db"
    line = clean_error(capsys, "registry", "models", "--registry", missing, "--artifacts",
                       str(tmp_path / "artifacts"))
    assert line == (f"satchel: error: there is no registry at {missing!r}:"
                    f" '{tmp_path}/missing/dir/x.db' is not there. Name the registry you meant"
                    " (Registry(uri), --registry or SATCHEL_REGISTRY), or create this one by"
                    " registering a model in it (satchel registry register NAME FILE)")
    location = "postgresql+psycopg://user:secret@127.0.0.1:1/db"
    line = clean_error(capsys, "registry", "models", "--registry", location,
                       "--artifacts", str(tmp_path / "artifacts"))
    assert line.startswith("satchel: error: cannot use the registry at"
                           " 'postgresql+psycopg://user:***@127.0.0.1:1/db': connection failed: "
                           ), line
    assert line.endswith("; check --registry (or SATCHEL_REGISTRY) and that the database"
                         " is reachable")


def test_quickstart_names_a_missing_directory(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    """quickstart --directory MISSING says that directory is missing, before training."""
    missing = tmp_path / "missing"
    line = clean_error(capsys, "quickstart", "--directory", str(missing))
    assert line == (f"satchel: error: the quickstart directory {str(missing)!r} does not exist"
                    " or is not a folder: create it first, or pass an existing one")


def test_a_registry_from_a_newer_satchel_is_one_line(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    """A registry whose schema a newer satchel upgraded says to upgrade satchel, in one line."""
    import sqlite3

    from satchel.registry import Registry

    Registry(str(tmp_path / "registry")).engine.dispose()
    with sqlite3.connect(tmp_path / "registry" / "registry.db") as connection:
        connection.execute("UPDATE satchel_alembic_version SET version_num = '0004'")
    connection.close()
    line = clean_error(capsys, "registry", "models", "--registry", str(tmp_path / "registry"))
    assert line == ("satchel: error: the registry's schema 0004 is newer than this satchel"
                    " reads (0003): a newer satchel upgraded it; upgrade satchel (pip install -U"
                    " 'satchel[registry]') to use this registry")


def test_a_database_registry_without_an_artifact_store_names_the_variable(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """predict of a models:/ URI from a registry database with no artifact store says to set
    SATCHEL_ARTIFACTS, as predict has no --artifacts: it said to pass
    artifacts='s3://bucket/prefix', a Python argument no command takes."""
    monkeypatch.setenv("SATCHEL_REGISTRY", f"sqlite:///{tmp_path}/registry.db")
    monkeypatch.delenv("SATCHEL_ARTIFACTS", raising=False)
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    line = clean_error(capsys, "predict", "models:/churn", str(tmp_path / "rows.csv"), "-o",
                       str(tmp_path / "out.csv"))
    assert line == ("satchel: error: the registry database sqlite://... needs an artifact"
                    " store: set SATCHEL_ARTIFACTS=s3://bucket/prefix (any fsspec URL)")
