"""What every detector receives: the indexed trace and the thresholds it judges by.

All thresholds live in one frozen dataclass so they are documented once (docs/analysis.md
lists them with the same defaults) and a caller can tighten one without touching others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from spanscope.analysis.detectors.retry_runs import RetryRun, find_retry_runs
from spanscope.analysis.structure import TraceIndex
from spanscope.entities import Span, SpanType, Trace

__all__ = ["LLM_TYPES", "DiagnosisContext", "Thresholds", "fmt_ms", "ns_to_ms", "quote"]

LLM_TYPES = frozenset({SpanType.LLM, SpanType.CHAT_MODEL})


@dataclass(frozen=True)
class Thresholds:
    """When a detector speaks up. See docs/analysis.md ("Detectors and thresholds")."""

    # retry / agent_loop
    loop_min_repeats: int = 3  # identical calls (same name, same inputs) that make a loop
    loop_high_repeats: int = 5  # ... and that make it high severity
    # bottleneck / gap
    bottleneck_medium_share: float = 0.5  # self time share of the trace for "medium"
    gap_min_share: float = 0.2  # a parent's time outside its children, share of the parent
    gap_min_ms: float = 5.0  # ... and at least this long
    gap_medium_share: float = 0.5
    # token_spike
    token_spike_factor: float = 3.0  # input tokens above this times the others' median
    token_spike_min_tokens: int = 500  # ... and at least this many tokens above it
    # retrieval
    min_retrieval_score: float = 0.1  # every document scored below this: low_retrieval_score
    retrieval_min_overlap: float = 0.2  # share of the query's terms found in the documents
    retrieval_high_min_terms: int = 3  # query terms needed for a "high" mismatch
    query_drift_max_overlap: float = 0.34  # share of the query's terms from the conversation
    query_drift_max_coverage: float = 0.5  # share of the question's terms in the query
    question_min_doc_coverage: float = 0.75  # share of the question's terms in the documents
    # answer_mismatch
    answer_min_overlap: float = 0.2  # share of the question's terms found in the answer
    answer_min_terms: int = 3  # question terms needed to judge at all
    # assessment_failed
    assessment_pass_threshold: float = 0.5  # numeric feedback below this fails


@dataclass
class DiagnosisContext:
    """The indexed trace plus the caller's thresholds and baseline."""

    index: TraceIndex
    thresholds: Thresholds = field(default_factory=Thresholds)
    token_baseline: int | None = None

    @property
    def trace(self) -> Trace:
        return self.index.trace

    @cached_property
    def retry_runs(self) -> list[RetryRun]:
        """The trace's retry runs, found once (three detectors need them)."""
        return find_retry_runs(self.index)

    @cached_property
    def trace_start_ns(self) -> int:
        extent = self.index.extent_ns
        return 0 if extent is None else extent[0]

    def offset_ms(self, time_ns: int) -> float:
        return ns_to_ms(time_ns - self.trace_start_ns)

    def is_llm(self, span: Span) -> bool:
        return span.span_type in LLM_TYPES


def ns_to_ms(value: int) -> float:
    return round(value / 1e6, 3)


def fmt_ms(value_ms: float) -> str:
    """``12.3 ms`` / ``1.25 s``: short, for messages."""
    if value_ms >= 1000:
        return f"{value_ms / 1000:.2f} s"
    if value_ms >= 100:
        return f"{value_ms:.0f} ms"
    return f"{value_ms:.1f} ms"


def quote(text: str, limit: int = 80) -> str:
    """A one-line excerpt in quotes, cut with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return f"'{flat}'"
