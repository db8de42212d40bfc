"""``spanscope scorers register|list|update|delete``: scorers for online evaluation.

Thin: each command calls one function of ``spanscope.genai.scorers`` (``register``,
``list_scorers``, ``update_scorer``, ``delete_scorer``) on the tracking store, which must
be the database the online worker runs on (``sqlite:///…`` or ``postgresql://…``).
"""

from __future__ import annotations

import json
from typing import Any

import click

from spanscope.cli.stores import reads_store

__all__ = ["scorers"]

_VALUE_TYPES = ("yes/no", "bool", "int", "float", "str")


def _seconds(text: str | None) -> float | None:
    """``--delay``: a duration (``90s``, ``5m``) or a plain number of seconds."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        from spanscope.query import parse_duration

        return parse_duration(text, what="--delay") / 1000


def _describe(spec: dict[str, Any]) -> str:
    kind = spec.get("kind")
    if kind == "builtin":
        model = (spec.get("options") or {}).get("model")
        return f"{spec.get('builtin')}" + (f" ({model})" if model else "")
    if kind == "judge":
        text = " ".join(str(spec.get("instructions") or "").split())
        return "judge: " + (text if len(text) <= 40 else text[:39] + "…")
    return str(spec.get("import_path") or kind)


@click.group()
def scorers() -> None:
    """Register scorers that score an experiment's production traces as they arrive.

    The online worker (spanscope monitor run, or inside spanscope server) scores a sample
    of the finished traces matching each registration's filter, once per scorer version.
    See docs/online-evaluation.md.
    """


_experiment_option = click.option(
    "--experiment-id", "-x", metavar="ID",
    help="The experiment. [default: SPANSCOPE_EXPERIMENT_ID, else 0]")


@scorers.command("register")
@click.argument("scorer", required=False)
@click.option("--name", metavar="NAME", help="Registration name (the assessments' name). "
              "[default: the scorer's own]")
@_experiment_option
@click.option("--sample-rate", type=float, default=1.0, show_default=True,
              help="Share of the matching traces to score, in (0, 1].")
@click.option("--filter", "filter_string", metavar="TEXT",
              help="Only traces matching this filter, e.g. \"tags.env = 'prod'\".")
@click.option("--delay", default="60s", show_default=True, metavar="DURATION",
              help="Wait this long after a trace ends (late spans arrive), e.g. 30s, 5m.")
@click.option("--max-judge-calls-per-hour", type=int, metavar="N",
              help="Cap on judge calls an hour. [default: no cap]")
@click.option("--backfill", is_flag=True, help="Also score the traces already stored.")
@click.option("--model", metavar="URI", help="Judge model, e.g. openai:/gpt-4o-mini. "
              "[default: SPANSCOPE_JUDGE_MODEL where the worker runs]")
@click.option("--guidelines", multiple=True, metavar="TEXT",
              help="For Guidelines: a guideline the response must follow (repeatable).")
@click.option("--instructions", metavar="TEXT", help="A custom judge (make_judge) instead "
              "of SCORER: instructions using {{ inputs }}, {{ outputs }}, {{ trace }}.")
@click.option("--feedback-type", type=click.Choice(_VALUE_TYPES), default="yes/no",
              show_default=True, help="With --instructions: the kind of value it returns.")
def register_command(scorer: str | None, name: str | None, experiment_id: str | None,
                     sample_rate: float, filter_string: str | None, delay: str,
                     max_judge_calls_per_hour: int | None, backfill: bool,
                     model: str | None, guidelines: tuple[str, ...],
                     instructions: str | None, feedback_type: str) -> None:
    """Register SCORER on an experiment: a built-in judge's name (Safety, Correctness,
    RelevanceToQuery, Guidelines, …), an import path package.module:function of an
    @scorer, or none with --instructions for a custom judge.

    \b
    Examples:
      spanscope scorers register Safety --sample-rate 0.1 --filter "tags.env = 'prod'"
      spanscope scorers register Guidelines --name tone --guidelines "Be polite."
      spanscope scorers register my_app.quality:is_concise --delay 2m
      spanscope scorers register --name polite --instructions "Is {{ outputs }} polite?"
    """
    from spanscope.genai.scorers import register

    spec = _spec(scorer, model=model, guidelines=guidelines, instructions=instructions,
                 feedback_type=feedback_type)
    created = register(spec, name=name or (None if scorer else "judge"),
                       experiment_id=experiment_id, sample_rate=sample_rate,
                       filter_string=filter_string, delay_s=_seconds(delay) or 0.0,
                       max_judge_calls_per_hour=max_judge_calls_per_hour, backfill=backfill)
    click.echo(f"Registered {created.name!r} (version {created.version}) on experiment "
               f"{created.experiment_id}: {_describe(created.spec)}, sample rate "
               f"{created.sample_rate:g}, delay {created.delay_s:g} s.")


def _spec(scorer: str | None, *, model: str | None, guidelines: tuple[str, ...],
          instructions: str | None, feedback_type: str) -> dict[str, Any]:
    from spanscope.exceptions import InvalidInputError
    from spanscope.monitoring.registry import scorer_spec
    from spanscope.monitoring.scorer_specs import builtin_named

    if instructions is not None:
        if scorer:
            raise InvalidInputError("give SCORER or --instructions, not both")
        return {"kind": "judge", "instructions": instructions, "model": model,
                "feedback_value_type": feedback_type}
    if not scorer:
        raise InvalidInputError("name a SCORER (e.g. Safety, or package.module:function) "
                                "or give --instructions for a custom judge")
    builtin = builtin_named(scorer)
    if builtin is not None:
        options: dict[str, Any] = {"model": model}
        if guidelines:
            options["guidelines"] = list(guidelines)
        return {"kind": "builtin", "builtin": builtin.__name__, "options": options}
    if model or guidelines:
        raise InvalidInputError("--model and --guidelines apply to built-in judges only")
    return scorer_spec(scorer)


@scorers.command("list")
@_experiment_option
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people or a JSON array for programs.")
@reads_store(listing=True)
def list_command(experiment_id: str | None, output: str) -> None:
    """List an experiment's online scorers: what they run, on which traces, and how many
    traces each has scored.

    \b
    Example:
      spanscope scorers list -o json | jq -r '.[].name'
    """
    from spanscope import tracking
    from spanscope.genai.scorers import list_scorers
    from spanscope.store.online_scorers import open_online_scorer_store

    store = open_online_scorer_store(tracking.get_tracking_uri())
    try:
        found = list_scorers(experiment_id=experiment_id, store=store)
        counts = {s.registration_id: store.checkpoint_counts(s.registration_id)
                  for s in found}
    finally:
        store.close()
    if output == "json":
        click.echo(json.dumps([{**s.to_dict(), "traces": counts[s.registration_id]}
                               for s in found], indent=2, ensure_ascii=False))
        return
    from spanscope.cli import render
    from spanscope.cli.fit import Column, fit_table

    console = render.stdout_console()
    if not found:
        console.print("No online scorers. Register one with: spanscope scorers register "
                      "Safety --sample-rate 0.1", soft_wrap=True)
        return
    console.print(fit_table([
        Column("Name", [s.name for s in found], whole=False, keep=1, max_width=30),
        Column("Scorer", [_describe(s.spec) for s in found], whole=False, max_width=40),
        Column("Version", [str(s.version) for s in found], numeric=True),
        Column("Sample", [f"{s.sample_rate:g}" for s in found], numeric=True),
        Column("Delay", [f"{s.delay_s:g} s" for s in found], numeric=True),
        Column("Cap/h", ["-" if s.max_judge_calls_per_hour is None
                         else str(s.max_judge_calls_per_hour) for s in found], numeric=True),
        Column("State", ["active" if s.active else "stopped" for s in found]),
        Column("Scored", [f"{counts[s.registration_id]['scored']:,}" for s in found],
               numeric=True),
        Column("Filter", [s.filter_string or "" for s in found], whole=False,
               optional=True),
    ], width=console.width, caption=f"{len(found)} online scorer"
                                    f"{'s' if len(found) != 1 else ''}"))


@scorers.command("update")
@click.argument("name")
@_experiment_option
@click.option("--sample-rate", type=float, help="New sample rate, in (0, 1].")
@click.option("--filter", "filter_string", metavar="TEXT",
              help="New filter ('' scores every trace).")
@click.option("--delay", metavar="DURATION", help="New delay, e.g. 30s, 5m.")
@click.option("--max-judge-calls-per-hour", type=int, metavar="N",
              help="New hourly cap on judge calls (0 removes the cap).")
@click.option("--start/--stop", "active", default=None,
              help="Start scoring again, or stop (the registration is kept).")
def update_command(name: str, experiment_id: str | None, sample_rate: float | None,
                   filter_string: str | None, delay: str | None,
                   max_judge_calls_per_hour: int | None, active: bool | None) -> None:
    """Change an online scorer's sampling, filter, delay or cap, or stop/start it.

    \b
    Example:
      spanscope scorers update safety --sample-rate 0.5 --filter "tags.env = 'prod'"
      spanscope scorers update safety --stop
    """
    from spanscope.genai.scorers import update_scorer

    changes: dict[str, Any] = {}
    if sample_rate is not None:
        changes["sample_rate"] = sample_rate
    if filter_string is not None:
        changes["filter_string"] = filter_string or None
    if delay is not None:
        changes["delay_s"] = _seconds(delay)
    if max_judge_calls_per_hour is not None:
        changes["max_judge_calls_per_hour"] = max_judge_calls_per_hour or None
    if active is not None:
        changes["active"] = active
    updated = update_scorer(name=name, experiment_id=experiment_id, **changes)
    click.echo(f"Updated {updated.name!r}: sample rate {updated.sample_rate:g}, delay "
               f"{updated.delay_s:g} s, {'active' if updated.active else 'stopped'}.")


@scorers.command("delete")
@click.argument("name")
@_experiment_option
def delete_command(name: str, experiment_id: str | None) -> None:
    """Delete an online scorer (the assessments it wrote stay on the traces)."""
    from spanscope.genai.scorers import delete_scorer

    delete_scorer(name=name, experiment_id=experiment_id)
    click.echo(f"Deleted online scorer {name!r}.")
