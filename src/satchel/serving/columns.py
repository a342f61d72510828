"""The fast path for JSON rows: checked value by value against a frame schema, kept as columns.

MLflow's JSON formats carry plain values. For a model with a frame schema,
when every column of the schema is named exactly once, no other column is,
and every value already has its column's type (an int for an integer column,
an int or a float for a float64 column, a bool for a boolean one, a str for
text and categories; no nulls), the rows need no DataFrame to be checked:
they are kept as one list per column, in the schema's order. Anything else (a
missing or extra column, a null, a date, an ``index``) is left to the general
path, which builds the DataFrame and reports every problem, so both paths
accept and reject the same requests and hand the model the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from satchel.schema import InputSchema

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _integer(value: Any) -> bool:
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


def _number(value: Any) -> bool:
    return type(value) is float or _integer(value)


def _boolean(value: Any) -> bool:
    return type(value) is bool


def _text(value: Any) -> bool:
    return type(value) is str


#: schema kind -> (value check, numpy dtype of the column; None: text, left to pandas)
_KINDS: dict[str, tuple[Callable[[Any], bool], str | None]] = {
    "integer": (_integer, "int64"), "boolean": (_boolean, "bool"),
    "string": (_text, None), "category": (_text, None), "object": (_text, None),
}


@dataclass(frozen=True)
class Layout:
    """What the fast path needs of a frame schema: names, value checks and dtypes."""

    names: tuple[str, ...]
    checks: tuple[Callable[[Any], bool], ...]
    dtypes: tuple[str | None, ...]
    index: dict[str, int]


def layout(schema: InputSchema | None) -> Layout | None:
    """The fast-path layout of ``schema``, or None when it has a column the path leaves out."""
    if schema is None or not schema.is_frame:
        return None
    checks, dtypes = [], []
    for column in schema.columns:
        found = (_number, "float64") if column.kind == "float" else _KINDS.get(column.kind)
        if found is None or (column.kind == "float" and column.dtype != "float64"):
            return None  # dates, other float widths, unknown kinds: the general path
        checks.append(found[0])
        dtypes.append(found[1])
    names = tuple(c.name for c in schema.columns)
    return Layout(names, tuple(checks), tuple(dtypes), {n: i for i, n in enumerate(names)})


@dataclass(frozen=True)
class Columns:
    """Checked rows as one list per column, in the schema's order."""

    layout: Layout
    values: tuple[list[Any], ...]

    def __len__(self) -> int:
        return len(self.values[0])

    @staticmethod
    def concat(parts: list[Columns]) -> Columns:
        """The rows of ``parts`` one after the other (all of the same layout)."""
        joined = tuple([value for part in parts for value in part.values[i]]
                       for i in range(len(parts[0].values)))
        return Columns(parts[0].layout, joined)

    def array(self, position: int) -> Any:
        """Column ``position`` as a numpy array (text as an object array)."""
        return np.array(self.values[position], dtype=self.layout.dtypes[position] or object)

    def frame(self) -> Any:
        """A DataFrame with the dtypes the general path gives the same rows after validation."""
        import pandas as pd  # noqa: PLC0415

        return pd.DataFrame({
            name: np.array(values, dtype=dtype) if dtype else values
            for name, values, dtype in zip(self.layout.names, self.values, self.layout.dtypes,
                                           strict=True)})


def columns(kind: str, value: Any, found: Layout) -> Columns | None:
    """``value`` (the body's ``kind`` member) as checked columns, or None for the general path."""
    if kind == "dataframe_split":
        if type(value) is not dict or value.keys() != {"columns", "data"}:
            return None
        return _rows(value["data"], value["columns"], found)
    records = kind == "dataframe_records"
    if type(value) is dict and not records:
        return _mapping(value, found)
    if type(value) is not list or not value:
        return None
    if type(value[0]) is list and not records:
        return _rows(value, list(found.names), found)
    names = list(value[0]) if type(value[0]) is dict else None
    if names is None or not all(type(row) is dict and list(row) == names for row in value):
        return None
    if len(value) < LOOP_FROM:
        return _rows([list(row.values()) for row in value], names, found)
    if not _fits(names, found):
        return None
    return _checked([[row[name] for row in value] for name in found.names], found)


#: Rows from this many on are gathered into columns by Python loops, between whose steps
#: the event loop answers other requests; one ``zip(*rows)``, a C call, held the interpreter
#: for a quarter of a second on 200,000 rows. Fewer rows take that call, which is faster.
LOOP_FROM = 1024


def _rows(rows: Any, names: Any, found: Layout) -> Columns | None:
    """Rows of values named by ``names`` (every row as wide as ``names``)."""
    width = len(found.names)
    if (type(rows) is not list or not rows or not _fits(names, found)
            or not all(type(row) is list and len(row) == width for row in rows)):
        return None
    if len(rows) < LOOP_FROM:
        by_name = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))
        return _checked([by_name[name] for name in found.names], found)
    position = {name: i for i, name in enumerate(names)}
    return _checked([[row[i] for row in rows] for i in map(position.get, found.names)], found)


def _fits(names: Any, found: Layout) -> bool:
    """Whether ``names`` are the layout's column names, in any order.

    Names that are not all strings (a list among a dataframe_split's columns) are the general
    path's to report: a set of them raised TypeError, a 500.
    """
    return (type(names) is list and len(names) == len(found.names)
            and all(type(name) is str for name in names) and set(names) == found.index.keys())


def _mapping(value: dict[str, Any], found: Layout) -> Columns | None:
    """A mapping of column name to a list of values (or one value)."""
    if value.keys() != found.index.keys():
        return None
    lists = [v if type(v) is list else [v] for v in (value[name] for name in found.names)]
    if not lists[0] or any(len(values) != len(lists[0]) for values in lists):
        return None
    return _checked(lists, found)


def _checked(lists: list[list[Any]], found: Layout) -> Columns | None:
    if all(all(map(check, values)) for check, values in zip(found.checks, lists, strict=True)):
        return Columns(found, tuple(lists))
    return None
