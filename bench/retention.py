"""Retention at scale: delete 10% of a store while other processes search and write.

Takes the synthetic store of ``bench/search.py`` (N traces spread evenly over 30 days,
5 spans each, tags, metadata, assessments; the cached SQLite file, copied so the cache
stays whole), adds one retention rule to its experiment ("keep everything 27 days") and
runs ``apply_retention`` at the workload's end time, which deletes the oldest 10%. Two
reader processes search meanwhile (four filters in turn, ``max_results=100``, info only)
and one writer process logs batches of 10 new traces. Before the pass the same readers and
writer run alone for ``--baseline-s`` seconds. Prints the pass's time and rate, and the
readers' and writer's p50 / p99 / max latency with and without the pass.

    python bench/retention.py [--sizes 100000,1000000] [--baseline-s 20]
                              [--postgres URI]   # also on PostgreSQL (the database is rebuilt)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from search import CACHE, FORMAT, build, postgres_store, sqlite_store
from search_workload import DAY_MS, SPAN_DAYS, T_END

KEEP_DAYS = SPAN_DAYS * 0.9  # the oldest 10% expire at T_END
FILTERS = ["attributes.state = 'ERROR'", "tags.env = 'staging'",
           f"trace.timestamp >= {T_END - 10 * DAY_MS} AND trace.timestamp < {T_END - 9 * DAY_MS}",
           "attributes.execution_time_ms > 2000"]


def _reader(uri: str, experiment_id: str, stop: Any, out: Any) -> None:
    from spanscope.store.sql import SqlStore

    latencies, failures = [], 0
    with SqlStore(uri) as store:
        i = 0
        while not stop.is_set():
            started = time.perf_counter()
            try:
                store.search_traces([experiment_id], filter_string=FILTERS[i % len(FILTERS)],
                                    max_results=100, include_spans=False)
                latencies.append((time.perf_counter() - started) * 1000)
            except Exception:  # counted: a reader must never fail
                failures += 1
            i += 1
    out.put({"latencies": latencies, "failures": failures})


def _writer(uri: str, experiment_id: str, stop: Any, out: Any) -> None:
    from factories import make_trace
    from spanscope.store.sql import SqlStore

    latencies, failures = [], 0
    with SqlStore(uri) as store:
        while not stop.is_set():
            batch = [make_trace(3, request_time=T_END + 1000, experiment_id=experiment_id)
                     for _ in range(10)]
            started = time.perf_counter()
            try:
                store.log_traces(batch)
                latencies.append((time.perf_counter() - started) * 1000)
            except Exception:
                failures += 1
            time.sleep(0.05)
    out.put({"latencies": latencies, "failures": failures})


def _summary(results: list[dict[str, Any]]) -> dict[str, float]:
    values = sorted(v for r in results for v in r["latencies"])
    if not values:
        return {"n": 0, "failures": sum(r["failures"] for r in results)}
    return {"n": len(values), "failures": sum(r["failures"] for r in results),
            "p50_ms": statistics.median(values),
            "p99_ms": values[min(len(values) - 1, int(0.99 * len(values)))],
            "max_ms": values[-1]}


class Load:
    """Readers and a writer in their own processes, while a ``with`` block runs."""

    def __init__(self, uri: str, experiment_id: str, readers: int = 2) -> None:
        context = mp.get_context("spawn")
        self.stop = context.Event()
        self.reads, self.writes = context.Queue(), context.Queue()
        self.procs = [context.Process(target=_reader, args=(uri, experiment_id, self.stop,
                                                            self.reads))
                      for _ in range(readers)]
        self.procs.append(context.Process(target=_writer, args=(uri, experiment_id, self.stop,
                                                                self.writes)))

    def __enter__(self) -> Load:
        for proc in self.procs:
            proc.start()
        time.sleep(3)  # the processes import and open their stores
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.read_results = [self.reads.get(timeout=120) for _ in self.procs[:-1]]
        self.write_results = [self.writes.get(timeout=120)]
        for proc in self.procs:
            proc.join(60)


def _source(n: int) -> tuple[Path, str]:
    """The cached SQLite store of bench/search.py, waiting if another run is building it."""
    path = CACHE / f"search-{n}-v{FORMAT}.db"
    marker = path.with_suffix(".json")
    while path.exists() and not marker.exists():
        print(f"waiting for the build of {path} by another run ...", flush=True)
        time.sleep(30)
    _, experiment_id = sqlite_store(n, rebuild=False)
    return path, experiment_id


def run_once(uri: str, experiment_id: str, baseline_s: float) -> dict[str, Any]:
    from spanscope.lifecycle.retention import apply_retention
    from spanscope.store.retention import open_retention_store
    from spanscope.store.sql import SqlStore

    with Load(uri, experiment_id) as baseline:
        time.sleep(baseline_s)
    with SqlStore(uri) as store:
        side = open_retention_store(store)
        for rule in side.list_rules(experiment_id):
            side.delete_rule(rule.rule_id)
        side.add_rule(experiment_id, keep_ms=int(KEEP_DAYS * DAY_MS), name="bench")
        before = len(store.search_trace_ids([experiment_id]))
        with Load(uri, experiment_id) as during:
            started = time.perf_counter()
            report = apply_retention(store, now_ms=T_END, retention=side,
                                     experiment_ids=[experiment_id])
            seconds = time.perf_counter() - started
        side.close()
    result = {"traces_before": before, "deleted": report.deleted, "seconds": seconds,
              "deleted_per_s": report.deleted / seconds,
              "search_baseline": _summary(baseline.read_results),
              "search_during": _summary(during.read_results),
              "write_baseline": _summary(baseline.write_results),
              "write_during": _summary(during.write_results)}
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"  deleted {result['deleted']:,} of {result['traces_before']:,} traces in "
          f"{result['seconds']:.1f} s ({result['deleted_per_s']:,.0f} traces/s)")
    for label in ("search_baseline", "search_during", "write_baseline", "write_during"):
        s = result[label]
        if not s["n"]:
            print(f"  {label:<16} no calls, {s['failures']} failed")
            continue
        print(f"  {label:<16} n={s['n']:<6} p50 {s['p50_ms']:8.1f} ms  p99 {s['p99_ms']:8.1f} ms"
              f"  max {s['max_ms']:8.1f} ms  failed {s['failures']}")


def _sqlite(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The pass on a copy of the cached SQLite store (or a fresh build)."""
    report: dict[str, Any] = {}
    copy = Path(args.workdir) / f"spanscope-retention-bench-{os.getpid()}-{n}.db"
    if args.build:
        print(f"\nSQLite, {n:,} traces: building {copy} ...", flush=True)
        experiment_id, seconds = build(f"sqlite:///{copy}", n)
        print(f"built in {seconds:.0f} s", flush=True)
    else:
        source, experiment_id = _source(n)
        print(f"\nSQLite, {n:,} traces: copying {source} ...", flush=True)
        shutil.copyfile(source, copy)
    try:
        report[f"sqlite-{n}"] = run_once(f"sqlite:///{copy}", experiment_id,
                                         args.baseline_s)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--baseline-s", type=float, default=20.0)
    parser.add_argument("--postgres", metavar="URI", help="also run on this PostgreSQL "
                        "database (emptied and rebuilt: the pass deletes from it)")
    parser.add_argument("--workdir", default=tempfile.gettempdir(),
                        help="where the copy of the cached store goes")
    parser.add_argument("--build", action="store_true",
                        help="build a fresh store in --workdir instead of copying the cache "
                             "of bench/search.py (when that cache is missing or being built)")
    parser.add_argument("--skip-sqlite", action="store_true",
                        help="only PostgreSQL (with --postgres)")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        if not args.skip_sqlite:
            report.update(_sqlite(n, args))
        if args.postgres:
            print(f"\nPostgreSQL, {n:,} traces:", flush=True)
            experiment_id = postgres_store(args.postgres, n, rebuild=True)
            report[f"postgresql-{n}"] = run_once(args.postgres, experiment_id,
                                                 args.baseline_s)
    print("\n" + json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
