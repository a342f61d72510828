"""Custom code: refused when it cannot be found again, recorded, checked and embedded."""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import subprocess
import sys
import textwrap
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import murmurhash3_32

import satchel
from satchel import environment
from tests.custom import Doubler, double, halve, manhattan

ROOT = Path(__file__).resolve().parent.parent
CUSTOM = ROOT / "tests" / "custom.py"
_NOT_FOUND_AGAIN = (" is a lambda or a local definition and cannot be found by name when the"
                    " file is loaded; define it at the top level of an importable module")

STEP_SOURCE = '''\
"""A custom step that announces its import by writing a marker file."""
import pathlib

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

pathlib.Path({marker!r}).write_text("imported")


class Shift(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) + 1.0
'''


def _inspect(data: bytes) -> satchel.Inspection:
    return satchel.inspect(io.BytesIO(data))


def test_lambda_is_refused_with_its_path() -> None:
    """A lambda inside a pipeline is refused with its path and the fix."""
    pipeline = Pipeline([("f", FunctionTransformer(lambda x: x))])
    with pytest.raises(satchel.EncodeError) as caught:
        satchel.dumps(pipeline)
    assert str(caught.value) == (
        f"cannot save steps[0][1].func: {__name__}.test_lambda_is_refused_with_its_path"
        f".<locals>.<lambda>{_NOT_FOUND_AGAIN}")
    assert isinstance(caught.value, TypeError)


def test_local_function_is_refused_with_its_path() -> None:
    """A function defined inside another is refused at its path in the pipeline."""
    def local(values: Any) -> Any:
        return values

    with pytest.raises(satchel.EncodeError) as caught:
        satchel.dumps(make_pipeline(StandardScaler(), FunctionTransformer(inverse_func=local)))
    assert str(caught.value) == (
        f"cannot save steps[1][1].inverse_func: {__name__}."
        f"test_local_function_is_refused_with_its_path.<locals>.local{_NOT_FOUND_AGAIN}")


def test_bound_method_is_refused_with_its_path(xy: tuple[Any, Any]) -> None:
    """A method bound to an object (a fitted scaler's transform) is refused at its path, with
    the fix: it said that builtins.method does not lead back to <class 'method'>."""
    scale = StandardScaler().fit(xy[0]).transform
    with pytest.raises(satchel.EncodeError) as caught:
        satchel.dumps(make_pipeline(FunctionTransformer(func=scale), LinearRegression()))
    assert str(caught.value) == (
        "cannot save steps[0][1].func: StandardScaler.transform is a method bound to a"
        " StandardScaler object, and satchel stores functions by name only, never the object a"
        " method is bound to; save the object itself, or a function defined at the top level of"
        " an importable module that calls its method")


def test_local_class_is_refused_with_its_path(tmp_path: Path) -> None:
    """A class defined inside a function is refused at its path, and no file is written."""
    class Local(TransformerMixin, BaseEstimator):  # type: ignore[misc]
        def fit(self, X: Any, y: Any = None) -> Any:
            return self

    with pytest.raises(satchel.EncodeError) as caught:
        satchel.save(make_pipeline(StandardScaler(), Local()), tmp_path / "m.satchel")
    assert str(caught.value) == (
        f"cannot save steps[1][1]: {__name__}."
        f"test_local_class_is_refused_with_its_path.<locals>.Local{_NOT_FOUND_AGAIN}")
    assert list(tmp_path.iterdir()) == []


def test_main_is_refused_with_its_path(tmp_path: Path) -> None:
    """A class defined in a script's __main__ is refused with its path and the fix."""
    script = textwrap.dedent(f"""
        import satchel
        from sklearn.base import BaseEstimator, TransformerMixin
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        class Clean(TransformerMixin, BaseEstimator):
            def fit(self, X, y=None):
                return self

        try:
            satchel.save(Pipeline([("scale", StandardScaler()), ("clean", Clean())]),
                         {str(tmp_path / "m.satchel")!r})
        except satchel.EncodeError as error:
            print(error)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout == (
        "cannot save steps[1][1]: Clean is defined in __main__ (a script or notebook), which"
        " will not exist when the file is loaded; move it to an importable module\n")
    assert list(tmp_path.iterdir()) == []


def test_custom_code_is_recorded(xy: tuple[Any, Any]) -> None:
    """A custom class and function are recorded: module, names, distribution, version, hash."""
    pipeline = make_pipeline(Doubler(), FunctionTransformer(double), StandardScaler()).fit(xy[0])
    info = _inspect(satchel.dumps(pipeline))
    assert info.metadata.code == [{
        "module": "tests.custom",
        "names": ["tests.custom.Doubler", "tests.custom.double"],
        "distribution": None,
        "version": None,
        "source_sha256": hashlib.sha256(CUSTOM.read_bytes()).hexdigest(),
    }]
    assert info.untrusted == ["tests.custom.Doubler", "tests.custom.double"]


def test_recording_custom_code_closes_its_source_file(xy: tuple[Any, Any]) -> None:
    """Reading a custom module's source to hash it leaves no file open: every save of a model
    with custom code gave a ResourceWarning."""
    pipeline = make_pipeline(Doubler(), StandardScaler()).fit(xy[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        satchel.dumps(pipeline, embed_source=True)
    assert [w.message for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_scikit_learn_alone_records_no_custom_code(xy: tuple[Any, Any]) -> None:
    """A model made only of trusted scikit-learn parts has no custom code record."""
    info = _inspect(satchel.dumps(make_pipeline(StandardScaler(), LinearRegression()).fit(*xy)))
    assert info.metadata.code == []


@pytest.fixture
def step_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A custom module in tmp_path, importable until the test removes it (name, marker path)."""
    name = f"satchel_step_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "imported.txt"
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{name}.py").write_text(STEP_SOURCE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(site))
    yield name, marker
    sys.modules.pop(name, None)


def _save_with(name: str, path: Path, **options: Any) -> None:
    module = __import__(name)
    rows = np.arange(20.0).reshape(10, 2)
    model = make_pipeline(module.Shift(), LinearRegression()).fit(rows, rows[:, 0])
    satchel.save(model, path, sample=rows, **options)


def _forget(name: str, site: Path) -> None:
    """Make module ``name`` unimportable again, as on a machine that never had it."""
    sys.modules.pop(name, None)
    sys.path.remove(str(site))
    sys.path_importer_cache.pop(str(site), None)


def test_missing_module_names_what_to_install(tmp_path: Path,
                                              step_module: tuple[str, Path]) -> None:
    """Loading without the custom module raises MissingCodeError naming the module."""
    name, _ = step_module
    path = tmp_path / "m.satchel"
    _save_with(name, path)
    _forget(name, tmp_path / "site")
    with pytest.raises(satchel.MissingCodeError) as caught:
        satchel.load(path, trusted=[f"{name}.Shift"])
    assert str(caught.value) == (
        f"the model needs module {name!r}, which is not installed: make module {name!r}"
        " importable.")
    assert isinstance(caught.value, ImportError)


def test_trust_code_on_a_file_without_source_says_it_holds_none(
        tmp_path: Path, step_module: tuple[str, Path]) -> None:
    """trust_code=True on a file saved without embed_source says that the file holds no
    source to run and how to store it: the message gave no reason why trust_code did
    nothing."""
    name, _ = step_module
    path = tmp_path / "m.satchel"
    _save_with(name, path)
    _forget(name, tmp_path / "site")
    with pytest.raises(satchel.MissingCodeError) as caught:
        satchel.load(path, trusted=[f"{name}.Shift"], trust_code=True)
    assert str(caught.value) == (
        f"the model needs module {name!r}, which is not installed: make module {name!r}"
        " importable; the file holds no source of it to run (save(..., embed_source=True)"
        " stores it).")


def test_distribution_of_custom_code_is_captured(tmp_path: Path) -> None:
    """A custom module shipped in an installed distribution records it, and load names it."""
    site = tmp_path / "site"
    (site / "acme_features-2.1.0.dist-info").mkdir(parents=True)
    (site / "acme_features-2.1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-features\nVersion: 2.1.0\n")
    (site / "acme_features-2.1.0.dist-info" / "top_level.txt").write_text("acme_steps\n")
    (site / "acme_steps.py").write_text(STEP_SOURCE.format(marker=str(tmp_path / "m.txt")))
    path = tmp_path / "m.satchel"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        import numpy as np, satchel, acme_steps
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import make_pipeline
        rows = np.arange(20.0).reshape(10, 2)
        model = make_pipeline(acme_steps.Shift(), LinearRegression()).fit(rows, rows[:, 0])
        satchel.save(model, {str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    info = satchel.inspect(path)
    assert info.metadata.environment["packages"]["acme-features"] == "2.1.0"
    [record] = info.metadata.code
    assert (record["module"], record["names"], record["distribution"], record["version"]) == (
        "acme_steps", ["acme_steps.Shift"], "acme-features", "2.1.0")
    with pytest.raises(satchel.MissingCodeError) as caught:
        satchel.load(path, trusted=["acme_steps.Shift"])
    assert str(caught.value) == ("the model needs module 'acme_steps', which is not installed:"
                                 " pip install 'acme-features==2.1.0'.")


def test_a_package_installed_in_editable_mode_is_recorded_with_its_source(
        tmp_path: Path) -> None:
    """A module of the user's own package installed with pip install -e, which names only a
    .pth file (as hatchling's and flit's editable installs do), records its distribution and
    version and, being the user's own, its source: it was recorded with no distribution."""
    site, package = tmp_path / "site", tmp_path / "project" / "src" / "shop_steps"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text(STEP_SOURCE.format(marker=str(tmp_path / "m.txt")))
    info = site / "shop_tools-0.3.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shop-tools\nVersion: 0.3.0\n")
    (info / "RECORD").write_text("_shop_tools.pth,,\nshop_tools-0.3.0.dist-info/METADATA,,\n")
    (info / "direct_url.json").write_text(
        f'{{"dir_info": {{"editable": true}}, "url": "{(tmp_path / "project").as_uri()}"}}')
    (site / "_shop_tools.pth").write_text(f"{package.parent}\n")
    path = tmp_path / "m.satchel"
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import site
        site.addsitedir({str(site)!r})
        import numpy as np, satchel
        from shop_steps import steps
        from sklearn.pipeline import make_pipeline
        satchel.save(make_pipeline(steps.Shift()), {str(path)!r}, embed_source=True)
    """)], check=True)
    [record] = satchel.inspect(path).metadata.code
    assert (record["module"], record["distribution"], record["version"]) == (
        "shop_steps.steps", "shop-tools", "0.3.0")
    assert record["source"] == (package / "steps.py").read_text()
    assert satchel.inspect(path).metadata.environment["packages"]["shop-tools"] == "0.3.0"
    with pytest.raises(satchel.MissingCodeError) as caught:
        satchel.load(path, trusted=["shop_steps.steps.Shift"])
    assert str(caught.value) == (
        "the model needs module 'shop_steps.steps', which is not installed: pip install"
        " 'shop-tools==0.3.0', or load with trust_code=True to run the source embedded in"
        " the file.")


def test_untrusted_custom_code_is_refused_before_the_missing_check(
        tmp_path: Path, step_module: tuple[str, Path]) -> None:
    """Without trusted=, a custom name is refused as untrusted, whether installed or not."""
    name, _ = step_module
    path = tmp_path / "m.satchel"
    _save_with(name, path)
    _forget(name, tmp_path / "site")
    with pytest.raises(satchel.UntrustedTypesError) as caught:
        satchel.load(path)
    assert caught.value.names == [f"{name}.Shift"]


def test_embedded_source_runs_only_with_trust_code(tmp_path: Path,
                                                   step_module: tuple[str, Path]) -> None:
    """embed_source stores the source; inspect and load leave it unrun unless trust_code."""
    name, marker = step_module
    path = tmp_path / "m.satchel"
    _save_with(name, path, embed_source=True)
    _forget(name, tmp_path / "site")
    marker.unlink()

    info = satchel.inspect(path)
    source = (tmp_path / "site" / f"{name}.py").read_text()
    assert info.metadata.code[0]["source"] == source
    assert info.metadata.code[0]["source_sha256"] == hashlib.sha256(source.encode()).hexdigest()
    with pytest.raises(satchel.MissingCodeError) as caught:
        satchel.load(path, trusted=[f"{name}.Shift"])
    assert str(caught.value) == (
        f"the model needs module {name!r}, which is not installed: make module {name!r}"
        " importable, or load with trust_code=True to run the source embedded in the file.")
    with pytest.raises(satchel.UntrustedTypesError):
        satchel.load(path)
    assert not marker.exists()

    model = satchel.load(path, trust_code=True, verify=True)
    assert marker.read_text() == "imported"
    assert model.predict(np.array([[2.0, 3.0]])) == pytest.approx([2.0])


#: A step whose transform calls CALL, for the packages the tests below write.
_SHIFT_STEP = """from sklearn.base import BaseEstimator, TransformerMixin


class Shift(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return CALL(X)
"""
_SHIFT = "def shift(values):\n    return values + 1.0\n"


def _load_embedded_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           files: dict[str, str], step: str, function: str) -> None:
    """Save a pipeline of ``Shift`` from module ``step`` and ``shift`` from module ``function``
    of a package of ``files`` (PACKAGE in them is its name), with their source embedded; load
    it with trust_code=True once the package is gone, and check its predictions and that the
    finder of the embedded sources is gone from sys.meta_path once they ran."""
    package = f"shop_{tmp_path.name.replace('-', '_')}"
    site = tmp_path / "site"
    (site / package).mkdir(parents=True)
    for name, text in files.items():
        (site / package / name).write_text(text.replace("PACKAGE", package))
    monkeypatch.syspath_prepend(str(site))
    rows = np.arange(20.0).reshape(10, 2)
    model = make_pipeline(importlib.import_module(f"{package}{step}").Shift(),
                          FunctionTransformer(importlib.import_module(f"{package}{function}")
                                              .shift),
                          LinearRegression()).fit(rows, rows[:, 0])
    satchel.save(model, tmp_path / "m.satchel", sample=rows, embed_source=True)
    ours = [name for name in sys.modules if name.partition(".")[0] == package]
    _forget(package, site)
    try:
        for name in ours:
            sys.modules.pop(name, None)
        finders = list(sys.meta_path)
        loaded = satchel.load(tmp_path / "m.satchel", trust_code=True, verify=True)
        assert loaded.predict(rows[:2]) == pytest.approx(model.predict(rows[:2]))
        assert sys.meta_path == finders
    finally:
        for name in [name for name in sys.modules if name.partition(".")[0] == package]:
            sys.modules.pop(name)


def test_embedded_modules_that_import_each_other_run_in_any_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """trust_code runs a package's embedded modules as one set: a step whose module imports
    another embedded module of its package loads, though the importing module sorts first
    (it failed with 'No module named ...' unless the imported module came first)."""
    _load_embedded_package(tmp_path, monkeypatch, {
        "__init__.py": "",
        "zeta.py": _SHIFT,
        "alpha.py": "from PACKAGE.zeta import shift\n" + _SHIFT_STEP.replace("CALL", "shift"),
    }, ".alpha", ".zeta")


def test_an_embedded_package_may_import_its_embedded_modules(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An embedded package (its __init__.py defines a function the model uses) that imports
    an embedded module of its own loads with trust_code: it failed with 'cannot import name
    ... from partially initialized module', the package having been made a plain module."""
    _load_embedded_package(tmp_path, monkeypatch, {
        "__init__.py": "from PACKAGE import steps\n\n\n" + _SHIFT,
        "steps.py": "import PACKAGE\n" + _SHIFT_STEP.replace("CALL", "PACKAGE.shift"),
    }, ".steps", "")


def test_an_embedded_module_runs_with_the_own_modules_it_imports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """embed_source embeds too the user's own modules that a used one imports, directly or
    not, though the model names nothing of theirs; trust_code runs them with it: loading
    failed with "the embedded source of '...steps' failed to run: No module named"."""
    _load_embedded_package(tmp_path, monkeypatch, {
        "__init__.py": "",
        "base.py": "ONE = 1.0\n",
        "helpers.py": "from PACKAGE.base import ONE\n\n\ndef add(values):\n"
                      "    return values + ONE\n",
        "steps.py": "from .helpers import add\n" + _SHIFT_STEP.replace("CALL", "add"),
        "functions.py": _SHIFT,
    }, ".steps", ".functions")


def test_a_recorded_module_the_model_does_not_use_is_never_looked_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A code record of a helper module (no names) in a file loaded without trust_code, which
    runs no helper, is not looked up: finding it would import its package, whose __init__.py
    would run."""
    from tests.hostile_tools import header_metadata, rewrite_metadata

    package = f"satchel_helper_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "imported.txt"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = satchel.dumps([1, 2])
    metadata = header_metadata(data)
    metadata["code"] = [{"module": f"{package}.helpers", "names": []}]
    assert satchel.loads(rewrite_metadata(data, metadata)) == [1, 2]
    assert not marker.exists()
    assert package not in sys.modules


def test_without_embed_source_no_source_is_stored(tmp_path: Path,
                                                  step_module: tuple[str, Path]) -> None:
    """By default only the hash of the source is stored, never the source itself."""
    name, _ = step_module
    _save_with(name, tmp_path / "m.satchel")
    [record] = satchel.inspect(tmp_path / "m.satchel").metadata.code
    assert "source" not in record
    assert record["source_sha256"] == hashlib.sha256(
        (tmp_path / "site" / f"{name}.py").read_bytes()).hexdigest()


def test_a_module_inside_a_zip_on_the_path_is_recorded_with_its_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom module imported from a zip on sys.path is recorded with its source and hash,
    and loads from it with trust_code: save failed with NotADirectoryError, reading the
    zip's path as a folder."""
    name = f"zipped_{tmp_path.name.replace('-', '_')}"
    source = STEP_SOURCE.format(marker=str(tmp_path / "imported.txt"))
    with zipfile.ZipFile(tmp_path / "code.zip", "w") as archive:
        archive.writestr(f"{name}.py", source)
    monkeypatch.syspath_prepend(str(tmp_path / "code.zip"))
    _save_with(name, tmp_path / "m.satchel", embed_source=True)
    [record] = satchel.inspect(tmp_path / "m.satchel").metadata.code
    assert (record["source"], record["source_sha256"]) == (
        source, hashlib.sha256(source.encode()).hexdigest())
    _forget(name, tmp_path / "code.zip")
    model = satchel.load(tmp_path / "m.satchel", trust_code=True, verify=True)
    sys.modules.pop(name)
    assert model.predict(np.array([[2.0, 3.0]])) == pytest.approx([2.0])


def test_a_module_whose_file_cannot_be_read_is_refused_at_save(
        tmp_path: Path, step_module: tuple[str, Path]) -> None:
    """A custom module whose file was removed since its import is refused with an EncodeError
    that names the module, its file and the fix: save raised FileNotFoundError."""
    name, _ = step_module
    module = __import__(name)
    (tmp_path / "site" / f"{name}.py").unlink()
    with pytest.raises(satchel.EncodeError) as caught:
        satchel.dumps(make_pipeline(module.Shift()))
    assert str(caught.value) == (
        f"cannot save: the source of module {name!r} cannot be read from"
        f" {tmp_path / 'site' / name}.py (source not available through get_data()); expected"
        " the readable Python file it was imported from: restore it (or reinstall the"
        " package that provides it) and save again")


def test_a_librarys_source_is_never_embedded(tmp_path: Path, xy: tuple[Any, Any]) -> None:
    """embed_source stores no source of an installed library's module (joblib's, for a
    pipeline's Memory, nor pathlib's, for its folder): it records its distribution and
    version, which the requirements pin. Their own files were embedded, for trust_code to
    run in place of the installed joblib."""
    cached = Pipeline([("scale", StandardScaler())],
                      memory=joblib.Memory(tmp_path / "cache", verbose=0)).fit(xy[0])
    satchel.save(cached, tmp_path / "m.satchel", embed_source=True)
    info = satchel.inspect(tmp_path / "m.satchel")
    assert [(record["module"], record["distribution"], record["version"], "source" in record)
            for record in info.metadata.code] == [
        ("joblib._store_backends", "joblib", joblib.__version__, False),
        ("joblib.memory", "joblib", joblib.__version__, False),
        ("pathlib", None, None, False)]
    assert f"joblib=={joblib.__version__}\n" in environment.requirements(
        info.metadata.environment)


def test_a_guarded_import_from_above_the_top_level_package_is_embedded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """embed_source stores a module whose relative import, guarded by try, reaches above its
    top-level package (it fails when run, and imports nothing): save failed with ImportError
    'attempted relative import beyond top-level package'."""
    package = f"guarded_{tmp_path.name.replace('-', '_')}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    source = ("try:\n    from ...compat import thing\nexcept ImportError:\n    thing = None\n"
              + _SHIFT_STEP.replace("CALL", "np.asarray").replace(
                  "from sklearn", "import numpy as np\nfrom sklearn", 1))
    (tmp_path / package / "steps.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        step = importlib.import_module(f"{package}.steps").Shift()
        [record] = _inspect(satchel.dumps(step, embed_source=True)).metadata.code
    finally:
        for name in [name for name in sys.modules if name.partition(".")[0] == package]:
            sys.modules.pop(name)
    assert (record["module"], record["source"]) == (f"{package}.steps", source)


@pytest.mark.parametrize("algorithm", ["auto", "ball_tree"])
def test_neighbours_with_a_function_metric_load_with_the_names_untrusted_types_gives(
        xy: tuple[Any, Any], algorithm: str) -> None:
    """A neighbours model with metric=my_function loads with the trusted=[...] listed for it:
    a ball tree's PyFuncDistance64, once trusted, keeps the function after (p, vec, mat)."""
    model = KNeighborsClassifier(n_neighbors=3, metric=manhattan, algorithm=algorithm).fit(*xy)
    data = satchel.dumps(model)
    names = _inspect(data).untrusted
    assert names == ["sklearn.metrics._dist_metrics.PyFuncDistance64", "tests.custom.manhattan"]
    loaded = satchel.loads(data, trusted=names)
    np.testing.assert_array_equal(loaded.predict(xy[0]), model.predict(xy[0]))


@pytest.mark.parametrize("algorithm", ["brute", "ball_tree"])
def test_a_function_metrics_parameters_are_its_keywords_whatever_their_shape(
        xy: tuple[Any, Any], algorithm: str) -> None:
    """metric_params={"w": 2.0} of metric=my_function are the function's keywords: the load
    refused them as crafted ('metric parameter w must have shape (4,)', the rule for the
    weights of a named metric, which compiled code reads)."""
    model = KNeighborsRegressor(n_neighbors=3, metric=manhattan, metric_params={"w": 2.0},
                                algorithm=algorithm).fit(xy[0], xy[0][:, 0])
    data = satchel.dumps(model)
    loaded = satchel.loads(data, trusted=_inspect(data).untrusted)
    np.testing.assert_array_equal(loaded.predict(xy[0]), model.predict(xy[0]))


_DOUBLE_UNDERSCORES = """\
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


def clip__v2(values):
    return np.clip(values, -1.0, 1.0)


def __clip(values):
    return values


class Scale__V2(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) * 2.0
"""


def _module_from(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Module ``source`` written to a folder of tmp_path on sys.path, and imported."""
    name = f"satchel_module_{tmp_path.name.replace('-', '_')}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module(name)


def test_names_with_double_underscores_inside_round_trip(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xy: tuple[Any, Any]) -> None:
    """A class or function whose name holds '__' past its start (Scale__V2) saves and loads:
    the save failed with FormatError 'invalid name', as if the file were damaged."""
    module = _module_from(_DOUBLE_UNDERSCORES, tmp_path, monkeypatch)
    model = Pipeline([("scale", module.Scale__V2()), ("clip", FunctionTransformer(
        module.clip__v2)), ("fit", LinearRegression())]).fit(xy[0], xy[0][:, 0])
    data = satchel.dumps(model)
    names = _inspect(data).untrusted
    assert names == [f"{module.__name__}.Scale__V2", f"{module.__name__}.clip__v2"]
    np.testing.assert_array_equal(satchel.loads(data, trusted=names).predict(xy[0]),
                                  model.predict(xy[0]))


def test_a_name_beginning_with_double_underscores_is_refused_at_save(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A function named __clip is refused at save with an EncodeError saying to rename it,
    which a reader refuses as reaching for special attributes (it was a FormatError)."""
    module = _module_from(_DOUBLE_UNDERSCORES, tmp_path, monkeypatch)
    clip = vars(module)["__clip"]
    with pytest.raises(satchel.EncodeError) as caught:
        satchel.dumps(FunctionTransformer(clip))
    assert str(caught.value) == (
        f"cannot save func: {module.__name__}.__clip has a name that begins with '__', which a"
        " reader refuses (it reaches for special attributes); rename it")


def test_a_cython_function_is_saved_by_name() -> None:
    """A function of a compiled (Cython) module, such as sklearn.utils.murmurhash3_32, is
    saved by name and loads once trusted: the save refused it ('cython_function_or_method
    uses a pickle form satchel cannot rebuild safely')."""
    data = satchel.dumps(FunctionTransformer(murmurhash3_32))
    assert _inspect(data).untrusted == ["sklearn.utils.murmurhash.murmurhash3_32"]
    with pytest.raises(satchel.UntrustedTypesError):
        satchel.loads(data)
    loaded = satchel.loads(data, trusted=["sklearn.utils.murmurhash.murmurhash3_32"])
    assert loaded.unwrap().func is murmurhash3_32


def test_a_function_that_functools_cache_wraps_is_saved_by_name() -> None:
    """A function decorated with functools.cache (or lru_cache) is saved by name and loads
    once trusted: the save refused it ('_lru_cache_wrapper uses a pickle form satchel cannot
    rebuild safely')."""
    data = satchel.dumps(FunctionTransformer(halve))
    assert _inspect(data).untrusted == ["tests.custom.halve"]
    assert satchel.loads(data, trusted=["tests.custom.halve"]).unwrap().func is halve


_SLOTTED = """\
class Settings:
    __slots__ = ("transform", "scale")

    def __init__(self, transform, scale):
        self.transform = transform
        self.scale = scale
"""


def test_a_lambda_in_a_slot_is_refused_naming_the_attribute(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lambda held in a __slots__ attribute is refused at .transform, its attribute's path
    (it was [1]['transform'], a step into the pair pickle gives slotted objects), and a
    slotted object of a top-level function still round-trips."""
    module = _module_from(_SLOTTED, tmp_path, monkeypatch)
    with pytest.raises(satchel.EncodeError) as caught:
        satchel.dumps(FunctionTransformer(double, kw_args={
            "settings": module.Settings(lambda values: values, 2.0)}))
    assert str(caught.value) == (
        f"cannot save kw_args['settings'].transform: {__name__}."
        "test_a_lambda_in_a_slot_is_refused_naming_the_attribute.<locals>.<lambda>"
        f"{_NOT_FOUND_AGAIN}")
    settings = satchel.loads(satchel.dumps(module.Settings(double, 2.0)),
                             trusted=[f"{module.__name__}.Settings", "tests.custom.double"])
    assert (settings.transform, settings.scale) == (double, 2.0)


def test_an_object_pickle_rebuilds_by_a_call_is_refused_with_a_fix_that_applies() -> None:
    """A logger (pickled as a call of logging.getLogger) is refused at its path, naming the
    function and saying to keep what it is made from: the message gave the function's repr
    with its memory address, and told to give logging.Logger __getstate__ methods."""
    transformer = FunctionTransformer(double, kw_args={"log": logging.getLogger("satchel.t")})
    with pytest.raises(satchel.EncodeError) as caught:
        satchel.dumps(transformer)
    assert str(caught.value) == (
        "cannot save kw_args['log']: logging.Logger is rebuilt by calling logging.getLogger(...),"
        " and satchel rebuilds objects only from their class and state, never by calling a"
        " function a file names; keep what it is made from instead (a logger's name, say), or"
        " give a class of your own __getstate__ and __setstate__ methods")
