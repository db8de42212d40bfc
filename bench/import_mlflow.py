"""Importing an MLflow store: traces per second from an MLflow 3.17.2 database into Spanscope.

The source is an MLflow SQLite store of ``--traces`` three-span traces (every tenth with a
feedback) written by the real ``mlflow==3.17.2`` in its peer venv
(``tests/data/make_mlflow_store.py --bulk``), made once and cached under
``~/.cache/spanscope/bench``. Each repeat imports it whole into a fresh SQLite store (and,
with ``--postgres URI``, into that PostgreSQL database, emptied first); the imported count is
verified. ``--server`` also imports a store of ``--server-traces`` traces from a running
``mlflow server`` (one span request per trace), once.

    python bench/import_mlflow.py [--traces 10000] [--repeats 3] [--postgres URI] [--server]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _peer import mlflow_python  # noqa: E402
from spanscope.lifecycle.mlflow_import import import_mlflow  # noqa: E402
from spanscope.store import open_store  # noqa: E402


def source_store(n_traces: int) -> Path:
    """The cached MLflow SQLite store of ``n_traces`` traces (written on first use)."""
    path = Path.home() / ".cache" / "spanscope" / "bench" / f"mlflow-bulk-{n_traces}.db"
    if path.exists():
        return path
    python = mlflow_python()
    if python is None:
        raise SystemExit("the peer mlflow venv is not available (see above)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.db")
    partial.unlink(missing_ok=True)
    print(f"writing {n_traces} traces with mlflow 3.17.2 into {path} (once) ...",
          file=sys.stderr)
    subprocess.run([str(python), str(ROOT / "tests" / "data" / "make_mlflow_store.py"),
                    f"sqlite:///{partial}", "--bulk", str(n_traces)], check=True,
                   stdout=subprocess.DEVNULL, timeout=7200)
    partial.rename(path)
    return path


def run_once(source: str, target: str, expected: int) -> float:
    """Traces per second for one whole import into ``target``."""
    store = open_store(target)
    try:
        store.search_trace_ids(max_results=1)  # migrations outside the timed region
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            report = import_mlflow(source, store, state_path=Path(tmp) / "state.json")
            elapsed = time.perf_counter() - start
        found = len(store.search_trace_ids())
        if report.traces != expected or found != expected:
            raise SystemExit(f"imported {report.traces}, stored {found}, expected {expected}")
    finally:
        store.close()
    return expected / elapsed


def empty_postgres(uri: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(make_url(uri).set(drivername="postgresql").render_as_string(False),
                         autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", metavar="URI",
                        help="also import into this PostgreSQL database (its public schema "
                             "is dropped first)")
    parser.add_argument("--server", action="store_true",
                        help="also import from a running mlflow server over the store")
    parser.add_argument("--server-traces", type=int, default=1000)
    args = parser.parse_args()
    source = source_store(args.traces)
    source_uri = f"sqlite:///{source}"

    rates = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            rates.append(run_once(source_uri, f"sqlite:///{tmp}/spanscope.db", args.traces))
    print(f"MLflow sqlite -> Spanscope sqlite, {args.traces} traces: median "
          f"{statistics.median(rates):,.0f} traces/s (runs: "
          f"{', '.join(f'{r:,.0f}' for r in rates)})")
    if args.postgres:
        rates = []
        for _ in range(args.repeats):
            empty_postgres(args.postgres)
            rates.append(run_once(source_uri, args.postgres, args.traces))
        print(f"MLflow sqlite -> Spanscope PostgreSQL, {args.traces} traces: median "
              f"{statistics.median(rates):,.0f} traces/s (runs: "
              f"{', '.join(f'{r:,.0f}' for r in rates)})")
    if args.server:
        server_rate(args.server_traces)


def server_rate(n_traces: int) -> None:
    """Import a store of ``n_traces`` traces through a running ``mlflow server``."""
    sys.path.insert(0, str(ROOT / "tests" / "lifecycle"))
    from mlflow_peer import mlflow_server

    source = source_store(n_traces)
    with tempfile.TemporaryDirectory() as tmp, mlflow_server(f"sqlite:///{source}",
                                                             Path(tmp)) as url:
        rate = run_once(url, f"sqlite:///{tmp}/spanscope.db", n_traces)
    print(f"MLflow server -> Spanscope sqlite, {n_traces} traces: {rate:,.0f} traces/s")


if __name__ == "__main__":
    main()
