"""OTLP ingest throughput: spans/s through POST /v1/traces, Spanscope against MLflow's server.

Usage::

    python bench/otlp_ingest.py [--traces 20000] [--peer-traces 3000] [--concurrency 4]
                                [--postgres postgresql://postgres@127.0.0.1:5432/test]
                                [--no-peer] [--repeat 1] [--baseline-src DIR]

The payload is a stream of 5-span GenAI traces (an ``invoke_agent`` root, a tool call,
two ``chat`` calls with model, token usage and input/output messages, a retrieval) as an
OpenTelemetry SDK exports them: children before their root, cut into protobuf
``ExportTraceServiceRequest`` bodies of 512 spans (so some traces straddle two requests).
Every body is built before the clock starts. ``--concurrency`` client threads post them
(HTTP keep-alive, 503 + Retry-After honoured); the time runs from the first request to
the last 2xx, which on both servers means stored. Then the stored span count is checked;
only stored spans count. Besides spans per wall-clock second, the server's CPU seconds
(its process tree, from /proc) give spans per server CPU-second, a figure that does not
depend on what else the machine is running.

Servers, each started fresh on an empty store in its own process: ``spanscope server``
on SQLite (and on PostgreSQL with ``--postgres``), and MLflow 3.17.2's own
``mlflow server --backend-store-uri sqlite:///...`` from the peer virtualenv
(``python bench/_peer.py``) with ``x-mlflow-experiment-id: 0``. Prints one line per run
and a JSON summary (medians over ``--repeat``).

``--baseline-src DIR`` also runs ``spanscope server`` from another checkout (e.g. a ``git
worktree`` of an older commit) on the same payloads, alternating with this one each
repeat, and prints the ratio of spans per server CPU-second, this checkout's over the
baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

HERE = Path(__file__).resolve().parent
SPANS_PER_REQUEST = 512
PROTOBUF = {"Content-Type": "application/x-protobuf"}


# --- payload -------------------------------------------------------------------------------
def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        any_value = AnyValue()
        any_value.array_value.values.extend(AnyValue(string_value=str(v)) for v in value)
        return KeyValue(key=key, value=any_value)
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _span(trace_id: bytes, span_id: bytes, parent: bytes, name: str, start: int, end: int,
          attributes: dict[str, Any]) -> Span:
    span = Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name,
                kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start,
                end_time_unix_nano=end)
    span.attributes.extend(_kv(k, v) for k, v in attributes.items())
    return span


def trace_spans(rng: random.Random, index: int, now_ns: int) -> list[Span]:
    """One 5-span GenAI trace, children first (the order an exporter sends them)."""
    trace_id = rng.randbytes(16)
    ids = [rng.randbytes(8) for _ in range(5)]
    start = now_ns + index * 1_000_000
    question = f"What is the refund policy for order {index}?"
    user = json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}])
    answer = json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": [
        {"type": "text", "content": f"Orders like {index} can be refunded within 30 days."}]}])

    def chat(n: int, offset: int) -> Span:
        return _span(trace_id, ids[n], ids[0], "chat gpt-4o-mini", start + offset,
                     start + offset + 400_000_000, {
                         "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                         "gen_ai.request.model": "gpt-4o-mini",
                         "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                         "gen_ai.request.temperature": 0.2,
                         "gen_ai.usage.input_tokens": 180 + index % 50,
                         "gen_ai.usage.output_tokens": 40 + index % 20,
                         "gen_ai.response.finish_reasons": ["stop"],
                         "gen_ai.response.id": f"chatcmpl-{index}-{n}",
                         "gen_ai.input.messages": user, "gen_ai.output.messages": answer})

    children = [
        _span(trace_id, ids[1], ids[0], "retrieve documents", start + 1_000_000,
              start + 30_000_000, {"gen_ai.operation.name": "retrieval",
                                   "gen_ai.data_source.id": "kb-main",
                                   "gen_ai.tool.call.arguments": json.dumps({"q": question}),
                                   "gen_ai.tool.call.result": json.dumps(
                                       [f"doc {index}-{k}: refunds within 30 days"
                                        for k in range(3)])}),
        chat(2, 31_000_000),
        _span(trace_id, ids[3], ids[0], "execute_tool lookup_order", start + 432_000_000,
              start + 450_000_000, {"gen_ai.operation.name": "execute_tool",
                                    "gen_ai.tool.name": "lookup_order",
                                    "gen_ai.tool.call.id": f"call_{index}",
                                    "gen_ai.tool.call.arguments": json.dumps({"order": index}),
                                    "gen_ai.tool.call.result": json.dumps({"status": "paid"})}),
        chat(4, 451_000_000),
    ]
    root = _span(trace_id, ids[0], b"", "invoke_agent support", start, start + 900_000_000,
                 {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support",
                  "gen_ai.input.messages": user, "gen_ai.output.messages": answer,
                  "session.id": f"s-{index % 97}", "user.id": f"u-{index % 13}"})
    return [*children, root]


def build_bodies(n_traces: int, seed: int = 0) -> tuple[list[bytes], int]:
    """Protobuf request bodies of 512 spans each, and the number of spans."""
    rng = random.Random(seed)
    now_ns = time.time_ns()
    spans = [s for i in range(n_traces) for s in trace_spans(rng, i, now_ns)]
    bodies = []
    for start in range(0, len(spans), SPANS_PER_REQUEST):
        message = ExportTraceServiceRequest()
        resource_spans = message.resource_spans.add()
        resource_spans.resource.attributes.append(_kv("service.name", "bench-support-agent"))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "bench"
        scope_spans.spans.extend(spans[start:start + SPANS_PER_REQUEST])
        bodies.append(message.SerializeToString())
    return bodies, len(spans)


# --- load ----------------------------------------------------------------------------------
def post_all(url: str, bodies: list[bytes], concurrency: int,
             headers: dict[str, str]) -> dict[str, Any]:
    """Post every body with ``concurrency`` threads; wall time and per-request latencies."""
    work: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        work.put(body)
    latencies: list[float] = []
    failures: list[str] = []
    retries = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal retries
        with httpx.Client(timeout=300, headers={**PROTOBUF, **headers}) as client:
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                began = time.perf_counter()
                outcome = ""
                for _ in range(50):
                    try:
                        response = client.post(url, content=body)
                    except httpx.HTTPError as exc:  # counted, never retried (no duplicates)
                        outcome = f"{type(exc).__name__}: {exc}"
                        break
                    if response.status_code != 503:
                        if response.status_code != 200:
                            outcome = f"{response.status_code} {response.text[:200]}"
                        break
                    with lock:
                        retries += 1
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    if outcome:
                        failures.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    latencies.sort()
    return {"wall_s": wall, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "retries_503": retries, "failures": failures}


# --- servers -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready at {url}")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its descendants.

    Read from /proc: on a machine shared with other work, wall-clock throughput depends
    on the load, while CPU seconds per span do not.
    """
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12]) + int(fields[13])
                             + int(fields[14])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(p, 0.0) for p in tree)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_spanscope(store_uri: str, bodies: list[bytes], concurrency: int,
                  src: Path = HERE.parent / "src") -> dict[str, Any]:
    """One ``spanscope server`` (the code under ``src``) on ``store_uri``, fed ``bodies``."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    process = subprocess.Popen(
        [sys.executable, "-m", "spanscope", "server", "--backend-store-uri", store_uri,
         "--port", str(port), "--no-auth"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base + "/health", process)
        cpu = tree_cpu_seconds(process.pid)
        result = post_all(base + "/v1/traces", bodies, concurrency, {})
        result["server_cpu_s"] = tree_cpu_seconds(process.pid) - cpu
        result["metrics"] = _metrics(httpx.get(base + "/metrics").text)
    finally:
        _stop(process)
    result["stored_traces"] = _spanscope_count(store_uri, "traces")
    result["stored_spans"] = _spanscope_count(store_uri, "spans")
    return result


def _spanscope_count(store_uri: str, table: str) -> int:
    """Rows of ``table``, read without opening a store (which would migrate a baseline's
    older schema)."""
    sys.path.insert(0, str(HERE.parent / "src"))
    import sqlalchemy as sa

    from spanscope.store.sql.engine import create_engine

    engine = create_engine(store_uri)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count())
                                    .select_from(sa.table(table))).scalar())
    finally:
        engine.dispose()


def _metrics(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = int(float(value))
    return out


def run_mlflow(bodies: list[bytes], concurrency: int, workdir: Path) -> dict[str, Any]:
    peer = subprocess.run([sys.executable, str(HERE / "_peer.py")], capture_output=True,
                          text=True, check=True).stdout.strip().splitlines()[-1]
    db = workdir / "mlflow.db"
    port = _free_port()
    process = subprocess.Popen(
        [peer, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
         "--default-artifact-root", str(workdir / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=workdir)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base + "/health", process, timeout=240)
        time.sleep(5)  # let its worker processes finish starting before CPU is counted
        cpu = tree_cpu_seconds(process.pid)
        result = post_all(base + "/v1/traces", bodies, concurrency,
                          {"x-mlflow-experiment-id": "0"})
        result["server_cpu_s"] = tree_cpu_seconds(process.pid) - cpu
    finally:
        _stop(process)
    with sqlite3.connect(db) as conn:
        result["stored_spans"] = conn.execute("select count(*) from spans").fetchone()[0]
        result["stored_traces"] = conn.execute("select count(*) from trace_info").fetchone()[0]
    return result


def _report(label: str, result: dict[str, Any], n_spans: int) -> None:
    stored = min(result["stored_spans"], n_spans)  # only what was really persisted counts
    rate = stored / result["wall_s"]
    result["spans_per_s"] = rate
    result["spans_per_cpu_s"] = stored / result["server_cpu_s"] if result["server_cpu_s"] else 0
    print(f"{label:<22} {rate:>10,.0f} spans/s  {result['spans_per_cpu_s']:>8,.0f} spans per "
          f"server CPU-s  p50 {result['p50_ms']:>7.1f} ms  "
          f"p99 {result['p99_ms']:>7.1f} ms  stored {result['stored_spans']:,}/{n_spans:,} "
          f"spans  503-retries {result['retries_503']}  failures {len(result['failures'])}",
          flush=True)
    for failure in sorted(set(result["failures"]))[:3]:
        print(f"    failure: {failure}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--peer-traces", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--postgres", metavar="URI", help="also run on this PostgreSQL server "
                        "(a fresh database is created on it and dropped after)")
    parser.add_argument("--no-peer", action="store_true", help="skip MLflow's server")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline-src", type=Path, metavar="DIR",
                        help="also run the server from the checkout at DIR, alternating")
    args = parser.parse_args()
    if args.traces > 100_000:
        parser.error("--traces: at most 100,000")

    bodies, n_spans = build_bodies(args.traces)
    peer_bodies, peer_spans = build_bodies(args.peer_traces, seed=1)
    print(f"{args.traces:,} traces = {n_spans:,} spans in {len(bodies)} protobuf requests "
          f"({sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB each); "
          f"concurrency {args.concurrency}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {}
    sides = [("", HERE.parent / "src")]
    if args.baseline_src is not None:
        sides.append((" baseline", args.baseline_src.resolve() / "src"))
    for repeat in range(args.repeat):
        for suffix, src in sides if repeat % 2 == 0 else reversed(sides):
            with tempfile.TemporaryDirectory() as tmp:
                uri = f"sqlite:///{tmp}/spanscope.db"
                result = run_spanscope(uri, bodies, args.concurrency, src)
                _report(f"spanscope sqlite{suffix}", result, n_spans)
                runs.setdefault(f"spanscope_sqlite{suffix.replace(' ', '_')}", []).append(
                    result)
            if args.postgres:
                uri = _fresh_pg_database(args.postgres)
                try:
                    result = run_spanscope(uri, bodies, args.concurrency, src)
                    _report(f"spanscope postgresql{suffix}", result, n_spans)
                    runs.setdefault(f"spanscope_postgresql{suffix.replace(' ', '_')}",
                                    []).append(result)
                finally:
                    _drop_pg_database(args.postgres, uri)
        if not args.no_peer:
            tmp_dir = Path(tempfile.mkdtemp())
            try:
                result = run_mlflow(peer_bodies, args.concurrency, tmp_dir)
                _report("mlflow 3.17.2 sqlite", result, peer_spans)
                runs.setdefault("mlflow_sqlite", []).append(result)
            finally:
                shutil.rmtree(tmp_dir, ignore_errors=True)
    summary: dict[str, Any] = {name: {key: statistics.median(r[key] for r in results)
                      for key in ("spans_per_s", "spans_per_cpu_s", "p50_ms", "p99_ms")}
               for name, results in runs.items()}
    for backend in ("sqlite", "postgresql"):
        ours, theirs = (summary.get(f"spanscope_{backend}{s}") for s in ("", "_baseline"))
        if ours and theirs:
            ratio = ours["spans_per_cpu_s"] / theirs["spans_per_cpu_s"]
            summary[f"vs_baseline_{backend}_per_cpu_s"] = ratio
            print(f"{backend}: spans per server CPU-s {ratio - 1:+.1%} against the baseline "
                  f"(load average {os.getloadavg()[0]:.1f})")
    if "mlflow_sqlite" in summary:
        ours, theirs = summary["spanscope_sqlite"], summary["mlflow_sqlite"]
        summary["speedup_sqlite"] = ours["spans_per_s"] / theirs["spans_per_s"]
        summary["speedup_sqlite_per_cpu_s"] = ours["spans_per_cpu_s"] / theirs["spans_per_cpu_s"]
    print(json.dumps(summary, indent=1))


def _fresh_pg_database(server_uri: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"spanscope_bench_{uuid.uuid4().hex[:10]}"
    url = make_url(server_uri)
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(server_uri: str, uri: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(uri).database
    url = make_url(server_uri).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
