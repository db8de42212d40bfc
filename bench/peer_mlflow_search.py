"""MLflow trace search latency on N synthetic traces (runs inside the peer MLflow venv).

Usage: ``python peer_mlflow_search.py [--traces 10000] [--repeats 7] [--only LABEL,...]``;
prints one JSON line.

The traces are ``bench/search.py``'s, drawn by ``search_workload.draw_trace`` (5
spans, tags ``env``/``team``/``app_version``, metadata with ``mlflow.traceInputs``,
feedback on ~30% of traces), written through MLflow's own ``SqlAlchemyStore``:
``start_trace`` per trace, ``log_spans`` in batches of 100 traces, ``create_assessment``
per assessment. Then each query MLflow's filter language can express is timed with
``SqlAlchemyStore.search_traces(max_results=100)`` (trace infos, like Spanscope's
``include_spans=False``), median of ``--repeats``, plus ``get_trace``.

Not comparable, so skipped: ``span.duration_ms`` (MLflow has no span duration filter),
``OR`` (MLflow filters are AND-only). ``inputs.query CONTAINS 'refund'`` is approximated by
``request_metadata.`mlflow.traceInputs` LIKE '%refund%'`` (the request preview MLflow
keeps), which answers the same question on this data. The ``text ...`` queries are
Spanscope's ``text CONTAINS 'x'`` and MLflow's ``trace.text ILIKE '%x%'`` (a LIKE over each
span's JSON), the same traces on this data. MLflow takes minutes for each of those at 10k
(it reads every span of every trace), so each is timed once, and with spans as that time
plus ``batch_get_traces`` of what it found. ``--only`` times just the listed queries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from typing import Any

import mlflow
from mlflow.entities import AssessmentSource, Feedback, Span, TraceInfo, TraceLocation, TraceState

from search_workload import CHILDREN, DAY_MS, T_END, draw_trace

QUERIES: dict[str, tuple[str | None, list[str] | None]] = {
    "state filter": ("trace.status = 'ERROR'", None),
    "tag equality": ("tag.env = 'staging'", None),
    "time range": (f"trace.timestamp_ms >= {T_END - 10 * DAY_MS} AND "
                   f"trace.timestamp_ms < {T_END - 9 * DAY_MS}", None),
    "assessment value": ("feedback.correctness = 'false'", None),
    "inputs CONTAINS": ("request_metadata.`mlflow.traceInputs` LIKE '%refund%'", None),
    "order by execution time": (None, ["execution_time DESC"]),
    "rare tag value": ("tag.env = 'nowhere'", None),
    # MLflow's full-text search (its UI search box): trace.text LIKE/ILIKE over span content
    **{f"text {label}{when}": (f"trace.text ILIKE '%{word}%'{condition}", None)
       for label, word in (("common word", "refund"), ("rare word", "A10042"),
                           ("3 characters", "inv"), ("phrase", "help with login"))
       for when, condition in (("", ""), (" + 1 day",
                                          f" AND trace.timestamp_ms >= {T_END - DAY_MS}"))},
}
SKIPPED = {
    "slow retriever span": "MLflow has no span duration filter",
    "OR of two tags": "MLflow filters are AND-only",
    "rare span name": "not compared (span filters differ between the two)",
}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _span(hex_id: str, span_id: str, parent: str | None, name: str, kind: str, start: int,
          end: int | None, inputs: Any, outputs: Any, status: str) -> dict[str, Any]:
    attributes = {"mlflow.traceRequestId": _dumps("tr-" + hex_id),
                  "mlflow.spanType": _dumps(kind), "mlflow.spanInputs": _dumps(inputs)}
    if outputs is not None:
        attributes["mlflow.spanOutputs"] = _dumps(outputs)
    return {"trace_id": "tr-" + hex_id, "span_id": span_id, "parent_span_id": parent,
            "name": name, "start_time_unix_nano": start, "end_time_unix_nano": end,
            "events": [], "status": {"code": f"STATUS_CODE_{status}", "message": ""},
            "attributes": attributes}


def generate(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Plain dicts: info fields, span dicts, feedback (name, value) pairs; the traces of
    ``search.py``'s generator (``draw_trace``), shaped for MLflow's store API."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = draw_trace(rng, i, n)
        start = t.request_time * 1_000_000
        spans = [_span(t.hex_id, t.root_id, None, "support_agent", "AGENT", start,
                       start + t.total_ms * 1_000_000, t.inputs, t.outputs,
                       "ERROR" if t.error else "OK")]
        offset = start + 2_000_000
        for position, ((name, kind), ms, span_id) in enumerate(
                zip(CHILDREN, t.durations, t.child_ids, strict=True), start=1):
            inputs, outputs, failed = t.child_payload(position, kind)
            spans.append(_span(t.hex_id, span_id, t.root_id, name, kind, offset,
                               offset + ms * 1_000_000, inputs, outputs,
                               "ERROR" if failed else "OK"))
            offset += ms * 1_000_000
        preview = _dumps(t.inputs)
        out.append({"trace_id": "tr-" + t.hex_id, "request_time": t.request_time,
                    "execution_duration": None if t.in_progress else t.total_ms,
                    "state": t.state, "tags": dict(t.tags), "preview": preview,
                    "spans": spans,
                    "feedback": [(name, value) for name, value, _ in t.feedback],
                    "metadata": {"mlflow.traceInputs": preview,
                                 "mlflow.trace.session": t.session,
                                 "mlflow.trace.user": t.user}})
    return out


def build(store: Any, experiment_id: str, traces: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    location = TraceLocation.from_experiment_id(experiment_id)
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="judge")
    for start in range(0, len(traces), 100):
        batch = traces[start:start + 100]
        for t in batch:
            store.start_trace(TraceInfo(
                trace_id=t["trace_id"], trace_location=location,
                request_time=t["request_time"], state=TraceState(t["state"]),
                request_preview=t["preview"], execution_duration=t["execution_duration"],
                trace_metadata=t["metadata"], tags=t["tags"]))
        store.log_spans(experiment_id, [Span.from_dict(s) for t in batch for s in t["spans"]])
        for t in batch:
            for name, value in t["feedback"]:
                store.create_assessment(Feedback(name=name, value=value, source=judge,
                                                 trace_id=t["trace_id"]))
    return time.perf_counter() - started


def median_ms(fn: Any, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _timed_once(store: Any, experiment_id: str, filter_string: str | None) -> dict[str, Any]:
    """One search timed (MLflow's text search takes minutes), and with spans: that plus
    reading the found traces' spans, as ``run_with_spans`` does."""
    start = time.perf_counter()
    infos, _ = store.search_traces([experiment_id], filter_string=filter_string,
                                   max_results=100)
    ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    store.batch_get_traces([i.trace_id for i in infos])
    return {"ms": ms, "found": len(infos),
            "spans_ms": ms + (time.perf_counter() - start) * 1000, "timed_once": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated query labels to time")
    args = parser.parse_args()
    only = {label.strip() for label in args.only.split(",") if label.strip()}

    uri = os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.create_experiment("bench-search")
    store = mlflow.tracking._tracking_service.utils._get_store()
    traces = generate(args.traces)
    build_s = build(store, experiment_id, traces)
    stored = store.search_traces([experiment_id], max_results=50_000)[0]

    results = {}
    for label, (filter_string, order_by) in QUERIES.items():
        if only and label not in only:
            continue
        if label.startswith("text "):
            results[label] = _timed_once(store, experiment_id, filter_string)
            continue

        def run(fs: str | None = filter_string, ob: list[str] | None = order_by) -> int:
            infos, _ = store.search_traces([experiment_id], filter_string=fs, order_by=ob,
                                           max_results=100)
            return len(infos)

        def run_with_spans(fs: str | None = filter_string, ob: list[str] | None = order_by,
                           ) -> int:
            infos, _ = store.search_traces([experiment_id], filter_string=fs, order_by=ob,
                                           max_results=100)
            return len(store.batch_get_traces([i.trace_id for i in infos]))

        results[label] = {"ms": median_ms(run, args.repeats), "found": run(),
                          "spans_ms": median_ms(run_with_spans, args.repeats)}
    rng = random.Random(1)
    ids = [t["trace_id"] for t in traces]
    get_ms = median_ms(lambda: store.get_trace(rng.choice(ids)), args.repeats)
    print(json.dumps({"traces": args.traces, "stored": len(stored), "build_s": build_s,
                      "queries": results, "skipped": SKIPPED, "get_trace_ms": get_ms,
                      "mlflow": mlflow.__version__}))


if __name__ == "__main__":
    main()
