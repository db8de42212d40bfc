"""Retention at scale: delete 10% of a store while other processes search and write.

Takes the synthetic store of ``bench/search.py`` (N traces spread evenly over 30 days,
5 spans each, tags, metadata, assessments; the cached SQLite file, copied so the cache
stays whole), adds one retention rule to its experiment ("keep everything 27 days") and
runs ``apply_retention`` at the workload's end time, which deletes the oldest 10%. Two
reader processes search meanwhile (four filters in turn, ``max_results=100``, info only)
and one writer process logs batches of 10 new traces. Before the pass the same readers and
writer run alone for ``--baseline-s`` seconds. Prints the pass's time and rate, and the
readers' and writer's p50 / p99 / max latency with and without the pass, the pass's CPU
time, and on SQLite the largest the WAL file grew during the pass.

``--unsettled`` also runs the pass (on a second copy) with ``settle_wal`` off, as before it
existed: deletion batches then leave checkpointing to SQLite's automatic PASSIVE one, and
under steady searches the WAL grows by every page the pass changes.

    python bench/retention.py [--sizes 100000,1000000] [--baseline-s 20] [--unsettled]
                              [--workdir DIR]    # where the copy of the cached store goes
                              [--postgres URI]   # also on PostgreSQL: a database of your own
                                                 # (the pass deletes from it)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from search import CACHE, FORMAT, build, postgres_store, sqlite_store
from search_workload import DAY_MS, SPAN_DAYS, T_END
from spanscope.store.sql.engine import WAL_SETTLE_FRAMES as SETTLE_FRAMES

KEEP_DAYS = SPAN_DAYS * 0.9  # the oldest 10% expire at T_END (--expire changes it)
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
    """The cached SQLite store of bench/search.py (FORMAT ``FORMAT``), waiting if another
    run is building it; never built here (``--build`` builds a store of its own)."""
    path = CACHE / f"search-{n}-v{FORMAT}.db"
    marker = path.with_suffix(".json")
    while path.exists() and not marker.exists():
        print(f"waiting for the build of {path} by another run ...", flush=True)
        time.sleep(30)
    if not marker.exists():
        raise SystemExit(f"{path} is not built: run bench/search.py --sizes {n} first, or "
                         "pass --build")
    _, experiment_id = sqlite_store(n, rebuild=False)
    return path, experiment_id


class WalWatch:
    """The largest size the SQLite WAL file reaches while a ``with`` block runs."""

    def __init__(self, uri: str) -> None:
        self.path = Path(uri.removeprefix("sqlite:///") + "-wal")
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, self.path.stat().st_size)

    def __enter__(self) -> WalWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def run_once(uri: str, experiment_id: str, baseline_s: float,
             keep_days: float = KEEP_DAYS) -> dict[str, Any]:
    from spanscope.lifecycle.retention import apply_retention
    from spanscope.store.retention import open_retention_store
    from spanscope.store.sql import SqlStore

    with Load(uri, experiment_id) as baseline:
        time.sleep(baseline_s)
    with SqlStore(uri) as store:
        side = open_retention_store(store)
        for rule in side.list_rules(experiment_id):
            side.delete_rule(rule.rule_id)
        side.add_rule(experiment_id, keep_ms=int(keep_days * DAY_MS), name="bench")
        before = len(store.search_trace_ids([experiment_id]))
        with Load(uri, experiment_id) as during, WalWatch(uri) as wal:
            started, cpu = time.perf_counter(), time.process_time()
            report = apply_retention(store, now_ms=T_END, retention=side,
                                     experiment_ids=[experiment_id])
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        side.close()
    result = {"traces_before": before, "deleted": report.deleted, "seconds": seconds,
              "deleted_per_s": report.deleted / seconds, "pass_cpu_s": cpu,
              "reclaim_s": report.reclaim_seconds,
              "wal_peak_mb": wal.peak / 1e6 if uri.startswith("sqlite") else None,
              "search_baseline": _summary(baseline.read_results),
              "search_during": _summary(during.read_results),
              "write_baseline": _summary(baseline.write_results),
              "write_during": _summary(during.write_results)}
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    wal = "" if result["wal_peak_mb"] is None else f", WAL peak {result['wal_peak_mb']:,.0f} MB"
    print(f"  deleted {result['deleted']:,} of {result['traces_before']:,} traces in "
          f"{result['seconds']:.1f} s ({result['deleted_per_s']:,.0f} traces/s; pass CPU "
          f"{result['pass_cpu_s']:.1f} s{wal}; of the time, VACUUM {result['reclaim_s']:.1f} s)")
    for label in ("search_baseline", "search_during", "write_baseline", "write_during"):
        s = result[label]
        if not s["n"]:
            print(f"  {label:<16} no calls, {s['failures']} failed")
            continue
        print(f"  {label:<16} n={s['n']:<6} p50 {s['p50_ms']:8.1f} ms  p99 {s['p99_ms']:8.1f} ms"
              f"  max {s['max_ms']:8.1f} ms  failed {s['failures']}")


def _sqlite(n: int, args: argparse.Namespace, *, settle: bool = True) -> dict[str, Any]:
    """The pass on a copy of the cached SQLite store (or a fresh build)."""
    from spanscope.store.sql import engine

    report: dict[str, Any] = {}
    label = f"sqlite-{n}" if settle else f"sqlite-{n}-unsettled"
    engine.WAL_SETTLE_FRAMES = SETTLE_FRAMES if settle else 2**62
    copy = Path(args.workdir) / f"spanscope-retention-bench-{os.getpid()}-{n}.db"
    if args.build:
        print(f"\nSQLite, {n:,} traces: building {copy} ...", flush=True)
        experiment_id, seconds = build(f"sqlite:///{copy}", n)
        print(f"built in {seconds:.0f} s", flush=True)
    else:
        source, experiment_id = _source(n)
        print(f"\n{label}: copying {source} ...", flush=True)
        shutil.copyfile(source, copy)
    try:
        report[label] = run_once(f"sqlite:///{copy}", experiment_id,
                                 args.baseline_s, SPAN_DAYS * (1 - args.expire))
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--baseline-s", type=float, default=20.0)
    parser.add_argument("--postgres", metavar="URI", help="also run on this PostgreSQL "
                        "database, a copy of your own (the pass deletes from it); it is "
                        "rebuilt when it does not hold the bench experiment of N traces")
    parser.add_argument("--expire", type=float, default=0.1,
                        help="the oldest fraction that expires (0.1: 100k of 1M)")
    parser.add_argument("--unsettled", action="store_true",
                        help="first run the SQLite pass with settle_wal off, to compare")
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
            if args.unsettled:
                report.update(_sqlite(n, args, settle=False))
            report.update(_sqlite(n, args))
        if args.postgres:
            print(f"\nPostgreSQL, {n:,} traces:", flush=True)
            experiment_id = postgres_store(args.postgres, n, rebuild=False)
            report[f"postgresql-{n}"] = run_once(args.postgres, experiment_id,
                                                 args.baseline_s,
                                                 SPAN_DAYS * (1 - args.expire))
    print("\n" + json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
