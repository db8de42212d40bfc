"""Web UI page timings: a real ``spanscope server`` driven by Playwright and Chromium.

For the list page at each store size (the synthetic stores of ``bench/search.py``, cached;
give a branch its own ``SPANSCOPE_BENCH_CACHE`` since the server migrates the file), for the
overview of the largest store, and for the page of a 50-span and a 10,000-span trace (written
by the tracing SDK into a small store of their own), the median over ``--repeats`` loads of:

- ``ttfb``: the browser's time to the response's first byte (Navigation Timing);
- ``fcp``: first contentful paint;
- ``usable``: from ``goto`` to the page's main content being there and the page loaded
  (list: its rows, with the matched text when it searches text; trace: its span tree;
  overview: its headline figures), what a person waits for; for the next piece of a big
  trace's tree, the time to fetch it (HTTP) right after the page;
- ``complete`` (overview): until every panel the page loads after it is there.

Each page is loaded once before timing (the server's and SQLite's caches warm).
``--only-overview`` times the overview alone (all time, and grouped by ``tags.env``);
``--postgres URI`` adds the overview's server part on PostgreSQL (the bench experiment the
URI's database holds, built by ``bench/search.py --postgres``): the median time of each
request (the page, then each panel on its own), and ``complete``: the page, then its
panels asked for at once as the browser does, until the last is there (no browser). Each
request's server CPU (``cpu LABEL``, ms, from ``/proc``) is printed beside it for both
databases: it holds on a busy machine, where wall time does not. The servers run with
``--no-monitor``, so nothing writes to the shared stores.

    SPANSCOPE_BENCH_CACHE=/tmp/bench python bench/ui_pages.py [--sizes 10000,1000000]
        [--repeats 5] [--no-overview | --only-overview] [--postgres URI]
"""

from __future__ import annotations

import argparse
import json
import os
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


_PANELS_DONE = "!document.querySelector('.panel.pending')"  # the overview's panels are in


def time_page(browser: Any, url: str, ready: str, repeats: int,
              settled: str | None = None, complete: str | None = None) -> dict[str, float]:
    """Median Navigation Timing figures and time-to-usable of ``url`` (ms). ``settled``:
    what the page loads after it is usable (the trace page's findings), waited for
    before the next load so that loads do not overlap on the server; ``complete``: a
    JavaScript condition for the page being whole, timed as ``complete``."""
    samples: dict[str, list[float]] = {"ttfb": [], "fcp": [], "usable": [], "complete": []}
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
        if complete:
            page.wait_for_function(complete, timeout=300_000)
            if attempt:
                samples["complete"].append((time.perf_counter() - started) * 1000)
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


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) the process ``pid`` has used (Linux), 0 without it."""
    if pid is None or not Path(f"/proc/{pid}/stat").exists():
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_overview_server(url: str, experiment_id: str, repeats: int,
                         group_by: str = "", pid: int | None = None) -> dict[str, float]:
    """Median ms of the overview's requests, each alone: the page (its headline figures)
    and each panel it loads after it (over the page's own window, as the browser asks);
    and of the whole, ``complete`` (``_complete_ms``); with the server's ``pid``, also the
    server's CPU ms per request (``cpu LABEL``), a figure a busy machine does not inflate as
    it does wall time."""
    import re
    from html import unescape

    import httpx

    query = f"experiment_id={experiment_id}&since=all&group_by={group_by}"
    with httpx.Client(base_url=url, timeout=600) as client:
        first = client.get(f"/overview?{query}")
        first.raise_for_status()
        panels = [unescape(p) for p in re.findall(r'hx-get="([^"]+)"', first.text)]
        out = {"complete": _complete_ms(client, f"/overview?{query}", repeats)}
        for label, path in [("page", f"/overview?{query}"),
                            *((p.split("/")[-1].split("?")[0], p) for p in panels)]:
            samples, cpu = [], []
            for attempt in range(repeats + 1):  # the first warms the caches
                started, cpu_before = time.perf_counter(), _cpu_s(pid)
                client.get(path).raise_for_status()
                if attempt:
                    samples.append((time.perf_counter() - started) * 1000)
                    cpu.append((_cpu_s(pid) - cpu_before) * 1000)
            out[label] = round(statistics.median(samples), 1)
            if pid is not None:
                out[f"cpu {label}"] = round(statistics.median(cpu), 1)
    return out


def _complete_ms(client: Any, page: str, repeats: int) -> float:
    """Median ms from asking for the page to the last of its panels, the panels asked
    for at once when the page is there (as the browser's htmx does), each on its own
    connection."""
    import re
    from concurrent.futures import ThreadPoolExecutor
    from html import unescape

    import httpx

    def fetch(path: str) -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=600) as own:
            own.get(path).raise_for_status()

    samples = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for attempt in range(repeats + 1):  # the first warms the caches
            started = time.perf_counter()
            response = client.get(page)
            response.raise_for_status()
            panels = [unescape(p) for p in re.findall(r'hx-get="([^"]+)"', response.text)]
            for done in [pool.submit(fetch, path) for path in panels]:
                done.result()
            if attempt:
                samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000",
                        help="store sizes for the list page ('' for the trace pages only)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-overview", action="store_true",
                        help="skip the overview of the largest store")
    parser.add_argument("--only-overview", action="store_true",
                        help="time the overview of the largest store alone")
    parser.add_argument("--postgres", metavar="URI",
                        help="also time the overview's requests on this PostgreSQL store")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium: apt-get install -y chromium")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results: dict[str, dict[str, float]] = {}
    servers: dict[str, dict[str, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu"])
        for n in sizes:
            if args.only_overview and n != max(sizes):
                continue
            uri, experiment_id = sqlite_store(n, False)
            proc, url = start_server(uri, "--no-monitor")
            try:
                if not args.only_overview:
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
                    for group_by in ("", "tags.env"):
                        label = f"overview (all time{', by ' + group_by if group_by else ''})"
                        results[f"{label}, {n:,} traces"] = time_page(
                            browser, f"{url}/overview?experiment_id={experiment_id}"
                            f"&since=all&group_by={group_by}", "section.figures ul.cards, "
                            "p.error", args.repeats, complete=_PANELS_DONE)
                        servers[f"SQLite {label}, {n:,} traces"] = time_overview_server(
                            url, experiment_id, args.repeats, group_by, proc.pid)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        if args.postgres:
            experiment_id, traces = _bench_experiment(args.postgres)
            proc, url = start_server(args.postgres, "--no-monitor")
            try:
                for group_by in ("", "tags.env"):
                    label = f"overview (all time{', by ' + group_by if group_by else ''})"
                    servers[f"PostgreSQL {label}, {traces:,} traces"] = \
                        time_overview_server(url, experiment_id, args.repeats, group_by,
                                             proc.pid)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        if args.only_overview:
            browser.close()
            _print(results, servers)
            return
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
    _print(results, servers)


def _bench_experiment(uri: str) -> tuple[str, int]:
    """The bench experiment's id and trace count in a PostgreSQL store, only read (unlike
    ``search.postgres_store``, which rebuilds a store of another size)."""
    import sqlalchemy as sa

    from spanscope.store.sql.engine import parse_uri

    engine = sa.create_engine(parse_uri(uri))
    with engine.connect() as conn:
        found = conn.execute(sa.text(
            "SELECT e.experiment_id, count(t.trace_id) FROM experiments e JOIN traces t "
            "ON t.experiment_id = e.experiment_id WHERE e.name = 'bench' "
            "GROUP BY e.experiment_id")).first()
    engine.dispose()
    if found is None:
        raise SystemExit(f"no bench experiment in {uri}: build it with bench/search.py")
    return str(found[0]), int(found[1])


def _print(results: dict[str, dict[str, float]], servers: dict[str, dict[str, float]]) -> None:
    keys = ("ttfb", "fcp", "usable", "complete")
    if results:
        width = max(len(k) for k in results)
        print(f"\n{'page':<{width}}  " + "  ".join(f"{k:>8}" for k in keys) + "   (median ms)")
        for label, figures in results.items():
            print(f"{label:<{width}}  " + "  ".join(f"{figures.get(k, float('nan')):>8.0f}"
                                                     for k in keys))
    for label, figures in servers.items():
        print(f"\n{label}, complete (the page, then its panels at once) and each "
              "request alone (median ms): "
              + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items()))
    print(json.dumps({"pages": results, "overview_requests": servers}))


if __name__ == "__main__":
    main()
