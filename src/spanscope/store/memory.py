"""``InMemoryStore``: the store protocols over plain dicts, for tests and notebooks.

Nothing is persisted; each store object (``memory://`` URI) is its own world. It behaves
like ``SqlStore`` where callers can tell: the ``Default`` experiment has id ``0``, writes
of a batch are all or nothing, a trace id written again is upserted (summary replaced,
spans replaced span by span, tags and metadata merged, stored assessments kept), search
filters and orders with the reference evaluator (``spanscope.query``), so this store *is*
the meaning every other store is tested against, with the same keyset page tokens
(``spanscope.store.keyset``). Returned traces are copies, so a caller mutating one cannot
change the store.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from spanscope.entities import (
    Assessment,
    Experiment,
    PagedList,
    Trace,
    TraceData,
    TraceInfo,
)
from spanscope.entities.experiment import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME
from spanscope.exceptions import StoreError
from spanscope.store import aggregates as agg
from spanscope.store import keyset, trace_rules
from spanscope.store import memory_aggregates as ref
from spanscope.store.analytics_methods import AnalyticsMethods
from spanscope.store.memory_runs_datasets import InMemoryRunsAndDatasets
from spanscope.store.trace_methods import AssessmentBook, TraceMethods

__all__ = ["InMemoryStore"]

T = TypeVar("T")


class InMemoryStore(TraceMethods, AnalyticsMethods, InMemoryRunsAndDatasets):
    """Every store protocol in this process's memory; thread-safe.

    The public methods and their rules are shared with ``SqlStore`` (``TraceMethods``,
    ``AnalyticsMethods``, ``RunsAndDatasets``); this class holds only storage steps.
    """

    def __init__(self, uri: str = "memory://") -> None:
        self.uri = uri
        self._lock = threading.RLock()
        self._closed = False
        now = int(time.time() * 1000)
        self._experiments: dict[str, Experiment] = {
            DEFAULT_EXPERIMENT_ID: Experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, now)}
        self._next_experiment_id = 1
        self._traces: dict[str, Trace] = {}

    def __repr__(self) -> str:
        return f"InMemoryStore({self.uri!r})"

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise StoreError(f"{action}: the store {self.uri} is closed")

    def close(self) -> None:
        with self._lock:
            self._closed = True

    # --- experiments (rules in store/trace_methods.py and trace_rules.py) --------------
    def _insert_experiment(self, name: str, now: int) -> str | None:
        with self._lock:
            self._check_open(f"create experiment {name!r}")
            if any(e.name == name for e in self._experiments.values()):
                return None
            experiment_id = str(self._next_experiment_id)
            self._next_experiment_id += 1
            self._experiments[experiment_id] = Experiment(experiment_id, name, now)
            return experiment_id

    def _experiment(self, experiment_id: str) -> Experiment | None:
        with self._lock:
            self._check_open(f"get experiment {experiment_id!r}")
            return self._experiments.get(experiment_id)

    def _experiment_named(self, name: str) -> Experiment | None:
        with self._lock:
            self._check_open(f"get experiment {name!r}")
            return next((e for e in self._experiments.values() if e.name == name), None)

    def _all_experiments(self) -> list[Experiment]:
        with self._lock:
            self._check_open("list experiments")
            return list(self._experiments.values())

    # --- traces ---------------------------------------------------------------------------
    def _write_traces(self, traces: list[Trace]) -> None:
        checked = [trace_rules.check_trace(trace) for trace in traces]
        with self._lock:
            self._check_open(f"log {len(traces)} trace(s)")
            missing = {c.experiment_id for c in checked} - self._experiments.keys()
            if missing:  # checked first: a batch is all or nothing
                raise trace_rules.unknown_experiment(checked, missing)
            for c in checked:
                incoming = _copy(Trace(dataclasses.replace(
                    c.info, experiment_id=c.experiment_id, tags=c.tags,
                    trace_metadata=c.metadata, assessments=c.assessments), TraceData(c.spans)))
                stored = self._traces.get(c.trace_id)
                self._traces[c.trace_id] = (
                    incoming if stored is None else _merge(stored, incoming))

    def _trace(self, trace_id: str) -> Trace | None:
        with self._lock:
            self._check_open(f"get trace {trace_id!r}")
            found = self._traces.get(trace_id)
            return None if found is None else _copy(found)

    def _search(self, experiment_ids: list[str] | None, filter_string: str | None,
                order_by: Sequence[str] | None, max_results: int, page_token: str | None,
                include_spans: bool) -> PagedList[Trace]:
        with self._lock:  # the reference evaluator and order: this store defines them
            self._check_open("search traces")
            found = keyset.page(self._in_experiments(experiment_ids),
                                filter_string=filter_string, order_by=order_by,
                                max_results=max_results, page_token=page_token)
            return PagedList([_copy(t, include_spans=include_spans) for t in found],
                             found.token)

    def _search_ids(self, experiment_ids: list[str] | None, filter_string: str | None,
                    max_results: int | None) -> list[str]:
        with self._lock:
            self._check_open("search trace ids")
            found = keyset.page(self._in_experiments(experiment_ids),
                                filter_string=filter_string, order_by=None,
                                max_results=max_results, page_token=None)
            return [trace.info.trace_id for trace in found]

    def _in_experiments(self, experiment_ids: Sequence[str] | None) -> list[Trace]:
        wanted = None if experiment_ids is None else set(experiment_ids)
        return [t for t in self._traces.values()
                if wanted is None or t.info.experiment_id in wanted]

    # --- tags, deletion, assessments --------------------------------------------------------
    def _stored(self, trace_id: str) -> Trace:
        """The store's own trace object (callers hold the lock)."""
        found = self._traces.get(trace_id)
        if found is None:
            raise trace_rules.trace_not_found(trace_id)
        return found

    def _set_tag(self, trace_id: str, key: str, value: str) -> None:
        with self._lock:
            self._check_open(f"set tag {key!r} on trace {trace_id!r}")
            self._stored(trace_id).info.tags[key] = value  # a known key keeps its place

    def _delete_tag(self, trace_id: str, key: str) -> bool:
        with self._lock:
            self._check_open(f"delete tag {key!r} of trace {trace_id!r}")
            tags = self._stored(trace_id).info.tags
            if key not in tags:
                return False
            del tags[key]
            return True

    def _delete_ids(self, trace_ids: list[str], experiment_id: str | None,
                    dry_run: bool) -> int:
        with self._lock:
            self._check_open(f"delete {len(trace_ids)} trace(s)")
            doomed = [i for i in trace_ids if i in self._traces and (
                experiment_id is None or self._traces[i].info.experiment_id == experiment_id)]
            return self._drop(doomed, dry_run)

    def _delete_older(self, experiment_id: str, max_timestamp_millis: int,
                      max_traces: int | None, dry_run: bool) -> int:
        with self._lock:
            self._check_open(f"delete traces of experiment {experiment_id!r}")
            older = sorted((t.info for t in self._traces.values()
                            if t.info.experiment_id == experiment_id
                            and t.info.request_time <= max_timestamp_millis),
                           key=lambda i: trace_rules.deletion_order(i.request_time, i.trace_id))
            return self._drop([info.trace_id for info in older[:max_traces]], dry_run)

    def _drop(self, trace_ids: list[str], dry_run: bool) -> int:
        if not dry_run:
            for trace_id in trace_ids:
                del self._traces[trace_id]
        return len(trace_ids)

    def _assessments(self, trace_id: str, action: str, work: Callable[[AssessmentBook], T],
                     *, write: bool) -> T:
        with self._lock:
            self._check_open(action)
            trace = self._stored(trace_id)
            if not write:
                return work(_Book(trace, self._traces))
            # A write is all or nothing: it works on a copy swapped in only on success.
            draft = copy.deepcopy(trace.info.assessments)
            result = work(_Book(trace, self._traces, draft))
            trace.info.assessments = draft
            return result

    # --- aggregates for analysis (plain Python in memory_aggregates.py: the reference) ---
    def _selected(self, action: str, selection: agg.Selection) -> list[Trace]:
        with self._lock:
            self._check_open(action)
            return ref.select(self._in_experiments(selection.experiment_ids), selection)

    def _trace_stats(self, selection: agg.Selection, bucket_ms: int | None,
                     group_by: agg.GroupKey | None,
                     quantiles: tuple[float, ...]) -> list[agg.TraceStats]:
        return ref.trace_stats(self._selected("trace statistics", selection),
                               bucket_ms=bucket_ms, group_by=group_by, quantiles=quantiles)

    def _model_usage(self, selection: agg.Selection, bucket_ms: int | None,
                     group_by: agg.GroupKey | None,
                     periods: tuple[int, ...]) -> list[agg.ModelUsageRow]:
        return ref.model_usage(self._selected("model usage", selection), bucket_ms=bucket_ms,
                               group_by=group_by, periods=periods)

    def _latency_histogram(self, selection: agg.Selection, edges: list[float]) -> list[int]:
        return ref.latency_histogram(self._selected("latency histogram", selection), edges)

    def _span_stats(self, selection: agg.Selection, quantiles: tuple[float, ...],
                    span_types: tuple[str, ...] | None = None) -> list[agg.SpanStats]:
        return ref.span_stats(self._selected("span statistics", selection),
                              quantiles=quantiles, span_types=span_types)

    def _error_spans(self, selection: agg.Selection) -> list[agg.ErrorSpan]:
        return ref.error_spans(self._selected("error spans", selection))

    def _trace_sample(self, selection: agg.Selection, sample: agg.Sample | None,
                      spans: bool, assessments: bool) -> agg.TraceSample:
        return ref.trace_sample(self._selected("sample traces", selection), sample,
                                spans=spans, assessments=assessments)

    def _numeric_pairs(self, selection: agg.Selection, x: agg.NumericField,
                       y: agg.NumericField) -> agg.NumericPairs:
        return ref.numeric_pairs(self._selected("numeric pairs", selection), x, y)

    def _assessment_stats(self, selection: agg.Selection, name: str) -> agg.AssessmentStats:
        return ref.assessment_stats(self._selected("assessment statistics", selection), name)


class _Book:
    """``AssessmentBook`` over one stored trace (the caller holds the store's lock).

    Reads hand out copies and writes store copies, so no caller shares an object with
    the store.
    """

    def __init__(self, trace: Trace, traces: dict[str, Trace],
                 draft: list[Assessment] | None = None) -> None:
        self._trace_id = trace.info.trace_id
        self._traces = traces
        self._list = trace.info.assessments if draft is None else draft

    def find(self, assessment_id: str) -> Assessment | None:
        found = next((a for a in self._list if a.assessment_id == assessment_id), None)
        return None if found is None else copy.deepcopy(found)

    def owner_of(self, assessment_id: str) -> str | None:
        return next((trace_id for trace_id, trace in self._traces.items()
                     if any(a.assessment_id == assessment_id
                            for a in trace.info.assessments)), None)

    def overriding(self, assessment_id: str) -> list[Assessment]:
        return [copy.deepcopy(a) for a in self._list if a.overrides == assessment_id]

    def add(self, assessment: Assessment) -> None:
        self._list.append(copy.deepcopy(assessment))

    def replace(self, assessment: Assessment) -> None:
        for index, stored in enumerate(self._list):
            if stored.assessment_id == assessment.assessment_id:
                self._list[index] = copy.deepcopy(assessment)

    def remove(self, assessment_id: str) -> None:
        self._list[:] = [a for a in self._list if a.assessment_id != assessment_id]


def _copy(trace: Trace, *, include_spans: bool = True) -> Trace:
    """A copy sharing only immutable parts (spans are frozen)."""
    info = dataclasses.replace(
        trace.info, trace_metadata=dict(trace.info.trace_metadata), tags=dict(trace.info.tags),
        assessments=copy.deepcopy(trace.info.assessments), extra=copy.deepcopy(trace.info.extra))
    spans = list(trace.data.spans) if include_spans else []
    return Trace(info, TraceData(spans))


def _merge(stored: Trace, incoming: Trace) -> Trace:
    """Upsert: new summary, spans replaced by id, tags/metadata merged, assessments kept."""
    known = {a.assessment_id for a in stored.info.assessments}
    assessments = stored.info.assessments + [a for a in incoming.info.assessments
                                             if a.assessment_id not in known]
    info: TraceInfo = dataclasses.replace(
        incoming.info,
        trace_metadata={**stored.info.trace_metadata, **incoming.info.trace_metadata},
        tags={**stored.info.tags, **incoming.info.tags},
        assessments=assessments)
    spans = {span.span_id: span for span in stored.data.spans}
    spans.update({span.span_id: span for span in incoming.data.spans})
    ordered = sorted(spans.values(), key=lambda s: s.start_time_ns)
    return Trace(info, TraceData(ordered))
