"""REST search latency: the search benchmark's queries through a real ``spanscope server``.

Builds (or reuses) the synthetic store of ``bench/search.py`` in its own cache file, starts
``spanscope server`` over it on a free port of 127.0.0.1, and reports for each query the
median latency of ``POST /api/traces/search`` (``max_results=100``, with and without
spans; one pooled HTTP client, the response parsed as JSON) next to the same query on the
store in-process, so the column difference is what HTTP, JSON encoding and the server add.
The store file is migrated to this checkout's schema, so give branches their own cache
(``SPANSCOPE_BENCH_CACHE``).

    SPANSCOPE_BENCH_CACHE=/tmp/bench python bench/rest_search.py [--sizes 100000]
                                                                 [--repeats 7] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import httpx

from search import QUERIES, median_ms, sqlite_store, time_queries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(uri: str, *options: str) -> tuple[subprocess.Popen[str], str]:
    """A ``spanscope server`` on ``uri`` (with ``options``) and its address, once healthy."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPANSCOPE_")}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "spanscope", "server", "--backend-store-uri",
                             uri, "--port", str(port), *options], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the server did not start: {proc.communicate()[1]}")


def time_rest(url: str, experiment_id: str, repeats: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        for label, filter_string, order_by in QUERIES:
            row: dict[str, float] = {}
            for key, include_spans in (("no_spans", False), ("spans", True)):
                body = {"experiment_ids": [experiment_id], "filter_string": filter_string,
                        "order_by": order_by, "max_results": 100,
                        "include_spans": include_spans}

                def run(body: dict[str, Any] = body) -> int:
                    response = client.post("/api/traces/search", json=body)
                    response.raise_for_status()
                    return len(response.json()["traces"])

                row[key] = median_ms(run, repeats)
                row["found"] = run()
            results[label] = row
        ids = client.post("/api/traces/search-ids", json={
            "experiment_ids": [experiment_id], "max_results": 1000}).json()["trace_ids"]
        picks = iter(ids * (repeats + 2))
        results["get_trace"] = {"spans": median_ms(
            lambda: client.get(f"/api/traces/{next(picks)}").raise_for_status(), repeats),
            "found": 1}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated store sizes")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        uri, experiment_id = sqlite_store(n, args.rebuild)
        local = time_queries(uri, experiment_id, args.repeats)
        proc, url = start_server(uri)
        try:
            rest = time_rest(url, experiment_id, args.repeats)
        finally:
            proc.terminate()
            proc.wait(60)
        print(f"\n{n:,} traces, SQLite: median ms over {args.repeats} repeats, "
              "max_results=100")
        print(f"{'query':<26}{'store info':>12}{'REST info':>12}{'store +spans':>14}"
              f"{'REST +spans':>13}{'found':>7}")
        for label in rest:
            a, b = local[label], rest[label]
            info = (f"{a['no_spans']:>12.2f}{b['no_spans']:>12.2f}" if "no_spans" in b
                    else f"{'-':>12}{'-':>12}")
            print(f"{label:<26}{info}{a['spans']:>14.2f}{b['spans']:>13.2f}"
                  f"{int(b['found']):>7}")
        report[f"{n // 1000}k"] = {"store": local, "rest": rest}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
