"""Retry runs: sibling attempts of one call, each failed attempt followed by the next.

Found once per diagnosis (``DiagnosisContext.retry_runs``): the ``retry`` finding reports
them, and ``error_origin`` and ``agent_loop`` leave to it the failures it explains.
"""

from __future__ import annotations

from dataclasses import dataclass

from spanscope.analysis.structure import TraceIndex
from spanscope.entities import Span, SpanAttributeKey

__all__ = ["RetryRun", "find_retry_runs"]


@dataclass(frozen=True)
class RetryRun:
    """Sibling attempts of one call: every attempt but the last failed."""

    attempts: tuple[Span, ...]
    succeeded: bool  # the last attempt did not fail

    @property
    def last(self) -> Span:
        return self.attempts[-1]


def _same_call(a: Span, b: Span) -> bool:
    """Same inputs, or inputs not recorded on one side (nothing says they differ)."""
    ra = a.raw_attributes.get(SpanAttributeKey.INPUTS)
    rb = b.raw_attributes.get(SpanAttributeKey.INPUTS)
    return ra is None or rb is None or ra == rb or a.inputs == b.inputs


def find_retry_runs(index: TraceIndex) -> list[RetryRun]:
    """Every retry run in the trace, in start order."""
    runs: list[RetryRun] = []
    sibling_groups = [index.roots, *index.children.values()]
    for siblings in sibling_groups:
        by_name: dict[str, list[Span]] = {}
        for span in siblings:
            by_name.setdefault(span.name, []).append(span)
        for same_name in by_name.values():
            run: list[Span] = []
            for span in same_name:  # start order
                if run and not _same_call(run[-1], span):
                    if len(run) >= 2:
                        runs.append(RetryRun(tuple(run), succeeded=False))
                    run = []
                if run or index.is_error(span):
                    run.append(span)
                if run and not index.is_error(span):
                    if len(run) >= 2:
                        runs.append(RetryRun(tuple(run), succeeded=True))
                    run = []
            if len(run) >= 2:
                runs.append(RetryRun(tuple(run), succeeded=False))
    return sorted(runs, key=lambda r: r.attempts[0].start_time_ns)
