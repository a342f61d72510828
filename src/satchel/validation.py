"""Checking an input against its schema, before every prediction.

:func:`validate_frame` and :func:`validate_array` report every problem of an input in
one :class:`~satchel.errors.SchemaError`, reorder columns by name and make only safe
casts (integer to float, text to the schema's text dtype; never float to integer or
text to number).
"""

from __future__ import annotations

import collections
import difflib
import functools
import re
from decimal import Decimal
from typing import Any

import numpy as np

from satchel.errors import SchemaError, shown_name
from satchel.schema import TEXT_KINDS, Column, InputSchema, as_pandas, kind_of

#: expected kind -> found kinds that are accepted (casting where needed).
_ACCEPTS = {
    "float": {"float", "integer", "boolean"},
    "integer": {"integer", "boolean"},
    "boolean": {"boolean"},
    "category": {"category", "string", "object"},
    "string": {"string", "object", "category"},
    "object": {"string", "object", "category", "integer", "float", "boolean"},
    "datetime": {"datetime"},
    "timedelta": {"timedelta"},
}


#: How many name comparisons one validation spends on "closest" hints. Each costs a
#: SequenceMatcher: a request misspelling the 1000 columns of a 1000-column model made two
#: million of them, 15 s on the server's event loop, while no other request was answered.
HINT_COMPARISONS = 20_000


class _Hints:
    """The closest candidate to each name, until the comparisons allowed run out."""

    def __init__(self, budget: int = HINT_COMPARISONS) -> None:
        self.budget = budget

    def closest(self, name: str, candidates: list[str]) -> str:
        """`` (closest: 'x')``, or "" when none is close or the budget is spent."""
        if not candidates or len(candidates) > self.budget:
            return ""
        self.budget -= len(candidates)
        found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        return f" (closest: {shown_name(found[0])})" if found else ""


def _column_labels(frame: Any) -> dict[str, Any]:
    """Each column's label by its schema name, its text (``0`` is ``'0'``)."""
    return {str(label): label for label in frame.columns}


def _frame_problems(schema: InputSchema, frame: Any, labels: dict[str, Any],
                    kinds: dict[str, tuple[Any, str]]) -> list[dict[str, Any]]:
    """What keeps ``frame`` (its column ``labels``, and their dtype and kind, by name) from
    matching ``schema``. Missing and infinite values are counted over the whole frame at
    once: a frame of thousands of columns is not taken apart column by column."""
    if len(labels) != len(frame.columns):  # a name that selects several columns
        counts = collections.Counter(str(c) for c in frame.columns)
        return [{"column": name, "expected": "one column of that name",
                 "found": f"{counts[name]} columns"}
                for name in sorted(name for name, count in counts.items() if count > 1)]
    expected = {c.name for c in schema.columns}
    absent = [c for c in schema.columns if c.name not in labels]
    unexpected = [name for name in labels if name not in expected]
    absent_names, hints = [c.name for c in absent], _Hints()
    problems = [
        {"column": c.name, "expected": f"a column of {c.kind}",
         "found": "missing" + hints.closest(c.name, unexpected)}
        for c in absent
    ]
    problems += [
        {"column": name, "expected": "no such column", "found": "an unexpected column"
            + hints.closest(name, absent_names)}
        for name in unexpected
    ]
    present = [c for c in schema.columns if c.name in labels]
    missing = dict(zip(labels, frame.isna().sum().tolist(), strict=True)) if present else {}
    floats = [c.name for c in present if kinds[c.name][1] == "float"]
    infinite = dict(zip(floats, np.isinf(frame[[labels[name] for name in floats]].to_numpy(
        dtype=float, na_value=np.nan)).sum(axis=0).tolist(), strict=True)) if floats else {}
    for column in present:
        dtype, found = kinds[column.name]
        if not _accepts(column, found) and not (
                value_kind(column) == "integer" and found == "float" and missing[column.name]
                and _whole(frame[labels[column.name]])) and not (
                _plain_objects(column, found, frame[labels[column.name]])) and not (
                _only_missing(frame, missing[column.name])
                and (not column.nullable or _holds_missing(_target(column)))):
            problems.append({"column": column.name, "expected": f"{column.kind} ({column.dtype})",
                             "found": f"{found} ({dtype})"})
        elif not column.nullable and missing[column.name]:
            problems.append({"column": column.name, "expected": "no missing values",
                             "found": f"{missing[column.name]} missing values"})
        elif infinite.get(column.name):
            problems.append({"column": column.name, "expected": "finite numbers",
                             "found": f"{infinite[column.name]} infinite values"})
        elif isinstance(dtype, np.dtype) and dtype.kind == "O" and column.kind != "object":
            # Lists and objects (from JSON) in a text column: no model can use them. A
            # column of Python objects in the sample may hold anything, lists included.
            problem = _text_problem(column.kind, frame[labels[column.name]])
            if problem:
                problems.append({"column": column.name, "expected": f"{column.kind} values",
                                 "found": problem})
    return problems


#: A pyarrow dictionary's dtype, as pandas names it, and the type of its values.
_DICTIONARY = re.compile(r"dictionary<values=(.+), indices=\w+, ordered=[01]>\[pyarrow\]")


@functools.lru_cache(maxsize=64)  # thousands of columns share a few dtypes
def _categories_kind(dtype: str) -> str | None:
    """The kind of a categorical's categories that are not text (``category[int64]`` and
    ``dictionary<values=int64, ...>[pyarrow]`` hold integers), or None for any other
    dtype."""
    dictionary = _DICTIONARY.fullmatch(dtype)
    if dictionary:
        name = f"{dictionary.group(1)}[pyarrow]"
    elif dtype.startswith("category[") and dtype.endswith("]"):
        name = dtype[len("category["):-1]
    else:
        return None
    values = _named(name)
    kind = kind_of(values) if values is not None else None  # None: no dtype pandas knows
    return None if kind is None or kind in TEXT_KINDS else kind


def value_kind(column: Column) -> str:
    """The kind of the values ``column`` holds: a categorical of numbers or dates holds
    those, as CSV, Parquet and JSON give them (Parquet keeps no categorical of integers)."""
    return (column.kind == "category" and _categories_kind(column.dtype)) or column.kind


def _accepts(column: Column, found: str) -> bool:
    """Whether a column of kind ``found`` is taken for ``column``. A categorical of numbers
    or dates takes those values, and no text: '10' is not the category 10, which an encoder
    fitted on it would take as unknown."""
    values = column.kind == "category" and _categories_kind(column.dtype)
    if values:
        return found == "category" or found in _ACCEPTS.get(values, {values})
    return found in _ACCEPTS.get(column.kind, {found})


def _target(column: Column) -> str:
    """The dtype a column of nulls alone is cast to for ``column``."""
    return "category" if value_kind(column) != column.kind else column.dtype


def _text_problem(kind: str, values: Any) -> str | None:
    """What an object column given for a text column holds that no model can use: lists and
    objects (from JSON); and in a string column, values that are not strings (a number among
    strings made the column objects, which were passed on, where a number alone is refused)."""
    nested = sum(isinstance(v, (list, dict)) for v in values)
    if nested:
        return f"{nested} lists or objects"
    if kind == "string":
        other = int((values.notna() & ~values.map(lambda v: isinstance(v, str))).sum())
        if other:
            return f"{other} values that are not strings"
    return None


def _only_missing(frame: Any, missing: int) -> bool:
    """Whether a column of ``frame`` with ``missing`` missing values has nothing else: pandas
    reads a column of JSON nulls alone as objects, whatever the column's type, so its problem
    is the missing values, not the dtype. So does it read a column of no values (a CSV
    header alone, ``DataFrame(columns=...)``), which has no problem: the estimator answers
    a frame of no rows as it does."""
    return missing == len(frame)


def _holds_missing(dtype: str) -> bool:
    """Whether a column of ``dtype`` holds missing values (float64, datetime64 and Int64 do;
    int64 and bool do not), so that a nullable column of nulls alone can be cast to it."""
    import pandas as pd  # noqa: PLC0415 - only frame schemas need pandas

    nulls: Any = pd.Series([None], dtype=object)
    try:
        return bool(nulls.astype(dtype).isna().all())
    except (TypeError, ValueError):
        return False


#: A column's kind -> what pandas infers of objects that are values of that kind (missing
#: values aside); no float is an integer, and no text a number.
_OBJECTS = {"boolean": ("boolean",), "integer": ("integer",),
            "float": ("integer", "floating", "mixed-integer-float", "decimal")}


def _plain_objects(column: Column, found: str, values: Any) -> bool:
    """Whether ``values``, of kind ``found`` for a boolean or numeric ``column``, are objects
    that are its values and missing values, which are cast to the schema's dtype: pandas
    reads a boolean column with missing values from CSV (``True,,False``) or JSON as
    objects, read_sql gives a NUMERIC column as decimals, and ``astype(object)`` keeps
    numbers as objects, all of which a pickled model takes."""
    import pandas as pd  # noqa: PLC0415 - only frame schemas need pandas

    if not (found == "object" and column.kind in _OBJECTS and pd.api.types.infer_dtype(
            values, skipna=True) in _OBJECTS[column.kind]):
        return False
    return column.kind != "integer" or bool(values.dropna().map(
        lambda value: _INT64[0] <= value <= _INT64[1]).all())


_INT64 = (-(1 << 63), (1 << 63) - 1)


def _objects_target(column: Column) -> str:
    """The dtype objects of ``column``'s values are cast to: its own, but integers go to
    pandas' Int64, which holds missing values and any int64 (a narrower dtype would
    raise OverflowError, where an integer column of the same values is passed on)."""
    return "Int64" if column.kind == "integer" else column.dtype


def _whole(values: Any) -> bool:
    """Whether a float column holds whole numbers only: an integer column that is float
    just for its missing values (as pandas reads a JSON null) is missing values, not floats."""
    present = values.to_numpy(dtype=float, na_value=np.nan)
    return bool(np.all(np.mod(present[~np.isnan(present)], 1) == 0))


#: Column names an error lists before it says how many more there are.
_LISTED = 10


def _listed(names: list[str]) -> str:
    """``names`` as a list, the first :data:`_LISTED` of them for a wide frame: a model of
    thousands of columns gave an error of tens of kilobytes."""
    if len(names) <= _LISTED:
        return repr(names)
    return f"{repr(names[:_LISTED])[:-1]}, ... and {len(names) - _LISTED} more]"


def validate_frame(schema: InputSchema, data: Any) -> Any:
    import pandas as pd  # noqa: PLC0415 - only frame schemas need pandas

    data = as_pandas(data)
    if not isinstance(data, pd.DataFrame):
        raise SchemaError([{"column": None, "expected": "a DataFrame with columns"
                            f" {_listed([c.name for c in schema.columns])}",
                            "found": type(data).__name__}])
    labels = _column_labels(data)
    kind_by_dtype: dict[Any, str] = {}  # thousands of columns share a few dtypes
    kinds = {name: (dtype, kind_by_dtype.get(dtype) or kind_by_dtype.setdefault(
        dtype, kind_of(dtype))) for name, dtype in zip(map(str, data.columns),
                                                        data.dtypes.tolist(), strict=True)}
    problems = _frame_problems(schema, data, labels, kinds)
    if problems:
        raise SchemaError(problems)
    frame = data[[labels[c.name] for c in schema.columns]]
    casts = {labels[c.name]: c.dtype for c in schema.columns
             if c.kind == "float" and kinds[c.name][1] in ("integer", "boolean")}
    casts |= {labels[c.name]: _target(c) for c in schema.columns  # nulls alone: objects
              if kinds[c.name][1] == "object" and not _accepts(c, kinds[c.name][1])
              and _only_missing(
                  data, int(data[labels[c.name]].isna().sum()))}
    casts |= {labels[c.name]: c.dtype for c in schema.columns
              if _other_text(c, kinds[c.name]) or _other_zone(c, kinds[c.name][0])}
    casts |= {labels[c.name]: _objects_target(c) for c in schema.columns
              if kinds[c.name][1] == "object"  # before taking the column out of the frame
              and _plain_objects(c, kinds[c.name][1], data[labels[c.name]])}
    texts = {labels[c.name]: "category" for c in schema.columns
             if _text_for_categories(c, kinds[c.name])}
    objects = {labels[c.name]: np.nan for c in schema.columns
               if c.kind == "string" and c.dtype == "object" and _na_text(*kinds[c.name])}
    if texts or objects:  # through objects: pandas cannot cast a pyarrow dictionary with nulls
        frame = frame.astype(dict.fromkeys(texts | objects, object)).fillna(objects)
        casts |= texts
    return frame.astype(casts) if casts else frame


def _other_zone(column: Column, dtype: Any) -> bool:
    """Whether ``dtype`` holds times of another zone than ``column``'s, and so is converted to
    it: the same instants, whose hours and days (what a model derives from a date) are
    those of the zone it was fitted in, not UTC's (as another system may write them)."""
    if column.kind != "datetime":
        return False
    zone, found = zone_of(column.dtype), zone_of(dtype)
    return zone is not None and found is not None and str(zone) != str(found)


def zone_of(dtype: Any) -> Any:
    """The time zone of a datetime dtype (pandas' or pyarrow's) or of its name, or None."""
    if isinstance(dtype, str):
        dtype = _named(dtype)
    return getattr(dtype, "tz", None) or getattr(getattr(dtype, "pyarrow_dtype", None), "tz",
                                                 None)


@functools.lru_cache(maxsize=64)  # thousands of columns share a few dtypes
def _named(name: str) -> Any:
    """The pandas dtype of ``name``, or None when pandas knows none (``category[int64]``)."""
    import pandas as pd  # noqa: PLC0415 - only frame schemas need pandas

    try:
        return pd.api.types.pandas_dtype(name)
    except (TypeError, ValueError):
        return None


def _text_for_categories(column: Column, found: tuple[Any, str]) -> bool:
    """Whether ``found`` (dtype, kind) for a categorical ``column`` of text is text that marks
    missing values with pandas' NA, and so is cast to a categorical: an encoder fitted on
    one raised 'boolean value of NA is ambiguous' on such a column with missing values."""
    return (column.kind == "category" and value_kind(column) == "category"
            and _na_text(*found))


def _na_text(dtype: Any, kind: str) -> bool:
    """Whether ``dtype`` (of ``kind``) is text that marks missing values with pandas' NA:
    ``string``, pyarrow's string or dictionary (as read_parquet gives a categorical). An
    estimator fitted on text whose missing values are NaN (``str``, a categorical, objects)
    raises 'boolean value of NA is ambiguous' on NA, so such text is given NaN instead."""
    return (kind in _ACCEPTS["category"] and not isinstance(dtype, np.dtype)
            and str(dtype) not in ("str", "category"))


def _other_text(column: Column, found: tuple[Any, str]) -> bool:
    """Whether the text ``found`` (dtype, kind) for ``column`` is of another dtype than the
    schema's text dtype, and so is cast to it. Each marks a missing value its own way (NaN
    for ``str``, pandas' NA for ``string``, None in objects from JSON), and an estimator
    fitted on one fails on another: on NA with 'boolean value of NA is ambiguous', on None
    as an unknown category."""
    dtype, kind = found
    return (column.kind == "string" and _pandas_text(column.dtype)
            and kind in _ACCEPTS["string"] and str(dtype) != column.dtype)


@functools.lru_cache(maxsize=64)  # thousands of columns share a few dtypes
def _pandas_text(dtype: str) -> bool:
    """Whether ``dtype`` names one of pandas' text dtypes (``str`` in pandas 3, ``string``),
    to which text is cast: pandas 2 reads ``str`` as numpy's, whose cast writes a missing
    value as the text 'nan'."""
    named = _named(dtype)
    return kind_of(dtype) == "string" and named is not None and not isinstance(named,
                                                                               np.dtype)


_NUMBERS = ("boolean", "integer", "float")  # narrowest first


def _frame_kind(frame: Any) -> tuple[str, Any]:
    """(kind, dtype) of a DataFrame's values, from its columns' dtypes: ``to_numpy`` gives
    objects for pandas' nullable (Int64, Float64) and pyarrow columns, which an estimator
    reads as the numbers they hold. The widest kind of numbers, else the first column's
    kind that is no number."""
    kinds = [(kind_of(dtype), dtype) for dtype in frame.dtypes.tolist()]
    other = next(((kind, dtype) for kind, dtype in kinds if kind not in _NUMBERS), None)
    if other is not None or not kinds:
        return other or ("float", np.dtype(float))
    return max(kinds, key=lambda found: _NUMBERS.index(found[0]))


_ONE_ROW = ": one row that is in no list of rows; give [row], or row.reshape(1, -1) for an array"


def validate_array(schema: InputSchema, data: Any) -> Any:
    frame = hasattr(data, "columns") and hasattr(data, "dtypes")
    if hasattr(data, "tocsr") or frame:  # sparse: checked without densifying
        array: Any = data
    else:
        try:
            array = data.to_numpy() if hasattr(data, "to_numpy") else np.asarray(data)
        except (TypeError, ValueError) as exc:  # ragged rows, values numpy cannot hold
            raise SchemaError([{"column": None, "expected": f"{schema.n_features} features"
                                " in rows of equal length", "found": str(exc)[:200]}]) from None
    problems = []
    if array.ndim != 2 or array.shape[1] != schema.n_features:
        one_row = array.ndim == 1 and array.shape[0] == schema.n_features
        problems.append({"column": None, "expected": f"{schema.n_features} features",
                         "found": f"shape {array.shape}" + (_ONE_ROW if one_row else "")})
    expected = kind_of(np.dtype(schema.dtype)) if schema.dtype else None
    found, dtype = _frame_kind(data) if frame else (kind_of(array.dtype), array.dtype)
    numbers = _numbers(data.to_numpy(dtype=object) if frame else array, str(schema.dtype)) if (
        expected == "float" and found == "object" and not problems) else None
    if expected and found not in _ACCEPTS.get(expected, {found}) and numbers is None:
        problems.append({"column": None, "expected": f"{expected} ({schema.dtype})",
                         "found": f"{found} ({dtype})"})
    if problems:
        raise SchemaError(problems)
    if numbers is not None:
        return numbers
    if expected == "float" and found != "float":
        return data.to_numpy(dtype=schema.dtype, na_value=np.nan) if frame else array.astype(
            schema.dtype)
    return data


def _numbers(values: np.ndarray[Any, Any], dtype: str) -> np.ndarray[Any, Any] | None:
    """Objects that are numbers and missing values (read_sql's decimals, ``astype(object)``,
    a list with None), as an array of ``dtype`` with NaN for None, as a pickled model takes
    them; None when one is something else (text, a bool) or out of ``dtype``'s range."""
    if not all(value is None or (isinstance(value, (int, float, Decimal, np.integer, np.floating))
                                 and not isinstance(value, bool)) for value in values.flat):
        return None
    try:
        return np.array([np.nan if value is None else value for value in values.flat],
                        dtype=dtype).reshape(values.shape)
    except (OverflowError, TypeError, ValueError):
        return None
