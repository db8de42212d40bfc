"""Which model a span called, and a trace's token usage per model (what cost is priced on).

The model is read from the conventions instrumentations write, first match wins:
MLflow's ``mlflow.llm.model`` attribute, OpenTelemetry GenAI ``gen_ai.response.model`` /
``gen_ai.request.model``, OpenInference ``llm.model_name``, a plain ``llm.model``, then
the ``model`` field of an OpenAI-shaped output or of the inputs. Usage per model follows
``trace_token_usage``: only the innermost spans that report usage count, so a wrapper
returning its child's completion is not counted twice. Each row carries the tokens priced
apart (cache reads, cache writes, reasoning; 0 when not reported).
"""

from __future__ import annotations

from collections.abc import Sequence

from spanscope.entities._codec import loads_attribute
from spanscope.entities.span import Span, SpanAttributeKey
from spanscope.entities.token_usage import DETAIL_KEYS, TokenUsage, span_token_usage

__all__ = ["MODEL_ATTRIBUTE_KEYS", "USAGE_COUNTS", "ModelUsage", "span_model",
           "trace_model_usage", "trace_usage_by_model_and_type"]

MODEL_ATTRIBUTE_KEYS = ("mlflow.llm.model", "gen_ai.response.model", "gen_ai.request.model",
                        "llm.model_name", "llm.model")
MAX_MODEL_LENGTH = 256

ModelUsage = dict[str, int]  # USAGE_COUNTS plus "calls": the model calls counted
USAGE_COUNTS = ("input_tokens", "output_tokens", "total_tokens", *DETAIL_KEYS)


def _model_in(raw: str | None) -> str | None:
    """The ``model`` key of a JSON object attribute, decoding only when it can be there."""
    if raw is None or '"model"' not in raw:
        return None
    value = loads_attribute(raw)
    model = value.get("model") if isinstance(value, dict) else None
    return model if isinstance(model, str) and model else None


def span_model(span: Span) -> str | None:
    """The model name a span says it called, or None."""
    raw = span.raw_attributes
    for key in MODEL_ATTRIBUTE_KEYS:
        if key in raw:
            value = loads_attribute(raw[key])
            if isinstance(value, str) and value:
                return value[:MAX_MODEL_LENGTH]
    model = (_model_in(raw.get(SpanAttributeKey.OUTPUTS))
             or _model_in(raw.get(SpanAttributeKey.INPUTS)))
    return None if model is None else model[:MAX_MODEL_LENGTH]


def trace_model_usage(spans: Sequence[Span]) -> dict[str, ModelUsage]:
    """``{model: {input_tokens, output_tokens, total_tokens, cache_read_input_tokens,
    cache_creation_input_tokens, reasoning_tokens, calls}}`` for a trace's spans.

    A span reporting usage without naming a model is counted under ``""`` (unknown), so
    the per-model totals add up to ``trace_token_usage(spans)``.
    """
    out: dict[str, ModelUsage] = {}
    for (model, _), usage in trace_usage_by_model_and_type(spans).items():
        _add(out.setdefault(model, _empty()), usage)
    return out


def trace_usage_by_model_and_type(spans: Sequence[Span]) -> dict[tuple[str, str], ModelUsage]:
    """``trace_model_usage`` split further by the type of the span reporting the usage
    (``LLM``, ``CHAT_MODEL``, ``EMBEDDING`` ...): what the store keeps per trace."""
    usages: dict[str, TokenUsage] = {}
    for span in spans:
        usage = span_token_usage(span)
        if usage:
            usages[span.span_id] = usage
    if not usages:
        return {}
    parent_of = {span.span_id: span.parent_id for span in spans}
    wrappers: set[str] = set()
    for span_id in usages:
        ancestor = parent_of.get(span_id)
        while ancestor is not None and ancestor not in wrappers:
            wrappers.add(ancestor)
            ancestor = parent_of.get(ancestor)
    out: dict[tuple[str, str], ModelUsage] = {}
    for span in spans:
        usage = usages.get(span.span_id)
        if usage is None or span.span_id in wrappers:
            continue
        row = out.setdefault((span_model(span) or "", span.span_type or ""), _empty())
        _add(row, {**usage, "calls": 1})
    return out


def _empty() -> ModelUsage:
    return dict.fromkeys((*USAGE_COUNTS, "calls"), 0)


def _add(row: ModelUsage, usage: dict[str, int]) -> None:
    for key in row:
        row[key] += int(usage.get(key) or 0)
