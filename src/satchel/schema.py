"""Input and output schemas: inferred at save, enforced before every prediction.

A schema is either a *frame* (named, ordered columns, each with a dtype, a
kind and whether it may hold missing values) or an *array* (a number of
features and a dtype). :meth:`InputSchema.validate` checks an input against
it (:mod:`satchel.validation`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from satchel.errors import MissingPackageError, RequestError

_KINDS = {"b": "boolean", "i": "integer", "u": "integer", "f": "float", "c": "complex",
          "M": "datetime", "m": "timedelta", "U": "string", "S": "bytes", "O": "object"}
#: The kinds of text columns.
TEXT_KINDS = ("string", "object", "category")



def kind_of(dtype: Any) -> str:
    """The schema kind of a numpy or pandas dtype."""
    name = str(dtype)
    if name == "category" or name.startswith("dictionary<"):  # pyarrow's categorical
        return "category"
    if name in ("str", "string") or name.startswith("string"):
        return "string"
    if name.startswith("datetime64"):
        return "datetime"
    if name in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"):
        return "integer"
    if name in ("Float32", "Float64"):
        return "float"
    if name == "boolean":
        return "boolean"
    return _KINDS.get(getattr(dtype, "kind", "O"), "object")


@dataclass(frozen=True)
class Column:
    """One expected input column."""

    name: str
    dtype: str
    kind: str
    nullable: bool = True


@dataclass(frozen=True)
class InputSchema:
    """What a model's input must look like."""

    columns: tuple[Column, ...] = ()
    n_features: int | None = None
    dtype: str | None = None

    @property
    def is_frame(self) -> bool:
        """True when the model expects named columns."""
        return bool(self.columns)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description."""
        if self.is_frame:
            return {"kind": "frame", "columns": [asdict(c) for c in self.columns]}
        return {"kind": "array", "n_features": self.n_features, "dtype": self.dtype}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputSchema:
        """Read a description written by :meth:`to_json`."""
        if data.get("kind") == "frame":
            return cls(columns=tuple(Column(**c) for c in data["columns"]))
        return cls(n_features=data.get("n_features"), dtype=data.get("dtype"))

    def validate(self, data: Any) -> Any:
        """``data`` checked, reordered and safely cast; every problem raised at once.

        Raises:
            SchemaError: listing each problem with the column, what was expected
                and what was found.
        """
        from satchel import validation  # noqa: PLC0415 - it builds on the records defined here

        if self.is_frame:
            return validation.validate_frame(self, data)
        if self.n_features is None:
            return data
        return validation.validate_array(self, data)


@dataclass(frozen=True)
class OutputSchema:
    """What a model's predictions look like."""

    dtype: str | None = None
    classes: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {"dtype": self.dtype, "classes": self.classes}


def as_pandas(data: Any) -> Any:
    """``data`` as a pandas DataFrame if it is another table of named columns that gives
    one (a pyarrow Table or RecordBatch, a polars DataFrame: a table has a schema), which
    scikit-learn takes too; otherwise ``data`` as it is."""
    if callable(getattr(data, "to_pandas", None)) and hasattr(data, "schema") and (
            hasattr(data, "columns")):
        try:
            return data.to_pandas()
        except ImportError as exc:  # polars converts through pyarrow
            kind = f"{type(data).__module__.partition('.')[0]} {type(data).__name__}"
            raise MissingPackageError(
                f"a {kind} is read as the pandas DataFrame its to_pandas() gives, which"
                f" failed: {exc}. Install pandas and pyarrow: pip install"
                " 'satchel[pandas,parquet]'", name=exc.name) from None
    return data


def model_columns(model: Any, sample: Any) -> Any:
    """``sample`` with only the columns ``model`` was fitted on (``feature_names_in_``), in
    their order, when it holds those and others (an id, the target) or holds them in another
    order: a schema of the others would refuse every input without them, which the model
    never reads, and one of another order would put the model's input out of order.
    Otherwise ``sample`` as it is. A polars DataFrame or a pyarrow Table is taken as pandas
    gives it (:func:`as_pandas`), as the model's inputs are checked and given to it."""
    sample = as_pandas(sample)
    names = getattr(model, "feature_names_in_", None)
    columns = getattr(sample, "columns", None)
    if names is None or columns is None or not hasattr(sample, "iloc") or (
            columns.has_duplicates):
        return sample
    labels = {str(label): label for label in columns}
    names = [str(name) for name in names]
    if list(labels) == names or not set(names) <= labels.keys():
        return sample
    return sample[[labels[name] for name in names]]


def infer_input(model: Any, sample: Any = None) -> InputSchema | None:
    """The input schema from ``sample``, else from ``feature_names_in_`` / ``n_features_in_``."""
    if sample is not None and hasattr(sample, "columns") and hasattr(sample, "dtypes"):
        missing = np.asarray(sample.isna().any(axis=0))  # by position: names may repeat
        return InputSchema(columns=tuple(
            Column(str(name), _dtype_name(dtype), _sampled_kind(sample.iloc[:, i], dtype),
                   bool(nulls))
            for i, ((name, dtype), nulls) in enumerate(zip(sample.dtypes.items(), missing,
                                                            strict=True))
        ))
    if sample is not None and hasattr(sample, "tocsr"):  # scipy.sparse
        return InputSchema(n_features=int(sample.shape[1]), dtype=str(sample.dtype))
    count = getattr(model, "n_features_in_", None)
    if sample is not None and (isinstance(sample, np.ndarray) or count is not None):
        # A list is a feature matrix only for a model that counts its features: a
        # FeatureHasher's token lists may happen to be of one length, or of many.
        try:
            array = np.asarray(sample)
        except (TypeError, ValueError):  # ragged rows
            array = np.empty(0)
        if array.ndim == 2:
            return InputSchema(n_features=int(array.shape[1]), dtype=str(array.dtype))
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return InputSchema(columns=tuple(Column(str(n), "unknown", "any") for n in names))
    return InputSchema(n_features=int(count)) if count is not None else None


def _dtype_name(dtype: Any) -> str:
    """A sample column's dtype as the schema names it: pandas' name, except that a
    categorical whose categories are not text names their dtype (``category[int64]``), so
    that its values are taken as numbers from CSV, Parquet and JSON, not as text."""
    categories = getattr(dtype, "categories", None)
    if str(dtype) == "category" and categories is not None and kind_of(
            categories.dtype) not in TEXT_KINDS:
        return f"category[{categories.dtype}]"
    return str(dtype)


def _sampled_kind(column: Any, dtype: Any) -> str:
    """The kind of a sample's column: its dtype's, except that a column of Python objects
    that are all text (pandas 2's text columns, or ``astype(object)``) is ``string``, so
    that CSV reads it as text (zip codes keep their zeros) and numbers sent for it are
    refused, as they would be for a column of pandas' string dtype."""
    import pandas as pd  # noqa: PLC0415 - a DataFrame sample means pandas is there

    kind = kind_of(dtype)
    if kind == "object" and column.notna().any() and pd.api.types.infer_dtype(
            column, skipna=True) == "string":
        return "string"
    return kind


def infer_output(model: Any, predictions: Any = None) -> OutputSchema:
    """The output schema: prediction dtype and ``classes_`` where the model has them.

    A multi-output classifier's ``classes_`` is a list of arrays, one per output,
    which may differ in length: its classes are a list of lists. Labels that JSON
    cannot hold (bytes, timedeltas, very large integers) are recorded as text.
    """
    classes = getattr(model, "classes_", None)
    if isinstance(classes, list) and any(isinstance(c, np.ndarray) for c in classes):
        listed: list[Any] = [_labels(c) for c in classes]
    else:
        listed = _labels(classes) if classes is not None else []
    dtype = str(np.asarray(predictions).dtype) if predictions is not None else None
    return OutputSchema(dtype=dtype, classes=listed)


def _labels(values: Any) -> list[Any]:
    listed = np.asarray(values).tolist()
    return [_label(v) for v in listed] if isinstance(listed, list) else []


def _label(value: Any) -> Any:
    if value is None or isinstance(value, (bool, float, str)):
        return value
    if isinstance(value, int) and -(1 << 63) <= value < (1 << 64):
        return value
    return str(value)


def _first_step(estimator: Any) -> Any:
    """What takes a pipeline's input: its first step (of its first step, if a pipeline)."""
    while hasattr(estimator, "steps"):
        estimator = next((step for _, step in estimator.steps
                          if step is not None and step != "passthrough"), None)
    return estimator


def one_text_per_row(estimator: Any, rows: Any) -> Any:
    """``rows`` as a model that takes one text per row (a pipeline that starts with one of
    scikit-learn's text vectorizers) must be given them: a table's one column. Given the
    table, the vectorizer reads its column names as the texts, and gives one prediction for
    all its rows. Anything else is given back as it is.

    Raises:
        RequestError: the model takes texts and the table has several columns.
    """
    step = _first_step(estimator)
    if not (hasattr(rows, "columns") and hasattr(rows, "iloc")
            and callable(getattr(step, "build_analyzer", None))):
        return rows
    if rows.shape[1] != 1:
        raise RequestError(f"the model takes one text per row (its first step is"
                           f" {type(step).__name__}), found {rows.shape[1]} columns: give one"
                           " column of texts")
    return rows.iloc[:, 0]


def check_output_rows(result: Any, rows: int, method: str, where: str) -> None:
    """Refuse a method's ``result`` that does not hold one output per row of its input: the
    caller would answer fewer rows than it was given, or give them the wrong outputs.

    Raises:
        RequestError: it holds another number of outputs than ``rows``.
    """
    counts = {(np.shape(part) or (1,))[0]  # a sparse matrix has no length, only a shape
              for part in (result if isinstance(result, list) else [result])}
    if counts != {rows}:
        raise RequestError(f"the model's {method} gave {min(counts)} outputs for {where}"
                           f" ({rows} rows): it does not score a table row by row")
