"""``InMemoryStore``: the ``TraceStore`` protocol over plain dicts, for tests and notebooks.

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
from collections.abc import Sequence
from typing import Any

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Experiment,
    PagedList,
    Trace,
    TraceData,
    TraceInfo,
)
from spanscope.entities.experiment import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME
from spanscope.exceptions import InvalidInputError, NotFoundError, StoreError
from spanscope.store import aggregates as agg
from spanscope.store import keyset
from spanscope.store import memory_aggregates as ref
from spanscope.store import mutations as rules
from spanscope.store.memory_runs_datasets import InMemoryRunsAndDatasets

__all__ = ["InMemoryStore"]


class InMemoryStore(InMemoryRunsAndDatasets):
    """Traces and experiments in this process's memory; thread-safe."""

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

    # --- experiments ------------------------------------------------------------------
    def create_experiment(self, name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"experiment name must be a non-empty string, got {name!r}")
        with self._lock:
            self._check_open(f"create experiment {name!r}")
            if any(e.name == name for e in self._experiments.values()):
                raise InvalidInputError(f"experiment {name!r} already exists")
            experiment_id = str(self._next_experiment_id)
            self._next_experiment_id += 1
            self._experiments[experiment_id] = Experiment(experiment_id, name,
                                                          int(time.time() * 1000))
            return experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._lock:
            self._check_open(f"get experiment {experiment_id!r}")
            found = self._experiments.get(str(experiment_id))
        if found is None:
            raise NotFoundError(f"experiment '{experiment_id}' not found")
        return found

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._lock:
            self._check_open(f"get experiment {name!r}")
            return next((e for e in self._experiments.values() if e.name == name), None)

    def list_experiments(self) -> list[Experiment]:
        with self._lock:
            self._check_open("list experiments")
            return sorted(self._experiments.values(), key=lambda e: int(e.experiment_id))

    # --- traces -----------------------------------------------------------------------
    def log_traces(self, traces: Sequence[Trace]) -> None:
        batch = list(traces)
        for trace in batch:
            if not isinstance(trace, Trace) or not trace.info.trace_id:
                raise InvalidInputError(f"log_traces takes Trace objects with a trace id, "
                                        f"got {trace!r}")
        with self._lock:
            self._check_open(f"log {len(batch)} trace(s)")
            for trace in batch:  # check everything first: a batch is all or nothing
                if trace.info.experiment_id not in self._experiments:
                    raise InvalidInputError(
                        f"experiment '{trace.info.experiment_id}' does not exist (trace "
                        f"{trace.info.trace_id!r}); create it first with create_experiment")
            for trace in batch:
                incoming = _copy(trace)
                stored = self._traces.get(trace.info.trace_id)
                self._traces[trace.info.trace_id] = (
                    incoming if stored is None else _merge(stored, incoming))

    def get_trace(self, trace_id: str) -> Trace:
        with self._lock:
            self._check_open(f"get trace {trace_id!r}")
            found = self._traces.get(trace_id) if isinstance(trace_id, str) else None
            if found is None:
                raise NotFoundError(f"trace {trace_id!r} not found")
            return _copy(found)

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_spans: bool = True,
    ) -> PagedList[Trace]:
        if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
            raise InvalidInputError(f"max_results must be an integer >= 1, got {max_results!r}")
        with self._lock:  # the reference evaluator and order: this store defines them
            self._check_open("search traces")
            found = keyset.page(self._in_experiments(experiment_ids),
                                filter_string=filter_string, order_by=order_by,
                                max_results=max_results, page_token=page_token)
            return PagedList([_copy(t, include_spans=include_spans) for t in found],
                             found.token)

    def search_trace_ids(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        max_results: int | None = None,
    ) -> list[str]:
        if max_results is not None and (isinstance(max_results, bool)
                                        or not isinstance(max_results, int) or max_results < 1):
            raise InvalidInputError(f"max_results must be an integer >= 1 or None, "
                                    f"got {max_results!r}")
        with self._lock:
            self._check_open("search trace ids")
            found = keyset.page(self._in_experiments(experiment_ids),
                                filter_string=filter_string, order_by=None,
                                max_results=max_results, page_token=None)
            return [trace.info.trace_id for trace in found]

    def _in_experiments(self, experiment_ids: Sequence[str] | str | None) -> list[Trace]:
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        wanted = None if experiment_ids is None else {str(e) for e in experiment_ids}
        return [t for t in self._traces.values()
                if wanted is None or t.info.experiment_id in wanted]

    # --- tags, deletion, assessments (rules shared with SqlStore: store/mutations.py) ---
    def _stored(self, trace_id: str) -> Trace:
        """The store's own trace object (callers hold the lock); ``NotFoundError`` if none."""
        found = self._traces.get(trace_id)
        if found is None:
            raise NotFoundError(f"trace {trace_id!r} not found")
        return found

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        trace_id = rules.check_trace_id(trace_id)
        rules.check_tag_value(rules.check_tag_key(key, trace_id), value, trace_id)
        with self._lock:
            self._check_open(f"set tag {key!r} on trace {trace_id!r}")
            self._stored(trace_id).info.tags[key] = value  # a known key keeps its place

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        trace_id = rules.check_trace_id(trace_id)
        rules.check_tag_key(key, trace_id)
        with self._lock:
            self._check_open(f"delete tag {key!r} of trace {trace_id!r}")
            tags = self._stored(trace_id).info.tags
            if key not in tags:
                raise NotFoundError(f"tag {key!r} not found on trace {trace_id!r}")
            del tags[key]

    def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> int:
        request = rules.check_delete(experiment_id, max_timestamp_millis, max_traces, trace_ids)
        with self._lock:
            self._check_open(f"delete traces of experiment {request.experiment_id!r}")
            experiment = self.get_experiment(request.experiment_id).experiment_id
            if request.max_timestamp_millis is None:
                doomed = [i for i in request.trace_ids or []
                          if i in self._traces
                          and self._traces[i].info.experiment_id == experiment]
            else:
                older = sorted((t.info for t in self._traces.values()
                                if t.info.experiment_id == experiment
                                and t.info.request_time <= request.max_timestamp_millis),
                               key=lambda i: rules.deletion_order(i.request_time, i.trace_id))
                doomed = [info.trace_id for info in older[:request.max_traces]]
            if not dry_run:
                for trace_id in doomed:
                    del self._traces[trace_id]
            return len(doomed)

    def delete_trace_ids(self, trace_ids: Sequence[str], *, dry_run: bool = False) -> int:
        ids = rules.check_trace_ids(trace_ids)
        with self._lock:
            self._check_open(f"delete {len(ids)} trace(s)")
            doomed = [trace_id for trace_id in ids if trace_id in self._traces]
            if not dry_run:
                for trace_id in doomed:
                    del self._traces[trace_id]
            return len(doomed)

    def _assessment_index(self, trace: Trace, assessment_id: str) -> int:
        for index, assessment in enumerate(trace.info.assessments):
            if assessment.assessment_id == assessment_id:
                if assessment.trace_id is None:  # imported without one, as SqlStore reads it
                    assessment.trace_id = trace.info.trace_id
                return index
        raise NotFoundError(f"assessment {assessment_id!r} not found on trace "
                            f"{trace.info.trace_id!r}")

    def create_assessment(self, assessment: Assessment) -> Assessment:
        rules.check_assessment(assessment)
        trace_id = str(assessment.trace_id)
        with self._lock:
            self._check_open(f"create assessment {assessment.name!r} on trace {trace_id!r}")
            trace = self._stored(trace_id)
            for other in self._traces.values():
                if any(a.assessment_id == assessment.assessment_id
                       for a in other.info.assessments):
                    raise InvalidInputError(
                        f"assessment id {assessment.assessment_id!r} is already used "
                        f"(trace {other.info.trace_id!r})")
            stored = trace.info.assessments
            if assessment.overrides is not None:
                old = stored[self._assessment_index(trace, assessment.overrides)]
                if not old.valid:
                    raise InvalidInputError(
                        f"assessment {old.assessment_id!r} is already overridden; override "
                        "the assessment that replaced it")
                old.valid = False
                old.last_update_time_ms = max(rules.now_ms(), old.last_update_time_ms or 0)
            stored.append(copy.deepcopy(assessment))
            return assessment

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        trace_id, assessment_id = rules.check_assessment_ref(trace_id, assessment_id)
        with self._lock:
            self._check_open(f"get assessment {assessment_id!r}")
            trace = self._stored(trace_id)
            index = self._assessment_index(trace, assessment_id)
            return copy.deepcopy(trace.info.assessments[index])

    def update_assessment(
        self,
        trace_id: str,
        assessment_id: str,
        *,
        name: str | rules.Unset = rules.UNSET,
        value: Any = rules.UNSET,
        rationale: str | rules.Unset | None = rules.UNSET,
        metadata: dict[str, Any] | rules.Unset | None = rules.UNSET,
        error: AssessmentError | BaseException | rules.Unset | None = rules.UNSET,
        source: AssessmentSource | rules.Unset = rules.UNSET,
    ) -> Assessment:
        trace_id, assessment_id = rules.check_assessment_ref(trace_id, assessment_id)
        changes = rules.AssessmentChanges(name=name, value=value, rationale=rationale,
                                          metadata=metadata, error=error, source=source)
        with self._lock:
            self._check_open(f"update assessment {assessment_id!r}")
            trace = self._stored(trace_id)
            stored = trace.info.assessments
            index = self._assessment_index(trace, assessment_id)
            edited, new = rules.apply_changes(stored[index], changes)
            stored[index] = edited
            if new is not None:
                stored.append(new)
            return copy.deepcopy(new or edited)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        trace_id, assessment_id = rules.check_assessment_ref(trace_id, assessment_id)
        with self._lock:
            self._check_open(f"delete assessment {assessment_id!r}")
            trace = self._stored(trace_id)
            stored = trace.info.assessments
            gone = stored.pop(self._assessment_index(trace, assessment_id))
            successors = [a for a in stored if a.overrides == assessment_id]
            for successor in successors:  # keep the history linked past the deleted one
                successor.overrides = gone.overrides
            if gone.valid and gone.overrides is not None and not successors:
                previous = next((a for a in stored if a.assessment_id == gone.overrides), None)
                if previous is not None:
                    previous.valid = True
                    previous.last_update_time_ms = max(rules.now_ms(),
                                                       previous.last_update_time_ms or 0)

    # --- aggregates for analysis (plain Python in memory_aggregates.py: the reference) ---
    def _selected(self, action: str, selection: agg.Selection,
                  sample: agg.Sample | None = None) -> list[Trace]:
        agg.check_selection(selection)
        with self._lock:
            self._check_open(action)
            if selection.experiment_ids is not None and not selection.experiment_ids:
                return []
            return ref.select(self._in_experiments(selection.experiment_ids), selection,
                              sample)

    def trace_stats(self, selection: agg.Selection, *, bucket_ms: int | None = None,
                    group_by: agg.GroupKey | None = None,
                    quantiles: Sequence[float] = agg.TRACE_QUANTILES) -> list[agg.TraceStats]:
        agg.check_options(bucket_ms=bucket_ms, group_by=group_by, quantiles=quantiles)
        return agg.sort_trace_stats(ref.trace_stats(
            self._selected("trace statistics", selection), bucket_ms=bucket_ms,
            group_by=group_by, quantiles=tuple(quantiles)))

    def model_usage(self, selection: agg.Selection, *, bucket_ms: int | None = None,
                    group_by: agg.GroupKey | None = None) -> list[agg.ModelUsageRow]:
        agg.check_options(bucket_ms=bucket_ms, group_by=group_by)
        return agg.sort_model_usage(ref.model_usage(
            self._selected("model usage", selection), bucket_ms=bucket_ms, group_by=group_by))

    def latency_histogram(self, selection: agg.Selection, edges: Sequence[float]) -> list[int]:
        return ref.latency_histogram(self._selected("latency histogram", selection),
                                     agg.check_edges(edges))

    def span_stats(self, selection: agg.Selection, *,
                   quantiles: Sequence[float] = agg.SPAN_QUANTILES) -> list[agg.SpanStats]:
        agg.check_options(quantiles=quantiles)
        return agg.sort_span_stats(ref.span_stats(self._selected("span statistics", selection),
                                                  quantiles=tuple(quantiles)))

    def error_spans(self, selection: agg.Selection) -> list[agg.ErrorSpan]:
        return ref.error_spans(self._selected("error spans", selection))

    def trace_sample(self, selection: agg.Selection, sample: agg.Sample | None = None, *,
                     spans: bool = False, assessments: bool = True) -> agg.TraceSample:
        agg.check_options(sample=sample)
        chosen = self._selected("sample traces", selection)
        return ref.trace_sample(chosen, sample, spans=spans, assessments=assessments)

    def numeric_pairs(self, selection: agg.Selection, x: agg.NumericField,
                      y: agg.NumericField) -> agg.NumericPairs:
        return ref.numeric_pairs(self._selected("numeric pairs", selection),
                                 agg.check_field(x), agg.check_field(y))


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
