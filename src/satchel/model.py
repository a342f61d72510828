"""Model: a loaded estimator that checks its input before every prediction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from satchel.checks import METHODS
from satchel.schema import InputSchema, OutputSchema


class Model:
    """A fitted estimator with its schema and metadata.

    ``predict``, ``predict_proba``, ``decision_function``, ``transform`` and
    ``score_samples`` (those the estimator has) validate their input against
    the input schema first: every problem is reported in one
    :class:`~satchel.errors.SchemaError`, columns are reordered by name and only
    safe casts are made. Other attributes are the estimator's own.

    Example:
        >>> model = satchel.load("churn.satchel")     # doctest: +SKIP
        >>> model.predict(frame)                      # doctest: +SKIP
        >>> model.unwrap()                            # the bare estimator, no checks
    """

    def __init__(self, estimator: Any, input_schema: InputSchema | None,
                 output_schema: OutputSchema | None, metadata: dict[str, Any],
                 digest: str) -> None:
        self._estimator = estimator
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.metadata = metadata
        self.digest = digest

    def unwrap(self) -> Any:
        """The bare estimator, for those who want no checks."""
        return self._estimator

    @property
    def environment(self) -> dict[str, Any]:
        """The environment the model was saved in."""
        return dict(self.metadata.get("environment", {}))

    def validate(self, data: Any) -> Any:
        """``data`` checked against the input schema (reordered, safely cast)."""
        return self.input_schema.validate(data) if self.input_schema else data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_estimator":
            raise AttributeError(name)  # not yet set while copy or pickle rebuild the object
        attribute = getattr(self._estimator, name)
        if name in METHODS and callable(attribute):
            return self._checked(attribute)
        return attribute

    def _checked(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def checked(data: Any, *args: Any, **kwargs: Any) -> Any:
            return method(self.validate(data), *args, **kwargs)

        checked.__name__ = checked.__qualname__ = method.__name__
        checked.__doc__ = method.__doc__
        return checked

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self._estimator)))

    def __repr__(self) -> str:
        return f"Model({self._estimator!r}, digest={self.digest[:19]}...)"


def is_model(obj: Any) -> bool:
    """Whether ``obj`` is an estimator that :func:`satchel.load` wraps in a Model."""
    return any(callable(getattr(obj, m, None)) for m in METHODS) and hasattr(obj, "fit")
