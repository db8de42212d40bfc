"""Which model a span called, and a trace's token usage per model (what cost is priced on).

The model is read from the conventions instrumentations write, first match wins:
MLflow's ``mlflow.llm.model`` attribute, OpenTelemetry GenAI ``gen_ai.response.model`` /
``gen_ai.request.model``, OpenInference ``llm.model_name``, a plain ``llm.model``, then
the ``model`` field of an OpenAI-shaped output or of the inputs. Usage per model follows
``trace_token_usage``: only the innermost spans that report usage count, so a wrapper
returning its child's completion is not counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from spanscope.entities._codec import loads_attribute
from spanscope.entities.span import Span, SpanAttributeKey
from spanscope.entities.token_usage import TokenUsage, span_token_usage

__all__ = ["MODEL_ATTRIBUTE_KEYS", "ModelUsage", "span_model", "trace_model_usage"]

MODEL_ATTRIBUTE_KEYS = ("mlflow.llm.model", "gen_ai.response.model", "gen_ai.request.model",
                        "llm.model_name", "llm.model")
MAX_MODEL_LENGTH = 256

ModelUsage = dict[str, int]  # TokenUsage plus "calls": the model calls counted


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
    """``{model: {input_tokens, output_tokens, total_tokens, calls}}`` for a trace's spans.

    A span reporting usage without naming a model is counted under ``""`` (unknown), so
    the per-model totals add up to ``trace_token_usage(spans)``.
    """
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
    out: dict[str, ModelUsage] = {}
    for span in spans:
        usage = usages.get(span.span_id)
        if usage is None or span.span_id in wrappers:
            continue
        row = out.setdefault(span_model(span) or "", {
            "input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "calls": 0})
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            row[key] += int(usage.get(key) or 0)
        row["calls"] += 1
    return out
