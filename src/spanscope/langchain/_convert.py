"""LangChain objects as the JSON a span records: messages, documents, generations, usage.

Messages become OpenAI-style dicts (``{"role": "user", "content": ...}``, ``tool_calls``),
documents MLflow's Document shape (``page_content``, ``metadata``, ``id``), and a chat
model's result an OpenAI ``chat.completion``, so the rest of Spanscope (previews, the
question and answer, token usage, diagnose) reads LangChain spans as it reads any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["chat_completion", "document", "jsonable", "message", "usage"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool",
          "function": "function", "chat": "user", "AIMessageChunk": "assistant"}


def message(msg: Any) -> dict[str, Any]:
    """A LangChain ``BaseMessage`` as an OpenAI-style message dict."""
    kind = getattr(msg, "type", None)
    role = getattr(msg, "role", None) if kind == "chat" else _ROLES.get(kind or "", kind)
    out: dict[str, Any] = {"role": role or "user", "content": jsonable(msg.content)}
    tool_calls = getattr(msg, "tool_calls", None)
    if tool_calls:
        import json

        out["tool_calls"] = [{"id": call.get("id"), "type": "function", "function": {
            "name": call.get("name"), "arguments": json.dumps(call.get("args") or {})}}
            for call in tool_calls]
    if getattr(msg, "tool_call_id", None):
        out["tool_call_id"] = msg.tool_call_id
    if getattr(msg, "name", None):
        out["name"] = msg.name
    return out


def document(doc: Any) -> dict[str, Any]:
    """A LangChain ``Document`` in MLflow's retriever shape."""
    out: dict[str, Any] = {"page_content": doc.page_content,
                           "metadata": jsonable(dict(doc.metadata or {}))}
    if getattr(doc, "id", None) is not None:
        out["id"] = doc.id
    return out


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` with LangChain messages, documents and pydantic models made plain JSON."""
    if value is None or isinstance(value, (str, int, float, bool)) or depth > 20:
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    module = type(value).__module__
    if module.startswith("langchain_core.messages"):
        return message(value)
    if module.startswith("langchain_core.documents") and hasattr(value, "page_content"):
        return document(value)
    to_messages = getattr(value, "to_messages", None)
    if to_messages is not None and module.startswith("langchain_core.prompt_values"):
        return {"messages": [message(m) for m in to_messages()]}
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        try:
            return jsonable(dump(), depth + 1)
        except Exception:
            return repr(value)
    return repr(value)


def usage(result: Any) -> dict[str, int] | None:
    """Token usage of an ``LLMResult``: the messages' ``usage_metadata``, else the
    provider's ``llm_output["token_usage"]``."""
    totals: dict[str, int] = {}
    for generations in getattr(result, "generations", None) or ():
        for generation in generations:
            meta = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if not meta:
                continue
            for key in ("input_tokens", "output_tokens", "total_tokens"):
                totals[key] = totals.get(key, 0) + int(meta.get(key) or 0)
            for detail, key in (("cache_read", "cache_read_input_tokens"),
                                ("cache_creation", "cache_creation_input_tokens")):
                count = (meta.get("input_token_details") or {}).get(detail)
                if count is not None:
                    totals[key] = totals.get(key, 0) + int(count)
            reasoning = (meta.get("output_token_details") or {}).get("reasoning")
            if reasoning is not None:
                totals["reasoning_tokens"] = totals.get("reasoning_tokens", 0) + int(reasoning)
    if totals:
        return totals
    output = getattr(result, "llm_output", None) or {}
    raw = output.get("token_usage") or output.get("usage") if isinstance(output, Mapping) \
        else None
    if isinstance(raw, Mapping):
        i = raw.get("prompt_tokens", raw.get("input_tokens"))
        o = raw.get("completion_tokens", raw.get("output_tokens"))
        if isinstance(i, int) or isinstance(o, int):
            i, o = int(i or 0), int(o or 0)
            return {"input_tokens": i, "output_tokens": o,
                    "total_tokens": int(raw.get("total_tokens") or i + o)}
    return None


def chat_completion(result: Any, model: str | None) -> dict[str, Any]:
    """A chat model's ``LLMResult`` as an OpenAI ``chat.completion`` dict."""
    choices = []
    generations: Sequence[Any] = (getattr(result, "generations", None) or [[]])[0]
    for index, generation in enumerate(generations):
        msg = getattr(generation, "message", None)
        info = getattr(generation, "generation_info", None) or {}
        body = message(msg) if msg is not None else {"role": "assistant",
                                                     "content": generation.text}
        finish = info.get("finish_reason") or (
            getattr(msg, "response_metadata", None) or {}).get("finish_reason")
        choices.append({"index": index, "message": body,
                        "finish_reason": finish or ("tool_calls" if body.get("tool_calls")
                                                    else "stop")})
    out: dict[str, Any] = {"object": "chat.completion", "choices": choices}
    if model:
        out["model"] = model
    found = usage(result)
    if found:
        out["usage"] = {"prompt_tokens": found["input_tokens"],
                        "completion_tokens": found["output_tokens"],
                        "total_tokens": found["total_tokens"]}
    return out
