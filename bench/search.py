"""Search latency at scale: the filter language over 100k and 1M synthetic traces.

Builds a store of N traces through the bulk insert path (rows generated directly, 5 spans
per trace, tags, metadata, assessments on ~30% of traces), caches the SQLite file under
``~/.cache/spanscope/bench/`` so reruns skip the build, then reports the median latency of
``SqlStore.search_traces(max_results=100)`` over repeats for each listed query, with and
without spans, plus ``get_trace``. ``--postgres URI`` runs the same queries on PostgreSQL
(built into the database the URI names, which is emptied first). ``--mlflow`` times the
queries MLflow supports on 10k traces in its own virtualenv (``peer_mlflow_search.py``)
against Spanscope on the same 10k traces, and prints the ratios.

    python bench/search.py [--sizes 100000,1000000] [--repeats 7] [--postgres URI]
                           [--mlflow] [--mlflow-traces 10000] [--mlflow-only LABELS] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import sqlalchemy as sa

from search_workload import CHILDREN, DAY_MS, T_END, draw_trace
from spanscope.query.text import SpanText
from spanscope.query.values import text_of
from spanscope.store.sql import SqlStore, schema, text_index
from spanscope.store.sql.bulk import insert_rows
from spanscope.store.sql.engine import parse_uri

CACHE = Path(os.environ.get("SPANSCOPE_BENCH_CACHE", Path.home() / ".cache/spanscope/bench"))
FORMAT = 4  # bump when the generated data changes, so cached files are rebuilt
BATCH = 5_000

# (label, filter, order_by) — the queries the issue lists, in its order.
QUERIES: list[tuple[str, str | None, list[str] | None]] = [
    ("state filter", "attributes.state = 'ERROR'", None),
    ("tag equality", "tags.env = 'staging'", None),
    ("time range", f"trace.timestamp >= {T_END - 10 * DAY_MS} AND "
                   f"trace.timestamp < {T_END - 9 * DAY_MS}", None),
    ("slow retriever span", "span.type = 'RETRIEVER' AND span.duration_ms > 500", None),
    ("assessment value", "feedback.correctness = false", None),
    ("inputs CONTAINS", "inputs.query CONTAINS 'refund'", None),
    ("OR of two tags", "tags.env = 'dev' OR tags.team = 'billing'", None),
    ("order by execution time", None, ["execution_time DESC"]),
    ("rare tag value", "tags.env = 'nowhere'", None),  # no trace: the value index's case
    ("rare span name", "span.name = 'nowhere'", None),  # no span: the spans' name index
    # text search (docs/search-performance.md): the text index
    *((f"text {label}{when}", f"text CONTAINS '{word}'{condition}", None)
      for label, word in (("common word", "refund"), ("rare word", "A10042"),
                          ("3 characters", "inv"), ("phrase", "help with login"))
      for when, condition in (("", ""), (" + 1 day",
                                         f" AND trace.timestamp >= {T_END - DAY_MS}"))),
]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class Generator:
    """Synthetic traces as table rows, deterministic for a seed."""

    def __init__(self, n: int, seed: int = 7) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.text_limit = text_index.text_index_chars()

    def batches(self, experiment_id: int) -> Iterator[dict[str, list[dict[str, Any]]]]:
        for start in range(0, self.n, BATCH):
            tables: dict[str, list[dict[str, Any]]] = {
                "traces": [], "trace_tags": [], "trace_metadata": [], "spans": [],
                "assessments": [], "span_text": []}
            for i in range(start, min(self.n, start + BATCH)):
                self._trace(i, experiment_id, tables)
            yield tables

    def _trace(self, i: int, experiment_id: int, out: dict[str, list[dict[str, Any]]]) -> None:
        t = draw_trace(self.rng, i, self.n)
        trace_id = "tr-" + t.hex_id
        start_ns = t.request_time * 1_000_000
        spans = [self._span(t.hex_id, trace_id, t.root_id, None, "support_agent", "AGENT",
                            start_ns, None if t.in_progress else start_ns + t.total_ms * 1_000_000,
                            t.inputs, t.outputs, "ERROR" if t.error else "OK", 0)]
        offset = start_ns + 2_000_000
        for position, ((name, kind), ms, span_id) in enumerate(
                zip(CHILDREN, t.durations, t.child_ids, strict=True), start=1):
            inputs, outputs, failed = t.child_payload(position, kind)
            spans.append(self._span(t.hex_id, trace_id, span_id, t.root_id, name, kind, offset,
                                    offset + ms * 1_000_000, inputs, outputs,
                                    "ERROR" if failed else "OK", position))
            offset += ms * 1_000_000
        out["spans"].extend(spans)
        out["span_text"].extend(self._texts(trace_id, t.root_id, t.inputs, t.outputs,
                                            self.text_limit))
        for position, ((_, kind), span_id) in enumerate(zip(CHILDREN, t.child_ids,
                                                            strict=True), start=1):
            inputs, outputs, _ = t.child_payload(position, kind)
            out["span_text"].extend(self._texts(trace_id, span_id, inputs, outputs,
                                                self.text_limit))
        tags = {"mlflow.traceName": "support_agent", **t.tags}
        request_preview = _dumps(t.inputs)
        response_preview = None if t.outputs is None else _dumps(t.outputs)
        metadata = {"mlflow.trace_schema.version": "3", "mlflow.traceInputs": request_preview,
                    "mlflow.traceOutputs": response_preview or "",
                    "mlflow.trace.session": t.session, "mlflow.trace.user": t.user}
        for table, values in (("trace_tags", tags), ("trace_metadata", metadata)):
            out[table].extend({"trace_id": trace_id, "key": k, "value": v, "position": p}
                              for p, (k, v) in enumerate(values.items()))
        for position, (name, value, assessment_id) in enumerate(t.feedback):
            out["assessments"].append(_assessment(assessment_id, trace_id, name, value,
                                                  t.request_time, position))
        out["traces"].append({
            "trace_id": trace_id, "experiment_id": experiment_id,
            "request_time": t.request_time,
            "execution_duration": None if t.in_progress else t.total_ms, "state": t.state,
            "name": "support_agent", "client_request_id": f"req-{i}", "session_id": t.session,
            "user_id": t.user, "request_preview": request_preview,
            "response_preview": response_preview, "input_tokens": 120, "output_tokens": 30,
            "total_tokens": 150, "span_count": len(spans), "extra": None, "overflow": None})

    @staticmethod
    def _texts(trace_id: str, span_id: str, inputs: Any, outputs: Any,
               limit: int) -> Iterator[dict[str, Any]]:
        """The span's ``span_text`` rows, as ingest writes them (``text_index``)."""
        texts = [SpanText(kind, 0, text) for kind, value in (("inputs", inputs),
                                                            ("outputs", outputs))
                 if (text := text_of(value)) is not None]
        return text_index.rows_of(trace_id, span_id, texts, limit)

    @staticmethod
    def _span(hex_id: str, trace_id: str, span_id: str, parent: str | None, name: str,
              kind: str, start: int, end: int | None, inputs: Any, outputs: Any, status: str,
              position: int) -> dict[str, Any]:
        attributes = {"mlflow.traceRequestId": _dumps(trace_id),
                      "mlflow.spanType": _dumps(kind), "mlflow.spanInputs": _dumps(inputs)}
        if outputs is not None:
            attributes["mlflow.spanOutputs"] = _dumps(outputs)
        content = {"trace_id": hex_id, "span_id": span_id, "parent_span_id": parent,
                   "name": name, "start_time_unix_nano": start, "end_time_unix_nano": end,
                   "events": [], "status": {"code": f"STATUS_CODE_{status}", "message": ""},
                   "attributes": attributes}
        return {"trace_id": trace_id, "span_id": span_id, "parent_span_id": parent,
                "name": name, "span_type": kind, "status": status, "start_time_ns": start,
                "end_time_ns": end, "duration_ns": None if end is None else end - start,
                "position": position, "content": _dumps(content)}


def _assessment(assessment_id: str, trace_id: str, name: str, value: Any, request_time: int,
                position: int) -> dict[str, Any]:
    created = request_time + 60_000
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created / 1000)) + \
        f".{created % 1000:03d}Z"
    source = {"source_type": "LLM_JUDGE", "source_id": "judge"}
    content = {"assessment_id": assessment_id, "assessment_name": name,
               "trace_id": trace_id, "source": source, "create_time": stamp,
               "last_update_time": stamp, "feedback": {"value": value}, "valid": True}
    return {"assessment_id": assessment_id, "trace_id": trace_id, "name": name,
            "kind": "feedback", "value": _dumps(value), "numeric_value": float(value),
            "error": None, "source_type": "LLM_JUDGE", "source_id": "judge",
            "span_id": None, "run_id": None, "rationale": None, "metadata": None,
            "overrides": None, "valid": True, "create_time": created,
            "last_update_time": created, "position": position,
            "content": _dumps(content)}


def build(uri: str, n: int, *, postgres: bool = False) -> tuple[str, float]:
    """Create the bench experiment and load ``n`` traces; returns (experiment id, seconds)."""
    started = time.perf_counter()
    with SqlStore(uri) as store:
        experiment_id = store.create_experiment("bench")
    engine = sa.create_engine(parse_uri(uri), paramstyle=None if postgres else "named")
    tables = {t: schema.metadata.tables[t] for t in
              ("traces", "trace_tags", "trace_metadata", "spans", "assessments", "span_text")}
    with engine.connect() as conn:
        if postgres:  # a throw-away build: no FK triggers, no commit flush, indexes at the end
            conn.exec_driver_sql("SET session_replication_role = replica")
            conn.exec_driver_sql("SET synchronous_commit = off")
            secondary = [index for table in tables.values() for index in table.indexes]
            for index in secondary:
                conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
            text_index.drop_index(conn)  # the trigram GIN index, built again at the end
            conn.commit()
        else:  # a throw-away build: no journal, no fsync, a big page cache
            conn.exec_driver_sql("PRAGMA journal_mode = OFF")
            conn.exec_driver_sql("PRAGMA synchronous = OFF")
            conn.exec_driver_sql("PRAGMA cache_size = -4000000")  # 4 GB
            conn.commit()
        done = 0
        for batch in Generator(n).batches(int(experiment_id)):
            with conn.begin():
                for name, table in tables.items():
                    if postgres:
                        _copy_rows(conn, table, batch[name])
                    elif name == "span_text":  # with its FTS5 rows, as ingest writes it
                        text_index.write_rows(conn, batch[name])
                    else:
                        insert_rows(conn, table, batch[name])
            done += len(batch["traces"])
            if done % 100_000 == 0 or done == n:
                rate = done / (time.perf_counter() - started)
                print(f"  built {done:,} of {n:,} traces ({rate:,.0f}/s)", flush=True)
        if postgres:
            conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            for index in secondary:
                index.create(conn)
            text_index.create_index(conn)
            conn.exec_driver_sql("SET session_replication_role = origin")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
        if not postgres:
            conn.exec_driver_sql("PRAGMA journal_mode = WAL")  # as SqlStore runs it
            conn.commit()
    engine.dispose()
    return experiment_id, time.perf_counter() - started


def _copy_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY, an order of magnitude faster than INSERTs for a bulk load."""
    if not rows:
        return
    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def sqlite_store(n: int, rebuild: bool) -> tuple[str, str]:
    """A cached SQLite file with ``n`` traces; returns (uri, experiment id)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"search-{n}-v{FORMAT}.db"
    marker = path.with_suffix(".json")
    if rebuild or not marker.exists():
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), marker):
            stale.unlink(missing_ok=True)
        print(f"building {n:,} traces into {path} ...", flush=True)
        experiment_id, seconds = build(f"sqlite:///{path}", n)
        size = path.stat().st_size / 1e9
        marker.write_text(json.dumps({"experiment_id": experiment_id, "build_s": seconds}))
        print(f"built {n:,} traces in {seconds:.0f} s ({n / seconds:,.0f} traces/s, "
              f"{size:.1f} GB)")
    else:
        info = json.loads(marker.read_text())
        print(f"reusing {path} (built in {info['build_s']:.0f} s; --rebuild to rebuild)")
    return f"sqlite:///{path}", json.loads(marker.read_text())["experiment_id"]


def postgres_store(uri: str, n: int, rebuild: bool) -> str:
    """The bench experiment with ``n`` traces in the database ``uri`` names, reused when it
    is there, else built after emptying the database; returns the experiment id."""
    engine = sa.create_engine(parse_uri(uri))
    with engine.begin() as conn:
        found = None
        if not rebuild and sa.inspect(conn).has_table("traces"):
            found = conn.execute(sa.text(
                "SELECT e.experiment_id, count(t.trace_id) FROM experiments e "
                "JOIN traces t ON t.experiment_id = e.experiment_id WHERE e.name = 'bench' "
                "GROUP BY e.experiment_id")).first()
        if found is not None and found[1] == n:
            print(f"reusing the {n:,} traces in PostgreSQL (--rebuild to rebuild)")
            engine.dispose()
            return str(found[0])
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    print(f"building {n:,} traces into PostgreSQL ...", flush=True)
    experiment_id, seconds = build(uri, n, postgres=True)
    print(f"built {n:,} traces in {seconds:.0f} s ({n / seconds:,.0f} traces/s)")
    return experiment_id


def text_index_size(uri: str, n: int) -> dict[str, float]:
    """Bytes the text index takes (its rows and the trigram index), in all and per trace."""
    engine = sa.create_engine(parse_uri(uri))
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            size = conn.exec_driver_sql("SELECT pg_total_relation_size('span_text')").scalar()
            trigram = conn.exec_driver_sql(
                f"SELECT pg_relation_size('{text_index.PG_INDEX}')").scalar()
        else:  # dbstat: the pages of each table and index
            rows = dict(conn.exec_driver_sql(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'span_text%' OR "
                "name LIKE 'ix_span_text%' GROUP BY name").all())
            size = sum(rows.values())
            trigram = sum(v for k, v in rows.items() if k.startswith(text_index.SQLITE_FTS))
    engine.dispose()
    out = {"mb": size / 1e6, "trigram_mb": trigram / 1e6, "bytes_per_trace": size / n}
    print(f"text index: {out['mb']:,.0f} MB ({out['trigram_mb']:,.0f} MB of it the trigram "
          f"index), {out['bytes_per_trace']:,.0f} bytes per trace")
    return out


def median_ms(fn: Any, repeats: int) -> float:
    fn()  # warm-up: caches, statement compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _server_cpu(uri: str) -> Any:
    """A function giving the CPU seconds used so far by the PostgreSQL backends serving
    ``uri``'s database, when the server runs on this machine (its processes are in
    ``/proc``); None otherwise (SQLite runs in this process)."""
    if not uri.startswith("postgresql"):
        return None
    engine = sa.create_engine(parse_uri(uri))
    ticks = os.sysconf("SC_CLK_TCK")

    def used() -> dict[int, float]:
        with engine.connect() as conn:
            pids = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()").scalars().all()
        out = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / ticks
        return out

    try:
        used()
    except OSError:
        return None
    return used


def cpu_ms(fn: Any, repeats: int, server: Any) -> float:
    """CPU milliseconds per call, this process's plus the database server's (``server``,
    from ``_server_cpu``; its clock ticks are coarse, so the mean over ``repeats``
    calls): the figure a loaded machine changes least, unlike the wall-clock median."""
    before = server() if server else {}
    start = time.process_time()
    for _ in range(repeats):
        fn()
    used = time.process_time() - start
    if server:
        after = server()
        used += sum(after[pid] - before[pid] for pid in after if pid in before)
    return used / repeats * 1000


def time_queries(uri: str, experiment_id: str, repeats: int,
                 queries: list[tuple[str, str | None, list[str] | None]] = QUERIES,
                 ) -> dict[str, dict[str, float]]:
    """``{label: {"no_spans": ms, "spans": ms, "cpu_no_spans": ms, "cpu_spans": ms,
    "found": n}}`` plus a get_trace row."""
    results: dict[str, dict[str, float]] = {}
    server = _server_cpu(uri)
    with SqlStore(uri) as store:
        for label, filter_string, order_by in queries:
            row: dict[str, float] = {}
            for key, include_spans in (("no_spans", False), ("spans", True)):
                def run(fs: str | None = filter_string, ob: list[str] | None = order_by,
                        spans: bool = include_spans) -> int:
                    return len(store.search_traces([experiment_id], filter_string=fs,
                                                   order_by=ob, max_results=100,
                                                   include_spans=spans))
                row[key] = median_ms(run, repeats)
                row[f"cpu_{key}"] = cpu_ms(run, max(repeats, 10), server)
                row["found"] = run()
            results[label] = row
        ids = store.search_trace_ids([experiment_id], max_results=1000)
        rng = random.Random(1)
        results["get_trace"] = {"spans": median_ms(
            lambda: store.get_trace(rng.choice(ids)), repeats), "found": 1}
    return results


def print_table(title: str, columns: dict[str, dict[str, dict[str, float]]]) -> None:
    for what, prefix in (("median ms over repeats", ""),
                         ("CPU ms per search (this process + the database server)", "cpu_")):
        print(f"\n{title}: {what}, max_results=100")
        names = list(columns)
        header = f"{'query':<26}" + "".join(f"{n + ' info':>16}{n + ' +spans':>16}"
                                            for n in names)
        print(header)
        labels = [label for label in next(iter(columns.values()))
                  if prefix + "spans" in next(iter(columns.values()))[label]]
        for label in labels:
            cells = ""
            for name in names:
                row = columns[name][label]
                info = row.get(prefix + "no_spans")
                cells += (f"{'-' if info is None else f'{info:.2f}':>16}"
                          f"{row[prefix + 'spans']:>16.2f}")
            print(f"{label:<26}{cells}")


def compare_mlflow(n: int, repeats: int, only: str = "") -> dict[str, Any]:
    """Time MLflow and Spanscope on the same n traces (``only``: these query labels,
    comma-separated); print the ratios."""
    from _peer import mlflow_python, run_in_peer

    if mlflow_python() is None:
        print("mlflow: not installed (see message above); comparison skipped")
        return {}
    print(f"\nMLflow comparison on {n:,} traces (MLflow builds its store through its API; "
          "this takes minutes) ...", flush=True)
    peer = run_in_peer(Path(__file__).parent / "peer_mlflow_search.py", "--traces", str(n),
                       "--repeats", str(repeats), "--only", only, timeout=7200)
    ours_uri, experiment_id = sqlite_store(n, rebuild=False)
    supported = [q for q in QUERIES if q[0] in peer["queries"]]
    ours = time_queries(ours_uri, experiment_id, repeats, supported)
    print(f"\n{'query':<26}{'spanscope':>11}{'mlflow':>11}{'ratio':>10}{'+spans':>10}"
          f"{'mlflow':>11}{'ratio':>10}   (MLflow built in {peer['build_s']:.0f} s)")
    ratios: dict[str, Any] = {}
    for label, _, _ in QUERIES:
        if only and label not in peer["queries"]:
            continue
        if label not in peer["queries"]:
            print(f"{label:<26}{'n/a':>20}   {peer['skipped'].get(label, '')}")
            continue
        mine, theirs = ours[label], peer["queries"][label]
        ratios[label] = {"info": theirs["ms"] / mine["no_spans"],
                         "spans": theirs["spans_ms"] / mine["spans"]}
        print(f"{label:<26}{mine['no_spans']:>11.2f}{theirs['ms']:>11.1f}"
              f"{ratios[label]['info']:>9.1f}x{mine['spans']:>10.2f}{theirs['spans_ms']:>11.1f}"
              f"{ratios[label]['spans']:>9.1f}x")
    mine_get, theirs_get = ours["get_trace"]["spans"], peer["get_trace_ms"]
    ratios["get_trace"] = theirs_get / mine_get
    print(f"{'get_trace':<26}{'':>32}{mine_get:>10.2f}{theirs_get:>11.1f}"
          f"{theirs_get / mine_get:>9.1f}x")
    return {"mlflow": peer, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated store sizes (traces)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--postgres", metavar="URI",
                        help="also run on this PostgreSQL database; it is emptied and "
                             "rebuilt for each size it does not hold exactly (one size "
                             "per database keeps it reusable)")
    parser.add_argument("--mlflow", action="store_true", help="compare with MLflow at 10k")
    parser.add_argument("--mlflow-traces", type=int, default=10_000)
    parser.add_argument("--mlflow-only", default="", metavar="LABELS",
                        help="compare only these queries (comma-separated labels); MLflow's "
                             "text queries take minutes each at 10k")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild instead of reusing cached stores")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    report: dict[str, Any] = {}
    sqlite_columns = {}
    for n in sizes:
        uri, experiment_id = sqlite_store(n, args.rebuild)
        report[f"sqlite_text_index_{n}"] = text_index_size(uri, n)
        sqlite_columns[f"{n // 1000}k"] = time_queries(uri, experiment_id, args.repeats)
    if sqlite_columns:
        print_table("SQLite", sqlite_columns)
        report["sqlite"] = sqlite_columns
    if args.postgres:
        pg_columns = {}
        for n in sizes:
            experiment_id = postgres_store(args.postgres, n, args.rebuild)
            report[f"postgresql_text_index_{n}"] = text_index_size(args.postgres, n)
            pg_columns[f"{n // 1000}k"] = time_queries(args.postgres, experiment_id,
                                                       args.repeats)
        print_table("PostgreSQL", pg_columns)
        report["postgresql"] = pg_columns
    if args.mlflow:
        report.update(compare_mlflow(args.mlflow_traces, args.repeats, args.mlflow_only))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
