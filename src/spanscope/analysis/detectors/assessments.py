"""Assessments: ``assessment_failed`` (a judge or a person said no) and ``assessment_error``.

The two are kept apart on purpose. A failed assessment is evidence about the trace (with
the judge's rationale, often the best explanation available); an assessment error is a
scorer that crashed (a timeout, a bad judge prompt) and says nothing about the trace.
Only valid feedback counts: an overridden assessment has been replaced by its correction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from spanscope.analysis.detectors.context import DiagnosisContext, quote
from spanscope.analysis.findings import Finding
from spanscope.entities import Assessment

__all__ = ["FAILING_VALUES", "detect_assessments", "is_failing_value"]

FAILING_VALUES = frozenset({"no", "false", "fail", "failed", "failure", "incorrect", "wrong",
                            "bad", "unsafe", "irrelevant", "not_relevant", "not relevant",
                            "thumbs_down", "thumbs down", "negative", "reject", "rejected"})


def is_failing_value(value: Any, threshold: float) -> bool:
    """False, 0, "no"-like strings, or a number below ``threshold``."""
    if isinstance(value, bool):
        return value is False
    if isinstance(value, (int, float)):
        return value < threshold
    if isinstance(value, str):
        return value.strip().lower() in FAILING_VALUES
    return False


def _where(ctx: DiagnosisContext, assessment: Assessment) -> tuple[str | None, str | None, int]:
    span = ctx.index.by_id.get(assessment.span_id or "")
    if span is not None:
        return span.span_id, span.name, span.start_time_ns
    return assessment.span_id, None, ctx.trace_start_ns


def _source(assessment: Assessment) -> str:
    source = assessment.source
    return f"{source.source_type} {source.source_id}"


def detect_assessments(ctx: DiagnosisContext) -> Iterator[Finding]:
    threshold = ctx.thresholds.assessment_pass_threshold
    for assessment in ctx.trace.search_assessments(type="feedback"):
        span_id, span_name, start = _where(ctx, assessment)
        on = f" on {span_name}" if span_name else ""
        error = assessment.error
        if error is not None:
            detail = f"{error.error_code}: {error.error_message}" if error.error_message \
                else error.error_code
            yield Finding(
                kind="assessment_error", severity="low", span_id=span_id, span_name=span_name,
                message=(f"The scorer for {assessment.name!r}{on} crashed ({detail}); this "
                         "says nothing about the trace itself, only that it was not scored."),
                evidence={"assessment_name": assessment.name,
                          "assessment_id": assessment.assessment_id,
                          "error_code": error.error_code, "error_message": error.error_message,
                          "source": _source(assessment)},
                start_time_ns=start)
            continue
        if not is_failing_value(assessment.value, threshold):
            continue
        why = f" Rationale: {quote(assessment.rationale, 300)}" if assessment.rationale else ""
        yield Finding(
            kind="assessment_failed", severity="medium", span_id=span_id, span_name=span_name,
            message=(f"{assessment.name!r}{on} failed: {_source(assessment)} gave "
                     f"{assessment.value!r}.{why}"),
            evidence={"assessment_name": assessment.name,
                      "assessment_id": assessment.assessment_id, "value": assessment.value,
                      "rationale": assessment.rationale, "source": _source(assessment)},
            start_time_ns=start)
