"""Hyperparameters a file may not give a scikit-learn estimator or a function it calls.

A model's parameters are run when it predicts: ``n_jobs`` starts that many workers,
metric keyword arguments reach compiled code unchecked against the input, and an
iteration bound lets ``transform`` run for good. Each rule here names what is wrong
with such a parameter, checked as the object is built (``ATTRIBUTE_RULES``) or as a
``functools.partial`` is (``PARTIAL_RULES``).
"""

from __future__ import annotations

import re
import string
from typing import Any

import numpy as np

from satchel.format.handlers.objects import ATTRIBUTE_RULES, PARTIAL_RULES

#: Metric parameters that scikit-learn computes itself and its compiled search indexes
#: per row unchecked: never a fitted model's.
COMPUTED_METRIC_PARAMS = frozenset({"X_norm_squared", "Y_norm_squared"})


#: The most workers a model's ``n_jobs`` may ask for: joblib starts that many processes
#: when the model predicts (a file of n_jobs=100000 would start them all).
MAX_JOBS = 64


def _jobs_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with an estimator's ``n_jobs`` (at most :data:`MAX_JOBS`), or with one
    in the keyword arguments it holds for a function, or None."""
    problem = _workers_problem("n_jobs", state.get("n_jobs"), "processes")
    if dict not in map(type, state.values()):  # the common case, without a Python loop
        return problem
    for name, value in state.items():
        if problem is None and type(value) is dict and "n_jobs" in value:
            problem = keywords_problem(value, f"{name}['n_jobs']")
    return problem


def keywords_problem(keywords: dict[Any, Any], where: str = "n_jobs") -> str | None:
    """What is wrong with keyword arguments a file gives a function, or None: a kernel's
    or a FunctionTransformer's (``pairwise_kernels(..., n_jobs=100000)`` starts that many
    threads each time the model predicts)."""
    return _workers_problem(where, keywords.get("n_jobs"), "processes or threads")


#: Keyword arguments that scikit-learn's distance functions read without checking them
#: against the input, and what to do instead: a Mahalanobis ``VI``, which scipy reads as
#: wide as the input, and the squared norms in ``metric_kwargs``, which the compiled
#: euclidean search reads one per row.
_UNCHECKED_METRIC_KEYWORDS = {
    "VI": ("a Mahalanobis VI, which scipy reads as wide as the input", "Keep the metric in a"
           " fitted estimator instead, as NearestNeighbors(metric='mahalanobis',"
           " metric_params={'VI': ...}), whose width is checked"),
    **dict.fromkeys(COMPUTED_METRIC_PARAMS, (
        "squared norms, which the compiled euclidean search reads one per row",
        "Leave them out: scikit-learn computes them")),
}


def metric_keywords_problem(keywords: dict[Any, Any], where: str = "the keywords") -> str | None:
    """What is wrong with the metric parameters in keyword arguments a file gives a function,
    or None: one of :data:`_UNCHECKED_METRIC_KEYWORDS` among them, or in a dict of them
    (``metric_kwargs``). ``pairwise_distances`` hands a ``VI`` to scipy unchecked against
    the input's width (a 1x1 VI for 3000 features read 72 MB past its end and crashed);
    that width is only known when the function is called, so a file may not give one."""
    for key, value in keywords.items():
        names = [key, *(value.keys() if type(value) is dict else ())]
        found = next((n for n in names if n in _UNCHECKED_METRIC_KEYWORDS), None)
        if found is not None:
            what, fix = _UNCHECKED_METRIC_KEYWORDS[found]
            return f"{where} give a function {what}, without checking it ({found!r}). {fix}"
    return None


def _function_keywords_problem(model: Any, state: dict[str, Any]) -> str | None:
    """:func:`metric_keywords_problem` on a FunctionTransformer's ``kw_args`` and
    ``inv_kw_args``."""
    for name in ("kw_args", "inv_kw_args"):
        keywords = state.get(name)
        problem = metric_keywords_problem(keywords, name) if type(keywords) is dict else None
        if problem is not None:
            return problem
    return None


def _workers_problem(where: str, jobs: Any, workers: str) -> str | None:
    if jobs is None:
        return None
    if (type(jobs) is not int and not isinstance(jobs, np.integer)) or jobs > MAX_JOBS:
        return (f"{where} is {str(jobs)[:40]}: a file may ask for at most {MAX_JOBS} workers,"
                f" which joblib starts as {workers} when the model predicts. Set {where}=-1"
                " (every core) or a smaller number before saving")
    return None


#: Iterations that ``transform`` runs per call, by the parameter that bounds them: a
#: file of 10**15 and a negative tolerance made transform run for good.
MAX_TRANSFORM_ITERATIONS = 1_000_000
_TRANSFORM_ITERATIONS = ("max_iter", "max_doc_update_iter", "transform_max_iter")


def _iterations_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with the parameters of a factorisation whose ``transform`` iterates
    to a tolerance (a negative tolerance, or more than the most iterations), or None."""
    try:
        # scikit-learn 1.4 declares no constraints for SparseCoder, nor validates its own
        if hasattr(model, "_parameter_constraints"):
            model._validate_params()
    except (TypeError, ValueError) as exc:
        return f"invalid parameters: {str(exc)[:200]}"
    for parameter in _TRANSFORM_ITERATIONS:
        count = state.get(parameter)
        if count is not None and count > MAX_TRANSFORM_ITERATIONS:
            return (f"{parameter} is {count}; transform may run at most"
                    f" {MAX_TRANSFORM_ITERATIONS} iterations")
    return None


#: The largest value of an estimator's ``dtype`` (complex256 takes 32 bytes): transform
#: allocates one for every value it outputs.
MAX_DTYPE_ITEMSIZE = 64


def _dtype_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with an estimator's ``dtype`` parameter, or None: numpy reads a string
    such as ``'(1000000000,)u1'`` as a gigabyte a value, which an encoder's ``transform``
    allocates for every value it outputs. Values numpy reads as no dtype are left to
    scikit-learn (its transform refuses them)."""
    value = state.get("dtype")
    if value is None or (isinstance(value, type) and issubclass(value, np.generic)):
        return None
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if dtype.shape == () and dtype.fields is None and dtype.itemsize <= MAX_DTYPE_ITEMSIZE:
        return None
    kind = "an array of values" if dtype.shape else "a record" if dtype.fields else "a value"
    return (f"dtype is {str(value)[:60]!r}, which numpy reads as {kind} of {dtype.itemsize}"
            " bytes: transform allocates one for every value it outputs. A model's dtype is a"
            f" type of number of at most {MAX_DTYPE_ITEMSIZE} bytes, such as numpy.float64")


#: The widest a format may make the name of a ColumnTransformer's output column.
MAX_NAME_WIDTH = 1000
_NAME_FIELDS = frozenset({"transformer_name", "feature_name"})


def _names_format_problem(model: Any, state: dict[str, Any]) -> str | None:
    """What is wrong with a ColumnTransformer's format of its output columns' names
    (``verbose_feature_names_out``), or None: ``str.format`` pads a field to the width
    its format gives, so ``'{feature_name:>1500000000}'`` made a 1.5 GB name for every
    column each time the model predicted with pandas output."""
    text = state.get("verbose_feature_names_out")
    if type(text) is not str:
        return None
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(text)
                  if name is not None]
    except ValueError:  # scikit-learn's own format call refuses it
        return None
    for name, spec in fields:
        widths = [int(n) for n in re.findall(r"[0-9]+", spec or "")]
        if name not in _NAME_FIELDS or "{" in (spec or "") or max(widths, default=0) > \
                MAX_NAME_WIDTH:
            return (f"verbose_feature_names_out is {text[:60]!r}: its fields may be"
                    " {transformer_name} and {feature_name}, of a width up to"
                    f" {MAX_NAME_WIDTH} (str.format pads a name to the width it gives for"
                    " every column the model outputs)")
    return None


ATTRIBUTE_RULES.extend([
    ("sklearn.base:BaseEstimator", _jobs_problem),
    ("sklearn.compose._column_transformer:ColumnTransformer", _names_format_problem),
    ("sklearn.base:BaseEstimator", _dtype_problem),
    ("sklearn.gaussian_process.kernels:Kernel", _jobs_problem),
    ("sklearn.preprocessing._function_transformer:FunctionTransformer",
     _function_keywords_problem),
    *((f"sklearn.decomposition.{name}", _iterations_problem) for name in (
        "_nmf:_BaseNMF", "_lda:LatentDirichletAllocation", "_dict_learning:_BaseSparseCoding")),
])
PARTIAL_RULES.extend([keywords_problem, metric_keywords_problem])
