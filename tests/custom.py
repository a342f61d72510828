"""Module-level custom code that tests save and load with trusted=[...]."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


def double(values: Any) -> Any:
    """Twice the input."""
    return np.asarray(values) * 2


def manhattan(first: Any, second: Any, w: float = 1.0) -> float:
    """The distance a neighbours model with ``metric=manhattan`` calls, times ``w``."""
    return w * float(np.abs(np.asarray(first) - np.asarray(second)).sum())


def strict_root(values: Any) -> Any:
    """Square roots; a negative value is a TypeError (a library's own check, not a ValueError)."""
    array = np.asarray(values, dtype=float)
    if (array < 0).any():
        raise TypeError("strict_root takes no negative value")
    return np.sqrt(array)


@functools.cache
def halve(values: Any) -> Any:
    """Half the input, remembered (a function that ``functools.cache`` wraps)."""
    return np.asarray(values) / 2


class Doubler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A custom transformer that doubles its input."""

    def fit(self, X: Any, y: Any = None) -> Doubler:
        """Nothing to learn."""
        return self

    def transform(self, X: Any) -> Any:
        """Twice the input."""
        return double(X)


#: Open unless a test closes it to hold a load's check sample: Gated's transform waits for it.
GATE = threading.Event()
GATE.set()


class Gated(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A custom step whose transform waits, up to a minute, until :data:`GATE` is open."""

    def fit(self, X: Any, y: Any = None) -> Gated:
        """Nothing to learn."""
        return self

    def transform(self, X: Any) -> Any:
        """The input, once the gate is open."""
        GATE.wait(60)
        return X


class Label(str):
    """A str subclass, as a user's own label type would be."""

    __slots__ = ()


#: A custom step in a module of its own, for a file that embeds its source.
_STEP = """from sklearn.base import BaseEstimator, TransformerMixin


class Shift(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X - 1
"""


def embedded_model(folder: Path) -> Path:
    """A file saved with a step from module ``cli_step`` and its source embedded; the module
    exists only in a folder of ``folder`` that no later process has on its path."""
    (folder / "site").mkdir()
    (folder / "site" / "cli_step.py").write_text(_STEP)
    script = ("import numpy as np, satchel, cli_step; from sklearn.pipeline import make_pipeline;"
              " from sklearn.linear_model import LinearRegression;"
              " rows = np.arange(20.0).reshape(10, 2);"
              " model = make_pipeline(cli_step.Shift(), LinearRegression()).fit(rows, rows[:, 0]);"
              f" satchel.save(model, {str(folder / 'm.satchel')!r}, sample=rows,"
              " embed_source=True)")
    subprocess.run([sys.executable, "-c", script], cwd=folder / "site", check=True)
    return folder / "m.satchel"
