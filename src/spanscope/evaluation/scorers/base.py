"""Scorers: named functions that judge one evaluation row, and the ``@scorer`` decorator.

A scorer reads any of four fields of a row, passed by parameter name: ``inputs``,
``outputs``, ``expectations`` and ``trace`` (a ``Trace``). It returns a bool, number or
string, a ``Feedback`` (to add a rationale), or a list of Feedbacks (each its own metric).
``Scorer.run`` turns whatever came back, including an exception, into Feedbacks named and
sourced consistently, so one broken scorer or row never stops an evaluation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, overload

from spanscope.entities import (
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
)
from spanscope.exceptions import InvalidInputError

__all__ = ["AGGREGATIONS", "FIELDS", "FunctionScorer", "Scorer", "scorer"]

FIELDS = ("inputs", "outputs", "expectations", "trace")
AGGREGATIONS = ("mean", "min", "max", "median", "variance", "p90")
_DEFAULT_FEEDBACK_NAME = "feedback"


def _check_aggregations(aggregations: Sequence[str] | None) -> tuple[str, ...]:
    if aggregations is None:
        return ("mean",)
    if isinstance(aggregations, str):
        aggregations = [aggregations]
    unknown = [a for a in aggregations if a not in AGGREGATIONS]
    if unknown:
        raise InvalidInputError(f"unknown aggregation(s) {', '.join(map(repr, unknown))}; "
                                f"use some of {', '.join(AGGREGATIONS)}")
    return tuple(aggregations)


class Scorer:
    """Base class: a ``name``, the ``fields`` it reads, and ``__call__`` that scores.

    Subclasses implement ``__call__(*, inputs=None, outputs=None, expectations=None,
    trace=None)``. Judges (LLM-backed scorers) set ``is_judge`` and ``model``.
    """

    is_judge = False
    model: str | None = None

    def __init__(self, name: str, *, aggregations: Sequence[str] | None = None,
                 fields: Sequence[str] = FIELDS) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"a scorer needs a non-empty name, got {name!r}")
        self.name = name
        self.aggregations = _check_aggregations(aggregations)
        self.fields = frozenset(fields)

    def __call__(self, *, inputs: Any = None, outputs: Any = None, expectations: Any = None,
                 trace: Any = None) -> Any:
        raise NotImplementedError

    def source(self) -> AssessmentSource:
        """Who made this scorer's assessments (code, named after the scorer)."""
        return AssessmentSource(AssessmentSourceType.CODE, self.name)

    def run(self, *, inputs: Any = None, outputs: Any = None, expectations: Any = None,
            trace: Any = None) -> list[Feedback]:
        """Score one row; never raises: an exception becomes a Feedback with ``error``."""
        try:
            value = self(inputs=inputs, outputs=outputs, expectations=expectations,
                         trace=trace)
            return self._to_feedbacks(value)
        except Exception as exc:
            return [Feedback(name=self.name, error=AssessmentError.from_exception(exc),
                             source=self.source())]

    def _to_feedbacks(self, value: Any) -> list[Feedback]:
        if isinstance(value, Feedback):
            return [self._own(value, self.name)]
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, Feedback) for v in value):
            names = [self._own(v, f"{self.name}_{i}") for i, v in enumerate(value)]
            seen = [f.name for f in names]
            if len(set(seen)) != len(seen):
                raise InvalidInputError(f"scorer {self.name!r} returned Feedbacks with "
                                        f"repeated names {seen}; give each a distinct name")
            return names
        return [Feedback(name=self.name, value=_plain(value, self.name),
                         source=self.source())]

    def _own(self, feedback: Feedback, default_name: str) -> Feedback:
        """The feedback named and sourced for this scorer unless it says otherwise."""
        changes: dict[str, Any] = {}
        if feedback.name == _DEFAULT_FEEDBACK_NAME:
            changes["name"] = default_name
        source = feedback.source
        if source.source_type == AssessmentSourceType.CODE and source.source_id == "default":
            changes["source"] = self.source()
        if feedback.error is None and feedback.value is not None:
            changes["value"] = _plain(feedback.value, self.name)
        return dataclasses.replace(feedback, **changes) if changes else feedback

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _plain(value: Any, name: str) -> Any:
    """A storable feedback value: numpy scalars unwrapped; None and NaN refused."""
    if value is None:
        raise InvalidInputError(f"scorer {name!r} returned None; return a bool, number, "
                                f"string or Feedback")
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes, list, dict)):
        with contextlib.suppress(TypeError, ValueError):
            value = item()  # numpy / pandas scalar
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"scorer {name!r} returned {value!r}, not a finite number")
    return value


class FunctionScorer(Scorer):
    """A scorer made from a plain function by ``@scorer``."""

    def __init__(self, func: Callable[..., Any], *, name: str | None = None,
                 aggregations: Sequence[str] | None = None,
                 description: str | None = None) -> None:
        self.func = func
        self.description = description or inspect.getdoc(func)
        self._pass_all, fields = _accepted_fields(func)
        super().__init__(name or getattr(func, "__name__", "scorer"),
                         aggregations=aggregations, fields=fields)

    def __call__(self, *, inputs: Any = None, outputs: Any = None, expectations: Any = None,
                 trace: Any = None) -> Any:
        given = {"inputs": inputs, "outputs": outputs, "expectations": expectations,
                 "trace": trace}
        if self._pass_all:
            return self.func(**given)
        return self.func(**{k: v for k, v in given.items() if k in self.fields})


def _accepted_fields(func: Callable[..., Any]) -> tuple[bool, tuple[str, ...]]:
    """(takes **kwargs, the row fields it names); other required parameters are refused."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        raise InvalidInputError(f"cannot read the parameters of {func!r}") from None
    fields: list[str] = []
    pass_all = False
    for param in signature.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            pass_all = True
        elif param.name in FIELDS and param.kind is not param.VAR_POSITIONAL:
            fields.append(param.name)
        elif param.default is param.empty and param.kind is not param.VAR_POSITIONAL:
            raise InvalidInputError(
                f"scorer {getattr(func, '__name__', func)!r} has parameter {param.name!r}; "
                f"a scorer takes any of {', '.join(FIELDS)} (by these names)")
    return pass_all, tuple(FIELDS if pass_all else fields)


@overload
def scorer(func: Callable[..., Any], *, name: str | None = None,
           aggregations: Sequence[str] | None = None,
           description: str | None = None) -> FunctionScorer: ...


@overload
def scorer(func: None = None, *, name: str | None = None,
           aggregations: Sequence[str] | None = None,
           description: str | None = None) -> Callable[[Callable[..., Any]], FunctionScorer]: ...


def scorer(func: Callable[..., Any] | None = None, *, name: str | None = None,
           aggregations: Sequence[str] | None = None,
           description: str | None = None) -> Any:
    """Make a scorer from a function: ``@scorer`` or ``@scorer(name="exact_match")``.

    The function declares any of ``inputs``, ``outputs``, ``expectations``, ``trace`` and
    returns a bool, number, string, ``Feedback`` or list of Feedbacks. Its metrics are
    ``NAME/mean`` (bools and "yes"/"no" count as 1/0) plus ``aggregations`` among
    mean, min, max, median, variance, p90.
    """
    def wrap(function: Callable[..., Any]) -> FunctionScorer:
        return FunctionScorer(function, name=name, aggregations=aggregations,
                              description=description)

    return wrap if func is None else wrap(func)
