"""Which names a file may use, decided before anything is imported.

A file refers to Python objects only by name (``module:qualname``). Each name
appears in one *role*:

``class``
    an instance is built with ``cls.__new__(cls)`` and its state is set;
``construct``
    an instance is built by calling the class with data arguments (only for
    reviewed compiled types such as scikit-learn's ``Tree``);
``function``
    a function is looked up and stored, never called by the loader;
``type``
    a class is stored as a value (``dtype=np.float64``).

:class:`TrustPolicy` answers from the names alone, so that the refusal can list
every untrusted name before a single module is imported. :meth:`resolve` then
imports exactly the trusted names and checks that each one really is what its
role requires (a re-exported ``os.system`` does not pass for a scikit-learn
function).
"""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import re
import sys
import types
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from satchel.errors import FormatError, UntrustedTypesError

Role = Literal["class", "construct", "function", "type"]
ROLES: tuple[Role, ...] = ("class", "construct", "function", "type")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_UNSAFE_SKLEARN_PARTS = frozenset({"tests", "_testing", "externals", "conftest", "_mocking",
                                   "_build_utils", "estimator_checks"})
#: scikit-learn classes whose ``__setstate__`` does more than set attributes: a scoring
#: callback connects to the address its state names (and opens a listener of its own).
_UNSAFE_SKLEARN_CLASSES = frozenset({"sklearn.callback._scoring_monitor:ScoringMonitor"})

#: Compiled scikit-learn types whose state satchel validates before use.
REVIEWED_COMPILED = frozenset({
    "sklearn.tree._tree:Tree",
    "sklearn.neighbors._kd_tree:KDTree",
    "sklearn.neighbors._ball_tree:BallTree",
})
_REVIEWED_COMPILED_MODULES = frozenset({
    "sklearn._loss._loss", "sklearn.linear_model._sgd_fast", "sklearn.metrics._dist_metrics",
})
_CONSTRUCT_MODULES = frozenset({"sklearn._loss._loss", "sklearn.linear_model._sgd_fast"})
#: Values of the standard library that data holds (a database's DATE and NUMERIC columns
#: reach an encoder's categories as these): rebuilt by calling the class with the
#: arguments pickle gives it (packed date bytes, a decimal string), which it validates.
DATA_CLASSES = frozenset({
    "datetime:date", "datetime:time", "datetime:datetime", "datetime:timedelta",
    "datetime:timezone", "decimal:Decimal",
})
#: Classes rebuilt by calling them with their saved arguments (a ``new`` node): a
#: Tree's arguments are validated first, and an OrderedDict only stores what it is given.
_CONSTRUCTED = frozenset({"sklearn.tree._tree:Tree", "collections:OrderedDict"}) | DATA_CLASSES

#: Classes outside scikit-learn that fitted estimators hold.
TRUSTED_CLASSES = frozenset({
    "scipy.interpolate._interpolate:interp1d",
    "scipy.interpolate._bsplines:BSpline",
    "scipy.interpolate._interpolate:PPoly",
    "scipy.stats._distn_infrastructure:rv_continuous_frozen",
    "scipy.stats._distn_infrastructure:rv_discrete_frozen",
    "collections:OrderedDict",
})
_SCIPY_DISTRIBUTION_MODULES = frozenset({
    "scipy.stats._continuous_distns", "scipy.stats._discrete_distns",
})

#: numpy functions (not ufuncs) that estimators take as parameters.
TRUSTED_NUMPY_FUNCTIONS = frozenset({
    "mean", "median", "sum", "prod", "std", "var", "min", "max", "amin", "amax", "average",
    "nanmean", "nanmedian", "nansum", "nanstd", "nanvar", "nanmin", "nanmax", "percentile",
    "quantile", "ptp", "argmax", "argmin", "clip", "round", "around", "cumsum", "sort",
    "log1p", "ravel", "transpose",
})
#: (Not ``sklearn.utils.extmath``: no estimator takes its functions, and the keyword
#: arguments a file gives them set the work, as randomized_svd's n_iter=10**9 does.)
_SKLEARN_FUNCTION_MODULES = frozenset({
    "sklearn.metrics._classification", "sklearn.metrics._regression",
    "sklearn.metrics._ranking", "sklearn.metrics.cluster._supervised",
    "sklearn.metrics.cluster._unsupervised", "sklearn.metrics.pairwise",
    "sklearn.metrics._scorer", "sklearn.feature_selection._univariate_selection",
    "sklearn.feature_selection._mutual_info", "sklearn.preprocessing._data",
})
#: Individual functions estimators hold as attributes (checked to be functions of
#: exactly that module and name after import).
TRUSTED_FUNCTIONS = frozenset({
    "sklearn.cluster._kmeans:_kmeans_single_lloyd",
    "sklearn.cluster._kmeans:_kmeans_single_elkan",
    "sklearn.utils.validation:check_array",
    "scipy._lib.array_api_compat.numpy._aliases:asarray",
})
#: Modules a newer release moved names to -> where files name them, as the releases before
#: did, so that a model saves the same under both and a file loads under either: Python
#: 3.13 split pathlib's classes into pathlib._local, and scipy 1.18 (Python 3.12 and later)
#: vendors array_api_compat under scipy._external.
SAVED_MODULES = {
    "pathlib._local": "pathlib",
    "scipy._external.array_api_compat.numpy._aliases":
        "scipy._lib.array_api_compat.numpy._aliases",
}
_MOVED_MODULES = {saved: moved for moved, saved in SAVED_MODULES.items()}
#: Module parts of pandas whose classes are never trusted by default (its test suite's
#: example extension dtypes).
_UNSAFE_PANDAS_PARTS = frozenset({"tests", "_testing", "conftest"})
_BUILTIN_TYPES = frozenset({"int", "float", "complex", "str", "bytes", "bool", "object"})
_UFUNC_MODULES = frozenset({"numpy", "scipy.special", "scipy.special._ufuncs"})


def split_name(name: str) -> tuple[str, str]:
    """Split ``module:qualname`` (or a dotted name) into its two parts.

    Raises:
        FormatError: the name is not made of Python identifiers, or reaches for
            a dunder attribute.
    """
    if not isinstance(name, str):
        raise FormatError(f"a name must be a string, found {type(name).__name__}")
    found = _SPLIT.get(name)
    if found is not None:
        return found
    module, sep, qualname = name.partition(":")
    if not sep:
        module, _, qualname = name.rpartition(".")
    if not (_NAME.fullmatch(module) and _NAME.fullmatch(qualname)) or special(qualname):
        raise FormatError(f"invalid name {name[:80]!r}: expected 'module:qualname' made of"
                          " Python identifiers")
    if len(_SPLIT) < _MEMO_SIZE:
        _SPLIT[name] = module, qualname
    return module, qualname


def special(qualname: str) -> bool:
    """Whether a part of ``qualname`` begins with ``__``: a dunder attribute (``__globals__``)
    or a private one, which no name may reach for (``Scale__V2`` is an ordinary name)."""
    return any(part.startswith("__") for part in qualname.split("."))


#: Valid names already split, and default verdicts already given (both pure).
_SPLIT: dict[str, tuple[str, str]] = {}
_VERDICTS: dict[tuple[str, str], bool] = {}
_MEMO_SIZE = 4096


def dotted(name: str) -> str:
    """The dotted spelling users write in ``trusted=[...]``."""
    found = _DOTTED.get(name)
    if found is None:
        module, qualname = split_name(name)
        found = f"{module}.{qualname}"
        if len(_DOTTED) < _MEMO_SIZE:
            _DOTTED[name] = found
    return found


_DOTTED: dict[str, str] = {}


def _is_sklearn_module(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "sklearn" and not _UNSAFE_SKLEARN_PARTS.intersection(parts)


def _is_pandas_dtype_name(module: str, qualname: str) -> bool:
    """Whether ``module:qualname`` may name one of pandas' dtype classes (checked to be one
    after import): data types, as numpy's scalar types are."""
    parts = module.split(".")
    return (parts[0] == "pandas" and not _UNSAFE_PANDAS_PARTS.intersection(parts)
            and "." not in qualname and qualname.endswith("Dtype"))


def default_trusts(role: Role, name: str) -> bool:
    """Whether satchel trusts ``name`` in ``role`` with no help from the user."""
    verdict = _VERDICTS.get((role, name))
    if verdict is None:
        verdict = _default_verdict(role, name)
        if len(_VERDICTS) < _MEMO_SIZE:
            _VERDICTS[role, name] = verdict
    return verdict


def _default_verdict(role: Role, name: str) -> bool:
    module, qualname = split_name(name)
    if role == "construct":
        return name in _CONSTRUCTED or (
            module in _CONSTRUCT_MODULES and "." not in qualname
        )
    if role == "function":
        if module in _UFUNC_MODULES:
            return "." not in qualname
        return name in TRUSTED_FUNCTIONS or (  # top-level functions only, never methods
            module in _SKLEARN_FUNCTION_MODULES and not qualname.startswith("_")
            and "." not in qualname)
    if role == "type" and (module == "numpy" or (module == "builtins"
                                                  and qualname in _BUILTIN_TYPES)):
        return True
    if role == "type" and _is_pandas_dtype_name(module, qualname):
        return True
    if module == "sklearn.metrics._dist_metrics" and qualname.startswith("PyFunc"):
        return False  # holds an arbitrary Python callable
    if f"{module}:{qualname}" in _UNSAFE_SKLEARN_CLASSES:
        return False
    return (
        _is_sklearn_module(module)
        or name in TRUSTED_CLASSES
        or (module in _SCIPY_DISTRIBUTION_MODULES and qualname.endswith("_gen"))
    )


class TrustPolicy:
    """The default trusted set plus the names a user trusted explicitly."""

    def __init__(self, trusted: Iterable[str] = ()) -> None:
        if isinstance(trusted, str):
            trusted = [trusted]
        self.user = frozenset(dotted(n) for n in trusted)

    def trusts(self, role: Role, name: str) -> bool:
        """Whether ``name`` may be used in ``role``."""
        return dotted(name) in self.user or default_trusts(role, name)

    def check(self, uses: Iterable[tuple[Role, str]]) -> None:
        """Raise :class:`UntrustedTypesError` listing every untrusted name."""
        refused = {dotted(name) for role, name in uses if not self.trusts(role, name)}
        if refused:
            raise UntrustedTypesError(refused)

    def resolve(self, role: Role, name: str) -> Any:
        """Import and return the object ``name`` names, checked against its role."""
        module_name, qualname = split_name(name)
        user_trusted = dotted(name) in self.user
        try:
            target, module_name = _import(module_name)
            for part in qualname.split("."):
                target = _attribute(target, part, name)
        except ImportError as exc:
            raise FormatError(
                f"{dotted(name)} cannot be imported: {exc}. Install the package that provides"
                f" {module_name!r} (the same version that saved the file)."
            ) from None
        except AttributeError:
            raise FormatError(
                f"{dotted(name)} does not exist in the installed {module_name!r};"
                " the file was saved with another version of it."
            ) from None
        if not user_trusted:
            _check_default_target(role, name, module_name, qualname, target)
        elif role in ("class", "construct", "type") and not isinstance(target, type):
            raise FormatError(f"{dotted(name)} was named as a class but is {type(target)}")
        return target


def _import(module_name: str) -> tuple[Any, str]:
    """The module a file names, or the one a newer release moved it to
    (:data:`SAVED_MODULES`), with its name."""
    try:
        return _imported(module_name) or importlib.import_module(module_name), module_name
    except ImportError:
        moved = _MOVED_MODULES.get(module_name)
        if moved is None:
            raise
        return _imported(moved) or importlib.import_module(moved), moved


def _imported(module_name: str) -> types.ModuleType | None:
    """The module if it is already imported and initialised (importlib's own first test,
    without its machinery, which costs a fresh process more than the lookup)."""
    module = sys.modules.get(module_name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    return module


def _attribute(target: Any, part: str, name: str) -> Any:
    """``target.part`` without letting a module import anything on the way.

    A module's ``__getattr__`` may import submodules lazily (numpy does), so
    module attributes are read from the module's namespace only, and a name may
    never lead into another module.
    """
    if isinstance(target, types.ModuleType):
        found = vars(target).get(part, _MISSING)
        if found is _MISSING:
            raise AttributeError(part)
    else:
        found = getattr(target, part)
    if isinstance(found, types.ModuleType):
        raise UntrustedTypesError([dotted(name)], f"{dotted(name)} leads into module"
                                  f" {found.__name__}, which is never a class or function.",
                                  imported=split_name(name)[0])
    return found


_MISSING = object()


def _check_default_target(role: Role, name: str, module: str, qualname: str,
                          target: Any) -> None:
    """A default-trusted name must resolve to the kind of object its rule expects."""
    if role == "function":
        if module in _UFUNC_MODULES:
            ok = isinstance(target, np.ufunc) or (
                module == "numpy" and qualname in TRUSTED_NUMPY_FUNCTIONS
            )
        else:
            ok = (isinstance(target, types.FunctionType) and target.__module__ == module
                  and target.__qualname__ == qualname)
    elif role == "type" and module in ("numpy", "builtins"):
        ok = isinstance(target, type) and (
            issubclass(target, np.generic) or getattr(builtins, qualname, None) is target
        )
    elif role == "type" and _is_pandas_dtype_name(module, qualname):
        from pandas.api.extensions import ExtensionDtype  # noqa: PLC0415 - imported already

        ok = (isinstance(target, type) and issubclass(target, ExtensionDtype)
              and target.__module__ == module and target.__qualname__ == qualname)
    else:
        ok = (
            isinstance(target, type)
            and target.__module__ == module
            and target.__qualname__ == qualname
            and (not _is_compiled(target) or _reviewed_compiled(name, module))
        )
    if not ok:
        raise UntrustedTypesError(
            [dotted(name)],
            f"{dotted(name)} is not a {role} that satchel trusts by default"
            f" (found {type(target).__name__}).",
            imported=module,
        )


def _reviewed_compiled(name: str, module: str) -> bool:
    return name in REVIEWED_COMPILED or module in _REVIEWED_COMPILED_MODULES


def _is_compiled(cls: type) -> bool:
    """True for classes defined in an extension module (Cython, C)."""
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None) or ""
    return filename.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
