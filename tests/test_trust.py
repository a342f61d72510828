"""The trust policy: what loads by default, what is refused, and that refusal comes first."""

from __future__ import annotations

import collections
import functools
import io
import operator
import pathlib
from typing import Any

import numpy as np
import pytest
import scipy.special
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import satchel
from satchel.format.trust import TrustPolicy, default_trusts
from tests.custom import Doubler, double


def test_scikit_learn_loads_with_no_trusted_argument(forest: Any, xy: tuple[Any, Any]) -> None:
    """A model built from scikit-learn alone needs no trusted= argument."""
    loaded = satchel.loads(satchel.dumps(forest))
    np.testing.assert_array_equal(loaded.predict(xy[0]), forest.predict(xy[0]))


@pytest.mark.parametrize("func", [np.log1p, np.exp, scipy.special.expit, np.mean])
def test_vetted_functions_are_trusted(func: Any, xy: tuple[Any, Any]) -> None:
    """numpy and scipy ufuncs and vetted numpy functions load by default."""
    model = FunctionTransformer(func).fit(np.abs(xy[0]))
    assert satchel.loads(satchel.dumps(model)).func is func


def test_custom_class_is_refused_with_the_fix() -> None:
    """A custom class is refused, named, with the trusted=[...] that accepts it."""
    data = satchel.dumps(make_pipeline(StandardScaler(), Doubler()))
    with pytest.raises(satchel.UntrustedTypesError) as caught:
        satchel.loads(data)
    assert caught.value.names == ["tests.custom.Doubler"]
    assert str(caught.value) == (
        "the file needs 1 untrusted type(s) or function(s): 'tests.custom.Doubler'. Nothing was"
        " imported or run. If you trust the file's author, load it with"
        " trusted=['tests.custom.Doubler']."
    )
    assert isinstance(satchel.loads(data, trusted=["tests.custom.Doubler"]).steps[1][1], Doubler)


def test_custom_function_is_refused_until_trusted() -> None:
    """A module-level function is refused until trusted by name, then resolved, not called."""
    data = satchel.dumps(FunctionTransformer(double))
    with pytest.raises(satchel.UntrustedTypesError, match=r"'tests\.custom\.double'"):
        satchel.loads(data)
    assert satchel.loads(data, trusted=["tests.custom.double"]).func is double


def test_a_path_is_named_as_pathlib_names_it_on_every_python() -> None:
    """A Path is pathlib.PosixPath on every Python: on 3.13 it was pathlib._local.PosixPath,
    a module 3.11 and 3.12 do not have, so the file did not load there."""
    data = satchel.dumps({"folder": pathlib.PurePosixPath("cache"),
                          "path": pathlib.PosixPath("/srv/cache")})
    assert satchel.untrusted_types(io.BytesIO(data)) == ["pathlib.PosixPath",
                                                      "pathlib.PurePosixPath"]
    loaded = satchel.loads(data, trusted=["pathlib.PosixPath", "pathlib.PurePosixPath"])
    assert loaded == {"folder": pathlib.PurePosixPath("cache"),
                      "path": pathlib.PosixPath("/srv/cache")}


@pytest.mark.parametrize(("value", "name"), [
    (functools.partial(double, 3), "tests.custom.double"),
    (operator.methodcaller("strip"), "operator.methodcaller"),
    (operator.attrgetter("real"), "operator.attrgetter"),
    (print, "builtins.print"),
])
def test_hidden_callables_are_refused(value: Any, name: str) -> None:
    """Callables behind partial or operator objects are refused by name."""
    with pytest.raises(satchel.UntrustedTypesError) as caught:
        satchel.loads(satchel.dumps({"f": value}))
    assert caught.value.names == [name]


def test_trust_check_runs_before_any_import() -> None:
    """A name from a module that does not exist is refused as untrusted, not imported."""
    from tests.hostile_tools import rewrite_tree

    forged = rewrite_tree(satchel.dumps(1), {"$": "obj", "cls": "no_such_package_xyz.evil:Thing"})
    with pytest.raises(satchel.UntrustedTypesError) as caught:
        satchel.loads(forged)
    assert caught.value.names == ["no_such_package_xyz.evil.Thing"]


def test_a_re_exported_foreign_class_is_not_trusted() -> None:
    """A name under sklearn that resolves to a class defined elsewhere is refused."""
    from tests.hostile_tools import rewrite_tree

    forged = rewrite_tree(satchel.dumps(1),
                          {"$": "obj", "cls": "sklearn.utils._param_validation:Integral"})
    with pytest.raises(satchel.UntrustedTypesError, match="not a class that satchel trusts"):
        satchel.loads(forged)


def test_a_re_exported_foreign_function_is_not_trusted() -> None:
    """A name under a trusted scikit-learn function module that resolves to a function defined
    elsewhere (joblib's effective_n_jobs, which sklearn.metrics.pairwise imports) is refused."""
    from tests.hostile_tools import rewrite_tree

    name = "sklearn.metrics.pairwise:effective_n_jobs"
    forged = rewrite_tree(satchel.dumps(1), {"$": "func", "name": name})
    with pytest.raises(satchel.UntrustedTypesError) as caught:
        satchel.loads(forged)
    assert caught.value.names == ["sklearn.metrics.pairwise.effective_n_jobs"]
    assert ("sklearn.metrics.pairwise.effective_n_jobs is not a function that satchel trusts"
            " by default (found function)") in str(caught.value)


@pytest.mark.parametrize("name", ["sklearn.tree._splitter:BestSplitter",
                                  "sklearn.utils._seq_dataset:ArrayDataset64"])
def test_unreviewed_compiled_classes_are_not_trusted(name: str) -> None:
    """A compiled scikit-learn class whose state satchel does not validate (a splitter, a
    dataset of raw pointers) is refused by default, though its module is scikit-learn's."""
    from tests.hostile_tools import rewrite_tree

    forged = rewrite_tree(satchel.dumps(1), {"$": "obj", "cls": name})
    with pytest.raises(satchel.UntrustedTypesError) as caught:
        satchel.loads(forged)
    dotted = name.replace(":", ".")
    assert caught.value.names == [dotted]
    assert f"{dotted} is not a class that satchel trusts by default (found type)" in str(
        caught.value)
    module = name.split(":", maxsplit=1)[0]
    assert f"Only {module}, a module of a trusted library, was imported to look it up;" \
           " nothing was run." in str(caught.value)
    assert "Nothing was imported" not in str(caught.value)


def test_a_refusal_before_any_import_says_nothing_was_imported() -> None:
    """A name refused by the trust check, which runs before any import, is refused saying
    that nothing was imported or run."""
    from tests.hostile_tools import rewrite_tree

    forged = rewrite_tree(satchel.dumps(1), {"$": "obj", "cls": "mypkg.things:Thing"})
    with pytest.raises(satchel.UntrustedTypesError, match="Nothing was imported or run"):
        satchel.loads(forged)


@pytest.mark.parametrize("node", [
    {"$": "obj", "cls": "tests.custom:double"},
    {"$": "type", "name": "tests.custom:double"},
    {"$": "new", "cls": "tests.custom:double", "args": [1]},
])
def test_a_trusted_function_named_as_a_class_is_refused(node: dict[str, Any]) -> None:
    """A function trusted by name where the file puts a class (to build, or to call with the
    file's arguments) is a FormatError: trusting a function never lets a file call it."""
    from tests.hostile_tools import rewrite_tree

    forged = rewrite_tree(satchel.dumps(1), node)
    with pytest.raises(satchel.FormatError) as caught:
        satchel.loads(forged, trusted=["tests.custom.double"])
    assert str(caught.value) == (
        "tests.custom.double was named as a class but is <class 'function'>")


def test_pandas_dtype_classes_are_trusted_as_values() -> None:
    """pandas' dtype classes load as values with no trusted= argument: a column selector of
    [pd.CategoricalDtype, pd.StringDtype] saves, loads and selects as it was fitted."""
    import pandas as pd
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"plan": pd.Categorical(["basic", "pro", "basic"]),
                          "region": pd.array(["n", "s", "s"], dtype="string"),
                          "seats": [1, 2, 3]})
    model = make_column_transformer((OneHotEncoder(), make_column_selector(
        dtype_include=[pd.CategoricalDtype, pd.StringDtype])))
    try:
        frame.select_dtypes(include=[pd.CategoricalDtype, pd.StringDtype])
    except TypeError:  # pandas 2.0 selects by dtype instances and names, not by classes
        selects_by_class = False
    else:
        selects_by_class = True
        model.fit(frame)
    loaded = satchel.loads(satchel.dumps(model))
    assert loaded.transformers[0][2].dtype_include == [pd.CategoricalDtype, pd.StringDtype]
    if selects_by_class:
        np.testing.assert_array_equal(loaded.transform(frame), model.transform(frame))


def test_a_re_exported_pandas_dtype_class_is_not_trusted() -> None:
    """A dtype class named by a module that only imports it is refused, as sklearn's are."""
    from tests.hostile_tools import rewrite_tree

    forged = rewrite_tree(satchel.dumps(1), {"$": "type", "name": "pandas.core.api:Int64Dtype"})
    with pytest.raises(satchel.UntrustedTypesError, match="not a type that satchel trusts"):
        satchel.loads(forged)


def test_ordered_dict_loads_with_no_trusted_argument() -> None:
    """An OrderedDict (trusted by default, rebuilt by calling its class) loads as saved."""
    value = {"x": collections.OrderedDict(b=1, a=[2, 3])}
    loaded = satchel.loads(satchel.dumps(value))
    assert type(loaded["x"]) is collections.OrderedDict
    assert list(loaded["x"].items()) == [("b", 1), ("a", [2, 3])]


def test_dunder_names_are_invalid() -> None:
    """Names reaching for dunder attributes are malformed, whatever is trusted."""
    with pytest.raises(satchel.FormatError, match="invalid name"):
        TrustPolicy().trusts("function", "sklearn.base:BaseEstimator.__init__.__globals__")


def test_scikit_learn_utilities_wait_for_trust() -> None:
    """scikit-learn's utility functions (sklearn.utils.extmath) are not trusted by default:
    a FunctionTransformer's kw_args choose their work, and randomized_svd with
    n_iter=10**9 made transform run for good. Trusted by name, they load."""
    from sklearn.utils.extmath import randomized_svd

    data = satchel.dumps(FunctionTransformer(randomized_svd, kw_args={"n_iter": 10**9}))
    with pytest.raises(satchel.UntrustedTypesError) as caught:
        satchel.loads(data)
    assert caught.value.names == ["sklearn.utils.extmath.randomized_svd"]
    trusted = satchel.loads(data, trusted=["sklearn.utils.extmath.randomized_svd"])
    assert trusted.func is randomized_svd


@pytest.mark.parametrize(("role", "name", "trusted"), [
    ("class", "sklearn.linear_model._logistic:LogisticRegression", True),
    ("class", "sklearn.utils._testing:TempMemmap", False),
    ("class", "sklearn.metrics._dist_metrics:PyFuncDistance64", False),
    ("function", "numpy:log1p", True),
    ("function", "os:system", False),
    ("function", "sklearn.metrics._classification:accuracy_score", True),
    ("function", "sklearn.metrics._classification:_check_targets", False),
    ("type", "numpy:float64", True),
    ("type", "builtins:float", True),
    ("type", "builtins:eval", False),
    ("type", "pandas:CategoricalDtype", True),
    ("type", "pandas.core.dtypes.dtypes:CategoricalDtype", True),  # pandas 2's module
    ("class", "pandas:Int64Dtype", False),  # an instance is a pandas dtype node
    ("type", "pandas:DataFrame", False),
    ("type", "pandas.tests.extension.decimal.array:DecimalDtype", False),
    ("construct", "sklearn.tree._tree:Tree", True),
    ("construct", "collections:OrderedDict", True),
    ("construct", "collections:defaultdict", False),
    ("construct", "operator:methodcaller", False),
])
def test_default_policy(role: Any, name: str, trusted: bool) -> None:
    """The default policy trusts scikit-learn, numpy and vetted names, nothing else."""
    assert default_trusts(role, name) is trusted
