"""``RestStore``: the store protocol over a Spanscope server's REST API.

``open_store("http://host:port")`` (and so ``set_tracking_uri`` or
``SPANSCOPE_TRACKING_URI``) returns one, and every capability works through it unchanged:
each method is one request to the route of the same name (see docs/server.md), bodies are
encoded by ``spanscope.store.wire``, and the server's errors come back as the exceptions a
local store raises (a bad filter is the same ``FilterError``, with its position). A server
that cannot be reached or asks to retry later (HTTP 429/503) raises
``StoreUnavailableError`` with its ``retry_after``, and one whose store is full (HTTP 507,
over 95 % of its ``--capacity``) raises ``StorageFullError`` with the server's message and
measurement (both are ``StoreError``); the SDK's exporter keeps such traces and retries.

Arguments are normalised here only where JSON cannot carry them as the caller gave them
(run params and tags become strings, records plain JSON, by the rules local stores use);
all other checking is the server's, so it is written once.

Runs created through a ``RestStore`` carry an ``artifact_uri`` on the server
(``http://host:port/api/runs/<id>/artifacts``), so ``log_table`` and ``log_artifact``
reach the run's artifacts over HTTP (``spanscope.store.artifacts``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Experiment,
    PagedList,
    Trace,
)
from spanscope.entities.dataset import (
    Dataset,
    DatasetRecord,
    DatasetVersion,
    MergeResult,
    RecordUpdate,
)
from spanscope.entities.run import Metric, Run, RunInfo
from spanscope.exceptions import InvalidInputError, NotFoundError, RequestTooLargeError
from spanscope.store import aggregates as agg
from spanscope.store import dataset_rules, run_rules, wire
from spanscope.store.http import HttpSession, segment
from spanscope.store.mutations import UNSET, Unset
from spanscope.store.stored import StoredTrace, stored_pages

__all__ = ["MAX_REQUEST_BYTES", "RestStore"]

# JSON per trace-batch request: well under a server's default 32 MB body limit.
MAX_REQUEST_BYTES = 8 * 1024 * 1024


def _ids(experiment_ids: Sequence[str] | str | None) -> list[str] | None:
    if experiment_ids is None:
        return None
    if isinstance(experiment_ids, (str, int)):
        return [str(experiment_ids)]
    return [str(e) for e in experiment_ids]


def _order(order_by: Sequence[str] | str | None) -> list[str] | None:
    if order_by is None:
        return None
    return [order_by] if isinstance(order_by, str) else list(order_by)


class RestStore:
    """The ``TraceStore`` protocol served by a remote ``spanscope server``."""

    def __init__(self, uri: str, *, api_key: str | None = None,
                 timeout: float | None = None) -> None:
        self.uri = uri.rstrip("/")
        self._http = HttpSession(self.uri, api_key=api_key, timeout=timeout)

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    def __enter__(self) -> RestStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._http.json(method, path, **kwargs)

    # --- experiments ------------------------------------------------------------------
    def create_experiment(self, name: str) -> str:
        body = self._call("POST", "/api/experiments", body={"name": name})
        return str(body["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        return wire.decode(Experiment, self._call(
            "GET", f"/api/experiments/{segment(experiment_id)}"), "experiment")

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self._call("GET", f"/api/experiments-by-name/{segment(name)}")
        except NotFoundError:
            return None
        return wire.decode(Experiment, data, "experiment")

    def list_experiments(self) -> list[Experiment]:
        body = self._call("GET", "/api/experiments")
        return wire.decode(list[Experiment], body.get("experiments") or [], "experiments")

    # --- traces -----------------------------------------------------------------------
    def log_traces(self, traces: Sequence[Trace]) -> None:
        """Write traces; returns once the server committed them.

        A batch goes in one request (one transaction) up to ``MAX_REQUEST_BYTES`` of JSON;
        a bigger one, or one the server refuses as too large (413), is sent in parts, each
        committed on its own. Traces are upserted, so sending a batch again after a
        failure stores nothing twice. ``RequestTooLargeError`` if one trace alone is over
        the server's limit.
        """
        parts = _encoded(list(traces))
        for chunk in _chunks(parts, MAX_REQUEST_BYTES):
            self._send_traces(chunk)

    def _send_traces(self, parts: list[str]) -> None:
        try:
            # an upsert: resending after a broken connection cannot duplicate anything
            self._http.request("POST", "/api/traces/batch", content=_batch_body(parts),
                               headers={"Content-Type": "application/json"},
                               idempotent=True)
        except RequestTooLargeError:
            if len(parts) == 1:
                raise
            half = len(parts) // 2
            self._send_traces(parts[:half])
            self._send_traces(parts[half:])

    def get_trace(self, trace_id: str) -> Trace:
        return wire.decode(Trace, self._call("GET", f"/api/traces/{segment(trace_id)}"),
                           "trace")

    def get_traces(self, trace_ids: Sequence[str]) -> tuple[list[Trace], list[str]]:
        """Several full traces in one request: (the found ones, the ids not found)."""
        body = self._call("POST", "/api/traces/get-batch",
                          body={"trace_ids": list(trace_ids)}, idempotent=True)
        return (wire.decode(list[Trace], body.get("traces") or [], "traces"),
                wire.decode(list[str], body.get("missing") or [], "missing"))

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_spans: bool = True,
        highlight: bool = False,
    ) -> PagedList[Trace]:
        query = {"experiment_ids": _ids(experiment_ids), "filter_string": filter_string,
                 "order_by": _order(order_by), "max_results": max_results,
                 "page_token": page_token, "include_spans": include_spans}
        if highlight:  # only when asked, so an older server still answers other searches
            query["highlight"] = True
        body = self._call("POST", "/api/traces/search", idempotent=True, body=query)
        return wire.decode_page(body, Trace, "traces")

    def stored_trace_pages(self, experiment_id: str, *, filter_string: str | None = None,
                           page_size: int = 500,
                           summary: bool = True) -> Iterator[list[StoredTrace]]:
        """Pages of ``StoredTrace`` through ``search_traces`` (see ``TraceMethods``), with
        their summary whatever ``summary`` says."""
        self.search_traces([experiment_id], filter_string=filter_string, max_results=1,
                           include_spans=False)  # a bad filter or experiment fails now
        return stored_pages(self, str(experiment_id), filter_string, page_size)

    def search_trace_ids(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        max_results: int | None = None,
    ) -> list[str]:
        body = self._call("POST", "/api/traces/search-ids", idempotent=True, body={
            "experiment_ids": _ids(experiment_ids), "filter_string": filter_string,
            "max_results": max_results})
        return wire.decode(list[str], body.get("trace_ids") or [], "trace_ids")

    # --- tags -------------------------------------------------------------------------
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        self._call("POST", f"/api/traces/{segment(trace_id)}/tags",
                   body={"key": key, "value": value}, idempotent=True)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        if not isinstance(key, str):
            raise InvalidInputError(f"tag key must be a non-empty string, got {key!r}")
        self._call("DELETE", f"/api/traces/{segment(trace_id)}/tags", params={"key": key},
                   idempotent=False)

    # --- deletion ---------------------------------------------------------------------
    def delete_traces(self, experiment_id: str, *, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None, trace_ids: Sequence[str] | None = None,
                      dry_run: bool = False) -> int:
        body = self._call("POST", "/api/traces/delete", body={
            "experiment_id": experiment_id, "max_timestamp_millis": max_timestamp_millis,
            "max_traces": max_traces,
            "trace_ids": None if trace_ids is None else (
                [trace_ids] if isinstance(trace_ids, str) else list(trace_ids)),
            "dry_run": dry_run})
        return int(body["deleted"])

    def delete_trace_ids(self, trace_ids: Sequence[str], *, dry_run: bool = False) -> int:
        ids = [trace_ids] if isinstance(trace_ids, str) else list(trace_ids)
        body = self._call("POST", "/api/traces/delete-ids",
                          body={"trace_ids": ids, "dry_run": dry_run})
        return int(body["deleted"])

    # --- assessments ------------------------------------------------------------------
    def create_assessment(self, assessment: Assessment) -> Assessment:
        if not isinstance(assessment, Assessment):
            raise InvalidInputError(f"expected a Feedback or Expectation, got "
                                    f"{type(assessment).__name__}")
        trace_id = assessment.trace_id
        if not isinstance(trace_id, str) or not trace_id:
            raise InvalidInputError(f"the assessment needs a trace id, got {trace_id!r}")
        return wire.decode(Assessment, self._call(
            "POST", f"/api/traces/{segment(trace_id)}/assessments",
            body=assessment.to_dict()), "assessment")

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        return wire.decode(Assessment, self._call(
            "GET", f"/api/traces/{segment(trace_id)}/assessments/{segment(assessment_id)}"),
            "assessment")

    def update_assessment(
        self,
        trace_id: str,
        assessment_id: str,
        *,
        name: str | Unset = UNSET,
        value: Any = UNSET,
        rationale: str | Unset | None = UNSET,
        metadata: dict[str, Any] | Unset | None = UNSET,
        error: AssessmentError | BaseException | Unset | None = UNSET,
        source: AssessmentSource | Unset = UNSET,
    ) -> Assessment:
        body = wire.encode_changes(name=name, value=value, rationale=rationale,
                                   metadata=metadata, error=error, source=source)
        return wire.decode(Assessment, self._call(
            "PATCH", f"/api/traces/{segment(trace_id)}/assessments/{segment(assessment_id)}",
            body=body), "assessment")

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self._call("DELETE",
                   f"/api/traces/{segment(trace_id)}/assessments/{segment(assessment_id)}",
                   idempotent=False)

    # --- aggregates -------------------------------------------------------------------
    def _aggregate(self, name: str, selection: agg.Selection, **options: Any) -> Any:
        agg.check_selection(selection)
        body = self._call("POST", f"/api/aggregates/{name}", idempotent=True,
                          body=wire.encode_aggregate_call(name, selection, **options))
        return wire.decode_aggregate_result(name, body)

    def trace_stats(self, selection: agg.Selection, *, bucket_ms: int | None = None,
                    group_by: agg.GroupKey | None = None,
                    quantiles: Sequence[float] = agg.TRACE_QUANTILES) -> list[agg.TraceStats]:
        return self._aggregate("trace_stats", selection, bucket_ms=bucket_ms,
                               group_by=group_by, quantiles=tuple(quantiles))

    def model_usage(self, selection: agg.Selection, *, bucket_ms: int | None = None,
                    group_by: agg.GroupKey | None = None,
                    periods: Sequence[int] = ()) -> list[agg.ModelUsageRow]:
        extra = {"periods": list(periods)} if periods else {}  # older servers know no periods
        return self._aggregate("model_usage", selection, bucket_ms=bucket_ms,
                               group_by=group_by, **extra)

    def latency_histogram(self, selection: agg.Selection, edges: Sequence[float]) -> list[int]:
        return self._aggregate("latency_histogram", selection, edges=list(edges))

    def span_stats(self, selection: agg.Selection, *,
                   quantiles: Sequence[float] = agg.SPAN_QUANTILES,
                   span_types: Sequence[str] | None = None) -> list[agg.SpanStats]:
        if span_types is None:
            return self._aggregate("span_stats", selection, quantiles=tuple(quantiles))
        return self._aggregate("span_stats", selection, quantiles=tuple(quantiles),
                               span_types=tuple(span_types))

    def error_spans(self, selection: agg.Selection) -> list[agg.ErrorSpan]:
        return self._aggregate("error_spans", selection)

    def trace_sample(self, selection: agg.Selection, sample: agg.Sample | None = None, *,
                     spans: bool = False, assessments: bool = True) -> agg.TraceSample:
        return self._aggregate("trace_sample", selection, sample=sample, spans=spans,
                               assessments=assessments)

    def numeric_pairs(self, selection: agg.Selection, x: agg.NumericField,
                      y: agg.NumericField) -> agg.NumericPairs:
        return self._aggregate("numeric_pairs", selection, x=x, y=y)

    def assessment_stats(self, selection: agg.Selection, name: str) -> agg.AssessmentStats:
        return self._aggregate("assessment_stats", selection, name=name)

    # --- runs -------------------------------------------------------------------------
    def _artifacts_at(self, run_id: str) -> str:
        return f"{self.uri}/api/runs/{segment(run_id)}/artifacts"

    def _local_run_info(self, info: RunInfo) -> RunInfo:
        """The run as seen from here: its artifacts are reached through the server."""
        return dataclasses.replace(info, artifact_uri=self._artifacts_at(info.run_id))

    def _run(self, data: Any) -> Run:
        run = wire.decode(Run, data, "run")
        return dataclasses.replace(run, info=self._local_run_info(run.info))

    def create_run(self, experiment_id: str, *, run_name: str | None = None,
                   start_time: int | None = None, tags: Mapping[str, Any] | None = None,
                   user_id: str | None = None) -> Run:
        return self._run(self._call("POST", "/api/runs", body={
            "experiment_id": str(experiment_id), "run_name": run_name,
            "start_time": start_time, "tags": run_rules.check_batch(tags=tags).tags,
            "user_id": user_id}))

    def get_run(self, run_id: str) -> Run:
        return self._run(self._call("GET", f"/api/runs/{segment(run_id)}"))

    def update_run_info(self, run_id: str, *, status: str | None = None,
                        end_time: int | None = None, run_name: str | None = None) -> RunInfo:
        info = wire.decode(RunInfo, self._call("PATCH", f"/api/runs/{segment(run_id)}", body={
            "status": None if status is None else str(status), "end_time": end_time,
            "run_name": run_name}, idempotent=True), "run info")
        return self._local_run_info(info)

    def log_batch(self, run_id: str, *, metrics: Iterable[Metric] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        batch = run_rules.check_batch(metrics, params, tags)  # values as the store keeps them
        if not (batch.metrics or batch.params or batch.tags):
            return
        self._call("POST", f"/api/runs/{segment(run_id)}/log-batch", body={
            "metrics": wire.encode(batch.metrics), "params": batch.params,
            "tags": batch.tags})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        body = self._call("GET", f"/api/runs/{segment(run_id)}/metrics/{segment(key)}")
        return wire.decode(list[Metric], body.get("metrics") or [], "metrics")

    def search_runs(self, experiment_ids: Sequence[str] | str | None = None, *,
                    filter_string: str | None = None,
                    order_by: Sequence[str] | str | None = None,
                    max_results: int | None = 1000) -> list[Run]:
        body = self._call("POST", "/api/runs/search", idempotent=True, body={
            "experiment_ids": _ids(experiment_ids), "filter_string": filter_string,
            "order_by": _order(order_by), "max_results": max_results})
        return [self._run(r) for r in body.get("runs") or []]

    # --- datasets ---------------------------------------------------------------------
    def create_dataset(self, name: str, *, experiment_ids: Sequence[str] | str | None = None,
                       tags: Mapping[str, Any] | None = None,
                       created_by: str | None = None) -> Dataset:
        return wire.decode(Dataset, self._call("POST", "/api/datasets", body={
            "name": name, "experiment_ids": _ids(experiment_ids),
            "tags": dataset_rules.check_dataset_tags(tags), "created_by": created_by}),
            "dataset")

    def get_dataset(self, dataset_id: str) -> Dataset:
        return wire.decode(Dataset, self._call("GET", f"/api/datasets/{segment(dataset_id)}"),
                           "dataset")

    def get_dataset_by_name(self, name: str) -> Dataset | None:
        try:
            data = self._call("GET", f"/api/datasets-by-name/{segment(name)}")
        except NotFoundError:
            return None
        return wire.decode(Dataset, data, "dataset")

    def delete_dataset(self, dataset_id: str) -> None:
        self._call("DELETE", f"/api/datasets/{segment(dataset_id)}", idempotent=False)

    def search_datasets(self, experiment_ids: Sequence[str] | str | None = None, *,
                        filter_string: str | None = None,
                        order_by: Sequence[str] | str | None = None,
                        max_results: int | None = None) -> list[Dataset]:
        body = self._call("POST", "/api/datasets/search", idempotent=True, body={
            "experiment_ids": _ids(experiment_ids), "filter_string": filter_string,
            "order_by": _order(order_by), "max_results": max_results})
        return wire.decode(list[Dataset], body.get("datasets") or [], "datasets")

    def set_dataset_tags(self, dataset_id: str, tags: Mapping[str, Any]) -> Dataset:
        checked = dataset_rules.check_dataset_tags(tags, allow_none=True)
        return wire.decode(Dataset, self._call(
            "PATCH", f"/api/datasets/{segment(dataset_id)}/tags", body={"tags": checked},
            idempotent=True), "dataset")

    def merge_dataset_records(self, dataset_id: str,
                              records: Sequence[RecordUpdate]) -> MergeResult:
        updates = [_plain_update(u) for u in dataset_rules.fold_updates(records).values()]
        return wire.decode(MergeResult, self._call(
            "POST", f"/api/datasets/{segment(dataset_id)}/records",
            body={"records": wire.encode(updates)}), "merge result")

    def get_dataset_records(self, dataset_id: str, *,
                            version: int | None = None) -> list[DatasetRecord]:
        params = None if version is None else {"version": version}
        body = self._call("GET", f"/api/datasets/{segment(dataset_id)}/records", params=params)
        return wire.decode(list[DatasetRecord], body.get("records") or [], "records")

    def list_dataset_versions(self, dataset_id: str) -> list[DatasetVersion]:
        body = self._call("GET", f"/api/datasets/{segment(dataset_id)}/versions")
        return wire.decode(list[DatasetVersion], body.get("versions") or [], "versions")


def _encoded(traces: Sequence[Trace]) -> list[str]:
    """Each trace's JSON text, encoded one trace at a time.

    Between traces the encoder lets other threads run (``sleep(0)`` releases the GIL):
    the SDK's exporter calls this in the background, and a long batch encoded in one go
    would hold the GIL for whole switch intervals at a time, delaying the application's
    own threads; yielding per trace keeps them first, as waiting on I/O would.
    """
    parts = []
    for trace in traces:
        parts.append(wire.dumps(trace.to_dict()))
        time.sleep(0)
    return parts


def _chunks(parts: list[str], limit: int) -> list[list[str]]:
    """Consecutive runs of ``parts`` of at most ``limit`` characters each (a part longer
    than that alone)."""
    chunks: list[list[str]] = []
    size = 0
    for part in parts:
        if not chunks or (size + len(part) > limit and chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(part)
        size += len(part) + 1
    return chunks


def _batch_body(parts: Sequence[str]) -> bytes:
    """``{"traces": [trace JSON, ...]}`` from encoded traces."""
    return ('{"traces":[' + ",".join(parts) + "]}").encode("utf-8")


def _plain_update(update: RecordUpdate) -> RecordUpdate:
    """The update with plain JSON values (numpy numbers, pydantic models, ...), as a local
    store would store them; ``InvalidInputError`` for a value with no JSON form."""
    from spanscope.entities.dataset import NotJsonError, jsonable

    try:
        return RecordUpdate(**{f.name: jsonable(getattr(update, f.name))
                               for f in dataclasses.fields(RecordUpdate)})
    except NotJsonError as exc:
        raise InvalidInputError(f"dataset record with inputs {update.inputs!r:.80}: {exc}") \
            from None
