"""Entities to table rows and back.

Writes keep the lossless copy (span and assessment JSON, tags, metadata, ``extra``) next to
the short indexed columns; reads rebuild entities from the lossless copy, so
``get_trace(id).to_json()`` equals the logged trace's ``to_json()``.
"""

from __future__ import annotations

import json
import math
import operator
from dataclasses import dataclass
from typing import Any

from spanscope.entities import (
    Assessment,
    Experiment,
    Span,
    SpanAttributeKey,
    Trace,
    TraceInfo,
    TraceState,
    TraceTagKey,
)
from spanscope.entities._codec import dumps, encode_json
from spanscope.entities.canonical_trace import CanonicalSpan
from spanscope.store.sql import schema
from spanscope.store.trace_rules import check_experiment_id, check_trace

__all__ = [
    "PreparedTrace",
    "assessment_from_content",
    "assessment_row",
    "experiment_from_row",
    "overflow_values",
    "parse_experiment_id",
    "prepare",
    "span_from_content",
    "span_row",
    "summary_row",
    "trace_info_from_row",
]

_encode = encode_json  # = _codec.dumps for plain JSON values
_OVERFLOW_COLUMNS = {  # columns whose too-long values are kept whole in traces.overflow
    "request_preview": schema.PREVIEW_LENGTH,
    "response_preview": schema.PREVIEW_LENGTH,
    "client_request_id": 256,
}


@dataclass
class PreparedTrace:
    """A validated trace ready to be written: ids checked, duplicates folded."""

    trace_id: str
    experiment_id: int
    info: TraceInfo
    spans: list[Span]
    tags: dict[str, str]
    metadata: dict[str, str]
    assessments: list[Assessment]

    @property
    def root_name(self) -> str | None:
        for span in self.spans:
            if span.parent_id is None:
                return span.name
        return None


def parse_experiment_id(value: Any, *, context: str = "") -> int:
    """Experiment ids are strings in the API and integers in the database."""
    if type(value) is str and value.isascii() and value.isdigit():  # the usual "0"
        return int(value)
    return int(check_experiment_id(value, context=context))  # the rule and its message


def prepare(trace: Trace) -> PreparedTrace:
    """Validate ``trace`` for writing (the rule: ``trace_rules.check_trace``)."""
    checked = check_trace(trace)
    return PreparedTrace(trace_id=checked.trace_id, experiment_id=int(checked.experiment_id),
                         info=checked.info, spans=checked.spans, tags=checked.tags,
                         metadata=checked.metadata, assessments=checked.assessments)


def _int_or_none(value: Any) -> int | None:
    if value is None or type(value) is int:  # the usual cases, without a raised TypeError
        return value
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def summary_row(prepared: PreparedTrace, *, tags: dict[str, str], metadata: dict[str, str],
                name: str | None, span_count: int) -> dict[str, Any]:
    """The ``traces`` row; tags and metadata are the merged ones when upserting."""
    info = prepared.info
    overflow = {column: value for column, limit in _OVERFLOW_COLUMNS.items()
                if isinstance(value := getattr(info, column), str) and len(value) > limit}
    usage = _token_usage(metadata)
    name = name if name is not None else tags.get(TraceTagKey.TRACE_NAME)
    return {
        "trace_id": prepared.trace_id,
        "experiment_id": prepared.experiment_id,
        "request_time": int(info.request_time),
        "execution_duration": _int_or_none(info.execution_duration),
        "state": str(info.state),
        "name": _cut(name, schema.SPAN_NAME_LENGTH),
        "client_request_id": _cut(info.client_request_id, 256),
        "session_id": _cut(metadata.get("mlflow.trace.session"), 256),
        "user_id": _cut(metadata.get("mlflow.trace.user"), 256),
        "request_preview": _cut(info.request_preview, schema.PREVIEW_LENGTH),
        "response_preview": _cut(info.response_preview, schema.PREVIEW_LENGTH),
        "input_tokens": _int_or_none(usage.get("input_tokens")),
        "output_tokens": _int_or_none(usage.get("output_tokens")),
        "total_tokens": _int_or_none(usage.get("total_tokens")),
        "span_count": span_count,
        "extra": dumps(info.extra) if info.extra else None,
        "overflow": dumps(overflow) if overflow else None,
    }


def _token_usage(metadata: dict[str, str]) -> dict[str, Any]:
    raw = metadata.get("mlflow.trace.tokenUsage")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _cut(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit]
    return value


def _span_type(span: Span) -> str:
    """``span.span_type`` without a JSON decode for the usual plain ``"TYPE"`` value."""
    raw = span.raw_attributes.get(SpanAttributeKey.SPAN_TYPE)
    if raw and len(raw) > 2 and raw[0] == raw[-1] == '"' and "\\" not in raw:
        return raw[1:-1]
    return str(span.span_type)


def span_row(trace_id: str, span: Span, position: int) -> dict[str, Any]:
    # The ingest hot path (one call per span): plain local code, no helper calls per column.
    name, parent, start, end = span.name or "", span.parent_id, span.start_time_ns, span.end_time_ns
    span_type = _span_type(span)
    if type(span) is CanonicalSpan:  # an import's: its dict is already to_dict()'s
        content = span.to_json()
    else:
        try:
            content = _encode(span.to_dict())
        except (TypeError, ValueError):
            content = dumps(span.to_dict())  # never raises: unencodable values become repr()
    return {
        "trace_id": trace_id,
        "span_id": span.span_id,
        "parent_span_id": parent if parent is None or len(parent) <= 32 else parent[:32],
        "name": name if len(name) <= schema.SPAN_NAME_LENGTH else name[:schema.SPAN_NAME_LENGTH],
        "span_type": span_type if len(span_type) <= 128 else span_type[:128],
        "status": span.status.status_code.value,
        "start_time_ns": start,
        "end_time_ns": end,
        "duration_ns": None if end is None else end - start,
        "position": position,
        "content": content,
    }


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def assessment_row(trace_id: str, assessment: Assessment, position: int) -> dict[str, Any]:
    error = assessment.error
    return {
        "assessment_id": assessment.assessment_id,
        "trace_id": trace_id,
        "name": assessment.name,
        "kind": assessment.kind,
        "value": dumps(assessment.value),
        "numeric_value": _numeric(assessment.value),
        "error": dumps(error.to_dict()) if error is not None else None,
        "source_type": _cut(str(assessment.source.source_type), 32),
        "source_id": _cut(assessment.source.source_id, 256),
        "span_id": _cut(assessment.span_id, schema.SPAN_ID_LENGTH),
        "run_id": _cut(assessment.run_id, 64),
        "rationale": assessment.rationale,
        "metadata": dumps(assessment.metadata) if assessment.metadata else None,
        "overrides": _cut(assessment.overrides, schema.ASSESSMENT_ID_LENGTH),
        "valid": bool(assessment.valid),
        "create_time": _int_or_none(assessment.create_time_ms),
        "last_update_time": _int_or_none(assessment.last_update_time_ms),
        "position": position,
        "content": dumps(assessment.to_dict()),
    }


# --- rows to entities ---------------------------------------------------------------------
def span_from_content(content: str, trace_id: str) -> Span:
    return Span.from_dict(json.loads(content), trace_id)


def assessment_from_content(content: str) -> Assessment:
    return Assessment.from_dict(json.loads(content))


_INFO_COLUMNS = operator.itemgetter(*(schema.traces.columns.keys().index(name) for name in (
    "trace_id", "experiment_id", "request_time", "execution_duration", "state",
    "request_preview", "response_preview", "client_request_id", "extra", "overflow")))
_STATES = {str(state): state for state in TraceState}


def overflow_values(text: str) -> dict[str, Any]:
    """The whole values of ``traces.overflow`` (values too long for their columns)."""
    return {key: value for key, value in json.loads(text).items() if key in _OVERFLOW_COLUMNS}


def trace_info_from_row(row: Any, *, tags: dict[str, str], metadata: dict[str, str],
                        assessments: list[Assessment]) -> TraceInfo:
    """Rebuild ``TraceInfo`` from a ``traces`` row plus its tags, metadata, assessments.

    ``row`` has the ``traces`` columns first, in table order (``select(traces, ...)``); they
    are read by position, once per trace of every page read.
    """
    (trace_id, experiment_id, request_time, execution_duration, state, request_preview,
     response_preview, client_request_id, extra, overflow) = _INFO_COLUMNS(row)
    info = TraceInfo(
        trace_id=trace_id,
        experiment_id=str(experiment_id),
        request_time=request_time,
        execution_duration=execution_duration,
        state=_STATES.get(state) or TraceState(state),
        request_preview=request_preview,
        response_preview=response_preview,
        client_request_id=client_request_id,
        trace_metadata=metadata,
        tags=tags,
        assessments=assessments,
        extra=json.loads(extra) if extra else {},
    )
    if overflow:  # values too long for their columns, kept whole
        for key, value in overflow_values(overflow).items():
            setattr(info, key, value)
    return info


def experiment_from_row(row: Any) -> Experiment:
    return Experiment(experiment_id=str(row.experiment_id), name=row.name,
                      creation_time=row.creation_time or 0)
