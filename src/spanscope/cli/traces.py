"""``spanscope traces``: print one trace as JSON, list recent traces.

Thin on purpose: parse flags, call ``spanscope.get_trace`` / ``spanscope.search_traces``,
render. JSON goes to stdout through ``click.echo`` alone, so it pipes to ``jq`` intact.
"""

from __future__ import annotations

import json

import click

from spanscope.cli.stores import reads_store, require_store

__all__ = ["traces"]


@click.group()
def traces() -> None:
    """Read, curate and analyse traces: print, list, search, tag, assess, delete, analyze."""


@traces.command("get")
@click.argument("trace_id_arg", metavar="[TRACE_ID]", required=False)
@click.option("--trace-id", "trace_id_opt", metavar="ID",
              help="The trace to print (or give it as the argument).")
def get_command(trace_id_arg: str | None, trace_id_opt: str | None) -> None:
    """Print one trace, spans included, as MLflow-compatible trace JSON (indent 2).

    Nothing but the JSON is written to stdout, so it pipes to jq.

    \b
    Examples:
      spanscope traces get --trace-id tr-0123456789abcdef0123456789abcdef
      spanscope traces get tr-0123… | jq '.data.spans[] | {name, status: .status.code}'
    """
    if trace_id_arg and trace_id_opt and trace_id_arg != trace_id_opt:
        raise click.UsageError("give the trace id once, as the argument or with --trace-id")
    trace_id = trace_id_opt or trace_id_arg
    if not trace_id:
        raise click.UsageError("missing trace id: spanscope traces get --trace-id ID")
    require_store()

    import spanscope
    from spanscope.exceptions import NotFoundError

    trace = spanscope.get_trace(trace_id)
    if trace is None:  # the API raises, but a None must not print "null"
        raise NotFoundError(f"trace {trace_id!r} not found")
    click.echo(trace.to_json(pretty=True))


@traces.command("list")
@click.option("--max-results", "-n", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many traces to show.")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Experiment to list (repeatable). [default: the active experiment]")
@click.option("--page-token", metavar="TOKEN", help="Continue from a previous listing.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people or a JSON array for programs.")
@reads_store(listing=True)
def list_command(max_results: int, experiment_ids: tuple[str, ...], page_token: str | None,
                 output: str) -> None:
    """List the newest traces (summary columns only; spans are not loaded).

    The table shows time, trace id, name, state, duration, tokens and the request.
    --output json prints a JSON array of the traces' info objects, newest first.

    \b
    Examples:
      spanscope traces list -n 50
      spanscope traces list --output json | jq -r '.[] | select(.state=="ERROR") | .trace_id'
    """
    import spanscope

    page = spanscope.search_traces(
        experiment_ids=list(experiment_ids) or None, max_results=max_results,
        page_token=page_token, return_type="list", include_spans=False)
    infos = [trace.info for trace in page]
    if output == "json":
        click.echo(json.dumps([info.to_dict() for info in infos], indent=2, ensure_ascii=False))
        return

    from rich.markup import escape

    from spanscope.cli import render

    console = render.stdout_console()
    if not infos:
        scope = f" (experiment {', '.join(experiment_ids)})" if experiment_ids else ""
        console.print(f"No traces in {escape(spanscope.get_tracking_uri())}{escape(scope)}. "
                      "Run [cyan]spanscope demo[/] to create some.", soft_wrap=True)
        return
    console.print(render.trace_table(infos, width=console.width))
    render.print_more(console, getattr(page, "token", None))


def _add_curation_commands() -> None:
    """tag, untag, delete, feedback, expectation live in curation.py."""
    from spanscope.cli import curation

    for command in (curation.tag_command, curation.untag_command, curation.delete_command,
                    curation.feedback_command, curation.expectation_command):
        traces.add_command(command)


_add_curation_commands()


def _add_search_command() -> None:
    """search lives in search.py."""
    from spanscope.cli.search import search_command

    traces.add_command(search_command)


_add_search_command()


def _add_analyze_command() -> None:
    """analyze lives in analyze.py."""
    from spanscope.cli.analyze import analyze_command

    traces.add_command(analyze_command)


_add_analyze_command()
