"""Cache and reasoning tokens: kept from every convention that reports them, summed per
trace (MLflow's ``cache_*`` keys when some span has them) and per model and span type."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spanscope.entities import Span, span_token_usage, trace_token_usage
from spanscope.entities.model_usage import trace_model_usage, trace_usage_by_model_and_type
from spanscope.tracing.conventions import translate
from spanscope.tracing.convert import summarize

TID = "tr-" + "2" * 32
WANT = {"input_tokens": 100, "output_tokens": 40, "total_tokens": 140,
        "cache_read_input_tokens": 60, "reasoning_tokens": 25}


def _span(span_id: str, parent: str | None = None, outputs: Any = None,
          span_type: str = "LLM", **attributes: Any) -> Span:
    return Span.build(trace_id=TID, span_id=span_id * 16, name=span_id,
                      parent_id=None if parent is None else parent * 16, start_time_ns=0,
                      end_time_ns=1, outputs=outputs, span_type=span_type,
                      attributes=attributes)


@pytest.mark.parametrize("span", [
    _span("a", **{"mlflow.chat.tokenUsage": WANT}),
    _span("a", outputs={"usage": {
        "prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 25}}}),
    _span("a", outputs={"usage": {
        "input_tokens": 100, "output_tokens": 40, "total_tokens": 140,
        "input_tokens_details": {"cached_tokens": 60},
        "output_tokens_details": {"reasoning_tokens": 25}}}),
    _span("a", **{"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 40,
                  "gen_ai.usage.cache_read.input_tokens": 60,
                  "gen_ai.usage.reasoning.output_tokens": 25}),
    _span("a", **{"llm.token_count.prompt": 100, "llm.token_count.completion": 40,
                  "llm.token_count.total": 140,
                  "llm.token_count.prompt_details.cache_read": 60,
                  "llm.token_count.completion_details.reasoning": 25}),
], ids=["mlflow", "openai-chat", "openai-responses", "gen_ai", "openinference"])
def test_details_are_kept_from_each_convention(span: Span) -> None:
    assert span_token_usage(span) == WANT


def test_an_anthropic_message_counts_its_cache_in_the_input() -> None:
    span = _span("a", outputs={"type": "message", "usage": {
        "input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 80,
        "cache_creation_input_tokens": 20}})
    assert span_token_usage(span) == {"input_tokens": 110, "output_tokens": 5,
                                      "total_tokens": 115, "cache_read_input_tokens": 80,
                                      "cache_creation_input_tokens": 20}


def test_bad_detail_values_are_dropped_not_guessed() -> None:
    span = _span("a", **{"mlflow.chat.tokenUsage": {"input_tokens": 5, "output_tokens": 1,
                                                    "cache_read_input_tokens": "many",
                                                    "reasoning_tokens": -3}})
    assert span_token_usage(span) == {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}


def test_trace_usage_sums_details_only_when_reported() -> None:
    root = _span("r", span_type="AGENT")
    chat = _span("c", "r", span_type="CHAT_MODEL", **{
        "mlflow.chat.tokenUsage": WANT, "mlflow.llm.model": "gpt-5"})
    embed = _span("e", "r", span_type="EMBEDDING", **{
        "mlflow.chat.tokenUsage": {"input_tokens": 7, "output_tokens": 0, "total_tokens": 7},
        "mlflow.llm.model": "gpt-5"})
    plain = trace_token_usage([root, embed])
    assert plain == {"input_tokens": 7, "output_tokens": 0, "total_tokens": 7}  # as MLflow
    both = trace_token_usage([root, chat, embed])
    assert both == {"input_tokens": 107, "output_tokens": 40, "total_tokens": 147,
                    "cache_read_input_tokens": 60, "reasoning_tokens": 25}
    info = summarize(TID, "0", [root, chat, embed], root)
    assert json.loads(info.trace_metadata["mlflow.trace.tokenUsage"]) == both
    by_type = trace_usage_by_model_and_type([root, chat, embed])
    assert set(by_type) == {("gpt-5", "CHAT_MODEL"), ("gpt-5", "EMBEDDING")}
    assert by_type[("gpt-5", "CHAT_MODEL")]["reasoning_tokens"] == 25
    assert trace_model_usage([root, chat, embed]) == {"gpt-5": {
        "input_tokens": 107, "output_tokens": 40, "total_tokens": 147,
        "cache_read_input_tokens": 60, "cache_creation_input_tokens": 0,
        "reasoning_tokens": 25, "calls": 2}}


def test_otlp_genai_cache_attributes_reach_mlflow_s_usage_key() -> None:
    raw: dict[str, str] = {}
    translate(raw, {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 40,
                    "gen_ai.usage.cache_read.input_tokens": 60,
                    "gen_ai.usage.cache_creation.input_tokens": 30,
                    "gen_ai.usage.reasoning.output_tokens": 25})
    assert json.loads(raw["mlflow.chat.tokenUsage"]) == {
        "input_tokens": 100, "output_tokens": 40, "total_tokens": 140,
        "cache_read_input_tokens": 60, "cache_creation_input_tokens": 30,
        "reasoning_tokens": 25}


def test_langchain_usage_metadata_keeps_cache_writes_and_reasoning() -> None:
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, LLMResult

    from spanscope.langchain._convert import usage as langchain_usage

    message = AIMessage(content="hi", usage_metadata={
        "input_tokens": 100, "output_tokens": 40, "total_tokens": 140,
        "input_token_details": {"cache_read": 60, "cache_creation": 30},
        "output_token_details": {"reasoning": 25}})
    result = LLMResult(generations=[[ChatGeneration(message=message)]])
    assert langchain_usage(result) == {
        "input_tokens": 100, "output_tokens": 40, "total_tokens": 140,
        "cache_read_input_tokens": 60, "cache_creation_input_tokens": 30,
        "reasoning_tokens": 25}
