"""Repeated calls: retries after failures (``retry``) and identical calls (``agent_loop``).

A retry is a run of sibling spans with one name and the same inputs, each failed attempt
followed by the next; an agent loop is the same call (name and canonical JSON inputs)
made again and again anywhere in the trace. A loop that is only a retry run is reported
as the retry, not twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from spanscope.analysis.detectors.context import DiagnosisContext, fmt_ms, ns_to_ms, quote
from spanscope.analysis.detectors.exception_info import exception_info
from spanscope.analysis.findings import Finding
from spanscope.entities import Span, SpanAttributeKey

__all__ = ["detect_agent_loops", "detect_retries"]


def _error_summary(span: Span) -> str:
    info = exception_info(span)
    return info.brief() if info is not None else "an error"


def detect_retries(ctx: DiagnosisContext) -> Iterator[Finding]:
    for run in ctx.retry_runs:
        failed = [a for a in run.attempts if ctx.index.is_error(a)]
        errors = list(dict.fromkeys(_error_summary(a) for a in failed))
        first, last = run.attempts[0], run.last
        lost_ns = last.start_time_ns - first.start_time_ns
        n = len(run.attempts)
        if run.succeeded:
            outcome = (f"{len(failed)} of {n} attempts failed ({'; '.join(errors)}); "
                       "the last succeeded")
        else:
            outcome = f"all {n} attempts failed ({'; '.join(errors)})"
        yield Finding(
            kind="retry", severity="medium" if run.succeeded else "high",
            span_id=last.span_id, span_name=last.name,
            message=(f"{last.name} was retried: {outcome}. "
                     f"{fmt_ms(ns_to_ms(lost_ns))} went to the failed attempts and waiting."),
            evidence={"attempts": n, "failed_attempts": len(failed),
                      "succeeded": run.succeeded, "errors": errors,
                      "span_ids": [a.span_id for a in run.attempts],
                      "time_lost_ms": ns_to_ms(lost_ns)},
            start_time_ns=first.start_time_ns)


def _canonical(span: Span) -> str | None:
    """The span's inputs as canonical JSON (sorted keys), None when it recorded none."""
    if SpanAttributeKey.INPUTS not in span.raw_attributes:
        return None
    return json.dumps(span.inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=repr)


def detect_agent_loops(ctx: DiagnosisContext) -> Iterator[Finding]:
    limits = ctx.thresholds
    root = ctx.index.root
    groups: dict[tuple[str, str], list[Span]] = {}
    for span in ctx.index.spans:
        if span is root or (canonical := _canonical(span)) is None:
            continue
        groups.setdefault((span.name, canonical), []).append(span)
    retry_sets = [{a.span_id for a in run.attempts} for run in ctx.retry_runs]
    for (name, canonical), calls in groups.items():
        if len(calls) < limits.loop_min_repeats:
            continue
        ids = {c.span_id for c in calls}
        if any(ids <= retried for retried in retry_sets):
            continue  # a retry run: reported as the retry
        total_ns = sum((c.end_time_ns or c.start_time_ns) - c.start_time_ns for c in calls)
        high = len(calls) >= limits.loop_high_repeats
        yield Finding(
            kind="agent_loop", severity="high" if high else "medium",
            span_id=calls[0].span_id, span_name=name,
            message=(f"{name} ({calls[0].span_type}) was called {len(calls)} times with the "
                     f"same arguments {quote(canonical, 60)}; together "
                     f"{fmt_ms(ns_to_ms(total_ns))}. The agent may be stuck in a loop."),
            evidence={"calls": len(calls), "span_type": str(calls[0].span_type),
                      "arguments": canonical[:500], "span_ids": [c.span_id for c in calls],
                      "total_ms": ns_to_ms(total_ns),
                      "failed_calls": sum(ctx.index.is_error(c) for c in calls)},
            start_time_ns=calls[0].start_time_ns)
