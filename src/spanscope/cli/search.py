"""``spanscope traces search``: find traces with the filter language, print them four ways.

A thin layer over ``spanscope.search_traces`` (``return_type="list"``) and the result
columns of ``spanscope.api.extract``. Tables go through Rich; JSON, JSONL and CSV are
written with ``click.echo`` so they pipe intact, a page of traces at a time (memory stays
flat however large ``-n`` is). A bad filter is a ``FilterError``, which
``main.py`` prints as one line and exits with code 4.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click

from spanscope.cli.stores import reads_store

if TYPE_CHECKING:
    from rich.table import Table

    from spanscope.api.extract import ResultColumn
    from spanscope.entities import Trace

__all__ = ["search_command", "split_items"]

_CSV_COLUMNS = ("trace_id", "request_time", "state", "execution_duration", "name",
                "request_preview", "response_preview")


def split_items(values: Iterable[str]) -> list[str]:
    """Each value split on commas outside backticks and quotes; blanks dropped.

    ``--order-by "timestamp DESC,tags.`a,b`"`` is two items, like two ``--order-by``.
    """
    items: list[str] = []
    for value in values:
        current, quote = [], ""
        for ch in value:
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "`'\"":
                quote = ch
            elif ch == ",":
                items.append("".join(current))
                current = []
                continue
            current.append(ch)
        items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


@click.command("search")
@click.option("--filter", "-f", "--filter-string", "filter_string", metavar="FILTER",
              help="Filter language, e.g. \"attributes.state = 'ERROR' AND tags.env = 'prod'\" "
                   "(docs/filter-language.md). [default: every trace]")
@click.option("--order-by", "order_by", multiple=True, metavar="KEY [ASC|DESC]",
              help="Sort key: an attribute, tags.KEY or metadata.KEY; repeat it or separate "
                   "keys with commas. [default: newest first]")
@click.option("--max-results", "-n", type=click.IntRange(min=1), default=100,
              show_default=True, help="How many traces to print (one page).")
@click.option("--extract-fields", "extract_fields", multiple=True, metavar="FIELDS",
              help="Extra columns, comma-separated: SPAN.inputs.PATH, SPAN.outputs.PATH, "
                   "SPAN.attributes.KEY, SPAN.duration_ms, tags.KEY, metadata.KEY.")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Experiment to search (repeatable). [default: the active experiment]")
@click.option("--page-token", metavar="TOKEN",
              help="Continue a previous search (same filter and --order-by).")
@click.option("--include-spans/--no-include-spans", default=None,
              help="Load spans. [default: for json and jsonl, or when a field needs them]")
@click.option("--highlight", is_flag=True,
              help="Show where the filter's text comparisons (text CONTAINS 'x', request "
                   "ILIKE ...) matched: snippets under the table, a \"highlights\" list "
                   "in each JSON trace.")
@click.option("--output", "-o", type=click.Choice(["table", "json", "jsonl", "csv"]),
              default="table", show_default=True,
              help="A table for people; JSON ({\"traces\": [...], \"next_page_token\": ...}), "
                   "one trace JSON per line, or CSV for programs.")
@reads_store(listing=True)
def search_command(filter_string: str | None, order_by: tuple[str, ...], max_results: int,
                   extract_fields: tuple[str, ...], experiment_ids: tuple[str, ...],
                   page_token: str | None, include_spans: bool | None, highlight: bool,
                   output: str) -> None:
    """Search traces with the filter language and print one page of them.

    The table and CSV show the summary columns, every --extract-fields column and every
    tag, metadata or assessment field the filter compares. JSON and JSONL print whole
    traces (MLflow trace JSON); with --extract-fields each also gets a "fields" object.
    When more traces match, the next --page-token is printed (in the table caption, the
    JSON's next_page_token, or on stderr for JSONL and CSV).

    \b
    Examples:
      spanscope traces search -f "attributes.state = 'ERROR'" -n 20
      spanscope traces search -f "span.type = 'RETRIEVER' AND span.duration_ms > 500" \\
          --order-by "execution_time DESC" --extract-fields retrieve.inputs.query
      spanscope traces search -f "feedback.correctness = false" -o jsonl | jq .info.trace_id
      spanscope traces search -f "tag.quality_score < 0.7" -o csv > low_quality.csv
      spanscope traces search -f "text CONTAINS 'order A10042'" --highlight
    """
    import spanscope
    from spanscope.api.extract import result_columns
    from spanscope.cli.key_check import warn_unknown_keys

    orders = split_items(order_by)
    columns = result_columns(filter_string, split_items(extract_fields))
    warn_unknown_keys(filter_string, list(experiment_ids) or None)
    if include_spans is None:
        include_spans = output in ("json", "jsonl") or any(c.needs_spans for c in columns)
    needing = [c.name for c in columns if c.needs_spans]
    if needing and not include_spans:
        raise click.UsageError(f"--extract-fields {', '.join(needing)} read spans; "
                               "drop --no-include-spans")
    search = functools.partial(
        spanscope.search_traces, experiment_ids=list(experiment_ids) or None,
        filter_string=filter_string, order_by=orders or None, return_type="list",
        include_spans=include_spans, highlight=highlight)
    if output == "table":
        page = search(max_results=max_results, page_token=page_token)
        traces = list(page)
        from spanscope.cli import render

        console = render.stdout_console()
        if not traces:
            console.print("No traces match.", soft_wrap=True)
            return
        console.print(_table(traces, columns, orders, console.width))
        if highlight:
            _print_highlights(console, traces, page.highlights)
        render.print_more(console, getattr(page, "token", None))
        return
    pages = _Pages(search, max_results, page_token)
    with_fields = bool(extract_fields)
    if output == "json":
        _echo_json(pages, columns, with_fields, highlight)
    elif output == "jsonl":
        for traces in pages:
            click.echo("".join(json.dumps(_trace_dict(trace, columns, with_fields,
                                                      pages.marks(highlight)),
                                          ensure_ascii=False) + "\n" for trace in traces),
                       nl=False)
        _more_on_stderr(pages.token)
    else:
        header = True
        for traces in pages:
            click.echo(_csv(traces, columns, header=header), nl=False)
            header = False
        if header:  # no trace matched: the header alone
            click.echo(_csv([], columns), nl=False)
        _more_on_stderr(pages.token)


class _Pages:
    """``max_results`` traces fetched and handed out ``PAGE_SIZE`` at a time, so JSON,
    JSONL and CSV output hold one page in memory however many traces are printed.
    ``token`` is then the page token that continues after the last trace printed."""

    PAGE_SIZE = 200

    def __init__(self, search: Callable[..., Any], max_results: int,
                 page_token: str | None) -> None:
        self._search = search
        self._left = max_results
        self.token = page_token
        self.highlights: dict[str, Any] = {}

    def marks(self, wanted: bool) -> dict[str, Any] | None:
        """The current page's highlights by trace id, when asked for."""
        return self.highlights if wanted else None

    def __iter__(self) -> Iterator[list[Trace]]:
        while self._left > 0:
            page = self._search(max_results=min(self.PAGE_SIZE, self._left),
                                page_token=self.token)
            traces = list(page)
            self.token = getattr(page, "token", None)
            self.highlights = getattr(page, "highlights", {})
            self._left -= len(traces)
            if traces:
                yield traces
            if not self.token or not traces:
                self.token = self.token if traces else None
                return


def _echo_json(pages: _Pages, columns: Sequence[ResultColumn], with_fields: bool,
               highlight: bool) -> None:
    """``{"traces": [...], "next_page_token": ...}`` as ``json.dumps(indent=2)`` writes it,
    written one page at a time."""
    first = True
    for traces in pages:
        parts = []
        for trace in traces:
            text = json.dumps(_trace_dict(trace, columns, with_fields,
                                          pages.marks(highlight)), indent=2, ensure_ascii=False)
            parts.append(("{\n  \"traces\": [\n" if first else ",\n")
                         + textwrap.indent(text, "    ", lambda line: True))
            first = False
        click.echo("".join(parts), nl=False)
    head = '{\n  "traces": [],' if first else "\n  ],"
    click.echo(f"{head}\n  \"next_page_token\": {json.dumps(pages.token)}\n}}")


def _plain(value: Any) -> Any:
    """A value for JSON output: anything JSON cannot hold becomes its repr."""
    from spanscope.entities._codec import dumps

    return json.loads(dumps(value))


def _trace_dict(trace: Trace, columns: Sequence[ResultColumn], with_fields: bool,
                highlights: dict[str, Any] | None = None) -> dict:
    data = trace.to_dict()
    if with_fields:
        data["fields"] = {c.name: _plain(c.value_of(trace)) for c in columns}
    if highlights is not None:
        data["highlights"] = [h.to_dict() for h in highlights.get(trace.info.trace_id, [])]
    return data


def _print_highlights(console: Any, traces: Sequence[Trace],
                      highlights: dict[str, Any]) -> None:
    """Under the table: each trace's snippets, the matched text in bold."""
    from rich.text import Text

    for trace in traces:
        for h in highlights.get(trace.info.trace_id, []):
            line = Text(f"{trace.info.trace_id}  {h.span_name} ({h.kind}): ", style="dim")
            snippet = " ".join(h.snippet[:h.start].split()), h.match, " ".join(
                h.snippet[h.end:].split())
            line.append(snippet[0] + (" " if h.snippet[:h.start][-1:].isspace() else ""))
            line.append(snippet[1], style="bold reverse")
            line.append((" " if h.snippet[h.end:][:1].isspace() else "") + snippet[2])
            console.print(line, soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    from spanscope.entities._codec import dumps

    return dumps(value)


def _csv(traces: Sequence[Trace], columns: Sequence[ResultColumn], *,
         header: bool = True) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow([*_CSV_COLUMNS, *(c.name for c in columns)])
    for trace in traces:
        info = trace.info
        name = info.tags.get("mlflow.traceName")
        writer.writerow([info.trace_id, info.request_time, str(info.state),
                         _cell(info.execution_duration), _cell(name),
                         _cell(info.request_preview), _cell(info.response_preview),
                         *(_cell(c.value_of(trace)) for c in columns)])
    return out.getvalue()


def _more_on_stderr(token: str | None) -> None:
    if token:
        click.echo(f"More traces match; continue with --page-token {token}", err=True)


def _table(traces: Sequence[Trace], columns: Sequence[ResultColumn], orders: Sequence[str],
           width: int) -> Table:
    from spanscope.cli import render
    from spanscope.cli.fit import Column

    extra = [Column(c.name, [_cell(c.value_of(t)) for t in traces], whole=c.numeric,
                    numeric=c.numeric, min_width=max(8, len(c.name)), keep=1)
             for c in columns]
    return render.trace_table([t.info for t in traces], width=width, extra=extra,
                              order=", ".join(orders) if orders else "newest first")
