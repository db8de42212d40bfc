"""Online scoring throughput: does the worker keep the judge busy?

N finished traces (default 800) in a fresh SQLite file, one online scorer (``Safety``,
sample rate 1) and ``run_online_pass`` with C threads (default 8) against the local fake
OpenAI server (``spanscope.testing.fake_openai``, its own process) answering after a fixed
latency (default 50 ms). Each trace is one judge call, so the ideal is C / latency traces
per second; the goal is at least 80% of it. The timed region is the whole work of the
passes: scanning, claiming, reading each trace, the judge call, writing its assessment
and marking its checkpoint. Prints the median of R repeats (each a new registration over
the same traces) and the ratio to the ideal.

    python bench/online_scoring.py [--traces 800] [--latency 0.05] [--concurrency 8]
                                   [--repeats 3] [--postgres URI] [--writers N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from evaluate import start_fake_openai

T0 = 1_800_000_000_000



def _max_in_flight(url: str) -> int:
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/_stats", timeout=5) as answer:
        return int(json.loads(answer.read())["max_in_flight"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=800)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per judge call")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--writers", type=int, default=None,
                        help="threads storing assessments [default: 1 SQLite, 4 PostgreSQL]")
    parser.add_argument("--postgres", metavar="URI", help="a PostgreSQL database instead")
    args = parser.parse_args()

    url, server = start_fake_openai(args.latency, in_process=False)
    os.environ.update({"OPENAI_BASE_URL": url, "SPANSCOPE_JUDGE_MODEL": "openai:/bench-judge",
                       "SPANSCOPE_JUDGE_MAX_RETRIES": "0"})
    os.environ.pop("OPENAI_API_KEY", None)

    from factories import make_trace
    from spanscope.genai.scorers import Safety
    from spanscope.monitoring.online import OnlineState, run_online_pass
    from spanscope.monitoring.registry import register
    from spanscope.store.online_scorers import changed, open_online_scorer_store
    from spanscope.store.sql import SqlStore

    writers = args.writers or (4 if args.postgres else 1)
    uri = args.postgres or f"sqlite:///{tempfile.mkdtemp(prefix='spanscope-online-')}/b.db"
    store = SqlStore(uri)
    scorers = open_online_scorer_store(uri)
    traces = [make_trace(4, request_time=T0 + i) for i in range(args.traces)]
    for start in range(0, len(traces), 500):
        store.log_traces(traces[start:start + 500])
    now = T0 + args.traces + 120_000
    rates: list[float] = []
    try:
        for repeat in range(args.repeats + 1):  # the first is a warm-up
            register(Safety(), name=f"safety_{repeat}", experiment_id="0", backfill=True,
                     store=scorers)
            state = OnlineState()
            scored = 0
            started = time.perf_counter()
            while True:
                report = run_online_pass(store, scorers=scorers, now_ms=now, state=state,
                                         max_traces=args.traces,
                                         concurrency=args.concurrency, writers=writers)
                scored += report.scored
                if not report.claimed:
                    break
            elapsed = time.perf_counter() - started
            if scored != args.traces:
                raise SystemExit(f"scored {scored} traces, expected {args.traces}")
            done = scorers.get_online_scorer("0", f"safety_{repeat}")
            scorers.save_online_scorer(changed(done, {"active": False}))  # next repeat alone
            if repeat:
                rates.append(scored / elapsed)
        in_flight = _max_in_flight(url)
    finally:
        server.terminate()
        server.wait(timeout=10)
        scorers.close()
        store.close()
    ideal = args.concurrency / args.latency
    median = statistics.median(rates)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"traces {args.traces} ({backend}, {writers} writer{'s' if writers > 1 else ''}), "
          f"concurrency {args.concurrency}, judge latency "
          f"{args.latency * 1000:.0f} ms (server in its own process)")
    print(f"  traces scored/s    {median:.1f} median of {len(rates)} "
          f"({', '.join(f'{r:.1f}' for r in rates)})")
    print(f"  judge calls in flight (most) {in_flight}")
    print(f"  ideal              {ideal:.1f} (concurrency / latency)")
    print(f"  ratio to ideal     {median / ideal:.2f} (goal >= 0.80)")


if __name__ == "__main__":
    main()
