"""Runs, MLflow's way: ``start_run``, ``log_param``, ``log_metric``, ``log_artifact`` …

A run records one piece of work (an evaluation, a prompt experiment): parameters
(strings, fixed once logged), metrics (with a history per step), tags and artifacts
(files under the run's ``artifact_uri``). The functions are thin: they find the run
(``run_id=`` or the active run of this thread) and call the store, which owns the rules.
See ``docs/runs.md``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from spanscope import tracking
from spanscope.entities.run import Metric, Run, RunStatus, RunTagKey
from spanscope.exceptions import InvalidInputError
from spanscope.runs.active import (
    ActiveRun,
    active_stack,
    end,
    last_ended,
    push,
    target_run,
)
from spanscope.runs.artifacts import (
    list_artifacts,
    load_table,
    log_artifact,
    log_artifacts,
    log_dict,
    log_table,
    log_text,
)
from spanscope.runs.search import search_runs
from spanscope.store import run_rules

__all__ = [
    "ActiveRun",
    "active_run",
    "end_run",
    "get_metric_history",
    "get_run",
    "last_active_run",
    "list_artifacts",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]


def start_run(
    run_name: str | None = None,
    *,
    nested: bool = False,
    experiment_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    description: str | None = None,
) -> ActiveRun:
    """Start a run and make it this thread's active run; use it in a ``with`` block.

    ``with start_run(...) as run:`` ends the run ``FINISHED`` (``FAILED`` if an exception
    escapes); a plain call leaves it active until ``end_run()``. A run already active
    needs ``nested=True``, which records it as the new run's ``mlflow.parentRunId`` tag.
    ``experiment_id`` defaults to the active experiment (``set_experiment``); the run
    name defaults to a random ``adjective-animal-NNN``. ``run_id`` resumes an existing
    run instead (its status goes back to RUNNING).
    """
    stack = active_stack()
    if stack and not nested:
        raise InvalidInputError(
            f"run {stack[-1].info.run_id!r} is already active; to start a nested run call "
            "start_run(nested=True), or end it first with end_run()")
    store_uri = tracking.get_tracking_uri()
    store = tracking.get_store(store_uri)
    if run_id is not None:
        existing = store.get_run(run_rules.check_run_id(run_id))
        if any(r.info.run_id == run_id for r in stack):
            raise InvalidInputError(f"run {run_id!r} is already active")
        info = store.update_run_info(run_id, status=RunStatus.RUNNING)
        run = ActiveRun(info, existing.data, store_uri=store_uri)
        push(run)
        return run
    all_tags: dict[str, Any] = dict(tags or {})
    parent = parent_run_id or (stack[-1].info.run_id if stack else None)
    if parent is not None:
        all_tags[RunTagKey.PARENT_RUN_ID] = parent
    if description is not None:
        all_tags[RunTagKey.NOTE] = description
    user = run_rules.current_user()
    if user is not None:
        all_tags.setdefault(RunTagKey.USER, user)
    if run_name is None and RunTagKey.RUN_NAME not in all_tags:
        run_name = run_rules.random_run_name()
    experiment = str(experiment_id) if experiment_id is not None else tracking.get_experiment_id()
    created = store.create_run(experiment, run_name=run_name, tags=all_tags, user_id=user)
    run = ActiveRun(created.info, created.data, store_uri=store_uri)
    push(run)
    return run


def active_run() -> ActiveRun | None:
    """This thread's active run (as it was when started), or None."""
    stack = active_stack()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The run most recently ended in this process, read back from its store, or None."""
    found = last_ended()
    if found is None:
        return None
    run_id, uri = found
    return tracking.get_store(uri or None).get_run(run_id)


def end_run(status: str = "FINISHED") -> None:
    """End the active run with ``status`` (FINISHED, FAILED or KILLED); no-op if none."""
    checked = run_rules.check_status(status)
    stack = active_stack()
    if stack:
        end(stack[-1].info.run_id, checked)


def get_run(run_id: str) -> Run:
    """The run with its params, latest metrics and tags; ``NotFoundError`` if unknown."""
    return tracking.get_store().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every logged value of one metric of a run, by step then time."""
    return tracking.get_store().get_metric_history(run_id, key)


def log_param(key: str, value: Any, *, run_id: str | None = None) -> Any:
    """Log a parameter (stored as ``str(value)``); returns ``value`` as MLflow does.

    Logging the same key again with a different value is an ``InvalidInputError``.
    """
    store, target = target_run(run_id)
    store.log_batch(target, params={key: value})
    return value


def log_params(params: Mapping[str, Any], *, run_id: str | None = None) -> None:
    store, target = target_run(run_id)
    store.log_batch(target, params=params)


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None,
               *, run_id: str | None = None) -> None:
    """Log one metric value at ``step`` (default 0); every value is kept as history."""
    store, target = target_run(run_id)
    store.log_batch(target, metrics=run_rules.check_batch([(key, value, timestamp, step)]).metrics)


def log_metrics(metrics: Mapping[str, float], step: int | None = None,
                timestamp: int | None = None, *, run_id: str | None = None) -> None:
    """Log several metrics at one step and time, in one transaction."""
    if not isinstance(metrics, Mapping):
        raise InvalidInputError(f"log_metrics takes a dict of metric values, got "
                                f"{type(metrics).__name__}")
    when = int(time.time() * 1000) if timestamp is None else timestamp
    store, target = target_run(run_id)
    store.log_batch(target, metrics=run_rules.check_batch(
        [(k, v, when, step) for k, v in metrics.items()]).metrics)


def set_tag(key: str, value: Any, *, run_id: str | None = None) -> None:
    """Set a tag on the run (replacing its value); ``mlflow.runName`` renames the run."""
    store, target = target_run(run_id)
    store.log_batch(target, tags={key: value})


def set_tags(tags: Mapping[str, Any], *, run_id: str | None = None) -> None:
    store, target = target_run(run_id)
    store.log_batch(target, tags=tags)
