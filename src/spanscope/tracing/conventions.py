"""Foreign span conventions mapped onto Spanscope's span model, in one place.

Instrumentations describe an LLM call in several dialects: OpenTelemetry GenAI semantic
conventions (``gen_ai.*``, old and new), OpenInference (``openinference.*``, ``input.value``,
``llm.*``, ``retrieval.documents.*``), OpenLLMetry/Traceloop (``traceloop.*``,
``llm.usage.*``, ``gen_ai.prompt.N.*``) and MLflow's own ``mlflow.*`` attributes. Spanscope
reads MLflow's keys (span type, inputs, outputs, token usage, model), so ``translate`` fills
those from whichever dialect a span speaks, and ``trace_context`` finds the session and
user a span names. The SDK's OpenTelemetry bridge (``tracing/convert.py``) and the OTLP
receiver (``server/otlp.py``) both call it; nothing else maps conventions.

Rules: a key already present wins (an MLflow span arrives intact); attributes are never
removed or renamed, so what no mapping understood stays as it was. The full table of
mapped attributes is ``docs/conventions.md``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from spanscope.entities import SpanAttributeKey, SpanEvent, SpanType, TraceMetadataKey
from spanscope.entities.token_usage import detail_attributes, with_details

__all__ = ["MODEL_KEY", "is_json", "span_type_of", "trace_context", "translate"]

MODEL_KEY = "mlflow.llm.model"

_encode = json.JSONEncoder(ensure_ascii=False).encode
_scan = json.JSONDecoder().raw_decode

_OPENINFERENCE_KINDS = {"LLM", "CHAIN", "TOOL", "RETRIEVER", "EMBEDDING", "AGENT", "RERANKER",
                        "GUARDRAIL", "EVALUATOR"}
_GENAI_OPERATIONS = {"chat": SpanType.CHAT_MODEL, "text_completion": SpanType.LLM,
                     "generate_content": SpanType.CHAT_MODEL, "embeddings": SpanType.EMBEDDING,
                     "execute_tool": SpanType.TOOL, "invoke_agent": SpanType.AGENT,
                     "create_agent": SpanType.AGENT, "invoke_workflow": SpanType.WORKFLOW,
                     "retrieval": SpanType.RETRIEVER}
_TRACELOOP_KINDS = {"workflow": SpanType.WORKFLOW, "task": SpanType.TASK,
                    "agent": SpanType.AGENT, "tool": SpanType.TOOL}
_LLM_REQUEST_TYPES = {"chat": SpanType.CHAT_MODEL, "completion": SpanType.LLM,
                      "embedding": SpanType.EMBEDDING, "rerank": SpanType.RERANKER}
_MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name",
               "llm.response.model", "llm.request.model")
_USAGE_KEYS = (  # (input, output, total) per convention, first convention that has one wins
    ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.total_tokens"),
    ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "llm.usage.total_tokens"),
    ("llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total"),
    ("llm.usage.prompt_tokens", "llm.usage.completion_tokens", "llm.usage.total_tokens"),
)
_SESSION_KEYS = ("session.id", "gen_ai.conversation.id",
                 "traceloop.association.properties.session_id")
_USER_KEYS = ("user.id", "enduser.id", "traceloop.association.properties.user_id")
_MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                   "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_INDEXED = re.compile(r"^(gen_ai\.prompt|gen_ai\.completion|llm\.input_messages|"
                      r"llm\.output_messages|retrieval\.documents)\.(\d+)\.(.+)$")
_INDEXED_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.",
                     "llm.output_messages.", "retrieval.documents.")
_FOREIGN_PREFIXES = ("gen_ai.", "llm.", "openinference.", "input.", "output.", "retrieval.",
                     "traceloop.", "tool.", "embedding.")


def translate(raw: dict[str, str], attributes: Mapping[str, Any],
              events: Sequence[SpanEvent] = ()) -> None:
    """Add MLflow's keys to ``raw`` (JSON-encoded values) from the decoded ``attributes``.

    Only keys missing from ``raw`` are filled: span type (``UNKNOWN`` when no convention
    names one), inputs, outputs, token usage and model name. ``events`` are the span's
    events, read for GenAI message events.
    """
    if SpanAttributeKey.SPAN_TYPE not in raw:
        raw[SpanAttributeKey.SPAN_TYPE] = _encode(span_type_of(attributes))
    if not any(key.startswith(_FOREIGN_PREFIXES) for key in attributes) and not events:
        return
    indexed = _indexed(attributes)
    if SpanAttributeKey.INPUTS not in raw:
        value = _inputs(attributes, indexed, events)
        if value is not None:
            raw[SpanAttributeKey.INPUTS] = value
    if SpanAttributeKey.OUTPUTS not in raw:
        value = _outputs(attributes, indexed, events)
        if value is not None:
            raw[SpanAttributeKey.OUTPUTS] = value
    if SpanAttributeKey.CHAT_USAGE not in raw:
        usage = _usage(attributes)
        if usage is not None:
            raw[SpanAttributeKey.CHAT_USAGE] = _encode(usage)
    if MODEL_KEY not in raw:
        for key in _MODEL_KEYS:
            model = attributes.get(key)
            if isinstance(model, str) and model:
                raw[MODEL_KEY] = _encode(model)
                break


def span_type_of(attributes: Mapping[str, Any]) -> str:
    """The span type a foreign span declares, ``UNKNOWN`` if none (see the module table)."""
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_KINDS:
        return kind.upper()
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GENAI_OPERATIONS:
        return _GENAI_OPERATIONS[operation]
    kind = attributes.get("traceloop.span.kind")
    if isinstance(kind, str) and kind in _TRACELOOP_KINDS:
        return _TRACELOOP_KINDS[kind]
    request_type = attributes.get("llm.request.type")
    if isinstance(request_type, str) and request_type in _LLM_REQUEST_TYPES:
        return _LLM_REQUEST_TYPES[request_type]
    if any(key in attributes for key in ("gen_ai.request.model", "gen_ai.system",
                                         "gen_ai.provider.name")):
        return SpanType.LLM
    return SpanType.UNKNOWN


def trace_context(attributes: Mapping[str, Any]) -> dict[str, str]:
    """Trace metadata a span's attributes imply: its session and user, when named."""
    out: dict[str, str] = {}
    for keys, target in ((_SESSION_KEYS, TraceMetadataKey.SESSION),
                         (_USER_KEYS, TraceMetadataKey.USER)):
        for key in keys:
            value = attributes.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
                out[target] = str(value)
                break
    return out


# --- inputs and outputs --------------------------------------------------------------------
def _inputs(attributes: Mapping[str, Any], indexed: dict[str, dict[int, dict[str, Any]]],
            events: Sequence[SpanEvent]) -> str | None:
    value = _payload(attributes, "input.value", "input.mime_type")
    if value is not None:
        return value
    if "traceloop.entity.input" in attributes:  # always JSON-serialised by OpenLLMetry
        return _json_text(attributes["traceloop.entity.input"], any_json=True)
    for key in ("gen_ai.input.messages", "gen_ai.tool.call.arguments", "tool.parameters"):
        if key in attributes:
            return _json_text(attributes[key])
    messages = _messages(indexed.get("gen_ai.prompt")) or _openinference_messages(
        indexed.get("llm.input_messages"))
    if messages:
        return _encode({"messages": messages})
    messages = [{"role": role, **_event_body(event)} for event in events
                if (role := _MESSAGE_EVENTS.get(event.name))]
    if messages:
        return _encode({"messages": messages})
    details = _details_event(events, "gen_ai.input.messages")
    return details


def _outputs(attributes: Mapping[str, Any], indexed: dict[str, dict[int, dict[str, Any]]],
             events: Sequence[SpanEvent]) -> str | None:
    value = _payload(attributes, "output.value", "output.mime_type")
    if value is not None:
        return value
    if "traceloop.entity.output" in attributes:
        return _json_text(attributes["traceloop.entity.output"], any_json=True)
    for key in ("gen_ai.output.messages", "gen_ai.tool.call.result"):
        if key in attributes:
            return _json_text(attributes[key])
    completions = indexed.get("gen_ai.completion")
    if completions:
        choices = [{"index": i, "message": {k: v for k, v in fields.items()
                                            if k != "finish_reason"},
                    **({"finish_reason": fields["finish_reason"]}
                       if "finish_reason" in fields else {})}
                   for i, fields in sorted(completions.items())]
        return _encode({"choices": choices})
    messages = _openinference_messages(indexed.get("llm.output_messages"))
    if messages:
        return _encode({"choices": [{"index": i, "message": m}
                                    for i, m in enumerate(messages)]})
    documents = indexed.get("retrieval.documents")
    if documents:
        return _encode([_document(fields) for _, fields in sorted(documents.items())])
    choices = [_event_body(event) for event in events if event.name == "gen_ai.choice"]
    if choices:
        return _encode({"choices": choices})
    return _details_event(events, "gen_ai.output.messages")


def _payload(attributes: Mapping[str, Any], value_key: str, mime_key: str) -> str | None:
    """OpenInference ``input.value``: JSON text kept when the mime type says JSON."""
    value = attributes.get(value_key)
    if value is None:
        return None
    if isinstance(value, str) and attributes.get(mime_key) == "application/json":
        return value if is_json(value) else _encode(value)
    return _encode(value) if isinstance(value, str) else _json_text(value)


def _json_text(value: Any, *, any_json: bool = False) -> str:
    """A value as JSON text: strings holding JSON objects/arrays are kept, others encoded.

    With ``any_json`` every string that parses as JSON is kept (a JSON-encoded string too).
    """
    if isinstance(value, str):
        stripped = value.lstrip()
        if (any_json or stripped[:1] in ("{", "[")) and is_json(value):
            return value
        return _encode(value)
    try:
        return _encode(value)
    except (TypeError, ValueError):
        return json.dumps(value, ensure_ascii=False, default=repr)


def is_json(text: str) -> bool:
    """Whether ``text`` is one JSON value (as ``json.loads`` would accept it), cheaply."""
    if text[:1].isspace():
        text = text.lstrip()
    try:
        _, end = _scan(text)
    except ValueError:
        return False
    return end == len(text) or text[end:].isspace()


def _indexed(attributes: Mapping[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    """``gen_ai.prompt.0.role`` style keys as ``{"gen_ai.prompt": {0: {"role": ...}}}``."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in attributes.items():
        if not key.startswith(_INDEXED_PREFIXES):
            continue
        match = _INDEXED.match(key)
        if match is not None:
            family, index, rest = match.groups()
            out.setdefault(family, {}).setdefault(int(index), {})[rest] = value
    return out


def _messages(entries: dict[int, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """OpenLLMetry prompts: ``{role, content, ...}`` per index, in index order."""
    if not entries:
        return []
    return [dict(fields) for _, fields in sorted(entries.items())]


def _openinference_messages(entries: dict[int, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """OpenInference ``llm.input_messages.N.message.role|content``."""
    if not entries:
        return []
    out = []
    for _, fields in sorted(entries.items()):
        out.append({key.removeprefix("message."): value for key, value in fields.items()})
    return out


def _document(fields: dict[str, Any]) -> dict[str, Any]:
    """An OpenInference retrieval document as MLflow's ``{page_content, metadata, id}``."""
    metadata = fields.get("document.metadata")
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = {"metadata": metadata}
    metadata = dict(metadata) if isinstance(metadata, Mapping) else {}
    if "document.score" in fields:
        metadata["score"] = fields["document.score"]
    return {"page_content": fields.get("document.content"), "metadata": metadata,
            "id": fields.get("document.id")}


def _event_body(event: SpanEvent) -> dict[str, Any]:
    """A GenAI message event's attributes, JSON-text values decoded."""
    body: dict[str, Any] = {}
    for key, value in event.attributes.items():
        if key in ("gen_ai.system", "gen_ai.provider.name"):
            continue
        if isinstance(value, str) and value[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        body[key] = value
    return body


def _details_event(events: Sequence[SpanEvent], key: str) -> str | None:
    for event in events:
        if event.name == _DETAILS_EVENT and key in event.attributes:
            return _json_text(event.attributes[key])
    return None


# --- token usage ---------------------------------------------------------------------------
def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _usage(attributes: Mapping[str, Any]) -> dict[str, int] | None:
    """Usage in MLflow's shape, with the cache and reasoning counts when reported."""
    return with_details(_counts(attributes), detail_attributes(attributes))


def _counts(attributes: Mapping[str, Any]) -> dict[str, int] | None:
    for input_key, output_key, total_key in _USAGE_KEYS:
        i_raw, o_raw = attributes.get(input_key), attributes.get(output_key)
        if i_raw is None and o_raw is None:
            continue
        i, o, t = _as_int(i_raw), _as_int(o_raw), _as_int(attributes.get(total_key))
        if i is None and o is None:
            continue
        i, o = i or 0, o or 0
        return {"input_tokens": i, "output_tokens": o, "total_tokens": t if t is not None
                else i + o}
    total = _as_int(attributes.get("llm.usage.total_tokens"))
    if total is not None:
        return {"input_tokens": 0, "output_tokens": 0, "total_tokens": total}
    return None
