"""Reading traces back: ``get_trace`` and ``search_traces``.

Thin wrappers: they resolve the store from the tracking URI and delegate to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from spanscope import tracking
from spanscope.entities import PagedList, Trace
from spanscope.exceptions import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["get_trace", "search_traces"]

_PAGE_SIZE = 500


def get_trace(trace_id: str) -> Trace:
    """The full trace with this id; ``NotFoundError`` if the store has none.

    Traces still waiting in the export queue are flushed first, so a trace that just
    finished in this process is always found.
    """
    _flush_pending()
    return tracking.get_store().get_trace(trace_id)


def search_traces(
    experiment_ids: Sequence[str] | None = None,
    *,
    max_results: int | None = None,
    page_token: str | None = None,
    return_type: Literal["pandas", "list"] = "pandas",
    include_spans: bool = True,
) -> pd.DataFrame | PagedList[Trace]:
    """Traces of the given experiments (default: the active one), newest first.

    ``max_results=None`` returns every match, fetched page by page. With
    ``return_type="list"`` the result is a ``PagedList`` whose ``token`` fetches the next
    page; with ``"pandas"`` a DataFrame whose ``attrs["next_page_token"]`` does.
    """
    if return_type not in ("pandas", "list"):
        raise InvalidInputError(f"return_type must be 'pandas' or 'list', not {return_type!r}")
    if max_results is not None and max_results < 1:
        raise InvalidInputError(f"max_results must be a positive number, not {max_results}")
    if experiment_ids is None:
        experiment_ids = [tracking.get_experiment_id()]
    elif isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    _flush_pending()
    store = tracking.get_store()
    traces: PagedList[Trace] = PagedList()
    token = page_token
    while True:
        want = _PAGE_SIZE if max_results is None else min(_PAGE_SIZE, max_results - len(traces))
        page = store.search_traces([str(e) for e in experiment_ids], max_results=want,
                                   page_token=token, include_spans=include_spans)
        traces.extend(page)
        token = page.token
        if token is None or (max_results is not None and len(traces) >= max_results):
            break
    traces.token = token
    if return_type == "list":
        return traces
    from spanscope.api.dataframe import traces_to_dataframe

    frame = traces_to_dataframe(traces)
    frame.attrs["next_page_token"] = token
    return frame


def _flush_pending() -> None:
    """Write traces this process finished but has not exported yet (bounded wait)."""
    import sys

    tracing = sys.modules.get("spanscope.tracing")
    if tracing is not None:  # nothing to flush if no span was ever made
        tracing.flush(timeout=30)
