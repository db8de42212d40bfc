"""``spanscope demo``: fill the store with traces from the simulated support agent."""

from __future__ import annotations

import shlex
import time

import click
from click.core import ParameterSource

__all__ = ["demo"]


@click.command()
@click.option("--traces", "n_traces", type=click.IntRange(min=1), default=500,
              show_default=True, help="How many requests (traces) to run.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Same seed, same questions, users, faults and outcomes.")
@click.option("--experiment", "experiment_name", metavar="NAME",
              help="Write into this experiment, created on first use. "
                   "[default: the active experiment]")
@click.option("--no-progress", is_flag=True, help="Do not draw a progress bar.")
@click.option("--outage", type=click.FloatRange(0, 1), default=0.0, metavar="RATE",
              help="Simulate a provider outage: each LLM call times out with this "
                   "probability (0 to 1), raising the error rate. [default: 0]")
@click.pass_context
def demo(ctx: click.Context, n_traces: int, seed: int, experiment_name: str | None,
         no_progress: bool, outage: float) -> None:
    """Run a simulated customer-support agent and write its traces.

    In-process, no network and no real LLM: every request is traced (AGENT, CHAT_MODEL,
    RETRIEVER and TOOL spans with real, scaled-down latencies, token usage, about 5%
    errors of several kinds), then a summary is printed from what reached the store.

    \b
    Examples:
      spanscope demo
      spanscope demo --traces 2000 --seed 7 --experiment support-bot
      spanscope demo --traces 100 --outage 0.5   # a bad hour: about half the requests fail
      spanscope --tracking-uri postgresql://postgres@localhost/spanscope demo
    """
    import spanscope
    from spanscope.cli import render
    from spanscope.cli.stores import check_directory
    from spanscope.demo.runner import DEMO_RUN_TAG, run_demo
    from spanscope.demo.summary import find_run_traces, summarize
    from spanscope.exceptions import StoreError

    check_directory(spanscope.get_tracking_uri())  # before set_experiment opens the store
    experiment_ids = None
    if experiment_name:
        found = spanscope.set_experiment(experiment_name)
        experiment_ids = [str(getattr(found, "experiment_id", found))]
    # Open the store before running anything, so a bad URI fails now and not in the
    # exporter thread after the whole run.
    spanscope.search_traces(experiment_ids=experiment_ids, max_results=1, return_type="list",
                            include_spans=False)

    console = render.stdout_console()
    where = spanscope.get_tracking_uri()
    console.print(f"Writing {n_traces} traces (seed {seed}) to {where}"
                  + (f", experiment {experiment_name!r}" if experiment_name else ""),
                  markup=False, soft_wrap=True)
    since_ms = int(time.time() * 1000) - 1000
    with render.demo_progress(n_traces, enabled=not no_progress) as on_progress:
        result = run_demo(n_traces, seed, on_progress, outage=outage)
    if not result.flushed:
        click.echo("Warning: not every trace was exported before the flush timed out.",
                   err=True)

    infos = find_run_traces(DEMO_RUN_TAG, result.run_id, result.n_traces,
                            experiment_ids=experiment_ids, since_ms=since_ms)
    if not infos:
        raise StoreError(f"none of the {result.n_traces} demo traces reached {where}; "
                         "the SDK log above says why")
    summary = summarize(infos)
    for renderable in render.demo_summary(result, summary):
        console.print(renderable)

    prefix = "spanscope"
    if ctx.find_root().get_parameter_source("tracking_uri") == ParameterSource.COMMANDLINE:
        prefix += f" --tracking-uri {shlex.quote(where)}"
    list_cmd = f"{prefix} traces list"
    if experiment_ids:
        list_cmd += f" --experiment-id {experiment_ids[0]}"
    steps = [(list_cmd, "the newest traces")]
    if summary.error_trace_ids:
        steps.append((f"{prefix} traces analyze {summary.error_trace_ids[0]}",
                      "why did this request fail? the span where it started, and what else "
                      "went wrong"))
    steps.append((f"{prefix} report --group-by tags.app_version --html spanscope-report.html",
                  "how the two app versions compare, as tables and an HTML page"))
    steps.append((f"{prefix} ui", "find, read and label these traces in the browser"))
    for line in render.next_steps(steps):
        console.print(line, soft_wrap=True)
