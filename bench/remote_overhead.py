"""Remote tracking: per-span overhead with an ``http://`` tracking URI against a local
SQLite file, and a burst of traces arriving complete at the server.

Overhead per span = (time of N traced 3-level calls - time of N untraced calls) / (3 N),
as ``bench/overhead.py`` measures it, in two clocks: wall time of the calls (what the app
waits; export runs in the background and each batch is flushed outside the timed region)
and the app process's CPU time up to the end of the flush (what tracing and exporting cost
the app in all, the background thread included). Local and remote repeats alternate so
that machine noise hits both alike.

The server is a real ``spanscope server`` subprocess on 127.0.0.1 (SQLite store, or
``--backend-store-uri``). In production it runs on another machine; here it shares the
box, so by default (with 2+ CPUs) the server is pinned to the last CPU and this process to
the others, so the server's own work does not count as the app's overhead
(``--no-pin`` to share every CPU). A third mode sends to a sink: a minimal HTTP server
in another process that reads each batch and acknowledges it without storing anything, so
the figure is the client's own cost of remote export, free of the server's work competing
for this machine's CPUs. The burst: ``--burst`` traces made as fast as the app
can, then ``flush`` (which returns once the server acknowledged the last batch); every
trace must be on the server and none dropped.

    python bench/remote_overhead.py [--calls 2000] [--repeats 7] [--burst 2000]
                                    [--backend-store-uri postgresql://…] [--no-pin]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx

import spanscope
from overhead import _time_calls, _traced, _untraced
from spanscope import tracking
from spanscope.tracing import get_export_stats


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(store_uri: str, cpus: set[int] | None = None,
                 ) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ)
    env.pop("SPANSCOPE_TRACKING_URI", None)
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    proc = subprocess.Popen([sys.executable, "-m", "spanscope", "server", "--backend-store-uri",
                             store_uri, "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=pin)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"spanscope server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("spanscope server did not become healthy in 60 s")


SINK = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"trace_ids":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def start_sink(cpus: set[int] | None) -> tuple[subprocess.Popen[str], str]:
    """A process acknowledging trace batches without storing them (see the module doc)."""
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    proc = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True,
                            preexec_fn=pin)
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{proc.stdout.readline().strip()}"


def overhead(uri: str, calls: int, plain: object, traced: object) -> tuple[float, float]:
    """µs of overhead per span of one repeat, traces going to ``uri``: (wall, CPU)."""
    spanscope.set_tracking_uri(uri)
    cpu = time.process_time_ns()
    base = _time_calls(plain, calls)
    base_cpu = time.process_time_ns() - cpu
    cpu = time.process_time_ns()
    with_tracing = _time_calls(traced, calls)
    assert spanscope.flush(timeout=120), get_export_stats()
    traced_cpu = time.process_time_ns() - cpu
    spans = calls * 3
    return (with_tracing - base) / spans / 1000, (traced_cpu - base_cpu) / spans / 1000


def _line(label: str, figures: list[float]) -> str:
    return (f"{label}: {statistics.median(figures):.1f} µs per span (median of "
            f"{len(figures)}; all: {', '.join(f'{x:.1f}' for x in figures)})")


def burst(url: str, count: int) -> dict[str, float]:
    """Make ``count`` traces at once into a new experiment; check they all arrived."""
    spanscope.set_tracking_uri(url)
    experiment_id = spanscope.set_experiment(f"burst-{time.time_ns()}")
    traced = _traced()
    dropped_before = get_export_stats()["dropped"]
    start = time.perf_counter()
    for i in range(count):
        traced(i)
    made = time.perf_counter() - start
    assert spanscope.flush(timeout=300), get_export_stats()
    acknowledged = time.perf_counter() - start
    stored = len(tracking.get_store().search_trace_ids([experiment_id]))
    return {"traces": count, "stored": stored,
            "dropped": get_export_stats()["dropped"] - dropped_before,
            "make_s": made, "acknowledged_s": acknowledged,
            "traces_per_s": count / acknowledged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--backend-store-uri", default=None,
                        help="the server's store [default: a new SQLite file]")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the server and this process share every CPU")
    args = parser.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = None
    if not args.no_pin and len(cpus) >= 2:
        server_cpus = {cpus[-1]}
        os.sched_setaffinity(0, set(cpus[:-1]))
        print(f"server pinned to CPU {cpus[-1]}, this process to CPU(s) {cpus[:-1]}")
    work = tempfile.mkdtemp(prefix="spanscope-remote-bench-")
    local = f"sqlite:///{work}/local.db"
    proc, remote = start_server(args.backend_store_uri or f"sqlite:///{work}/server.db",
                                server_cpus)
    sink_proc, sink = start_sink(server_cpus)
    modes = {"local  (SQLite file)": local, "remote (http server)": remote,
             "remote (null sink)  ": sink}
    try:
        plain, traced = _untraced(), _traced()
        for uri in modes.values():  # warm-up: provider, stores, migrations, connections
            spanscope.set_tracking_uri(uri)
            for i in range(200):
                traced(i)
            assert spanscope.flush(timeout=60)
        runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
        for _ in range(args.repeats):
            for mode, uri in modes.items():
                runs[mode].append(overhead(uri, args.calls, plain, traced))
        figures: dict[str, dict[str, float]] = {}
        for clock, i in (("wall", 0), ("cpu", 1)):
            medians = {}
            for mode, values in runs.items():
                print(_line(f"{clock:4} {mode}", [v[i] for v in values]))
                medians[mode.split()[0] + ("_sink" if "sink" in mode else "")] = (
                    statistics.median(v[i] for v in values))
            for other in ("remote", "remote_sink"):
                ratio = medians[other] / medians["local"]
                print(f"{clock:4} {other} / local: {ratio:.3f} (goal: within 1.10)")
                medians[f"{other}_ratio"] = ratio
            figures[clock] = medians
        burst_result = burst(remote, args.burst)
        print(f"burst: {burst_result['traces']} traces made in {burst_result['make_s']:.2f} s, "
              f"acknowledged after {burst_result['acknowledged_s']:.2f} s "
              f"({burst_result['traces_per_s']:.0f} traces/s); stored "
              f"{burst_result['stored']}, dropped {burst_result['dropped']}")
        print(json.dumps({**figures, "burst": burst_result}))
        if burst_result["stored"] != args.burst or burst_result["dropped"]:
            raise SystemExit("the burst did not arrive complete")
    finally:
        spanscope.set_tracking_uri(None)
        tracking.reset()
        for child in (proc, sink_proc):
            child.terminate()
            child.wait(30)


if __name__ == "__main__":
    main()
