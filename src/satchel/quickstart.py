"""The quickstart: train a demo pipeline, save it, inspect it, load it back, predict."""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import satchel

DEMO_FILE = "demo-churn.satchel"


def demo_data(rows: int = 2000, seed: int = 0) -> tuple[Any, Any]:
    """A small churn-like DataFrame with numeric and categorical columns, and labels."""
    import pandas as pd  # noqa: PLC0415 - the quickstart needs the [pandas] extra

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tenure_months": rng.integers(1, 72, rows),
        "monthly_charges": rng.normal(70, 20, rows).round(2),
        "support_calls": rng.poisson(1.5, rows),
        "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], rows)),
        "region": rng.choice(["north", "south", "east", "west"], rows),
    })
    score = (0.04 * frame["support_calls"] - 0.03 * frame["tenure_months"]
             + 0.01 * frame["monthly_charges"] + (frame["plan"] == "basic") * 0.5)
    labels = np.where(score + rng.normal(0, 0.3, rows) > score.median(), "churn", "stay")
    return frame, labels


def demo_pipeline() -> Any:
    """StandardScaler + OneHotEncoder in a ColumnTransformer, then LogisticRegression."""
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: PLC0415

    columns = ColumnTransformer([
        ("numbers", StandardScaler(), ["tenure_months", "monthly_charges", "support_calls"]),
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
    ])
    return Pipeline([("columns", columns), ("classifier", LogisticRegression(max_iter=500))])


def run(directory: str = ".", say: Callable[[str], None] = print) -> str:
    """Run the quickstart in ``directory`` and return the path of the saved model.

    Raises:
        FileNotFoundError: ``directory`` is not an existing folder (checked before training).
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"the quickstart directory {directory!r} does not exist or is"
                                " not a folder: create it first, or pass an existing one")
    frame, labels = demo_data()
    pipeline = demo_pipeline().fit(frame, labels)
    say(f"trained   {type(pipeline).__name__} on a DataFrame of {frame.shape[0]} rows x"
        f" {frame.shape[1]} columns ({', '.join(frame.columns)})")

    path = os.path.join(directory, DEMO_FILE)
    started = time.perf_counter()
    satchel.save(pipeline, path, sample=frame)
    say(f"saved     {path} ({os.path.getsize(path):,} bytes) in"
        f" {1000 * (time.perf_counter() - started):.1f} ms")

    info = satchel.inspect(path)
    columns = info.metadata.input_schema.columns if info.metadata.input_schema else ()
    say(f"inspected {info.digest[:23]}..., {len(info.types)} types, untrusted:"
        f" {info.untrusted or 'none'}, schema: {len(columns)} columns, check sample:"
        f" {info.metadata.check['rows'] if info.metadata.check else 0} rows"
        " (nothing imported or run)")

    started = time.perf_counter()
    model = satchel.load(path)
    say(f"loaded    in {1000 * (time.perf_counter() - started):.1f} ms: every byte verified,"
        " environment compared")

    predictions = model.predict(frame.head(5)[list(reversed(frame.columns))])
    same = bool((predictions == pipeline.predict(frame.head(5))).all())
    say(f"predicted {predictions.tolist()} for the first 5 rows"
        f" ({'identical to' if same else 'DIFFERENT from'} the trained pipeline; the columns"
        " were passed in reverse order and put back by the schema)")
    if not same:
        raise SystemExit(1)
    _register(path, frame, float(pipeline.score(frame, labels)), say, directory)
    return path


def _register(path: str, frame: Any, accuracy: float, say: Callable[[str], None],
              directory: str) -> None:
    """Register the demo model, point the production alias at it and load it by alias."""
    from satchel.registry import Registry  # noqa: PLC0415 - needs the [registry] extra

    location = os.path.join(directory, "satchel-registry")
    registry = Registry(location)
    version = registry.register("churn-demo", path, metrics={"accuracy": accuracy},
                                tags={"source": "quickstart"})
    registry.set_alias("churn-demo", "production", version.version)
    model = registry.load("models:/churn-demo@production")
    say(f"registered {version.uri} in {location} and pointed models:/churn-demo@production"
        f" at it; loaded back by alias: {model.predict(frame.head(3)).tolist()}")
    row = frame.head(1).astype({"plan": str}).to_dict(orient="records")[0]
    body = json.dumps({"dataframe_records": [row]})
    say("serve it:  SATCHEL_REGISTRY=" + shlex.quote(location)
        + " satchel serve models:/churn-demo@production --port 8080")
    say("then ask:  curl -s 127.0.0.1:8080/invocations -H 'content-type: application/json'"
        f" -d {shlex.quote(body)}")
