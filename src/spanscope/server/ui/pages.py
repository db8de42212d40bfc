"""The web UI's pages: the trace list, a trace, a span's details, and the review forms.

Server-rendered with Jinja2 (the templates beside this file, plus the report's filters),
enhanced by htmx (vendored in ``static/``) where a page loads a piece of itself: a
span's details load on demand, so a 10,000-span trace sends its tree but no payloads.
Handlers are thin: they read the store the REST API reads (``app.state.store``), call the
analysis functions, and hand plain view objects (``views.py``) to the templates. Reads
need the viewer role, the forms the editor role (``server/auth.py``; a browser sends its
key as the ``spanscope_key`` cookie, set by ``/login``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.query import parse_filter
from spanscope.query.highlight import has_text_comparisons
from spanscope.server.auth import KEY_COOKIE, requires
from spanscope.server.ui import views
from spanscope.server.ui.cache import TraceCache
from spanscope.store.keys import Role

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50  # traces per list page
FIRST_ROWS = 120  # span rows the trace page arrives with (a few screens of the tree)
TREE_CHUNK = 1000  # span rows per later piece of a trace's tree
FINDINGS_SHOWN = 20  # findings a trace page lists before "show all"
KEY_SAMPLE = 500  # newest traces whose keys the filter box suggests
KEYS_TTL_S = 60.0  # how long those keys are kept before they are read again
_TEMPLATES = Path(__file__).parent / "templates"
_env: Any = None


def _templates() -> Any:
    global _env
    if _env is None:
        from jinja2 import (
            ChoiceLoader,
            Environment,
            FileSystemLoader,
            PackageLoader,
            select_autoescape,
        )

        from spanscope.analysis.report_html import FILTERS

        # The UI's own templates, then the analysis templates whose trace macros
        # (``_trace_parts.html.j2``) the notebook and the report draw with too.
        loader = ChoiceLoader([FileSystemLoader(str(_TEMPLATES)),
                               PackageLoader("spanscope.analysis", "templates")])
        env = Environment(loader=loader,
                          autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                          lstrip_blocks=True)
        env.filters.update(FILTERS)
        env.filters["local_ms"] = lambda ms: time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else "-"
        env.globals["urlencode"] = urlencode
        _env = env
    return _env


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates().get_template(name).render(**context), status_code=status)


def _store(request: Request) -> Any:
    return request.app.state.store


@router.get("/", response_class=HTMLResponse, dependencies=[requires(Role.VIEWER)])
async def trace_list(
    request: Request,
    experiment_id: Annotated[str | None, Query()] = None,
    filter: Annotated[str, Query()] = "",
    state: Annotated[str, Query()] = "",
    since: Annotated[str, Query()] = "",
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
    span_type: Annotated[str, Query()] = "",
    order: Annotated[str, Query()] = "time",
    page: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """The traces of one experiment, newest (or slowest) first, 50 a page, with their cost
    and, when the filter searches text, where it matched.

    What the first paint does not need comes later: the filter box's key suggestions
    (``/keys``) once the page has loaded.
    """
    store = _store(request)
    experiments = await run_in_threadpool(store.list_experiments)
    experiments.sort(key=lambda e: (e.experiment_id != "0", e.name.lower()))
    if experiment_id is None and experiments:
        experiment_id = experiments[0].experiment_id
    params = {"experiment_id": experiment_id or "", "filter": filter, "state": state,
              "since": since, "from": start, "to": end, "span_type": span_type,
              "order": order}
    error, rows, token, costs, marks = None, [], None, {}, {}
    try:
        # Parsed alone first, so that an error points into the filter as typed.
        typed = parse_filter(filter) if filter.strip() else None
        found, costs = await run_in_threadpool(
            _list_page, store, experiment_id, views.list_filter(params, _now_ms()),
            views.ORDERS.get(order), page or None, has_text_comparisons(typed))
        rows = [views.list_row(t.info) for t in found]
        token, marks = found.token, found.highlights
    except FilterError as exc:
        error = {"message": str(exc).splitlines()[0], "position": exc.position,
                 "token": exc.token}
    except InvalidInputError as exc:  # a stale page token, a bad custom range
        error = {"message": str(exc), "position": None, "token": None}
    datasets = await run_in_threadpool(_datasets_of, store, experiment_id)
    return _page("traces.html", status=400 if error else 200, rows=rows, error=error,
                 datasets=datasets, costs=costs, marks=marks,
                 experiments=experiments, experiment_id=experiment_id, params=params,
                 next_page=token, assessment_names=views.assessment_columns(rows),
                 query=urlencode({k: v for k, v in params.items() if v}))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _list_page(store: Any, experiment_id: str | None, combined: str | None,
               order_by: list[str] | None, page: str | None,
               highlight: bool) -> tuple[Any, dict[str, tuple[str, str | None]]]:
    """A page of the list and each trace's cost (``views.cost_text``): the page's model
    usage by trace in one store query, priced by ``analysis.pricing``."""
    from spanscope.analysis.pricing import cost_by, get_model_prices
    from spanscope.store.aggregates import GroupKey, Selection

    experiments = [experiment_id] if experiment_id else None
    found = store.search_traces(experiments, filter_string=combined, order_by=order_by,
                                max_results=PAGE_SIZE, page_token=page,
                                include_spans=False, highlight=highlight)
    if not found:
        return found, {}
    ids = ", ".join(views.quote_text(t.info.trace_id) for t in found)
    usage = store.model_usage(Selection(tuple(experiments) if experiments else None,
                                        f"attributes.trace_id IN ({ids})"),
                              group_by=GroupKey("trace"))
    totals = cost_by(usage, lambda row: row.group, get_model_prices())
    return found, {t.info.trace_id: views.cost_text(totals.get(t.info.trace_id))
                   for t in found}


@router.get("/keys", dependencies=[requires(Role.VIEWER)])
async def experiment_keys(request: Request,
                          experiment_id: Annotated[str, Query()] = "") -> JSONResponse:
    """The tag, metadata and assessment keys of the experiment's newest traces, for the
    filter box's suggestions: asked for once the list has loaded, so the list does not
    wait for them; kept a minute (``KEYS_TTL_S``)."""
    store = _store(request)
    cached = getattr(request.app.state, "ui_keys", None)
    if cached is None:
        cached = request.app.state.ui_keys = {}
    hit = cached.get(experiment_id)
    if hit is None or time.monotonic() - hit[0] > KEYS_TTL_S:
        keys = await run_in_threadpool(_known_keys, store, experiment_id or None)
        if len(cached) > 100:
            cached.clear()
        hit = cached[experiment_id] = (time.monotonic(), keys)
    return JSONResponse(hit[1])


def _known_keys(store: Any, experiment_id: str | None) -> list[str]:
    """Tag, metadata and assessment keys of the experiment's newest traces, as filter
    identifiers, for the filter box's suggestions."""
    try:
        newest = store.search_traces([experiment_id] if experiment_id else None,
                                     max_results=KEY_SAMPLE, include_spans=False)
    except (FilterError, InvalidInputError, NotFoundError):
        return []
    return views.filter_keys([t.info for t in newest])


def _datasets_of(store: Any, experiment_id: str | None) -> list[Any]:
    """The experiment's evaluation datasets, for "Add to dataset" (newest first)."""
    try:
        return store.search_datasets([experiment_id] if experiment_id else None,
                                     max_results=200)
    except (InvalidInputError, NotFoundError):
        return []


def _cache(request: Request) -> TraceCache:
    """The app's cache of just-loaded traces (made on first use)."""
    cache = getattr(request.app.state, "ui_traces", None)
    if cache is None:
        cache = request.app.state.ui_traces = TraceCache()
    return cache


async def _trace_or_page(request: Request, trace_id: str, page: str, *,
                         cached: bool = False) -> Any:
    """The trace, or the page saying it is not there. ``cached``: a piece of a trace page
    takes the trace the page just read (``cache.py``); a page reads afresh and keeps it."""
    store, cache = _store(request), _cache(request)
    try:
        if cached:
            return await run_in_threadpool(cache.get, trace_id, store.get_trace)
        return await run_in_threadpool(lambda: cache.put(store.get_trace(trace_id)))
    except NotFoundError as exc:
        return _page(page, status=404, message=str(exc))


@router.get("/traces/{trace_id}", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def trace_page(request: Request, trace_id: str, back: str = "",
                     review: str = "") -> HTMLResponse:
    """One trace: header, span tree with timeline, assessments, review forms.

    A big trace opens fast: the tree arrives with ``FIRST_ROWS`` rows, the rest
    ``TREE_CHUNK`` at a time as the reader scrolls (``trace_tree``), the findings of
    ``diagnose`` load beside it (``trace_findings``), and span payloads only when a span
    is opened.
    """
    from spanscope.analysis.trace_view import waterfall_rows

    trace = await _trace_or_page(request, trace_id, "missing.html")
    if isinstance(trace, HTMLResponse):
        return trace
    rows = await run_in_threadpool(lambda: waterfall_rows(trace, limit=FIRST_ROWS))
    total = len(trace.data.spans)
    assessments = sorted(trace.info.assessments, key=lambda a: a.create_time_ms)
    return _page("trace.html", facts=views.trace_facts(trace), rows=rows,
                 total=total, next_start=FIRST_ROWS if total > len(rows) else None,
                 assessments=assessments, back=back if back.startswith("/") else "/",
                 spans=_span_names(trace, {a.span_id for a in assessments if a.span_id}),
                 span_choices=rows[:200], review=views.review_context(review, trace_id))


def _span_names(trace: Any, span_ids: set[str]) -> dict[str, str]:
    """Names of the spans the assessments are on (not of all 10,000)."""
    return {s.span_id: s.name for s in trace.data.spans if s.span_id in span_ids} \
        if span_ids else {}


@router.get("/traces/{trace_id}/neighbours", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def trace_neighbours(request: Request, trace_id: str, back: str = "") -> HTMLResponse:
    """Links to the previous and next trace of the list the page was opened from (its
    filter and order are in ``back``): one keyset query each way from this trace's sort
    values, never an offset scan (an htmx fragment)."""
    params = views.list_from_back(back)
    if params is None:
        return HTMLResponse("")
    found = await run_in_threadpool(_neighbours, _store(request), trace_id, params)
    return _page("_neighbours.html", back=back, **found)


def _neighbours(store: Any, trace_id: str, params: dict[str, str]) -> dict[str, str | None]:
    from spanscope.store.keyset import Order

    experiments = [params["experiment_id"]] if params["experiment_id"] else None
    try:
        combined = views.list_filter(params, _now_ms())
        (me,) = store.search_traces(
            None, filter_string=f"attributes.trace_id = {views.quote_text(trace_id)}",
            max_results=1, include_spans=False)
        found: dict[str, str | None] = {}
        for side, order_by in (("next", views.ORDERS[params["order"]]),
                               ("previous", views.REVERSED[params["order"]])):
            order = Order.parse(order_by)
            page = store.search_traces(experiments, filter_string=combined,
                                       order_by=order_by, max_results=1,
                                       page_token=order.encode(order.values(me)),
                                       include_spans=False)
            found[side] = page[0].info.trace_id if page else None
            if side == "previous" and params["order"] == "duration":
                found[side] = _previous_by_duration(store, experiments, combined, me, page)
    except (ValueError, FilterError, InvalidInputError, NotFoundError):
        return {"next": None, "previous": None}  # a stale or foreign list: no links
    return found


def _previous_by_duration(store: Any, experiments: list[str] | None, combined: str | None,
                          me: Any, page: Any) -> str | None:
    """Missing durations (traces in progress) sort last both ways, so walking "slowest
    first" backwards needs care at the border: a trace with a duration has no
    in-progress trace before it, and the first in-progress trace comes after the fastest
    finished one."""
    before = page[0] if page else None
    if me.info.execution_duration is not None:
        return None if before is None or before.info.execution_duration is None \
            else before.info.trace_id
    if before is not None:
        return before.info.trace_id
    finished = "attributes.execution_time_ms IS NOT NULL"
    fastest = store.search_traces(
        experiments, filter_string=f"({combined}) AND {finished}" if combined else finished,
        order_by=views.REVERSED["duration"], max_results=1, include_spans=False)
    return fastest[0].info.trace_id if fastest else None


@router.get("/traces/{trace_id}/tree", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def trace_tree(request: Request, trace_id: str,
                     start: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    """The span tree's rows from ``start`` on, ``TREE_CHUNK`` of them (an htmx fragment)."""
    from spanscope.analysis.trace_view import waterfall_rows

    trace = await _trace_or_page(request, trace_id, "_message.html", cached=True)
    if isinstance(trace, HTMLResponse):
        return trace
    end = start + TREE_CHUNK
    rows = await run_in_threadpool(_cache(request).derived, trace, "rows", waterfall_rows)
    return _page("_rows.html", rows=rows[start:end], trace_id=trace_id,
                 next_start=end if end < len(rows) else None)


@router.get("/traces/{trace_id}/findings", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def trace_findings(request: Request, trace_id: str,
                         every: Annotated[bool, Query(alias="all")] = False) -> HTMLResponse:
    """What ``diagnose`` found (an htmx fragment); the page marks the culprit spans. The
    first ``FINDINGS_SHOWN`` (``views.first_findings``) and how many more of each kind (a
    10,000-span trace can have thousands), unless ``all``."""
    from spanscope.analysis import diagnose

    trace = await _trace_or_page(request, trace_id, "_message.html", cached=True)
    if isinstance(trace, HTMLResponse):
        return trace
    findings = await run_in_threadpool(_cache(request).derived, trace, "findings", diagnose)
    shown, more = (findings, []) if every else views.first_findings(findings, FINDINGS_SHOWN)
    return _page("_findings.html", findings=shown, trace_id=trace_id, more=more)


@router.get("/traces/{trace_id}/spans/{span_id}", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def span_detail(request: Request, trace_id: str, span_id: str) -> HTMLResponse:
    """One span's inputs, outputs, attributes and events (an htmx fragment)."""
    trace = await _trace_or_page(request, trace_id, "_message.html", cached=True)
    if isinstance(trace, HTMLResponse):
        return trace
    span = next((s for s in trace.data.spans if s.span_id == span_id), None)
    if span is None:
        return _page("_message.html", status=404,
                     message=f"trace {trace_id} has no span {span_id}")
    hidden = ("mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.spanType",
              "mlflow.traceRequestId")
    attributes = {k: v for k, v in span.attributes.items() if k not in hidden}
    return _page("_span.html", span=span, trace_id=trace_id,
                 inputs=views.payload_view(span.inputs),
                 outputs=views.payload_view(span.outputs), attributes=attributes)


@router.get("/sessions/{session_id}", response_class=HTMLResponse,
            dependencies=[requires(Role.VIEWER)])
async def session_page(request: Request, session_id: str) -> HTMLResponse:
    """The traces of one session as a conversation, turn by turn, oldest first."""
    found = await run_in_threadpool(
        _store(request).search_traces, None,
        filter_string=f"attributes.session_id = {views.quote_text(session_id)}",
        order_by=["timestamp_ms ASC"], max_results=500, include_spans=False)
    turns = [views.list_row(t.info) for t in found]
    return _page("session.html", session_id=session_id, turns=turns,
                 more=found.token is not None)


@router.get("/compare", response_class=HTMLResponse, dependencies=[requires(Role.VIEWER)])
async def compare_page(request: Request,
                       t: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    """Two traces side by side (``?t=A&t=B``): aligned span trees, timing, tokens, and
    which inputs and outputs differ."""
    from spanscope.analysis.trace_diff import diff_traces

    ids = list(dict.fromkeys(t or []))
    if len(ids) != 2:
        return _page("_message.html", status=400,
                     message=f"pick exactly two traces to compare ({len(ids)} given)")
    traces = []
    for trace_id in ids:
        trace = await _trace_or_page(request, trace_id, "missing.html")
        if isinstance(trace, HTMLResponse):
            return trace
        traces.append(trace)
    diff = await run_in_threadpool(diff_traces, traces[0], traces[1])
    return _page("compare.html", diff=diff, a=views.trace_facts(traces[0]),
                 b=views.trace_facts(traces[1]))


def _parse_value(raw: str, kind: str) -> Any:
    """A feedback value typed as the form says: yes/no, number or text."""
    text = raw.strip()
    if kind == "bool":
        if text.lower() in ("yes", "true", "1", "pass"):
            return True
        if text.lower() in ("no", "false", "0", "fail"):
            return False
        raise InvalidInputError(f"a yes/no value must be yes or no, not {raw!r}")
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise InvalidInputError(f"{raw!r} is not a number") from None
        return int(number) if number.is_integer() else number
    if not text:
        raise InvalidInputError("the value is empty")
    return text


@router.get("/review", dependencies=[requires(Role.VIEWER)])
async def review_next(
    request: Request,
    name: Annotated[str, Query(min_length=1)],
    experiment_id: Annotated[str, Query()] = "0",
    filter: Annotated[str, Query()] = "",
    skip: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The review queue: the newest trace matching ``filter`` that has no feedback called
    ``name`` yet (and was not skipped), opened with the feedback form ready."""
    wanted = views.review_filter(filter, name, skip or [])
    try:
        found = await run_in_threadpool(_store(request).search_trace_ids, [experiment_id],
                                        filter_string=wanted, max_results=1)
    except (FilterError, InvalidInputError) as exc:
        return _page("_message.html", status=400, message=str(exc))
    queue = urlencode({"name": name, "experiment_id": experiment_id, "filter": filter,
                       **({"skip": skip} if skip else {})}, doseq=True)
    if not found:
        return _page("done.html", message=f"Nothing left to review: every trace matching "
                     f"{filter or 'the experiment'} has feedback named {name!r}.",
                     back="/?" + urlencode({"experiment_id": experiment_id, "filter": filter}))
    return RedirectResponse(f"/traces/{found[0]}?review={quote(queue)}", status_code=303)


@router.post("/traces/{trace_id}/feedback", dependencies=[requires(Role.EDITOR)])
async def save_feedback(
    request: Request, trace_id: str,
    name: Annotated[str, Form()], value: Annotated[str, Form()],
    value_type: Annotated[str, Form()] = "bool", rationale: Annotated[str, Form()] = "",
    span_id: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "feedback",
    overrides: Annotated[str, Form()] = "", review: Annotated[str, Form()] = "",
) -> Response:
    """Log feedback (or an expectation) from the review form, then show the trace again."""
    from spanscope.entities import AssessmentSource, Expectation, Feedback

    key = getattr(request.state, "api_key", None)
    source = AssessmentSource("HUMAN", getattr(key, "name", None) or "ui")
    try:
        parsed = _parse_value(value, value_type)
        fields = {"name": name.strip(), "trace_id": trace_id, "span_id": span_id or None,
                  "rationale": rationale.strip() or None, "source": source}
        if not fields["name"]:
            raise InvalidInputError("the name is empty")
        if kind == "expectation":
            assessment: Any = Expectation(value=parsed, **fields)
        else:
            assessment = Feedback(value=parsed, overrides=overrides or None, **fields)
        await run_in_threadpool(_store(request).create_assessment, assessment)
    except (InvalidInputError, NotFoundError) as exc:
        return _page("_message.html", status=400, message=str(exc))
    if review:  # in the review queue: on to the next trace
        return RedirectResponse(f"/review?{review}", status_code=303)
    return RedirectResponse(f"/traces/{trace_id}#assessments", status_code=303)


@router.post("/traces/{trace_id}/tags", dependencies=[requires(Role.EDITOR)])
async def save_tag(request: Request, trace_id: str, key: Annotated[str, Form()],
                   value: Annotated[str, Form()] = "") -> Response:
    """Set a tag from the trace page's form."""
    try:
        await run_in_threadpool(_store(request).set_trace_tag, trace_id, key.strip(), value)
    except (InvalidInputError, NotFoundError) as exc:
        return _page("_message.html", status=400, message=str(exc))
    return RedirectResponse(f"/traces/{trace_id}", status_code=303)


@router.post("/traces/selected/tag", dependencies=[requires(Role.EDITOR)])
async def tag_selected(request: Request, t: Annotated[list[str], Form()],
                       key: Annotated[str, Form()], value: Annotated[str, Form()] = "",
                       back: Annotated[str, Form()] = "/") -> Response:
    """Set one tag on every selected trace, then return to the list."""
    store = _store(request)
    try:
        for trace_id in dict.fromkeys(t):
            await run_in_threadpool(store.set_trace_tag, trace_id, key.strip(), value)
    except (InvalidInputError, NotFoundError) as exc:
        return _page("_message.html", status=400, message=str(exc))
    return RedirectResponse(back if back.startswith("/") else "/", status_code=303)


@router.post("/traces/selected/delete", response_class=HTMLResponse,
             dependencies=[requires(Role.ADMIN)])
async def delete_selected(request: Request, t: Annotated[list[str], Form()],
                          confirmed: Annotated[str, Form()] = "",
                          back: Annotated[str, Form()] = "/") -> Response:
    """Delete the selected traces, after a page that says how many and asks again."""
    ids = list(dict.fromkeys(t))
    if confirmed != "yes":
        return _page("confirm_delete.html", ids=ids, back=back if back.startswith("/") else "/")
    deleted = await run_in_threadpool(_store(request).delete_trace_ids, ids)
    return _page("done.html", message=f"Deleted {deleted} trace{'s' if deleted != 1 else ''}.",
                 back=back if back.startswith("/") else "/")


@router.get("/login", response_class=HTMLResponse)
async def login_page(error: str = "") -> HTMLResponse:
    return _page("login.html", error=error)


@router.post("/login")
async def login(request: Request, key: Annotated[str, Form()]) -> Response:
    """Check an API key and keep it in a cookie, so the browser's requests carry it."""
    keys = request.app.state.keys
    if keys is None or await run_in_threadpool(keys.authenticate, key.strip()) is None:
        return _page("login.html", status=401, error="That key is not valid.")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(KEY_COOKIE, key.strip(), httponly=True, samesite="strict")
    return response
