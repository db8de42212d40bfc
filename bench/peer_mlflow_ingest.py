"""End-to-end MLflow trace ingest throughput (runs inside the peer MLflow venv).

Usage: ``python peer_mlflow_ingest.py [--traces N]``; prints one JSON line.
Each trace has 3 spans (AGENT -> RETRIEVER, CHAT_MODEL) and an ``env`` tag. The timed region
runs from the first call until ``mlflow.flush_trace_async_logging()`` returns; the count check
is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import mlflow


@mlflow.trace(span_type="RETRIEVER")
def retrieve(question: str) -> list[dict]:
    """Return three small documents."""
    return [
        {
            "page_content": f"doc {i} about {question}",
            "metadata": {"source": f"kb/{i}"},
            "id": str(i),
        }
        for i in range(3)
    ]


@mlflow.trace(span_type="CHAT_MODEL")
def generate(question: str, docs: list[dict]) -> dict:
    """Return an OpenAI-shaped chat completion."""
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": f"answer using {len(docs)} docs"},
            }
        ],
        "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
    }


@mlflow.trace(span_type="AGENT")
def agent(question: str) -> str:
    """Root span: retrieve then generate."""
    mlflow.update_current_trace(tags={"env": "bench"})
    docs = retrieve(question)
    return generate(question, docs)["choices"][0]["message"]["content"]


def main() -> None:
    """Run the benchmark and print the JSON result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=2000)
    args = parser.parse_args()

    if os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("bench")

    start = time.perf_counter()
    for i in range(args.traces):
        agent(question=f"question {i}?")
    mlflow.flush_trace_async_logging()
    seconds = time.perf_counter() - start

    # Count what MLflow really stored: under load its async queue drops traces, and a
    # trace that was dropped was not ingested.
    persisted = len(mlflow.search_traces(return_type="list", max_results=None))
    print(
        json.dumps(
            {
                "traces_per_s": persisted / seconds,
                "traces": args.traces,
                "persisted": persisted,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
