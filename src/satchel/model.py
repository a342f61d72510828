"""Model: a loaded estimator that checks its input before every prediction."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

from satchel.checks import METHODS, _rows, outputs
from satchel.errors import MappedModelError, NotAModelError
from satchel.format.encoder import BY_TYPE, Encoder, Node
from satchel.schema import InputSchema, OutputSchema, infer_input, infer_output, model_columns

#: The methods whose input is checked: those of the check sample, and those that take the
#: same input to give log-probabilities, a score (``score(X, y)``), predictions stage by
#: stage or the leaves and paths of trees.
CHECKED = (*METHODS, "predict_log_proba", "predict_joint_log_proba", "score", "staged_predict",
           "staged_predict_proba", "staged_decision_function", "apply", "decision_path")


class Model:
    """A fitted estimator with its schema and metadata.

    ``predict``, ``predict_proba``, ``predict_log_proba``, ``decision_function``,
    ``transform``, ``score_samples`` and ``score``, and ``predict_joint_log_proba``,
    ``staged_predict``, ``staged_predict_proba``, ``staged_decision_function``, ``apply``
    and ``decision_path`` (those the estimator has) validate their input against the
    input schema first: every problem is reported in one
    :class:`~satchel.errors.SchemaError`, columns are reordered by name and only
    safe casts are made. Other attributes are the estimator's own, scikit-learn's
    ``__sklearn_tags__`` and ``__sklearn_clone__`` included, so that its scorers
    and meta-estimators take a Model as they take the estimator (a clone is the
    bare estimator, unfitted).

    ``fit`` (and ``fit_transform``, ``fit_predict``) fits the estimator anew and gives
    the Model the schemas of the data it was fitted on; ``fit`` gives the Model back, as do
    the other methods that give the estimator back (``set_params``, ``partial_fit``, ...).

    A model loaded with ``mmap=True`` keeps its arrays as read-only views of the
    file: ``fit`` and ``partial_fit`` that would write into them (to train further)
    raise :class:`~satchel.errors.MappedModelError`, which says to load it whole.

    Example:
        >>> model = satchel.load("churn.satchel")     # doctest: +SKIP
        >>> model.predict(frame)                      # doctest: +SKIP
        >>> model.unwrap()                            # the bare estimator, no checks
    """

    def __init__(self, estimator: Any, input_schema: InputSchema | None,
                 output_schema: OutputSchema | None, metadata: dict[str, Any],
                 digest: str, *, mapped: bool = False) -> None:
        self._estimator = estimator
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.metadata = metadata
        self.digest = digest
        #: Whether the arrays may be views of a mapped file (``load(..., mmap=True)``).
        self.mapped = mapped

    def unwrap(self) -> Any:
        """The bare estimator, for those who want no checks."""
        return self._estimator

    @property
    def environment(self) -> dict[str, Any]:
        """The environment the model was saved in."""
        return dict(self.metadata.get("environment", {}))

    def validate(self, data: Any) -> Any:
        """``data`` checked against the input schema (reordered, safely cast); a table's
        values for an estimator fitted on an array, which scikit-learn would warn of at each
        call ('X has feature names, but ... was fitted without feature names')."""
        checked = self.input_schema.validate(data) if self.input_schema else data
        if hasattr(checked, "columns") and hasattr(checked, "to_numpy") and hasattr(
                self._estimator, "n_features_in_") and not hasattr(
                self._estimator, "feature_names_in_"):
            return checked.to_numpy()
        return checked

    def __getattr__(self, name: str) -> Any:
        if (name.startswith("__") and not name.startswith("__sklearn_")) or name == "_estimator":
            raise AttributeError(name)  # not yet set while copy or pickle rebuild the object
        attribute = getattr(self._estimator, name)
        if not callable(attribute):
            return attribute
        if name in CHECKED:
            return self._checked(attribute)
        own = _method(self._estimator, name, attribute)
        if name in _TRAINING and self.mapped:
            attribute = _training(attribute)
        if name in _REFIT:
            return self._refitting(attribute)
        return self._chained(attribute) if own else attribute

    def __sklearn_is_fitted__(self) -> bool:
        """Whether the estimator is fitted, as scikit-learn's ``check_is_fitted`` asks (of a
        ``FrozenEstimator(model)``, say): the Model's own attributes do not tell."""
        from sklearn.exceptions import NotFittedError  # noqa: PLC0415 - asked by sklearn only
        from sklearn.utils.validation import check_is_fitted  # noqa: PLC0415

        try:
            check_is_fitted(self._estimator)
        except NotFittedError:
            return False
        return True

    def _checked(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def checked(*args: Any, **kwargs: Any) -> Any:
            if args:
                return method(self.validate(args[0]), *args[1:], **kwargs)
            name = _input_name(method)  # predict(X=frame), as the estimator takes it
            if name in kwargs:
                kwargs[name] = self.validate(kwargs[name])
            return method(**kwargs)

        checked.__name__ = checked.__qualname__ = method.__name__
        checked.__doc__ = method.__doc__
        checked.__wrapped__ = method  # type: ignore[attr-defined] # its signature: (X, ...)
        return checked

    def _refitting(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """``method`` (``fit``, ``fit_transform``, ``fit_predict``), after which the schemas
        are those of the data it was fitted on: the ones it was loaded with refused the new
        columns. ``fit`` gives the Model back, as an estimator's gives the estimator."""
        def refitting(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            data = args[0] if args else kwargs.get(_input_name(method))
            if data is not None:
                data = model_columns(self._estimator, data)
            self.input_schema = infer_input(self._estimator, data)
            predictions = None if data is None else outputs(
                self._estimator, _rows(data, 5)).get("predict")
            self.output_schema = infer_output(self._estimator, predictions)
            return self if result is self._estimator else result

        refitting.__name__ = refitting.__qualname__ = method.__name__
        refitting.__doc__ = method.__doc__
        refitting.__wrapped__ = method  # type: ignore[attr-defined] # its signature
        return refitting

    def _chained(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """``method``, giving the Model back where it gives the estimator back
        (``set_params``, ``set_output``, ``partial_fit``, ``set_fit_request``), so that a chained
        ``model.set_params(...).predict(X)`` checks its input too."""
        @functools.wraps(method)
        def chained(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return self if result is self._estimator else result
        return chained

    def __getitem__(self, key: Any) -> Any:
        """A step or a slice of a pipeline, as ``Pipeline[...]`` gives it: the estimator's
        own, without input checks (a later step's input is not the model's)."""
        return self._estimator[key]

    def __len__(self) -> int:
        """A pipeline's number of steps, as ``len(pipeline)`` gives it."""
        return len(self._estimator)

    def __bool__(self) -> bool:
        """A model is true, whether or not its estimator has a length."""
        return True

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self._estimator)))

    def __repr__(self) -> str:
        return f"Model({self._estimator!r}, digest={self.digest[:19]}...)"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """What a notebook shows: the estimator's diagram, with the Model's repr as its text
        (the estimator's own text would hide that the input is checked)."""
        shown = getattr(self._estimator, "_repr_mimebundle_", None)
        bundle = dict(shown(**kwargs)) if callable(shown) else {}
        bundle["text/plain"] = repr(self)
        return bundle


#: Methods that may update the fitted arrays where they are.
_TRAINING = ("fit", "partial_fit")
#: Methods that fit the estimator anew, on data that may have other columns.
_REFIT = ("fit", "fit_transform", "fit_predict")
#: How numpy and Cython refuse to write into a read-only array.
_READ_ONLY = "read-only"


def _training(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` of a mapped model, whose refusal to write into a read-only array
    says why the arrays are read-only and what to do."""
    @functools.wraps(method)
    def training(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ValueError as exc:
            if _READ_ONLY not in str(exc):
                raise
            raise MappedModelError(
                f"{method.__name__} writes into the model's fitted arrays ({exc}), but the"
                " model was loaded with mmap=True: its arrays are read-only views of the"
                " file. To train it further, load it whole: satchel.load(path) without"
                " mmap=True."
            ) from exc
    return training


def _method(estimator: Any, name: str, attribute: Any) -> bool:
    """Whether ``attribute`` is one of ``estimator``'s methods: a bound method, or the
    function scikit-learn's ``set_fit_request`` descriptors give, but not a callable the
    estimator holds (a ``FunctionTransformer``'s ``func``) or gives (a Gaussian process's
    ``kernel_``)."""
    return isinstance(attribute, types.MethodType | types.FunctionType) and (
        name not in getattr(estimator, "__dict__", {}))


def _input_name(method: Callable[..., Any]) -> str:
    """The name of ``method``'s first parameter, the input (``X`` in scikit-learn, but
    ``raw_documents`` for a text vectorizer's ``transform``)."""
    try:
        return next(iter(inspect.signature(method).parameters), "X")
    except (TypeError, ValueError):  # a callable without a signature
        return "X"


def as_model(loaded: Any, where: str, use: str) -> Model:
    """``loaded`` (what :func:`~satchel.load` gave for ``where``), which must be a Model.

    Raises:
        NotAModelError: it is another object (None, a dict, an array), which ``use`` (such
            as "a server") cannot call, or an estimator that was saved before it was fitted,
            which would refuse every row.
    """
    if not isinstance(loaded, Model):
        raise NotAModelError(
            f"{where} holds a {type(loaded).__name__}, not a model: {use} needs a fitted"
            f" estimator, with one of the methods {', '.join(METHODS)}; give a file or version"
            " that holds one")
    if not loaded.__sklearn_is_fitted__():
        raise NotAModelError(
            f"{where} holds a {type(loaded.unwrap()).__name__} that was never fitted: {use}"
            " needs a fitted estimator, and this one would refuse every row; fit it before it"
            " is saved")
    return loaded


def is_model(obj: Any) -> bool:
    """Whether ``obj`` is an estimator that :func:`satchel.load` wraps in a Model."""
    return any(callable(getattr(obj, m, None)) for m in METHODS) and hasattr(obj, "fit")


def _encode_estimator(encoder: Encoder, model: Model) -> Node:
    """A loaded model inside what is saved (``FrozenEstimator(model)``, a step of an
    ensemble) is stored as its estimator: no reader trusts satchel's own classes, and the
    input that is checked is that of the model saved."""
    return encoder.encode(model.unwrap())


BY_TYPE[Model] = _encode_estimator
