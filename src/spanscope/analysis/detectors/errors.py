"""``error_origin``: the span where a failure started, not the ancestors it passed through.

An exception that escapes several traced functions marks each of their spans ERROR with
the same exception. Reporting all of them would bury the cause, so an error span counts
as "explained" by an error child that recorded the same exception (same type and
message, or named as the cause in its traceback); the spans nobody explains are the
origins. An origin whose exception climbed all the way to the root failed the trace
(high); one that some ancestor caught did not (medium). Failed attempts that a retry
recovered from, and the early attempts of a failed retry run, are left to the ``retry``
finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from spanscope.analysis.detectors.context import DiagnosisContext
from spanscope.analysis.detectors.exception_info import ExceptionInfo, exception_info
from spanscope.analysis.findings import Finding
from spanscope.entities import Span, TraceState

__all__ = ["detect_error_origins", "error_chain"]


def _explains(parent: ExceptionInfo | None, child: ExceptionInfo | None) -> bool:
    """Whether the child's exception accounts for the parent's error."""
    if parent is None:  # the parent recorded nothing of its own: it passed the error on
        return True
    if child is None:
        return False
    return parent.same_as(child) or parent.caused_by(child)


def error_chain(ctx: DiagnosisContext, origin: Span) -> list[Span]:
    """The origin, then each ancestor its exception propagated into (bottom-up)."""
    index = ctx.index
    chain = [origin]
    while (parent := index.parent_of(chain[-1])) is not None and index.is_error(parent):
        if not _explains(exception_info(parent), exception_info(chain[-1])):
            break
        chain.append(parent)
    return chain


def _origins(ctx: DiagnosisContext) -> list[Span]:
    index = ctx.index
    origins = []
    for span in index.spans:
        if not index.is_error(span):
            continue
        own = exception_info(span)
        error_children = [c for c in index.children_of(span) if index.is_error(c)]
        if not any(_explains(own, exception_info(c)) for c in error_children):
            origins.append(span)
    return origins


def _left_to_retry(ctx: DiagnosisContext) -> set[str]:
    """Attempts whose failure the retry finding already tells (all but a failed run's last)."""
    ids: set[str] = set()
    for run in ctx.retry_runs:
        attempts = run.attempts if run.succeeded else run.attempts[:-1]
        ids.update(a.span_id for a in attempts)
    return ids


def detect_error_origins(ctx: DiagnosisContext) -> Iterator[Finding]:
    index = ctx.index
    skip = _left_to_retry(ctx)
    for origin in _origins(ctx):
        if origin.span_id in skip:
            continue
        info = exception_info(origin) or ExceptionInfo(None, None)
        chain = error_chain(ctx, origin)
        top = chain[-1]
        failed_trace = index.parent_of(top) is None and (
            top.parent_id is None or ctx.trace.info.state == TraceState.ERROR)
        through = [s.name for s in chain[1:]]
        catcher = index.parent_of(top)
        if failed_trace:
            path = f"; it propagated through {', '.join(through)}" if through else ""
            message = f"{origin.name} failed with {info.brief()}{path} and failed the trace."
        else:
            state = str(ctx.trace.info.state)
            caught = catcher.name if catcher is not None else "its caller"
            message = (f"{origin.name} failed with {info.brief()}; {caught} caught it "
                       f"(the trace ended {state}).")
        yield Finding(
            kind="error_origin", severity="high" if failed_trace else "medium",
            span_id=origin.span_id, span_name=origin.name, message=message,
            evidence={"exception_type": info.type, "exception_message": info.message,
                      "span_type": str(origin.span_type),
                      "propagated_through": [s.span_id for s in chain[1:]],
                      "propagated_through_names": through,
                      "caught_by": None if failed_trace or catcher is None else catcher.name,
                      "failed_trace": failed_trace, "depth": index.depth(origin),
                      "stacktrace_tail": _tail(info.stacktrace)},
            start_time_ns=origin.start_time_ns)


def _tail(stacktrace: str | None, lines: int = 3) -> str | None:
    if not stacktrace:
        return None
    kept = [line for line in stacktrace.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
