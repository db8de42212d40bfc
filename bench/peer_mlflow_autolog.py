"""Per-call overhead of ``mlflow.openai.autolog()`` (runs inside the peer MLflow venv).

Usage: ``python peer_mlflow_autolog.py --base-url URL [--calls N] [--repeats R] [--block B]``;
prints one JSON line. The same calls, timed the same way, as ``bench/autolog_overhead.py``
makes against the same local server: untraced (autolog disabled, which reverts MLflow's
patches) and traced calls in alternating blocks; async trace logging stays on, flushed
outside the timed calls; overhead = median traced call - median untraced call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import mlflow
import openai

MESSAGES = [{"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": "What is your refund policy?"}]


def _time_calls(client: openai.OpenAI, calls: int) -> list[int]:
    """Nanoseconds taken by each of ``calls`` chat completions."""
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        times.append(time.perf_counter_ns() - start)
    return times


def main() -> None:
    """Run the benchmark and print the JSON result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--block", type=int, default=25)
    args = parser.parse_args()
    if os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("bench")
    client = openai.OpenAI(base_url=args.base_url, api_key="bench", max_retries=0)

    mlflow.openai.autolog()
    _time_calls(client, 50)  # warm-up: connection, tracing provider, store
    mlflow.flush_trace_async_logging()
    per_call_us, untraced_us = [], []
    for _ in range(args.repeats):
        plain: list[int] = []
        traced: list[int] = []
        for _ in range(max(1, args.calls // args.block)):
            mlflow.openai.autolog(disable=True)
            plain += _time_calls(client, args.block)
            mlflow.openai.autolog()
            traced += _time_calls(client, args.block)
            mlflow.flush_trace_async_logging()  # outside the timed calls
        per_call_us.append((statistics.median(traced) - statistics.median(plain)) / 1000)
        untraced_us.append(statistics.median(plain) / 1000)
    print(json.dumps({"mlflow_version": mlflow.__version__, "openai_version": openai.__version__,
                      "per_call_us_median": statistics.median(per_call_us),
                      "per_call_us": per_call_us,
                      "untraced_call_us_median": statistics.median(untraced_us)}))


if __name__ == "__main__":
    main()
