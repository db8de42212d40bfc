"""RestStore's HTTP boundary and the exporter's wait for an unavailable store.

No Spanscope server here: a refused connection on a free port, and a small real HTTP
server (``http.server``) answering what a proxy or a saturated server answers, so every
error path of the client is exercised over real sockets.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from remote_server import free_port

from factories import make_trace
from spanscope import tracking
from spanscope.entities import Trace
from spanscope.exceptions import (
    FilterError,
    InvalidUriError,
    PermissionDeniedError,
    StorageFullError,
    StoreError,
    StoreUnavailableError,
    UnauthenticatedError,
)
from spanscope.store import open_store, wire
from spanscope.store.rest import RestStore
from spanscope.tracing.exporter import TraceExporter


class Canned(BaseHTTPRequestHandler):
    """Answers every request with ``server.reply`` and records what it received."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        status, headers, payload = self.server.reply  # type: ignore[attr-defined]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.reply = (200, {}, {})  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url_of(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def test_http_uris_open_a_rest_store(monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store("http://127.0.0.1:9/")
    assert isinstance(store, RestStore) and store.uri == "http://127.0.0.1:9"
    assert isinstance(open_store("https://spanscope.example.com"), RestStore)
    monkeypatch.setenv("SPANSCOPE_TRACKING_URI", "http://127.0.0.1:9")
    assert isinstance(tracking.get_store(), RestStore)
    with pytest.raises(InvalidUriError):
        RestStore("http://")


def test_unreachable_server_is_unavailable() -> None:
    store = RestStore(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="unreachable") as info:
        store.get_trace("tr-1")
    assert info.value.retry_after is None
    assert time.monotonic() - started < 5
    with pytest.raises(StoreUnavailableError):
        store.log_traces([make_trace()])


def test_api_key_is_sent_as_bearer(canned: ThreadingHTTPServer,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANSCOPE_API_KEY", "sk-test-123")
    canned.reply = (200, {}, {"experiments": []})  # type: ignore[attr-defined]
    assert RestStore(url_of(canned)).list_experiments() == []
    _, path, headers, _ = canned.seen[-1]  # type: ignore[attr-defined]
    assert path == "/api/experiments"
    assert headers["Authorization"] == "Bearer sk-test-123"
    monkeypatch.delenv("SPANSCOPE_API_KEY")
    RestStore(url_of(canned)).list_experiments()
    assert "Authorization" not in canned.seen[-1][2]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("status", "headers", "body", "error", "retry_after"), [
    (401, {}, {"error_code": "UNAUTHENTICATED", "message": "an API key is required"},
     UnauthenticatedError, None),
    (403, {}, {"error_code": "PERMISSION_DENIED", "message": "viewer"},
     PermissionDeniedError, None),
    (429, {"Retry-After": "4"}, {"error_code": "RESOURCE_EXHAUSTED", "message": "slow down"},
     StoreUnavailableError, 4.0),
    (503, {"Retry-After": "2"}, b"<html>Service Unavailable</html>",
     StoreUnavailableError, 2.0),
    (502, {}, b"Bad Gateway", StoreUnavailableError, None),
    (507, {}, b"<html>Insufficient Storage</html>", StorageFullError, None),  # a proxy's
])
def test_error_responses_raise_their_exception(canned: ThreadingHTTPServer, status: int,
                                               headers: dict[str, str], body: Any,
                                               error: type, retry_after: float | None) -> None:
    canned.reply = (status, headers, body)  # type: ignore[attr-defined]
    with pytest.raises(error) as info:
        RestStore(url_of(canned)).search_traces(["0"])
    if retry_after is not None:
        assert info.value.retry_after == retry_after


def test_storage_full_is_a_store_error_that_round_trips_the_wire() -> None:
    full = StorageFullError("the store is 97.0% full", storage={"level": "full",
                                                                 "percent": 97.0})
    status, body, _ = wire.error_response(full)
    assert status == 507 and body["error_code"] == "INSUFFICIENT_STORAGE"
    back = wire.error_from_response(status, json.loads(wire.dumps(body)))
    assert type(back) is StorageFullError and isinstance(back, StoreError)
    assert str(back) == str(full) and back.storage == full.storage


def test_bad_filter_keeps_its_position(canned: ThreadingHTTPServer) -> None:
    canned.reply = (400, {}, {  # type: ignore[attr-defined]
        "error_code": "BAD_FILTER", "message": "unknown identifier 'colour' at 0",
        "filter_string": "colour = 'red'", "position": 0, "token": "colour"})
    with pytest.raises(FilterError) as info:
        RestStore(url_of(canned)).search_traces(["0"], filter_string="colour = 'red'")
    assert (info.value.position, info.value.token) == (0, "colour")
    method, path, _, sent = canned.seen[-1]  # type: ignore[attr-defined]
    assert (method, path) == ("POST", "/api/traces/search")
    assert json.loads(sent)["filter_string"] == "colour = 'red'"


# --- the exporter's wait for an unavailable store ---------------------------------------------
class FlakyWriter:
    """Fails with ``StoreUnavailableError`` for the first ``failures`` calls."""

    def __init__(self, failures: int, retry_after: float | None = None) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.calls: list[float] = []
        self.written: list[str] = []

    def __call__(self, uri: str, traces: Sequence[Trace]) -> None:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise StoreUnavailableError("server restarting", retry_after=self.retry_after)
        self.written += [t.info.trace_id for t in traces]


def test_exporter_waits_out_an_unavailable_store_beyond_max_retries() -> None:
    writer = FlakyWriter(failures=8)
    exporter = TraceExporter(writer=writer, convert=lambda t: t, max_retries=1,
                             retry_backoff=0.01)
    traces = [make_trace(1) for _ in range(20)]
    for trace in traces:
        assert exporter.enqueue(trace)
    assert exporter.flush(timeout=30)
    assert sorted(writer.written) == sorted(t.info.trace_id for t in traces)
    stats = exporter.stats()
    assert stats["dropped"] == 0 and stats["exported"] == 20
    gaps = [b - a for a, b in itertools.pairwise(writer.calls)]
    assert gaps[5] > gaps[0]  # backing off
    exporter.shutdown(1)


def test_exporter_honours_retry_after() -> None:
    writer = FlakyWriter(failures=1, retry_after=0.6)
    exporter = TraceExporter(writer=writer, convert=lambda t: t, retry_backoff=0.01)
    exporter.enqueue(make_trace(1))
    assert exporter.flush(timeout=30)
    assert writer.calls[1] - writer.calls[0] >= 0.6
    exporter.shutdown(1)


def test_exporter_counts_what_the_full_queue_drops_while_waiting() -> None:
    writer = FlakyWriter(failures=10**9)
    exporter = TraceExporter(writer=writer, convert=lambda t: t, capacity=5, batch_size=2,
                             retry_backoff=0.01)
    accepted = sum(exporter.enqueue(make_trace(1)) for _ in range(20))
    assert not exporter.flush(timeout=0.5)  # not acknowledged: the store is away
    stats = exporter.stats()
    assert stats["dropped"] == 20 - accepted > 0
    assert stats["exported"] == 0
    exporter.shutdown(0.1)  # shutdown ends the wait; what was held is dropped and counted
    deadline = time.monotonic() + 5
    while exporter.stats()["dropped"] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert exporter.stats()["dropped"] + exporter.stats()["queue_depth"] == 20


def test_a_success_that_is_not_json_is_a_store_error(canned: ThreadingHTTPServer) -> None:
    canned.reply = (200, {}, b"<html>captive portal</html>")  # type: ignore[attr-defined]
    with pytest.raises(StoreError, match="not JSON"):
        RestStore(url_of(canned)).list_experiments()


def test_a_closed_store_says_so(canned: ThreadingHTTPServer) -> None:
    store = RestStore(url_of(canned))
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_experiments()
