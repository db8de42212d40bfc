"""Web UI page timings: a real ``spanscope server`` driven by Playwright and Chromium.

For the list page at each store size (the synthetic stores of ``bench/search.py``, cached;
give a branch its own ``SPANSCOPE_BENCH_CACHE`` since the server migrates the file), for the
overview of the largest store, and for the page of a 50-span and a 10,000-span trace (written
by the tracing SDK into a small store of their own), the median over ``--repeats`` loads of:

- ``ttfb``: the browser's time to the response's first byte (Navigation Timing);
- ``fcp``: first contentful paint;
- ``usable``: from ``goto`` to the page's main content being there and the page loaded
  (list: its rows, with the matched text when it searches text; trace: its span tree;
  overview: its figures), what a person waits for; for the next piece of a big trace's
  tree, the time to fetch it (HTTP) right after the page.

Each page is loaded once before timing (the server's and SQLite's caches warm).

    SPANSCOPE_BENCH_CACHE=/tmp/bench python bench/ui_pages.py [--sizes 10000,1000000]
                                                              [--repeats 5] [--no-overview]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))

from rest_search import start_server
from search import sqlite_store

_TIMING = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  return {ttfb: nav ? nav.responseStart : null, fcp: paint ? paint.startTime : null};
}"""


def build_trace_store(directory: Path) -> tuple[str, dict[str, str]]:
    """A store holding a 50-span and a 10,000-span agent trace made by the tracing SDK:
    an agent over steps, each a chain with a retriever, a chat model and a tool call."""
    import spanscope
    from spanscope.entities import SpanType

    uri = f"sqlite:///{directory}/traces.db"
    spanscope.set_tracking_uri(uri)
    ids = {}
    for spans in (50, 10_000):
        steps = (spans - 1) // 4
        with spanscope.start_span("agent", span_type=SpanType.AGENT) as root:
            root.set_inputs({"question": f"a task of {spans} spans"})
            for step in range(steps):
                with spanscope.start_span(f"step_{step}", span_type=SpanType.CHAIN) as chain:
                    chain.set_inputs({"step": step})
                    with spanscope.start_span("retrieve", span_type=SpanType.RETRIEVER) as r:
                        r.set_inputs({"query": f"step {step}"})
                        r.set_outputs([{"page_content": f"document {step}", "score": 0.8}])
                    with spanscope.start_span("chat", span_type=SpanType.CHAT_MODEL) as c:
                        c.set_inputs({"messages": [{"role": "user", "content": f"step {step}"}]})
                        c.set_outputs({"choices": [{"message": {"role": "assistant",
                                                                "content": "done"}}]})
                    with spanscope.start_span("lookup", span_type=SpanType.TOOL) as tool:
                        tool.set_inputs({"id": step})
                        tool.set_outputs({"found": True})
                    chain.set_outputs({"ok": True})
            root.set_outputs({"answer": "all steps done"})
        ids[f"{spans}-span trace"] = spanscope.get_last_active_trace_id()
    spanscope.flush(timeout=120)
    spanscope.set_tracking_uri(None)
    return uri, ids


def time_page(browser: Any, url: str, ready: str, repeats: int,
              settled: str | None = None) -> dict[str, float]:
    """Median Navigation Timing figures and time-to-usable of ``url`` (ms). ``settled``:
    what the page loads after it is usable (the trace page's findings), waited for
    before the next load so that loads do not overlap on the server."""
    samples: dict[str, list[float]] = {"ttfb": [], "fcp": [], "usable": []}
    for attempt in range(repeats + 1):  # the first load warms the caches
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="load", timeout=300_000)
        page.locator(ready).first.wait_for(timeout=300_000)
        usable = (time.perf_counter() - started) * 1000
        timing = page.evaluate(_TIMING)
        if settled:
            page.locator(settled).first.wait_for(timeout=300_000)
        context.close()
        if attempt:
            samples["usable"].append(usable)
            for key in ("ttfb", "fcp"):
                if timing[key] is not None:
                    samples[key].append(float(timing[key]))
    return {key: round(statistics.median(values), 1) for key, values in samples.items()
            if values}


def time_chunks(url: str, trace_id: str, repeats: int) -> dict[str, float]:
    """Median time (ms) to fetch the piece of the span tree that scrolling asks for next,
    right after the page: what a reader waits for at the bottom of the first rows."""
    import httpx

    from spanscope.server.ui.pages import FIRST_ROWS

    samples = []
    with httpx.Client(base_url=url, timeout=300) as client:
        for attempt in range(repeats + 1):
            client.get(f"/traces/{trace_id}").raise_for_status()
            started = time.perf_counter()
            client.get(f"/traces/{trace_id}/tree?start={FIRST_ROWS}").raise_for_status()
            if attempt:
                samples.append((time.perf_counter() - started) * 1000)
    return {"usable": round(statistics.median(samples), 1)}


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000",
                        help="store sizes for the list page ('' for the trace pages only)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-overview", action="store_true",
                        help="skip the overview of the largest store (slow at 1M)")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium: apt-get install -y chromium")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results: dict[str, dict[str, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu"])
        for n in sizes:
            uri, experiment_id = sqlite_store(n, False)
            proc, url = start_server(uri)
            try:
                results[f"list, {n:,} traces"] = time_page(
                    browser, f"{url}/?experiment_id={experiment_id}", "table.list a.id",
                    args.repeats)
                results[f"list filtered to errors, {n:,} traces"] = time_page(
                    browser, f"{url}/?experiment_id={experiment_id}&state=ERROR",
                    "table.list a.id", args.repeats)
                results[f"list searching text (matches shown), {n:,} traces"] = time_page(
                    browser, f"{url}/?experiment_id={experiment_id}&filter="
                    + quote("text CONTAINS 'refund'"), "table.list td.match mark",
                    args.repeats)
                if n == max(sizes) and not args.no_overview:
                    results[f"overview (all time), {n:,} traces"] = time_page(
                        browser, f"{url}/overview?experiment_id={experiment_id}&since=all",
                        "section.figures, p.error", max(1, args.repeats // 2))
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        with tempfile.TemporaryDirectory() as tmp:
            uri, ids = build_trace_store(Path(tmp))
            proc, url = start_server(uri)
            try:
                for label, trace_id in ids.items():
                    results[label] = time_page(
                        browser, f"{url}/traces/{trace_id}", ".waterfall .row",
                        args.repeats, settled="#findings ol, #findings p.empty:not(.loading)")
                results["10000-span trace: next piece of the tree"] = time_chunks(
                    url, ids["10000-span trace"], args.repeats)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        browser.close()
    width = max(len(k) for k in results)
    print(f"\n{'page':<{width}}  {'ttfb':>8}  {'fcp':>8}  {'usable':>8}   (median ms)")
    for label, figures in results.items():
        print(f"{label:<{width}}  " + "  ".join(f"{figures.get(k, float('nan')):>8.0f}"
                                                 for k in ("ttfb", "fcp", "usable")))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
