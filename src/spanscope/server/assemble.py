"""Traces that arrive in parts (OTLP) merged with each other and with what is stored.

An OTLP exporter sends spans as they end: a trace's children usually come before its
root, often over several requests, and a retried request sends the same spans again.
``merge_parts`` runs in the ingest writer thread just before a commit: it folds the
parts of each trace id together (a span id seen twice keeps the later copy), adds the
spans already stored, and recomputes the summary (state, times, previews, token usage,
name) from all of them with ``tracing.convert.summarize``. The store's upsert then
replaces the summary and writes the new spans by span id, so nothing is duplicated.
Until its root arrives a trace is ``IN_PROGRESS``, dated by its earliest span.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spanscope.entities import Span, Trace, TraceData, TraceMetadataKey, TraceTagKey
from spanscope.exceptions import NotFoundError
from spanscope.tracing.convert import summarize

if TYPE_CHECKING:
    from spanscope.store.base import TraceStore

__all__ = ["merge_parts", "resettle", "stored_ids"]

ID_CHUNK = 200  # trace ids per existence query
_COMPUTED_METADATA = (TraceMetadataKey.INPUTS, TraceMetadataKey.OUTPUTS,
                      TraceMetadataKey.TOKEN_USAGE)


def merge_parts(store: TraceStore, parts: Sequence[Trace],
                seen: dict[str, frozenset[str]] | None = None) -> list[Trace]:
    """One trace per trace id, summarised over every span known so far.

    Each returned trace carries the spans of ``parts`` only (the stored ones stay where
    they are) and a summary computed over stored and new spans together; ``seen``, when
    given, receives the span ids each summary was computed from (see ``resettle``).
    """
    groups: dict[str, list[Trace]] = {}
    for part in parts:
        groups.setdefault(part.info.trace_id, []).append(part)
    stored = stored_ids(store, list(groups))
    out: list[Trace] = []
    for trace_id, group in groups.items():
        previous = None
        if trace_id in stored:
            try:
                previous = store.get_trace(trace_id)
            except NotFoundError:  # deleted meanwhile: the parts start it again
                previous = None
        out.append(_merged(trace_id, group, previous, seen))
    return out


def resettle(store: TraceStore, seen: dict[str, frozenset[str]],
             ) -> tuple[list[Trace], dict[str, frozenset[str]]]:
    """After a commit: summaries to write again because another process added spans.

    Several server processes over one PostgreSQL store may merge parts of one trace at
    the same moment, each from what it read before the other committed. Whoever commits
    last then finds more spans stored than its summary saw and recomputes it (no spans
    rewritten); repeated until stable, the last writer always leaves the summary whole.
    Returns the summaries to write and the span ids each was computed from.
    """
    ids = sorted(seen)
    again: list[Trace] = []
    now_seen: dict[str, frozenset[str]] = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start:start + ID_CHUNK]
        listed = ", ".join("'" + trace_id + "'" for trace_id in chunk if "'" not in trace_id)
        page = store.search_traces(filter_string=f"trace_id IN ({listed})",
                                   max_results=len(chunk), include_spans=True)
        for stored in page:
            trace_id = stored.info.trace_id
            if frozenset(s.span_id for s in stored.data.spans) != seen.get(trace_id):
                whole = _merged(trace_id, [Trace(stored.info, TraceData([]))], stored,
                                now_seen)
                again.append(Trace(whole.info, TraceData([])))
    return again, now_seen


def stored_ids(store: TraceStore, trace_ids: list[str]) -> set[str]:
    """Which of ``trace_ids`` the store holds (one cheap ids-only query per chunk)."""
    found: set[str] = set()
    for start in range(0, len(trace_ids), ID_CHUNK):
        chunk = trace_ids[start:start + ID_CHUNK]
        listed = ", ".join("'" + trace_id.replace("'", "''") + "'" for trace_id in chunk
                           if "\\" not in trace_id)
        if not listed:
            continue
        found.update(store.search_trace_ids(filter_string=f"trace_id IN ({listed})"))
    return found


def _merged(trace_id: str, group: list[Trace], previous: Trace | None,
            seen: dict[str, frozenset[str]] | None) -> Trace:
    new_spans: dict[str, Span] = {}
    metadata: dict[str, str] = {}
    tags: dict[str, str] = {}
    for part in group:
        for span in part.data.spans:
            new_spans[span.span_id] = span
        metadata.update(part.info.trace_metadata)
        tags.update(part.info.tags)
    experiment_id = group[0].info.experiment_id
    every_span = dict(new_spans)
    if previous is not None:
        experiment_id = previous.info.experiment_id  # a trace never moves experiment
        every_span = {span.span_id: span for span in previous.data.spans}
        every_span.update(new_spans)
        metadata = {**previous.info.trace_metadata, **metadata}
        tags = {**previous.info.tags, **tags}
    for key in _COMPUTED_METADATA:
        metadata.pop(key, None)  # recomputed from the spans below
    spans = list(every_span.values())
    roots = [span for span in spans if span.parent_id is None]
    root = min(roots, key=lambda span: span.start_time_ns) if roots else None
    if root is not None:
        tags.pop(TraceTagKey.TRACE_NAME, None)  # the root's name, set by summarize
    info = summarize(trace_id, experiment_id, spans, root, metadata=metadata, tags=tags)
    if seen is not None:
        seen[trace_id] = frozenset(every_span)
    return Trace(info, TraceData(list(new_spans.values())))
