"""(JSON tree, array section) -> Python objects, under a trust policy.

Decoding runs in two passes. :func:`collect_names` walks the tree without
building anything, enforces the depth limit and lists every name the file uses
with its role; the :class:`~satchel.format.trust.TrustPolicy` refuses untrusted
names before any import. Only then does :class:`Decoder` build objects, through
the handlers registered in :data:`BY_KIND`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from satchel.errors import FormatError, LimitError, SatchelError, UntrustedTypesError
from satchel.format import container
from satchel.format.container import Header
from satchel.format.reader import Source
from satchel.format.trust import ROLES, Role, TrustPolicy, dotted

Node = Any
DecodeFn = Callable[["Decoder", dict[str, Any]], Any]

#: Node kind -> handler. Filled by the handler modules.
BY_KIND: dict[str, DecodeFn] = {}
#: Node kind -> (key naming a class or function, its role).
NAMED_KINDS: dict[str, tuple[str, Role]] = {}

MAX_DEPTH = 200
SCALARS = frozenset({str, int, float, bool, type(None)})
_CONTAINERS = frozenset({dict, list})
#: Keys whose values are data, never nodes: the name walk does not enter them.
DATA_KEYS = frozenset({"$", "@", "to", "a", "n", "b64", "hex", "dtype", "shape", "order",
                       "name", "cls", "kind"})


def collect_names(tree: Node) -> set[tuple[Role, str]]:
    """Every (role, name) the tree uses, found without importing anything.

    The tree is walked a level at a time: the depth is checked once per level,
    and each level's containers are gathered by one comprehension per node.

    Raises:
        LimitError: the tree nests deeper than :data:`MAX_DEPTH`.
        FormatError: a node is not of a known kind.
    """
    uses: set[tuple[Role, str]] = set()
    level: list[Node] = [tree] if type(tree) in _CONTAINERS else []
    count = depth = 0
    limit = container.MAX_NODES  # read now: a user may raise it
    while level:
        if depth > MAX_DEPTH:
            raise LimitError(f"the object tree nests deeper than {MAX_DEPTH} levels")
        count += len(level)
        below: list[Node] = []
        for node in level:
            if type(node) is list:
                below += [child for child in node if type(child) in _CONTAINERS]
                continue
            kind = node.get("$")
            if type(kind) is not str:
                raise FormatError(f"a node's kind must be a string, found {type(kind).__name__}")
            if kind == "ref":  # the commonest kinds first
                continue
            if kind == "same":
                children: Iterable[Node] = (node.get("v"),)
            elif kind in ("dict", "cols") and type(node.get("v")) is dict:
                children = node["v"].values()
            else:
                if kind not in BY_KIND:
                    raise FormatError(f"unknown node kind {kind[:40]!r}: the file is damaged"
                                      " or was written by a newer satchel")
                if kind in ("objs", "news") and type(node.get("n")) is int:
                    # Each member is an object built, with one value per column.
                    count += max(node["n"], 0) * max(_columns(node), 1)
                named = NAMED_KINDS.get(kind)
                if named is not None:
                    name = node.get(named[0])
                    if type(name) is not str:
                        raise FormatError(f"a {kind!r} node must name a {named[1]} as a string")
                    uses.add((named[1], name))
                children = [v for k, v in node.items() if k not in DATA_KEYS]
                if kind == "pandas" and "dtype" in node:  # a Categorical's dtype is a node
                    children.append(node["dtype"])
            below += [child for child in children if type(child) in _CONTAINERS]
        if count > limit:
            raise LimitError(f"the object tree holds more than {limit} nodes"
                             " (satchel.format.container.MAX_NODES)")
        level = below
        depth += 1
    return uses


def _columns(node: dict[str, Any]) -> int:
    """How many columns (attributes and constructor arguments) an objs/news node has."""
    state, args = node.get("state"), node.get("args")
    columns = state.get("v") if type(state) is dict else None
    return (len(columns) if type(columns) is dict else 0) + (
        len(args) if type(args) is list else 0)


class Decoder:
    """Builds objects from one file's tree and arrays."""

    def __init__(self, header: Header, source: Source, policy: TrustPolicy,
                 verify: bool) -> None:
        self.header = header
        self.source = source
        self.policy = policy
        self.verify = verify
        self.memo: dict[int, Any] = {}
        self._resolved: dict[tuple[Role, str], Any] = {}
        self._arrays: dict[int, np.ndarray[Any, Any]] = {}
        self._depth = 0

    def resolve(self, role: Role, name: str) -> Any:
        """The trusted object ``name`` names, imported once per load."""
        key = (role, name)
        if key not in self._resolved:
            if not self.policy.trusts(role, name):  # collect_names listed it already
                raise UntrustedTypesError([dotted(name)])
            self._resolved[key] = self.policy.resolve(role, name)
        return self._resolved[key]

    def array(self, index: Any) -> np.ndarray[Any, Any]:
        """Array ``index`` of the array section."""
        if type(index) is not int or not 0 <= index < len(self.header.arrays):
            raise FormatError(f"array index {index!r} is not in the array table"
                              f" (0..{len(self.header.arrays) - 1})")
        found = self._arrays.get(index)
        if found is None:
            found = self._arrays[index] = self.source.array(self.header, index, self.verify)
        return found

    def decode(self, node: Node) -> Any:
        """Build the value ``node`` describes."""
        if isinstance(node, dict):
            kind = node.get("$")
            handler = BY_KIND.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise FormatError(f"unknown node kind {str(node.get('$'))[:40]!r}")
            value = handler(self, node)
            if "@" in node and node.get("$") not in SELF_REGISTERING:
                self.remember(node, value)
            return value
        if isinstance(node, list):
            return self.children(node, "a list")
        return node

    def child(self, node: Node, step: str | int) -> Any:
        """Decode ``node`` at ``step`` (an attribute path or a list index), adding
        ``step`` to the path of any error."""
        if type(node) in SCALARS:
            return node
        if type(node) is dict and len(node) == 2:  # a plain reference needs no handler call
            number = node.get("to")
            if type(number) is int and node.get("$") == "ref" and number in self.memo:
                return self.memo[number]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LimitError(f"the object tree nests deeper than {MAX_DEPTH} levels")
            return self.decode(node)
        except UntrustedTypesError:
            raise
        except SatchelError as exc:
            raise _with_step(exc, step if type(step) is str else f"[{step}]") from exc.__cause__
        finally:
            self._depth -= 1

    def remember(self, node: dict[str, Any], value: Any) -> None:
        """Record ``value`` under the node's ``@`` number for later references."""
        number = node["@"]
        if type(number) is not int or number in self.memo:
            raise FormatError(f"reference number {number!r} is invalid or used twice")
        self.memo[number] = value

    def children(self, nodes: Any, what: str) -> list[Any]:
        """Decode each node of a list, with their positions in error paths (scalars are
        taken without a call each)."""
        if not isinstance(nodes, list):
            raise FormatError(f"{what} must be a list")
        return [item if type(item) in SCALARS else self.child(item, i)
                for i, item in enumerate(nodes)]


#: Kinds whose handler registers the value itself (before decoding its state,
#: so that cycles resolve).
SELF_REGISTERING: set[str] = set()


def _with_step(exc: SatchelError, step: str) -> SatchelError:
    steps = [step, *getattr(exc, "satchel_path", [])]
    message = str(exc.args[0]) if exc.args else ""
    plain = getattr(exc, "satchel_message", message)
    try:
        new = type(exc)(f"at {''.join(steps).lstrip('.')}: {plain}")
    except TypeError:
        new = exc
    new.satchel_path = steps  # type: ignore[attr-defined]
    new.satchel_message = plain  # type: ignore[attr-defined]
    return new


def decode(header: Header, source: Source, policy: TrustPolicy, verify: bool) -> Any:
    """Check trust, then build the object of a parsed file."""
    import satchel.format.handlers  # noqa: F401, PLC0415 - registers the handlers

    policy.check(collect_names(header.tree))
    return Decoder(header, source, policy, verify).decode(header.tree)


def decode_inline(tree: Node, policy: TrustPolicy) -> Any:
    """Build a tree that refers to no array section (see ``encode(..., inline=True)``)."""
    empty = Header((0, 0), "", tree, (), {}, 0, 0, 0)
    return decode(empty, Source(np.empty(0, dtype=np.uint8), writable=True), policy, True)


def required(node: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``node[key]``, which must be of ``kind``."""
    value = node.get(key)
    if not isinstance(value, kind) or (kind is int and type(value) is bool):
        raise FormatError(f"a {node.get('$')!r} node needs {key!r} of type"
                          f" {getattr(kind, '__name__', kind)}, found {type(value).__name__}")
    return value


__all__ = ["BY_KIND", "NAMED_KINDS", "ROLES", "SCALARS", "Decoder", "collect_names", "decode",
           "required"]
