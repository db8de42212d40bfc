"""``spanscope evaluate``: score stored traces with scorers, as ``spanscope.genai.evaluate``.

Thin: find the traces (``search_traces`` with ``--filter``), resolve ``--scorers`` (a
built-in judge's name, an experiment's registered online scorer, or an import path), call
``evaluate(data=traces, scorers=...)`` — which logs a run and stores each score on its
trace — and print the metrics and per-trace scores as a table or JSON.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import click

from spanscope.cli.stores import reads_store

if TYPE_CHECKING:
    from spanscope.evaluation.scorers.base import Scorer

__all__ = ["evaluate"]


def resolve_scorers(names: str, experiment_id: str) -> list[Scorer]:
    """``Safety,Correctness,my_registered,pkg.mod:fn`` as scorer objects."""
    from spanscope.exceptions import InvalidInputError
    from spanscope.monitoring.scorer_specs import build_scorer, builtin_named, load_import_path

    wanted = [part.strip() for part in names.split(",") if part.strip()]
    if not wanted:
        raise InvalidInputError("--scorers needs at least one scorer, e.g. Safety,Correctness")
    registered = _registered(experiment_id)
    found: list[Scorer] = []
    for item in wanted:
        builtin = builtin_named(item)
        if item in registered:
            found.append(build_scorer(registered[item], item))
        elif builtin is not None:
            if builtin.__name__ in ("Guidelines",):
                raise InvalidInputError("Guidelines needs its guidelines: register it "
                                        "(spanscope scorers register Guidelines --name tone "
                                        "--guidelines …) and pass its name")
            found.append(builtin())
        elif ":" in item:
            found.append(load_import_path(item))
        else:
            from spanscope.monitoring.scorer_specs import BUILTINS

            known = sorted(registered)
            raise InvalidInputError(
                f"unknown scorer {item!r}: use a built-in ({', '.join(BUILTINS)}), "
                + (f"a scorer registered on experiment {experiment_id} "
                   f"({', '.join(known)}), " if known else "")
                + "or an import path package.module:function")
    return found


def _registered(experiment_id: str) -> dict[str, dict[str, Any]]:
    """The experiment's registered scorers by name (none when the store keeps none)."""
    from spanscope import tracking
    from spanscope.exceptions import InvalidUriError
    from spanscope.store.online_scorers import open_online_scorer_store

    try:
        store = open_online_scorer_store(tracking.get_tracking_uri())
    except InvalidUriError:  # a server's REST store: built-ins and import paths only
        return {}
    try:
        return {s.name: s.spec for s in store.list_online_scorers(experiment_id)}
    finally:
        store.close()


def _traces(experiment_ids: list[str] | None, filter_string: str | None,
            max_traces: int) -> list[Any]:
    from spanscope import tracking

    store = tracking.get_store()
    found: list[Any] = []
    token = None
    while len(found) < max_traces:
        page = store.search_traces(experiment_ids, filter_string=filter_string,
                                   max_results=min(500, max_traces - len(found)),
                                   page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    return found


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


@click.command("evaluate")
@click.option("--scorers", "scorer_names", required=True, metavar="NAMES",
              help="Comma-separated: built-in judges (Safety, Correctness, …), scorers "
                   "registered on the experiment, import paths package.module:function.")
@click.option("--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID",
              help="Traces of this experiment (repeatable). [default: the active one]")
@click.option("--filter", "filter_string", metavar="TEXT",
              help="Which traces, e.g. \"tags.env = 'prod' AND attributes.status = 'OK'\".")
@click.option("--max-traces", type=click.IntRange(min=1), default=100, show_default=True,
              help="Score at most this many traces (newest first).")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people or JSON for programs.")
@reads_store(listing=False)
def evaluate(scorer_names: str, experiment_ids: tuple[str, ...], filter_string: str | None,
             max_traces: int, output: str) -> None:
    """Score stored traces with scorers; each score is stored on its trace, and the
    evaluation is logged as a run (its metrics are NAME/mean ...).

    \b
    Examples:
      spanscope evaluate --scorers Safety,Correctness --filter "tags.env = 'prod'"
      spanscope evaluate --scorers my_registered,my_app.quality:is_concise -o json
    """
    from spanscope import tracking
    from spanscope.exceptions import NotFoundError
    from spanscope.genai import evaluate as run_evaluation

    experiments = list(experiment_ids) or [tracking.get_experiment_id()]
    scorer_list = resolve_scorers(scorer_names, experiments[0])
    traces = _traces(experiments, filter_string, max_traces)
    if not traces:
        raise NotFoundError(f"no traces to evaluate in experiment "
                            f"{', '.join(experiments)}"
                            + (f" matching {filter_string!r}" if filter_string else ""))
    result = run_evaluation(data=traces, scorers=scorer_list)
    frame = result.result_df
    names = sorted({column.rsplit("/", 1)[0] for column in frame.columns
                    if column.endswith("/value")})
    rows = [{"trace_id": row["trace_id"],
             **{name: {"value": _cell(row.get(f"{name}/value")),
                       "rationale": _cell(row.get(f"{name}/rationale")),
                       "error": _cell(row.get(f"{name}/error"))} for name in names}}
            for row in frame.to_dict(orient="records")]
    if output == "json":
        click.echo(json.dumps({"run_id": result.run_id, "metrics": result.metrics,
                               "traces": rows}, indent=2, ensure_ascii=False, default=str))
        return
    _print_table(result.run_id, result.metrics, names, rows)


def _print_table(run_id: str, metrics: dict[str, float], names: list[str],
                 rows: list[dict[str, Any]]) -> None:
    from spanscope.cli import render
    from spanscope.cli.fit import Column, fit_table

    console = render.stdout_console()

    def shown(score: dict[str, Any]) -> str:
        if score["error"] is not None:
            return f"error: {score['error']}"
        return "-" if score["value"] is None else str(score["value"])

    console.print(fit_table(
        [Column("Trace ID", [row["trace_id"] for row in rows])]
        + [Column(name, [shown(row[name]) for row in rows], whole=False, max_width=40)
           for name in names],
        width=console.width, caption=f"{len(rows)} trace{'s' if len(rows) != 1 else ''}"))
    console.print(fit_table([
        Column("Metric", list(metrics)),
        Column("Value", [f"{value:.3f}" for value in metrics.values()], numeric=True),
    ], width=console.width))
    console.print(f"Logged as run {run_id}; the scores are on the traces.", soft_wrap=True,
                  style="dim")
