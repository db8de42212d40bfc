"""The UI's datasets and evaluations: evaluation datasets with their versions and records,
evaluation runs with their metrics and per-row results, and adding traces to a dataset.

The same store methods the REST API's dataset and run routes call (``DatasetStore``,
``RunStore``); the records added from traces are made by ``record_updates``, the code
behind ``EvaluationDataset.merge_records(traces)``, so a dataset filled from the UI holds
exactly what the Python API would have put there.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.server.auth import requires
from spanscope.server.ui import views
from spanscope.server.ui.pages import _page, _store
from spanscope.store.keys import Role

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
RECORDS_SHOWN = 500  # records (or result rows) a page shows


@router.get("/datasets", response_class=HTMLResponse, dependencies=[requires(Role.VIEWER)])
async def dataset_list(request: Request,
                       experiment_id: Annotated[str, Query()] = "") -> HTMLResponse:
    """The evaluation datasets (of one experiment, or all), last updated first."""
    try:
        datasets = await run_in_threadpool(
            _store(request).search_datasets, [experiment_id] if experiment_id else None,
            order_by=["last_update_time DESC"])
    except (InvalidInputError, NotFoundError) as exc:
        return _page("_message.html", status=400, message=str(exc))
    return _page("datasets.html", datasets=datasets, experiment_id=experiment_id)


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def dataset_page(request: Request, dataset_id: str,
                       version: Annotated[int | None, Query(ge=0)] = None,
                       added: Annotated[str, Query()] = "") -> HTMLResponse:
    """A dataset: its versions, and the records of one version (default: the current)."""
    store = _store(request)
    try:
        dataset = await run_in_threadpool(store.get_dataset, dataset_id)
        versions = await run_in_threadpool(store.list_dataset_versions, dataset_id)
        shown = dataset.version if version is None else version
        if shown > dataset.version:
            raise NotFoundError(f"dataset {dataset.name!r} has no version {shown} (its "
                                f"newest is {dataset.version})")
        records = await run_in_threadpool(store.get_dataset_records, dataset_id,
                                          version=shown)
    except NotFoundError as exc:
        return _page("missing.html", status=404, message=str(exc))
    return _page("dataset.html", dataset=dataset, versions=list(reversed(versions)),
                 shown=shown, records=records[:RECORDS_SHOWN], total=len(records),
                 added=added, compact=views.compact_json)


@router.post("/traces/selected/dataset", dependencies=[requires(Role.EDITOR)])
async def add_to_dataset(request: Request, t: Annotated[list[str], Form()],
                         dataset_id: Annotated[str, Form()] = "",
                         new_name: Annotated[str, Form()] = "",
                         experiment_id: Annotated[str, Form()] = "0") -> Response:
    """Add the selected traces to a dataset (an existing one, or a new one named here) as
    ``merge_records`` adds traces: the root span's inputs and outputs, the trace's
    expectations, the trace as the record's source. A new version results."""
    from spanscope.evaluation.dataset_records import record_updates

    store = _store(request)
    try:
        traces = [await run_in_threadpool(store.get_trace, trace_id)
                  for trace_id in dict.fromkeys(t)]
        updates = record_updates(traces)
        if not dataset_id:
            if not new_name.strip():
                raise InvalidInputError("choose a dataset, or name a new one")
            key = getattr(request.state, "api_key", None)
            dataset = await run_in_threadpool(
                lambda: store.create_dataset(new_name.strip(), experiment_ids=[experiment_id],
                                             created_by=getattr(key, "name", None) or "ui"))
            dataset_id = dataset.dataset_id
        result = await run_in_threadpool(store.merge_dataset_records, dataset_id, updates)
    except (InvalidInputError, NotFoundError) as exc:
        return _page("_message.html", status=400, message=str(exc))
    added = f"{result.inserted},{result.updated}"
    return RedirectResponse(f"/datasets/{dataset_id}?{urlencode({'added': added})}",
                            status_code=303)


@router.get("/evaluations", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def run_list(request: Request,
                   experiment_id: Annotated[str, Query()] = "") -> HTMLResponse:
    """The runs (evaluations log one each) of one experiment or all, newest first, with
    their metrics."""
    try:
        runs = await run_in_threadpool(_store(request).search_runs,
                                       [experiment_id] if experiment_id else None,
                                       max_results=500)
    except (InvalidInputError, NotFoundError) as exc:
        return _page("_message.html", status=400, message=str(exc))
    metrics = list(dict.fromkeys(k for run in runs for k in sorted(run.data.metrics)))
    return _page("evaluations.html", runs=runs, metrics=metrics[:8],
                 experiment_id=experiment_id)


@router.get("/evaluations/compare", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def compare_runs(request: Request,
                       run: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    """Two evaluations side by side (``?run=A&run=B``; the older is A): each metric's
    change, and row by row (rows matched by inputs) what improved, what regressed, what
    else changed; the comparison is ``compare_evaluations``'."""
    from spanscope.evaluation.compare import compare_evaluations

    ids = list(dict.fromkeys(run or []))
    if len(ids) != 2:
        return _page("_message.html", status=400,
                     message=f"pick exactly two evaluations to compare ({len(ids)} given)")
    store = _store(request)
    try:
        sides = [await run_in_threadpool(_evaluation_of, store, run_id) for run_id in ids]
        sides.sort(key=lambda side: side[2])  # A is the older: B says what changed since
        comparison = await run_in_threadpool(compare_evaluations, sides[0][0], sides[1][0])
    except NotFoundError as exc:
        return _page("missing.html", status=404, message=str(exc))
    return _page("evaluation_compare.html", a=sides[0][0].run_id, b=sides[1][0].run_id,
                 names={result.run_id: name for result, name, _ in sides},
                 metrics=comparison.metrics.to_dict(orient="records"),
                 **views.comparison_rows(comparison.rows), compact=views.compact_json)


def _evaluation_of(store: Any, run_id: str) -> tuple[Any, str, int]:
    """A run of the store as an ``EvaluationResult`` (metrics and its result table), the
    run's name and its start time."""
    import pandas as pd

    from spanscope.evaluation.results import EvaluationResult

    found = store.get_run(run_id)
    table, problem = _results_of(found, limit=None)
    if table is None:
        raise NotFoundError(problem or f"run {run_id} has no per-row results: it is not "
                            f"an evaluation")
    frame = pd.DataFrame(table.raw, columns=table.columns)
    result = EvaluationResult(run_id=run_id, metrics=dict(found.data.metrics),
                              result_df=frame)
    return result, found.info.run_name or run_id, found.info.start_time or 0


@router.get("/evaluations/{run_id}", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    """One run: params and metrics, and its per-row results when it is an evaluation
    (the ``eval_results_table.json`` artifact ``evaluate()`` logs)."""
    try:
        run = await run_in_threadpool(_store(request).get_run, run_id)
    except NotFoundError as exc:
        return _page("missing.html", status=404, message=str(exc))
    table, problem = await run_in_threadpool(_results_of, run)
    return _page("evaluation.html", run=run, table=table, problem=problem,
                 compact=views.compact_json)


def _results_of(run: Any, limit: int | None = RECORDS_SHOWN
                ) -> tuple[views.EvaluationTable | None, str | None]:
    """The run's result table, or why there is none to show."""
    from spanscope.evaluation.results import TABLE_ARTIFACT
    from spanscope.store.artifacts import repository

    if not run.info.artifact_uri:
        return None, None
    try:
        data = repository(run.info.artifact_uri).read(TABLE_ARTIFACT)
    except (InvalidInputError, NotFoundError, OSError) as exc:
        return None, f"its {TABLE_ARTIFACT} could not be read: {exc}"
    if data is None:
        return None, None
    try:
        body = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        return None, f"its {TABLE_ARTIFACT} is not JSON: {exc}"
    if not isinstance(body, dict):
        return None, f"its {TABLE_ARTIFACT} is not a table"
    return views.evaluation_table(body, limit), None
