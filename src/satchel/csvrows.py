"""CSV read so that every value stays under the column its header names.

pandas reads a first data row with more values than the header as an index
column followed by the values, so each value lands one column to the left of
its name and the row is scored as if it were valid. With ``index_col=False``
it drops the extra values instead, with only a ``ParserWarning``. Either way
the model scores values under the wrong names, so both the server and
``satchel predict`` read CSV here, where such a row is an error. A later row
with too many values makes pandas raise ``ParserError``, whose message is
turned into the same one: the row's line, its length and the header's.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from satchel.errors import RequestError
from satchel.schema import kind_of
from satchel.validation import value_kind, zone_of

if TYPE_CHECKING:
    from satchel.schema import InputSchema

#: The name pandas gives the second of two columns of one name: ``age.1`` for ``age``.
_RENAMED = re.compile(r"(.+)\.[1-9][0-9]*")
#: The start of the warning pandas gives when it drops the extra values of the first row.
_TOO_LONG = "Length of header or names does not match length of data"
#: pandas' ParserError for a later row with more values than the header.
_LATER_ROW = re.compile(r"Expected \d+ fields in line (\d+), saw (\d+)")


def text_columns(schema: InputSchema | None) -> list[str]:
    """The columns of ``schema`` that CSV must read as text.

    pandas reads a column of digits as numbers, so a text column of zip codes or numeric
    codes ("00123", "7") became integers that the schema refuses (and "00123" lost its
    zeros): no CSV request could send such a column.

    A categorical of numbers (``category[int64]``) is read as numbers: as text, its codes
    were refused, or before that taken for unknown categories.
    """
    if schema is None or not schema.is_frame:
        return []
    return [column.name for column in schema.columns if value_kind(column) in ("string",
                                                                               "category")]


def read_csv(body: bytes, text: Sequence[str] = ()) -> Any:
    """A DataFrame of ``body`` (CSV with a header row), the ``text`` columns read as text.

    Raises:
        RequestError: a data row has more values than the header.
    """
    import pandas as pd  # noqa: PLC0415 - CSV needs the [pandas] extra

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=_TOO_LONG, category=pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(io.BytesIO(body), index_col=False,
                                dtype=dict.fromkeys(text, str) or None)
        except pd.errors.ParserWarning:
            raise _too_long(io.BytesIO(body), "the body") from None
        except pd.errors.ParserError as exc:
            raise _later_row(exc, io.BytesIO(body), "the body") from None
    return _as_written(frame, io.BytesIO(body))


def csv_chunks(path: str, rows: int, schema: InputSchema | None = None) -> Iterator[Any]:
    """DataFrames of up to ``rows`` rows of the CSV file at ``path``, in order.

    pandas guesses each chunk's column types from that chunk's values alone, so
    a text column of digits (a postcode, an ID) became integers, losing leading
    zeros, whenever a chunk held no other values. The columns ``schema`` says
    hold text (string or category) are read as text instead, and its datetime
    columns are parsed as dates where they can be, as the server does.

    Raises:
        RequestError: a data row has more values than the header.
    """
    import pandas as pd  # noqa: PLC0415 - CSV needs the [pandas] extra

    with pd.read_csv(path, chunksize=rows, index_col=False,
                     dtype=dict.fromkeys(text_columns(schema), str) or None) as reader:
        while True:
            with warnings.catch_warnings():  # not around the yield: only pandas' own reading
                warnings.filterwarnings("error", message=_TOO_LONG,
                                        category=pd.errors.ParserWarning)
                try:
                    chunk = next(reader, None)
                except pd.errors.ParserWarning:
                    raise _too_long(path, repr(path)) from None
                except pd.errors.ParserError as exc:
                    raise _later_row(exc, path, repr(path)) from None
            if chunk is None:
                return
            yield with_dates(_as_written(chunk, path), schema)


def with_dates(frame: Any, schema: InputSchema | None) -> Any:
    """``frame`` with the columns ``schema`` says hold datetimes (categoricals of dates
    too) parsed as dates, and those of durations (``0 days 00:14:10``, as pandas writes
    them) as durations: CSV and JSON hold both as text, which the schema refused. One that
    does not parse is left as it is, for validation to report, as is a column of numbers:
    a date sent as a number of seconds would have been read as nanoseconds since 1970."""
    if schema is None or not schema.is_frame:
        return frame
    import pandas as pd  # noqa: PLC0415

    repeated = set() if frame.columns.is_unique else set(
        frame.columns[frame.columns.duplicated()])
    for column in schema.columns:
        kind = value_kind(column)
        if (column.name not in frame.columns or kind not in ("datetime", "timedelta")
                or column.name in repeated):  # a column of two, for validation to report
            continue
        values = frame[column.name]
        if kind_of(values.dtype) not in ("string", "object"):
            continue  # text only: 5 is no duration, and no date (pandas took it for 5 ns)
        with contextlib.suppress(ValueError, TypeError):
            if kind == "datetime":
                frame[column.name] = _dates(pd, values, column.dtype)
            else:
                frame[column.name] = pd.to_timedelta(values)
    return frame


def _dates(pd: Any, values: Any, dtype: str) -> Any:
    """``values`` (text) parsed as dates, in the time zone ``dtype`` names if it names one:
    the times of a zone with summer time have two offsets in a year (``+01:00`` and
    ``+02:00``), which pandas parses only as UTC times, so a CSV file of them was left as
    text and refused."""
    zone = zone_of(dtype)
    if zone is None:
        return pd.to_datetime(values)
    return pd.to_datetime(values, utc=True).dt.tz_convert(zone)


def _as_written(frame: Any, source: Any) -> Any:
    """``frame`` with the names of a column its header repeats as the header writes them:
    pandas reads the second ``age`` as ``age.1``, so the schema spoke of a column the file
    does not have rather than of a repeated one. The header itself is read again only when
    a name looks like one pandas made (``NAME.N`` beside ``NAME``)."""
    names = set(frame.columns)
    if not any(isinstance(c, str) and (m := _RENAMED.fullmatch(c)) and m[1] in names
               for c in frame.columns):
        return frame
    import pandas as pd  # noqa: PLC0415

    if isinstance(source, io.BytesIO):
        source.seek(0)
    header = pd.read_csv(source, header=None, nrows=1, dtype=str).iloc[0].tolist()
    repeated = {name for i, name in enumerate(header) if name in header[:i]}
    if repeated and len(header) == len(frame.columns):  # not the file's own age and age.1
        frame.columns = [name if name in repeated else column
                         for name, column in zip(header, frame.columns, strict=True)]
    return frame


def _too_long(source: Any, where: str) -> RequestError:
    """The error for a first data row longer than the header, with both lengths."""
    import pandas as pd  # noqa: PLC0415

    header = pd.read_csv(source, nrows=0).columns.tolist()
    if isinstance(source, io.BytesIO):
        source.seek(0)
    width = pd.read_csv(source, header=None, skiprows=1, nrows=1, dtype=str).shape[1]
    return _longer(header, f"line 2 of {where} (its first row of data)", width)


def _later_row(error: Exception, source: Any, where: str) -> Exception:
    """The error for a later data row longer than the header, with its line and both
    lengths, if pandas' ``error`` says so; else ``error`` itself."""
    import pandas as pd  # noqa: PLC0415

    found = _LATER_ROW.search(str(error))
    if found is None:
        return error
    header = pd.read_csv(source, nrows=0).columns.tolist()
    return _longer(header, f"line {found[1]} of {where}", int(found[2]))


def _longer(header: list[Any], row: str, width: int) -> RequestError:
    """The error for ``row`` of ``width`` values under ``header``."""
    named = ", ".join(map(str, header[:10])) + (", ..." if len(header) > 10 else "")
    return RequestError(
        f"{row} has {width} values but the header names {len(header)} columns ({named}):"
        " every row needs exactly one value per header column; remove the extra values or"
        " name their columns in the header")
