"""``error_patterns``: the ways requests fail, grouped, counted and dated.

The store returns the spans where failures originated (ERROR spans none of whose
children failed: an exception propagating up through its ancestors is counted once, at
its origin). Each origin's message (the exception event's message, else the span status
description) is normalised, replacing what varies between occurrences of the same
failure (``normalise_message``), and occurrences are grouped by the result. A pattern's
``count`` is the number of traces in which it occurs; of those, ``failed`` traces ended in
ERROR and ``recovered`` ones ended OK (a retry or a fallback handled the failure). The
summary's error count is the failed traces; these two figures say how the patterns'
traces relate to it, and a pattern's examples are failed traces first.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Sequence, Set
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from spanscope.analysis.selection import TimeLike, make_selection, store_for
from spanscope.analysis.summary import utc
from spanscope.store.aggregates import ErrorSpan, Selection, as_dict

if TYPE_CHECKING:
    import pandas as pd

    from spanscope.store.base import AnalyticsStore

__all__ = ["NO_MESSAGE", "PATTERN_COLUMNS", "ErrorPatterns", "error_patterns",
           "normalise_message", "patterns_of"]

NO_MESSAGE = "(no message)"
PATTERN_COLUMNS = ("pattern", "count", "failed", "recovered", "spans", "share",
                   "exception_types", "span_names", "first_seen", "last_seen",
                   "example_trace_ids", "example_message")
EXAMPLES = 3
_MAX_MESSAGE = 2_000

# Most specific first: a UUID must not be read as hex and numbers, a URL not as a path.
_RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.IGNORECASE), r) for p, r in (
    (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?",
     "<time>"),
    (r"\b\d{4}-\d{2}-\d{2}\b", "<date>"),
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>"),
    (r"\btr-[0-9a-f]{8,}\b", "<trace_id>"),
    (r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", "<url>"),
    (r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", "<email>"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
    (r"'[^'\n]{0,200}'", "'<str>'"),
    (r"\"[^\"\n]{0,200}\"", '"<str>"'),
    (r"\b0x[0-9a-f]+\b", "<hex>"),
    (r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", "<hex>"),
    (r"(?<![\w<])(?:/[\w.-]+){2,}/?", "<path>"),
    (r"\b[a-z_]\w*\d{3}\w*\b", "<id>"),  # a word with 3+ digits in a row: ORD12345
    (r"(?<![\w<])[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?", "<num>"),
)]
_SPACES = re.compile(r"\s+")


def normalise_message(message: str | None) -> str:
    """The message with ids, numbers, quoted values, hex, URLs, paths and times replaced
    by placeholders, so occurrences of one failure read the same."""
    if not message or not message.strip():
        return NO_MESSAGE
    text = message[:_MAX_MESSAGE]
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return _SPACES.sub(" ", text).strip()


@dataclass
class ErrorPatterns:
    """Patterns, most frequent first (``PATTERN_COLUMNS``), over ``error_traces`` traces
    that have at least one failure: ``failed_traces`` of them ended in ERROR, the others
    recovered."""

    table: pd.DataFrame
    selection: Selection
    error_traces: int
    origin_spans: int
    patterns: list[dict[str, Any]] = field(default_factory=list)
    failed_traces: int = 0

    @property
    def recovered_traces(self) -> int:
        return self.error_traces - self.failed_traces

    def to_dict(self) -> dict[str, Any]:
        from spanscope.analysis._frames import frame_records

        return {"selection": as_dict(self.selection), "error_traces": self.error_traces,
                "failed_traces": self.failed_traces,
                "recovered_traces": self.recovered_traces,
                "origin_spans": self.origin_spans, "patterns": frame_records(self.table)}


def _by_frequency(counts: dict[str, int]) -> list[str]:
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _example(raws: list[str | None]) -> str | None:
    """The first message (in span order) of a pattern's raw messages that is not None."""
    return next((raw for raw in raws if raw is not None), None)


def group_error_spans(spans: Sequence[ErrorSpan],
                      failed: Set[str] = frozenset()) -> tuple[list[dict[str, Any]], int]:
    """Pattern rows (most traces first) and the number of traces with a failure;
    ``failed`` holds the ids of the traces that ended in ERROR.

    Spans are bucketed by raw message first (dicts keep their first-seen order, so a
    pattern's raw messages come in span order) and each distinct message is normalised
    once; each pattern's figures are then counted over its buckets in C-level passes."""
    by_raw: dict[str | None, list[ErrorSpan]] = {}
    for span in spans:
        raw = span.exception_message or span.status_message
        bucket = by_raw.get(raw)
        if bucket is None:
            by_raw[raw] = bucket = []
        bucket.append(span)
    raws_of: dict[str, list[str | None]] = {}
    for raw in by_raw:
        raws_of.setdefault(normalise_message(raw), []).append(raw)
    groups = []
    all_traces: set[str] = set()
    for pattern, raws in raws_of.items():
        members = by_raw[raws[0]] if len(raws) == 1 else [
            s for raw in raws for s in by_raw[raw]]
        traces = {s.trace_id: s.request_time for s in members}
        all_traces.update(traces)
        groups.append((pattern, raws, members, traces, max(traces.values())))
    error_traces = len(all_traces)
    groups.sort(key=lambda g: (-len(g[3]), -g[4], g[0]))
    rows = []
    for pattern, raws, members, traces, last in groups:
        # failed traces first, newest first: the examples show what the row counts
        newest = heapq.nsmallest(EXAMPLES, traces.items(),
                                 key=lambda kv: (kv[0] not in failed, -kv[1], kv[0]))
        n_failed = len(traces.keys() & failed)
        types = Counter(t for t in map(_EXCEPTION_TYPE, members) if t)
        rows.append({
            "pattern": pattern, "count": len(traces), "failed": n_failed,
            "recovered": len(traces) - n_failed, "spans": len(members),
            "share": len(traces) / error_traces if error_traces else None,
            "exception_types": _by_frequency(types),
            "span_names": _by_frequency(Counter(map(_NAME, members))),
            "first_seen": utc(min(traces.values())), "last_seen": utc(last),
            "example_trace_ids": [trace_id for trace_id, _ in newest],
            "example_message": _example(raws),
        })
    return rows, error_traces


_NAME = attrgetter("name")
_EXCEPTION_TYPE = attrgetter("exception_type")


def error_patterns(
    filter_string: str | None = None,
    experiment_ids: Sequence[str] | str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    top: int | None = None,
    store: AnalyticsStore | None = None,
) -> ErrorPatterns:
    """Failure patterns of the traces matching ``filter_string`` (default: every trace of
    the active experiment) between ``start`` and ``end``; ``top`` keeps the most frequent."""
    selection = make_selection(filter_string, experiment_ids, start, end)
    return patterns_of(store_for(store), selection, top=top)


def patterns_of(reader: AnalyticsStore, selection: Selection, *,
                top: int | None = None) -> ErrorPatterns:
    """``error_patterns`` over a ready ``Selection``."""
    import pandas as pd

    spans = reader.error_spans(selection)
    failed: set[str] = set()
    if any(s.trace_failed is None for s in spans):  # a store that does not say: read
        # the failed traces' ids (an index read), not their error spans again
        ended_in_error = reader.trace_sample(_failed_only(selection), assessments=False)
        failed = {v.trace_id for v in ended_in_error.traces} & {s.trace_id for s in spans}
    else:
        failed = {s.trace_id for s in spans if s.trace_failed}
    rows, error_traces = group_error_spans(spans, failed)
    if top is not None:
        rows = rows[:max(0, int(top))]
    table = pd.DataFrame.from_records(rows, columns=list(PATTERN_COLUMNS))
    return ErrorPatterns(table=table, selection=selection, error_traces=error_traces,
                         origin_spans=len(spans), patterns=rows, failed_traces=len(failed))


def _failed_only(selection: Selection) -> Selection:
    """The traces of ``selection`` that ended in ERROR."""
    failed = "attributes.status = 'ERROR'"
    text = f"({selection.filter_string}) AND {failed}" if selection.filter_string else failed
    return replace(selection, filter_string=text)
