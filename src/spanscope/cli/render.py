"""Rich rendering for people: trace tables, the demo's progress bar and summary.

Only the CLI writes to the terminal, and only through here (JSON for pipes is written by
the commands with ``click.echo``, never through Rich, so it is never wrapped or styled).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from spanscope.cli.fit import Column, fit_table

if TYPE_CHECKING:
    from spanscope.demo.runner import DemoRecord, DemoResult
    from spanscope.demo.summary import DemoSummary, GroupStats
    from spanscope.entities import TraceInfo

__all__ = [
    "demo_progress",
    "demo_summary",
    "next_steps",
    "print_more",
    "stdout_console",
    "trace_table",
]

_STATE_STYLE = {"ERROR": "bold red", "OK": "green", "IN_PROGRESS": "yellow"}
_PIPE_WIDTH = 200  # a table piped to a file or pager is not cut at 80 columns


def stdout_console() -> Console:
    """A console on stdout: the terminal's width, or ``COLUMNS`` when set, else 200 columns
    for a pipe (a table piped to a file or pager is not cut at 80)."""
    console = Console(highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        console.width = _PIPE_WIDTH
    return console


def local_time(ms: int) -> str:
    """Epoch milliseconds as local ISO time to the second (``2026-05-01 14:03:09``)."""
    return datetime.fromtimestamp(ms / 1000).isoformat(sep=" ", timespec="seconds")


def trace_name(info: TraceInfo) -> str:
    return info.tags.get("mlflow.traceName") or "-"


def trace_table(infos: Sequence[TraceInfo], *, width: int = _PIPE_WIDTH,
                extra: Sequence[Column] = (), order: str = "newest first") -> Table:
    """One row per trace: time, id, name, state, duration, tokens, then ``extra`` columns
    (or, without them, the request preview).

    Ids, times and numbers are never cut (``cli/fit.py``): in a narrow terminal the
    request and the name give way first, then the time loses its year.
    """
    states = [str(info.state) for info in infos]
    columns = [
        Column("Time (local)", [local_time(i.request_time) for i in infos],
               short=[local_time(i.request_time)[5:] for i in infos], optional=True),
        Column("Trace ID", [i.trace_id for i in infos]),
        Column("Name", [trace_name(i) for i in infos], whole=False, max_width=24,
               min_width=8),
        Column("State", [Text(s, style=_STATE_STYLE.get(s, "")) for s in states]),
        Column("Duration", ["-" if i.execution_duration is None
                            else f"{i.execution_duration:,} ms" for i in infos], numeric=True),
        Column("Tokens", [_tokens(i) for i in infos], numeric=True),
        *extra,
    ]
    if not extra:
        columns.append(Column("Request", [i.request_preview or "" for i in infos],
                              whole=False, min_width=12))
    caption = f"{len(infos)} trace{'s' if len(infos) != 1 else ''}, {order}"
    return fit_table(columns, width=width, caption=caption)


def _tokens(info: TraceInfo) -> str:
    usage = info.token_usage or {}
    return f"{usage['total_tokens']:,}" if "total_tokens" in usage else "-"


def print_more(console: Console, token: str | None) -> None:
    """Where the next page starts, on a line of its own that the terminal may wrap but
    nothing cuts, so the token can be copied whole."""
    if token:
        console.print(f"More traces match; continue with --page-token {token}",
                      soft_wrap=True, style="dim", highlight=False)


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
