"""``spanscope server`` as users run it: a real uvicorn process on a free port of 127.0.0.1.

Start on an empty store (time to a 200 on /health printed), clean stops on SIGTERM and
SIGINT, in-flight writes finishing during a SIGTERM, ``--workers`` over PostgreSQL and its
refusal over SQLite, auth turned on by a non-loopback host, 413 before a body is sent.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import ServerProcess, free_port, server_env


def test_starts_on_an_empty_store_serves_and_stops_on_sigterm(
        tmp_path: Path, make_trace: Callable[..., dict[str, Any]]) -> None:
    uri = f"sqlite:///{tmp_path}/fresh.db"
    server = ServerProcess(uri).start()
    try:
        print(f"\nstart to /health 200 on an empty SQLite store: "
              f"{server.startup_seconds:.2f} s")
        with server.client() as client:
            assert client.get("/health").json() == {"status": "ok"}
            assert "/api/traces/batch" in client.get("/openapi.json").json()["paths"]
            trace = make_trace()
            assert client.post("/api/traces/batch", json={"traces": [trace]}).status_code == 200
            got = client.get(f"/api/traces/{trace['info']['trace_id']}").json()
            assert got["data"] == trace["data"]
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0, server.output
    assert f"listening on http://127.0.0.1:{server.port}" in server.output
    assert "auth off" in server.output and "stopped" in server.output
    assert "Traceback" not in server.output


def test_sigint_stops_cleanly_too(sqlite_uri: str) -> None:
    server = ServerProcess(sqlite_uri).start()
    assert server.stop(signal.SIGINT) == 0, server.output
    assert "Traceback" not in server.output


def test_sigterm_lets_in_flight_writes_finish(
        sqlite_uri: str, make_trace: Callable[..., dict[str, Any]]) -> None:
    """Big batches are being written when SIGTERM arrives: each request either finishes
    with 200 and its traces stored, or never reached the server; none is cut short."""
    server = ServerProcess(sqlite_uri).start()
    batches = [[make_trace(n_spans=6, payload_chars=2_000) for _ in range(400)]
               for _ in range(4)]
    outcomes: list[tuple[int | None, float]] = [(None, 0.0)] * len(batches)
    sent = threading.Barrier(len(batches) + 1)

    def post(i: int) -> None:
        with server.client() as client:
            sent.wait()
            try:
                status = client.post("/api/traces/batch",
                                     json={"traces": batches[i]}).status_code
            except httpx.TransportError:
                status = None
            outcomes[i] = (status, time.perf_counter())

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    sent.wait()
    time.sleep(0.5)  # the requests are on their way or being written
    stopped_at = time.perf_counter()
    code = server.stop(signal.SIGTERM)
    for thread in threads:
        thread.join()
    assert code == 0, server.output

    from spanscope.store import open_store

    store = open_store(sqlite_uri)
    try:
        stored = set(store.search_trace_ids())
    finally:
        store.close()
    finished_after_sigterm = 0
    for batch, (status, done_at) in zip(batches, outcomes, strict=True):
        ids = {t["info"]["trace_id"] for t in batch}
        assert status in (200, None), outcomes
        if status == 200:
            assert ids <= stored
            finished_after_sigterm += done_at > stopped_at
        else:
            assert not ids & stored
    assert finished_after_sigterm >= 1, outcomes  # a write was in flight and finished


def test_workers_share_one_postgresql_store(pg_uri: str,
                                            make_trace: Callable[..., dict[str, Any]]) -> None:
    with ServerProcess(pg_uri, "--workers", "2") as server:
        traces = [make_trace() for _ in range(40)]

        def post(chunk: list[dict[str, Any]]) -> int:
            with server.client() as client:  # a new connection per chunk: both workers serve
                return client.post("/api/traces/batch", json={"traces": chunk}).status_code

        threads_out: list[int] = []
        threads = [threading.Thread(target=lambda c=c: threads_out.append(post(c)))
                   for c in (traces[i:i + 5] for i in range(0, 40, 5))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert threads_out == [200] * 8
        with server.client() as client:
            found = client.post("/api/traces/search-ids", json={}).json()["trace_ids"]
        assert sorted(found) == sorted(t["info"]["trace_id"] for t in traces)
        assert "2 workers" in server.output or server.proc is not None
    assert server.proc is not None and server.proc.returncode == 0, server.output


def test_workers_over_sqlite_are_refused_with_the_reason(sqlite_uri: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spanscope", "server", "--backend-store-uri", sqlite_uri,
         "--workers", "2", "--port", str(free_port())],
        env=server_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--workers 2 needs a PostgreSQL store: SQLite lets one process write" in (
        result.stderr.replace("\n", " "))


def test_a_non_loopback_host_turns_auth_on_unless_no_auth(sqlite_uri: str) -> None:
    with ServerProcess(sqlite_uri, host="0.0.0.0") as server, server.client() as client:
        assert client.get("/health").status_code == 200
        assert client.get("/api/experiments").status_code == 401
    assert "auth on" in server.output and "no API keys yet" in server.output
    with ServerProcess(sqlite_uri, "--no-auth", host="0.0.0.0") as server, \
            server.client() as client:
        assert client.get("/api/experiments").status_code == 200
    with ServerProcess(sqlite_uri, "--auth") as server, server.client() as client:
        assert client.get("/api/experiments").status_code == 401


def test_a_declared_oversize_body_is_refused_before_it_is_sent(sqlite_uri: str) -> None:
    with ServerProcess(sqlite_uri, "--max-request-mb", "1") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"POST /api/traces/batch HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: 104857600\r\n\r\n")  # 100 MB promised, none sent
            received = b""
            while chunk := sock.recv(65536):  # the server answers and closes
                received += chunk
        answer = received.decode()
        assert answer.startswith("HTTP/1.1 413"), answer
        assert '"error_code":"REQUEST_TOO_LARGE"' in answer


def test_a_store_that_cannot_open_is_one_error_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spanscope", "server", "--backend-store-uri",
         "postgresql://nobody@127.0.0.1:1/none", "--port", str(free_port())],
        env=server_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 6, result.stderr
    assert result.stderr.startswith("Error: cannot open postgresql://nobody@127.0.0.1:1/none")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("uri", ["http://elsewhere:5000"])
def test_a_server_cannot_serve_another_server(uri: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spanscope", "server", "--backend-store-uri", uri],
        env=server_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "needs a database to serve" in result.stderr


def test_redaction_flags_apply_to_rest_writes(
        tmp_path: Path, make_trace: Callable[..., dict[str, Any]]) -> None:
    patterns = tmp_path / "patterns.json"
    patterns.write_text('{"patterns": {"employee": "EMP-[0-9]{6}"}}')
    uri = f"sqlite:///{tmp_path}/redacted.db"
    trace = make_trace(question="mail bob@example.com about EMP-123456", payload_chars=3_000)
    with ServerProcess(uri, "--redact", "emails", "--redact-patterns", str(patterns),
                       "--max-value-chars", "1000") as server, server.client() as client:
        assert client.post("/api/traces/batch", json={"traces": [trace]}).status_code == 200
        stored = client.get(f"/api/traces/{trace['info']['trace_id']}").json()
    text = str(stored)
    assert "bob@example.com" not in text and "EMP-123456" not in text
    assert "[REDACTED:email]" in text and "[REDACTED:employee]" in text
    assert "spanscope: truncated" in text


def test_bad_redaction_options_and_grpc_with_auth_are_refused(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "spanscope", "server", "--backend-store-uri",
             f"sqlite:///{tmp_path}/x.db", "--port", str(free_port()), *args],
            env=server_env(), capture_output=True, text=True, timeout=60)

    unknown = run("--redact", "emails,addresses")
    assert unknown.returncode == 3 and "unknown redaction 'addresses'" in unknown.stderr
    grpc = run("--auth", "--otlp-grpc-port", str(free_port()))
    assert grpc.returncode == 3 and "gRPC receiver does not check API keys" in grpc.stderr


def test_otlp_grpc_port_flag_receives_traces(sqlite_uri: str) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    grpc_port = free_port()
    with ServerProcess(sqlite_uri, "--otlp-grpc-port", str(grpc_port)) as server:
        provider = TracerProvider(resource=Resource.create({"service.name": "grpc-app"}))
        provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)))
        with provider.get_tracer("app").start_as_current_span("root") as root:
            trace_id = "tr-" + format(root.get_span_context().trace_id, "032x")
        provider.shutdown()
        with server.client() as client:
            got = client.get(f"/api/traces/{trace_id}")
        assert got.status_code == 200, got.text
        assert got.json()["info"]["tags"]["mlflow.traceName"] == "root"


def test_a_port_in_use_is_one_error_line(sqlite_uri: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "spanscope", "server", "--backend-store-uri", sqlite_uri,
             "--port", str(port)], env=server_env(), capture_output=True, text=True,
            timeout=120)
    assert result.returncode == 7
    assert result.stderr.strip() == (f"Error: cannot listen on 127.0.0.1:{port}: "
                                     "Address already in use")
