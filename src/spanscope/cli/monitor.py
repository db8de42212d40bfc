"""``spanscope monitor create|list|show|delete|test|run``: production monitors.

Thin: each command calls one function of ``spanscope.monitoring.monitors`` on the tracking
store (the database a server runs on) and prints the result as a table for people or JSON
for programs. ``run`` is the worker (``--once``: one pass, for cron and tests).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import click

from spanscope.entities.monitor import duration_text

if TYPE_CHECKING:
    from spanscope.entities.monitor import Monitor, MonitorStatus

__all__ = ["monitor"]

_OUTPUT = click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
                       show_default=True, help="A table for people or JSON for programs.")


def _levels(monitor: Monitor) -> str:
    t = monitor.thresholds
    parts = [f"{label} {value:g}" for label, value in (
        ("warn >", t.warn_above), ("alert >", t.alert_above), ("warn <", t.warn_below),
        ("alert <", t.alert_below)) if value is not None]
    return ", ".join(parts)


def _value(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


@click.group()
def monitor() -> None:
    """Monitors: a metric over a filter and a rolling window, evaluated on a cadence, with
    WARNING/ALERT thresholds and webhook notifications.

    Monitors live in the tracking store (--tracking-uri), the database a server runs on;
    the server evaluates them (unless --no-monitor), or 'spanscope monitor run' does.
    """


@monitor.command("create")
@click.option("--name", required=True, help="A unique name, used by the other commands.")
@click.option("--metric", required=True, metavar="METRIC",
              help="trace_count, error_rate, latency_p50|p95|p99, latency_mean, "
                   "tokens_sum|mean, cost_sum|mean, assessment_mean:NAME, "
                   "assessment_pass_rate:NAME, span_duration_p50|p95|p99, span_error_rate "
                   "(span metrics need a span.type = '…' filter).")
@click.option("--filter", "filter_string", metavar="FILTER",
              help="Which traces count (the filter language of 'traces search').")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Experiment to watch (repeatable). [default: every experiment]")
@click.option("--window", default="1h", show_default=True,
              help="The rolling window each evaluation reads (e.g. 15m, 1h, 1d).")
@click.option("--cadence", default="5m", show_default=True,
              help="How often to evaluate (never longer than the window).")
@click.option("--warn-above", type=float, metavar="X", help="WARNING when the value > X.")
@click.option("--alert-above", type=float, metavar="X", help="ALERT when the value > X.")
@click.option("--warn-below", type=float, metavar="X", help="WARNING when the value < X.")
@click.option("--alert-below", type=float, metavar="X", help="ALERT when the value < X.")
@click.option("--min-samples", type=click.IntRange(min=0), default=1, show_default=True,
              help="Fewer traces (or assessments, spans) than this is NO_DATA.")
@click.option("--no-data", type=click.Choice(["no_data", "ok", "keep", "alert"]),
              default="no_data", show_default=True,
              help="What an evaluation without enough data means.")
@click.option("--renotify", metavar="DURATION",
              help="Notify a lasting WARNING/ALERT again this often. [default: once]")
@click.option("--webhook", metavar="URL", help="POST notifications here (JSON).")
@click.option("--webhook-secret", envvar="SPANSCOPE_WEBHOOK_SECRET", metavar="SECRET",
              help="Sign each POST with HMAC-SHA256 (X-Spanscope-Signature).")
@click.option("--webhook-format", type=click.Choice(["json", "slack"]), default="json",
              show_default=True, help="slack: a Slack-compatible {\"text\": …} body.")
@_OUTPUT
def create_command(name: str, metric: str, filter_string: str | None,
                   experiment_ids: tuple[str, ...], window: str, cadence: str,
                   warn_above: float | None, alert_above: float | None,
                   warn_below: float | None, alert_below: float | None, min_samples: int,
                   no_data: str, renotify: str | None, webhook: str | None,
                   webhook_secret: str | None, webhook_format: str, output: str) -> None:
    """Create a monitor; it is first evaluated at the worker's next pass.

    \b
    Examples:
      spanscope monitor create --name errors --metric error_rate --window 1h \\
          --cadence 5m --warn-above 0.05 --alert-above 0.2 --min-samples 20 \\
          --webhook https://hooks.example.com/spanscope
      spanscope monitor create --name slow-retrieval --metric span_duration_p95 \\
          --filter "span.type = 'RETRIEVER'" --window 30m --alert-above 800
    """
    from spanscope.monitoring.monitors import create_monitor

    created = create_monitor(
        name, metric, filter_string=filter_string,
        experiment_ids=list(experiment_ids) or None, window=window, cadence=cadence,
        warn_above=warn_above, alert_above=alert_above, warn_below=warn_below,
        alert_below=alert_below, min_samples=min_samples, renotify=renotify,
        no_data=no_data, webhook=webhook, webhook_secret=webhook_secret,
        webhook_format=webhook_format)
    if output == "json":
        click.echo(json.dumps(created.to_dict(), indent=2))
        return
    click.echo(f"Created monitor {created.name!r} ({created.monitor_id}): {created.metric} "
               f"over {duration_text(created.window_ms)} every "
               f"{duration_text(created.cadence_ms)}, "
               f"{_levels(created)}.")


def _row(found: Monitor, status: MonitorStatus) -> dict[str, Any]:
    return {**found.to_dict(), "status": status.to_dict()}


@monitor.command("list")
@_OUTPUT
def list_command(output: str) -> None:
    """List monitors with their current state."""
    from spanscope.monitoring.monitors import get_monitor_status, list_monitors

    found = [(m, get_monitor_status(m.monitor_id)) for m in list_monitors()]
    if output == "json":
        click.echo(json.dumps([_row(m, s) for m, s in found], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from spanscope.cli.render import local_time

    table = Table("name", "metric", "filter", "window", "every", "thresholds", "state",
                  "since")
    for m, s in found:
        table.add_row(m.name, str(m.metric), m.filter_string or "", duration_text(m.window_ms),
                      duration_text(m.cadence_ms), _levels(m),
                      "(not yet evaluated)" if s.state is None else s.state.value,
                      "" if s.since_ms is None else local_time(s.since_ms))
    Console().print(table)
    if not found:
        click.echo("No monitors: create one with 'spanscope monitor create'.", err=True)


@monitor.command("show")
@click.argument("name")
@click.option("--last", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many of the latest evaluations to show.")
@_OUTPUT
def show_command(name: str, last: int, output: str) -> None:
    """Show a monitor: its definition, state, latest evaluations and notifications."""
    from spanscope.monitoring.monitors import get_monitor, get_monitor_status, monitor_history

    found = get_monitor(name)
    status = get_monitor_status(found.monitor_id)
    history = monitor_history(found.monitor_id, limit=last)
    if output == "json":
        click.echo(json.dumps({**_row(found, status),
                               "evaluations": [e.to_dict() for e in history]}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from spanscope.cli.render import local_time

    console = Console()
    hook = found.webhook
    lines = [f"{found.name} ({found.monitor_id})",
             f"  metric      {found.metric}",
             f"  filter      {found.filter_string or '(all traces)'}",
             f"  experiments {', '.join(found.experiment_ids or ()) or '(all)'}",
             f"  window      {duration_text(found.window_ms)}, "
             f"every {duration_text(found.cadence_ms)}",
             f"  thresholds  {_levels(found)}; min samples {found.min_samples}; "
             f"no data: {found.no_data.value}",
             f"  renotify    {duration_text(found.renotify_ms) or 'never'}",
             f"  webhook     {'(none)' if hook is None else hook.url}"
             + ("" if hook is None else f" ({hook.format.value}"
                f"{', signed' if hook.secret else ''})"),
             f"  state       {status.state.value if status.state else '(not yet evaluated)'}"
             + ("" if status.since_ms is None else f" since {local_time(status.since_ms)}")]
    for line in lines:
        console.print(line, markup=False, highlight=False)
    table = Table("time", "state", "value", "samples", "notified", title="Latest evaluations")
    for e in reversed(history):
        table.add_row(local_time(e.time_ms), e.state.value, _value(e.value), str(e.samples),
                      e.event or "")
    if history:
        console.print(table)


@monitor.command("delete")
@click.argument("name")
def delete_command(name: str) -> None:
    """Delete a monitor with its history and pending notifications."""
    from spanscope.monitoring.monitors import delete_monitor

    gone = delete_monitor(name)
    click.echo(f"Deleted monitor {gone.name!r} ({gone.monitor_id}).")


@monitor.command("test")
@click.argument("name")
@click.option("--public-url", envvar="SPANSCOPE_PUBLIC_URL", metavar="URL",
              help="The server's address, for the link to the matching traces.")
def test_command(name: str, public_url: str | None) -> None:
    """Evaluate a monitor now and print what would be sent; nothing is kept or sent.

    The payload is printed as the webhook would receive it; when the state calls for no
    notification now, the payload a notification of this state would carry is shown.
    """
    from spanscope.monitoring.monitors import dry_run_monitor
    from spanscope.monitoring.notify import payload_of, slack_payload
    from spanscope.monitoring.states import Step

    done = dry_run_monitor(name, base_url=public_url)
    step = done.step
    value = _value(done.evaluation.value) or "no data"
    click.echo(f"{done.monitor.name}: {done.monitor.metric} = {value} "
               f"({done.evaluation.samples} samples) -> {step.state.value}", err=True)
    payload = done.payload
    if payload is None:
        click.echo(f"No notification now (the state stays {step.state.value}); a "
                   "notification of this state would carry:", err=True)
        shown = Step(step.status, step.state, "test", step.has_data, step.direction,
                     step.threshold)
        payload = payload_of(done.monitor, done.evaluation, shown, step.state.value,
                             base_url=public_url)
    else:
        target = done.monitor.webhook.url if done.monitor.webhook else "the log only"
        click.echo(f"Would send {payload['event']!r} to {target}:", err=True)
    hook = done.monitor.webhook
    if hook is not None and hook.format.value == "slack":
        payload = slack_payload(payload)
    click.echo(json.dumps(payload, indent=2))


@monitor.command("run")
@click.option("--once", is_flag=True, help="One pass, then exit (for cron and tests).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds between passes.")
@click.option("--public-url", envvar="SPANSCOPE_PUBLIC_URL", metavar="URL",
              help="The server's address, for the links in notifications.")
def run_command(once: bool, interval: float, public_url: str | None) -> None:
    """Run the monitoring worker: evaluate due monitors, notify, retry notifications,
    score new traces with the online scorers, and apply retention rules.

    Notifications are also logged to stderr. Stop with Ctrl-C.
    """
    from spanscope.lifecycle.retention import retention_pass
    from spanscope.monitoring.worker import MonitorWorker, OnlinePass, monitor_pass, run_passes
    from spanscope.store import open_store
    from spanscope.store.monitors import open_monitor_store
    from spanscope.tracking import get_tracking_uri

    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("spanscope.monitoring").setLevel(logging.INFO)
    uri = get_tracking_uri()
    if uri.split(":", 1)[0].lower() in ("http", "https"):
        raise click.UsageError(f"the worker runs where the database is, not against a server "
                               f"({uri}): the server evaluates its monitors itself, or pass "
                               "--tracking-uri sqlite:///… or postgresql://…")
    store = open_store(uri)
    monitors = open_monitor_store(uri)
    online = OnlinePass(store)
    passes = [monitor_pass(store, monitors, base_url=public_url), online,
              retention_pass(store)]
    try:
        if once:
            reports = run_passes(passes, int(time.time() * 1000))
            online.close()
            if None in reports:
                raise click.ClickException("a pass of the worker failed (see the log above)")
            _print_report(*reports)
            return
        worker = MonitorWorker(passes, interval_s=interval).start()
        click.echo(f"Monitoring {len(monitors.list_monitors())} monitor(s), a pass every "
                   f"{interval:g}s. Stop with Ctrl-C.", err=True)
        try:
            while True:
                time.sleep(3600)
        finally:
            worker.stop()
    finally:
        monitors.close()
        store.close()


def _print_report(report: Any, online: Any, retention: Any) -> None:
    """One line per monitor, then what each pass did, on stderr."""
    for done in report.evaluated:
        e = done.evaluation
        click.echo(f"{done.monitor.name}: {e.state.value} "
                   f"{done.monitor.metric}={_value(e.value) or 'no data'} "
                   f"samples={e.samples}" + (f" notified={e.event}" if e.event else ""))
    for name, error in report.failed.items():
        click.echo(f"{name}: error: {error}", err=True)
    d = report.deliveries
    click.echo(f"{len(report.evaluated)} evaluated, {len(d.sent)} notification(s) sent, "
               f"{len(d.retrying)} to retry, {len(d.failed)} failed.", err=True)
    click.echo(f"Online scorers: {online.scored} trace(s) scored by {online.registrations} "
               f"scorer(s), {online.judge_calls} judge call(s).", err=True)
    click.echo(f"Retention: {retention.deleted} trace(s) deleted.", err=True)
