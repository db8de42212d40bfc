"""Evaluation data in any accepted shape, as a list of rows.

``evaluate`` takes a list of dicts (``inputs``, optional ``outputs``, ``expectations``,
``trace``), a list of ``Trace``, a DataFrame of those columns, a ``search_traces``
DataFrame (``trace``, ``request``, ``response``, ``assessments``) or an evaluation dataset
(anything with ``to_df()``). A row with a trace but no inputs/outputs takes them from the
trace's root span, and its expectations from the trace's expectation assessments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spanscope.entities import Assessment, Expectation, Trace
from spanscope.exceptions import InvalidInputError

__all__ = ["EvalRow", "is_missing", "rows_from_data"]


@dataclass
class EvalRow:
    """One record to evaluate; ``trace`` is the existing trace it came from, if any."""

    index: int
    inputs: Any
    outputs: Any = None
    expectations: dict[str, Any] | None = None
    trace: Trace | None = None
    has_outputs: bool = False

    @property
    def trace_id(self) -> str | None:
        return None if self.trace is None else self.trace.info.trace_id


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA: a DataFrame cell with nothing in it."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def _is_dataframe(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "to_dict")


def rows_from_data(data: Any) -> list[EvalRow]:
    """The rows of ``data``; ``InvalidInputError`` names the shape or row that is wrong."""
    if _is_dataframe(data):
        records = data.to_dict(orient="records")
    elif hasattr(data, "to_df") and callable(data.to_df):  # an EvaluationDataset
        records = data.to_df().to_dict(orient="records")
    elif isinstance(data, (list, tuple)):
        records = list(data)
    else:
        raise InvalidInputError(
            f"evaluate() data must be a list of dicts, a list of Traces, a pandas DataFrame "
            f"or an EvaluationDataset, not {type(data).__name__}")
    rows = [_row(i, record) for i, record in enumerate(records)]
    if not rows:
        raise InvalidInputError("evaluate() data has no rows")
    return rows


def _row(index: int, record: Any) -> EvalRow:
    if isinstance(record, Trace):
        record = {"trace": record}
    if not isinstance(record, dict):
        raise InvalidInputError(f"evaluate() data row {index} must be a dict with 'inputs' "
                                f"(or a Trace), not {type(record).__name__}")
    trace = _trace(index, record.get("trace"))
    root = None if trace is None else trace.data.root_span
    inputs = _first(record, "inputs", "request")
    if is_missing(inputs) and root is not None:
        inputs = root.inputs
    if is_missing(inputs):
        raise InvalidInputError(f"evaluate() data row {index} has no 'inputs' (and no trace "
                                f"to take them from)")
    outputs = _first(record, "outputs", "response")
    has_outputs = not is_missing(outputs)
    if not has_outputs and root is not None:
        outputs, has_outputs = root.outputs, True
    expectations = record.get("expectations")
    if is_missing(expectations):
        expectations = _expectations_of(record.get("assessments"), trace)
    elif not isinstance(expectations, dict):
        raise InvalidInputError(f"evaluate() data row {index}: 'expectations' must be a dict "
                                f"such as {{'expected_response': ...}}, not "
                                f"{type(expectations).__name__}")
    return EvalRow(index=index, inputs=inputs, outputs=outputs if has_outputs else None,
                   expectations=expectations or None, trace=trace, has_outputs=has_outputs)


def _first(record: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = record.get(key)
        if not is_missing(value):
            return value
    return None


def _trace(index: int, value: Any) -> Trace | None:
    if is_missing(value):
        return None
    if isinstance(value, Trace):
        return value
    try:
        if isinstance(value, dict):
            return Trace.from_dict(value)
        if isinstance(value, (str, bytes)):
            return Trace.from_json(value)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInputError(f"evaluate() data row {index}: 'trace' is not a trace "
                                f"({exc})") from None
    raise InvalidInputError(f"evaluate() data row {index}: 'trace' must be a Trace, its "
                            f"dict or its JSON, not {type(value).__name__}")


def _expectations_of(assessments: Any, trace: Trace | None) -> dict[str, Any] | None:
    """Valid expectation assessments as ``{name: value}`` (the column, else the trace's)."""
    found: list[Assessment] = []
    if isinstance(assessments, list) and assessments:
        found = [a if isinstance(a, Assessment) else Assessment.from_dict(a)
                 for a in assessments if isinstance(a, (dict, Assessment))]
    elif trace is not None:
        found = list(trace.info.assessments)
    result = {a.name: a.value for a in found if isinstance(a, Expectation) and a.valid}
    return result or None
