"""Shared fixtures: small fitted models and files."""

from __future__ import annotations

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
