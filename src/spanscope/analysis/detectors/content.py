"""What spans say, as text: the user's question, a retriever's query and documents, answers.

Apps record inputs and outputs in many shapes (a bare string, ``{"question": ...}``,
OpenAI ``messages``, LangChain documents, OpenAI completions). These functions find the
text the detectors compare, and return None rather than guess when there is none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Document", "answer_text", "conversation_text", "documents", "finish_reason",
           "flatten_text", "has_tool_calls", "llm_output_text", "query_text", "question_text"]

# Keys that hold what the user asked, in the order they are preferred.
_QUESTION_KEYS = ("question", "query", "input", "prompt", "user_input", "request", "text",
                  "message", "content")
_HISTORY_KEYS = ("history", "chat_history", "messages", "conversation")
_QUERY_KEYS = ("query", "question", "search_query", "q", "input", "text", "prompt")
_ANSWER_KEYS = ("answer", "output", "response", "result", "content", "text", "message",
                "generation")
_DOCUMENT_LIST_KEYS = ("documents", "docs", "results", "hits", "matches", "context",
                       "source_documents")
_DOC_TEXT_KEYS = ("page_content", "content", "text", "chunk", "document", "snippet", "body")
# Keys whose values are never prose (ids, URIs, settings) when flattening.
_NOT_TEXT = frozenset({"id", "ids", "role", "model", "type", "doc_uri", "uri", "url",
                       "source", "score", "tool_call_id", "user_tier", "temperature",
                       "session_id", "user_id", "name", "finish_reason", "object",
                       "created"})


def flatten_text(value: Any, *, limit: int = 20_000) -> str:
    """Every prose string in a JSON value, joined by newlines (ids and settings skipped)."""
    parts: list[str] = []

    def walk(node: Any, key: str | None) -> None:
        if sum(len(p) for p in parts) > limit:
            return
        if isinstance(node, str):
            if key not in _NOT_TEXT:
                parts.append(node)
        elif isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item, key)

    walk(value, None)
    return "\n".join(parts)[:limit]


def _user_messages(messages: Any) -> list[str]:
    """Contents of the ``role: user`` messages of an OpenAI-style message list."""
    if not isinstance(messages, list):
        return []
    found = []
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") in ("user", "human"):
            found.append(flatten_text(message.get("content")))
    return [text for text in found if text]


def question_text(inputs: Any) -> str | None:
    """The user's latest question in a root span's inputs, or None if there is none."""
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
        text = flatten_text(inputs)
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
    """What a retriever was asked for: its ``query`` input or whatever text it got."""
    if isinstance(inputs, str):
        return inputs or None
    if isinstance(inputs, Mapping):
        for key in _QUERY_KEYS:
            value = inputs.get(key)
            if isinstance(value, str) and value.strip():
                return value
    text = flatten_text(inputs)
    return text or None


@dataclass(frozen=True)
class Document:
    """One retrieved document: its id (if any), text and score (if the retriever gave one)."""

    id: str | None
    text: str
    score: float | None


def _score(doc: Mapping[str, Any]) -> float | None:
    for holder in (doc, doc.get("metadata")):
        if isinstance(holder, Mapping):
            value = holder.get("score", holder.get("relevance_score"))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def _document(item: Any) -> Document:
    if isinstance(item, str):
        return Document(None, item, None)
    if isinstance(item, Mapping):
        text = next((item[k] for k in _DOC_TEXT_KEYS if isinstance(item.get(k), str)), None)
        if text is None:
            text = flatten_text({k: v for k, v in item.items() if k != "metadata"})
        doc_id = item.get("id")
        if doc_id is None and isinstance(item.get("metadata"), Mapping):
            doc_id = item["metadata"].get("doc_uri") or item["metadata"].get("source")
        return Document(None if doc_id is None else str(doc_id), text, _score(item))
    return Document(None, flatten_text(item), None)


def documents(outputs: Any) -> list[Document] | None:
    """A retriever's documents; ``[]`` for an empty result, None for an unknown shape."""
    if outputs is None:
        return []
    if isinstance(outputs, Mapping):
        for key in _DOCUMENT_LIST_KEYS:
            if isinstance(outputs.get(key), list):
                return [_document(item) for item in outputs[key]]
        if not outputs:
            return []
        return None
    if isinstance(outputs, list):
        return [_document(item) for item in outputs]
    if isinstance(outputs, str):
        return [Document(None, outputs, None)] if outputs.strip() else []
    return None


def _openai_choice(outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None


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
        if isinstance(outputs.get("content"), (str, list)):  # Anthropic / message dicts
            return flatten_text(outputs["content"])
        for key in _ANSWER_KEYS:
            if isinstance(outputs.get(key), str):
                return outputs[key]
        return flatten_text(outputs)
    if isinstance(outputs, list):
        return flatten_text(outputs)
    return str(outputs)


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


def answer_text(outputs: Any) -> str | None:
    """The answer in a root span's outputs (a string, ``{"answer": ...}``, a completion)."""
    if outputs is None:
        return None
    if isinstance(outputs, Mapping) and not _openai_choice(outputs):
        for key in _ANSWER_KEYS:
            value = outputs.get(key)
            if isinstance(value, str):
                return value
    return llm_output_text(outputs)
