"""Highlights: where a filter's text comparisons matched, as snippets of span texts."""

from __future__ import annotations

from spanscope.entities import Span, SpanEvent, Trace, TraceData, TraceInfo
from spanscope.query import parse_filter
from spanscope.query.highlight import highlights

ROOT, CHILD = "1".zfill(16), "2".zfill(16)


def _trace() -> Trace:
    long = "word " * 30 + "order A10042 arrived late" + " more" * 30
    root = Span.build(trace_id="tr-1", span_id=ROOT, parent_id=None, name="agent",
                      start_time_ns=1, end_time_ns=2, inputs={"question": long},
                      outputs="Your Refund is on its way")
    child = Span.build(trace_id="tr-1", span_id=CHILD, parent_id=ROOT, name="lookup",
                       start_time_ns=1, end_time_ns=2, inputs="A10042",
                       events=[SpanEvent("exception", 1,
                                         {"exception.message": "timeout for A10042"})])
    return Trace(TraceInfo(trace_id="tr-1", request_time=0, state="OK"),
                 TraceData([root, child]))


def _marks(text: str) -> list[tuple[str, str, str, str]]:
    return [(h.span_name, h.kind, h.field, h.match)
            for h in highlights(parse_filter(text), _trace())]


def test_contains_on_text_marks_every_span_text_that_holds_it() -> None:
    assert _marks("text CONTAINS 'A10042'") == [
        ("agent", "inputs", "text", "A10042"), ("lookup", "inputs", "text", "A10042"),
        ("lookup", "exception", "text", "A10042")]


def test_a_snippet_is_cut_around_the_match_and_says_so() -> None:
    (mark, *_) = highlights(parse_filter("text CONTAINS 'order A10042'"), _trace(), context=10)
    assert mark.snippet.startswith("…") and mark.snippet.endswith("…")
    assert mark.match == "order A10042"
    assert mark.snippet == "…word word order A10042 arrived l…"


def test_patterns_and_fields() -> None:
    assert _marks("response ILIKE '%refund%'") == [("agent", "outputs", "response", "Refund")]
    assert _marks("span.content LIKE '%Refund_is%'") == [
        ("agent", "outputs", "span.content", "Refund is")]
    assert _marks("inputs.question RLIKE 'A1004[0-9]'") == [
        ("agent", "inputs", "inputs.question", "A10042")]
    assert _marks("text CONTAINS 'nothing'") == []


def test_comparisons_under_not_and_other_fields_give_none() -> None:
    assert _marks("NOT text CONTAINS 'zzz'") == []
    assert _marks("attributes.state = 'OK' AND (text CONTAINS 'late' OR tags.x = 'y')") == [
        ("agent", "inputs", "text", "late")]
    assert highlights(None, _trace()) == []


def test_at_most_limit_per_trace() -> None:
    assert len(highlights(parse_filter("text RLIKE '.'"), _trace(), limit=2)) == 2
