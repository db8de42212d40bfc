"""Rich rendering for people: trace tables, the demo's progress bar and summary.

Only the CLI writes to the terminal, and only through here (JSON for pipes is written by
the commands with ``click.echo``, never through Rich, so it is never wrapped or styled).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from spanscope.demo.runner import DemoRecord, DemoResult
    from spanscope.demo.summary import DemoSummary, GroupStats
    from spanscope.entities import TraceInfo

__all__ = ["demo_progress", "demo_summary", "next_steps", "stdout_console", "trace_table"]

_STATE_STYLE = {"ERROR": "bold red", "OK": "green", "IN_PROGRESS": "yellow"}
_PIPE_WIDTH = 200  # a table piped to a file or pager is not cut at 80 columns


def stdout_console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = _PIPE_WIDTH
    return console


def local_time(ms: int) -> str:
    """Epoch milliseconds as local ISO time to the second (``2026-05-01 14:03:09``)."""
    return datetime.fromtimestamp(ms / 1000).isoformat(sep=" ", timespec="seconds")


def _one_line(text: str | None, limit: int = 80) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def trace_name(info: TraceInfo) -> str:
    return info.tags.get("mlflow.traceName") or "-"


def trace_table(infos: Sequence[TraceInfo], *, width: int = _PIPE_WIDTH,
                next_page_token: str | None = None) -> Table:
    """One row per trace: time, id, name, state, duration, tokens, request preview.

    The request column gets what ``width`` leaves after the other columns, so in a narrow
    terminal the preview is cut short instead of squeezing the ids and times.
    """
    caption = f"{len(infos)} trace{'s' if len(infos) != 1 else ''}, newest first"
    if next_page_token:
        caption += f"; more with --page-token {next_page_token}"
    rows = []
    for info in infos:
        usage = info.token_usage or {}
        rows.append((
            local_time(info.request_time),
            info.trace_id,
            trace_name(info),
            str(info.state),
            "-" if info.execution_duration is None else f"{info.execution_duration} ms",
            str(usage["total_tokens"]) if "total_tokens" in usage else "-",
        ))
    headers = ("Time (local)", "Trace ID", "Name", "State", "Duration", "Tokens")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    widths[2] = min(widths[2], 24)
    request_width = max(12, width - sum(w + 3 for w in widths) - 3)
    table = Table(caption=caption, caption_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD)
    for header, column_width in zip(headers, widths, strict=True):
        table.add_column(header, no_wrap=True, min_width=column_width, max_width=column_width,
                         overflow="ellipsis",
                         justify="right" if header in ("Duration", "Tokens") else "left")
    table.add_column("Request", no_wrap=True, overflow="ellipsis", max_width=request_width)
    for info, row in zip(infos, rows, strict=True):
        time_, trace_id, name, state, duration, tokens = row
        table.add_row(  # Text, not markup: names and previews may contain [brackets]
            time_, Text(trace_id), Text(name), Text(state, style=_STATE_STYLE.get(state, "")),
            duration, tokens, Text(_one_line(info.request_preview, request_width)))
    return table


@contextmanager
def demo_progress(total: int, *, enabled: bool = True) -> Iterator[
        Callable[[int, int, DemoRecord], None] | None]:
    """A progress bar on stderr; yields the runner's progress callback (None if disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[red]failed: {task.fields[errors]}[/]"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("Running the support agent", total=total, errors=0)
        errors = 0

        def advance(done: int, _total: int, record: DemoRecord) -> None:
            nonlocal errors
            errors += record.error is not None
            progress.update(task, completed=done, errors=errors)

        yield advance


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _rate(stats: GroupStats) -> str:
    return f"{stats.errors} ({stats.error_rate:.1%})"


def demo_summary(result: DemoResult, summary: DemoSummary) -> list[Any]:
    """The renderables that close a demo run: totals, then a breakdown by app version."""
    overall = summary.overall
    totals = Table(title=f"Demo run {result.run_id} (seed {result.seed})", title_justify="left",
                   show_header=False, box=None, padding=(0, 2))
    totals.add_column(style="bold")
    totals.add_column()
    stored = "" if overall.traces == result.n_traces else f"  [yellow]({overall.traces} stored)[/]"
    totals.add_row("Traces", f"{result.n_traces}{stored}")
    totals.add_row("Errors", _rate(overall))
    totals.add_row("Latency p50 / p95", f"{_ms(overall.p50_ms)} / {_ms(overall.p95_ms)}")
    mean = "-" if summary.mean_tokens is None else f"{summary.mean_tokens:,.0f}"
    totals.add_row("Tokens total / mean", f"{summary.total_tokens:,} / {mean} per trace")
    totals.add_row("Dropped by the SDK", str(result.dropped))
    rate = result.n_traces / result.wall_time_s if result.wall_time_s else 0.0
    totals.add_row("Wall time", f"{result.wall_time_s:.1f} s ({rate:,.0f} traces/s), "
                                f"flush {result.flush_time_s:.2f} s")
    versions = Table(title="By app_version", title_justify="left", header_style="bold")
    versions.add_column("app_version")
    for name in ("traces", "errors", "p50", "p95"):
        versions.add_column(name, justify="right")
    for version, stats in summary.by_version.items():
        versions.add_row(Text(version), str(stats.traces), _rate(stats), _ms(stats.p50_ms),
                         _ms(stats.p95_ms))
    from spanscope.demo.profiles import TIME_SCALE

    note = (f"[dim]Latencies are simulated at 1/{round(1 / TIME_SCALE)} of real time and "
            "slept for real; spans are timed, not forged.[/]")
    return [totals, "", versions, note]


def next_steps(commands: Sequence[tuple[str, str]]) -> list[str]:
    """``(command, why)`` pairs as the closing "what to run next" lines."""
    lines = ["", "[bold]What to run next:[/]"]
    for cmd, why in commands:  # comment above command: long commands never wrap into it
        lines += [f"  [dim]# {escape(why)}[/]", f"  [cyan]{escape(cmd)}[/]"]
    return lines
