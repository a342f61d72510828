"""Many objects of one class, stored column by column.

A forest holds hundreds of trees and a boosted model hundreds of predictors:
objects of one class whose attributes have the same names. Stored one by one,
each would cost its own nodes, arrays, table entries and checks. Stored as
columns, an attribute that is an array in every member becomes one
concatenated array (each member gets a view of its rows), a scalar that every
member shares is stored once, and a class's batch validator checks all members
in one vectorised pass.

Only classes registered in :data:`COLUMNAR` are stored this way, and only when
every member reduces the plain way (``obj`` or ``new`` with a dict of
attributes, the same names in the same order). ``docs/FORMAT.md`` describes the
nodes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from satchel.errors import FormatError
from satchel.format import container
from satchel.format.container import INLINE_MAX, Joined
from satchel.format.decoder import BY_KIND, NAMED_KINDS, Decoder, required
from satchel.format.dtypes import known_dtype, storable_arrays, text_fields
from satchel.format.encoder import Encoder, Node
from satchel.format.handlers.builtins import only
from satchel.format.handlers.objects import (
    ARGS,
    after_checks,
    attempt,
    reduced,
    run_check,
    set_state,
    state_check,
)

#: Rows of each member, per concatenated column: (base array, row counts).
Bases = dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]


@dataclass(frozen=True)
class Batch:
    """Checks of a columnar class over all members at once.

    ``args`` and ``state`` take every member's values and the concatenated
    columns; they return False when the columns are not in the shape they
    vectorise over (the per-member validators then run instead). ``covers``
    lists the per-member after-checks the state check makes redundant.
    """

    args: Callable[[list[tuple[Any, ...]], Bases], bool] | None = None
    state: Callable[[list[dict[str, Any]], list[tuple[Any, ...]], Bases], bool] | None = None
    covers: frozenset[Callable[[Any], None]] = field(default_factory=frozenset)
    #: Attributes the class's ``__setstate__`` copies out of the arrays it is given
    #: (a Tree's nodes and values): a load may read them a group of members at a time
    #: through reused buffers, checking and restoring each group before the next.
    copied: frozenset[str] = frozenset()


#: ``module:qualname`` of the classes stored as columns -> their batch checks.
COLUMNAR: dict[str, Batch] = {}
MIN_MEMBERS = 2
#: Bytes of copied columns (:attr:`Batch.copied`) a load reads for one group of members.
GROUP_BYTES = 8 << 20
_PRIMITIVES = (str, bool, int, float, type(None))
_names: dict[type, str | None] = {}


def _columnar_name(cls: type) -> str | None:
    if cls not in _names:
        name = f"{cls.__module__}:{cls.__qualname__}"
        _names[cls] = name if name in COLUMNAR else None
    return _names[cls]


# ------------------------------------------------------------------ encoding


def encode_members(encoder: Encoder, items: list[Any], *, grouped: bool = True) -> Node | None:
    """An ``objs``/``news`` node for a list of columnar objects, else None.

    With ``grouped``, a list of equally long lists of them (a boosted model's
    predictors per iteration) is stored flat with ``rows``.
    """
    if encoder.inline or len(items) < MIN_MEMBERS:
        return None
    rows = None
    flat = items
    if grouped and type(items[0]) is list:
        rows = len(items[0])
        if not rows or not all(type(row) is list and len(row) == rows for row in items):
            return None
        flat = [item for row in items for item in row]
    cls = type(flat[0])
    if _columnar_name(cls) is None or not only(cls, flat) or not encoder.unseen(flat):
        return None
    shapes = [reduced(encoder, item) for item in flat]
    first, keys = shapes[0][0], _keys(shapes[0])
    if keys is None or not _alike(shapes, keys):
        return None
    node: dict[str, Any] = {"$": "news" if first["$"] == "new" else "objs",
                            "cls": first["cls"], "n": len(flat)}
    if rows is not None:
        node["rows"] = rows
    if "args" in first:
        node["args"] = [_column(encoder, [s[0]["args"][i] for s in shapes], f"<arg {i}>")
                        for i in range(len(first["args"]))]
    encoder.remember_members(node, flat)
    node["state"] = {"$": "cols", "v": {key: _column(encoder, [s[1][key] for s in shapes],
                                                      f".{key}") for key in keys}}
    return node


def _keys(shape: tuple[dict[str, Any], Any, Any, Any]) -> list[str] | None:
    _, state, listitems, dictitems = shape
    if listitems is not None or dictitems is not None or type(state) is not dict \
            or not only(str, state):
        return None
    return list(state)


def _all_equal(values: list[Any], first: Any, kind: type) -> bool:
    """Whether every value is ``first``'s equal and of its exact type, in C passes.

    The types are checked first, so that ``count`` compares only values of one
    primitive type (never an array, whose ``==`` has no truth value) and keeps 1,
    1.0 and True apart; floats must also agree in sign, so that -0.0 is not 0.0.
    """
    if not only(kind, values) or values.count(first) != len(values):
        return False
    return kind is not float or len(set(map(_sign, values))) == 1


def _sign(value: float) -> float:
    return math.copysign(1.0, value)


def _alike(shapes: list[tuple[dict[str, Any], Any, Any, Any]], keys: list[str]) -> bool:
    """Whether every member reduces as the first does: same node kind, argument count
    and attribute names in the same order (the first's names are known to be strings)."""
    first = shapes[0][0]
    kind, arity = first["$"], len(first.get("args", ()))
    return all(node["$"] == kind and len(node.get("args", ())) == arity
               and type(state) is dict and list(state) == keys
               and listitems is None and dictitems is None
               for node, state, listitems, dictitems in shapes)


def _column(encoder: Encoder, values: list[Any], step: str) -> Node:
    first = values[0]
    kind = type(first)
    if kind in _PRIMITIVES and _all_equal(values, first, kind):
        node = encoder.child(first, step)
        if not isinstance(node, dict | list):
            return {"$": "same", "v": node}
    if _stackable(encoder, values):
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
        node = {"$": "cat", "v": _joined(encoder, values, step),
                "lens": encoder.child(lengths, step)}
        encoder.remember_members(node, values)  # a later use of a member's array refers to it
        return node
    nested = encode_members(encoder, values, grouped=False)
    if nested is not None:
        return nested
    return {"$": "each", "v": _each(encoder, values, step)}


def _each(encoder: Encoder, values: list[Any], step: str) -> list[Node]:
    """Each member's value; a run of one object (the random state a boosted model's
    trees share) is referred to by one reference node, not encoded again for each."""
    nodes: list[Node] = []
    for i, value in enumerate(values):
        if i and value is values[i - 1] and _is_ref(nodes[-1]):
            nodes.append(nodes[-1])  # what encoding it again would give
        else:
            nodes.append(encoder.child(value, f"[{i}]{step}"))
    return nodes


def _is_ref(node: Node) -> bool:
    return type(node) is dict and node.get("$") == "ref"


def _joined(encoder: Encoder, values: list[np.ndarray[Any, Any]], step: str) -> Node:
    """The node of a concatenated column: in the array section unjoined, or inline."""
    try:
        storable_arrays(values)
    except FormatError as exc:
        raise encoder.fail(str(exc)) from None
    joined = Joined.of(values)
    if joined.nbytes > INLINE_MAX and not encoder.inline:
        return {"$": "nd", "a": encoder.add_array(joined)}
    return encoder.child(joined.array(), step)


def _stackable(encoder: Encoder, values: list[Any]) -> bool:
    first = values[0]
    if type(first) is not np.ndarray or first.dtype.hasobject or first.ndim == 0:
        return False
    if not only(np.ndarray, values) or not encoder.unseen(values):
        return False
    dtype, ndim, rows = first.dtype, first.ndim, first.shape[1:]
    return all(v.dtype == dtype and v.ndim == ndim and v.shape[1:] == rows
               and (ndim == 1 or v.flags.c_contiguous) for v in values)


# ------------------------------------------------------------------ decoding


def decode_members(decoder: Decoder, node: dict[str, Any]) -> list[Any]:
    """The members an ``objs``/``news`` node holds (grouped by ``rows`` if it has them)."""
    name, count = node["cls"], required(node, "n", int)
    if not 1 <= count <= container.MAX_NODES:
        raise FormatError(f"an {node['$']!r} node must hold 1 to {container.MAX_NODES} members")
    batch = COLUMNAR.get(name, Batch())
    args: list[tuple[Any, ...]] = [()] * count
    if node["$"] == "news":
        cls = decoder.resolve("construct", name)
        columns, bases = _columns(decoder, dict(enumerate(required(node, "args", list))), count)
        args = list(zip(*columns.values(), strict=True)) if columns else args
        batched = batch.args is not None and run_check(batch.args, name, args, bases)
        if name in ARGS and not batched:
            for member_args in args:
                run_check(ARGS[name], name, member_args)
        members = attempt(lambda: [cls(*a) for a in args], name, "construct")
    else:
        cls = decoder.resolve("class", name)
        members = attempt(lambda: [cls.__new__(cls) for _ in range(count)], name, "create")
    _remember(decoder, node, members)
    _restore(decoder, node, members, args)
    return _grouped(node, members)


def _remember(decoder: Decoder, node: dict[str, Any], members: list[Any]) -> None:
    numbers = node.get("refs", [None] * len(members))
    if not isinstance(numbers, list) or len(numbers) != len(members):
        raise FormatError(f"an {node.get('$')} node's refs must hold one entry per member")
    for number, member in zip(numbers, members, strict=True):
        if number is not None:
            decoder.remember({"@": number}, member)


def _restore(decoder: Decoder, node: dict[str, Any], members: list[Any],
             args: list[tuple[Any, ...]]) -> None:
    name = node["cls"]
    batch = COLUMNAR.get(name, Batch())
    state_node = required(node, "state", dict)
    if state_node.get("$") != "cols":
        raise FormatError("an objs node's state must be a 'cols' node")
    nodes = required(state_node, "v", dict)
    streamed = {key: column for key, column in nodes.items()
                if key in batch.copied and _streamable(decoder, column)}
    columns, bases = _columns(decoder, {k: v for k, v in nodes.items() if k not in streamed},
                              len(members))
    if streamed:
        batched = _restore_streamed(decoder, node, members, args,
                                    decoded=(nodes, columns, bases), streamed=streamed)
    else:
        batched = _restore_group(name, members, _states(nodes, columns, {}), args, bases)
    checks = after_checks(type(members[0]))
    for member, covered in zip(members, batched, strict=True):
        for after in checks:
            if not (covered and after in batch.covers):
                run_check(after, name, member)


def _restore_group(name: str, members: list[Any], states: list[dict[str, Any]],
                   args: list[tuple[Any, ...]], bases: Bases) -> list[bool]:
    """Check the states of ``members`` (at once if their class has a batch check) and
    restore them; return, for each member, whether the batch check covered it."""
    batch = COLUMNAR.get(name, Batch())
    check = state_check(name)
    batched = batch.state is not None and run_check(batch.state, name, states, args, bases)
    if check is not None and not batched:
        for state, member_args in zip(states, args, strict=True):
            run_check(check, name, state, member_args)
    attempt(lambda: _set_states(members, states), name, "restore the state of")
    return [bool(batched)] * len(members)


def _states(keys: Iterable[str], columns: dict[Any, list[Any]], at: dict[Any, list[Any]]
            ) -> list[dict[str, Any]]:
    """Each member's attributes, in the order of ``keys``, from ``columns`` or ``at``."""
    values = [columns[key] if key in columns else at[key] for key in keys]
    return [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]


def _streamable(decoder: Decoder, column: Any) -> bool:
    """Whether a copied column can be read a group at a time: a load reading arrays as it
    goes, a ``cat`` of a plain stored array in C order, with rows and whose row counts are
    an array, that nothing refers to and that defines nothing another node refers to (so
    that decoding them out of document order changes nothing)."""
    if decoder.source.file is None or type(column) is not dict or column.get("$") != "cat" \
            or "refs" in column:
        return False
    stored, lengths = column.get("v"), column.get("lens")
    if type(stored) is not dict or stored.keys() != {"$", "a"} or stored["$"] != "nd" \
            or type(lengths) is not dict or lengths.get("$") != "nd" or "@" in lengths:
        return False
    index = stored["a"]
    if type(index) is not int or not 0 <= index < len(decoder.header.arrays):
        return False
    spec = decoder.header.arrays[index]
    return (spec.codec is None and len(spec.shape) >= 1 and spec.dtype.itemsize > 0
            and 0 not in spec.shape and (spec.order == "C" or len(spec.shape) == 1)
            and not spec.dtype.hasobject and not text_fields(spec.dtype))


def _restore_streamed(decoder: Decoder, node: dict[str, Any], members: list[Any],
                      args: list[tuple[Any, ...]], *,
                      decoded: tuple[dict[str, Any], dict[Any, list[Any]], Bases],
                      streamed: dict[str, dict[str, Any]]) -> list[bool]:
    """Restore members whose copied columns are read through reused buffers.

    The members go in groups of about :data:`GROUP_BYTES` of those columns; each
    group's rows are read, checked and copied into its members before the next
    group's rows take their place. If a check fails, the rest of each array is
    still read: a damaged file is reported as damaged, not as a bad model.
    """
    nodes, columns, bases = decoded
    name, count = node["cls"], len(members)
    file = decoder.source.file
    assert file is not None  # _streamable
    specs = {key: decoder.header.arrays[column["v"]["a"]] for key, column in streamed.items()}
    dtypes = {key: spec.dtype if spec.dtype.names is None else known_dtype(spec.dtype)
              for key, spec in specs.items()}
    counted = {key: _row_counts(decoder, column, count, specs[key].shape[0], f".{key}")
               for key, column in streamed.items()}
    widths = {key: spec.dtype.itemsize * math.prod(spec.shape[1:]) for key, spec in
              specs.items()}
    sizes = [sum(counted[key][1][i] * widths[key] for key in streamed) for i in range(count)]
    cuts = _groups(sizes)
    rows = {**{key: _starts(lengths.tolist()) for key, (_, lengths) in bases.items()},
            **{key: _starts(counts) for key, (_, counts) in counted.items()}}
    largest = {key: max(rows[key][b] - rows[key][a] for a, b in itertools.pairwise(cuts))
               * widths[key] for key in streamed}
    streams = {key: file.stream(column["v"]["a"], largest[key])
               for key, column in streamed.items()}
    batched: list[bool] = []
    try:
        for first, stop in itertools.pairwise(cuts):
            group = slice(first, stop)
            at: dict[Any, list[Any]] = {}
            group_bases: Bases = {key: (base[rows[key][first]:rows[key][stop]], lengths[group])
                                  for key, (base, lengths) in bases.items()}
            for key, stream in streams.items():
                start = rows[key][first]
                piece = stream.next((rows[key][stop] - start) * widths[key])
                values = piece.view(dtypes[key]).reshape(-1, *specs[key].shape[1:])
                at[key] = [values[a - start:b - start]
                           for a, b in itertools.pairwise(rows[key][first:stop + 1])]
                group_bases[key] = (values, counted[key][0][group])
            batched += _restore_group(name, members[group], _states(nodes, {
                key: values[group] for key, values in columns.items()}, at), args[group],
                group_bases)
    except Exception:
        for stream in streams.values():
            stream.close()  # raises IntegrityError if the bytes were damaged
        raise
    for stream in streams.values():
        stream.close()
    return batched


def _groups(sizes: list[int]) -> list[int]:
    """Cuts between members that make groups of about :data:`GROUP_BYTES` (at least one
    member each)."""
    cuts, total = [0], 0
    for i, size in enumerate(sizes):
        if total and total + size > GROUP_BYTES:
            cuts.append(i)
            total = 0
        total += size
    return [*cuts, len(sizes)]


def _starts(counts: list[int]) -> list[int]:
    """Where each member's rows start, and the total after them."""
    return [0, *itertools.accumulate(counts)]


def _set_states(members: list[Any], states: list[dict[str, Any]]) -> None:
    for member, state in zip(members, states, strict=True):
        set_state(member, state)


def _columns(decoder: Decoder, nodes: dict[Any, Any], count: int) -> tuple[dict[Any, list[Any]],
                                                                           Bases]:
    columns: dict[Any, list[Any]] = {}
    bases: Bases = {}
    for key, column in nodes.items():
        step = f".{key}" if isinstance(key, str) else f"<arg {key}>"
        kind = column.get("$") if isinstance(column, dict) else None
        if kind == "same":
            value = decoder.child(column.get("v"), step)
            if not isinstance(value, _PRIMITIVES):
                raise FormatError(f"column {step}: a shared value must be a JSON scalar")
            columns[key] = [value] * count
        elif kind == "cat":
            base, lengths, columns[key] = _split(decoder, column, count, step)
            bases[str(key)] = (base, lengths)
            _remember(decoder, column, columns[key])
        elif kind == "each":
            columns[key] = decoder.children(column.get("v"), f"column {step}")
        elif kind in ("objs", "news"):
            columns[key] = decode_flat(decoder, column, step)
        else:
            raise FormatError(f"column {step} must be a same, cat, each or objs node")
        if len(columns[key]) != count:
            raise FormatError(f"column {step} holds {len(columns[key])} values for {count}"
                              " members")
    return columns, bases


def decode_flat(decoder: Decoder, node: Any, step: str) -> list[Any]:
    """The members of an ``objs``/``news`` node that must not group them in ``rows``."""
    if not isinstance(node, dict) or node.get("$") not in ("objs", "news") or "rows" in node:
        raise FormatError(f"{step or 'an objarray'}: expected an objs node without rows")
    members: list[Any] = decoder.child(node, step)
    return members


def _split(decoder: Decoder, column: dict[str, Any], count: int, step: str
           ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[Any]]:
    base = decoder.child(column.get("v"), step)
    if not (isinstance(base, np.ndarray) and base.ndim >= 1 and not base.dtype.hasobject):
        raise _uneven(step)
    lengths, counts = _row_counts(decoder, column, count, base.shape[0], step)
    return base, lengths, [base[a:b] for a, b in itertools.pairwise(_starts(counts))]


def _row_counts(decoder: Decoder, column: dict[str, Any], count: int, rows: int, step: str
                ) -> tuple[np.ndarray[Any, Any], list[int]]:
    """Each member's row count in a ``cat`` column of ``rows`` rows, as stored and as a
    list."""
    lengths = decoder.child(column.get("lens"), step)
    if not (isinstance(lengths, np.ndarray) and lengths.dtype == np.int64
            and lengths.shape == (count,)):
        raise _uneven(step)
    # Checked and summed as a list (one entry per member, so short): numpy's reductions
    # cost a fresh process more on their first use than on these few numbers.
    counts: list[int] = lengths.tolist()
    if min(counts, default=0) < 0 or sum(counts) != rows:
        raise _uneven(step)
    return lengths, counts


def _uneven(step: str) -> FormatError:
    return FormatError(f"column {step}: the row counts do not add up to the concatenated array")


def _grouped(node: dict[str, Any], members: list[Any]) -> list[Any]:
    rows = node.get("rows")
    if rows is None:
        return members
    if type(rows) is not int or rows < 1 or len(members) % rows:
        raise FormatError(f"rows {rows!r} does not divide {len(members)} members")
    return [members[i:i + rows] for i in range(0, len(members), rows)]


def _not_alone(decoder: Decoder, node: dict[str, Any]) -> Any:
    raise FormatError(f"a {node.get('$')!r} node can only be a column of an objs node")


BY_KIND.update({"objs": decode_members, "news": decode_members,
                **dict.fromkeys(("same", "cat", "each", "cols"), _not_alone)})
NAMED_KINDS.update({"objs": ("cls", "class"), "news": ("cls", "construct")})
