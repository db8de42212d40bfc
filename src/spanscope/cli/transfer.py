"""``spanscope export`` and ``spanscope import``: traces to and from files.

Thin over ``spanscope.lifecycle.export.export_traces`` and
``spanscope.lifecycle.importer.import_files``; a Rich progress bar on stderr while they
work, one summary line at the end (on stderr when the traces themselves go to stdout).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from spanscope.cli.stores import check_directory, require_store

__all__ = ["export_command", "import_command"]

_FORMATS = ("jsonl", "parquet", "mlflow-json")


@contextmanager
def _progress(description: str, total: int | None, *, enabled: bool) -> Iterator[
        Callable[[int, int | None, str], None] | None]:
    """A progress bar on stderr; yields ``update(done, total, description)`` (None if off)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=total)

        def update(done: int, new_total: int | None, text: str) -> None:
            progress.update(task, completed=done, total=new_total, description=text)

        yield update


@click.command("export")
@click.option("--output", "-o", "output", required=True, metavar="FILE",
              help="File to write (replaced if it exists); '-' writes JSON to stdout.")
@click.option("--format", "-F", "format_", type=click.Choice(_FORMATS),
              help="jsonl (a trace JSON per line), parquet (a row per trace) or mlflow-json "
                   "(what `mlflow traces search --output json` prints). [default: from the "
                   "extension: .jsonl, .parquet, .json; jsonl for stdout]")
@click.option("--filter", "-f", "--filter-string", "filter_string", metavar="FILTER",
              help="Only the traces this filter matches (docs/filter-language.md). "
                   "[default: every trace]")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Only this experiment (repeatable). [default: every experiment]")
@click.option("--page-size", type=click.IntRange(min=1), default=500, show_default=True,
              help="Traces read from the store at a time.")
@click.option("--no-progress", is_flag=True, help="Do not draw a progress bar.")
def export_command(output: str, format_: str | None, filter_string: str | None,
                   experiment_ids: tuple[str, ...], page_size: int, no_progress: bool) -> None:
    """Write traces with their spans, tags, metadata and assessments to a file.

    Streams: memory stays flat however many traces match. Each trace carries its
    experiment's name, so `spanscope import` puts it in the experiment of that name.

    \b
    Examples:
      spanscope export -o traces.parquet
      spanscope export -o errors.jsonl.gz -f "attributes.state = 'ERROR'" -x 1
      spanscope export -o - -F mlflow-json | jq '.traces | length'
    """
    import sys

    from spanscope import tracking
    from spanscope.lifecycle.export import count_traces, export_traces

    require_store()
    store = tracking.get_store()
    ids = list(experiment_ids) or None
    to_stdout = output == "-"
    if to_stdout and format_ == "parquet":
        raise click.UsageError("Parquet cannot go to stdout: give a file name with --output")
    total = count_traces(store, ids, filter_string) if not no_progress else None
    with _progress("Exporting", total, enabled=not no_progress) as update:
        on_page = None if update is None else (
            lambda done: update(done, total, "Exporting"))
        report = export_traces(store, sys.stdout if to_stdout else output,
                               format=format_ or ("jsonl" if to_stdout else None),
                               experiment_ids=ids, filter_string=filter_string,
                               page_size=page_size, progress=on_page)
    click.echo(report.summary(), err=to_stdout)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--experiment", "-e", metavar="NAME|ID",
              help="Put every trace in this experiment (an id, or a name: created if "
                   "missing). [default: the experiment named in the file, created if "
                   "missing]")
@click.option("--format", "-F", "format_", type=click.Choice(_FORMATS),
              help="The files' format. [default: from the extension, else the content]")
@click.option("--batch-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Traces written per transaction.")
@click.option("--no-progress", is_flag=True, help="Do not draw a progress bar.")
def import_command(files: tuple[str, ...], experiment: str | None, format_: str | None,
                   batch_size: int, no_progress: bool) -> None:
    """Read traces from files written by `spanscope export` (or MLflow) into the store.

    Idempotent: importing a file twice changes nothing the second time (traces already
    stored are merged with equal values; assessments are matched by id).

    \b
    Examples:
      spanscope import traces.parquet
      spanscope --tracking-uri postgresql://postgres@localhost/spanscope import a.jsonl b.jsonl
      spanscope import mlflow-traces.json --experiment support-bot
    """
    from pathlib import Path

    from spanscope import tracking
    from spanscope.lifecycle.importer import import_files

    check_directory(tracking.get_tracking_uri())
    store = tracking.get_store()
    with _progress("Importing", None, enabled=not no_progress) as update:
        on_batch = None if update is None else (
            lambda path, done, total: update(done, total, f"Importing {Path(path).name}"))
        report = import_files(store, list(files), experiment=experiment, format=format_,
                              batch_size=batch_size, progress=on_batch)
    click.echo(report.summary())
