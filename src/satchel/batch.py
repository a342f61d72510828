"""Batch scoring: a CSV or Parquet file through a model, in chunks, with validation."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from satchel.artifact import load
from satchel.checks import METHODS
from satchel.csvrows import csv_chunks
from satchel.errors import RequestError
from satchel.format.writer import replacing
from satchel.schema import InputSchema

#: How an output is written, by the end of its name (the input's endings, read the same way).
_OUTPUTS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".txt": "csv",
            ".csv.gz": "gzip"}


def _chunks(path: str, rows: int, schema: InputSchema | None) -> Iterator[Any]:
    if path.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq  # noqa: PLC0415

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    elif path.endswith((".csv", ".csv.gz", ".txt")):
        yield from csv_chunks(path, rows, schema)
    else:
        raise RequestError(f"cannot read {path!r}: expected a .csv, .csv.gz, .txt, .parquet or"
                           " .pq file, as the input's format follows its name; give the"
                           " input one of these endings")


def _output_kind(output: str) -> str:
    """How ``output`` is written: Parquet, CSV or gzip-compressed CSV, by its name's end; a
    device, or a name in /dev (``/dev/stdout``, whatever it is redirected to), gets CSV.

    Raises:
        RequestError: the name ends otherwise and is no device.
    """
    for ending, kind in _OUTPUTS.items():
        if output.endswith(ending):
            return kind
    device = os.path.exists(output) and not os.path.isfile(output) and not os.path.isdir(output)
    if device or os.path.dirname(os.path.abspath(output)) in ("/dev", "/dev/fd"):
        return "csv"  # /dev/stdout is a link to the file a shell redirects it to
    raise RequestError(f"cannot write {output!r}: expected a .csv, .csv.gz or .parquet file (or"
                       " a device such as /dev/stdout), as the output's format follows its"
                       " name; give the output one of these endings")


def _count_rows(path: str) -> int:
    """Rows in a Parquet file (from its footer) or a CSV file, gzip-compressed or not (lines
    less the header)."""
    if path.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq  # noqa: PLC0415

        return int(pq.ParquetFile(path).metadata.num_rows)
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def score(target: str, source: str, output: str, *, method: str = "predict",
          chunk_rows: int = 100_000, trusted: Iterable[str] = (), trust_code: bool = False,
          progress: Callable[[int, int], None] | None = None) -> int:
    """Write ``method``'s outputs for every row of ``source`` to ``output``; return the rows.

    ``target`` is loaded as ``load(target, trusted=trusted,
    trust_code=trust_code)`` does. Each chunk is validated against the model's
    input schema like a server request. The output is Parquet (``.parquet``,
    ``.pq``), gzip-compressed CSV (``.csv.gz``) or CSV (``.csv``, ``.txt``, a
    device), written to a temporary file and renamed into place. With
    ``progress``, ``progress(done, total)`` follows each chunk; counting the
    total takes a pass over a CSV file, made only then.

    Raises:
        SchemaError: a chunk does not match the schema (nothing is written).
        RequestError: ``source`` has no rows, or ``output``'s name gives no format
            (nothing is written).
        OSError: ``output`` is a folder or in a missing one (checked before scoring).
        UntrustedTypesError: the model needs names ``trusted`` does not give.
        MissingCodeError: custom code it needs is not installed (nor run, with
            ``trust_code``, from the file).
    """
    import pandas as pd  # noqa: PLC0415

    kind = _output_kind(output)
    if method not in METHODS:
        raise RequestError(f"unknown method {method!r}: expected one of {list(METHODS)}")
    model = load(target, mmap=True, trusted=trusted, trust_code=trust_code)
    if not hasattr(model.unwrap(), method):
        raise RequestError(f"this model has no {method}; it offers"
                           f" {[m for m in METHODS if hasattr(model.unwrap(), m)]}")
    function = getattr(model, method)
    total = _count_rows(source) if progress is not None else 0  # a pass over the whole file
    parts, done = [], 0
    with replacing(output) as temporary:  # a folder or a missing one fails before scoring
        for chunk in _chunks(source, chunk_rows, model.input_schema):
            if not len(chunk):  # a CSV file of a header alone: columns of no dtype
                continue
            parts.append(_columns(function(chunk), method, len(chunk)))
            done += len(chunk)
            if progress is not None:
                progress(done, max(total, done))
        if not parts:
            raise RequestError(f"{source!r} has no rows to score; nothing was written")
        frame = pd.concat(parts, ignore_index=True)
        _write(frame, temporary, kind, os.path.basename(output))
    return done


def _columns(result: Any, name: str, rows: int) -> Any:
    """A method's output for ``rows`` rows as a DataFrame: a column ``name`` for one value
    per row, ``name_0``, ``name_1``... for several (a sparse matrix made dense), and for a
    list of arrays (the probabilities of a model of several outputs) the columns of each,
    ``name_0_0``, ``name_0_1``..."""
    import pandas as pd  # noqa: PLC0415

    if isinstance(result, list):
        return pd.concat([_columns(part, f"{name}_{i}", rows) for i, part in enumerate(result)],
                         axis=1)
    values = np.asarray(result.toarray() if hasattr(result, "toarray") else result)
    if values.ndim == 1:
        return pd.DataFrame({name: values})
    values = values.reshape(rows, -1)
    return pd.DataFrame(values, columns=[f"{name}_{i}" for i in range(values.shape[1])])


def _write(frame: Any, path: str, kind: str, name: str) -> None:
    """Write ``frame`` to ``path`` as ``kind``; a gzip header names the file ``name`` less .gz
    (not the temporary file's name)."""
    if kind == "parquet":
        frame.to_parquet(path, index=False)
    elif kind == "gzip":
        with open(path, "wb") as raw, gzip.GzipFile(name.removesuffix(".gz"), "wb",
                                                    fileobj=raw) as packed:
            frame.to_csv(packed, index=False)
    else:
        frame.to_csv(path, index=False)
