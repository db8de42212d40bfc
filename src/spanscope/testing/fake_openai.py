"""A local OpenAI-compatible HTTP server with scripted answers, for tests and benchmarks.

LLM judges and autologged apps talk to providers through the official ``openai`` client;
faking the provider at the HTTP edge (rather than mocking the client) exercises the real
client, its streaming, its timeouts and its error mapping. The server speaks
``POST /v1/chat/completions`` (plain and streamed as server-sent events, with the usage
chunk when ``stream_options={"include_usage": true}``), ``POST /v1/responses`` (plain and
streamed) and ``POST /v1/embeddings``, and answers from a script:

- ``FakeOpenAI(responder)``: the default answer, used whenever the queue is empty: a
  string (the assistant's message), a ``Reply`` or a callable taking the request body
  (a dict) and returning either;
- ``server.script(a, b, ...)``: a queue of answers, one per request, consumed first.

A ``Reply`` can be an HTTP error (``Reply.error(429, retry_after=0.1)``), a slow answer
(``delay=`` seconds, e.g. beyond the client's timeout), a raw body, tool calls
(``tool_calls=({"name": "search", "arguments": {"q": "x"}},)``), its own ``usage`` dict
or a slow stream (``chunk_delay=``). ``latency`` delays every answer. The server records
every request body (``requests``, ``prompts()``) and the largest number of requests it
was serving at once (``max_in_flight``), which is how a benchmark shows that a thread pool
keeps an endpoint busy. ``GET /_stats`` returns those counts as JSON, for a server running
in another process (``python -m spanscope.testing.fake_openai --latency 0.05``)::

    with FakeOpenAI('{"result": "yes", "rationale": "fine"}', latency=0.01) as server:
        os.environ["OPENAI_BASE_URL"] = server.url      # http://127.0.0.1:PORT/v1
        ...
        assert server.request_count == 3
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from typing import Any

from spanscope.testing._fake_server import Answer, Events, FakeProvider, Reply, pieces

__all__ = ["Answer", "FakeOpenAI", "Reply"]

_ids = itertools.count(1)
DEFAULT_USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
EMBEDDING_DIMENSIONS = 8


def _error_body(status: int, message: str) -> str:
    kind = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 \
        else "invalid_request_error"
    return json.dumps({"error": {"message": message, "type": kind, "code": str(status)}})


def _call_id(index: int) -> str:
    return f"call_fake_{index}"


# --- chat completions ---------------------------------------------------------------------
def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [{"id": call.get("id") or _call_id(i), "type": "function",
             "function": {"name": call["name"],
                          "arguments": json.dumps(call.get("arguments") or {})}}
            for i, call in enumerate(reply.tool_calls)]


def _chat(request: dict[str, Any], reply: Reply) -> str | Events:
    model = request.get("model") or FakeOpenAI.default_model
    usage = reply.usage or DEFAULT_USAGE
    finish = "tool_calls" if reply.tool_calls else "stop"
    ident, created = f"chatcmpl-fake-{next(_ids)}", int(time.time())
    if request.get("stream"):
        return Events(_chat_chunks(request, reply, ident, created, model, usage, finish),
                      delay=reply.chunk_delay, done="[DONE]")
    message: dict[str, Any] = {"role": "assistant",
                               "content": reply.content if not reply.tool_calls else None}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    return json.dumps({
        "id": ident, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": usage})


def _chat_chunks(request: dict[str, Any], reply: Reply, ident: str, created: int, model: str,
                 usage: dict[str, Any], finish: str) -> list[tuple[None, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> tuple[None, Any]:
        return None, {"id": ident, "object": "chat.completion.chunk", "created": created,
                      "model": model, "choices": [{"index": 0, "delta": delta,
                                                   "finish_reason": finish_reason}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if reply.tool_calls:
        for index, call in enumerate(_tool_calls(reply)):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            chunks.append(chunk({"tool_calls": [{
                "index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}]}))
            chunks.append(chunk({"tool_calls": [{
                "index": index, "function": {"arguments": arguments[half:]}}]}))
    else:
        chunks += [chunk({"content": piece}) for piece in pieces(reply.content)]
    chunks.append(chunk({}, finish))
    if (request.get("stream_options") or {}).get("include_usage"):
        chunks.append((None, {"id": ident, "object": "chat.completion.chunk",
                              "created": created, "model": model, "choices": [],
                              "usage": usage}))
    return chunks


# --- responses API ------------------------------------------------------------------------
def _responses_usage(reply: Reply) -> dict[str, Any]:
    if reply.usage is not None:
        return reply.usage
    return {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0}}


def _response_object(request: dict[str, Any], reply: Reply, ident: str, status: str,
                     output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": ident, "object": "response", "created_at": int(time.time()),
            "status": status, "model": request.get("model") or FakeOpenAI.default_model,
            "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
            "tools": request.get("tools") or [], "usage": usage,
            "instructions": request.get("instructions"), "error": None,
            "incomplete_details": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0}


def _response_output(reply: Reply, ident: str) -> list[dict[str, Any]]:
    if reply.tool_calls:
        return [{"type": "function_call", "id": f"fc_{ident}_{i}",
                 "call_id": call.get("id") or _call_id(i), "name": call["name"],
                 "arguments": json.dumps(call.get("arguments") or {}), "status": "completed"}
                for i, call in enumerate(reply.tool_calls)]
    return [{"type": "message", "id": f"msg_{ident}", "role": "assistant",
             "status": "completed",
             "content": [{"type": "output_text", "text": reply.content, "annotations": []}]}]


def _responses(request: dict[str, Any], reply: Reply) -> str | Events:
    ident = f"resp_fake_{next(_ids)}"
    output = _response_output(reply, ident)
    final = _response_object(request, reply, ident, "completed", output,
                             _responses_usage(reply))
    if not request.get("stream"):
        return json.dumps(final)
    events: list[tuple[str | None, Any]] = []
    sequence = itertools.count()

    def event(kind: str, **data: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": next(sequence), **data}))

    event("response.created",
          response=_response_object(request, reply, ident, "in_progress", [], None))
    for index, item in enumerate(output):
        if item["type"] == "message":
            event("response.output_item.added", output_index=index,
                  item={**item, "status": "in_progress", "content": []})
            event("response.content_part.added", item_id=item["id"], output_index=index,
                  content_index=0, part={"type": "output_text", "text": "",
                                         "annotations": []})
            for piece in pieces(reply.content):
                event("response.output_text.delta", item_id=item["id"], output_index=index,
                      content_index=0, delta=piece, logprobs=[])
            event("response.output_text.done", item_id=item["id"], output_index=index,
                  content_index=0, text=reply.content, logprobs=[])
            event("response.content_part.done", item_id=item["id"], output_index=index,
                  content_index=0, part=item["content"][0])
        else:
            event("response.output_item.added", output_index=index,
                  item={**item, "status": "in_progress", "arguments": ""})
            event("response.function_call_arguments.delta", item_id=item["id"],
                  output_index=index, delta=item["arguments"])
        event("response.output_item.done", output_index=index, item=item)
    event("response.completed", response=final)
    return Events(events, delay=reply.chunk_delay)


# --- embeddings ---------------------------------------------------------------------------
def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255 - 0.5, 4) for b in digest[:EMBEDDING_DIMENSIONS]]


def _embeddings(request: dict[str, Any], reply: Reply) -> str:
    texts = request.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    tokens = sum(len(str(t).split()) for t in texts)
    return json.dumps({
        "object": "list", "model": request.get("model") or "fake-embedding",
        "data": [{"object": "embedding", "index": i, "embedding": _vector(str(t))}
                 for i, t in enumerate(texts)],
        "usage": reply.usage or {"prompt_tokens": tokens, "total_tokens": tokens}})


_ROUTES = {"/chat/completions": _chat, "/responses": _responses, "/embeddings": _embeddings}


class FakeOpenAI(FakeProvider):
    """The server; use as a context manager or call ``start()`` / ``stop()``."""

    default_model = "fake-judge"
    default_answer = '{"result": "yes", "rationale": "scripted default"}'
    thread_name = "fake-openai"

    def route(self, path: str) -> Any:
        return next((handler for suffix, handler in _ROUTES.items()
                     if path.endswith(suffix)), None)

    def error_body(self, status: int, message: str) -> str:
        return _error_body(status, message)

    def start(self) -> FakeOpenAI:
        super().start()
        return self

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    @property
    def url(self) -> str:
        """The base URL an OpenAI client needs (``OPENAI_BASE_URL``)."""
        return f"http://127.0.0.1:{self.port}/v1"


def main(argv: list[str] | None = None) -> None:
    """Run a server in the foreground, e.g. for a benchmark in another process."""
    parser = argparse.ArgumentParser(prog="python -m spanscope.testing.fake_openai")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--answer", default='{"result": "yes", "rationale": "fake judge"}')
    args = parser.parse_args(argv)
    server = FakeOpenAI(args.answer, latency=args.latency, port=args.port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
