"""Instances of classes, classes and functions as values, partials and references.

An instance is saved through ``__reduce_ex__``, but only in the two shapes that
can be rebuilt without calling anything the file names:

* ``obj``: ``cls.__new__(cls)`` then ``__setstate__(state)`` (or a ``__dict__``
  update), the default for Python classes;
* ``new``: ``cls(*args)`` then the state, for the reviewed compiled types whose
  constructor allocates from the arguments (scikit-learn's ``Tree``), with the
  arguments checked by a validator first.

Functions and classes stored as values are references by name: they are looked
up after the trust check and never called by the loader.
"""

from __future__ import annotations

import contextlib
import copyreg
import functools
import importlib
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from satchel.errors import FormatError
from satchel.format.decoder import BY_KIND, NAMED_KINDS, SELF_REGISTERING, Decoder, required
from satchel.format.encoder import BY_PREDICATE, BY_TYPE, FALLBACK, Encoder, Node
from satchel.format.handlers.builtins import PACK_FROM, encode_attributes, only
from satchel.format.trust import SAVED_MODULES, special

_NEWOBJ = getattr(copyreg, "__newobj__")  # noqa: B009 - not in the stubs

def fail(what: str, problem: str) -> FormatError:
    """The error a validator raises: ``what`` holds state that compiled code would misuse."""
    return FormatError(f"invalid {what}: {problem}. The file was crafted or damaged; refusing"
                       " to load it")


#: Validators keyed by ``module:qualname``: run on constructor arguments
#: (``ARGS``), on the decoded state (with those arguments) before it is set
#: (``STATE``), and on the finished object (``AFTER_TYPES``, matched through the MRO).
T = TypeVar("T")
ARGS: dict[str, Callable[[tuple[Any, ...]], None]] = {}
#: Rules on an instance's attributes, keyed and matched like ``AFTER_TYPES``, that hold at
#: load (on the finished object) and at save (on its state): a writer does not write what
#: its reader refuses. Each gives the problem, or None.
ATTRIBUTE_RULES: list[tuple[str, Callable[[Any, dict[str, Any]], str | None]]] = []
#: Rules on the keyword arguments a ``functools.partial`` binds to its function, held at
#: load and at save like ``ATTRIBUTE_RULES``. Each gives the problem, or None.
PARTIAL_RULES: list[Callable[[dict[str, Any]], str | None]] = []
STATE: dict[str, Callable[[Any, tuple[Any, ...]], None]] = {}
#: How the decoded state of a class is set, keyed by ``module:qualname``, where the
#: default, :func:`set_state`, does not fit every release the class comes from.
SETTERS: dict[str, Callable[[Any, Any], None]] = {}
AFTER_TYPES: list[tuple[str, Callable[[Any], None]]] = []
_after_cache: dict[type, list[Callable[[Any], None]]] = {}
_rules_cache: dict[type, list[Callable[[Any, dict[str, Any]], str | None]]] = {}
#: Classes and functions already named (the lookup imports and walks attributes).
_qualified: dict[Any, str] = {}


def qualified_name(obj: Any) -> str:
    """``module:qualname`` of a class or function, checked to resolve back to ``obj``."""
    try:
        return _qualified[obj]
    except (KeyError, TypeError):  # not seen yet, or unhashable
        pass
    name = _find_name(obj)
    with contextlib.suppress(TypeError):
        _qualified[obj] = name
    return name


def _find_name(obj: Any) -> str:
    if isinstance(obj, np.ufunc):
        return _ufunc_name(obj)
    owner = getattr(obj, "__self__", None)
    if owner is not None and not isinstance(owner, types.ModuleType):
        bound = f"class {owner.__qualname__}" if isinstance(owner, type) else (
            f"a {type(owner).__qualname__} object")
        raise TypeError(
            f"{getattr(obj, '__qualname__', obj)} is a method bound to {bound}, and satchel"
            " stores functions by name only, never the object a method is bound to; save the"
            " object itself, or a function defined at the top level of an importable module"
            " that calls its method"
        )
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"{obj!r} has no module and name to refer to it by")
    # Some compiled modules report a bare name ("_loss" for sklearn._loss._loss);
    # the module object knows its full name.
    module = str(getattr(sys.modules.get(module), "__name__", module))
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise TypeError(
            f"{module}.{qualname} is a lambda or a local definition and cannot be found by"
            " name when the file is loaded; define it at the top level of an importable module"
        )
    if module == "__main__":
        raise TypeError(
            f"{qualname} is defined in __main__ (a script or notebook), which will not exist"
            " when the file is loaded; move it to an importable module"
        )
    if special(qualname):
        raise TypeError(
            f"{module}.{qualname} has a name that begins with '__', which a reader refuses"
            " (it reaches for special attributes); rename it"
        )
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not obj:
        raise TypeError(f"{module}.{qualname} does not lead back to {obj!r}")
    return f"{SAVED_MODULES.get(module, module)}:{qualname}"


def _ufunc_name(ufunc: np.ufunc) -> str:
    import scipy.special  # noqa: PLC0415

    for module in (np, scipy.special):
        if getattr(module, ufunc.__name__, None) is ufunc:
            return f"{module.__name__}:{ufunc.__name__}"
    raise TypeError(f"ufunc {ufunc.__name__} is neither in numpy nor in scipy.special")


def _reference(encoder: Encoder, value: Any, kind: str) -> Node:
    try:
        return {"$": kind, "name": qualified_name(value)}
    except TypeError as exc:
        raise encoder.fail(str(exc)) from None


def _encode_partial(encoder: Encoder, value: functools.partial[Any]) -> Node:
    problem = _partial_problem(value.keywords)
    if problem is not None:
        raise encoder.fail(problem)
    return {
        "$": "partial",
        "func": encoder.child(value.func, ".func"),
        "args": [encoder.child(a, f".args[{i}]") for i, a in enumerate(value.args)],
        "kw": encoder.child(dict(value.keywords), ".keywords"),
    }


def _decode_partial(decoder: Decoder, node: dict[str, Any]) -> functools.partial[Any]:
    func_node = required(node, "func", dict)
    if func_node.get("$") not in ("func", "type", "partial"):
        raise FormatError("a partial must wrap a function, a class or another partial")
    func = decoder.child(func_node, ".func")
    args = decoder.children(node.get("args"), "partial args")
    keywords = decoder.child(required(node, "kw", dict), ".keywords")
    if not isinstance(keywords, dict) or not all(type(k) is str for k in keywords):
        raise FormatError("partial keywords must be a dict with string keys")
    problem = _partial_problem(keywords)
    if problem is not None:
        raise fail("functools.partial", problem)
    return functools.partial(func, *args, **keywords)


def _partial_problem(keywords: dict[str, Any]) -> str | None:
    return next((p for p in (rule(keywords) for rule in PARTIAL_RULES) if p is not None), None)


def reduced(encoder: Encoder, value: Any) -> tuple[dict[str, Any], Any, Any, Any]:
    """How an instance is rebuilt: its node without state, its state, list and dict items.

    The node is ``{"$": "obj", "cls": ...}`` or ``{"$": "new", "cls": ..., "args": [...]}``
    with the arguments still unencoded.
    """
    cls = type(value)
    try:
        result = value.__reduce_ex__(5)
    except Exception as exc:
        raise encoder.fail(f"{cls.__qualname__} cannot be reduced: {exc}") from None
    if isinstance(result, str) or len(result) > 6 or (len(result) == 6 and result[5]):
        raise encoder.fail(f"{cls.__qualname__} uses a pickle form satchel cannot rebuild safely")
    func, args, state, listitems, dictitems = (*result[:5], None, None, None)[:5]
    name = _reference(encoder, cls, "type")["name"]
    rebuilt_by_new = func is _NEWOBJ or getattr(func, "__name__", "") == "newObj"
    if rebuilt_by_new and args == (cls,):
        return {"$": "obj", "cls": name}, state, listitems, dictitems
    fields = _cython_fields(func, args, cls, name)
    if fields is not None:
        return {"$": "new", "cls": name, "args": fields}, state, listitems, dictitems
    if func is cls:
        return {"$": "new", "cls": name, "args": list(args)}, state, listitems, dictitems
    builtin = next((base for base in cls.__mro__[1:] if base.__module__ == "builtins"
                    and base is not object), None)
    if rebuilt_by_new and builtin is not None:
        raise encoder.fail(
            f"{cls.__module__}.{cls.__qualname__} subclasses {builtin.__name__}, which"
            f" satchel stores by its exact type only; convert the value with"
            f" {builtin.__name__}(...) before saving"
        )
    maker = f"{getattr(func, '__module__', None) or '?'}.{getattr(func, '__qualname__', func)}"
    raise encoder.fail(
        f"{cls.__module__}.{cls.__qualname__} is rebuilt by calling {maker}(...), and satchel"
        " rebuilds objects only from their class and state, never by calling a function a file"
        " names; keep what it is made from instead (a logger's name, say), or give a class of"
        " your own __getstate__ and __setstate__ methods"
    )


def _encode_instance(encoder: Encoder, value: Any) -> Node:
    node, state, listitems, dictitems = reduced(encoder, value)
    if "args" in node:
        node["args"] = [encoder.child(a, f"<arg {i}>") for i, a in enumerate(node["args"])]
    if type(state) is dict and all(type(k) is str for k in state):
        for rule in attribute_rules(type(value)):
            problem = rule(value, state)
            if problem is not None:
                raise encoder.fail(problem)
        if any(type(v) is types.MethodType for v in state.values()):
            state = {k: v for k, v in state.items() if not _own_method(value, k, v)}
        node["state"] = encode_attributes(encoder, state)
    elif _slotted(state):  # errors name an attribute of __slots__ as .name, not [1]['name']
        node["state"] = {"$": "tuple", "v": [
            None if part is None else encoder.memoized(part, encode_attributes)
            for part in state]}
    elif state is not None:
        node["state"] = encoder.child(state, "")
    if listitems is not None:
        node["list"] = [encoder.child(x, f"[{i}]") for i, x in enumerate(listitems)]
    if dictitems is not None:
        node["items"] = encoder.child(dict(dictitems), "")
    return node


def _slotted(state: Any) -> bool:
    """Whether ``state`` is the ``(__dict__ or None, slots)`` pair of a class with
    ``__slots__``, each part a dict that a plain dict node holds (fewer than
    :data:`PACK_FROM` names), as for any dict of attribute names."""
    return type(state) is tuple and len(state) == 2 and state[1] is not None and all(
        part is None or (type(part) is dict and len(part) < PACK_FROM and only(str, part))
        for part in state)


def _own_method(value: Any, name: str, attribute: Any) -> bool:
    """Whether ``attribute`` is ``value``'s own method ``name``, bound to it: a copy of what
    its class gives (HistGradientBoosting's early stopping leaves ``_raw_predict`` so)."""
    return (type(attribute) is types.MethodType and attribute.__self__ is value
            and attribute.__func__ is inspect.getattr_static(type(value), name, None))


def _cython_fields(func: Any, args: Any, cls: type, name: str) -> list[Any] | None:
    """The arguments that rebuild an object of Cython's generated pickling, or None.

    A class without fields is rebuilt as ``cls()``. scikit-learn 1.4's losses (the
    ``_base_loss.closs`` of a fitted TweedieRegressor) take their one field (power, delta,
    quantile) as their one argument, as the ``__reduce__`` of later releases says: the
    file is the same.
    """
    if not (getattr(func, "__name__", "") == f"__pyx_unpickle_{cls.__name__}"
            and isinstance(args, tuple) and len(args) == 3 and args[0] is cls
            and type(args[2]) is tuple):
        return None
    if args[2] == ():
        return []
    loss = name.startswith("sklearn._loss._loss:")  # ``name`` is the class's full name
    return list(args[2]) if loss and len(args[2]) == 1 else None


def _encode_namedtuple(encoder: Encoder, value: tuple[Any, ...]) -> Node:
    name = _reference(encoder, type(value), "type")["name"]
    return {"$": "namedtuple", "cls": name,
            "v": [encoder.child(item, f".{field}") for field, item in
                  zip(type(value)._fields, value, strict=True)]}  # type: ignore[attr-defined]


def _decode_namedtuple(decoder: Decoder, node: dict[str, Any]) -> Any:
    cls = decoder.resolve("class", node["cls"])
    items = decoder.children(node.get("v"), "namedtuple fields")
    fields = getattr(cls, "_fields", None)
    if not (isinstance(cls, type) and issubclass(cls, tuple) and isinstance(fields, tuple)
            and len(fields) == len(items)):
        raise FormatError(f"{node['cls']} is not a named tuple of {len(items)} fields")
    return tuple.__new__(cls, items)


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and isinstance(getattr(type(value), "_fields", None), tuple)


def _decode_instance(decoder: Decoder, node: dict[str, Any]) -> Any:
    name = node["cls"]
    args: tuple[Any, ...] = ()
    if node["$"] == "obj":
        cls = decoder.resolve("class", name)
        value = attempt(lambda: cls.__new__(cls), name, "create")
    else:
        cls = decoder.resolve("construct", name)
        args = tuple(decoder.children(node.get("args"), "constructor arguments"))
        if name in ARGS:
            run_check(ARGS[name], name, args)
        value = attempt(lambda: cls(*args), name, "construct")
    if "@" in node:
        decoder.remember(node, value)
    check = state_check(name)
    if "state" in node or check is not None:  # a validated type is never left stateless
        state = decoder.child(node.get("state"), "")
        if check is not None:
            run_check(check, name, state, args)
        setter = SETTERS.get(name, set_state)
        attempt(lambda: setter(value, state), name, "restore the state of")
    if "list" in node:
        items = decoder.children(node["list"], "list items")
        attempt(lambda: value.extend(items), name, "fill")
    if "items" in node:
        mapping = decoder.child(required(node, "items", dict), "")
        attempt(lambda: value.update(mapping), name, "fill")
    for after in after_checks(type(value)):
        run_check(after, name, value)
    return value


def state_check(name: str) -> Callable[[Any, tuple[Any, ...]], None] | None:
    """The validator of the state of class ``name`` (or of every class of its module)."""
    return STATE.get(name) or STATE.get(name.partition(":")[0] + ":*")


def run_check(validator: Callable[..., Any], name: str, *values: Any) -> Any:
    """Run a validator and return what it returns; state too malformed for it to even
    inspect is refused too."""
    try:
        return validator(*values)
    except FormatError:
        raise
    except Exception as exc:  # the file's data broke the validator's assumptions
        raise FormatError(f"invalid {name.replace(':', '.')}: malformed state"
                          f" ({type(exc).__name__}: {exc})") from None


def set_state(value: Any, state: Any) -> None:
    setter = getattr(value, "__setstate__", None)
    if setter is not None:
        setter(state)
        return
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    if state:
        if not isinstance(state, dict):
            raise TypeError(f"expected a dict of attributes, found {type(state).__name__}")
        value.__dict__.update(state)
    for key, item in (slots or {}).items():
        if type(inspect.getattr_static(type(value), key, None)) is not types.MemberDescriptorType:
            # setattr would also run a property's setter, or change __class__ past the
            # checks of the class named
            raise TypeError(f"{key!r:.60} is not a slot of {type(value).__name__}, and a state"
                            " sets only the attributes its __slots__ name")
        setattr(value, key, item)


def attempt(action: Callable[[], Any], name: str, verb: str) -> Any:
    try:
        return action()
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"could not {verb} {name.replace(':', '.')}: {exc}") from None


def after_checks(cls: type) -> list[Callable[[Any], None]]:
    """The checks of a finished ``cls`` object: its ``AFTER_TYPES`` and attribute rules."""
    found = _after_cache.get(cls)
    if found is None:
        found = _after_cache[cls] = [
            *_matching(cls, AFTER_TYPES),
            *(functools.partial(_obey, rule) for rule in attribute_rules(cls))]
    return found


def attribute_rules(cls: type) -> list[Callable[[Any, dict[str, Any]], str | None]]:
    found = _rules_cache.get(cls)
    if found is None:
        found = _rules_cache[cls] = _matching(cls, ATTRIBUTE_RULES)
    return found


def _matching(cls: type, table: list[tuple[str, T]]) -> list[T]:
    """The entries of ``table`` keyed by ``cls`` or a class it derives from."""
    names = {f"{c.__module__}:{c.__qualname__}" for c in cls.__mro__}
    return [entry for name, entry in table if name in names]


def _obey(rule: Callable[[Any, dict[str, Any]], str | None], value: Any) -> None:
    problem = rule(value, getattr(value, "__dict__", {}))
    if problem is not None:
        raise fail(type(value).__name__, problem)


def _decode_reference(decoder: Decoder, node: dict[str, Any]) -> Any:
    return decoder.resolve("function" if node["$"] == "func" else "type", node["name"])


def _decode_ref(decoder: Decoder, node: dict[str, Any]) -> Any:
    number = node.get("to")
    if type(number) is not int or number not in decoder.memo:
        raise FormatError(f"reference {number!r} points to no object defined before it")
    return decoder.memo[number]


def _is_function(value: Any) -> bool:
    """Functions of Python, of C and of Cython (a compiled module's ``def``), numpy's, and
    those that ``functools.cache`` or ``lru_cache`` wrap."""
    return isinstance(value, (types.FunctionType, types.MethodType, types.BuiltinFunctionType,
                              np.ufunc)) or (
        type(value).__name__ in _FUNCTION_TYPES
    )


#: Types of functions that are no ``types.FunctionType``, named as their modules do not
#: export them.
_FUNCTION_TYPES = frozenset({"_ArrayFunctionDispatcher", "cython_function_or_method",
                             "_lru_cache_wrapper"})


BY_TYPE[functools.partial] = _encode_partial
BY_PREDICATE.extend([
    (_is_namedtuple, _encode_namedtuple),
    (lambda v: isinstance(v, type), lambda e, v: _reference(e, v, "type")),
    (_is_function, lambda e, v: _reference(e, v, "func")),
])
FALLBACK.append(_encode_instance)
BY_KIND.update({
    "obj": _decode_instance,
    "new": _decode_instance,
    "type": _decode_reference,
    "func": _decode_reference,
    "partial": _decode_partial,
    "namedtuple": _decode_namedtuple,
    "ref": _decode_ref,
})
NAMED_KINDS.update({
    "obj": ("cls", "class"),
    "namedtuple": ("cls", "class"),
    "new": ("cls", "construct"),
    "type": ("name", "type"),
    "func": ("name", "function"),
})
SELF_REGISTERING.update({"obj", "new"})
