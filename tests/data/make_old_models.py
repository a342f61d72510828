"""Regenerate the files of older scikit-learn releases that test_across_versions.py loads.

Run it from the repository root with the development environment's Python
(it needs network access to PyPI)::

    .venv/bin/python tests/data/make_old_models.py

For each release in :data:`RELEASES` it creates a throwaway virtual environment
in a temporary directory, installs that scikit-learn with matching numpy,
scipy and pandas pins plus satchel from this repository, and runs this same
file inside it with ``--generate OUTDIR``. That step fits the models of
:func:`fit_models` on fixed synthetic data and saves each one to
``tests/data/sklearn-<version>/<name>.satchel`` with ``sample=X``. The
environments are deleted afterwards.

satchel is installed from a copy of ``pyproject.toml``, ``README.md`` and
``src/`` so that building it leaves nothing behind in the repository.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

#: scikit-learn release -> the numpy, scipy and pandas it is installed with.
#: 1.4.2 is the oldest release satchel supports, with the oldest numpy and
#: scipy it supports; 1.8.0 is the previous minor release.
RELEASES: dict[str, list[str]] = {
    "1.4.2": ["numpy==1.26.4", "scipy==1.11.4", "pandas==2.2.3"],
    "1.8.0": ["numpy==2.3.5", "scipy==1.16.3", "pandas==2.3.3"],
}
ROWS = 200


def fit_models() -> tuple[dict[str, Any], dict[str, Any]]:
    """The models to save and the sample each is saved with, by file name."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, 4)).round(3)
    labels = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    target = (2 * X[:, 0] - X[:, 2] + rng.normal(scale=0.1, size=ROWS)).round(3)
    cities = np.array(["Lyon", "Oslo", "Porto"], dtype=object)[rng.integers(0, 3, ROWS)]
    frame = pd.DataFrame({"age": rng.integers(18, 80, ROWS).astype(np.float64),
                          "income": X[:, 1] * 1000 + 3000, "city": cities})
    churned = ((frame["age"] > 45) ^ (frame["city"] == "Oslo")).to_numpy(dtype=np.int64)
    columns = ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])
    models = {
        "pipeline": Pipeline([("columns", columns), ("model", LogisticRegression())]).fit(
            frame, churned),
        "forest": RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(
            X, labels),
        "hist_gbm": HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, target),
        "knn": KNeighborsClassifier(algorithm="kd_tree").fit(X, labels),
    }
    samples = {name: frame if name == "pipeline" else X for name in models}
    return models, samples


def generate(out: Path) -> None:
    """Fit and save every model of :func:`fit_models` into ``out`` (run inside a release's venv)."""
    import satchel

    out.mkdir(parents=True, exist_ok=True)
    models, samples = fit_models()
    for name, model in models.items():
        satchel.save(model, out / f"{name}.satchel", sample=samples[name])


def _run(*command: str | Path) -> None:
    subprocess.run([str(part) for part in command], check=True)


def _copy_satchel(target: Path) -> Path:
    """A copy of the package sources, so that pip's build writes nothing into the repo."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    shutil.copytree(REPO / "src", target / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


def build(version: str, pins: list[str]) -> None:
    """Create a venv with scikit-learn ``version``, generate its files, delete the venv."""
    out = HERE / f"sklearn-{version}"
    with tempfile.TemporaryDirectory(prefix=f"satchel-sklearn-{version}-") as temp:
        root = Path(temp)
        _run(sys.executable, "-m", "venv", root / "venv")
        python = root / "venv" / "bin" / "python"
        _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"scikit-learn=={version}", *pins, _copy_satchel(root / "satchel"))
        shutil.rmtree(out, ignore_errors=True)
        _run(python, Path(__file__).resolve(), "--generate", out)
    sizes = sorted((p.name, p.stat().st_size) for p in out.glob("*.satchel"))
    print(f"sklearn-{version}: " + ", ".join(f"{name} {size // 1024} KiB" for name, size in sizes))


def main() -> None:
    """Build every release's files, or generate one release's (``--generate OUTDIR``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", type=Path, metavar="OUTDIR",
                        help="fit and save the models into OUTDIR with the current packages")
    args = parser.parse_args()
    if args.generate is not None:
        generate(args.generate)
        return
    for version, pins in RELEASES.items():
        build(version, pins)


if __name__ == "__main__":
    main()
