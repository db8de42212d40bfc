"""``spanscope report``: how traces are doing, as tables, JSON or a self-contained HTML file.

A thin layer over ``spanscope.analysis.report.build_report`` (everything is aggregated in
the store) and ``report_html.write_html``. Tables go through Rich; ``--json`` writes the
report data with ``click.echo`` so it pipes intact. An empty selection, a bad time or
group key is an ``InvalidInputError`` that ``main.py`` prints as one line (exit code 3).
"""

from __future__ import annotations

import json

import click

from spanscope.cli.stores import reads_store

__all__ = ["report"]


@click.command("report")
@click.option("--filter", "-f", "--filter-string", "filter_string", metavar="FILTER",
              help="Filter language, e.g. \"tags.env = 'prod'\". [default: every trace]")
@click.option("--since", metavar="TIME",
              help="Start: a time ago (30m, 24h, 7d), an ISO date/time or epoch ms.")
@click.option("--until", metavar="TIME", help="End (exclusive), in the same forms.")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Experiment to report on (repeatable). [default: the active experiment]")
@click.option("--group-by", metavar="KEY",
              help="Break the summary down by tags.KEY, metadata.KEY, user, session or "
                   "span_type (cost by the type of the span that reported the tokens).")
@click.option("--compare", "compare_filters", nargs=2, metavar="FILTER_A FILTER_B",
              help="Compare two cohorts (filters) with bootstrap confidence intervals.")
@click.option("--bucket", type=click.Choice(["minute", "hour", "day"]),
              help="Time-series bucket. [default: by the time the traces span]")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many error patterns and slowest traces to show.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, writable=True),
              metavar="PATH", help="Also write a self-contained HTML report to PATH.")
@click.option("--trace-url", metavar="TEMPLATE",
              help="In the HTML, link trace ids to TEMPLATE with {trace_id} replaced, e.g. "
                   "http://localhost:5000/#/traces/{trace_id}. [default: to a section of "
                   "the file with each linked trace's findings and span tree]")
@click.option("--json", "as_json", is_flag=True, help="Print the report data as JSON.")
@reads_store(listing=False)
def report(filter_string: str | None, since: str | None, until: str | None,
           experiment_ids: tuple[str, ...], group_by: str | None,
           compare_filters: tuple[str, str] | None, bucket: str | None, top: int,
           html_path: str | None, trace_url: str | None, as_json: bool) -> None:
    """Summarise traces: volume, errors, latency, tokens, cost, where time goes, how they
    fail, the slowest ones, and optionally two cohorts compared.

    \b
    Examples:
      spanscope report --since 24h
      spanscope report --group-by tags.app_version --html report.html
      spanscope report --compare "tags.app_version = '1.4'" "tags.app_version = '1.5'"
      spanscope report -f "tags.env = 'prod'" --json | jq .summary
    """
    from spanscope.analysis.report import build_report

    built = build_report(filter_string, list(experiment_ids) or None, since, until,
                         group_by=group_by, compare_filters=compare_filters or None,
                         bucket=bucket, top_errors=top, slowest=top,
                         trace_details=bool(html_path) and not trace_url)
    if html_path:
        from spanscope.analysis.report_html import write_html

        write_html(built, html_path, trace_url=trace_url)
    if as_json:
        click.echo(json.dumps(built.to_dict(), indent=2, ensure_ascii=False,
                              default=str))
        return
    from spanscope.cli import render
    from spanscope.cli.report_render import print_report

    console = render.stdout_console()
    print_report(console, built)
    if html_path:
        console.print(f"Wrote the HTML report to {html_path}")
