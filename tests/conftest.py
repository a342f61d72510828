"""Shared fixtures: small fitted models and files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def xy() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Small classification data: 120 rows, 4 features, two classes."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 4))
    return features, (features[:, 0] + features[:, 1] > 0).astype(np.int64)


@pytest.fixture(scope="session")
def forest(xy: tuple[Any, Any]) -> Any:
    """A small fitted random forest."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=5, random_state=0).fit(*xy)


@pytest.fixture
def forest_file(tmp_path: Path, forest: Any) -> Path:
    """The forest, saved."""
    import satchel

    path = tmp_path / "forest.satchel"
    satchel.save(forest, path)
    return path


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a filesystem of 1 MiB (a tmpfs mounted for the test, unmounted after): a
    file bigger than that fails with ENOSPC, as on a full disk."""
    import subprocess

    folder = tmp_path / "small-disk"
    folder.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                                  str(folder)], capture_output=True, check=False).returncode
    except OSError:  # no mount command
        mounted = 1
    if mounted:
        pytest.skip("this test needs a small tmpfs of its own (a disk to fill, or to remount"
                    " read-only), which only root can mount here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)
