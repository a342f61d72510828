"""Helpers the benchmarks share."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def machine_load() -> str:
    """Load average and CPU pressure: other work on the machine skews every figure."""
    text = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    with contextlib.suppress(OSError):
        some = Path("/proc/pressure/cpu").read_text().split("\n")[0]
        text += f"; CPU pressure {some.split(' ', 1)[1]}"
    return text


def progress(message: str) -> None:
    """One line of progress on stderr."""
    print(message, file=sys.stderr, flush=True)
