"""Online scorers over HTTP: register (editors), list and read (viewers), change
(editors), delete (admins); the same operations as ``spanscope scorers``.

Registrations live in the server's own database (``spanscope.store.online_scorers``),
opened on first use beside the trace store and kept for the app's life.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spanscope.monitoring import registry
from spanscope.server.routes._common import (
    ADMIN,
    EDITOR,
    VIEWER,
    Body,
    Id,
    WireResponse,
    reply,
    store_of,
)
from spanscope.store.assessment_rules import UNSET
from spanscope.store.online_scorers import (
    DEFAULT_DELAY_S,
    OnlineScorer,
    OnlineScorerStore,
    open_online_scorer_store,
)

__all__ = ["close_online_scorers", "router"]

router = APIRouter(prefix="/api/scorers", tags=["scorers"])
_open_lock = threading.Lock()

_SCORER_HELP = ("A built-in judge's name ('Safety'), an import path "
                "'package.module:function', or a spec: {'kind': 'builtin', 'builtin': "
                "'Guidelines', 'options': {'guidelines': [...]}}, {'kind': 'judge', "
                "'instructions': '... {{ outputs }} ...'}, {'kind': 'code', "
                "'import_path': '...'}.")


class RegisterScorer(Body):
    experiment_id: Id = "0"
    scorer: str | dict[str, Any] = Field(description=_SCORER_HELP)
    name: str | None = None
    sample_rate: float = 1.0
    filter_string: str | None = None
    delay_s: float = DEFAULT_DELAY_S
    max_judge_calls_per_hour: int | None = None
    backfill: bool = False


class UpdateScorer(Body):
    scorer: str | dict[str, Any] | None = Field(default=None, description=_SCORER_HELP)
    sample_rate: float | None = None
    filter_string: str | None = Field(default=None, description="'' removes the filter.")
    delay_s: float | None = None
    max_judge_calls_per_hour: int | None = Field(default=None,
                                                 description="0 removes the cap.")
    active: bool | None = None


def _scorers(request: Request) -> OnlineScorerStore:
    state = request.app.state
    with _open_lock:
        opened = getattr(state, "online_scorers", None)
        if opened is None:
            opened = state.online_scorers = open_online_scorer_store(state.config.store_uri)
        return opened  # type: ignore[no-any-return]


def close_online_scorers(app: Any) -> None:
    """Close the online scorer store the routes opened (the app's lifespan ends)."""
    with _open_lock:
        opened = getattr(app.state, "online_scorers", None)
        app.state.online_scorers = None
    if opened is not None:
        opened.close()


def _view(store: OnlineScorerStore, scorer: OnlineScorer) -> dict[str, Any]:
    return {**scorer.to_dict(), "traces": store.checkpoint_counts(scorer.registration_id)}


@router.get("", **VIEWER)
def list_scorers(request: Request,
                 experiment_id: Annotated[str | None, Query()] = None) -> WireResponse:
    store = _scorers(request)
    found = store.list_online_scorers(experiment_id)
    return reply({"scorers": [_view(store, s) for s in found]})


@router.post("", **EDITOR)
async def register_scorer(body: RegisterScorer, request: Request) -> WireResponse:
    def work() -> dict[str, Any]:
        store_of(request).get_experiment(body.experiment_id)  # 404 for an unknown one
        store = _scorers(request)
        created = registry.register(
            body.scorer, name=body.name, experiment_id=body.experiment_id,
            sample_rate=body.sample_rate, filter_string=body.filter_string,
            delay_s=body.delay_s, max_judge_calls_per_hour=body.max_judge_calls_per_hour,
            backfill=body.backfill, store=store)
        return _view(store, created)

    return reply({"scorer": await run_in_threadpool(work)})


@router.get("/{experiment_id}/{name}", **VIEWER)
def get_scorer(experiment_id: str, name: str, request: Request) -> WireResponse:
    store = _scorers(request)
    return reply({"scorer": _view(store, store.get_online_scorer(experiment_id, name))})


@router.patch("/{experiment_id}/{name}", **EDITOR)
async def update_scorer(experiment_id: str, name: str, body: UpdateScorer,
                        request: Request) -> WireResponse:
    def work() -> dict[str, Any]:
        store = _scorers(request)
        updated = registry.update_scorer(
            name=name, experiment_id=experiment_id, scorer=body.scorer,
            sample_rate=UNSET if body.sample_rate is None else body.sample_rate,
            filter_string=UNSET if body.filter_string is None else (
                body.filter_string or None),
            delay_s=UNSET if body.delay_s is None else body.delay_s,
            max_judge_calls_per_hour=UNSET if body.max_judge_calls_per_hour is None else (
                body.max_judge_calls_per_hour or None),
            active=UNSET if body.active is None else body.active, store=store)
        return _view(store, updated)

    return reply({"scorer": await run_in_threadpool(work)})


@router.delete("/{experiment_id}/{name}", **ADMIN)
def delete_scorer(experiment_id: str, name: str, request: Request) -> WireResponse:
    registry.delete_scorer(name=name, experiment_id=experiment_id, store=_scorers(request))
    return reply({})
