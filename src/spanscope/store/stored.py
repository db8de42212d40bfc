"""A trace as a store holds it, for copying out whole without building entities.

An export writes each trace in the trace JSON shape: ``info`` is ``TraceInfo.to_dict()``
and each span ``Span.to_dict()``. A store keeps every span and assessment as exactly that
JSON text, so an export copies the text instead of decoding it into entities and encoding
them again. ``StoredTrace`` carries the info fields and, as JSON text, the tags, metadata,
assessments and spans: an SQL store has the database assemble that text, one row per trace
(``store/sql/stored_read.py``), so Python handles no row of a trace's children.
``info_json`` writes the text of ``dumps(info.to_dict())`` without building the dict
(``tests/lifecycle/test_stored_traces.py`` compares the two on random traces).
``stored_pages`` is the path through ``search_traces`` for any other store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from json.encoder import c_encode_basestring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

from spanscope.entities import Trace
from spanscope.entities._codec import dumps, ms_to_rfc3339
from spanscope.entities.trace_info import TraceMetadataKey, TraceTagKey, token_usage_of

if TYPE_CHECKING:
    from spanscope.store.base import ExperimentStore, TraceStore

__all__ = ["StoredTrace", "experiment_ids_of", "stored_pages"]

_quote = c_encode_basestring or json.encoder.py_encode_basestring  # what dumps does to a str
_encode = json.JSONEncoder(ensure_ascii=False).encode  # dumps, without its per-call setup
# Keys of TraceInfo.to_dict() before its ``extra``: an extra key among them is written in
# that key's place (dict.update), so such a trace takes the dict path.
_INFO_KEYS = frozenset({"trace_id", "client_request_id", "trace_location", "request_time",
                        "state", "trace_metadata", "assessments", "tags", "request_preview",
                        "response_preview", "execution_duration_ms", "execution_duration"})


@dataclass(slots=True)
class StoredTrace:
    """One trace: the ``TraceInfo`` fields, and its children as the JSON text an export
    writes.

    ``tags_json`` and ``metadata_json`` are ``dumps`` of the dicts; ``assessments_json``
    the JSON list of ``dumps(assessment.to_dict())`` of each, ``", "``-joined;
    ``spans_json`` the JSON list of ``span.to_json()`` of each, ``","``-joined, in the
    trace's order. The summary fields (the Parquet columns a read computes only when asked:
    ``summary=True``) are None otherwise: ``span_count``; ``name``, the
    ``mlflow.traceName`` tag, else the name of the first span without a parent;
    ``session_id`` and ``user_id``; ``token_usage``, the token usage metadata as stored.
    """

    trace_id: str
    experiment_id: str
    request_time: int
    execution_duration: int | None
    state: str
    request_preview: str | None
    response_preview: str | None
    client_request_id: str | None
    extra: dict[str, Any]
    tags_json: str
    metadata_json: str
    assessments_json: str
    spans_json: str
    span_count: int | None = None
    name: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    token_usage: str | None = None

    @classmethod
    def of(cls, trace: Trace) -> StoredTrace:
        """The stored form of an entity, with its summary (the path for stores without a
        faster read)."""
        info = trace.info
        root = trace.data.root_span
        metadata = info.trace_metadata
        spans = trace.data.spans
        return cls(info.trace_id, info.experiment_id, info.request_time,
                   info.execution_duration, str(info.state), info.request_preview,
                   info.response_preview, info.client_request_id, info.extra,
                   _strings(info.tags), _strings(metadata),
                   "[" + ", ".join(dumps(a.to_dict()) for a in info.assessments) + "]",
                   "[" + ",".join(span.to_json() for span in spans) + "]", len(spans),
                   info.tags.get(TraceTagKey.TRACE_NAME) or (None if root is None
                                                              else root.name),
                   metadata.get(TraceMetadataKey.SESSION), metadata.get(TraceMetadataKey.USER),
                   metadata.get(TraceMetadataKey.TOKEN_USAGE))

    @property
    def total_tokens(self) -> int | None:
        """``total_tokens`` of the token usage metadata, when it is an integer."""
        usage = token_usage_of({TraceMetadataKey.TOKEN_USAGE: self.token_usage}) \
            if self.token_usage else None
        total = (usage or {}).get("total_tokens")
        return total if isinstance(total, int) else None

    def info_json(self) -> str:
        """The text of ``dumps(info.to_dict())``, written from the fields and stored text."""
        if self.extra and not _INFO_KEYS.isdisjoint(self.extra):
            return self._info_json_by_dict()
        parts = ['{"trace_id": ', _quote(self.trace_id)]
        if self.client_request_id is not None:
            parts += [', "client_request_id": ', _quote(self.client_request_id)]
        duration = self.execution_duration
        duration_text = str(duration) if type(duration) is int else dumps(duration)
        parts += [', "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": '
                  '{"experiment_id": ', _quote(self.experiment_id), '}}, "request_time": ',
                  dumps(ms_to_rfc3339(self.request_time)), ', "state": ', _quote(self.state),
                  ', "trace_metadata": ', self.metadata_json, ', "assessments": ',
                  self.assessments_json, ', "tags": ', self.tags_json]
        if self.request_preview is not None:
            parts += [', "request_preview": ', _quote(self.request_preview)]
        if self.response_preview is not None:
            parts += [', "response_preview": ', _quote(self.response_preview)]
        parts += [', "execution_duration_ms": ', duration_text, ', "execution_duration": ',
                  duration_text]
        for key, value in self.extra.items():
            parts += [", ", dumps(key), ": ", dumps(value)]
        parts.append("}")
        return "".join(parts)

    def _info_json_by_dict(self) -> str:
        """``info_json`` for a trace whose ``extra`` repeats a key ``to_dict`` writes."""
        from spanscope.entities import Assessment, TraceInfo

        info = TraceInfo(self.trace_id, self.experiment_id, self.request_time,
                         self.execution_duration, self.state, self.request_preview,  # type: ignore[arg-type]
                         self.response_preview, self.client_request_id,
                         json.loads(self.metadata_json), json.loads(self.tags_json),
                         [Assessment.from_dict(a) for a in json.loads(self.assessments_json)],
                         self.extra)
        return dumps(info.to_dict())


def _strings(values: dict[str, str]) -> str:
    """``dumps(values)`` for a dict of strings (tags, metadata), by the C encoder."""
    try:
        return _encode(values)  # type: ignore[no-any-return]
    except (TypeError, ValueError):  # not strings after all: dumps says what it does
        return dumps(values)


def experiment_ids_of(store: ExperimentStore, experiment_ids: Sequence[str] | None) -> list[str]:
    """The experiments a read goes through, one after another: the given ones (each once,
    in order), else every experiment of the store."""
    if experiment_ids is None:
        return [e.experiment_id for e in store.list_experiments()]
    return list(dict.fromkeys(str(e) for e in experiment_ids))


def stored_pages(store: TraceStore, experiment_id: str, filter_string: str | None,
                 page_size: int) -> Iterator[list[StoredTrace]]:
    """The traces of one experiment that ``filter_string`` selects, newest first, a page at
    a time, through ``search_traces`` (what any store can do)."""
    token: str | None = None
    while True:
        page = store.search_traces([experiment_id], filter_string=filter_string,
                                   max_results=page_size, page_token=token,
                                   include_spans=True)
        if len(page):
            yield [StoredTrace.of(trace) for trace in page]
        token = page.token
        if not token:
            return
