"""``spanscope import-mlflow``: bring an MLflow store's traces and datasets across."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.console import Console

    from spanscope.lifecycle.mlflow_import import ImportReport

__all__ = ["import_mlflow"]


@click.command("import-mlflow")
@click.option("--from", "source", required=True, metavar="URI",
              help="The MLflow store: its tracking URI (sqlite:///mlflow.db, "
                   "postgresql://USER@HOST/DB) or a running MLflow server's http://HOST:PORT.")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Import only this MLflow experiment (name or id) and the datasets linked "
                   "to it; repeat for several. [default: every active experiment]")
@click.option("--dry-run", is_flag=True,
              help="Read and map everything, write nothing, and say what would be imported.")
@click.option("--batch-size", type=click.IntRange(min=1), default=200, show_default=True,
              help="Traces written per transaction (and between two saves of the resume "
                   "position).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The resume state file. [default: one per source and target under "
                   "~/.cache/spanscope/import-mlflow]")
@click.option("--restart", is_flag=True,
              help="Forget the resume position and read every trace again (nothing is "
                   "duplicated: writes are upserts).")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="The final report as tables, or as JSON for a pipe.")
@click.option("--no-progress", is_flag=True, help="Do not draw a progress bar.")
def import_mlflow(source: str, experiments: tuple[str, ...], dry_run: bool, batch_size: int,
                  state_path: Path | None, restart: bool, output: str,
                  no_progress: bool) -> None:
    """Import experiments, traces (spans, tags, metadata, assessments) and evaluation
    datasets from MLflow 3 into the tracking store.

    Traces keep their MLflow ids. Interrupted, the same command continues where it
    stopped; run again later, it brings only the traces added since. The report ends
    with what could not be mapped (counts and examples).

    \b
    Examples:
      spanscope import-mlflow --from sqlite:///mlflow.db
      spanscope import-mlflow --from http://127.0.0.1:5000 --experiment support-bot --dry-run
      spanscope --tracking-uri postgresql://postgres@localhost/spanscope \\
          import-mlflow --from postgresql://mlflow@localhost/mlflow -o json
    """
    import spanscope
    from spanscope.cli import render
    from spanscope.cli.stores import check_directory
    from spanscope.lifecycle.mlflow_import import import_mlflow as run_import
    from spanscope.tracking import get_store

    check_directory(spanscope.get_tracking_uri())
    store = get_store()
    with _progress(enabled=not no_progress) as on_progress:
        report = run_import(source, store, experiments=list(experiments) or None,
                            dry_run=dry_run, batch_size=batch_size, state_path=state_path,
                            restart=restart, on_progress=on_progress)
    if output == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    _print_report(render.stdout_console(), report)


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A Rich progress bar on stderr, one task per phase (traces, then each dataset)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.progress import TimeElapsedColumn as Elapsed

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  Elapsed(), console=Console(stderr=True)) as progress:
        tasks: dict[str, Any] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = progress.add_task(what, total=total)
            progress.update(tasks[what], completed=done, total=total)

        yield update


def _print_report(console: Console, report: ImportReport) -> None:
    from rich.table import Table

    verb = "Would import" if report.dry_run else "Imported"
    console.print(f"{verb} from {report.source} into {report.target}:", soft_wrap=True,
                  markup=False)
    totals = Table(show_header=False, box=None, padding=(0, 2))
    for label, value in (("experiments", len(report.experiments)),
                         ("traces", report.traces), ("spans", report.spans),
                         ("assessments", report.assessments), ("datasets", report.datasets),
                         ("dataset records added", report.records_inserted),
                         ("dataset records updated", report.records_updated),
                         ("dataset records already there", report.records_unchanged)):
        totals.add_row(label, f"{value:,}")
    console.print(totals)
    mapping = Table("MLflow experiment", "Spanscope experiment id", "resumed after",
                    title="Experiments", title_justify="left")
    for name, target in report.experiments.items():
        mapping.add_row(name, target, report.traces_resumed_after.get(name, "-"))
    console.print(mapping)
    if report.unmapped:
        table = Table("what", "count", "examples", title="Could not be mapped",
                      title_justify="left")
        for kind, found in report.unmapped.items():
            table.add_row(kind, f"{found.count:,}", "\n".join(found.examples))
        console.print(table)
    else:
        console.print("Everything read could be mapped.")
    if report.not_imported:
        table = Table("what", "count", title="In the MLflow store, not imported",
                      title_justify="left")
        for what, count in report.not_imported.items():
            table.add_row(what, f"{count:,}")
        console.print(table)
