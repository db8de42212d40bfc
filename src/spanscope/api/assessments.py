"""Assessments: ``log_feedback``, ``log_expectation``, ``get_assessment``,
``update_assessment``, ``delete_assessment`` (MLflow's names and arguments).

Feedback judges a trace or span (a value, or the error of a scorer that failed; an
error never changes the trace's own state); an expectation is its ground truth. Unless
told otherwise the source is a human, the current user. Updating the value keeps the old
assessment in history (``valid=False``) under a new one that ``overrides`` it; see
``docs/assessments.md``. Each function flushes traces this process has not exported yet,
so a trace that just finished can be assessed at once.
"""

from __future__ import annotations

from typing import Any, cast

from spanscope import tracking
from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
)
from spanscope.exceptions import InvalidInputError
from spanscope.pending import flush_pending_traces
from spanscope.store.assessment_rules import UNSET, Unset

__all__ = [
    "delete_assessment",
    "get_assessment",
    "log_expectation",
    "log_feedback",
    "update_assessment",
]

def _source(source: AssessmentSource | None) -> AssessmentSource:
    if source is None:
        return AssessmentSource.current_user()
    if not isinstance(source, AssessmentSource):
        raise InvalidInputError(f"source must be an AssessmentSource, e.g. "
                                f"AssessmentSource('LLM_JUDGE', 'gpt-4o'), got {source!r}")
    return source


def _error(error: BaseException | AssessmentError | None) -> AssessmentError | None:
    if error is None or isinstance(error, AssessmentError):
        return error
    if isinstance(error, BaseException):
        return AssessmentError.from_exception(error)
    raise InvalidInputError(f"error must be an exception or an AssessmentError, got {error!r}")


def log_feedback(
    trace_id: str,
    name: str = "feedback",
    value: Any = None,
    *,
    source: AssessmentSource | None = None,
    error: BaseException | AssessmentError | None = None,
    rationale: str | None = None,
    metadata: dict[str, Any] | None = None,
    span_id: str | None = None,
) -> Feedback:
    """Record a judgement of a trace (or of one span with ``span_id``) and return it.

    ``value`` is a str, number, bool, list or dict; when a scorer failed, pass ``error``
    (the exception, or an ``AssessmentError``) instead. One of the two is required.
    """
    feedback = Feedback(name=name, value=value, error=_error(error), source=_source(source),
                        trace_id=trace_id, rationale=rationale, metadata=metadata,
                        span_id=span_id)
    flush_pending_traces()
    return cast(Feedback, tracking.get_store().create_assessment(feedback))


def log_expectation(
    trace_id: str,
    name: str,
    value: Any,
    *,
    source: AssessmentSource | None = None,
    metadata: dict[str, Any] | None = None,
    span_id: str | None = None,
) -> Expectation:
    """Record the expected (ground-truth) ``value`` for a trace or span and return it."""
    expectation = Expectation(name=name, value=value, source=_source(source), trace_id=trace_id,
                              metadata=metadata, span_id=span_id)
    flush_pending_traces()
    return cast(Expectation, tracking.get_store().create_assessment(expectation))


def get_assessment(trace_id: str, assessment_id: str) -> Assessment:
    """One assessment of a trace; ``NotFoundError`` names the trace or assessment missing."""
    flush_pending_traces()
    return tracking.get_store().get_assessment(trace_id, assessment_id)


def update_assessment(
    trace_id: str,
    assessment_id: str,
    assessment: Assessment | None = None,
    *,
    name: str | Unset = UNSET,
    value: Any = UNSET,
    rationale: str | Unset | None = UNSET,
    metadata: dict[str, Any] | Unset | None = UNSET,
    error: BaseException | AssessmentError | Unset | None = UNSET,
    source: AssessmentSource | Unset = UNSET,
) -> Assessment:
    """Change an assessment and return its current version.

    Pass the changes as keywords, or (as in MLflow) an ``assessment`` object carrying the
    new value, rationale and metadata (its ``None`` rationale/metadata mean "unchanged";
    its name is not used: rename with ``name=``). A different value (or error) creates a
    new assessment that overrides this one, which stays in history with ``valid=False``;
    its source is ``source``, by default the current user. A new rationale, metadata or
    name alone edits the assessment in place. A keyword left out stays as it is; ``None``
    clears it.
    """
    keywords = {"name": name, "value": value, "rationale": rationale, "metadata": metadata,
                "error": error, "source": source}
    flush_pending_traces()
    store = tracking.get_store()
    if assessment is not None:
        if any(v is not UNSET for v in keywords.values()):
            raise InvalidInputError("update_assessment takes an assessment object or keyword "
                                    "changes, not both")
        keywords = _changes_from(store.get_assessment(trace_id, assessment_id), assessment)
    else:
        if error is not UNSET:
            keywords["error"] = _error(error)  # type: ignore[arg-type]
        if source is not UNSET:
            keywords["source"] = _source(source)  # type: ignore[arg-type]
        elif value is not UNSET or error is not UNSET:
            keywords["source"] = AssessmentSource.current_user()
    return store.update_assessment(trace_id, assessment_id, **keywords)


def _changes_from(stored: Assessment, assessment: Assessment) -> dict[str, Any]:
    if not isinstance(assessment, (Feedback, Expectation)):
        raise InvalidInputError(f"assessment must be a Feedback or an Expectation, "
                                f"got {type(assessment).__name__}")
    if assessment.kind != stored.kind:
        raise InvalidInputError(f"assessment {stored.assessment_id!r} is {stored.kind}; it "
                                f"cannot be updated with a {type(assessment).__name__}")
    changes: dict[str, Any] = {"value": assessment.value, "source": _source(assessment.source)}
    if isinstance(assessment, Feedback):
        changes["error"] = assessment.error
    if assessment.rationale is not None:
        changes["rationale"] = assessment.rationale
    if assessment.metadata is not None:
        changes["metadata"] = assessment.metadata
    return changes


def delete_assessment(trace_id: str, assessment_id: str) -> None:
    """Delete an assessment; if it had overridden another, that one is valid again."""
    flush_pending_traces()
    tracking.get_store().delete_assessment(trace_id, assessment_id)
