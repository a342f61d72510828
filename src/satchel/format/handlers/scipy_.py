"""scipy.sparse matrices and arrays, rebuilt from their parts and fully checked.

scipy's compiled routines index without bounds checks, so every index array is
validated (``check_format(full_check=True)``) before the matrix is returned.
CSR alone may be 1-d: scipy makes 1-d ``csr_array``s, and scikit-learn's ``sparsify()``
leaves one (or a ``csr_matrix`` converted from one, of the same 1-d shape) as the
coefficients of a single-output linear model. A B-spline (which scikit-learn's
SplineTransformer holds) is rebuilt from its attributes, so the checks of its
constructor run on them first. A distribution class's state holds the Python source
of its argument parsers, which scipy runs on unpickling: it must be one scipy's own
distributions use.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from satchel.errors import FormatError
from satchel.format.decoder import BY_KIND, Decoder, required
from satchel.format.encoder import BY_PREDICATE, MEMOIZED, Encoder, Node
from satchel.format.handlers.builtins import encode_attributes
from satchel.format.handlers.objects import SETTERS, STATE, fail, qualified_name, set_state

_PARTS = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
          "bsr": ("data", "indices", "indptr"), "coo": ("data", "row", "col"),
          "dia": ("data", "offsets")}
NAMES = frozenset(f"{fmt}_{kind}" for fmt in _PARTS for kind in ("matrix", "array"))


def _dimensions(fmt: str) -> tuple[int, ...]:
    """The numbers of dimensions satchel saves a sparse matrix of format ``fmt`` with."""
    return (1, 2) if fmt == "csr" else (2,)


def _sparse_class(name: str) -> type | None:
    """The scipy.sparse class called ``name``, imported only when a file needs it."""
    if name not in NAMES:
        return None
    import scipy.sparse  # noqa: PLC0415 - costs 0.2 s; most models never need it

    return getattr(scipy.sparse, name)  # type: ignore[no-any-return]


def _is_sparse(value: Any) -> bool:
    return type(value).__module__.startswith("scipy.sparse") and hasattr(value, "format")


def _encode_sparse(encoder: Encoder, value: Any) -> Node:
    name, fmt, shape = type(value).__name__, value.format, list(value.shape)
    if _sparse_class(name) is not type(value):
        raise encoder.fail(f"sparse type {name} is not supported; convert it to CSR first")
    if len(shape) not in _dimensions(fmt):
        raise encoder.fail(f"a {name} of shape {tuple(shape)} cannot be saved: only 2-D sparse"
                           " matrices and arrays, and 1-D CSR ones, can; save .toarray() or"
                           " reshape it to 2-D")
    node: dict[str, Any] = {"$": "sparse", "cls": name, "shape": shape}
    for part in _PARTS[fmt]:
        node[part] = encoder.child(np.asarray(getattr(value, part)), f".{part}")
    return node


def _decode_sparse(decoder: Decoder, node: dict[str, Any]) -> Any:
    name = required(node, "cls", str)
    cls = _sparse_class(name)
    if cls is None:
        raise FormatError(f"sparse class must be one of {sorted(NAMES)}, found {name[:40]!r}")
    shape = required(node, "shape", list)
    fmt = name.split("_")[0]
    if len(shape) not in _dimensions(fmt) or not all(type(n) is int and n >= 0 for n in shape):
        raise FormatError("a sparse matrix needs a shape of two non-negative integers (or one,"
                          f" for CSR), found {str(shape)[:60]}")
    matrix: Any
    parts = [decoder.child(node.get(p), f".{p}") for p in _PARTS[fmt]]
    if not all(isinstance(p, np.ndarray) and p.ndim >= 1 for p in parts):
        raise FormatError(f"the parts of a {name} must be arrays")
    if not all(p.dtype.kind in "iu" for p in parts[1:]):
        raise FormatError(f"the index arrays of a {name} must be integers")
    try:
        if fmt == "coo":
            matrix = cls((parts[0], (parts[1], parts[2])), shape=tuple(shape))
        elif len(shape) == 1:
            # Only csr_array takes a 1-d shape; a csr_matrix converted from one keeps it.
            import scipy.sparse  # noqa: PLC0415 - imported already, by _sparse_class

            matrix = cls(scipy.sparse.csr_array(tuple(parts), shape=tuple(shape)))
        else:
            matrix = cls(tuple(parts), shape=tuple(shape))
        if fmt in ("csr", "csc", "bsr"):
            # scipy narrows index arrays that fit in int32; keep the saved dtypes.
            matrix.indices, matrix.indptr = parts[1], parts[2]
            matrix.check_format(full_check=True)
        elif fmt == "dia" and matrix.data.shape[0] != matrix.offsets.shape[0]:
            raise ValueError("dia data and offsets disagree")
    except (TypeError, ValueError, IndexError, OverflowError, ZeroDivisionError) as exc:
        raise FormatError(f"invalid {name}: {exc}") from None
    return matrix


BY_PREDICATE.insert(0, (_is_sparse, _encode_sparse))
MEMOIZED.add(_encode_sparse)
BY_KIND["sparse"] = _decode_sparse


def _is_frozen_distribution(value: Any) -> bool:
    kind = type(value)
    return kind.__module__.startswith("scipy.stats") and kind.__name__.endswith("_frozen")


_NUMBERS = (int, float, np.integer, np.floating)


def _named_distribution(name: Any) -> Any:
    """The scipy.stats distribution called ``name``, or None."""
    import scipy.stats  # noqa: PLC0415

    dist = getattr(scipy.stats, name, None) if isinstance(name, str) and name.isidentifier() \
        else None
    return dist if isinstance(dist, (scipy.stats.rv_continuous, scipy.stats.rv_discrete)) else None


def _numeric(args: Any, keywords: Any) -> bool:
    return (all(isinstance(a, _NUMBERS) for a in args) and isinstance(keywords, dict)
            and all(type(k) is str and isinstance(v, _NUMBERS) for k, v in keywords.items()))


def _encode_distribution(encoder: Encoder, value: Any) -> Node:
    """A frozen scipy.stats distribution, as its distribution's name and parameters."""
    name = getattr(getattr(value, "dist", None), "name", None)
    if _named_distribution(name) is None or not _numeric(value.args, value.kwds):
        raise encoder.fail(f"{type(value).__name__} cannot be saved: only scipy.stats' named"
                           " distributions (norm, uniform, loguniform...) frozen with numbers"
                           " as parameters can")
    return {
        "$": "distribution",
        "name": value.dist.name,
        "args": [encoder.child(a, f".args[{i}]") for i, a in enumerate(value.args)],
        "kw": encoder.child(dict(value.kwds), ".kwds"),
        "random_state": encoder.child(value.random_state, ".random_state"),
    }


def _decode_distribution(decoder: Decoder, node: dict[str, Any]) -> Any:
    name = required(node, "name", str)
    dist = _named_distribution(name)
    if dist is None:
        raise FormatError(f"{name[:40]!r} is not a scipy.stats distribution")
    args = decoder.children(node.get("args"), "distribution parameters")
    keywords = decoder.child(required(node, "kw", dict), ".kwds")
    if not _numeric(args, keywords):
        raise FormatError(f"the parameters of distribution {name} must be numbers")
    random_state = decoder.child(node.get("random_state"), ".random_state")
    if not isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        raise FormatError("a distribution's random_state must be a numpy generator")
    try:
        frozen = dist(*args, **keywords)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"invalid parameters for distribution {name}: {exc}") from None
    frozen.random_state = random_state
    return frozen


BY_PREDICATE.insert(0, (_is_frozen_distribution, _encode_distribution))
BY_KIND["distribution"] = _decode_distribution


#: Evaluating a spline of degree k costs about k**2 per point: beyond this, a hang.
MAX_SPLINE_DEGREE = 100


@functools.cache
def _spline_parts() -> tuple[str, str]:
    """The attributes the installed scipy's BSpline keeps its knots and coefficients in:
    ``_t`` and ``_c`` behind properties in recent releases, plain ``t`` and ``c`` in older
    ones (scipy 1.11)."""
    from scipy.interpolate import BSpline  # noqa: PLC0415

    return ("_t", "_c") if isinstance(BSpline.__dict__.get("t"), property) else ("t", "c")


def _bspline_state(state: Any, args: tuple[Any, ...]) -> None:
    """What ``BSpline.__init__`` checks, on the attributes the spline is rebuilt from.

    Its compiled evaluation trusts them: a negative degree aborts the process, a
    huge one reads past the knots.
    """
    t, c = _spline_parts()
    if not isinstance(state, dict) or not {t, c, "k", "extrapolate", "axis"} <= state.keys():
        raise fail("BSpline", f"the state needs {t}, {c}, k, extrapolate and axis")
    knots, coefficients, degree = state[t], state[c], state["k"]
    if not (isinstance(degree, int | np.integer) and 0 <= degree <= MAX_SPLINE_DEGREE):
        raise fail("BSpline", f"the degree k must be an integer from 0 to {MAX_SPLINE_DEGREE}")
    if not (isinstance(knots, np.ndarray) and knots.dtype == np.float64 and knots.ndim == 1
            and knots.size >= 2 * degree + 2):
        raise fail("BSpline", f"a spline of degree {degree} needs a 1-d float64 array of at"
                            f" least {2 * degree + 2} knots")
    degree = int(degree)
    last = knots.size - degree - 1
    if not np.isfinite(knots).all() or (np.diff(knots) < 0).any() \
            or knots[last] <= knots[degree]:
        raise fail("BSpline", "knots must be finite and non-decreasing, with two distinct"
                            " internal knots")
    if not (isinstance(coefficients, np.ndarray) and coefficients.ndim >= 1
            and coefficients.dtype in (np.float64, np.complex128)
            and coefficients.shape[0] >= last):
        raise fail("BSpline", f"the coefficients must be a float array of at least {last} rows")
    extrapolate, axis = state["extrapolate"], state["axis"]
    if not (type(extrapolate) in (bool, np.bool_) or (type(extrapolate) is str
                                                       and extrapolate == "periodic")):
        raise fail("BSpline", "extrapolate must be True, False or 'periodic'")
    if not (isinstance(axis, int | np.integer) and 0 <= axis < coefficients.ndim):
        raise fail("BSpline", f"axis must be an axis of the coefficients, found {axis!r}")


def _is_delegating_spline(value: Any) -> bool:
    return type(value).__name__ == "BSpline" and type(value).__module__ == _BSPLINE_MODULE \
        and hasattr(value, "_delegate_to")


def _encode_delegating_spline(encoder: Encoder, value: Any) -> Node:
    """scipy 1.18 (Python 3.12 and later) holds a spline's parts in a delegate: they are
    stored as the attributes scipy 1.17 holds, so the file is the same under both."""
    spline = value._delegate_to
    return {"$": "obj", "cls": qualified_name(type(value)), "state": encode_attributes(encoder, {
        "_t": spline.t, "_c": spline.c, "k": spline.k, "extrapolate": spline.extrapolate,
        "axis": spline.axis, "_asarray": value._xp.asarray})}


def _set_spline_state(spline: Any, state: dict[str, Any]) -> None:
    """Set the attributes scipy 1.17 holds, or, under scipy 1.18, the delegate made of them."""
    if not hasattr(type(spline), "_construct_from_xp"):  # scipy 1.17 and earlier
        set_state(spline, state)
        return
    made = type(spline).construct_fast(state["_t"], state["_c"], state["k"],
                                       extrapolate=state["extrapolate"], axis=state["axis"])
    spline.__setstate__(made.__getstate__())


_BSPLINE_MODULE = "scipy.interpolate._bsplines"
STATE[f"{_BSPLINE_MODULE}:BSpline"] = _bspline_state
SETTERS[f"{_BSPLINE_MODULE}:BSpline"] = _set_spline_state
BY_PREDICATE.append((_is_delegating_spline, _encode_delegating_spline))
MEMOIZED.add(_encode_delegating_spline)


@functools.cache
def _argument_parsers() -> frozenset[str]:
    """The argument-parsing sources of scipy.stats' named distributions (they depend on the
    names of a distribution's shape parameters only)."""
    from scipy.stats import _continuous_distns, _discrete_distns  # noqa: PLC0415

    return frozenset(
        getattr(module, name)._parse_arg_template
        for module in (_continuous_distns, _discrete_distns) for name in module._distn_names)


def _distribution_class_state(state: Any, args: tuple[Any, ...]) -> None:
    """``rv_generic.__setstate__`` runs its state's ``_parse_arg_template`` with ``exec``:
    only a source that scipy itself generates for its distributions may reach it."""
    source = state.get("_parse_arg_template") if isinstance(state, dict) else None
    if not (type(source) is str and source in _argument_parsers()):
        raise fail("scipy.stats distribution", "its argument-parsing source (which scipy runs"
                   " on load) is not one that scipy's distributions use")


STATE["scipy.stats._continuous_distns:*"] = _distribution_class_state
STATE["scipy.stats._discrete_distns:*"] = _distribution_class_state
