"""``spanscope traces tag|untag|delete|feedback|expectation``: curate stored traces.

Each command parses its arguments, calls one public function (``spanscope.set_trace_tag``,
``delete_traces``, ``log_feedback`` …) and prints one line saying what happened (or, with
``--output json``, the assessment's JSON). Errors become ``Error: …`` and an exit code in
``main.py``. The commands are registered on the ``traces`` group by ``traces.py``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

__all__ = ["delete_command", "expectation_command", "feedback_command", "tag_command",
           "untag_command"]

def parse_duration(text: str) -> int:
    """``90m``, ``1.5h``, ``30d`` … as milliseconds; ``click.BadParameter`` otherwise.

    The grammar is ``spanscope.query.parse_duration``'s, the one ``report --since`` reads.
    """
    from spanscope.exceptions import InvalidInputError
    from spanscope.query import parse_duration as parse

    try:
        return parse(text)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None


def parse_value(text: str) -> Any:
    """VALUE as JSON when it parses (``true``, ``0.8``, ``{"a": 1}``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _metadata(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise click.BadParameter(f"{text!r} is not a JSON object, e.g. '{{\"run\": \"7\"}}'",
                                 param_hint="--metadata")
    return value


def _plural(n: int) -> str:
    return f"{n} trace{'' if n == 1 else 's'}"


# --- tags -------------------------------------------------------------------------------
@click.command("tag")
@click.argument("trace_id")
@click.argument("key")
@click.argument("value")
def tag_command(trace_id: str, key: str, value: str) -> None:
    """Set the tag KEY to VALUE on a trace (replacing the value if KEY is set).

    \b
    Examples:
      spanscope traces tag tr-0123… reviewed yes
      spanscope traces tag tr-0123… quality_score 0.55
    """
    import spanscope

    spanscope.set_trace_tag(trace_id, key, value)
    click.echo(f"Set tag {key}={value} on trace {trace_id}.")


@click.command("untag")
@click.argument("trace_id")
@click.argument("key")
def untag_command(trace_id: str, key: str) -> None:
    """Remove the tag KEY from a trace (exit 1 if the trace has no such tag).

    \b
    Example:
      spanscope traces untag tr-0123… reviewed
    """
    import spanscope

    spanscope.delete_trace_tag(trace_id, key)
    click.echo(f"Deleted tag {key} from trace {trace_id}.")


# --- deletion ---------------------------------------------------------------------------
@click.command("delete")
@click.option("--trace-id", "trace_ids", multiple=True, metavar="ID",
              help="A trace to delete (repeatable).")
@click.option("--older-than", metavar="DURATION",
              help="Delete traces that started longer ago than this: 90m, 12h, 30d, 2w.")
@click.option("--filter", "filter_string", metavar="TEXT",
              help="Delete the traces matching a filter (the search language).")
@click.option("--experiment-id", "-x", metavar="ID",
              help="Only in this experiment. [default for --older-than/--filter: the active "
                   "experiment; for --trace-id: any]")
@click.option("--max-traces", type=click.IntRange(min=1), metavar="N",
              help="Delete at most N traces, the oldest first (not with --trace-id).")
@click.option("--dry-run", is_flag=True,
              help="Print how many traces would be deleted; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--user-id", metavar="ID", help="Privacy deletion: every trace of this user, in "
                                              "every experiment (or -x), logged (cli/privacy.py).")
@click.option("--session-id", metavar="ID", help="Privacy deletion: every trace of this session.")
@click.option("--dataset-records", type=click.Choice(["remove", "keep"]), default="remove",
              show_default=True, help="With --user-id/--session-id: remove the dataset "
                                      "records that came from those traces, or keep them unlinked.")
def delete_command(trace_ids: tuple[str, ...], older_than: str | None,
                   filter_string: str | None, experiment_id: str | None,
                   max_traces: int | None, dry_run: bool, yes: bool, user_id: str | None = None,
                   session_id: str | None = None, dataset_records: str = "remove") -> None:
    """Delete traces with their spans, tags, metadata and assessments.

    Choose the traces with exactly one of --trace-id, --older-than or --filter. On a
    terminal you are asked to confirm (skip it with --yes); --dry-run only counts.
    Deletion runs in batches of 1000 traces, so other writers keep going meanwhile.

    \b
    Examples:
      spanscope traces delete --older-than 30d --dry-run
      spanscope traces delete --older-than 30d --yes
      spanscope traces delete --trace-id tr-0123… --trace-id tr-4567…
      spanscope traces delete --older-than 7d -x 3 --max-traces 10000 --yes
      spanscope traces delete --user-id u-42 --yes   # privacy: all of a user's traces
    """
    if user_id is not None or session_id is not None:
        from spanscope.cli.privacy import delete_person

        others = [flag for flag, given in (("--trace-id", trace_ids), ("--older-than", older_than),
                                           ("--filter", filter_string),
                                           ("--max-traces", max_traces)) if given]
        delete_person(user_id=user_id, session_id=session_id, experiment_id=experiment_id,
                      dataset_records=dataset_records, dry_run=dry_run, yes=yes, others=others)
        return
    chosen = [flag for flag, given in (("--trace-id", trace_ids), ("--older-than", older_than),
                                       ("--filter", filter_string)) if given]
    if len(chosen) != 1:
        raise click.UsageError("choose the traces with exactly one of --trace-id, "
                               f"--older-than or --filter (got {', '.join(chosen) or 'none'})")
    if trace_ids and max_traces is not None:
        raise click.UsageError("--max-traces does not apply to --trace-id")

    import spanscope
    from spanscope import tracking

    selection: dict[str, Any] = {"experiment_id": experiment_id, "max_traces": max_traces}
    if trace_ids:
        selection["trace_ids"] = list(trace_ids)
        what = f"of the {len(set(trace_ids))} listed"
    elif older_than is not None:
        cutoff = int(time.time() * 1000) - parse_duration(older_than)
        selection["max_timestamp_millis"] = cutoff
        what = f"older than {older_than.strip()}"
    else:
        selection["filter_string"] = filter_string
        what = "matching the filter"
    if experiment_id is not None or not trace_ids:
        where = f" from experiment {experiment_id or tracking.get_experiment_id()}"
    else:
        where = ""

    if dry_run or (not yes and sys.stdin.isatty()):
        count = spanscope.delete_traces(**selection, dry_run=True)
        if dry_run:
            click.echo(f"Would delete {_plural(count)} {what}{where} "
                       "(dry run: nothing was deleted).")
            return
        if count == 0:
            click.echo(f"No traces {what}{where}: nothing to delete.")
            return
        click.confirm(f"Delete {_plural(count)} {what}{where}?", abort=True)
    deleted = spanscope.delete_traces(**selection)
    click.echo(f"Deleted {_plural(deleted)}{where}.")


# --- assessments ------------------------------------------------------------------------
def _source_options(func: Any) -> Any:
    func = click.option("--source-id", metavar="ID",
                        help="Who: a user, a judge's model, a scorer's name. "
                             "[default: your user name for HUMAN, else 'default']")(func)
    return click.option("--source-type", default="HUMAN", show_default=True,
                        type=click.Choice(["HUMAN", "LLM_JUDGE", "CODE"],
                                          case_sensitive=False),
                        help="What kind of source made the assessment.")(func)


def _common_options(func: Any) -> Any:
    func = click.option("--output", "-o", type=click.Choice(["text", "json"]),
                        default="text", show_default=True,
                        help="One line for people, or the assessment's JSON.")(func)
    func = click.option("--span-id", metavar="ID",
                        help="Assess one span of the trace instead of the whole trace.")(func)
    return click.option("--metadata", metavar="JSON",
                        help='Extra facts as a JSON object, e.g. \'{"ticket": "T-12"}\'.')(func)


def _source(source_type: str, source_id: str | None) -> Any:
    from spanscope.entities import AssessmentSource

    if source_id is None:
        if source_type.upper() == "HUMAN":
            return AssessmentSource.current_user()
        source_id = "default"
    return AssessmentSource(source_type, source_id)


def _report(assessment: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(assessment.to_dict(), indent=2, ensure_ascii=False))
        return
    outcome = (f"error {assessment.error.error_code}" if assessment.value is None
               and getattr(assessment, "error", None) is not None
               else json.dumps(assessment.value, ensure_ascii=False))
    click.echo(f"Logged {assessment.kind} {assessment.name} = {outcome} on trace "
               f"{assessment.trace_id} (assessment {assessment.assessment_id}).")


@click.command("feedback")
@click.argument("trace_id")
@click.argument("name")
@click.argument("value")
@click.option("--rationale", metavar="TEXT", help="Why this value.")
@_source_options
@_common_options
def feedback_command(trace_id: str, name: str, value: str, rationale: str | None,
                     source_type: str, source_id: str | None, metadata: str | None,
                     span_id: str | None, output: str) -> None:
    """Log feedback NAME = VALUE on a trace (VALUE is read as JSON when it parses).

    `true`, `0.8` and `{"score": 4}` become a bool, a number and a dict; any other text
    is kept as a string. By default the source is you (HUMAN, your user name).

    \b
    Examples:
      spanscope traces feedback tr-0123… correctness false --rationale "wrong refund policy"
      spanscope traces feedback tr-0123… tone friendly --source-type LLM_JUDGE --source-id gpt-4o
    """
    import spanscope

    feedback = spanscope.log_feedback(
        trace_id, name, parse_value(value), source=_source(source_type, source_id),
        rationale=rationale, metadata=_metadata(metadata), span_id=span_id)
    _report(feedback, output)


@click.command("expectation")
@click.argument("trace_id")
@click.argument("name")
@click.argument("value")
@_source_options
@_common_options
def expectation_command(trace_id: str, name: str, value: str, source_type: str,
                        source_id: str | None, metadata: str | None, span_id: str | None,
                        output: str) -> None:
    """Log the expected value (ground truth) NAME = VALUE for a trace (VALUE as for feedback).

    \b
    Examples:
      spanscope traces expectation tr-0123… expected_response "Refunds take 5 days."
      spanscope traces expectation tr-0123… expected_facts '["5 days", "original card"]'
    """
    import spanscope

    expectation = spanscope.log_expectation(
        trace_id, name, parse_value(value), source=_source(source_type, source_id),
        metadata=_metadata(metadata), span_id=span_id)
    _report(expectation, output)
