"""Evaluation throughput: does the thread pool keep the judge endpoint busy?

``evaluate()`` over N records (default 1,000) with precomputed outputs, one code scorer
and one LLM judge (``Safety``) answered by the local fake OpenAI server
(``spanscope.testing.fake_openai``) with a fixed latency per call (default 50 ms). With
W workers (``SPANSCOPE_EVAL_MAX_WORKERS``, default 8) and one judge call per row, the
ideal is W / latency rows/s; the goal is at least 80% of it. Prints rows/s, the most
judge calls the server saw in flight, and the ratio to the ideal; the run's own
bookkeeping (params, metrics, the result table artifact) is inside the timed region.

The server runs in a separate process by default, as a real endpoint would (and so its
request handling does not compete with the client threads for this interpreter's GIL);
``--in-process`` runs it in a thread of this process instead. ``--predict`` calls a traced
``predict_fn`` for every row instead of scoring precomputed outputs: each row then also
makes a trace, and its two scores are written to it as assessments.

    python bench/evaluate.py [--records 1000] [--latency 0.05] [--workers 8] [--in-process]
                             [--predict]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def start_fake_openai(latency: float, in_process: bool) -> tuple[str, Any]:
    """(base URL, handle); the handle is a FakeOpenAI or a Popen."""
    if in_process:
        from spanscope.testing.fake_openai import FakeOpenAI

        server = FakeOpenAI(latency=latency).start()
        return server.url, server
    process = subprocess.Popen(
        [sys.executable, "-m", "spanscope.testing.fake_openai", "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        process.kill()
        raise SystemExit(f"the fake server did not start (printed {url!r})")
    return url, process


def _stats(url: str, handle: Any) -> dict[str, int]:
    if hasattr(handle, "stats"):
        return handle.stats()
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/_stats", timeout=5) as answer:
        return json.loads(answer.read())


def _stop(handle: Any) -> None:
    if hasattr(handle, "stop"):
        handle.stop()
    else:
        handle.terminate()
        handle.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per judge call")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--predict", action="store_true",
                        help="traced predict_fn per row (traces and assessments written)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="spanscope-bench-eval-"))
    url, handle = start_fake_openai(args.latency, args.in_process)
    os.environ.update({"OPENAI_BASE_URL": url, "SPANSCOPE_JUDGE_MODEL": "openai:/bench-judge",
                       "SPANSCOPE_EVAL_MAX_WORKERS": str(args.workers)})
    os.environ.pop("OPENAI_API_KEY", None)

    import spanscope
    from spanscope.genai import evaluate
    from spanscope.genai.scorers import Safety, scorer

    spanscope.set_tracking_uri(f"sqlite:///{workdir}/bench.db")

    @scorer
    def exact_match(outputs: Any, expectations: dict[str, Any]) -> bool:
        return outputs == expectations["expected_response"]

    @spanscope.trace
    def add(question: str) -> str:
        a = int(question.split()[2])
        return str(2 * a)

    data = [{"inputs": {"question": f"What is {i} + {i}?"},
             "expectations": {"expected_response": str(2 * i if i % 10 else i)}}
            for i in range(args.records)]
    if not args.predict:
        for row in data:
            row["outputs"] = add.__wrapped__(row["inputs"]["question"])
    predict_fn = add if args.predict else None
    scorers = [exact_match, Safety()]
    try:
        evaluate(data[:args.workers], scorers=scorers, predict_fn=predict_fn)  # warm-up
        before = _stats(url, handle)["requests"]
        started = time.perf_counter()
        result = evaluate(data, scorers=scorers, predict_fn=predict_fn)
        elapsed = time.perf_counter() - started
        stats = _stats(url, handle)
    finally:
        _stop(handle)
    judged = stats["requests"] - before
    rows_per_s = args.records / elapsed
    ideal = args.workers / args.latency
    where = "in-process" if args.in_process else "subprocess"
    mode = "traced predict_fn" if args.predict else "precomputed outputs"
    print(f"records {args.records} ({mode}), workers {args.workers}, judge latency "
          f"{args.latency * 1000:.0f} ms, server {where}")
    print(f"  elapsed            {elapsed:.2f} s")
    print(f"  rows/s             {rows_per_s:.1f}")
    print(f"  judge calls        {judged} (max in flight {stats['max_in_flight']})")
    print(f"  ideal rows/s       {ideal:.1f} (workers / latency)")
    print(f"  ratio to ideal     {rows_per_s / ideal:.2f} (goal >= 0.80)")
    print(f"  metrics            safety/mean={result.metrics['safety/mean']:.2f} "
          f"exact_match/mean={result.metrics['exact_match/mean']:.2f}")


if __name__ == "__main__":
    main()
