"""What the app said: ``empty_output``, ``truncated_output`` and ``answer_mismatch``.

A model call that stopped at its token limit (OpenAI ``finish_reason: "length"``,
Anthropic ``stop_reason: "max_tokens"``) returned a cut-off text; one that returned
nothing (and asked for no tool calls) gave the next step nothing to work with. An answer
that shares almost no words with the question probably answers something else; lexical
overlap is a weak proxy for that, hence medium severity.
"""

from __future__ import annotations

from collections.abc import Iterator

from spanscope.analysis.detectors.context import DiagnosisContext, quote
from spanscope.analysis.documents import (
    answer_text,
    finish_reason,
    has_tool_calls,
    llm_output_text,
    question_text,
    span_inputs,
    span_outputs,
)
from spanscope.analysis.findings import Finding
from spanscope.analysis.text_overlap import containment, term_forms, tokenize
from spanscope.entities import Span, SpanAttributeKey, TraceState

__all__ = ["detect_answer_mismatch", "detect_output_problems"]

TRUNCATION_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})


def detect_output_problems(ctx: DiagnosisContext) -> Iterator[Finding]:
    for span in ctx.index.spans:
        if ctx.is_llm(span) and not ctx.index.is_error(span):
            yield from _model_output(span)
    root = ctx.index.root
    if (root is not None and ctx.trace.info.state == TraceState.OK
            and not ctx.index.is_error(root)
            and SpanAttributeKey.OUTPUTS in root.raw_attributes):
        answer = answer_text(span_outputs(root))
        if answer is not None and not answer.strip():
            yield Finding(
                kind="empty_output", severity="medium", span_id=root.span_id,
                span_name=root.name,
                message=f"The trace finished OK but its answer ({root.name}'s output) is empty.",
                evidence={"output": root.outputs}, start_time_ns=root.start_time_ns)


def _model_output(span: Span) -> Iterator[Finding]:
    outputs = span.outputs
    reason = finish_reason(outputs)
    if reason in TRUNCATION_REASONS:
        text = llm_output_text(outputs) or ""
        tail = f"; it ends {quote(text[-60:], 60)}" if text.strip() else ""
        yield Finding(
            kind="truncated_output", severity="medium", span_id=span.span_id,
            span_name=span.name,
            message=(f"{span.name} stopped at its token limit (finish reason {reason!r}), "
                     f"so its output is cut off{tail}."),
            evidence={"finish_reason": reason, "output_chars": len(text)},
            start_time_ns=span.start_time_ns)
        return
    if outputs is None:
        what = "recorded no output"
    else:
        text = llm_output_text(outputs)
        if (text is not None and text.strip()) or has_tool_calls(outputs):
            return
        what = "returned an empty output"
    yield Finding(
        kind="empty_output", severity="medium", span_id=span.span_id, span_name=span.name,
        message=f"{span.name} ({span.span_type}) {what} although it did not fail.",
        evidence={"finish_reason": reason, "output": outputs if outputs is None else
                  str(outputs)[:200]},
        start_time_ns=span.start_time_ns)


def _final_model_answer(ctx: DiagnosisContext) -> tuple[Span, str] | None:
    """The last model call's text, for traces whose root recorded no answer."""
    calls = [s for s in ctx.index.spans if ctx.is_llm(s) and not ctx.index.is_error(s)
             and s.end_time_ns is not None]
    for span in sorted(calls, key=lambda s: s.end_time_ns or 0, reverse=True):
        text = llm_output_text(span_outputs(span))
        if text and text.strip():
            return span, text
    return None


def detect_answer_mismatch(ctx: DiagnosisContext) -> Iterator[Finding]:
    limits = ctx.thresholds
    root = ctx.index.root
    if root is None or ctx.index.is_error(root):
        return
    question = question_text(span_inputs(root))
    question_terms = set(tokenize(question or ""))
    if not question or len(question_terms) < limits.answer_min_terms:
        return
    source: Span | None = root
    answer = answer_text(span_outputs(root))
    if answer is None or not answer.strip():
        found = _final_model_answer(ctx)
        if found is None:
            return
        source, answer = found
    answer_terms = set(tokenize(answer))
    if not answer_terms:
        return
    coverage = containment(question_terms, answer_terms)
    if coverage >= limits.answer_min_overlap:
        return
    forms = term_forms(question)
    shared = [word for term, word in forms.items() if term in answer_terms]
    missing = [word for term, word in forms.items() if term not in answer_terms][:6]
    yield Finding(
        kind="answer_mismatch", severity="medium", span_id=source.span_id,
        span_name=source.name,
        message=(f"The answer does not match the question: the user asked {quote(question)} "
                 f"and the answer {quote(answer)} contains {len(shared)} of the question's "
                 f"{len(question_terms)} terms (missing: {', '.join(missing)})."),
        evidence={"question": question[:500], "answer": answer[:500],
                  "question_terms_in_answer": round(coverage, 3), "shared_terms": shared,
                  "missing_question_terms": missing},
        start_time_ns=source.start_time_ns)
