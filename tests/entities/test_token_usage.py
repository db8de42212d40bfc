"""Token usage: every convention recognised, each model call counted once per trace."""

from __future__ import annotations

import pytest

from spanscope.entities import Span, span_token_usage, trace_token_usage

TID = "tr-" + "1" * 32


def _span(span_id: str, parent: str | None, outputs=None, **attributes) -> Span:
    return Span.build(trace_id=TID, span_id=span_id * 16, name=span_id,
                      parent_id=None if parent is None else parent * 16,
                      start_time_ns=0, end_time_ns=1, outputs=outputs, attributes=attributes)


COMPLETION = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 4,
                                       "total_tokens": 14}}


@pytest.mark.parametrize("span", [
    _span("a", None, **{"mlflow.chat.tokenUsage": {"input_tokens": 10, "output_tokens": 4,
                                                   "total_tokens": 14}}),
    _span("a", None, outputs=COMPLETION),
    _span("a", None, outputs={"usage": {"input_tokens": 10, "output_tokens": 4}}),
    _span("a", None, **{"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 4}),
    _span("a", None, **{"llm.token_count.prompt": 10, "llm.token_count.completion": 4,
                        "llm.token_count.total": 14}),
], ids=["mlflow", "openai-chat", "openai-responses", "gen_ai", "openinference"])
def test_each_convention_is_recognised(span: Span) -> None:
    assert span_token_usage(span) == {"input_tokens": 10, "output_tokens": 4,
                                      "total_tokens": 14}


def test_span_without_usage_reports_none() -> None:
    assert span_token_usage(_span("a", None, outputs={"answer": "usage is fine"})) is None


def test_sibling_calls_are_summed() -> None:
    spans = [_span("a", None), _span("b", "a", outputs=COMPLETION),
             _span("c", "a", outputs=COMPLETION)]
    assert trace_token_usage(spans) == {"input_tokens": 20, "output_tokens": 8,
                                        "total_tokens": 28}


def test_wrapper_returning_the_same_completion_is_not_counted_twice() -> None:
    spans = [_span("a", None, outputs=COMPLETION),          # agent returns the raw completion
             _span("b", "a", outputs=COMPLETION),           # client wrapper
             _span("c", "b", outputs=COMPLETION),           # the autologged call
             _span("d", "a", outputs=COMPLETION)]           # a second, real call
    assert trace_token_usage(spans)["total_tokens"] == 28


def test_no_usage_anywhere_is_none() -> None:
    assert trace_token_usage([_span("a", None), _span("b", "a")]) is None
