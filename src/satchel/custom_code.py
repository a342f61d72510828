"""Custom code a model needs: recorded at save, checked (or run, if trusted) at load.

For every class and function outside the default trusted set, a file records
its module, the distribution and version that provide it and a hash of the
module's source. ``embed_source=True`` stores the source too of the user's own
modules (not those of an installed library); it is only ever executed by
``load(..., trust_code=True)``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from satchel import environment
from satchel.errors import EncodeError, FormatError, MissingCodeError
from satchel.format.trust import default_trusts, dotted, split_name


def _source(module: str) -> str | None:
    """The source of ``module`` as its loader reads it (from a file, or from a zip on
    ``sys.path``), or None for a module of compiled code.

    Raises:
        EncodeError: the source cannot be read (its file was removed or changed since
            the module was imported): its hash could not be recorded.
    """
    spec = getattr(sys.modules.get(module), "__spec__", None) or importlib.util.find_spec(module)
    get_source = getattr(spec.loader if spec else None, "get_source", None)
    try:
        return get_source(module) if get_source else None
    except (ImportError, OSError, SyntaxError, ValueError) as exc:
        where = spec.origin if spec else None
        raise EncodeError(
            f"cannot save: the source of module {module!r} cannot be read from {where}"
            f" ({exc}); expected the readable Python file it was imported from: restore"
            " it (or reinstall the package that provides it) and save again") from None


def describe(uses: Iterable[tuple[Any, str]], embed_source: bool) -> list[dict[str, Any]]:
    """One record per module of custom code the tree names; with ``embed_source``, one
    (with no names) per module of the user's own that those import, directly or not.

    Raises:
        EncodeError: the source of a module cannot be read.
    """
    modules: dict[str, list[str]] = {}
    for role, name in sorted(uses):
        if not default_trusts(role, name):
            module, _ = split_name(name)
            modules.setdefault(module, []).append(dotted(name))
    read = functools.cache(_source)  # a module's source is read once per save
    if embed_source:  # the embedded modules run alone: they need the own modules they import
        for module in _imported_own_modules(list(modules), read):
            modules.setdefault(module, [])
    records = []
    for module, names in sorted(modules.items()):
        source = read(module)
        distribution = environment.distribution_of(module)
        record: dict[str, Any] = {
            "module": module,
            "names": sorted(set(names)),
            "distribution": distribution,
            "version": environment.installed_version(distribution) if distribution else None,
            "source_sha256": hashlib.sha256(source.encode()).hexdigest() if source else None,
        }
        if embed_source and source is not None and not _library(module, distribution):
            record["source"] = source
        records.append(record)
    return records


def _library(module: str, distribution: str | None) -> bool:
    """Whether ``module`` is a library's: the standard library's, or one of ``distribution``
    installed not in editable mode. Its source is never embedded: trust_code would run that
    copy in place of the library a machine installs, which the record's version pins."""
    if distribution is None:
        return environment.in_stdlib(module)
    return not environment.is_editable(distribution)


def _imported_own_modules(modules: list[str], read: Callable[[str], str | None]) -> set[str]:
    """The user's own modules (not a library's) that those of ``modules`` import, directly
    or not; ``read`` gives a module's source."""
    found, pending = set(modules), [module for module in modules if _own(module)]
    while pending:
        for imported in _imports(pending.pop(), read) - found:
            if _own(imported):
                found.add(imported)
                pending.append(imported)
    return found - set(modules)


def _own(module: str) -> bool:
    return module != "__main__" and not _library(module, environment.distribution_of(module))


def _imports(module: str, read: Callable[[str], str | None]) -> set[str]:
    """The loaded modules that the import statements in the source of ``module`` name."""
    source = read(module)
    package = getattr(sys.modules.get(module), "__package__", None) or ""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source or "")):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.level == 0 or package):
            try:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""),
                                                   package)
            except ImportError:  # above the top-level package: it fails when run (guarded)
                continue
            names.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
    return {name for name in names if name in sys.modules}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def ensure_available(records: list[dict[str, Any]], trust_code: bool,
                     modules: set[str]) -> None:
    """Make sure the custom modules the tree uses can be imported (or run, if trusted).

    Only records for ``modules`` (the modules of names the file uses, which
    already passed the trust check) are looked at: looking up any other module
    could import its parent packages. Every missing module is checked before any
    embedded source runs, and the embedded modules run as one set: each may import
    another, whatever their order in the file.

    Raises:
        MissingCodeError: a module is missing; the message names the
            distribution and version to install.
    """
    if trust_code:  # the modules the used ones import, embedded with them, run with them
        modules = modules | {record["module"] for record in records
                             if record.get("names") == [] and isinstance(record.get("module"), str)}
    embedded: dict[str, str] = {}
    for record in records:
        module = record.get("module")
        if not isinstance(module, str) or module not in modules or _importable(module):
            continue
        if trust_code and isinstance(record.get("source"), str):
            embedded[module] = record["source"]
            continue
        distribution, version = record.get("distribution"), record.get("version")
        pin = f"{distribution}=={version}" if version else distribution
        fix = f"pip install '{pin}'" if distribution else f"make module {module!r} importable"
        if isinstance(record.get("source"), str):
            fix += ", or load with trust_code=True to run the source embedded in the file"
        elif trust_code:
            fix += ("; the file holds no source of it to run (save(..., embed_source=True)"
                    " stores it)")
        raise MissingCodeError(f"the model needs module {module!r}, which is not installed:"
                               f" {fix}.")
    if embedded:
        _run_embedded(embedded)


def _run_embedded(sources: dict[str, str]) -> None:
    """Create each module of ``sources`` from its source (the user trusted the file's code);
    while they run, an import of one of them from another finds its source."""
    finder = _EmbeddedModules(sources)
    sys.meta_path.append(finder)
    try:
        for module in sources:
            _add_parents(module)
            importlib.import_module(module)
    finally:
        sys.meta_path.remove(finder)


def _add_parents(module: str) -> None:
    """Empty packages for the parents of ``module`` that cannot be imported."""
    parts = module.split(".")
    for depth in range(1, len(parts)):
        parent = ".".join(parts[:depth])
        if parent not in sys.modules and not _importable(parent):
            package = types.ModuleType(parent)
            package.__path__ = []
            sys.modules[parent] = package


class _EmbeddedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and runs the modules whose source a file embeds."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources
        #: The embedded modules others are below, found once: looked up for each module,
        #: they took time growing with the square of the modules' number.
        self.packages = {name.rsplit(".", level)[0] for name in sources
                         for level in range(1, name.count(".") + 1)}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        """A spec for an embedded module, None for any other. One that other embedded
        modules are below is a package (its ``__init__.py``), which may import them."""
        if fullname not in self.sources:
            return None
        _add_parents(fullname)
        return importlib.util.spec_from_loader(fullname, self,
                                               is_package=fullname in self.packages,
                                               origin=f"<satchel embedded {fullname}>")

    def exec_module(self, module: types.ModuleType) -> None:
        """Run the module's embedded source in it."""
        name = module.__name__
        module.__file__ = f"<satchel embedded {name}>"
        try:
            exec(compile(self.sources[name], module.__file__, "exec"), module.__dict__)  # noqa: S102
        except FormatError:
            raise  # an embedded module it imports failed: that one is named
        except Exception as exc:
            raise FormatError(f"the embedded source of {name!r} failed to run: {exc}") from exc


def trusted_names(records: list[dict[str, Any]]) -> list[str]:
    """The names the source a file embeds defines, which ``trust_code=True`` trusts: those of
    each record that holds source, of its own module, and a module of the user's own (a save
    embeds no other). A record with no source, or a library's module, has its names trusted
    by name alone.

    Raises:
        FormatError: such a record holds a name that is not a dotted name.
    """
    return [name for record in records if isinstance(record.get("source"), str)
            and _own(record["module"]) for name in record.get("names", [])
            if isinstance(name, str) and split_name(name)[0] == record["module"]]
