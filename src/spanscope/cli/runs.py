"""``spanscope runs list|show``: the runs of an experiment, and one run in full.

Thin: parse flags, call ``spanscope.search_runs`` / ``spanscope.get_run`` /
``list_artifacts``, render a Rich table for people or JSON for programs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import click

from spanscope.cli.stores import reads_store

__all__ = ["runs"]


def _time(ms: int | None) -> str:
    from spanscope.cli.render import local_time

    return "-" if ms is None else local_time(ms)


def _duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return "-"
    if end - start < 1000:
        return f"{end - start} ms"
    seconds = (end - start) / 1000
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.6g}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@click.group()
def runs() -> None:
    """List runs and show one run's params, metrics, tags and artifacts."""


@runs.command("list")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Experiment to list (repeatable). [default: the active experiment]")
@click.option("--filter", "filter_string", metavar="TEXT",
              help="e.g. \"params.model = 'gpt-4o' AND metrics.accuracy > 0.8\".")
@click.option("--order-by", "order_by", multiple=True, metavar="KEY",
              help="e.g. 'metrics.accuracy DESC' (repeatable). [default: newest first]")
@click.option("--max-results", "-n", type=click.IntRange(min=1), default=50,
              show_default=True, help="How many runs to show.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people or a JSON array for programs.")
@reads_store(listing=True)
def list_command(experiment_ids: tuple[str, ...], filter_string: str | None,
                 order_by: tuple[str, ...], max_results: int, output: str) -> None:
    """List runs, newest first: name, id, status, start, duration and metrics.

    --output json prints each run as {"info": {...}, "data": {"params", "metrics",
    "tags"}}.

    \b
    Examples:
      spanscope runs list
      spanscope runs list --filter "metrics.correctness/mean < 0.8" -o json
    """
    import spanscope

    found = spanscope.search_runs(experiment_ids=list(experiment_ids) or None,
                                  filter_string=filter_string, order_by=list(order_by) or None,
                                  max_results=max_results, output_format="list")
    if output == "json":
        click.echo(json.dumps([_jsonable(r.to_dict()) for r in found], indent=2,
                              ensure_ascii=False))
        return
    from rich.markup import escape
    from rich.text import Text

    from spanscope.cli import render

    console = render.stdout_console()
    if not found:
        console.print(f"No runs in {escape(spanscope.get_tracking_uri())}.", soft_wrap=True)
        return
    from spanscope.cli.fit import Column, fit_table

    styles = {"FAILED": "bold red", "FINISHED": "green", "RUNNING": "yellow"}
    infos = [run.info for run in found]
    table = fit_table([
        Column("Start (local)", [_time(i.start_time) for i in infos],
               short=[_time(i.start_time)[5:] for i in infos], optional=True),
        Column("Run ID", [i.run_id for i in infos]),
        Column("Name", [i.run_name or "-" for i in infos], whole=False, max_width=30),
        Column("Status", [Text(str(i.status), style=styles.get(str(i.status), ""))
                          for i in infos]),
        Column("Duration", [_duration(i.start_time, i.end_time) for i in infos], numeric=True),
        Column("Metrics", [", ".join(f"{k}={_number(v)}" for k, v in
                                     sorted(run.data.metrics.items())) or "-" for run in found],
               whole=False, min_width=12),
    ], width=console.width,
        caption=f"{len(found)} run{'s' if len(found) != 1 else ''}, newest first")
    console.print(table)


@runs.command("show")
@click.argument("run_id")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Sections for people or one JSON object for programs.")
@reads_store(listing=False)
def show_command(run_id: str, output: str) -> None:
    """Show one run: its info, params, metrics, tags and artifact files.

    \b
    Example:
      spanscope runs show 0123456789abcdef0123456789abcdef
    """
    import spanscope
    from spanscope.api.runs import list_artifacts

    run = spanscope.get_run(run_id)
    files = _walk(run_id, list_artifacts)
    if output == "json":
        body = _jsonable(run.to_dict())
        body["artifacts"] = [{"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size}
                             for f in files]
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from spanscope.cli import render

    console = render.stdout_console()
    info = run.info
    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    for label, value in (("Run ID", info.run_id), ("Name", info.run_name or "-"),
                         ("Experiment", info.experiment_id), ("Status", str(info.status)),
                         ("Start", _time(info.start_time)), ("End", _time(info.end_time)),
                         ("Duration", _duration(info.start_time, info.end_time)),
                         ("Artifacts", info.artifact_uri or "-")):
        facts.add_row(label, Text(value))
    console.print(facts)
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("Params", sorted(run.data.params.items())),
        ("Metrics", [(k, _number(v)) for k, v in sorted(run.data.metrics.items())]),
        ("Tags", sorted(run.data.tags.items())),
        ("Artifact files", [(f.path, "-" if f.file_size is None else f"{f.file_size} bytes")
                            for f in files if not f.is_dir]),
    ]
    for title, rows in sections:
        table = Table(title=title, title_justify="left", title_style="bold",
                      show_header=False, box=box.SIMPLE)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(Text(key), Text(value))
        if not rows:
            table.add_row("-", "")
        console.print(table)


def _walk(run_id: str, list_artifacts: Any, path: str | None = None) -> list[Any]:
    """Every artifact file and directory of the run, depth first."""
    found = []
    for item in list_artifacts(run_id, path):
        found.append(item)
        if item.is_dir:
            found.extend(_walk(run_id, list_artifacts, item.path))
    return found
