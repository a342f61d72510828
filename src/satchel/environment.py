"""The environment a model was saved in, and how the loading one differs from it.

``capture`` records the interpreter, the platform and the versions of the
packages a model needs. ``compare`` lists every difference with its size
(major, minor, patch), which the load-time version policy reports in one
message.
"""

from __future__ import annotations

import functools
import glob
import importlib.metadata
import json
import os
import platform
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from satchel.errors import FormatError

#: Distributions recorded whenever they are imported at save time; pandas only where the
#: model needs it (see ``satchel.artifact``), as the others come from the modules given.
CORE = ("scikit-learn", "numpy", "scipy")
_CORE_MODULES = {"sklearn": "scikit-learn", "numpy": "numpy", "scipy": "scipy",
                 "pandas": "pandas"}
_DISTRIBUTION_MODULES = {v: k for k, v in _CORE_MODULES.items()}
_STDLIB = frozenset(sys.stdlib_module_names) | {"builtins"}


@functools.cache
def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None.

    Read from the imported module's ``__version__`` for the core packages and
    from the ``NAME-VERSION.dist-info`` folder name otherwise: both are far
    cheaper than parsing the distribution's METADATA file at every load.
    """
    module = _DISTRIBUTION_MODULES.get(distribution)
    version = getattr(sys.modules.get(module or ""), "__version__", None)
    if isinstance(version, str):
        return version
    return _dist_info_version(distribution)


def _dist_info_version(distribution: str) -> str | None:
    if not _NAME.fullmatch(distribution):  # no distribution has such a name (a file's '')
        return None
    found = _dist_info_versions().get(_SEPARATORS.sub("_", distribution).lower())
    if found is not None:
        return found
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def _dist_info_versions() -> dict[str, str]:
    """The version of each ``NAME-VERSION.dist-info`` folder on ``sys.path``, by its
    normalized name (the first one found, as imports find them): listed once, so that a
    file naming many packages costs one listing, not one per name."""
    versions: dict[str, str] = {}
    for entry in sys.path:
        for folder in glob.glob(os.path.join(entry or ".", "*.dist-info")):
            name, _, version = os.path.basename(folder)[:-len(".dist-info")].partition("-")
            if version:
                versions.setdefault(_SEPARATORS.sub("_", name).lower(), version)
    return versions


@functools.cache
def _module_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides module ``module``: the one that names its
    top-level package, or else the one installed in editable mode whose ``.pth`` file adds
    the folder that holds it (such an install may name no package, only that file)."""
    top = module.split(".", maxsplit=1)[0]
    if top in _CORE_MODULES:
        return _CORE_MODULES[top]
    if in_stdlib(top) or top == "__main__":
        return None
    found = _module_distributions().get(top)
    return found[0] if found else _editable_owner(module)


def in_stdlib(module: str) -> bool:
    """Whether ``module`` belongs to Python's standard library."""
    return module.split(".", maxsplit=1)[0] in _STDLIB


def is_editable(distribution: str) -> bool:
    """Whether ``distribution`` is installed in editable mode (``pip install -e``): the
    project of its author, whose modules are their own code rather than a library's."""
    return distribution in _editable_folders()


def _editable_owner(module: str) -> str | None:
    path = getattr(sys.modules.get(module), "__file__", None)
    if not path:
        return None
    path = os.path.realpath(path)
    return next((name for name, folders in _editable_folders().items()
                 if any(path.startswith(folder + os.sep) for folder in folders)), None)


@functools.cache
def _editable_folders() -> dict[str, list[str]]:
    """Each distribution installed in editable mode -> the folders its .pth files add."""
    editable = {}
    for found in importlib.metadata.distributions():
        try:
            direct = json.loads(found.read_text("direct_url.json") or "{}")
            if direct.get("dir_info", {}).get("editable") is True:
                editable[found.metadata["Name"]] = _pth_folders(found)
        except (ValueError, AttributeError, OSError):
            continue
    return editable


def _pth_folders(found: importlib.metadata.Distribution) -> list[str]:
    lines = [line.strip() for file in found.files or [] if file.suffix == ".pth"
             for line in (file.read_text() or "").splitlines()]
    return [os.path.realpath(line) for line in lines if os.path.isabs(line)]


def capture(modules: Iterable[str] = ()) -> dict[str, Any]:
    """The current environment, with the distributions behind ``modules``.

    Returns:
        A JSON-ready dict: ``created`` (UTC, ISO 8601), ``python``,
        ``implementation``, ``platform`` and ``packages`` (name -> version).
    """
    from satchel import __version__  # noqa: PLC0415 - avoids an import cycle

    packages = {name: version for name in CORE
                if _DISTRIBUTION_MODULES[name] in sys.modules
                and (version := installed_version(name))}
    for module in sorted(set(modules)):
        name = distribution_of(module)
        if name and name not in packages and (version := installed_version(name)):
            packages[name] = version
    return {
        "satchel": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{platform.system()}-{platform.machine()}",
        "packages": packages,
    }


@dataclass(frozen=True)
class Difference:
    """One way the loading environment differs from the saving one."""

    name: str
    saved: str | None
    current: str | None
    change: str  # "major", "minor", "patch", "missing", "added" or "other"

    def __str__(self) -> str:
        current = self.current or "not installed"
        return f"{self.name} {self.saved or '-'} -> {current} ({self.change})"


#: A release's numbers, each of at most 18 digits: int() refuses a string past 4300.
_RELEASE = re.compile(r"(\d{1,18}(?:\.\d{1,18})*)")
_SEPARATORS = re.compile(r"[-_.]+")


def _release(version: str) -> tuple[int, ...]:
    match = _RELEASE.match(version)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def classify(saved: str | None, current: str | None) -> str:
    """major, minor or patch (the first release number that differs), or missing/other."""
    if current is None:
        return "missing"
    if saved is None:
        return "added"
    old, new = _release(saved), _release(current)
    for position, change in enumerate(("major", "minor", "patch")):
        if old[position:position + 1] != new[position:position + 1]:
            return change
    return "other"


def compare(saved: dict[str, Any]) -> list[Difference]:
    """Every difference between the ``saved`` environment and this one."""
    differences = []
    python, saved_python = platform.python_version(), saved.get("python")
    if saved_python and saved_python != python and _release(saved_python)[:2] != _release(
            python)[:2]:
        differences.append(Difference("python", saved_python, python,
                                      classify(saved_python, python)))
    for name, version in sorted(saved.get("packages", {}).items()):
        current = installed_version(name)
        if current != version:
            differences.append(Difference(name, version, current, classify(version, current)))
    return differences


def moved(saved: dict[str, Any]) -> list[Difference]:
    """How the machine differs from the saving one (another platform or implementation of
    Python), which no version shows: its maths libraries may round otherwise, so the check
    sample is worth recomputing, though there is nothing to install."""
    current = {"implementation": platform.python_implementation(),
               "platform": f"{platform.system()}-{platform.machine()}"}
    return [Difference(key, saved[key], value, "other") for key, value in current.items()
            if isinstance(saved.get(key), str) and saved[key] != value]


#: What a pin may hold: a distribution name (PEP 508) and the characters of a version
#: (PEP 440, with a local part such as +cu118).
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")


def is_pin(name: Any, version: Any) -> bool:
    """Whether ``name`` and ``version`` are a distribution's name and version, which a pin
    (``name==version``) may quote: no space, quote or line break of a command of their own."""
    return (isinstance(name, str) and isinstance(version, str) and bool(_NAME.fullmatch(name))
            and bool(_VERSION.fullmatch(version)))


def requirements(saved: dict[str, Any]) -> str:
    """The saved packages as a pinned requirements file.

    Raises:
        FormatError: a package's name or version is not one (the file was altered: a
            version with a line break would add requirement lines of its own, such as
            ``--index-url``), or the Python version or platform is not one line.
    """
    packages = sorted(saved.get("packages", {}).items())
    bad = [f"{name!r}: {version!r}" for name, version in packages
           if not is_pin(name, version)]
    bad += [f"{key} {saved[key]!r}" for key in ("python", "platform")
            if not str(saved.get(key, "")).isprintable()]
    if bad:
        raise FormatError(f"the saved environment is not a set of pinned requirements:"
                          f" {', '.join(bad)}; expected package names and versions (and a"
                          " Python version and platform of one line). The file was altered"
                          " after it was saved; ask its author for the versions instead")
    lines = [f"# saved with Python {saved.get('python', '?')} on {saved.get('platform', '?')}"]
    lines += [f"{name}=={version}" for name, version in packages]
    return "\n".join(lines) + "\n"
