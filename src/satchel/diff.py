"""diff: how two satchel files differ, read from their headers and arrays only.

Nothing is imported or executed: the object trees are walked side by side,
arrays are compared by checksum and, when shapes agree, by value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from satchel import checks
from satchel.errors import FormatError
from satchel.format import reader
from satchel.format.arrays import Progress
from satchel.format.container import ArraySpec
from satchel.format.decoder import collect_names, decode_inline
from satchel.format.handlers.numpy_ import inline_array
from satchel.format.trust import TrustPolicy
from satchel.inspection import FileLike, opened
from satchel.metadata import Metadata
from satchel.schema import Column, InputSchema, OutputSchema


@dataclass(frozen=True)
class Change:
    """One difference: where, what kind, and the two sides in words."""

    path: str
    kind: str  # "value", "type", "array", "added", "removed", "metadata"
    left: str
    right: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}: {self.left} -> {self.right}"


class _Side:
    def __init__(self, file: FileLike, progress: Progress | None, which: str) -> None:
        # Which of the two files it is: its path, or its place for a file object.
        self.name = name = (os.fspath(file) if isinstance(file, (str, os.PathLike))
                            else f"the {which} file")
        try:
            with opened(file) as handle:
                self.source, self.header = reader.read_verified(handle, progress)
            # as inspect and load read it: a malformed field is named, not a traceback
            self.record = Metadata.from_json(self.header.metadata)
            collect_names(self.header.tree)  # its depth and size within a reader's limits
        except FormatError as exc:
            raise type(exc)(f"{name}: {exc}") from None

    def spec(self, node: dict[str, Any]) -> ArraySpec | None:
        """The array table's entry an ``nd`` node names; None for an inline array, whose
        ``b64`` load reads first.

        Raises:
            FormatError: the node names no entry of the table.
        """
        if "b64" in node:
            return None
        index = node.get("a")
        if type(index) is not int or not 0 <= index < len(self.header.arrays):
            raise FormatError(f"{self.name}: array index {_short(index)} is not in the array"
                              f" table (0..{len(self.header.arrays) - 1})")
        return self.header.arrays[index]

    def array(self, node: dict[str, Any]) -> np.ndarray[Any, Any]:
        """The array an ``nd`` node holds, as load reads it."""
        spec = self.spec(node)
        try:
            if spec is None:
                return inline_array(node)
            return self.source.array(self.header, node["a"], verify=False)
        except FormatError as exc:  # a malformed inline array, a shape its bytes cannot take
            raise type(exc)(f"{self.name}: {exc}") from None


def diff(left: FileLike, right: FileLike, *,
         progress: Progress | None = None) -> list[Change]:
    """Every difference between two files: parameters, structure, arrays and metadata.

    ``progress(done, total)`` is called while each file is read (for progress bars).

    Raises:
        IntegrityError: a file is damaged (its message names the file, as do the rest).
        LimitError: a file's tree nests deeper, or holds more nodes, than a reader accepts.
        FormatError: a file is no satchel file, or its header is malformed.

    Example:
        >>> for change in satchel.diff("v1.satchel", "v2.satchel"):  # doctest: +SKIP
        ...     print(change)
    """
    differ = _Differ(_Side(left, progress, "first"), _Side(right, progress, "second"))
    differ.walk(differ.a.header.tree, differ.b.header.tree, "")
    return differ.out + _metadata_changes(differ.a.record, differ.b.record)


def _describe(node: Any) -> str:
    if isinstance(node, dict):
        kind = node.get("$")
        name = node.get("cls") or node.get("name")
        return f"{kind} {name}" if name else str(kind)
    return type(node).__name__


class _Differ:
    """Walks two object trees side by side, collecting changes."""

    def __init__(self, a: _Side, b: _Side) -> None:
        self.a, self.b = a, b
        self.out: list[Change] = []

    def add(self, path: str, kind: str, left: str, right: str) -> None:
        self.out.append(Change(path.lstrip(".") or "<root>", kind, left, right))

    def walk(self, x: Any, y: Any, path: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            self.walk_node(x, y, path)
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                self.add(path, "value", f"{len(x)} items", f"{len(y)} items")
            for i, (p, q) in enumerate(zip(x, y, strict=False)):
                self.walk(p, q, f"{path}[{i}]")
        elif x != y:
            self.add(path, "value", _short(x), _short(y))

    def walk_node(self, x: dict[str, Any], y: dict[str, Any], path: str) -> None:
        if x.get("$") != y.get("$") or x.get("cls") != y.get("cls"):
            self.add(path, "type", _describe(x), _describe(y))
        elif x.get("$") == "nd":
            self.compare_arrays(x, y, path)
        elif x.get("$") == "npscalar":
            if x != y:
                self.add(path, "value", _scalar(x), _scalar(y))
        elif x.get("$") == "dict" and isinstance(x.get("v"), dict) and isinstance(
                y.get("v"), dict):
            self.walk_mapping(x["v"], y["v"], path, transparent=False)
        else:
            keys = [k for k in x if k not in ("$", "@")]
            self.walk_mapping({k: x[k] for k in keys}, {k: y.get(k) for k in keys}, path,
                              transparent=True)

    def walk_mapping(self, x: dict[str, Any], y: dict[str, Any], path: str,
                     transparent: bool) -> None:
        for key, value in x.items():
            step = path if transparent and key in ("state", "v") else f"{path}.{key}"
            if key in y:
                self.walk(value, y[key], step)
            else:
                self.add(step, "removed", _short(value), "-")
        for key, value in y.items():
            if key not in x:
                self.add(f"{path}.{key}", "added", "-", _short(value))

    def compare_arrays(self, x: dict[str, Any], y: dict[str, Any], path: str) -> None:
        if x == y and "a" not in x:
            return
        first, second = self.a.spec(x), self.b.spec(y)
        if first is not None and second is not None and (
                (first.digest, first.dtype, first.shape) == (second.digest, second.dtype,
                                                             second.shape)):
            return
        left, right = self.a.array(x), self.b.array(y)
        if left.shape != right.shape or left.dtype != right.dtype:
            self.add(path, "array", f"{left.dtype} {left.shape}",
                                   f"{right.dtype} {right.shape}")
        elif not np.array_equal(left, right, equal_nan=left.dtype.kind in _MISSING):
            self.add(path, "array", "values", _array_gap(left, right))


#: The dtype kinds whose missing value (NaN, NaT) is unequal to itself, as array_equal found.
_MISSING = "fcmM"


def _array_gap(left: np.ndarray[Any, Any], right: np.ndarray[Any, Any]) -> str:
    """How many values of two arrays of one shape and dtype differ, and for numbers by how
    much at most (a complex number's gap is the modulus of the difference); a missing value
    on both sides is no difference, and one on one side only is counted apart."""
    unequal = left != right
    if left.dtype.kind in _MISSING:
        unequal &= ~(np.isnan(left) & np.isnan(right))
    differ = int(np.count_nonzero(unequal))
    if left.dtype.kind not in "iufc":
        return f"{differ} of {left.size} entries differ"
    wide = np.result_type(left.dtype, np.float64)  # integers as floats: their gaps overflow
    gaps = np.abs(left[unequal].astype(wide) - right[unequal].astype(wide))
    measured = gaps[~np.isnan(gaps)]
    words = [f"{differ} of {left.size} values differ"]
    if measured.size:
        words.append(f"largest difference {float(measured.max()):.4g}")
    if measured.size < differ:
        words.append(f"{differ - measured.size} missing (NaN) on one side")
    return ", ".join(words)


class _NamesNothing(TrustPolicy):
    """A numpy scalar is data: decoding one for a diff trusts no class or function."""

    def trusts(self, role: Any, name: str) -> bool:
        return False


def _scalar(node: dict[str, Any]) -> str:
    """A numpy scalar node as its value and dtype (``200 (int64)``), not its bytes in hex;
    its hex and dtype as they are if they do not make a scalar."""
    try:
        value = decode_inline(node, _NamesNothing())
    except FormatError:
        return f"hex {_short(node.get('hex'))} ({_short(node.get('dtype'))})"
    return f"{_short(value.item())} ({value.dtype})"


def _short(value: Any) -> str:
    text = _describe(value) if isinstance(value, dict) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: What of the saving environment besides the packages can change a model's behaviour (its
#: creation time and satchel's version cannot).
_PLATFORM = ("python", "implementation", "platform")


def _metadata_changes(a: Metadata, b: Metadata) -> list[Change]:
    changes = [Change(f"environment.{key}", "metadata", str(a.environment.get(key)),
                      str(b.environment.get(key)))
               for key in _PLATFORM if a.environment.get(key) != b.environment.get(key)]
    left = a.environment.get("packages", {})
    right = b.environment.get("packages", {})
    changes += [Change(f"environment.{name}", "metadata", str(left.get(name)),
                       str(right.get(name)))
                for name in sorted(set(left) | set(right)) if left.get(name) != right.get(name)]
    changes += _code_changes(a.code, b.code)
    changes += _check_changes(a.check, b.check)
    changes += _input_changes(a.input_schema, b.input_schema)
    changes += _output_changes(a.output_schema, b.output_schema)
    mine, theirs = a.user, b.user
    changes += [Change(f"user.{key}", "metadata", _short(mine[key]) if key in mine else "-",
                       _short(theirs[key]) if key in theirs else "-")
                for key in sorted(set(mine) | set(theirs)) if mine.get(key) != theirs.get(key)]
    return changes


def _input_changes(a: InputSchema | None, b: InputSchema | None) -> list[Change]:
    """Each column added, removed or of another dtype, kind or nullability; for schemas
    that are not both frames, the two schemas in words."""
    if a == b:
        return []
    if a is None or b is None or not (a.is_frame and b.is_frame):
        return [Change("schema.input", "metadata", _input_words(a), _input_words(b))]
    left, right = ({c.name: _column_words(c) for c in schema.columns} for schema in (a, b))
    changes = [Change(f"schema.input[{name!r}]", "metadata", left.get(name, "-"),
                      right.get(name, "-"))
               for name in [*left, *(name for name in right if name not in left)]
               if left.get(name) != right.get(name)]
    if not changes:  # the same columns in another order
        changes.append(Change("schema.input", "metadata", f"columns {list(left)}"[:60],
                              f"columns {list(right)}"[:60]))
    return changes


def _input_words(schema: InputSchema | None) -> str:
    if schema is None:
        return "none"
    if schema.is_frame:
        return f"a frame of {len(schema.columns)} columns"
    return f"an array of {schema.n_features} features ({schema.dtype})"


def _column_words(column: Column) -> str:
    return f"{column.kind} ({column.dtype}){', nullable' if column.nullable else ''}"


def _output_changes(a: OutputSchema | None, b: OutputSchema | None) -> list[Change]:
    """The prediction dtype and the classes, where they differ."""
    left, right = (schema or OutputSchema() for schema in (a, b))
    changes = []
    if left.dtype != right.dtype:
        changes.append(Change("schema.output.dtype", "metadata", str(left.dtype),
                              str(right.dtype)))
    if left.classes != right.classes:
        changes.append(Change("schema.output.classes", "metadata", _short(left.classes),
                              _short(right.classes)))
    return changes


def _code_changes(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[Change]:
    """Each custom module whose source (by its hash), providing distribution or version
    differs, or that one file records and the other does not: the same tree may run other
    code."""
    left, right = ({str(r["module"]): _code_words(r) for r in records} for records in (a, b))
    return [Change(f"code.{module}", "metadata", left.get(module, "-"), right.get(module, "-"))
            for module in sorted(set(left) | set(right)) if left.get(module) != right.get(module)]


def _code_words(record: dict[str, Any]) -> str:
    source = record.get("source_sha256")
    words = [f"source {str(source)[:12]}" if source else "no source"]
    if record.get("distribution"):
        words.append(f"{record['distribution']} {record.get('version')}")
    if "source" in record:
        words.append("embedded")
    return ", ".join(words)


def _check_changes(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[Change]:
    """Whether the check samples hold other rows, and each method whose stored outputs
    differ (two versions of a model that predict otherwise on the same rows), compared as
    stored: nothing is decoded."""
    if a == b:
        return []
    left, right = (_check_parts(check) for check in (a, b))
    changes = []
    if left[0] != right[0]:
        other = "other " if a and b and a["rows"] == b["rows"] else ""
        changes.append(Change("check.input", "metadata", f"{a['rows']} rows" if a else "none",
                              f"{b['rows']} {other}rows" if b else "none"))
    for method in checks.METHODS:
        before, after = left[1].get(method), right[1].get(method)
        if before != after:
            changes.append(Change(f"check.{method}", "metadata", "-" if before is None else
                                  "outputs", "-" if after is None else "other outputs"
                                  if before is not None else "outputs"))
    return changes


def _check_parts(check: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """(rows and input, outputs by method) of a check sample as stored."""
    if check is None:
        return None, {}
    stored = check["tree"].get("v")
    stored = stored if isinstance(stored, dict) else {}
    outputs = stored.get("outputs")
    found = outputs.get("v") if isinstance(outputs, dict) else None
    return (check["rows"], stored.get("input")), found if isinstance(found, dict) else {}
