"""The satchel command: help text, quickstart, inspect, untrusted and error exits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from satchel.cli import build_parser, main

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
