"""``spanscope datasets list|show|export|import|build``: evaluation datasets from the shell.

Thin: each command calls one function of ``spanscope.genai.datasets`` and renders the
result (a Rich table for people, JSON for programs).
"""

from __future__ import annotations

import json
from typing import Any

import click

from spanscope.cli.stores import reads_store

__all__ = ["datasets"]


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _time(ms: int | None) -> str:
    from spanscope.cli.render import local_time

    return "-" if not ms else local_time(ms)


@click.group()
def datasets() -> None:
    """Evaluation datasets: list, show, export to / import from CSV, JSONL, Parquet."""


@datasets.command("list")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Only datasets linked to this experiment (repeatable). [default: all]")
@click.option("--filter", "filter_string", metavar="TEXT",
              help="e.g. \"name LIKE 'support%' AND tags.team = 'qa'\".")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people or a JSON array for programs.")
@reads_store(listing=True)
def list_command(experiment_ids: tuple[str, ...], filter_string: str | None,
                 output: str) -> None:
    """List datasets, newest first: name, id, version, records, digest, last update.

    \b
    Example:
      spanscope datasets list -o json | jq -r '.[].name'
    """
    from spanscope.genai.datasets import search_datasets

    found = search_datasets(list(experiment_ids) or None, filter_string=filter_string)
    if output == "json":
        click.echo(json.dumps([d.to_dict() for d in found], indent=2, ensure_ascii=False))
        return
    from spanscope.cli import render

    console = render.stdout_console()
    if not found:
        console.print("No datasets. Create one with spanscope.genai.datasets.create_dataset "
                      "or spanscope datasets import NAME FILE.", soft_wrap=True)
        return
    from spanscope.cli.fit import Column, fit_table

    table = fit_table([
        Column("Name", [d.name for d in found], whole=False, keep=1, max_width=40),
        Column("Dataset ID", [d.dataset_id for d in found]),
        Column("Version", [str(d.version) for d in found], numeric=True),
        Column("Records", [f"{d.record_count:,}" for d in found], numeric=True),
        Column("Digest", [d.digest[:12] for d in found], optional=True),
        Column("Updated (local)", [_time(d.last_update_time) for d in found], optional=True),
    ], width=console.width,
        caption=f"{len(found)} dataset{'s' if len(found) != 1 else ''}")
    console.print(table)


@datasets.command("show")
@click.argument("name")
@click.option("--version", type=click.IntRange(min=0), metavar="N",
              help="Show this version. [default: the current one]")
@click.option("--max-records", "-n", type=click.IntRange(min=0), default=20,
              show_default=True, help="How many records to show (table output).")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Tables for people or one JSON object for programs.")
@reads_store(listing=False)
def show_command(name: str, version: int | None, max_records: int, output: str) -> None:
    """Show a dataset: its versions and its records.

    --output json prints {"dataset": {...}, "versions": [...], "records": [...]} with
    every record of the version.

    \b
    Examples:
      spanscope datasets show support-regressions
      spanscope datasets show support-regressions --version 1 -o json
    """
    from spanscope.genai.datasets import get_dataset

    dataset = get_dataset(name)
    versions = dataset.versions()
    records = dataset.get_records(version)
    if output == "json":
        click.echo(json.dumps({"dataset": dataset.to_dict(),
                               "versions": [v.to_dict() for v in versions],
                               "records": [r.to_dict() for r in records]},
                              indent=2, ensure_ascii=False))
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from spanscope.cli import render

    console = render.stdout_console()
    shown = dataset.version if version is None else version
    console.print(Text(f"{dataset.name}  ({dataset.dataset_id})  version {shown} of "
                       f"{dataset.version}, {len(records)} records"), soft_wrap=True)
    table = Table(title="Versions", title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD)
    for header in ("Version", "Created (local)", "Records", "Inserted", "Updated", "Digest"):
        table.add_column(header, no_wrap=True)
    for item in versions:
        table.add_row(str(item.version), _time(item.created_time), str(item.record_count),
                      str(item.inserted), str(item.updated), item.digest[:12])
    console.print(table)
    table = Table(title="Records", title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD,
                  caption=(f"{max_records} of {len(records)} shown; --max-records for more"
                           if len(records) > max_records else None), caption_justify="left")
    for header in ("Record ID", "Inputs", "Expectations", "Source trace"):
        table.add_column(header, overflow="ellipsis", no_wrap=True,
                         max_width=None if header == "Record ID" else 60)
    for record in records[:max_records]:
        table.add_row(Text(record.record_id), Text(_short(record.inputs)),
                      Text("-" if record.expectations is None else _short(record.expectations)),
                      Text(record.source_trace_id or "-"))
    console.print(table)


@datasets.command("export")
@click.argument("name")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--format", "format_", type=click.Choice(["csv", "jsonl", "parquet"]),
              help="File format. [default: from PATH's extension]")
@click.option("--version", type=click.IntRange(min=0), metavar="N",
              help="Export this version. [default: the current one]")
@reads_store(listing=False)
def export_command(name: str, path: str, format_: str | None, version: int | None) -> None:
    """Write a dataset's records to a CSV, JSONL or Parquet file.

    \b
    Examples:
      spanscope datasets export support-regressions regressions.jsonl
      spanscope datasets export support-regressions v1.parquet --version 1
    """
    from spanscope.genai.datasets import get_dataset

    dataset = get_dataset(name)
    written = dataset.export(path, format_, version=version)
    count = len(dataset.get_records(version))
    click.echo(f"Wrote {count} record{'s' if count != 1 else ''} of dataset {name} "
               f"(version {dataset.version if version is None else version}) to {written}.")


@datasets.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "format_", type=click.Choice(["csv", "jsonl", "parquet"]),
              help="File format. [default: from PATH's extension]")
@click.option("--experiment-id", "-x", metavar="ID",
              help="Link a new dataset to this experiment. [default: the active one]")
def import_command(name: str, path: str, format_: str | None,
                   experiment_id: str | None) -> None:
    """Merge a CSV, JSONL or Parquet file into dataset NAME (created if missing).

    Records are upserted by their inputs, and the import is one new version.

    \b
    Example:
      spanscope datasets import support-regressions regressions.csv
    """
    from spanscope.exceptions import NotFoundError
    from spanscope.genai.datasets import get_dataset, import_dataset

    try:
        dataset = get_dataset(name).import_records(path, format_)
    except NotFoundError:
        dataset = import_dataset(name, path, format_, experiment_id=experiment_id)
    merge = dataset.last_merge
    inserted, updated = (merge.inserted, merge.updated) if merge else (0, 0)
    click.echo(f"Dataset {name} is now version {dataset.version} with "
               f"{dataset.record_count} records ({inserted} inserted, {updated} updated).")


@datasets.command("build")
@click.argument("name")
@click.option("--filter", "filter_string", metavar="TEXT",
              help="Only traces matching this filter (the search language).")
@click.option("--max-records", "-n", type=click.IntRange(min=1), default=100,
              show_default=True, help="How many records to sample.")
@click.option("--stratify-by", multiple=True, metavar="DIM",
              help="state, latency, tags.KEY or metadata.KEY (repeatable). "
                   "[default: state and latency]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Same seed, same traces, same sample.")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Sample traces of this experiment (repeatable). [default: the active one]")
def build_command(name: str, filter_string: str | None, max_records: int,
                  stratify_by: tuple[str, ...], seed: int,
                  experiment_ids: tuple[str, ...]) -> None:
    """Sample a diverse set of traces into dataset NAME (stratified, deduplicated).

    \b
    Example:
      spanscope datasets build triage --max-records 50 --stratify-by state \\
          --stratify-by latency --stratify-by tags.route
    """
    from spanscope.evaluation.sampling import describe_strata
    from spanscope.genai.datasets import build_dataset_from_traces

    dataset = build_dataset_from_traces(
        name, filter_string=filter_string, max_records=max_records,
        stratify_by=stratify_by or ("state", "latency"), seed=seed,
        experiment_ids=list(experiment_ids) or None)
    for row in describe_strata(dataset.last_sample):
        click.echo(f"  {row['stratum']}: {row['taken']} of {row['candidates']} traces")
    click.echo(f"Dataset {name} is now version {dataset.version} with "
               f"{dataset.record_count} records.")
