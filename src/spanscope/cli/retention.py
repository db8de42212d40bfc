"""``spanscope retention add|list|delete|apply`` and ``spanscope storage``.

Thin: open the tracking store and the ``RetentionStore`` beside it, call one method or
``spanscope.lifecycle.retention.apply_retention``, print a table (or JSON). Rules and
what they mean: docs/lifecycle.md.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from spanscope.lifecycle.retention import RetentionReport
    from spanscope.store.retention import RetentionRule, RetentionStore

__all__ = ["retention", "storage", "who"]

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000),
          ("s", 1000))


def who() -> str:
    """The person running the command, for the deletion log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (e.g. in a container)
        return "cli:unknown"


@contextmanager
def _side() -> Iterator[tuple[Any, RetentionStore]]:
    from spanscope import tracking
    from spanscope.cli.stores import require_store
    from spanscope.store.retention import open_retention_store

    require_store()
    store = tracking.get_store()
    side = open_retention_store(store)
    try:
        yield store, side
    finally:
        side.close()


def keep_text(keep_ms: int | None) -> str:
    """``90d``, ``36h``, ``forever``: the largest unit (up to days) that divides it."""
    if keep_ms is None:
        return "forever"
    for unit, size in _UNITS:
        if keep_ms % size == 0:
            return f"{keep_ms // size}{unit}"
    return f"{keep_ms}ms"


def _sample(text: str) -> float:
    """``10%`` or ``0.1``."""
    value = text.strip()
    try:
        return float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a fraction: use 10% or 0.1",
                                 param_hint="--sample") from None


def _keep(text: str | None) -> int | None:
    if text is None or text.strip().lower() in ("forever", "inf", "always"):
        return None
    from spanscope.cli.curation import parse_duration

    try:
        return parse_duration(text)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="--keep") from None


@click.group()
def retention() -> None:
    """Keep rules per experiment, and the pass that deletes what no rule keeps.

    A rule keeps the traces matching its --filter (all traces without one) and in its
    --sample (chosen by trace id, the same on every pass) for --keep after they started.
    A trace is kept while any rule keeps it; in an experiment with rules, a trace that no
    rule keeps is deleted by the next pass. Experiments without rules are never touched.
    The server's worker applies the rules; 'retention apply' does it now.

    \b
    Example (keep errors 90 days, 10% of the rest 7 days, pinned traces forever):
      spanscope retention add --filter "attributes.status = 'ERROR'" --keep 90d
      spanscope retention add --filter "attributes.status != 'ERROR'" --sample 10% --keep 7d
      spanscope retention add --filter "tags.keep = 'true'" --keep forever
      spanscope retention apply --dry-run
    """


@retention.command("add")
@click.option("--experiment-id", "-x", metavar="ID",
              help="The experiment the rule applies to. [default: the active experiment]")
@click.option("--filter", "filter_string", metavar="TEXT",
              help="Which traces the rule keeps (the search language). [default: all]")
@click.option("--keep", metavar="DURATION",
              help="How long after a trace started it is kept: 90m, 12h, 30d, 2w, or forever. "
                   "[default: forever]")
@click.option("--sample", "sample", metavar="FRACTION", default="1",
              help="Keep only this deterministic share of the matching traces: 10% or 0.1. "
                   "[default: all]")
@click.option("--name", metavar="TEXT", help="A label shown in 'retention list'.")
def add_command(experiment_id: str | None, filter_string: str | None, keep: str | None,
                sample: str, name: str | None) -> None:
    """Add a keep rule to an experiment and print its id.

    \b
    Examples:
      spanscope retention add --keep 30d                       # everything, 30 days
      spanscope retention add -x 3 --filter "tags.keep = 'true'" --name pinned
    """
    from spanscope import tracking

    keep_ms, fraction = _keep(keep), _sample(sample)
    with _side() as (_, side):
        rule = side.add_rule(experiment_id or tracking.get_experiment_id(),
                             filter_string=filter_string, keep_ms=keep_ms,
                             sample_fraction=fraction, name=name)
    click.echo(rule.rule_id)
    click.echo(f"Added rule {rule.rule_id} to experiment {rule.experiment_id}: {_says(rule)}.",
               err=True)


def _says(rule: RetentionRule) -> str:
    share = "" if rule.sample_fraction >= 1 else f"{rule.sample_fraction * 100:.4g}% of "
    what = f"the traces matching {rule.filter_string}" if rule.filter_string else "all traces"
    how_long = "forever" if rule.keep_ms is None else "for " + keep_text(rule.keep_ms)
    return f"keep {share}{what} {how_long}"


@retention.command("list")
@click.option("--experiment-id", "-x", metavar="ID", help="Only this experiment's rules.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people or a JSON array for programs.")
def list_command(experiment_id: str | None, output: str) -> None:
    """List the rules, oldest first."""
    with _side() as (_, side):
        rules = side.list_rules(experiment_id)
    if output == "json":
        click.echo(json.dumps([rule.to_dict() for rule in rules], indent=2))
        return
    from rich.table import Table

    from spanscope.cli.render import stdout_console

    table = Table("rule id", "experiment", "name", "filter", "sample", "keep")
    for rule in rules:
        table.add_row(rule.rule_id, rule.experiment_id, rule.name or "",
                      rule.filter_string or "(all traces)", f"{rule.sample_fraction:.4g}",
                      keep_text(rule.keep_ms))
    stdout_console().print(table)
    if not rules:
        click.echo("No retention rules: every trace is kept. Add one with "
                   "'spanscope retention add --keep 30d'.", err=True)


@retention.command("delete")
@click.argument("rule_id")
def delete_command(rule_id: str) -> None:
    """Remove a rule by its id (from 'retention list')."""
    with _side() as (_, side):
        rule = side.delete_rule(rule_id)
    click.echo(f"Deleted rule {rule.rule_id} of experiment {rule.experiment_id} "
               f"({_says(rule)}).")


@retention.command("apply")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Only these experiments (repeatable). [default: every one with rules]")
@click.option("--dry-run", is_flag=True, help="Print what each rule would delete; delete "
                                              "nothing.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people or JSON for programs.")
def apply_command(experiment_ids: tuple[str, ...], dry_run: bool, output: str) -> None:
    """Delete now what no rule keeps (what the server's worker does on its own).

    Deletion runs in batches of 1000 traces, each its own short transaction, so the
    server and other writers keep working meanwhile. Dataset records lose their link to
    the deleted traces; the records stay.

    \b
    Examples:
      spanscope retention apply --dry-run
      spanscope retention apply -x 3
    """
    from spanscope.lifecycle.retention import apply_retention

    with _side() as (store, side):
        report = apply_retention(store, dry_run=dry_run, retention=side, actor=who(),
                                 experiment_ids=list(experiment_ids) or None)
    if output == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    _print_report(report)


def _print_report(report: RetentionReport) -> None:
    from rich.table import Table

    from spanscope.cli.render import stdout_console

    verb = "would delete" if report.dry_run else "deleted"
    table = Table("experiment", "rule", "keeps", verb)
    for outcome in report.experiments:
        for rule in outcome.rules:
            table.add_row(outcome.experiment_id, rule.name or rule.rule_id, _says(rule)[5:],
                          str(outcome.deleted_by_rule.get(rule.rule_id, 0)))
        table.add_row(outcome.experiment_id, "(no rule)", "traces no rule's filter and sample "
                      "holds", str(outcome.unmatched))
    stdout_console().print(table)
    total = sum(e.deleted for e in report.experiments)
    links = sum(e.dataset_records_unlinked for e in report.experiments)
    tail = f"; {links} dataset record(s) {'would lose' if report.dry_run else 'lost'} their " \
           "link to a deleted trace" if links else ""
    click.echo(f"{'Would delete' if report.dry_run else 'Deleted'} {total} trace(s) in "
               f"{report.seconds:.1f}s{tail}." + (" (dry run: nothing was deleted)"
                                                  if report.dry_run else ""), err=True)


@click.command()
@click.option("--capacity", envvar="SPANSCOPE_CAPACITY", show_envvar=True, metavar="SIZE",
              help="Compare with this capacity (e.g. 10GB), as 'spanscope server --capacity'.")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def storage(capacity: str | None, output: str) -> None:
    """How big the tracking store is, against a capacity: a warning at 80%, and at 95%
    the server refuses new traces (507) until retention frees space.

    \b
    Example:
      spanscope storage --capacity 10GB
    """
    from spanscope.lifecycle.capacity import format_bytes, parse_size, status_of

    limit = None if capacity is None else parse_size(capacity)
    with _side() as (_, side):
        size = side.storage_size()
    if limit is None:
        data: dict[str, Any] = {"used_bytes": size.used_bytes, "disk_bytes": size.disk_bytes}
        text = (f"Store: {format_bytes(size.used_bytes)} used, {format_bytes(size.disk_bytes)} "
                "on disk (no capacity given: --capacity or SPANSCOPE_CAPACITY).")
        level = "ok"
    else:
        status = status_of(size, limit)
        message = status.message()
        data, text, level = status.to_dict(), message[0].upper() + message[1:] + ".", status.level
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(text)
    if level != "ok":
        state = "full" if level == "full" else "over 80% of its capacity"
        click.echo(f"Warning: the store is {state}: add retention rules "
                   "('spanscope retention add') or raise the capacity.", err=True)
