"""ruff and mypy strict pass on the whole project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff() -> None:
    """ruff finds nothing in src, tests and bench."""
    folders = [name for name in ("src", "tests", "bench") if (ROOT / name).is_dir()]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", *folders],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="satchel is type-checked"
                    " against the hints of current releases: the declared minimum ones (numpy"
                    " 1.26's masked arrays, SQLAlchemy 2.0's rows, blake3 0.4's update) have"
                    " older, narrower ones")
def test_mypy_strict() -> None:
    """mypy --strict passes on the package."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout


USER_SCRIPT = '''
import satchel
from satchel import Registry
from satchel.registry import ModelVersion

def open_registries(folder: str) -> tuple[Registry, satchel.Registry]:
    return Registry(folder), satchel.Registry(folder, artifacts=folder + "/artifacts")

def register(registry: Registry, path: str) -> ModelVersion:
    return registry.register("churn", path)

def digest(path: str) -> str:
    return satchel.inspect(path).digest
'''


def test_public_api_types_for_users(tmp_path: Path) -> None:
    """A user's script type-checks under mypy --strict against the public API: satchel.Registry,
    imported on first use, is the Registry class to a type checker, not an uncallable object."""
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(script)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
