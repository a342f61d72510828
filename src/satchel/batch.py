"""Batch scoring: a CSV or Parquet file through a model, in chunks, with validation."""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import numpy as np

from satchel.artifact import load
from satchel.checks import METHODS
from satchel.csvrows import csv_chunks
from satchel.errors import InputRejectedError, RequestError, SatchelError, SchemaError
from satchel.format.writer import descriptor_named, writing
from satchel.model import as_model
from satchel.schema import InputSchema, check_output_rows, one_text_per_row

#: How an output is written, by the end of its name (the input's endings, read the same way).
_OUTPUTS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".txt": "csv",
            ".csv.gz": "gzip"}
#: The name pandas gives a CSV file's column N (from 0) when the header names none.
_NO_NAME = re.compile(r"Unnamed: (\d+)")


def _chunks(path: str, rows: int, schema: InputSchema | None) -> Iterator[Any]:
    if _is_parquet(path):
        import pyarrow.parquet as pq  # noqa: PLC0415

        for part in _parquet_files(path):
            for batch in pq.ParquetFile(part).iter_batches(batch_size=rows):
                yield batch.to_pandas()
    elif path.lower().endswith((".csv", ".csv.gz", ".txt")) and not os.path.isdir(path):
        yield from csv_chunks(path, rows, schema)
    elif os.path.isdir(path):
        raise RequestError(f"cannot read {path!r}: it is a folder that holds no Parquet file;"
                           " give a .csv, .csv.gz, .txt, .parquet or .pq file, or a folder of"
                           " Parquet files (as Spark writes a table)")
    else:
        raise RequestError(f"cannot read {path!r}: expected a .csv, .csv.gz, .txt, .parquet or"
                           " .pq file, or a folder of Parquet files, as the input's format"
                           " follows its name; give the input one of these endings")


@contextlib.contextmanager
def _reading(path: str) -> Iterator[None]:
    """Raise what pandas, pyarrow and gzip raise on a file that is not the CSV or Parquet it
    claims to be as a RequestError naming ``path``: gzip raises EOFError for a file cut
    short, BadGzipFile for one that is no gzip or fails its checksum, and zlib.error for
    damaged data."""
    import pandas as pd  # noqa: PLC0415

    errors: list[type[Exception]] = [UnicodeDecodeError, EOFError, gzip.BadGzipFile,
                                     zlib.error, pd.errors.ParserError, pd.errors.EmptyDataError]
    with contextlib.suppress(ImportError):
        from pyarrow import ArrowInvalid  # noqa: PLC0415 - the [parquet] extra

        errors.append(ArrowInvalid)
    try:
        yield
    except tuple(errors) as exc:
        found = ("it holds no header row naming its columns"  # 'No columns to parse from file'
                 if isinstance(exc, pd.errors.EmptyDataError)
                 else (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip("."))
        raise RequestError(f"cannot read {path!r}: {found}; expected a UTF-8 CSV file"
                           " (gzip-compressed for .csv.gz) or a Parquet file") from None


def _is_parquet(path: str) -> bool:
    """Whether ``path`` is read as Parquet: its name's ending (in capitals too, as Windows
    tools write DATA.PARQUET), or a folder that holds Parquet files."""
    if path.lower().endswith((".parquet", ".pq")):
        return True
    return os.path.isdir(path) and any(name.lower().endswith((".parquet", ".pq"))
                                       for name in os.listdir(path))


def _parquet_files(path: str) -> list[str]:
    """The Parquet files of ``path``: itself, or those of a folder, in the order of their
    names (Spark's part-00000, part-00001...), leaving out what a writer puts beside them
    (_SUCCESS, hidden .crc checksums).

    Raises:
        RequestError: the folder holds no Parquet file.
    """
    if not os.path.isdir(path):
        return [path]
    found = sorted(os.path.join(path, name) for name in os.listdir(path)
                   if name.lower().endswith((".parquet", ".pq"))
                   and not name.startswith((".", "_")))
    if not found:
        raise RequestError(f"cannot read {path!r}: the folder holds no Parquet file"
                           " (part-*.parquet); give a .csv or .parquet file, or such a folder")
    return found


def _output_kind(output: str) -> str:
    """How ``output`` is written: Parquet, CSV or gzip-compressed CSV, by its name's end; a
    device, or a name in /dev (``/dev/stdout``, whatever it is redirected to), gets CSV.

    Raises:
        RequestError: the name ends otherwise and is no device.
    """
    for ending, kind in _OUTPUTS.items():
        if output.lower().endswith(ending):
            return kind
    device = os.path.exists(output) and not os.path.isfile(output) and not os.path.isdir(output)
    if device or descriptor_named(output) is not None or os.path.dirname(
            os.path.abspath(output)) == "/dev":
        return "csv"  # /dev/stdout is a link to the file a shell redirects it to
    raise RequestError(f"cannot write {output!r}: expected a .csv, .csv.gz or .parquet file (or"
                       " a device such as /dev/stdout), as the output's format follows its"
                       " name; give the output one of these endings")


def _check_not_input(source: str, output: str) -> None:
    """Refuse an ``output`` that is the file ``source`` names, by any spelling or link, or
    one of the Parquet files of the folder it names: the predictions would replace it.

    Raises:
        RequestError: ``output`` is one of the files read.
    """
    read = _parquet_files(source) if _is_parquet(source) else [source]
    for part in read:
        with contextlib.suppress(OSError):  # one of them does not exist (yet)
            if os.path.samefile(part, output):
                what = ("the input file" if part == source
                        else f"{os.path.basename(part)!r} of the input folder")
                raise RequestError(f"the output {output!r} is {what} {source!r}, which would"
                                   " be replaced by the predictions: give another output file")


def _count_rows(path: str) -> int:
    """Rows in a Parquet file (from its footer) or a CSV file, gzip-compressed or not (lines
    less the header)."""
    if _is_parquet(path):
        import pyarrow.parquet as pq  # noqa: PLC0415

        return sum(int(pq.ParquetFile(part).metadata.num_rows)
                   for part in _parquet_files(path))
    with (gzip.open if path.lower().endswith(".gz") else open)(path, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def score(target: str, source: str, output: str, *, method: str = "predict",
          chunk_rows: int = 100_000, trusted: Iterable[str] = (), trust_code: bool = False,
          progress: Callable[[int, int], None] | None = None) -> int:
    """Write ``method``'s outputs for every row of ``source`` to ``output``; return the rows.

    ``target`` is loaded as ``load(target, trusted=trusted,
    trust_code=trust_code)`` does. Each chunk is validated against the model's
    input schema like a server request. The output is Parquet (``.parquet``,
    ``.pq``), gzip-compressed CSV (``.csv.gz``) or CSV (``.csv``, ``.txt``, a
    device), written to a temporary file and renamed into place; ``/dev/stdout``,
    ``/dev/stderr`` and ``/dev/fd/N`` are written through their descriptor, after
    what it holds (a shell's ``>>`` appends). With
    ``progress``, ``progress(done, total)`` follows each chunk; counting the
    total takes a pass over a CSV file, made only then.

    Raises:
        SchemaError: a chunk does not match the schema (nothing is written); its
            message names the chunk's rows.
        InputRejectedError: the model raised ValueError on rows that match it, such as
            a category it never saw (nothing is written).
        SatchelError: the model raised another error on a chunk (nothing is written); the
            model's own is its cause.
        RequestError: ``source`` cannot be read as its name says (not UTF-8, cut short,
            no Parquet) or has no rows, ``output``'s name gives no format, or
            ``output`` is ``source`` or one of the Parquet files of its folder, which the
            predictions would replace (nothing is written).
        OSError: ``output`` is a folder or in a missing one (checked before scoring).
        ValueError: ``chunk_rows`` is not an integer >= 1.
        UntrustedTypesError: the model needs names ``trusted`` does not give.
        NotAModelError: ``target`` holds no model (None, a dict).
        MissingCodeError: custom code it needs is not installed (nor run, with
            ``trust_code``, from the file).
    """

    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be an integer >= 1, not {chunk_rows!r:.40}")
    kind = _output_kind(output)
    _check_not_input(source, output)
    if method not in METHODS:
        raise RequestError(f"unknown method {method!r}: expected one of {list(METHODS)}")
    model = as_model(load(target, mmap=True, trusted=trusted, trust_code=trust_code),
                     str(target), "scoring")
    if not hasattr(model.unwrap(), method):
        raise RequestError(f"this model has no {method}; it offers"
                           f" {[m for m in METHODS if hasattr(model.unwrap(), m)]}")
    with _reading(source):  # a pass over the whole file
        total = _count_rows(source) if progress is not None else 0
    done = 0
    # A folder or a missing one fails before scoring.
    with writing(output) as destination, _writer(destination, kind,
                                                 os.path.basename(output)) as write:
        for chunk in _read(source, chunk_rows, model.input_schema):
            if not len(chunk):  # a CSV file of a header alone: columns of no dtype
                continue
            where = f"{_rows(done + 1, done + len(chunk))} of {source!r}"
            write(_columns(_call(model, method, chunk, where), method, len(chunk)), where)
            done += len(chunk)
            if progress is not None:
                progress(done, max(total, done))
        if not done:
            raise RequestError(f"{source!r} has no rows to score; nothing was written")
    return done


def _read(path: str, rows: int, schema: InputSchema | None) -> Iterator[Any]:
    """:func:`_chunks`, with an unreadable file's error naming it (:func:`_reading`)."""
    with _reading(path):
        yield from _chunks(path, rows, schema)


def _rows(first: int, last: int) -> str:
    """Rows of data counted from 1 (a CSV file's header not counted), in words."""
    return f"data row {first}" if first == last else f"data rows {first} to {last}"


def _as_fitted(model: Any, chunk: Any) -> Any:
    """``chunk`` as the model takes it: a text per row for one that starts with a text
    vectorizer; else the table, whose values the model gives an estimator fitted on an
    array (:meth:`~satchel.model.Model.validate`)."""
    return one_text_per_row(model.unwrap(), chunk)


def _call(model: Any, method: str, chunk: Any, where: str) -> Any:
    """The model's ``method`` on ``chunk``; a ValueError of the model's own (not satchel's)
    is the input's fault, as the server answers it (422). Both it and a schema's error name
    ``where`` (the rows of the chunk): a file can hold millions.

    Raises:
        SchemaError: the chunk does not match the schema.
        InputRejectedError: the model refused values of rows that match the schema.
        RequestError: the model gave a number of outputs other than the chunk's rows.
        SatchelError: the model raised another error, its cause.
    """
    try:
        result = getattr(model, method)(_as_fitted(model, chunk))
    except SchemaError as exc:
        raise SchemaError([_explained(p) for p in exc.problems], where=where) from None
    except SatchelError:
        raise
    except ValueError as exc:
        raise InputRejectedError(
            f"the model's {method} refused {where} (valid for its schema):"
            f" {type(exc).__name__}: {exc}; fix or remove the values it refuses (such as a"
            " category it never saw), or score with a model trained on such values") from exc
    except Exception as exc:  # the model's own failure: said in one line, as the rest
        raise SatchelError(
            f"the model's {method} failed on {where}: {type(exc).__name__}: {exc}; the"
            f" model's own code raised it, not satchel: call {method} on these rows in Python"
            " to see where") from exc
    check_output_rows(result, len(chunk), method, where)  # else a file would miss scores
    return result


def _explained(problem: dict[str, Any]) -> dict[str, Any]:
    """``problem`` with where a column named ``Unnamed: N`` comes from: pandas names so a
    column the CSV header names none for, the index to_csv writes first, or the empty
    column after a trailing comma; or, for a column whose name holds a semicolon, a tab or
    a bar, that the file is separated by it."""
    if problem["expected"] != "no such column":
        return problem
    found = _NO_NAME.fullmatch(str(problem["column"]))
    if found is None:
        separator = next((s for s in (";", "\t", "|") if s in str(problem["column"])), None)
        if separator is None:
            return problem
        return {**problem, "found": f"{problem['found']} (the header seems separated by"
                f" {separator!r}: satchel predict reads files separated by commas; write"
                f" it with pd.read_csv(path, sep={separator!r}).to_csv(new_path, index=False))"}
    why = ("the index that pandas' to_csv writes unless given index=False" if found[1] == "0"
           else "a trailing comma?")
    return {**problem, "found": f"{problem['found']} (column {int(found[1]) + 1} of the"
            f" header has no name: {why})"}


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


Write = Callable[[Any, str], None]


@contextlib.contextmanager
def _writer(destination: str | IO[bytes], kind: str, name: str) -> Iterator[Write]:
    """A function that writes each chunk's outputs (a DataFrame, and the rows they are of)
    to ``destination`` as ``kind`` after those before, so that a score holds one chunk's
    outputs at a time: it held all of them, gigabytes for a table of a hundred million rows.

    A path (the temporary file a save renames) is written as the chunks come. A descriptor
    or a device is given the outputs once every chunk has been scored, from a temporary
    file, so that a failing chunk still leaves nothing written there.
    """
    if isinstance(destination, str):
        with open(destination, "wb") as handle, _formatted(handle, kind, name) as write:
            yield write
        return
    with tempfile.TemporaryFile() as spool:
        with _formatted(spool, kind, name) as write:
            yield write
        spool.seek(0)
        shutil.copyfileobj(spool, destination)


@contextlib.contextmanager
def _formatted(handle: IO[bytes], kind: str, name: str) -> Iterator[Write]:
    """:func:`_writer` of an open binary file: CSV with one header, the same gzip-compressed
    (its header names the file ``name`` less .gz, not the temporary file's name), or
    Parquet whose columns have the first chunk's types."""
    if kind == "parquet":
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        parquet: list[Any] = []  # the writer, made with the first chunk's schema

        def write_parquet(frame: Any, where: str) -> None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if not parquet:
                parquet.append(pq.ParquetWriter(handle, table.schema))
            elif not table.schema.equals(parquet[0].schema):
                try:
                    table = table.cast(parquet[0].schema)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError,
                        ValueError) as exc:
                    raise SatchelError(
                        f"the outputs of {where} have other types than those before them"
                        f" ({exc}), which one Parquet file cannot hold: write a .csv output"
                        " instead") from None
            parquet[0].write_table(table)

        try:
            yield write_parquet
        finally:
            if parquet:
                parquet[0].close()
        return
    with contextlib.ExitStack() as stack:
        text: IO[bytes] | gzip.GzipFile = handle
        if kind == "gzip":
            text = stack.enter_context(gzip.GzipFile(name[:-len(".gz")], "wb", fileobj=handle))
        header = [True]

        def write_csv(frame: Any, _where: str) -> None:
            frame.to_csv(text, index=False, header=header.pop() if header else False)

        yield write_csv
