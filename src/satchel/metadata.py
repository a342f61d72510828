"""The artifact metadata a satchel file carries, as a frozen, strictly decoded record.

It lives in the header's ``metadata`` object, outside the content digest:

``environment``
    where the model was saved (:func:`satchel.environment.capture`);
``schema``
    ``{"input": ..., "output": ...}`` (:mod:`satchel.schema`);
``check``
    the check sample (:mod:`satchel.checks`);
``code``
    custom code records (:mod:`satchel.custom_code`);
``user``
    whatever the caller passed as ``metadata=``.

A file is untrusted input: every field is type-checked on read and an unknown
field is refused with its location.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from satchel import environment
from satchel.errors import EncodeError, FormatError
from satchel.schema import Column, InputSchema, OutputSchema

_FIELDS = {"environment": dict, "schema": dict, "check": dict, "code": list, "user": dict}
#: Packages an environment may record: a save records the few a model needs, and a load
#: looks each one up.
MAX_PACKAGES = 1000


@dataclass(frozen=True)
class Metadata:
    """Everything a file records about its model besides the model itself."""

    environment: dict[str, Any] = field(default_factory=dict)
    input_schema: InputSchema | None = None
    output_schema: OutputSchema | None = None
    check: dict[str, Any] | None = None
    code: list[dict[str, Any]] = field(default_factory=list)
    user: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The header's metadata object."""
        data: dict[str, Any] = {"environment": self.environment}
        if self.input_schema is not None or self.output_schema is not None:
            data["schema"] = {
                "input": self.input_schema.to_json() if self.input_schema else None,
                "output": self.output_schema.to_json() if self.output_schema else None,
            }
        if self.check is not None:
            data["check"] = self.check
        if self.code:
            data["code"] = self.code
        if self.user:
            data["user"] = self.user
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metadata:
        """Decode the header's metadata object strictly.

        Raises:
            FormatError: an unknown field, or a field of the wrong type, named by
                its location (``metadata.schema.input.columns[2].kind``).
        """
        for key, value in data.items():
            kind = _FIELDS.get(key)
            if kind is None:
                raise FormatError(f"metadata.{key}: unknown field; expected one of"
                                  f" {sorted(_FIELDS)}")
            if not isinstance(value, kind):
                raise FormatError(f"metadata.{key}: expected {kind.__name__}, found"
                                  f" {type(value).__name__}")
        schema = data.get("schema", {})
        _check_environment(data.get("environment", {}))
        try:
            return cls(
                environment=data.get("environment", {}),
                input_schema=_input(schema.get("input")),
                output_schema=_output(schema.get("output")),
                check=_check(data.get("check")),
                code=_records(data.get("code", [])),
                user=data.get("user", {}),
            )
        except FormatError:
            raise  # names the field where it is (metadata.check, metadata.code[2])
        except (TypeError, KeyError, ValueError) as exc:
            raise FormatError(f"metadata.schema: malformed ({exc})") from None


def user_data(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata=`` as the JSON data a file keeps and gives back as it was given.

    Raises:
        EncodeError: ``given`` is no dict, or holds what JSON does not (NaN, which was
            stored as null; a date, which came back as text; a set, an array), named by
            where it is (``metadata['run']['when']``).
    """
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise EncodeError(f"metadata: expected a dict of JSON data, such as {{'owner':"
                          f" 'growth'}}, found {type(given).__name__}")
    result: dict[str, Any] = json_data(given, "metadata", EncodeError, header=True)
    return result


def python_scalar(value: Any) -> Any:
    """The Python number, bool or string a numpy scalar holds; anything else unchanged.

    A float of less than 64 bits becomes the number it prints as: np.float32(0.91) is
    0.91, which a filter ``auc = 0.91`` finds, not 0.9100000262260437.
    """
    if isinstance(value, np.floating):
        return float(str(value)) if value.itemsize < 8 else float(value)
    return value.item() if isinstance(value, np.generic) else value


#: How deeply JSON data may nest (a structure that contains itself never ends).
MAX_DEPTH = 32


#: What a file's JSON header holds of an integer: int64's and uint64's range.
_HEADER_INTEGERS = (-(1 << 63), (1 << 64) - 1)
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_data(value: Any, where: str, error: type[Exception], depth: int = 0, *,
              header: bool = False) -> Any:
    """``value`` as JSON data: numpy scalars become Python numbers, tuples lists.

    ``header``: the data goes into a file's header, whose JSON holds integers of 64 bits
    and text that is valid Unicode only.

    Raises:
        error: naming where the value is and what it is.
    """
    value = python_scalar(value)
    if header:
        _check_header_value(value, where, error)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise error(f"{where}: expected a finite number, found {value!r}; JSON has no NaN"
                        " or infinity")
        return value
    if depth >= MAX_DEPTH:
        raise error(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise error(f"{where}: expected string keys, found the {type(key).__name__}"
                            f" key {str(key)[:40]!r}")
            if header:
                _check_header_value(key, f"{where}: the key {key[:40]!r}", error)
            result[str(key)] = json_data(item, f"{where}[{key[:40]!r}]", error, depth + 1,
                                         header=header)
        return result
    if isinstance(value, (list, tuple)):
        return [json_data(item, f"{where}[{i}]", error, depth + 1, header=header)
                for i, item in enumerate(value)]
    raise error(
        f"{where}: expected JSON data (a string, a number, a bool, None, or a list or dict"
        f" of them), found {type(value).__module__}.{type(value).__qualname__}; convert it"
        " first, for example a date with .isoformat() or an array with .tolist()")


def _check_header_value(value: Any, where: str, error: type[Exception]) -> None:
    """Refuse an integer or text that a file's JSON header cannot hold, naming where it is."""
    if isinstance(value, int) and not isinstance(value, bool) and not (
            _HEADER_INTEGERS[0] <= value <= _HEADER_INTEGERS[1]):
        raise error(f"{where}: expected an integer of at most 64 bits (-2**63 to 2**64 - 1),"
                    f" found one of {value.bit_length()} bits; store it as text (str(n))")
    surrogate = _SURROGATE.search(value) if isinstance(value, str) else None
    if surrogate is not None:
        raise error(f"{where}: expected valid Unicode text, found a lone surrogate"
                    f" {surrogate.group()!r} at position {surrogate.start()} (as os.fsdecode"
                    " makes of bytes that are not UTF-8); decode the bytes as UTF-8 first")


_ENVIRONMENT = {"satchel", "created", "python", "implementation", "platform", "packages"}


def _check_environment(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key not in _ENVIRONMENT:
            raise FormatError(f"metadata.environment.{key}: unknown field; expected one of"
                              f" {sorted(_ENVIRONMENT)}")
        if key != "packages" and not isinstance(value, str):
            raise FormatError(f"metadata.environment.{key}: expected a string")
    packages = data.get("packages", {})
    if not isinstance(packages, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in packages.items()):
        raise FormatError("metadata.environment.packages: expected an object of name: version"
                          " strings")
    if len(packages) > MAX_PACKAGES:  # each is looked up at load
        raise FormatError(f"metadata.environment.packages: expected at most {MAX_PACKAGES}"
                          f" packages (a save records those the model needs), found"
                          f" {len(packages)}")


def _input(data: Any) -> InputSchema | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise FormatError("metadata.schema.input: expected an object")
    if data.get("kind") == "frame":
        columns = data["columns"]
        for i, column in enumerate(columns):
            if not isinstance(column, dict) or set(column) != {"name", "dtype", "kind",
                                                               "nullable"} or not (
                    isinstance(column["name"], str) and isinstance(column["dtype"], str)
                    and isinstance(column["kind"], str)
                    and isinstance(column["nullable"], bool)):
                raise FormatError(f"metadata.schema.input.columns[{i}]: expected name, dtype,"
                                  " kind and nullable")
            problem = _dtype_problem(column["dtype"], frame=True)
            if problem is not None:
                raise FormatError(f"metadata.schema.input.columns[{i}].dtype: expected the"
                                  f" dtype of a DataFrame column, found {problem}")
        return InputSchema(columns=tuple(Column(**c) for c in columns))
    if data.get("kind") == "array" and set(data) == {"kind", "n_features", "dtype"}:
        count = data["n_features"]
        if count is not None and type(count) is not int:
            raise FormatError("metadata.schema.input.n_features: expected an integer")
        dtype = data["dtype"]
        problem = ("not a string" if not isinstance(dtype, str)
                   else _dtype_problem(dtype, frame=False)) if dtype is not None else None
        if problem is not None:
            raise FormatError("metadata.schema.input.dtype: expected the name of a numpy"
                              f" dtype or null, found {problem}")
        return InputSchema(n_features=count, dtype=dtype)
    raise FormatError("metadata.schema.input: expected kind 'frame' or 'array'")


#: Longer than any dtype name pandas or numpy gives a column
#: (``datetime64[ns, America/Argentina/ComodRivadavia]`` is 48 characters).
MAX_DTYPE_NAME = 200


@functools.lru_cache(maxsize=256)  # thousands of columns share a few dtypes
def _dtype_problem(dtype: str, *, frame: bool) -> str | None:
    """What is wrong with a schema's dtype name, or None.

    A column's dtype is what its input is cast to before a prediction, so it must not
    be, or wrap (``Sparse[...]``, ``interval[...]``), a numpy type whose values take a
    size the text chooses: ``V1000000000`` takes a gigabyte a row. A DataFrame column
    never has one. An array's dtype must be one numpy reads.
    """
    shown = repr(dtype[:60]) + ("..." if len(dtype) > 60 else "")
    if len(dtype) > MAX_DTYPE_NAME:
        return f"{shown}, a name of {len(dtype)} characters (at most {MAX_DTYPE_NAME})"
    inner = dtype[dtype.find("[") + 1:dtype.rfind("]")] if frame and "[" in dtype else ""
    for text in (dtype, *((inner, *inner.split(", ")) if inner else ())):
        try:
            found = np.dtype(text.strip())
        except (TypeError, ValueError, SyntaxError):  # a pandas name, or no dtype at all
            if not frame:
                return f"{shown}, which numpy does not read as a dtype"
            continue
        if (frame and found.kind in "SUV" and found.itemsize) or found.fields is not None \
                or found.subdtype is not None:  # "str" or "S" alone: as long as the data
            return (f"{shown}, a numpy type of a chosen size (text, bytes or void of N, a"
                    " record or a sub-array)")
    return None


def _output(data: Any) -> OutputSchema | None:
    if data is None:
        return None
    if (not isinstance(data, dict) or set(data) != {"dtype", "classes"}
            or not isinstance(data["classes"], list)):
        raise FormatError("metadata.schema.output: expected dtype and a list of classes")
    return OutputSchema(dtype=data["dtype"], classes=data["classes"])


def _check(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    if set(data) != {"rows", "tree"} or type(data["rows"]) is not int or not isinstance(
            data["tree"], dict):
        raise FormatError("metadata.check: expected rows (an integer) and tree (a node)")
    return dict(data)


_RECORD = {"module", "names", "distribution", "version", "source_sha256", "source"}


def _records(data: list[Any]) -> list[dict[str, Any]]:
    """The code records, one a module, as a save writes them: a module recorded twice would
    leave load to choose between two distributions or sources, and to look it up again."""
    records: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(data):
        record = _record(item, index)
        if record["module"] in records:
            raise FormatError(f"metadata.code[{index}]: module {record['module']!r:.80} is"
                              " recorded twice, expected one record a module; the file was"
                              " altered after it was saved")
        records[record["module"]] = record
    return list(records.values())


def _record(data: Any, index: int) -> dict[str, Any]:
    where = f"metadata.code[{index}]"
    if not isinstance(data, dict) or not set(data) <= _RECORD or "module" not in data:
        raise FormatError(f"{where}: expected a record with {sorted(_RECORD)}")
    if not isinstance(data["module"], str) or not isinstance(data.get("names", []), list):
        raise FormatError(f"{where}: module must be a string and names a list")
    if "source" in data and not isinstance(data["source"], str):
        raise FormatError(f"{where}.source: expected a string")
    distribution, version = data.get("distribution"), data.get("version")
    if distribution is not None and not environment.is_pin(distribution, version or "0"):
        # load's MissingCodeError words them as a command: pip install 'name==version'
        raise FormatError(f"{where}: expected the name and version of the distribution that"
                          f" provides the module, such as 'acme-features' and '2.1.0', found"
                          f" {distribution!r:.80} and {version!r:.80}; the file was altered"
                          " after it was saved")
    return dict(data)


def whole_number(value: object) -> int | None:
    """``value`` as a Python int if it is a whole number from 0 of any integer type (a
    numpy integer too; not a bool), else None."""
    if isinstance(value, bool):
        return None
    with contextlib.suppress(TypeError):
        number = operator.index(value)  # type: ignore[arg-type]
        return number if number >= 0 else None
    return None
