"""Registering scorers on an experiment for online evaluation (``spanscope.genai.scorers``).

``register(Safety(), experiment_id="1", sample_rate=0.1)`` stores a registration in the
tracking store's database; the online worker (``run_online_pass``) then scores that
experiment's new traces with it. ``list_scorers``, ``get_scorer``, ``update_scorer`` and
``delete_scorer`` manage registrations by name. The CLI (``spanscope scorers``) and the
REST API (``/api/scorers``) call these same functions with an explicit store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from spanscope import tracking
from spanscope.evaluation.scorers.base import Scorer
from spanscope.exceptions import InvalidInputError
from spanscope.monitoring.scorer_specs import build_scorer, builtin_named, spec_of
from spanscope.store.assessment_rules import UNSET, Unset
from spanscope.store.online_scorers import (
    DEFAULT_DELAY_S,
    OnlineScorer,
    OnlineScorerStore,
    changed,
    new_registration,
    open_online_scorer_store,
)

__all__ = ["delete_scorer", "get_scorer", "list_scorers", "register", "scorer_spec",
           "update_scorer"]

ScorerLike = Scorer | dict[str, Any] | str


def scorer_spec(scorer: ScorerLike) -> dict[str, Any]:
    """The spec of a scorer object, a spec dict, a built-in's name or an import path;
    checked by building it (a bad import path or option fails now, not in the worker)."""
    if isinstance(scorer, Scorer):
        spec = spec_of(scorer)
    elif isinstance(scorer, dict):
        spec = dict(scorer)
    elif isinstance(scorer, str) and builtin_named(scorer) is not None:
        spec = {"kind": "builtin", "builtin": builtin_named(scorer).__name__,  # type: ignore[union-attr]
                "options": {}}
    elif isinstance(scorer, str) and ":" in scorer:
        spec = {"kind": "code", "import_path": scorer.strip()}
    else:
        raise InvalidInputError(f"{scorer!r} is not a scorer: pass a scorer (Safety(), "
                                f"make_judge(...), an @scorer function), a built-in's name or "
                                f"an import path 'package.module:function'")
    build_scorer(spec)
    return spec


def _own_name(scorer: ScorerLike, spec: dict[str, Any]) -> str:
    return scorer.name if isinstance(scorer, Scorer) else build_scorer(spec).name


def _check_filter(filter_string: str | None) -> None:
    if filter_string:
        from spanscope.query import parse_filter

        parse_filter(filter_string)  # FilterError pointing at the bad token


@contextlib.contextmanager
def _opened(store: OnlineScorerStore | None) -> Iterator[OnlineScorerStore]:
    if store is not None:
        yield store
        return
    opened = open_online_scorer_store(tracking.get_tracking_uri())
    try:
        yield opened
    finally:
        opened.close()


def _experiment(experiment_id: str | None, *, check: bool) -> str:
    experiment = str(experiment_id) if experiment_id is not None else \
        tracking.get_experiment_id()
    if check:
        tracking.get_store().get_experiment(experiment)  # NotFoundError for an unknown id
    return experiment


def register(scorer: ScorerLike, *, name: str | None = None,
             experiment_id: str | None = None, sample_rate: float = 1.0,
             filter_string: str | None = None, delay_s: float = DEFAULT_DELAY_S,
             max_judge_calls_per_hour: int | None = None, backfill: bool = False,
             store: OnlineScorerStore | None = None) -> OnlineScorer:
    """Score ``experiment_id``'s production traces with ``scorer`` from now on.

    A ``sample_rate`` share of the finished traces matching ``filter_string`` is scored,
    ``delay_s`` seconds after each ends, at most ``max_judge_calls_per_hour`` judge calls
    an hour (None: no cap). ``backfill=True`` also scores the traces already stored.
    The experiment defaults to the active one; ``name`` to the scorer's own.
    """
    spec = scorer_spec(scorer)
    _check_filter(filter_string)
    with _opened(store) as opened:  # first: a store that keeps none is refused at once
        experiment = _experiment(experiment_id, check=store is None)
        registration = new_registration(
            experiment, name or _own_name(scorer, spec), spec, sample_rate=sample_rate,
            filter_string=filter_string, delay_s=delay_s,
            max_judge_calls_per_hour=max_judge_calls_per_hour,
            scan_from_ms=0 if backfill else None)
        return opened.create_online_scorer(registration)


def list_scorers(*, experiment_id: str | None = None,
                 store: OnlineScorerStore | None = None) -> list[OnlineScorer]:
    """The registrations of the experiment (default: the active one), by name."""
    with _opened(store) as opened:
        return opened.list_online_scorers(_experiment(experiment_id, check=False))


def get_scorer(*, name: str, experiment_id: str | None = None,
               store: OnlineScorerStore | None = None) -> OnlineScorer:
    """The registration called ``name``; ``NotFoundError`` if there is none."""
    with _opened(store) as opened:
        return opened.get_online_scorer(_experiment(experiment_id, check=False), name)


def update_scorer(*, name: str, experiment_id: str | None = None,
                  scorer: ScorerLike | None = None, sample_rate: float | Unset = UNSET,
                  filter_string: str | Unset | None = UNSET, delay_s: float | Unset = UNSET,
                  max_judge_calls_per_hour: int | Unset | None = UNSET,
                  active: bool | Unset = UNSET,
                  store: OnlineScorerStore | None = None) -> OnlineScorer:
    """Change a registration; a new ``scorer`` makes a new version (traces are scored
    once per version). ``active=False`` stops it, ``True`` starts it again; ``UNSET``
    leaves a field as it is, ``None`` clears the filter or the cap."""
    changes: dict[str, Any] = {key: value for key, value in (
        ("sample_rate", sample_rate), ("filter_string", filter_string),
        ("delay_s", delay_s), ("max_judge_calls_per_hour", max_judge_calls_per_hour),
        ("active", active)) if not isinstance(value, Unset)}
    if scorer is not None:
        changes["spec"] = scorer_spec(scorer)
    if isinstance(filter_string, str):
        _check_filter(filter_string)
    with _opened(store) as opened:
        current = opened.get_online_scorer(_experiment(experiment_id, check=False), name)
        return opened.save_online_scorer(changed(current, changes))


def delete_scorer(*, name: str, experiment_id: str | None = None,
                  store: OnlineScorerStore | None = None) -> None:
    """Delete a registration and its checkpoints; its assessments stay on the traces."""
    with _opened(store) as opened:
        current = opened.get_online_scorer(_experiment(experiment_id, check=False), name)
        opened.delete_online_scorer(current.registration_id)
