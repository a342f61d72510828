"""Batch scoring: a CSV or Parquet file through a model, in chunks, with validation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from satchel.artifact import load
from satchel.checks import METHODS
from satchel.csvrows import csv_chunks, text_columns
from satchel.errors import RequestError
from satchel.format.writer import replacing


def _chunks(path: str, rows: int, text: list[str]) -> Iterator[Any]:
    if path.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq  # noqa: PLC0415

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    elif path.endswith((".csv", ".csv.gz", ".txt")):
        yield from csv_chunks(path, rows, text)
    else:
        raise RequestError(f"cannot read {path!r}: expected a .csv or .parquet file")


def _count_rows(path: str) -> int:
    """Rows in a Parquet file (from its footer) or a CSV file (lines less the header)."""
    if path.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq  # noqa: PLC0415

        return int(pq.ParquetFile(path).metadata.num_rows)
    with open(path, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def score(target: str, source: str, output: str, *, method: str = "predict",
          chunk_rows: int = 100_000, progress: Callable[[int, int], None] | None = None) -> int:
    """Write ``method``'s outputs for every row of ``source`` to ``output``; return the rows.

    Each chunk is validated against the model's input schema like a server
    request. The output is written to a temporary file and renamed into place.

    Raises:
        SchemaError: a chunk does not match the schema (nothing is written).
        RequestError: ``source`` has no rows (nothing is written).
    """
    import pandas as pd  # noqa: PLC0415

    if method not in METHODS:
        raise RequestError(f"unknown method {method!r}: expected one of {list(METHODS)}")
    model = load(target, mmap=True)
    if not hasattr(model.unwrap(), method):
        raise RequestError(f"this model has no {method}; it offers"
                           f" {[m for m in METHODS if hasattr(model.unwrap(), m)]}")
    function = getattr(model, method)
    total = _count_rows(source)
    parts, done = [], 0
    for chunk in _chunks(source, chunk_rows, text_columns(model.input_schema)):
        if not len(chunk):  # a CSV file of a header alone: columns of no dtype
            continue
        result = np.asarray(function(chunk))
        columns = ([method] if result.ndim == 1 else
                   [f"{method}_{i}" for i in range(result.shape[1])])
        parts.append(pd.DataFrame(result.reshape(len(chunk), -1), columns=columns))
        done += len(chunk)
        if progress is not None:
            progress(done, max(total, done))
    if not parts:
        raise RequestError(f"{source!r} has no rows to score; nothing was written")
    frame = pd.concat(parts, ignore_index=True)
    with replacing(output) as temporary:
        if output.endswith((".parquet", ".pq")):
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)
    return done
