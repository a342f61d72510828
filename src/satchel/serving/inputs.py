"""Request bodies in MLflow's formats -> model inputs, and outputs -> JSON.

Accepted, as in ``mlflow models serve``: JSON objects with ``dataframe_split``
(``columns``, ``data``, optional ``index``), ``dataframe_records`` (a list of
row objects), ``instances`` or ``inputs`` (rows, a column mapping or a tensor),
optionally with ``params``; and ``text/csv`` with a header row. Rows that fit
the schema exactly take the fast path of :mod:`satchel.serving.columns`; the
rest become a DataFrame (or an array) for the model's schema to check.
"""

from __future__ import annotations

import codecs
import csv
from typing import Any

import numpy as np
import orjson

from satchel.csvrows import read_csv, text_columns, with_dates
from satchel.errors import RequestError, SchemaError, UnsupportedMediaTypeError
from satchel.schema import InputSchema, as_pandas
from satchel.serving.columns import Layout, columns

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def parse(body: bytes, content_type: str, schema: InputSchema | None,
          found: Layout | None = None) -> tuple[Any, dict[str, Any]]:
    """(model input, params) from a request body.

    The model input is :class:`~satchel.serving.columns.Columns`, already
    checked, when ``found`` (the schema's layout) is given and the rows fit it;
    otherwise a DataFrame or an array still to be validated.
    """
    kind, _, options = content_type.partition(";")
    kind = kind.strip().lower()
    if kind in ("text/csv", "application/csv"):
        return _rows(_csv(_utf8(body, options), schema)), {}
    if kind not in ("application/json", ""):
        raise UnsupportedMediaTypeError(f"unsupported content type {kind!r}: send application/json"
                                   " (MLflow's formats) or text/csv")
    try:
        document = orjson.loads(_utf8(body, options) if options else body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestError(f"expected a JSON object with one of {list(FORMATS)}, found"
                           f" {_json_kind(document)}: send rows as {{\"inputs\": [[...], ...]}}")
    present = [key for key in FORMATS if key in document]
    if len(present) != 1:
        raise RequestError(f"expected exactly one of {list(FORMATS)}, found {present or 'none'}")
    params = document.get("params") or {}
    if not isinstance(params, dict):
        raise RequestError("params must be a JSON object")
    value = document[present[0]]
    fast = columns(present[0], value, found) if found is not None else None
    return _rows(fast if fast is not None else _decode(present[0], value, schema)), params


def _json_kind(document: Any) -> str:
    """What a JSON value that is no object is, in the words of JSON."""
    kinds = {list: "array", str: "string", bool: "boolean"}
    return f"a JSON {kinds.get(type(document), 'number')}" if document is not None else "null"


def _rows(rows: Any) -> Any:
    """``rows``, refused when there are none: a table of no rows has no dtypes to check (its
    columns are objects), and the model would refuse it anyway."""
    count = rows.shape[0] if hasattr(rows, "shape") and rows.shape else len(rows)
    if count == 0:
        raise RequestError("the request has no rows: send at least one row to predict on")
    return rows


#: A table may have this many times more cells than the request gives values (rows that
#: leave out some of the columns), and this many cells more, before it is refused.
_SPARSE_CELLS = 4
_SPARE_CELLS = 100_000


def _check_cells(rows: int, width: int, values: int) -> None:
    """Refuse rows that would make a table of far more cells than they give values.

    Rows that each name columns of their own (or a CSV header far wider than its rows)
    made pandas fill rows x columns cells: 69 KiB of records took 265 MiB and two
    seconds, and a request of a few megabytes could take the server's memory.

    Raises:
        RequestError: naming the table's size and the values given.
    """
    if rows * width > _SPARSE_CELLS * values + _SPARE_CELLS:
        raise RequestError(
            f"the rows give {values} values for a table of {rows} rows and {width} columns"
            f" ({rows * width} cells): rows that each name other columns, or a header far"
            " wider than its rows, are no table; send every row with the same columns, those"
            " the model takes")


#: Columns a request may name beyond the model's and still be told of each one; past that,
#: it is refused as a whole before any table is built.
_EXTRA_COLUMNS = 1000


def _check_width(width: int, schema: InputSchema | None) -> None:
    """Refuse a request of far more columns than the model takes, before building its table.

    A table of a million columns (one 10 MiB CSV row) took pandas 20 s on the event loop,
    which answered no other request meanwhile, to report a million unexpected columns.

    Raises:
        SchemaError: one problem giving both widths.
    """
    expected = (len(schema.columns) if schema.is_frame else schema.n_features) if schema else None
    if expected is not None and width > expected + _EXTRA_COLUMNS:
        raise SchemaError([{"column": None, "expected": f"the model's {expected} columns",
                            "found": f"{width} columns"}])


def _width(rows: list[Any], columns: Any) -> int:
    """How many columns a table of ``rows`` (row objects or lists) has."""
    if isinstance(columns, list):
        return len(columns)
    if all(isinstance(row, dict) for row in rows):
        return len(set().union(*rows))
    return max(map(len, rows), default=0)


def _frame(data: Any, schema: InputSchema | None, columns: Any = None, index: Any = None
           ) -> Any:
    import pandas as pd  # noqa: PLC0415

    if isinstance(data, list) and all(isinstance(row, (dict, list)) for row in data):
        width = _width(data, columns)
        _check_width(width, schema)
        _check_cells(len(data), width, sum(map(len, data)))
    elif isinstance(data, dict):
        _check_width(len(data), schema)
    try:
        return pd.DataFrame(data, columns=columns, index=index)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"cannot build a table from the request: {exc}") from None


def _decode(kind: str, value: Any, schema: InputSchema | None) -> Any:
    if kind == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise RequestError("dataframe_split needs an object with 'columns' and 'data'")
        index = value.get("index")
        _check_index(index, len(value["data"]))
        _check_columns(value.get("columns"))
        return with_dates(_frame(value["data"], schema, value.get("columns"), index), schema)
    if kind == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise RequestError("dataframe_records needs a list of row objects")
        return with_dates(_frame(value, schema), schema)
    if isinstance(value, dict):
        by_column = {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return with_dates(_frame(by_column, schema), schema)
    if not isinstance(value, list):
        raise RequestError(f"{kind} needs a list of rows or an object of columns")
    if value and all(isinstance(row, dict) for row in value):
        return with_dates(_frame(value, schema), schema)
    if schema is not None and schema.is_frame:
        names = [c.name for c in schema.columns]
        widths = {len(row) if isinstance(row, list) else -1 for row in value}
        if widths - {len(names)}:
            raise SchemaError([{"column": None, "expected": f"rows of {len(names)} values"
                                f" ({', '.join(names)})", "found": "rows of "
                                + ", ".join(str(w) if w >= 0 else "non-list" for w in
                                            sorted(widths)) + " values"}])
        return with_dates(_frame(value, schema, names), schema)
    try:
        return np.asarray(value, dtype=object if _holds_text(value) else None)
    except ValueError as exc:
        raise RequestError(f"{kind} is not a rectangular array: {exc}") from None


def _holds_text(value: list[Any]) -> bool:
    """Whether nested lists hold a string anywhere. numpy makes an array of strings as wide
    as the longest in every cell: a body of 100 KB, one long string and thousands of short
    ones, took gigabytes. An array of objects holds each as it is."""
    pending = [value]
    while pending:
        for item in pending.pop():
            if type(item) is str:
                return True
            if type(item) is list:
                pending.append(item)
    return False


def _check_index(index: Any, rows: int) -> None:
    """A dataframe_split index is one label per row of data, as MLflow's.

    pandas reads a list of lists as a multi-level index and repeats the rows to fill it,
    so ``[[7, 8, 9]]`` for one row of data gave three predictions.
    """
    if index is None:
        return
    if not isinstance(index, list):
        found = type(index).__name__
    elif len(index) != rows:
        found = f"{len(index)} entries"
    else:
        nested = sum(not (label is None or isinstance(label, (str, int, float)))
                     for label in index)
        if not nested:
            return
        found = f"{nested} entries that are lists or objects"
    raise RequestError(f"dataframe_split's index must be a list of one label (a string, a number"
                       f" or null) per row of data ({rows}), found {found}")


def _check_columns(names: Any) -> None:
    """dataframe_split's columns are names (strings or numbers), as MLflow's.

    pandas takes a list or an object as a column label, which no schema check can look up
    (a set or an index of them raised TypeError, a 500).
    """
    if names is None:
        return
    if not isinstance(names, list):
        found = type(names).__name__
    else:
        nested = sum(not isinstance(name, (str, int, float)) for name in names)
        if not nested:
            return
        found = f"{nested} entries that are lists, objects or nulls"
    raise RequestError(f"dataframe_split's columns must be a list of column names (strings or"
                       f" numbers), found {found}")


def _utf8(body: bytes, options: str) -> bytes:
    """``body`` in UTF-8, from the charset the content type's ``options`` name (UTF-8 if
    none: ``text/csv; charset=latin-1`` was read as UTF-8, and refused; so was JSON).

    Raises:
        UnsupportedMediaTypeError: the charset is not one Python knows.
        RequestError: the body is not text in that charset.
    """
    named = [value.strip().strip('"') for key, _, value in
             (option.partition("=") for option in options.split(";"))
             if key.strip().lower() == "charset"]
    charset = named[0] if named else "utf-8"
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        raise UnsupportedMediaTypeError(
            f"unknown charset {charset[:40]!r} in the content type: send UTF-8, or name a"
            " charset the server knows (latin-1, cp1252, utf-16)") from None
    if codec == "utf-8":
        return body
    try:
        return body.decode(codec).encode("utf-8")
    except LookupError:  # a codec of bytes to bytes or text to text (base64, rot13)
        raise UnsupportedMediaTypeError(
            f"charset {charset[:40]!r} in the content type is not a text encoding: send UTF-8,"
            " or name a charset of text (latin-1, cp1252, utf-16)") from None
    except UnicodeError as exc:
        raise RequestError(f"the body is not valid {charset[:40]} text: {exc}; send it in the"
                           " charset the content type names") from None


def _csv(body: bytes, schema: InputSchema | None) -> Any:
    import pandas as pd  # noqa: PLC0415

    # The header's width from its first line alone (pandas builds a column per name even
    # for nrows=0, which took seconds for a wide header); short rows are filled up to it.
    first = body.split(b"\n", 1)[0].decode("utf-8", "replace")
    try:
        width = len(next(csv.reader([first]), []))
    except csv.Error as exc:  # a bare carriage return in it, a name past the field limit
        raise RequestError(f"the body is not valid CSV: its header line cannot be read ({exc});"
                           " end lines with \\n or \\r\\n") from None
    lines = body.count(b"\n")
    _check_width(width, schema)
    _check_cells(lines, width, body.count(b",") + lines)
    try:
        frame = read_csv(body, text_columns(schema))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RequestError(f"the body is not valid CSV: {exc}") from None
    return with_dates(frame, schema)


def jsonable(output: Any) -> Any:
    """A prediction as JSON-ready lists; a DataFrame's (pandas or polars) as one record a row."""
    output = as_pandas(output)
    if hasattr(output, "toarray"):
        output = output.toarray()
    if hasattr(output, "to_dict") and hasattr(output, "columns"):
        return output.to_dict(orient="records")
    return np.asarray(output).tolist()
