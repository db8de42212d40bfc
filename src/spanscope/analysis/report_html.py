"""Render a ``Report`` as one self-contained HTML file.

Everything is inline: CSS in a ``<style>`` element, charts as SVG drawn in Python
(``spanscope.analysis.charts``), no script, font, image or stylesheet from the network,
so the file opens anywhere, offline, and can be mailed or attached to a ticket. Text
from traces is escaped by Jinja2's autoescaping. ``trace_url`` (e.g.
``"http://localhost:5000/#/traces/{trace_id}"``) turns trace ids into links to a
Spanscope server; without it each id links to the trace's own section of the file (with
``build_report(trace_details=True)``). ``render_trace_html`` draws one trace alone, with the
same section, for ``spanscope traces analyze --html``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spanscope.analysis import charts
from spanscope.analysis.pricing import format_money
from spanscope.analysis.summary import utc
from spanscope.entities.text import one_line

if TYPE_CHECKING:
    import os

    from spanscope.analysis.report import Report
    from spanscope.analysis.trace_view import TraceView

__all__ = ["FILTERS", "render_html", "render_trace_html", "write_html", "write_trace_html"]


def _bucket_label(value: Any, bucket: str | None) -> str:
    if value is None:
        return ""
    stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    if not isinstance(stamp, datetime):
        stamp = datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    if bucket == "day":
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%m-%d %H:%M")


def _none(value: Any) -> Any:
    """NaN and NaT cells as None."""
    try:
        import pandas as pd

        return None if value is None or pd.isna(value) else value
    except (TypeError, ValueError):
        return value


def _charts(report: Report) -> dict[str, str]:
    from markupsafe import Markup

    out: dict[str, str] = {}
    series = report.timeseries
    table = series.table
    labels = [_bucket_label(v, series.bucket) for v in table["bucket"]] if len(table) else []
    if labels:
        ok = [int(t) - int(e) for t, e in zip(table["traces"], table["errors"], strict=True)]
        out["traces"] = charts.stacked_bars(
            f"Traces per {series.bucket}", labels,
            [("OK", ok), ("ERROR", [int(e) for e in table["errors"]])], klass="traces")
        out["latency"] = charts.line_chart(
            f"Latency per {series.bucket} (ms)", labels,
            [("p50", [_none(v) for v in table["latency_p50_ms"]]),
             ("p95", [_none(v) for v in table["latency_p95_ms"]]),
             ("p99", [_none(v) for v in table["latency_p99_ms"]])], unit="ms",
            klass="latency")
        out["tokens"] = charts.stacked_bars(
            f"Tokens per {series.bucket}", labels,
            [("input", [int(v or 0) for v in table["input_tokens"]]),
             ("output", [int(v or 0) for v in table["output_tokens"]])], klass="tokens")
    histogram = report.histogram
    if histogram.counts:
        edges = histogram.edges
        bin_labels = [charts.compact(edges[i], "ms")
                      for i in range(len(histogram.counts))]
        title = "Latency distribution" + (" (log-spaced bins)" if histogram.log_scale else "")
        out["histogram"] = charts.bar_chart(title, bin_labels, histogram.counts,
                                            klass="histogram")
    by_type = report.profile.by_type
    if len(by_type):
        shares = [float(_none(v) or 0.0) for v in by_type["share"]]
        notes = [f"{charts.compact(_none(t), 'ms')} total, {s * 100:.0f}% of trace time"
                 for t, s in zip(by_type["total_ms"], shares, strict=True)]
        out["span_types"] = charts.hbar_chart(
            "Time by span type", [str(t) for t in by_type["span_type"]],
            [float(_none(v) or 0.0) for v in by_type["total_ms"]], unit="ms", notes=notes,
            klass="span-types")
    return {key: Markup(svg) for key, svg in out.items()}  # built and escaped in charts


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): _none(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _or_dash(format_value: Any) -> Any:
    """A Jinja2 filter that formats a value, or shows a dash for a missing one."""
    return lambda v, *args: charts.DASH if _none(v) is None else format_value(v, *args)


def _when(iso: str | None) -> str:
    """An ISO UTC time as ``2026-05-01 14:03:09\u00a0UTC`` (the zone kept with the time)."""
    return charts.DASH if not iso else iso[:19].replace("T", " ") + "\u00a0UTC"


def _preview(text: str | None, limit: int = 120) -> str:
    return one_line(text, limit)


def _seen(first: str | None, last: str | None) -> str:
    """A first-to-last time range, the day said once when both fall on it."""
    if not first or not last or first[:19] == last[:19]:
        return _when(first or last)
    if first[:10] == last[:10]:
        return f"{first[:10]} {first[11:19]}\u2013{last[11:19]}\u00a0UTC"
    return f"{_when(first)} \u2013 {_when(last)}"


FILTERS = {
    "utc_ms": lambda ms: _when(utc(ms)) if ms else charts.DASH,
    "when": _when,
    "seen": _seen,
    "preview": _preview,
    "compact": charts.compact,
    "pct": _or_dash(lambda v: f"{float(v) * 100:.1f}%"),
    "num": _or_dash(lambda v: f"{v:,.0f}"),
    "ms": _or_dash(lambda v: charts.compact(float(v), "ms")),
    "money": _or_dash(lambda v, currency="USD": format_money(float(v), currency)),
    "signed": _or_dash(lambda v, unit="": ("+" if v >= 0 else "\u2212")
                       + charts.compact(abs(float(v)), unit)),
}


def _template(name: str) -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("spanscope.analysis", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(FILTERS)
    return env.get_template(name)


def render_trace_html(view: TraceView) -> str:
    """One trace (``TraceView``) as a complete, self-contained HTML document."""
    return _template("trace.html.j2").render(view=view, generated_at=utc(int(time.time() * 1000)))


def render_html(report: Report, *, trace_url: str | None = None) -> str:
    """The report as a complete HTML document (a string).

    Trace ids link to ``trace_url`` when given, else to the report's own per-trace
    sections (``build_report(trace_details=True)``); an id with neither is plain text.
    """
    from spanscope.analysis.selection import describe

    template = _template("report.html.j2")
    comparison = report.comparison
    return template.render(
        report=report, overall=report.summary.overall, selection=describe(report.selection),
        charts=_charts(report), profile_names=_records(report.profile.by_name.head(15)),
        profile_types=_records(report.profile.by_type),
        errors=report.errors.patterns, slowest=report.slowest,
        groups=None if report.groups is None else _records(report.groups.table),
        group_by=None if report.groups is None else report.groups.group_by,
        comparison=comparison,
        comparison_metrics=None if comparison is None else _records(comparison.metrics),
        comparison_spans=None if comparison is None else _records(comparison.spans.head(20)),
        trace_url=trace_url, single_bucket=len(report.timeseries.table) == 1,
        detailed={view.trace_id for view in report.traces})


def write_html(report: Report, path: str | os.PathLike[str], *,
               trace_url: str | None = None) -> Path:
    """Write ``render_html(report)`` to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(render_html(report, trace_url=trace_url), encoding="utf-8")
    return target


def write_trace_html(view: TraceView, path: str | os.PathLike[str]) -> Path:
    """Write ``render_trace_html(view)`` to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(render_trace_html(view), encoding="utf-8")
    return target
