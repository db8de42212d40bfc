"""The web UI's Overview: how an experiment is doing over a time range, in panels.

The page arrives with its headline figures (trace count, failures, error rate, latency
p50/p95/p99, tokens, cost: one ``summarize`` of the selection), then loads each slower
panel as its own fragment (htmx, ``hx-trigger="load"``), so a person reads and clicks the
headline while the rest is computed, and the panels are computed at once, on as many
threads as the server has: traces, error rate, latency, tokens and cost over time; span
types; the top error patterns; and, with ``group_by``, the same figures per tag value.

Every figure comes from the store's aggregate functions (``trace_stats``,
``model_usage``, ``span_stats``, ``error_spans``): no trace is loaded. Every figure links
to the trace list behind it. The page fixes its time window once (``start_ms`` and
``end_ms`` in each panel's address), so all panels describe the same traces.
``build_report`` (the whole report, with the latency histogram, the profile by span name
and the slowest traces) stays one click away, at ``/overview/report``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from spanscope.analysis.pricing import cost_by, format_money, usage_for_pricing
from spanscope.analysis.report import auto_bucket
from spanscope.analysis.selection import parse_group_by
from spanscope.analysis.summary import BUCKETS, metrics, summary_of
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.server.auth import requires
from spanscope.server.ui.pages import _page, _store
from spanscope.server.ui.views import QUICK_SINCE, quote_text
from spanscope.store.aggregates import GroupKey, Selection
from spanscope.store.keys import Role

__all__ = ["PANELS", "Figure", "Headline", "Scope", "errors_panel", "groups_panel", "headline",
           "router", "span_types_panel", "time_panel"]

router = APIRouter(include_in_schema=False)
A = TypeVar("A")
B = TypeVar("B")

PANELS = ("time", "span_types", "errors", "groups")  # in page order
TOP_PATTERNS = 10
MAX_BARS = 120  # the newest buckets drawn (empty ones before the first trace left out)


@dataclass(frozen=True)
class Scope:
    """What the overview shows: an experiment, a quick time range (``1h``, ``24h``,
    ``7d`` or ``all``), an optional ``group_by`` key, and the time window they made when
    the page was computed (epoch ms; None for "all time")."""

    experiment_id: str
    since: str
    group_by: str = ""
    start_ms: int | None = None
    end_ms: int | None = None

    @classmethod
    def now(cls, experiment_id: str, since: str, group_by: str = "",
            now_ms: int | None = None) -> Scope:
        """The scope of a page computed at ``now_ms``: the last hour, day or week."""
        if since not in QUICK_SINCE:
            return cls(experiment_id, "all", group_by.strip())
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return cls(experiment_id, since, group_by.strip(), now - QUICK_SINCE[since], now)

    @property
    def selection(self) -> Selection:
        return Selection((self.experiment_id,), None, self.start_ms, self.end_ms)

    def query(self, **extra: Any) -> str:
        """The scope as a panel address's query string."""
        params = {"experiment_id": self.experiment_id, "since": self.since,
                  "group_by": self.group_by, "start_ms": self.start_ms,
                  "end_ms": self.end_ms, **extra}
        return urlencode({k: v for k, v in params.items() if v not in (None, "")})

    def link(self, **params: str | None) -> str:
        """The trace list of this experiment and time range, narrowed by ``params``."""
        base = {"experiment_id": self.experiment_id,
                "since": self.since if self.since in QUICK_SINCE else ""}
        return "/?" + urlencode({**base, **{k: v for k, v in params.items() if v}})


@dataclass(frozen=True)
class Figure:
    """One headline figure and the trace list behind it."""

    label: str
    value: str
    href: str | None = None
    error: bool = False
    note: str | None = None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: no figure


def _money(cost: float | None, currency: str) -> str:
    return "-" if cost is None else format_money(cost, currency)


@dataclass(frozen=True)
class Headline:
    """The page's first figures; ``bucket`` is the time bucket of the panel over time."""

    figures: list[Figure]
    traces: int
    bucket: str


def headline(store: Any, scope: Scope) -> Headline:
    """The headline figures of the scope (one ``summarize``), each linked to its traces,
    and the time bucket the panel over time will use (by the traces' first and last
    request time when the range is "all time")."""
    summary = summary_of(store, scope.selection)
    overall, stats = summary.overall, summary.stats
    link = scope.link
    figures = [Figure("Traces", f"{int(overall.get('traces') or 0):,}", link()),
               Figure("Failed", f"{int(overall.get('errors') or 0):,}", link(state="ERROR"),
                      error=True)]
    rate = _number(overall.get("error_rate"))
    if rate is not None:
        figures.append(Figure("Error rate", f"{rate * 100:.1f}%", link(state="ERROR"),
                              error=True))
    for name in ("p50", "p95", "p99"):
        ms = _number(overall.get(f"latency_{name}_ms"))
        if ms is not None:
            slower = None if name == "p50" else link(
                filter=f"attributes.execution_time_ms >= {int(ms)}", order="duration")
            figures.append(Figure(f"Latency {name}", f"{ms:,.0f} ms", slower))
    tokens = _number(overall.get("total_tokens"))
    if tokens:
        figures.append(Figure("Tokens", f"{tokens:,.0f}"))
    cost = summary.cost
    if cost is not None and (cost.calls or cost.cost is not None):
        note = (f"{cost.unpriced_calls:,} calls of {', '.join(cost.unpriced_models)} "
                "have no price" if cost.unpriced_calls else None)
        figures.append(Figure("Cost", _money(cost.cost, summary.currency), note=note))
    first = scope.start_ms if scope.start_ms is not None else getattr(stats, "first_ms", None)
    last = scope.end_ms if scope.end_ms is not None else getattr(stats, "last_ms", None)
    return Headline(figures, int(overall.get("traces") or 0), auto_bucket(first, last))


def _together(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """``first()`` and ``second()`` at once (``second`` on a thread of its own): a panel's
    trace figures and its model usage are independent queries, and the database works
    on them without the GIL, so the panel waits for the longer, not for both."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spanscope-panel") as pool:
        later = pool.submit(second)
        return first(), later.result()


def time_panel(store: Any, scope: Scope, bucket: str) -> dict[str, Any]:
    """Per time bucket: traces and failures (bars linked to their traces), error rate,
    latency p50/p95/p99, tokens and cost; buckets without traces are drawn empty."""
    size = BUCKETS.get(bucket) or BUCKETS["hour"]
    selection = _drawn(store, scope, size)
    stats, usage = _together(lambda: store.trace_stats(selection, bucket_ms=size),
                             lambda: usage_for_pricing(store, selection, bucket_ms=size))
    rows = {s.bucket_ms: s for s in stats}
    costs = cost_by(usage, lambda r: r.bucket_ms)
    if not rows:
        return {"bucket": bucket, "buckets": [], "charts": {}}
    first = min(rows) if scope.start_ms is None else scope.start_ms // size * size
    last = max(rows) if scope.end_ms is None else (scope.end_ms - 1) // size * size
    starts = list(range(max(first, last - (MAX_BARS - 1) * size), last + size, size))
    if scope.start_ms is None:  # all time: from the first bucket with traces
        starts = starts[next(i for i, b in enumerate(starts) if b in rows or b == last):]
    series = [{"start_ms": b, **metrics(rows.get(b), costs.get(b))} for b in starts]
    most = max(int(r["traces"]) for r in series) or 1
    buckets = []
    for row in series:
        window = (f"attributes.timestamp_ms >= {row['start_ms']} AND "
                  f"attributes.timestamp_ms < {row['start_ms'] + size}")
        traces, errors = int(row["traces"]), int(row["errors"])
        buckets.append({"start_ms": row["start_ms"], "traces": traces, "errors": errors,
                        "height": round(100 * traces / most),
                        "error_height": round(100 * errors / most),
                        "href": scope.link(filter=window),
                        "errors_href": scope.link(filter=window, state="ERROR")})
    trend = sum(1 for r in series if r["traces"]) > 1  # one bucket has no trend to chart
    return {"bucket": bucket, "buckets": buckets,
            "charts": _time_charts(series, bucket) if trend else {}}


def _drawn(store: Any, scope: Scope, size: int) -> Selection:
    """The scope narrowed to the ``MAX_BARS`` newest buckets, the only ones the panel
    draws: a month of hourly buckets reads its last five days, not the month (the figures
    of a drawn bucket are the same). Over all time the newest trace (one index probe)
    ends the window."""
    selection, end = scope.selection, scope.end_ms
    if end is None:
        newest = store.search_traces([scope.experiment_id], max_results=1, include_spans=False)
        if not newest:
            return selection
        end = (int(newest[0].info.request_time) // size + 1) * size
    start = ((end - 1) // size - (MAX_BARS - 1)) * size
    if scope.start_ms is not None and scope.start_ms >= start:
        return selection
    return Selection(selection.experiment_ids, selection.filter_string, start, end)


def _time_charts(series: list[dict[str, Any]], bucket: str) -> dict[str, Any]:
    """The inline SVG charts over time (the report's chart functions)."""
    from markupsafe import Markup

    from spanscope.analysis import charts

    labels = [_bucket_label(r["start_ms"], bucket) for r in series]
    out = {
        "error_rate": charts.line_chart(
            f"Error rate per {bucket} (%)", labels,
            [("error rate", [None if r["error_rate"] is None else 100 * r["error_rate"]
                             for r in series])], unit="%", klass="error-rate"),
        "latency": charts.line_chart(
            f"Latency per {bucket} (ms)", labels,
            [(name, [r[f"latency_{name}_ms"] for r in series])
             for name in ("p50", "p95", "p99")], unit="ms", klass="latency"),
    }
    if any(r["total_tokens"] for r in series):
        out["tokens"] = charts.stacked_bars(
            f"Tokens per {bucket}", labels,
            [("input", [int(r["input_tokens"] or 0) for r in series]),
             ("output", [int(r["output_tokens"] or 0) for r in series])], klass="tokens")
    if any(r["cost_usd"] is not None for r in series):
        out["cost"] = charts.bar_chart(
            f"Cost per {bucket}", labels, [r["cost_usd"] or 0.0 for r in series],
            klass="cost")
    return {key: Markup(svg) for key, svg in out.items()}  # built and escaped in charts


def _bucket_label(start_ms: int, bucket: str) -> str:
    fmt = "%Y-%m-%d" if bucket == "day" else "%m-%d %H:%M"
    return time.strftime(fmt, time.gmtime(start_ms / 1000))


_ALIAS_FIELDS = {"user": "attributes.user_id", "session": "attributes.session_id"}


def _group_key(group_by: str) -> GroupKey:
    """``group_by`` as a key of traces (span types have their own panel)."""
    key = parse_group_by(group_by)
    if key is None or key.kind == "span_type":
        raise InvalidInputError(f"the overview groups traces by tags.KEY, metadata.KEY, user "
                                f"or session, not {group_by!r}; span types have their panel")
    return key


def groups_panel(store: Any, scope: Scope) -> list[dict[str, Any]]:
    """Per value of ``group_by`` (traces without it in "(none)"): the headline figures,
    most traces first, each group linked to its traces and its failed ones."""
    if not scope.group_by:
        return []
    key = _group_key(scope.group_by)
    field = _ALIAS_FIELDS.get(scope.group_by.lower(), scope.group_by)  # in the filter
    selection = scope.selection
    groups, usage = _together(lambda: store.trace_stats(selection, group_by=key),
                               lambda: usage_for_pricing(store, selection, group_by=key))
    costs = cost_by(usage, lambda r: r.group)
    out = []
    for stats in groups:
        value = stats.group
        where = (f"{field} IS NULL" if value is None else f"{field} = {quote_text(str(value))}")
        cost = costs.get(value)
        out.append({"value": "(none)" if value is None else str(value),
                    **metrics(stats, cost), "currency": cost.currency if cost else "USD",
                    "href": scope.link(filter=where),
                    "errors_href": scope.link(filter=where, state="ERROR")})
    out.sort(key=lambda g: (-g["traces"], g["value"]))
    return out


def span_types_panel(store: Any, scope: Scope) -> list[dict[str, Any]]:
    """Per span type: spans, failed spans, mean duration and total time; each type links
    to the traces holding such a span, its failures to the traces where one failed.

    Counts and sums only (``quantiles=()``): a span percentile orders every span of the
    type, minutes at a million traces on PostgreSQL; the whole report has them."""
    out = []
    for stats in store.span_stats(scope.selection, quantiles=()):
        if stats.name is not None:
            continue
        span_type = stats.span_type or ""
        where = f"span.type = {quote_text(span_type)}"
        usable = span_type.replace("_", "").isalnum()  # the list's span type quick filter
        out.append({"span_type": span_type or "(none)", "count": stats.count,
                    "errors": stats.errors, "mean_ms": stats.mean_ms,
                    "total_ms": stats.total_ms,
                    "href": scope.link(span_type=span_type) if usable
                    else scope.link(filter=where),
                    "errors_href": scope.link(filter=f"{where} AND span.status = 'ERROR'")})
    out.sort(key=lambda t: (-t["count"], t["span_type"]))
    return out


def errors_panel(store: Any, scope: Scope) -> list[dict[str, Any]]:
    """The top error patterns: traces with each, failed or recovered, the span names
    it occurred in, and the traces behind it (a failed span of one of those names)."""
    from spanscope.analysis.errors import patterns_of

    out = []
    for row in patterns_of(store, scope.selection, top=TOP_PATTERNS).patterns:
        names = [str(n) for n in row["span_names"]]
        where = (" OR ".join(f"(span.name = {quote_text(n)} AND span.status = 'ERROR')"
                             for n in names[:5]) if names else None)
        out.append({"pattern": str(row["pattern"]), "count": int(row["count"]),
                    "failed": int(row["failed"]), "recovered": int(row["recovered"]),
                    "spans": names, "exceptions": [str(t) for t in row["exception_types"]],
                    "last_seen": row["last_seen"], "example": (row["example_trace_ids"]
                                                               or [None])[0],
                    "href": scope.link(filter=where) if where else None})
    return out


_REFUSED = (InvalidInputError, FilterError, NotFoundError)


def _status(exc: Exception) -> int:
    return 404 if isinstance(exc, NotFoundError) else 400


@router.get("/overview", response_class=HTMLResponse, dependencies=[requires(Role.VIEWER)])
async def overview(
    request: Request,
    experiment_id: Annotated[str, Query()] = "0",
    since: Annotated[str, Query()] = "24h",
    group_by: Annotated[str, Query()] = "",
) -> HTMLResponse:
    """The page: the headline figures, and a placeholder per panel that loads itself."""
    scope = Scope.now(experiment_id, since, group_by)
    try:
        if scope.group_by:
            _group_key(scope.group_by)  # a bad key fails before any query runs
        top = await run_in_threadpool(headline, _store(request), scope)
    except _REFUSED as exc:
        return _page("overview.html", status=_status(exc), error=str(exc), scope=scope)
    panels = [p for p in PANELS if p != "groups" or scope.group_by] if top.traces else []
    return _page("overview.html", error=None, scope=scope, top=top, panels=panels)


@router.get("/overview/panels/{name}", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def overview_panel(
    request: Request,
    name: str,
    experiment_id: Annotated[str, Query()] = "0",
    since: Annotated[str, Query()] = "all",
    group_by: Annotated[str, Query()] = "",
    start_ms: Annotated[int | None, Query()] = None,
    end_ms: Annotated[int | None, Query()] = None,
    bucket: Annotated[str, Query()] = "hour",
) -> HTMLResponse:
    """One panel of the page (an htmx fragment), over the page's own time window."""
    scope = Scope(experiment_id, since, group_by.strip(), start_ms, end_ms)
    compute = {"time": lambda store: time_panel(store, scope, bucket),
               "span_types": lambda store: span_types_panel(store, scope),
               "errors": lambda store: errors_panel(store, scope),
               "groups": lambda store: groups_panel(store, scope)}.get(name)
    if compute is None:
        return _page("_message.html", status=404, message=f"no overview panel {name!r}")
    try:
        data = await run_in_threadpool(compute, _store(request))
    except _REFUSED as exc:
        return _page("_message.html", status=_status(exc), message=str(exc))
    return _page("_overview_panel.html", panel=name, data=data, scope=scope)


@router.get("/overview/report", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def overview_report(
    request: Request,
    experiment_id: Annotated[str, Query()] = "0",
    since: Annotated[str, Query()] = "24h",
    group_by: Annotated[str, Query()] = "",
) -> HTMLResponse:
    """The whole report of the scope (``build_report``: also the latency histogram, the
    profile by span name and the slowest traces), its trace ids opening the UI's pages."""
    from spanscope.analysis.report import build_report
    from spanscope.analysis.report_html import render_html

    scope = Scope.now(experiment_id, since, group_by)
    try:
        report = await run_in_threadpool(
            build_report, None, [experiment_id], scope.start_ms, scope.end_ms,
            group_by=scope.group_by or None,
            title=f"Overview of experiment {experiment_id}", store=_store(request))
    except _REFUSED as exc:
        return _page("overview.html", status=_status(exc), error=str(exc), scope=scope)
    return HTMLResponse(render_html(report, trace_url="/traces/{trace_id}"))
