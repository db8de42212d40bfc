"""``InMemoryStore``: the ``TraceStore`` protocol over plain dicts, for tests and notebooks.

Nothing is persisted; each store object (``memory://`` URI) is its own world. It behaves
like ``SqlStore`` where callers can tell: the ``Default`` experiment has id ``0``, writes
of a batch are all or nothing, a trace id written again is upserted (summary replaced,
spans replaced span by span, tags and metadata merged, stored assessments kept), search
is newest first with an opaque keyset page token. Returned traces are copies, so a
caller mutating one cannot change the store.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import json
import threading
import time
from collections.abc import Sequence

from spanscope.entities import Experiment, PagedList, Trace, TraceData, TraceInfo
from spanscope.entities.experiment import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME
from spanscope.exceptions import InvalidInputError, NotFoundError, StoreError

__all__ = ["InMemoryStore"]


class InMemoryStore:
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
        max_results: int = 100,
        page_token: str | None = None,
        include_spans: bool = True,
    ) -> PagedList[Trace]:
        if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
            raise InvalidInputError(f"max_results must be an integer >= 1, got {max_results!r}")
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        wanted = None if experiment_ids is None else {str(e) for e in experiment_ids}
        after = _decode_token(page_token) if page_token else None
        with self._lock:
            self._check_open("search traces")
            candidates = [t for t in self._traces.values()
                          if wanted is None or t.info.experiment_id in wanted]
            candidates.sort(key=_sort_key, reverse=True)
            if after is not None:
                candidates = [t for t in candidates if _sort_key(t) < after]
            page = candidates[:max_results]
            token = _encode_token(_sort_key(page[-1])) if len(candidates) > max_results else None
            return PagedList([_copy(t, include_spans=include_spans) for t in page], token)


def _sort_key(trace: Trace) -> tuple[int, str]:
    return trace.info.request_time, trace.info.trace_id


def _encode_token(key: tuple[int, str]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        request_time, trace_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        request_time = trace_id = None
    if (not isinstance(request_time, int) or isinstance(request_time, bool)
            or not isinstance(trace_id, str)):
        raise InvalidInputError(f"invalid page_token {str(token)[:60]!r}: pass the .token of a "
                                "previous search_traces result unchanged")
    return request_time, trace_id


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
