"""Reading traces back: ``get_trace`` and ``search_traces``.

Thin wrappers: they resolve the store from the tracking URI and delegate to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from spanscope import tracking
from spanscope.entities import PagedList, Trace
from spanscope.exceptions import InvalidInputError
from spanscope.pending import flush_pending_traces

if TYPE_CHECKING:
    import pandas as pd

    from spanscope.api.extract import ResultColumn

__all__ = ["get_trace", "search_traces"]

_PAGE_SIZE = 500


def get_trace(trace_id: str) -> Trace:
    """The full trace with this id; ``NotFoundError`` if the store has none.

    Traces still waiting in the export queue are flushed first, so a trace that just
    finished in this process is always found.
    """
    flush_pending_traces()
    return tracking.get_store().get_trace(trace_id)


def search_traces(
    experiment_ids: Sequence[str] | None = None,
    *,
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: Sequence[str] | None = None,
    extract_fields: Sequence[str] | None = None,
    return_type: Literal["pandas", "list"] = "pandas",
    page_token: str | None = None,
    include_spans: bool = True,
    highlight: bool = False,
) -> pd.DataFrame | PagedList[Trace]:
    """Traces matching ``filter_string`` in the given experiments (default: the active one).

    ``filter_string`` is the filter language of ``docs/filter-language.md`` (a bad one
    raises ``FilterError`` naming the offending token). ``order_by`` takes several
    ``KEY [ASC|DESC]`` items (attributes, ``tags.KEY``, ``metadata.KEY``); the default is
    newest first. ``max_results=None`` returns every match, fetched page by page.

    With ``return_type="list"`` the result is a ``PagedList`` of ``Trace`` whose ``token``
    fetches the next page (pass it back with the same ``order_by``); with ``"pandas"`` a
    DataFrame, one row per trace, with ``attrs["next_page_token"]``. Its columns are those
    of ``spanscope.api.dataframe``, then one per ``extract_fields`` item (see
    ``spanscope.api.extract``: ``SPAN_NAME.inputs.PATH``, ``tags.KEY`` ...), then one per
    tag, metadata or assessment field the filter compares, named as written in the filter
    (numeric when it compares as a number). ``extract_fields`` is for DataFrames only.

    ``highlight=True`` says where the filter's text comparisons (``text CONTAINS 'x'``,
    ``request ILIKE ...``) matched: a ``highlights`` column of lists of dicts (span id and
    name, kind, snippet, match offsets) in a DataFrame, and ``.highlights`` (trace id to
    ``Highlight`` list) on a ``PagedList``.
    """
    if return_type not in ("pandas", "list"):
        raise InvalidInputError(f"return_type must be 'pandas' or 'list', not {return_type!r}")
    if max_results is not None and (isinstance(max_results, bool)
                                    or not isinstance(max_results, int) or max_results < 1):
        raise InvalidInputError(f"max_results must be a positive integer or None, "
                                f"not {max_results!r}")
    if extract_fields and return_type != "pandas":
        raise InvalidInputError("extract_fields adds DataFrame columns; use "
                                "return_type='pandas' (or read the fields from the Traces)")
    columns: list[ResultColumn] = []
    if return_type == "pandas":
        from spanscope.api.extract import result_columns

        columns = result_columns(filter_string, extract_fields)
        needing = [c.name for c in columns if c.needs_spans]
        if needing and not include_spans:
            raise InvalidInputError(f"extract_fields {', '.join(needing)} read spans; "
                                    "pass include_spans=True")
    if experiment_ids is None:
        experiment_ids = [tracking.get_experiment_id()]
    elif isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    if isinstance(order_by, str):
        order_by = [order_by]
    flush_pending_traces()
    store = tracking.get_store()
    traces: PagedList[Trace] = PagedList()
    token = page_token
    while True:
        want = _PAGE_SIZE if max_results is None else min(_PAGE_SIZE, max_results - len(traces))
        page = store.search_traces([str(e) for e in experiment_ids],
                                   filter_string=filter_string, order_by=order_by,
                                   max_results=want, page_token=token,
                                   include_spans=include_spans, highlight=highlight)
        traces.extend(page)
        traces.highlights.update(page.highlights)
        token = page.token
        if token is None or (max_results is not None and len(traces) >= max_results):
            break
    traces.token = token
    if return_type == "list":
        return traces
    from spanscope.api.dataframe import traces_to_dataframe

    frame = traces_to_dataframe(traces, columns)
    if highlight:
        frame["highlights"] = [[h.to_dict() for h in traces.highlights.get(t.info.trace_id, [])]
                               for t in traces]
    frame.attrs["next_page_token"] = token
    return frame
