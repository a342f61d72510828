"""pandas: Index, Series, DataFrame and categorical data, rebuilt from numpy parts.

pandas objects pickle through pandas internals; satchel stores their columns as
arrays (object columns of strings packed) and rebuilds them with the public
constructors. Its missing-value markers (``pd.NA``, ``pd.NaT``) and the extension
dtypes of plain data (``Int64``, ``boolean``, ``StringDtype``) are stored by name.
pandas is imported only when a file needs it.
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from satchel.errors import FormatError, LimitError, SatchelError
from satchel.format import container
from satchel.format.decoder import BY_KIND, Decoder, required
from satchel.format.encoder import BY_PREDICATE, MEMOIZED, Encoder, Node

_KINDS = ("Index", "RangeIndex", "Series", "DataFrame", "Categorical", "CategoricalDtype")
#: Extension dtypes stored as values by their name; a StringDtype adds its storage and
#: missing-value marker.
_DATA_DTYPE = re.compile(r"U?Int(8|16|32|64)|Float(32|64)|boolean")
#: Extension dtypes rebuilt with pd.array(values, dtype=name).
_EXTENSION_DTYPE = re.compile(rf"str|string(\[python\]|\[pyarrow\])?|{_DATA_DTYPE.pattern}")
#: pandas' classes of the values stored by name: its markers and plain-data dtypes.
_VALUE_CLASSES = frozenset({"NAType", "NaTType", "StringDtype", "BooleanDtype", "Float32Dtype",
                            "Float64Dtype", *(f"{sign}Int{bits}Dtype" for sign in ("", "U")
                                              for bits in (8, 16, 32, 64))})
_STRING_STORAGE = ("python", "pyarrow")
#: Whether the pandas object being read or written is the index of a Series or of a
#: DataFrame with columns: only there, where the columns must be as long, may a RangeIndex
#: hold more than MAX_NODES numbers. It costs a few bytes however long it is, and numpy
#: makes an array of one it is given (a model whose intercept_ is a RangeIndex of 2**33
#: predicts 64 GiB a row).
_INDEX_OF_COLUMNS = contextvars.ContextVar("satchel_index_of_columns", default=False)


def _within(index_of_columns: bool, make: Callable[[], Any]) -> Any:
    """``make()`` with :data:`_INDEX_OF_COLUMNS` set to ``index_of_columns``."""
    token = _INDEX_OF_COLUMNS.set(index_of_columns)
    try:
        return make()
    finally:
        _INDEX_OF_COLUMNS.reset(token)


def _range_index_problem(length: int, index_of_columns: bool) -> str | None:
    """What is wrong with a RangeIndex of ``length`` numbers where it stands, or None."""
    if length <= container.MAX_NODES or index_of_columns:
        return None
    return (f"a RangeIndex of {length} numbers: one holds at most {container.MAX_NODES}"
            " (satchel.format.container.MAX_NODES) unless it is the index of a Series, or of"
            " a DataFrame with columns, which are as long")


def _pandas_kind(value: Any) -> str | None:
    kind = type(value)
    if kind.__module__.split(".")[0] != "pandas":
        return None
    name = kind.__name__
    return name if name in _KINDS else None


def _encode_value(encoder: Encoder, value: Any) -> Node:
    """A missing-value marker or an extension dtype of plain data."""
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return {"$": "pandas", "kind": name[:-len("Type")]}
    if name != "StringDtype":
        return {"$": "pandas", "kind": "dtype", "dtype": value.name}
    if value.storage not in _STRING_STORAGE:
        raise encoder.fail(f"a StringDtype stored as {value.storage!r} is not supported:"
                           " satchel stores 'python' and 'pyarrow' (pd.StringDtype('python'))")
    return {"$": "pandas", "kind": "dtype", "dtype": "string", "storage": value.storage,
            "na_value": "NA" if type(value.na_value).__name__ == "NAType" else "nan"}


def _values(encoder: Encoder, values: Any, step: str) -> Node:
    """A column's values: a Categorical node, or a numpy array node."""
    import pandas as pd  # noqa: PLC0415

    if isinstance(values.dtype, pd.CategoricalDtype):
        return encoder.child(pd.Categorical(values), step)
    if not isinstance(values.dtype, np.dtype):
        name = str(values.dtype)
        if not _EXTENSION_DTYPE.fullmatch(name):
            raise encoder.fail(f"pandas dtype {name} is not supported")
        objects = np.array(values, dtype=object)  # a copy: pandas may give a read-only view
        objects[pd.isna(objects)] = None
        return {"$": "pandas", "kind": "array", "dtype": name,
                "values": encoder.child(objects, step)}
    array = np.asarray(values)
    if array.dtype.kind == "O" or array.dtype.kind in "biufcMmSUV":
        return encoder.child(array, step)
    raise encoder.fail(f"pandas dtype {values.dtype} is not supported")


def _name(encoder: Encoder, name: Any) -> Any:
    """An Index or Series name: plain JSON, or an ``int``/``float`` node for a number JSON
    cannot hold (NaN, infinities, integers past 64 bits)."""
    if not (name is None or type(name) in (str, int, float, bool)):
        raise encoder.fail(f"pandas names must be strings or numbers, not {type(name).__name__}")
    return encoder.encode(name)


def _encode_pandas(encoder: Encoder, value: Any) -> Node:
    if type(value).__name__ in _VALUE_CLASSES:
        return _encode_value(encoder, value)
    index_of_columns = _INDEX_OF_COLUMNS.get()
    node: Node = _within(False, lambda: _encode_parts(encoder, value, index_of_columns))
    if node["kind"] in ("Series", "DataFrame"):
        if value.attrs:
            node["attrs"] = encoder.child(dict(value.attrs), ".attrs")
        if not value.flags.allows_duplicate_labels:
            node["unique_labels"] = True
    return node


def _encode_parts(encoder: Encoder, value: Any, index_of_columns: bool) -> Node:
    kind = _pandas_kind(value)
    if kind == "RangeIndex":
        problem = _range_index_problem(len(value), index_of_columns)
        if problem is not None:
            raise encoder.fail(f"{problem}; save it as an Index of its values instead")
        return {"$": "pandas", "kind": kind, "v": [value.start, value.stop, value.step],
                "name": _name(encoder, value.name)}
    if kind == "Index":
        return {"$": "pandas", "kind": kind, "values": _values(encoder, value, ".values"),
                "name": _name(encoder, value.name)}
    if kind == "Series":
        return {"$": "pandas", "kind": kind, "values": _values(encoder, value, ".values"),
                "index": _within(True, lambda: encoder.child(value.index, ".index")),
                "name": _name(encoder, value.name)}
    if kind == "DataFrame":
        return {"$": "pandas", "kind": kind,
                "columns": encoder.child(value.columns, ".columns"),
                "index": _within(value.shape[1] > 0, lambda: encoder.child(value.index,
                                                                            ".index")),
                "data": [_values(encoder, value.iloc[:, i], f".iloc[:, {i}]")
                         for i in range(value.shape[1])]}
    if kind == "Categorical":
        return {"$": "pandas", "kind": kind, "codes": encoder.child(value.codes, ".codes"),
                "dtype": encoder.child(value.dtype, ".dtype")}
    if kind == "CategoricalDtype":
        return {"$": "pandas", "kind": kind,
                "categories": encoder.child(value.categories, ".categories"),
                "ordered": bool(value.ordered)}
    raise encoder.fail(f"pandas {type(value).__name__} is not supported: satchel stores an"
                       " Index of numpy or string values, a RangeIndex, Series, DataFrame and"
                       " Categorical. Convert it (.to_numpy(), or .reset_index() for a frame)")


def _decode_pandas(decoder: Decoder, node: dict[str, Any]) -> Any:
    try:
        import pandas as pd  # noqa: PLC0415
    except ImportError:
        raise FormatError("the file holds pandas objects; install pandas"
                          " (pip install 'satchel[pandas]')") from None
    index_of_columns = _INDEX_OF_COLUMNS.get()
    built = _within(False, lambda: _decode_kind(pd, decoder, node))
    if isinstance(built, pd.RangeIndex):
        problem = _range_index_problem(len(built), index_of_columns)
        if problem is not None:
            raise LimitError(problem)
    return built


def _decode_kind(pd: Any, decoder: Decoder, node: dict[str, Any]) -> Any:
    kind = required(node, "kind", str)
    if kind in ("NA", "NaT"):
        return pd.NA if kind == "NA" else pd.NaT
    if kind == "dtype":
        return _data_dtype(pd, node)
    parts = _parts(decoder, kind, node)
    try:
        built = _build(pd, kind, node, parts, decoder)
        if kind in ("Series", "DataFrame"):
            built = _restore_extras(built, node, decoder)
        return built
    except SatchelError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, NotImplementedError,
            OverflowError) as exc:  # pandas' own errors for values it refuses
        raise FormatError(f"invalid pandas {kind}: {exc}") from None


def _parts(decoder: Decoder, kind: str, node: dict[str, Any]) -> dict[str, Any]:
    """The parts of a pandas node, decoded in the order the node holds them, which is the
    order they were saved in: a part may refer to an object another part defines (a
    DataFrame's index that is its columns)."""
    keys = {"values", "index", "columns", "codes", "categories", *(
        ("dtype",) if kind == "Categorical" else ())}
    # A Series has values as long as its index; a DataFrame has them if it has columns.
    columns = kind == "Series" or (kind == "DataFrame" and node.get("data") != [])
    return {key: _within(key == "index" and columns,
                         functools.partial(decoder.child, value, f".{key}"))
            for key, value in node.items() if key in keys}


def _restore_extras(built: Any, node: dict[str, Any], decoder: Decoder) -> Any:
    """``attrs`` and the flag that refuses duplicate labels, where they were saved."""
    if "attrs" in node:
        attrs = decoder.child(node["attrs"], ".attrs")
        if type(attrs) is not dict:
            raise ValueError("attrs must be a dict")
        built.attrs = attrs
    unique = node.get("unique_labels", False)
    if unique not in (True, False):
        raise ValueError("unique_labels must be true or false")
    return built.set_flags(allows_duplicate_labels=False) if unique else built


def _build(pd: Any, kind: str, node: dict[str, Any], parts: dict[str, Any],
           decoder: Decoder) -> Any:
    name = node.get("name")
    if type(name) is dict and name.get("$") in ("int", "float"):
        name = decoder.child(name, ".name")
    if not (name is None or type(name) in (str, int, float, bool)):
        raise ValueError("a pandas name must be a string, a number or null")
    if kind == "RangeIndex":
        start, stop, step = required(node, "v", list)
        return pd.RangeIndex(int(start), int(stop), int(step), name=name)
    if kind == "Index":
        return pd.Index(parts["values"], name=name, dtype=_index_dtype(parts["values"]))
    if kind == "Series":
        _check_column(pd, parts["values"], parts["index"])
        return pd.Series(parts["values"], index=parts["index"], name=name, copy=False,
                         dtype=_index_dtype(parts["values"]))
    if kind == "DataFrame":
        index = parts["index"]
        columns = [pd.Series(column, index=index, dtype=object, copy=False)
                   if _index_dtype(column) is object else column
                   for column in decoder.children(node.get("data"), "DataFrame columns")]
        for column in columns:
            _check_column(pd, column, index)
        frame = pd.DataFrame(dict(enumerate(columns)), index=index, copy=False)
        frame.columns = parts["columns"]
        return frame
    if kind == "Categorical":
        codes, dtype = parts["codes"], parts["dtype"]
        if not isinstance(codes, np.ndarray) or codes.dtype.kind != "i" or (
                codes.size and (codes.min() < -1 or codes.max() >= len(dtype.categories))):
            raise ValueError("codes must index the categories")
        return pd.Categorical.from_codes(codes, dtype=dtype)
    if kind == "array":
        dtype = required(node, "dtype", str)
        if not _EXTENSION_DTYPE.fullmatch(dtype):
            raise ValueError(f"extension dtype {dtype[:40]!r} is not supported")
        values = parts["values"]
        # pd.array lists any iterable: a range node of a few bytes would be terabytes.
        if not isinstance(values, np.ndarray) or values.ndim != 1:
            raise ValueError(f"an extension array's values must be a 1-d array (as satchel"
                             f" saves them), found {type(values).__name__}")
        if _WRAPS_PAST_RANGE and dtype[0] in "IU" and values.dtype == object:
            _check_range(dtype, values)
        return pd.array(values, dtype=dtype)
    if kind == "CategoricalDtype":
        return pd.CategoricalDtype(parts["categories"], ordered=bool(node.get("ordered")))
    raise ValueError(f"unknown kind {kind[:40]!r}")


#: numpy before 2 casts a Python integer past an integer dtype's range with a DeprecationWarning
#: where numpy 2 raises OverflowError: pandas refuses the array either way, but the warning
#: would reach the user of a crafted file.
_WRAPS_PAST_RANGE = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def _check_range(dtype: str, values: np.ndarray[Any, Any]) -> None:
    info = np.iinfo(dtype.lower())
    if any(type(v) is int and not info.min <= v <= info.max for v in values):
        raise ValueError(f"values past the range of {dtype}, {info.min} to {info.max}")


def _data_dtype(pd: Any, node: dict[str, Any]) -> Any:
    """An extension dtype of plain data: by name, or a string dtype of its storage and
    missing-value marker."""
    name = required(node, "dtype", str)
    if _DATA_DTYPE.fullmatch(name):
        return pd.api.types.pandas_dtype(name)
    if name != "string":
        raise FormatError(f"invalid pandas dtype: expected Int8 to UInt64, Float32, Float64,"
                          f" boolean or string, found {name[:40]!r}")
    storage, na_value = node.get("storage"), node.get("na_value")
    if storage not in _STRING_STORAGE or na_value not in ("NA", "nan"):
        raise FormatError(f"invalid pandas string dtype: expected storage 'python' or 'pyarrow'"
                          f" and na_value 'NA' or 'nan', found {str(storage)[:40]!r} and"
                          f" {str(na_value)[:40]!r}")
    try:
        return pd.StringDtype(storage, na_value=pd.NA if na_value == "NA" else np.nan)
    except ImportError:
        raise FormatError("the file holds a string dtype stored by pyarrow; install pyarrow"
                          " (pip install pyarrow)") from None
    except TypeError:  # pandas before 2.3 takes no na_value: its strings miss with pd.NA
        if na_value == "NA":
            return pd.StringDtype(storage)
        raise FormatError(f"the file holds a string dtype whose missing value is NaN, which"
                          f" pandas {pd.__version__} has not; install pandas 2.3 or later"
                          f" (pip install 'pandas>=2.3')") from None


def _check_column(pd: Any, values: Any, index: Any) -> None:
    """A column's values are an array of one value per row: pandas would repeat a scalar
    over the index, which a file of a few bytes can make billions of rows long."""
    if not isinstance(index, pd.Index):
        raise ValueError("the index must be an Index")
    if not isinstance(values, (np.ndarray, pd.api.extensions.ExtensionArray, pd.Series)) or (
            values.ndim != 1 or len(values) != len(index)):
        raise ValueError(f"a column must hold one value for each of the {len(index)} rows")


def _index_dtype(values: Any) -> Any:
    """``object`` for an object array: pandas would infer its own dtype for strings."""
    return object if isinstance(values, np.ndarray) and values.dtype == object else None


def _is_pandas(value: Any) -> bool:
    """One of the kinds stored, a value stored by name, or another Index (MultiIndex,
    DatetimeIndex...), refused."""
    kind = type(value)
    return kind.__module__.split(".")[0] == "pandas" and (
        kind.__name__ in _KINDS or kind.__name__ in _VALUE_CLASSES
        or kind.__name__.endswith("Index"))


BY_PREDICATE.append((_is_pandas, _encode_pandas))
MEMOIZED.add(_encode_pandas)
BY_KIND["pandas"] = _decode_pandas
