"""Python builtins that JSON cannot say directly, and packed strings.

Large containers of small strings (a vocabulary, class labels, feature names)
are packed into one UTF-8 array: ``"\\x00"``-joined text. That keeps text
models compact and fast to load. The text is decoded and split piece by piece,
so that a load holds no copy of the whole text beside the strings it builds.
"""

from __future__ import annotations

import base64
import codecs
import collections
import math
import re
import struct
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from satchel.errors import FormatError, LimitError
from satchel.format import container
from satchel.format.decoder import BY_KIND, SCALARS, Decoder, required
from satchel.format.encoder import BY_TYPE, MAX_INT_DIGITS, Encoder, Node

PACK_FROM = 32
_FLOATS = frozenset({"nan", "inf", "-inf"})
_BYTES_INLINE = 4096
_TEXT_STEP = 1 << 16  # packed text decoded at a time: at least 4, a UTF-8 character's most


def only(kind: type, items: Iterable[Any]) -> bool:
    """Whether every item's type is exactly ``kind`` (subclasses are not), in C passes
    (a list of the types and a count of ``kind`` in it: three times faster than a set)."""
    types = list(map(type, items))
    return types.count(kind) == len(types)


def pack_strings(encoder: Encoder, items: list[Any]) -> Node | None:
    """A ``strs`` node for a long list of plain strings, else None."""
    if encoder.inline or len(items) < PACK_FROM or not only(str, items):
        return None
    return _pack(encoder, items)


def _pack(encoder: Encoder, items: list[str]) -> Node | None:
    text = "\x00".join(items)
    if text.count("\x00") != len(items) - 1:
        return None  # a string holds NUL itself: keep it as JSON
    try:
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None  # a lone surrogate: the header refuses it with the reason
    return {"$": "strs", "a": encoder.add_array(data), "n": len(items)}


def unpack_strings(decoder: Decoder, node: dict[str, Any]) -> list[str]:
    """The list of strings a ``strs`` node packs."""
    items: list[str] = []
    for batch in _iter_strings(decoder, node):
        items += batch
    return items


def _iter_strings(decoder: Decoder, node: dict[str, Any]) -> Iterator[list[str]]:
    """The strings a ``strs`` node packs, in lists split from about 64 KiB of text each.

    Raises:
        FormatError: the array is not 1-d uint8, its text not UTF-8, or the number of
            strings not the node's ``n``.
    """
    count = required(node, "n", int)
    data = decoder.array(node.get("a"))
    if data.dtype != np.uint8 or data.ndim != 1:
        raise FormatError("packed strings must be a 1-d uint8 array")
    found = 0
    for items in _split(data.data) if count else ():
        found += len(items)
        if found > count:
            raise FormatError(f"packed strings: expected {count}, found more")
        yield items
    if found != count:
        raise FormatError(f"packed strings: expected {count}, found {found}")


def _split(text: memoryview) -> Iterator[list[str]]:
    """The NUL-separated UTF-8 strings of ``text``, decoded and split a step at a time."""
    position, cut = 0, []  # cut: the parts of a string that steps ended inside
    while True:
        end = position + _TEXT_STEP
        final = end >= len(text)
        try:  # a character that ``end`` cuts is left for the next step
            step, used = codecs.utf_8_decode(text[position:end], "strict", final)
        except UnicodeDecodeError as exc:
            raise FormatError(f"packed strings are not valid UTF-8: {exc}") from None
        position += used
        items = step.split("\x00")
        cut.append(items[0])
        if len(items) > 1 or final:
            items[0] = "".join(cut)  # joined once: a long string costs no quadratic copying
            cut = [] if final else [items.pop()]
            yield items
        if final:
            return


def encode_attributes(encoder: Encoder, value: dict[str, Any]) -> Node:
    """A dict node for an object's attributes, with ``.name`` steps in error paths."""
    return {"$": "dict", "v": {k: encoder.child(v, f".{k}") for k, v in value.items()}}


def _int_array(value: dict[str, Any]) -> np.ndarray[Any, Any] | None:
    """The dict's values in the narrowest integer dtype that holds them all; None unless
    they are all ints that one 64-bit integer type holds."""
    if not value or not only(int, value.values()):
        return None
    try:  # one pass in C, then the bounds from the array (a vocabulary holds 200,000)
        wide = np.fromiter(value.values(), dtype=np.int64, count=len(value))
    except OverflowError:  # past int64: uint64 holds them if none is negative
        if min(value.values()) < 0 or max(value.values()) >= 1 << 64:
            return None
        return np.fromiter(value.values(), dtype=np.uint64, count=len(value))
    low, high = int(wide.min()), int(wide.max())
    dtype = np.result_type(np.min_scalar_type(low), np.min_scalar_type(high))
    if dtype.kind == "f":  # a signed and an unsigned type that no integer type holds both of
        dtype = np.dtype(np.int64)
    return wide.astype(dtype, copy=False)


def _encode_dict(encoder: Encoder, value: dict[Any, Any]) -> Node:
    if only(str, value):
        values = _int_array(value) if len(value) >= PACK_FROM else None
        if values is not None:
            keys = None if encoder.inline else _pack(encoder, list(value))
            if keys is not None:
                return {"$": "strdict", "k": keys, "v": encoder.add_array(values)}
        return {"$": "dict", "v": {k: encoder.child(v, f"[{k!r}]") for k, v in value.items()}}
    _refuse_collisions(encoder, list(value))
    return {
        "$": "dict",
        "k": [encoder.child(k, f"<key {i}>") for i, k in enumerate(value)],
        "v": [encoder.child(v, f"[{k!r}]") for k, v in value.items()],
    }


def _decode_dict(decoder: Decoder, node: dict[str, Any]) -> dict[Any, Any]:
    values = node.get("v")
    if isinstance(values, dict):
        # Scalars are taken as they are: no call and no error step built for each.
        return {k: v if type(v) in SCALARS else decoder.child(v, f"[{k!r}]")
                for k, v in values.items()}
    keys = decoder.children(node.get("k"), "dict keys")
    items = decoder.children(values, "dict values")
    if len(keys) != len(items):
        raise FormatError(f"a dict node has {len(keys)} keys and {len(items)} values")
    try:
        _check_collisions(keys, "dict")
        return dict(zip(keys, items, strict=True))
    except TypeError as exc:
        raise FormatError(f"a dict key is not hashable: {exc}") from None


def _decode_strdict(decoder: Decoder, node: dict[str, Any]) -> dict[str, int]:
    keys = required(node, "k", dict)
    count = required(keys, "n", int)
    values = decoder.array(node.get("v"))
    if values.dtype.kind not in "iu" or values.shape != (count,):
        raise FormatError(f"a strdict needs {count} integer values, found {values.dtype}"
                          f" {values.shape}")
    result: dict[str, int] = {}
    done = 0
    for batch in _iter_strings(decoder, keys):  # no list of all keys or values at once
        result.update(zip(batch, values[done:done + len(batch)].tolist(), strict=True))
        done += len(batch)
    return result


def _ordered(value: set[Any] | frozenset[Any]) -> list[Any]:
    """The items of a set in an order that is the same whatever the hash seed, so that
    the same set gives the same bytes. Strings, bytes or ints alone sort as they are;
    anything else (mixed types, tuples, frozensets, whose ``<`` is only a partial order)
    sorts by :func:`_order_key`."""
    items = list(value)
    kinds = set(map(type, items))
    if len(kinds) == 1 and kinds <= {str, bytes, int}:
        return sorted(items)
    return sorted(items, key=_order_key)


def _order_key(item: Any) -> tuple[Any, ...]:
    """A key that orders any hashable items totally: by type, then by value."""
    kind = type(item)
    if kind in (set, frozenset):
        return (kind.__name__, tuple(sorted(map(_order_key, item))))
    if kind is tuple:
        return ("tuple", tuple(map(_order_key, item)))
    if kind in (str, bytes, int, bool):
        return (kind.__name__, item)
    return (f"{kind.__module__}.{kind.__qualname__}", repr(item))  # floats: NaN sorts too


def _decode_items(decoder: Decoder, node: dict[str, Any]) -> list[Any]:
    return decoder.children(node.get("v"), f"{node['$']} items")


def _decode_hashables(decoder: Decoder, node: dict[str, Any]) -> set[Any] | frozenset[Any]:
    items = _decode_items(decoder, node)
    try:
        _check_collisions(items, node["$"])
        return set(items) if node["$"] == "set" else frozenset(items)
    except TypeError as exc:
        raise FormatError(f"a {node['$']} element is not hashable: {exc}") from None


#: Distinct keys one hash may stand for: Python's hash of numbers and tuples has no
#: seed, so a crafted file could make a set or dict of n keys cost n**2 comparisons.
MAX_COLLISIONS = 1000


def _collisions(keys: list[Any]) -> int:
    """How many of ``keys`` share one hash without all being equal, if more than
    :data:`MAX_COLLISIONS` do; else 0 (strings are safe: their hash is seeded per process)."""
    if len(keys) <= MAX_COLLISIONS or only(str, keys):
        return 0
    hashes = list(map(hash, keys))
    common, count = collections.Counter(hashes).most_common(1)[0]
    if count > MAX_COLLISIONS:
        alike = [key for key, found in zip(keys, hashes, strict=True) if found == common]
        if any(key != alike[0] for key in alike):
            return count
    return 0


def _check_collisions(keys: list[Any], what: str) -> None:
    count = _collisions(keys)
    if count:
        raise FormatError(f"a {what} node holds {count} keys of one hash value; a reader"
                          f" accepts at most {MAX_COLLISIONS} (crafted to be slow)")


def _refuse_collisions(encoder: Encoder, keys: list[Any]) -> None:
    """What a reader refuses as crafted to be slow is not written (a writer checks alike)."""
    count = _collisions(keys)
    if count:
        raise encoder.fail(f"{count} of its keys share one hash value; a reader accepts at"
                           f" most {MAX_COLLISIONS}, and refuses more as crafted to be slow")


def _encode_hashables(encoder: Encoder, value: set[Any] | frozenset[Any]) -> Node:
    items = _ordered(value)
    _refuse_collisions(encoder, items)
    return {"$": type(value).__name__, "v": [encoder.child(x, "<item>") for x in items]}


def _encode_bytes(encoder: Encoder, value: bytes | bytearray) -> Node:
    kind = type(value).__name__
    if len(value) <= _BYTES_INLINE or encoder.inline:
        return {"$": kind, "b64": base64.b64encode(value).decode("ascii")}
    return {"$": kind, "a": encoder.add_array(np.frombuffer(bytes(value), dtype=np.uint8))}


def _decode_bytes(decoder: Decoder, node: dict[str, Any]) -> bytes | bytearray:
    if "b64" in node:
        try:
            data = base64.b64decode(required(node, "b64", str), validate=True)
        except ValueError as exc:
            raise FormatError(f"invalid base64 in a bytes node: {exc}") from None
    else:
        array = decoder.array(node.get("a"))
        if array.dtype != np.uint8 or array.ndim != 1:
            raise FormatError("a bytes node must refer to a 1-d uint8 array")
        data = array.tobytes()
    return bytearray(data) if node["$"] == "bytearray" else data


def _numbers(decoder: Decoder, node: dict[str, Any], count: int) -> list[Any]:
    values = required(node, "v", list)
    if len(values) != count:
        raise FormatError(f"a {node['$']} node needs {count} values, found {len(values)}")
    return [decoder.decode(v) for v in values]


def _decode_float(decoder: Decoder, node: dict[str, Any]) -> float:
    text = required(node, "v", str)
    if text not in _FLOATS:
        raise FormatError(f"a float node holds 'nan', 'inf' or '-inf', found {text[:20]!r}")
    if "bits" not in node:  # a new object each: one shared NaN would merge a set's NaNs
        return float(text)
    bits = node["bits"]
    value = 0.0
    if text == "nan" and type(bits) is str and _NAN_BITS.fullmatch(bits):
        value = struct.unpack(">d", bytes.fromhex(bits))[0]
    if not math.isnan(value):  # not a NaN: malformed, or the bits of a number
        raise FormatError(f"a nan float node's bits are the 16 hex digits of a NaN, found"
                          f" {str(bits)[:30]!r}")
    return float(value)


_DECIMAL = re.compile(rf"-?[0-9]{{1,{MAX_INT_DIGITS}}}")
_NAN_BITS = re.compile(r"[0-9a-f]{16}")


def _decode_int(decoder: Decoder, node: dict[str, Any]) -> int:
    text = required(node, "v", str)
    if not _DECIMAL.fullmatch(text):
        raise FormatError(f"an int node holds up to {MAX_INT_DIGITS} decimal digits, found"
                          f" {text[:20]!r}")
    return int(text)


def _decode_complex(decoder: Decoder, node: dict[str, Any]) -> complex:
    real, imag = _numbers(decoder, node, 2)
    if not all(type(x) in (int, float) for x in (real, imag)):
        raise FormatError("a complex node holds two numbers")
    try:
        return complex(real, imag)
    except OverflowError:
        raise FormatError("a complex node's parts are too large") from None


def _range_problem(numbers: range) -> str | None:
    """What is wrong with a range's length, or None.

    A range costs a few bytes however long it is, and numpy and scikit-learn make an
    array of one they are given (a model whose ``intercept_`` is ``range(2**33)`` predicts
    64 GiB for every row): it holds at most :data:`MAX_NODES` numbers, fewer than a header
    could list itself.
    """
    try:
        if len(numbers) <= container.MAX_NODES:
            return None
    except OverflowError:  # more than sys.maxsize numbers
        pass
    return (f"a range holds at most {container.MAX_NODES} numbers"
            f" (satchel.format.container.MAX_NODES), found {str(numbers)[:80]}")


def _encode_range(encoder: Encoder, value: range) -> Node:
    problem = _range_problem(value)
    if problem is not None:
        raise encoder.fail(f"{problem}; save np.arange(...) instead, an array the file holds")
    return {"$": "range", "v": [encoder.encode(value.start), encoder.encode(value.stop),
                                encoder.encode(value.step)]}


def _decode_slice(decoder: Decoder, node: dict[str, Any]) -> slice | range:
    start, stop, step = _numbers(decoder, node, 3)
    if node["$"] == "slice":
        return slice(start, stop, step)
    if not all(type(x) is int for x in (start, stop, step)) or step == 0:
        raise FormatError("a range node holds three integers and a non-zero step")
    numbers = range(start, stop, step)
    problem = _range_problem(numbers)
    if problem is not None:
        raise LimitError(problem)
    return numbers


BY_TYPE.update({
    dict: _encode_dict,
    tuple: lambda e, v: {"$": "tuple", "v": [e.child(x, f"[{i}]") for i, x in enumerate(v)]},
    set: _encode_hashables,
    frozenset: _encode_hashables,
    bytes: _encode_bytes,
    bytearray: _encode_bytes,
    complex: lambda e, v: {"$": "complex", "v": [e.encode(v.real), e.encode(v.imag)]},
    slice: lambda e, v: {"$": "slice", "v": [e.encode(v.start), e.encode(v.stop),
                                            e.encode(v.step)]},
    range: _encode_range,
})

def _decode_list(decoder: Decoder, node: dict[str, Any]) -> list[Any]:
    """A list that later references share: a JSON array in a node that carries its number."""
    items = node.get("v")
    if not isinstance(items, list):
        raise FormatError("a list node's v must be a list")
    return decoder.children(items, "list items")


BY_KIND.update({
    "list": _decode_list,
    "float": _decode_float,
    "int": _decode_int,
    "tuple": lambda d, n: tuple(_decode_items(d, n)),
    "dict": _decode_dict,
    "strdict": _decode_strdict,
    "strs": unpack_strings,
    "set": _decode_hashables,
    "frozenset": _decode_hashables,
    "bytes": _decode_bytes,
    "bytearray": _decode_bytes,
    "complex": _decode_complex,
    "slice": _decode_slice,
    "range": _decode_slice,
})
