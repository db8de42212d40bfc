"""The aggregate queries in plain Python over ``Trace`` entities (``InMemoryStore``).

Obviously right rather than fast: it selects with the reference filter evaluator
(``spanscope.query.filter_traces``) and computes every number directly, so it is the
reference the SQL of ``store/sql/aggregates.py`` is tested against.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from spanscope.entities import Assessment, Span, SpanStatusCode, Trace, TraceState
from spanscope.entities._codec import dumps
from spanscope.entities.model_usage import USAGE_COUNTS, trace_usage_by_model_and_type
from spanscope.query import filter_traces
from spanscope.query.values import number_of
from spanscope.store.aggregates import (
    AssessmentStats,
    ErrorSpan,
    FieldCoverage,
    GroupKey,
    ModelUsageRow,
    NumericField,
    NumericPairs,
    Sample,
    Selection,
    SpanStats,
    SpanValue,
    TraceSample,
    TraceStats,
    TraceValues,
    exception_of,
    histogram_bin,
    percentiles,
    period_of,
    sample_key,
)

__all__ = [
    "assessment_stats",
    "error_spans",
    "latency_histogram",
    "model_usage",
    "numeric_pairs",
    "select",
    "span_stats",
    "trace_sample",
    "trace_stats",
]

_NS_PER_MS = 1_000_000


def select(traces: Iterable[Trace], selection: Selection,
           sample: Sample | None = None) -> list[Trace]:
    """The traces of ``selection`` (already restricted to its experiments by the caller)."""
    chosen = [t for t in filter_traces(selection.filter_string, traces)
              if selection.in_window(t.info.request_time)]
    if sample is not None:
        chosen.sort(key=lambda t: (sample_key(t.info.trace_id, sample.seed), t.info.trace_id))
        chosen = chosen[:max(0, sample.size)]
    return chosen


def _tokens(trace: Trace) -> tuple[int | None, int | None, int | None]:
    """The trace's token columns as the SQL store fills them (from the metadata)."""
    usage = trace.info.token_usage or {}

    def whole(value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            return None

    return (whole(usage.get("input_tokens")), whole(usage.get("output_tokens")),
            whole(usage.get("total_tokens")))


def _group(trace: Trace, group_by: GroupKey | None) -> str | None:
    if group_by is None:
        return None
    if group_by.kind == "trace":
        return trace.info.trace_id
    values = trace.info.tags if group_by.kind == "tag" else trace.info.trace_metadata
    return values.get(group_by.key)


def _bucket(trace: Trace, bucket_ms: int | None) -> int | None:
    return None if bucket_ms is None else (trace.info.request_time // bucket_ms) * bucket_ms


def trace_stats(traces: Sequence[Trace], *, bucket_ms: int | None, group_by: GroupKey | None,
                quantiles: Sequence[float]) -> list[TraceStats]:
    groups: dict[tuple[int | None, str | None], list[Trace]] = {}
    for trace in traces:
        groups.setdefault((_bucket(trace, bucket_ms), _group(trace, group_by)), []).append(trace)
    out = []
    for (bucket, group), members in groups.items():
        durations = [float(t.info.execution_duration) for t in members
                     if t.info.execution_duration is not None]
        tokens = [_tokens(t) for t in members]
        times = [t.info.request_time for t in members]
        out.append(TraceStats(
            bucket_ms=bucket, group=group, traces=len(members),
            errors=sum(t.info.state == TraceState.ERROR for t in members),
            in_progress=sum(t.info.state == TraceState.IN_PROGRESS for t in members),
            latency_n=len(durations), latency_sum_ms=float(sum(durations)),
            latency_min_ms=min(durations, default=None),
            latency_max_ms=max(durations, default=None), quantiles=tuple(quantiles),
            latency_quantiles_ms=percentiles(durations, quantiles),
            input_tokens=sum(t[0] or 0 for t in tokens),
            output_tokens=sum(t[1] or 0 for t in tokens),
            total_tokens=sum(t[2] or 0 for t in tokens),
            first_ms=min(times), last_ms=max(times)))
    return out


def model_usage(traces: Sequence[Trace], *, bucket_ms: int | None, group_by: GroupKey | None,
                periods: Sequence[int] = ()) -> list[ModelUsageRow]:
    rows: dict[tuple[int | None, str | None, str, int | None], ModelUsageRow] = {}
    for trace in traces:
        at = trace.info.request_time
        bucket, period = _bucket(trace, bucket_ms), period_of(at, periods)
        seen: set[tuple[int | None, str | None, str, int | None]] = set()
        for (model, span_type), usage in trace_usage_by_model_and_type(
                _unique_spans(trace)).items():
            group = span_type if group_by is not None and group_by.kind == "span_type" \
                else _group(trace, group_by)
            key = (bucket, group, model, period)
            row = rows.setdefault(key, ModelUsageRow(
                bucket_ms=bucket, group=group, model=model, traces=0, calls=0,
                input_tokens=0, output_tokens=0, total_tokens=0, period_ms=period,
                first_ms=at, last_ms=at))
            if key not in seen:  # a trace counts once per row, whatever its span types
                seen.add(key)
                row.traces += 1
            row.calls += usage["calls"]
            for name in USAGE_COUNTS:
                setattr(row, name, getattr(row, name) + usage[name])
            row.first_ms = at if row.first_ms is None else min(row.first_ms, at)
            row.last_ms = at if row.last_ms is None else max(row.last_ms, at)
    return list(rows.values())


def latency_histogram(traces: Sequence[Trace], edges: Sequence[float]) -> list[int]:
    counts = [0] * max(0, len(edges) - 1)
    for trace in traces:
        duration = trace.info.execution_duration
        if duration is not None and counts:
            index = histogram_bin(float(duration), edges)
            if index is not None:
                counts[index] += 1
    return counts


def _unique_spans(trace: Trace) -> list[Span]:
    """The trace's spans with each span id once (first place, last content), as stored."""
    spans: dict[str, Span] = {}
    for span in trace.data.spans:
        spans[span.span_id] = span
    return list(spans.values())


def _duration_ms(span: Span) -> float | None:
    duration = span.duration_ns
    return None if duration is None else duration / _NS_PER_MS


def span_stats(traces: Sequence[Trace], *, quantiles: Sequence[float],
               span_types: Sequence[str] | None = None) -> list[SpanStats]:
    groups: dict[tuple[str, str | None], list[Span]] = {}
    for trace in traces:
        for span in _unique_spans(trace):
            span_type = str(span.span_type)
            if span_types is not None and span_type not in span_types:
                continue
            groups.setdefault((span_type, None), []).append(span)
            groups.setdefault((span_type, span.name), []).append(span)
    out = []
    for (span_type, name), members in groups.items():
        durations = [d for s in members if (d := _duration_ms(s)) is not None]
        out.append(SpanStats(
            span_type=span_type, name=name, count=len(members),
            errors=sum(s.status.status_code == SpanStatusCode.ERROR for s in members),
            duration_n=len(durations), total_ms=float(sum(durations)),
            max_ms=max(durations, default=None), quantiles=tuple(quantiles),
            duration_quantiles_ms=percentiles(durations, quantiles)))
    return out


def trace_sample(traces: Sequence[Trace], sample: Sample | None, *, spans: bool,
                 assessments: bool) -> TraceSample:
    chosen = list(traces)
    if sample is not None:
        chosen.sort(key=lambda t: (sample_key(t.info.trace_id, sample.seed), t.info.trace_id))
        chosen = chosen[:sample.size]
    return TraceSample(total=len(traces),
                       traces=trace_values(chosen, assessments=assessments),
                       spans=span_values(chosen) if spans else [])


def span_values(traces: Sequence[Trace]) -> list[SpanValue]:
    rows = [((t.info.trace_id, s.span_id), SpanValue(
        trace_id=t.info.trace_id, span_type=str(s.span_type), name=s.name,
        duration_ms=_duration_ms(s), error=s.status.status_code == SpanStatusCode.ERROR))
        for t in traces for s in _unique_spans(t)]
    return [value for _, value in sorted(rows, key=lambda r: r[0])]


def error_spans(traces: Sequence[Trace]) -> list[ErrorSpan]:
    out = []
    for trace in traces:
        spans = _unique_spans(trace)
        failed_parents = {s.parent_id for s in spans
                          if s.status.status_code == SpanStatusCode.ERROR}
        for span in spans:
            if span.status.status_code != SpanStatusCode.ERROR or span.span_id in failed_parents:
                continue
            exc_type, exc_message = exception_of([e.to_dict() for e in span.events])
            out.append(ErrorSpan(
                trace_id=trace.info.trace_id, span_id=span.span_id, name=span.name,
                span_type=str(span.span_type), request_time=trace.info.request_time,
                exception_type=exc_type, exception_message=exc_message,
                status_message=span.status.description or None,
                trace_failed=trace.info.state == TraceState.ERROR))
    out.sort(key=lambda e: (e.request_time, e.trace_id, e.span_id))
    return out


def _latest(assessments: Iterable[Assessment], name: str,
            kind: str | None = None) -> Assessment | None:
    candidates = [a for a in assessments
                  if a.valid and a.name == name and (kind is None or a.kind == kind)]
    return max(candidates, key=lambda a: (a.create_time_ms or 0, a.assessment_id),
               default=None)


def _assessment_number(value: Any) -> float | None:
    """The ``numeric_value`` the SQL store keeps: booleans as 1/0, finite numbers."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def trace_values(traces: Sequence[Trace], *, assessments: bool) -> list[TraceValues]:
    out = []
    for trace in traces:
        info = trace.info
        tokens = _tokens(trace)
        row = TraceValues(
            trace_id=info.trace_id, request_time=info.request_time,
            latency_ms=None if info.execution_duration is None
            else float(info.execution_duration),
            error=info.state == TraceState.ERROR, input_tokens=tokens[0],
            output_tokens=tokens[1], total_tokens=tokens[2])
        if assessments:
            for name in sorted({a.name for a in info.assessments if a.kind == "feedback"}):
                latest = _latest(info.assessments, name, "feedback")
                number = None if latest is None else _assessment_number(latest.value)
                if number is not None:
                    row.assessments[name] = number
        out.append(row)
    return sorted(out, key=lambda v: (v.request_time, v.trace_id))


def _field(trace: Trace, field: NumericField) -> tuple[str | None, float | None]:
    """(raw text or None when missing, its number or None) of one trace."""
    info = trace.info
    if field.kind == "attribute":
        tokens = _tokens(trace)
        value = {"latency_ms": info.execution_duration, "input_tokens": tokens[0],
                 "output_tokens": tokens[1], "total_tokens": tokens[2],
                 "span_count": len(_unique_spans(trace)),
                 "request_time": info.request_time}[field.key]
        return (None, None) if value is None else (str(value), float(value))
    if field.kind in ("tag", "metadata"):
        text = (info.tags if field.kind == "tag" else info.trace_metadata).get(field.key)
        if text is None:
            return None, None
        number = number_of(text)
        return text, None if number is None else float(number)
    latest = _latest(info.assessments, field.key)
    if latest is None:
        return None, None
    return dumps(latest.value), _assessment_number(latest.value)


def numeric_pairs(traces: Sequence[Trace], x: NumericField, y: NumericField) -> NumericPairs:
    ordered = sorted(traces, key=lambda t: (t.info.request_time, t.info.trace_id))
    values = [(_field(t, x), _field(t, y)) for t in ordered]

    def coverage(index: int) -> FieldCoverage:
        fields = [v[index] for v in values]
        bad = [raw for raw, number in fields if raw is not None and number is None]
        return FieldCoverage(sum(raw is not None for raw, _ in fields),
                             sum(number is not None for _, number in fields),
                             min(bad) if bad else None)

    xs, ys = [], []
    for (_, a), (_, b) in values:
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
            xs.append(a)
            ys.append(b)
    return NumericPairs(xs, ys, coverage(0), coverage(1))


def assessment_stats(traces: Sequence[Trace], name: str) -> AssessmentStats:
    count = errors = numeric_n = passed = 0
    total = 0.0
    for trace in traces:
        latest = _latest(trace.info.assessments, name, "feedback")
        if latest is None:
            continue
        count += 1
        if latest.error is not None:
            errors += 1
        value = latest.value
        number = _assessment_number(value)
        text = value.lower() if isinstance(value, str) else None
        if number is None and text in ("yes", "no"):
            number = 1.0 if text == "yes" else 0.0
        if number is not None:
            numeric_n += 1
            total += number
        passed += value is True or text == "yes"
    return AssessmentStats(name, count, errors, numeric_n, total, passed)
