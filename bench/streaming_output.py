"""Peak memory of ``spanscope traces search -o jsonl|json|csv`` as the result grows.

Builds one SQLite file of ``--traces`` traces (a root and two children each, a few KB of
inputs and outputs), then runs the real console script for each format and each ``-n``
in a child process and prints its peak RSS (``ru_maxrss``), the median of ``--repeats``.
Streaming output keeps the peak flat as ``-n`` grows; an output built whole grows with it.

    python bench/streaming_output.py [--traces 20000] [--repeats 3] [--formats jsonl,json,csv]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import spanscope

PAYLOAD = "lorem ipsum dolor sit amet " * 40  # ~1 KB per input and output


@spanscope.trace(span_type="RETRIEVER")
def retrieve(query: str) -> list[dict]:
    return [{"page_content": PAYLOAD, "id": f"doc-{i}"} for i in range(3)]


@spanscope.trace(span_type="CHAT_MODEL")
def generate(prompt: str) -> str:
    return PAYLOAD


@spanscope.trace(span_type="AGENT")
def agent(question: str) -> str:
    retrieve(question)
    return generate(question + PAYLOAD)


def build(path: Path, n_traces: int) -> None:
    os.environ["SPANSCOPE_EXPORT_ON_FULL"] = "block"  # a backfill: keep every trace
    spanscope.set_tracking_uri(f"sqlite:///{path}")
    for i in range(n_traces):
        agent(f"question {i}")
    if not spanscope.flush(timeout=600):
        raise SystemExit(f"traces were dropped: {spanscope.get_export_stats()}")


def peak_rss_mb(uri: str, output: str, n: int) -> float:
    """Peak RSS of one ``spanscope traces search`` child process, in MB."""
    code = ("import resource, sys\n"
            "from spanscope.cli.main import cli\n"
            "try:\n"
            "    cli.main(sys.argv[1:], prog_name='spanscope', standalone_mode=False)\n"
            "finally:\n"
            "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "    print(peak, file=sys.stderr)\n")
    env = {**os.environ, "SPANSCOPE_TRACKING_URI": uri}
    done = subprocess.run([sys.executable, "-c", code, "traces", "search", "-n", str(n),
                           "-o", output], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=True)
    return int(done.stderr.strip().splitlines()[-1]) / 1024  # ru_maxrss is KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", default="jsonl,json,csv")
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "streaming.db"
    started = time.perf_counter()
    build(path, args.traces)
    print(f"built {args.traces} traces in {time.perf_counter() - started:.1f}s", flush=True)
    sizes = sorted({max(args.traces // 20, 1), args.traces // 4, args.traces})
    for output in args.formats.split(","):
        for n in sizes:
            runs = [peak_rss_mb(f"sqlite:///{path}", output, n) for _ in range(args.repeats)]
            print(f"-o {output:5} -n {n:>6}: peak RSS {statistics.median(runs):6.1f} MB "
                  f"(median of {args.repeats})", flush=True)


if __name__ == "__main__":
    main()
