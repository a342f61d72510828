"""Array dtypes in the header: described as JSON at save, parsed back strictly at load.

A simple dtype is its string (``'<f8'``), a record dtype an object of names,
formats, offsets and itemsize; nothing else is read (no object fields, no
sub-arrays, no titles). ``docs/FORMAT.md`` (section 3) is the specification.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from satchel.errors import FormatError

#: Limits a reader enforces (see FORMAT.md, "Limits"): read at each call, so that a user
#: who trusts a file past one can raise it.
MAX_NDIM = 32
MAX_ITEMSIZE = 1 << 20
_SIMPLE_DTYPE = re.compile(r"[<>|][biufcSUV]\d{1,7}|[<>|][Mm]8(\[\d{0,6}[a-zA-Z]{1,2}\])?")


@functools.lru_cache(maxsize=256)
def dtype_to_json(dtype: np.dtype[Any]) -> Any:
    """Describe a dtype as JSON: a string for simple dtypes, an object for records.

    Cached: reading a record dtype's fields is slow, and forests repeat one per tree.
    The result is shared, so callers must not modify it.
    """
    if dtype.hasobject:
        raise FormatError(f"dtype {dtype} holds Python objects and cannot go in the array section")
    if dtype.fields is None:
        if dtype.subdtype is not None:
            raise FormatError(f"sub-array dtype {dtype} is not supported; use a wider shape")
        return dtype.str
    names = list(dtype.names or ())
    if not names:
        raise FormatError(f"record dtype {dtype} has no fields")
    if any(len(dtype.fields[n]) > 2 for n in names):
        raise FormatError(f"record dtype {dtype} has field titles, which are not supported;"
                          " rename the fields instead")
    return {
        "names": names,
        "formats": [dtype_to_json(dtype.fields[n][0]) for n in names],
        "offsets": [int(dtype.fields[n][1]) for n in names],
        "itemsize": dtype.itemsize,
    }


@functools.lru_cache(maxsize=256)
def storable_dtype(dtype: np.dtype[Any], sized: bool = True) -> Any:
    """:func:`dtype_to_json` of a dtype that a reader takes back (:func:`dtype_from_json`,
    ``sized`` as the node it goes in is read): a writer never writes what a reader refuses.

    Raises:
        FormatError: ``dtype`` cannot be stored, or not as a reader accepts it.
    """
    described = dtype_to_json(dtype)
    try:
        dtype_from_json(described, "dtype", sized=sized)
    except FormatError as exc:
        raise FormatError(f"dtype {dtype} is past what a reader accepts: {exc}") from None
    return described


def storable_arrays(arrays: Sequence[np.ndarray[Any, Any]]) -> Any:
    """:func:`storable_dtype` of arrays of one dtype and dimension count that a reader
    takes back: at most :data:`MAX_NDIM` dimensions, text within Unicode.

    Raises:
        FormatError: the arrays cannot be stored, or not as a reader accepts them.
    """
    first = arrays[0]
    check_ndim(first.ndim)
    described, text = _array_dtype(first.dtype)
    if text:
        for array in arrays:
            check_text(array, "an array")  # code points numpy stores but cannot read
    return described


def check_ndim(ndim: int) -> None:
    """Refuse to store an array of more dimensions than a reader accepts.

    Raises:
        FormatError: ``ndim`` is past :data:`MAX_NDIM`.
    """
    if ndim > MAX_NDIM:
        raise FormatError(f"an array of {ndim} dimensions cannot be saved; a reader accepts"
                          f" at most {MAX_NDIM} (reshape it)")


@functools.lru_cache(maxsize=256)
def _array_dtype(dtype: np.dtype[Any]) -> tuple[Any, bool]:
    """An array dtype's description, and whether it holds text."""
    return storable_dtype(dtype, True), bool(text_fields(dtype))


_DTYPES: dict[str | bytes, np.dtype[Any]] = {}


def dtype_from_json(spec: Any, where: str, *, sized: bool = True) -> np.dtype[Any]:
    """Rebuild a dtype from :func:`dtype_to_json` output, refusing anything else.

    Only a scalar or a dtype value may have no size (``np.str_('')`` is ``<U0``):
    an array's dtype must be ``sized``.

    Forests repeat the same record dtype for every tree: parsed ones are cached,
    simple ones under their text and records under their JSON.
    """
    try:
        key = spec if type(spec) is str else orjson.dumps(spec) if isinstance(spec, dict) else b""
    except orjson.JSONEncodeError:  # orjson's own limit on nesting (255 levels)
        raise FormatError(f"{where}: a record dtype nested too deep") from None
    found = _DTYPES.get(key)
    if found is None:
        found = _parse_dtype(spec, where)
        if len(_DTYPES) < 1024:
            _DTYPES[key] = found
    if sized and not found.itemsize:
        raise FormatError(f"{where}: dtype {found} has no size, which only a scalar may have")
    return found


#: Record dtypes that an array's equal dtype is replaced by when it is decoded:
#: ``(module, attribute)``, looked up in ``sys.modules`` (nothing is imported).
#: Compiled classes compare their nodes' dtype at every ``__setstate__``, and the
#: same object compares at once. Filled by the handlers.
KNOWN_DTYPES: list[tuple[str, str]] = []


def known_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The entry of :data:`KNOWN_DTYPES` equal to the record dtype ``dtype``, else ``dtype``."""
    for module, attribute in KNOWN_DTYPES:
        known = getattr(sys.modules.get(module), attribute, None)
        if isinstance(known, np.dtype) and known == dtype:
            return known
    return dtype


@functools.lru_cache(maxsize=256)
def text_fields(dtype: np.dtype[Any]) -> tuple[str | None, ...]:
    """The fields of ``dtype`` that hold Unicode text (``None``: the dtype itself)."""
    if dtype.kind == "U":
        return (None,)
    fields: Mapping[str, tuple[Any, ...]] = dtype.fields or {}
    return tuple(name for name, (field, *_) in fields.items() if field.kind == "U")


def check_text(array: np.ndarray[Any, Any], where: str) -> None:
    """Refuse Unicode text holding a code point past U+10FFFF, which numpy stores but
    cannot turn into a Python string (a ``SystemError`` at the first ``tolist``)."""
    for field in text_fields(array.dtype):
        text = array if field is None else array[field]
        order = text.dtype.byteorder if text.dtype.byteorder in "<>" else "="
        codes = np.ascontiguousarray(text).view(f"{order}u4")
        if codes.size and int(codes.max()) > 0x10FFFF:
            raise FormatError(f"{where}: Unicode text holds a code point past U+10FFFF")


def _parse_dtype(spec: Any, where: str) -> np.dtype[Any]:
    if isinstance(spec, str):
        if not _SIMPLE_DTYPE.fullmatch(spec):
            raise FormatError(
                f"{where}: expected a simple dtype such as '<f8', found {spec[:40]!r}"
            )
        try:
            dtype = np.dtype(spec)
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{where}: {spec!r} is not a dtype numpy knows: {exc}") from None
    elif isinstance(spec, dict) and set(spec) == {"names", "formats", "offsets", "itemsize"}:
        names, formats, offsets = spec["names"], spec["formats"], spec["offsets"]
        if not (
            isinstance(names, list)
            and names  # a writer refuses a record of no fields (dtype_to_json)
            and isinstance(formats, list)
            and isinstance(offsets, list)
            and len(names) == len(formats) == len(offsets)
            and all(isinstance(n, str) for n in names)
            and all(type(o) is int and 0 <= o < MAX_ITEMSIZE for o in offsets)
            and type(spec["itemsize"]) is int
            and 0 < spec["itemsize"] <= MAX_ITEMSIZE
        ):
            raise FormatError(f"{where}: malformed record dtype")
        fields = [dtype_from_json(f, f"{where}.formats") for f in formats]
        try:
            dtype = np.dtype(
                {"names": names, "formats": fields, "offsets": offsets,
                 "itemsize": spec["itemsize"]}
            )
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{where}: invalid record dtype: {exc}") from None
    else:
        raise FormatError(f"{where}: expected a dtype string or record object, found {spec!r:.60}")
    if dtype.hasobject or not 0 <= dtype.itemsize <= MAX_ITEMSIZE:
        raise FormatError(f"{where}: dtype {dtype} is not allowed in the array section")
    return dtype
