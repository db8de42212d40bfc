"""Rich tables for ``spanscope report``: the report's sections, for people at a terminal."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich import box
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from spanscope.analysis.report import Report

__all__ = ["print_report"]

_SPARK = "▁▂▃▄▅▆▇█"


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


def _usd(value: Any) -> str:
    if _missing(value):
        return "-"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


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


def _table(title: str, *columns: str, numeric: tuple[str, ...] = ()) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left",
                  title_style="bold")
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    return table


def print_report(console: Console, report: Report) -> None:
    from spanscope.analysis.selection import describe

    overall = report.summary.overall
    console.print(f"[bold]{escape(report.title)}[/bold] — {escape(describe(report.selection))}")
    summary = _table("Summary", "traces", "errors", "error rate", "p50", "p95", "p99",
                     "tokens in", "tokens out", "cost",
                     numeric=("traces", "errors", "error rate", "p50", "p95", "p99",
                              "tokens in", "tokens out", "cost"))
    summary.add_row(_num(overall["traces"]), _num(overall["errors"]),
                    _pct(overall["error_rate"]), _ms(overall["latency_p50_ms"]),
                    _ms(overall["latency_p95_ms"]), _ms(overall["latency_p99_ms"]),
                    _num(overall["input_tokens"]), _num(overall["output_tokens"]),
                    _usd(overall["cost_usd"]))
    console.print(summary)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")

    series = report.timeseries.table
    if len(series):
        console.print(f"[bold]Over time[/bold] (per {report.timeseries.bucket}, "
                      f"{len(series)} bucket{'s' if len(series) != 1 else ''})")
        console.print(f"  traces   {sparkline([float(v) for v in series['traces']])}")
        console.print(f"  errors   {sparkline([float(v) for v in series['errors']])}")
        p95 = [0.0 if _missing(v) else float(v) for v in series["latency_p95_ms"]]
        console.print(f"  p95      {sparkline(p95)}")
        console.print()

    if report.groups is not None:
        key = str(report.groups.group_by)
        groups = _table(f"By {key}", key, "traces", "error rate", "p50", "p95", "tokens",
                        "cost", numeric=("traces", "error rate", "p50", "p95", "tokens",
                                         "cost"))
        for row in report.groups.table.to_dict("records"):
            value = row[key]
            groups.add_row(escape("(not set)" if value is None else str(value)),
                           _num(row["traces"]), _pct(row["error_rate"]),
                           _ms(row["latency_p50_ms"]), _ms(row["latency_p95_ms"]),
                           _num(row["total_tokens"]), _usd(row["cost_usd"]))
        console.print(groups)

    spans = _table("Time by span (top 10 names)", "type", "name", "count", "errors", "p50",
                   "p95", "total", "share",
                   numeric=("count", "errors", "p50", "p95", "total", "share"))
    for row in report.profile.by_name.head(10).to_dict("records"):
        spans.add_row(escape(str(row["span_type"])), escape(str(row["span_name"])),
                      _num(row["count"]), _num(row["errors"]), _ms(row["p50_ms"]),
                      _ms(row["p95_ms"]), _ms(row["total_ms"]), _pct(row["share"]))
    console.print(spans)

    if report.errors.patterns:
        errors = _table(f"Top error patterns ({report.errors.error_traces:,} traces with a "
                        "failed span)",
                        "traces", "pattern", "exception", "span", "last seen", "example",
                        numeric=("traces",))
        for p in report.errors.patterns:
            errors.add_row(_num(p["count"]), escape(p["pattern"][:80]),
                           escape(", ".join(p["exception_types"][:2])),
                           escape(", ".join(p["span_names"][:2])),
                           escape(p["last_seen"][:19].replace("T", " ")),
                           escape(p["example_trace_ids"][0]))
        console.print(errors)
    else:
        console.print("[green]No errors.[/green]\n")

    slowest = _table("Slowest traces", "trace id", "latency", "state", "time", "request",
                     numeric=("latency",))
    for t in report.slowest:
        slowest.add_row(escape(t.trace_id), _ms(t.latency_ms), escape(t.state),
                        escape(t.request_time or ""), escape((t.request_preview or "")[:60]))
    console.print(slowest)

    comparison = report.comparison
    if comparison is not None:
        table = _table(f"Compare A: {comparison.a.label}  vs  B: {comparison.b.label}",
                       "metric", "A", "B", "B - A", "change", f"{comparison.confidence:.0%} CI",
                       numeric=("A", "B", "B - A", "change", f"{comparison.confidence:.0%} CI"))
        for m in comparison.metrics.to_dict("records"):
            unit = "%" if m["metric"] == "error_rate" else ""
            ci = ("-" if _missing(m["ci_low"]) else
                  f"{_signed(m['ci_low'], unit)} … {_signed(m['ci_high'], unit)}")
            style = "bold" if m["significant"] else ""
            table.add_row(escape(m["metric"]), f"{m['a']:,.4g}" if not _missing(m["a"]) else "-",
                          f"{m['b']:,.4g}" if not _missing(m["b"]) else "-",
                          _signed(m["diff"], unit), _pct(m["rel_change"]), ci, style=style)
        console.print(table)
        console.print(f"[bold]Verdict:[/bold] {escape(comparison.verdict)}")
