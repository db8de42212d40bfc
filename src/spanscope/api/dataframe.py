"""Traces as a pandas DataFrame, one row per trace, with MLflow's column names.

Imported only when a DataFrame is asked for, so ``import spanscope`` stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from spanscope.api.extract import ResultColumn
from spanscope.entities import Trace
from spanscope.entities._codec import loads_attribute

__all__ = ["DATAFRAME_COLUMNS", "traces_to_dataframe"]

DATAFRAME_COLUMNS = [
    "trace_id", "trace", "client_request_id", "state", "request_time", "execution_duration",
    "request", "response", "request_preview", "response_preview", "trace_metadata", "tags",
    "assessments", "spans",
    # MLflow 2 names that users' notebooks still use
    "request_id", "timestamp_ms", "status", "execution_time_ms", "request_metadata",
]


def _row(trace: Trace) -> dict[str, Any]:
    info = trace.info
    return {
        "trace_id": info.trace_id,
        "trace": trace,
        "client_request_id": info.client_request_id,
        "state": str(info.state),
        "request_time": info.request_time,
        "execution_duration": info.execution_duration,
        "request": loads_attribute(trace.data.request),
        "response": loads_attribute(trace.data.response),
        "request_preview": info.request_preview,
        "response_preview": info.response_preview,
        "trace_metadata": dict(info.trace_metadata),
        "tags": dict(info.tags),
        "assessments": [a.to_dict() for a in info.assessments],
        "spans": [s.to_dict() for s in trace.data.spans],
        "request_id": info.trace_id,
        "timestamp_ms": info.request_time,
        "status": str(info.state),
        "execution_time_ms": info.execution_duration,
        "request_metadata": dict(info.trace_metadata),
    }


def traces_to_dataframe(traces: Sequence[Trace],
                        extra: Sequence[ResultColumn] = ()) -> pd.DataFrame:
    """One row per trace; ``extra`` columns (extract fields, filter fields) at the end."""
    frame = pd.DataFrame([_row(t) for t in traces], columns=DATAFRAME_COLUMNS)
    for column in ("request_time", "execution_duration", "timestamp_ms", "execution_time_ms"):
        frame[column] = frame[column].astype("Int64")
    for column in extra:
        if column.name in frame.columns:
            continue  # a standard column keeps its meaning
        values = [column.value_of(t) for t in traces]
        frame[column.name] = (pd.array([_float(v) for v in values], dtype="Float64")
                              if column.numeric
                              else pd.Series(values, index=frame.index, dtype=object))
    return frame


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond a double
        return math.copysign(math.inf, value)
