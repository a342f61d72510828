"""Commands run with a terminal for standard output or error, as a user at one runs them."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest


def run_in_terminal(*args: str | Path, on: str = "stdout") -> tuple[int, str, str]:
    """``python -m satchel`` with ``args``, standard output or error (``on``) a terminal:
    its code, what the terminal showed and what the other stream held."""
    pytest.importorskip("rich")
    terminal, end = pty.openpty()
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, on: end}
    process = subprocess.Popen([sys.executable, "-m", "satchel", *map(str, args)],
                               env={**os.environ, "COLUMNS": "200"}, **streams)
    os.close(end)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the command has closed the terminal
        while chunk := os.read(terminal, 1 << 16):
            shown += chunk
    os.close(terminal)
    output, errors = process.communicate(timeout=60)
    return process.returncode, shown.decode(), (errors if on == "stdout" else output).decode()
