"""Export and import throughput and peak memory over 100k and 1M synthetic traces.

The source is the cached SQLite store of ``bench/search.py`` (5 spans per trace with
inputs and outputs, tags, metadata, feedback on ~30% of traces; built on first use under
``~/.cache/spanscope/bench/``); above 100k traces, that store copied under new trace ids
(``source_store``). For each format, one child process exports every trace to a file
(``spanscope.lifecycle.export.export_traces``), then another imports the file into an
empty SQLite store (``import_files``); each prints traces/s and its peak RSS (the child's
own ``VmHWM``, so one phase's memory does not hide another's). Constant memory shows as
the same peak RSS at 100k and at 1M. ``--source URI`` exports from another store (the
PostgreSQL bench store of ``bench/search.py``, read only); the row then also gives the
traces per CPU-second of the server's backends that served the export. ``--check``
compares 1,000 random traces of the target with the source after the import (100k and
below: a copy's span JSON keeps the ids of the trace it was copied from).
``--no-import`` measures the export alone.

    python bench/export_import.py [--sizes 100000,1000000] [--formats jsonl,parquet,mlflow-json]
                                  [--page-size 500] [--batch-size 2000] [--keep DIR]
                                  [--check] [--no-import] [--source URI]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

EXTENSIONS = {"jsonl": ".jsonl", "parquet": ".parquet", "mlflow-json": ".json"}


def _peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``; ``ru_maxrss`` would carry the parent's peak
    across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _heaps() -> str:
    """What the import's peak RSS is made of, beyond Python: SQLite's own heap (page
    caches, FTS5 buffers; ``sqlite3_memory_used`` and its high-water mark) and pyarrow's
    memory pool. Empty when the sqlite3 module does not export the C symbols."""
    parts = []
    try:
        import _sqlite3
        import ctypes

        lib = ctypes.CDLL(_sqlite3.__file__)
        lib.sqlite3_memory_used.restype = lib.sqlite3_memory_highwater.restype = ctypes.c_int64
        lib.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
        parts.append(f"SQLite heap {lib.sqlite3_memory_used() / 1e6:,.0f} MB (peak "
                     f"{lib.sqlite3_memory_highwater(0) / 1e6:,.0f} MB)")
    except (ImportError, OSError, AttributeError):
        pass
    if "pyarrow" in sys.modules:
        pool = sys.modules["pyarrow"].default_memory_pool()
        parts.append(f"Arrow pool {pool.bytes_allocated() / 1e6:,.0f} MB (peak "
                     f"{pool.max_memory() / 1e6:,.0f} MB)")
    return "".join(f", {part}" for part in parts)


def phase_export(uri: str, path: str, page_size: int) -> dict[str, float]:
    from spanscope.lifecycle.export import export_traces
    from spanscope.store.sql import SqlStore

    started = time.perf_counter()

    def progress(done: int) -> None:  # on stderr, so a run cut short still says something
        if done % 50_000 < page_size:
            print(f"  exported {done:,} traces, {done / (time.perf_counter() - started):,.0f}"
                  f"/s, {done / time.process_time():,.0f} per CPU-s, peak RSS "
                  f"{_peak_rss_mb():,.0f} MB", file=sys.stderr, flush=True)

    with SqlStore(uri) as store:
        backends = _backends(store) if uri.startswith("postgresql") else None
        baseline = _peak_rss_mb()
        cpu = time.process_time()
        report = export_traces(store, path, page_size=page_size, progress=progress)
        cpu = time.process_time() - cpu
        server = None if backends is None else _cpu_seconds(backends)
    return {"traces": report.traces, "seconds": report.seconds, "cpu_seconds": cpu,
            "server_cpu_seconds": server, "peak_rss_mb": _peak_rss_mb(),
            "baseline_rss_mb": baseline, "file_mb": os.path.getsize(path) / 1e6}


def _backends(store: object) -> set[int]:
    """The pids of the PostgreSQL backends the store's connections open from now on
    (psycopg's ``info.backend_pid``, collected as each connection is made)."""
    import sqlalchemy as sa

    engine = store._engine  # type: ignore[attr-defined]
    engine.dispose()  # the connection opening the store made is not the export's
    pids: set[int] = set()
    sa.event.listen(engine, "connect",
                    lambda dbapi_connection, _: pids.add(dbapi_connection.info.backend_pid))
    return pids


def _cpu_seconds(pids: set[int]) -> float | None:
    """CPU seconds the server's processes ``pids`` used (the server runs on this machine:
    its processes are in ``/proc``; None when it does not)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total or None


def phase_import(uri: str, path: str, batch_size: int) -> dict[str, float]:
    from spanscope.lifecycle.importer import import_files
    from spanscope.store.sql import SqlStore

    started = time.perf_counter()

    def progress(_: str, done: int, total: int | None) -> None:
        if done and done % 50_000 < batch_size:
            print(f"  imported {done:,} traces, {done / (time.perf_counter() - started):,.0f}"
                  f"/s, {done / time.process_time():,.0f} per CPU-s, peak RSS "
                  f"{_peak_rss_mb():,.0f} MB{_heaps()}", file=sys.stderr, flush=True)

    with SqlStore(uri) as store:
        baseline = _peak_rss_mb()
        cpu = time.process_time()
        report = import_files(store, [path], batch_size=batch_size, progress=progress)
    return {"traces": report.traces, "seconds": report.seconds,
            "cpu_seconds": time.process_time() - cpu,
            "peak_rss_mb": _peak_rss_mb(), "baseline_rss_mb": baseline}


def check(source_uri: str, target_uri: str, samples: int = 1000) -> int:
    """How many of ``samples`` random traces differ between the stores (0 expected)."""
    from spanscope.store.sql import SqlStore

    with SqlStore(source_uri) as source, SqlStore(target_uri) as target:
        ids = source.search_trace_ids()
        differ = 0
        for trace_id in random.Random(3).sample(ids, min(samples, len(ids))):
            want, got = source.get_trace(trace_id).to_dict(), target.get_trace(trace_id).to_dict()
            for side in (want, got):  # the target store gives the experiment its own id
                side["info"].pop("trace_location")
            differ += want != got
        return differ


SCALE_BASE = 100_000
COPIED = {  # table -> (id columns made unique per copy, as SQL over the source row)
    "traces": {"trace_id": "{tid}"},
    "trace_tags": {"trace_id": "{tid}"},
    "trace_metadata": {"trace_id": "{tid}"},
    "spans": {"trace_id": "{tid}"},
    "assessments": {"trace_id": "{tid}", "assessment_id": "assessment_id || '-{k}'"},
}


def source_store(n: int) -> str:
    """The source store's URI: ``bench/search.py``'s cached store of ``n`` traces when it
    is there (always built for up to 100k); else that of 100k copied n/100k times under
    new ids, in SQL (minutes, where generating a million traces in Python takes an hour
    on a busy machine)."""
    from search import CACHE, FORMAT, sqlite_store

    built = CACHE / f"search-{n}-v{FORMAT}.db"
    if n <= SCALE_BASE or built.with_suffix(".json").exists():  # built by bench/search.py
        return sqlite_store(n, rebuild=False)[0]
    if n % SCALE_BASE:
        raise SystemExit(f"sizes above {SCALE_BASE:,} must be multiples of it")
    base_uri = sqlite_store(SCALE_BASE, rebuild=False)[0]
    base = base_uri.removeprefix("sqlite:///")
    path = CACHE / f"export-scaled-{n}.db"
    if path.exists():
        print(f"reusing {path}")
        return f"sqlite:///{path}"
    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    shutil.copyfile(base, partial)
    with sqlite3.connect(partial) as conn:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"ATTACH DATABASE '{base}' AS src")
        for k in range(1, n // SCALE_BASE):
            tid = f"'tr-c{k}-' || substr(trace_id, 4)"  # no original id has a '-' there
            for table, changed in COPIED.items():
                columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
                select = ", ".join(changed.get(c, c).format(tid=tid, k=k)
                                   if c in changed else f'"{c}"' for c in columns)
                names = ", ".join(f'"{c}"' for c in columns)
                conn.execute(f"INSERT INTO main.{table} ({names}) SELECT {select} "
                             f"FROM src.{table}")
            conn.commit()
            print(f"  copied {(k + 1) * SCALE_BASE:,} of {n:,} traces", flush=True)
        conn.execute("ANALYZE")
    partial.rename(path)
    print(f"built {path} in {time.perf_counter() - started:.0f} s")
    return f"sqlite:///{path}"


def _rates(phase: dict[str, float]) -> str:
    """Traces per second, and per CPU-second of the phase's process (what load hides
    least on a shared machine)."""
    return (f"{phase['traces'] / phase['seconds']:,.0f} "
            f"({phase['traces'] / phase['cpu_seconds']:,.0f})")


def _child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--phase", *args], check=True,
                         stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--formats", default="jsonl,parquet,mlflow-json")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--keep", metavar="DIR", help="Write files and stores here and keep "
                                                      "them. [default: a temporary directory]")
    parser.add_argument("--check", action="store_true",
                        help="Compare 1,000 random imported traces with the source.")
    parser.add_argument("--no-import", action="store_true", help="Export only.")
    parser.add_argument("--source", metavar="URI", help="Export from this store (read "
                        "only), e.g. the PostgreSQL bench store of bench/search.py. "
                        "[default: the SQLite bench store of each size]")
    parser.add_argument("--phase", nargs=4, metavar=("KIND", "URI", "PATH", "SIZE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        kind, uri, path, size = args.phase
        run = phase_export if kind == "export" else phase_import
        print(json.dumps(run(uri, path, int(size))))
        return

    work = Path(args.keep or tempfile.mkdtemp(prefix="spanscope-export-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            source = args.source or source_store(n)
            for fmt in args.formats.split(","):
                path = work / f"traces-{n}{EXTENSIONS[fmt]}"
                target_db = work / f"imported-{n}-{fmt}.db"
                target_db.unlink(missing_ok=True)
                exported = _child("export", source, str(path), str(args.page_size))
                imported = None if args.no_import else _child(
                    "import", f"sqlite:///{target_db}", str(path), str(args.batch_size))
                differ = (check(source, f"sqlite:///{target_db}")
                          if args.check and imported else None)
                rows.append((n, fmt, exported, imported, differ))
                server = exported.get("server_cpu_seconds")
                print(f"{n:>9,} {fmt:<12} export {_rates(exported)}, peak RSS "
                      f"{exported['peak_rss_mb']:>6,.0f} MB, file {exported['file_mb']:>7,.0f} MB"
                      + ("" if server is None else
                         f", server {exported['traces'] / server:,.0f} per CPU-s")
                      + ("" if imported is None else
                         f" | import {_rates(imported)}, peak RSS "
                         f"{imported['peak_rss_mb']:>6,.0f} MB")
                      + ("" if differ is None else f" | {differ} of 1,000 checked differ"),
                      flush=True)
                if not args.keep:
                    path.unlink(missing_ok=True)
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{target_db}{suffix}").unlink(missing_ok=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("| traces | format | export traces/s (per CPU-s) | export peak RSS | file "
          "| import traces/s (per CPU-s) | import peak RSS |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n, fmt, exported, imported, _ in rows:
        print(f"| {n:,} | {fmt} | {_rates(exported)} | {exported['peak_rss_mb']:,.0f} MB | "
              f"{exported['file_mb']:,.0f} MB | "
              + ("- | - |" if imported is None else
                 f"{_rates(imported)} | {imported['peak_rss_mb']:,.0f} MB |"))
    print(f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, page {args.page_size}, "
          f"batch {args.batch_size})")


if __name__ == "__main__":
    main()
