"""End-to-end ingest: traces per second from traced code into SQLite, until flushed.

Each trace is an AGENT root calling a RETRIEVER (3 documents) and a CHAT_MODEL span that
returns an OpenAI-shaped completion with usage, plus a tag: the same workload as
``peer_mlflow_ingest.py`` runs on MLflow in its own virtualenv. Timed from the first call
until every trace is persisted; the count is then verified from the store.

    python bench/ingest.py [--traces 5000] [--repeats 3] [--peer-traces 2000] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import statistics
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


def run_once(n_traces: int) -> float:
    """Traces per second for one run into a fresh SQLite file."""
    spanscope.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp()}/ingest.db")
    agent("warm-up")  # opens the store and runs migrations outside the timed region
    spanscope.flush()
    start = time.perf_counter()
    for i in range(n_traces):
        agent(f"question {i}")
    if not spanscope.flush(timeout=600):
        raise SystemExit("flush timed out")
    seconds = time.perf_counter() - start
    stored = len(spanscope.search_traces(return_type="list", include_spans=False))
    if stored != n_traces + 1:
        raise SystemExit(f"expected {n_traces + 1} traces stored, found {stored}")
    return n_traces / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-traces", type=int, default=2000)
    parser.add_argument("--no-peer", action="store_true", help="skip the MLflow comparison")
    args = parser.parse_args()

    rates = [run_once(args.traces) for _ in range(args.repeats)]
    ours = statistics.median(rates)
    print(f"spanscope: {ours:,.0f} traces/s (median of {args.repeats} runs of "
          f"{args.traces}; all: {', '.join(f'{r:,.0f}' for r in rates)})")
    result = {"spanscope_traces_per_s": ours}
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
