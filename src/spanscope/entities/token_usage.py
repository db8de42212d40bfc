"""Recognise token usage on a span, whichever convention wrote it.

Sources, first match wins: MLflow's ``mlflow.chat.tokenUsage`` attribute; an OpenAI-shaped
output carrying ``usage`` (chat completions and responses API); OpenTelemetry GenAI
``gen_ai.usage.*`` attributes; OpenInference ``llm.token_count.*`` attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spanscope.entities._codec import loads_attribute
from spanscope.entities.span import Span, SpanAttributeKey

__all__ = ["TokenUsage", "span_token_usage", "sum_token_usage", "trace_token_usage"]

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


_USAGE_PREFIXES = ("gen_ai.usage.", "llm.token_count.")


def _may_report_usage(span: Span) -> bool:
    """Cheap check on the raw attributes, so spans without usage are never decoded."""
    raw = span.raw_attributes
    if SpanAttributeKey.CHAT_USAGE in raw:
        return True
    outputs = raw.get(SpanAttributeKey.OUTPUTS)
    if outputs is not None and '"usage"' in outputs:
        return True
    return any(key.startswith(_USAGE_PREFIXES) for key in raw)


def span_token_usage(span: Span) -> TokenUsage | None:
    """The token usage a span reports, or None when it reports none.

    Remembered on the span (spans are immutable): ingest asks twice per span, once for
    the trace's usage and once for its usage per model.
    """
    fields = span.__dict__
    if "_token_usage" in fields:
        return fields["_token_usage"]
    usage = _read_usage(span) if _may_report_usage(span) else None
    fields["_token_usage"] = usage
    return usage


def _read_usage(span: Span) -> TokenUsage | None:
    """Decode only the attributes usage can come from, not every attribute of the span."""
    raw = span.raw_attributes
    wanted = {key: loads_attribute(value) for key, value in raw.items()
              if key == SpanAttributeKey.CHAT_USAGE or key.startswith(_USAGE_PREFIXES)}
    usage = usage_from_attributes(wanted) if wanted else None
    if usage:
        return usage
    outputs = raw.get(SpanAttributeKey.OUTPUTS)
    return usage_from_openai(loads_attribute(outputs)) if outputs is not None else None


def trace_token_usage(spans: Sequence[Span]) -> TokenUsage | None:
    """The trace's token usage: each model call counted once.

    Only the innermost spans that report usage are summed. A span wrapping others that
    report usage (an agent returning the raw completion, a client wrapper around an
    autologged call, a parent that sets its children's total) would otherwise count the
    same tokens twice.
    """
    usages = {span.span_id: usage for span in spans if (usage := span_token_usage(span))}
    if not usages:
        return None
    parent_of = {span.span_id: span.parent_id for span in spans}
    wraps_reporting_span: set[str] = set()
    for span_id in usages:
        ancestor = parent_of.get(span_id)
        while ancestor is not None and ancestor not in wraps_reporting_span:
            wraps_reporting_span.add(ancestor)
            ancestor = parent_of.get(ancestor)
    return sum_token_usage(usage for span_id, usage in usages.items()
                           if span_id not in wraps_reporting_span)


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
