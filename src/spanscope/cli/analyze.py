"""``spanscope traces analyze``: why did this request go wrong, and where did its time go?

Fetches one trace with ``spanscope.get_trace`` and prints what ``spanscope.analysis`` says
about it: the health check, the ranked findings, the per-type and per-name profile and the
span tree. ``--json`` prints the same as one JSON object (for jq and scripts), through
``click.echo`` only. An unknown id is a ``NotFoundError``: one line, exit code 1.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from spanscope.cli.stores import require_store

if TYPE_CHECKING:
    from spanscope.analysis import Finding, TraceHealth, TraceProfile
    from spanscope.entities import Trace

__all__ = ["analysis_report", "analyze_command"]

_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


@click.command("analyze")
@click.argument("trace_id_arg", metavar="[TRACE_ID]", required=False)
@click.option("--trace-id", "trace_id_opt", metavar="ID",
              help="The trace to analyse (or give it as the argument).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (health, findings, profile, tree) instead of tables.")
@click.option("--token-baseline", type=click.IntRange(min=1), metavar="TOKENS",
              help="Flag model calls sending more input tokens than this.")
@click.option("--min-retrieval-score", type=float, metavar="SCORE",
              help="Flag retrievals whose documents all score below this. [default: 0.1]")
@click.option("--ascii", "ascii_tree", is_flag=True,
              help="Draw the span tree with ASCII characters only.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, writable=True),
              metavar="PATH", help="Also write the findings and span tree as a "
                                   "self-contained HTML page to PATH.")
def analyze_command(trace_id_arg: str | None, trace_id_opt: str | None, as_json: bool,
                    token_baseline: int | None, min_retrieval_score: float | None,
                    ascii_tree: bool, html_path: str | None) -> None:
    """Diagnose one trace: health, findings (most severe first), time profile, span tree.

    Findings name the span where a failure started, retries, agent loops, the bottleneck
    and critical path, gaps, token spikes, empty or mismatched retrieval, empty or cut-off
    outputs, failed assessments and crashed scorers (docs/analysis.md).

    \b
    Examples:
      spanscope traces analyze tr-0123456789abcdef0123456789abcdef
      spanscope traces analyze --trace-id tr-0123… --json | jq '.findings[0]'
      spanscope traces analyze tr-0123… --html trace.html
    """
    if trace_id_arg and trace_id_opt and trace_id_arg != trace_id_opt:
        raise click.UsageError("give the trace id once, as the argument or with --trace-id")
    trace_id = trace_id_opt or trace_id_arg
    if not trace_id:
        raise click.UsageError("missing trace id: spanscope traces analyze --trace-id ID")
    require_store()

    import spanscope
    from spanscope.exceptions import NotFoundError

    trace = spanscope.get_trace(trace_id)
    if trace is None:  # the API raises, but a None must not be analysed
        raise NotFoundError(f"trace {trace_id!r} not found")

    from spanscope.analysis import diagnose, health, profile_trace

    check = health(trace)
    findings = diagnose(trace, token_baseline=token_baseline,
                        min_retrieval_score=min_retrieval_score)
    profile = profile_trace(trace)
    if html_path:
        from spanscope.analysis.report_html import write_trace_html
        from spanscope.analysis.trace_view import trace_view

        write_trace_html(trace_view(trace, findings), html_path)
    if as_json:
        report = analysis_report(trace, check, findings, profile, ascii_tree=ascii_tree)
        click.echo(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        return
    from spanscope.cli.render import stdout_console

    console = stdout_console()
    console.print(_health_text(trace, check), soft_wrap=True)
    console.print()
    console.print(_findings_table(findings))
    console.print()
    console.print(_profile_table(profile, by="type"))
    console.print(_profile_table(profile, by="name"))
    console.print()
    console.print(_tree_text(trace, findings, ascii_tree=ascii_tree))
    if html_path:
        console.print(f"Wrote the trace page to {html_path}", soft_wrap=True)


def analysis_report(trace: Trace, check: TraceHealth, findings: list[Finding],
                    profile: TraceProfile, *, ascii_tree: bool = False) -> dict[str, Any]:
    """What the command shows, as one JSON-ready dict (the --json output)."""
    from spanscope.analysis import render_tree
    from spanscope.analysis.pricing import trace_cost

    return {
        "trace_id": trace.info.trace_id,
        "health": check.to_dict(),
        "cost": trace_cost(trace).to_dict(),
        "findings": [f.to_dict() for f in findings],
        "profile": profile.to_dict(),
        "tree": render_tree(trace, ascii=ascii_tree, marks=_marks(findings)),
    }


def _marks(findings: list[Finding]) -> dict[str, list[str]]:
    """Finding kinds per span id, for the tree."""
    marks: dict[str, list[str]] = {}
    for finding in findings:
        if finding.span_id and finding.kind not in marks.get(finding.span_id, []):
            marks.setdefault(finding.span_id, []).append(finding.kind)
    return marks


# --- Rich rendering -----------------------------------------------------------------------
def _health_text(trace: Trace, check: TraceHealth) -> Any:
    from rich.text import Text

    state_style = {"OK": "green", "ERROR": "bold red"}.get(check.state, "yellow")
    name = trace.info.tags.get("mlflow.traceName") or "-"
    duration = "-" if check.duration_ms is None else f"{check.duration_ms} ms"
    text = Text.assemble(("Trace ", "bold"), (check.trace_id, "bold"), f"  {name}  ",
                         (check.state, state_style),
                         f"  {duration}  {check.span_count} spans")
    if check.error_spans:
        text.append("\nError spans: ", style="bold")
        text.append(", ".join(check.error_spans), style="red")
    if check.assessment_errors:
        text.append("\nScorers that crashed: ", style="bold")
        text.append(", ".join(check.assessment_errors))
    from spanscope.analysis.pricing import trace_cost

    cost = trace_cost(trace)
    if cost.calls:
        spent = "unknown" if cost.cost is None else f"{cost.cost:.6f} {cost.currency}"
        text.append("\nEstimated cost: ", style="bold")
        text.append(f"{spent} for {cost.calls} model calls")
        if cost.unpriced_calls:
            text.append(f" (unpriced: {cost.unpriced_calls} calls / {cost.unpriced_tokens} "
                        f"tokens of {', '.join(cost.unpriced_models)})")
    return text


def _findings_table(findings: list[Finding]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if not findings:
        return Text("No findings: nothing in this trace looks wrong.", style="green")
    table = Table(title="Findings, most severe first", title_justify="left",
                  header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    table.add_column("Severity", no_wrap=True)
    table.add_column("Kind", no_wrap=True)
    table.add_column("Span", no_wrap=True, max_width=28, overflow="ellipsis")
    table.add_column("What happened", ratio=1)
    for i, finding in enumerate(findings, 1):
        table.add_row(str(i), Text(finding.severity, style=_SEVERITY_STYLE[finding.severity]),
                      Text(finding.kind), Text(finding.span_name or "(trace)"),
                      Text(finding.message))
    return table


def _profile_table(profile: TraceProfile, *, by: str) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = profile.by_type if by == "type" else profile.by_name
    table = Table(title=f"Time by span {by}", title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD)
    table.add_column(f"Span {by}")
    for header in ("Count", "Errors", "Total ms", "Mean ms", "p50 ms", "p95 ms", "Share",
                   "Self share"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(Text(row.key), str(row.count), str(row.errors) if row.errors else "",
                      f"{row.total_ms:,.1f}", f"{row.mean_ms:,.1f}", f"{row.p50_ms:,.1f}",
                      f"{row.p95_ms:,.1f}", f"{row.share:.0%}", f"{row.self_share:.0%}")
    return table


def _tree_text(trace: Trace, findings: list[Finding], *, ascii_tree: bool) -> Any:
    from rich.text import Text

    from spanscope.analysis.tree import tree_lines

    text = Text("Span tree\n", style="bold")
    for line in tree_lines(trace, ascii=ascii_tree, marks=_marks(findings)):
        text.append(line.prefix, style="dim")
        text.append(line.label)
        text.append(f"  {line.detail}", style="cyan")
        if line.error:
            text.append(f"  {line.error}", style="red")
        if line.marks:
            text.append(f"  <- {', '.join(line.marks)}", style="yellow")
        text.append("\n")
    text.rstrip()
    return text
