"""Compiled pipelines: a ColumnTransformer's transformers run on plain arrays.

For a few rows, scikit-learn spends most of ``Pipeline.predict`` on the
bookkeeping around pandas input rather than on arithmetic: the
ColumnTransformer slices the DataFrame per transformer and each transformer
converts its slice and checks its feature names again. The server has already
checked the names and types of every column (:mod:`satchel.serving.columns`),
so a :class:`Plan` hands each fitted transformer its columns as one array,
stacks the outputs as the ColumnTransformer does, and runs the remaining steps
and the final method of the same fitted pipeline.

A plan is built only for a ``Pipeline`` whose first step is a fitted
``ColumnTransformer`` with columns named by lists of strings, transformers
that are estimators or ``"drop"``, and the default (array) output. A method is
used through the plan only once it has reproduced the pipeline's own output
exactly (same type, dtype, shape and values) on the model's check sample; a
request the plan fails on is run by the pipeline itself, so errors are the
pipeline's own.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from satchel.checks import METHODS
from satchel.format.decoder import decode_inline
from satchel.format.trust import TrustPolicy
from satchel.serving.columns import Columns, Layout

log = logging.getLogger("satchel.serving")


class _NothingTrusted(TrustPolicy):
    """The check sample is data: it may name no class or function."""

    def trusts(self, role: Any, name: str) -> bool:
        return False


@dataclass(frozen=True)
class _Group:
    positions: tuple[int, ...]
    transformer: Any


@dataclass(frozen=True)
class Plan:
    """A fitted pipeline's methods, run from checked columns."""

    groups: tuple[_Group, ...]
    sparse: bool
    steps: tuple[Any, ...]
    final: Any
    methods: frozenset[str]

    def run(self, method: str, rows: Columns) -> Any:
        """The output of ``method`` on ``rows``, as the pipeline computes it."""
        features = self._stack([g.transformer.transform(self._input(rows, g)) for g in self.groups])
        for step in self.steps:
            features = step.transform(features)
        return getattr(self.final, method)(features)

    @staticmethod
    def _input(rows: Columns, group: _Group) -> Any:
        return np.column_stack([rows.array(position) for position in group.positions])

    def _stack(self, parts: list[Any]) -> Any:
        from scipy import sparse  # noqa: PLC0415 - scikit-learn's own dependency

        if self.sparse:
            return sparse.hstack([sparse.csr_matrix(p) if not sparse.issparse(p) else p
                                  for p in parts]).tocsr()
        return np.hstack([p.toarray() if sparse.issparse(p) else p for p in parts])


def build(model: Any, found: Layout | None) -> Plan | None:
    """The plan of ``model`` (a satchel Model), or None when it has none or fails its checks."""
    if found is None:
        return None
    try:
        plan = _compile(model.unwrap(), found)
        sample = _sample(model, found)
    except Exception:  # any surprise means no plan, never a failed load
        log.debug("no compiled plan for this model", exc_info=True)
        return None
    if plan is None or sample is None:
        return None
    methods = frozenset(m for m in METHODS if _reproduces(model, plan, m, *sample))
    return Plan(plan.groups, plan.sparse, plan.steps, plan.final, methods) if methods else None


def _compile(pipeline: Any, found: Layout) -> Plan | None:
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    if type(pipeline) is not Pipeline or len(pipeline.steps) < 2:
        return None
    first, *middle, final = [step for _, step in pipeline.steps]
    if (type(first) is not ColumnTransformer or not hasattr(first, "transformers_")
            or getattr(first, "_sklearn_output_config", {}).get("transform") not in (None,
                                                                                     "default")
            or any(step in (None, "passthrough") or not hasattr(step, "transform")
                   for step in middle) or final in (None, "passthrough")):
        return None
    groups = [_group(transformer, selected, found)
              for _, transformer, selected in first.transformers_
              if not (isinstance(transformer, str) and transformer == "drop") and selected]
    if not groups or any(group is None for group in groups):
        return None
    return Plan(tuple(g for g in groups if g is not None), bool(first.sparse_output_),
                tuple(middle), final, frozenset())


def _group(transformer: Any, selected: Any, found: Layout) -> _Group | None:
    """One transformer with its columns, its fitted feature names removed (checked upstream)."""
    if (isinstance(transformer, str) or not isinstance(selected, list)
            or not all(isinstance(name, str) and name in found.index for name in selected)):
        return None
    nameless = copy.copy(transformer)
    vars(nameless).pop("feature_names_in_", None)
    if hasattr(nameless, "feature_names_in_"):
        return None  # a nested pipeline or meta-estimator: it would check names itself
    return _Group(tuple(found.index[name] for name in selected), nameless)


def _sample(model: Any, found: Layout) -> tuple[Any, Columns] | None:
    """The check sample, validated, as a DataFrame and as columns."""
    check = model.metadata.get("check")
    if not check:
        return None
    frame = model.validate(decode_inline(check["tree"], _NothingTrusted())["input"])
    lists = tuple(frame[name].tolist() for name in found.names)
    return frame, Columns(found, lists)


def _reproduces(model: Any, plan: Plan, method: str, frame: Any, rows: Columns) -> bool:
    pipeline = model.unwrap()
    if not hasattr(pipeline, method):
        return False
    try:
        expected = getattr(pipeline, method)(frame)
        found = plan.run(method, rows)
    except Exception:  # a method either path cannot run is not planned
        return False
    return _same(expected, found)


def _same(expected: Any, found: Any) -> bool:
    if type(expected) is not type(found):
        return False
    if hasattr(expected, "toarray"):
        expected, found = expected.toarray(), found.toarray()
    expected, found = np.asarray(expected), np.asarray(found)
    return (expected.dtype == found.dtype and expected.shape == found.shape
            and bool(np.array_equal(expected, found, equal_nan=expected.dtype.kind in "fc")))
