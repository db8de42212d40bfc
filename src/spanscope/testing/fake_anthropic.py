"""A local Anthropic-compatible HTTP server with scripted answers, for tests and benchmarks.

The twin of ``fake_openai`` for the official ``anthropic`` client: ``POST /v1/messages``,
plain or streamed as Anthropic's server-sent events (``message_start``,
``content_block_*``, ``message_delta``, ``message_stop``), with tool use, usage
including cache read and creation tokens, Anthropic-shaped errors (429, 500, 529 ...)
and slow answers. Scripting (``responder``, ``script``, ``Reply``) and the request
records are ``fake_openai``'s::

    with FakeAnthropic("Refunds take 5 days.") as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="test")
        client.messages.create(model="claude-x", max_tokens=100, messages=[...])
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from spanscope.testing._fake_server import Answer, Events, FakeProvider, Reply, pieces

__all__ = ["Answer", "FakeAnthropic", "Reply"]

_ids = itertools.count(1)
DEFAULT_USAGE = {"input_tokens": 12, "output_tokens": 6, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 529: "overloaded_error"}


def _error_body(status: int, message: str) -> str:
    kind = _ERROR_TYPES.get(status, "api_error")
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}})


def _content(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.content:
        blocks.append({"type": "text", "text": reply.content})
    for i, call in enumerate(reply.tool_calls):
        blocks.append({"type": "tool_use", "id": call.get("id") or f"toolu_fake_{i}",
                       "name": call["name"], "input": call.get("arguments") or {}})
    return blocks


def _messages(request: dict[str, Any], reply: Reply) -> str | Events:
    usage = {**DEFAULT_USAGE, **(reply.usage or {})}
    message = {"id": f"msg_fake_{next(_ids)}", "type": "message", "role": "assistant",
               "model": request.get("model") or FakeAnthropic.default_model,
               "content": _content(reply),
               "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
               "stop_sequence": None, "usage": usage}
    if not request.get("stream"):
        return json.dumps(message)
    return Events(_stream(message, reply), delay=reply.chunk_delay)


def _stream(message: dict[str, Any], reply: Reply) -> list[tuple[str, Any]]:
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    events: list[tuple[str, Any]] = [("message_start", {
        "type": "message_start",
        "message": {**message, "content": [], "stop_reason": None, "usage": start_usage}})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(("content_block_start", {
                "type": "content_block_start", "index": index,
                "content_block": {"type": "text", "text": ""}}))
            events += [("content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": piece}})
                for piece in pieces(reply.content)]
        else:
            events.append(("content_block_start", {
                "type": "content_block_start", "index": index,
                "content_block": {**block, "input": {}}}))
            arguments = json.dumps(block["input"])
            half = len(arguments) // 2
            events += [("content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": part}})
                for part in (arguments[:half], arguments[half:])]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


class FakeAnthropic(FakeProvider):
    """The server; use as a context manager or call ``start()`` / ``stop()``."""

    default_model = "claude-fake"
    default_answer = "scripted default"
    thread_name = "fake-anthropic"

    def route(self, path: str) -> Any:
        return _messages if path.endswith("/messages") else None

    def error_body(self, status: int, message: str) -> str:
        return _error_body(status, message)

    def start(self) -> FakeAnthropic:
        super().start()
        return self

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    @property
    def url(self) -> str:
        """The base URL an Anthropic client needs (``ANTHROPIC_BASE_URL``)."""
        return f"http://127.0.0.1:{self.port}"
