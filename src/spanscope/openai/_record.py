"""What an OpenAI call's span records: the response as JSON, the model and token usage.

Responses are the client's pydantic models; their JSON comes from ``model_dump_json``
(written in Rust, the cheapest exact copy). Streamed chat completions are rebuilt into the
``chat.completion`` a non-streamed call returns (text and tool-call deltas joined, the
usage from the last chunk when ``stream_options={"include_usage": True}``); a streamed
Responses call records the response its ``response.completed`` event carries.
"""

from __future__ import annotations

from typing import Any

from spanscope.tracing.autolog import StreamAccumulator

__all__ = ["ChatStream", "ResponsesStream", "chat_usage", "read_chat", "read_embeddings",
           "read_responses", "responses_usage"]

Usage = dict[str, int]


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(input_tokens: Any, output_tokens: Any, total_tokens: Any, *, cached: Any = None,
           reasoning: Any = None) -> Usage | None:
    i, o, t = _int(input_tokens), _int(output_tokens), _int(total_tokens)
    if i is None and o is None and t is None:
        return None
    usage = {"input_tokens": i or 0, "output_tokens": o or 0,
             "total_tokens": t if t is not None else (i or 0) + (o or 0)}
    if _int(cached) is not None:
        usage["cache_read_input_tokens"] = cached
    if _int(reasoning) is not None:
        usage["reasoning_tokens"] = reasoning
    return usage


def chat_usage(usage: Any) -> Usage | None:
    """Chat completions (and embeddings) usage: ``prompt_tokens`` / ``completion_tokens``."""
    if usage is None:
        return None
    return _usage(_get(usage, "prompt_tokens"), _get(usage, "completion_tokens"),
                  _get(usage, "total_tokens"),
                  cached=_get(_get(usage, "prompt_tokens_details"), "cached_tokens"),
                  reasoning=_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))


def responses_usage(usage: Any) -> Usage | None:
    """Responses API usage: ``input_tokens`` / ``output_tokens`` and their details."""
    if usage is None:
        return None
    return _usage(_get(usage, "input_tokens"), _get(usage, "output_tokens"),
                  _get(usage, "total_tokens"),
                  cached=_get(_get(usage, "input_tokens_details"), "cached_tokens"),
                  reasoning=_get(_get(usage, "output_tokens_details"), "reasoning_tokens"))


def _json(response: Any) -> str | None:
    dump = getattr(response, "model_dump_json", None)
    if dump is None:
        return None  # e.g. a raw HTTP response (``with_raw_response``): nothing parsed
    return dump(exclude_unset=True, warnings=False)


def _model(response: Any) -> str | None:
    model = _get(response, "model")
    return model if isinstance(model, str) else None


def read_chat(response: Any) -> tuple[str | None, str | None, Usage | None]:
    return _json(response), _model(response), chat_usage(_get(response, "usage"))


def read_embeddings(response: Any) -> tuple[str | None, str | None, Usage | None]:
    return _json(response), _model(response), chat_usage(_get(response, "usage"))


def read_responses(response: Any) -> tuple[str | None, str | None, Usage | None]:
    return _json(response), _model(response), responses_usage(_get(response, "usage"))


def _dump(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    return dump(exclude_unset=True, warnings=False) if dump is not None else obj


class ChatStream(StreamAccumulator):
    """``chat.completion.chunk`` objects joined into one ``chat.completion`` dict."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: Any = None

    def add(self, chunk: Any) -> bool:
        if not self.head:
            self.head = {"id": _get(chunk, "id"), "created": _get(chunk, "created"),
                         "model": _get(chunk, "model")}
            fingerprint = _get(chunk, "system_fingerprint")
            if fingerprint is not None:
                self.head["system_fingerprint"] = fingerprint
        usage = _get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        produced = False
        for choice in _get(chunk, "choices") or ():
            produced = self._add_choice(choice) or produced
        return produced

    def _add_choice(self, choice: Any) -> bool:
        index = _get(choice, "index") or 0
        state = self.choices.setdefault(index, {"role": "assistant", "text": [],
                                                "refusal": [], "tools": {}, "finish": None})
        finish = _get(choice, "finish_reason")
        if finish is not None:
            state["finish"] = finish
        delta = _get(choice, "delta")
        if delta is None:
            return False
        produced = False
        role = _get(delta, "role")
        if role:
            state["role"] = role
        content = _get(delta, "content")
        if content:
            state["text"].append(content)
            produced = True
        refusal = _get(delta, "refusal")
        if refusal:
            state["refusal"].append(refusal)
            produced = True
        for call in _get(delta, "tool_calls") or ():
            slot = state["tools"].setdefault(_get(call, "index") or 0, {
                "id": None, "type": "function", "function": {"name": "", "arguments": ""}})
            if _get(call, "id"):
                slot["id"] = _get(call, "id")
            function = _get(call, "function")
            if _get(function, "name"):
                slot["function"]["name"] += _get(function, "name")
            if _get(function, "arguments"):
                slot["function"]["arguments"] += _get(function, "arguments")
            produced = True
        return produced

    def result(self) -> tuple[Any, str | None, Usage | None]:
        choices = []
        for index in sorted(self.choices):
            state = self.choices[index]
            message: dict[str, Any] = {"role": state["role"],
                                       "content": "".join(state["text"]) or None}
            if state["refusal"]:
                message["refusal"] = "".join(state["refusal"])
            if state["tools"]:
                message["tool_calls"] = [state["tools"][i] for i in sorted(state["tools"])]
            choices.append({"index": index, "message": message,
                            "finish_reason": state["finish"]})
        outputs: dict[str, Any] = {**self.head, "object": "chat.completion",
                                   "choices": choices}
        if self.usage is not None:
            outputs["usage"] = _dump(self.usage)
        model = self.head.get("model")
        return outputs, model if isinstance(model, str) else None, chat_usage(self.usage)


_RESPONSE_DONE = frozenset({"response.completed", "response.failed", "response.incomplete"})
_OUTPUT_EVENTS = frozenset({"response.output_text.delta", "response.refusal.delta",
                            "response.function_call_arguments.delta",
                            "response.reasoning_summary_text.delta"})


class ResponsesStream(StreamAccumulator):
    """Responses API events: the final response their last event carries."""

    def __init__(self) -> None:
        self.response: Any = None
        self.text: list[str] = []

    def add(self, event: Any) -> bool:
        kind = _get(event, "type")
        if kind in _RESPONSE_DONE or kind == "response.created":
            self.response = _get(event, "response")
        if kind == "response.output_text.delta":
            self.text.append(_get(event, "delta") or "")
        return kind in _OUTPUT_EVENTS

    def result(self) -> tuple[Any, str | None, Usage | None]:
        if self.response is None:
            return ({"output_text": "".join(self.text)} if self.text else None), None, None
        outputs = _dump(self.response)
        if isinstance(outputs, dict) and self.text and _get(self.response, "status") != \
                "completed":
            outputs = {**outputs, "output_text": "".join(self.text)}  # what arrived before
        return (outputs, _model(self.response),
                responses_usage(_get(self.response, "usage")))
