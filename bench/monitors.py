"""Monitor evaluation at scale: a full cadence of 100 monitors over a large store.

The store is bench/search.py's (N synthetic traces over 30 days, built once and cached;
set ``SPANSCOPE_BENCH_CACHE`` to keep this bench's copy apart, since opening a store
migrates it to this branch's schema). 100 monitors mix every metric family (counts, error
rates, latency and span percentiles, tokens, cost, judge pass rates) over 1h, 6h and 24h
windows and ten filters, all due at once at the end of the data. Printed: the median time
of one pass (``run_monitor_pass``: claim, measure, step, record each evaluation) and the
aggregates it ran, then the same monitors each measured alone (no aggregate shared), the
worst case where every monitor has its own filter.

    SPANSCOPE_BENCH_CACHE=~/.cache/spanscope/bench-monitors python bench/monitors.py \\
        [--sizes 100000,1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from search import sqlite_store
from search_workload import T_END
from spanscope.monitoring.definition import define_monitor
from spanscope.monitoring.metrics import MetricReader
from spanscope.monitoring.runner import run_monitor_pass
from spanscope.store.monitors import open_monitor_store
from spanscope.store.sql import SqlStore

FILTERS = [None, "tags.env = 'prod'", "tags.env = 'staging'", "attributes.state = 'ERROR'",
           "tags.team = 'billing'", "span.type = 'RETRIEVER'", "span.type = 'CHAT_MODEL'",
           "feedback.correctness IS NOT NULL", "tags.env = 'dev' OR tags.team = 'search'",
           "attributes.execution_time_ms > 2000"]
METRICS = ["trace_count", "error_rate", "latency_p95", "latency_p50", "tokens_sum",
           "cost_sum", "assessment_pass_rate:correctness", "assessment_mean:relevance",
           "span_duration_p95", "span_error_rate"]
WINDOWS = ["1h", "6h", "24h"]


def monitors(experiment_id: str) -> list:
    """100 monitors: each metric over ten (filter, window) pairs; span metrics always on
    a span filter."""
    out = []
    for m, metric in enumerate(METRICS):
        for f in range(10):
            filter_string = FILTERS[(f + m) % len(FILTERS)]
            if metric.startswith("span_"):
                filter_string = ("span.type = 'RETRIEVER'" if f % 2 else
                                 "span.type = 'CHAT_MODEL' AND tags.env = 'prod'")
            out.append(define_monitor(
                f"{metric} #{f}", metric, filter_string=filter_string,
                experiment_ids=[experiment_id], window=WINDOWS[f % 3], cadence="1m",
                alert_above=1e12))
    return out


def bench(n: int, repeats: int) -> None:
    uri, experiment_id = sqlite_store(n, rebuild=False)
    defined = monitors(experiment_id)
    with SqlStore(uri) as store, tempfile.TemporaryDirectory() as tmp:
        monitor_store = open_monitor_store(f"sqlite:///{tmp}/monitors.db")
        for monitor in defined:
            monitor_store.create_monitor(monitor, created_ms=T_END - 60_000 * (repeats + 2))
        passes, queries = [], 0
        for i in range(repeats + 1):  # every monitor is due at each minute
            now = T_END - 60_000 * (repeats - i)
            started = time.perf_counter()
            report = run_monitor_pass(store, monitor_store, now_ms=now)
            seconds = time.perf_counter() - started
            assert len(report.evaluated) == len(defined), report.failed
            queries = report.queries
            if i:  # the first pass warms the page cache
                passes.append(seconds)
        alone = []
        for monitor in defined:
            started = time.perf_counter()
            MetricReader(store).measure(monitor, T_END)
            alone.append(time.perf_counter() - started)
        monitor_store.close()
    print(f"{n:,} traces, {len(defined)} monitors:")
    print(f"  one pass (shared aggregates, {queries} queries): "
          f"median {statistics.median(passes):.2f} s over {len(passes)} passes")
    print(f"  each monitor alone: total {sum(alone):.2f} s, median "
          f"{statistics.median(alone) * 1000:.0f} ms, max {max(alone) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        bench(n, args.repeats)


if __name__ == "__main__":
    main()
