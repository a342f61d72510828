"""Deep equality of a saved object and its loaded copy, naming the first difference.

:func:`assert_deep_equal` walks two object graphs side by side, the way pickle
sees them, and raises an :class:`AssertionError` whose message starts with the
path of the first difference (``model.steps[1][1].coef_[0, 2]``). Two values
are deeply equal when:

* their types are exactly the same (``np.float64`` is not ``float``, an object
  array is not a ``<U5`` array, a tuple is not a list);
* numbers are equal, NaN equals NaN;
* arrays have the same shape, dtype (byte order included) and memory order:
  an F-ordered original loads F-contiguous, any other loads C-contiguous, as
  with pickle; then their values are equal (NaN-aware; field by field for
  record arrays, whose padding bytes carry no value; element by element for
  object arrays);
* lists and tuples hold equal items; dicts hold equal keys of the same types in
  the same order with equal values; sets hold equal items of the same types;
* scipy.sparse matrices have the same class, shape, dtype and equal parts;
* pandas objects are equal with exact values, dtypes, index and column types;
* random generators have the same bit-generator state;
* functions, ufuncs and classes are the very same object (they are saved by
  name, so the loaded copy refers to the original);
* any other object is compared through ``__reduce_ex__(5)``, as pickle saves
  it: the same reconstructor and arguments and an equal state. The state of
  estimators is their ``__dict__``, so every attribute, fitted or not, is
  compared, nested estimators recursively.

Example:
    >>> assert_deep_equal(model, satchel.loads(satchel.dumps(model)), "model")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import struct
import types
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["assert_deep_equal"]


def assert_deep_equal(expected: Any, actual: Any, path: str = "obj", *,
                      same_layout: bool = False) -> None:
    """Raise AssertionError naming the path of the first difference of two objects.

    Args:
        expected: the original object.
        actual: its copy (loaded from a file).
        path: the name of the root, used as the start of every reported path.
        same_layout: require arrays to have exactly the same contiguity flags, for
            values that the same code computed on both sides (a method's outputs);
            the default is the rule for loaded copies described above.

    Raises:
        AssertionError: ``"<path>: <what differs>"`` for the first difference found.
    """
    _Walk(same_layout).compare(expected, actual, path)


def _fail(path: str, message: str) -> AssertionError:
    return AssertionError(f"{path}: {message}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _is_sparse(value: Any) -> bool:
    return type(value).__module__.startswith("scipy.sparse") and hasattr(value, "format")


def _is_pandas(value: Any) -> bool:
    module = type(value).__module__
    return module == "pandas" or module.startswith("pandas.")


_FUNCTION_TYPES = (types.FunctionType, types.BuiltinFunctionType, np.ufunc, type,
                   types.ModuleType)


def _is_named_reference(value: Any) -> bool:
    return isinstance(value, _FUNCTION_TYPES) or type(value).__name__ in (
        "_ArrayFunctionDispatcher", "cython_function_or_method", "fused_cython_function",
    )


class _Walk:
    """One comparison: remembers the pairs already compared, so cycles end."""

    def __init__(self, same_layout: bool = False) -> None:
        self.same_layout = same_layout
        self.seen: set[tuple[int, int]] = set()
        self.keep: list[Any] = []  # keeps ids of temporary values unique

    def compare(self, a: Any, b: Any, path: str) -> None:
        if a is b and (a is None or isinstance(a, (bool, int, str, bytes))
                       or _is_named_reference(a)):
            return
        if type(a) is not type(b):
            raise _fail(path, f"type {type(a).__module__}.{type(a).__qualname__} !="
                              f" {type(b).__module__}.{type(b).__qualname__}")
        pair = (id(a), id(b))
        if pair in self.seen:
            return
        self.seen.add(pair)
        self.keep.append((a, b))
        self._dispatch(a)(a, b, path)

    def _dispatch(self, value: Any) -> Callable[[Any, Any, str], None]:
        exact = _BY_TYPE.get(type(value))
        if exact is not None:
            return functools.partial(exact, self)
        for kind, method in _BY_INSTANCE:
            if isinstance(value, kind):
                return functools.partial(method, self)
        if _is_named_reference(value):
            return _same_object
        if _is_sparse(value):
            return self._sparse
        if _is_pandas(value):
            return _pandas
        return self._reduced

    # ---------------------------------------------------------------- scalars

    def _plain(self, a: Any, b: Any, path: str) -> None:
        if a != b:
            raise _fail(path, f"{_short(a)} != {_short(b)}")

    def _float(self, a: float, b: float, path: str) -> None:
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            raise _fail(path, f"{a!r} != {b!r}")
        if struct.pack("<d", a) != struct.pack("<d", b):  # -0.0 and 0.0, or two NaNs
            raise _fail(path, f"{a!r} and {b!r} differ in their bits: {struct.pack('<d', a).hex()}"
                              f" != {struct.pack('<d', b).hex()}")

    def _complex(self, a: complex, b: complex, path: str) -> None:
        self._float(a.real, b.real, f"{path}.real")
        self._float(a.imag, b.imag, f"{path}.imag")

    def _np_scalar(self, a: np.generic, b: np.generic, path: str) -> None:
        self._array_values(np.asarray(a), np.asarray(b), path)

    # ------------------------------------------------------------- containers

    def _sequence(self, a: list[Any] | tuple[Any, ...], b: Any, path: str) -> None:
        if len(a) != len(b):
            raise _fail(path, f"length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            self.compare(x, y, f"{path}[{i}]")

    def _dict(self, a: dict[Any, Any], b: dict[Any, Any], path: str, attr: bool = False) -> None:
        keys_a, keys_b = list(a), list(b)
        if keys_a != keys_b:
            missing = [k for k in keys_a if k not in b]
            extra = [k for k in keys_b if k not in a]
            detail = (f"missing {_short(missing)}, unexpected {_short(extra)}"
                      if missing or extra else "the same keys in another order")
            raise _fail(path, f"{'attributes' if attr else 'keys'} differ: {detail}")
        for i, (key_a, key_b) in enumerate(zip(keys_a, keys_b, strict=True)):
            if type(key_a) is not str or type(key_b) is not str:  # 1 == 1.0, "a" == np.str_("a")
                self.compare(key_a, key_b, f"{path}<key {i}>")
        for key in keys_a:
            where = f"{path}.{key}" if attr and isinstance(key, str) else f"{path}[{key!r}]"
            self.compare(a[key], b[key], where)
        if isinstance(a, dict) and hasattr(a, "default_factory"):
            self.compare(a.default_factory, b.default_factory, f"{path}.default_factory")

    def _set(self, a: set[Any] | frozenset[Any], b: Any, path: str) -> None:
        if a != b:
            raise _fail(path, f"{_short(a)} != {_short(b)}")
        counterpart = {item: item for item in b}  # 1 == 1.0, "a" == np.str_("a")
        for item in a:
            self.compare(item, counterpart[item], f"{path}<item {_short(item)}>")

    def _partial(self, a: functools.partial[Any], b: Any, path: str) -> None:
        self.compare(a.func, b.func, f"{path}.func")
        self.compare(a.args, b.args, f"{path}.args")
        self.compare(a.keywords, b.keywords, f"{path}.keywords")

    def _method(self, a: types.MethodType, b: Any, path: str) -> None:
        self.compare(a.__func__, b.__func__, f"{path}.__func__")
        self.compare(a.__self__, b.__self__, f"{path}.__self__")

    # ----------------------------------------------------------------- arrays

    def _ndarray(self, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], path: str) -> None:
        if a.shape != b.shape:
            raise _fail(path, f"shape {a.shape} != {b.shape}")
        if a.dtype != b.dtype:
            raise _fail(path, f"dtype {a.dtype.str}{a.dtype} != {b.dtype.str}{b.dtype}")
        flags_a = (a.flags.c_contiguous, a.flags.f_contiguous)
        flags_b = (b.flags.c_contiguous, b.flags.f_contiguous)
        if self.same_layout:
            if flags_a != flags_b:
                raise _fail(path, f"memory order: (C, F)-contiguous {flags_a} != {flags_b}")
            self._array_values(a, b, path)
            return
        fortran = a.flags.f_contiguous and not a.flags.c_contiguous
        if fortran and not b.flags.f_contiguous:
            raise _fail(path, "memory order: the original is F-contiguous, the copy is not")
        if not fortran and not b.flags.c_contiguous:
            raise _fail(path, "memory order: the original is C-ordered, the copy is not"
                              f" C-contiguous (F-contiguous: {b.flags.f_contiguous})")
        self._array_values(a, b, path)

    def _array_values(self, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], path: str) -> None:
        if a.dtype != b.dtype:
            raise _fail(path, f"dtype {a.dtype} != {b.dtype}")
        if a.dtype.names is not None:
            for name in a.dtype.names:
                self._array_values(a[name], b[name], f"{path}[{name!r}]")
            return
        if a.dtype.hasobject:
            for index in np.ndindex(a.shape):
                where = f"{path}[{', '.join(map(str, index))}]"
                self.compare(a[index], b[index], where)
            return
        if a.dtype.kind in "mM":
            a, b = a.view(np.int64), b.view(np.int64)
        equal_nan = a.dtype.kind in "fc"
        if np.array_equal(a, b, equal_nan=equal_nan):
            if equal_nan and not np.array_equal(_bits(a), _bits(b)):  # -0.0 and 0.0, NaNs
                index = tuple(int(i) for i in np.argwhere(_bits(a) != _bits(b))[0][:a.ndim])
                raise _fail(f"{path}{list(index) if index else ''}",
                            "equal values that differ in their bits (-0.0 and 0.0, or two NaNs)")
            return
        same = (a == b) | ((a != a) & (b != b)) if equal_nan else a == b
        index = tuple(int(i) for i in np.argwhere(~np.asarray(same))[0]) if a.ndim else ()
        where = f"{path}[{', '.join(map(str, index))}]" if index else path
        raise _fail(where, f"{_short(a[index])} != {_short(b[index])}")

    def _masked(self, a: np.ma.MaskedArray[Any, Any], b: Any, path: str) -> None:
        self._ndarray(np.ma.getdata(a), np.ma.getdata(b), f"{path}.data")
        self._ndarray(np.ma.getmaskarray(a), np.ma.getmaskarray(b), f"{path}.mask")
        self.compare(a.fill_value, b.fill_value, f"{path}.fill_value")

    def _sparse(self, a: Any, b: Any, path: str) -> None:
        if a.shape != b.shape:
            raise _fail(path, f"shape {a.shape} != {b.shape}")
        parts = {"coo": ("data", "row", "col"), "dia": ("data", "offsets")}.get(
            a.format, ("data", "indices", "indptr"))
        for part in parts:
            self.compare(getattr(a, part), getattr(b, part), f"{path}.{part}")

    # ------------------------------------------------------ random generators

    def _random_state(self, a: np.random.RandomState, b: Any, path: str) -> None:
        self.compare(a.get_state(legacy=False), b.get_state(legacy=False), f"{path}<state>")

    def _generator(self, a: np.random.Generator, b: Any, path: str) -> None:
        self._bit_generator(a.bit_generator, b.bit_generator, f"{path}.bit_generator")

    def _bit_generator(self, a: np.random.BitGenerator, b: Any, path: str) -> None:
        self.compare(type(a), type(b), f"{path}<type>")
        self.compare(a.state, b.state, f"{path}.state")

    # ---------------------------------------------------------- other objects

    def _reduced(self, a: Any, b: Any, path: str) -> None:
        """Compare what pickle would save: reconstructor, arguments, state, items."""
        try:
            reduced_a = a.__reduce_ex__(5)
        except Exception as exc:
            raise _fail(path, f"the original cannot be reduced ({exc}); cannot compare it"
                              " with its copy") from None
        reduced_b = b.__reduce_ex__(5)
        if isinstance(reduced_a, str):
            if reduced_a != reduced_b:
                raise _fail(path, f"global {reduced_a!r} != {reduced_b!r}")
            return
        a_parts = (*reduced_a, None, None, None)[:5]
        b_parts = (*reduced_b, None, None, None)[:5]
        self.compare(a_parts[0], b_parts[0], f"{path}<reconstructor>")
        self.compare(a_parts[1], b_parts[1], f"{path}<args>")
        self._state(a_parts[2], b_parts[2], path)
        for index, label in ((3, "<listitems>"), (4, "<dictitems>")):
            items_a = None if a_parts[index] is None else list(a_parts[index])
            items_b = None if b_parts[index] is None else list(b_parts[index])
            self.compare(items_a, items_b, f"{path}{label}")

    def _state(self, a: Any, b: Any, path: str) -> None:
        """An object's state; a dict (or a (dict, slots) pair) is reported as attributes."""
        if type(a) is dict and type(b) is dict:
            self._dict(a, b, path, attr=True)
        elif (type(a) is tuple and type(b) is tuple and len(a) == len(b) == 2
              and all(type(x) in (dict, type(None)) for x in (*a, *b))):
            for x, y in zip(a, b, strict=True):
                self._state(x, y, path)
        else:
            self.compare(a, b, f"{path}<state>")


def _bits(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The bytes of each element of a float or complex array, as unsigned integers."""
    contiguous = np.ascontiguousarray(array)
    return contiguous.view(np.uint8).reshape(*contiguous.shape, contiguous.dtype.itemsize)


def _same_object(a: Any, b: Any, path: str) -> None:
    if a is not b:
        raise _fail(path, f"{_short(a)} is not the same object as {_short(b)}")


def _pandas(a: Any, b: Any, path: str) -> None:
    import pandas as pd

    exact = {"check_exact": True, "check_names": True, "check_dtype": True,
             "check_index_type": True, "check_categorical": True, "check_flags": True,
             "check_freq": True}
    try:
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_column_type=True, check_frame_type=True,
                                          **exact)
        elif isinstance(a, pd.Series):
            pd.testing.assert_series_equal(a, b, check_series_type=True, **exact)
        elif isinstance(a, pd.Index):
            pd.testing.assert_index_equal(a, b, exact=True, check_exact=True, check_names=True,
                                          check_categorical=True)
        elif isinstance(a, pd.api.extensions.ExtensionArray):
            pd.testing.assert_extension_array_equal(a, b, check_dtype=True, check_exact=True)
        elif a is pd.NA or a is pd.NaT:  # markers: equal to nothing, not even themselves
            if b is not a:
                raise AssertionError(f"{_short(b)} is not {_short(a)}")
        elif bool(a != b):
            raise AssertionError(f"{_short(a)} != {_short(b)}")
        if isinstance(a, (pd.DataFrame, pd.Series)) and a.attrs != b.attrs:
            raise AssertionError(f"attrs {_short(a.attrs)} != {_short(b.attrs)}")
    except AssertionError as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        raise _fail(path, " ".join(lines[:4])) from None


_Method = Callable[[_Walk, Any, Any, str], None]
_BY_TYPE: dict[type, _Method] = {
    float: _Walk._float,
    complex: _Walk._complex,
    int: _Walk._plain,
    bool: _Walk._plain,
    str: _Walk._plain,
    bytes: _Walk._plain,
    bytearray: _Walk._plain,
    type(None): _Walk._plain,
    slice: _Walk._plain,
    range: _Walk._plain,
    list: _Walk._sequence,
    tuple: _Walk._sequence,
    set: _Walk._set,
    frozenset: _Walk._set,
    np.ndarray: _Walk._ndarray,
    np.dtype: _Walk._plain,
    np.random.RandomState: _Walk._random_state,
    np.random.Generator: _Walk._generator,
    functools.partial: _Walk._partial,
    types.MethodType: _Walk._method,
}
_BY_INSTANCE: list[tuple[type | tuple[type, ...], _Method]] = [
    (np.ma.MaskedArray, _Walk._masked),
    (np.generic, _Walk._np_scalar),
    (np.dtype, _Walk._plain),
    (np.random.BitGenerator, _Walk._bit_generator),
    (dict, _Walk._dict),
]
