"""Recognise token usage on a span, whichever convention wrote it.

Sources, first match wins: MLflow's ``mlflow.chat.tokenUsage`` attribute; an OpenAI-shaped
output carrying ``usage`` (chat completions and responses API); OpenTelemetry GenAI
``gen_ai.usage.*`` attributes; OpenInference ``llm.token_count.*`` attributes.

Besides ``input_tokens``, ``output_tokens`` and ``total_tokens`` a usage keeps, when the
source reports them, the parts providers price apart (``DETAIL_KEYS``):
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (MLflow 3.17's names; both
are part of ``input_tokens``, as OpenAI and OpenTelemetry count them and as MLflow
normalises Anthropic's) and ``reasoning_tokens`` (part of ``output_tokens``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spanscope.entities._codec import loads_attribute
from spanscope.entities.span import Span, SpanAttributeKey

__all__ = ["DETAIL_KEYS", "TokenUsage", "detail_attributes", "span_token_usage",
           "sum_token_usage", "trace_token_usage", "with_details"]

TokenUsage = dict[str, int]  # {"input_tokens", "output_tokens", "total_tokens"} + DETAIL_KEYS
CACHE_READ, CACHE_WRITE, REASONING = ("cache_read_input_tokens", "cache_creation_input_tokens",
                                      "reasoning_tokens")
DETAIL_KEYS = (CACHE_READ, CACHE_WRITE, REASONING)
# Where each detail is found, per convention (first key present wins).
_DETAIL_ATTRIBUTES = {
    CACHE_READ: ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.input_tokens.cached",
                 "llm.token_count.prompt_details.cache_read"),
    CACHE_WRITE: ("gen_ai.usage.cache_write.input_tokens",
                  "gen_ai.usage.cache_creation.input_tokens",
                  "gen_ai.usage.input_tokens.cache_write",
                  "llm.token_count.prompt_details.cache_write"),
    REASONING: ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.output_tokens.reasoning",
                "llm.token_count.completion_details.reasoning"),
}


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


def _with_details(usage: TokenUsage | None, details: Mapping[str, Any]) -> TokenUsage | None:
    """``usage`` plus the detail counts that read as whole numbers (others are dropped)."""
    if usage is None:
        return None
    for key, value in details.items():
        number = _as_int(value)
        if number is not None and number >= 0:
            usage[key] = number
    return usage


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else None


def detail_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The detail counts GenAI / OpenInference attributes report, by ``DETAIL_KEYS`` name."""
    return {key: next((attributes[name] for name in names if name in attributes), None)
            for key, names in _DETAIL_ATTRIBUTES.items()}


def with_details(usage: TokenUsage | None, details: Mapping[str, Any]) -> TokenUsage | None:
    """``usage`` plus the detail counts that read as whole numbers >= 0 (others dropped)."""
    return _with_details(usage, details)


def usage_from_openai(obj: Any) -> TokenUsage | None:
    """Usage from an OpenAI-shaped response dict (``prompt_tokens`` or ``input_tokens``),
    or an Anthropic message (whose ``input_tokens`` leave out the cache tokens)."""
    if not isinstance(obj, Mapping):
        return None
    usage = obj.get("usage")
    if not isinstance(usage, Mapping):
        return None
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return _with_details(_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"),
                                    usage.get("total_tokens")), {
            CACHE_READ: _get(usage.get("prompt_tokens_details"), "cached_tokens"),
            REASONING: _get(usage.get("completion_tokens_details"), "reasoning_tokens")})
    if CACHE_READ in usage or CACHE_WRITE in usage:  # Anthropic: add the cache to the input
        read, write = _as_int(usage.get(CACHE_READ)) or 0, _as_int(usage.get(CACHE_WRITE)) or 0
        found = _usage((_as_int(usage.get("input_tokens")) or 0) + read + write,
                       usage.get("output_tokens"))
        return _with_details(found, {CACHE_READ: usage.get(CACHE_READ),
                                     CACHE_WRITE: usage.get(CACHE_WRITE)})
    return _with_details(_usage(usage.get("input_tokens"), usage.get("output_tokens"),
                                usage.get("total_tokens")), {
        CACHE_READ: _get(usage.get("input_tokens_details"), "cached_tokens"),
        REASONING: _get(usage.get("output_tokens_details"), "reasoning_tokens")})


def usage_from_attributes(attributes: Mapping[str, Any]) -> TokenUsage | None:
    """Usage from decoded span attributes (MLflow, GenAI semconv or OpenInference keys)."""
    chat = attributes.get(SpanAttributeKey.CHAT_USAGE)
    if isinstance(chat, Mapping):
        found = _usage(chat.get("input_tokens"), chat.get("output_tokens"),
                       chat.get("total_tokens"))
        if found:
            return _with_details(found, {key: chat.get(key) for key in DETAIL_KEYS})
    details = detail_attributes(attributes)
    found = _usage(attributes.get("gen_ai.usage.input_tokens",
                                  attributes.get("gen_ai.usage.prompt_tokens")),
                   attributes.get("gen_ai.usage.output_tokens",
                                  attributes.get("gen_ai.usage.completion_tokens")),
                   attributes.get("gen_ai.usage.total_tokens"))
    if found:
        return _with_details(found, details)
    return _with_details(_usage(attributes.get("llm.token_count.prompt"),
                                attributes.get("llm.token_count.completion"),
                                attributes.get("llm.token_count.total")), details)


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
    """Add up usages; None when there was nothing to add. A detail key (``DETAIL_KEYS``)
    is in the sum when some usage reports it, as MLflow aggregates its cache keys."""
    total: TokenUsage | None = None
    for usage in usages:
        if not usage:
            continue
        total = total or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            total[key] += int(usage.get(key) or 0)
        for key in DETAIL_KEYS:
            if key in usage:
                total[key] = total.get(key, 0) + int(usage[key] or 0)
    return total
