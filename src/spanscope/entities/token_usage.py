"""Recognise token usage on a span, whichever convention wrote it.

Sources, first match wins: MLflow's ``mlflow.chat.tokenUsage`` attribute; an OpenAI-shaped
output carrying ``usage`` (chat completions and responses API); OpenTelemetry GenAI
``gen_ai.usage.*`` attributes; OpenInference ``llm.token_count.*`` attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spanscope.entities.span import Span, SpanAttributeKey

__all__ = ["TokenUsage", "span_token_usage", "sum_token_usage"]

TokenUsage = dict[str, int]  # {"input_tokens", "output_tokens", "total_tokens"}


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _usage(input_tokens: Any, output_tokens: Any, total_tokens: Any = None) -> TokenUsage | None:
    i, o, t = _as_int(input_tokens), _as_int(output_tokens), _as_int(total_tokens)
    if i is None and o is None and t is None:
        return None
    i, o = i or 0, o or 0
    return {"input_tokens": i, "output_tokens": o, "total_tokens": t if t is not None else i + o}


def usage_from_openai(obj: Any) -> TokenUsage | None:
    """Usage from an OpenAI-shaped response dict (``prompt_tokens`` or ``input_tokens``)."""
    if not isinstance(obj, Mapping):
        return None
    usage = obj.get("usage")
    if not isinstance(usage, Mapping):
        return None
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return _usage(usage.get("prompt_tokens"), usage.get("completion_tokens"),
                      usage.get("total_tokens"))
    return _usage(usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens"))


def usage_from_attributes(attributes: Mapping[str, Any]) -> TokenUsage | None:
    """Usage from decoded span attributes (MLflow, GenAI semconv or OpenInference keys)."""
    chat = attributes.get(SpanAttributeKey.CHAT_USAGE)
    if isinstance(chat, Mapping):
        found = _usage(chat.get("input_tokens"), chat.get("output_tokens"),
                       chat.get("total_tokens"))
        if found:
            return found
    found = _usage(attributes.get("gen_ai.usage.input_tokens",
                                  attributes.get("gen_ai.usage.prompt_tokens")),
                   attributes.get("gen_ai.usage.output_tokens",
                                  attributes.get("gen_ai.usage.completion_tokens")),
                   attributes.get("gen_ai.usage.total_tokens"))
    if found:
        return found
    return _usage(attributes.get("llm.token_count.prompt"),
                  attributes.get("llm.token_count.completion"),
                  attributes.get("llm.token_count.total"))


def span_token_usage(span: Span) -> TokenUsage | None:
    """The token usage a span reports, or None when it reports none."""
    return usage_from_attributes(span.attributes) or usage_from_openai(span.outputs)


def sum_token_usage(usages: Iterable[TokenUsage | None]) -> TokenUsage | None:
    """Add up usages; None when there was nothing to add."""
    total: TokenUsage | None = None
    for usage in usages:
        if not usage:
            continue
        total = total or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        for key in total:
            total[key] += int(usage.get(key) or 0)
    return total
