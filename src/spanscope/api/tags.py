"""Curating traces: ``set_trace_tag``, ``delete_trace_tag`` and ``delete_traces``.

Thin wrappers over the store the tracking URI names. Each one first flushes traces this
process finished but has not exported yet, so a trace that just ended can be tagged or
deleted at once. Rules and limits live in the store (``docs/tags-and-deletion.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spanscope import tracking
from spanscope.exceptions import InvalidInputError
from spanscope.pending import flush_pending_traces

if TYPE_CHECKING:
    from spanscope.store.base import TraceStore

__all__ = ["delete_trace_tag", "delete_traces", "set_trace_tag"]

def set_trace_tag(trace_id: str, key: str, value: str) -> None:
    """Set a tag on a stored trace (a new key is added after its other tags).

    ``NotFoundError`` if there is no such trace; ``InvalidInputError`` for an empty key,
    a key over 250 characters, or a value that is not a string or is over 8000 characters.
    """
    flush_pending_traces()
    tracking.get_store().set_trace_tag(trace_id, key, value)


def delete_trace_tag(trace_id: str, key: str) -> None:
    """Remove a tag; ``NotFoundError`` if the trace does not exist or has no such tag."""
    flush_pending_traces()
    tracking.get_store().delete_trace_tag(trace_id, key)


def delete_traces(
    experiment_id: str | None = None,
    max_timestamp_millis: int | None = None,
    max_traces: int | None = None,
    trace_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    *,
    dry_run: bool = False,
) -> int:
    """Delete traces with their spans, tags, metadata and assessments; returns the count.

    Say which traces with exactly one of:

    - ``trace_ids``: these traces. Without ``experiment_id`` wherever they are; with it,
      only those in that experiment. Ids not found are skipped (not counted).
    - ``max_timestamp_millis``: traces whose ``request_time`` is at or before it (epoch
      ms), oldest first, at most ``max_traces``.
    - ``filter_string``: traces matching a filter (the search language), at most
      ``max_traces`` (the oldest matches).

    The last two act on ``experiment_id``, by default the active experiment.
    ``dry_run=True`` deletes nothing and returns how many traces would be deleted.
    """
    chosen = [name for name, given in (("trace_ids", trace_ids is not None),
                                       ("max_timestamp_millis", max_timestamp_millis is not None),
                                       ("filter_string", filter_string is not None)) if given]
    if len(chosen) != 1:
        raise InvalidInputError(
            "delete_traces needs exactly one of trace_ids, max_timestamp_millis or "
            f"filter_string (got {', '.join(chosen) if chosen else 'none'})")
    flush_pending_traces()
    store = tracking.get_store()
    if trace_ids is not None and experiment_id is None:
        if max_traces is not None:
            raise InvalidInputError("max_traces does not apply to trace_ids: every listed "
                                    "trace is deleted")
        return store.delete_trace_ids(trace_ids, dry_run=dry_run)
    experiment = str(experiment_id) if experiment_id is not None else tracking.get_experiment_id()
    if filter_string is not None:
        return _delete_matching(store, experiment, filter_string, max_traces, dry_run=dry_run)
    return store.delete_traces(experiment, max_timestamp_millis=max_timestamp_millis,
                               max_traces=max_traces, trace_ids=trace_ids, dry_run=dry_run)


def _delete_matching(store: TraceStore, experiment_id: str, filter_string: str,
                     max_traces: int | None, *, dry_run: bool) -> int:
    """Ids matching the filter (ids only: no payloads read), then a batched delete by id.

    ``max_traces`` keeps the oldest matches, as it does for ``max_timestamp_millis``.
    """
    if max_traces is not None and (isinstance(max_traces, bool)
                                   or not isinstance(max_traces, int) or max_traces < 1):
        raise InvalidInputError(f"max_traces must be an integer >= 1, got {max_traces!r}")
    newest_first = store.search_trace_ids([experiment_id], filter_string=filter_string)
    doomed = newest_first if max_traces is None else newest_first[-max_traces:]
    return store.delete_traces(experiment_id, trace_ids=doomed, dry_run=dry_run)
