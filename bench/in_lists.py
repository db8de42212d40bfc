"""Very long ``IN`` lists: ``tags.a IN (...)`` with thousands of values, on SQLite and
PostgreSQL.

Builds a small store (``--traces`` traces, tag ``a`` = ``v<i>``, metadata ``m`` and span
names alike), then times one search per list length and field: the list names every
trace's value once plus as many values that match nothing. Prints the median of
``--repeats`` runs (ms), the traces found and the time parsing the filter text alone
takes, or the error raised instead.

    python bench/in_lists.py [--lengths 1000,10000,40000,70000] [--postgres URI]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from spanscope.entities import Span, Trace, TraceData, TraceInfo
from spanscope.query import parse_filter
from spanscope.store.sql import SqlStore

FIELDS = {"tag": "tags.a", "metadata": "metadata.m", "span name": "span.name",
          "tag NOT IN": "tags.a NOT"}


def build(uri: str, traces: int) -> tuple[SqlStore, str]:
    store = SqlStore(uri)
    experiment_id = store.create_experiment(f"in-lists-{time.time_ns()}")
    batch = []
    for i in range(traces):
        trace_id = f"tr-{i:032x}"
        span = Span.build(trace_id=trace_id, span_id=f"{1:016x}", parent_id=None,
                          name=f"v{i}", start_time_ns=i * 1000, end_time_ns=i * 1000 + 5,
                          span_type="CHAIN")
        batch.append(Trace(TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                                     request_time=1_700_000_000_000 + i, execution_duration=5,
                                     tags={"a": f"v{i}"}, trace_metadata={"m": f"v{i}"}),
                           TraceData([span])))
    store.log_traces(batch)
    if uri.startswith("postgresql"):  # statistics of the fresh rows, as autovacuum would
        with store._engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return store, experiment_id


def run(store: SqlStore, experiment_id: str, lengths: list[int], traces: int,
        repeats: int) -> None:
    for label, field in FIELDS.items():
        for length in lengths:
            values = [f"v{i}" for i in range(traces)] + [f"x{i}" for i in range(length - traces)]
            listed = ", ".join(f"'{v}'" for v in values[:length])
            text = (f"tags.a NOT IN ({listed})" if field.endswith(" NOT")
                    else f"{field} IN ({listed})")
            times, found, error = [], 0, ""
            for _ in range(repeats):
                start = time.perf_counter()
                try:
                    found = len(store.search_trace_ids([experiment_id], filter_string=text,
                                                       max_results=traces + 1))
                except Exception as exc:  # the point is to report it
                    error = f"{type(exc).__name__}: {str(exc)[:70]}"
                    break
                times.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            parse_filter(text)
            parse_ms = (time.perf_counter() - start) * 1000
            result = error or (f"{statistics.median(times):9.1f} ms  found {found:5}  "
                               f"(of which parsing {parse_ms:.0f} ms)")
            print(f"  {label:12} {length:>7,} values  {result}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="1000,10000,40000,70000")
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", metavar="URI", help="also run on this database")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"SQLite, {args.traces:,} traces")
            store, experiment_id = build(f"sqlite:///{Path(tmp) / 'in.db'}", args.traces)
            run(store, experiment_id, lengths, args.traces, args.repeats)
            store.close()
    if args.postgres:
        print(f"PostgreSQL, {args.traces:,} traces")
        store, experiment_id = build(args.postgres, args.traces)
        run(store, experiment_id, lengths, args.traces, args.repeats)
        store.close()


if __name__ == "__main__":
    main()
