"""numpy: arrays, object arrays, scalars, dtypes, masked arrays and random generators."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from satchel.errors import FormatError
from satchel.format import dtypes
from satchel.format.container import INLINE_MAX, raw_view
from satchel.format.decoder import BY_KIND, SELF_REGISTERING, Decoder, required
from satchel.format.dtypes import (
    check_ndim,
    check_text,
    dtype_from_json,
    storable_arrays,
    storable_dtype,
)
from satchel.format.encoder import BY_PREDICATE, BY_TYPE, Encoder, Node
from satchel.format.handlers.builtins import pack_strings, unpack_strings
from satchel.format.handlers.columns import decode_flat, encode_members

#: Bit generators a file may name; built with their fixed constructors.
BIT_GENERATORS = {
    cls.__name__: cls
    for cls in (np.random.MT19937, np.random.PCG64, np.random.PCG64DXSM,
                np.random.Philox, np.random.SFC64)
}
_MAX_OBJECTS = 10_000_000


def _encode_ndarray(encoder: Encoder, array: np.ndarray[Any, Any]) -> Node:
    if not array.dtype.hasobject:
        try:
            dtype = storable_arrays([array])
        except FormatError as exc:
            raise encoder.fail(str(exc)) from None
        if array.nbytes > INLINE_MAX and not encoder.inline:
            return {"$": "nd", "a": encoder.add_array(array)}
        data, order = raw_view(array)
        inline = {"$": "nd", "dtype": dtype, "shape": list(array.shape),
                  "b64": base64.b64encode(data).decode("ascii")}
        if order == "F":
            inline["order"] = "F"
        return inline
    if array.dtype.kind == "T":  # numpy's variable-width strings
        raise encoder.fail(f"arrays of {array.dtype} cannot be saved; convert them to"
                           " fixed-width text first (array.astype(str))")
    if array.dtype != np.dtype(object):
        raise encoder.fail(f"record dtype {array.dtype} holds Python objects")
    try:
        check_ndim(array.ndim)
    except FormatError as exc:
        raise encoder.fail(str(exc)) from None
    if max(array.shape, default=0) > _MAX_OBJECTS:
        raise encoder.fail(f"an object array of shape {array.shape} cannot be saved; a reader"
                           f" accepts at most {_MAX_OBJECTS} along each axis")
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    flat = array.ravel(order=order).tolist()
    node: dict[str, Any] = {"$": "objarray", "shape": list(array.shape), "order": order}
    packed = pack_strings(encoder, flat)
    members = None if packed is not None else encode_members(encoder, flat, grouped=False)
    if packed is not None:
        node["strs"] = packed
    elif members is not None:
        node["objs"] = members
    else:
        node["v"] = [encoder.child(x, f"[{i}]") for i, x in enumerate(flat)]
    return node


def _decode_ndarray(decoder: Decoder, node: dict[str, Any]) -> np.ndarray[Any, Any]:
    if "b64" not in node:
        return decoder.array(node.get("a"))
    return inline_array(node)


def inline_array(node: dict[str, Any]) -> np.ndarray[Any, Any]:
    """The array an inline ``nd`` node (``dtype``, ``shape``, ``b64``) holds."""
    dtype = dtype_from_json(node.get("dtype"), "nd.dtype")
    shape = required(node, "shape", list)
    if len(shape) > dtypes.MAX_NDIM or not all(type(n) is int and n >= 0 for n in shape):
        raise FormatError(f"an inline array needs a shape of at most {dtypes.MAX_NDIM}"
                          " non-negative sizes")
    try:
        data = bytearray(base64.b64decode(required(node, "b64", str), validate=True))
    except ValueError as exc:
        raise FormatError(f"invalid base64 in an inline array: {exc}") from None
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(data):
        raise FormatError(f"an inline array of shape {tuple(shape)} and dtype {dtype} needs"
                          f" {count * dtype.itemsize} bytes, found {len(data)}")
    flat = np.frombuffer(data, dtype=dtype, count=count) if count else np.empty(0, dtype)
    check_text(flat, "an inline array")
    try:
        return flat.reshape(shape[::-1]).T if node.get("order", "C") == "F" else flat.reshape(
            shape)
    except ValueError as exc:
        raise FormatError(f"an inline array cannot take shape {tuple(shape)}: {exc}") from None


def _decode_objarray(decoder: Decoder, node: dict[str, Any]) -> np.ndarray[Any, Any]:
    shape = required(node, "shape", list)
    if len(shape) > dtypes.MAX_NDIM or not all(type(n) is int and 0 <= n <= _MAX_OBJECTS
                                                  for n in shape):
        raise FormatError(f"an objarray shape holds at most {dtypes.MAX_NDIM} sizes, each"
                          f" from 0 to {_MAX_OBJECTS}")
    if "strs" in node:
        items: list[Any] = unpack_strings(decoder, required(node, "strs", dict))
    elif "objs" in node:
        items = decode_flat(decoder, node["objs"], "")
    else:
        items = decoder.children(node.get("v"), "objarray values")
    count = 1
    for n in shape:
        count *= n
    if count != len(items):
        raise FormatError(f"an objarray of shape {tuple(shape)} needs {count} values,"
                          f" found {len(items)}")
    order = node.get("order", "C")
    if order not in ("C", "F"):
        raise FormatError("objarray order must be 'C' or 'F'")
    array = np.empty(count, dtype=object)
    array[:] = items if count else array
    return array.reshape(shape, order=order)


def _encode_scalar(encoder: Encoder, value: np.generic) -> Node:
    if value.dtype.hasobject:
        raise encoder.fail("numpy object scalars cannot be saved")
    data = value.tobytes() if value.dtype.itemsize else b""  # np.str_('') gives 4 bytes
    return {"$": "npscalar", "dtype": _dtype_json(encoder, value.dtype), "hex": data.hex()}


def _dtype_json(encoder: Encoder, dtype: np.dtype[Any]) -> Any:
    """A scalar's or a dtype value's dtype: it may have no size (``np.str_('')``)."""
    try:
        return storable_dtype(dtype, False)
    except FormatError as exc:
        raise encoder.fail(str(exc)) from None


def _decode_scalar(decoder: Decoder, node: dict[str, Any]) -> np.generic:
    dtype = dtype_from_json(node.get("dtype"), "npscalar.dtype", sized=False)
    text = required(node, "hex", str)
    if len(text) != 2 * dtype.itemsize:
        raise FormatError(f"an npscalar of {dtype} needs {dtype.itemsize} bytes")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise FormatError("an npscalar holds hex digits") from None
    if not dtype.itemsize:  # an empty string, bytes or void scalar: no buffer has that dtype
        return dtype.type("" if dtype.kind == "U" else b"")  # type: ignore[no-any-return]
    value = np.frombuffer(data, dtype=dtype)
    check_text(value, "an npscalar")
    return value[0]  # type: ignore[no-any-return]


#: The object dtype as a value (``SimpleImputer._fit_dtype`` after fitting on text):
#: never the dtype of an array in the array section.
_OBJECT_DTYPE = "|O"


def _encode_dtype(encoder: Encoder, dtype: np.dtype[Any]) -> Node:
    if dtype == np.dtype(object):
        return {"$": "dtype", "dtype": _OBJECT_DTYPE}
    return {"$": "dtype", "dtype": _dtype_json(encoder, dtype)}


def _decode_dtype(decoder: Decoder, node: dict[str, Any]) -> np.dtype[Any]:
    if node.get("dtype") == _OBJECT_DTYPE:
        return np.dtype(object)
    return dtype_from_json(node.get("dtype"), "dtype", sized=False)


def _encode_masked(encoder: Encoder, value: np.ma.MaskedArray[Any, Any]) -> Node:
    if value.dtype.names is not None:
        raise encoder.fail(f"masked arrays of record dtypes ({value.dtype}) are not supported")
    node = {
        "$": "masked",
        "data": encoder.child(np.asarray(value.data), ".data"),
        "mask": encoder.child(np.ma.getmaskarray(value), ".mask"),
    }
    # Only a fill value that was set: reading .fill_value would set numpy's default, cast
    # to the array's dtype (a <U2 array's 'N/A' becomes 'N/', float16's 1e20 inf).
    chosen = getattr(value, "_fill_value", None)  # numpy's attribute behind the property
    if chosen is not None:
        node["fill"] = encoder.child(chosen, ".fill_value")
    return node


#: What a masked array's fill value may be: satchel saves it as a 0-d array.
_FILL_TYPES = (np.ndarray, np.generic, bool, int, float, complex, str, bytes)


def _fill_value(decoder: Decoder, node: dict[str, Any]) -> Any:
    """A masked array's fill value, or None: numpy makes an array of any value it is
    given, so a range node of 2**40 numbers (a few bytes) would be 8 TiB."""
    fill = decoder.decode(node.get("fill"))
    if not (fill is None or isinstance(fill, _FILL_TYPES)):
        raise FormatError(f"a masked array's fill value must be a number, a string or an"
                          f" array (as satchel saves it), found {type(fill).__name__}")
    return fill


def _decode_masked(decoder: Decoder, node: dict[str, Any]) -> np.ma.MaskedArray[Any, Any]:
    data = decoder.child(node.get("data"), ".data")
    mask = decoder.child(node.get("mask"), ".mask")
    if not (isinstance(data, np.ndarray) and isinstance(mask, np.ndarray)
            and mask.dtype == np.bool_ and mask.shape == data.shape):
        raise FormatError("a masked array needs data and a boolean mask of the same shape")
    try:
        return np.ma.MaskedArray(data, mask=mask, fill_value=_fill_value(decoder, node))
    except (TypeError, ValueError) as exc:
        raise FormatError(f"invalid masked array: {exc}") from None


def _bit_generator_state(bit_generator: np.random.BitGenerator) -> dict[str, Any]:
    name = type(bit_generator).__name__
    if name not in BIT_GENERATORS:
        raise TypeError(f"bit generator {name}")
    return dict(bit_generator.state)


def _encode_random(encoder: Encoder, value: Any) -> Node:
    bit_generator = value if isinstance(value, np.random.BitGenerator) else (
        value.bit_generator if isinstance(value, np.random.Generator) else value._bit_generator
    )
    try:
        state = _bit_generator_state(bit_generator)
    except TypeError as exc:
        raise encoder.fail(f"unsupported {exc}") from None
    kind = {np.random.Generator: "generator", np.random.RandomState: "randomstate"}.get(
        type(value), "bitgenerator")
    node: dict[str, Any] = {"$": kind, "state": encoder.child(state, ".state")}
    seeds = getattr(bit_generator, "seed_seq", None)
    if isinstance(seeds, np.random.SeedSequence):  # what spawn() derives new streams from
        node["seed"] = encoder.child({
            "entropy": seeds.entropy, "spawn_key": list(seeds.spawn_key),
            "pool_size": seeds.pool_size, "n_children_spawned": seeds.n_children_spawned},
            ".seed_seq")
    if isinstance(value, np.random.RandomState):
        legacy = value.get_state(legacy=False)
        node["gauss"] = [legacy["has_gauss"], legacy["gauss"]]
    return node


#: Positions into a bit generator's buffers, which numpy sets unchecked and then indexes
#: with: (bit generator, path to the field, largest valid value).
_POSITIONS = [("MT19937", ("state", "pos"), 624), ("Philox", ("buffer_pos",), 4)]


def _check_positions(name: str, state: dict[str, Any]) -> None:
    for generator, path, largest in _POSITIONS:
        if name != generator:
            continue
        value: Any = state
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if type(value) is not int or not 0 <= value <= largest:
            raise FormatError(f"invalid random generator state: {name} {'.'.join(path)} must be"
                              f" an integer from 0 to {largest}, found {str(value)[:40]}")
    flag = state.get("has_uint32", 0)
    if type(flag) is not int or flag not in (0, 1):
        raise FormatError(f"invalid random generator state: has_uint32 must be 0 or 1, found"
                          f" {str(flag)[:40]}")


#: The largest seed-sequence pool numpy is asked to allocate (its default is 4 words).
_MAX_POOL = 1 << 10


def _seed_sequence(fields: Any) -> np.random.SeedSequence:
    """A SeedSequence from its saved fields, checked before numpy allocates its pool."""
    expected = {"entropy", "spawn_key", "pool_size", "n_children_spawned"}
    if not (type(fields) is dict and fields.keys() == expected
            and (fields["entropy"] is None or _wholes(fields["entropy"]))
            and type(fields["spawn_key"]) is list and _wholes(fields["spawn_key"])
            and type(fields["pool_size"]) is int and 4 <= fields["pool_size"] <= _MAX_POOL
            and _whole(fields["n_children_spawned"]) and fields["n_children_spawned"] < 1 << 32):
        raise FormatError(f"invalid random generator seed sequence: expected {sorted(expected)}"
                          f" of non-negative integers, a pool of 4 to {_MAX_POOL} words and"
                          " fewer than 2**32 children")
    try:
        return np.random.SeedSequence(fields["entropy"], spawn_key=fields["spawn_key"],
                                      pool_size=fields["pool_size"],
                                      n_children_spawned=fields["n_children_spawned"])
    except (TypeError, ValueError, OverflowError) as exc:
        raise FormatError(f"invalid random generator seed sequence: {exc}") from None


def _whole(value: Any) -> bool:
    """A non-negative int or numpy integer (scikit-learn seeds with numpy's integers)."""
    return (type(value) is int or isinstance(value, np.integer)) and bool(value >= 0)


def _wholes(value: Any) -> bool:
    """One :func:`_whole` number, or a list or tuple of them."""
    return all(map(_whole, value)) if type(value) in (list, tuple) else _whole(value)


def _decode_random(decoder: Decoder, node: dict[str, Any]) -> Any:
    state = decoder.child(required(node, "state", dict), ".state")
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if type(name) is not str or name not in BIT_GENERATORS:
        raise FormatError(f"bit generator must be one of {sorted(BIT_GENERATORS)},"
                          f" found {str(name)[:40]!r}")
    _check_positions(name, state)
    # A fixed seed (no entropy read), or the saved seed sequence; the state follows.
    seeds = _seed_sequence(decoder.child(node["seed"], ".seed_seq")) if "seed" in node else 0
    bit_generator = BIT_GENERATORS[name](seeds)
    if "seed" not in node and hasattr(bit_generator, "_legacy_seeding"):
        # A RandomState seeded with a number has no seed sequence: nor has its copy, so that
        # saving the copy gives the file's digest again (a seed of 0 would record one).
        bit_generator._legacy_seeding(0)
    try:
        bit_generator.state = state
        if node["$"] == "generator":
            return np.random.Generator(bit_generator)
        if node["$"] == "bitgenerator":
            return bit_generator
        random_state = np.random.RandomState(bit_generator)
        has_gauss, gauss = required(node, "gauss", list)
        if type(has_gauss) is not int or type(gauss) not in (int, float):
            raise TypeError("the cached gaussian must be [int, float]")
        if has_gauss or gauss:  # a new RandomState holds no cached gaussian
            full = random_state.get_state(legacy=False)
            full.update(has_gauss=int(has_gauss), gauss=float(gauss))
            random_state.set_state(full)
        return random_state
    except (TypeError, ValueError, LookupError, AttributeError, OverflowError) as exc:
        # numpy's state setters index into the state as they find it (an array in place
        # of a dict raises IndexError).
        raise FormatError(f"invalid random generator state: {exc}") from None


BY_TYPE.update({
    np.ndarray: _encode_ndarray,
    np.random.Generator: _encode_random,
    np.random.RandomState: _encode_random,
    np.ma.MaskedArray: _encode_masked,
})
BY_PREDICATE.extend([
    (lambda v: isinstance(v, np.generic), _encode_scalar),
    (lambda v: isinstance(v, np.dtype), _encode_dtype),
    (lambda v: isinstance(v, np.random.BitGenerator), _encode_random),
])
BY_KIND.update({
    "nd": _decode_ndarray,
    "objarray": _decode_objarray,
    "npscalar": _decode_scalar,
    "dtype": _decode_dtype,
    "masked": _decode_masked,
    "generator": _decode_random,
    "randomstate": _decode_random,
    "bitgenerator": _decode_random,
})
SELF_REGISTERING.discard("nd")
