"""What ``evaluate()`` returns, and the per-row table it is built from.

``EvaluationResult`` has MLflow's fields: ``run_id``, ``metrics`` and ``result_df`` (one
row per record: ``inputs``, ``outputs``, ``expectations``, ``trace_id``, ``error`` (the
predict function's, if it failed) and, per feedback name, ``NAME/value``,
``NAME/rationale`` and ``NAME/error``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spanscope.entities import Feedback

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BASE_COLUMNS",
    "TABLE_ARTIFACT",
    "EvaluationResult",
    "RowResult",
    "json_safe",
    "result_columns",
    "result_table",
    "to_frame",
]

BASE_COLUMNS = ("inputs", "outputs", "expectations", "trace_id", "error")
TABLE_ARTIFACT = "eval_results_table.json"


@dataclass
class RowResult:
    """One evaluated row: what the app answered and what each scorer said."""

    index: int
    inputs: Any
    outputs: Any
    expectations: dict[str, Any] | None
    trace_id: str | None
    error: str | None = None
    feedbacks: list[Feedback] = field(default_factory=list)


@dataclass
class EvaluationResult:
    """The outcome of ``evaluate()``: the run it was logged to, its metrics, its rows."""

    run_id: str
    metrics: dict[str, float]
    result_df: pd.DataFrame

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """MLflow's name for the per-row table: ``{"eval_results": result_df}``."""
        return {"eval_results": self.result_df}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.3g}" for k, v in sorted(self.metrics.items())
                          if k.endswith("/mean"))
        return (f"EvaluationResult(run_id={self.run_id!r}, rows={len(self.result_df)}, "
                f"{shown or 'no mean metrics'})")


def _error_text(feedback: Feedback) -> str | None:
    if feedback.error is None:
        return None
    message = feedback.error.error_message
    return f"{feedback.error.error_code}: {message}" if message else feedback.error.error_code


def result_columns(results: Sequence[RowResult]) -> list[str]:
    """Base columns, then value/rationale/error for each feedback name in first-seen order."""
    names: dict[str, None] = {}
    for result in results:
        for feedback in result.feedbacks:
            names.setdefault(feedback.name, None)
    columns = list(BASE_COLUMNS)
    for name in names:
        columns += [f"{name}/value", f"{name}/rationale", f"{name}/error"]
    return columns


def result_table(results: Sequence[RowResult], columns: Sequence[str]) -> dict[str, list[Any]]:
    """The rows as ``{column: [values...]}`` in ``results`` order."""
    table: dict[str, list[Any]] = {column: [] for column in columns}
    for result in results:
        row: dict[str, Any] = {"inputs": result.inputs, "outputs": result.outputs,
                               "expectations": result.expectations,
                               "trace_id": result.trace_id, "error": result.error}
        for feedback in result.feedbacks:
            row[f"{feedback.name}/value"] = None if feedback.error else feedback.value
            row[f"{feedback.name}/rationale"] = feedback.rationale
            row[f"{feedback.name}/error"] = _error_text(feedback)
        for column in columns:
            table[column].append(row.get(column))
    return table


def to_frame(table: dict[str, list[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """The table as a DataFrame: numeric columns numeric, the rest objects with None kept.

    (pandas 3 would otherwise turn text columns into its string dtype, where a missing
    output reads back as NaN rather than None.)
    """
    import pandas as pd

    data = {}
    for column in columns:
        values = table[column]
        numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                      for v in values) and any(v is not None for v in values)
        data[column] = pd.Series(values, dtype=None if numeric else object)
    return pd.DataFrame(data, columns=list(columns))


def json_safe(table: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The table with every value plain JSON (objects become their ``repr``)."""
    return json.loads(json.dumps(table, default=repr, allow_nan=True))
