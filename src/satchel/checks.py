"""The check sample: a few input rows and the model's outputs on them.

Stored in the file's metadata at save time and recomputed at load time, it
shows that the loaded model still predicts what the saved one did, which a
version number alone cannot promise.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import orjson

from satchel.errors import (
    EncodeError,
    FormatError,
    LimitError,
    PredictionMismatchError,
    warn,
)
from satchel.format.decoder import collect_names, decode_inline
from satchel.format.encoder import encode
from satchel.format.trust import DATA_CLASSES, TrustPolicy, dotted
from satchel.schema import as_pandas

METHODS = ("predict", "predict_proba", "decision_function", "transform", "score_samples")
DEFAULT_ROWS = 100
MAX_BYTES = 1 << 20
#: Floats match when |saved - current| <= ATOL + RTOL * |saved|; labels must be equal.
RTOL, ATOL = 1e-6, 1e-9
#: Units in the last place a float output of little precision may differ by: one unit of
#: float16 is about 1e-3 of the value, far more than RTOL.
ULPS = 4


class _DataOnly(TrustPolicy):
    """A check sample is data: it may name no class or function but the standard
    library's dates and decimals."""

    def trusts(self, role: Any, name: str) -> bool:
        return role == "construct" and name in DATA_CLASSES


def _rows(sample: Any, count: int) -> Any:
    if hasattr(sample, "iloc"):
        # An estimator never reads a frame's index: a plain one (0, 1, ...) is kept instead
        # of a DatetimeIndex or MultiIndex, which a check sample cannot hold.
        rows = sample.iloc[:count].reset_index(drop=True)
        if hasattr(rows, "columns") and not rows.columns.has_duplicates:
            arrow = {label: _numpy_backed(dtype, rows[label].hasnans) for label, dtype in
                     rows.dtypes.items() if type(dtype).__name__ == "ArrowDtype"}
            # Through objects: pandas cannot cast a pyarrow dictionary with nulls.
            rows = rows.astype({k: object for k, v in arrow.items() if v == "category"})
            rows = rows.astype({k: v for k, v in arrow.items() if v is not None})
        return rows
    if hasattr(sample, "tocsr"):  # scipy.sparse: COO and DIA cannot be sliced
        return sample.tocsr()[:count]
    return sample[:count]


def _numpy_backed(dtype: Any, missing: bool) -> Any:
    """The numpy dtype (or pandas' nullable one, for missing values) that holds a pyarrow
    column's values alike, as read_parquet(dtype_backend="pyarrow") gives: the format
    stores those. Text (string, or large_string as read_parquet gives it) is pandas'
    string dtype, and a dictionary of text (a categorical, as read_parquet gives it) a
    categorical. None for what has no such dtype."""
    arrow = getattr(dtype, "pyarrow_dtype", None)
    if getattr(arrow, "tz", None) is not None:
        return None  # a time zone: no numpy dtype holds it
    if getattr(dtype, "kind", None) == "U":
        return "string[pyarrow]"
    if str(arrow).startswith(("dictionary<values=string,", "dictionary<values=large_string,")):
        return "category"
    try:
        target = dtype.numpy_dtype
    except (AttributeError, NotImplementedError, TypeError):
        return None
    if target.kind in "fMm" or (target.kind in "iub" and not missing):
        return target
    if target.kind == "b":
        return "boolean"
    if target.kind in "iu":
        return f"{'U' if target.kind == 'u' else ''}Int{target.itemsize * 8}"
    return None


def _row_count(rows: Any) -> int:
    shape = getattr(rows, "shape", None)
    return int(shape[0]) if shape else len(rows)  # a sparse matrix has no len()


def outputs(model: Any, rows: Any, failures: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The outputs of each of :data:`METHODS` the model has, on ``rows``; each method that
    fails is skipped and, given ``failures``, noted there (method, error). A polars
    DataFrame (``set_output(transform="polars")``) is taken as pandas gives it."""
    found = {}
    for method in METHODS:
        function = getattr(model, method, None)
        if function is None:
            continue
        try:
            result = function(rows)
        except Exception as exc:  # a method the model cannot run is skipped
            if failures is not None:
                said = " ".join(str(exc).split()).rstrip(".")  # one line: it is quoted in one
                failures.append((method, f"{type(exc).__name__}: {said}"))
            continue
        found[method] = as_pandas(result)  # a missing pyarrow is no failure of the model
    return found


def build(model: Any, sample: Any, rows: int = DEFAULT_ROWS) -> dict[str, Any] | None:
    """The check-sample metadata: at most ``rows`` rows and ``MAX_BYTES`` of JSON; None,
    with a warning that says why, when no row fits or the model's outputs cannot be checked."""
    while rows >= 1:
        taken = _rows(sample, rows)
        failures: list[tuple[str, str]] = []
        found = _repeatable(model, taken, failures)
        if not found:  # a check of no outputs would pass whatever the model became
            _none_stored(model, _no_outputs(model, failures, taken), "")
            return None
        _check_rows_read(found, _row_count(taken))
        try:
            tree, _ = encode({"input": taken, "outputs": found}, inline=True)
        except EncodeError as exc:
            _none_stored(model, str(exc).rstrip("."), _PLAIN)
            return None
        names = sorted({dotted(name) for _, name in collect_names(tree)
                        if name not in DATA_CLASSES})
        if names:  # verify() decodes with nothing trusted: it would refuse this sample
            _none_stored(model, f"the sample's rows or outputs hold {names} objects", _PLAIN)
            return None
        size = len(orjson.dumps(tree))
        if size <= MAX_BYTES:
            return {"rows": _row_count(taken), "tree": tree}
        if rows == 1:  # a wide row or a long document: no number of rows fits
            _none_stored(model, f"one row of the sample with the model's outputs on it takes"
                         f" {size:,} bytes of JSON, more than the {MAX_BYTES:,} a check sample"
                         " may take (satchel.checks.MAX_BYTES)", "")
        rows //= 2
    return None


_PLAIN = ("A check sample holds plain data only (numbers, text, datetime64, arrays, DataFrames"
          " of such columns); convert those values (to text, datetime64 or float) to keep one. ")


def _none_stored(model: Any, reason: str, advice: str) -> None:
    from satchel.model import is_model  # noqa: PLC0415 - satchel.model imports this module

    schema = ("The input schema is stored as usual." if is_model(model) else "Nor is an input"
              " schema: load gives the object back as it is, checking no input.")
    warn(f"no check sample is stored: {reason}. {advice}{schema}")


def _no_outputs(model: Any, failures: list[tuple[str, str]], rows: Any) -> str:
    """Why a sample gives no outputs to check.

    Raises:
        ValueError: the model's methods fail on every row of the sample, which is then
            not an input of the model: its schema would refuse the model's real inputs.
    """
    if failures and any(outputs(model, _rows(rows, i + 1)[i:]) for i in range(
            _row_count(rows))):  # some rows are inputs: others hold values it refuses
        return (f"the model's methods refuse some of the sample's rows ({failures[0][0]}"
                f" raised {failures[0][1][:200]})")
    if failures:
        methods: dict[str, list[str]] = {}
        for method, error in failures:
            methods.setdefault(error if len(error) <= 300 else error[:297] + "...", []).append(
                method)
        raise ValueError("sample= is not an input this model accepts: " + "; ".join(
            f"{', '.join(names)} raised {error}" for error, names in methods.items())
            + ". Pass rows like those the model was fitted on (X_train[:100]).")
    if any(hasattr(model, method) for method in METHODS):
        return "the model's outputs on the sample change from one run to the next"
    return f"the model has none of {', '.join(METHODS)}, so there is nothing to check"


def _check_rows_read(found: dict[str, Any], rows: int) -> None:
    """Refuse a sample whose rows the model does not read one by one.

    Raises:
        ValueError: a method gave another number of rows than the sample has: a text
            pipeline given a DataFrame reads its column names as the documents, so its
            schema would describe an input the model misreads.
    """
    misread: dict[int, list[str]] = {}
    for method, value in found.items():
        count = _output_rows(value)
        if count is not None and count != rows:
            misread.setdefault(count, []).append(method)
    if misread:
        raise ValueError(
            "sample= is not read row by row by this model: " + "; ".join(
                f"{', '.join(methods)} gave {count} row{'s' * (count != 1)}"
                for count, methods in misread.items())
            + f" for {rows} rows of the sample. Pass rows like those the model was fitted on"
            " (X_train[:100]); a text pipeline takes a Series or a list of documents, not a"
            " DataFrame.")


def _output_rows(value: Any) -> int | None:
    """The rows of a method's outputs (each output's, for a multi-output classifier's
    probabilities), or None when they have no rows (a number)."""
    if _per_output(value):
        return _output_rows(value[0])
    shape = getattr(value, "shape", None)
    return int(shape[0]) if shape else None


def _repeatable(model: Any, rows: Any, failures: list[tuple[str, str]]) -> dict[str, Any]:
    """:func:`outputs` of the methods that give the same result when run again: a random
    one (a stratified DummyClassifier's predict) cannot be checked."""
    first, again = outputs(model, rows, failures), outputs(model, rows)
    return {method: value for method, value in first.items()
            if method in again and _differences(value, again[method]) is None}


def _differences(saved: Any, current: Any) -> tuple[int, float | None] | None:
    """(rows that differ, largest absolute difference), or None when equal.

    A multi-output classifier's probabilities are a list of arrays, one per output, whose
    widths differ with the outputs' classes: compared output by output, the rows of the
    one that differs most are counted.
    """
    if _per_output(saved) or _per_output(current):
        if not (_per_output(saved) and _per_output(current) and len(saved) == len(current)):
            return (_row_count(saved[0]) if _per_output(saved) else 1, None)
        found = [found for found in map(_differences, saved, current) if found is not None]
        if not found:
            return None
        return (max(rows for rows, _ in found),
                max((gap for _, gap in found if gap is not None), default=None))
    if _is_sparse(saved) or _is_sparse(current):
        return _sparse_differences(saved, current)
    saved, current = _dense(saved), _dense(current)
    if saved.shape != current.shape:
        return (int(saved.shape[0]) if saved.ndim else 1, None)
    if saved.dtype.kind in "fc" and current.dtype.kind in "fc":
        close = np.isclose(current, saved, rtol=_rtol(saved.dtype, current.dtype), atol=ATOL,
                           equal_nan=True)
        with np.errstate(invalid="ignore"):  # inf - inf is NaN: infinities that match
            gap = np.abs(current - saved)[~close]
        gap = gap[~np.isnan(gap)]  # NaN for a number is a difference of no size
        largest = float(gap.max()) if gap.size else None
    elif object in (saved.dtype, current.dtype):
        close, largest = _same_objects(saved, current), None
    else:
        close, largest = saved == current, None
    close = np.asarray(close)
    bad = ~close.reshape(close.shape[0], -1).all(axis=1) if close.ndim else ~close
    count = int(np.count_nonzero(bad))
    return (count, largest) if count else None


def _rtol(*dtypes: np.dtype[Any]) -> float:
    """:data:`RTOL`, or :data:`ULPS` units in the last place of the least precise of float
    ``dtypes`` where that is more (float16: a unit is about 1e-3)."""
    return max(RTOL, *(ULPS * float(np.finfo(dtype).eps) for dtype in dtypes))


def _per_output(value: Any) -> bool:
    return type(value) in (list, tuple) and bool(value) and all(
        hasattr(item, "shape") for item in value)


def _same_objects(saved: np.ndarray[Any, Any], current: np.ndarray[Any, Any]
                  ) -> np.ndarray[Any, Any]:
    """Where two arrays of one shape, one of them of objects, hold equal values; a missing
    value (None, NaN, pandas' NA) equals another."""
    same = [_same(a, b) for a, b in zip(saved.ravel().tolist(), current.ravel().tolist(),
                                         strict=True)]
    return np.array(same, dtype=bool).reshape(saved.shape)


def _same(saved: Any, current: Any) -> bool:
    missing = _is_missing(saved), _is_missing(current)
    if any(missing):
        return all(missing)
    if isinstance(saved, (float, np.floating)) or isinstance(current, (float, np.floating)):
        # A float among text (a column passed through, a DataFrame of mixed dtypes) is
        # held as an object: it is compared as the floats of a float output are.
        with contextlib.suppress(TypeError):
            return bool(abs(current - saved) <= ATOL + RTOL * abs(saved))
    try:
        return bool(saved == current)
    except (TypeError, ValueError):  # no single truth value: not one equal value
        return False


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # noqa: PLR0124 - only NaN differs from itself
    except TypeError:  # pandas' NA: comparing it gives NA, which has no truth value
        return True
    except ValueError:  # an array's comparison: not one missing value
        return False


#: How many values of a sparse output are made dense at a time to be compared: a
#: HashingVectorizer's 100 rows of 2**20 columns took 3 GB at once.
DENSE_BLOCK = 1 << 20


def _is_sparse(values: Any) -> bool:
    return hasattr(values, "tocsr") and len(getattr(values, "shape", ())) == 2


def _sparse_differences(saved: Any, current: Any) -> tuple[int, float | None] | None:
    """:func:`_differences` of two outputs of which one or both are sparse, compared a block
    of rows at a time, so that no more than :data:`DENSE_BLOCK` values are dense at once."""
    saved, current = (values.tocsr() if _is_sparse(values) else np.asarray(values)
                      for values in (saved, current))
    if saved.shape != current.shape:
        return (int(saved.shape[0]) if saved.ndim else 1, None)
    step = max(1, DENSE_BLOCK // max(1, int(saved.shape[1])))
    found = [block for start in range(0, int(saved.shape[0]), step) if (
        block := _differences(*(_dense(values[start:start + step])
                                for values in (saved, current)))) is not None]
    if not found:
        return None
    return (sum(rows for rows, _ in found),
            max((gap for _, gap in found if gap is not None), default=None))


def _dense(values: Any) -> np.ndarray[Any, Any]:
    if hasattr(values, "toarray"):
        return np.asarray(values.toarray())
    return np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)


def stored_methods(check: dict[str, Any]) -> list[str]:
    """The methods whose outputs a check sample holds, read from its tree without decoding
    it (nothing is imported); those of :data:`METHODS` only, in their order."""
    outputs = check.get("tree", {}).get("v", {})
    outputs = outputs.get("outputs") if isinstance(outputs, dict) else None
    found = outputs.get("v") if isinstance(outputs, dict) else None
    return [method for method in METHODS if isinstance(found, dict) and method in found]


def _columns_change(saved: Any, current: Any) -> str | None:
    """How the column names of a DataFrame output (``set_output(transform="pandas")``)
    changed, or None: code that reads the columns by name breaks as surely as on values."""
    before, after = ([str(name) for name in columns] if columns is not None else None
                     for columns in (getattr(saved, "columns", None),
                                     getattr(current, "columns", None)))
    if before == after:
        return None
    return f"gives {_names(after)} where it gave {_names(before)}"


def _names(columns: list[str] | None) -> str:
    if columns is None:
        return "no column names"
    shown = repr(columns[:10])[:-1] + (f", ... and {len(columns) - 10} more]"
                                       if len(columns) > 10 else "]")
    return f"the columns {shown}"


def decoded(check: dict[str, Any]) -> dict[str, Any]:
    """The check sample decoded: ``{"input": rows, "outputs": {method: outputs}}``.

    Raises:
        FormatError: it is not such a dict.
    """
    found = decode_inline(check["tree"], _DataOnly())
    if not (type(found) is dict and found.keys() == {"input", "outputs"}
            and type(found["outputs"]) is dict and set(found["outputs"]) <= set(METHODS)):
        raise FormatError("metadata.check: expected the sample's input and a dict of its"
                          f" outputs by method ({', '.join(METHODS)})")
    _check_stored_rows(found, check["rows"])
    return found


def _check_stored_rows(found: dict[str, Any], rows: int) -> None:
    """The input and each output of a check sample hold its ``rows`` rows, as a save
    stores them, and at most :data:`MAX_BYTES`: a sparse input of no values can declare
    any number of rows in a few bytes, and the model would be run on all of them.

    Raises:
        FormatError: another number of rows.
    """
    try:
        given = _row_count(found["input"])
    except TypeError:  # a number: no rows
        given = None
    counts = {count for count in (given, *map(_output_rows, found["outputs"].values()))
              if count is not None}
    if given is None or counts != {rows} or not 1 <= rows <= MAX_BYTES:
        raise FormatError(f"metadata.check: expected the sample's input and outputs to hold"
                          f" its {rows} rows (1 to {MAX_BYTES}, as a save stores them), found"
                          f" {sorted(counts) if given is not None else 'an input of no rows'}")


def verify(model: Any, check: dict[str, Any], versions: str) -> None:
    """Recompute the stored outputs; raise if any method's outputs changed.

    Raises:
        PredictionMismatchError: a summary per method (rows that differ, largest
            absolute difference, or the error it raised on the sample) and ``versions``,
            the saved and current versions.
    """
    stored = decoded(check)
    failures: list[tuple[str, str]] = []
    current = outputs(model, stored["input"], failures)
    raised = dict(failures)
    problems = []
    for method, saved in stored["outputs"].items():
        if method in raised:
            problems.append(f"{method}: raised {raised[method][:300]}")
            continue
        if method not in current:
            problems.append(f"{method}: no longer available")
            continue
        renamed = _columns_change(saved, current[method])
        if renamed:
            problems.append(f"{method}: {renamed}")
            continue
        try:
            found = _differences(saved, current[method])
        except (TypeError, ValueError) as exc:  # not outputs a model gives
            raise FormatError(f"metadata.check: the stored {method} outputs cannot be"
                              f" compared with the model's: {exc}") from None
        except MemoryError:  # a stored sparse output of a shape too large to hold
            raise LimitError(f"metadata.check: the stored {method} outputs take more memory"
                             " to compare with the model's than this process can allocate"
                             ) from None
        if found:
            rows, largest = found
            gap = f", largest absolute difference {largest:.3g}" if largest is not None else ""
            problems.append(f"{method}: {rows} of {check['rows']} rows differ{gap}")
    if problems:
        raise PredictionMismatchError(
            "the loaded model does not reproduce the predictions stored with it: "
            + "; ".join(problems) + f". {versions}. Floats are compared with rtol={RTOL}"
            f" ({ULPS} units in the last place for float16), atol={ATOL}; labels must be"
            " equal. Retrain or re-save the model under the current versions, or install the"
            " saved ones."
        )
