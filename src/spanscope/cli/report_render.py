"""Rich tables for ``spanscope report``: the report's sections, for people at a terminal."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from spanscope.analysis.pricing import format_money
from spanscope.cli.fit import Column, fit_table, table_width

if TYPE_CHECKING:
    from rich.console import Console

    from spanscope.analysis.report import Report

__all__ = ["print_report"]

_SPARK = "▁▂▃▄▅▆▇█"
_STATE_STYLE = {"ERROR": "bold red", "OK": "green", "IN_PROGRESS": "yellow"}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _ms(value: Any) -> str:
    if _missing(value):
        return "-"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _pct(value: Any) -> str:
    return "-" if _missing(value) else f"{value * 100:.1f}%"


def _num(value: Any) -> str:
    return "-" if _missing(value) else f"{value:,.0f}"


def _money(value: Any, currency: str) -> str:
    return "-" if _missing(value) else format_money(value, currency)


def _signed(value: Any, unit: str = "") -> str:
    if _missing(value):
        return "-"
    if unit == "%":
        return f"{value * 100:+.1f} pts"
    return f"{value:+,.3g}"


def sparkline(values: list[float]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return _SPARK[0] * len(values)
    return "".join(_SPARK[min(7, int(v / top * 7.999))] for v in values)


def _when(iso: str | None) -> str:
    """An ISO UTC time as ``2026-05-01 14:03 UTC``: readable, and the zone said."""
    return "-" if not iso else iso[:16].replace("T", " ") + " UTC"


def _print(console: Console, title: str, columns: list[Column]) -> None:
    console.print(fit_table(columns, width=console.width, title=title))


def _summary(console: Console, overall: dict[str, Any], currency: str) -> None:
    """The summary as one row when it fits, else as label/value lines: never cut."""
    figures = [("traces", _num(overall["traces"])),
               ("failed traces", _num(overall["errors"])),
               ("error rate", _pct(overall["error_rate"])),
               ("p50", _ms(overall["latency_p50_ms"])), ("p95", _ms(overall["latency_p95_ms"])),
               ("p99", _ms(overall["latency_p99_ms"])),
               ("tokens in", _num(overall["input_tokens"])),
               ("tokens out", _num(overall["output_tokens"])),
               ("cost", _money(overall["cost_usd"], currency))]
    if overall.get("unpriced_calls"):
        figures.append(("unpriced", f"{_num(overall['unpriced_calls'])} calls / "
                                    f"{_num(overall['unpriced_tokens'])} tokens"))
    widths = [max(len(label), len(value)) for label, value in figures]
    if table_width(widths) <= console.width:
        _print(console, "Summary", [Column(label, [value], numeric=True)
                                    for label, value in figures])
        return
    table = Table(title="Summary", title_justify="left", title_style="bold", show_header=False,
                  box=None, padding=(0, 2, 0, 0))
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for label, value in figures:
        table.add_row(label, value)
    console.print(table)


def print_report(console: Console, report: Report) -> None:
    """The report's sections in the order a reader wants them: the summary, what the user
    asked for (``--group-by``, ``--compare``), then over time, spans, errors, slowest."""
    from spanscope.analysis.selection import describe

    console.print(f"[bold]{escape(report.title)}[/bold] — {escape(describe(report.selection))}")
    _summary(console, report.summary.overall, report.summary.currency)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    if report.groups is not None:
        _groups(console, report)
    if report.comparison is not None:
        _comparison(console, report)
    _over_time(console, report)
    _spans(console, report)
    _errors(console, report)
    _slowest(console, report)


def _over_time(console: Console, report: Report) -> None:
    series = report.timeseries.table
    if len(series) == 1:
        console.print(f"[bold]Over time:[/bold] all traces fall in one "
                      f"{report.timeseries.bucket}; no trend to show.\n")
    elif len(series):
        console.print(f"[bold]Over time[/bold] (per {report.timeseries.bucket}, "
                      f"{len(series)} buckets)")
        console.print(f"  traces   {sparkline([float(v) for v in series['traces']])}")
        console.print(f"  failed   {sparkline([float(v) for v in series['errors']])}")
        p95 = [0.0 if _missing(v) else float(v) for v in series["latency_p95_ms"]]
        console.print(f"  p95      {sparkline(p95)}")
        console.print()


def _groups(console: Console, report: Report) -> None:
    assert report.groups is not None
    key = str(report.groups.group_by)
    rows = report.groups.table.to_dict("records")
    _print(console, f"By {key}", [
        Column(key, ["(not set)" if r[key] is None else str(r[key]) for r in rows],
               whole=False, keep=1, max_width=40),
        Column("traces", [_num(r["traces"]) for r in rows], numeric=True),
        Column("error rate", [_pct(r["error_rate"]) for r in rows], numeric=True),
        Column("p50", [_ms(r["latency_p50_ms"]) for r in rows], numeric=True),
        Column("p95", [_ms(r["latency_p95_ms"]) for r in rows], numeric=True),
        Column("tokens", [_num(r["total_tokens"]) for r in rows], numeric=True,
               optional=True),
        Column("model calls", [_num(r["calls"]) for r in rows], numeric=True, optional=True),
        Column("cost", [_money(r["cost_usd"], report.groups.currency) for r in rows],
               numeric=True, optional=True),
        *([Column("unpriced calls", [_num(r["unpriced_calls"]) for r in rows], numeric=True,
                  optional=True)] if any(r["unpriced_calls"] for r in rows) else []),
    ])


def _spans(console: Console, report: Report) -> None:
    rows = report.profile.by_name.head(10).to_dict("records")
    _print(console, "Time by span (top 10 names)", [
        Column("type", [str(r["span_type"]) for r in rows]),
        Column("name", [str(r["span_name"]) for r in rows], whole=False, keep=1, max_width=40),
        Column("count", [_num(r["count"]) for r in rows], numeric=True),
        Column("errors", [_num(r["errors"]) for r in rows], numeric=True),
        Column("p50", [_ms(r["p50_ms"]) for r in rows], numeric=True),
        Column("p95", [_ms(r["p95_ms"]) for r in rows], numeric=True),
        Column("total", [_ms(r["total_ms"]) for r in rows], numeric=True, optional=True),
        Column("share", [_pct(r["share"]) for r in rows], numeric=True, optional=True),
    ])


def _errors(console: Console, report: Report) -> None:
    errors = report.errors
    if not errors.patterns:
        console.print("[green]No errors.[/green]\n")
        return
    rows = errors.patterns
    title = (f"Top error patterns: failures in {errors.error_traces:,} traces; "
             f"{errors.failed_traces:,} of them failed, {errors.recovered_traces:,} recovered "
             "(a retry or fallback handled the failure)")
    _print(console, title, [
        Column("traces", [_num(p["count"]) for p in rows], numeric=True),
        Column("failed", [_num(p["failed"]) for p in rows], numeric=True),
        Column("pattern", [p["pattern"] for p in rows], whole=False, keep=1, min_width=20),
        Column("exception", [", ".join(p["exception_types"][:2]) for p in rows], whole=False),
        Column("span", [", ".join(p["span_names"][:2]) for p in rows], whole=False),
        Column("last seen", [_when(p["last_seen"]) for p in rows], optional=True),
        Column("example", [p["example_trace_ids"][0] for p in rows]),
    ])


def _slowest(console: Console, report: Report) -> None:
    rows = report.slowest
    _print(console, "Slowest traces", [
        Column("trace id", [t.trace_id for t in rows]),
        Column("latency", [_ms(t.latency_ms) for t in rows], numeric=True),
        Column("state", [Text(t.state, style=_STATE_STYLE.get(t.state, "")) for t in rows]),
        Column("time", [_when(t.request_time) for t in rows], optional=True),
        Column("request", [t.request_preview or "" for t in rows], whole=False),
    ])


def _comparison(console: Console, report: Report) -> None:
    comparison = report.comparison
    assert comparison is not None
    rows = comparison.metrics.to_dict("records")
    ci = f"{comparison.confidence:.0%} CI"

    def number(value: Any) -> str:
        return "-" if _missing(value) else f"{value:,.4g}"

    def interval(m: dict[str, Any]) -> str:
        unit = "%" if m["metric"] == "error_rate" else ""
        return ("-" if _missing(m["ci_low"]) else
                f"{_signed(m['ci_low'], unit)} … {_signed(m['ci_high'], unit)}")

    def styled(m: dict[str, Any], text: str) -> Text:
        return Text(text, style="bold" if m["significant"] else "")

    _print(console, f"Compare A: {comparison.a.label}  vs  B: {comparison.b.label}", [
        Column("metric", [styled(m, m["metric"]) for m in rows]),
        Column("A", [number(m["a"]) for m in rows], numeric=True),
        Column("B", [number(m["b"]) for m in rows], numeric=True),
        Column("B - A", [_signed(m["diff"], "%" if m["metric"] == "error_rate" else "")
                         for m in rows], numeric=True),
        Column("change", [_pct(m["rel_change"]) for m in rows], numeric=True),
        Column(ci, [styled(m, interval(m)) for m in rows], numeric=True, optional=True),
    ])
    console.print(f"[bold]Verdict:[/bold] {escape(comparison.verdict)}")
