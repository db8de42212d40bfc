"""An instrumented app, run as a child process by the remote tests and the benchmark.

``python traced_app.py --client C --count N [--interval S] [--flush-timeout T]`` makes N
traces (a root AGENT span with two children, tags ``client`` and ``seq``) in the
experiment ``$SPANSCOPE_EXPERIMENT_ID`` of the server ``$SPANSCOPE_TRACKING_URI``, then
flushes and prints one JSON line: ``{"flushed": bool, "stats": get_export_stats()}``.
"""

from __future__ import annotations

import argparse
import json
import time

import spanscope
from spanscope.entities import SpanType
from spanscope.tracing import get_export_stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", default="0")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.0)
    parser.add_argument("--flush-timeout", type=float, default=120.0)
    args = parser.parse_args()

    @spanscope.trace(span_type=SpanType.TOOL)
    def tool(seq: int) -> dict[str, int]:
        return {"square": seq * seq}

    @spanscope.trace(name="request", span_type=SpanType.AGENT)
    def request(seq: int) -> str:
        spanscope.update_current_trace(tags={"client": args.client, "seq": str(seq)})
        with spanscope.start_span("plan", span_type=SpanType.CHAIN) as span:
            span.set_inputs({"seq": seq})
        return f"done {tool(seq)['square']}"

    for seq in range(args.count):
        request(seq)
        if args.interval:
            time.sleep(args.interval)
    flushed = spanscope.flush(timeout=args.flush_timeout)
    print(json.dumps({"flushed": flushed, "stats": get_export_stats()}), flush=True)


if __name__ == "__main__":
    main()
