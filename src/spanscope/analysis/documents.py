"""What spans say, in any shape: retrieved documents and their query, the user's question,
the final answer.

The one place that reads these out of a trace; ``diagnose``, the ``Retrieval*`` judges,
the report and dataset building all ask it. Apps and instrumentations record the same
things in many shapes:

- documents: a RETRIEVER span's outputs, or any span's outputs that are plainly a list
  of documents (a TOOL ``search_knowledge_base`` returning ``[{"doc": ..., "score": ...}]``);
  each document a dict with ``doc`` / ``page_content`` / ``content`` / ``text`` (and
  optional ``score``, ``metadata``, ``id``), MLflow's Document, a serialised LangChain
  ``Document`` (``{"lc": 1, "kwargs": {"page_content": ...}}``), a ``{"documents": [...]}``
  wrapper, OpenInference ``retrieval.documents.N.document.*`` attributes, or plain strings
  (RETRIEVER spans only);
- the query: the span's ``query`` / ``question`` / ``input`` ... input, a single string
  argument, a bare string, or OpenInference ``input.value``;
- the question and the answer: ``{"question": ...}``, chat ``messages`` (OpenAI and
  Anthropic, string or content-part lists; OpenTelemetry GenAI ``parts``), the
  Responses API ``input``, plain strings;
  answers from OpenAI chat completions, Responses, Anthropic messages or plain strings.

Every function returns None rather than guess when the shape holds no such thing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities import Span, SpanType, Trace

__all__ = [
    "LLM_SPAN_TYPES",
    "Document",
    "Retrieval",
    "answer_text",
    "conversation_text",
    "documents",
    "finish_reason",
    "flatten_text",
    "has_tool_calls",
    "llm_output_text",
    "preview_text",
    "query_text",
    "question_text",
    "retrievals",
    "span_documents",
    "span_inputs",
    "span_outputs",
    "span_query",
    "trace_answer",
    "trace_question",
]

LLM_SPAN_TYPES = frozenset({SpanType.LLM, SpanType.CHAT_MODEL})

# Keys that hold what the user asked, in the order they are preferred.
_QUESTION_KEYS = ("question", "query", "input", "prompt", "user_input", "request", "text",
                  "message", "content")
_HISTORY_KEYS = ("messages", "history", "chat_history", "conversation", "input")
_QUERY_KEYS = ("query", "question", "search_query", "q", "input", "text", "prompt",
               "search_term", "keywords")
_ANSWER_KEYS = ("answer", "output", "response", "result", "content", "text", "message",
                "generation")
_DOCUMENT_LIST_KEYS = ("documents", "docs", "results", "hits", "matches", "context",
                       "source_documents", "chunks", "passages")
# Text keys of a document, most specific first. ``doc`` is how many hand-written tools
# return their hits; ``page_content`` is MLflow's and LangChain's.
_DOC_TEXT_KEYS = ("page_content", "doc", "content", "text", "chunk", "document", "snippet",
                  "body", "passage")
# A dict with one of these is a message or a model reply, never a document.
_NOT_A_DOCUMENT = frozenset({"role", "choices", "tool_calls", "tool_call_id"})
# ... nor is a content part of a message or a tool result (``{"type": "text", ...}``).
_CONTENT_PART_TYPES = frozenset({"text", "image", "image_url", "input_text", "output_text",
                                 "tool_use", "tool_result", "thinking", "refusal"})
# Keys whose values are never prose (ids, URIs, settings) when flattening.
_NOT_TEXT = frozenset({"id", "ids", "role", "model", "type", "doc_uri", "uri", "url",
                       "source", "score", "tool_call_id", "user_tier", "temperature",
                       "session_id", "user_id", "name", "finish_reason", "object",
                       "created", "max_tokens", "stream", "tool_choice", "call_id",
                       "status", "signature"})
_OPENINFERENCE_DOC = re.compile(r"^retrieval\.documents\.(\d+)\.document\.(\w+)$")


def flatten_text(value: Any, *, limit: int = 20_000) -> str:
    """Every prose string in a JSON value, joined by newlines (ids and settings skipped)."""
    parts: list[str] = []
    size = 0

    def walk(node: Any, key: str | None) -> None:
        nonlocal size
        if size > limit:
            return
        if isinstance(node, str):
            if key not in _NOT_TEXT:
                parts.append(node)
                size += len(node)
        elif isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item, key)

    walk(value, None)
    return "\n".join(parts)[:limit]


# --- span inputs and outputs, whichever convention wrote them ----------------------------
def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def span_inputs(span: Span) -> Any:
    """The span's inputs: MLflow's ``mlflow.spanInputs``, else OpenInference ``input.value``."""
    inputs = span.inputs
    if inputs is None:
        inputs = _decoded(span.attributes.get("input.value"))
    return inputs


def span_outputs(span: Span) -> Any:
    """The span's outputs: ``mlflow.spanOutputs``, else OpenInference ``output.value``."""
    outputs = span.outputs
    if outputs is None:
        outputs = _decoded(span.attributes.get("output.value"))
    return outputs


# --- questions ---------------------------------------------------------------------------
def _user_messages(messages: Any) -> list[str]:
    """Contents of the ``role: user`` messages of an OpenAI- or Anthropic-style list."""
    if not isinstance(messages, list):
        return []
    found = []
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") in ("user", "human"):
            # OpenAI / Anthropic ``content``; OpenTelemetry GenAI messages carry ``parts``
            found.append(flatten_text(message.get("content", message.get("parts"))))
    return [text for text in found if text]


def question_text(inputs: Any) -> str | None:
    """The user's latest question in a span's inputs, or None if there is none."""
    if isinstance(inputs, str):
        return inputs or None
    if isinstance(inputs, Mapping):
        for key in _QUESTION_KEYS:
            value = inputs.get(key)
            if isinstance(value, str) and value.strip():
                return value
        for key in _HISTORY_KEYS:
            users = _user_messages(inputs.get(key))
            if users:
                return users[-1]
        text = flatten_text({k: v for k, v in inputs.items()
                             if k not in ("system", "instructions", "tools")})
        return text or None
    users = _user_messages(inputs)
    return users[-1] if users else None


def conversation_text(inputs: Any) -> str:
    """The question plus the user's earlier turns (a follow-up's topic lives there)."""
    parts = [question_text(inputs) or ""]
    if isinstance(inputs, Mapping):
        for key in _HISTORY_KEYS:
            parts += _user_messages(inputs.get(key))
    return "\n".join(p for p in parts if p)


def query_text(inputs: Any) -> str | None:
    """What a retrieval was asked for: its ``query`` input, its one string argument, or
    whatever text it got."""
    if isinstance(inputs, str):
        return inputs or None
    if isinstance(inputs, Mapping):
        for key in _QUERY_KEYS:
            value = inputs.get(key)
            if isinstance(value, str) and value.strip():
                return value
        strings = [v for v in inputs.values() if isinstance(v, str) and v.strip()]
        if len(strings) == 1:
            return strings[0]
    text = flatten_text(inputs)
    return text or None


def span_query(span: Span) -> str | None:
    """The query a retrieving span was given (its inputs, or OpenInference ``input.value``)."""
    return query_text(span_inputs(span))


# --- documents ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    """One retrieved document: its id (if any), text, score and metadata (if given)."""

    id: str | None
    text: str
    score: float | None
    metadata: dict[str, Any] | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _score(doc: Mapping[str, Any]) -> float | None:
    for holder in (doc, doc.get("metadata")):
        if isinstance(holder, Mapping):
            for key in ("score", "relevance_score", "similarity", "distance_score"):
                value = _number(holder.get(key))
                if value is not None:
                    return value
    return None


def _unwrap(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """A serialised LangChain object (``{"lc": 1, "kwargs": {...}}``) as its fields."""
    kwargs = item.get("kwargs")
    if "lc" in item and isinstance(kwargs, Mapping):
        return kwargs
    return item


def _text_key(item: Mapping[str, Any]) -> str | None:
    return next((k for k in _DOC_TEXT_KEYS if isinstance(item.get(k), str)), None)


def _document(item: Any) -> Document:
    if isinstance(item, str):
        return Document(None, item, None)
    if isinstance(item, Mapping):
        item = _unwrap(item)
        key = _text_key(item)
        text = item[key] if key is not None else flatten_text(
            {k: v for k, v in item.items() if k != "metadata"})
        metadata = item.get("metadata") if isinstance(item.get("metadata"), Mapping) else None
        doc_id = item.get("id")
        if doc_id is None and metadata is not None:
            doc_id = metadata.get("doc_uri") or metadata.get("source") or metadata.get("id")
        return Document(None if doc_id is None else str(doc_id), text, _score(item),
                        None if metadata is None else dict(metadata))
    return Document(None, flatten_text(item), None)


def _is_document(item: Any) -> bool:
    """A dict that is plainly a document: a text field, no message or reply keys."""
    if not isinstance(item, Mapping):
        return False
    item = _unwrap(item)
    return (_text_key(item) is not None and not (_NOT_A_DOCUMENT & item.keys())
            and item.get("type") not in _CONTENT_PART_TYPES)


def _document_list(outputs: Any) -> list[Any] | None:
    """The list of documents in ``outputs`` (itself, or under a ``documents``-like key)."""
    if isinstance(outputs, list):
        return outputs
    if isinstance(outputs, Mapping):
        for key in _DOCUMENT_LIST_KEYS:
            if isinstance(outputs.get(key), list):
                return outputs[key]
    return None


def documents(outputs: Any) -> list[Document] | None:
    """A RETRIEVER's documents; ``[]`` for an empty result, None for an unknown shape.

    Lenient, because the span says it retrieves: plain strings and dicts without a known
    text key count as documents.
    """
    if outputs is None:
        return []
    found = _document_list(outputs)
    if found is not None:
        return [_document(item) for item in found]
    if isinstance(outputs, Mapping):
        if _is_document(outputs):
            return [_document(outputs)]
        return [] if not outputs else None
    if isinstance(outputs, str):
        return [Document(None, outputs, None)] if outputs.strip() else []
    return None


def _plain_documents(outputs: Any) -> list[Document] | None:
    """Documents in the outputs of a span that does not say it retrieves: only a
    non-empty list whose items are all plainly documents (or such a list under a
    ``documents``-like key, which may be empty)."""
    if isinstance(outputs, Mapping):
        for key in _DOCUMENT_LIST_KEYS:
            found = outputs.get(key)
            if isinstance(found, list) and all(_is_document(item) for item in found):
                return [_document(item) for item in found]
        return None
    if isinstance(outputs, list) and outputs and all(_is_document(i) for i in outputs):
        return [_document(item) for item in outputs]
    return None


def _openinference_documents(attributes: Mapping[str, Any]) -> list[Document] | None:
    fields: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        match = _OPENINFERENCE_DOC.match(key)
        if match:
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if not fields:
        return None
    out = []
    for index in sorted(fields):
        doc = fields[index]
        metadata = _decoded(doc.get("metadata"))
        out.append(Document(None if doc.get("id") is None else str(doc["id"]),
                            str(doc.get("content") or ""), _number(doc.get("score")),
                            dict(metadata) if isinstance(metadata, Mapping) else None))
    return out


def _may_hold_openinference_documents(span: Span) -> bool:
    return any(key.startswith("retrieval.documents.") for key in span.raw_attributes)


def span_documents(span: Span) -> list[Document] | None:
    """The documents a span returned, or None when it returned none (or is no retrieval).

    A RETRIEVER span's outputs are read leniently (see ``documents``); any other span
    counts only when its outputs are plainly documents, and model calls never do.
    """
    if _may_hold_openinference_documents(span):
        found = _openinference_documents(span.attributes)
        if found is not None:
            return found
    if span.span_type == SpanType.RETRIEVER:
        return documents(span_outputs(span))
    if span.span_type in LLM_SPAN_TYPES:
        return None
    return _plain_documents(span_outputs(span))


@dataclass(frozen=True)
class Retrieval:
    """A span that retrieved documents, what it was asked, and what it returned."""

    span: Span
    query: str | None
    documents: list[Document] = field(default_factory=list)


def retrievals(spans: Iterable[Span], *,
               skip: Callable[[Span], bool] | None = None) -> list[Retrieval]:
    """Every span of ``spans`` that retrieved documents, in the order given.

    ``skip`` leaves spans out (``diagnose`` skips failed ones).
    """
    found = []
    for span in spans:
        if skip is not None and skip(span):
            continue
        docs = span_documents(span)
        if docs is not None:
            found.append(Retrieval(span, span_query(span), docs))
    return _without_echoes(found)


def _without_echoes(found: list[Retrieval]) -> list[Retrieval]:
    """Drop a non-RETRIEVER span passing on documents a RETRIEVER span returned (a chain
    step whose output carries ``{"context": [...]}``): one retrieval, reported once."""
    retrieved = {tuple(d.text for d in r.documents) for r in found
                 if r.documents and r.span.span_type == SpanType.RETRIEVER}
    if not retrieved:
        return found
    return [r for r in found if r.span.span_type == SpanType.RETRIEVER or not r.documents
            or tuple(d.text for d in r.documents) not in retrieved]


# --- model outputs and answers -----------------------------------------------------------
def _openai_choice(outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None


def _responses_text(outputs: Mapping[str, Any]) -> str | None:
    """The text of an OpenAI Responses API response (its ``output`` message items)."""
    items = outputs.get("output")
    if outputs.get("object") != "response" or not isinstance(items, list):
        return None
    parts = [part.get("text") for item in items if isinstance(item, Mapping)
             and item.get("type") == "message" for part in item.get("content") or ()
             if isinstance(part, Mapping) and isinstance(part.get("text"), str)]
    return "".join(parts)


def llm_output_text(outputs: Any) -> str | None:
    """The text a model call produced (OpenAI chat/responses, Anthropic, plain strings).

    None when the output holds no text at all; a tool-call-only reply returns ``""`` only
    when it has no tool calls either (see ``has_tool_calls``).
    """
    if outputs is None:
        return None
    if isinstance(outputs, str):
        return outputs
    if isinstance(outputs, Mapping):
        choice = _openai_choice(outputs)
        if choice is not None:
            message = choice.get("message") or choice.get("delta") or {}
            content = message.get("content") if isinstance(message, Mapping) else None
            if content is None and isinstance(choice.get("text"), str):
                content = choice["text"]
            return flatten_text(content) if content is not None else ""
        if isinstance(outputs.get("output_text"), str):
            return outputs["output_text"]
        responses = _responses_text(outputs)
        if responses is not None:
            return responses
        content = outputs.get("content")
        if isinstance(content, list):
            return _content_blocks_text(content)
        if isinstance(content, str):
            return content
        for key in _ANSWER_KEYS:
            if isinstance(outputs.get(key), str):
                return outputs[key]
        return flatten_text(outputs)
    if isinstance(outputs, list):
        return flatten_text(outputs)
    return str(outputs)


def _content_blocks_text(content: list[Any]) -> str:
    """The text of Anthropic-style content blocks (tool_use and thinking blocks skipped)."""
    if not all(isinstance(block, Mapping) for block in content):
        return flatten_text(content)
    return "".join(block["text"] for block in content if block.get("type") in (None, "text")
                   and isinstance(block.get("text"), str))


def has_tool_calls(outputs: Any) -> bool:
    """Whether a model reply asked for tool calls (so no text is expected)."""
    if not isinstance(outputs, Mapping):
        return False
    choice = _openai_choice(outputs)
    if choice is not None:
        message = choice.get("message") or {}
        return bool(isinstance(message, Mapping) and message.get("tool_calls"))
    content = outputs.get("content")
    if isinstance(content, list):
        return any(isinstance(c, Mapping) and c.get("type") == "tool_use" for c in content)
    items = outputs.get("output")
    if outputs.get("object") == "response" and isinstance(items, list):
        return any(isinstance(i, Mapping) and i.get("type") == "function_call" for i in items)
    return bool(outputs.get("tool_calls"))


def finish_reason(outputs: Any) -> str | None:
    """Why a model stopped: OpenAI ``finish_reason``, Anthropic ``stop_reason``, or the
    responses API's ``incomplete_details.reason``."""
    if not isinstance(outputs, Mapping):
        return None
    choice = _openai_choice(outputs)
    if choice is not None and isinstance(choice.get("finish_reason"), str):
        return choice["finish_reason"]
    if isinstance(outputs.get("stop_reason"), str):
        return outputs["stop_reason"]
    details = outputs.get("incomplete_details")
    if isinstance(details, Mapping) and isinstance(details.get("reason"), str):
        return details["reason"]
    return None


def _is_model_reply(outputs: Mapping[str, Any]) -> bool:
    return (_openai_choice(outputs) is not None or outputs.get("object") == "response"
            or outputs.get("type") == "message")


def answer_text(outputs: Any) -> str | None:
    """The answer in a root span's outputs (a string, ``{"answer": ...}``, a model reply)."""
    if outputs is None:
        return None
    if isinstance(outputs, Mapping) and not _is_model_reply(outputs):
        for key in _ANSWER_KEYS:
            value = outputs.get(key)
            if isinstance(value, str):
                return value
    return llm_output_text(outputs)


# --- a whole trace -----------------------------------------------------------------------
def _by_start(spans: Sequence[Span]) -> list[Span]:
    return sorted(spans, key=lambda s: (s.start_time_ns, s.span_id))


def trace_question(trace: Trace) -> str | None:
    """The user's question: the root span's inputs, else the first model call's last user
    message (a root that records no inputs, e.g. an OpenTelemetry server span)."""
    root = trace.data.root_span
    if root is not None:
        found = question_text(span_inputs(root))
        if found and found.strip():
            return found
    for span in _by_start(trace.data.spans):
        if span.span_type in LLM_SPAN_TYPES:
            found = question_text(span_inputs(span))
            if found and found.strip():
                return found
    return None


def trace_answer(trace: Trace) -> str | None:
    """The final answer: the root span's outputs, else the last model call's text."""
    root = trace.data.root_span
    if root is not None:
        found = answer_text(span_outputs(root))
        if found and found.strip():
            return found
    calls = [s for s in trace.data.spans if s.span_type in LLM_SPAN_TYPES
             and s.end_time_ns is not None]
    for span in sorted(calls, key=lambda s: s.end_time_ns or 0, reverse=True):
        found = llm_output_text(span_outputs(span))
        if found and found.strip():
            return found
    return None


def preview_text(preview: str | None) -> str | None:
    """A trace's request or response preview as a person reads it: the question or
    answer inside a JSON preview (``{"model": ..., "messages": [...]}``), else as is."""
    if not preview:
        return preview
    value = _decoded(preview)
    if value is preview or isinstance(value, str):
        return preview
    found = question_text(value) if isinstance(value, (Mapping, list)) else None
    return found if found and found.strip() else preview
