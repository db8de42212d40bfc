"""``token_spike``: a model call whose prompt is far bigger than its siblings' (or a baseline).

A prompt that suddenly grows (a whole document pasted in, a history never trimmed, a tool
result dumped raw) costs money and latency and often hurts the answer. Only model spans
(LLM, CHAT_MODEL) that report usage themselves count; a model span wrapping another one
(a client wrapper around an autologged call) would count the same tokens twice.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator

from spanscope.analysis.detectors.context import DiagnosisContext
from spanscope.analysis.findings import Finding
from spanscope.entities import Span, span_token_usage

__all__ = ["detect_token_spikes", "model_calls"]


def model_calls(ctx: DiagnosisContext) -> list[tuple[Span, int]]:
    """``(span, input tokens)`` of the innermost model spans that report usage."""
    reported: dict[str, tuple[Span, int]] = {}
    for span in ctx.index.spans:
        if ctx.is_llm(span) and (usage := span_token_usage(span)):
            reported[span.span_id] = (span, int(usage.get("input_tokens") or 0))
    wrappers = {a.span_id for span, _ in reported.values()
                for a in ctx.index.ancestors(span) if a.span_id in reported}
    return [call for span_id, call in reported.items() if span_id not in wrappers]


def detect_token_spikes(ctx: DiagnosisContext) -> Iterator[Finding]:
    limits = ctx.thresholds
    calls = model_calls(ctx)
    for i, (span, tokens) in enumerate(calls):
        others = [t for j, (_, t) in enumerate(calls) if j != i]
        median = statistics.median(others) if others else None
        reasons = []
        if (median is not None and tokens > limits.token_spike_factor * median
                and tokens - median >= limits.token_spike_min_tokens):
            ratio = tokens / median if median else float("inf")
            reasons.append(f"{ratio:.1f}x the median of the trace's other "
                           f"{len(others)} model call{'s' if len(others) != 1 else ''} "
                           f"({median:,.0f})")
        if ctx.token_baseline is not None and tokens > ctx.token_baseline:
            reasons.append(f"above the baseline of {ctx.token_baseline:,}")
        if not reasons:
            continue
        yield Finding(
            kind="token_spike", severity="medium", span_id=span.span_id, span_name=span.name,
            message=(f"{span.name} sent {tokens:,} input tokens, {' and '.join(reasons)}."),
            evidence={"input_tokens": tokens,
                      "others_median": None if median is None else float(median),
                      "other_calls": len(others), "baseline": ctx.token_baseline,
                      "factor": None if not median else round(tokens / median, 2)},
            start_time_ns=span.start_time_ns)
