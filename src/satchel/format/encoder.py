"""Python objects -> (JSON tree, list of arrays).

The encoder walks an object graph once. Every value becomes a JSON node: plain
JSON for ``None``, booleans, 64-bit integers, finite floats, strings and lists;
an object ``{"$": kind, ...}`` for everything else. Numeric arrays go to the
array section and are referred to by index. Handlers for each type family live
in :mod:`satchel.format.handlers` and register themselves here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from satchel.errors import EncodeError
from satchel.format.container import NESTED_TOO_DEEP, Stored
from satchel.format.decoder import MAX_DEPTH

Node = Any
EncodeFn = Callable[["Encoder", Any], Node]

#: Exact type -> handler. Filled by the handler modules.
BY_TYPE: dict[type, EncodeFn] = {}
#: (predicate, handler) tried in order for types not in BY_TYPE.
BY_PREDICATE: list[tuple[Callable[[Any], bool], EncodeFn]] = []
#: Handler for everything else (set by handlers.objects).
FALLBACK: list[EncodeFn] = []
#: Handlers whose values are stored once however often they are referred to, like
#: those of :data:`_MEMO_TYPES` (pandas objects, sparse matrices). Filled by the handlers.
MEMOIZED: set[EncodeFn] = set()

#: Types stored once however often they are referred to (identity matters: a forest's
#: trees share one RandomState, and a shared array must not be stored twice).
_MEMO_TYPES = (np.ndarray, np.random.RandomState, np.random.Generator, np.random.BitGenerator)
#: Containers stored once too (a search's best_params_ is one of its cv_results_' params);
#: lists as well, through :meth:`Encoder.encode_list`. A container cannot hold itself: it
#: is rebuilt from its items, which would need it first.
_CONTAINERS = frozenset({dict, set, frozenset, bytearray})
_INT64_MIN, _UINT64_MAX = -(1 << 63), (1 << 64) - 1
#: The most decimal digits an ``int`` node holds (readers refuse more).
MAX_INT_DIGITS = 4000
#: The bits of the NaN Python's float("nan") gives, which a float node needs no "bits" for.
_QUIET_NAN = struct.pack("<d", math.nan)


def _non_finite(value: float) -> Node:
    """A float node for NaN or an infinity; a NaN with a sign or payload keeps its bits."""
    if not math.isnan(value):
        return {"$": "float", "v": repr(value)}
    bits = struct.pack("<d", value)
    if bits == _QUIET_NAN:
        return {"$": "float", "v": "nan"}
    return {"$": "float", "v": "nan", "bits": bits[::-1].hex()}


class Encoder:
    """Holds the arrays found so far and the objects already encoded."""

    def __init__(self, inline: bool = False) -> None:
        self.inline = inline  # every array in the tree itself, none in the array section
        self.arrays: list[Stored] = []
        self._memo: dict[int, dict[str, Any]] = {}
        self._keep: list[Any] = []  # keeps ids unique while encoding
        self._refs = 0
        self._path: list[str] = []
        self._member_slots: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        self._lists: dict[int, Node] = {}  # id of a list -> its node (None while encoding)
        self._shared_lists: dict[int, int] = {}  # id of a list node -> its "@" number

    @property
    def path(self) -> str:
        """Where the encoder is, as ``steps[0][1].func``."""
        return "".join(self._path).lstrip(".") or "<root>"

    def add_array(self, array: Stored) -> int:
        """Put ``array`` in the array section and return its index."""
        self.arrays.append(array)
        return len(self.arrays) - 1

    def child(self, value: Any, step: str) -> Node:
        """Encode ``value`` found at ``step`` below the current path."""
        self._path.append(step)
        try:
            if len(self._path) > MAX_DEPTH:
                raise self.fail(f"it nests deeper than {MAX_DEPTH} levels, which a reader"
                                " refuses")
            return self.encode(value)
        finally:
            self._path.pop()

    def encode(self, value: Any) -> Node:
        """Encode any supported value."""
        kind = type(value)
        if kind is str or kind is bool or value is None:
            return value
        if kind is int:
            if _INT64_MIN <= value <= _UINT64_MAX:
                return value
            return self._big_int(value)
        if kind is float:
            if value - value == 0.0:  # finite
                return value
            return _non_finite(value)
        if kind is list:
            return self.encode_list(value)
        handler = BY_TYPE.get(kind)
        if handler is None:
            handler = next((h for test, h in BY_PREDICATE if test(value)), FALLBACK[0])
        if isinstance(value, _MEMO_TYPES) or handler is FALLBACK[0] or kind in _CONTAINERS \
                or handler in MEMOIZED:
            return self.memoized(value, handler)
        return handler(self, value)

    def encode_list(self, items: list[Any]) -> Node:
        """Lists of many strings are packed, of many trees stored as columns; others
        become JSON arrays. A list met again becomes a reference to the first."""
        from satchel.format.handlers.builtins import pack_strings  # noqa: PLC0415
        from satchel.format.handlers.columns import encode_members  # noqa: PLC0415

        if id(items) in self._lists:
            return self._list_reference(self._lists[id(items)])
        self._lists[id(items)] = None  # being encoded
        self._keep.append(items)
        node: Node = pack_strings(self, items)
        if node is None:
            node = encode_members(self, items)
        if node is None:
            node = [self.child(item, f"[{i}]") for i, item in enumerate(items)]
        self._lists[id(items)] = node
        return node

    def _list_reference(self, node: Node) -> Node:
        if node is None:
            raise self.fail("a list that contains itself cannot be saved")
        if type(node) is dict:  # packed: the node itself can carry the number
            return self._reference(node)
        if id(node) not in self._shared_lists:
            self._shared_lists[id(node)] = self._next_number()
        return {"$": "ref", "to": self._shared_lists[id(node)]}

    def _reference(self, first: dict[str, Any]) -> Node:
        if "@" not in first:
            first["@"] = self._next_number()
        return {"$": "ref", "to": first["@"]}

    def _next_number(self) -> int:
        """The next unused ``@`` number."""
        self._refs += 1
        return self._refs - 1

    def unseen(self, values: list[Any]) -> bool:
        """Whether ``values`` are distinct objects none of which was encoded already
        (a later use of an encoded object becomes a reference to it)."""
        ids = set(map(id, values))
        return len(ids) == len(values) and self._memo.keys().isdisjoint(ids)

    def remember_members(self, node: dict[str, Any], members: list[Any]) -> None:
        """Let later uses of objects stored as columns refer to them.

        Each member gets a slot; :meth:`finish` writes the reference numbers that
        later uses gave the slots into the node's ``refs``.
        """
        slots: list[dict[str, Any]] = [{} for _ in members]
        self._memo.update(zip(map(id, members), slots, strict=True))
        self._keep.extend(members)
        self._member_slots.append((node, slots))

    def finish(self, tree: Node) -> Node:
        """Complete the nodes that depend on the whole tree; return the tree."""
        for node, slots in self._member_slots:
            if any("@" in slot for slot in slots):
                node["refs"] = [slot.get("@") for slot in slots]
        if self._shared_lists:
            return _number_lists(tree, self._shared_lists)
        return tree

    def memoized(self, value: Any, handler: EncodeFn) -> Node:
        """Encode ``value`` once; later occurrences become references to it."""
        key = id(value)
        first = self._memo.get(key)
        if first is not None:
            # Only an instance is registered before its contents (FORMAT.md, section 3);
            # anything else is rebuilt from them, which would need it first.
            if first.get("$") == "pending" and handler is not FALLBACK[0]:
                raise self.fail(f"a {type(value).__name__} that contains itself cannot be saved")
            return self._reference(first)
        node = {"$": "pending"}
        self._memo[key] = node
        self._keep.append(value)
        node.update(handler(self, value))
        return node

    def _big_int(self, value: int) -> Node:
        try:
            text = str(value)
        except ValueError:  # past Python's own limit on int-to-text conversion
            text = ""
        if not text or len(text.lstrip("-")) > MAX_INT_DIGITS:
            raise self.fail(f"an integer of more than {MAX_INT_DIGITS} decimal digits cannot be"
                            " saved; store it as bytes (value.to_bytes(...)) instead")
        return {"$": "int", "v": text}

    def fail(self, message: str) -> EncodeError:
        """An :class:`EncodeError` that says where in the object it happened."""
        return EncodeError(f"cannot save {self.path}: {message}")


def encode(obj: Any, inline: bool = False) -> tuple[Node, list[Stored]]:
    """Encode ``obj``, returning the JSON tree and the arrays it refers to.

    With ``inline``, arrays are stored in the tree (base64) and the list is
    empty: for small data kept in metadata, such as a check sample.
    """
    import satchel.format.handlers  # noqa: F401, PLC0415 - registers the handlers

    encoder = Encoder(inline)
    try:
        tree = encoder.finish(encoder.encode(obj))
    except RecursionError:  # before MAX_DEPTH: a dict level takes several Python frames
        raise EncodeError(f"cannot save: {NESTED_TOO_DEEP}") from None
    return tree, encoder.arrays


def _number_lists(tree: Node, numbers: dict[int, int]) -> Node:
    """``tree`` with each plain list node that later references share wrapped in a
    ``list`` node carrying its number (a JSON array cannot carry one).

    The walk goes in document order and stops at the last such list: a shared list
    is usually met first among an estimator's parameters, before its fitted state.
    """
    number = numbers.get(id(tree))
    left = len(numbers) - (number is not None)
    stack = [tree]
    while stack and left:
        node = stack.pop()
        found = []
        for key, value in (node.items() if type(node) is dict else enumerate(node)):
            kind = type(value)
            if kind is dict or kind is list:
                found.append(value)
                wrap = numbers.get(id(value))
                if wrap is not None:
                    node[key] = {"$": "list", "v": value, "@": wrap}
                    left -= 1
        stack += reversed(found)
    return tree if number is None else {"$": "list", "v": tree, "@": number}
