"""A local OpenAI-compatible HTTP server with scripted answers, for tests and benchmarks.

LLM judges talk to providers through the official ``openai`` client; faking the provider
at the HTTP edge (rather than mocking the client) exercises the real client, its
timeouts and its error mapping. The server speaks ``POST /v1/chat/completions`` and
answers from a script:

- ``FakeOpenAI(responder)``: the default answer, used whenever the queue is empty: a
  string (the assistant's message), a ``Reply`` or a callable taking the request body
  (a dict) and returning either;
- ``server.script(a, b, ...)``: a queue of answers, one per request, consumed first.

A ``Reply`` can be an HTTP error (``Reply.error(429, retry_after=0.1)``), a slow answer
(``delay=`` seconds, e.g. beyond the client's timeout) or a raw body. ``latency`` delays
every answer. The server records every request body (``requests``, ``prompts()``) and the
largest number of requests it was serving at once (``max_in_flight``), which is how a
benchmark shows that a thread pool keeps an endpoint busy. ``GET /_stats`` returns those
counts as JSON, for a server running in another process
(``python -m spanscope.testing.fake_openai --latency 0.05``)::

    with FakeOpenAI('{"result": "yes", "rationale": "fine"}', latency=0.01) as server:
        os.environ["OPENAI_BASE_URL"] = server.url      # http://127.0.0.1:PORT/v1
        ...
        assert server.request_count == 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "Reply"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a chat completion with ``content``, or an HTTP error.

    ``status`` other than 200 sends an OpenAI-style error body (``content`` as its
    message); ``body`` sends these exact bytes instead (a malformed response);
    ``delay`` waits this many seconds before answering (added to the server latency).
    """

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: str | None = None

    @classmethod
    def error(cls, status: int, message: str = "scripted error", *,
              retry_after: float | None = None, delay: float = 0.0) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": _number(retry_after)}
        return cls(content=message, status=status, headers=headers, delay=delay)


Answer = str | Reply | Callable[[dict[str, Any]], str | Reply]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping at shutdown must not block stop()
    request_queue_size = 128
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers do
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed ACK)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and benches read counters, not access logs

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/_stats"):
            self._send(200, json.dumps(self.server.fake.stats()), {})
        elif self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [
                {"id": "fake-judge", "object": "model", "owned_by": "spanscope"}]}), {})
        else:
            self._send(404, _error_body(404, f"no route GET {self.path}"), {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, _error_body(404, f"no route POST {self.path}"), {})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, _error_body(400, "request body is not JSON"), {})
            return
        fake = self.server.fake
        fake._enter(body)
        try:
            reply = fake._answer(body)
            if fake._wait(fake.latency + reply.delay):
                self.close_connection = True  # the server is stopping: drop the connection
                return
            if reply.body is not None:
                self._send(reply.status, reply.body, reply.headers)
            elif reply.status != 200:
                self._send(reply.status, _error_body(reply.status, reply.content), reply.headers)
            else:
                self._send(200, _completion(body, reply.content), reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); nothing to answer
        finally:
            fake._leave()

    def _send(self, status: int, text: str, headers: dict[str, str]) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


_ids = itertools.count(1)


def _completion(request: dict[str, Any], content: str) -> str:
    return json.dumps({
        "id": f"chatcmpl-fake-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or "fake-judge",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })


def _error_body(status: int, message: str) -> str:
    kind = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 \
        else "invalid_request_error"
    return json.dumps({"error": {"message": message, "type": kind, "code": str(status)}})


class FakeOpenAI:
    """The server; use as a context manager or call ``start()`` / ``stop()``."""

    def __init__(self, responder: Answer | None = None, *, latency: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.responder: Answer = (responder if responder is not None
                                  else '{"result": "yes", "rationale": "scripted default"}')
        self.latency = latency
        self._address = (host, port)
        self._lock = threading.Lock()
        self._queue: deque[Answer] = deque()
        self._requests: list[dict[str, Any]] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already running")
        self._stopping.clear()
        server = _Server(self._address, _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": 0.05}, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a scripted delay
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL an OpenAI client needs (``OPENAI_BASE_URL``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # --- script ---------------------------------------------------------------------------
    def script(self, *answers: Answer) -> None:
        """Queue answers, one per coming request, before the default responder."""
        with self._lock:
            self._queue.extend(answers)

    def _answer(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            answer = self._queue.popleft() if self._queue else self.responder
        if callable(answer) and not isinstance(answer, Reply):
            answer = answer(body)
        return answer if isinstance(answer, Reply) else Reply(content=str(answer))

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; True when the server is stopping meanwhile."""
        return seconds > 0 and self._stopping.wait(seconds)

    # --- records --------------------------------------------------------------------------
    def _enter(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(body)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat-completion request body received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def prompts(self) -> list[str]:
        """The text of all messages of each request, joined (what the judge was asked)."""
        return ["\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
                for body in self.requests]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"requests": len(self._requests), "max_in_flight": self._max_in_flight,
                    "in_flight": self._in_flight}

    def reset(self) -> None:
        """Forget recorded requests, counters and queued answers."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._max_in_flight = self._in_flight


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
