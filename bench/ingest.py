"""End-to-end ingest: traces per second from traced code into SQLite, until flushed.

Each trace is an AGENT root calling a RETRIEVER (3 documents) and a CHAT_MODEL span that
returns an OpenAI-shaped completion with usage, plus a tag: the same workload as
``peer_mlflow_ingest.py`` runs on MLflow in its own virtualenv. Timed from the first call
until every trace is persisted; the count is then verified from the store. Besides
traces/s (wall clock), the process's CPU time over the same stretch (``process_time``:
the traced code and the exporter thread that writes) per trace, the figure that survives
a loaded machine.

``--baseline-src DIR`` compares with another checkout's code (e.g. a ``git worktree`` of
an older commit): each repeat runs one fresh process per side, in alternating order, on
the same workload, and the CPU per trace of both sides and their ratio are printed.

    python bench/ingest.py [--traces 5000] [--repeats 3] [--peer-traces 2000] [--no-peer]
                           [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import spanscope

DOCS = [{"id": f"doc-{i}", "page_content": f"FAQ entry {i} about shipping and refunds.",
         "metadata": {"source": "faq"}} for i in range(3)]


@spanscope.trace(span_type="RETRIEVER")
def retrieve(query: str) -> list[dict]:
    return DOCS


@spanscope.trace(span_type="CHAT_MODEL")
def generate(messages: list[dict]) -> dict:
    return {"id": "cmpl-1", "model": "sim-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sure."},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}}


@spanscope.trace(span_type="AGENT")
def agent(question: str) -> str:
    spanscope.update_current_trace(tags={"env": "bench"})
    docs = retrieve(question)
    answer = generate([{"role": "system", "content": docs[0]["page_content"]},
                       {"role": "user", "content": question}])
    return answer["choices"][0]["message"]["content"]


HERE = Path(__file__).resolve().parent


def run_once(n_traces: int) -> dict[str, float]:
    """Traces per second and CPU milliseconds per trace for one run into a fresh SQLite
    file."""
    spanscope.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp()}/ingest.db")
    agent("warm-up")  # opens the store and runs migrations outside the timed region
    spanscope.flush()
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n_traces):
        agent(f"question {i}")
    if not spanscope.flush(timeout=600):
        raise SystemExit("flush timed out")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    stored = len(spanscope.search_traces(return_type="list", include_spans=False))
    if stored != n_traces + 1:
        raise SystemExit(f"expected {n_traces + 1} traces stored, found {stored}")
    return {"traces_per_s": n_traces / seconds, "cpu_ms_per_trace": 1000 * cpu / n_traces}


def run_child(src: Path, n_traces: int) -> dict[str, float]:
    """``run_once`` in a fresh process importing spanscope from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, __file__, "--child", "--traces", str(n_traces)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def compare(baseline: Path, n_traces: int, repeats: int) -> dict[str, float]:
    """This checkout against ``baseline`` (a checkout's root), alternating which goes
    first, ``repeats`` runs each; prints both sides and returns the medians."""
    sides = {"baseline": baseline / "src", "this": HERE.parent / "src"}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for repeat in range(repeats):
        order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
        for name in order:
            result = run_child(sides[name], n_traces)
            runs[name].append(result)
            print(f"  {name:<8} {result['cpu_ms_per_trace']:.3f} ms CPU/trace  "
                  f"{result['traces_per_s']:,.0f} traces/s", flush=True)
    summary: dict[str, float] = {}
    for name in sides:
        for key in ("cpu_ms_per_trace", "traces_per_s"):
            summary[f"{name}_{key}"] = statistics.median(r[key] for r in runs[name])
    summary["cpu_ratio"] = summary["this_cpu_ms_per_trace"] / summary["baseline_cpu_ms_per_trace"]
    summary["rate_ratio"] = summary["this_traces_per_s"] / summary["baseline_traces_per_s"]
    print(f"baseline ({baseline}): {summary['baseline_cpu_ms_per_trace']:.3f} ms CPU/trace, "
          f"{summary['baseline_traces_per_s']:,.0f} traces/s")
    print(f"this ({HERE.parent}): {summary['this_cpu_ms_per_trace']:.3f} ms CPU/trace, "
          f"{summary['this_traces_per_s']:,.0f} traces/s")
    print(f"CPU per trace {summary['cpu_ratio'] - 1:+.1%}, traces/s "
          f"{summary['rate_ratio'] - 1:+.1%} (medians of {repeats}, {n_traces} traces each; "
          f"load average {os.getloadavg()[0]:.1f})")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-traces", type=int, default=2000)
    parser.add_argument("--no-peer", action="store_true", help="skip the MLflow comparison")
    parser.add_argument("--baseline-src", type=Path, metavar="DIR",
                        help="compare with the checkout at DIR (CPU per trace, same run)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.traces)))
        return
    if args.baseline_src is not None:
        print(json.dumps(compare(args.baseline_src.resolve(), args.traces, args.repeats)))
        return

    runs = [run_once(args.traces) for _ in range(args.repeats)]
    rates = [r["traces_per_s"] for r in runs]
    ours = statistics.median(rates)
    cpu = statistics.median(r["cpu_ms_per_trace"] for r in runs)
    print(f"spanscope: {ours:,.0f} traces/s, {cpu:.3f} ms CPU/trace (median of {args.repeats} "
          f"runs of {args.traces}; all: {', '.join(f'{r:,.0f}' for r in rates)})")
    result = {"spanscope_traces_per_s": ours, "spanscope_cpu_ms_per_trace": cpu}
    if not args.no_peer:
        from _peer import mlflow_python, run_in_peer

        if mlflow_python() is None:
            print("mlflow: not installed (see message above); comparison skipped")
        else:
            peer = run_in_peer(Path(__file__).parent / "peer_mlflow_ingest.py",
                               "--traces", str(args.peer_traces))
            theirs = peer["traces_per_s"]
            print(f"mlflow: {theirs:,.0f} traces/s ({peer['persisted']} of {args.peer_traces}"
                  " persisted)")
            print(f"ratio: spanscope ingests {ours / theirs:.1f}x MLflow's traces/s")
            result.update(mlflow_traces_per_s=theirs, ratio=ours / theirs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
