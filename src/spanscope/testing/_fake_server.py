"""The HTTP machinery shared by the fake model providers (``fake_openai``, ``fake_anthropic``).

A fake provider is a ``FakeProvider`` subclass that maps a POST path and its JSON body to
an answer; this module runs the threaded server, the answer script, the request records
and the two ways of answering: one JSON body, or server-sent events written one by one
(chunked transfer encoding), optionally ``chunk_delay`` seconds apart, so a client's time
to first token and its read timeout are real.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Answer", "Events", "FakeProvider", "Reply"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a model reply with ``content``, or an HTTP error.

    ``status`` other than 200 sends the provider's error body (``content`` as its
    message); ``body`` sends these exact bytes instead (a malformed response); ``delay``
    waits this many seconds before answering (added to the server latency).
    ``tool_calls`` (``[{"name": ..., "arguments": {...}}]``) makes the model ask for
    tools; ``usage`` replaces the default token counts (in the provider's own shape);
    ``chunk_delay`` spaces the events of a streamed answer.
    """

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    usage: dict[str, Any] | None = None
    chunk_delay: float = 0.0

    @classmethod
    def error(cls, status: int, message: str = "scripted error", *,
              retry_after: float | None = None, delay: float = 0.0) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": _number(retry_after)}
        return cls(content=message, status=status, headers=headers, delay=delay)


Answer = str | Reply | Callable[[dict[str, Any]], "str | Reply"]


@dataclass(frozen=True)
class Events:
    """A streamed answer: ``(event name or None, JSON data)`` pairs, then ``done`` if set."""

    events: Iterable[tuple[str | None, Any]]
    delay: float = 0.0
    done: str | None = None  # a last ``data:`` line, e.g. OpenAI's ``[DONE]``


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


Route = Callable[[dict[str, Any], Reply], "str | Events"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping at shutdown must not block stop()
    request_queue_size = 128
    fake: FakeProvider


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers do
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed ACK)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and benches read counters, not access logs

    def do_GET(self) -> None:
        fake = self.server.fake
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/_stats"):
            self._send(200, json.dumps(fake.stats()), {})
        elif path.endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [
                {"id": fake.default_model, "object": "model", "owned_by": "spanscope"}]}), {})
        else:
            self._send(404, fake.error_body(404, f"no route GET {self.path}"), {})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = fake.route(self.path.split("?")[0].rstrip("/"))
        if route is None:
            self._send(404, fake.error_body(404, f"no route POST {self.path}"), {})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, fake.error_body(400, "request body is not JSON"), {})
            return
        if not isinstance(body, dict):
            self._send(400, fake.error_body(400, "request body is not a JSON object"), {})
            return
        fake._enter(body, dict(self.headers))
        try:
            reply = fake._answer(body)
            if fake._wait(fake.latency + reply.delay):
                self.close_connection = True  # the server is stopping: drop the connection
                return
            if reply.body is not None:
                self._send(reply.status, reply.body, reply.headers)
            elif reply.status != 200:
                self._send(reply.status, fake.error_body(reply.status, reply.content),
                           reply.headers)
            else:
                answer = route(body, reply)
                if isinstance(answer, Events):
                    self._stream(answer, reply.headers)
                else:
                    self._send(200, answer, reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout)
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

    def _stream(self, answer: Events, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        fake = self.server.fake
        first = True
        for name, data in answer.events:
            if not first and fake._wait(answer.delay):
                self.close_connection = True
                return
            first = False
            text = ("" if name is None else f"event: {name}\n") + f"data: {json.dumps(data)}\n\n"
            self._chunk(text.encode())
        if answer.done is not None:
            self._chunk(f"data: {answer.done}\n\n".encode())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class FakeProvider:
    """A scripted local model provider; use as a context manager or ``start()``/``stop()``.

    Subclasses name their routes (``route``), their error body (``error_body``) and the
    default answer; the rest (script, records, lifecycle) is shared.
    """

    default_model = "fake-model"
    default_answer = "scripted default"
    thread_name = "fake-provider"

    def __init__(self, responder: Answer | None = None, *, latency: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.responder: Answer = responder if responder is not None else self.default_answer
        self.latency = latency
        self._address = (host, port)
        self._lock = threading.Lock()
        self._queue: deque[Answer] = deque()
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- what a provider defines ----------------------------------------------------------
    def route(self, path: str) -> Route | None:
        """The answer builder for a POST ``path``, or None (404)."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> str:
        raise NotImplementedError

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._stopping.clear()
        server = _Server(self._address, _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": 0.05}, name=self.thread_name, daemon=True)
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

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return int(self._server.server_address[1])

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
    def _enter(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """The headers of every request, in arrival order."""
        with self._lock:
            return list(self._headers)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def prompts(self) -> list[str]:
        """The text of all messages of each request, joined (what the model was asked)."""
        return ["\n".join(_text(m.get("content")) for m in body.get("messages") or []
                          if isinstance(m, dict))
                for body in self.requests]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"requests": len(self._requests), "max_in_flight": self._max_in_flight,
                    "in_flight": self._in_flight}

    def reset(self) -> None:
        """Forget recorded requests, counters and queued answers."""
        with self._lock:
            self._requests.clear()
            self._headers.clear()
            self._queue.clear()
            self._max_in_flight = self._in_flight


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, list):
        return "\n".join(str(part.get("text") or "") for part in content
                         if isinstance(part, dict))
    return str(content or "")


def pieces(text: str, size: int = 3) -> list[str]:
    """``text`` cut into pieces of ``size`` words (keeping the spaces), for stream deltas."""
    words = text.split(" ")
    return [" ".join(words[i:i + size]) + (" " if i + size < len(words) else "")
            for i in range(0, len(words), size)] if text else []
